/* SPDX-License-Identifier: MIT */
/*
 * WireGuard link management through rtnetlink (libnl-route-3); the only file that
 * includes libnl is wglink.c.
 *
 * - wglink_create(): RTM_NEWLINK kind "wireguard" with NLM_F_CREATE|NLM_F_EXCL;
 *   -EEXIST if the name is taken, -EOPNOTSUPP if the kernel has no WireGuard.
 * - Addresses are given as prefixes (a wg_allowedip: address and prefix length).
 * - All functions take the interface by name; -ENODEV if it does not exist; -EINVAL for
 *   a bad name or prefix, checked before anything is sent. Need CAP_NET_ADMIN.
 * - Each call opens and closes its own rtnetlink socket (links change rarely); thread-safe.
 */
#pragma once

#include <stdbool.h>

#include "wgdev.h"

int wglink_create(const char *ifname);
/* Refuses a link that is not WireGuard (-EOPNOTSUPP): a wrong name must not remove eth0. */
int wglink_delete(const char *ifname);
int wglink_add_address(const char *ifname, const struct wg_allowedip *prefix);
int wglink_set_mtu(const char *ifname, unsigned mtu);
int wglink_set_up(const char *ifname, bool up);
/* Names of kernel links of kind "wireguard", NULL-terminated (empty vector if none). */
int wglink_list_wireguard(char ***ret_names);
/* ifindex of ifname, or -ENODEV. */
int wglink_ifindex(const char *ifname);
