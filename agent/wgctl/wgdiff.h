/* SPDX-License-Identifier: MIT */
/*
 * The difference between the peers a device has and the peers it should have, as a SET
 * that touches only what differs. Pure: no I/O. Used by `wg syncconf` and by the agent's
 * reconcile loop.
 *
 * Semantics follow `wg syncconf`: a desired field without its HAS_* bit is left as it is
 * (an endpoint learned by roaming is kept); peers present only in actual are removed
 * (REMOVE_ME); peers only in desired are added; a peer whose allowed IPs differ as a set
 * gets REPLACE_ALLOWEDIPS with the full desired list. Device attributes are included
 * only when desired has them and they differ. O((n + m) log(n + m)).
 */
#pragma once

#include <stddef.h>

#include "wgdev.h"

/*
 * ret_change: a new device named like desired holding only the changes; it has no peers
 * and no HAS_* bits when nothing differs (check with wgdiff_is_empty).
 */
int wgdiff_compute(const struct wg_device *actual, const struct wg_device *desired,
		   struct wg_device **ret_change);
bool wgdiff_is_empty(const struct wg_device *change);
