/* SPDX-License-Identifier: MIT */
/*
 * `wg show IFACE dump` output for a device, byte for byte as wg(8) prints it: one
 * tab-separated device line (private key, public key, listen port, fwmark) and one line
 * per peer (public key, preshared key, endpoint, allowed IPs, latest handshake seconds,
 * rx bytes, tx bytes, persistent keepalive). Absent values print as wg(8) does:
 * "(none)" and "off". Pure: formats into memory.
 */
#pragma once

#include <stddef.h>

#include "wgdev.h"

/*
 * The whole dump, malloc'd and NUL-terminated; ret_len excludes the NUL. -ENOMEM.
 * The text holds the private key when dev has one: wipe it (wg_key_wipe) before free().
 */
int wgdump_format(const struct wg_device *dev, char **ret_text, size_t *ret_len);
