// SPDX-License-Identifier: MIT
/*
 * Netlink backend, pure layer: the SET chunking builder and the GET dump parser.
 *
 * Builder: every message is parsed back with libmnl and checked for layout (sizes, which
 * attributes may appear where), then a small model of the kernel's set semantics
 * (drivers/net/wireguard/netlink.c) applies the message sequence; the resulting state
 * must equal the state of applying the device in one go, and for a plain REPLACE_PEERS
 * device it must equal the device itself.
 *
 * Parser: fake kernel replies built with libmnl the way the kernel builds them (device
 * attributes in part 1 only, a peer whose allowed IPs do not fit continued in the next
 * part with its public key only), plus hand-made malformed ones.
 *
 * WGNL_WRITE_CORPUS=DIR writes a few of the fake replies as fuzz seeds (framing: u16 LE
 * length, then that many bytes, per datagram).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include "wgdev.h"
#include "wgnl.h"

#define TEST_FAMILY 0x1d
#define TEST_SEQ 1000

/* ---- deterministic data ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static void rnd_bytes(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

/* Keys are random but unique: the id is in the first bytes. */
static void make_key(uint8_t key[WG_KEY_LEN], uint32_t id)
{
	rnd_bytes(key, WG_KEY_LEN);
	memcpy(key, &id, sizeof(id));
}

static uint32_t next_prefix;

/* A fresh prefix with clean host bits, unique across the whole test run. */
static struct wg_allowedip make_ip(bool v6)
{
	struct wg_allowedip ip = {0};
	uint32_t n = ++next_prefix;

	if (!v6) {
		ip.family = AF_INET;
		if (n & 1) {
			ip.cidr = 32;
			ip.ip4.s_addr = htonl(0x0a000000U + n);
		} else {
			ip.cidr = 24;
			ip.ip4.s_addr = htonl(0x0b000000U + (n << 8));
		}
	} else {
		ip.family = AF_INET6;
		ip.ip6.s6_addr[0] = 0xfd;
		if (n & 1) {
			ip.cidr = 128;
			memcpy(&ip.ip6.s6_addr[12], &n, sizeof(n));
		} else {
			ip.cidr = 64;
			ip.ip6.s6_addr[1] = 1;
			memcpy(&ip.ip6.s6_addr[4], &n, sizeof(n));
		}
	}
	return ip;
}

static void set_endpoint(struct wg_peer *p, bool v6)
{
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	if (!v6) {
		p->endpoint.addr4.sin_family = AF_INET;
		p->endpoint.addr4.sin_port = htons((uint16_t)(1024 + rnd() % 60000));
		p->endpoint.addr4.sin_addr.s_addr = htonl(0xc6120000U + (rnd() & 0xffff));
	} else {
		p->endpoint.addr6.sin6_family = AF_INET6;
		p->endpoint.addr6.sin6_port = htons((uint16_t)(1024 + rnd() % 60000));
		p->endpoint.addr6.sin6_addr.s6_addr[0] = 0x20;
		p->endpoint.addr6.sin6_addr.s6_addr[1] = 0x01;
		rnd_bytes(&p->endpoint.addr6.sin6_addr.s6_addr[8], 8);
	}
	p->flags |= WG_PEER_HAS_ENDPOINT;
}

static uint32_t next_key_id = 1;

static struct wg_peer *add_peer(struct wg_device *dev, unsigned n4, unsigned n6, bool extras)
{
	uint8_t key[WG_KEY_LEN];
	struct wg_peer *p;

	make_key(key, next_key_id++);
	assert_int_equal(wg_device_add_peer(dev, key, &p), 0);
	for (unsigned i = 0; i < n4 + n6; i++) {
		/* interleave families the way a config file might */
		struct wg_allowedip ip = make_ip(i >= n4);

		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	if (extras) {
		uint32_t r = rnd();

		if (r & 1) {
			rnd_bytes(p->preshared_key, WG_KEY_LEN);
			p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		}
		if (r & 2)
			set_endpoint(p, r & 4);
		if (r & 8) {
			p->persistent_keepalive = (uint16_t)(r >> 16);
			p->flags |= WG_PEER_HAS_KEEPALIVE;
		}
	}
	return p;
}

static struct wg_device *new_device(const char *name, uint32_t flags)
{
	struct wg_device *dev;

	assert_int_equal(wg_device_new(name, &dev), 0);
	dev->flags = flags;
	rnd_bytes(dev->private_key, WG_KEY_LEN);
	rnd_bytes(dev->public_key, WG_KEY_LEN);
	dev->listen_port = 51820;
	dev->fwmark = 0x1234;
	return dev;
}

/* ---- strict layout checks with libmnl ---- */

/* File every attribute of payload into tb[1..max]; the layout must be exact. */
static void strict_table(const void *payload, size_t len, const struct nlattr **tb, unsigned max)
{
	const struct nlattr *attr;
	size_t used = 0;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	mnl_attr_for_each_payload(payload, len)
	{
		unsigned type = mnl_attr_get_type(attr);

		assert_true(type >= 1 && type <= max);
		assert_null(tb[type]);
		tb[type] = attr;
		used = (size_t)((const char *)attr - (const char *)payload) +
		       MNL_ALIGN(attr->nla_len);
	}
	assert_int_equal(used, len);
}

/* The elements of a nested array; returns their number, *ret is malloc'd. */
static size_t strict_array(const struct nlattr *nest, const struct nlattr ***ret)
{
	size_t len = mnl_attr_get_payload_len(nest), n = 0, used = 0;
	const struct nlattr **v = malloc((len / 4 + 1) * sizeof(*v));
	const struct nlattr *attr;

	assert_non_null(v);
	mnl_attr_for_each_nested(attr, nest)
	{
		assert_int_equal(mnl_attr_get_type(attr), 0);
		v[n++] = attr;
		used = (size_t)((const char *)attr - (const char *)mnl_attr_get_payload(nest)) +
		       MNL_ALIGN(attr->nla_len);
	}
	assert_int_equal(used, len);
	*ret = v;
	return n;
}

static void assert_len(const struct nlattr *attr, size_t len)
{
	assert_non_null(attr);
	assert_int_equal(mnl_attr_get_payload_len(attr), len);
}

/* ---- a model of the kernel's SET semantics ---- */

struct hent {
	uint8_t k[32];
	size_t v;
	uint8_t st; /* 0 empty, 1 used, 2 deleted */
};

struct hmap {
	struct hent *e;
	size_t mask, filled;
};

static void hmap_init(struct hmap *m, size_t cap)
{
	m->e = calloc(cap, sizeof(*m->e));
	assert_non_null(m->e);
	m->mask = cap - 1;
	m->filled = 0;
}

static struct hent *hmap_slot(struct hmap *m, const uint8_t k[32], bool insert)
{
	uint64_t h = 1469598103934665603ULL;
	struct hent *tomb = NULL;

	for (size_t i = 0; i < 32; i++)
		h = (h ^ k[i]) * 1099511628211ULL;
	for (size_t i = h & m->mask, n = 0; n <= m->mask; i = (i + 1) & m->mask, n++) {
		struct hent *e = &m->e[i];

		if (e->st == 0)
			return insert ? (tomb ? tomb : e) : NULL;
		if (e->st == 2) {
			if (!tomb)
				tomb = e;
			continue;
		}
		if (!memcmp(e->k, k, 32))
			return e;
	}
	return insert ? tomb : NULL;
}

static size_t *hmap_get(struct hmap *m, const uint8_t k[32])
{
	struct hent *e = hmap_slot(m, k, false);

	return e ? &e->v : NULL;
}

static void hmap_put(struct hmap *m, const uint8_t k[32], size_t v)
{
	struct hent *e = hmap_slot(m, k, true);

	assert_non_null(e);
	if (e->st != 1) {
		if (e->st == 0)
			m->filled++;
		memcpy(e->k, k, 32);
		e->st = 1;
	}
	e->v = v;
	assert_true(m->filled < (m->mask + 1) / 4 * 3);
}

static void hmap_del(struct hmap *m, const uint8_t k[32])
{
	struct hent *e = hmap_slot(m, k, false);

	if (e)
		e->st = 2;
}

struct sim_peer {
	uint8_t key[WG_KEY_LEN], psk[WG_KEY_LEN];
	union wg_endpoint ep;
	uint16_t keepalive;
	struct wg_allowedip *ips;
	size_t n_ips, cap_ips;
	bool dead;
};

struct sim {
	uint8_t private_key[WG_KEY_LEN];
	uint16_t port;
	uint32_t fwmark;
	struct sim_peer *peers; /* in creation order, as the kernel lists them */
	size_t n, cap;
	struct hmap keys;     /* public key -> index */
	struct hmap prefixes; /* masked prefix -> owner index */
};

static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	hmap_init(&s->keys, 1U << 16);
	hmap_init(&s->prefixes, 1U << 17);
}

static void sim_done(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->peers[i].ips);
	free(s->peers);
	free(s->keys.e);
	free(s->prefixes.e);
}

/* The kernel stores prefixes masked: two spellings of one prefix are one entry. */
static void prefix_key(const struct wg_allowedip *ip, uint8_t k[32], struct wg_allowedip *ret)
{
	struct wg_allowedip m = {0};
	size_t bytes = ip->family == AF_INET ? 4 : 16;
	const uint8_t *src = ip->family == AF_INET ? (const uint8_t *)&ip->ip4 : ip->ip6.s6_addr;
	uint8_t *dst = ip->family == AF_INET ? (uint8_t *)&m.ip4 : m.ip6.s6_addr;
	unsigned bits = ip->cidr;

	m.family = ip->family;
	m.cidr = ip->cidr;
	for (size_t i = 0; i < bytes; i++) {
		if (bits >= 8) {
			dst[i] = src[i];
			bits -= 8;
		} else {
			dst[i] = (uint8_t)(src[i] & (0xff << (8 - bits)));
			bits = 0;
		}
	}
	memset(k, 0, 32);
	k[0] = (uint8_t)m.family;
	k[1] = m.cidr;
	memcpy(k + 2, dst, bytes);
	*ret = m;
}

static void sim_clear_ips(struct sim *s, struct sim_peer *p)
{
	for (size_t i = 0; i < p->n_ips; i++) {
		uint8_t k[32];
		struct wg_allowedip m;

		prefix_key(&p->ips[i], k, &m);
		hmap_del(&s->prefixes, k);
	}
	p->n_ips = 0;
}

static void sim_add_ip(struct sim *s, size_t idx, const struct wg_allowedip *ip)
{
	struct wg_allowedip m;
	struct sim_peer *p;
	uint8_t k[32];
	size_t *owner;

	prefix_key(ip, k, &m);
	owner = hmap_get(&s->prefixes, k);
	if (owner && *owner == idx)
		return;
	if (owner) {
		/* The prefix silently moves from its old owner. */
		struct sim_peer *o = &s->peers[*owner];
		size_t j;

		for (j = 0; j < o->n_ips; j++)
			if (!wg_allowedip_cmp(&o->ips[j], &m))
				break;
		assert_true(j < o->n_ips);
		o->ips[j] = o->ips[--o->n_ips];
	}
	p = &s->peers[idx];
	if (p->n_ips == p->cap_ips) {
		p->cap_ips = p->cap_ips ? 2 * p->cap_ips : 8;
		p->ips = realloc(p->ips, p->cap_ips * sizeof(*p->ips));
		assert_non_null(p->ips);
	}
	p->ips[p->n_ips++] = m;
	hmap_put(&s->prefixes, k, idx);
}

struct sim_req {
	const uint8_t *key;
	uint32_t flags; /* WGPEER_F_* */
	const uint8_t *psk;
	const void *ep;
	size_t ep_len;
	bool has_keepalive;
	uint16_t keepalive;
	const struct wg_allowedip *ips;
	size_t n_ips;
};

/* set_peer() of the kernel, on our model. */
static void sim_set_peer(struct sim *s, const struct sim_req *q)
{
	size_t *found = hmap_get(&s->keys, q->key);
	uint32_t flags = q->flags;
	struct sim_peer *p;
	size_t idx;

	if (!found) {
		if (flags & (WGPEER_F_REMOVE_ME | WGPEER_F_UPDATE_ONLY))
			return;
		flags &= ~(uint32_t)WGPEER_F_REPLACE_ALLOWEDIPS;
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->peers = realloc(s->peers, s->cap * sizeof(*s->peers));
			assert_non_null(s->peers);
		}
		idx = s->n++;
		memset(&s->peers[idx], 0, sizeof(s->peers[idx]));
		memcpy(s->peers[idx].key, q->key, WG_KEY_LEN);
		hmap_put(&s->keys, q->key, idx);
	} else {
		idx = *found;
	}
	p = &s->peers[idx];
	if (flags & WGPEER_F_REMOVE_ME) {
		sim_clear_ips(s, p);
		p->dead = true;
		hmap_del(&s->keys, q->key);
		return;
	}
	if (q->psk)
		memcpy(p->psk, q->psk, WG_KEY_LEN);
	if (q->ep) {
		const struct sockaddr *sa = q->ep;

		if ((q->ep_len == sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) ||
		    (q->ep_len == sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6)) {
			memset(&p->ep, 0, sizeof(p->ep));
			memcpy(&p->ep, q->ep, q->ep_len);
		}
	}
	if (flags & WGPEER_F_REPLACE_ALLOWEDIPS)
		sim_clear_ips(s, p);
	for (size_t i = 0; i < q->n_ips; i++)
		sim_add_ip(s, idx, &q->ips[i]);
	if (q->has_keepalive)
		p->keepalive = q->keepalive;
}

static void sim_replace_peers(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sim_peer *p = &s->peers[i];

		if (p->dead)
			continue;
		sim_clear_ips(s, p);
		p->dead = true;
		hmap_del(&s->keys, p->key);
	}
}

static uint32_t wire_flags(uint32_t flags)
{
	return ((flags & WG_PEER_REMOVE_ME) ? WGPEER_F_REMOVE_ME : 0) |
	       ((flags & WG_PEER_REPLACE_ALLOWEDIPS) ? WGPEER_F_REPLACE_ALLOWEDIPS : 0) |
	       ((flags & WG_PEER_UPDATE_ONLY) ? WGPEER_F_UPDATE_ONLY : 0);
}

/* The reference: the whole device applied at once, as one unbounded message would. */
static void sim_apply_device(struct sim *s, const struct wg_device *dev)
{
	if (dev->flags & WG_DEVICE_HAS_FWMARK)
		s->fwmark = dev->fwmark;
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)
		s->port = dev->listen_port;
	if (dev->flags & WG_DEVICE_REPLACE_PEERS)
		sim_replace_peers(s);
	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		memcpy(s->private_key, dev->private_key, WG_KEY_LEN);
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];
		struct sim_req q = {
			.key = p->public_key,
			.flags = wire_flags(p->flags),
			.psk = (p->flags & WG_PEER_HAS_PRESHARED_KEY) ? p->preshared_key : NULL,
			.ep = (p->flags & WG_PEER_HAS_ENDPOINT) ? &p->endpoint : NULL,
			.ep_len = p->endpoint.addr.sa_family == AF_INET ? sizeof(p->endpoint.addr4)
									: sizeof(p->endpoint.addr6),
			.has_keepalive = p->flags & WG_PEER_HAS_KEEPALIVE,
			.keepalive = p->persistent_keepalive,
			.ips = p->ips,
			.n_ips = p->n_ips,
		};

		sim_set_peer(s, &q);
	}
}

/* Where the message sequence stands relative to the input device. */
struct seq_check {
	const struct wg_device *dev;
	size_t buflen;
	size_t msg;
	size_t peer, ip; /* next input peer, and how many of its IPs were seen */
	size_t resumed_parts;
};

static void check_and_apply_peer(struct sim *s, struct seq_check *c, const struct nlattr *elem,
				 bool first_in_msg, bool last_in_msg)
{
	const struct nlattr *tb[WGPEER_A_MAX + 1];
	const struct nlattr **ips_attr = NULL;
	struct wg_allowedip *ips = NULL;
	const struct wg_peer *p;
	size_t n = 0;
	bool resumed, complete;
	uint32_t want_flags;
	struct sim_req q = {0};

	strict_table(mnl_attr_get_payload(elem), mnl_attr_get_payload_len(elem), tb, WGPEER_A_MAX);
	assert_true(c->peer < c->dev->n_peers);
	p = &c->dev->peers[c->peer];
	resumed = c->ip > 0;
	if (resumed) {
		assert_true(first_in_msg);
		c->resumed_parts++;
	}

	assert_len(tb[WGPEER_A_PUBLIC_KEY], WG_KEY_LEN);
	assert_memory_equal(mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]), p->public_key,
			    WG_KEY_LEN);
	/* GET-only attributes, and one we never send */
	assert_null(tb[WGPEER_A_LAST_HANDSHAKE_TIME]);
	assert_null(tb[WGPEER_A_RX_BYTES]);
	assert_null(tb[WGPEER_A_TX_BYTES]);
	assert_null(tb[WGPEER_A_PROTOCOL_VERSION]);

	want_flags = wire_flags(p->flags);
	if (resumed)
		want_flags &= ~(uint32_t)WGPEER_F_REPLACE_ALLOWEDIPS;
	if (want_flags) {
		assert_len(tb[WGPEER_A_FLAGS], 4);
		assert_int_equal(mnl_attr_get_u32(tb[WGPEER_A_FLAGS]), want_flags);
	} else {
		assert_null(tb[WGPEER_A_FLAGS]);
	}

	if (resumed || (p->flags & WG_PEER_REMOVE_ME)) {
		/* a resumed peer repeats only its key (and UPDATE_ONLY), a removed one too */
		assert_null(tb[WGPEER_A_PRESHARED_KEY]);
		assert_null(tb[WGPEER_A_ENDPOINT]);
		assert_null(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
	} else {
		if (p->flags & WG_PEER_HAS_PRESHARED_KEY) {
			assert_len(tb[WGPEER_A_PRESHARED_KEY], WG_KEY_LEN);
			assert_memory_equal(mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY]),
					    p->preshared_key, WG_KEY_LEN);
		} else {
			assert_null(tb[WGPEER_A_PRESHARED_KEY]);
		}
		if (p->flags & WG_PEER_HAS_ENDPOINT) {
			size_t len = p->endpoint.addr.sa_family == AF_INET
					     ? sizeof(struct sockaddr_in)
					     : sizeof(struct sockaddr_in6);

			assert_len(tb[WGPEER_A_ENDPOINT], len);
			assert_memory_equal(mnl_attr_get_payload(tb[WGPEER_A_ENDPOINT]),
					    &p->endpoint, len);
		} else {
			assert_null(tb[WGPEER_A_ENDPOINT]);
		}
		if (p->flags & WG_PEER_HAS_KEEPALIVE) {
			assert_len(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL], 2);
			assert_int_equal(
				mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]),
				p->persistent_keepalive);
		} else {
			assert_null(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
		}
	}

	if (p->flags & WG_PEER_REMOVE_ME)
		assert_null(tb[WGPEER_A_ALLOWEDIPS]);
	if (tb[WGPEER_A_ALLOWEDIPS]) {
		n = strict_array(tb[WGPEER_A_ALLOWEDIPS], &ips_attr);
		assert_true(n > 0);
		assert_true(c->ip + n <= p->n_ips);
		ips = calloc(n, sizeof(*ips));
		assert_non_null(ips);
		for (size_t j = 0; j < n; j++) {
			const struct nlattr *t[WGALLOWEDIP_A_MAX + 1];
			const struct wg_allowedip *want = &p->ips[c->ip + j];
			size_t alen = want->family == AF_INET ? 4 : 16;

			/* max = WGALLOWEDIP_A_MAX (3): WGALLOWEDIP_A_FLAGS (4) would fail here */
			strict_table(mnl_attr_get_payload(ips_attr[j]),
				     mnl_attr_get_payload_len(ips_attr[j]), t, WGALLOWEDIP_A_MAX);
			assert_len(t[WGALLOWEDIP_A_FAMILY], 2);
			assert_len(t[WGALLOWEDIP_A_IPADDR], alen);
			assert_len(t[WGALLOWEDIP_A_CIDR_MASK], 1);
			ips[j].family = mnl_attr_get_u16(t[WGALLOWEDIP_A_FAMILY]);
			ips[j].cidr = mnl_attr_get_u8(t[WGALLOWEDIP_A_CIDR_MASK]);
			memcpy(&ips[j].ip6, mnl_attr_get_payload(t[WGALLOWEDIP_A_IPADDR]), alen);
			assert_int_equal(ips[j].family, want->family);
			assert_int_equal(ips[j].cidr, want->cidr);
			assert_memory_equal(&ips[j].ip6, &want->ip6, alen);
		}
	}

	c->ip += n;
	complete = (p->flags & WG_PEER_REMOVE_ME) || c->ip == p->n_ips;
	if (!complete) {
		/* split only at the end of a message, and only after some progress */
		assert_true(last_in_msg);
		assert_true(n > 0);
	}

	q.key = p->public_key;
	q.flags = tb[WGPEER_A_FLAGS] ? mnl_attr_get_u32(tb[WGPEER_A_FLAGS]) : 0;
	q.psk = tb[WGPEER_A_PRESHARED_KEY] ? mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY])
					   : NULL;
	if (tb[WGPEER_A_ENDPOINT]) {
		q.ep = mnl_attr_get_payload(tb[WGPEER_A_ENDPOINT]);
		q.ep_len = mnl_attr_get_payload_len(tb[WGPEER_A_ENDPOINT]);
	}
	if (tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]) {
		q.has_keepalive = true;
		q.keepalive = mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
	}
	q.ips = ips;
	q.n_ips = n;
	sim_set_peer(s, &q);

	if (complete) {
		c->peer++;
		c->ip = 0;
	}
	free(ips);
	free(ips_attr);
}

static void check_and_apply_msg(struct sim *s, struct seq_check *c, const uint8_t *buf,
				size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	const struct nlattr *tb[WGDEVICE_A_MAX + 1];
	const struct wg_device *dev = c->dev;
	const struct genlmsghdr *genl;
	const bool first = c->msg == 0;

	assert_true(len <= c->buflen);
	assert_true(mnl_nlmsg_ok(nlh, (int)len));
	assert_int_equal(nlh->nlmsg_len, len);
	assert_int_equal(nlh->nlmsg_type, TEST_FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(nlh->nlmsg_seq, TEST_SEQ + c->msg);
	assert_true(mnl_nlmsg_get_payload_len(nlh) >= sizeof(*genl));
	genl = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(genl->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(genl->version, WG_GENL_VERSION);
	strict_table(mnl_nlmsg_get_payload_offset(nlh, sizeof(*genl)),
		     mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*genl)), tb, WGDEVICE_A_MAX);

	/* IFNAME in every message; IFINDEX and PUBLIC_KEY never */
	assert_len(tb[WGDEVICE_A_IFNAME], strlen(dev->name) + 1);
	assert_string_equal(mnl_attr_get_str(tb[WGDEVICE_A_IFNAME]), dev->name);
	assert_null(tb[WGDEVICE_A_IFINDEX]);
	assert_null(tb[WGDEVICE_A_PUBLIC_KEY]);

	/* device attributes and REPLACE_PEERS only in message 1, and only when asked for */
	if (first && (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)) {
		assert_len(tb[WGDEVICE_A_PRIVATE_KEY], WG_KEY_LEN);
		assert_memory_equal(mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]),
				    dev->private_key, WG_KEY_LEN);
		memcpy(s->private_key, dev->private_key, WG_KEY_LEN);
	} else {
		assert_null(tb[WGDEVICE_A_PRIVATE_KEY]);
	}
	if (first && (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)) {
		assert_len(tb[WGDEVICE_A_LISTEN_PORT], 2);
		assert_int_equal(mnl_attr_get_u16(tb[WGDEVICE_A_LISTEN_PORT]), dev->listen_port);
		s->port = dev->listen_port;
	} else {
		assert_null(tb[WGDEVICE_A_LISTEN_PORT]);
	}
	if (first && (dev->flags & WG_DEVICE_HAS_FWMARK)) {
		assert_len(tb[WGDEVICE_A_FWMARK], 4);
		assert_int_equal(mnl_attr_get_u32(tb[WGDEVICE_A_FWMARK]), dev->fwmark);
		s->fwmark = dev->fwmark;
	} else {
		assert_null(tb[WGDEVICE_A_FWMARK]);
	}
	if (first && (dev->flags & WG_DEVICE_REPLACE_PEERS)) {
		assert_len(tb[WGDEVICE_A_FLAGS], 4);
		assert_int_equal(mnl_attr_get_u32(tb[WGDEVICE_A_FLAGS]), WGDEVICE_F_REPLACE_PEERS);
		sim_replace_peers(s);
	} else {
		assert_null(tb[WGDEVICE_A_FLAGS]);
	}

	if (tb[WGDEVICE_A_PEERS]) {
		const struct nlattr **elems;
		size_t n = strict_array(tb[WGDEVICE_A_PEERS], &elems);

		assert_true(n > 0);
		for (size_t k = 0; k < n; k++)
			check_and_apply_peer(s, c, elems[k], k == 0, k == n - 1);
		free(elems);
	} else {
		/* only a first message may carry no peer while peers remain */
		assert_true(first || c->peer == dev->n_peers);
	}
	c->msg++;
}

struct msgs {
	uint8_t **buf;
	size_t *len;
	size_t n, cap;
};

static void msgs_free(struct msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->buf[i]);
	free(m->buf);
	free(m->len);
	memset(m, 0, sizeof(*m));
}

/* Build every message, each into a buffer of exactly buflen bytes (ASan sees overruns). */
static int build_all(const struct wg_device *dev, size_t buflen, struct msgs *m)
{
	struct wgnl_set_cursor cur = {0};
	int r;

	memset(m, 0, sizeof(*m));
	do {
		uint8_t *buf = malloc(buflen);
		size_t len = 0;

		assert_non_null(buf);
		r = wgnl_build_set_msg(dev, TEST_FAMILY, TEST_SEQ + (uint32_t)m->n, buf, buflen,
				       &cur, &len);
		if (r < 0) {
			free(buf);
			break;
		}
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->buf = realloc(m->buf, m->cap * sizeof(*m->buf));
			m->len = realloc(m->len, m->cap * sizeof(*m->len));
			assert_non_null(m->buf);
			assert_non_null(m->len);
		}
		m->buf[m->n] = buf;
		m->len[m->n] = len;
		m->n++;
		assert_int_equal(cur.msgs, m->n);
		assert_true(m->n < 10000000);
	} while (r == 0);
	return r;
}

static int cmp_ip(const void *a, const void *b)
{
	return wg_allowedip_cmp(a, b);
}

static void assert_same_ips(const struct wg_allowedip *a, size_t na, const struct wg_allowedip *b,
			    size_t nb)
{
	struct wg_allowedip *x, *y;

	assert_int_equal(na, nb);
	if (!na)
		return;
	x = malloc(na * sizeof(*x));
	y = malloc(nb * sizeof(*y));
	assert_non_null(x);
	assert_non_null(y);
	memcpy(x, a, na * sizeof(*x));
	memcpy(y, b, nb * sizeof(*y));
	qsort(x, na, sizeof(*x), cmp_ip);
	qsort(y, nb, sizeof(*y), cmp_ip);
	for (size_t i = 0; i < na; i++)
		assert_int_equal(wg_allowedip_cmp(&x[i], &y[i]), 0);
	free(x);
	free(y);
}

static size_t sim_next_live(const struct sim *s, size_t i)
{
	while (i < s->n && s->peers[i].dead)
		i++;
	return i;
}

static void sim_assert_equal(const struct sim *a, const struct sim *b)
{
	size_t i = 0, j = 0;

	assert_memory_equal(a->private_key, b->private_key, WG_KEY_LEN);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->fwmark, b->fwmark);
	for (;;) {
		i = sim_next_live(a, i);
		j = sim_next_live(b, j);
		if (i == a->n || j == b->n)
			break;
		assert_memory_equal(a->peers[i].key, b->peers[j].key, WG_KEY_LEN);
		assert_memory_equal(a->peers[i].psk, b->peers[j].psk, WG_KEY_LEN);
		assert_true(wg_endpoint_equal(&a->peers[i].ep, &b->peers[j].ep));
		assert_int_equal(a->peers[i].keepalive, b->peers[j].keepalive);
		assert_same_ips(a->peers[i].ips, a->peers[i].n_ips, b->peers[j].ips,
				b->peers[j].n_ips);
		i++;
		j++;
	}
	assert_int_equal(i, a->n);
	assert_int_equal(j, b->n);
}

/* The state equals dev itself (dev: REPLACE_PEERS, plain peers, clean unique prefixes). */
static void sim_assert_is_device(const struct sim *s, const struct wg_device *dev)
{
	static const uint8_t zero[WG_KEY_LEN];
	size_t i = 0;

	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		assert_memory_equal(s->private_key, dev->private_key, WG_KEY_LEN);
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)
		assert_int_equal(s->port, dev->listen_port);
	if (dev->flags & WG_DEVICE_HAS_FWMARK)
		assert_int_equal(s->fwmark, dev->fwmark);
	for (size_t k = 0; k < dev->n_peers; k++) {
		const struct wg_peer *p = &dev->peers[k];
		const bool has_psk = p->flags & WG_PEER_HAS_PRESHARED_KEY;
		const struct sim_peer *q;
		union wg_endpoint none = {0};

		i = sim_next_live(s, i);
		assert_true(i < s->n);
		q = &s->peers[i++];
		assert_memory_equal(q->key, p->public_key, WG_KEY_LEN);
		assert_memory_equal(q->psk, has_psk ? p->preshared_key : zero, WG_KEY_LEN);
		assert_true(wg_endpoint_equal(
			&q->ep, (p->flags & WG_PEER_HAS_ENDPOINT) ? &p->endpoint : &none));
		assert_int_equal(q->keepalive, (p->flags & WG_PEER_HAS_KEEPALIVE)
						       ? p->persistent_keepalive
						       : 0);
		assert_same_ips(q->ips, q->n_ips, p->ips, p->n_ips);
	}
	assert_int_equal(sim_next_live(s, i), s->n);
}

/*
 * Build dev into buflen-sized messages, check them, apply them to a model that starts at
 * initial (or empty) and compare with applying dev at once. Returns the message count.
 */
static size_t check_set(const struct wg_device *initial, const struct wg_device *dev,
			size_t buflen, bool is_device)
{
	struct seq_check c = {.dev = dev, .buflen = buflen};
	struct sim ref, got;
	struct msgs m;
	size_t n;

	assert_int_equal(build_all(dev, buflen, &m), 1);
	sim_init(&ref);
	sim_init(&got);
	if (initial) {
		sim_apply_device(&ref, initial);
		sim_apply_device(&got, initial);
	}
	sim_apply_device(&ref, dev);
	for (size_t i = 0; i < m.n; i++)
		check_and_apply_msg(&got, &c, m.buf[i], m.len[i]);
	assert_int_equal(c.peer, dev->n_peers);
	sim_assert_equal(&ref, &got);
	if (is_device)
		sim_assert_is_device(&got, dev);
	n = m.n;
	msgs_free(&m);
	sim_done(&ref);
	sim_done(&got);
	return n;
}

static const size_t buf_sizes[] = {512, 1024, 4096, 8192, WGNL_SET_BUFSIZE};

/* ---- builder tests ---- */

static void test_set_5000_peers(void **state)
{
	const uint32_t all = WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY |
			     WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	struct wg_device *dev = new_device("wg0", all);
	size_t bytes = 0;

	for (unsigned i = 0; i < 5000; i++) {
		unsigned n4 = 2 + rnd() % 3, n6 = 1 + rnd() % 3;

		add_peer(dev, n4, n6, true);
		bytes += 48 + 28 * n4 + 40 * n6;
	}
	for (size_t k = 0; k < sizeof(buf_sizes) / sizeof(buf_sizes[0]); k++) {
		size_t n = check_set(NULL, dev, buf_sizes[k], true);

		/* chunked, and not wastefully: each message carries a fair share */
		assert_true(n > bytes / buf_sizes[k]);
		assert_true(n < 4 * (bytes / buf_sizes[k]) + 2);
	}
	wg_device_free(dev);
}

static void test_set_one_peer_3000_ips(void **state)
{
	const uint32_t all = WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY |
			     WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	struct wg_device *initial = new_device("wg-big", all);
	struct wg_device *dev = new_device("wg-big", 0);
	struct wg_device *fresh = new_device("wg-big", all);
	struct wg_peer *big, *old, *other;

	/* before: the peer with 50 other prefixes, and a neighbour holding one it will claim */
	add_peer(initial, 30, 20, false);
	add_peer(initial, 3, 3, false);
	old = &initial->peers[0];
	other = &initial->peers[1];
	assert_int_equal(wg_device_add_peer(dev, old->public_key, &big), 0);
	big->flags |= WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_PRESHARED_KEY |
		      WG_PEER_HAS_KEEPALIVE;
	rnd_bytes(big->preshared_key, WG_KEY_LEN);
	big->persistent_keepalive = 25;
	set_endpoint(big, true);
	for (unsigned i = 0; i < 3000; i++) {
		struct wg_allowedip ip = make_ip(i % 3 == 0);

		assert_int_equal(wg_peer_add_allowedip(big, &ip), 0);
	}
	assert_int_equal(wg_peer_add_allowedip(big, &other->ips[1]), 0);

	for (size_t k = 0; k < sizeof(buf_sizes) / sizeof(buf_sizes[0]); k++) {
		size_t n = check_set(initial, dev, buf_sizes[k], false);

		assert_true(n >= 3001 * 28 / buf_sizes[k]);
	}

	/* the same peer alone under REPLACE_PEERS: the result is exactly the input */
	assert_int_equal(wg_device_add_peer(fresh, big->public_key, &old), 0);
	assert_int_equal(wg_peer_copy(old, big), 0);
	for (size_t k = 0; k < sizeof(buf_sizes) / sizeof(buf_sizes[0]); k++)
		assert_true(check_set(NULL, fresh, buf_sizes[k], true) > 1);

	wg_device_free(initial);
	wg_device_free(dev);
	wg_device_free(fresh);
}

/* An existing state, and an incremental change touching it in every way. */
static void make_mixed(struct wg_device **ret_initial, struct wg_device **ret_change,
		       size_t n_initial)
{
	const uint32_t all = WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY |
			     WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	struct wg_device *initial = new_device("wgmix", all);
	struct wg_device *dev = new_device("wgmix", WG_DEVICE_HAS_LISTEN_PORT);
	struct wg_peer *p;
	uint8_t key[WG_KEY_LEN];

	dev->listen_port = 4242;
	for (size_t i = 0; i < n_initial; i++)
		add_peer(initial, 1 + rnd() % 3, rnd() % 3, true);

	for (size_t i = 0; i < n_initial; i++) {
		const struct wg_peer *e = &initial->peers[i];

		switch (i % 10) {
		case 0: /* remove an existing peer; its IPs in the input must not be sent */
			assert_int_equal(wg_device_add_peer(dev, e->public_key, &p), 0);
			p->flags |= WG_PEER_REMOVE_ME;
			for (unsigned j = 0; j < 40; j++) {
				struct wg_allowedip ip = make_ip(j & 1);

				assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
			}
			break;
		case 1: /* UPDATE_ONLY an existing peer, replacing many IPs */
			assert_int_equal(wg_device_add_peer(dev, e->public_key, &p), 0);
			p->flags |= WG_PEER_UPDATE_ONLY | WG_PEER_REPLACE_ALLOWEDIPS;
			set_endpoint(p, i & 2);
			for (unsigned j = 0; j < 120; j++) {
				struct wg_allowedip ip = make_ip(j % 4 == 0);

				assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
			}
			break;
		case 2: /* UPDATE_ONLY a peer that does not exist, split: must not be created */
			make_key(key, next_key_id++);
			assert_int_equal(wg_device_add_peer(dev, key, &p), 0);
			p->flags |= WG_PEER_UPDATE_ONLY;
			for (unsigned j = 0; j < 150; j++) {
				struct wg_allowedip ip = make_ip(j & 1);

				assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
			}
			break;
		case 3: /* REPLACE_ALLOWEDIPS with none: clear them */
			assert_int_equal(wg_device_add_peer(dev, e->public_key, &p), 0);
			p->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
			break;
		case 4: /* remove the preshared key, change the keepalive */
			assert_int_equal(wg_device_add_peer(dev, e->public_key, &p), 0);
			p->flags |= WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE;
			p->persistent_keepalive = 0;
			break;
		case 5: /* a new peer that takes a prefix from an existing one */
			p = add_peer(dev, 2, 1, true);
			if (e->n_ips)
				assert_int_equal(wg_peer_add_allowedip(p, &e->ips[0]), 0);
			break;
		case 6: /* remove a peer that is not there */
			make_key(key, next_key_id++);
			assert_int_equal(wg_device_add_peer(dev, key, &p), 0);
			p->flags |= WG_PEER_REMOVE_ME;
			break;
		case 7: /* add IPs to an existing peer, new endpoint */
			assert_int_equal(wg_device_add_peer(dev, e->public_key, &p), 0);
			set_endpoint(p, !(i & 2));
			for (unsigned j = 0; j < 5; j++) {
				struct wg_allowedip ip = make_ip(j & 1);

				assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
			}
			break;
		default: /* new peers with everything */
			p = add_peer(dev, 1 + rnd() % 4, rnd() % 4, true);
			if (i % 20 == 8)
				p->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
			break;
		}
	}
	*ret_initial = initial;
	*ret_change = dev;
}

static void test_set_mixed(void **state)
{
	struct wg_device *initial, *dev;

	make_mixed(&initial, &dev, 400);
	for (size_t k = 0; k < sizeof(buf_sizes) / sizeof(buf_sizes[0]); k++)
		check_set(initial, dev, buf_sizes[k], false);
	wg_device_free(initial);
	wg_device_free(dev);
}

/* Every buffer size in a range: boundaries between "fits" and "does not" land everywhere. */
static void test_set_buffer_sweep(void **state)
{
	struct wg_device *initial, *dev;

	make_mixed(&initial, &dev, 40);
	for (size_t len = 400; len <= 1400; len += 3)
		check_set(initial, dev, len, false);
	wg_device_free(initial);
	wg_device_free(dev);
}

static void test_set_nothing_to_say(void **state)
{
	struct wg_device *dev = new_device("wg0", 0);
	struct wgnl_set_cursor cur = {0};
	uint8_t buf[256];
	size_t len = 0;

	/* no attributes, no peers: still one valid message naming the device */
	assert_int_equal(check_set(NULL, dev, sizeof(buf), false), 1);
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, sizeof(buf), &cur, &len), 1);
	assert_int_equal(len, MNL_NLMSG_HDRLEN + 4 + MNL_ALIGN(4 + 4));
	/* called again after the last message: the cursor is past the end */
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 2, buf, sizeof(buf), &cur, &len),
			 -EINVAL);

	/* REPLACE_PEERS with no peers: one message that clears them */
	dev->flags = WG_DEVICE_REPLACE_PEERS;
	assert_int_equal(check_set(NULL, dev, sizeof(buf), true), 1);
	wg_device_free(dev);
}

static void test_set_too_small(void **state)
{
	struct wg_device *dev = new_device("wg0", 0);
	struct wgnl_set_cursor cur = {0};
	uint8_t buf[8192];
	size_t len = 12345;

	add_peer(dev, 1, 0, false);
	/* header + IFNAME + PEERS + peer nest fit, the public key does not */
	for (size_t n = 0; n < 16 + 4 + 8 + 4 + 4 + 36; n++) {
		assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, n, &cur, &len),
				 -EMSGSIZE);
		assert_int_equal(cur.msgs, 0);
		assert_int_equal(cur.peer, 0);
		assert_int_equal(len, 12345);
	}
	/* key and one allowed IP: the smallest useful buffer */
	assert_int_equal(check_set(NULL, dev, 16 + 4 + 8 + 4 + 4 + 36 + 4 + 4 + 8 + 8 + 8, false),
			 1);

	/* device attributes fit, the peer does not: the next message starts with it */
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_FWMARK;
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, 100, &cur, &len), 0);
	assert_int_equal(cur.peer, 0);
	assert_int_equal(cur.msgs, 1);
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 2, buf, 100, &cur, &len), -EMSGSIZE);
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 2, buf, 200, &cur, &len), 1);
	wg_device_free(dev);
}

static void test_set_invalid(void **state)
{
	struct wgnl_set_cursor cur = {0};
	struct wg_device *dev;
	struct wg_peer *p;
	uint8_t buf[1024];
	size_t len = 7;

	for (int kase = 0; kase < 10; kase++) {
		dev = new_device("wg0", WG_DEVICE_HAS_LISTEN_PORT);
		p = add_peer(dev, 2, 2, true);
		switch (kase) {
		case 0:
			p->ips[0].cidr = 33;
			break;
		case 1:
			p->ips[2].cidr = 129;
			break;
		case 2:
			p->ips[1].family = AF_UNIX;
			break;
		case 3:
			p->ips[3].family = 0;
			break;
		case 4:
			p->flags &= ~(uint32_t)WG_PEER_HAS_PUBLIC_KEY;
			break;
		case 5:
			strcpy(dev->name, "a/b");
			break;
		case 6:
			dev->name[0] = '\0';
			break;
		case 7:
			strcpy(dev->name, "has space");
			break;
		case 8:
			p->flags |= WG_PEER_HAS_ENDPOINT;
			p->endpoint.addr.sa_family = AF_UNSPEC;
			break;
		case 9:
			dev->flags |= 1U << 20;
			break;
		}
		memset(&cur, 0, sizeof(cur));
		assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, sizeof(buf), &cur,
						    &len),
				 -EINVAL);
		assert_int_equal(len, 7);
		assert_int_equal(cur.msgs, 0);
		/* nothing is sent: validation comes before the socket is even looked at */
		assert_int_equal(wgnl_set_device(NULL, dev), -EINVAL);
		wg_device_free(dev);
	}

	dev = new_device("wg0", 0);
	add_peer(dev, 3, 0, false);
	/* a cursor beyond the device */
	cur = (struct wgnl_set_cursor){.peer = 2, .msgs = 1};
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, sizeof(buf), &cur, &len),
			 -EINVAL);
	cur = (struct wgnl_set_cursor){.peer = 0, .ip = 4, .msgs = 1};
	assert_int_equal(wgnl_build_set_msg(dev, TEST_FAMILY, 1, buf, sizeof(buf), &cur, &len),
			 -EINVAL);
	assert_int_equal(wgnl_build_set_msg(NULL, TEST_FAMILY, 1, buf, sizeof(buf), &cur, &len),
			 -EINVAL);
	wg_device_free(dev);
}

/* ---- a fake kernel for GET ---- */

struct dgrams {
	uint8_t **buf;
	size_t *len;
	size_t n, cap;
};

static void dgrams_free(struct dgrams *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->buf[i]);
	free(d->buf);
	free(d->len);
	memset(d, 0, sizeof(*d));
}

static void dgrams_push(struct dgrams *d, uint8_t *buf, size_t len)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->buf = realloc(d->buf, d->cap * sizeof(*d->buf));
		d->len = realloc(d->len, d->cap * sizeof(*d->len));
		assert_non_null(d->buf);
		assert_non_null(d->len);
	}
	d->buf[d->n] = buf;
	d->len[d->n] = len;
	d->n++;
}

struct fake_opts {
	size_t msgsize;     /* what the kernel sizes each message to */
	unsigned per_dgram; /* messages per datagram */
	int intr_at;        /* message index flagged NLM_F_DUMP_INTR, -1 for none */
	int done_err;
	bool unknown; /* sprinkle attribute types we do not know */
};

static void put_unknown(struct nlmsghdr *nlh, size_t size, uint16_t type)
{
	assert_true(mnl_attr_put_u32_check(nlh, size, type, 0xdeadbeef));
}

/* get_peer() of the kernel: 0 complete, 1 partial (message full), -1 nothing fit. */
static int fake_put_peer(struct nlmsghdr *nlh, size_t size, const struct wg_peer *p,
			 size_t *next_ip, bool *resumed, bool unknown)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, size, 0), *ips;

	if (!nest)
		return -1;
	if (!mnl_attr_put_check(nlh, size, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key))
		goto cancel;
	if (!*resumed) {
		struct __kernel_timespec ts = {.tv_sec = p->last_handshake_sec,
					       .tv_nsec = p->last_handshake_nsec};
		int fam = p->endpoint.addr.sa_family;

		if (!mnl_attr_put_check(nlh, size, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN,
					p->preshared_key) ||
		    !mnl_attr_put_check(nlh, size, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts) ||
		    !mnl_attr_put_u16_check(nlh, size, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
					    p->persistent_keepalive) ||
		    !mnl_attr_put_u64_check(nlh, size, WGPEER_A_TX_BYTES, p->tx_bytes) ||
		    !mnl_attr_put_u64_check(nlh, size, WGPEER_A_RX_BYTES, p->rx_bytes) ||
		    !mnl_attr_put_u32_check(nlh, size, WGPEER_A_PROTOCOL_VERSION, 1))
			goto cancel;
		if (fam == AF_INET || fam == AF_INET6) {
			if (!mnl_attr_put_check(nlh, size, WGPEER_A_ENDPOINT,
						fam == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6),
						&p->endpoint))
				goto cancel;
		}
		if (unknown && !mnl_attr_put_u32_check(nlh, size, WGPEER_A_MAX + 7, 1))
			goto cancel;
	}
	if (*next_ip < p->n_ips) {
		ips = mnl_attr_nest_start_check(nlh, size, WGPEER_A_ALLOWEDIPS);
		if (!ips)
			goto cancel;
		for (size_t i = *next_ip; i < p->n_ips; i++) {
			const struct wg_allowedip *ip = &p->ips[i];
			struct nlattr *in = mnl_attr_nest_start_check(nlh, size, 0);
			bool v4 = ip->family == AF_INET;

			if (!in ||
			    !mnl_attr_put_u8_check(nlh, size, WGALLOWEDIP_A_CIDR_MASK, ip->cidr) ||
			    !mnl_attr_put_u16_check(nlh, size, WGALLOWEDIP_A_FAMILY, ip->family) ||
			    !mnl_attr_put_check(nlh, size, WGALLOWEDIP_A_IPADDR, v4 ? 4 : 16,
						&ip->ip6) ||
			    /* type 4 is a newer kernel's WGALLOWEDIP_A_FLAGS */
			    (unknown && !mnl_attr_put_u32_check(nlh, size, 4, 0))) {
				if (in)
					mnl_attr_nest_cancel(nlh, in);
				mnl_attr_nest_end(nlh, ips);
				mnl_attr_nest_end(nlh, nest);
				*next_ip = i;
				*resumed = true;
				return 1;
			}
			mnl_attr_nest_end(nlh, in);
		}
		mnl_attr_nest_end(nlh, ips);
	}
	mnl_attr_nest_end(nlh, nest);
	*next_ip = 0;
	*resumed = false;
	return 0;
cancel:
	mnl_attr_nest_cancel(nlh, nest);
	return -1;
}

static size_t put_done(uint8_t *at, int err, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	int *e;

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI | flags;
	nlh->nlmsg_seq = 7;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(int));
	*e = err;
	return nlh->nlmsg_len;
}

/* wg_get_device_dump() of the kernel, grouped into datagrams, ending with NLMSG_DONE. */
static void fake_dump(const struct wg_device *dev, const struct fake_opts *o, struct dgrams *out)
{
	size_t peer = 0, next_ip = 0;
	bool resumed = false;
	uint8_t *dg = NULL;
	size_t dglen = 0;
	unsigned k = 0;

	memset(out, 0, sizeof(*out));
	do {
		uint8_t *buf = calloc(1, o->msgsize);
		struct nlmsghdr *nlh;
		struct genlmsghdr *genl;
		bool any = false;

		assert_non_null(buf);
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = TEST_FAMILY;
		nlh->nlmsg_flags = NLM_F_MULTI | ((int)k == o->intr_at ? NLM_F_DUMP_INTR : 0);
		nlh->nlmsg_seq = 7;
		genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
		genl->cmd = WG_CMD_GET_DEVICE;
		genl->version = WG_GENL_VERSION;
		if (k == 0) {
			assert_true(mnl_attr_put_u16_check(nlh, o->msgsize, WGDEVICE_A_LISTEN_PORT,
							   dev->listen_port));
			assert_true(mnl_attr_put_u32_check(nlh, o->msgsize, WGDEVICE_A_FWMARK,
							   dev->fwmark));
			assert_true(mnl_attr_put_u32_check(nlh, o->msgsize, WGDEVICE_A_IFINDEX,
							   dev->ifindex));
			assert_true(mnl_attr_put_strz_check(nlh, o->msgsize, WGDEVICE_A_IFNAME,
							    dev->name));
			if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY) {
				assert_true(mnl_attr_put_check(nlh, o->msgsize,
							       WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN,
							       dev->private_key));
				assert_true(mnl_attr_put_check(nlh, o->msgsize,
							       WGDEVICE_A_PUBLIC_KEY, WG_KEY_LEN,
							       dev->public_key));
			}
			if (o->unknown)
				put_unknown(nlh, o->msgsize, WGDEVICE_A_MAX + 3);
		}
		if (peer < dev->n_peers) {
			struct nlattr *peers = mnl_attr_nest_start_check(nlh, o->msgsize,
									 WGDEVICE_A_PEERS);

			assert_non_null(peers);
			while (peer < dev->n_peers) {
				int r = fake_put_peer(nlh, o->msgsize, &dev->peers[peer], &next_ip,
						      &resumed, o->unknown);

				if (r < 0)
					break;
				any = true;
				if (r == 1)
					break;
				peer++;
			}
			assert_true(any);
			mnl_attr_nest_end(nlh, peers);
		}

		/* group messages into datagrams */
		if (!dg) {
			dg = calloc(1, o->msgsize * o->per_dgram + 64);
			assert_non_null(dg);
			dglen = 0;
		}
		memcpy(dg + dglen, buf, nlh->nlmsg_len);
		dglen += MNL_ALIGN(nlh->nlmsg_len);
		free(buf);
		k++;
		if (k % o->per_dgram == 0 && peer < dev->n_peers) {
			dgrams_push(out, dg, dglen);
			dg = NULL;
		}
	} while (peer < dev->n_peers);
	dglen += put_done(dg + dglen, o->done_err,
			  (int)k == o->intr_at ? NLM_F_DUMP_INTR : 0);
	dgrams_push(out, dg, dglen);
}

static void assert_dump_equal(const struct wg_device *src, const struct wg_device *got)
{
	uint32_t want = WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;

	if (src->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		want |= WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY;
	assert_string_equal(got->name, src->name);
	assert_int_equal(got->ifindex, src->ifindex);
	assert_int_equal(got->flags, want);
	if (want & WG_DEVICE_HAS_PRIVATE_KEY) {
		assert_memory_equal(got->private_key, src->private_key, WG_KEY_LEN);
		assert_memory_equal(got->public_key, src->public_key, WG_KEY_LEN);
	}
	assert_int_equal(got->listen_port, src->listen_port);
	assert_int_equal(got->fwmark, src->fwmark);
	assert_int_equal(got->n_peers, src->n_peers);
	for (size_t i = 0; i < src->n_peers; i++) {
		const struct wg_peer *a = &src->peers[i], *b = &got->peers[i];
		uint32_t pw = WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_PRESHARED_KEY |
			      WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_STATS;

		if (a->endpoint.addr.sa_family != AF_UNSPEC)
			pw |= WG_PEER_HAS_ENDPOINT;
		assert_int_equal(b->flags, pw);
		assert_memory_equal(b->public_key, a->public_key, WG_KEY_LEN);
		assert_memory_equal(b->preshared_key, a->preshared_key, WG_KEY_LEN);
		assert_int_equal(b->endpoint.addr.sa_family, a->endpoint.addr.sa_family);
		assert_true(wg_endpoint_equal(&b->endpoint, &a->endpoint));
		assert_int_equal(b->persistent_keepalive, a->persistent_keepalive);
		assert_int_equal(b->last_handshake_sec, a->last_handshake_sec);
		assert_int_equal(b->last_handshake_nsec, a->last_handshake_nsec);
		assert_int_equal(b->rx_bytes, a->rx_bytes);
		assert_int_equal(b->tx_bytes, a->tx_bytes);
		assert_int_equal(b->n_ips, a->n_ips);
		for (size_t j = 0; j < a->n_ips; j++) {
			assert_int_equal(b->ips[j].family, a->ips[j].family);
			assert_int_equal(b->ips[j].cidr, a->ips[j].cidr);
			assert_memory_equal(&b->ips[j].ip6, &a->ips[j].ip6,
					    a->ips[j].family == AF_INET ? 4 : 16);
		}
	}
}

/* Feed every datagram; the last one must end the dump. Returns the first non-1 result. */
static int feed_all(const struct dgrams *d, struct wg_device **ret)
{
	struct wgnl_dump *dump;
	int r = 1;

	assert_int_equal(wgnl_dump_new(&dump), 0);
	for (size_t i = 0; i < d->n; i++) {
		r = wgnl_dump_feed(dump, d->buf[i], d->len[i]);
		if (r != 1) {
			assert_true(r <= 0);
			if (r == 0)
				assert_int_equal(i, d->n - 1);
			break;
		}
	}
	if (r == 0 && ret)
		assert_int_equal(wgnl_dump_take(dump, ret), 0);
	else
		assert_int_equal(wgnl_dump_take(dump, &(struct wg_device *){NULL}), -EINVAL);
	wgnl_dump_free(dump);
	return r;
}

static void corpus_write(const char *name, const struct dgrams *d)
{
	const char *dir = getenv("WGNL_WRITE_CORPUS");
	char path[4096];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < d->n; i++) {
		uint8_t hdr[2] = {(uint8_t)d->len[i], (uint8_t)(d->len[i] >> 8)};

		assert_true(d->len[i] <= UINT16_MAX);
		assert_int_equal(fwrite(hdr, 1, 2, f), 2);
		assert_int_equal(fwrite(d->buf[i], 1, d->len[i], f), d->len[i]);
	}
	assert_int_equal(fclose(f), 0);
}

static struct wg_device *dump_source(const char *name, size_t n_peers, unsigned n4, unsigned n6)
{
	struct wg_device *dev = new_device(name, WG_DEVICE_HAS_PRIVATE_KEY);

	dev->ifindex = 7 + (uint32_t)n_peers;
	for (size_t i = 0; i < n_peers; i++) {
		unsigned a = n4 ? 1 + rnd() % n4 : 0, b = n6 ? rnd() % (n6 + 1) : 0;
		struct wg_peer *p = add_peer(dev, a, b, true);

		p->last_handshake_sec = rnd();
		p->last_handshake_nsec = rnd() % 1000000000;
		p->rx_bytes = ((uint64_t)rnd() << 32) | rnd();
		p->tx_bytes = rnd();
	}
	return dev;
}

static void roundtrip(const struct wg_device *src, const struct fake_opts *o, const char *seed)
{
	struct wg_device *got = NULL;
	struct dgrams d;

	fake_dump(src, o, &d);
	if (seed)
		corpus_write(seed, &d);
	assert_int_equal(feed_all(&d, &got), 0);
	assert_dump_equal(src, got);
	wg_device_free(got);
	dgrams_free(&d);
}

/* ---- parser tests ---- */

static void test_dump_roundtrip(void **state)
{
	struct wg_device *empty = dump_source("wg-empty", 0, 0, 0);
	struct wg_device *small = dump_source("wg-small", 3, 3, 2);
	struct wg_device *many = dump_source("wg-many", 5000, 4, 3);
	struct wg_device *big = dump_source("wg-big", 4, 2, 1);
	struct wg_peer *p = &big->peers[1];

	/* no private key, no peers: device attributes only */
	empty->flags = 0;
	roundtrip(empty, &(struct fake_opts){.msgsize = 4096, .per_dgram = 1, .intr_at = -1},
		  "empty");

	roundtrip(small, &(struct fake_opts){.msgsize = 512, .per_dgram = 2, .intr_at = -1},
		  "small");
	roundtrip(small, &(struct fake_opts){512, 1, -1, 0, .unknown = true}, "unknown_attrs");

	roundtrip(many, &(struct fake_opts){.msgsize = 32768, .per_dgram = 1, .intr_at = -1}, NULL);
	roundtrip(many, &(struct fake_opts){.msgsize = 4096, .per_dgram = 3, .intr_at = -1}, NULL);
	roundtrip(many, &(struct fake_opts){.msgsize = 1024, .per_dgram = 2, .intr_at = -1}, NULL);

	/* one peer with 3000 allowed IPs, continued over many parts and merged back */
	for (unsigned i = 0; i < 3000; i++) {
		struct wg_allowedip ip = make_ip(i & 1);

		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	roundtrip(big, &(struct fake_opts){.msgsize = 1024, .per_dgram = 1, .intr_at = -1}, NULL);
	roundtrip(big, &(struct fake_opts){.msgsize = 4096, .per_dgram = 4, .intr_at = -1}, NULL);
	roundtrip(big, &(struct fake_opts){32768, 1, -1, 0, .unknown = true}, NULL);

	wg_device_free(empty);
	wg_device_free(small);
	wg_device_free(many);
	wg_device_free(big);
}

/* A small seed with a split peer for the fuzzer, and a check that the merge is exact. */
static void test_dump_split_peer(void **state)
{
	struct wg_device *dev = dump_source("wg-split", 2, 1, 0);
	struct wg_device *got = NULL;
	struct dgrams d;

	for (unsigned i = 0; i < 40; i++) {
		struct wg_allowedip ip = make_ip(i % 3 == 0);

		assert_int_equal(wg_peer_add_allowedip(&dev->peers[0], &ip), 0);
	}
	fake_dump(dev, &(struct fake_opts){.msgsize = 512, .per_dgram = 2, .intr_at = -1}, &d);
	assert_true(d.n >= 2);
	corpus_write("split_peer", &d);
	assert_int_equal(feed_all(&d, &got), 0);
	assert_dump_equal(dev, got);
	wg_device_free(got);
	dgrams_free(&d);
	wg_device_free(dev);
}

static void test_dump_50000_peers(void **state)
{
	struct wg_device *dev = dump_source("wg-50k", 50000, 1, 0);
	struct fake_opts o = {.msgsize = 32768, .per_dgram = 1, .intr_at = -1};
	struct wg_device *got = NULL;
	struct timespec t0, t1;
	struct dgrams d;

	fake_dump(dev, &o, &d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(feed_all(&d, &got), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_dump_equal(dev, got);
	print_message("parsed 50,000 peers in %zu datagrams: %.1f ms\n", d.n,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	wg_device_free(got);
	dgrams_free(&d);
	wg_device_free(dev);
}

static void test_dump_intr(void **state)
{
	struct wg_device *dev = dump_source("wg-intr", 30, 3, 3);
	struct wgnl_dump *dump;
	struct wg_device *got = NULL;
	struct dgrams d;
	int r = 1;

	/* the flag on a middle message */
	fake_dump(dev, &(struct fake_opts){.msgsize = 1024, .per_dgram = 2, .intr_at = 3}, &d);
	assert_true(d.n > 2);
	corpus_write("intr", &d);
	assert_int_equal(wgnl_dump_new(&dump), 0);
	for (size_t i = 0; i < d.n && r == 1; i++)
		r = wgnl_dump_feed(dump, d.buf[i], d.len[i]);
	assert_int_equal(r, -EAGAIN);
	/* sticky: what follows of the interrupted dump does not revive it */
	assert_int_equal(wgnl_dump_feed(dump, d.buf[d.n - 1], d.len[d.n - 1]), -EAGAIN);
	assert_int_equal(wgnl_dump_take(dump, &got), -EINVAL);
	assert_null(got);
	wgnl_dump_free(dump);
	dgrams_free(&d);

	/* the flag on the first message, and on NLMSG_DONE alone */
	fake_dump(dev, &(struct fake_opts){.msgsize = 1024, .per_dgram = 1, .intr_at = 0}, &d);
	assert_int_equal(feed_all(&d, NULL), -EAGAIN);
	dgrams_free(&d);
	fake_dump(dev, &(struct fake_opts){.msgsize = 32768, .per_dgram = 1, .intr_at = 1}, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(feed_all(&d, NULL), -EAGAIN);
	dgrams_free(&d);
	wg_device_free(dev);
}

static int feed_one(const void *buf, size_t len)
{
	struct wgnl_dump *dump;
	int r;

	assert_int_equal(wgnl_dump_new(&dump), 0);
	r = wgnl_dump_feed(dump, buf, len);
	wgnl_dump_free(dump);
	return r;
}

static size_t put_error(uint8_t *at, int err)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = 7;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = err;
	e->msg.nlmsg_len = 32;
	e->msg.nlmsg_seq = 7;
	return nlh->nlmsg_len;
}

static void test_dump_errors(void **state)
{
	uint64_t buf[64];
	struct dgrams d = {0};
	size_t len;

	/* NLMSG_ERROR from the start of the dump: no such interface, not WireGuard */
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, -ENODEV)), -ENODEV);
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, -EOPNOTSUPP)), -EOPNOTSUPP);
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, -EPERM)), -EPERM);
	/* a bare ACK is not how a dump ends; garbage error values are malformed */
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, 0)), -EBADMSG);
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, INT_MIN)), -EBADMSG);
	assert_int_equal(feed_one(buf, put_error((uint8_t *)buf, 100000)), -EBADMSG);

	/* NLMSG_DONE carries the dump's error */
	assert_int_equal(feed_one(buf, put_done((uint8_t *)buf, -ENOBUFS, 0)), -ENOBUFS);
	assert_int_equal(feed_one(buf, put_done((uint8_t *)buf, -EMSGSIZE, 0)), -EMSGSIZE);
	assert_int_equal(feed_one(buf, put_done((uint8_t *)buf, ENOMEM, 0)), -ENOMEM);
	assert_int_equal(feed_one(buf, put_done((uint8_t *)buf, INT_MIN, 0)), -EBADMSG);
	assert_int_equal(feed_one(buf, put_done((uint8_t *)buf, 0, 0)), 0);
	/* a NLMSG_DONE without its int */
	len = put_done((uint8_t *)buf, 0, 0);
	((struct nlmsghdr *)buf)->nlmsg_len = 16;
	assert_int_equal(feed_one(buf, 16), -EBADMSG);
	(void)len;

	len = put_error((uint8_t *)buf, -ENODEV);
	dgrams_push(&d, malloc(len), len);
	memcpy(d.buf[0], buf, len);
	corpus_write("error", &d);
	dgrams_free(&d);
}

enum mutation {
	M_NONE,
	M_UNKNOWN,
	M_PORT_LEN,
	M_FWMARK_LEN,
	M_IFINDEX_LEN,
	M_PRIVATE_LEN,
	M_PUBLIC_LEN,
	M_IFNAME_NO_NUL,
	M_IFNAME_LONG,
	M_IFNAME_EMPTY,
	M_PEER_KEY_LEN,
	M_PEER_NO_KEY,
	M_PSK_LEN,
	M_KEEPALIVE_LEN,
	M_HANDSHAKE_LEN,
	M_RX_LEN,
	M_TX_LEN,
	M_PROTO_LEN,
	M_ENDPOINT_LEN,
	M_ENDPOINT_FAMILY,
	M_IP_FAMILY_LEN,
	M_IP_CIDR_LEN,
	M_IP_ADDR_LEN,
	M_IP_ADDR_MISMATCH,
	M_IP_NO_CIDR,
	M_IP_NO_ADDR,
	M_IP_CIDR_33,
	M_IP_CIDR_129,
	M_IP_BAD_FAMILY,
	M_GENL_CMD,
	M_GENL_SHORT,
	M_CTRL_TYPE,
	M_NEST_OVERFLOW,
	M_TRAILING_BYTES,
	M_TRAILING_PEER,
	M_TRAILING_IP,
	M_TRAILING_DEVICE,
	M_ATTR_OVERFLOW,
	M_MSG_LEN_OVERFLOW,
	M_MSG_LEN_HUGE,
	M_COUNT,
};

/* 4 bytes that are no attribute (nla_len 2), inside whatever is open */
static void put_junk(struct nlmsghdr *nlh)
{
	uint8_t *tail = mnl_nlmsg_get_payload_tail(nlh);

	tail[0] = 2;
	tail[1] = tail[2] = tail[3] = 0;
	nlh->nlmsg_len += 4;
}

static void put_maybe(struct nlmsghdr *nlh, bool cond, uint16_t type, size_t good, size_t bad,
		      const void *data)
{
	static const uint8_t zeros[64];

	/* a bad length is filled with zeros, never read beyond the good data */
	mnl_attr_put(nlh, type, cond ? bad : good, (cond || !data) ? zeros : data);
}

/* One device message with one peer and two allowed IPs, mutated, then NLMSG_DONE. */
static size_t hand_msg(uint8_t *buf, enum mutation m)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *peers, *peer, *ips, *ip, *first_peer;
	struct genlmsghdr *genl;
	struct sockaddr_in6 ep6 = {.sin6_family = AF_INET6, .sin6_port = htons(51820)};
	struct __kernel_timespec ts = {.tv_sec = 1700000000, .tv_nsec = 5};
	uint8_t key[WG_KEY_LEN], v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	uint32_t v4 = htonl(0x0a000001);
	size_t len;

	memset(key, 0x42, sizeof(key));
	nlh->nlmsg_type = m == M_CTRL_TYPE ? 5 : TEST_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = 7;
	if (m == M_GENL_SHORT) {
		nlh->nlmsg_len += 2; /* too short for a genlmsghdr; nothing may follow */
		return nlh->nlmsg_len;
	}
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = m == M_GENL_CMD ? WG_CMD_SET_DEVICE : WG_CMD_GET_DEVICE;
	genl->version = 1;

	put_maybe(nlh, m == M_PORT_LEN, WGDEVICE_A_LISTEN_PORT, 2, 4, NULL);
	put_maybe(nlh, m == M_FWMARK_LEN, WGDEVICE_A_FWMARK, 4, 8, NULL);
	put_maybe(nlh, m == M_IFINDEX_LEN, WGDEVICE_A_IFINDEX, 4, 2, NULL);
	if (m == M_IFNAME_NO_NUL)
		mnl_attr_put(nlh, WGDEVICE_A_IFNAME, 3, "wg0");
	else if (m == M_IFNAME_LONG)
		mnl_attr_put(nlh, WGDEVICE_A_IFNAME, 16, "0123456789abcdef");
	else if (m == M_IFNAME_EMPTY)
		mnl_attr_put(nlh, WGDEVICE_A_IFNAME, 1, "");
	else
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
	put_maybe(nlh, m == M_PRIVATE_LEN, WGDEVICE_A_PRIVATE_KEY, 32, 31, key);
	put_maybe(nlh, m == M_PUBLIC_LEN, WGDEVICE_A_PUBLIC_KEY, 32, 33, key);
	if (m == M_UNKNOWN)
		mnl_attr_put_u64(nlh, WGDEVICE_A_MAX + 1, 1);

	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	first_peer = peer = mnl_attr_nest_start(nlh, 0);
	if (m != M_PEER_NO_KEY)
		put_maybe(nlh, m == M_PEER_KEY_LEN, WGPEER_A_PUBLIC_KEY, 32, 33, key);
	put_maybe(nlh, m == M_PSK_LEN, WGPEER_A_PRESHARED_KEY, 32, 16, NULL);
	put_maybe(nlh, m == M_HANDSHAKE_LEN, WGPEER_A_LAST_HANDSHAKE_TIME, 16, 8, &ts);
	put_maybe(nlh, m == M_KEEPALIVE_LEN, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 2, 4, NULL);
	put_maybe(nlh, m == M_TX_LEN, WGPEER_A_TX_BYTES, 8, 16, NULL);
	put_maybe(nlh, m == M_RX_LEN, WGPEER_A_RX_BYTES, 8, 4, NULL);
	put_maybe(nlh, m == M_PROTO_LEN, WGPEER_A_PROTOCOL_VERSION, 4, 2, NULL);
	if (m == M_ENDPOINT_FAMILY)
		ep6.sin6_family = AF_INET; /* 28 bytes claiming to be a sockaddr_in */
	put_maybe(nlh, m == M_ENDPOINT_LEN, WGPEER_A_ENDPOINT, sizeof(ep6), 20, &ep6);
	if (m == M_UNKNOWN)
		mnl_attr_put_u32(nlh, WGPEER_A_MAX + 1, 1);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	if (m != M_IP_NO_CIDR) {
		if (m == M_IP_CIDR_LEN)
			mnl_attr_put_u16(nlh, WGALLOWEDIP_A_CIDR_MASK, 32);
		else
			mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, m == M_IP_CIDR_33 ? 33 : 32);
	}
	if (m == M_IP_FAMILY_LEN)
		mnl_attr_put_u32(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	else
		mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, m == M_IP_BAD_FAMILY ? 3 : AF_INET);
	if (m == M_IP_ADDR_LEN)
		mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 5, v6);
	else if (m == M_IP_ADDR_MISMATCH)
		mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 16, v6);
	else if (m != M_IP_NO_ADDR)
		mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, &v4);
	if (m == M_UNKNOWN)
		mnl_attr_put_u32(nlh, WGALLOWEDIP_A_MAX + 1, 0); /* a newer kernel's FLAGS */
	if (m == M_TRAILING_IP)
		put_junk(nlh);
	mnl_attr_nest_end(nlh, ip);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, m == M_IP_CIDR_129 ? 129 : 64);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 16, v6);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, ips);
	if (m == M_TRAILING_PEER)
		put_junk(nlh);
	mnl_attr_nest_end(nlh, peer);
	if (m == M_NEST_OVERFLOW)
		first_peer->nla_len += 8; /* beyond the end of PEERS */
	if (m == M_TRAILING_BYTES)
		put_junk(nlh);
	mnl_attr_nest_end(nlh, peers);
	if (m == M_TRAILING_DEVICE)
		put_junk(nlh);
	if (m == M_ATTR_OVERFLOW)
		peers->nla_len += 8; /* beyond the end of the message */
	len = nlh->nlmsg_len;
	if (m == M_MSG_LEN_OVERFLOW)
		nlh->nlmsg_len += 64;
	if (m == M_MSG_LEN_HUGE)
		nlh->nlmsg_len = 0x80000000U + 16; /* negative as an int (found by the fuzzer) */
	return len + put_done(buf + len, 0, 0);
}

static void test_dump_malformed(void **state)
{
	for (int m = 0; m < M_COUNT; m++) {
		uint64_t buf[256];
		size_t len = hand_msg((uint8_t *)buf, m);
		struct wgnl_dump *dump;
		int r;

		assert_true(len <= sizeof(buf));
		assert_int_equal(wgnl_dump_new(&dump), 0);
		r = wgnl_dump_feed(dump, buf, len);
		if (m == M_NONE || m == M_UNKNOWN) {
			struct wg_device *dev = NULL;
			const struct wg_peer *p;

			assert_int_equal(r, 0);
			assert_int_equal(wgnl_dump_take(dump, &dev), 0);
			assert_string_equal(dev->name, "wg0");
			assert_int_equal(dev->n_peers, 1);
			p = &dev->peers[0];
			assert_int_equal(p->n_ips, 2);
			assert_int_equal(p->ips[0].family, AF_INET);
			assert_int_equal(p->ips[1].cidr, 64);
			assert_int_equal(p->last_handshake_sec, 1700000000);
			assert_int_equal(p->last_handshake_nsec, 5);
			assert_int_equal(p->endpoint.addr6.sin6_port, htons(51820));
			assert_true(p->flags & WG_PEER_HAS_ENDPOINT);
			wg_device_free(dev);
		} else {
			if (r != -EBADMSG)
				print_error("mutation %d: %d\n", m, r);
			assert_int_equal(r, -EBADMSG);
			/* sticky */
			assert_int_equal(wgnl_dump_feed(dump, buf, len), -EBADMSG);
		}
		wgnl_dump_free(dump);
	}
}

static void test_dump_truncated(void **state)
{
	struct wg_device *dev = dump_source("wg-trunc", 12, 3, 2);
	struct dgrams d;
	size_t bounds[64], nb = 0;
	const struct nlmsghdr *nlh;
	int rem;

	/* everything in one datagram; then cut it everywhere */
	fake_dump(dev, &(struct fake_opts){.msgsize = 512, .per_dgram = 64, .intr_at = -1}, &d);
	assert_int_equal(d.n, 1);
	rem = (int)d.len[0];
	nlh = (const void *)d.buf[0];
	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		assert_true(nb < 64);
		bounds[nb++] = (size_t)((const uint8_t *)nlh - d.buf[0]);
	}
	assert_true(nb > 3);
	for (size_t cut = 1; cut < d.len[0]; cut++) {
		/* a copy of exactly cut bytes: ASan catches any read beyond */
		uint8_t *part = malloc(cut);
		bool boundary = false;
		int r;

		for (size_t i = 0; i < nb; i++)
			boundary |= bounds[i] == cut;
		assert_non_null(part);
		memcpy(part, d.buf[0], cut);
		r = feed_one(part, cut);
		assert_int_equal(r, boundary ? 1 : -EBADMSG);
		free(part);
	}
	dgrams_free(&d);
	wg_device_free(dev);
}

/* Device attributes only in part 1; a peer continued in part 2 is merged, not duplicated. */
static void test_dump_merge(void **state)
{
	uint64_t buf[512];
	uint8_t *b = (uint8_t *)buf;
	struct nlmsghdr *nlh;
	struct nlattr *peers, *peer, *ips, *ip;
	struct genlmsghdr *genl;
	struct wgnl_dump *dump;
	struct wg_device *dev = NULL;
	uint8_t ka[WG_KEY_LEN], kb[WG_KEY_LEN];
	size_t off = 0;

	memset(ka, 0xaa, sizeof(ka));
	memset(kb, 0xbb, sizeof(kb));
	assert_int_equal(wgnl_dump_new(&dump), 0);
	for (unsigned part = 0; part < 2; part++) {
		nlh = mnl_nlmsg_put_header(b + off);
		nlh->nlmsg_type = TEST_FAMILY;
		nlh->nlmsg_flags = NLM_F_MULTI;
		genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
		genl->cmd = WG_CMD_GET_DEVICE;
		if (part == 0) {
			mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 42);
			mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg7");
			mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 1234);
		}
		peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
		peer = mnl_attr_nest_start(nlh, 0);
		mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, ka);
		if (part == 0) {
			mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 99);
			mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
		}
		ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
		for (unsigned i = 0; i < 2; i++) {
			uint32_t a = htonl(0x0a000000U + part * 10 + i);

			ip = mnl_attr_nest_start(nlh, 0);
			mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 32);
			mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
			mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, &a);
			mnl_attr_nest_end(nlh, ip);
		}
		mnl_attr_nest_end(nlh, ips);
		mnl_attr_nest_end(nlh, peer);
		if (part == 1) {
			peer = mnl_attr_nest_start(nlh, 0);
			mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, kb);
			mnl_attr_nest_end(nlh, peer);
		}
		mnl_attr_nest_end(nlh, peers);
		/* one datagram per part */
		assert_int_equal(wgnl_dump_feed(dump, b + off, nlh->nlmsg_len), 1);
		off += MNL_ALIGN(nlh->nlmsg_len);
	}
	/* a NOOP is skipped */
	nlh = mnl_nlmsg_put_header(b + off);
	nlh->nlmsg_type = NLMSG_NOOP;
	assert_int_equal(wgnl_dump_feed(dump, b + off, nlh->nlmsg_len), 1);
	assert_int_equal(wgnl_dump_feed(dump, b + off, put_done(b + off, 0, 0)), 0);
	assert_int_equal(wgnl_dump_take(dump, &dev), 0);
	wgnl_dump_free(dump);

	assert_string_equal(dev->name, "wg7");
	assert_int_equal(dev->ifindex, 42);
	assert_int_equal(dev->flags, WG_DEVICE_HAS_LISTEN_PORT);
	assert_int_equal(dev->listen_port, 1234);
	assert_int_equal(dev->n_peers, 2);
	assert_memory_equal(dev->peers[0].public_key, ka, WG_KEY_LEN);
	assert_int_equal(dev->peers[0].n_ips, 4);
	assert_int_equal(dev->peers[0].ips[2].ip4.s_addr, htonl(0x0a00000a));
	assert_int_equal(dev->peers[0].rx_bytes, 99);
	assert_int_equal(dev->peers[0].persistent_keepalive, 25);
	assert_int_equal(dev->peers[0].flags,
			 WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_STATS | WG_PEER_HAS_KEEPALIVE);
	assert_memory_equal(dev->peers[1].public_key, kb, WG_KEY_LEN);
	assert_int_equal(dev->peers[1].n_ips, 0);
	assert_int_equal(dev->peers[1].flags, WG_PEER_HAS_PUBLIC_KEY);
	wg_device_free(dev);
}

static void test_dump_api(void **state)
{
	uint64_t buf[8];
	struct wgnl_dump *dump;
	struct wg_device *dev = NULL;
	size_t len = put_done((uint8_t *)buf, 0, 0);

	assert_null(wgnl_dump_free(NULL));
	assert_int_equal(wgnl_dump_new(NULL), -EINVAL);
	assert_int_equal(wgnl_dump_new(&dump), 0);
	assert_int_equal(wgnl_dump_take(dump, &dev), -EINVAL); /* not done yet */
	assert_int_equal(wgnl_dump_feed(dump, NULL, 0), 1);     /* nothing: more expected */
	/* misaligned buffers are refused, not read */
	assert_int_equal(wgnl_dump_feed(dump, (uint8_t *)buf + 1, len), -EINVAL);
	assert_int_equal(wgnl_dump_feed(dump, buf, len), 0); /* an empty dump */
	assert_int_equal(wgnl_dump_feed(dump, buf, len), -EINVAL); /* done: take first */
	assert_int_equal(wgnl_dump_take(dump, &dev), 0);
	assert_int_equal(dev->n_peers, 0);
	assert_int_equal(dev->flags, 0);
	dev = wg_device_free(dev);
	/* after take the dump is empty and reusable */
	assert_int_equal(wgnl_dump_take(dump, &dev), -EINVAL);
	assert_int_equal(wgnl_dump_feed(dump, buf, len), 0);
	assert_int_equal(wgnl_dump_take(dump, &dev), 0);
	wg_device_free(dev);
	assert_null(wgnl_dump_free(dump));
}

/* ---- the I/O layer, as far as this host allows ---- */

static void test_open(void **state)
{
	struct wgnl *nl = NULL;
	struct wg_device *dev = NULL;
	bool module = access("/sys/module/wireguard", F_OK) == 0;
	int r = wgnl_open(&nl);

	if (!module) {
		/* CTRL_CMD_GETFAMILY answered ENOENT */
		assert_int_equal(r, -EPROTONOSUPPORT);
		assert_null(nl);
	} else {
		struct wg_device *set = new_device("wgfleet-nx0", WG_DEVICE_HAS_LISTEN_PORT);

		assert_int_equal(r, 0);
		assert_non_null(nl);
		r = wgnl_get_device(nl, "wgfleet-nx0", &dev);
		assert_true(r == -ENODEV || r == -EPERM);
		assert_null(dev);
		r = wgnl_set_device(nl, set);
		assert_true(r == -ENODEV || r == -EPERM);
		/* lo exists but is not WireGuard */
		r = wgnl_get_device(nl, "lo", &dev);
		assert_true(r == -EOPNOTSUPP || r == -EPERM);
		wg_device_free(set);
	}
	/* a 16-character name is refused before anything is sent */
	assert_int_equal(wgnl_get_device(nl, "0123456789abcdef", &dev), -EINVAL);
	assert_int_equal(wgnl_get_device(nl, "", &dev), -EINVAL);
	assert_null(dev);
	assert_null(wgnl_close(nl));
	assert_null(wgnl_close(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_5000_peers),
		cmocka_unit_test(test_set_one_peer_3000_ips),
		cmocka_unit_test(test_set_mixed),
		cmocka_unit_test(test_set_buffer_sweep),
		cmocka_unit_test(test_set_nothing_to_say),
		cmocka_unit_test(test_set_too_small),
		cmocka_unit_test(test_set_invalid),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_dump_split_peer),
		cmocka_unit_test(test_dump_50000_peers),
		cmocka_unit_test(test_dump_intr),
		cmocka_unit_test(test_dump_errors),
		cmocka_unit_test(test_dump_malformed),
		cmocka_unit_test(test_dump_truncated),
		cmocka_unit_test(test_dump_merge),
		cmocka_unit_test(test_dump_api),
		cmocka_unit_test(test_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
