// SPDX-License-Identifier: MIT
/*
 * `wg show IFACE dump`, compared byte for byte with wireguard-tools 1.0.20210914 reading
 * wireguard-go devices. What wg(8) prints:
 *
 *   device: private-key  public-key  listen-port  fwmark       ("(none)"; "off" or 0x%x)
 *   peer:   public-key  preshared-key  endpoint  allowed-ips  latest-handshake-sec
 *           rx-bytes  tx-bytes  persistent-keepalive           ("(none)"; 0 = never; "off")
 *
 * wg marks a key present only when the device reported it and it is not all zeros, so both
 * must hold here too. An endpoint prints when its family is IPv4 or IPv6; allowed IPs are
 * joined with ',' in the order given.
 *
 * Speed: 50,000 peers are ~4 MB of text, so everything is written by hand into one buffer
 * sized up front from a per-peer upper bound (untouched slack costs no memory), with no
 * snprintf and no inet_ntop per field. The IPv6 text follows glibc's inet_ntop (RFC 5952
 * zero compression, first longest run, "::ffff:a.b.c.d" and "::a.b.c.d" forms); a unit
 * test compares the two. Scoped IPv6 endpoints are rare and go through getnameinfo() as in
 * wg, which prints a link-local scope as an interface name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgdump.h"

#define KEY_B64_CHARS (WG_KEY_B64_LEN - 1)
#define U64_MAX_DIGITS 20
#define IP4_MAX (sizeof("255.255.255.255") - 1)
#define IP6_MAX (INET6_ADDRSTRLEN - 1)

static char *put_mem(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define put_lit(p, s) put_mem(p, s, sizeof(s) - 1)

static char *put_u64(char *p, uint64_t v)
{
	char tmp[U64_MAX_DIGITS];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_hex(char *p, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	int shift = 28;

	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = digits[(v >> shift) & 15];
	return p;
}

/* Writes 44 characters; wg_key_to_base64 also writes a NUL after them, which the caller's
 * next byte overwrites (the buffer bound leaves room for it). */
static char *put_key(char *p, const uint8_t key[static WG_KEY_LEN])
{
	wg_key_to_base64(p, key);
	return p + KEY_B64_CHARS;
}

static char *put_ip4(char *p, const void *addr)
{
	const uint8_t *b = addr;

	for (int i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		p = put_u64(p, b[i]);
	}
	return p;
}

static char *put_ip6(char *p, const void *addr)
{
	const uint8_t *b = addr;
	unsigned words[8];
	int best_base = -1, best_len = 0, cur_base = -1, cur_len = 0;

	for (int i = 0; i < 8; i++)
		words[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
	for (int i = 0; i < 8; i++) {
		if (!words[i]) {
			if (cur_base < 0)
				cur_base = i, cur_len = 1;
			else
				cur_len++;
			continue;
		}
		if (cur_base >= 0 && cur_len > best_len)
			best_base = cur_base, best_len = cur_len;
		cur_base = -1;
	}
	if (cur_base >= 0 && cur_len > best_len)
		best_base = cur_base, best_len = cur_len;
	if (best_len < 2)
		best_base = -1;

	for (int i = 0; i < 8; i++) {
		if (best_base >= 0 && i >= best_base && i < best_base + best_len) {
			if (i == best_base)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		/* An IPv4-compatible or IPv4-mapped address ends in dotted quad form. */
		if (i == 6 && best_base == 0 &&
		    (best_len == 6 || (best_len == 5 && words[5] == 0xffff)))
			return put_ip4(p, b + 12);
		p = put_hex(p, words[i]);
	}
	if (best_base >= 0 && best_base + best_len == 8)
		*p++ = ':';
	return p;
}

static char *put_endpoint(char *p, const union wg_endpoint *ep)
{
	if (ep->addr.sa_family == AF_INET) {
		p = put_ip4(p, &ep->addr4.sin_addr);
		*p++ = ':';
		return put_u64(p, ntohs(ep->addr4.sin_port));
	}
	if (ep->addr.sa_family == AF_INET6 && !ep->addr6.sin6_scope_id) {
		*p++ = '[';
		p = put_ip6(p, &ep->addr6.sin6_addr);
		p = put_lit(p, "]:");
		return put_u64(p, ntohs(ep->addr6.sin6_port));
	}
	if (ep->addr.sa_family == AF_INET6) {
		char buf[WG_ENDPOINT_STRLEN];
		size_t n;

		wg_endpoint_format(ep, buf);
		n = strlen(buf);
		return put_mem(p, buf, n);
	}
	return put_lit(p, "(none)");
}

static char *put_allowedip(char *p, const struct wg_allowedip *ip)
{
	/* wg prints an empty address for an unknown family; so do we. */
	if (ip->family == AF_INET)
		p = put_ip4(p, &ip->ip4);
	else if (ip->family == AF_INET6)
		p = put_ip6(p, &ip->ip6);
	*p++ = '/';
	return put_u64(p, ip->cidr);
}

static bool key_present(uint32_t flags, uint32_t bit, const uint8_t key[static WG_KEY_LEN])
{
	return (flags & bit) && !wg_key_is_zero(key);
}

/* An upper bound of one peer's line, terminating NUL of a key included. */
static size_t peer_bound(const struct wg_peer *peer)
{
	size_t n = 2 * (KEY_B64_CHARS + 1) + 1 + 3 * (U64_MAX_DIGITS + 1) + sizeof("65535\n");

	if (peer->endpoint.addr.sa_family == AF_INET)
		n += IP4_MAX + sizeof(":65535");
	else
		n += WG_ENDPOINT_STRLEN + 1;
	n += sizeof("(none)");
	for (size_t i = 0; i < peer->n_ips; i++)
		n += (peer->ips[i].family == AF_INET ? IP4_MAX : IP6_MAX) + sizeof("/128");
	return n;
}

int wgdump_format(const struct wg_device *dev, char **ret_text, size_t *ret_len)
{
	size_t cap = 2 * (KEY_B64_CHARS + 1) + 1 + sizeof("65535\t0xffffffff\n");
	char *buf, *p;

	for (size_t i = 0; i < dev->n_peers; i++) {
		size_t n = peer_bound(&dev->peers[i]);

		if (cap > SIZE_MAX - n)
			return -ENOMEM;
		cap += n;
	}
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	p = buf;

	if (key_present(dev->flags, WG_DEVICE_HAS_PRIVATE_KEY, dev->private_key))
		p = put_key(p, dev->private_key);
	else
		p = put_lit(p, "(none)");
	*p++ = '\t';
	if (key_present(dev->flags, WG_DEVICE_HAS_PUBLIC_KEY, dev->public_key))
		p = put_key(p, dev->public_key);
	else
		p = put_lit(p, "(none)");
	*p++ = '\t';
	p = put_u64(p, dev->listen_port);
	*p++ = '\t';
	if (dev->fwmark) {
		p = put_lit(p, "0x");
		p = put_hex(p, dev->fwmark);
	} else
		p = put_lit(p, "off");
	*p++ = '\n';

	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *peer = &dev->peers[i];

		p = put_key(p, peer->public_key);
		*p++ = '\t';
		if (key_present(peer->flags, WG_PEER_HAS_PRESHARED_KEY, peer->preshared_key))
			p = put_key(p, peer->preshared_key);
		else
			p = put_lit(p, "(none)");
		*p++ = '\t';
		p = put_endpoint(p, &peer->endpoint);
		*p++ = '\t';
		if (!peer->n_ips)
			p = put_lit(p, "(none)");
		for (size_t j = 0; j < peer->n_ips; j++) {
			if (j)
				*p++ = ',';
			p = put_allowedip(p, &peer->ips[j]);
		}
		*p++ = '\t';
		/* wg prints tv_sec as unsigned long long. */
		p = put_u64(p, (uint64_t)peer->last_handshake_sec);
		*p++ = '\t';
		p = put_u64(p, peer->rx_bytes);
		*p++ = '\t';
		p = put_u64(p, peer->tx_bytes);
		*p++ = '\t';
		if (peer->persistent_keepalive)
			p = put_u64(p, peer->persistent_keepalive);
		else
			p = put_lit(p, "off");
		*p++ = '\n';
	}
	*p = '\0';
	*ret_len = (size_t)(p - buf);
	*ret_text = buf;
	return 0;
}
