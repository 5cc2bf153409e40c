/* SPDX-License-Identifier: MIT */
/*
 * Parser for wg(8)'s configuration format ([Interface] and [Peer] sections, as read by
 * `wg setconf`). Pure: no I/O; host-name endpoints go through a caller-supplied resolver.
 *
 * - Keys are case-insensitive; '#' starts a comment; whitespace is ignored, as in wg(8).
 * - [Interface]: PrivateKey, ListenPort, FwMark (number, 0x-hex or "off").
 *   [Peer]: PublicKey (required), PresharedKey, AllowedIPs (comma list, may repeat),
 *   Endpoint, PersistentKeepalive (seconds or "off").
 * - The result has the semantics of `wg setconf`: REPLACE_PEERS on the device and
 *   REPLACE_ALLOWEDIPS on every peer. The device's private key, listen port and fwmark
 *   always carry their HAS_* bit (zero when the file does not set them: wg(8) sends them
 *   so too); optional peer fields not in the file carry no HAS_* bit.
 * - On error: -EINVAL (or -ENOMEM, or the resolver's own -errno), nothing is returned,
 *   and ret_err (if not NULL) holds the 1-based line number and a message naming the key
 *   and why ("AllowedIPs: 10.0.0.0/33: mask out of range"). Secrets are never copied into
 *   the message.
 */
#pragma once

#include <stddef.h>

#include "wgdev.h"

struct wgconf_error {
	unsigned line;
	char message[160];
};

/* Resolve host:port into ret; 0 or -errno. Called only for non-numeric endpoints. */
typedef int (*wgconf_resolve_fn)(const char *host, const char *port, union wg_endpoint *ret,
				 void *userdata);

int wgconf_parse(const char *text, size_t len, const char *ifname, wgconf_resolve_fn resolve,
		 void *userdata, struct wg_device **ret_dev, struct wgconf_error *ret_err);
