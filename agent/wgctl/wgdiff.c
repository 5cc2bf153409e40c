// SPDX-License-Identifier: MIT
/*
 * Reconcile diff: both peer lists are sorted by public key and merged in one pass, so the
 * cost is two sorts plus linear work, whatever the order the device and the config list
 * their peers in.
 *
 * Comparisons follow what a device reads back, not what was written:
 * - Allowed IPs are compared as sets of masked prefixes: the kernel and wireguard-go store
 *   10.0.0.1/24 as 10.0.0.0/24 and drop duplicates, so a config that writes them either way
 *   must not count as a change on every pass.
 * - A missing preshared key, private key or fwmark reads as zeros.
 * - A desired listen port of 0 asks for "any port"; the device reports the port it picked,
 *   so 0 only differs from a device that reports none. Otherwise every pass would rebind
 *   the socket to a new random port.
 *
 * - A desired peer with the device's own public key is left out (see own_public_key()).
 *
 * Output order: removals first, then changes and additions by public key, so an allowed IP
 * that moves from a removed peer to a new one is freed before it is claimed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "wgdiff.h"

#define PEER_FIELDS (WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE)

static const uint8_t zero_key[WG_KEY_LEN];

struct peer_ref {
	uint64_t prefix; /* the key's first 8 bytes: most comparisons end here */
	const struct wg_peer *peer;
};

static int key_cmp(const struct peer_ref *a, const struct peer_ref *b)
{
	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return memcmp(a->peer->public_key, b->peer->public_key, WG_KEY_LEN);
}

static int peer_ref_cmp(const void *a, const void *b)
{
	return key_cmp(a, b);
}

/*
 * Sorted references to dev's peers, leaving out the one whose key is skip (if not NULL);
 * -EINVAL if a public key appears twice.
 */
static int sorted_refs(const struct wg_device *dev, const uint8_t *skip, struct peer_ref **ret,
		       size_t *ret_n)
{
	struct peer_ref *refs;
	size_t n = 0;

	refs = malloc((dev->n_peers ? dev->n_peers : 1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < dev->n_peers; i++) {
		if (skip && !memcmp(dev->peers[i].public_key, skip, WG_KEY_LEN))
			continue;
		refs[n].peer = &dev->peers[i];
		memcpy(&refs[n].prefix, dev->peers[i].public_key, sizeof(refs[n].prefix));
		n++;
	}
	qsort(refs, n, sizeof(*refs), peer_ref_cmp);
	for (size_t i = 1; i < n; i++)
		if (!key_cmp(&refs[i - 1], &refs[i])) {
			free(refs);
			return -EINVAL;
		}
	*ret = refs;
	*ret_n = n;
	return 0;
}

/*
 * The device's own public key once change is applied, if known. The kernel and wireguard-go
 * silently drop a peer that has the device's own key (and remove one when the private key
 * changes to match it; both checked on wireguard-go), so such a desired peer can never show
 * up in actual: adding it on every pass would keep the diff from ever being empty.
 */
static bool own_public_key(const struct wg_device *a, const struct wg_device *change,
			   uint8_t ret[static WG_KEY_LEN])
{
	if (change->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		return !wg_key_is_zero(change->private_key) &&
		       wg_key_public_from_private(change->private_key, ret) == 0;
	if ((a->flags & WG_DEVICE_HAS_PUBLIC_KEY) && !wg_key_is_zero(a->public_key)) {
		memcpy(ret, a->public_key, WG_KEY_LEN);
		return true;
	}
	return false;
}

/*
 * An allowed IP reduced to what a device stores: the address with its host bits cleared,
 * as two big-endian halves (IPv4 in the top 32 bits), so that comparing is a few integer
 * compares rather than memcmp.
 */
struct prefix {
	uint64_t hi, lo;
	uint16_t family;
	uint8_t cidr;
};

static uint64_t load_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* The top n bits of a 64-bit word, n in 0..64. */
static uint64_t top_bits(unsigned n)
{
	return n >= 64 ? ~UINT64_C(0) : n ? ~UINT64_C(0) << (64 - n) : 0;
}

static struct prefix to_prefix(const struct wg_allowedip *ip)
{
	struct prefix p = {.family = ip->family, .cidr = ip->cidr};
	unsigned bits = ip->cidr;

	if (ip->family == AF_INET) {
		p.hi = (uint64_t)ntohl(ip->ip4.s_addr) << 32;
		bits = bits > 32 ? 32 : bits;
	} else {
		p.hi = load_be64(ip->ip6.s6_addr);
		p.lo = load_be64(ip->ip6.s6_addr + 8);
	}
	p.hi &= top_bits(bits);
	p.lo &= top_bits(bits > 64 ? bits - 64 : 0);
	return p;
}

static int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->cidr != b->cidr)
		return a->cidr < b->cidr ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static int prefix_qsort_cmp(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

/* Sort and drop duplicates in place; the new count. Peers mostly have a handful. */
static size_t sort_unique(struct prefix *v, size_t n)
{
	size_t out = 0;

	if (n > 16)
		qsort(v, n, sizeof(*v), prefix_qsort_cmp);
	else
		for (size_t i = 1; i < n; i++) {
			struct prefix x = v[i];
			size_t j = i;

			for (; j > 0 && prefix_cmp(&v[j - 1], &x) > 0; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
	for (size_t i = 0; i < n; i++)
		if (!out || prefix_cmp(&v[out - 1], &v[i]))
			v[out++] = v[i];
	return out;
}

struct scratch {
	struct prefix *v;
	size_t cap;
};

/* 1 if the two lists hold the same masked prefixes, 0 if not, -ENOMEM. */
static int allowedips_equal(const struct wg_peer *a, const struct wg_peer *d, struct scratch *s)
{
	struct prefix *x, *y;
	size_t nx, ny;
	int r;

	/* The common case, one address each, needs no sorting. */
	if (a->n_ips == 1 && d->n_ips == 1) {
		struct prefix pa = to_prefix(&a->ips[0]), pd = to_prefix(&d->ips[0]);

		return !prefix_cmp(&pa, &pd);
	}
	if (!a->n_ips || !d->n_ips)
		return a->n_ips == d->n_ips;

	r = grow_array((void **)&s->v, &s->cap, a->n_ips + d->n_ips, sizeof(*s->v));
	if (r < 0)
		return r;
	x = s->v;
	y = s->v + a->n_ips;
	for (size_t i = 0; i < a->n_ips; i++)
		x[i] = to_prefix(&a->ips[i]);
	for (size_t i = 0; i < d->n_ips; i++)
		y[i] = to_prefix(&d->ips[i]);
	nx = sort_unique(x, a->n_ips);
	ny = sort_unique(y, d->n_ips);
	if (nx != ny)
		return 0;
	for (size_t i = 0; i < nx; i++)
		if (prefix_cmp(&x[i], &y[i]))
			return 0;
	return 1;
}

static int copy_ips(struct wg_peer *dst, const struct wg_peer *src)
{
	if (!src->n_ips)
		return 0;
	dst->ips = malloc(src->n_ips * sizeof(*dst->ips));
	if (!dst->ips)
		return -ENOMEM;
	memcpy(dst->ips, src->ips, src->n_ips * sizeof(*dst->ips));
	dst->n_ips = dst->cap_ips = src->n_ips;
	return 0;
}

static int add_removal(struct wg_device *change, const struct wg_peer *a)
{
	struct wg_peer *out;
	int r = wg_device_add_peer(change, a->public_key, &out);

	if (r < 0)
		return r;
	out->flags |= WG_PEER_REMOVE_ME;
	return 0;
}

/* fields: the HAS_* bits to copy from d; replace_ips: send d's full allowed-IP list. */
static int add_update(struct wg_device *change, const struct wg_peer *d, uint32_t fields,
		      bool replace_ips)
{
	struct wg_peer *out;
	int r = wg_device_add_peer(change, d->public_key, &out);

	if (r < 0)
		return r;
	out->flags |= fields;
	if (fields & WG_PEER_HAS_PRESHARED_KEY)
		memcpy(out->preshared_key, d->preshared_key, WG_KEY_LEN);
	if (fields & WG_PEER_HAS_ENDPOINT)
		out->endpoint = d->endpoint;
	if (fields & WG_PEER_HAS_KEEPALIVE)
		out->persistent_keepalive = d->persistent_keepalive;
	if (replace_ips) {
		out->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
		r = copy_ips(out, d);
	}
	return r;
}

/* The fields d sets that differ from a. */
static uint32_t changed_fields(const struct wg_peer *a, const struct wg_peer *d)
{
	uint32_t f = 0;

	if (d->flags & WG_PEER_HAS_PRESHARED_KEY) {
		const uint8_t *psk =
		    (a->flags & WG_PEER_HAS_PRESHARED_KEY) ? a->preshared_key : zero_key;

		if (!wg_key_equal(psk, d->preshared_key))
			f |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if ((d->flags & WG_PEER_HAS_ENDPOINT) && !wg_endpoint_equal(&a->endpoint, &d->endpoint))
		f |= WG_PEER_HAS_ENDPOINT;
	if ((d->flags & WG_PEER_HAS_KEEPALIVE) &&
	    a->persistent_keepalive != d->persistent_keepalive)
		f |= WG_PEER_HAS_KEEPALIVE;
	return f;
}

static void diff_device_fields(const struct wg_device *a, const struct wg_device *d,
			       struct wg_device *change)
{
	if (d->flags & WG_DEVICE_HAS_PRIVATE_KEY) {
		const uint8_t *key =
		    (a->flags & WG_DEVICE_HAS_PRIVATE_KEY) ? a->private_key : zero_key;
		uint8_t clamped[WG_KEY_LEN];
		bool same;

		/*
		 * The kernel and wireguard-go store the key clamped (RFC 7748) and report it so:
		 * an unclamped key in a file is the same key and must not count as a change.
		 * The all-zero key (remove) is compared as is.
		 */
		memcpy(clamped, d->private_key, WG_KEY_LEN);
		if (!wg_key_is_zero(clamped)) {
			clamped[0] &= 248;
			clamped[31] = (clamped[31] & 127) | 64;
		}
		same = wg_key_equal(key, clamped);
		wg_key_wipe(clamped, sizeof(clamped));
		if (!same) {
			memcpy(change->private_key, d->private_key, WG_KEY_LEN);
			change->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		}
	}
	if (d->flags & WG_DEVICE_HAS_LISTEN_PORT) {
		bool reported = a->flags & WG_DEVICE_HAS_LISTEN_PORT;

		if (!reported || (d->listen_port && a->listen_port != d->listen_port)) {
			change->listen_port = d->listen_port;
			change->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		}
	}
	if (d->flags & WG_DEVICE_HAS_FWMARK) {
		uint32_t mark = (a->flags & WG_DEVICE_HAS_FWMARK) ? a->fwmark : 0;

		if (mark != d->fwmark) {
			change->fwmark = d->fwmark;
			change->flags |= WG_DEVICE_HAS_FWMARK;
		}
	}
}

/* An addition or change found by the merge, emitted later in the desired order. */
struct pending {
	const struct wg_peer *peer; /* points into desired->peers, so its order is an address */
	uint32_t fields;
	bool replace_ips;
};

static int pending_cmp(const void *a, const void *b)
{
	const struct wg_peer *x = ((const struct pending *)a)->peer;
	const struct wg_peer *y = ((const struct pending *)b)->peer;

	return (x > y) - (x < y);
}

int wgdiff_compute(const struct wg_device *actual, const struct wg_device *desired,
		   struct wg_device **ret_change)
{
	struct peer_ref *ar = NULL, *dr = NULL;
	struct wg_device *change = NULL;
	struct scratch scratch = {};
	uint8_t self[WG_KEY_LEN];
	struct pending *pending = NULL;
	size_t na, nd, np = 0, i, j;
	int r;

	r = wg_device_new(desired->name, &change);
	if (r < 0)
		goto out;
	diff_device_fields(actual, desired, change);

	r = sorted_refs(actual, NULL, &ar, &na);
	if (r < 0)
		goto out;
	r = sorted_refs(desired, own_public_key(actual, change, self) ? self : NULL, &dr, &nd);
	if (r < 0)
		goto out;

	/* Pass 1: removals. */
	for (i = 0, j = 0; i < na;) {
		int c = j < nd ? key_cmp(&ar[i], &dr[j]) : -1;

		if (c < 0) {
			r = add_removal(change, ar[i++].peer);
			if (r < 0)
				goto out;
		} else {
			if (!c)
				i++;
			j++;
		}
	}

	/*
	 * Pass 2: find additions and changes by merging in key order, then emit them in the
	 * desired device's own order: the kernel lists peers in insertion order, so new peers
	 * must be appended in file order for the result to match `wg syncconf` exactly.
	 */
	pending = malloc((nd ? nd : 1) * sizeof(*pending));
	if (!pending) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0, j = 0; j < nd; j++) {
		int c = 1;
		const struct wg_peer *d = dr[j].peer;

		while (i < na && (c = key_cmp(&ar[i], &dr[j])) < 0)
			i++;
		if (i >= na)
			c = 1;
		if (c > 0) {
			pending[np++] = (struct pending){d, d->flags & PEER_FIELDS, true};
		} else {
			const struct wg_peer *a = ar[i++].peer;
			uint32_t fields = changed_fields(a, d);
			int same_ips = allowedips_equal(a, d, &scratch);

			if (same_ips < 0) {
				r = same_ips;
				goto out;
			}
			if (fields || !same_ips)
				pending[np++] = (struct pending){d, fields, !same_ips};
		}
	}
	qsort(pending, np, sizeof(*pending), pending_cmp);
	for (i = 0; i < np; i++) {
		r = add_update(change, pending[i].peer, pending[i].fields, pending[i].replace_ips);
		if (r < 0)
			goto out;
	}

	*ret_change = change;
	change = NULL;
	r = 0;
out:
	free(pending);
	free(scratch.v);
	free(ar);
	free(dr);
	wg_device_free(change);
	return r;
}

bool wgdiff_is_empty(const struct wg_device *change)
{
	return !change ||
	       (!change->n_peers &&
		!(change->flags & (WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |
				   WG_DEVICE_HAS_FWMARK | WG_DEVICE_REPLACE_PEERS)));
}
