/* SPDX-License-Identifier: MIT */
/*
 * The controller's configuration file: `key = value` lines in the format of the agent's
 * (docs/agent-config.md): blank lines and '#' comments (at the start of a line, or after
 * whitespace) are ignored, CRLF is accepted, an unknown key or a key set twice is an
 * error, control characters are errors. The keys are a table in ctlconf.c; today:
 *
 *   database_url = mysql://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS   (dburl.h)
 *
 * Which URL a command uses: --database-url, else the file's database_url (--config),
 * else $DATABASE_URL. What the operator names on the command line wins over what the
 * environment happens to hold (ctlconf_database_url).
 *
 * Errors: -EINVAL (or -ENOMEM); nothing half-applies; err (if not NULL) holds the 1-based
 * line (0 for the whole file) and a reason that never quotes a password.
 * Ownership: ctlconf_free() accepts NULL, wipes the URL and returns NULL.
 */
#pragma once

#include <stddef.h>

struct controller_config {
	char *database_url; /* NULL when the file does not set it; checked by db_url_parse() */
};

struct ctlconf_error {
	unsigned line;
	char message[256];
};

/* Parses the text of a file (len bytes; a NUL byte is an error). Pure. */
int ctlconf_parse(const char *text, size_t len, struct controller_config **ret,
                  struct ctlconf_error *err);

/*
 * Reads and parses the file at path. A file that holds a database password must not be
 * readable by everyone (-EACCES, like ssh with a private key). -errno if it cannot be
 * read; -EFBIG beyond 1 MiB.
 */
int ctlconf_load(const char *path, struct controller_config **ret, struct ctlconf_error *err);

struct controller_config *ctlconf_free(struct controller_config *cfg);

/*
 * The database URL a command should use, and where it came from ("--database-url",
 * "config file", "DATABASE_URL"): the first of option (may be NULL), cfg's database_url
 * (cfg may be NULL) and env (getenv("DATABASE_URL"), may be NULL) that is set and not
 * empty. NULL if none is. Pure.
 */
const char *ctlconf_database_url(const char *option, const struct controller_config *cfg,
                                 const char *env, const char **ret_source);
