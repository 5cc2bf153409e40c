/* SPDX-License-Identifier: MIT */
/*
 * The agent's configuration file: `key = value` lines, driven by one declarative table
 * (agentconf.c) that names every key with its type, bounds, default and validator.
 * Pure: the caller reads the file and passes its text; nothing here does I/O or logs.
 *
 * Format: one `key = value` per line; blank lines and lines starting with '#' are ignored,
 * and so is a trailing " # comment" (a '#' after whitespace; a '#' inside a value such as
 * a path is kept). CRLF line ends are accepted. Keys are lower case. List keys (pool,
 * address, reserved) may repeat and take comma-separated values; any other key set twice
 * is an error, and so is an unknown key.
 *
 * On error: -EINVAL (or -ENOMEM); *ret is not written, nothing half-applies, and ret_err
 * (if not NULL) holds the 1-based line (0 when the error concerns the whole file, e.g. a
 * missing required key) and a reason that starts with the key's name:
 * "pool: 10.8.0.1/24 has host bits set". A value is echoed only if it looks like an
 * address, a number or a short name; paths, unknown keys' values and long runs of base64
 * or hex never are, so a token pasted into the wrong place stays out of logs.
 *
 * Ownership: the caller frees the result with agentconf_free(), which accepts NULL and
 * returns NULL. Not thread-safe while parsing; the result is read-only data afterwards.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgdev.h"

enum agentconf_log_level {
	AGENTCONF_LOG_ERROR,
	AGENTCONF_LOG_WARN,
	AGENTCONF_LOG_INFO,
	AGENTCONF_LOG_DEBUG,
};

enum agentconf_backend {
	AGENTCONF_BACKEND_AUTO, /* a UAPI socket for the interface wins, else netlink (wg(8)) */
	AGENTCONF_BACKEND_KERNEL,
	AGENTCONF_BACKEND_USERSPACE,
};

/* The public endpoint clients are given; never resolved here. */
struct agentconf_endpoint {
	char *text;    /* as written: "vpn.example.com:51820", "[2001:db8::1]:51820" */
	char *host;    /* without brackets: "vpn.example.com", "2001:db8::1" */
	uint16_t port; /* 1..65535 */
};

/* An inclusive address range of one family; a single address has first == last. */
struct agentconf_range {
	uint16_t family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	} first, last;
};

struct agent_config {
	char *interface; /* valid per wg_ifname_validate() */
	uint16_t listen_port;
	struct agentconf_endpoint endpoint;
	/*
	 * 1 or 2 pools, at most one per family, in file order, host bits zero; IPv4 /8../30,
	 * IPv6 /64../126. addresses[i] is the server's own address in pools[i] (cidr = the
	 * pool's), so n_addresses == n_pools; it defaults to the pool's first host.
	 */
	struct wg_allowedip *pools;
	size_t n_pools;
	struct wg_allowedip *addresses;
	size_t n_addresses;
	struct agentconf_range *reserved; /* each inside one pool; may overlap */
	size_t n_reserved;
	union wg_endpoint api_listen; /* numeric IP and port 1..65535 */
	char *token_file;             /* absolute paths */
	char *tls_cert, *tls_key;     /* both NULL (plain HTTP) or both set */
	char *state_dir;
	uint32_t reconcile_interval_sec; /* 1..3600 */
	uint32_t quarantine_sec;         /* 0..30 days */
	enum agentconf_log_level log_level;
	uint32_t mtu; /* 1280..9000 */
	enum agentconf_backend backend;
};

struct agentconf_error {
	const char *filename; /* the caller's string, as passed to agentconf_parse */
	unsigned line;        /* 1-based; 0: the whole file */
	char message[200];
};

/* Parse len bytes of text (need not be NUL-terminated; a NUL byte is an error). */
int agentconf_parse(const char *text, size_t len, const char *filename,
		    struct agent_config **ret, struct agentconf_error *ret_err);
struct agent_config *agentconf_free(struct agent_config *cfg);

/* "FILE:LINE: message", or "FILE: message" for line 0, into buf (always terminated). */
void agentconf_error_format(const struct agentconf_error *err, char *buf, size_t size);

const char *agentconf_log_level_name(enum agentconf_log_level level);
const char *agentconf_backend_name(enum agentconf_backend backend);

/* One key of the table, described for people (docs/agent-config.md, `check-config --keys`). */
struct agentconf_keydoc {
	const char *name;
	const char *type;          /* "port", "duration", "prefix list", ... */
	bool required, list;
	const char *default_value; /* as it would be written in the file; NULL: none */
	char bounds[96];           /* "1..65535", "1s..1h", "error|warn|info|debug", ... */
	const char *description;   /* one line */
};

/* The i-th key in table order: 0, or -ENOENT past the last key. */
int agentconf_describe(size_t i, struct agentconf_keydoc *ret);
