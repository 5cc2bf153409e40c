// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "wgdev.h"

/* The capacity grow_array gives for want (> *cap); 0 if it overflows. */
static size_t grown_cap(size_t cap, size_t want, size_t sz)
{
	size_t n = cap ? cap : want;

	if (want > SIZE_MAX / sz)
		return 0;
	while (n < want) {
		if (n > SIZE_MAX / 2 / sz)
			return 0;
		n *= 2;
	}
	return n;
}

int grow_array(void **array, size_t *cap, size_t want, size_t sz)
{
	size_t n;
	void *p;

	if (want <= *cap)
		return 0;
	n = grown_cap(*cap, want, sz);
	p = n ? realloc(*array, n * sz) : NULL;
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

int grow_array_secret(void **array, size_t *cap, size_t want, size_t used, size_t sz)
{
	size_t n;
	void *p;

	if (want <= *cap)
		return 0;
	n = grown_cap(*cap, want, sz);
	p = n ? malloc(n * sz) : NULL;
	if (!p)
		return -ENOMEM;
	if (*array) {
		memcpy(p, *array, used * sz);
		wg_key_wipe(*array, *cap * sz);
	}
	free(*array);
	*array = p;
	*cap = n;
	return 0;
}

int wg_ifname_validate(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len > WG_IFNAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return -EINVAL;
	return 0;
}

int wg_device_new(const char *name, struct wg_device **ret)
{
	struct wg_device *dev;

	if (wg_ifname_validate(name) < 0)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	memcpy(dev->name, name, strlen(name) + 1);
	*ret = dev;
	return 0;
}

void wg_peer_done(struct wg_peer *peer)
{
	if (!peer)
		return;
	free(peer->ips);
	peer->ips = NULL;
	peer->n_ips = peer->cap_ips = 0;
	wg_key_wipe(peer->preshared_key, sizeof(peer->preshared_key));
}

void wg_device_clear_peers(struct wg_device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		wg_peer_done(&dev->peers[i]);
	dev->n_peers = 0;
}

struct wg_device *wg_device_free(struct wg_device *dev)
{
	if (!dev)
		return NULL;
	wg_device_clear_peers(dev);
	free(dev->peers);
	wg_key_wipe(dev->private_key, sizeof(dev->private_key));
	free(dev);
	return NULL;
}

int wg_device_reserve_peers(struct wg_device *dev, size_t n)
{
	return grow_array_secret((void **)&dev->peers, &dev->cap_peers, n, dev->n_peers,
	                         sizeof(*dev->peers));
}

int wg_device_add_peer(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN],
		       struct wg_peer **ret)
{
	struct wg_peer *peer;
	int r;

	/* Peers hold preshared keys. */
	r = grow_array_secret((void **)&dev->peers, &dev->cap_peers, dev->n_peers + 1,
	                      dev->n_peers, sizeof(*peer));
	if (r < 0)
		return r;
	peer = &dev->peers[dev->n_peers++];
	memset(peer, 0, sizeof(*peer));
	memcpy(peer->public_key, public_key, WG_KEY_LEN);
	peer->flags = WG_PEER_HAS_PUBLIC_KEY;
	*ret = peer;
	return 0;
}

struct wg_peer *wg_device_find_peer(const struct wg_device *dev,
				    const uint8_t public_key[static WG_KEY_LEN])
{
	/* Public keys are not secret: memcmp is fine and much faster than a CT compare. */
	for (size_t i = 0; i < dev->n_peers; i++)
		if (!memcmp(dev->peers[i].public_key, public_key, WG_KEY_LEN))
			return &dev->peers[i];
	return NULL;
}

int wg_peer_add_allowedip(struct wg_peer *peer, const struct wg_allowedip *ip)
{
	/* Most peers have one address, which an empty array gets room for exactly. */
	int r = grow_array((void **)&peer->ips, &peer->cap_ips, peer->n_ips + 1, sizeof(*ip));

	if (r < 0)
		return r;
	peer->ips[peer->n_ips++] = *ip;
	return 0;
}

int wg_peer_copy(struct wg_peer *dst, const struct wg_peer *src)
{
	struct wg_allowedip *ips = NULL;

	if (src->n_ips) {
		ips = malloc(src->n_ips * sizeof(*ips));
		if (!ips)
			return -ENOMEM;
		memcpy(ips, src->ips, src->n_ips * sizeof(*ips));
	}
	*dst = *src;
	dst->ips = ips;
	dst->cap_ips = src->n_ips;
	return 0;
}

int wg_allowedip_validate(const struct wg_allowedip *ip)
{
	if (ip->family == AF_INET)
		return ip->cidr <= 32 ? 0 : -EINVAL;
	if (ip->family == AF_INET6)
		return ip->cidr <= 128 ? 0 : -EINVAL;
	return -EINVAL;
}

int wg_allowedip_parse(const char *s, struct wg_allowedip *ret)
{
	struct wg_allowedip ip = {};
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;
	unsigned long cidr;
	char *end;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';

	if (strchr(addr, ':')) {
		if (inet_pton(AF_INET6, addr, &ip.ip6) != 1)
			return -EINVAL;
		ip.family = AF_INET6;
		cidr = 128;
	} else {
		if (inet_pton(AF_INET, addr, &ip.ip4) != 1)
			return -EINVAL;
		ip.family = AF_INET;
		cidr = 32;
	}
	if (slash) {
		const char *m = slash + 1;

		if (!isdigit((unsigned char)m[0]) || strlen(m) > 3)
			return -EINVAL;
		errno = 0;
		cidr = strtoul(m, &end, 10);
		if (errno || *end)
			return -EINVAL;
	}
	if (cidr > (ip.family == AF_INET ? 32U : 128U))
		return -EINVAL;
	ip.cidr = (uint8_t)cidr;
	*ret = ip;
	return 0;
}

void wg_allowedip_format(const struct wg_allowedip *ip, char buf[static WG_ALLOWEDIP_STRLEN])
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(ip->family, ip->family == AF_INET ? (const void *)&ip->ip4
							  : (const void *)&ip->ip6,
		       a, sizeof(a)))
		strcpy(a, "?");
	snprintf(buf, WG_ALLOWEDIP_STRLEN, "%s/%u", a, ip->cidr);
}

int wg_allowedip_cmp(const struct wg_allowedip *a, const struct wg_allowedip *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(&a->ip6, &b->ip6, a->family == AF_INET ? 4 : 16);
	if (r)
		return r;
	return (int)a->cidr - (int)b->cidr;
}

int wg_endpoint_parse(const char *s, union wg_endpoint *ret)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_protocol = IPPROTO_UDP,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *colon, *port, *hb = s;
	size_t hlen;
	char *end;
	unsigned long p;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hb = s + 1;
		hlen = (size_t)(close - hb);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* bare IPv6 must be bracketed */
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || !isdigit((unsigned char)port[0]) ||
	    strlen(port) > 5)
		return -EINVAL;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || *end || p > 65535)
		return -EINVAL;
	memcpy(host, hb, hlen);
	host[hlen] = '\0';
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -EINVAL;
	if (res->ai_addrlen > sizeof(*ret) ||
	    (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	memcpy(ret, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

void wg_endpoint_format(const union wg_endpoint *ep, char buf[static WG_ENDPOINT_STRLEN])
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], serv[8];
	socklen_t len;

	if (ep->addr.sa_family == AF_INET)
		len = sizeof(ep->addr4);
	else if (ep->addr.sa_family == AF_INET6)
		len = sizeof(ep->addr6);
	else {
		strcpy(buf, "(none)");
		return;
	}
	if (getnameinfo(&ep->addr, len, host, sizeof(host), serv, sizeof(serv),
			NI_DGRAM | NI_NUMERICSERV | NI_NUMERICHOST) != 0) {
		strcpy(buf, "(none)");
		return;
	}
	if (ep->addr.sa_family == AF_INET6)
		snprintf(buf, WG_ENDPOINT_STRLEN, "[%s]:%s", host, serv);
	else
		snprintf(buf, WG_ENDPOINT_STRLEN, "%s:%s", host, serv);
}

bool wg_endpoint_equal(const union wg_endpoint *a, const union wg_endpoint *b)
{
	if (a->addr.sa_family != b->addr.sa_family)
		return false;
	switch (a->addr.sa_family) {
	case AF_INET:
		return a->addr4.sin_port == b->addr4.sin_port &&
		       a->addr4.sin_addr.s_addr == b->addr4.sin_addr.s_addr;
	case AF_INET6:
		return a->addr6.sin6_port == b->addr6.sin6_port &&
		       a->addr6.sin6_scope_id == b->addr6.sin6_scope_id &&
		       !memcmp(&a->addr6.sin6_addr, &b->addr6.sin6_addr, 16);
	default:
		return true;
	}
}

int wg_device_validate(const struct wg_device *dev)
{
	if (!dev || wg_ifname_validate(dev->name) < 0 || (dev->flags & ~WG_DEVICE_FLAGS_ALL))
		return -EINVAL;
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];
		sa_family_t fam = p->endpoint.addr.sa_family;

		if (!(p->flags & WG_PEER_HAS_PUBLIC_KEY) || (p->flags & ~WG_PEER_FLAGS_ALL))
			return -EINVAL;
		if ((p->flags & WG_PEER_HAS_ENDPOINT) && fam != AF_INET && fam != AF_INET6)
			return -EINVAL;
		for (size_t j = 0; j < p->n_ips; j++)
			if (wg_allowedip_validate(&p->ips[j]) < 0)
				return -EINVAL;
	}
	return 0;
}
