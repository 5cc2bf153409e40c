// SPDX-License-Identifier: MIT
/*
 * wg(8) configuration parser. What it accepts was checked line by line against
 * `wg setconf` (wireguard-tools 1.0.20210914) on a wireguard-go device:
 *
 * - A line is cut at '#' (and at a NUL byte, where wg's C strings end), then every
 *   whitespace byte anywhere in it is dropped: "Listen Port = 5 1 8 2 0" is ListenPort=51820.
 * - Section headers and keys compare case-insensitively; anything else is an error, and so
 *   is a key with an empty value (wg: "Line unrecognized"), including "AllowedIPs =".
 * - Each [Peer] needs a PublicKey. A repeated key in a section overwrites the earlier one;
 *   AllowedIPs lines accumulate.
 * - Two [Peer] sections with one public key are one peer to the device: the later section
 *   replaces the allowed IPs (REPLACE_ALLOWEDIPS) and overrides what it sets. We merge them
 *   the same way, so callers never see a public key twice.
 *
 * Deliberate differences, all on input wg accepts by accident of getaddrinfo(3):
 * ListenPort and Endpoint ports above 65535 (wg truncates them to 16 bits) are rejected,
 * and ListenPort service names ("domain") are rejected (looking them up is I/O).
 * Endpoint host names, named scopes and service-name ports go to the caller's resolver
 * with the same host and port strings wg hands to getaddrinfo(3).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wgfleet/macro.h"
#include "wgconf.h"

enum section {
	SECTION_NONE,
	SECTION_INTERFACE,
	SECTION_PEER,
};

struct parser {
	struct wg_device *dev;
	enum section section;
	unsigned line;
	unsigned peer_line; /* line of the current [Peer] header */
	wgconf_resolve_fn resolve;
	void *userdata;
	struct wgconf_error err;
};

/* Marks a peer merged into a later section with the same key; never set otherwise here. */
#define PEER_MERGED WG_PEER_REMOVE_ME

static int fail(struct parser *p, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, int r, const char *fmt, ...)
{
	va_list ap;

	p->err.line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err.message, sizeof(p->err.message), fmt, ap);
	va_end(ap);
	return r;
}

/* wg(8)'s own set: " \t\n\r\f\v", independent of the locale. */
static inline bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Whether a key name may be echoed in a message. A line like "<base64 key>=" has the key
 * in its name, so only short all-letter names (which cannot hold a 32-byte key) are shown.
 */
static bool name_is_printable(const char *s, size_t len)
{
	if (len == 0 || len > 24)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(s[i]))
			return false;
	return true;
}

/* Decimal digits only, at least one; 0 or -ERANGE above max, -EINVAL if not digits. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max) {
			/* Keep scanning so that "99x" is -EINVAL, not -ERANGE. */
			for (s++; *s; s++)
				if (!is_digit(*s))
					return -EINVAL;
			return -ERANGE;
		}
	}
	*ret = v;
	return 0;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A port as glibc's getaddrinfo(3) reads a numeric service: an optional '+' and decimal
 * digits. 1 numeric (ret set), 0 not numeric (a service name), -ERANGE above 65535.
 */
static int parse_numeric_port(const char *s, uint16_t *ret)
{
	uint64_t v;
	int r;

	if (*s == '+')
		s++;
	r = parse_decimal(s, 65535, &v);
	if (r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	*ret = (uint16_t)v;
	return 1;
}

static int parse_listen_port(struct parser *p, char *value)
{
	uint16_t port;
	int r = parse_numeric_port(value, &port);

	if (r == -ERANGE)
		return fail(p, -EINVAL, "ListenPort: %.16s: port out of range 0-65535", value);
	if (r <= 0)
		return fail(p, -EINVAL,
			    "ListenPort: not a port number (service names are not supported)");
	p->dev->listen_port = port;
	p->dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	return 0;
}

static int parse_fwmark(struct parser *p, char *value)
{
	uint64_t v = 0;

	if (!strcasecmp(value, "off")) {
		p->dev->fwmark = 0;
		p->dev->flags |= WG_DEVICE_HAS_FWMARK;
		return 0;
	}
	/* wg: a leading digit, then strtoul in base 16 after a lowercase "0x", else base 10. */
	if (!is_digit(value[0]))
		goto bad;
	if (strlen(value) > 2 && value[0] == '0' && value[1] == 'x') {
		for (const char *s = value + 2; *s; s++) {
			int d = hex_value(*s);

			if (d < 0)
				goto bad;
			v = v * 16 + (uint64_t)d;
			if (v > UINT32_MAX)
				goto bad;
		}
	} else if (parse_decimal(value, UINT32_MAX, &v) < 0)
		goto bad;
	p->dev->fwmark = (uint32_t)v;
	p->dev->flags |= WG_DEVICE_HAS_FWMARK;
	return 0;
bad:
	return fail(p, -EINVAL, "FwMark: %.24s: neither \"off\" nor 0-0xffffffff", value);
}

static int parse_keepalive(struct parser *p, struct wg_peer *peer, char *value)
{
	uint64_t v = 0;

	if (strcasecmp(value, "off") && parse_decimal(value, 65535, &v) < 0)
		return fail(p, -EINVAL, "PersistentKeepalive: %.24s: neither \"off\" nor 0-65535",
			    value);
	peer->persistent_keepalive = (uint16_t)v;
	peer->flags |= WG_PEER_HAS_KEEPALIVE;
	return 0;
}

/* One AllowedIPs entry, "addr" or "addr/cidr"; entry is ours to cut. */
static int parse_allowedip(struct parser *p, char *entry, struct wg_allowedip *ret)
{
	struct wg_allowedip ip = {};
	char *slash = strchr(entry, '/');
	uint64_t cidr;
	int r;

	if (!*entry)
		return fail(p, -EINVAL, "AllowedIPs: empty entry in the list");
	if (slash)
		*slash = '\0';
	/* wg picks the family by the presence of ':' and wants inet_pton's strict forms. */
	if (strchr(entry, ':')) {
		ip.family = AF_INET6;
		r = inet_pton(AF_INET6, entry, &ip.ip6);
	} else {
		ip.family = AF_INET;
		r = inet_pton(AF_INET, entry, &ip.ip4);
	}
	if (slash)
		*slash = '/';
	if (r != 1)
		return fail(p, -EINVAL, "AllowedIPs: %.64s: not an IP address", entry);

	cidr = ip.family == AF_INET ? 32 : 128;
	if (slash) {
		r = parse_decimal(slash + 1, cidr, &cidr);
		if (r == -ERANGE)
			return fail(p, -EINVAL, "AllowedIPs: %.64s: mask out of range", entry);
		if (r < 0)
			return fail(p, -EINVAL, "AllowedIPs: %.64s: bad mask", entry);
	}
	ip.cidr = (uint8_t)cidr;
	*ret = ip;
	return 0;
}

static int parse_allowedips(struct parser *p, struct wg_peer *peer, char *value)
{
	char *entry = value;

	for (;;) {
		char *comma = strchr(entry, ',');
		struct wg_allowedip ip;
		int r;

		if (comma)
			*comma = '\0';
		r = parse_allowedip(p, entry, &ip);
		if (r < 0)
			return r;
		r = wg_peer_add_allowedip(peer, &ip);
		if (r < 0)
			return fail(p, r, "AllowedIPs: out of memory");
		if (!comma)
			return 0;
		entry = comma + 1;
	}
}

/*
 * A host that glibc's getaddrinfo(3) takes as a literal without any lookup: inet_aton's
 * IPv4 forms ("10.1" and "0x0a000001" too), or IPv6 with no scope or a numeric one.
 * 1 and ret filled (port 0), 0 if it needs the resolver.
 */
static int parse_numeric_host(const char *host, union wg_endpoint *ret)
{
	union wg_endpoint ep = {};
	char addr[INET6_ADDRSTRLEN];
	const char *pct;
	size_t alen;
	uint64_t scope = 0;

	if (inet_aton(host, &ep.addr4.sin_addr)) {
		ep.addr4.sin_family = AF_INET;
		*ret = ep;
		return 1;
	}
	if (!strchr(host, ':'))
		return 0;
	pct = strchr(host, '%');
	alen = pct ? (size_t)(pct - host) : strlen(host);
	if (alen >= sizeof(addr))
		return 0;
	memcpy(addr, host, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, &ep.addr6.sin6_addr) != 1)
		return 0;
	if (pct && parse_decimal(pct + 1, UINT32_MAX, &scope) < 0)
		return 0; /* an interface name: if_nametoindex() is I/O */
	ep.addr6.sin6_family = AF_INET6;
	ep.addr6.sin6_scope_id = (uint32_t)scope;
	*ret = ep;
	return 1;
}

static int parse_endpoint(struct parser *p, struct wg_peer *peer, char *value)
{
	union wg_endpoint ep;
	char *host, *port;
	uint16_t portnum = 0;
	int r, numeric_port;

	/* Split as wg does: "[host]:port", else at the last ':' (so fd00::1:51820 works). */
	if (value[0] == '[') {
		char *close = strchr(value, ']');

		if (!close)
			return fail(p, -EINVAL, "Endpoint: %.64s: no matching ']'", value);
		if (close[1] != ':' || !close[2])
			return fail(p, -EINVAL, "Endpoint: %.64s: no port", value);
		*close = '\0';
		host = value + 1;
		port = close + 2;
	} else {
		char *colon = strrchr(value, ':');

		if (!colon || !colon[1])
			return fail(p, -EINVAL, "Endpoint: %.64s: no port", value);
		*colon = '\0';
		host = value;
		port = colon + 1;
	}
	if (!*host)
		return fail(p, -EINVAL, "Endpoint: empty host");

	numeric_port = parse_numeric_port(port, &portnum);
	if (numeric_port < 0)
		return fail(p, -EINVAL, "Endpoint: %.64s: port out of range 0-65535", port);
	if (numeric_port && parse_numeric_host(host, &ep)) {
		if (ep.addr.sa_family == AF_INET)
			ep.addr4.sin_port = htons(portnum);
		else
			ep.addr6.sin6_port = htons(portnum);
	} else {
		if (!p->resolve)
			return fail(p, -EINVAL,
				    "Endpoint: %.64s:%.16s: not numeric and no resolver", host,
				    port);
		memset(&ep, 0, sizeof(ep));
		r = p->resolve(host, port, &ep, p->userdata);
		if (r < 0)
			return fail(p, r, "Endpoint: %.64s:%.16s: cannot resolve: %s", host, port,
				    strerrordesc_np(-r) ?: "unknown error");
		if (ep.addr.sa_family != AF_INET && ep.addr.sa_family != AF_INET6)
			return fail(p, -EINVAL,
				    "Endpoint: %.64s: resolved to neither IPv4 nor IPv6", host);
	}
	peer->endpoint = ep;
	peer->flags |= WG_PEER_HAS_ENDPOINT;
	return 0;
}

static int parse_key(struct parser *p, const char *name, const char *value,
		     uint8_t key[static WG_KEY_LEN])
{
	/* Never echo the value: it may be a private or preshared key with one typo. */
	if (wg_key_from_base64(value, key) < 0)
		return fail(p, -EINVAL, "%s: not a key (44 characters of base64)", name);
	return 0;
}

/* A section ends: a [Peer] must have had a PublicKey (wg checks this at the end). */
static int end_section(struct parser *p)
{
	if (p->section == SECTION_PEER &&
	    !(p->dev->peers[p->dev->n_peers - 1].flags & WG_PEER_HAS_PUBLIC_KEY)) {
		p->line = p->peer_line;
		return fail(p, -EINVAL, "[Peer] section has no PublicKey");
	}
	return 0;
}

static int parse_section(struct parser *p, const char *line, size_t len)
{
	static const uint8_t no_key[WG_KEY_LEN];
	struct wg_peer *peer;
	int r;

	if (!strcasecmp(line, "[Interface]")) {
		r = end_section(p);
		if (r < 0)
			return r;
		p->section = SECTION_INTERFACE;
		return 0;
	}
	if (!strcasecmp(line, "[Peer]")) {
		r = end_section(p);
		if (r < 0)
			return r;
		r = wg_device_add_peer(p->dev, no_key, &peer);
		if (r < 0)
			return fail(p, r, "[Peer]: out of memory");
		/* No public key until its line; setconf replaces every peer's allowed IPs. */
		peer->flags = WG_PEER_REPLACE_ALLOWEDIPS;
		p->section = SECTION_PEER;
		p->peer_line = p->line;
		return 0;
	}
	if (len > 2 && line[len - 1] == ']' && name_is_printable(line + 1, len - 2))
		return fail(p, -EINVAL, "unknown section %s (expected [Interface] or [Peer])",
			    line);
	return fail(p, -EINVAL, "unknown section header (expected [Interface] or [Peer])");
}

enum key_id {
	KEY_PRIVATE_KEY,
	KEY_LISTEN_PORT,
	KEY_FWMARK,
	KEY_PUBLIC_KEY,
	KEY_PRESHARED_KEY,
	KEY_ALLOWED_IPS,
	KEY_ENDPOINT,
	KEY_PERSISTENT_KEEPALIVE,
	KEY_WG_QUICK, /* known to wg-quick(8), rejected by wg setconf */
};

static const struct {
	const char *name;
	enum key_id id;
	enum section section;
} keys[] = {
	{"PrivateKey", KEY_PRIVATE_KEY, SECTION_INTERFACE},
	{"ListenPort", KEY_LISTEN_PORT, SECTION_INTERFACE},
	{"FwMark", KEY_FWMARK, SECTION_INTERFACE},
	{"PublicKey", KEY_PUBLIC_KEY, SECTION_PEER},
	{"PresharedKey", KEY_PRESHARED_KEY, SECTION_PEER},
	{"AllowedIPs", KEY_ALLOWED_IPS, SECTION_PEER},
	{"Endpoint", KEY_ENDPOINT, SECTION_PEER},
	{"PersistentKeepalive", KEY_PERSISTENT_KEEPALIVE, SECTION_PEER},
	{"Address", KEY_WG_QUICK, SECTION_INTERFACE},
	{"DNS", KEY_WG_QUICK, SECTION_INTERFACE},
	{"MTU", KEY_WG_QUICK, SECTION_INTERFACE},
	{"Table", KEY_WG_QUICK, SECTION_INTERFACE},
	{"PreUp", KEY_WG_QUICK, SECTION_INTERFACE},
	{"PostUp", KEY_WG_QUICK, SECTION_INTERFACE},
	{"PreDown", KEY_WG_QUICK, SECTION_INTERFACE},
	{"PostDown", KEY_WG_QUICK, SECTION_INTERFACE},
	{"SaveConfig", KEY_WG_QUICK, SECTION_INTERFACE},
};

static int parse_line(struct parser *p, char *line, size_t len)
{
	char *eq, *value;
	size_t klen;
	struct wg_peer *peer;
	const char *name = NULL;
	enum key_id id = KEY_WG_QUICK;
	enum section section = SECTION_NONE;

	if (line[0] == '[')
		return parse_section(p, line, len);

	eq = memchr(line, '=', len);
	if (!eq)
		return fail(p, -EINVAL, "not a \"Key = Value\" line");
	klen = (size_t)(eq - line);
	value = eq + 1;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i].name) == klen && !strncasecmp(line, keys[i].name, klen)) {
			name = keys[i].name;
			id = keys[i].id;
			section = keys[i].section;
			break;
		}
	if (!name) {
		if (name_is_printable(line, klen))
			return fail(p, -EINVAL, "%.*s: unknown key", (int)klen, line);
		return fail(p, -EINVAL, "unknown key");
	}
	if (id == KEY_WG_QUICK)
		return fail(p, -EINVAL, "%s: a wg-quick(8) key, not accepted by wg setconf", name);
	if (p->section == SECTION_NONE)
		return fail(p, -EINVAL, "%s: key before any [Interface] or [Peer] section", name);
	if (p->section != section)
		return fail(p, -EINVAL, "%s: not allowed in %s section", name,
			    p->section == SECTION_PEER ? "a [Peer]" : "the [Interface]");
	if (!*value)
		return fail(p, -EINVAL, "%s: empty value", name);

	peer = p->section == SECTION_PEER ? &p->dev->peers[p->dev->n_peers - 1] : NULL;
	switch (id) {
	case KEY_PRIVATE_KEY:
		if (parse_key(p, name, value, p->dev->private_key) < 0)
			return -EINVAL;
		p->dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		return 0;
	case KEY_LISTEN_PORT:
		return parse_listen_port(p, value);
	case KEY_FWMARK:
		return parse_fwmark(p, value);
	case KEY_PUBLIC_KEY:
		if (parse_key(p, name, value, peer->public_key) < 0)
			return -EINVAL;
		peer->flags |= WG_PEER_HAS_PUBLIC_KEY;
		return 0;
	case KEY_PRESHARED_KEY:
		if (parse_key(p, name, value, peer->preshared_key) < 0)
			return -EINVAL;
		peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
		return 0;
	case KEY_ALLOWED_IPS:
		return parse_allowedips(p, peer, value);
	case KEY_ENDPOINT:
		return parse_endpoint(p, peer, value);
	case KEY_PERSISTENT_KEEPALIVE:
		return parse_keepalive(p, peer, value);
	case KEY_WG_QUICK:
		break;
	}
	return -EINVAL; /* not reached */
}

static size_t key_hash(const uint8_t key[static WG_KEY_LEN])
{
	uint64_t h = 0x9e3779b97f4a7c15u, w;

	for (size_t i = 0; i < WG_KEY_LEN; i += sizeof(w)) {
		memcpy(&w, key + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	return (size_t)h;
}

/*
 * Fold sections that name the same public key into the last of them, as the device ends
 * up: the last section's allowed IPs (each section replaced them), and for the other
 * fields the value of the last section that set them. One pass in file order over a hash
 * table of the latest section per key: each section takes over what the one before it
 * (already folded) set and it does not. O(n), and no allocation beyond the table.
 */
static int merge_duplicate_peers(struct wg_device *dev)
{
	size_t n = dev->n_peers, out = 0, mask = 7;
	uint32_t *slot; /* index + 1 of the latest section with that key; 0 = empty */
	bool any = false;

	if (n < 2)
		return 0;
	if (n > UINT32_MAX - 1)
		return -ENOMEM;
	while (mask < 2 * n)
		mask = mask * 2 + 1;
	slot = calloc(mask + 1, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct wg_peer *peer = &dev->peers[i];
		size_t h = key_hash(peer->public_key) & mask;

		for (; slot[h]; h = (h + 1) & mask) {
			struct wg_peer *prev = &dev->peers[slot[h] - 1];
			uint32_t take;

			if (memcmp(prev->public_key, peer->public_key, WG_KEY_LEN))
				continue;
			take = prev->flags & ~peer->flags &
			       (WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE);
			if (take & WG_PEER_HAS_PRESHARED_KEY)
				memcpy(peer->preshared_key, prev->preshared_key, WG_KEY_LEN);
			if (take & WG_PEER_HAS_ENDPOINT)
				peer->endpoint = prev->endpoint;
			if (take & WG_PEER_HAS_KEEPALIVE)
				peer->persistent_keepalive = prev->persistent_keepalive;
			peer->flags |= take;
			prev->flags |= PEER_MERGED;
			any = true;
			break;
		}
		slot[h] = (uint32_t)(i + 1);
	}
	free(slot);
	if (!any)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (dev->peers[i].flags & PEER_MERGED) {
			wg_peer_done(&dev->peers[i]);
			continue;
		}
		if (out != i)
			dev->peers[out] = dev->peers[i];
		out++;
	}
	/* The tail now holds stale copies of moved peers; clear them so no key lingers. */
	wg_key_wipe(dev->peers + out, (n - out) * sizeof(*dev->peers));
	dev->n_peers = out;
	return 0;
}

/* How many sections a text could name "[Peer]" (any case): an upper bound, so that the peer
 * array is allocated once and never copied. */
static size_t count_peer_sections(const char *s, size_t len)
{
	const char *end = s + len;
	size_t n = 0;

	if (!len)
		return 0;
	while ((s = memchr(s, '[', (size_t)(end - s))) != NULL) {
		s++;
		if ((size_t)(end - s) >= 5 && !strncasecmp(s, "peer]", 5))
			n++;
	}
	return n;
}

int wgconf_parse(const char *text, size_t len, const char *ifname, wgconf_resolve_fn resolve,
		 void *userdata, struct wg_device **ret_dev, struct wgconf_error *ret_err)
{
	struct parser p = {.resolve = resolve, .userdata = userdata};
	const char *s = text, *end = text + len;
	char *buf = NULL;
	size_t cap = 0;
	int r;

	if (!text && len) {
		r = fail(&p, -EINVAL, "no text");
		goto out;
	}
	r = wg_device_new(ifname, &p.dev);
	if (r < 0) {
		r = fail(&p, r, "invalid interface name");
		goto out;
	}
	r = wg_device_reserve_peers(p.dev, count_peer_sections(text, len));
	if (r < 0) {
		r = fail(&p, r, "out of memory");
		goto out;
	}

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		size_t need = (size_t)(eol - s) + 1, n = 0;

		p.line++;
		/* The old buffer may hold a key from an earlier line: nothing of it is kept. */
		if (grow_array_secret((void **)&buf, &cap, need < 256 ? 256 : need, 0, 1) < 0) {
			r = fail(&p, -ENOMEM, "out of memory");
			goto out;
		}
		/* A comment ends the line; so does a NUL. Most characters are neither, nor a
		 * space, and take the first test only. */
		const char *hash = memchr(s, '#', (size_t)(eol - s));
		const char *stop = hash ? hash : eol;

		for (; s < stop; s++) {
			unsigned char c = (unsigned char)*s;

			if (c > ' ')
				buf[n++] = (char)c;
			else if (c == '\0')
				break;
			else if (!is_space(c))
				buf[n++] = (char)c;
		}
		s = nl ? nl + 1 : end;
		if (!n)
			continue;
		buf[n] = '\0';
		r = parse_line(&p, buf, n);
		if (r < 0)
			goto out;
	}
	r = end_section(&p);
	if (r < 0)
		goto out;
	r = merge_duplicate_peers(p.dev);
	if (r < 0) {
		r = fail(&p, r, "out of memory");
		goto out;
	}
	/*
	 * setconf replaces the whole configuration: wg(8) sends private_key, listen_port and
	 * fwmark even when the file lacks them (as zeros: no key, a random port, no mark; seen
	 * in its UAPI request), so a missing key means "none", not "leave as is".
	 */
	p.dev->flags |= WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY |
			WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	*ret_dev = p.dev;
	p.dev = NULL;
	r = 0;
out:
	if (buf) {
		wg_key_wipe(buf, cap);
		free(buf);
	}
	if (r < 0 && ret_err)
		*ret_err = p.err;
	wg_device_free(p.dev);
	return r;
}
