// SPDX-License-Identifier: MIT
/* The pure part of the agent's reconcile; see reconcile.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "state_codec.h"

int reconcile_desired_peer(struct wg_device *dev, const struct state_peer *p)
{
	struct wg_peer *peer;
	int r;

	if (p->flags & STATE_PEER_DISABLED)
		return 0;
	r = wg_device_add_peer(dev, p->public_key, &peer);
	if (r < 0)
		return r;
	/* Always stated, so that a psk or keepalive changed by hand is put back too. */
	peer->flags |= WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE;
	if (p->flags & STATE_PEER_HAS_PRESHARED_KEY)
		memcpy(peer->preshared_key, p->preshared_key, WG_KEY_LEN);
	peer->persistent_keepalive = p->persistent_keepalive;
	for (size_t i = 0; i < p->n_addrs; i++) {
		struct wg_allowedip ip = p->addrs[i];

		ip.cidr = ip.family == AF_INET ? 32 : 128;
		r = wg_peer_add_allowedip(peer, &ip);
		if (r < 0)
			return r; /* dev is half-built; the caller frees it */
	}
	return 0;
}

void reconcile_classify(const struct wg_device *actual, const struct wg_device *change,
			struct reconcile_repairs *acc)
{
	for (size_t i = 0; i < change->n_peers; i++) {
		const struct wg_peer *c = &change->peers[i];

		if (c->flags & WG_PEER_REMOVE_ME)
			acc->removed++;
		else if (wg_device_find_peer(actual, c->public_key))
			acc->fixed++;
		else
			acc->readded++;
	}
}

bool reconcile_device_reset(bool prev_known, uint32_t prev_ifindex, uint16_t prev_port,
			    const struct wg_device *actual, const struct state_model *m)
{
	size_t compared = 0, dropped = 0;

	if (!prev_known)
		return false;
	if (actual->ifindex != prev_ifindex || actual->listen_port != prev_port)
		return true;
	/*
	 * A userspace daemon restarted under the same name can keep the ifindex; then the only
	 * sign is that counters restarted. One peer going down is not enough (the record may
	 * simply be behind for it); all of those with traffic recorded must have.
	 */
	for (size_t i = 0; i < actual->n_peers; i++) {
		const struct wg_peer *a = &actual->peers[i];
		const struct state_peer *p = state_model_peer_get(m, a->public_key);

		if (!p || (p->counters.last_rx == 0 && p->counters.last_tx == 0))
			continue;
		compared++;
		if (a->rx_bytes < p->counters.last_rx || a->tx_bytes < p->counters.last_tx)
			dropped++;
	}
	return compared > 0 && dropped == compared;
}

static int peer_ptr_cmp(const void *a, const void *b)
{
	return memcmp((*(const struct wg_peer *const *)a)->public_key,
		      (*(const struct wg_peer *const *)b)->public_key, WG_KEY_LEN);
}

static bool ip_in(const struct wg_allowedip *ip, const struct wg_allowedip *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].family == ip->family && set[i].cidr == ip->cidr &&
		    !memcmp(&set[i].ip6, &ip->ip6, ip->family == AF_INET ? 4 : 16))
			return true;
	return false;
}

/*
 * The device peer holds exactly the recorded host addresses. A host prefix has no bits to
 * mask, so comparing addresses and cidr is comparing what the device stores; checking
 * both ways makes duplicates on the device harmless, as in wgdiff.
 */
static bool same_ips(const struct wg_peer *a, const struct state_peer *p)
{
	struct wg_allowedip want[STATE_ADDRS_MAX];

	for (size_t i = 0; i < p->n_addrs; i++) {
		want[i] = p->addrs[i];
		want[i].cidr = want[i].family == AF_INET ? 32 : 128;
		if (!ip_in(&want[i], a->ips, a->n_ips))
			return false;
	}
	for (size_t i = 0; i < a->n_ips; i++)
		if (!ip_in(&a->ips[i], want, p->n_addrs))
			return false;
	return true;
}

/* Append to change what the device peer a (NULL: absent) needs to become p. */
static int peer_change(struct wg_device *change, const struct wg_peer *a,
		       const struct state_peer *p)
{
	static const uint8_t zero[WG_KEY_LEN];
	const uint8_t *psk = (p->flags & STATE_PEER_HAS_PRESHARED_KEY) ? p->preshared_key : zero;
	struct wg_peer *out;
	uint32_t fields = WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE;
	bool replace = true;
	int r;

	if (a) {
		const uint8_t *apsk =
		    (a->flags & WG_PEER_HAS_PRESHARED_KEY) ? a->preshared_key : zero;

		fields = 0;
		if (!wg_key_equal(apsk, psk))
			fields |= WG_PEER_HAS_PRESHARED_KEY;
		if (a->persistent_keepalive != p->persistent_keepalive)
			fields |= WG_PEER_HAS_KEEPALIVE;
		replace = !same_ips(a, p);
		if (!fields && !replace)
			return 0;
	}
	r = wg_device_add_peer(change, p->public_key, &out);
	if (r < 0)
		return r;
	out->flags |= fields;
	if (fields & WG_PEER_HAS_PRESHARED_KEY)
		memcpy(out->preshared_key, psk, WG_KEY_LEN);
	out->persistent_keepalive = p->persistent_keepalive;
	if (replace) {
		out->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
		for (size_t i = 0; i < p->n_addrs && r == 0; i++) {
			struct wg_allowedip ip = p->addrs[i];

			ip.cidr = ip.family == AF_INET ? 32 : 128;
			r = wg_peer_add_allowedip(out, &ip);
		}
	}
	return r;
}

int reconcile_change(const struct wg_device *actual, const struct state_model *m,
		     struct wg_device **ret_change)
{
	const struct wg_peer **idx = NULL;
	struct wg_device *change = NULL;
	const struct state_peer *p;
	const uint8_t *self = NULL;
	size_t it = 0;
	int r;

	/* The device drops a peer with its own key: asking for one would never converge. */
	if ((actual->flags & WG_DEVICE_HAS_PUBLIC_KEY) && !wg_key_is_zero(actual->public_key))
		self = actual->public_key;
	r = wg_device_new(actual->name, &change);
	if (r < 0)
		goto out;
	idx = malloc((actual->n_peers ? actual->n_peers : 1) * sizeof(*idx));
	if (!idx) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < actual->n_peers; i++)
		idx[i] = &actual->peers[i];
	qsort(idx, actual->n_peers, sizeof(*idx), peer_ptr_cmp);
	for (size_t i = 1; i < actual->n_peers; i++)
		if (!peer_ptr_cmp(&idx[i - 1], &idx[i])) {
			r = -EINVAL;
			goto out;
		}
	/*
	 * Removals first (in key order, as wgdiff), so that an address moving to another peer
	 * is free before it is taken.
	 */
	for (size_t i = 0; i < actual->n_peers && r == 0; i++) {
		const struct wg_peer *a = idx[i];

		p = state_model_peer_get(m, a->public_key);
		if (!p || (p->flags & STATE_PEER_DISABLED) ||
		    (self && wg_key_equal(self, a->public_key))) {
			struct wg_peer *out;

			r = wg_device_add_peer(change, a->public_key, &out);
			if (r == 0)
				out->flags |= WG_PEER_REMOVE_ME;
		}
	}
	while (r == 0 && (p = state_model_peer_next(m, &it))) {
		struct wg_peer probe;
		const struct wg_peer *pp = &probe, **hit;

		if ((p->flags & STATE_PEER_DISABLED) || (self && wg_key_equal(self, p->public_key)))
			continue;
		memcpy(probe.public_key, p->public_key, WG_KEY_LEN);
		hit = bsearch(&pp, idx, actual->n_peers, sizeof(*idx), peer_ptr_cmp);
		r = peer_change(change, hit ? *hit : NULL, p);
	}
	if (r == 0) {
		*ret_change = change;
		change = NULL;
	}
out:
	free(idx);
	wg_device_free(change);
	return r;
}
