// SPDX-License-Identifier: MIT
/*
 * Address pool benchmark: allocate/release cycles per second on an IPv4 /8 (empty, and
 * 99% full with random releases, with and without quarantine), on an IPv6 /64, and the
 * memory of a completely full /8. Goals (issue 3): >= 5 million cycles/s, <= 4 MB.
 *
 * usage: bench_ippool [CYCLES]   (default 1000000)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ippool.h"

int main(int argc, char **argv);

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_ippool: %s: %s\n", what, strerror(-r));
	exit(1);
}

static struct ippool *make(const char *prefix, const char *server, uint64_t quarantine)
{
	struct ippool_config c = {.quarantine_seconds = quarantine};
	struct wg_allowedip srv;
	struct ippool *p;
	int r;

	if ((r = ippool_prefix_parse(prefix, &c.prefix)) < 0 ||
	    (r = wg_allowedip_parse(server, &srv)) < 0)
		die(prefix, r);
	c.server = &srv;
	r = ippool_new(&c, &p);
	if (r < 0)
		die("ippool_new", r);
	return p;
}

static void fill(struct ippool *p)
{
	struct wg_allowedip a;
	int r;

	while ((r = ippool_alloc(p, 0, &a)) == 0)
		;
	if (r != -ENOSPC)
		die("fill", r);
}

static void report(const char *name, unsigned long cycles, double t)
{
	printf("%-52s %9.2f M cycles/s  (%lu cycles, %.1f ns each)\n", name, cycles / t / 1e6,
	       cycles, t / cycles * 1e9);
}

/* Allocate one, release it, over and over (quarantine 0: the address recycles). */
static void bench_empty(unsigned long cycles)
{
	struct ippool *p = make("10.0.0.0/8", "10.0.0.1", 0);
	struct wg_allowedip a;
	double t;
	int r;

	t = seconds();
	for (unsigned long i = 0; i < cycles; i++) {
		if ((r = ippool_alloc(p, 0, &a)) < 0 || (r = ippool_release(p, &a, 0)) < 0)
			die("cycle", r);
	}
	report("/8 empty, alloc+release, quarantine 0", cycles, seconds() - t);
	ippool_free(p);
}

/*
 * A /8 filled, then 1% released at random places; each cycle allocates one and releases a
 * random used address. With quarantine, time advances 1 s every 1000 cycles so the
 * quarantine queue stays about 60,000 deep.
 */
static void bench_churn(unsigned long cycles, uint64_t quarantine)
{
	struct ippool *p = make("10.0.0.0/8", "10.0.0.1", quarantine);
	struct wg_allowedip a, x;
	uint64_t now = 0;
	char name[80];
	double t;
	int r;

	memset(&x, 0, sizeof(x));
	x.family = AF_INET;
	fill(p);
	for (uint32_t h = 2; h < (1U << 24) - 1; h += 100) {
		x.ip4.s_addr = htonl(0x0a000000 | h);
		ippool_release(p, &x, 0);
	}
	ippool_expire(p, quarantine + 1);
	now = quarantine + 1;

	t = seconds();
	for (unsigned long i = 0; i < cycles; i++) {
		if ((r = ippool_alloc(p, now, &a)) < 0)
			die("alloc", r);
		do
			x.ip4.s_addr = htonl(0x0a000000 | (uint32_t)(rnd() & 0xffffff));
		while (ippool_release(p, &x, now) < 0);
		if (i % 1000 == 999)
			now++;
	}
	snprintf(name, sizeof(name), "/8 99%% full, alloc+random release, quarantine %llu",
		 (unsigned long long)quarantine);
	report(name, cycles, seconds() - t);
	ippool_free(p);
}

/* An IPv6 /64 with 50,000 addresses in use; allocate one, release the oldest. */
static void bench_v6(unsigned long cycles)
{
	struct ippool *p = make("fd42:8::/64", "fd42:8::1", 0);
	struct wg_allowedip *ring = calloc(50000, sizeof(*ring));
	double t;
	int r;

	if (!ring)
		die("calloc", -ENOMEM);
	for (int i = 0; i < 50000; i++)
		if ((r = ippool_alloc(p, 0, &ring[i])) < 0)
			die("alloc", r);
	t = seconds();
	for (unsigned long i = 0; i < cycles; i++) {
		struct wg_allowedip *old = &ring[i % 50000];

		if ((r = ippool_release(p, old, 0)) < 0 || (r = ippool_alloc(p, 0, old)) < 0)
			die("cycle", r);
	}
	report("IPv6 /64 with 50,000 used, alloc+release", cycles, seconds() - t);
	printf("%-52s %9.2f MiB\n", "  memory of that /64 pool",
	       ippool_memory_bytes(p) / 1048576.0);
	free(ring);
	ippool_free(p);
}

static void bench_memory(void)
{
	struct mallinfo2 before = mallinfo2(), after;
	struct ippool *p = make("10.0.0.0/8", "10.0.0.1", 60);
	struct ippool_stats s;
	double t;

	t = seconds();
	fill(p);
	t = seconds() - t;
	after = mallinfo2();
	ippool_get_stats(p, &s);
	printf("%-52s %9.2f M allocs/s  (%llu addresses in %.3f s)\n", "/8 filled from empty",
	       s.used / t / 1e6, (unsigned long long)s.used, t);
	printf("%-52s %9.3f MiB (%zu bytes; malloc in use grew %zu bytes)\n",
	       "memory of a full /8 pool", ippool_memory_bytes(p) / 1048576.0,
	       ippool_memory_bytes(p), (after.uordblks + after.hblkhd) -
					       (before.uordblks + before.hblkhd));
	ippool_free(p);
}

int main(int argc, char **argv)
{
	unsigned long cycles = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;

	if (!cycles)
		cycles = 1000000;
	bench_memory();
	bench_empty(cycles);
	bench_churn(cycles, 0);
	bench_churn(cycles, 60);
	bench_v6(cycles);
	return 0;
}
