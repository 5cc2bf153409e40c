// SPDX-License-Identifier: MIT
/* The pure part of the agent's reconcile; see reconcile.h. */
#include <errno.h>
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
