/* SPDX-License-Identifier: MIT */
/*
 * The pure part of the agent's reconcile: what the device should hold for a recorded
 * peer, and what kind of repair each peer of a change is. No I/O; unit-tested
 * (tests/unit/test_reconcile.c). The daemon reads the device, diffs it against the record
 * with reconcile_change(), counts with reconcile_classify() and applies the change.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "wgdev.h"

struct reconcile_repairs {
	uint64_t readded; /* a recorded peer missing from the device */
	uint64_t removed; /* a device peer nobody asked for */
	uint64_t fixed;   /* a recorded peer with other allowed IPs, keepalive or psk */
};

/*
 * Append to dev the peer the device must have for p: public key, preshared key (zeros
 * remove one), keepalive and exactly its addresses as allowed IPs. A disabled peer is not
 * appended (its addresses stay HELD but it has no tunnel). 0, -ENOMEM.
 */
int reconcile_desired_peer(struct wg_device *dev, const struct state_peer *p);

/*
 * The SET that makes actual hold what the record m says, computed peer by peer against
 * the record (the same change as wgdiff_compute(actual, a device of every
 * reconcile_desired_peer(), ...), without materialising that desired device: at 50,000
 * peers it is a full copy). Removals first (a peer not recorded, disabled, or with the
 * device's own key), then additions and changes in the record's iteration order. Device
 * attributes are not touched. ret_change named like actual; check with wgdiff_is_empty().
 * 0, -ENOMEM, -EINVAL if actual lists a public key twice.
 */
int reconcile_change(const struct wg_device *actual, const struct state_model *m,
		     struct wg_device **ret_change);

/* Count the repairs a change (from wgdiff_compute(actual, ...)) makes, added to *acc. */
void reconcile_classify(const struct wg_device *actual, const struct wg_device *change,
			struct reconcile_repairs *acc);

/*
 * The interface was recreated since the last pass: another ifindex or listen port, or
 * every counter of peers present in both passes went down. prev_* describe the last pass
 * (prev_known false on the first pass: never a reset then).
 */
bool reconcile_device_reset(bool prev_known, uint32_t prev_ifindex, uint16_t prev_port,
			    const struct wg_device *actual, const struct state_model *m);
