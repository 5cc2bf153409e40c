// SPDX-License-Identifier: MIT
/*
 * Address pool. Addresses are handled as host indices (the address minus the network
 * address, at most 64 bits since IPv6 pools are /64 or longer).
 *
 * Representation:
 * - RESERVED addresses are a sorted list of disjoint spans, found by binary search, so a
 *   reserved range costs 16 bytes whatever its length.
 * - Dense pools (IPv4, IPv6 up to 2^20 addresses) keep a bitmap with one "free" bit per
 *   address plus summary levels (a bit per word of the level below, set when that word
 *   has a free bit); finding the next free address from the cursor looks at a few words
 *   per level (4 levels for a /8), however full the pool is. USED is implied by a clear bit
 *   of an address that is neither RESERVED nor in the hash table.
 * - The hash table (open addressing, linear probing) holds HELD and QUARANTINED addresses,
 *   and for sparse pools also the USED ones, so memory follows the addresses in use.
 * - Quarantine deadlines are queued in release order. With a steady clock and one
 *   quarantine time they only grow, so a FIFO drained from its head is enough (O(1)); an
 *   entry that would break the order (a restored deadline, a clock stepped back) goes to a
 *   min-heap instead, and expiry pops from whichever head is due.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ippool.h"

#define DENSE_MAX_BITS 24 /* an IPv4 /8; a bitmap of 2 MiB */
#define DENSE_MAX_BITS_V6 20 /* 128 KiB; larger IPv6 pools are sparse */
#define LEVELS_MAX 4 /* 24 bits, 6 bits per level */
#define HASH_MIN_SLOTS 16
#define QUEUE_MIN 16

struct span {
	uint64_t first, last; /* host indices, inclusive */
};

struct qent {
	uint64_t host, deadline;
};

/* meta == 0: empty slot; else deadline << 2 | state (USED, HELD or QUARANTINED). */
struct slot {
	uint64_t host, meta;
};

struct ippool {
	struct wg_allowedip prefix;
	uint64_t net;  /* IPv4: the network in host order; IPv6: its low 64 bits */
	uint64_t mask; /* host bits */
	uint64_t quarantine;
	uint64_t cursor;
	uint64_t size, n_used, n_held, n_quarantined;
	bool dense;

	struct span *spans;
	size_t n_spans;

	uint64_t *level[LEVELS_MAX];
	uint64_t level_bits[LEVELS_MAX];
	unsigned n_levels;

	struct slot *slots;
	size_t n_slots, n_entries; /* n_slots: 0 or a power of two */
	unsigned slot_shift;

	struct qent *fifo; /* ring */
	size_t fifo_cap, fifo_head, fifo_len;
	struct qent *heap;
	size_t heap_cap, heap_len;

	size_t memory;
};

static inline uint64_t bit(uint64_t i)
{
	return UINT64_C(1) << (i & 63);
}

static inline unsigned ctz64(uint64_t x)
{
	return (unsigned)__builtin_ctzll(x);
}

static uint64_t saturating_deadline(uint64_t now, uint64_t seconds)
{
	if (now > IPPOOL_DEADLINE_MAX || seconds > IPPOOL_DEADLINE_MAX - now)
		return IPPOOL_DEADLINE_MAX;
	return now + seconds;
}

/* ---- addresses <-> host indices ---- */

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Prefix fields a pool and the parsers share; prefix must be valid. */
static void prefix_split(const struct wg_allowedip *prefix, uint64_t *net, uint64_t *mask)
{
	if (prefix->family == AF_INET) {
		*mask = (UINT64_C(1) << (32 - prefix->cidr)) - 1;
		*net = ntohl(prefix->ip4.s_addr);
	} else {
		*mask = prefix->cidr == 64 ? UINT64_MAX : (UINT64_C(1) << (128 - prefix->cidr)) - 1;
		*net = load_be64(prefix->ip6.s6_addr + 8);
	}
}

/* Host index of addr in prefix, or -EADDRNOTAVAIL if addr is not in it. */
static int host_in(const struct wg_allowedip *prefix, uint64_t net, uint64_t mask,
		   const struct wg_allowedip *addr, uint64_t *ret)
{
	uint64_t v;

	if (!addr || addr->family != prefix->family)
		return -EADDRNOTAVAIL;
	if (addr->family == AF_INET) {
		v = ntohl(addr->ip4.s_addr);
	} else {
		if (memcmp(addr->ip6.s6_addr, prefix->ip6.s6_addr, 8) != 0)
			return -EADDRNOTAVAIL;
		v = load_be64(addr->ip6.s6_addr + 8);
	}
	if ((v & ~mask) != net)
		return -EADDRNOTAVAIL;
	*ret = v & mask;
	return 0;
}

static int host_of(const struct ippool *p, const struct wg_allowedip *addr, uint64_t *ret)
{
	return host_in(&p->prefix, p->net, p->mask, addr, ret);
}

static void addr_of(const struct ippool *p, uint64_t host, struct wg_allowedip *ret)
{
	struct wg_allowedip a;

	memset(&a, 0, sizeof(a));
	a.family = p->prefix.family;
	if (a.family == AF_INET) {
		a.cidr = 32;
		a.ip4.s_addr = htonl((uint32_t)(p->net | host));
	} else {
		a.cidr = 128;
		memcpy(a.ip6.s6_addr, p->prefix.ip6.s6_addr, 8);
		store_be64(a.ip6.s6_addr + 8, p->net | host);
	}
	*ret = a;
}

/* ---- reserved spans ---- */

/* Index of the span holding host, or -1. */
static ssize_t span_find(const struct ippool *p, uint64_t host)
{
	size_t lo = 0, hi = p->n_spans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->spans[mid].first <= host)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && host <= p->spans[lo - 1].last)
		return (ssize_t)(lo - 1);
	return -1;
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sort and merge overlapping or adjacent spans in place. */
static size_t spans_merge(struct span *s, size_t n)
{
	size_t out = 0;

	qsort(s, n, sizeof(*s), span_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 &&
		    (s[out - 1].last == UINT64_MAX || s[i].first <= s[out - 1].last + 1)) {
			if (s[i].last > s[out - 1].last)
				s[out - 1].last = s[i].last;
			continue;
		}
		s[out++] = s[i];
	}
	return out;
}

/* ---- dense bitmap ---- */

static bool dense_is_free(const struct ippool *p, uint64_t host)
{
	return p->level[0][host >> 6] & bit(host);
}

static void dense_set_busy(struct ippool *p, uint64_t host)
{
	for (unsigned k = 0; k < p->n_levels; k++, host >>= 6) {
		uint64_t *w = &p->level[k][host >> 6];

		*w &= ~bit(host);
		if (*w)
			return; /* the word still has a free bit: summaries unchanged */
	}
}

static void dense_set_free(struct ippool *p, uint64_t host)
{
	for (unsigned k = 0; k < p->n_levels; k++, host >>= 6) {
		uint64_t *w = &p->level[k][host >> 6], was = *w;

		*w |= bit(host);
		if (was)
			return;
	}
}

/* Lowest free host >= pos, climbing the summary levels past full words. */
static bool dense_find(const struct ippool *p, uint64_t pos, uint64_t *ret)
{
	unsigned k = 0;
	uint64_t idx = 0;

	for (;;) {
		uint64_t w, bits;

		if (pos >= p->level_bits[k])
			return false;
		w = pos >> 6;
		bits = p->level[k][w] & (~UINT64_C(0) << (pos & 63));
		if (bits) {
			idx = w << 6 | ctz64(bits);
			break;
		}
		if (k + 1 == p->n_levels)
			return false;
		pos = w + 1;
		k++;
	}
	while (k-- > 0)
		idx = idx << 6 | ctz64(p->level[k][idx]);
	*ret = idx;
	return true;
}

static int dense_init(struct ippool *p)
{
	uint64_t bits = p->mask + 1;
	unsigned k;

	for (k = 0;; k++) {
		size_t words = (size_t)((bits + 63) / 64);

		p->level[k] = calloc(words, sizeof(uint64_t));
		if (!p->level[k])
			return -ENOMEM;
		p->memory += words * sizeof(uint64_t);
		p->level_bits[k] = bits;
		p->n_levels = k + 1;
		if (bits <= 64)
			break;
		bits = (bits + 63) / 64;
	}

	/* Everything free, then clear the reserved spans, then summarise upwards. */
	uint64_t *l0 = p->level[0];
	uint64_t n = p->level_bits[0];

	for (uint64_t w = 0; w < n / 64; w++)
		l0[w] = UINT64_MAX;
	if (n % 64)
		l0[n / 64] = (UINT64_C(1) << (n % 64)) - 1;
	for (size_t i = 0; i < p->n_spans; i++) {
		uint64_t h = p->spans[i].first, last = p->spans[i].last;

		while (h <= last) {
			if ((h & 63) == 0 && last - h >= 63) {
				l0[h >> 6] = 0;
				h += 64;
			} else {
				l0[h >> 6] &= ~bit(h);
				h++;
			}
		}
	}
	for (k = 1; k < p->n_levels; k++)
		for (uint64_t i = 0; i < p->level_bits[k]; i++)
			if (p->level[k - 1][i])
				p->level[k][i >> 6] |= bit(i);
	return 0;
}

/* ---- hash table of non-free addresses ---- */

static inline uint64_t meta_make(enum ippool_state state, uint64_t deadline)
{
	return deadline << 2 | (uint64_t)state;
}

static inline enum ippool_state meta_state(uint64_t meta)
{
	return (enum ippool_state)(meta & 3);
}

static inline uint64_t meta_deadline(uint64_t meta)
{
	return meta >> 2;
}

static inline size_t slot_home(const struct ippool *p, uint64_t host)
{
	/* Fibonacci hashing: consecutive hosts (the common case) land far apart. */
	return (size_t)((host * UINT64_C(0x9e3779b97f4a7c15)) >> p->slot_shift);
}

static struct slot *hash_find(const struct ippool *p, uint64_t host)
{
	size_t m = p->n_slots - 1;

	if (p->n_entries == 0)
		return NULL;
	for (size_t i = slot_home(p, host);; i = (i + 1) & m) {
		if (!p->slots[i].meta)
			return NULL;
		if (p->slots[i].host == host)
			return &p->slots[i];
	}
}

static void hash_put(struct ippool *p, uint64_t host, uint64_t meta)
{
	size_t m = p->n_slots - 1, i = slot_home(p, host);

	while (p->slots[i].meta)
		i = (i + 1) & m;
	p->slots[i].host = host;
	p->slots[i].meta = meta;
	p->n_entries++;
}

static int hash_resize(struct ippool *p, size_t n_slots)
{
	struct slot *old = p->slots;
	size_t n_old = p->n_slots;
	struct slot *s;
	unsigned shift = 64;

	s = calloc(n_slots, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t n = n_slots; n > 1; n >>= 1)
		shift--;
	p->slots = s;
	p->n_slots = n_slots;
	p->slot_shift = shift;
	p->n_entries = 0;
	for (size_t i = 0; i < n_old; i++)
		if (old[i].meta)
			hash_put(p, old[i].host, old[i].meta);
	free(old);
	p->memory = p->memory + n_slots * sizeof(*s) - n_old * sizeof(*s);
	return 0;
}

/* Room for one more entry at a load of at most 3/4. */
static int hash_reserve(struct ippool *p)
{
	size_t n = p->n_slots ? p->n_slots : HASH_MIN_SLOTS;

	while ((p->n_entries + 1) * 4 > n * 3)
		n *= 2;
	return n == p->n_slots ? 0 : hash_resize(p, n);
}

/* Backward-shift deletion: no tombstones, so lookups never slow down with churn. */
static void hash_remove(struct ippool *p, struct slot *s)
{
	size_t m = p->n_slots - 1, i = (size_t)(s - p->slots), j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!p->slots[j].meta)
			break;
		home = slot_home(p, p->slots[j].host);
		/* Slot j may move into the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			p->slots[i] = p->slots[j];
			i = j;
		}
	}
	p->slots[i].meta = 0;
	p->n_entries--;

	/* Give memory back after a burst; failure to shrink is harmless. */
	if (p->n_slots > HASH_MIN_SLOTS && p->n_entries * 16 < p->n_slots) {
		size_t n = p->n_slots;

		while (n > HASH_MIN_SLOTS && p->n_entries * 4 < n)
			n /= 2;
		(void)hash_resize(p, n);
	}
}

/* ---- quarantine queue: FIFO of ordered deadlines, min-heap for the rest ---- */

static int fifo_resize(struct ippool *p, size_t cap)
{
	struct qent *q = malloc(cap * sizeof(*q));

	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < p->fifo_len; i++)
		q[i] = p->fifo[(p->fifo_head + i) & (p->fifo_cap - 1)];
	free(p->fifo);
	p->memory = p->memory + cap * sizeof(*q) - p->fifo_cap * sizeof(*q);
	p->fifo = q;
	p->fifo_cap = cap;
	p->fifo_head = 0;
	return 0;
}

static int heap_resize(struct ippool *p, size_t cap)
{
	struct qent *q = realloc(p->heap, cap * sizeof(*q));

	if (!q)
		return -ENOMEM;
	p->memory = p->memory + cap * sizeof(*q) - p->heap_cap * sizeof(*q);
	p->heap = q;
	p->heap_cap = cap;
	return 0;
}

static bool queue_to_heap(const struct ippool *p, uint64_t deadline)
{
	return p->fifo_len > 0 &&
	       deadline < p->fifo[(p->fifo_head + p->fifo_len - 1) & (p->fifo_cap - 1)].deadline;
}

/* Room for one more entry with this deadline in the structure queue_push() will use. */
static int queue_reserve(struct ippool *p, uint64_t deadline)
{
	if (queue_to_heap(p, deadline)) {
		if (p->heap_len < p->heap_cap)
			return 0;
		return heap_resize(p, p->heap_cap ? p->heap_cap * 2 : QUEUE_MIN);
	}
	if (p->fifo_len < p->fifo_cap)
		return 0;
	return fifo_resize(p, p->fifo_cap ? p->fifo_cap * 2 : QUEUE_MIN);
}

static void queue_push(struct ippool *p, uint64_t host, uint64_t deadline)
{
	struct qent e = {host, deadline};

	if (!queue_to_heap(p, deadline)) {
		p->fifo[(p->fifo_head + p->fifo_len++) & (p->fifo_cap - 1)] = e;
		return;
	}
	size_t i = p->heap_len++;

	while (i > 0 && p->heap[(i - 1) / 2].deadline > deadline) {
		p->heap[i] = p->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	p->heap[i] = e;
}

static struct qent heap_pop(struct ippool *p)
{
	struct qent top = p->heap[0], last = p->heap[--p->heap_len];
	size_t i = 0, n = p->heap_len;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && p->heap[c + 1].deadline < p->heap[c].deadline)
			c++;
		if (p->heap[c].deadline >= last.deadline)
			break;
		p->heap[i] = p->heap[c];
		i = c;
	}
	if (n > 0)
		p->heap[i] = last;
	return top;
}

static void expire(struct ippool *p, uint64_t now)
{
	bool popped = false;

	for (;;) {
		bool fifo_due = p->fifo_len > 0 && p->fifo[p->fifo_head].deadline <= now;
		bool heap_due = p->heap_len > 0 && p->heap[0].deadline <= now;
		struct qent e;
		struct slot *s;

		if (!fifo_due && !heap_due)
			break;
		if (fifo_due) {
			e = p->fifo[p->fifo_head];
			p->fifo_head = (p->fifo_head + 1) & (p->fifo_cap - 1);
			p->fifo_len--;
		} else {
			e = heap_pop(p);
		}
		popped = true;
		/* Each queued entry matches its slot; checked anyway, a stale one is dropped. */
		s = hash_find(p, e.host);
		if (!s || meta_state(s->meta) != IPPOOL_QUARANTINED ||
		    meta_deadline(s->meta) != e.deadline)
			continue;
		hash_remove(p, s);
		if (p->dense)
			dense_set_free(p, e.host);
		p->n_quarantined--;
	}
	if (!popped)
		return;
	/* Give memory back after a burst of releases; failure to shrink is harmless. */
	if (p->fifo_cap > QUEUE_MIN && p->fifo_len * 8 < p->fifo_cap)
		(void)fifo_resize(p, p->fifo_cap / 2);
	if (p->heap_cap > QUEUE_MIN && p->heap_len * 8 < p->heap_cap)
		(void)heap_resize(p, p->heap_cap / 2);
}

/* ---- states ---- */

/* State of a host index of the pool; *ret_slot is its hash entry, if any. */
static enum ippool_state state_of(const struct ippool *p, uint64_t host, struct slot **ret_slot)
{
	struct slot *s;

	*ret_slot = NULL;
	if (span_find(p, host) >= 0)
		return IPPOOL_RESERVED;
	if (p->dense && dense_is_free(p, host))
		return IPPOOL_FREE;
	s = hash_find(p, host);
	if (s) {
		*ret_slot = s;
		return meta_state(s->meta);
	}
	return p->dense ? IPPOOL_USED : IPPOOL_FREE;
}

static uint64_t *counter(struct ippool *p, enum ippool_state state)
{
	switch (state) {
	case IPPOOL_USED:
		return &p->n_used;
	case IPPOOL_HELD:
		return &p->n_held;
	default:
		return &p->n_quarantined;
	}
}

/*
 * Turn a FREE host into USED, HELD or QUARANTINED; -ENOMEM before any change. Dense
 * pools do not store USED in the hash table.
 */
static int take(struct ippool *p, uint64_t host, enum ippool_state state, uint64_t deadline)
{
	bool in_hash = !p->dense || state != IPPOOL_USED;
	int r;

	if (in_hash) {
		r = hash_reserve(p);
		if (r < 0)
			return r;
	}
	if (state == IPPOOL_QUARANTINED) {
		r = queue_reserve(p, deadline);
		if (r < 0)
			return r;
		queue_push(p, host, deadline);
	} else {
		deadline = 0;
	}
	if (in_hash)
		hash_put(p, host, meta_make(state, deadline));
	if (p->dense)
		dense_set_busy(p, host);
	(*counter(p, state))++;
	return 0;
}

/* ---- parsing ---- */

int ippool_prefix_validate(const struct wg_allowedip *prefix)
{
	uint64_t net, mask;

	if (!prefix)
		return -EINVAL;
	if (prefix->family == AF_INET) {
		if (prefix->cidr < 8 || prefix->cidr > 30)
			return -EINVAL;
	} else if (prefix->family == AF_INET6) {
		if (prefix->cidr < 64 || prefix->cidr > 126)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	prefix_split(prefix, &net, &mask);
	if (net & mask)
		return -EINVAL;
	return 0;
}

int ippool_prefix_parse(const char *s, struct wg_allowedip *ret)
{
	struct wg_allowedip p;

	if (!s || !strchr(s, '/') || wg_allowedip_parse(s, &p) < 0 ||
	    ippool_prefix_validate(&p) < 0)
		return -EINVAL;
	*ret = p;
	return 0;
}

/* One bare address (no mask), as a /32 or /128. */
static int addr_parse(const char *s, size_t len, struct wg_allowedip *ret)
{
	char buf[INET6_ADDRSTRLEN];
	struct wg_allowedip a;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&a, 0, sizeof(a));
	if (memchr(buf, ':', len)) {
		if (inet_pton(AF_INET6, buf, &a.ip6) != 1)
			return -EINVAL;
		a.family = AF_INET6;
		a.cidr = 128;
	} else {
		if (inet_pton(AF_INET, buf, &a.ip4) != 1)
			return -EINVAL;
		a.family = AF_INET;
		a.cidr = 32;
	}
	*ret = a;
	return 0;
}

int ippool_range_parse(const struct wg_allowedip *prefix, const char *s, struct ippool_range *ret)
{
	struct ippool_range r;
	uint64_t net, mask, first, last;
	const char *dash;

	if (ippool_prefix_validate(prefix) < 0 || !s)
		return -EINVAL;
	prefix_split(prefix, &net, &mask);

	dash = strchr(s, '-');
	if (dash) {
		if (addr_parse(s, (size_t)(dash - s), &r.first) < 0 ||
		    addr_parse(dash + 1, strlen(dash + 1), &r.last) < 0)
			return -EINVAL;
	} else if (strchr(s, '/')) {
		struct wg_allowedip sub;
		unsigned width, host_bits;
		uint64_t v, m;

		if (wg_allowedip_parse(s, &sub) < 0 || sub.family != prefix->family ||
		    sub.cidr < prefix->cidr)
			return -EINVAL;
		/* At most as wide as the pool, so its host bits fit in 64 bits. */
		width = sub.family == AF_INET ? 32 : 128;
		host_bits = width - sub.cidr;
		m = host_bits == 64 ? UINT64_MAX : (UINT64_C(1) << host_bits) - 1;
		v = sub.family == AF_INET ? ntohl(sub.ip4.s_addr) : load_be64(sub.ip6.s6_addr + 8);
		if (v & m)
			return -EINVAL;
		r.first = sub;
		r.first.cidr = (uint8_t)width;
		r.last = r.first;
		if (sub.family == AF_INET)
			r.last.ip4.s_addr = htonl((uint32_t)(v | m));
		else
			store_be64(r.last.ip6.s6_addr + 8, v | m);
	} else {
		if (addr_parse(s, strlen(s), &r.first) < 0)
			return -EINVAL;
		r.last = r.first;
	}
	if (host_in(prefix, net, mask, &r.first, &first) < 0 ||
	    host_in(prefix, net, mask, &r.last, &last) < 0 || first > last)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* ---- pool ---- */

struct ippool *ippool_free(struct ippool *p)
{
	if (!p)
		return NULL;
	for (unsigned k = 0; k < LEVELS_MAX; k++)
		free(p->level[k]);
	free(p->spans);
	free(p->slots);
	free(p->fifo);
	free(p->heap);
	free(p);
	return NULL;
}

int ippool_new(const struct ippool_config *config, struct ippool **ret)
{
	struct ippool *p = NULL;
	uint64_t server, diff;
	size_t n;
	int r;

	if (!config || ippool_prefix_validate(&config->prefix) < 0 ||
	    (config->flags & ~IPPOOL_FLAGS_ALL) || (config->n_reserved && !config->reserved))
		return -EINVAL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->memory = sizeof(*p);
	p->prefix = config->prefix;
	prefix_split(&p->prefix, &p->net, &p->mask);
	p->quarantine = config->quarantine_seconds;

	/* Reserved spans: the network address, the v4 broadcast, the server, the config's. */
	if (config->n_reserved > SIZE_MAX / sizeof(struct span) - 3) {
		r = -ENOMEM;
		goto out;
	}
	p->spans = malloc((config->n_reserved + 3) * sizeof(struct span));
	if (!p->spans) {
		r = -ENOMEM;
		goto out;
	}
	p->memory += (config->n_reserved + 3) * sizeof(struct span);
	n = 0;
	p->spans[n++] = (struct span){0, 0};
	if (p->prefix.family == AF_INET)
		p->spans[n++] = (struct span){p->mask, p->mask};
	if (config->server) {
		/* The server needs a host address: not the network, anycast or broadcast one. */
		if (host_of(p, config->server, &server) < 0 || server == 0 ||
		    (p->prefix.family == AF_INET && server == p->mask)) {
			r = -EINVAL;
			goto out;
		}
		p->spans[n++] = (struct span){server, server};
	}
	for (size_t i = 0; i < config->n_reserved; i++) {
		struct span s;

		if (host_of(p, &config->reserved[i].first, &s.first) < 0 ||
		    host_of(p, &config->reserved[i].last, &s.last) < 0 || s.first > s.last) {
			r = -EINVAL;
			goto out;
		}
		p->spans[n++] = s;
	}
	p->n_spans = spans_merge(p->spans, n);

	/* size = (mask + 1) - sum of span lengths, ordered so that nothing overflows at /64:
	 * the spans are disjoint and the first one holds host 0. */
	diff = 0;
	for (size_t i = 0; i < p->n_spans; i++)
		diff += p->spans[i].last - p->spans[i].first;
	p->size = p->mask - diff - (p->n_spans - 1);

	p->cursor = 0;
	p->dense = !(config->flags & IPPOOL_FORCE_SPARSE) &&
		   __builtin_popcountll(p->mask) <=
			   (p->prefix.family == AF_INET ? DENSE_MAX_BITS : DENSE_MAX_BITS_V6);
	if (p->dense) {
		r = dense_init(p);
		if (r < 0)
			goto out;
	}
	*ret = p;
	p = NULL;
	r = 0;
out:
	ippool_free(p);
	return r;
}

void ippool_expire(struct ippool *p, uint64_t now)
{
	expire(p, now);
}

/*
 * First free host at or after the cursor in a sparse pool; there is one (free > 0).
 * Reserved spans are jumped over whole. Non-free addresses are stepped over one by one, but
 * the cursor only moves forward, so each is passed once per lap of the pool: a lap of n
 * addresses that hands out f of them costs n/f probes per allocation, i.e. 1 / (1 -
 * occupancy). Sparse pools hold at least 2^21 addresses, far more than a node has peers,
 * and a /64 never completes a lap.
 */
static uint64_t sparse_find(const struct ippool *p)
{
	uint64_t h = p->cursor;

	for (;;) {
		ssize_t i = span_find(p, h);

		if (i >= 0)
			h = p->spans[i].last == p->mask ? 0 : p->spans[i].last + 1;
		else if (hash_find(p, h))
			h = h == p->mask ? 0 : h + 1;
		else
			return h;
	}
}

static uint64_t free_count(const struct ippool *p)
{
	return p->size - p->n_used - p->n_held - p->n_quarantined;
}

int ippool_alloc(struct ippool *p, uint64_t now, struct wg_allowedip *ret)
{
	uint64_t h;
	int r;

	expire(p, now);
	if (free_count(p) == 0)
		return -ENOSPC;
	if (p->dense) {
		if (!dense_find(p, p->cursor, &h) && !dense_find(p, 0, &h))
			return -ENOSPC; /* unreachable: the counts say a bit is free */
	} else {
		h = sparse_find(p);
	}
	r = take(p, h, IPPOOL_USED, 0);
	if (r < 0)
		return r;
	p->cursor = h == p->mask ? 0 : h + 1;
	addr_of(p, h, ret);
	return 0;
}

int ippool_claim(struct ippool *p, const struct wg_allowedip *addr, uint64_t now)
{
	struct slot *s;
	uint64_t h;
	int r;

	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	expire(p, now);
	switch (state_of(p, h, &s)) {
	case IPPOOL_FREE:
		return take(p, h, IPPOOL_USED, 0);
	case IPPOOL_RESERVED:
		return -EADDRNOTAVAIL;
	default:
		return -EADDRINUSE;
	}
}

int ippool_restore(struct ippool *p, const struct wg_allowedip *addr, enum ippool_state state,
		   uint64_t deadline)
{
	struct slot *s;
	uint64_t h;
	int r;

	if (state != IPPOOL_USED && state != IPPOOL_HELD && state != IPPOOL_QUARANTINED)
		return -EINVAL;
	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	switch (state_of(p, h, &s)) {
	case IPPOOL_FREE:
		break;
	case IPPOOL_RESERVED:
		return -EADDRNOTAVAIL;
	default:
		return -EADDRINUSE;
	}
	return take(p, h, state, deadline > IPPOOL_DEADLINE_MAX ? IPPOOL_DEADLINE_MAX : deadline);
}

int ippool_release(struct ippool *p, const struct wg_allowedip *addr, uint64_t now)
{
	enum ippool_state st;
	struct slot *s;
	uint64_t h, deadline;
	int r;

	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	st = state_of(p, h, &s);
	if (st == IPPOOL_RESERVED)
		return -EADDRNOTAVAIL;
	if (st != IPPOOL_USED && st != IPPOOL_HELD)
		return -ENOENT;

	if (p->quarantine == 0) {
		if (s)
			hash_remove(p, s);
		if (p->dense)
			dense_set_free(p, h);
		(*counter(p, st))--;
		return 0;
	}

	deadline = saturating_deadline(now, p->quarantine);
	r = queue_reserve(p, deadline);
	if (r < 0)
		return r;
	if (!s) {
		/* A dense USED address: it gets a slot now. */
		r = hash_reserve(p);
		if (r < 0)
			return r;
		hash_put(p, h, meta_make(IPPOOL_QUARANTINED, deadline));
	} else {
		s->meta = meta_make(IPPOOL_QUARANTINED, deadline);
	}
	queue_push(p, h, deadline);
	(*counter(p, st))--;
	p->n_quarantined++;
	return 0;
}

int ippool_hold(struct ippool *p, const struct wg_allowedip *addr)
{
	enum ippool_state st;
	struct slot *s;
	uint64_t h;
	int r;

	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	st = state_of(p, h, &s);
	switch (st) {
	case IPPOOL_HELD:
		return 0;
	case IPPOOL_USED:
		break;
	case IPPOOL_RESERVED:
		return -EADDRNOTAVAIL;
	default:
		return -ENOENT;
	}
	if (s) {
		s->meta = meta_make(IPPOOL_HELD, 0);
	} else {
		r = hash_reserve(p);
		if (r < 0)
			return r;
		hash_put(p, h, meta_make(IPPOOL_HELD, 0));
	}
	p->n_used--;
	p->n_held++;
	return 0;
}

int ippool_unhold(struct ippool *p, const struct wg_allowedip *addr)
{
	enum ippool_state st;
	struct slot *s;
	uint64_t h;
	int r;

	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	st = state_of(p, h, &s);
	switch (st) {
	case IPPOOL_USED:
		return 0;
	case IPPOOL_HELD:
		break;
	case IPPOOL_RESERVED:
		return -EADDRNOTAVAIL;
	default:
		return -ENOENT;
	}
	if (p->dense)
		hash_remove(p, s);
	else
		s->meta = meta_make(IPPOOL_USED, 0);
	p->n_held--;
	p->n_used++;
	return 0;
}

int ippool_lookup(const struct ippool *p, const struct wg_allowedip *addr,
		  enum ippool_state *ret_state, uint64_t *ret_deadline)
{
	enum ippool_state st;
	struct slot *s;
	uint64_t h;
	int r;

	r = host_of(p, addr, &h);
	if (r < 0)
		return r;
	st = state_of(p, h, &s);
	if (ret_deadline)
		*ret_deadline = st == IPPOOL_QUARANTINED ? meta_deadline(s->meta) : 0;
	*ret_state = st;
	return 0;
}

static int emit(const struct ippool *p, uint64_t host, uint64_t meta, ippool_foreach_fn fn,
		void *userdata)
{
	struct wg_allowedip a;
	enum ippool_state st = meta_state(meta);

	addr_of(p, host, &a);
	return fn(&a, st, st == IPPOOL_QUARANTINED ? meta_deadline(meta) : 0, userdata);
}

int ippool_foreach(const struct ippool *p, ippool_foreach_fn fn, void *userdata)
{
	int r;

	if (!p->dense) {
		for (size_t i = 0; i < p->n_slots; i++)
			if (p->slots[i].meta) {
				r = emit(p, p->slots[i].host, p->slots[i].meta, fn, userdata);
				if (r)
					return r;
			}
		return 0;
	}

	/* Busy bits between reserved spans, in address order. */
	uint64_t n = p->level_bits[0], h = 0;
	size_t si = 0;

	while (h < n) {
		uint64_t limit;

		while (si < p->n_spans && p->spans[si].last < h)
			si++;
		if (si < p->n_spans && p->spans[si].first <= h) {
			h = p->spans[si].last + 1; /* dense: no overflow */
			continue;
		}
		limit = si < p->n_spans ? p->spans[si].first : n;
		while (h < limit) {
			uint64_t w = h >> 6, bits = ~p->level[0][w] & (~UINT64_C(0) << (h & 63)), x;
			struct slot *s;

			if (!bits) {
				h = (w + 1) << 6;
				continue;
			}
			x = w << 6 | ctz64(bits);
			if (x >= limit) {
				h = limit;
				break;
			}
			s = hash_find(p, x);
			r = emit(p, x, s ? s->meta : meta_make(IPPOOL_USED, 0), fn, userdata);
			if (r)
				return r;
			h = x + 1;
		}
	}
	return 0;
}

void ippool_get_stats(const struct ippool *p, struct ippool_stats *ret)
{
	*ret = (struct ippool_stats){
		.size = p->size,
		.free = free_count(p),
		.used = p->n_used,
		.held = p->n_held,
		.quarantined = p->n_quarantined,
	};
}

const struct wg_allowedip *ippool_prefix(const struct ippool *p)
{
	return &p->prefix;
}

size_t ippool_memory_bytes(const struct ippool *p)
{
	return p->memory;
}
