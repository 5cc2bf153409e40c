/* SPDX-License-Identifier: MIT */
/*
 * Kernel WireGuard backend: the generic netlink family "wireguard" through libmnl.
 * The only file that includes libmnl or <linux/wireguard.h> is wgnl.c.
 *
 * I/O layer:
 * - wgnl_open() resolves the family; -EPROTONOSUPPORT when the kernel has no WireGuard
 *   (CTRL_CMD_GETFAMILY said ENOENT). Needs CAP_NET_ADMIN for set and get.
 * - wgnl_set_device() validates the whole device first (wg_device_validate), then sends
 *   it in chunks, each acknowledged before the next (see wgnl_build_set_msg). Kernel
 *   errors come back as -errno: -ENODEV (no such interface), -EOPNOTSUPP (not a WireGuard
 *   link). The kernel does not roll back: after an error, earlier chunks stay applied.
 * - wgnl_get_device() dumps one device; multi-part replies are merged and an interrupted
 *   dump (NLM_F_DUMP_INTR) is restarted, at most WGNL_DUMP_RETRIES times (-EAGAIN after).
 * A handle is one socket: use it from one thread at a time.
 *
 * Pure layer (no I/O, unit-tested): the chunking builder and the dump parser.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgdev.h"

#define WGNL_DUMP_RETRIES 8
/*
 * Send buffer for one SET message. wg(8) uses min(page size, 8 KiB); the kernel takes any
 * message up to the socket's send buffer, and a PEERS nest is capped at 64 KiB by the 16-bit
 * nla_len. 32 KiB means a quarter of the round trips: 50,000 peers applied in 0.88 of
 * `wg setconf`'s time instead of 1.02 (docs/benchmarks.md).
 */
#define WGNL_SET_BUFSIZE 32768

struct wgnl;

int wgnl_open(struct wgnl **ret);
struct wgnl *wgnl_close(struct wgnl *nl);
int wgnl_set_device(struct wgnl *nl, const struct wg_device *dev);
int wgnl_get_device(struct wgnl *nl, const char *ifname, struct wg_device **ret);

/*
 * Where the builder resumes: the next peer, and within it the next allowed IP. A peer
 * resumed mid-way is repeated with only its public key and the remaining allowed IPs,
 * without REPLACE_ALLOWEDIPS (but with UPDATE_ONLY if it has it, so the rest of a peer
 * that did not exist cannot create it). A REMOVE_ME peer is sent as its key and flags
 * only. Zero-initialise before the first call.
 */
struct wgnl_set_cursor {
	size_t peer;
	size_t ip;
	unsigned msgs; /* messages built so far; device attributes only go in the first */
};

/*
 * Build the next WG_CMD_SET_DEVICE message for dev into buf (buflen bytes), with
 * NLM_F_REQUEST|NLM_F_ACK, the given family id and sequence number. The message never
 * exceeds buflen. Returns 1 if this was the last message, 0 if more follow (call again
 * with the same cursor), -EMSGSIZE if a single peer's public key cannot fit, -EINVAL for
 * an invalid device (checked on the first call) or cursor. ret_len is the message length.
 */
int wgnl_build_set_msg(const struct wg_device *dev, uint16_t family_id, uint32_t seq, void *buf,
		       size_t buflen, struct wgnl_set_cursor *cursor, size_t *ret_len);

/* Accumulates the multi-part reply of one WG_CMD_GET_DEVICE dump. */
struct wgnl_dump;

int wgnl_dump_new(struct wgnl_dump **ret);
struct wgnl_dump *wgnl_dump_free(struct wgnl_dump *d);
/*
 * Feed one datagram (one or more netlink messages) of the reply. Returns 1 if more is
 * expected, 0 when NLMSG_DONE was seen, -EAGAIN when the dump was interrupted
 * (NLM_F_DUMP_INTR: discard and dump again), -errno from an NLMSG_ERROR or NLMSG_DONE
 * error, -EBADMSG for a malformed message. Unknown attributes are skipped; a known
 * attribute with a wrong length is -EBADMSG. buf must be 4-byte aligned, as any recv or
 * malloc buffer is (-EINVAL otherwise).
 */
int wgnl_dump_feed(struct wgnl_dump *d, const void *buf, size_t len);
/* After feed returned 0: hand over the device (the dump is left empty). */
int wgnl_dump_take(struct wgnl_dump *d, struct wg_device **ret);
