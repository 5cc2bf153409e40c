/* SPDX-License-Identifier: MIT */
/*
 * DATABASE_URL: where the controller's MariaDB is and how to reach it. Pure code, no I/O.
 *
 *   mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTION=VALUE&...]
 *   mysql://USER@/DATABASE?socket=/run/mysqld/mysqld.sock
 *
 * `mariadb://` is accepted as well. USER, PASSWORD, DATABASE and option values are
 * percent-decoded (a password with '@', '/', '?', '#', '%' or ':' must encode them). HOST is
 * a name, an IPv4 address or a bracketed IPv6 address; PORT defaults to 3306. Options:
 *
 *   socket=PATH          connect through this unix socket (HOST and PORT are then unused;
 *                        no TLS options: the socket never leaves the machine)
 *   ssl=0|1              require TLS; implied by any ssl-* option below
 *   ssl-verify=0|1       verify the server's certificate chain and host name
 *   ssl-ca=FILE  ssl-capath=DIR  ssl-cert=FILE  ssl-key=FILE
 *   connect-timeout=S  read-timeout=S  write-timeout=S   seconds, 1..3600
 *
 * Anything else (an unknown or repeated option, a fragment, a control character, a
 * decoded NUL, a port out of range) is an error: a typo must not silently weaken TLS.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct db_url {
	char *user;     /* NULL when the URL names none */
	char *password; /* NULL when the URL has none; wiped by db_url_free() */
	char *host;     /* NULL when empty (socket only) */
	uint16_t port;  /* 0 when not given */
	char *database; /* NULL when not given */
	char *socket;   /* NULL unless ?socket= */
	bool ssl;
	bool ssl_verify;
	char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key;
	unsigned connect_timeout_s, read_timeout_s, write_timeout_s; /* 0: not given */
};

struct db_url_error {
	/* Never quotes the password. */
	char message[160];
};

/*
 * Parses text (a NUL-terminated string). On success *ret is a new db_url owned by the
 * caller; on failure -EINVAL and err (if not NULL) says why.
 */
int db_url_parse(const char *text, struct db_url **ret, struct db_url_error *err);

/*
 * Formats url back into a URL that db_url_parse() reads as the same fields. With redact,
 * the password is written as "***" (for logs). *ret is malloc'ed. -ENOMEM.
 */
int db_url_format(const struct db_url *url, bool redact, char **ret);

/* A deep copy; -ENOMEM. */
int db_url_dup(const struct db_url *url, struct db_url **ret);

/* Frees url (NULL is fine) after wiping the password; returns NULL. */
struct db_url *db_url_free(struct db_url *url);
