/* SPDX-License-Identifier: MIT */
/*
 * The agent's own durable record of its peers and addresses (state_dir/state.journal).
 *
 * What it holds: every peer (public key, preshared key if any, keepalive, one address per
 * pool, disabled flag, created/updated times, rx/tx counter bases), released addresses
 * with their quarantine deadlines, the answers already given to job ids (the last
 * STATE_JOBS_MAX, at most STATE_JOB_TTL_SEC old), the state generation of the last
 * PUT /v1/peers and the server's public key with the name of its private-key file. The
 * private key itself lives in that 0600 file; nothing here reads or stores it.
 *
 * Why a journal: a change must be durable before the API acknowledges it, and at 50,000
 * peers rewriting a snapshot per change (O(all peers), megabytes per provision) cannot
 * meet a 5 ms p99. So every commit appends ONE frame (all the operations of one change,
 * one CRC-32C over them) and calls fdatasync() before returning: a change costs one small
 * write and one flush. A crash leaves at most the last, unacknowledged frame torn; load
 * drops it (the torn_tail of struct state_load_info). Compaction writes a snapshot of the
 * whole state to state.journal.tmp, fsyncs it, renames it over the journal and fsyncs the
 * directory, so either the old or the new file is seen, both complete. A frame is applied
 * to memory only after validation against the state it lands on (an address owned by
 * another peer is refused), and frames are replayed in write order, so no prefix of the
 * journal, torn or not, can give one address to two peers. docs/agent-state.md has the
 * format and the full argument.
 *
 * Errors: 0 or -errno; ret_* written only on success. A failed commit changes nothing in
 * memory. If fdatasync() fails, the page cache can no longer be trusted: the handle turns
 * broken and every later write returns -EIO; the daemon must exit and start again (it
 * reloads from disk). Ownership: state_open() returns a handle freed by state_close()
 * (NULL-safe, returns NULL). Pointers returned by getters stay valid until the next write
 * call (commit, compaction) on the same handle. Not thread-safe: one owner at a time. An
 * exclusive lock (state_dir/state.lock) keeps a second agent from opening the same state.
 *
 * Times are wall-clock seconds (they are persisted across reboots; see ippool.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wgdev.h"
#include "wgkey.h"

struct ippool;

#define STATE_FORMAT_VERSION 1
#define STATE_ADDRS_MAX 2 /* one per pool; agentconf allows at most one pool per family */
#define STATE_JOB_ID_MAX 128
#define STATE_JOB_ANSWER_MAX 65536
#define STATE_JOBS_MAX 10000
#define STATE_JOB_TTL_SEC (7 * 86400)
#define STATE_KEY_FILE_MAX 255

enum {
	STATE_PEER_DISABLED = 1U << 0,          /* its addresses are HELD in the pool */
	STATE_PEER_HAS_PRESHARED_KEY = 1U << 1, /* else preshared_key is all zeros */
	STATE_PEER_FLAGS_ALL = (1U << 2) - 1,
};

/*
 * Traffic totals that survive interface resets: last_* is the kernel counter seen last,
 * total_* the bytes counted so far (see state_counters_rebase()).
 */
struct state_counters {
	uint64_t last_rx, last_tx;
	uint64_t total_rx, total_tx;
};

struct state_peer {
	uint8_t public_key[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN]; /* a secret: wiped whenever a copy is freed */
	uint32_t flags;                    /* STATE_PEER_* */
	uint16_t persistent_keepalive;     /* seconds, 0 = off */
	uint64_t created, updated;
	/* Host addresses (cidr 32 or 128), pairwise distinct; the cidr passed in is ignored. */
	struct wg_allowedip addrs[STATE_ADDRS_MAX];
	size_t n_addrs;
	struct state_counters counters; /* ignored by a put: counters change on their own */
};

/*
 * What loading found. Written by state_open() on success and on failure (then offset and
 * message say where and why), if not NULL.
 */
struct state_load_info {
	bool created;        /* there was no journal: a new, empty one was written */
	uint32_t version;    /* format version of the file header */
	uint64_t file_bytes; /* size of the journal as found */
	uint64_t frames, ops;
	bool torn_tail;      /* an incomplete last frame was dropped (and cut off the file) */
	uint64_t torn_bytes; /* how many bytes were dropped */
	uint64_t offset;     /* on error: the offset of the bad header or frame */
	char message[160];   /* on error: why, for the log (never contains key material) */
};

struct state_stats {
	size_t peers, addresses, quarantined, jobs;
	uint64_t generation;
	uint64_t journal_bytes; /* current size of the journal */
	uint64_t base_bytes;    /* its size right after the last open or compaction */
};

struct state;
struct state_txn;

/*
 * Open (or create, empty) the state in dir, which must exist. Loads the journal, drops a
 * torn tail (and truncates it away, durably), checks the result (state_check()).
 * -EBUSY: another process holds the state. -EBADMSG: corrupt (bad header, a corrupt frame
 * followed by valid ones, a malformed operation). -EPROTONOSUPPORT: written by a newer
 * format version. -EUCLEAN: the record contradicts itself. -EFBIG, -ENOMEM, I/O errors.
 */
int state_open(const char *dir, struct state_load_info *info, struct state **ret);
struct state *state_close(struct state *st);

/* ---- reading (no I/O) ---- */

const struct state_peer *state_peer_get(const struct state *st,
					const uint8_t public_key[static WG_KEY_LEN]);
/*
 * Iterate: start with *iter = 0; returns NULL at the end. Order unspecified. The walk is
 * invalidated by any write call.
 */
const struct state_peer *state_peer_next(const struct state *st, size_t *iter);
/*
 * Who has addr: ret_owner is the peer (NULL if quarantined, then ret_deadline says until
 * when). -ENOENT if the address is free as far as the record knows. Either ret may be NULL.
 */
int state_addr_lookup(const struct state *st, const struct wg_allowedip *addr,
		      const struct state_peer **ret_owner, uint64_t *ret_deadline);
/* The stored answer of a job id; -ENOENT. The answer stays valid until the next write. */
int state_job_get(const struct state *st, const char *id, size_t id_len,
		  const uint8_t **ret_answer, size_t *ret_len);
uint64_t state_generation(const struct state *st);
/* The server's public key and key-file name; -ENOENT if never set. */
int state_server_get(const struct state *st, uint8_t ret_public_key[static WG_KEY_LEN],
		     const char **ret_key_file);
void state_get_stats(const struct state *st, struct state_stats *ret);

/*
 * Check that the record is consistent: every address of every peer is indexed to that
 * peer, no address is on two peers or both on a peer and in quarantine. -EUCLEAN if not.
 * It can only fail through a bug or memory corruption; the daemon checks once at start.
 */
int state_check(const struct state *st);

/*
 * Rebuild address pools from the record at start: ippool_restore() every address, USED
 * (or HELD for a disabled peer) or QUARANTINED with its deadline, into the pool whose
 * prefix holds it. pools must be fresh (nothing taken yet). A quarantined address outside
 * every pool is skipped (the pool was reconfigured; it is free by definition). A peer's
 * address outside every pool, or refused by its pool (now RESERVED, ...), stops the walk:
 * the error (-EADDRNOTAVAIL, -EADDRINUSE) is returned and the address is copied to *bad
 * if bad is not NULL, for the daemon to report.
 */
int state_pools_restore(const struct state *st, struct ippool *const *pools, size_t n_pools,
			struct wg_allowedip *bad);

/* ---- writing: each call returns 0 only once the change is on disk (fdatasync) ---- */

/*
 * Create or replace a peer (counters kept if it exists, zero if new; created is stored as
 * given, so pass the existing value when updating). Addresses it had and no longer lists
 * go to quarantine until release_deadline (0: free at once). -EADDRINUSE if an address is
 * on another peer; a quarantined address is taken over (the pool decided it is free).
 * -EINVAL for bad flags, too many or duplicate addresses, an unknown family.
 */
int state_peer_put(struct state *st, const struct state_peer *peer, uint64_t release_deadline);
/* Remove a peer, its addresses to quarantine until release_deadline (0: free). -ENOENT. */
int state_peer_remove(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
		      uint64_t release_deadline);
/* Set or clear STATE_PEER_DISABLED (and updated = now). -ENOENT. */
int state_peer_set_disabled(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
			    bool disabled, uint64_t now);
/*
 * Remember the answer to a job id (1..STATE_JOB_ID_MAX bytes, answer at most
 * STATE_JOB_ANSWER_MAX). -EEXIST if the id is already answered (return that answer). Older
 * answers are forgotten beyond STATE_JOBS_MAX or STATE_JOB_TTL_SEC before this one.
 */
int state_job_answer_put(struct state *st, const char *id, size_t id_len, const void *answer,
			 size_t answer_len, uint64_t now);
int state_generation_set(struct state *st, uint64_t generation);
/* key_file: a file name in state_dir (no '/'), 1..STATE_KEY_FILE_MAX bytes. */
int state_server_set(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
		     const char *key_file);
/* Quarantine an address no peer has (e.g. an unowned one the daemon reclaimed). */
int state_addr_release(struct state *st, const struct wg_allowedip *addr, uint64_t deadline);

/*
 * New counter totals from kernel samples: for each sample whose peer exists and whose
 * totals change, state_counters_rebase() and record it; unknown keys are skipped. Commits
 * in frames of about 1 MiB (counters need no atomicity across peers). reset: the interface
 * was recreated (its counters restarted at zero) even if they have already grown past the
 * last values seen. Crash-safe by construction: the record keeps the last kernel value,
 * so bytes counted between two saves are found again by the next one unless the kernel
 * reset in between; the daemon can therefore save counters rarely (say every minute).
 */
struct state_counter_sample {
	uint8_t public_key[WG_KEY_LEN];
	uint64_t rx_bytes, tx_bytes; /* the kernel's counters */
};
int state_counters_update(struct state *st, const struct state_counter_sample *samples,
			  size_t n, bool reset);
/*
 * Pure: totals after the kernel reported rx/tx. The kernel counters restarted (reset, or
 * either one went backwards) -> the new values are all new traffic; else the growth since
 * last is. Totals saturate at UINT64_MAX and never go backwards.
 */
void state_counters_rebase(const struct state_counters *old, uint64_t rx, uint64_t tx, bool reset,
			   struct state_counters *ret);

/*
 * Several changes as one atomic, durable unit (a POST that creates a peer and stores the
 * job answer; the diff of a PUT /v1/peers with its generation): build a txn with the
 * state_txn_* calls of state_codec.h, then commit it. Operations are applied in order,
 * each seeing the ones before; if one is refused, nothing is (its error is returned).
 * On success the txn is emptied for reuse; on failure it is left as it was. An empty txn
 * commits nothing and returns 0. -E2BIG if larger than one frame (64 MiB).
 */
int state_commit(struct state *st, struct state_txn *txn);

/*
 * Rewrite the journal as a snapshot of the current state, first forgetting what has
 * expired at now (quarantine deadlines <= now, job answers older than STATE_JOB_TTL_SEC).
 * O(all peers): the daemon calls it when state_compact_due() says so, from its timer,
 * not on the request path. On failure the old journal stays in use (unless the directory
 * fsync failed: then the handle is broken, as for a failed commit).
 */
int state_compact(struct state *st, uint64_t now);
/* The journal has grown past max(1 MiB, its size after the last compaction). */
bool state_compact_due(const struct state *st);

/* Pure model behind the handle, for tests and tools (state_codec.h). */
struct state_model;
const struct state_model *state_model(const struct state *st);
