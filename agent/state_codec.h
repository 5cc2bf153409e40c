/* SPDX-License-Identifier: MIT */
/*
 * Pure core of the agent's durable record (state.h is the file shell around it): the
 * byte format of the journal, the in-memory model, and "apply one frame to the model".
 * No I/O, no clock, no logging; the loader parses outside input (a file that may be
 * damaged) and is fuzzed (fuzz/fuzz_state_load.c).
 *
 * File: a 32-byte header, then frames. docs/agent-state.md describes every byte.
 *   header  "WGFSTATE" | le32 version | le32 header size (32) | le64 file id |
 *           le32 flags (0) | le32 CRC-32C of the 28 bytes before
 *   frame   le32 magic "WGFR" | le32 n | le32 CRC-32C(le64 file id, le32 n, payload) |
 *           payload: n bytes of operations, 1 <= n <= STATE_FRAME_MAX
 *   op      u8 type | le32 body length | body (exactly as long as its type says)
 * The file id (random per file) in every CRC makes a frame of another journal, such as
 * stale blocks of a deleted one, invalid here.
 *
 * Errors: 0 or -errno; ret_* written only on success. Ownership: state_model_new() and
 * state_txn_new() return objects freed by state_model_free() / state_txn_free() (NULL-safe,
 * return NULL; secrets wiped). Not thread-safe: one owner at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

#define STATE_HEADER_SIZE 32
#define STATE_FRAME_HEADER_SIZE 12
#define STATE_FRAME_MAX (64U << 20)
#define STATE_FRAME_MAGIC 0x52464757U /* "WGFR" little-endian */

enum state_op_type {
	STATE_OP_PEER = 1,       /* create or replace a peer (counters kept) */
	STATE_OP_REMOVE = 2,     /* remove a peer, addresses to quarantine */
	STATE_OP_COUNTERS = 3,   /* set a peer's counter bases and totals */
	STATE_OP_JOB = 4,        /* remember a job's answer */
	STATE_OP_GENERATION = 5, /* state generation of the last PUT /v1/peers */
	STATE_OP_SERVER = 6,     /* server public key and key-file name */
	STATE_OP_RELEASE = 7,    /* quarantine an address no peer has */
};

/* CRC-32C (Castagnoli), chainable: crc(crc(0, a), b) == crc(0, a || b). */
uint32_t state_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- transactions: operations encoded into one frame under construction ---- */

/*
 * Each adder checks its arguments (-EINVAL), appends one operation (-ENOMEM, -E2BIG past
 * STATE_FRAME_MAX) and on error leaves the txn as it was. Whether the operation fits the
 * state is only known when it is applied (state_commit() / state_model_apply()).
 */
int state_txn_new(struct state_txn **ret);
struct state_txn *state_txn_free(struct state_txn *txn);
void state_txn_reset(struct state_txn *txn); /* empty it (wiping what it held) */
size_t state_txn_ops(const struct state_txn *txn);
/* Bytes of the payload so far (the frame is STATE_FRAME_HEADER_SIZE more). */
size_t state_txn_size(const struct state_txn *txn);

int state_txn_peer_put(struct state_txn *txn, const struct state_peer *peer,
		       uint64_t release_deadline);
int state_txn_peer_remove(struct state_txn *txn, const uint8_t public_key[static WG_KEY_LEN],
			  uint64_t release_deadline);
int state_txn_counters(struct state_txn *txn, const uint8_t public_key[static WG_KEY_LEN],
		       const struct state_counters *counters);
int state_txn_job_put(struct state_txn *txn, const char *id, size_t id_len, const void *answer,
		      size_t answer_len, uint64_t now);
int state_txn_generation(struct state_txn *txn, uint64_t generation);
int state_txn_server(struct state_txn *txn, const uint8_t public_key[static WG_KEY_LEN],
		     const char *key_file);
/* deadline > 0 */
int state_txn_release(struct state_txn *txn, const struct wg_allowedip *addr, uint64_t deadline);

/* The operations (payload) so far, without the frame header. */
const uint8_t *state_txn_payload(const struct state_txn *txn, size_t *ret_len);
/*
 * Fill in the frame header for file_id and return the whole frame (header + payload),
 * ready to append. -ENODATA for an empty txn.
 */
int state_txn_frame(struct state_txn *txn, uint64_t file_id, const uint8_t **ret_frame,
		    size_t *ret_len);

/* ---- the model ---- */

int state_model_new(struct state_model **ret);
struct state_model *state_model_free(struct state_model *m);

/*
 * Apply one frame's payload (operations in order). undoable: remember how to revert, for
 * state_model_rollback() (the commit path, which applies before writing); else (load)
 * nothing is remembered, and on error the model keeps the operations before the failing
 * one (each operation on its own is all-or-nothing). After a successful apply call
 * state_model_settle() (or rollback). ret_ops (may be NULL): operations applied.
 * -EBADMSG: malformed payload (before anything was applied); else the refusal of the
 * failing operation: -ENOENT (no such peer), -EEXIST (job id known), -EADDRINUSE
 * (address on another peer), -EINVAL, -ENOMEM.
 */
int state_model_apply(struct state_model *m, const uint8_t *payload, size_t len, bool undoable,
		      size_t *ret_ops);
/* Revert everything applied since the last settle. Cannot fail. */
void state_model_rollback(struct state_model *m);
/* Accept what was applied: free what undo kept, forget job answers beyond the bounds. */
void state_model_settle(struct state_model *m);
/* Forget quarantine entries with deadline <= now and job answers older than the TTL. */
void state_model_prune(struct state_model *m, uint64_t now);

/*
 * Load a whole journal file (buf, len) into an empty model. info (required) is filled on
 * success and failure, with info->offset the end of the last good frame on success (where
 * the journal continues; the caller cuts a torn tail there) and where the damage is on
 * failure. A frame that fails its CRC or runs past the end is a torn tail if no valid
 * frame follows it, corruption (-EBADMSG) if one does. On failure the model holds part of
 * the file; free it. Also -EPROTONOSUPPORT (newer version), -EUCLEAN (an operation the
 * state refuses), -ENOMEM. ret_file_id (may be NULL): the header's file id.
 */
int state_model_load(struct state_model *m, const uint8_t *buf, size_t len,
		     struct state_load_info *info, uint64_t *ret_file_id);

/*
 * The whole state as a journal file with file_id: header, then frames of at most 64 KiB
 * payload, passed to write(data, len, userdata) in order (a non-zero return stops and is
 * returned). Loading the bytes gives an equal model, and snapshotting that model gives the
 * same bytes. Buffers holding preshared keys are wiped before return.
 */
typedef int (*state_write_fn)(const void *data, size_t len, void *userdata);
int state_model_snapshot(const struct state_model *m, uint64_t file_id, state_write_fn write,
			 void *userdata);

/* As state_check() / state_pools_restore() in state.h. */
int state_model_check(const struct state_model *m);
int state_model_pools_restore(const struct state_model *m, struct ippool *const *pools,
			      size_t n_pools, struct wg_allowedip *bad);
/* Same peers (all fields), addresses, quarantine, jobs (in order), generation, server. */
bool state_model_equal(const struct state_model *a, const struct state_model *b);

/* Readers, as in state.h. */
const struct state_peer *state_model_peer_get(const struct state_model *m,
					      const uint8_t public_key[static WG_KEY_LEN]);
const struct state_peer *state_model_peer_next(const struct state_model *m, size_t *iter);
int state_model_addr_lookup(const struct state_model *m, const struct wg_allowedip *addr,
			    const struct state_peer **ret_owner, uint64_t *ret_deadline);
int state_model_job_get(const struct state_model *m, const char *id, size_t id_len,
			const uint8_t **ret_answer, size_t *ret_len);
uint64_t state_model_generation(const struct state_model *m);
int state_model_server_get(const struct state_model *m, uint8_t ret_public_key[static WG_KEY_LEN],
			   const char **ret_key_file);
/* Fills the model's counts (peers, addresses, quarantined, jobs, generation). */
void state_model_stats(const struct state_model *m, struct state_stats *ret);
