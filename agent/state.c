// SPDX-License-Identifier: MIT
/*
 * File shell of the durable record: the lock, the journal file, appends with fdatasync,
 * compaction by atomic replace. Everything about bytes and meaning is in state_codec.c.
 *
 * Write order of a commit: apply to memory (validated, undoable), pwrite the frame at the
 * known end of the journal, fdatasync, then keep the change. pwrite at an offset we track
 * (not O_APPEND) so a failed or short write can be cut back off with ftruncate and the
 * file never holds a partial frame followed by a good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "state_codec.h"
#include "wgfleet/macro.h"

#define JOURNAL "state.journal"
#define JOURNAL_TMP "state.journal.tmp"
#define LOCK_FILE "state.lock"
#define JOURNAL_MAX_BYTES (UINT64_C(16) << 30)
#define COMPACT_MIN_BYTES (UINT64_C(1) << 20)
#define COUNTERS_FRAME_BYTES (1U << 20)

struct state {
	struct state_model *m;
	int dir_fd, lock_fd, fd;
	uint64_t file_id;
	uint64_t end;        /* bytes of the journal, all of them good frames */
	uint64_t base_bytes; /* end right after the last open or compaction */
	bool broken;         /* an fsync failed: nothing more may be written */
	struct state_txn *scratch;
};

static int fd_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

struct state *state_close(struct state *st)
{
	if (!st)
		return NULL;
	state_model_free(st->m);
	state_txn_free(st->scratch);
	fd_close(st->fd);
	fd_close(st->lock_fd); /* releases the flock */
	fd_close(st->dir_fd);
	free(st);
	return NULL;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *data, size_t len, uint64_t off)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

struct counting_writer {
	int fd;
	uint64_t bytes;
};

static int snapshot_write(const void *data, size_t len, void *userdata)
{
	struct counting_writer *w = userdata;
	int r = write_all(w->fd, data, len);

	if (r == 0)
		w->bytes += len;
	return r;
}

static int new_file_id(uint64_t *ret)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			return errno == EINTR ? -EINTR : negative_errno();
	*ret = id;
	return 0;
}

/*
 * Write m as a new journal: temp file, fsync, rename over the journal, fsync the
 * directory. On success the new file's descriptor replaces st->fd. Before the rename
 * fails nothing changed; after it, a failed directory fsync leaves the rename's
 * durability unknown, so the handle turns broken.
 */
static int journal_replace(struct state *st)
{
	struct counting_writer w = {.fd = -1};
	uint64_t file_id;
	int r;

	if ((r = new_file_id(&file_id)) < 0)
		return r;
	w.fd = openat(st->dir_fd, JOURNAL_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (w.fd < 0)
		return negative_errno();
	r = state_model_snapshot(st->m, file_id, snapshot_write, &w);
	if (r < 0)
		goto fail;
	if (fsync(w.fd) < 0) {
		r = negative_errno();
		goto fail;
	}
	if (renameat(st->dir_fd, JOURNAL_TMP, st->dir_fd, JOURNAL) < 0) {
		r = negative_errno();
		goto fail;
	}
	if (fsync(st->dir_fd) < 0) {
		r = negative_errno();
		st->broken = true;
		fd_close(w.fd);
		return r;
	}
	fd_close(st->fd);
	st->fd = w.fd;
	st->file_id = file_id;
	st->end = st->base_bytes = w.bytes;
	return 0;
fail:
	fd_close(w.fd);
	unlinkat(st->dir_fd, JOURNAL_TMP, 0);
	return r;
}

/* Map and load the journal open at st->fd; cut a torn tail off, durably. */
static int journal_load(struct state *st, struct state_load_info *info)
{
	struct stat s;
	void *map;
	int r;

	if (fstat(st->fd, &s) < 0)
		return negative_errno();
	if (!S_ISREG(s.st_mode))
		return -EBADMSG;
	if ((uint64_t)s.st_size > JOURNAL_MAX_BYTES)
		return -EFBIG;
	if (s.st_size == 0) {
		/* mmap refuses length 0; the loader reports the missing header. */
		return state_model_load(st->m, (const uint8_t *)"", 0, info, NULL);
	}
	map = mmap(NULL, (size_t)s.st_size, PROT_READ, MAP_PRIVATE, st->fd, 0);
	if (map == MAP_FAILED)
		return negative_errno();
	(void)madvise(map, (size_t)s.st_size, MADV_SEQUENTIAL);
	r = state_model_load(st->m, map, (size_t)s.st_size, info, &st->file_id);
	munmap(map, (size_t)s.st_size);
	if (r < 0)
		return r;
	st->end = info->offset;
	if (info->torn_tail) {
		/* Appends must start right after the last good frame, and stay there. */
		if (ftruncate(st->fd, (off_t)st->end) < 0 || fdatasync(st->fd) < 0)
			return negative_errno();
	}
	st->base_bytes = st->end;
	return 0;
}

int state_open(const char *dir, struct state_load_info *info, struct state **ret)
{
	struct state_load_info scratch_info;
	struct state *st;
	int r;

	if (!info)
		info = &scratch_info;
	memset(info, 0, sizeof(*info));
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->dir_fd = st->lock_fd = st->fd = -1;
	if ((r = state_model_new(&st->m)) < 0 || (r = state_txn_new(&st->scratch)) < 0)
		goto out;

	st->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0) {
		r = negative_errno();
		goto out;
	}
	st->lock_fd = openat(st->dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->lock_fd < 0) {
		r = negative_errno();
		goto out;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
		goto out;
	}
	/* A leftover of a compaction that crashed before its rename: never the journal. */
	if (unlinkat(st->dir_fd, JOURNAL_TMP, 0) < 0 && errno != ENOENT) {
		r = negative_errno();
		goto out;
	}

	st->fd = openat(st->dir_fd, JOURNAL, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (st->fd < 0 && errno == ENOENT) {
		r = journal_replace(st);
		if (r < 0)
			goto out;
		info->created = true;
		info->version = STATE_FORMAT_VERSION;
		info->file_bytes = info->offset = st->end;
	} else if (st->fd < 0) {
		r = negative_errno();
		goto out;
	} else {
		r = journal_load(st, info);
		if (r < 0)
			goto out;
	}
	r = state_model_check(st->m);
	if (r < 0) {
		snprintf(info->message, sizeof(info->message),
			 "the loaded state is inconsistent (an address on two peers?)");
		goto out;
	}
	*ret = st;
	st = NULL;
out:
	state_close(st);
	return r;
}

const struct state_model *state_model(const struct state *st)
{
	return st->m;
}

/* ---- writing ---- */

int state_commit(struct state *st, struct state_txn *txn)
{
	const uint8_t *frame, *payload;
	size_t len, plen;
	int r;

	if (st->broken)
		return -EIO;
	if (state_txn_ops(txn) == 0)
		return 0;
	payload = state_txn_payload(txn, &plen);
	r = state_model_apply(st->m, payload, plen, true, NULL);
	if (r < 0)
		goto fail;
	state_txn_frame(txn, st->file_id, &frame, &len);
	r = pwrite_all(st->fd, frame, len, st->end);
	if (r < 0) {
		/* Leave no partial frame behind (a later good one would make it "corruption"). */
		if (ftruncate(st->fd, (off_t)st->end) < 0)
			st->broken = true;
		goto fail;
	}
	if (fdatasync(st->fd) < 0) {
		/*
		 * After a failed flush the kernel may have dropped the dirty pages and reports the
		 * error once: whether the frame is on disk is unknown, so stop writing.
		 */
		r = negative_errno();
		st->broken = true;
		goto fail;
	}
	st->end += len;
	state_model_settle(st->m);
	state_txn_reset(txn);
	return 0;
fail:
	state_model_rollback(st->m);
	return r;
}

/* Commit the scratch txn, which holds one change, and empty it either way. */
static int commit_scratch(struct state *st, int r)
{
	if (r == 0)
		r = state_commit(st, st->scratch);
	state_txn_reset(st->scratch);
	return r;
}

int state_peer_put(struct state *st, const struct state_peer *peer, uint64_t release_deadline)
{
	return commit_scratch(st, state_txn_peer_put(st->scratch, peer, release_deadline));
}

int state_peer_remove(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
		      uint64_t release_deadline)
{
	if (!state_model_peer_get(st->m, public_key))
		return -ENOENT;
	return commit_scratch(st, state_txn_peer_remove(st->scratch, public_key, release_deadline));
}

int state_peer_set_disabled(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
			    bool disabled, uint64_t now)
{
	const struct state_peer *cur = state_model_peer_get(st->m, public_key);
	struct state_peer p;
	int r;

	if (!cur)
		return -ENOENT;
	p = *cur;
	p.flags = disabled ? p.flags | STATE_PEER_DISABLED : p.flags & ~STATE_PEER_DISABLED;
	p.updated = now;
	r = commit_scratch(st, state_txn_peer_put(st->scratch, &p, 0));
	wg_key_wipe(&p, sizeof(p));
	return r;
}

int state_job_answer_put(struct state *st, const char *id, size_t id_len, const void *answer,
			 size_t answer_len, uint64_t now)
{
	return commit_scratch(st, state_txn_job_put(st->scratch, id, id_len, answer, answer_len,
						    now));
}

int state_generation_set(struct state *st, uint64_t generation)
{
	return commit_scratch(st, state_txn_generation(st->scratch, generation));
}

int state_server_set(struct state *st, const uint8_t public_key[static WG_KEY_LEN],
		     const char *key_file)
{
	return commit_scratch(st, state_txn_server(st->scratch, public_key, key_file));
}

int state_addr_release(struct state *st, const struct wg_allowedip *addr, uint64_t deadline)
{
	return commit_scratch(st, state_txn_release(st->scratch, addr, deadline));
}

int state_counters_update(struct state *st, const struct state_counter_sample *samples,
			  size_t n, bool reset)
{
	int r = 0;

	state_txn_reset(st->scratch);
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct state_peer *p = state_model_peer_get(st->m, samples[i].public_key);
		struct state_counters c;

		if (!p)
			continue;
		state_counters_rebase(&p->counters, samples[i].rx_bytes, samples[i].tx_bytes, reset,
				      &c);
		if (memcmp(&c, &p->counters, sizeof(c)) == 0)
			continue;
		r = state_txn_counters(st->scratch, p->public_key, &c);
		if (r == 0 && state_txn_size(st->scratch) >= COUNTERS_FRAME_BYTES)
			r = state_commit(st, st->scratch);
	}
	return commit_scratch(st, r);
}

int state_compact(struct state *st, uint64_t now)
{
	if (st->broken)
		return -EIO;
	state_model_prune(st->m, now);
	return journal_replace(st);
}

bool state_compact_due(const struct state *st)
{
	uint64_t grown = st->end - st->base_bytes;

	return grown > COMPACT_MIN_BYTES && grown > st->base_bytes;
}

/* ---- reading ---- */

const struct state_peer *state_peer_get(const struct state *st,
					const uint8_t public_key[static WG_KEY_LEN])
{
	return state_model_peer_get(st->m, public_key);
}

const struct state_peer *state_peer_next(const struct state *st, size_t *iter)
{
	return state_model_peer_next(st->m, iter);
}

int state_addr_lookup(const struct state *st, const struct wg_allowedip *addr,
		      const struct state_peer **ret_owner, uint64_t *ret_deadline)
{
	return state_model_addr_lookup(st->m, addr, ret_owner, ret_deadline);
}

int state_job_get(const struct state *st, const char *id, size_t id_len,
		  const uint8_t **ret_answer, size_t *ret_len)
{
	return state_model_job_get(st->m, id, id_len, ret_answer, ret_len);
}

uint64_t state_generation(const struct state *st)
{
	return state_model_generation(st->m);
}

int state_server_get(const struct state *st, uint8_t ret_public_key[static WG_KEY_LEN],
		     const char **ret_key_file)
{
	return state_model_server_get(st->m, ret_public_key, ret_key_file);
}

void state_get_stats(const struct state *st, struct state_stats *ret)
{
	state_model_stats(st->m, ret);
	ret->journal_bytes = st->end;
	ret->base_bytes = st->base_bytes;
}

int state_check(const struct state *st)
{
	return state_model_check(st->m);
}

int state_pools_restore(const struct state *st, struct ippool *const *pools, size_t n_pools,
			struct wg_allowedip *bad)
{
	return state_model_pools_restore(st->m, pools, n_pools, bad);
}
