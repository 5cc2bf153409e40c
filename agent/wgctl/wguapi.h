/* SPDX-License-Identifier: MIT */
/*
 * Userspace WireGuard backend (wireguard-go, boringtun): the UAPI line protocol over
 * the unix socket WGUAPI_DIR/IFACE.sock. The only module that speaks that protocol.
 *
 * - The socket directory is /var/run/wireguard, or $WGFLEET_UAPI_DIR when set (tests
 *   give each daemon a private directory).
 * - A handle is one connection, reused for every request (each reply is read before the
 *   next request is written). One thread at a time.
 * - wguapi_set_device() validates the whole device before writing a byte; the daemon's
 *   `errno=N` reply comes back as -N (e.g. -EINVAL, -EADDRINUSE). UAPI is not atomic:
 *   lines before a failing one stay applied. A connection the daemon closed without a
 *   reply is -ECONNRESET.
 * - wguapi_open() returns -ENOENT when no socket exists for the interface.
 *
 * Pure layer (no I/O, unit-tested and fuzzed): the SET formatter and the GET parser.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "wgdev.h"

struct wguapi;

const char *wguapi_dir(void);
/* true if a UAPI socket file exists for ifname (what wg(8) checks to pick the backend). */
bool wguapi_has_socket(const char *ifname);
/* Interface names of every *.sock in wguapi_dir(), NULL-terminated; empty if none. */
int wguapi_list(char ***ret_names);

int wguapi_open(const char *ifname, struct wguapi **ret);
struct wguapi *wguapi_close(struct wguapi *u);
int wguapi_set_device(struct wguapi *u, const struct wg_device *dev);
int wguapi_get_device(struct wguapi *u, struct wg_device **ret);

/* The "set=1\n...\n\n" request for dev, malloc'd into ret_text/ret_len. -EINVAL, -ENOMEM. */
int wguapi_format_set(const struct wg_device *dev, char **ret_text, size_t *ret_len);
/*
 * Parse a complete "get=1" reply (key=value lines up to and including "errno=N" and the
 * empty line) into a device named ifname. -N if the reply ends in errno=N != 0; -EBADMSG
 * for a malformed reply (unknown keys are skipped, as newer daemons may add some).
 */
int wguapi_parse_get(const char *text, size_t len, const char *ifname, struct wg_device **ret);
