/* SPDX-License-Identifier: MIT */
/*
 * The one interface to WireGuard the rest of wgfleet uses: set, get and list devices,
 * with the backend picked per interface the way wg(8) does — a UAPI socket for the
 * interface wins, otherwise the kernel's netlink family.
 *
 * - A handle binds one interface and keeps its connection open (UAPI socket or netlink
 *   socket), so a batch of changes costs one connect. One thread at a time per handle.
 * - wgctl_set() applies dev as a SET: only fields with HAS_* bits are sent, peers carry
 *   their intent bits. The device is validated first; invalid input sends nothing.
 * - Errors are -errno; wgctl_strerror() turns the WireGuard-specific ones into words.
 */
#pragma once

#include "wgdev.h"

enum wgctl_backend {
	WGCTL_BACKEND_NETLINK,
	WGCTL_BACKEND_UAPI,
};

struct wgctl;

/* -EINVAL for a bad name; -EPROTONOSUPPORT if no UAPI socket and no kernel WireGuard. */
int wgctl_open(const char *ifname, struct wgctl **ret);
struct wgctl *wgctl_close(struct wgctl *c);
enum wgctl_backend wgctl_backend(const struct wgctl *c);
const char *wgctl_backend_name(enum wgctl_backend b);

int wgctl_set(struct wgctl *c, const struct wg_device *dev);
int wgctl_get(struct wgctl *c, struct wg_device **ret);

/* Names of all WireGuard interfaces (kernel links and UAPI sockets), sorted, NULL-terminated. */
int wgctl_list(char ***ret_names);

/* Words for an error from this library, e.g. -EOPNOTSUPP → "not a WireGuard interface". */
const char *wgctl_strerror(int r);
