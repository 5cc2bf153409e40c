/* SPDX-License-Identifier: MIT */
/*
 * The controller's configuration file (docs/controller-config.md): `key = value` lines in
 * the format of the agent's (docs/agent-config.md): blank lines and '#' comments (at the
 * start of a line, or after whitespace) are ignored, CRLF is accepted, an unknown key is an
 * error, control characters are errors. The keys are one table in ctlconf.c (name, type,
 * default, bounds). List keys (token, dns, client_allowed_ips, price) may repeat, and dns
 * and client_allowed_ips also take comma-separated values; any other key set twice is an
 * error. Every key is optional: an empty file gives every default (`run` itself insists on
 * master_key_file and a database URL).
 *
 * Which URL a command uses: --database-url, else the file's database_url (--config),
 * else $DATABASE_URL. What the operator names on the command line wins over what the
 * environment happens to hold (ctlconf_database_url).
 *
 * Errors: -EINVAL (or -ENOMEM); *ret is not written and nothing half-applies; err (if not
 * NULL) holds the 1-based line (0 for the whole file) and a reason that starts with the
 * key's name. A value is quoted only when it is a number, an address or a short name:
 * never a password, a path or a URL, so a secret pasted into the wrong key stays out of
 * logs. A check that spans keys (tls_cert with tls_key, job_backoff <= job_backoff_max,
 * job_lease > agent_timeout, db_pool_size > workers + 2) names the line of the later key.
 *
 * Ownership: every pointer in the result is owned by it; ctlconf_free() accepts NULL,
 * wipes the database URL and returns NULL. The result is read-only data: threads may share
 * it. Parsing is pure (no I/O, no logging); ctlconf_load() reads one file.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "wgdev.h"

enum ctl_role {
	CTL_ROLE_BOT = 1U << 0,
	CTL_ROLE_ADMIN = 1U << 1,
	CTL_ROLE_MONITOR = 1U << 2,
	CTL_ROLE_ALL = (1U << 3) - 1,
};

/* Same order as the service's levels: a message is logged if its level <= log_level. */
enum ctl_log_level {
	CTL_LOG_ERROR,
	CTL_LOG_WARN,
	CTL_LOG_INFO,
	CTL_LOG_DEBUG,
};

/* `token = ROLE FILE`: the file holds one bearer token of that role. */
struct ctl_token_ref {
	enum ctl_role role; /* exactly one bit */
	char *file;         /* absolute path */
};

/* `price = METHOD VPN_TYPE MONTHS AMOUNT CURRENCY`; one per (method, type, months). */
struct ctl_price {
	enum payment_method method;
	enum vpn_type type;
	unsigned months;  /* 1..120 */
	int64_t amount;   /* > 0, in the currency's smallest unit */
	char currency[9]; /* [A-Z]{3,8}; "XTR" for stars */
};

struct controller_config {
	char *database_url; /* NULL when the file does not set it; checked by db_url_parse() */
	char *api_listen;   /* "IP:PORT" or "[IPv6]:PORT" as written; default 127.0.0.1:8000 */
	union wg_endpoint api_listen_addr; /* api_listen, parsed (numeric, port 1..65535) */
	char *tls_cert, *tls_key;          /* absolute paths; both or neither (NULL: HTTP) */
	struct ctl_token_ref *tokens;      /* in file order; a file at most once */
	size_t n_tokens;
	char *master_key_file; /* absolute path, or NULL */
	char *agent_ca_file;   /* absolute path, or NULL: the system's CAs */
	char **dns;            /* IP addresses as inet_ntop() writes them, no duplicates */
	size_t n_dns;
	char **client_allowed_ips; /* "0.0.0.0/0"; host bits zero, normalised, no duplicates */
	size_t n_client_allowed_ips;
	unsigned persistent_keepalive; /* seconds, 0..65535; 0: omitted from client configs */
	struct ctl_price *prices;      /* in file order */
	size_t n_prices;
	uint64_t trial_duration_s;   /* 1s..365d */
	unsigned workers;            /* 1..256 */
	unsigned job_max_attempts;   /* 1..1000 */
	uint64_t job_backoff_ms;     /* 10ms..1h, <= job_backoff_max_ms */
	uint64_t job_backoff_max_ms; /* 10ms..1d */
	uint64_t job_lease_ms;       /* 1s..1d, > agent_timeout_ms */
	uint64_t agent_timeout_ms;   /* 100ms..10m */
	uint64_t poll_interval_ms;   /* 100ms..1d */
	unsigned unhealthy_after;    /* 1..1000 */
	uint64_t sweep_interval_ms;  /* 100ms..1d */
	char *webhook_url;           /* http:// or https:// URL, or NULL: no webhooks */
	char *webhook_secret_file;   /* absolute path, or NULL */
	uint64_t expiry_notice_s;    /* 0..365d; 0: no vpn.expiring notices */
	uint64_t job_retention_s;    /* 0..3650d, > expiry_notice_s; done jobs older are purged;
	                              * 0: never */
	unsigned db_pool_size;       /* 1..1024, > workers + 2 */
	int log_level;               /* enum ctl_log_level */
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

/* The price for (method, type, months), or NULL if the price list has none. */
const struct ctl_price *ctlconf_price(const struct controller_config *cfg,
                                      enum payment_method method, enum vpn_type type,
                                      unsigned months);

/* "bot", "admin", "monitor"; "debug", "info", "warn", "error"; NULL out of range. */
const char *ctl_role_name(enum ctl_role role);
const char *ctl_log_level_name(enum ctl_log_level level);

/* The name of the i-th key of the table (for docs and tests), NULL past the last. */
const char *ctlconf_key_name(size_t i);
