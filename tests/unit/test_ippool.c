// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ippool.h"

static struct wg_allowedip A(const char *s)
{
	struct wg_allowedip a;

	assert_int_equal(wg_allowedip_parse(s, &a), 0);
	return a;
}

static const char *fmt(const struct wg_allowedip *a, char buf[static WG_ALLOWEDIP_STRLEN])
{
	wg_allowedip_format(a, buf);
	*strchr(buf, '/') = '\0';
	return buf;
}

/* A pool of prefix with an optional server and reserved entries (config strings). */
static struct ippool *pool_make(const char *prefix, const char *server, const char *const *res,
				size_t n_res, uint64_t quarantine, uint32_t flags)
{
	struct ippool_config c = {.quarantine_seconds = quarantine, .flags = flags};
	struct ippool_range ranges[16];
	struct wg_allowedip srv;
	struct ippool *p = NULL;

	assert_true(n_res <= 16);
	assert_int_equal(ippool_prefix_parse(prefix, &c.prefix), 0);
	if (server) {
		srv = A(server);
		c.server = &srv;
	}
	for (size_t i = 0; i < n_res; i++)
		assert_int_equal(ippool_range_parse(&c.prefix, res[i], &ranges[i]), 0);
	c.reserved = ranges;
	c.n_reserved = n_res;
	assert_int_equal(ippool_new(&c, &p), 0);
	assert_non_null(p);
	return p;
}

static struct ippool_stats stats(const struct ippool *p)
{
	struct ippool_stats s;

	ippool_get_stats(p, &s);
	assert_true(s.size == s.free + s.used + s.held + s.quarantined);
	return s;
}

static enum ippool_state state(const struct ippool *p, const char *addr)
{
	struct wg_allowedip a = A(addr);
	enum ippool_state st;

	assert_int_equal(ippool_lookup(p, &a, &st, NULL), 0);
	return st;
}

static void test_prefix_parse(void **unused)
{
	struct wg_allowedip p, sentinel;

	assert_int_equal(ippool_prefix_parse("10.8.0.0/16", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.cidr, 16);
	assert_int_equal(ippool_prefix_parse("fd42:8::/64", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.cidr, 64);
	assert_int_equal(ippool_prefix_parse("10.0.0.0/8", &p), 0);
	assert_int_equal(ippool_prefix_parse("10.8.0.0/30", &p), 0);
	assert_int_equal(ippool_prefix_parse("fd42::100/120", &p), 0);
	assert_int_equal(ippool_prefix_parse("fd42::/126", &p), 0);

	memset(&sentinel, 0x5a, sizeof(sentinel));
	const char *bad[] = {
		"10.8.0.1/16",  /* host bits */
		"10.8.0.0/31",  "10.8.0.0/32", "10.0.0.0/7", "0.0.0.0/0", "10.8.0.0/33",
		"10.8.0.0",     /* no mask */
		"fd42:8::/63",  "fd42:8::/127", "fd42:8::/128", "fd42:8::1/64", "fd42:8::/129",
		"10.8.0.0/16 ", " 10.8.0.0/16", "10.8.0.0/", "/16", "", "junk",
		"10.8.0.0-10.8.0.5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = sentinel;
		assert_int_equal(ippool_prefix_parse(bad[i], &p), -EINVAL);
		assert_memory_equal(&p, &sentinel, sizeof(p));
	}
	assert_int_equal(ippool_prefix_parse(NULL, &p), -EINVAL);
}

static void range_is(const struct wg_allowedip *pfx, const char *s, const char *first,
		     const char *last)
{
	struct ippool_range r;
	char b1[WG_ALLOWEDIP_STRLEN], b2[WG_ALLOWEDIP_STRLEN];

	assert_int_equal(ippool_range_parse(pfx, s, &r), 0);
	assert_string_equal(fmt(&r.first, b1), first);
	assert_string_equal(fmt(&r.last, b2), last);
}

static void test_range_parse(void **unused)
{
	struct wg_allowedip v4, v6;
	struct ippool_range r, sentinel;

	assert_int_equal(ippool_prefix_parse("10.8.0.0/24", &v4), 0);
	assert_int_equal(ippool_prefix_parse("fd42:8::/64", &v6), 0);
	range_is(&v4, "10.8.0.1", "10.8.0.1", "10.8.0.1");
	range_is(&v4, "10.8.0.1-10.8.0.20", "10.8.0.1", "10.8.0.20");
	range_is(&v4, "10.8.0.7-10.8.0.7", "10.8.0.7", "10.8.0.7");
	range_is(&v4, "10.8.0.64/27", "10.8.0.64", "10.8.0.95");
	range_is(&v4, "10.8.0.0/24", "10.8.0.0", "10.8.0.255");
	range_is(&v4, "10.8.0.9/32", "10.8.0.9", "10.8.0.9");
	range_is(&v6, "fd42:8::1-fd42:8::ff", "fd42:8::1", "fd42:8::ff");
	range_is(&v6, "fd42:8::/64", "fd42:8::", "fd42:8::ffff:ffff:ffff:ffff");
	range_is(&v6, "fd42:8::100/120", "fd42:8::100", "fd42:8::1ff");

	memset(&sentinel, 0x5a, sizeof(sentinel));
	const char *bad4[] = {
		"10.8.0.20-10.8.0.1", /* reversed */
		"10.8.0.1-10.8.1.1",  /* ends outside */
		"10.7.255.255-10.8.0.5",
		"10.9.0.1",
		"10.8.0.64/26x",
		"10.8.0.65/27", /* host bits */
		"10.8.0.0/23",  /* wider than the pool */
		"10.8.0.1-",
		"-10.8.0.1",
		"10.8.0.1 - 10.8.0.3",
		"10.8.0.1-10.8.0.3-10.8.0.4",
		"fd42:8::1",
		"",
		"10.8.0.256",
		"10.8.0.1/33",
	};
	for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
		r = sentinel;
		assert_int_equal(ippool_range_parse(&v4, bad4[i], &r), -EINVAL);
		assert_memory_equal(&r, &sentinel, sizeof(r));
	}
	const char *bad6[] = {"fd42:9::1", "fd42:8::ff-fd42:8::1", "fd42:8::/63", "10.8.0.1",
			      "fd42:8::1/64", "fd42:8::1-fd42:9::1"};
	for (size_t i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++)
		assert_int_equal(ippool_range_parse(&v6, bad6[i], &r), -EINVAL);
	assert_int_equal(ippool_range_parse(&v6, NULL, &r), -EINVAL);
	/* The pool prefix itself must be valid. */
	assert_int_equal(ippool_range_parse(&(struct wg_allowedip){.family = AF_INET, .cidr = 31},
					    "0.0.0.1", &r),
			 -EINVAL);
}

static void test_new_errors(void **unused)
{
	struct ippool_config c = {};
	struct ippool *p = (struct ippool *)&c;
	struct wg_allowedip srv;
	struct ippool_range r;

	assert_int_equal(ippool_prefix_parse("10.8.0.0/24", &c.prefix), 0);
	c.server = &srv;
	const char *bad_server[] = {"10.8.0.0", "10.8.0.255", "10.8.1.1", "fd42::1"};
	for (size_t i = 0; i < sizeof(bad_server) / sizeof(bad_server[0]); i++) {
		srv = A(bad_server[i]);
		assert_int_equal(ippool_new(&c, &p), -EINVAL);
		assert_ptr_equal(p, &c);
	}
	c.server = NULL;
	c.flags = 1U << 7;
	assert_int_equal(ippool_new(&c, &p), -EINVAL);
	c.flags = 0;
	r.first = A("10.8.0.9");
	r.last = A("10.8.0.3");
	c.reserved = &r;
	c.n_reserved = 1;
	assert_int_equal(ippool_new(&c, &p), -EINVAL);
	r.last = A("10.8.1.3");
	assert_int_equal(ippool_new(&c, &p), -EINVAL);
	c.reserved = NULL;
	assert_int_equal(ippool_new(&c, &p), -EINVAL);
	c.prefix.cidr = 31;
	c.n_reserved = 0;
	assert_int_equal(ippool_new(&c, &p), -EINVAL);
	assert_int_equal(ippool_new(NULL, &p), -EINVAL);
	assert_ptr_equal(p, &c);
	assert_null(ippool_free(NULL));
}

/* Allocate until -ENOSPC; return how many, checking each is FREE->USED and never twice. */
static uint64_t drain_pool(struct ippool *p, uint64_t now, const char *const *never, size_t n)
{
	struct wg_allowedip a;
	char buf[WG_ALLOWEDIP_STRLEN];
	uint64_t count = 0;
	int r;

	while ((r = ippool_alloc(p, now, &a)) == 0) {
		assert_int_equal(a.cidr, a.family == AF_INET ? 32 : 128);
		for (size_t i = 0; i < n; i++)
			assert_string_not_equal(fmt(&a, buf), never[i]);
		count++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(ippool_alloc(p, now, &a), -ENOSPC);
	return count;
}

static void test_exact_counts(void **unused)
{
	struct ippool *p;
	struct wg_allowedip a;
	char buf[WG_ALLOWEDIP_STRLEN];

	/* /30: network .0, broadcast .3, server .1: only .2 */
	for (int sparse = 0; sparse <= 1; sparse++) {
		p = pool_make("10.8.0.0/30", "10.8.0.1", NULL, 0, 0,
			      sparse ? IPPOOL_FORCE_SPARSE : 0);
		assert_int_equal(stats(p).size, 1);
		assert_int_equal(ippool_alloc(p, 0, &a), 0);
		assert_string_equal(fmt(&a, buf), "10.8.0.2");
		assert_int_equal(ippool_alloc(p, 0, &a), -ENOSPC);
		assert_int_equal(stats(p).used, 1);
		assert_int_equal(stats(p).free, 0);
		assert_int_equal(state(p, "10.8.0.0"), IPPOOL_RESERVED);
		assert_int_equal(state(p, "10.8.0.1"), IPPOOL_RESERVED);
		assert_int_equal(state(p, "10.8.0.2"), IPPOOL_USED);
		assert_int_equal(state(p, "10.8.0.3"), IPPOOL_RESERVED);
		p = ippool_free(p);
		assert_null(p);
	}

	/* /30 without a server: 2 */
	p = pool_make("10.8.0.0/30", NULL, NULL, 0, 0, 0);
	assert_int_equal(stats(p).size, 2);
	assert_int_equal(drain_pool(p, 0, (const char *[]){"10.8.0.0", "10.8.0.3"}, 2), 2);
	ippool_free(p);

	/* /29: 8 - network - broadcast - server */
	p = pool_make("10.8.0.0/29", "10.8.0.1", NULL, 0, 0, 0);
	assert_int_equal(stats(p).size, 5);
	assert_int_equal(drain_pool(p, 0, (const char *[]){"10.8.0.0", "10.8.0.1", "10.8.0.7"}, 3),
			 5);
	ippool_free(p);

	/* /24 with overlapping reserved entries: the server inside a range, the broadcast
	 * inside a prefix; .1-.20 (20), .15-.30 (adds 10), .200/29 (8), .250-.255 (5 new). */
	const char *res[] = {"10.8.0.1-10.8.0.20", "10.8.0.15-10.8.0.30", "10.8.0.200/29",
			     "10.8.0.250-10.8.0.255", "10.8.0.100"};
	for (int sparse = 0; sparse <= 1; sparse++) {
		p = pool_make("10.8.0.0/24", "10.8.0.1", res, 5, 0,
			      sparse ? IPPOOL_FORCE_SPARSE : 0);
		uint64_t want = 256 - 1 /* .0 */ - 30 /* .1-.30 */ - 8 - 6 /* .250-.255 */ - 1;
		assert_int_equal(stats(p).size, want);
		const char *never[] = {"10.8.0.0",   "10.8.0.1",   "10.8.0.20",
				       "10.8.0.30",  "10.8.0.100", "10.8.0.200",
				       "10.8.0.207", "10.8.0.250", "10.8.0.255"};
		assert_int_equal(drain_pool(p, 0, never, 9), want);
		assert_int_equal(state(p, "10.8.0.31"), IPPOOL_USED);
		assert_int_equal(state(p, "10.8.0.208"), IPPOOL_USED);
		assert_int_equal(state(p, "10.8.0.249"), IPPOOL_USED);
		ippool_free(p);
	}

	/* IPv6 /126: ::0 is the subnet-router anycast address, ::1 the server. */
	p = pool_make("fd42::/126", "fd42::1", NULL, 0, 0, 0);
	assert_int_equal(stats(p).size, 2);
	assert_int_equal(drain_pool(p, 0, (const char *[]){"fd42::", "fd42::1"}, 2), 2);
	assert_int_equal(state(p, "fd42::3"), IPPOOL_USED); /* no broadcast in IPv6 */
	ippool_free(p);

	/* IPv6 /64: 2^64 - anycast - server - 16 reserved */
	p = pool_make("fd42:8::/64", "fd42:8::1", (const char *[]){"fd42:8::10-fd42:8::1f"}, 1,
		      0, 0);
	assert_true(stats(p).size == UINT64_MAX - 1 - 16);
	ippool_free(p);
}

static void test_exhaust_unique(void **unused)
{
	/* /20: 4096 - network - broadcast - server; each address seen once. */
	for (int sparse = 0; sparse <= 1; sparse++) {
		struct ippool *p = pool_make("10.16.0.0/20", "10.16.0.1", NULL, 0, 30,
					     sparse ? IPPOOL_FORCE_SPARSE : 0);
		uint8_t seen[4096 / 8] = {};
		struct wg_allowedip a;
		unsigned n = 0;

		while (ippool_alloc(p, 1000, &a) == 0) {
			uint32_t h = ntohl(a.ip4.s_addr) - 0x0a100000;

			assert_true(h > 1 && h < 4095);
			assert_false(seen[h / 8] & (1U << (h % 8)));
			seen[h / 8] |= 1U << (h % 8);
			n++;
		}
		assert_int_equal(n, 4093);
		assert_int_equal(ippool_alloc(p, 1000, &a), -ENOSPC);

		/* Release one: quarantined, so still exhausted until its deadline. */
		a = A("10.16.7.7");
		assert_int_equal(ippool_release(p, &a, 1000), 0);
		assert_int_equal(stats(p).quarantined, 1);
		assert_int_equal(ippool_alloc(p, 1029, &a), -ENOSPC);
		assert_int_equal(ippool_alloc(p, 1030, &a), 0);
		assert_true(a.ip4.s_addr == A("10.16.7.7").ip4.s_addr);
		assert_int_equal(ippool_alloc(p, 5000, &a), -ENOSPC);
		assert_int_equal(stats(p).used, 4093);
		ippool_free(p);
	}
}

static void test_quarantine(void **unused)
{
	struct ippool *p = pool_make("10.8.0.0/29", "10.8.0.1", NULL, 0, 60, 0);
	struct wg_allowedip a, b, x = A("10.8.0.2");
	enum ippool_state st;
	uint64_t deadline = 7;

	assert_int_equal(ippool_claim(p, &x, 100), 0);
	assert_int_equal(ippool_release(p, &x, 100), 0);
	assert_int_equal(ippool_lookup(p, &x, &st, &deadline), 0);
	assert_int_equal(st, IPPOOL_QUARANTINED);
	assert_int_equal(deadline, 160);
	assert_int_equal(ippool_release(p, &x, 100), -ENOENT); /* twice */
	assert_int_equal(ippool_hold(p, &x), -ENOENT);
	assert_int_equal(ippool_claim(p, &x, 159), -EADDRINUSE);

	/* The other four go; the quarantined one is not handed out before its deadline. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ippool_alloc(p, 159, &a), 0);
		assert_false(a.ip4.s_addr == x.ip4.s_addr);
	}
	assert_int_equal(ippool_alloc(p, 159, &a), -ENOSPC);
	ippool_expire(p, 159);
	assert_int_equal(stats(p).quarantined, 1);
	ippool_expire(p, 160);
	assert_int_equal(stats(p).quarantined, 0);
	assert_int_equal(stats(p).free, 1);
	assert_int_equal(ippool_alloc(p, 160, &b), 0);
	assert_true(b.ip4.s_addr == x.ip4.s_addr);

	/* A clock stepped back, and restored deadlines out of order, still expire in time. */
	ippool_free(p);
	p = pool_make("10.8.0.0/24", NULL, NULL, 0, 60, 0);
	const char *addrs[] = {"10.8.0.10", "10.8.0.11", "10.8.0.12", "10.8.0.13", "10.8.0.14"};
	const uint64_t when[] = {500, 100, 300, 200, 400}; /* release times */
	for (size_t i = 0; i < 5; i++) {
		x = A(addrs[i]);
		assert_int_equal(ippool_claim(p, &x, 0), 0);
		assert_int_equal(ippool_release(p, &x, when[i]), 0);
	}
	x = A("10.8.0.20");
	assert_int_equal(ippool_restore(p, &x, IPPOOL_QUARANTINED, 50), 0);
	x = A("10.8.0.21");
	assert_int_equal(ippool_restore(p, &x, IPPOOL_QUARANTINED, UINT64_MAX), 0);
	assert_int_equal(ippool_lookup(p, &x, &st, &deadline), 0);
	assert_true(deadline == IPPOOL_DEADLINE_MAX);
	for (uint64_t t = 0; t <= 600; t++) {
		ippool_expire(p, t);
		for (size_t i = 0; i < 5; i++)
			assert_int_equal(state(p, addrs[i]),
					 t >= when[i] + 60 ? IPPOOL_FREE : IPPOOL_QUARANTINED);
		assert_int_equal(state(p, "10.8.0.20"),
				 t >= 50 ? IPPOOL_FREE : IPPOOL_QUARANTINED);
	}
	assert_int_equal(state(p, "10.8.0.21"), IPPOOL_QUARANTINED);
	assert_int_equal(stats(p).quarantined, 1);
	ippool_free(p);

	/* A quarantine longer than time itself saturates instead of wrapping. */
	p = pool_make("10.8.0.0/30", NULL, NULL, 0, UINT64_MAX - 5, 0);
	x = A("10.8.0.1");
	assert_int_equal(ippool_claim(p, &x, 0), 0);
	assert_int_equal(ippool_release(p, &x, 1000), 0);
	assert_int_equal(ippool_lookup(p, &x, &st, &deadline), 0);
	assert_true(deadline == IPPOOL_DEADLINE_MAX);
	ippool_expire(p, UINT64_MAX - 1);
	assert_int_equal(state(p, "10.8.0.1"), IPPOOL_FREE);
	ippool_free(p);

	/* Quarantine 0: free at once. */
	p = pool_make("10.8.0.0/30", NULL, NULL, 0, 0, 0);
	x = A("10.8.0.1");
	assert_int_equal(ippool_claim(p, &x, 0), 0);
	assert_int_equal(ippool_release(p, &x, 0), 0);
	assert_int_equal(state(p, "10.8.0.1"), IPPOOL_FREE);
	assert_int_equal(ippool_claim(p, &x, 0), 0);
	ippool_free(p);
}

static void test_held(void **unused)
{
	for (int sparse = 0; sparse <= 1; sparse++) {
		struct ippool *p = pool_make("10.8.0.0/28", "10.8.0.1", NULL, 0, 0,
					     sparse ? IPPOOL_FORCE_SPARSE : 0);
		struct wg_allowedip a, h1 = A("10.8.0.5"), h2 = A("10.8.0.9");

		assert_int_equal(ippool_claim(p, &h1, 0), 0);
		assert_int_equal(ippool_hold(p, &h1), 0);
		assert_int_equal(ippool_hold(p, &h1), 0); /* idempotent */
		assert_int_equal(ippool_restore(p, &h2, IPPOOL_HELD, 99), 0);
		assert_int_equal(stats(p).held, 2);
		assert_int_equal(stats(p).used, 0);

		/* Churn the rest many times round: the held ones never come back. */
		for (int round = 0; round < 50; round++) {
			struct wg_allowedip got[16];
			int n = 0;

			while (ippool_alloc(p, 0, &got[n]) == 0) {
				assert_false(got[n].ip4.s_addr == h1.ip4.s_addr);
				assert_false(got[n].ip4.s_addr == h2.ip4.s_addr);
				n++;
			}
			assert_int_equal(n, 14 - 1 - 2);
			for (int i = 0; i < n; i++)
				assert_int_equal(ippool_release(p, &got[i], 0), 0);
		}
		assert_int_equal(ippool_claim(p, &h1, 0), -EADDRINUSE);
		assert_int_equal(state(p, "10.8.0.9"), IPPOOL_HELD);
		assert_int_equal(ippool_unhold(p, &h2), 0);
		assert_int_equal(ippool_unhold(p, &h2), 0);
		assert_int_equal(state(p, "10.8.0.9"), IPPOOL_USED);
		assert_int_equal(stats(p).held, 1);
		assert_int_equal(stats(p).used, 1);
		/* Releasing a held address ends the hold. */
		assert_int_equal(ippool_release(p, &h1, 0), 0);
		assert_int_equal(state(p, "10.8.0.5"), IPPOOL_FREE);
		assert_int_equal(stats(p).held, 0);
		a = A("10.8.0.6");
		assert_int_equal(ippool_hold(p, &a), -ENOENT);
		assert_int_equal(ippool_unhold(p, &a), -ENOENT);
		ippool_free(p);
	}
}

static void test_claim_errors(void **unused)
{
	const char *res[] = {"10.8.0.2-10.8.0.9"};
	struct ippool *p = pool_make("10.8.0.0/24", "10.8.0.1", res, 1, 60, 0);
	struct wg_allowedip x;
	enum ippool_state st = 99;

	const char *unavailable[] = {"10.8.0.0", "10.8.0.1", "10.8.0.5", "10.8.0.255", "10.8.1.10",
				     "10.9.0.10", "fd42::10"};
	for (size_t i = 0; i < sizeof(unavailable) / sizeof(unavailable[0]); i++) {
		x = A(unavailable[i]);
		assert_int_equal(ippool_claim(p, &x, 0), -EADDRNOTAVAIL);
		assert_int_equal(ippool_release(p, &x, 0), -EADDRNOTAVAIL);
		assert_int_equal(ippool_hold(p, &x), -EADDRNOTAVAIL);
		assert_int_equal(ippool_unhold(p, &x), -EADDRNOTAVAIL);
		assert_int_equal(ippool_restore(p, &x, IPPOOL_USED, 0), -EADDRNOTAVAIL);
	}
	assert_int_equal(ippool_claim(p, NULL, 0), -EADDRNOTAVAIL);
	x = A("10.8.1.10");
	assert_int_equal(ippool_lookup(p, &x, &st, NULL), -EADDRNOTAVAIL);
	assert_int_equal(st, 99);

	x = A("10.8.0.10");
	assert_int_equal(ippool_release(p, &x, 0), -ENOENT);
	assert_int_equal(ippool_claim(p, &x, 0), 0);
	assert_int_equal(ippool_claim(p, &x, 0), -EADDRINUSE);
	assert_int_equal(ippool_restore(p, &x, IPPOOL_USED, 0), -EADDRINUSE);
	assert_int_equal(ippool_restore(p, &x, IPPOOL_FREE, 0), -EINVAL);
	assert_int_equal(ippool_restore(p, &x, IPPOOL_RESERVED, 0), -EINVAL);
	assert_int_equal(ippool_hold(p, &x), 0);
	assert_int_equal(ippool_claim(p, &x, 0), -EADDRINUSE);
	assert_int_equal(ippool_release(p, &x, 0), 0);
	assert_int_equal(ippool_claim(p, &x, 59), -EADDRINUSE);
	assert_int_equal(ippool_claim(p, &x, 60), 0);

	/* The cidr of a given address does not matter; the claim did not move the cursor. */
	struct wg_allowedip a;
	char buf[WG_ALLOWEDIP_STRLEN];
	x = A("10.8.0.11/24");
	assert_int_equal(ippool_claim(p, &x, 60), 0);
	assert_int_equal(ippool_alloc(p, 60, &a), 0);
	assert_string_equal(fmt(&a, buf), "10.8.0.12");
	assert_int_equal(stats(p).used, 3);
	assert_int_equal(stats(p).size, 256 - 2 - 1 - 8);
	ippool_free(p);
}

static void test_ipv6(void **unused)
{
	/* A /64: sequential, never the anycast address, memory follows use. */
	struct ippool *p = pool_make("fd42:8::/64", "fd42:8::1", NULL, 0, 0, 0);
	struct wg_allowedip a, first;
	char buf[WG_ALLOWEDIP_STRLEN];
	size_t base = ippool_memory_bytes(p);

	assert_true(base < 4096);
	assert_int_equal(ippool_alloc(p, 0, &first), 0);
	assert_string_equal(fmt(&first, buf), "fd42:8::2");
	for (int i = 1; i < 100000; i++) {
		assert_int_equal(ippool_alloc(p, 0, &a), 0);
		uint8_t host_bits = 0;

		for (int k = 8; k < 16; k++)
			host_bits |= a.ip6.s6_addr[k];
		assert_true(host_bits != 0); /* not the subnet-router anycast address */
	}
	assert_string_equal(fmt(&a, buf), "fd42:8::1:86a1"); /* 100001 */
	assert_int_equal(stats(p).used, 100000);
	assert_true(ippool_memory_bytes(p) < 100000 * 48);
	/* Released, memory goes back. */
	for (int i = 0; i < 100000; i++) {
		struct wg_allowedip x = first;

		x.ip6.s6_addr[13] = (uint8_t)((i + 2) >> 16);
		x.ip6.s6_addr[14] = (uint8_t)((i + 2) >> 8);
		x.ip6.s6_addr[15] = (uint8_t)(i + 2);
		assert_int_equal(ippool_release(p, &x, 0), 0);
	}
	assert_int_equal(stats(p).used, 0);
	assert_true(ippool_memory_bytes(p) < 4096);
	ippool_free(p);

	/* Reserved spans are jumped over, not walked: the rest of the low 2^32 is reserved. */
	p = pool_make("fd42:8::/64", "fd42:8::1", (const char *[]){"fd42:8::2-fd42:8::ffff:ffff"},
		      1, 0, 0);
	assert_int_equal(ippool_alloc(p, 0, &a), 0);
	assert_string_equal(fmt(&a, buf), "fd42:8::1:0:0");
	ippool_free(p);

	/* Wrapping past the top of a /64 skips the anycast address. */
	p = pool_make("fd42:8::/64", NULL,
		      (const char *[]){"fd42:8::1-fd42:8::ffff:ffff:ffff:fffd"}, 1, 0, 0);
	assert_true(stats(p).size == 2);
	assert_int_equal(ippool_alloc(p, 0, &a), 0);
	assert_string_equal(fmt(&a, buf), "fd42:8::ffff:ffff:ffff:fffe");
	assert_int_equal(ippool_alloc(p, 0, &a), 0);
	assert_string_equal(fmt(&a, buf), "fd42:8::ffff:ffff:ffff:ffff");
	assert_int_equal(ippool_alloc(p, 0, &a), -ENOSPC);
	assert_int_equal(ippool_release(p, &a, 0), 0);
	assert_int_equal(ippool_alloc(p, 0, &a), 0);
	assert_string_equal(fmt(&a, buf), "fd42:8::ffff:ffff:ffff:ffff");
	ippool_free(p);

	/* A /120 (dense) and the same forced sparse: all 254 addresses, never ::100. */
	for (int sparse = 0; sparse <= 1; sparse++) {
		p = pool_make("fd42:8::100/120", "fd42:8::101", NULL, 0, 0,
			      sparse ? IPPOOL_FORCE_SPARSE : 0);
		const char *never[] = {"fd42:8::100", "fd42:8::101"};
		assert_int_equal(drain_pool(p, 0, never, 2), 254);
		assert_int_equal(state(p, "fd42:8::1ff"), IPPOOL_USED);
		ippool_free(p);
	}
}

/* ---- restore: enumerate one pool, rebuild another, compare ---- */

struct entry {
	struct wg_allowedip addr;
	enum ippool_state state;
	uint64_t deadline;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static int collect(const struct wg_allowedip *addr, enum ippool_state st, uint64_t deadline,
		   void *userdata)
{
	struct entries *e = userdata;

	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		assert_non_null(e->v);
	}
	e->v[e->n++] = (struct entry){*addr, st, deadline};
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return memcmp(&x->addr.ip6, &y->addr.ip6, 16);
}

static struct entries snapshot(const struct ippool *p)
{
	struct entries e = {};

	assert_int_equal(ippool_foreach(p, collect, &e), 0);
	for (size_t i = 0; i < e.n; i++) /* IPv4 addresses: clear the rest of the union */
		if (e.v[i].addr.family == AF_INET)
			memset((uint8_t *)&e.v[i].addr.ip6 + 4, 0, 12);
	if (e.n)
		qsort(e.v, e.n, sizeof(*e.v), entry_cmp);
	return e;
}

static void assert_same(const struct ippool *a, const struct ippool *b)
{
	struct entries x = snapshot(a), y = snapshot(b);
	struct ippool_stats sa = stats(a), sb = stats(b);

	assert_memory_equal(&sa, &sb, sizeof(sa));
	assert_int_equal(x.n, y.n);
	assert_int_equal(x.n, sa.used + sa.held + sa.quarantined);
	for (size_t i = 0; i < x.n; i++) {
		assert_int_equal(entry_cmp(&x.v[i], &y.v[i]), 0);
		assert_int_equal(x.v[i].state, y.v[i].state);
		assert_true(x.v[i].deadline == y.v[i].deadline);
	}
	free(x.v);
	free(y.v);
}

static uint64_t rng_state = 0x243f6a8885a308d3;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void restore_case(const char *prefix, const char *server, uint32_t flags)
{
	struct ippool *p = pool_make(prefix, server, NULL, 0, 100, flags), *q;
	struct entries got = {};
	uint64_t now = 1000;

	/* Churn: allocations, releases at varying times, holds. */
	for (int i = 0; i < 3000; i++) {
		struct wg_allowedip a;

		if (ippool_alloc(p, now, &a) == 0)
			collect(&a, IPPOOL_USED, 0, &got);
		if (got.n && rnd() % 3 == 0) {
			size_t k = rnd() % got.n;

			assert_int_equal(ippool_release(p, &got.v[k].addr, now), 0);
			got.v[k] = got.v[--got.n];
		}
		if (got.n && rnd() % 7 == 0)
			assert_int_equal(ippool_hold(p, &got.v[rnd() % got.n].addr), 0);
		now += rnd() % 3;
	}
	assert_true(stats(p).held > 0 && stats(p).quarantined > 0);

	/* Rebuild from the enumeration, in a shuffled order. */
	struct entries e = snapshot(p);
	for (size_t i = e.n; i > 1; i--) {
		size_t j = rnd() % i;
		struct entry t = e.v[i - 1];

		e.v[i - 1] = e.v[j];
		e.v[j] = t;
	}
	q = pool_make(prefix, server, NULL, 0, 100, flags);
	for (size_t i = 0; i < e.n; i++)
		assert_int_equal(ippool_restore(q, &e.v[i].addr, e.v[i].state, e.v[i].deadline), 0);
	assert_same(p, q);

	/* And they age the same way. */
	for (uint64_t t = now; t < now + 120; t += 7) {
		ippool_expire(p, t);
		ippool_expire(q, t);
		assert_same(p, q);
	}
	free(e.v);
	free(got.v);
	ippool_free(p);
	ippool_free(q);
}

static void test_restore(void **unused)
{
	restore_case("10.8.0.0/20", "10.8.0.1", 0);
	restore_case("10.8.0.0/20", "10.8.0.1", IPPOOL_FORCE_SPARSE);
	restore_case("fd42:8::/64", "fd42:8::1", 0);
}

/* The same operations on the dense and sparse forms give the same answers. */
static void test_dense_equals_sparse(void **unused)
{
	const char *res[] = {"10.8.0.30-10.8.0.33"};
	struct ippool *d = pool_make("10.8.0.0/26", "10.8.0.1", res, 1, 5, 0);
	struct ippool *s = pool_make("10.8.0.0/26", "10.8.0.1", res, 1, 5, IPPOOL_FORCE_SPARSE);
	uint64_t now = 0;

	for (int i = 0; i < 20000; i++) {
		struct wg_allowedip a, b, x;
		int op = (int)(rnd() % 6), rd, rs;

		memset(&x, 0, sizeof(x));
		x.family = AF_INET;
		x.ip4.s_addr = htonl(0x0a080000 | (uint32_t)(rnd() % 64));
		switch (op) {
		case 0:
			memset(&a, 0, sizeof(a));
			memset(&b, 0, sizeof(b));
			rd = ippool_alloc(d, now, &a);
			rs = ippool_alloc(s, now, &b);
			assert_memory_equal(&a, &b, sizeof(a));
			break;
		case 1:
			rd = ippool_claim(d, &x, now);
			rs = ippool_claim(s, &x, now);
			break;
		case 2:
			rd = ippool_release(d, &x, now);
			rs = ippool_release(s, &x, now);
			break;
		case 3:
			rd = ippool_hold(d, &x);
			rs = ippool_hold(s, &x);
			break;
		case 4:
			rd = ippool_unhold(d, &x);
			rs = ippool_unhold(s, &x);
			break;
		default:
			now += rnd() % 4;
			rd = rs = 0;
			break;
		}
		assert_int_equal(rd, rs);
		if (i % 64 == 0)
			assert_same(d, s);
	}
	assert_same(d, s);
	ippool_free(d);
	ippool_free(s);
}

/* Fill a big IPv4 pool completely: no duplicates, exact count, still fast when full. */
static void fill_case(const char *prefix, const char *server, uint64_t want)
{
	struct ippool *p = pool_make(prefix, server, NULL, 0, 0, 0);
	struct wg_allowedip a, x;
	uint64_t n = 0, base;
	uint8_t *seen;
	unsigned cidr = ippool_prefix(p)->cidr;

	seen = calloc(((size_t)1 << (32 - cidr)) / 8, 1);
	assert_non_null(seen);
	base = ntohl(ippool_prefix(p)->ip4.s_addr);
	while (ippool_alloc(p, 0, &a) == 0) {
		uint64_t h = ntohl(a.ip4.s_addr) - base;

		assert_false(seen[h / 8] & (1U << (h % 8)));
		seen[h / 8] |= (uint8_t)(1U << (h % 8));
		n++;
	}
	assert_true(n == want);
	assert_true(stats(p).used == want && stats(p).free == 0);
	/* Full: free scattered addresses and get exactly those back. */
	for (uint64_t h = 1000; h < want; h += want / 7) {
		x = a;
		x.ip4.s_addr = htonl((uint32_t)(base + h));
		assert_int_equal(ippool_release(p, &x, 0), 0);
	}
	for (uint64_t h = 1000; h < want; h += want / 7) {
		assert_int_equal(ippool_alloc(p, 0, &a), 0);
		assert_true(ntohl(a.ip4.s_addr) - base == h);
	}
	assert_int_equal(ippool_alloc(p, 0, &a), -ENOSPC);
	free(seen);
	ippool_free(p);
}

static void test_fill(void **unused)
{
	fill_case("10.16.0.0/12", "10.16.0.1", (1U << 20) - 3);
	fill_case("10.0.0.0/8", "10.0.0.1", (1U << 24) - 3); /* under a second with ASan */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_range_parse),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_exact_counts),
		cmocka_unit_test(test_exhaust_unique),
		cmocka_unit_test(test_quarantine),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_claim_errors),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_dense_equals_sparse),
		cmocka_unit_test(test_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
