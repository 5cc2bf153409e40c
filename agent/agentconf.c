// SPDX-License-Identifier: MIT
/*
 * The agent's configuration parser. Everything a key is lives in one row of keys[]:
 * name, type (how the text becomes a value and where it is stored), required or list,
 * default (text, parsed exactly as if it were in the file, so a default obeys the same
 * bounds), bounds, an optional validator, and a one-line description for the docs.
 *
 * Order of work: every line is parsed and validated on its own (so the error names its
 * line); then required keys are checked and defaults applied; then the checks that need
 * several keys (address and reserved inside a pool, TLS cert and key together). The
 * result is built in a private struct and handed over only when all of it passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "agentconf.h"

enum value_type {
	TYPE_U16,      /* uint16_t, decimal, within min..max */
	TYPE_U32,      /* uint32_t, decimal, within min..max */
	TYPE_DURATION, /* uint32_t seconds: "30s", "5m", "1h", "1d" or plain seconds */
	TYPE_ENUM,     /* int: the index of the value in choices[] */
	TYPE_STRING,   /* char *, any printable text */
	TYPE_PATH,     /* char *, an absolute path */
	TYPE_HOSTPORT, /* struct agentconf_endpoint: host name or IP, and a port */
	TYPE_SOCKADDR, /* union wg_endpoint: numeric IP and a port */
	TYPE_PREFIX,   /* list of struct wg_allowedip */
	TYPE_RANGE,    /* list of struct agentconf_range */
};

enum {
	KEY_REQUIRED = 1U << 0,
	KEY_LIST = 1U << 1, /* may repeat; values accumulate; offset/count_offset: array, n */
	KEY_FLAGS_ALL = (1U << 2) - 1,
};

#define DAY (24 * 3600)
#define PATH_LEN_MAX 4095
/* Limits of what shown() echoes in messages. */
#define ECHO_MAX 80
#define ECHO_SHORT 24

struct parser;
struct key;

/*
 * A validator runs after the type has parsed the value; item is the stored value (the new
 * element for a list). It may normalise item. 0 or the result of fail_key().
 */
typedef int (*validate_fn)(struct parser *p, const struct key *k, const char *value, void *item);

struct key {
	const char *name;
	enum value_type type;
	unsigned flags;
	const char *default_value;  /* applied through the type's parser when the key is absent */
	const char *default_doc;    /* a default computed from other keys, for the docs only */
	int64_t min, max;           /* numbers; seconds for durations */
	const char *const *choices; /* TYPE_ENUM, NULL-terminated */
	const char *type_doc;       /* overrides the type's name in the docs */
	const char *bounds_doc;     /* for types whose bounds are not min..max */
	validate_fn validate;
	size_t offset, count_offset;
	const char *description;
};

static int check_ifname(struct parser *p, const struct key *k, const char *value, void *item);
static int check_pool(struct parser *p, const struct key *k, const char *value, void *item);
static int check_address(struct parser *p, const struct key *k, const char *value, void *item);

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const backends[] = {"auto", "kernel", "userspace", NULL};

#define FIELD(f) .offset = offsetof(struct agent_config, f)
#define LIST(f, n) .offset = offsetof(struct agent_config, f), \
		   .count_offset = offsetof(struct agent_config, n)

/* Indexes used by the checks that span keys; keep in step with keys[]. */
enum {
	K_INTERFACE,
	K_LISTEN_PORT,
	K_ENDPOINT,
	K_POOL,
	K_ADDRESS,
	K_RESERVED,
	K_API_LISTEN,
	K_TOKEN_FILE,
	K_TLS_CERT,
	K_TLS_KEY,
	K_STATE_DIR,
	K_RECONCILE_INTERVAL,
	K_QUARANTINE,
	K_LOG_LEVEL,
	K_MTU,
	K_BACKEND,
	N_KEYS,
};

static const struct key keys[N_KEYS] = {
	[K_INTERFACE] = {"interface", TYPE_STRING, KEY_REQUIRED, FIELD(interface),
		.type_doc = "interface name",
		.bounds_doc = "1-15 characters, no '/', ':' or whitespace",
		.validate = check_ifname,
		.description = "WireGuard interface the agent owns (created if absent)"},
	[K_LISTEN_PORT] = {"listen_port", TYPE_U16, 0, FIELD(listen_port),
		.default_value = "51820", .min = 1, .max = 65535,
		.description = "UDP port WireGuard listens on"},
	[K_ENDPOINT] = {"endpoint", TYPE_HOSTPORT, KEY_REQUIRED, FIELD(endpoint),
		.bounds_doc = "host name or IP (IPv6 in brackets), port 1..65535",
		.description = "public host:port that clients' configs point at; not resolved"},
	[K_POOL] = {"pool", TYPE_PREFIX, KEY_REQUIRED | KEY_LIST, LIST(pools, n_pools),
		.type_doc = "prefix",
		.bounds_doc = "IPv4 /8../30, IPv6 /64../126, host bits zero, one per family",
		.validate = check_pool,
		.description = "address pool peers get their tunnel addresses from"},
	[K_ADDRESS] = {"address", TYPE_PREFIX, KEY_LIST, LIST(addresses, n_addresses),
		.type_doc = "address[/len]",
		.default_doc = "first host of each pool",
		.bounds_doc = "inside its pool, one per pool, /len = the pool's",
		.validate = check_address,
		.description = "the server's own tunnel address in a pool (never given to a peer)"},
	[K_RESERVED] = {"reserved", TYPE_RANGE, KEY_LIST, LIST(reserved, n_reserved),
		.bounds_doc = "inside a pool",
		.description = "addresses never handed out: an address, a range A-B or a prefix"},
	[K_API_LISTEN] = {"api_listen", TYPE_SOCKADDR, KEY_REQUIRED, FIELD(api_listen),
		.bounds_doc = "numeric IP (IPv6 in brackets), port 1..65535",
		.description = "where the job API listens"},
	[K_TOKEN_FILE] = {"token_file", TYPE_PATH, KEY_REQUIRED, FIELD(token_file),
		.bounds_doc = "absolute",
		.description = "file holding the API's bearer token"},
	[K_TLS_CERT] = {"tls_cert", TYPE_PATH, 0, FIELD(tls_cert),
		.bounds_doc = "absolute; with tls_key",
		.description = "PEM certificate (chain) for the API; plain HTTP without it"},
	[K_TLS_KEY] = {"tls_key", TYPE_PATH, 0, FIELD(tls_key),
		.bounds_doc = "absolute; with tls_cert",
		.description = "PEM private key for tls_cert"},
	[K_STATE_DIR] = {"state_dir", TYPE_PATH, 0, FIELD(state_dir),
		.default_value = "/var/lib/wgfleet-agent", .bounds_doc = "absolute",
		.description = "private key and the record of peers and addresses"},
	[K_RECONCILE_INTERVAL] = {"reconcile_interval", TYPE_DURATION, 0,
		FIELD(reconcile_interval_sec), .default_value = "30s", .min = 1, .max = 3600,
		.description = "how often the kernel's peers are compared with the desired ones"},
	[K_QUARANTINE] = {"quarantine", TYPE_DURATION, 0, FIELD(quarantine_sec),
		.default_value = "1h", .min = 0, .max = 30 * DAY,
		.description = "how long a released address waits before it is reused"},
	[K_LOG_LEVEL] = {"log_level", TYPE_ENUM, 0, FIELD(log_level),
		.default_value = "info", .choices = log_levels,
		.description = "least severe messages that are logged"},
	[K_MTU] = {"mtu", TYPE_U32, 0, FIELD(mtu),
		.default_value = "1420", .min = 1280, .max = 9000,
		.description = "MTU of the WireGuard interface"},
	[K_BACKEND] = {"backend", TYPE_ENUM, 0, FIELD(backend),
		.default_value = "auto", .choices = backends,
		.description = "kernel (netlink), userspace (UAPI socket), or auto as wg(8) picks"},
};

struct parser {
	struct agent_config *cfg;
	unsigned line;
	unsigned key_line[N_KEYS];    /* first line that set the key; 0: not set */
	unsigned *item_lines[N_KEYS]; /* lists: the line of each element */
	size_t cap_items[N_KEYS], cap_lines[N_KEYS];
	struct agentconf_error err;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	p->err.line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err.message, sizeof(p->err.message), fmt, ap);
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

	p->err.line = p->line;
	n = snprintf(p->err.message, sizeof(p->err.message), "%s: ", k->name);
	va_start(ap, fmt);
	vsnprintf(p->err.message + n, sizeof(p->err.message) - (size_t)n, fmt, ap);
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

/*
 * A value as it may appear in a message: addresses, numbers and names are shown; anything
 * that could be a token pasted into the wrong key is not. Tokens are long runs of base64 or
 * hex, so a long value is shown only if it has the '.' or ':' of an address or host name.
 */
static const char *shown(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > ECHO_MAX || (n > ECHO_SHORT && !strpbrk(v, ".:")))
		return "the value";
	for (const char *c = v; *c; c++)
		if (!is_alpha(*c) && !is_digit(*c) && !strchr(".:/[]-_%", *c))
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

static void format_duration(uint64_t sec, char *buf, size_t size)
{
	if (sec == 0)
		snprintf(buf, size, "0");
	else if (sec % DAY == 0)
		snprintf(buf, size, "%llud", (unsigned long long)(sec / DAY));
	else if (sec % 3600 == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(sec / 3600));
	else if (sec % 60 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(sec / 60));
	else
		snprintf(buf, size, "%llus", (unsigned long long)sec);
}

/* The key's bounds for messages and docs: "1..65535", "1s..1h", "error|warn|info|debug". */
static void format_bounds(const struct key *k, char *buf, size_t size)
{
	char lo[24], hi[24];
	size_t n = 0;

	buf[0] = '\0';
	switch (k->type) {
	case TYPE_U16:
	case TYPE_U32:
		snprintf(buf, size, "%lld..%lld", (long long)k->min, (long long)k->max);
		break;
	case TYPE_DURATION:
		format_duration((uint64_t)k->min, lo, sizeof(lo));
		format_duration((uint64_t)k->max, hi, sizeof(hi));
		snprintf(buf, size, "%s..%s", lo, hi);
		break;
	case TYPE_ENUM:
		for (const char *const *c = k->choices; *c && n < size; c++)
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
					      c == k->choices ? "" : "|", *c);
		break;
	default:
		snprintf(buf, size, "%s", k->bounds_doc ? k->bounds_doc : "");
		break;
	}
}

static int parse_number(struct parser *p, const struct key *k, const char *value, void *field)
{
	char bounds[64];
	uint64_t v = 0;
	int r = parse_uint(value, UINT32_MAX, &v);

	if (r == -EINVAL)
		return fail_key(p, k, "%s is not a whole number", shown(value));
	if (r < 0 || (int64_t)v < k->min || (int64_t)v > k->max) {
		format_bounds(k, bounds, sizeof(bounds));
		return fail_key(p, k, "%s is out of range %s", shown(value), bounds);
	}
	if (k->type == TYPE_U16)
		*(uint16_t *)field = (uint16_t)v;
	else
		*(uint32_t *)field = (uint32_t)v;
	return 0;
}

static int parse_duration(struct parser *p, const struct key *k, const char *value, void *field)
{
	static const struct {
		char suffix;
		uint64_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', DAY}};
	char digits[24], bounds[64];
	size_t n = strspn(value, "0123456789");
	uint64_t v = 0, mult = 0;
	int r;

	if (value[n] == '\0')
		mult = 1;
	else if (value[n + 1] == '\0')
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (value[n] == units[i].suffix)
				mult = units[i].seconds;
	if (n == 0 || mult == 0)
		return fail_key(p, k, "%s is not a duration (e.g. 30s, 5m, 1h, 1d or seconds)",
				shown(value));
	if (n >= sizeof(digits)) {
		r = -ERANGE;
	} else {
		memcpy(digits, value, n);
		digits[n] = '\0';
		/* Capped well below overflow of v * mult. */
		r = parse_uint(digits, UINT32_MAX, &v);
	}
	v *= mult;
	if (r < 0 || (int64_t)v < k->min || (int64_t)v > k->max) {
		format_bounds(k, bounds, sizeof(bounds));
		return fail_key(p, k, "%s is out of range %s", shown(value), bounds);
	}
	*(uint32_t *)field = (uint32_t)v;
	return 0;
}

static int parse_enum(struct parser *p, const struct key *k, const char *value, void *field)
{
	char bounds[96];

	for (const char *const *c = k->choices; *c; c++)
		if (!strcmp(value, *c)) {
			*(int *)field = (int)(c - k->choices);
			return 0;
		}
	format_bounds(k, bounds, sizeof(bounds));
	return fail_key(p, k, "%s is not one of %s", shown(value), bounds);
}

static int parse_string(struct parser *p, const struct key *k, const char *value, void *field)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	*(char **)field = s;
	return 0;
}

/* Paths are never echoed: a token pasted here instead of its file's name stays private. */
static int parse_path(struct parser *p, const struct key *k, const char *value, void *field)
{
	if (value[0] != '/')
		return fail_key(p, k, "must be an absolute path");
	if (strlen(value) > PATH_LEN_MAX)
		return fail_key(p, k, "path longer than %d bytes", PATH_LEN_MAX);
	return parse_string(p, k, value, field);
}

/*
 * Split "host:port" or "[v6]:port". Returns NULL and the parts, or the reason. The port
 * must be 1..65535: 0 means "any" to bind(2) and nothing to a client.
 */
static const char *split_hostport(const char *value, const char **ret_host, size_t *ret_hlen,
				  bool *ret_bracketed, uint16_t *ret_port)
{
	const char *host = value, *port, *colon;
	size_t hlen;
	uint64_t v;

	if (value[0] == '[') {
		const char *close = strchr(value, ']');

		if (!close)
			return "missing ']' after the IPv6 address";
		if (close[1] != ':')
			return "port missing (expected [IPv6]:PORT)";
		host = value + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
	} else {
		colon = strrchr(value, ':');
		if (!colon)
			return "port missing (expected HOST:PORT)";
		if (memchr(value, ':', (size_t)(colon - value)))
			return "an IPv6 address needs brackets, e.g. [2001:db8::1]:51820";
		hlen = (size_t)(colon - value);
		port = colon + 1;
	}
	if (hlen == 0)
		return "host missing";
	if (parse_uint(port, 65535, &v) < 0 || v == 0)
		return "port must be a number 1..65535";
	*ret_host = host;
	*ret_hlen = hlen;
	*ret_bracketed = value[0] == '[';
	*ret_port = (uint16_t)v;
	return NULL;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
static bool hostname_is_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* A top-level label of digits only means an IPv4 address was meant (no TLD is numeric). */
static bool looks_like_ipv4(const char *s)
{
	const char *last = strrchr(s, '.');

	last = last ? last + 1 : s;
	return *last && strspn(last, "0123456789") == strlen(last);
}

static int parse_hostport(struct parser *p, const struct key *k, const char *value, void *field)
{
	struct agentconf_endpoint *ep = field;
	struct in6_addr a;
	const char *host, *why;
	char *h = NULL, *text = NULL;
	bool bracketed;
	uint16_t port;
	size_t hlen;
	int r;

	why = split_hostport(value, &host, &hlen, &bracketed, &port);
	if (why)
		return fail_key(p, k, "%s: %s", shown(value), why);
	h = strndup(host, hlen);
	text = strdup(value);
	if (!h || !text) {
		r = -ENOMEM;
		goto out;
	}
	if (bracketed) {
		if (inet_pton(AF_INET6, h, &a) != 1) {
			r = fail_key(p, k, "%s is not an IPv6 address", shown(h));
			goto out;
		}
	} else if (looks_like_ipv4(h)) {
		if (inet_pton(AF_INET, h, &a) != 1) {
			r = fail_key(p, k, "%s is not an IPv4 address", shown(h));
			goto out;
		}
	} else if (!hostname_is_valid(h)) {
		r = fail_key(p, k, "%s is not a valid host name", shown(h));
		goto out;
	}
	ep->text = text;
	ep->host = h;
	ep->port = port;
	text = h = NULL;
	r = 0;
out:
	free(text);
	free(h);
	return r;
}

static int parse_sockaddr(struct parser *p, const struct key *k, const char *value, void *field)
{
	union wg_endpoint ep = {};
	char host[INET6_ADDRSTRLEN];
	const char *h, *why;
	bool bracketed;
	uint16_t port;
	size_t hlen;

	why = split_hostport(value, &h, &hlen, &bracketed, &port);
	if (why)
		return fail_key(p, k, "%s: %s", shown(value), why);
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (bracketed) {
		if (inet_pton(AF_INET6, host, &ep.addr6.sin6_addr) != 1)
			goto bad;
		ep.addr6.sin6_family = AF_INET6;
		ep.addr6.sin6_port = htons(port);
	} else {
		if (inet_pton(AF_INET, host, &ep.addr4.sin_addr) != 1)
			goto bad;
		ep.addr4.sin_family = AF_INET;
		ep.addr4.sin_port = htons(port);
	}
	*(union wg_endpoint *)field = ep;
	return 0;
bad:
	return fail_key(p, k, "%s is not IP:PORT or [IPv6]:PORT with a numeric address",
			shown(value));
}

static size_t family_len(uint16_t family)
{
	return family == AF_INET ? 4 : 16;
}

static const uint8_t *ip_bytes(const struct wg_allowedip *ip)
{
	return ip->family == AF_INET ? (const uint8_t *)&ip->ip4 : ip->ip6.s6_addr;
}

/* Whether the first cidr bits of a and b agree. */
static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned cidr)
{
	unsigned bytes = cidr / 8, bits = cidr % 8;

	if (memcmp(a, b, bytes))
		return false;
	return bits == 0 || ((a[bytes] ^ b[bytes]) & (0xff00 >> bits) & 0xff) == 0;
}

/* Set every bit from cidr on to one (set) or zero. */
static void fill_host_bits(uint8_t *a, size_t len, unsigned cidr, bool set)
{
	for (size_t i = 0; i < len; i++) {
		unsigned first = (unsigned)i * 8;
		uint8_t host = first >= cidr ? 0xff
			     : first + 8 <= cidr ? 0
			     : (uint8_t)(0xff >> (cidr - first));

		a[i] = set ? (uint8_t)(a[i] | host) : (uint8_t)(a[i] & ~host);
	}
}

static bool host_bits_are(const uint8_t *a, size_t len, unsigned cidr, bool set)
{
	uint8_t b[16];

	memcpy(b, a, len);
	fill_host_bits(b, len, cidr, set);
	return !memcmp(a, b, len);
}

static void format_addr(uint16_t family, const void *addr, char buf[static INET6_ADDRSTRLEN])
{
	if (!inet_ntop(family, addr, buf, INET6_ADDRSTRLEN))
		snprintf(buf, INET6_ADDRSTRLEN, "?");
}

static int parse_prefix(struct parser *p, const struct key *k, const char *value, void *item)
{
	if (wg_allowedip_parse(value, item) < 0)
		return fail_key(p, k, "%s is not an address or prefix", shown(value));
	return 0;
}

static int parse_range(struct parser *p, const struct key *k, const char *value, void *item)
{
	struct agentconf_range range = {};
	struct wg_allowedip a, b;
	const char *dash = strchr(value, '-');
	size_t len = family_len(AF_INET6);

	if (dash) {
		char first[INET6_ADDRSTRLEN + 1] = "";
		size_t n = (size_t)(dash - value);

		/* An address range has no '/', and whitespace around '-' is allowed. */
		while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
			n--;
		if (n < sizeof(first))
			memcpy(first, value, n);
		dash += strspn(dash + 1, " \t") + 1;
		if (n >= sizeof(first) || strchr(value, '/') || wg_allowedip_parse(first, &a) < 0 ||
		    wg_allowedip_parse(dash, &b) < 0)
			return fail_key(p, k, "%s is not an address, range A-B or prefix",
					shown(value));
		if (a.family != b.family)
			return fail_key(p, k, "%s mixes IPv4 and IPv6", shown(value));
		len = family_len(a.family);
		if (memcmp(ip_bytes(&a), ip_bytes(&b), len) > 0)
			return fail_key(p, k, "%s: the range ends before it starts", shown(value));
	} else {
		if (wg_allowedip_parse(value, &a) < 0)
			return fail_key(p, k, "%s is not an address, range A-B or prefix",
					shown(value));
		len = family_len(a.family);
		if (!host_bits_are(ip_bytes(&a), len, a.cidr, false))
			return fail_key(p, k, "%s has host bits set", shown(value));
		b = a;
		fill_host_bits((uint8_t *)ip_bytes(&b), len, b.cidr, true);
	}
	range.family = a.family;
	memcpy(&range.first, ip_bytes(&a), len);
	memcpy(&range.last, ip_bytes(&b), len);
	*(struct agentconf_range *)item = range;
	return 0;
}

static const struct type_info {
	const char *name;
	size_t item_size; /* list element; scalars are stored at the key's offset */
	int (*parse)(struct parser *p, const struct key *k, const char *value, void *field);
} types[] = {
	[TYPE_U16] = {"integer", 0, parse_number},
	[TYPE_U32] = {"integer", 0, parse_number},
	[TYPE_DURATION] = {"duration", 0, parse_duration},
	[TYPE_ENUM] = {"choice", 0, parse_enum},
	[TYPE_STRING] = {"string", 0, parse_string},
	[TYPE_PATH] = {"path", 0, parse_path},
	[TYPE_HOSTPORT] = {"host:port", 0, parse_hostport},
	[TYPE_SOCKADDR] = {"IP:port", 0, parse_sockaddr},
	[TYPE_PREFIX] = {"prefix", sizeof(struct wg_allowedip), parse_prefix},
	[TYPE_RANGE] = {"address, A-B or prefix", sizeof(struct agentconf_range), parse_range},
};

static int check_ifname(struct parser *p, const struct key *k, const char *value, void *item)
{
	if (wg_ifname_validate(*(char **)item) < 0)
		return fail_key(p, k, "%s is not a valid interface name (%s)", shown(value),
				k->bounds_doc);
	return 0;
}

/* Ranges a peer's address can never be in: no packet would reach it through the tunnel. */
static const struct {
	uint16_t family;
	uint8_t cidr;
	uint8_t addr[16];
	const char *what;
} special_blocks[] = {
	{AF_INET, 8, {0}, "\"this network\""},
	{AF_INET, 8, {127}, "loopback"},
	{AF_INET, 16, {169, 254}, "link-local"},
	{AF_INET, 3, {224}, "multicast and reserved"},
	{AF_INET6, 8, {0x00}, "unspecified, loopback and IPv4-mapped"},
	{AF_INET6, 10, {0xfe, 0x80}, "link-local"},
	{AF_INET6, 8, {0xff}, "multicast"},
};

static int check_pool(struct parser *p, const struct key *k, const char *value, void *item)
{
	struct wg_allowedip *pool = item, net;
	const struct agent_config *cfg = p->cfg;
	bool v4 = pool->family == AF_INET;
	char buf[WG_ALLOWEDIP_STRLEN];

	if (!strchr(value, '/'))
		return fail_key(p, k, "%s needs a prefix length, e.g. %s", shown(value),
				v4 ? "10.8.0.0/24" : "fd42:8::/64");
	/* Room for the server and at least one peer; an IPv6 pool never wider than a /64. */
	if (v4 ? pool->cidr < 8 || pool->cidr > 30 : pool->cidr < 64 || pool->cidr > 126)
		return fail_key(p, k, "%s: an %s pool must be /%s", shown(value),
				v4 ? "IPv4" : "IPv6", v4 ? "8../30" : "64../126");
	if (!host_bits_are(ip_bytes(pool), family_len(pool->family), pool->cidr, false)) {
		net = *pool;
		fill_host_bits((uint8_t *)ip_bytes(&net), family_len(net.family), net.cidr, false);
		wg_allowedip_format(&net, buf);
		return fail_key(p, k, "%s has host bits set (the network is %s)", shown(value),
				buf);
	}
	for (size_t i = 0; i < ARRAY_SIZE(special_blocks); i++) {
		char block[INET6_ADDRSTRLEN];

		if (special_blocks[i].family != pool->family ||
		    !prefix_match(special_blocks[i].addr, ip_bytes(pool),
				  MIN(special_blocks[i].cidr, pool->cidr)))
			continue;
		format_addr(pool->family, special_blocks[i].addr, block);
		return fail_key(p, k, "%s overlaps %s/%u (%s)", shown(value), block,
				special_blocks[i].cidr, special_blocks[i].what);
	}
	for (size_t i = 0; i + 1 < cfg->n_pools; i++)
		if (cfg->pools[i].family == pool->family)
			return fail_key(p, k,
					"a second %s pool (one per family; the first is on line %u)",
					v4 ? "IPv4" : "IPv6", p->item_lines[K_POOL][i]);
	return 0;
}

static int check_address(struct parser *p, const struct key *k, const char *value, void *item)
{
	struct wg_allowedip *a = item;

	/* cidr 0 stands for "the pool's" until the pools are known. */
	if (!strchr(value, '/'))
		a->cidr = 0;
	else if (a->cidr == 0)
		return fail_key(p, k, "%s: the prefix length must be the pool's", shown(value));
	return 0;
}

/* Store one value of key ki; the line is already in p->line. */
static int assign(struct parser *p, size_t ki, const char *value)
{
	const struct key *k = &keys[ki];
	const struct type_info *t = &types[k->type];
	void *field = (char *)p->cfg + k->offset;
	int r;

	if (k->flags & KEY_LIST) {
		void **items = field;
		size_t *n = (size_t *)((char *)p->cfg + k->count_offset);

		if (grow_array(items, &p->cap_items[ki], *n + 1, t->item_size) < 0 ||
		    grow_array((void **)&p->item_lines[ki], &p->cap_lines[ki], *n + 1,
			       sizeof(unsigned)) < 0)
			return -ENOMEM;
		field = (char *)*items + *n * t->item_size;
		memset(field, 0, t->item_size);
		p->item_lines[ki][*n] = p->line;
		(*n)++;
	}
	r = t->parse(p, k, value, field);
	if (r == 0 && k->validate)
		r = k->validate(p, k, value, field);
	return r;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks at both ends of s, in place. */
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

/* Key names are lower-case letters and '_'; only such a name is echoed when unknown. */
static bool key_name_is_printable(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n;
}

/* One line (NUL-terminated, without its '\n'). */
static int parse_line(struct parser *p, char *line)
{
	char *s, *eq, *key, *value, *save = NULL;
	size_t len = strlen(line), ki;
	const struct key *k = NULL;
	int r;

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
	for (ki = 0; ki < N_KEYS; ki++)
		if (!strcmp(key, keys[ki].name)) {
			k = &keys[ki];
			break;
		}
	if (!k) {
		if (!*key)
			return fail(p, "expected 'key = value'");
		if (key_name_is_printable(key))
			return fail(p, "unknown key '%s'", key);
		return fail(p, "unknown key");
	}
	if (!*value)
		return fail_key(p, k, "empty value");
	if (p->key_line[ki] && !(k->flags & KEY_LIST))
		return fail_key(p, k, "set twice (first on line %u)", p->key_line[ki]);
	if (!p->key_line[ki])
		p->key_line[ki] = p->line;
	if (!(k->flags & KEY_LIST))
		return assign(p, ki, value);
	/* Lists: "a, b" is the same as two lines. */
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

static int find_pool(const struct agent_config *cfg, uint16_t family, const uint8_t *a)
{
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].family == family &&
		    prefix_match(ip_bytes(&cfg->pools[i]), a, cfg->pools[i].cidr))
			return (int)i;
	return -1;
}

/* Put addresses in pool order, one per pool, filling in the default for the others. */
static int check_addresses(struct parser *p)
{
	struct agent_config *cfg = p->cfg;
	const struct key *k = &keys[K_ADDRESS];
	struct wg_allowedip *ordered;
	unsigned first_line[2] = {};
	char buf[INET6_ADDRSTRLEN];
	int r = 0;

	ordered = calloc(cfg->n_pools, sizeof(*ordered));
	if (!ordered)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_addresses; i++) {
		const struct wg_allowedip *a = &cfg->addresses[i];
		const uint8_t *bytes = ip_bytes(a);
		size_t len = family_len(a->family);
		int j = find_pool(cfg, a->family, bytes);
		const struct wg_allowedip *pool = j >= 0 ? &cfg->pools[j] : NULL;

		p->line = p->item_lines[K_ADDRESS][i];
		format_addr(a->family, bytes, buf);
		if (!pool) {
			r = fail_key(p, k, "%s is not inside any pool", buf);
			goto out;
		}
		if (a->cidr && a->cidr != pool->cidr) {
			r = fail_key(p, k, "%s/%u: the prefix length must be the pool's (/%u)", buf,
				     a->cidr, pool->cidr);
			goto out;
		}
		if (host_bits_are(bytes, len, pool->cidr, false)) {
			r = fail_key(p, k, "%s is the pool's %s address", buf,
				     a->family == AF_INET ? "network" : "subnet-router anycast");
			goto out;
		}
		if (a->family == AF_INET && host_bits_are(bytes, len, pool->cidr, true)) {
			r = fail_key(p, k, "%s is the pool's broadcast address", buf);
			goto out;
		}
		if (first_line[j]) {
			r = fail_key(p, k,
				     "a second address in one pool (one per pool; the first is on line %u)",
				     first_line[j]);
			goto out;
		}
		first_line[j] = p->line;
		ordered[j] = *a;
		ordered[j].cidr = pool->cidr;
	}
	for (size_t j = 0; j < cfg->n_pools; j++)
		if (!first_line[j]) {
			/* The pool's first host: host bits are zero and at least two wide. */
			ordered[j] = cfg->pools[j];
			if (ordered[j].family == AF_INET)
				((uint8_t *)&ordered[j].ip4)[3] |= 1;
			else
				ordered[j].ip6.s6_addr[15] |= 1;
		}
	free(cfg->addresses);
	cfg->addresses = ordered;
	cfg->n_addresses = cfg->n_pools;
	p->cap_items[K_ADDRESS] = cfg->n_pools;
	ordered = NULL;
out:
	free(ordered);
	return r;
}

static int check_cross(struct parser *p)
{
	struct agent_config *cfg = p->cfg;
	char first[INET6_ADDRSTRLEN], last[INET6_ADDRSTRLEN];
	int r;

	r = check_addresses(p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_reserved; i++) {
		const struct agentconf_range *rg = &cfg->reserved[i];
		int a = find_pool(cfg, rg->family, (const uint8_t *)&rg->first);
		int b = find_pool(cfg, rg->family, (const uint8_t *)&rg->last);

		if (a < 0 || a != b) {
			p->line = p->item_lines[K_RESERVED][i];
			format_addr(rg->family, &rg->first, first);
			format_addr(rg->family, &rg->last, last);
			if (!memcmp(&rg->first, &rg->last, family_len(rg->family)))
				return fail_key(p, &keys[K_RESERVED], "%s is not inside a pool",
						first);
			return fail_key(p, &keys[K_RESERVED], "%s-%s is not inside a pool", first,
					last);
		}
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		size_t set = cfg->tls_cert ? K_TLS_CERT : K_TLS_KEY;

		p->line = p->key_line[set];
		return fail_key(p, &keys[set], "set without %s (both or neither)",
				keys[set == K_TLS_CERT ? K_TLS_KEY : K_TLS_CERT].name);
	}
	return 0;
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0, pos = 0;
	int r;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		p->line++;
		if (memchr(text + pos, '\0', n))
			return fail(p, "NUL byte in line");
		if (grow_array((void **)&buf, &cap, n + 1, 1) < 0)
			return -ENOMEM;
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		r = parse_line(p, buf);
		if (r < 0)
			return r;
		pos += n + 1;
	}
	for (size_t ki = 0; ki < N_KEYS; ki++) {
		if (p->key_line[ki])
			continue;
		p->line = 0;
		if (keys[ki].flags & KEY_REQUIRED)
			return fail(p, "missing required key '%s'", keys[ki].name);
		if (keys[ki].default_value) {
			r = assign(p, ki, keys[ki].default_value);
			if (r < 0)
				return r;
		}
	}
	return check_cross(p);
}

struct agent_config *agentconf_free(struct agent_config *cfg)
{
	if (!cfg)
		return NULL;
	free(cfg->interface);
	free(cfg->endpoint.text);
	free(cfg->endpoint.host);
	free(cfg->pools);
	free(cfg->addresses);
	free(cfg->reserved);
	free(cfg->token_file);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->state_dir);
	free(cfg);
	return NULL;
}

int agentconf_parse(const char *text, size_t len, const char *filename,
		    struct agent_config **ret, struct agentconf_error *ret_err)
{
	struct parser p = {};
	int r;

	p.cfg = calloc(1, sizeof(*p.cfg));
	if (!p.cfg) {
		r = -ENOMEM;
		goto out;
	}
	r = parse_text(&p, text, len);
	if (r < 0)
		goto out;
	*ret = p.cfg;
	p.cfg = NULL;
out:
	if (r == -ENOMEM)
		snprintf(p.err.message, sizeof(p.err.message), "out of memory");
	if (r < 0 && ret_err) {
		p.err.filename = filename;
		*ret_err = p.err;
	}
	for (size_t i = 0; i < N_KEYS; i++)
		free(p.item_lines[i]);
	agentconf_free(p.cfg);
	return r;
}

void agentconf_error_format(const struct agentconf_error *err, char *buf, size_t size)
{
	const char *file = err->filename ? err->filename : "(config)";

	if (err->line)
		snprintf(buf, size, "%s:%u: %s", file, err->line, err->message);
	else
		snprintf(buf, size, "%s: %s", file, err->message);
}

const char *agentconf_log_level_name(enum agentconf_log_level level)
{
	return (unsigned)level < ARRAY_SIZE(log_levels) - 1 ? log_levels[level] : "?";
}

const char *agentconf_backend_name(enum agentconf_backend backend)
{
	return (unsigned)backend < ARRAY_SIZE(backends) - 1 ? backends[backend] : "?";
}

int agentconf_describe(size_t i, struct agentconf_keydoc *ret)
{
	const struct key *k;

	if (i >= N_KEYS)
		return -ENOENT;
	k = &keys[i];
	*ret = (struct agentconf_keydoc){
		.name = k->name,
		.type = k->type_doc ? k->type_doc : types[k->type].name,
		.required = k->flags & KEY_REQUIRED,
		.list = k->flags & KEY_LIST,
		.default_value = k->default_value ? k->default_value : k->default_doc,
		.description = k->description,
	};
	format_bounds(k, ret->bounds, sizeof(ret->bounds));
	return 0;
}
