/* SPDX-License-Identifier: MIT */
/*
 * The agent's address pool: one IPv4 or IPv6 prefix from which peers get their tunnel
 * addresses. Pure code: no I/O, no clock, no logging. Time is whatever the caller passes
 * as `now` (seconds on any fixed epoch; use wall-clock seconds if deadlines are persisted
 * across reboots, since a monotonic clock restarts at boot).
 *
 * Every address of the prefix is in exactly one state:
 *   RESERVED     never handed out: the network address (the IPv6 subnet-router anycast
 *                address), the IPv4 broadcast address, the server's own address and every
 *                configured reserved address or range;
 *   FREE         may be returned by ippool_alloc() or taken by ippool_claim();
 *   USED         assigned to a peer;
 *   HELD         assigned to a disabled peer: like USED, counted apart, so that code that
 *                garbage-collects unowned addresses can tell them from leaks;
 *   QUARANTINED  released; becomes FREE once `now >= deadline` at the next ippool_alloc(),
 *                ippool_claim() or ippool_expire().
 *
 * Cost: alloc, claim, release, hold and unhold are O(1) amortized. IPv4 pools and small
 * IPv6 pools (at most 2^20 addresses) keep a hierarchical bitmap (2.03 MiB for a /8);
 * larger IPv6 pools keep only the non-free addresses in a hash table, so memory follows
 * the number of addresses in use. Allocation continues from a rotating cursor
 * (lowest free address after the last one handed out, wrapping), so a released address
 * is reused as late as possible even after its quarantine.
 *
 * Addresses are struct wg_allowedip: returned ones have cidr 32 or 128 (ready for a peer's
 * allowed IPs); the cidr of an address passed in is ignored.
 *
 * Errors: 0 or -errno. ret_* outputs are written only on success. -ENOMEM leaves the pool
 * as it was. Ownership: ippool_new() returns a pool the caller frees with ippool_free()
 * (NULL-safe, returns NULL); the config is copied. Not thread-safe: one owner at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgdev.h"

struct ippool;

enum ippool_state {
	IPPOOL_FREE = 0,
	IPPOOL_USED = 1,
	IPPOOL_HELD = 2,
	IPPOOL_QUARANTINED = 3,
	IPPOOL_RESERVED = 4,
};

/* Deadlines saturate here (about 1.5e11 years in seconds). */
#define IPPOOL_DEADLINE_MAX ((UINT64_C(1) << 62) - 1)

enum {
	/* Keep the sparse (hash table) representation even for a small pool: for tests and
	 * fuzzing, which compare both representations on the same prefix. */
	IPPOOL_FORCE_SPARSE = 1U << 0,
	IPPOOL_FLAGS_ALL = (1U << 1) - 1,
};

/* Inclusive range of addresses of one family; cidr fields are ignored. */
struct ippool_range {
	struct wg_allowedip first, last;
};

struct ippool_config {
	struct wg_allowedip prefix;        /* see ippool_prefix_validate() */
	const struct wg_allowedip *server; /* NULL: none; else a host address of the prefix */
	const struct ippool_range *reserved;
	size_t n_reserved;           /* ranges inside the prefix; may overlap each other */
	uint64_t quarantine_seconds; /* 0: a released address is FREE at once */
	uint32_t flags;              /* IPPOOL_FORCE_SPARSE */
};

/* Disjoint counts: size = free + used + held + quarantined (RESERVED is not in size). */
struct ippool_stats {
	uint64_t size, free, used, held, quarantined;
};

/*
 * 0 if prefix can be a pool: IPv4 /8 to /30, IPv6 /64 to /126, host bits zero. Else
 * -EINVAL.
 */
int ippool_prefix_validate(const struct wg_allowedip *prefix);

/* A pool prefix from config text ("10.8.0.0/16", "fd42:8::/64"); the mask is required.
 * -EINVAL for junk or anything ippool_prefix_validate() rejects. */
int ippool_prefix_parse(const char *s, struct wg_allowedip *ret);

/*
 * A reserved entry of the pool prefix from config text: one address ("10.8.0.1"), a range
 * ("10.8.0.1-10.8.0.20", no spaces) or a prefix ("10.8.0.64/27", host bits zero). -EINVAL
 * for junk, another family, a reversed range, or any part outside prefix (which must be
 * valid).
 */
int ippool_range_parse(const struct wg_allowedip *prefix, const char *s, struct ippool_range *ret);

/* -EINVAL for a bad prefix, server, reserved range or flag; -ENOMEM. */
int ippool_new(const struct ippool_config *config, struct ippool **ret);
struct ippool *ippool_free(struct ippool *pool);

/*
 * Expire quarantine (as ippool_expire), then hand out the first FREE address at or after
 * the cursor and mark it USED. -ENOSPC when nothing is FREE (never a duplicate); -ENOMEM.
 */
int ippool_alloc(struct ippool *pool, uint64_t now, struct wg_allowedip *ret);

/*
 * Expire quarantine, then mark a specific FREE address USED (the controller asked for
 * it). -EADDRINUSE if USED, HELD or still QUARANTINED; -EADDRNOTAVAIL if RESERVED, of
 * another family or outside the prefix; -ENOMEM. Does not move the cursor.
 */
int ippool_claim(struct ippool *pool, const struct wg_allowedip *addr, uint64_t now);

/*
 * USED or HELD -> QUARANTINED until now + quarantine_seconds (FREE at once when that is
 * 0). -ENOENT if the address is FREE or QUARANTINED; -EADDRNOTAVAIL as for claim; -ENOMEM.
 */
int ippool_release(struct ippool *pool, const struct wg_allowedip *addr, uint64_t now);

/* USED -> HELD (HELD stays HELD). -ENOENT if FREE or QUARANTINED; -EADDRNOTAVAIL; -ENOMEM. */
int ippool_hold(struct ippool *pool, const struct wg_allowedip *addr);
/* HELD -> USED (USED stays USED). -ENOENT if FREE or QUARANTINED; -EADDRNOTAVAIL. */
int ippool_unhold(struct ippool *pool, const struct wg_allowedip *addr);

/*
 * Rebuild state at start from the agent's record: a FREE address becomes state (USED,
 * HELD, or QUARANTINED until deadline, which is ignored for the other two and clamped to
 * IPPOOL_DEADLINE_MAX). Entries may come in any order; nothing expires here, so an old
 * deadline is honoured by the next alloc/claim/expire. -EINVAL for another state;
 * -EADDRINUSE if the address is not FREE; -EADDRNOTAVAIL; -ENOMEM.
 */
int ippool_restore(struct ippool *pool, const struct wg_allowedip *addr, enum ippool_state state,
		   uint64_t deadline);

/* Turn every quarantined address whose deadline is <= now into FREE. */
void ippool_expire(struct ippool *pool, uint64_t now);

/*
 * State of one address of the prefix (RESERVED included), and for QUARANTINED its
 * deadline (else 0) in ret_deadline, which may be NULL. No expiry happens here.
 * -EADDRNOTAVAIL outside the prefix.
 */
int ippool_lookup(const struct ippool *pool, const struct wg_allowedip *addr,
		  enum ippool_state *ret_state, uint64_t *ret_deadline);

/*
 * Call fn for every USED, HELD and QUARANTINED address (deadline 0 unless QUARANTINED), in
 * an unspecified order; fn must not change the pool. A non-zero return of fn stops the
 * walk and is returned; else 0. Feeding each entry to ippool_restore() on a pool with the
 * same config rebuilds the same state.
 */
typedef int (*ippool_foreach_fn)(const struct wg_allowedip *addr, enum ippool_state state,
				 uint64_t deadline, void *userdata);
int ippool_foreach(const struct ippool *pool, ippool_foreach_fn fn, void *userdata);

/* Counts as of the last expiry (call ippool_expire() first for counts at now). */
void ippool_get_stats(const struct ippool *pool, struct ippool_stats *ret);
/* The prefix of the pool (cidr included). */
const struct wg_allowedip *ippool_prefix(const struct ippool *pool);
/* Bytes of heap the pool holds right now (its struct and every table). */
size_t ippool_memory_bytes(const struct ippool *pool);
