// SPDX-License-Identifier: MIT
/*
 * The address pool against a reference model. The input is a list of operations (alloc,
 * claim, release, hold, unhold, restore, expire, time steps forwards and backwards) on
 * five pools: a small IPv4 and a small IPv6 pool, each in its dense and its forced-sparse
 * form, and an IPv6 /64 with reserved spans near the top and a huge one in the middle.
 * The model is a plain list of non-free addresses and a linear scan from the cursor, so it
 * predicts every return code and every allocated address exactly. After each step the
 * pool must agree with it: counts, the state and deadline of every address of the small
 * pools (of interesting ones for the /64), and the enumeration. Since both forms of a
 * small pool agree with the same model, they also agree with each other. No address is
 * ever in two states or handed out twice, and a RESERVED address is never handed out.
 *
 * An input starting with 'P' is instead config text for the prefix and reserved-entry
 * parsers: a result must validate and lie inside its pool.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Included (as the other harnesses do) so the fuzzer sees the pool's code directly. */
#include "ippool.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The model and the checks are not what is being explored: keep their branches out of the
 * coverage feedback (and out of the time spent tracing comparisons). */
#if defined(__clang__) && __clang_major__ >= 13
#define MODEL __attribute__((no_sanitize("coverage")))
#else
#define MODEL
#endif

#define MAX_OPS 512
#define MAX_ENTRIES (MAX_OPS + 8)
#define N_POOLS 5

struct m_entry {
	uint64_t host, deadline;
	enum ippool_state state;
};

struct m_pool {
	struct ippool *pool;
	const char *prefix, *server;
	const char *reserved[4];
	uint64_t quarantine;
	uint32_t flags;

	/* the model */
	uint64_t net, mask, cursor, size;
	struct span spans[8];
	size_t n_spans;
	struct m_entry e[MAX_ENTRIES];
	size_t n;
	int16_t idx[64]; /* small pools: position in e + 1, 0 if FREE or RESERVED */
};

static struct m_pool fz_pools[N_POOLS] = {
	{.prefix = "10.8.0.0/27", .server = "10.8.0.1",
	 .reserved = {"10.8.0.10-10.8.0.12", "10.8.0.30/31"}, .quarantine = 10},
	{.prefix = "10.8.0.0/27", .server = "10.8.0.1",
	 .reserved = {"10.8.0.10-10.8.0.12", "10.8.0.30/31"}, .quarantine = 10,
	 .flags = IPPOOL_FORCE_SPARSE},
	{.prefix = "fd42:8::/122", .server = "fd42:8::1", .reserved = {"fd42:8::20-fd42:8::23"},
	 .quarantine = 3},
	{.prefix = "fd42:8::/122", .server = "fd42:8::1", .reserved = {"fd42:8::20-fd42:8::23"},
	 .quarantine = 3, .flags = IPPOOL_FORCE_SPARSE},
	{.prefix = "fd42:9::/64", .server = "fd42:9::1",
	 .reserved = {"fd42:9::8-fd42:9::f",
		      "fd42:9::ffff:ffff:ffff:fff0-fd42:9::ffff:ffff:ffff:fffd",
		      "fd42:9:0:0:1::-fd42:9::fff:ffff:ffff:ffff", "fd42:9::40/122"},
	 .quarantine = 5},
};

/* Hosts of the /64 worth probing beyond the low ones. */
static const uint64_t fz_far[] = {
	UINT64_MAX,	    UINT64_MAX - 1,	    UINT64_MAX - 2,	    UINT64_MAX - 15,
	UINT64_MAX - 16,    UINT64_C(1) << 48,	    (UINT64_C(1) << 48) - 1, (UINT64_C(1) << 60),
	(UINT64_C(1) << 60) - 1, (UINT64_C(1) << 60) + 1, UINT64_C(0x8000000000000000), 0x3f,
	0x40,		    0x7f,		    0x80,		    0,
};

MODEL static void fz_check(bool ok)
{
	if (!ok)
		abort();
}

MODEL static struct wg_allowedip fz_addr(const struct m_pool *m, uint64_t host)
{
	struct wg_allowedip a;

	addr_of(m->pool, host, &a);
	return a;
}

/* An address outside the pool: the next prefix over, or the other family. */
MODEL static struct wg_allowedip fz_outside(const struct m_pool *m, uint8_t b)
{
	struct wg_allowedip a = fz_addr(m, b & m->mask);

	if (b & 1) {
		if (a.family == AF_INET)
			a.ip4.s_addr = htonl(ntohl(a.ip4.s_addr) + (uint32_t)(m->mask + 1));
		else
			a.ip6.s6_addr[3] ^= 0x10;
	} else {
		struct wg_allowedip other = {};

		other.family = a.family == AF_INET ? AF_INET6 : AF_INET;
		memcpy(&other.ip6, &a.ip6, a.family == AF_INET ? 4 : 16);
		a = other;
	}
	return a;
}

MODEL static void m_setup(struct m_pool *m)
{
	struct ippool_config c = {.quarantine_seconds = m->quarantine, .flags = m->flags};
	struct ippool_range ranges[4];
	struct wg_allowedip srv;
	uint64_t server, first, last;
	size_t n = 0;

	fz_check(ippool_prefix_parse(m->prefix, &c.prefix) == 0);
	fz_check(wg_allowedip_parse(m->server, &srv) == 0);
	c.server = &srv;
	while (n < 4 && m->reserved[n]) {
		fz_check(ippool_range_parse(&c.prefix, m->reserved[n], &ranges[n]) == 0);
		n++;
	}
	c.reserved = ranges;
	c.n_reserved = n;
	fz_check(ippool_new(&c, &m->pool) == 0);

	/* The model's own idea of what is reserved, as plain spans (unsorted, may overlap). */
	prefix_split(&c.prefix, &m->net, &m->mask);
	m->n_spans = 0;
	m->spans[m->n_spans++] = (struct span){0, 0};
	if (c.prefix.family == AF_INET)
		m->spans[m->n_spans++] = (struct span){m->mask, m->mask};
	fz_check(host_in(&c.prefix, m->net, m->mask, &srv, &server) == 0);
	m->spans[m->n_spans++] = (struct span){server, server};
	for (size_t i = 0; i < n; i++) {
		fz_check(host_in(&c.prefix, m->net, m->mask, &ranges[i].first, &first) == 0);
		fz_check(host_in(&c.prefix, m->net, m->mask, &ranges[i].last, &last) == 0);
		m->spans[m->n_spans++] = (struct span){first, last};
	}
	/* size by inclusion: count reserved hosts the slow way for small pools; the /64
	 * spans are disjoint by construction, so their lengths add up. */
	if (m->mask < 4096) {
		uint64_t reserved = 0;

		for (uint64_t h = 0; h <= m->mask; h++)
			for (size_t i = 0; i < m->n_spans; i++)
				if (h >= m->spans[i].first && h <= m->spans[i].last) {
					reserved++;
					break;
				}
		m->size = m->mask + 1 - reserved;
	} else {
		m->size = m->mask;
		for (size_t i = 1; i < m->n_spans; i++)
			m->size -= m->spans[i].last - m->spans[i].first + 1;
	}
	m->cursor = 0;
	m->n = 0;
	memset(m->idx, 0, sizeof(m->idx));
}

/* Index of the reserved span holding h (the model's: any one), or -1. */
MODEL static int m_span(const struct m_pool *m, uint64_t h)
{
	for (size_t i = 0; i < m->n_spans; i++)
		if (h >= m->spans[i].first && h <= m->spans[i].last)
			return (int)i;
	return -1;
}

MODEL static struct m_entry *m_find(struct m_pool *m, uint64_t h)
{
	if (m->mask < 64)
		return m->idx[h] ? &m->e[m->idx[h] - 1] : NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].host == h)
			return &m->e[i];
	return NULL;
}

MODEL static void m_drop(struct m_pool *m, struct m_entry *e)
{
	if (m->mask < 64) {
		m->idx[e->host] = 0;
		if (e != &m->e[m->n - 1])
			m->idx[m->e[m->n - 1].host] = (int16_t)(e - m->e + 1);
	}
	*e = m->e[--m->n];
}

MODEL static enum ippool_state m_state(struct m_pool *m, uint64_t h, uint64_t *deadline)
{
	struct m_entry *e;

	*deadline = 0;
	if (m_span(m, h) >= 0)
		return IPPOOL_RESERVED;
	e = m_find(m, h);
	if (!e)
		return IPPOOL_FREE;
	if (e->state == IPPOOL_QUARANTINED)
		*deadline = e->deadline;
	return e->state;
}

MODEL static void m_expire(struct m_pool *m, uint64_t now)
{
	for (size_t i = 0; i < m->n;)
		if (m->e[i].state == IPPOOL_QUARANTINED && m->e[i].deadline <= now)
			m_drop(m, &m->e[i]);
		else
			i++;
}

MODEL static void m_add(struct m_pool *m, uint64_t h, enum ippool_state st, uint64_t deadline)
{
	fz_check(m->n < MAX_ENTRIES);
	m->e[m->n++] = (struct m_entry){h, st == IPPOOL_QUARANTINED ? deadline : 0, st};
	if (m->mask < 64)
		m->idx[h] = (int16_t)m->n;
}

MODEL static uint64_t m_count(const struct m_pool *m, enum ippool_state st)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += m->e[i].state == st;
	return n;
}

MODEL static int fz_foreach_check(const struct wg_allowedip *addr, enum ippool_state st,
			    uint64_t deadline, void *userdata)
{
	struct m_pool *m = userdata;
	uint64_t h, d;

	fz_check(host_of(m->pool, addr, &h) == 0);
	fz_check(m_state(m, h, &d) == st && d == deadline);
	fz_check(st == IPPOOL_USED || st == IPPOOL_HELD || st == IPPOOL_QUARANTINED);
	return 0;
}

MODEL static int fz_count(const struct wg_allowedip *addr, enum ippool_state st, uint64_t deadline,
		    void *userdata)
{
	(*(uint64_t *)userdata)++;
	return 0;
}

/* The pool's own structures are consistent (white box: the harness includes ippool.c). */
MODEL static void fz_internal(const struct ippool *p)
{
	size_t n = 0;

	/* The quarantine queue: an ordered FIFO, a heap, one slot per entry. */
	fz_check(p->fifo_len + p->heap_len == p->n_quarantined);
	for (size_t i = 0; i < p->fifo_len; i++) {
		const struct qent *e = &p->fifo[(p->fifo_head + i) & (p->fifo_cap - 1)];
		const struct slot *sl = hash_find(p, e->host);

		if (i > 0)
			fz_check(p->fifo[(p->fifo_head + i - 1) & (p->fifo_cap - 1)].deadline <=
				 e->deadline);
		fz_check(sl && meta_state(sl->meta) == IPPOOL_QUARANTINED &&
			 meta_deadline(sl->meta) == e->deadline);
	}
	for (size_t i = 0; i < p->heap_len; i++) {
		const struct slot *sl = hash_find(p, p->heap[i].host);

		if (i > 0)
			fz_check(p->heap[(i - 1) / 2].deadline <= p->heap[i].deadline);
		fz_check(sl && meta_state(sl->meta) == IPPOOL_QUARANTINED &&
			 meta_deadline(sl->meta) == p->heap[i].deadline);
	}

	/* The hash table: counted right, every entry reachable from its home slot. */
	for (size_t i = 0; i < p->n_slots; i++) {
		if (!p->slots[i].meta)
			continue;
		n++;
		fz_check(hash_find(p, p->slots[i].host) == &p->slots[i]);
		fz_check(span_find(p, p->slots[i].host) < 0);
		fz_check(!p->dense || meta_state(p->slots[i].meta) != IPPOOL_USED);
		fz_check(!p->dense || !dense_is_free(p, p->slots[i].host));
	}
	fz_check(n == p->n_entries && n * 4 <= p->n_slots * 3);
	fz_check(n == p->n_held + p->n_quarantined + (p->dense ? 0 : p->n_used));

	/* The bitmap: summaries match the level below; one free bit per FREE address. */
	if (p->dense) {
		uint64_t free_bits = 0;

		for (uint64_t h = 0; h < p->level_bits[0]; h++)
			free_bits += dense_is_free(p, h);
		fz_check(free_bits == free_count(p));
		for (unsigned k = 1; k < p->n_levels; k++)
			for (uint64_t i = 0; i < p->level_bits[k]; i++)
				fz_check(!!(p->level[k][i >> 6] & bit(i)) == !!p->level[k - 1][i]);
		for (unsigned k = 0; k < p->n_levels; k++)
			if (p->level_bits[k] % 64)
				fz_check(!(p->level[k][p->level_bits[k] / 64] >>
					   (p->level_bits[k] % 64)));
	}
}

/* level 0: counts; 1: also every address of small pools and the internals; 2: also the
 * enumeration. */
MODEL static void fz_verify(struct m_pool *m, int level)
{
	struct ippool_stats s;
	enum ippool_state st;
	uint64_t d, dm, n = 0;

	ippool_get_stats(m->pool, &s);
	fz_check(s.size == m->size);
	fz_check(s.used == m_count(m, IPPOOL_USED));
	fz_check(s.held == m_count(m, IPPOOL_HELD));
	fz_check(s.quarantined == m_count(m, IPPOOL_QUARANTINED));
	fz_check(s.free == s.size - s.used - s.held - s.quarantined);
	if (level == 0)
		return;
	fz_internal(m->pool);

	if (m->mask < 4096) {
		for (uint64_t h = 0; h <= m->mask; h++) {
			struct wg_allowedip a = fz_addr(m, h);

			fz_check(ippool_lookup(m->pool, &a, &st, &d) == 0);
			fz_check(st == m_state(m, h, &dm) && d == dm);
		}
	} else {
		for (size_t i = 0; i < m->n; i++) {
			struct wg_allowedip a = fz_addr(m, m->e[i].host);

			fz_check(ippool_lookup(m->pool, &a, &st, &d) == 0);
			fz_check(st == m->e[i].state && d == m->e[i].deadline);
		}
		for (size_t i = 0; i < sizeof(fz_far) / sizeof(fz_far[0]); i++) {
			struct wg_allowedip a = fz_addr(m, fz_far[i]);

			fz_check(ippool_lookup(m->pool, &a, &st, &d) == 0);
			fz_check(st == m_state(m, fz_far[i], &dm) && d == dm);
		}
	}
	if (level >= 2) {
		fz_check(ippool_foreach(m->pool, fz_foreach_check, m) == 0);
		fz_check(ippool_foreach(m->pool, fz_count, &n) == 0);
		fz_check(n == m->n);
	}
}

/* The host an operand byte names: any of a small pool (or outside it), low or far for the /64. */
MODEL static bool fz_host(const struct m_pool *m, uint8_t b, uint64_t *ret)
{
	if (m->mask < 256) {
		if (b > m->mask + 4 && b % 7 == 0)
			return false;
		*ret = b & m->mask;
		return true;
	}
	if (b >= 240)
		return false;
	if (b >= 224) {
		*ret = fz_far[b - 224];
		return true;
	}
	if (b >= 192 && m->n) {
		*ret = m->e[b % m->n].host;
		return true;
	}
	*ret = b % 96;
	return true;
}

MODEL static uint64_t fz_sat(uint64_t now, uint64_t q)
{
	return saturating_deadline(now, q);
}

static void fz_step(struct m_pool *m, uint8_t op, const uint8_t *arg, uint64_t *now)
{
	struct wg_allowedip a, got;
	enum ippool_state st;
	uint64_t h = 0, d;
	bool inside = fz_host(m, arg[0], &h);
	int r, want;

	a = inside ? fz_addr(m, h) : fz_outside(m, arg[0]);
	switch (op) {
	case 0: /* alloc */
		memset(&got, 0, sizeof(got));
		r = ippool_alloc(m->pool, *now, &got);
		m_expire(m, *now);
		if (m_count(m, IPPOOL_USED) + m_count(m, IPPOOL_HELD) +
			    m_count(m, IPPOOL_QUARANTINED) ==
		    m->size) {
			fz_check(r == -ENOSPC);
			break;
		}
		h = m->cursor;
		for (;;) {
			int i = m_span(m, h);

			if (i >= 0)
				h = m->spans[i].last == m->mask ? 0 : m->spans[i].last + 1;
			else if (m_find(m, h))
				h = h == m->mask ? 0 : h + 1;
			else
				break;
		}
		a = fz_addr(m, h);
		fz_check(r == 0 && !memcmp(&got, &a, sizeof(a)));
		m_add(m, h, IPPOOL_USED, 0);
		m->cursor = h == m->mask ? 0 : h + 1;
		break;
	case 1: /* claim */
		r = ippool_claim(m->pool, &a, *now);
		if (!inside) {
			fz_check(r == -EADDRNOTAVAIL);
			break;
		}
		m_expire(m, *now);
		st = m_state(m, h, &d);
		want = st == IPPOOL_FREE ? 0 : st == IPPOOL_RESERVED ? -EADDRNOTAVAIL : -EADDRINUSE;
		fz_check(r == want);
		if (r == 0)
			m_add(m, h, IPPOOL_USED, 0);
		break;
	case 2: /* release */
		r = ippool_release(m->pool, &a, *now);
		st = inside ? m_state(m, h, &d) : IPPOOL_RESERVED;
		if (st == IPPOOL_RESERVED) {
			fz_check(r == -EADDRNOTAVAIL);
		} else if (st == IPPOOL_USED || st == IPPOOL_HELD) {
			struct m_entry *e = m_find(m, h);

			fz_check(r == 0);
			if (m->quarantine == 0) {
				m_drop(m, e);
			} else {
				e->state = IPPOOL_QUARANTINED;
				e->deadline = fz_sat(*now, m->quarantine);
			}
		} else {
			fz_check(r == -ENOENT);
		}
		break;
	case 3: /* hold */
	case 4: /* unhold */
		r = op == 3 ? ippool_hold(m->pool, &a) : ippool_unhold(m->pool, &a);
		st = inside ? m_state(m, h, &d) : IPPOOL_RESERVED;
		if (st == IPPOOL_RESERVED) {
			fz_check(r == -EADDRNOTAVAIL);
		} else if (st == IPPOOL_USED || st == IPPOOL_HELD) {
			fz_check(r == 0);
			m_find(m, h)->state = op == 3 ? IPPOOL_HELD : IPPOOL_USED;
		} else {
			fz_check(r == -ENOENT);
		}
		break;
	case 5: /* time steps, sometimes backwards */
		if (arg[1] < 200)
			*now += arg[1];
		else
			*now -= *now < (uint64_t)(arg[1] - 200) ? *now : (uint64_t)(arg[1] - 200);
		break;
	case 6: { /* restore */
		enum ippool_state want_st = (enum ippool_state)(arg[1] % 5);
		uint64_t deadline = arg[2] == 255 ? UINT64_MAX : *now + arg[2] - 64;

		if (*now + arg[2] < 64 && arg[2] != 255)
			deadline = 0;
		r = ippool_restore(m->pool, &a, want_st, deadline);
		if (want_st != IPPOOL_USED && want_st != IPPOOL_HELD &&
		    want_st != IPPOOL_QUARANTINED) {
			fz_check(r == -EINVAL);
			break;
		}
		st = inside ? m_state(m, h, &d) : IPPOOL_RESERVED;
		want = st == IPPOOL_FREE ? 0 : st == IPPOOL_RESERVED ? -EADDRNOTAVAIL : -EADDRINUSE;
		fz_check(r == want);
		if (r == 0)
			m_add(m, h, want_st,
			      deadline > IPPOOL_DEADLINE_MAX ? IPPOOL_DEADLINE_MAX : deadline);
		break;
	}
	default: /* expire */
		ippool_expire(m->pool, *now);
		m_expire(m, *now);
		break;
	}
}

static void fz_parsers(const uint8_t *data, size_t size)
{
	static const char *pools[] = {"10.8.0.0/24", "fd42:8::/64", "10.0.0.0/8", "fd42::100/120"};
	char s[128];
	struct wg_allowedip p, q;
	struct ippool_range r;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';

	if (ippool_prefix_parse(s, &p) == 0) {
		char buf[WG_ALLOWEDIP_STRLEN];

		fz_check(ippool_prefix_validate(&p) == 0);
		wg_allowedip_format(&p, buf);
		fz_check(ippool_prefix_parse(buf, &q) == 0 && wg_allowedip_cmp(&p, &q) == 0);
	}
	for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
		struct ippool_config c = {};
		struct ippool *pool = NULL;
		enum ippool_state st;
		uint64_t first, last, net, mask;

		fz_check(ippool_prefix_parse(pools[i], &c.prefix) == 0);
		if (ippool_range_parse(&c.prefix, s, &r) < 0)
			continue;
		prefix_split(&c.prefix, &net, &mask);
		fz_check(host_in(&c.prefix, net, mask, &r.first, &first) == 0);
		fz_check(host_in(&c.prefix, net, mask, &r.last, &last) == 0);
		fz_check(first <= last);
		/* A pool accepts it, and the range ends are RESERVED in it. */
		c.reserved = &r;
		c.n_reserved = 1;
		fz_check(ippool_new(&c, &pool) == 0);
		fz_check(ippool_lookup(pool, &r.first, &st, NULL) == 0 && st == IPPOOL_RESERVED);
		fz_check(ippool_lookup(pool, &r.last, &st, NULL) == 0 && st == IPPOOL_RESERVED);
		ippool_free(pool);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = 1000;
	size_t ops = 0;

	if (size > 0 && data[0] == 'P') {
		fz_parsers(data + 1, size - 1);
		return 0;
	}
	for (size_t i = 0; i < N_POOLS; i++)
		m_setup(&fz_pools[i]);

	for (size_t i = 0; i < size && ops < MAX_OPS; ops++) {
		uint8_t op = data[i] & 7, arg[3] = {};
		struct m_pool *m = &fz_pools[(data[i] >> 3) % N_POOLS];

		i++;
		for (size_t k = 0; k < 3 && i < size; k++)
			arg[k] = data[i++];
		fz_step(m, op, arg, &now);
		fz_verify(m, ops % 16 == 0 ? 2 : ops % 4 == 0);
	}
	for (size_t i = 0; i < N_POOLS; i++) {
		fz_verify(&fz_pools[i], 2);
		fz_pools[i].pool = ippool_free(fz_pools[i].pool);
	}
	return 0;
}
