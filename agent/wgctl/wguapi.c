// SPDX-License-Identifier: MIT
/*
 * The UAPI line protocol of userspace WireGuard daemons (wireguard-go, boringtun).
 *
 * Both directions are built for 50,000-peer devices: the SET request is written into one
 * allocation sized by an upper bound computed up front (no per-line allocation, no printf),
 * and the GET reply is parsed line by line as it arrives, with explicit lengths and no
 * copies, appending to the current peer only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "wguapi.h"

#define WGUAPI_DEFAULT_DIR "/var/run/wireguard"
#define SOCK_SUFFIX ".sock"

/* Linux errno values stop at 4095 (MAX_ERRNO); anything larger is not an errno. */
#define ERRNO_MAX 4095

const char *wguapi_dir(void)
{
	const char *d = getenv("WGFLEET_UAPI_DIR");

	return d && *d ? d : WGUAPI_DEFAULT_DIR;
}

static int socket_address(const char *ifname, struct sockaddr_un *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s" SOCK_SUFFIX, wguapi_dir(), ifname);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	*ret = sa;
	return 0;
}

static int socket_connect(const struct sockaddr_un *sa, int *ret_fd)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return negative_errno();
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * A daemon killed with SIGKILL leaves its socket file behind, so existence alone would pick
 * the UAPI backend for a dead interface; wg(8) connects to tell, and so do we.
 */
static bool socket_alive(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd;

	if (stat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	if (socket_connect(sa, &fd) < 0)
		return false;
	close(fd);
	return true;
}

bool wguapi_has_socket(const char *ifname)
{
	struct sockaddr_un sa;

	return socket_address(ifname, &sa) == 0 && socket_alive(&sa);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wguapi_list(char ***ret_names)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int r;

	d = opendir(wguapi_dir());
	if (!d && errno != ENOENT)
		return negative_errno();
	for (struct dirent *e; d && (errno = 0, e = readdir(d));) {
		size_t len = strlen(e->d_name), slen = strlen(SOCK_SUFFIX);
		struct sockaddr_un sa;
		char name[WG_IFNAME_MAX + 1];

		if (len <= slen || len - slen > WG_IFNAME_MAX ||
		    strcmp(e->d_name + len - slen, SOCK_SUFFIX))
			continue;
		memcpy(name, e->d_name, len - slen);
		name[len - slen] = '\0';
		if (socket_address(name, &sa) < 0 || !socket_alive(&sa))
			continue;
		r = grow_array((void **)&names, &cap, n + 2, sizeof(*names));
		if (r < 0)
			goto out;
		names[n] = strdup(name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		names[++n] = NULL;
	}
	if (d && errno) {
		r = negative_errno();
		goto out;
	}
	if (!names) {
		names = calloc(1, sizeof(*names));
		if (!names) {
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(names, n, sizeof(*names), cmp_str);
	*ret_names = names;
	names = NULL;
	r = 0;
out:
	if (d)
		closedir(d);
	strv_free(names);
	return r;
}

/* ---- SET formatter ---------------------------------------------------------------- */

#define LIT(s) (s), (sizeof(s) - 1)

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put(p, tmp + i, sizeof(tmp) - i);
}

/* "name=<64 hex>\n"; the hex goes straight into the request so no stack copy of a secret. */
static char *put_key(char *p, const char *name, size_t nlen, const uint8_t key[static WG_KEY_LEN])
{
	p = put(p, name, nlen);
	wg_key_to_hex(p, key); /* writes 64 digits and a NUL, which the newline replaces */
	p[2 * WG_KEY_LEN] = '\n';
	return p + 2 * WG_KEY_LEN + 1;
}

static char *put_ip4(char *p, const struct in_addr *a)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;

	for (int i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		p = put_u64(p, b[i]);
	}
	return p;
}

static char *put_hex16(char *p, unsigned v)
{
	static const char digits[] = "0123456789abcdef";
	int shift = 12;

	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = digits[(v >> shift) & 15];
	return p;
}

/*
 * IPv6 text exactly as glibc's inet_ntop writes it (RFC 5952: the longest run of two or
 * more zero groups, the leftmost on a tie, becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d in
 * dotted form). inet_ntop formats every group with sprintf and was a quarter of the time
 * of formatting 50,000 peers, so this writes the digits itself.
 */
static char *put_ip6(char *p, const struct in6_addr *a)
{
	unsigned w[8];
	int best = -1, best_len = 0, cur = -1;

	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)a->s6_addr[2 * i] << 8 | a->s6_addr[2 * i + 1];
	for (int i = 0; i <= 8; i++) {
		if (i < 8 && w[i] == 0) {
			if (cur < 0)
				cur = i;
		} else if (cur >= 0) {
			if (i - cur > best_len) {
				best = cur;
				best_len = i - cur;
			}
			cur = -1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
			struct in_addr v4;

			memcpy(&v4, &a->s6_addr[12], sizeof(v4));
			return put_ip4(p, &v4);
		}
		p = put_hex16(p, w[i]);
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	return p;
}

static char *put_endpoint(char *p, const union wg_endpoint *ep)
{
	p = put(p, LIT("endpoint="));
	if (ep->addr.sa_family == AF_INET) {
		p = put_ip4(p, &ep->addr4.sin_addr);
		*p++ = ':';
		p = put_u64(p, ntohs(ep->addr4.sin_port));
	} else {
		*p++ = '[';
		p = put_ip6(p, &ep->addr6.sin6_addr);
		/*
		 * The scope goes as a number: wireguard-go takes a numeric zone as the
		 * interface index and needs no name lookup in its own namespace.
		 */
		if (ep->addr6.sin6_scope_id) {
			*p++ = '%';
			p = put_u64(p, ep->addr6.sin6_scope_id);
		}
		p = put(p, LIT("]:"));
		p = put_u64(p, ntohs(ep->addr6.sin6_port));
	}
	*p++ = '\n';
	return p;
}

static char *put_allowedip(char *p, const struct wg_allowedip *ip)
{
	p = put(p, LIT("allowed_ip="));
	if (ip->family == AF_INET)
		p = put_ip4(p, &ip->ip4);
	else
		p = put_ip6(p, &ip->ip6);
	*p++ = '/';
	p = put_u64(p, ip->cidr);
	*p++ = '\n';
	return p;
}

#define HEXLEN (2 * WG_KEY_LEN)
#define U64LEN 20
/* Upper bounds of each part of a request, so it is written without bounds checks. */
#define DEVICE_MAX                                                                                 \
	(sizeof("set=1\n") + sizeof("private_key=\n") + HEXLEN + sizeof("listen_port=\n") +        \
	 U64LEN + sizeof("fwmark=\n") + U64LEN + sizeof("replace_peers=true\n") + sizeof("\n"))
#define ENDPOINT_MAX (sizeof("endpoint=[%]:\n") + INET6_ADDRSTRLEN + U64LEN + U64LEN)
#define PEER_MAX                                                                                   \
	(sizeof("public_key=\n") + HEXLEN + sizeof("update_only=true\n") +                         \
	 sizeof("preshared_key=\n") + HEXLEN + ENDPOINT_MAX +                                      \
	 sizeof("persistent_keepalive_interval=\n") + U64LEN +                                     \
	 sizeof("replace_allowed_ips=true\n"))
#define ALLOWEDIP_MAX (sizeof("allowed_ip=/\n") + INET6_ADDRSTRLEN + U64LEN)

static int request_size(const struct wg_device *dev, size_t *ret)
{
	size_t n_ips = 0, size;

	for (size_t i = 0; i < dev->n_peers; i++) {
		if (dev->peers[i].n_ips > SIZE_MAX / 2 - n_ips)
			return -ENOMEM;
		n_ips += dev->peers[i].n_ips;
	}
	if (dev->n_peers > SIZE_MAX / 4 / PEER_MAX || n_ips > SIZE_MAX / 4 / ALLOWEDIP_MAX)
		return -ENOMEM;
	size = DEVICE_MAX + dev->n_peers * PEER_MAX + n_ips * ALLOWEDIP_MAX;
	*ret = size;
	return 0;
}

int wguapi_format_set(const struct wg_device *dev, char **ret_text, size_t *ret_len)
{
	size_t size;
	char *text, *p;
	int r;

	r = wg_device_validate(dev);
	if (r < 0)
		return r;
	r = request_size(dev, &size);
	if (r < 0)
		return r;
	text = malloc(size);
	if (!text)
		return -ENOMEM;

	p = put(text, LIT("set=1\n"));
	/* An all-zero private key is sent as zeros: that is how UAPI removes it. */
	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		p = put_key(p, LIT("private_key="), dev->private_key);
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT) {
		p = put(p, LIT("listen_port="));
		p = put_u64(p, dev->listen_port);
		*p++ = '\n';
	}
	if (dev->flags & WG_DEVICE_HAS_FWMARK) {
		p = put(p, LIT("fwmark="));
		p = put_u64(p, dev->fwmark);
		*p++ = '\n';
	}
	if (dev->flags & WG_DEVICE_REPLACE_PEERS)
		p = put(p, LIT("replace_peers=true\n"));

	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *peer = &dev->peers[i];

		p = put_key(p, LIT("public_key="), peer->public_key);
		if (peer->flags & WG_PEER_REMOVE_ME) {
			p = put(p, LIT("remove=true\n"));
			continue;
		}
		/* wireguard-go needs update_only right after public_key, before any change. */
		if (peer->flags & WG_PEER_UPDATE_ONLY)
			p = put(p, LIT("update_only=true\n"));
		if (peer->flags & WG_PEER_HAS_PRESHARED_KEY)
			p = put_key(p, LIT("preshared_key="), peer->preshared_key);
		if (peer->flags & WG_PEER_HAS_ENDPOINT)
			p = put_endpoint(p, &peer->endpoint);
		if (peer->flags & WG_PEER_HAS_KEEPALIVE) {
			p = put(p, LIT("persistent_keepalive_interval="));
			p = put_u64(p, peer->persistent_keepalive);
			*p++ = '\n';
		}
		if (peer->flags & WG_PEER_REPLACE_ALLOWEDIPS)
			p = put(p, LIT("replace_allowed_ips=true\n"));
		for (size_t j = 0; j < peer->n_ips; j++)
			p = put_allowedip(p, &peer->ips[j]);
	}
	*p++ = '\n';

	*ret_len = (size_t)(p - text);
	*ret_text = text;
	return 0;
}

/* ---- GET parser ------------------------------------------------------------------- */

/* Decimal digits only, no sign, at most max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > U64LEN)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int parse_key(const char *s, size_t n, uint8_t ret[static WG_KEY_LEN])
{
	char hex[WG_KEY_HEX_LEN];
	int r;

	if (n != HEXLEN)
		return -EBADMSG;
	memcpy(hex, s, HEXLEN);
	hex[HEXLEN] = '\0';
	r = wg_key_from_hex(hex, ret) < 0 ? -EBADMSG : 0;
	wg_key_wipe(hex, sizeof(hex)); /* may be a private or preshared key */
	return r;
}

/*
 * inet_pton needs a C string; copy into buf (INET6_ADDRSTRLEN) and refuse what cannot be an
 * address, including an embedded NUL that would hide trailing junk from inet_pton.
 */
static int parse_addr(int family, const char *s, size_t n, void *ret)
{
	char buf[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return -EBADMSG;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(family, buf, ret) == 1 ? 0 : -EBADMSG;
}

/* "A/N" as wireguard-go prints it; the mask is required. */
static int parse_allowedip(const char *s, size_t n, struct wg_allowedip *ret)
{
	struct wg_allowedip ip = {};
	const char *slash = memrchr(s, '/', n);
	uint64_t cidr;
	size_t alen;

	if (!slash)
		return -EBADMSG;
	alen = (size_t)(slash - s);
	ip.family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	if (parse_addr(ip.family, s, alen, &ip.ip6) < 0 ||
	    parse_u64(slash + 1, n - alen - 1, ip.family == AF_INET ? 32 : 128, &cidr) < 0)
		return -EBADMSG;
	ip.cidr = (uint8_t)cidr;
	*ret = ip;
	return 0;
}

/*
 * A zone is an index (what we send) or an interface name (what wg(8) sends; a daemon may
 * echo either back). A name is looked up here as wg(8)'s getaddrinfo would; one unknown in
 * our namespace is not a malformed reply, it just has no index here (0).
 */
static int parse_zone(const char *s, size_t n, uint32_t *ret)
{
	char name[IF_NAMESIZE];
	uint64_t v;

	if (parse_u64(s, n, UINT32_MAX, &v) == 0) {
		*ret = (uint32_t)v;
		return 0;
	}
	if (n == 0 || n >= sizeof(name) || memchr(s, '\0', n))
		return -EBADMSG;
	memcpy(name, s, n);
	name[n] = '\0';
	if (wg_ifname_validate(name) < 0)
		return -EBADMSG;
	*ret = if_nametoindex(name);
	return 0;
}

/* "a.b.c.d:port" or "[v6%zone]:port"; host names are never in a reply. */
static int parse_endpoint(const char *s, size_t n, union wg_endpoint *ret)
{
	union wg_endpoint ep = {};
	const char *colon, *port, *end = s + n;
	uint64_t p;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n), *pct;

		if (!close || close + 1 >= end || close[1] != ':')
			return -EBADMSG;
		pct = memchr(s + 1, '%', (size_t)(close - s - 1));
		if (parse_addr(AF_INET6, s + 1, (size_t)((pct ? pct : close) - s - 1),
		               &ep.addr6.sin6_addr) < 0)
			return -EBADMSG;
		if (pct &&
		    parse_zone(pct + 1, (size_t)(close - pct - 1), &ep.addr6.sin6_scope_id) < 0)
			return -EBADMSG;
		ep.addr6.sin6_family = AF_INET6;
		port = close + 2;
	} else {
		colon = memrchr(s, ':', n);
		if (!colon || parse_addr(AF_INET, s, (size_t)(colon - s), &ep.addr4.sin_addr) < 0)
			return -EBADMSG;
		ep.addr4.sin_family = AF_INET;
		port = colon + 1;
	}
	if (parse_u64(port, (size_t)(end - port), 65535, &p) < 0)
		return -EBADMSG;
	/* sin_port and sin6_port share their offset. */
	ep.addr4.sin_port = htons((uint16_t)p);
	*ret = ep;
	return 0;
}

/* errno=N: wireguard-go sends -22, other daemons may send 22; both mean -EINVAL to us. */
static int parse_errno(const char *s, size_t n, int *ret)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v;

	if (parse_u64(s + neg, n - neg, ERRNO_MAX, &v) < 0)
		return -EBADMSG;
	*ret = -(int)v;
	return 0;
}

#define KEY_IS(k, klen, lit) ((klen) == sizeof(lit) - 1 && !memcmp((k), (lit), sizeof(lit) - 1))

/*
 * One key=value line of a GET reply into dev. *peer is the peer being filled (the last one
 * appended). Returns 0, or -EBADMSG/-ENOMEM.
 */
static int parse_line(struct wg_device *dev, struct wg_peer **peer, const char *k, size_t kl,
                      const char *v, size_t vl)
{
	struct wg_peer *p = *peer;
	uint64_t u;
	int r;

	/* The per-peer keys come first: they are the bulk of a large reply. */
	if (KEY_IS(k, kl, "allowed_ip")) {
		struct wg_allowedip ip;

		if (!p || parse_allowedip(v, vl, &ip) < 0)
			return -EBADMSG;
		return wg_peer_add_allowedip(p, &ip);
	}
	if (KEY_IS(k, kl, "public_key")) {
		uint8_t key[WG_KEY_LEN];

		if (parse_key(v, vl, key) < 0)
			return -EBADMSG;
		return wg_device_add_peer(dev, key, peer);
	}
	if (KEY_IS(k, kl, "preshared_key")) {
		if (!p || parse_key(v, vl, p->preshared_key) < 0)
			return -EBADMSG;
		p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		return 0;
	}
	if (KEY_IS(k, kl, "endpoint")) {
		if (!p || parse_endpoint(v, vl, &p->endpoint) < 0)
			return -EBADMSG;
		p->flags |= WG_PEER_HAS_ENDPOINT;
		return 0;
	}
	if (KEY_IS(k, kl, "last_handshake_time_sec")) {
		if (!p || parse_u64(v, vl, INT64_MAX, &u) < 0)
			return -EBADMSG;
		p->last_handshake_sec = (int64_t)u;
		p->flags |= WG_PEER_HAS_STATS;
		return 0;
	}
	if (KEY_IS(k, kl, "last_handshake_time_nsec")) {
		if (!p || parse_u64(v, vl, 999999999, &u) < 0)
			return -EBADMSG;
		p->last_handshake_nsec = (int64_t)u;
		p->flags |= WG_PEER_HAS_STATS;
		return 0;
	}
	if (KEY_IS(k, kl, "tx_bytes") || KEY_IS(k, kl, "rx_bytes")) {
		if (!p || parse_u64(v, vl, UINT64_MAX, &u) < 0)
			return -EBADMSG;
		if (k[0] == 't')
			p->tx_bytes = u;
		else
			p->rx_bytes = u;
		p->flags |= WG_PEER_HAS_STATS;
		return 0;
	}
	if (KEY_IS(k, kl, "persistent_keepalive_interval")) {
		if (!p || parse_u64(v, vl, UINT16_MAX, &u) < 0)
			return -EBADMSG;
		p->persistent_keepalive = (uint16_t)u;
		p->flags |= WG_PEER_HAS_KEEPALIVE;
		return 0;
	}
	if (KEY_IS(k, kl, "protocol_version")) {
		/* Checked for form only: there is nothing to store it in. */
		return p && parse_u64(v, vl, UINT32_MAX, &u) == 0 ? 0 : -EBADMSG;
	}
	/* Device keys are accepted anywhere, as wg(8) does; they cannot be mistaken. */
	if (KEY_IS(k, kl, "private_key")) {
		r = parse_key(v, vl, dev->private_key);
		if (r < 0)
			return r;
		dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		return 0;
	}
	if (KEY_IS(k, kl, "listen_port")) {
		if (parse_u64(v, vl, UINT16_MAX, &u) < 0)
			return -EBADMSG;
		dev->listen_port = (uint16_t)u;
		dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		return 0;
	}
	if (KEY_IS(k, kl, "fwmark")) {
		if (parse_u64(v, vl, UINT32_MAX, &u) < 0)
			return -EBADMSG;
		dev->fwmark = (uint32_t)u;
		dev->flags |= WG_DEVICE_HAS_FWMARK;
		return 0;
	}
	return 0; /* unknown key: a newer daemon may add some */
}

/*
 * Incremental GET parser: lines are fed as they arrive from the socket, so a 4 MB reply
 * never has to sit in memory as text, and the empty line that ends it is seen in passing.
 */
struct get_parser {
	struct wg_device *dev;
	struct wg_peer *peer; /* the peer being filled: the last one appended */
	bool have_errno;
	bool done; /* the empty line was seen */
	int err;   /* from errno=N, as -errno */
};

/*
 * Parse every complete line of s[0, n), stopping after the empty line that ends the reply.
 * *ret_used is how many bytes were consumed (a partial last line is left for the next
 * call). 0, -EBADMSG or -ENOMEM.
 */
static int parser_feed(struct get_parser *gp, const char *s, size_t n, size_t *ret_used)
{
	const char *p = s, *end = s + n;
	int r = 0;

	while (p < end && !gp->done) {
		const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p)), *eq;

		if (!nl)
			break;
		p = nl + 1;
		if (nl == line) {
			/* The empty line ends the reply; errno=N must come just before it. */
			if (!gp->have_errno) {
				r = -EBADMSG;
				break;
			}
			gp->done = true;
			break;
		}
		eq = memchr(line, '=', (size_t)(nl - line));
		if (!eq || gp->have_errno) {
			r = -EBADMSG;
			break;
		}
		if (KEY_IS(line, (size_t)(eq - line), "errno")) {
			r = parse_errno(eq + 1, (size_t)(nl - eq - 1), &gp->err);
			if (r < 0)
				break;
			gp->have_errno = true;
			continue;
		}
		r = parse_line(gp->dev, &gp->peer, line, (size_t)(eq - line), eq + 1,
		               (size_t)(nl - eq - 1));
		if (r < 0)
			break;
	}
	*ret_used = (size_t)(p - s);
	return r;
}

static int parser_init(struct get_parser *gp, const char *ifname)
{
	*gp = (struct get_parser){};
	return wg_device_new(ifname, &gp->dev);
}

/* The device of a complete reply, or the daemon's error; the parser is emptied either way. */
static int parser_finish(struct get_parser *gp, struct wg_device **ret)
{
	struct wg_device *dev = gp->dev;
	int r = gp->err;

	gp->dev = NULL;
	if (r < 0)
		goto out;
	/* As wg(8): the public key is derived, the daemon does not report it. */
	if ((dev->flags & WG_DEVICE_HAS_PRIVATE_KEY) && !wg_key_is_zero(dev->private_key) &&
	    wg_key_public_from_private(dev->private_key, dev->public_key) == 0)
		dev->flags |= WG_DEVICE_HAS_PUBLIC_KEY;
	*ret = dev;
	dev = NULL;
out:
	wg_device_free(dev);
	return r;
}

int wguapi_parse_get(const char *text, size_t len, const char *ifname, struct wg_device **ret)
{
	struct get_parser gp;
	size_t used;
	int r;

	if (!text && len)
		return -EINVAL;
	r = parser_init(&gp, ifname);
	if (r < 0)
		return r;
	r = parser_feed(&gp, text ? text : "", len, &used);
	if (r < 0)
		goto out;
	/* Unterminated, cut short, or followed by anything: not one complete reply. */
	if (!gp.done || used != len) {
		r = -EBADMSG;
		goto out;
	}
	r = parser_finish(&gp, ret);
out:
	wg_device_free(gp.dev);
	return r;
}

/* ---- I/O -------------------------------------------------------------------------- */

/*
 * Replies are read in large chunks into one fixed buffer and parsed as they arrive; only a
 * partial last line is carried over. Against a growing buffer that held the whole 3.6 MB
 * reply of 10,000 peers this cut page faults fourfold, and parsing overlaps the daemon's
 * writing.
 */
#define READ_CHUNK (128 * 1024)

struct wguapi {
	int fd;      /* -1 after an error: the next request reconnects */
	bool reused; /* fd has already carried a request */
	char name[WG_IFNAME_MAX + 1];
	struct sockaddr_un addr;
	size_t len; /* bytes of buf not yet consumed */
	char buf[READ_CHUNK];
};

int wguapi_open(const char *ifname, struct wguapi **ret)
{
	struct wguapi *u;
	int r;

	u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = -1;
	u->reused = false;
	u->len = 0;
	r = socket_address(ifname, &u->addr);
	if (r < 0)
		goto out;
	memcpy(u->name, ifname, strlen(ifname) + 1);
	r = socket_connect(&u->addr, &u->fd);
	if (r < 0)
		goto out;
	*ret = u;
	u = NULL;
out:
	wguapi_close(u);
	return r;
}

/* Replies carry the private key and preshared keys in hex: wipe what was read. */
static void forget_input(struct wguapi *u)
{
	wg_key_wipe(u->buf, sizeof(u->buf));
	u->len = 0;
}

static void disconnect(struct wguapi *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	u->reused = false;
	forget_input(u);
}

struct wguapi *wguapi_close(struct wguapi *u)
{
	if (!u)
		return NULL;
	disconnect(u);
	free(u);
	return NULL;
}

/* Write all of buf; *ret_sent says how much went out, even on failure. */
static int send_all(int fd, const char *buf, size_t len, size_t *ret_sent)
{
	size_t off = 0;
	int r = 0;

	while (off < len) {
		/* MSG_NOSIGNAL: a daemon that went away is -EPIPE, not a SIGPIPE. */
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			break;
		}
		off += (size_t)n;
	}
	*ret_sent = off;
	return r;
}

/*
 * Connect if needed and write req. A connection that carried an earlier request may have
 * been closed by a restarted daemon; if not one byte of req went out, nothing was applied,
 * so sending it again once on a fresh connection is safe.
 */
static int send_request(struct wguapi *u, const char *req, size_t len)
{
	for (int attempt = 0;; attempt++) {
		size_t sent;
		int r;

		if (u->fd < 0) {
			r = socket_connect(&u->addr, &u->fd);
			if (r < 0)
				return r;
		}
		r = send_all(u->fd, req, len, &sent);
		if (r < 0 && sent == 0 && u->reused && attempt == 0) {
			disconnect(u);
			continue;
		}
		u->reused = true;
		return r;
	}
}

/* Append what the socket has to buf. -ECONNRESET on EOF; -EBADMSG if a line fills buf. */
static int read_more(struct wguapi *u)
{
	ssize_t n;

	if (u->len == sizeof(u->buf))
		return -EBADMSG;
	do
		n = read(u->fd, u->buf + u->len, sizeof(u->buf) - u->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if (n == 0)
		return -ECONNRESET; /* what wireguard-go does with an operation it does not know */
	u->len += (size_t)n;
	return 0;
}

/* A SET reply is exactly "errno=N\n\n"; *ret_err is -errno. */
static int read_set_reply(struct wguapi *u, int *ret_err)
{
	const char *hit = NULL;
	size_t scanned = 0, rlen;
	int r;

	for (;;) {
		if (u->len >= 2 && (hit = memmem(u->buf + scanned, u->len - scanned, "\n\n", 2)))
			break;
		/* Only the new bytes are scanned next time, plus one for a split "\n\n". */
		scanned = u->len ? u->len - 1 : 0;
		r = read_more(u);
		if (r < 0)
			return r;
	}
	rlen = (size_t)(hit + 2 - u->buf);
	if (rlen != u->len || rlen < sizeof("errno=\n\n") || memcmp(u->buf, "errno=", 6))
		return -EBADMSG;
	return parse_errno(u->buf + 6, rlen - 8, ret_err);
}

int wguapi_set_device(struct wguapi *u, const struct wg_device *dev)
{
	char *req = NULL;
	size_t len = 0;
	int r, w, err = 0;

	if (!u)
		return -EINVAL;
	r = wguapi_format_set(dev, &req, &len);
	if (r < 0)
		return r;
	w = send_request(u, req, len);
	if (w < 0 && u->fd < 0) {
		r = w; /* could not connect */
		goto out;
	}
	/*
	 * A daemon that fails a SET stops reading and replies at once, so even after a failed
	 * write its reply may be waiting, and it says more than our -EPIPE.
	 */
	r = read_set_reply(u, &err);
	if (r == 0 && err < 0)
		r = err;
	else if (w < 0)
		r = w;
out:
	/*
	 * After a failed SET the daemon left the rest of our request unread and would take
	 * its next line as an operation: only a fresh connection is in a known state.
	 */
	if (r < 0)
		disconnect(u);
	else
		forget_input(u);
	wg_key_wipe(req, len);
	free(req);
	return r;
}

int wguapi_get_device(struct wguapi *u, struct wg_device **ret)
{
	static const char req[] = "get=1\n\n";
	struct get_parser gp = {};
	bool in_step = false;
	size_t used;
	int r;

	if (!u)
		return -EINVAL;
	r = parser_init(&gp, u->name);
	if (r < 0)
		return r;
	r = send_request(u, req, sizeof(req) - 1);
	if (r < 0)
		goto out;
	do {
		r = read_more(u);
		if (r < 0)
			goto out;
		r = parser_feed(&gp, u->buf, u->len, &used);
		if (r < 0)
			goto out;
		/* Keep the partial last line; it is at most one line long. */
		memmove(u->buf, u->buf + used, u->len - used);
		u->len -= used;
	} while (!gp.done);
	if (u->len) {
		r = -EBADMSG; /* more than one reply to one request */
		goto out;
	}
	/* One whole reply was read, even if it is errno=N: the connection can be reused. */
	in_step = true;
	r = parser_finish(&gp, ret);
out:
	if (!in_step)
		disconnect(u);
	else
		forget_input(u);
	wg_device_free(gp.dev);
	return r;
}
