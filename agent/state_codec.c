// SPDX-License-Identifier: MIT
/*
 * Pure core of the agent's durable record: CRC-32C, the operation codec, the in-memory
 * model and the journal loader.
 *
 * Model: peers are heap objects (stable pointers) listed in a dense array, found through
 * an open-addressing index of array positions; addresses likewise (a dense array of
 * {address, owner, deadline} entries), so "one entry per address" makes "one address on
 * two peers" unrepresentable: an address entry has exactly one owner, or none (then it is
 * quarantined). Job answers sit in a FIFO ring, indexed by id, trimmed to STATE_JOBS_MAX
 * by count only at apply time: a snapshot of a trimmed list then replays with nothing
 * trimmed, which keeps load(snapshot(m)) == m. The TTL is applied by state_model_prune().
 *
 * Commit applies a frame before it is written (the same decode-and-apply code as load, so
 * what is acknowledged is exactly what replay will rebuild) and keeps an undo log: every
 * operation first validates and reserves all memory it needs, then mutates and logs
 * without any failure path, so a refused or unwritable frame is reverted exactly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ippool.h"
#include "state_codec.h"
#include "wgfleet/macro.h"

static const uint8_t header_magic[8] = {'W', 'G', 'F', 'S', 'T', 'A', 'T', 'E'};

#define SNAPSHOT_FRAME_TARGET (64U << 10)
#define OP_HEADER_SIZE 5

/* ---- CRC-32C, slicing by 8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
				(crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t state_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian fields ---- */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Bounds-checked reader over one operation body; a short read sets bad. */
struct reader {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *rd_bytes(struct reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rd_u8(struct reader *r)
{
	const uint8_t *p = rd_bytes(r, 1);

	return p ? p[0] : 0;
}

static uint16_t rd_u16(struct reader *r)
{
	const uint8_t *p = rd_bytes(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t rd_u32(struct reader *r)
{
	const uint8_t *p = rd_bytes(r, 4);

	return p ? get_le32(p) : 0;
}

static uint64_t rd_u64(struct reader *r)
{
	const uint8_t *p = rd_bytes(r, 8);

	return p ? get_le64(p) : 0;
}

/* ---- addresses as fixed-size keys ---- */

struct akey {
	uint8_t fam; /* 4 or 6: the byte the format uses */
	uint8_t b[16];
};

static int akey_from(const struct wg_allowedip *a, struct akey *k)
{
	memset(k, 0, sizeof(*k));
	if (a->family == AF_INET) {
		k->fam = 4;
		memcpy(k->b, &a->ip4, 4);
	} else if (a->family == AF_INET6) {
		k->fam = 6;
		memcpy(k->b, &a->ip6, 16);
	} else {
		return -EINVAL;
	}
	return 0;
}

static void akey_to(const struct akey *k, struct wg_allowedip *a)
{
	memset(a, 0, sizeof(*a));
	if (k->fam == 4) {
		a->family = AF_INET;
		a->cidr = 32;
		memcpy(&a->ip4, k->b, 4);
	} else {
		a->family = AF_INET6;
		a->cidr = 128;
		memcpy(&a->ip6, k->b, 16);
	}
}

static size_t akey_len(const struct akey *k)
{
	return k->fam == 4 ? 4 : 16;
}

static bool akey_eq(const struct akey *a, const struct akey *b)
{
	return a->fam == b->fam && memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

static bool addr_eq(const struct wg_allowedip *a, const struct wg_allowedip *b)
{
	struct akey ka, kb;

	return akey_from(a, &ka) == 0 && akey_from(b, &kb) == 0 && akey_eq(&ka, &kb);
}

/* ---- hashing and the index tables ---- */

/*
 * Keys come from the authenticated controller (public keys, job ids) or from our own
 * pools, so an unkeyed mix is enough; the finaliser spreads FNV's weak low bits.
 */
static uint32_t hash_bytes(const void *data, size_t n, uint8_t tag)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ tag;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint32_t hash_key(const uint8_t key[static WG_KEY_LEN])
{
	return hash_bytes(key, WG_KEY_LEN, 0);
}

static uint32_t hash_akey(const struct akey *k)
{
	return hash_bytes(k->b, akey_len(k), k->fam);
}

static uint32_t hash_id(const void *id, size_t n)
{
	return hash_bytes(id, n, 1);
}

/*
 * Open addressing, linear probing, at most half full. A slot is 0 (empty) or
 * hash << 32 | (index + 1), the index being a position in the table's dense array; the
 * stored hash lets growth and deletion (backward shift, no tombstones) skip the keys.
 */
struct itab {
	uint64_t *slots;
	size_t cap; /* a power of two, >= 16 once the model exists */
	size_t n;
};

#define SLOT(h, idx) ((uint64_t)(h) << 32 | ((uint64_t)(idx) + 1))
#define SLOT_HASH(s) ((uint32_t)((s) >> 32))
#define SLOT_IDX(s) ((size_t)(uint32_t)(s) - 1)

static void itab_place(uint64_t *slots, size_t cap, uint64_t s)
{
	size_t i = SLOT_HASH(s) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = s;
}

/* Room for want entries in total. */
static int itab_reserve(struct itab *t, size_t want)
{
	size_t cap = t->cap ? t->cap : 16;
	uint64_t *slots;

	if (want > UINT32_MAX - 1)
		return -ENOMEM;
	while (cap / 2 < want)
		cap *= 2;
	if (cap == t->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i])
			itab_place(slots, cap, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static void itab_delete_at(struct itab *t, size_t pos)
{
	size_t mask = t->cap - 1, hole = pos;

	for (size_t j = (pos + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		size_t home = SLOT_HASH(t->slots[j]) & mask;

		/* The entry at j may fill the hole if the hole lies between its home and j. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole] = 0;
	t->n--;
}

/* The entry with hash h stored at index from now lives at index to. */
static void itab_retarget(struct itab *t, uint32_t h, size_t from, size_t to)
{
	size_t mask = t->cap - 1;

	for (size_t i = h & mask; t->slots[i]; i = (i + 1) & mask)
		if (SLOT_IDX(t->slots[i]) == from) {
			t->slots[i] = SLOT(h, to);
			return;
		}
}

/* Dense arrays grow by doubling; elements are pointers or plain structs (no secrets). */
static int dense_reserve(void **array, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	p = reallocarray(*array, n, size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

/* ---- the model ---- */

struct aent {
	struct akey key;
	struct state_peer *owner; /* NULL: quarantined until deadline */
	uint64_t deadline;
};

struct job {
	uint64_t time;
	uint32_t answer_len;
	uint8_t id_len;
	uint8_t data[]; /* id, then answer */
};

struct server {
	bool set;
	uint8_t public_key[WG_KEY_LEN];
	char key_file[STATE_KEY_FILE_MAX + 1];
};

enum undo_kind {
	U_PEER_INSERT,
	U_PEER_MODIFY,
	U_PEER_DELETE,
	U_COUNTERS,
	U_ADDR,
	U_JOB,
	U_GENERATION,
	U_SERVER,
};

struct undo {
	enum undo_kind kind;
	struct state_peer *peer;
	union {
		struct state_peer *old; /* U_PEER_MODIFY: a detached copy */
		struct state_counters counters;
		struct {
			struct akey key;
			bool existed;
			struct state_peer *owner;
			uint64_t deadline;
		} addr;
		uint64_t generation;
		struct server *server;
	};
};

struct state_model {
	struct state_peer **peers;
	size_t n_peers, cap_peers;
	struct itab peer_idx;

	struct aent *addrs;
	size_t n_addrs, cap_addrs, n_quarantined;
	struct itab addr_idx;

	struct job **jobs; /* ring; job_idx holds ring positions */
	size_t cap_jobs, jobs_head, n_jobs;
	struct itab job_idx;

	uint64_t generation;
	struct server server;

	bool undoable;
	struct undo *undo;
	size_t n_undo, cap_undo;
};

static void *secret_free(void *p, size_t len)
{
	if (p) {
		wg_key_wipe(p, len);
		free(p);
	}
	return NULL;
}

static struct state_peer *peer_free(struct state_peer *p)
{
	return secret_free(p, sizeof(*p));
}

static struct job *job_free(struct job *j)
{
	return j ? secret_free(j, sizeof(*j) + j->id_len + j->answer_len) : NULL;
}

int state_model_new(struct state_model **ret)
{
	struct state_model *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	if ((r = itab_reserve(&m->peer_idx, 1)) < 0 || (r = itab_reserve(&m->addr_idx, 1)) < 0 ||
	    (r = itab_reserve(&m->job_idx, 1)) < 0) {
		state_model_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

struct state_model *state_model_free(struct state_model *m)
{
	if (!m)
		return NULL;
	/* Whatever an unfinished transaction detached is owned by its undo log. */
	state_model_settle(m);
	for (size_t i = 0; i < m->n_peers; i++)
		peer_free(m->peers[i]);
	for (size_t i = 0; i < m->n_jobs; i++)
		job_free(m->jobs[(m->jobs_head + i) & (m->cap_jobs - 1)]);
	free(m->peers);
	free(m->peer_idx.slots);
	free(m->addrs);
	free(m->addr_idx.slots);
	free(m->jobs);
	free(m->job_idx.slots);
	free(m->undo);
	free(m);
	return NULL;
}

/* -- peers -- */

static size_t peer_probe(const struct state_model *m, const uint8_t key[static WG_KEY_LEN],
			 uint32_t h, bool *found)
{
	const struct itab *t = &m->peer_idx;
	size_t i = h & (t->cap - 1);

	for (; t->slots[i]; i = (i + 1) & (t->cap - 1))
		if (SLOT_HASH(t->slots[i]) == h &&
		    memcmp(m->peers[SLOT_IDX(t->slots[i])]->public_key, key, WG_KEY_LEN) == 0) {
			*found = true;
			return i;
		}
	*found = false;
	return i;
}

static struct state_peer *peer_find(const struct state_model *m,
				    const uint8_t key[static WG_KEY_LEN])
{
	bool found;
	size_t pos = peer_probe(m, key, hash_key(key), &found);

	return found ? m->peers[SLOT_IDX(m->peer_idx.slots[pos])] : NULL;
}

static int peer_reserve(struct state_model *m)
{
	int r = dense_reserve((void **)&m->peers, &m->cap_peers, m->n_peers + 1, sizeof(*m->peers));

	return r < 0 ? r : itab_reserve(&m->peer_idx, m->n_peers + 1);
}

/* Room reserved; p's key absent. */
static void peer_insert(struct state_model *m, struct state_peer *p)
{
	uint32_t h = hash_key(p->public_key);
	bool found;
	size_t pos = peer_probe(m, p->public_key, h, &found);

	m->peer_idx.slots[pos] = SLOT(h, m->n_peers);
	m->peer_idx.n++;
	m->peers[m->n_peers++] = p;
}

/* Unlink p (present) from the table; the caller frees or keeps it. */
static void peer_unlink(struct state_model *m, struct state_peer *p)
{
	bool found;
	size_t pos = peer_probe(m, p->public_key, hash_key(p->public_key), &found);
	size_t idx = SLOT_IDX(m->peer_idx.slots[pos]), last = m->n_peers - 1;

	itab_delete_at(&m->peer_idx, pos);
	if (idx != last) {
		m->peers[idx] = m->peers[last];
		itab_retarget(&m->peer_idx, hash_key(m->peers[idx]->public_key), last, idx);
	}
	m->n_peers--;
}

/* -- addresses -- */

static size_t addr_probe(const struct state_model *m, const struct akey *k, uint32_t h,
			 bool *found)
{
	const struct itab *t = &m->addr_idx;
	size_t i = h & (t->cap - 1);

	for (; t->slots[i]; i = (i + 1) & (t->cap - 1))
		if (SLOT_HASH(t->slots[i]) == h &&
		    akey_eq(&m->addrs[SLOT_IDX(t->slots[i])].key, k)) {
			*found = true;
			return i;
		}
	*found = false;
	return i;
}

static struct aent *addr_find(const struct state_model *m, const struct akey *k)
{
	bool found;
	size_t pos = addr_probe(m, k, hash_akey(k), &found);

	return found ? &m->addrs[SLOT_IDX(m->addr_idx.slots[pos])] : NULL;
}

static int addr_reserve(struct state_model *m, size_t more)
{
	int r = dense_reserve((void **)&m->addrs, &m->cap_addrs, m->n_addrs + more,
			      sizeof(*m->addrs));

	return r < 0 ? r : itab_reserve(&m->addr_idx, m->n_addrs + more);
}

/* Insert or update (room reserved). */
static void addr_put_raw(struct state_model *m, const struct akey *k, struct state_peer *owner,
			 uint64_t deadline)
{
	uint32_t h = hash_akey(k);
	bool found;
	size_t pos = addr_probe(m, k, h, &found);
	struct aent *e;

	if (found) {
		e = &m->addrs[SLOT_IDX(m->addr_idx.slots[pos])];
		m->n_quarantined -= !e->owner;
	} else {
		m->addr_idx.slots[pos] = SLOT(h, m->n_addrs);
		m->addr_idx.n++;
		e = &m->addrs[m->n_addrs++];
		e->key = *k;
	}
	e->owner = owner;
	e->deadline = owner ? 0 : deadline;
	m->n_quarantined += !owner;
}

static void addr_del_raw(struct state_model *m, const struct akey *k)
{
	bool found;
	size_t pos = addr_probe(m, k, hash_akey(k), &found), idx, last;

	if (!found)
		return;
	idx = SLOT_IDX(m->addr_idx.slots[pos]);
	last = m->n_addrs - 1;
	m->n_quarantined -= !m->addrs[idx].owner;
	itab_delete_at(&m->addr_idx, pos);
	if (idx != last) {
		m->addrs[idx] = m->addrs[last];
		itab_retarget(&m->addr_idx, hash_akey(&m->addrs[idx].key), last, idx);
	}
	m->n_addrs--;
}

/* -- jobs -- */

static size_t job_probe(const struct state_model *m, const uint8_t *id, size_t id_len,
			uint32_t h, bool *found)
{
	const struct itab *t = &m->job_idx;
	size_t i = h & (t->cap - 1);

	for (; t->slots[i]; i = (i + 1) & (t->cap - 1)) {
		const struct job *j = m->jobs[SLOT_IDX(t->slots[i])];

		if (SLOT_HASH(t->slots[i]) == h && j->id_len == id_len &&
		    memcmp(j->data, id, id_len) == 0) {
			*found = true;
			return i;
		}
	}
	*found = false;
	return i;
}

static struct job *job_find(const struct state_model *m, const uint8_t *id, size_t id_len)
{
	bool found;
	size_t pos = job_probe(m, id, id_len, hash_id(id, id_len), &found);

	return found ? m->jobs[SLOT_IDX(m->job_idx.slots[pos])] : NULL;
}

static int jobs_reserve(struct state_model *m)
{
	size_t cap, mask;
	struct job **ring;
	struct itab idx = {0};

	if (m->n_jobs < m->cap_jobs)
		return itab_reserve(&m->job_idx, m->n_jobs + 1);
	/* A full ring: copy it in FIFO order into one twice as large, and index it anew. */
	cap = m->cap_jobs ? m->cap_jobs * 2 : 16;
	mask = m->cap_jobs - 1;
	ring = calloc(cap, sizeof(*ring));
	if (!ring || itab_reserve(&idx, m->n_jobs + 1) < 0) {
		free(ring);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_jobs; i++) {
		ring[i] = m->jobs[(m->jobs_head + i) & mask];
		itab_place(idx.slots, idx.cap, SLOT(hash_id(ring[i]->data, ring[i]->id_len), i));
	}
	idx.n = m->n_jobs;
	free(m->jobs);
	free(m->job_idx.slots);
	m->jobs = ring;
	m->cap_jobs = cap;
	m->jobs_head = 0;
	m->job_idx = idx;
	return 0;
}

static void job_push(struct state_model *m, struct job *j)
{
	size_t at = (m->jobs_head + m->n_jobs) & (m->cap_jobs - 1);
	uint32_t h = hash_id(j->data, j->id_len);
	bool found;
	size_t pos = job_probe(m, j->data, j->id_len, h, &found);

	m->job_idx.slots[pos] = SLOT(h, at);
	m->job_idx.n++;
	m->jobs[at] = j;
	m->n_jobs++;
}

/* Drop the oldest (head) or the newest (tail) job. */
static void job_drop(struct state_model *m, bool newest)
{
	size_t at = (m->jobs_head + (newest ? m->n_jobs - 1 : 0)) & (m->cap_jobs - 1);
	struct job *j = m->jobs[at];
	bool found;
	size_t pos = job_probe(m, j->data, j->id_len, hash_id(j->data, j->id_len), &found);

	itab_delete_at(&m->job_idx, pos);
	m->jobs[at] = NULL;
	if (!newest)
		m->jobs_head = (m->jobs_head + 1) & (m->cap_jobs - 1);
	m->n_jobs--;
	job_free(j);
}

static const struct job *job_at(const struct state_model *m, size_t i)
{
	return m->jobs[(m->jobs_head + i) & (m->cap_jobs - 1)];
}

/* -- undo log -- */

static int undo_reserve(struct state_model *m, size_t more)
{
	if (!m->undoable)
		return 0;
	return dense_reserve((void **)&m->undo, &m->cap_undo, m->n_undo + more, sizeof(*m->undo));
}

static void undo_log(struct state_model *m, const struct undo *u)
{
	if (m->undoable)
		m->undo[m->n_undo++] = *u;
}

/* Logged mutations of the address table (room reserved). */
static void addr_set(struct state_model *m, const struct akey *k, struct state_peer *owner,
		     uint64_t deadline)
{
	if (m->undoable) {
		const struct aent *e = addr_find(m, k);
		struct undo u = {.kind = U_ADDR};

		u.addr.key = *k;
		if (e) {
			u.addr.existed = true;
			u.addr.owner = e->owner;
			u.addr.deadline = e->deadline;
		}
		undo_log(m, &u);
	}
	addr_put_raw(m, k, owner, deadline);
}

/* An address leaves its peer: quarantined until deadline, or free at once for 0. */
static void addr_release(struct state_model *m, const struct akey *k, uint64_t deadline)
{
	if (deadline) {
		addr_set(m, k, NULL, deadline);
		return;
	}
	if (m->undoable) {
		const struct aent *e = addr_find(m, k);
		struct undo u = {.kind = U_ADDR};

		u.addr.key = *k;
		if (e) {
			u.addr.existed = true;
			u.addr.owner = e->owner;
			u.addr.deadline = e->deadline;
		}
		undo_log(m, &u);
	}
	addr_del_raw(m, k);
}

void state_model_rollback(struct state_model *m)
{
	while (m->n_undo > 0) {
		struct undo *u = &m->undo[--m->n_undo];

		switch (u->kind) {
		case U_PEER_INSERT:
			peer_unlink(m, u->peer);
			peer_free(u->peer);
			break;
		case U_PEER_MODIFY:
			*u->peer = *u->old;
			peer_free(u->old);
			break;
		case U_PEER_DELETE:
			/* Room is there: the table only grew since the peer left it. */
			peer_insert(m, u->peer);
			break;
		case U_COUNTERS:
			u->peer->counters = u->counters;
			break;
		case U_ADDR:
			if (u->addr.existed)
				addr_put_raw(m, &u->addr.key, u->addr.owner, u->addr.deadline);
			else
				addr_del_raw(m, &u->addr.key);
			break;
		case U_JOB:
			job_drop(m, true);
			break;
		case U_GENERATION:
			m->generation = u->generation;
			break;
		case U_SERVER:
			m->server = *u->server;
			free(u->server);
			break;
		}
	}
}

void state_model_settle(struct state_model *m)
{
	for (size_t i = 0; i < m->n_undo; i++) {
		struct undo *u = &m->undo[i];

		if (u->kind == U_PEER_DELETE)
			peer_free(u->peer);
		else if (u->kind == U_PEER_MODIFY)
			peer_free(u->old);
		else if (u->kind == U_SERVER)
			free(u->server);
	}
	m->n_undo = 0;
	while (m->n_jobs > STATE_JOBS_MAX)
		job_drop(m, false);
}

void state_model_prune(struct state_model *m, uint64_t now)
{
	/* Backwards: deleting entry i moves the last one, already seen, into i. */
	for (size_t i = m->n_addrs; i-- > 0;)
		if (!m->addrs[i].owner && m->addrs[i].deadline <= now) {
			struct akey k = m->addrs[i].key;

			addr_del_raw(m, &k);
		}
	while (m->n_jobs > 0 && now > STATE_JOB_TTL_SEC &&
	       job_at(m, 0)->time < now - STATE_JOB_TTL_SEC)
		job_drop(m, false);
}

/* ---- operations ---- */

struct op {
	enum state_op_type type;
	struct state_peer peer; /* PEER; the key for REMOVE and COUNTERS; counters */
	struct akey akeys[STATE_ADDRS_MAX];
	uint64_t deadline; /* PEER, REMOVE, RELEASE */
	struct akey addr;  /* RELEASE */
	const uint8_t *id, *answer;
	size_t id_len, answer_len;
	uint64_t time;
	uint64_t generation;
	const uint8_t *key_file;
	size_t key_file_len;
};

static bool key_file_valid(const uint8_t *name, size_t len)
{
	if (len < 1 || len > STATE_KEY_FILE_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\0')
			return false;
	return true;
}

static bool akeys_distinct(const struct akey *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (akey_eq(&k[i], &k[j]))
				return false;
	return true;
}

static void rd_akey(struct reader *r, struct akey *k)
{
	const uint8_t *p;

	memset(k, 0, sizeof(*k));
	k->fam = rd_u8(r);
	if (k->fam != 4 && k->fam != 6) {
		r->bad = true;
		return;
	}
	p = rd_bytes(r, akey_len(k));
	if (p)
		memcpy(k->b, p, akey_len(k));
}

/* Decode one operation at r (type and body). -EBADMSG if malformed. */
static int op_decode(struct reader *r, struct op *op)
{
	struct reader b;
	const uint8_t *p;
	uint32_t body_len;

	memset(op, 0, sizeof(*op));
	op->type = rd_u8(r);
	body_len = rd_u32(r);
	p = rd_bytes(r, body_len);
	if (!p)
		return -EBADMSG;
	b = (struct reader){.p = p, .left = body_len};

	switch (op->type) {
	case STATE_OP_PEER: {
		struct state_peer *pe = &op->peer;

		if ((p = rd_bytes(&b, WG_KEY_LEN)))
			memcpy(pe->public_key, p, WG_KEY_LEN);
		pe->flags = rd_u8(&b);
		if (pe->flags & ~STATE_PEER_FLAGS_ALL)
			return -EBADMSG;
		if ((pe->flags & STATE_PEER_HAS_PRESHARED_KEY) && (p = rd_bytes(&b, WG_KEY_LEN)))
			memcpy(pe->preshared_key, p, WG_KEY_LEN);
		pe->persistent_keepalive = rd_u16(&b);
		pe->created = rd_u64(&b);
		pe->updated = rd_u64(&b);
		op->deadline = rd_u64(&b);
		pe->n_addrs = rd_u8(&b);
		if (pe->n_addrs > STATE_ADDRS_MAX)
			return -EBADMSG;
		for (size_t i = 0; i < pe->n_addrs && !b.bad; i++) {
			rd_akey(&b, &op->akeys[i]);
			if (!b.bad)
				akey_to(&op->akeys[i], &pe->addrs[i]);
		}
		if (!b.bad && !akeys_distinct(op->akeys, pe->n_addrs))
			return -EBADMSG;
		break;
	}
	case STATE_OP_REMOVE:
		if ((p = rd_bytes(&b, WG_KEY_LEN)))
			memcpy(op->peer.public_key, p, WG_KEY_LEN);
		op->deadline = rd_u64(&b);
		break;
	case STATE_OP_COUNTERS:
		if ((p = rd_bytes(&b, WG_KEY_LEN)))
			memcpy(op->peer.public_key, p, WG_KEY_LEN);
		op->peer.counters.last_rx = rd_u64(&b);
		op->peer.counters.last_tx = rd_u64(&b);
		op->peer.counters.total_rx = rd_u64(&b);
		op->peer.counters.total_tx = rd_u64(&b);
		break;
	case STATE_OP_JOB:
		op->time = rd_u64(&b);
		op->id_len = rd_u8(&b);
		op->id = rd_bytes(&b, op->id_len);
		op->answer_len = rd_u32(&b);
		op->answer = rd_bytes(&b, op->answer_len);
		if (op->id_len < 1 || op->id_len > STATE_JOB_ID_MAX ||
		    op->answer_len > STATE_JOB_ANSWER_MAX)
			return -EBADMSG;
		break;
	case STATE_OP_GENERATION:
		op->generation = rd_u64(&b);
		break;
	case STATE_OP_SERVER:
		if ((p = rd_bytes(&b, WG_KEY_LEN)))
			memcpy(op->peer.public_key, p, WG_KEY_LEN);
		op->key_file_len = rd_u8(&b);
		op->key_file = rd_bytes(&b, op->key_file_len);
		if (!b.bad && !key_file_valid(op->key_file, op->key_file_len))
			return -EBADMSG;
		break;
	case STATE_OP_RELEASE:
		rd_akey(&b, &op->addr);
		op->deadline = rd_u64(&b);
		if (!b.bad && op->deadline == 0)
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	/* The body must be exactly what its type describes: no more, no less. */
	return b.bad || b.left ? -EBADMSG : 0;
}

static int apply_peer(struct state_model *m, const struct op *op)
{
	struct state_peer *p = peer_find(m, op->peer.public_key), *fresh = NULL, *old = NULL;
	struct state_counters counters = {0};
	size_t n_new = 0;
	int r;

	for (size_t i = 0; i < op->peer.n_addrs; i++) {
		const struct aent *e = addr_find(m, &op->akeys[i]);

		if (e && e->owner && e->owner != p)
			return -EADDRINUSE;
		n_new += !e;
	}
	if ((r = addr_reserve(m, n_new)) < 0 ||
	    (r = undo_reserve(m, 1 + STATE_ADDRS_MAX + op->peer.n_addrs)) < 0)
		return r;
	if (!p) {
		if ((r = peer_reserve(m)) < 0)
			return r;
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
	} else if (m->undoable) {
		old = malloc(sizeof(*old));
		if (!old)
			return -ENOMEM;
		*old = *p;
	}

	/* Nothing below can fail. */
	if (p) {
		for (size_t i = 0; i < p->n_addrs; i++) {
			struct akey k;
			bool kept = false;

			akey_from(&p->addrs[i], &k);
			for (size_t j = 0; j < op->peer.n_addrs; j++)
				kept |= akey_eq(&k, &op->akeys[j]);
			if (!kept)
				addr_release(m, &k, op->deadline);
		}
		undo_log(m, &(struct undo){.kind = U_PEER_MODIFY, .peer = p, .old = old});
		counters = p->counters;
	} else {
		p = fresh;
	}
	*p = op->peer;
	p->counters = counters;
	if (!(p->flags & STATE_PEER_HAS_PRESHARED_KEY))
		memset(p->preshared_key, 0, sizeof(p->preshared_key));
	if (p == fresh) {
		peer_insert(m, p);
		undo_log(m, &(struct undo){.kind = U_PEER_INSERT, .peer = p});
	}
	for (size_t i = 0; i < op->peer.n_addrs; i++)
		addr_set(m, &op->akeys[i], p, 0);
	return 0;
}

static int apply_remove(struct state_model *m, const struct op *op)
{
	struct state_peer *p = peer_find(m, op->peer.public_key);
	int r;

	if (!p)
		return -ENOENT;
	if ((r = undo_reserve(m, 1 + p->n_addrs)) < 0)
		return r;
	for (size_t i = 0; i < p->n_addrs; i++) {
		struct akey k;

		akey_from(&p->addrs[i], &k);
		addr_release(m, &k, op->deadline);
	}
	peer_unlink(m, p);
	if (m->undoable)
		undo_log(m, &(struct undo){.kind = U_PEER_DELETE, .peer = p});
	else
		peer_free(p);
	return 0;
}

static int apply_counters(struct state_model *m, const struct op *op)
{
	struct state_peer *p = peer_find(m, op->peer.public_key);
	int r;

	if (!p)
		return -ENOENT;
	if ((r = undo_reserve(m, 1)) < 0)
		return r;
	undo_log(m, &(struct undo){.kind = U_COUNTERS, .peer = p, .counters = p->counters});
	p->counters = op->peer.counters;
	return 0;
}

static int apply_job(struct state_model *m, const struct op *op)
{
	struct job *j;
	int r;

	if (job_find(m, op->id, op->id_len))
		return -EEXIST;
	if ((r = jobs_reserve(m)) < 0 || (r = undo_reserve(m, 1)) < 0)
		return r;
	j = malloc(sizeof(*j) + op->id_len + op->answer_len);
	if (!j)
		return -ENOMEM;
	j->time = op->time;
	j->id_len = (uint8_t)op->id_len;
	j->answer_len = (uint32_t)op->answer_len;
	memcpy(j->data, op->id, op->id_len);
	if (op->answer_len)
		memcpy(j->data + op->id_len, op->answer, op->answer_len);
	job_push(m, j);
	undo_log(m, &(struct undo){.kind = U_JOB});
	return 0;
}

static int apply_generation(struct state_model *m, const struct op *op)
{
	int r = undo_reserve(m, 1);

	if (r < 0)
		return r;
	undo_log(m, &(struct undo){.kind = U_GENERATION, .generation = m->generation});
	m->generation = op->generation;
	return 0;
}

static int apply_server(struct state_model *m, const struct op *op)
{
	struct server *old = NULL;
	int r = undo_reserve(m, 1);

	if (r < 0)
		return r;
	if (m->undoable) {
		old = malloc(sizeof(*old));
		if (!old)
			return -ENOMEM;
		*old = m->server;
	}
	undo_log(m, &(struct undo){.kind = U_SERVER, .server = old});
	m->server.set = true;
	memcpy(m->server.public_key, op->peer.public_key, WG_KEY_LEN);
	memcpy(m->server.key_file, op->key_file, op->key_file_len);
	m->server.key_file[op->key_file_len] = '\0';
	return 0;
}

static int apply_release(struct state_model *m, const struct op *op)
{
	const struct aent *e = addr_find(m, &op->addr);
	int r;

	if (e && e->owner)
		return -EADDRINUSE;
	if ((r = addr_reserve(m, !e)) < 0 || (r = undo_reserve(m, 1)) < 0)
		return r;
	addr_set(m, &op->addr, NULL, op->deadline);
	return 0;
}

static int op_apply(struct state_model *m, const struct op *op)
{
	switch (op->type) {
	case STATE_OP_PEER:
		return apply_peer(m, op);
	case STATE_OP_REMOVE:
		return apply_remove(m, op);
	case STATE_OP_COUNTERS:
		return apply_counters(m, op);
	case STATE_OP_JOB:
		return apply_job(m, op);
	case STATE_OP_GENERATION:
		return apply_generation(m, op);
	case STATE_OP_SERVER:
		return apply_server(m, op);
	case STATE_OP_RELEASE:
		return apply_release(m, op);
	}
	return -EBADMSG;
}

int state_model_apply(struct state_model *m, const uint8_t *payload, size_t len, bool undoable,
		      size_t *ret_ops)
{
	struct reader r = {.p = payload, .left = len};
	struct op op;
	size_t n = 0;
	int ret = 0;

	if (len == 0)
		return -EBADMSG;
	/* Decode everything first, so a malformed frame is refused before any change. */
	while (r.left > 0) {
		ret = op_decode(&r, &op);
		if (ret < 0)
			goto out;
	}
	m->undoable = undoable;
	r = (struct reader){.p = payload, .left = len};
	while (r.left > 0) {
		op_decode(&r, &op);
		ret = op_apply(m, &op);
		if (ret < 0)
			goto out;
		n++;
	}
	if (ret_ops)
		*ret_ops = n;
out:
	wg_key_wipe(&op, sizeof(op));
	return ret;
}

/* ---- transactions ---- */

struct state_txn {
	uint8_t *buf; /* the frame header's room, then the payload */
	size_t len, cap;
	size_t n_ops;
};

int state_txn_new(struct state_txn **ret)
{
	struct state_txn *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->cap = 256;
	t->buf = calloc(1, t->cap);
	if (!t->buf) {
		free(t);
		return -ENOMEM;
	}
	t->len = STATE_FRAME_HEADER_SIZE;
	*ret = t;
	return 0;
}

struct state_txn *state_txn_free(struct state_txn *t)
{
	if (t) {
		secret_free(t->buf, t->len);
		free(t);
	}
	return NULL;
}

void state_txn_reset(struct state_txn *t)
{
	wg_key_wipe(t->buf, t->len);
	t->len = STATE_FRAME_HEADER_SIZE;
	t->n_ops = 0;
}

size_t state_txn_ops(const struct state_txn *t)
{
	return t->n_ops;
}

size_t state_txn_size(const struct state_txn *t)
{
	return t->len - STATE_FRAME_HEADER_SIZE;
}

const uint8_t *state_txn_payload(const struct state_txn *t, size_t *ret_len)
{
	*ret_len = t->len - STATE_FRAME_HEADER_SIZE;
	return t->buf + STATE_FRAME_HEADER_SIZE;
}

/* Room for an operation with a body of body_len bytes; returns where the body goes. */
static int op_begin(struct state_txn *t, enum state_op_type type, size_t body_len, uint8_t **ret)
{
	size_t need = OP_HEADER_SIZE + body_len;

	if (body_len > STATE_FRAME_MAX || state_txn_size(t) + need > STATE_FRAME_MAX)
		return -E2BIG;
	if (t->len + need > t->cap) {
		/* Not realloc: the old buffer may hold preshared keys and is wiped first. */
		size_t cap = t->cap;
		uint8_t *buf;

		while (cap < t->len + need)
			cap *= 2;
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, t->buf, t->len);
		secret_free(t->buf, t->len);
		t->buf = buf;
		t->cap = cap;
	}
	t->buf[t->len] = (uint8_t)type;
	put_le32(t->buf + t->len + 1, (uint32_t)body_len);
	*ret = t->buf + t->len + OP_HEADER_SIZE;
	t->len += need;
	t->n_ops++;
	return 0;
}

static uint8_t *put_akey(uint8_t *p, const struct akey *k)
{
	*p++ = k->fam;
	memcpy(p, k->b, akey_len(k));
	return p + akey_len(k);
}

int state_txn_peer_put(struct state_txn *t, const struct state_peer *pe, uint64_t deadline)
{
	struct akey keys[STATE_ADDRS_MAX];
	bool psk = pe->flags & STATE_PEER_HAS_PRESHARED_KEY;
	size_t body = WG_KEY_LEN + 1 + (psk ? WG_KEY_LEN : 0) + 2 + 8 + 8 + 8 + 1;
	uint8_t *p;
	int r;

	if ((pe->flags & ~STATE_PEER_FLAGS_ALL) || pe->n_addrs > STATE_ADDRS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < pe->n_addrs; i++) {
		if (akey_from(&pe->addrs[i], &keys[i]) < 0)
			return -EINVAL;
		body += 1 + akey_len(&keys[i]);
	}
	if (!akeys_distinct(keys, pe->n_addrs))
		return -EINVAL;
	if ((r = op_begin(t, STATE_OP_PEER, body, &p)) < 0)
		return r;
	memcpy(p, pe->public_key, WG_KEY_LEN);
	p += WG_KEY_LEN;
	*p++ = (uint8_t)pe->flags;
	if (psk) {
		memcpy(p, pe->preshared_key, WG_KEY_LEN);
		p += WG_KEY_LEN;
	}
	put_le16(p, pe->persistent_keepalive);
	put_le64(p + 2, pe->created);
	put_le64(p + 10, pe->updated);
	put_le64(p + 18, deadline);
	p[26] = (uint8_t)pe->n_addrs;
	p += 27;
	for (size_t i = 0; i < pe->n_addrs; i++)
		p = put_akey(p, &keys[i]);
	return 0;
}

int state_txn_peer_remove(struct state_txn *t, const uint8_t key[static WG_KEY_LEN],
			  uint64_t deadline)
{
	uint8_t *p;
	int r = op_begin(t, STATE_OP_REMOVE, WG_KEY_LEN + 8, &p);

	if (r < 0)
		return r;
	memcpy(p, key, WG_KEY_LEN);
	put_le64(p + WG_KEY_LEN, deadline);
	return 0;
}

int state_txn_counters(struct state_txn *t, const uint8_t key[static WG_KEY_LEN],
		       const struct state_counters *c)
{
	uint8_t *p;
	int r = op_begin(t, STATE_OP_COUNTERS, WG_KEY_LEN + 32, &p);

	if (r < 0)
		return r;
	memcpy(p, key, WG_KEY_LEN);
	put_le64(p + WG_KEY_LEN, c->last_rx);
	put_le64(p + WG_KEY_LEN + 8, c->last_tx);
	put_le64(p + WG_KEY_LEN + 16, c->total_rx);
	put_le64(p + WG_KEY_LEN + 24, c->total_tx);
	return 0;
}

int state_txn_job_put(struct state_txn *t, const char *id, size_t id_len, const void *answer,
		      size_t answer_len, uint64_t now)
{
	uint8_t *p;
	int r;

	if (!id || id_len < 1 || id_len > STATE_JOB_ID_MAX || answer_len > STATE_JOB_ANSWER_MAX ||
	    (answer_len && !answer))
		return -EINVAL;
	if ((r = op_begin(t, STATE_OP_JOB, 8 + 1 + id_len + 4 + answer_len, &p)) < 0)
		return r;
	put_le64(p, now);
	p[8] = (uint8_t)id_len;
	memcpy(p + 9, id, id_len);
	put_le32(p + 9 + id_len, (uint32_t)answer_len);
	if (answer_len)
		memcpy(p + 13 + id_len, answer, answer_len);
	return 0;
}

int state_txn_generation(struct state_txn *t, uint64_t generation)
{
	uint8_t *p;
	int r = op_begin(t, STATE_OP_GENERATION, 8, &p);

	if (r < 0)
		return r;
	put_le64(p, generation);
	return 0;
}

int state_txn_server(struct state_txn *t, const uint8_t key[static WG_KEY_LEN],
		     const char *key_file)
{
	size_t n = key_file ? strnlen(key_file, STATE_KEY_FILE_MAX + 1) : 0;
	uint8_t *p;
	int r;

	if (!key_file || !key_file_valid((const uint8_t *)key_file, n))
		return -EINVAL;
	if ((r = op_begin(t, STATE_OP_SERVER, WG_KEY_LEN + 1 + n, &p)) < 0)
		return r;
	memcpy(p, key, WG_KEY_LEN);
	p[WG_KEY_LEN] = (uint8_t)n;
	memcpy(p + WG_KEY_LEN + 1, key_file, n);
	return 0;
}

int state_txn_release(struct state_txn *t, const struct wg_allowedip *addr, uint64_t deadline)
{
	struct akey k;
	uint8_t *p;
	int r;

	if (deadline == 0 || akey_from(addr, &k) < 0)
		return -EINVAL;
	if ((r = op_begin(t, STATE_OP_RELEASE, 1 + akey_len(&k) + 8, &p)) < 0)
		return r;
	p = put_akey(p, &k);
	put_le64(p, deadline);
	return 0;
}

static uint32_t frame_crc(uint64_t file_id, const uint8_t *len_le, const uint8_t *payload,
			  size_t n)
{
	uint8_t id[8];

	put_le64(id, file_id);
	return state_crc32c(state_crc32c(state_crc32c(0, id, 8), len_le, 4), payload, n);
}

int state_txn_frame(struct state_txn *t, uint64_t file_id, const uint8_t **ret_frame,
		    size_t *ret_len)
{
	size_t n = state_txn_size(t);

	if (n == 0)
		return -ENODATA;
	put_le32(t->buf, STATE_FRAME_MAGIC);
	put_le32(t->buf + 4, (uint32_t)n);
	put_le32(t->buf + 8, frame_crc(file_id, t->buf + 4, t->buf + STATE_FRAME_HEADER_SIZE, n));
	*ret_frame = t->buf;
	*ret_len = t->len;
	return 0;
}

/* ---- loading ---- */

/* A whole, valid frame at off: its payload length in *ret_n. */
static bool frame_at(const uint8_t *buf, size_t len, size_t off, uint64_t file_id, size_t *ret_n)
{
	size_t n;

	if (len - off < STATE_FRAME_HEADER_SIZE || get_le32(buf + off) != STATE_FRAME_MAGIC)
		return false;
	n = get_le32(buf + off + 4);
	if (n < 1 || n > STATE_FRAME_MAX || n > len - off - STATE_FRAME_HEADER_SIZE)
		return false;
	if (get_le32(buf + off + 8) !=
	    frame_crc(file_id, buf + off + 4, buf + off + STATE_FRAME_HEADER_SIZE, n))
		return false;
	*ret_n = n;
	return true;
}

/*
 * Only the last append can be torn, since the loader cuts a torn tail off before anything
 * else is appended: a bad frame followed by a valid one is damage, not a crash.
 */
static bool valid_frame_after(const uint8_t *buf, size_t len, size_t from, uint64_t file_id)
{
	static const uint8_t magic[4] = {0x57, 0x47, 0x46, 0x52};

	while (from + STATE_FRAME_HEADER_SIZE <= len) {
		const uint8_t *p = memmem(buf + from, len - from, magic, sizeof(magic));
		size_t n;

		if (!p)
			return false;
		from = (size_t)(p - buf);
		if (frame_at(buf, len, from, file_id, &n))
			return true;
		from++;
	}
	return false;
}

static int load_fail(struct state_load_info *info, int r, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int load_fail(struct state_load_info *info, int r, uint64_t offset, const char *fmt, ...)
{
	va_list ap;

	info->offset = offset;
	va_start(ap, fmt);
	vsnprintf(info->message, sizeof(info->message), fmt, ap);
	va_end(ap);
	return r;
}

int state_model_load(struct state_model *m, const uint8_t *buf, size_t len,
		     struct state_load_info *info, uint64_t *ret_file_id)
{
	uint64_t file_id;
	size_t off = STATE_HEADER_SIZE;

	memset(info, 0, sizeof(*info));
	info->file_bytes = len;
	if (len < sizeof(header_magic) || memcmp(buf, header_magic, sizeof(header_magic)) != 0)
		return load_fail(info, -EBADMSG, 0, "not a wgfleet state file (bad magic)");
	if (len < 16)
		return load_fail(info, -EBADMSG, 0, "truncated header (%zu bytes)", len);
	/* Magic, version and header size stay where they are in every version. */
	info->version = get_le32(buf + 8);
	if (info->version > STATE_FORMAT_VERSION)
		return load_fail(info, -EPROTONOSUPPORT, 8,
				 "format version %" PRIu32 " is newer than this agent reads (%d)",
				 info->version, STATE_FORMAT_VERSION);
	if (len < STATE_HEADER_SIZE)
		return load_fail(info, -EBADMSG, 0, "truncated header (%zu bytes)", len);
	if (get_le32(buf + 28) != state_crc32c(0, buf, 28))
		return load_fail(info, -EBADMSG, 0, "header checksum mismatch");
	if (info->version == 0 || get_le32(buf + 12) != STATE_HEADER_SIZE ||
	    get_le32(buf + 24) != 0)
		return load_fail(info, -EBADMSG, 0, "bad header (version %" PRIu32 ")",
				 info->version);
	file_id = get_le64(buf + 16);

	while (off < len) {
		size_t n, ops;
		int r;

		if (!frame_at(buf, len, off, file_id, &n)) {
			if (valid_frame_after(buf, len, off + 1, file_id))
				return load_fail(info, -EBADMSG, off,
						 "corrupt frame at offset %zu, valid frames follow",
						 off);
			info->torn_tail = true;
			info->torn_bytes = len - off;
			break;
		}
		r = state_model_apply(m, buf + off + STATE_FRAME_HEADER_SIZE, n, false, &ops);
		if (r == -EBADMSG)
			return load_fail(info, r, off, "malformed operation in frame at offset %zu",
					 off);
		if (r == -ENOMEM)
			return load_fail(info, r, off, "out of memory");
		if (r < 0)
			return load_fail(info, -EUCLEAN, off,
					 "frame at offset %zu contradicts the state: %s", off,
					 r == -ENOENT	     ? "no such peer"
					 : r == -EEXIST	     ? "job id answered twice"
					 : r == -EADDRINUSE ? "address on another peer"
							     : strerror(-r));
		state_model_settle(m);
		info->frames++;
		info->ops += ops;
		off += STATE_FRAME_HEADER_SIZE + n;
	}
	info->offset = off;
	if (ret_file_id)
		*ret_file_id = file_id;
	return 0;
}

/* ---- snapshot ---- */

struct snap {
	struct state_txn *t;
	uint64_t file_id;
	state_write_fn write;
	void *userdata;
};

static int snap_flush(struct snap *s, bool force)
{
	const uint8_t *frame;
	size_t n;
	int r;

	if (state_txn_size(s->t) == 0 || (!force && state_txn_size(s->t) < SNAPSHOT_FRAME_TARGET))
		return 0;
	state_txn_frame(s->t, s->file_id, &frame, &n);
	r = s->write(frame, n, s->userdata);
	state_txn_reset(s->t);
	return r;
}

int state_model_snapshot(const struct state_model *m, uint64_t file_id, state_write_fn write,
			 void *userdata)
{
	struct snap s = {.file_id = file_id, .write = write, .userdata = userdata};
	uint8_t hdr[STATE_HEADER_SIZE] = {0};
	static const struct state_counters zero;
	int r;

	memcpy(hdr, header_magic, sizeof(header_magic));
	put_le32(hdr + 8, STATE_FORMAT_VERSION);
	put_le32(hdr + 12, STATE_HEADER_SIZE);
	put_le64(hdr + 16, file_id);
	put_le32(hdr + 28, state_crc32c(0, hdr, 28));
	if ((r = write(hdr, sizeof(hdr), userdata)) != 0)
		return r;
	if ((r = state_txn_new(&s.t)) < 0)
		return r;

	if (m->server.set && (r = state_txn_server(s.t, m->server.public_key,
						   m->server.key_file)) < 0)
		goto out;
	if (m->generation && (r = state_txn_generation(s.t, m->generation)) < 0)
		goto out;
	for (size_t i = 0; i < m->n_peers; i++) {
		const struct state_peer *p = m->peers[i];

		if ((r = state_txn_peer_put(s.t, p, 0)) < 0)
			goto out;
		if (memcmp(&p->counters, &zero, sizeof(zero)) != 0 &&
		    (r = state_txn_counters(s.t, p->public_key, &p->counters)) < 0)
			goto out;
		if ((r = snap_flush(&s, false)) != 0)
			goto out;
	}
	for (size_t i = 0; i < m->n_addrs; i++) {
		struct wg_allowedip a;

		if (m->addrs[i].owner)
			continue;
		akey_to(&m->addrs[i].key, &a);
		if ((r = state_txn_release(s.t, &a, m->addrs[i].deadline)) < 0 ||
		    (r = snap_flush(&s, false)) != 0)
			goto out;
	}
	for (size_t i = 0; i < m->n_jobs; i++) {
		const struct job *j = job_at(m, i);

		if ((r = state_txn_job_put(s.t, (const char *)j->data, j->id_len,
					   j->data + j->id_len, j->answer_len, j->time)) < 0 ||
		    (r = snap_flush(&s, false)) != 0)
			goto out;
	}
	r = snap_flush(&s, true);
out:
	state_txn_free(s.t);
	return r;
}

/* ---- checks, comparison, pools ---- */

int state_model_check(const struct state_model *m)
{
	size_t owned = 0, quarantined = 0, listed = 0;

	if (m->peer_idx.n != m->n_peers || m->addr_idx.n != m->n_addrs ||
	    m->job_idx.n != m->n_jobs)
		return -EUCLEAN;
	for (size_t i = 0; i < m->n_peers; i++) {
		const struct state_peer *p = m->peers[i];

		if (peer_find(m, p->public_key) != p || p->n_addrs > STATE_ADDRS_MAX ||
		    (p->flags & ~STATE_PEER_FLAGS_ALL))
			return -EUCLEAN;
		for (size_t j = 0; j < p->n_addrs; j++) {
			struct akey k;
			const struct aent *e;

			if (akey_from(&p->addrs[j], &k) < 0)
				return -EUCLEAN;
			e = addr_find(m, &k);
			/* The entry of each address names exactly one peer: this one. */
			if (!e || e->owner != p || e->deadline != 0)
				return -EUCLEAN;
		}
		listed += p->n_addrs;
	}
	for (size_t i = 0; i < m->n_addrs; i++) {
		if (addr_find(m, &m->addrs[i].key) != &m->addrs[i])
			return -EUCLEAN;
		if (m->addrs[i].owner)
			owned++;
		else if (m->addrs[i].deadline == 0)
			return -EUCLEAN;
		else
			quarantined++;
	}
	/* Equal counts: no peer lists one address twice, no entry points to a lost peer. */
	if (owned != listed || quarantined != m->n_quarantined)
		return -EUCLEAN;
	for (size_t i = 0; i < m->n_jobs; i++) {
		const struct job *j = job_at(m, i);

		if (job_find(m, j->data, j->id_len) != j)
			return -EUCLEAN;
	}
	return 0;
}

static bool peer_equal(const struct state_peer *a, const struct state_peer *b)
{
	if (memcmp(a->public_key, b->public_key, WG_KEY_LEN) != 0 ||
	    memcmp(a->preshared_key, b->preshared_key, WG_KEY_LEN) != 0 || a->flags != b->flags ||
	    a->persistent_keepalive != b->persistent_keepalive || a->created != b->created ||
	    a->updated != b->updated || a->n_addrs != b->n_addrs ||
	    memcmp(&a->counters, &b->counters, sizeof(a->counters)) != 0)
		return false;
	for (size_t i = 0; i < a->n_addrs; i++)
		if (!addr_eq(&a->addrs[i], &b->addrs[i]))
			return false;
	return true;
}

bool state_model_equal(const struct state_model *a, const struct state_model *b)
{
	if (a->n_peers != b->n_peers || a->n_addrs != b->n_addrs || a->n_jobs != b->n_jobs ||
	    a->n_quarantined != b->n_quarantined || a->generation != b->generation ||
	    a->server.set != b->server.set)
		return false;
	if (a->server.set && (memcmp(a->server.public_key, b->server.public_key, WG_KEY_LEN) != 0 ||
			      strcmp(a->server.key_file, b->server.key_file) != 0))
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct state_peer *q = peer_find(b, a->peers[i]->public_key);

		if (!q || !peer_equal(a->peers[i], q))
			return false;
	}
	for (size_t i = 0; i < a->n_addrs; i++) {
		const struct aent *e = &a->addrs[i], *f = addr_find(b, &e->key);

		if (!f || !e->owner != !f->owner || e->deadline != f->deadline ||
		    (e->owner && memcmp(e->owner->public_key, f->owner->public_key, WG_KEY_LEN)))
			return false;
	}
	for (size_t i = 0; i < a->n_jobs; i++) {
		const struct job *x = job_at(a, i), *y = job_at(b, i);

		if (x->time != y->time || x->id_len != y->id_len ||
		    x->answer_len != y->answer_len ||
		    memcmp(x->data, y->data, x->id_len + x->answer_len) != 0)
			return false;
	}
	return true;
}

int state_model_pools_restore(const struct state_model *m, struct ippool *const *pools,
			      size_t n_pools, struct wg_allowedip *bad)
{
	for (size_t i = 0; i < m->n_addrs; i++) {
		const struct aent *e = &m->addrs[i];
		enum ippool_state st = !e->owner			 ? IPPOOL_QUARANTINED
				       : e->owner->flags & STATE_PEER_DISABLED ? IPPOOL_HELD
									       : IPPOOL_USED;
		struct wg_allowedip a;
		int r = -EADDRNOTAVAIL;

		akey_to(&e->key, &a);
		for (size_t j = 0; j < n_pools; j++) {
			enum ippool_state cur;

			if (ippool_lookup(pools[j], &a, &cur, NULL) < 0)
				continue;
			r = ippool_restore(pools[j], &a, st, e->deadline);
			break;
		}
		/* A quarantined address the pools no longer hand out is simply free. */
		if (r < 0 && e->owner) {
			if (bad)
				*bad = a;
			return r;
		}
	}
	return 0;
}

/* ---- readers ---- */

const struct state_peer *state_model_peer_get(const struct state_model *m,
					      const uint8_t key[static WG_KEY_LEN])
{
	return peer_find(m, key);
}

const struct state_peer *state_model_peer_next(const struct state_model *m, size_t *iter)
{
	return *iter < m->n_peers ? m->peers[(*iter)++] : NULL;
}

int state_model_addr_lookup(const struct state_model *m, const struct wg_allowedip *addr,
			    const struct state_peer **ret_owner, uint64_t *ret_deadline)
{
	struct akey k;
	const struct aent *e;

	if (akey_from(addr, &k) < 0)
		return -EINVAL;
	e = addr_find(m, &k);
	if (!e)
		return -ENOENT;
	if (ret_owner)
		*ret_owner = e->owner;
	if (ret_deadline)
		*ret_deadline = e->deadline;
	return 0;
}

int state_model_job_get(const struct state_model *m, const char *id, size_t id_len,
			const uint8_t **ret_answer, size_t *ret_len)
{
	const struct job *j;

	if (!id || id_len < 1 || id_len > STATE_JOB_ID_MAX)
		return -ENOENT;
	j = job_find(m, (const uint8_t *)id, id_len);
	if (!j)
		return -ENOENT;
	*ret_answer = j->data + j->id_len;
	*ret_len = j->answer_len;
	return 0;
}

uint64_t state_model_generation(const struct state_model *m)
{
	return m->generation;
}

int state_model_server_get(const struct state_model *m, uint8_t ret_public_key[static WG_KEY_LEN],
			   const char **ret_key_file)
{
	if (!m->server.set)
		return -ENOENT;
	memcpy(ret_public_key, m->server.public_key, WG_KEY_LEN);
	*ret_key_file = m->server.key_file;
	return 0;
}

void state_model_stats(const struct state_model *m, struct state_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->peers = m->n_peers;
	ret->addresses = m->n_addrs - m->n_quarantined;
	ret->quarantined = m->n_quarantined;
	ret->jobs = m->n_jobs;
	ret->generation = m->generation;
}

/* ---- counters ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void state_counters_rebase(const struct state_counters *old, uint64_t rx, uint64_t tx, bool reset,
			   struct state_counters *ret)
{
	/* The kernel resets a peer's two counters together: one going back means both did. */
	bool restarted = reset || rx < old->last_rx || tx < old->last_tx;
	struct state_counters c = {
		.last_rx = rx,
		.last_tx = tx,
		.total_rx = sat_add(old->total_rx, restarted ? rx : rx - old->last_rx),
		.total_tx = sat_add(old->total_tx, restarted ? tx : tx - old->last_tx),
	};

	*ret = c;
}
