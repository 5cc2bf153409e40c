// SPDX-License-Identifier: MIT
/*
 * The controller's configuration file, driven by the key table below: a key is one row
 * (name, type, default, bounds, where it is stored) and one field. Defaults are text,
 * parsed exactly as if they were in the file, so a default obeys the same bounds.
 *
 * Order of work: every line is parsed and checked on its own (so an error names its
 * line); then defaults fill the keys the file did not set; then the checks that span keys.
 * The result is handed over only when all of it passed, so a file is accepted whole or not
 * at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "ctlconf.h"
#include "dburl.h"

#define CTLCONF_MAX_BYTES (1024 * 1024)
#define PATH_LEN_MAX 4095
/* Limits of what shown() echoes in messages. */
#define ECHO_MAX 80
#define ECHO_SHORT 24

#define SEC 1000ULL /* durations are kept in milliseconds while parsing */
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

enum value_type {
	TYPE_DBURL,     /* char *, checked by db_url_parse() */
	TYPE_LISTEN,    /* char * and cfg->api_listen_addr: numeric IP and port */
	TYPE_PATH,      /* char *, an absolute path */
	TYPE_TOKEN,     /* list of struct ctl_token_ref: "ROLE FILE" */
	TYPE_IP,        /* list of char *: an IPv4 or IPv6 address, normalised */
	TYPE_PREFIX,    /* list of char *: a CIDR with host bits zero, normalised */
	TYPE_UINT,      /* unsigned, within min..max */
	TYPE_SECONDS,   /* uint64_t seconds: "90s", "5m", "1h", "3d" */
	TYPE_MILLIS,    /* uint64_t milliseconds: also "250ms" */
	TYPE_PRICE,     /* list of struct ctl_price */
	TYPE_HTTP_URL,  /* char *, http:// or https:// */
	TYPE_LOG_LEVEL, /* int, enum ctl_log_level */
};

enum {
	KEY_LIST = 1U << 0,  /* may repeat; values accumulate (offset: array, count_offset: n) */
	KEY_SPLIT = 1U << 1, /* a list that also takes comma-separated values */
	KEY_FLAGS_ALL = (1U << 2) - 1,
};

struct key {
	const char *name;
	enum value_type type;
	unsigned flags;
	const char *default_value; /* applied through the type's parser when the key is absent */
	uint64_t min, max;         /* TYPE_UINT; durations in ms (bounds of TYPE_SECONDS too) */
	size_t offset, count_offset;
};

/* Indexes used by the checks that span keys; keep in step with keys[]. */
enum {
	K_DATABASE_URL,
	K_API_LISTEN,
	K_TLS_CERT,
	K_TLS_KEY,
	K_TOKEN,
	K_MASTER_KEY_FILE,
	K_AGENT_CA_FILE,
	K_DNS,
	K_CLIENT_ALLOWED_IPS,
	K_PERSISTENT_KEEPALIVE,
	K_PRICE,
	K_TRIAL_DURATION,
	K_WORKERS,
	K_JOB_MAX_ATTEMPTS,
	K_JOB_BACKOFF,
	K_JOB_BACKOFF_MAX,
	K_JOB_LEASE,
	K_AGENT_TIMEOUT,
	K_POLL_INTERVAL,
	K_UNHEALTHY_AFTER,
	K_SWEEP_INTERVAL,
	K_WEBHOOK_URL,
	K_WEBHOOK_SECRET_FILE,
	K_EXPIRY_NOTICE,
	K_JOB_RETENTION,
	K_DB_POOL_SIZE,
	K_LOG_LEVEL,
	N_KEYS,
};

#define FIELD(f) .offset = offsetof(struct controller_config, f)
#define LIST(f, n)                                                                                 \
	.offset = offsetof(struct controller_config, f),                                           \
	.count_offset = offsetof(struct controller_config, n)

static const struct key keys[N_KEYS] = {
    [K_DATABASE_URL] = {"database_url", TYPE_DBURL, 0, FIELD(database_url)},
    [K_API_LISTEN] = {"api_listen", TYPE_LISTEN, 0, FIELD(api_listen),
                      .default_value = "127.0.0.1:8000"},
    [K_TLS_CERT] = {"tls_cert", TYPE_PATH, 0, FIELD(tls_cert)},
    [K_TLS_KEY] = {"tls_key", TYPE_PATH, 0, FIELD(tls_key)},
    [K_TOKEN] = {"token", TYPE_TOKEN, KEY_LIST, LIST(tokens, n_tokens)},
    [K_MASTER_KEY_FILE] = {"master_key_file", TYPE_PATH, 0, FIELD(master_key_file)},
    [K_AGENT_CA_FILE] = {"agent_ca_file", TYPE_PATH, 0, FIELD(agent_ca_file)},
    [K_DNS] = {"dns", TYPE_IP, KEY_LIST | KEY_SPLIT, LIST(dns, n_dns)},
    [K_CLIENT_ALLOWED_IPS] = {"client_allowed_ips", TYPE_PREFIX, KEY_LIST | KEY_SPLIT,
                              LIST(client_allowed_ips, n_client_allowed_ips),
                              .default_value = "0.0.0.0/0, ::/0"},
    [K_PERSISTENT_KEEPALIVE] = {"persistent_keepalive", TYPE_UINT, 0, FIELD(persistent_keepalive),
                                .default_value = "25", .min = 0, .max = 65535},
    [K_PRICE] = {"price", TYPE_PRICE, KEY_LIST, LIST(prices, n_prices)},
    [K_TRIAL_DURATION] = {"trial_duration", TYPE_SECONDS, 0, FIELD(trial_duration_s),
                          .default_value = "3d", .min = SEC, .max = 365 * DAY},
    [K_WORKERS] = {"workers", TYPE_UINT, 0, FIELD(workers), .default_value = "4", .min = 1,
                   .max = 256},
    [K_JOB_MAX_ATTEMPTS] = {"job_max_attempts", TYPE_UINT, 0, FIELD(job_max_attempts),
                            .default_value = "12", .min = 1, .max = 1000},
    [K_JOB_BACKOFF] = {"job_backoff", TYPE_MILLIS, 0, FIELD(job_backoff_ms), .default_value = "1s",
                       .min = 10, .max = HOUR},
    [K_JOB_BACKOFF_MAX] = {"job_backoff_max", TYPE_MILLIS, 0, FIELD(job_backoff_max_ms),
                           .default_value = "5m", .min = 10, .max = DAY},
    [K_JOB_LEASE] = {"job_lease", TYPE_MILLIS, 0, FIELD(job_lease_ms), .default_value = "60s",
                     .min = SEC, .max = DAY},
    [K_AGENT_TIMEOUT] = {"agent_timeout", TYPE_MILLIS, 0, FIELD(agent_timeout_ms),
                         .default_value = "10s", .min = 100, .max = 10 * MINUTE},
    [K_POLL_INTERVAL] = {"poll_interval", TYPE_MILLIS, 0, FIELD(poll_interval_ms),
                         .default_value = "10s", .min = 100, .max = DAY},
    [K_UNHEALTHY_AFTER] = {"unhealthy_after", TYPE_UINT, 0, FIELD(unhealthy_after),
                           .default_value = "3", .min = 1, .max = 1000},
    [K_SWEEP_INTERVAL] = {"sweep_interval", TYPE_MILLIS, 0, FIELD(sweep_interval_ms),
                          .default_value = "60s", .min = 100, .max = DAY},
    [K_WEBHOOK_URL] = {"webhook_url", TYPE_HTTP_URL, 0, FIELD(webhook_url)},
    [K_WEBHOOK_SECRET_FILE] = {"webhook_secret_file", TYPE_PATH, 0, FIELD(webhook_secret_file)},
    [K_EXPIRY_NOTICE] = {"expiry_notice", TYPE_SECONDS, 0, FIELD(expiry_notice_s),
                         .default_value = "3d", .min = 0, .max = 365 * DAY},
    [K_JOB_RETENTION] = {"job_retention", TYPE_SECONDS, 0, FIELD(job_retention_s),
                         .default_value = "30d", .min = 0, .max = 3650 * DAY},
    [K_DB_POOL_SIZE] = {"db_pool_size", TYPE_UINT, 0, FIELD(db_pool_size), .default_value = "16",
                        .min = 1, .max = 1024},
    [K_LOG_LEVEL] = {"log_level", TYPE_LOG_LEVEL, 0, FIELD(log_level), .default_value = "info"},
};

/* Indexed by enum ctl_log_level. */
static const char *const log_levels[] = {"error", "warn", "info", "debug"};

static const struct {
	enum ctl_role role;
	const char *name;
} roles[] = {
    {CTL_ROLE_BOT, "bot"},
    {CTL_ROLE_ADMIN, "admin"},
    {CTL_ROLE_MONITOR, "monitor"},
};

struct parser {
	struct controller_config *cfg;
	struct ctlconf_error *err;
	unsigned line;
	unsigned key_line[N_KEYS];    /* first line that set the key, 0 if not yet */
	unsigned *item_lines[N_KEYS]; /* lists: the line of each element */
	size_t cap_items[N_KEYS], cap_lines[N_KEYS];
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->err)
		return -EINVAL;
	p->err->line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "key: reason" */
static int fail_key(struct parser *p, const struct key *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_key(struct parser *p, const struct key *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err)
		return -EINVAL;
	p->err->line = p->line;
	n = snprintf(p->err->message, sizeof(p->err->message), "%s: ", k->name);
	va_start(ap, fmt);
	vsnprintf(p->err->message + n, sizeof(p->err->message) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * A value as it may appear in a message: numbers, addresses and short names are shown;
 * anything that could be a secret pasted into the wrong key is not. Tokens are long runs
 * of base64 or hex, so a long value is shown only if it has the '.' or ':' of an address.
 */
static const char *shown(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > ECHO_MAX || (n > ECHO_SHORT && !strpbrk(v, ".:")))
		return "the value";
	for (const char *c = v; *c; c++)
		if (!is_alpha(*c) && !is_digit(*c) && !strchr(".:/[]-_", *c))
			return "the value";
	return v;
}

/* Decimal digits only; 0, -EINVAL (not a number) or -ERANGE (above max). */
static int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	bool over = false;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -EINVAL;
		if (!over) {
			v = v * 10 + (uint64_t)(*s - '0');
			over = v > max;
		}
	}
	if (over)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* The shortest exact spelling of a duration: "250ms", "90s", "5m", "3d", "0s". */
static void format_ms(uint64_t ms, char *buf, size_t size)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{DAY, "d"}, {HOUR, "h"}, {MINUTE, "m"}, {SEC, "s"}, {1, "ms"}};

	if (ms == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (ms % units[i].ms == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(ms / units[i].ms),
			         units[i].unit);
			return;
		}
}

static void format_bounds(const struct key *k, char *buf, size_t size)
{
	char lo[24], hi[24];

	if (k->type == TYPE_UINT) {
		snprintf(buf, size, "%llu..%llu", (unsigned long long)k->min,
		         (unsigned long long)k->max);
		return;
	}
	format_ms(k->min, lo, sizeof(lo));
	format_ms(k->max, hi, sizeof(hi));
	snprintf(buf, size, "%s..%s", lo, hi);
}

static int parse_uint_key(struct parser *p, const struct key *k, char *value, void *field)
{
	char bounds[64];
	uint64_t v = 0;
	int r = parse_uint(value, UINT32_MAX, &v);

	if (r == -EINVAL)
		return fail_key(p, k, "%s is not a whole number", shown(value));
	if (r < 0 || v < k->min || v > k->max) {
		format_bounds(k, bounds, sizeof(bounds));
		return fail_key(p, k, "%s is out of range %s", shown(value), bounds);
	}
	*(unsigned *)field = (unsigned)v;
	return 0;
}

/*
 * An integer and a unit, always: a bare number would leave the reader guessing whether
 * job_backoff = 500 is seconds or milliseconds.
 */
static int parse_duration(struct parser *p, const struct key *k, char *value, void *field)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", SEC}, {"m", MINUTE}, {"h", HOUR}, {"d", DAY}};
	bool millis = k->type == TYPE_MILLIS;
	size_t n = strspn(value, "0123456789");
	char digits[24], bounds[64];
	uint64_t v = 0, mult = 0;
	int r;

	for (size_t i = millis ? 0 : 1; i < ARRAY_SIZE(units); i++)
		if (!strcmp(value + n, units[i].suffix))
			mult = units[i].ms;
	if (n == 0 || mult == 0)
		return fail_key(p, k, "%s is not a duration (an integer and %s)", shown(value),
		                millis ? "ms, s, m, h or d: 500ms, 90s, 5m"
		                       : "s, m, h or d: 90s, 5m, 3d");
	if (n >= sizeof(digits)) {
		r = -ERANGE;
	} else {
		memcpy(digits, value, n);
		digits[n] = '\0';
		/* Capped well below overflow of v * mult (2^32 days fit in 64 bits of ms). */
		r = parse_uint(digits, UINT32_MAX, &v);
	}
	v *= mult;
	if (r < 0 || v < k->min || v > k->max) {
		format_bounds(k, bounds, sizeof(bounds));
		return fail_key(p, k, "%s is out of range %s", shown(value), bounds);
	}
	*(uint64_t *)field = millis ? v : v / SEC;
	return 0;
}

static int store_string(const char *value, void *field)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	*(char **)field = s;
	return 0;
}

static int parse_database_url(struct parser *p, const struct key *k, char *value, void *field)
{
	struct db_url_error uerr = {0};
	struct db_url *url = NULL;
	bool has_db;

	/* Checked now, so that a typo is reported with its line, not at connect time. */
	if (db_url_parse(value, &url, &uerr) < 0)
		return fail_key(p, k, "%s", uerr.message);
	has_db = url->database;
	db_url_free(url);
	if (!has_db)
		return fail_key(p, k, "names no database");
	return store_string(value, field);
}

/* Paths are never echoed: a token pasted here instead of its file's name stays private. */
static int check_path(struct parser *p, const struct key *k, const char *value)
{
	if (value[0] != '/')
		return fail_key(p, k, "must be an absolute path");
	if (strlen(value) > PATH_LEN_MAX)
		return fail_key(p, k, "path longer than %d bytes", PATH_LEN_MAX);
	/* Tabs separate words on a line; one inside a file name is an editing accident. */
	if (strchr(value, '\t'))
		return fail_key(p, k, "a tab inside the path");
	return 0;
}

static int parse_path(struct parser *p, const struct key *k, char *value, void *field)
{
	int r = check_path(p, k, value);

	return r < 0 ? r : store_string(value, field);
}

/*
 * "IP:PORT" or "[IPv6]:PORT", numeric (no name is resolved here), port 1..65535: 0 would
 * let the kernel pick a port nobody knows. inet_pton() rather than getaddrinfo(), which
 * would take "127.1" and "0x7f.0.0.1".
 */
static int parse_listen(struct parser *p, const struct key *k, char *value, void *field)
{
	union wg_endpoint ep = {};
	char host[INET6_ADDRSTRLEN];
	const char *h = value, *port, *close;
	uint64_t v;
	size_t hlen;

	if (value[0] == '[') {
		close = strchr(value, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = value + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		port = strrchr(value, ':');
		if (!port || memchr(value, ':', (size_t)(port - value)))
			goto bad;
		hlen = (size_t)(port - value);
		port++;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_uint(port, 65535, &v) < 0 || v == 0)
		return fail_key(p, k, "%s: the port must be 1..65535", shown(value));
	if (value[0] == '[') {
		if (inet_pton(AF_INET6, host, &ep.addr6.sin6_addr) != 1)
			goto bad;
		ep.addr6.sin6_family = AF_INET6;
		ep.addr6.sin6_port = htons((uint16_t)v);
	} else {
		if (inet_pton(AF_INET, host, &ep.addr4.sin_addr) != 1)
			goto bad;
		ep.addr4.sin_family = AF_INET;
		ep.addr4.sin_port = htons((uint16_t)v);
	}
	p->cfg->api_listen_addr = ep;
	return store_string(value, field);
bad:
	return fail_key(p, k, "%s is not IP:PORT or [IPv6]:PORT with a numeric address",
	                shown(value));
}

/* "ROLE FILE"; a file names one token, so it may appear once (with one role). */
static int parse_token(struct parser *p, const struct key *k, char *value, void *item)
{
	struct ctl_token_ref *t = item;
	const struct controller_config *cfg = p->cfg;
	size_t n = strcspn(value, " \t");
	char *file = value + n;
	enum ctl_role role = 0;
	int r;

	file += strspn(file, " \t");
	value[n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (!strcmp(value, roles[i].name))
			role = roles[i].role;
	/* Echoed only if it reads like a role: this is where a token itself gets pasted. */
	if (!role && n <= 16 && strspn(value, "abcdefghijklmnopqrstuvwxyz") == n)
		return fail_key(
		    p, k, "%s is not a role (bot, admin or monitor; 'token = ROLE FILE')", value);
	if (!role)
		return fail_key(p, k,
		                "the first word is not a role (bot, admin or monitor; "
		                "'token = ROLE FILE')");
	if (!*file)
		return fail_key(p, k, "the token file is missing ('token = ROLE FILE')");
	r = check_path(p, k, file);
	if (r < 0)
		return r;
	/* The new element is the last one: compare with those before it. */
	for (size_t i = 0; i + 1 < cfg->n_tokens; i++)
		if (!strcmp(cfg->tokens[i].file, file))
			return fail_key(p, k, "the same file again (first on line %u)",
			                p->item_lines[K_TOKEN][i]);
	t->role = role;
	return store_string(file, &t->file);
}

/* A list of strings: the new (last) one must differ from those before it. */
static int check_unique(struct parser *p, const struct key *k, size_t ki, const char *norm)
{
	char **items = *(char ***)((char *)p->cfg + k->offset);
	size_t n = *(size_t *)((char *)p->cfg + k->count_offset);

	for (size_t i = 0; i + 1 < n; i++)
		if (!strcmp(items[i], norm))
			return fail_key(p, k, "%s is listed twice (first on line %u)", norm,
			                p->item_lines[ki][i]);
	return 0;
}

static int parse_ip(struct parser *p, const struct key *k, char *value, void *item)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	int family = strchr(value, ':') ? AF_INET6 : AF_INET;
	int r;

	if (inet_pton(family, value, &a) != 1 || !inet_ntop(family, &a, buf, sizeof(buf)))
		return fail_key(p, k, "%s is not an IP address", shown(value));
	r = check_unique(p, k, K_DNS, buf);
	return r < 0 ? r : store_string(buf, item);
}

static int parse_prefix(struct parser *p, const struct key *k, char *value, void *item)
{
	struct wg_allowedip ip, net;
	char buf[WG_ALLOWEDIP_STRLEN];
	uint8_t *b;
	size_t len;
	int r;

	if (wg_allowedip_parse(value, &ip) < 0)
		return fail_key(p, k, "%s is not an address or prefix", shown(value));
	/* A client's AllowedIPs is a set of networks: host bits would be masked silently. */
	net = ip;
	b = net.family == AF_INET ? (uint8_t *)&net.ip4 : net.ip6.s6_addr;
	len = net.family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < len; i++) {
		unsigned first = (unsigned)i * 8;

		if (first >= net.cidr)
			b[i] = 0;
		else if (first + 8 > net.cidr)
			b[i] &= (uint8_t)(0xff00 >> (net.cidr - first));
	}
	wg_allowedip_format(&net, buf);
	if (memcmp(b, ip.family == AF_INET ? (uint8_t *)&ip.ip4 : ip.ip6.s6_addr, len))
		return fail_key(p, k, "%s has host bits set (the network is %s)", shown(value),
		                buf);
	r = check_unique(p, k, K_CLIENT_ALLOWED_IPS, buf);
	return r < 0 ? r : store_string(buf, item);
}

/* "METHOD VPN_TYPE MONTHS AMOUNT CURRENCY": what POST /v1/payments is checked against. */
static int parse_price(struct parser *p, const struct key *k, char *value, void *item)
{
	static const char usage[] = "'price = METHOD VPN_TYPE MONTHS AMOUNT CURRENCY'";
	const struct controller_config *cfg = p->cfg;
	struct ctl_price price = {0};
	char *f[6], *save = NULL;
	size_t n = 0, clen;
	uint64_t v;

	for (char *w = strtok_r(value, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == ARRAY_SIZE(f))
			break;
		f[n++] = w;
	}
	if (n != 5)
		return fail_key(p, k, "expected 5 fields, %s", usage);
	if (payment_method_from_string(f[0], strlen(f[0]), &price.method) < 0)
		return fail_key(p, k, "%s is not a payment method (stars or qvapay)", shown(f[0]));
	if (vpn_type_from_string(f[1], strlen(f[1]), &price.type) < 0)
		return fail_key(p, k, "%s is not a VPN type (wireguard or outline)", shown(f[1]));
	if (parse_uint(f[2], 120, &v) < 0 || v == 0)
		return fail_key(p, k, "months %s is not 1..120", shown(f[2]));
	price.months = (unsigned)v;
	if (parse_uint(f[3], INT64_MAX, &v) < 0 || v == 0)
		return fail_key(p, k,
		                "amount %s is not a whole number above 0 (in the currency's "
		                "smallest unit)",
		                shown(f[3]));
	price.amount = (int64_t)v;
	clen = strlen(f[4]);
	if (clen < 3 || clen >= sizeof(price.currency) ||
	    strspn(f[4], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != clen)
		return fail_key(p, k, "currency %s is not 3 to 8 capital letters", shown(f[4]));
	memcpy(price.currency, f[4], clen + 1);
	/* As the database's CHECK has it: Telegram Stars are only ever counted in XTR. */
	if (price.method == PAYMENT_STARS && strcmp(price.currency, "XTR"))
		return fail_key(p, k, "stars are priced in XTR, not %s", price.currency);
	for (size_t i = 0; i + 1 < cfg->n_prices; i++) {
		const struct ctl_price *o = &cfg->prices[i];

		if (o->method == price.method && o->type == price.type && o->months == price.months)
			return fail_key(p, k, "%s %s %u months has a price already (line %u)", f[0],
			                f[1], price.months, p->item_lines[K_PRICE][i]);
	}
	*(struct ctl_price *)item = price;
	return 0;
}

/*
 * http(s)://HOST[:PORT][/PATH][?QUERY]. Never echoed (a query may carry a key), and
 * without user:password@ (the URL is logged when a delivery fails; a secret belongs in
 * webhook_secret_file).
 */
static int parse_http_url(struct parser *p, const struct key *k, char *value, void *field)
{
	const char *host, *end, *colon;
	uint64_t port;

	if (!strncasecmp(value, "https://", 8))
		host = value + 8;
	else if (!strncasecmp(value, "http://", 7))
		host = value + 7;
	else
		return fail_key(p, k, "must start with http:// or https://");
	for (const char *c = value; *c; c++)
		if (*c == ' ' || *c == '\t' || (unsigned char)*c >= 0x80)
			return fail_key(p, k, "spaces and non-ASCII characters must be %%-encoded");
	if (strchr(value, '#'))
		return fail_key(p, k, "a fragment ('#') means nothing to a server");
	end = host + strcspn(host, "/?");
	if (memchr(host, '@', (size_t)(end - host)))
		return fail_key(p, k, "must not hold a user or password (use webhook_secret_file)");
	if (host[0] == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (!close || close == host + 1)
			return fail_key(p, k, "an IPv6 host needs its closing ']'");
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close + 1 != end)
			return fail_key(p, k, "junk after the IPv6 host");
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		if (colon == host || end == host)
			return fail_key(p, k, "the host is missing");
	}
	if (colon) {
		char digits[8] = "";
		size_t n = (size_t)(end - colon - 1);

		if (n < sizeof(digits))
			memcpy(digits, colon + 1, n);
		if (n >= sizeof(digits) || parse_uint(digits, 65535, &port) < 0 || port == 0)
			return fail_key(p, k, "the port must be 1..65535");
	}
	return store_string(value, field);
}

static int parse_log_level(struct parser *p, const struct key *k, char *value, void *field)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (!strcmp(value, log_levels[i])) {
			*(int *)field = (int)i;
			return 0;
		}
	return fail_key(p, k, "%s is not one of debug, info, warn, error", shown(value));
}

static const struct type_info {
	size_t item_size; /* list element; scalars are stored at the key's offset */
	int (*parse)(struct parser *p, const struct key *k, char *value, void *field);
} types[] = {
    [TYPE_DBURL] = {0, parse_database_url},
    [TYPE_LISTEN] = {0, parse_listen},
    [TYPE_PATH] = {0, parse_path},
    [TYPE_TOKEN] = {sizeof(struct ctl_token_ref), parse_token},
    [TYPE_IP] = {sizeof(char *), parse_ip},
    [TYPE_PREFIX] = {sizeof(char *), parse_prefix},
    [TYPE_UINT] = {0, parse_uint_key},
    [TYPE_SECONDS] = {0, parse_duration},
    [TYPE_MILLIS] = {0, parse_duration},
    [TYPE_PRICE] = {sizeof(struct ctl_price), parse_price},
    [TYPE_HTTP_URL] = {0, parse_http_url},
    [TYPE_LOG_LEVEL] = {0, parse_log_level},
};

/* Store one value of key ki; the line is already in p->line. */
static int assign(struct parser *p, size_t ki, char *value)
{
	const struct key *k = &keys[ki];
	const struct type_info *t = &types[k->type];
	void *field = (char *)p->cfg + k->offset;

	if (k->flags & KEY_LIST) {
		void **items = field;
		size_t *n = (size_t *)((char *)p->cfg + k->count_offset);

		if (grow_array(items, &p->cap_items[ki], *n + 1, t->item_size) < 0 ||
		    grow_array((void **)&p->item_lines[ki], &p->cap_lines[ki], *n + 1,
		               sizeof(unsigned)) < 0)
			return -ENOMEM;
		/* Counted before it is parsed, so that the free path sees the zeroed slot. */
		field = (char *)*items + *n * t->item_size;
		memset(field, 0, t->item_size);
		p->item_lines[ki][*n] = p->line;
		(*n)++;
	}
	return t->parse(p, k, value, field);
}

static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The whole value of key ki: one value, or for KEY_SPLIT keys "a, b" as two lines would. */
static int set_value(struct parser *p, size_t ki, char *value)
{
	const struct key *k = &keys[ki];
	char *save = NULL;
	int r;

	if (!(k->flags & KEY_SPLIT))
		return assign(p, ki, value);
	if (value[strlen(value) - 1] == ',' || value[0] == ',' || strstr(value, ",,"))
		return fail_key(p, k, "empty element in list");
	for (char *v = strtok_r(value, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
		v = trim(v);
		if (!*v)
			return fail_key(p, k, "empty element in list");
		r = assign(p, ki, v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One line, NUL-terminated, without its '\n'. */
static int parse_line(struct parser *p, char *line)
{
	size_t len = strlen(line), ki;
	char *s, *eq, *key, *value;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, "control character in line (only tabs are allowed)");
	}
	s = trim(line);
	if (*s == '\0' || *s == '#')
		return 0;
	/* A comment starts at a '#' after whitespace; one inside a value stays. */
	for (char *c = s + 1; *c; c++)
		if (*c == '#' && is_blank(c[-1])) {
			*c = '\0';
			break;
		}
	eq = strchr(s, '=');
	if (!eq)
		return fail(p, "expected 'key = value'");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	for (ki = 0; ki < N_KEYS; ki++) {
		const struct key *k = &keys[ki];

		if (strcmp(key, k->name))
			continue;
		if (!*value)
			return fail_key(p, k, "empty value");
		if (p->key_line[ki] && !(k->flags & KEY_LIST))
			return fail_key(p, k, "set twice (first on line %u)", p->key_line[ki]);
		if (!p->key_line[ki])
			p->key_line[ki] = p->line;
		return set_value(p, ki, value);
	}
	/* Only a plain key name is echoed: a secret pasted on a line of its own is not. */
	if (*key && strlen(key) <= 32 && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == strlen(key))
		return fail(p, "unknown key '%s'", key);
	return fail(p, *key ? "unknown key" : "expected 'key = value'");
}

/* Of two keys, the one set later in the file: where a conflict between them is reported. */
static size_t later(const struct parser *p, size_t a, size_t b)
{
	return p->key_line[b] > p->key_line[a] ? b : a;
}

static int check_cross(struct parser *p)
{
	const struct controller_config *cfg = p->cfg;
	char a[32], b[32];
	size_t ki;

	if (!cfg->tls_cert != !cfg->tls_key) {
		ki = cfg->tls_cert ? K_TLS_CERT : K_TLS_KEY;
		p->line = p->key_line[ki];
		return fail_key(p, &keys[ki], "set without %s (both or neither)",
		                keys[ki == K_TLS_CERT ? K_TLS_KEY : K_TLS_CERT].name);
	}
	if (cfg->job_backoff_ms > cfg->job_backoff_max_ms) {
		ki = later(p, K_JOB_BACKOFF, K_JOB_BACKOFF_MAX);
		p->line = p->key_line[ki];
		format_ms(cfg->job_backoff_ms, a, sizeof(a));
		format_ms(cfg->job_backoff_max_ms, b, sizeof(b));
		return fail_key(p, &keys[ki], "job_backoff (%s) is above job_backoff_max (%s)", a,
		                b);
	}
	/* A request to an agent must end within the lease, or a second worker claims the job
	 * while the first still runs it. */
	if (cfg->job_lease_ms <= cfg->agent_timeout_ms) {
		ki = later(p, K_JOB_LEASE, K_AGENT_TIMEOUT);
		p->line = p->key_line[ki];
		format_ms(cfg->job_lease_ms, a, sizeof(a));
		format_ms(cfg->agent_timeout_ms, b, sizeof(b));
		return fail_key(p, &keys[ki],
		                "job_lease (%s) must be longer than agent_timeout (%s)", a, b);
	}
	/* A purged job's idempotency key is free again: an expiry notice still due after its
	 * job was purged would be sent a second time. */
	if (!p->key_line[K_JOB_RETENTION] && cfg->job_retention_s <= cfg->expiry_notice_s)
		p->cfg->job_retention_s = cfg->expiry_notice_s + 86400; /* the default adapts */
	if (cfg->job_retention_s && cfg->job_retention_s <= cfg->expiry_notice_s) {
		ki = later(p, K_JOB_RETENTION, K_EXPIRY_NOTICE);
		p->line = p->key_line[ki];
		format_ms(cfg->job_retention_s * 1000, a, sizeof(a));
		format_ms(cfg->expiry_notice_s * 1000, b, sizeof(b));
		return fail_key(p, &keys[ki],
		                "job_retention (%s) must be longer than expiry_notice (%s), or 0 "
		                "(keep finished jobs for ever)",
		                a, b);
	}
	/* Each worker holds a connection while it runs a job; the poller, the sweeper and the
	 * API must still find one. */
	if (cfg->db_pool_size < cfg->workers + 3) {
		ki = later(p, K_DB_POOL_SIZE, K_WORKERS);
		p->line = p->key_line[ki];
		return fail_key(p, &keys[ki],
		                "db_pool_size (%u) must be at least workers (%u) + 3, for the "
		                "poller, the sweeper and the API",
		                cfg->db_pool_size, cfg->workers);
	}
	return 0;
}

static int parse_text(struct parser *p, char *text)
{
	int r = 0;

	for (char *line = text, *next; line && r == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p->line++;
		r = parse_line(p, line);
	}
	if (r < 0)
		return r;
	p->line = 0;
	for (size_t ki = 0; ki < N_KEYS; ki++) {
		char buf[64];

		if (p->key_line[ki] || !keys[ki].default_value)
			continue;
		/* Parsed as if written (list values are split in place, so a copy). */
		snprintf(buf, sizeof(buf), "%s", keys[ki].default_value);
		r = set_value(p, ki, buf);
		if (r < 0)
			return r;
	}
	return check_cross(p);
}

int ctlconf_parse(const char *text, size_t len, struct controller_config **ret,
                  struct ctlconf_error *err)
{
	struct parser p = {.err = err};
	char *copy = NULL;
	int r;

	if (memchr(text, '\0', len)) {
		p.line = 1;
		for (const char *c = text; *c; c++)
			p.line += *c == '\n';
		return fail(&p, "NUL byte in line");
	}
	p.cfg = calloc(1, sizeof(*p.cfg));
	copy = strndup(text, len);
	if (!p.cfg || !copy) {
		r = -ENOMEM;
		goto out;
	}
	r = parse_text(&p, copy);
	if (r < 0)
		goto out;
	*ret = p.cfg;
	p.cfg = NULL;
out:
	if (r == -ENOMEM && err) {
		err->line = p.line;
		snprintf(err->message, sizeof(err->message), "out of memory");
	}
	/* The copy held the database password. */
	if (copy)
		explicit_bzero(copy, len);
	free(copy);
	for (size_t i = 0; i < N_KEYS; i++)
		free(p.item_lines[i]);
	ctlconf_free(p.cfg);
	return r;
}

int ctlconf_load(const char *path, struct controller_config **ret, struct ctlconf_error *err)
{
	struct controller_config *cfg = NULL;
	struct db_url *url = NULL;
	char *text = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0) {
		r = negative_errno();
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		if (err) {
			err->line = 0;
			snprintf(err->message, sizeof(err->message), "not a regular file");
		}
		goto out;
	}
	if (st.st_size > CTLCONF_MAX_BYTES) {
		r = -EFBIG;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	/* The size can change under us: read until EOF, within the limit. */
	while ((n = read(fd, text + len, (size_t)st.st_size + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > (size_t)st.st_size) {
			r = -EFBIG;
			goto out;
		}
	}
	if (n < 0) {
		r = negative_errno();
		goto out;
	}
	r = ctlconf_parse(text, len, &cfg, err);
	if (r < 0)
		goto out;
	if (cfg->database_url && (st.st_mode & S_IROTH) &&
	    db_url_parse(cfg->database_url, &url, NULL) == 0 && url->password) {
		r = -EACCES;
		if (err) {
			err->line = 0;
			snprintf(
			    err->message, sizeof(err->message),
			    "holds a database password but is readable by everyone (mode %04o): "
			    "chmod o-r it",
			    (unsigned)(st.st_mode & 07777));
		}
		goto out;
	}
	*ret = cfg;
	cfg = NULL;
out:
	if (text)
		explicit_bzero(text, len);
	free(text);
	db_url_free(url);
	ctlconf_free(cfg);
	close(fd);
	return r;
}

static void strings_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct controller_config *ctlconf_free(struct controller_config *cfg)
{
	if (!cfg)
		return NULL;
	if (cfg->database_url)
		explicit_bzero(cfg->database_url, strlen(cfg->database_url));
	free(cfg->database_url);
	free(cfg->api_listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	for (size_t i = 0; i < cfg->n_tokens; i++)
		free(cfg->tokens[i].file);
	free(cfg->tokens);
	free(cfg->master_key_file);
	free(cfg->agent_ca_file);
	strings_free(cfg->dns, cfg->n_dns);
	strings_free(cfg->client_allowed_ips, cfg->n_client_allowed_ips);
	free(cfg->prices);
	free(cfg->webhook_url);
	free(cfg->webhook_secret_file);
	free(cfg);
	return NULL;
}

const char *ctlconf_database_url(const char *option, const struct controller_config *cfg,
                                 const char *env, const char **ret_source)
{
	const char *url = NULL, *source = NULL;

	if (option && *option) {
		url = option;
		source = "--database-url";
	} else if (cfg && cfg->database_url) {
		url = cfg->database_url;
		source = "config file";
	} else if (env && *env) {
		url = env;
		source = "DATABASE_URL";
	}
	if (ret_source)
		*ret_source = source;
	return url;
}

const struct ctl_price *ctlconf_price(const struct controller_config *cfg,
                                      enum payment_method method, enum vpn_type type,
                                      unsigned months)
{
	for (size_t i = 0; cfg && i < cfg->n_prices; i++)
		if (cfg->prices[i].method == method && cfg->prices[i].type == type &&
		    cfg->prices[i].months == months)
			return &cfg->prices[i];
	return NULL;
}

const char *ctl_role_name(enum ctl_role role)
{
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return NULL;
}

const char *ctl_log_level_name(enum ctl_log_level level)
{
	return (unsigned)level < ARRAY_SIZE(log_levels) ? log_levels[level] : NULL;
}

const char *ctlconf_key_name(size_t i)
{
	return i < N_KEYS ? keys[i].name : NULL;
}
