// SPDX-License-Identifier: MIT
/*
 * The durable record's pure core: CRC-32C, operation encoding, apply semantics with
 * rollback, the journal loader (torn tails, corruption, versions) and pool rebuilding.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ippool.h"
#include "state_codec.h"

#define FILE_ID UINT64_C(0x1122334455667788)

/* ---- helpers ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_write(const void *data, size_t len, void *userdata)
{
	struct buf *b = userdata;

	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static struct buf snapshot(const struct state_model *m)
{
	struct buf b = {0};

	assert_int_equal(state_model_snapshot(m, FILE_ID, buf_write, &b), 0);
	return b;
}

/* Append the frame of txn (with FILE_ID) to b. */
static void append_frame(struct buf *b, struct state_txn *t)
{
	const uint8_t *f;
	size_t n;

	assert_int_equal(state_txn_frame(t, FILE_ID, &f, &n), 0);
	buf_write(f, n, b);
}

static struct state_model *model_new(void)
{
	struct state_model *m = NULL;

	assert_int_equal(state_model_new(&m), 0);
	return m;
}

static struct state_txn *txn_new(void)
{
	struct state_txn *t = NULL;

	assert_int_equal(state_txn_new(&t), 0);
	return t;
}

/* Load bytes into a new model; returns the load result, model in *ret (freed on error). */
static int load(const struct buf *b, struct state_model **ret, struct state_load_info *info)
{
	struct state_model *m = model_new();
	int r = state_model_load(m, b->p, b->len, info, NULL);

	if (r < 0)
		m = state_model_free(m);
	*ret = m;
	return r;
}

/* Apply txn to m as a commit would; settle on success, roll back on failure. */
static int apply(struct state_model *m, struct state_txn *t)
{
	size_t n;
	const uint8_t *p = state_txn_payload(t, &n);
	int r = state_model_apply(m, p, n, true, NULL);

	if (r < 0)
		state_model_rollback(m);
	else
		state_model_settle(m);
	return r;
}

static struct wg_allowedip A(const char *s)
{
	struct wg_allowedip a;

	assert_int_equal(wg_allowedip_parse(s, &a), 0);
	return a;
}

/* A pointer to a parsed address, valid for the next few calls. */
static const struct wg_allowedip *AP(const char *s)
{
	static struct wg_allowedip ring[8];
	static unsigned i;

	ring[i % 8] = A(s);
	return &ring[i++ % 8];
}

static struct state_peer peer(uint8_t key_byte, const char *a4, const char *a6)
{
	struct state_peer p = {0};

	memset(p.public_key, key_byte, WG_KEY_LEN);
	p.persistent_keepalive = 25;
	p.created = p.updated = 1000;
	if (a4)
		p.addrs[p.n_addrs++] = A(a4);
	if (a6)
		p.addrs[p.n_addrs++] = A(a6);
	return p;
}

static void put(struct state_model *m, const struct state_peer *p, uint64_t deadline, int expect)
{
	struct state_txn *t = txn_new();

	assert_int_equal(state_txn_peer_put(t, p, deadline), 0);
	assert_int_equal(apply(m, t), expect);
	state_txn_free(t);
}

/* A model with a bit of everything: peers (one with a PSK, one disabled, counters),
 * quarantined addresses, jobs, a generation and the server key. */
static struct state_model *rich_model(void)
{
	struct state_model *m = model_new();
	struct state_txn *t = txn_new();
	struct state_peer p = peer(1, "10.8.0.2", "fd42::2");
	struct state_counters c = {.last_rx = 5, .last_tx = 6, .total_rx = 500, .total_tx = 600};
	uint8_t srv[WG_KEY_LEN];

	p.flags = STATE_PEER_HAS_PRESHARED_KEY;
	memset(p.preshared_key, 0xab, WG_KEY_LEN);
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	p = peer(2, "10.8.0.3", NULL);
	p.flags = STATE_PEER_DISABLED;
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	p = peer(3, "10.8.0.4", "fd42::4");
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	assert_int_equal(state_txn_counters(t, p.public_key, &c), 0);
	assert_int_equal(state_txn_peer_remove(t, p.public_key, 5000), 0);
	p = peer(4, "10.8.0.5", NULL);
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	assert_int_equal(state_txn_counters(t, p.public_key, &c), 0);
	assert_int_equal(state_txn_job_put(t, "job-1", 5, "{\"a\":1}", 7, 1000), 0);
	assert_int_equal(state_txn_job_put(t, "job-2", 5, "", 0, 1001), 0);
	assert_int_equal(state_txn_generation(t, 42), 0);
	memset(srv, 0x77, sizeof(srv));
	assert_int_equal(state_txn_server(t, srv, "private.key"), 0);
	assert_int_equal(state_txn_release(t, &(struct wg_allowedip){.family = AF_INET,
								       .ip4.s_addr =
									       htonl(0x0a080063)},
					   7000),
			 0);
	assert_int_equal(apply(m, t), 0);
	state_txn_free(t);
	assert_int_equal(state_model_check(m), 0);
	return m;
}

/* ---- tests ---- */

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(state_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(state_crc32c(0, "", 0), 0);
	/* chaining, across the 8-byte stride */
	const char *s = "The quick brown fox jumps over the lazy dog";
	uint32_t whole = state_crc32c(0, s, strlen(s));

	for (size_t cut = 0; cut <= strlen(s); cut++)
		assert_int_equal(state_crc32c(state_crc32c(0, s, cut), s + cut, strlen(s) - cut),
				 whole);
}

static void test_round_trip(void **state)
{
	struct state_model *m = rich_model(), *m2 = NULL, *m3 = NULL;
	struct state_load_info info;
	struct buf b = snapshot(m), b2;
	struct state_stats st;
	const uint8_t *ans;
	size_t n;

	(void)state;
	assert_int_equal(load(&b, &m2, &info), 0);
	assert_true(state_model_equal(m, m2));
	assert_false(info.torn_tail);
	assert_int_equal(info.version, STATE_FORMAT_VERSION);
	assert_int_equal(info.offset, b.len);
	/* snapshot(load(snapshot(m))) == snapshot(m), byte for byte */
	b2 = snapshot(m2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.p, b.p, b.len);

	state_model_stats(m2, &st);
	assert_int_equal(st.peers, 3);
	assert_int_equal(st.addresses, 4);
	assert_int_equal(st.quarantined, 3); /* 10.8.0.4, fd42::4, 10.8.0.99 */
	assert_int_equal(st.jobs, 2);
	assert_int_equal(st.generation, 42);
	assert_int_equal(state_model_job_get(m2, "job-1", 5, &ans, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(ans, "{\"a\":1}", 7);
	assert_int_equal(state_model_job_get(m2, "job-3", 5, &ans, &n), -ENOENT);

	uint8_t k[WG_KEY_LEN];
	const struct state_peer *p;
	const char *kf;

	memset(k, 1, sizeof(k));
	p = state_model_peer_get(m2, k);
	assert_non_null(p);
	assert_true(p->flags & STATE_PEER_HAS_PRESHARED_KEY);
	assert_int_equal(p->preshared_key[31], 0xab);
	assert_int_equal(p->n_addrs, 2);
	memset(k, 4, sizeof(k));
	p = state_model_peer_get(m2, k);
	assert_int_equal(p->counters.total_tx, 600);
	assert_int_equal(state_model_server_get(m2, k, &kf), 0);
	assert_string_equal(kf, "private.key");
	assert_int_equal(k[0], 0x77);

	/* a journal of frames loads to the same model as its snapshot */
	struct state_model *empty = model_new();
	struct buf j = snapshot(empty);
	struct state_txn *t = txn_new();

	assert_int_equal(state_txn_generation(t, 42), 0);
	append_frame(&j, t);
	assert_int_equal(load(&j, &m3, &info), 0);
	assert_int_equal(info.frames, 1);
	assert_int_equal(info.ops, 1);
	assert_int_equal(state_model_generation(m3), 42);

	state_txn_free(t);
	state_model_free(empty);
	state_model_free(m3);
	free(j.p);
	free(b.p);
	free(b2.p);
	state_model_free(m);
	state_model_free(m2);
}

/* Journal: a snapshot of rich_model, then three more frames. */
static struct buf journal(size_t *frame_starts)
{
	struct state_model *m = rich_model();
	struct buf b = snapshot(m);
	struct state_txn *t = txn_new();
	struct state_peer p;

	for (int i = 0; i < 3; i++) {
		frame_starts[i] = b.len;
		p = peer((uint8_t)(10 + i), NULL, NULL);
		p.addrs[p.n_addrs++] = (struct wg_allowedip){.family = AF_INET,
							     .ip4.s_addr = htonl(0x0a080010 + i)};
		assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
		if (i == 0)
			assert_int_equal(state_txn_job_put(t, "j", 1, "x", 1, 2000), 0);
		append_frame(&b, t);
		state_txn_reset(t);
	}
	frame_starts[3] = b.len;
	state_txn_free(t);
	state_model_free(m);
	return b;
}

static void test_torn_tail(void **state)
{
	size_t starts[4];
	struct buf b = journal(starts);
	struct state_model *m = NULL, *ref = NULL;
	struct state_load_info info;

	(void)state;
	/* The model after two of the three frames. */
	struct buf two = {.p = b.p, .len = starts[2]};

	assert_int_equal(load(&two, &ref, &info), 0);
	assert_false(info.torn_tail);

	/* Every cut inside the last frame: dropped as a torn tail, the rest intact. */
	for (size_t cut = starts[2] + 1; cut < starts[3]; cut++) {
		struct buf c = {.p = b.p, .len = cut};

		assert_int_equal(load(&c, &m, &info), 0);
		assert_true(info.torn_tail);
		assert_int_equal(info.torn_bytes, cut - starts[2]);
		assert_int_equal(info.offset, starts[2]);
		assert_int_equal(info.frames, 3); /* the snapshot's one frame and two more */
		assert_true(state_model_equal(m, ref));
		m = state_model_free(m);
	}
	/* Zeros or garbage after the last frame (a preallocated or half-written tail). */
	uint8_t *z = calloc(1, b.len + 4096);
	struct buf zb = {.p = z, .len = b.len + 4096};

	memcpy(z, b.p, b.len);
	assert_int_equal(load(&zb, &m, &info), 0);
	assert_true(info.torn_tail);
	assert_int_equal(info.torn_bytes, 4096);
	assert_int_equal(info.offset, b.len);
	m = state_model_free(m);
	/* A flipped bit in the last frame: its CRC fails, nothing follows: torn. */
	memcpy(z, b.p, b.len);
	zb.len = b.len;
	z[starts[2] + 20] ^= 1;
	assert_int_equal(load(&zb, &m, &info), 0);
	assert_true(info.torn_tail);
	assert_true(state_model_equal(m, ref));
	m = state_model_free(m);
	/* A frame of another journal (another file id) at the end: not ours, torn. */
	struct state_txn *t = txn_new();
	const uint8_t *f;
	size_t n;

	assert_int_equal(state_txn_generation(t, 7), 0);
	assert_int_equal(state_txn_frame(t, FILE_ID + 1, &f, &n), 0);
	memcpy(z, b.p, starts[2]);
	memcpy(z + starts[2], f, n);
	zb.len = starts[2] + n;
	assert_int_equal(load(&zb, &m, &info), 0);
	assert_true(info.torn_tail);
	assert_true(state_model_equal(m, ref));
	m = state_model_free(m);

	state_txn_free(t);
	free(z);
	state_model_free(ref);
	free(b.p);
}

static void test_corrupt_middle(void **state)
{
	size_t starts[4];
	struct buf b = journal(starts);
	struct state_model *m = NULL;
	struct state_load_info info;

	(void)state;
	for (size_t at = starts[1]; at < starts[2]; at += 3) {
		b.p[at] ^= 0x40;
		assert_int_equal(load(&b, &m, &info), -EBADMSG);
		assert_int_equal(info.offset, starts[1]);
		assert_non_null(strstr(info.message, "corrupt frame at offset"));
		b.p[at] ^= 0x40;
	}
	/* The header: magic, checksum, version. */
	b.p[0] = 'X';
	assert_int_equal(load(&b, &m, &info), -EBADMSG);
	assert_non_null(strstr(info.message, "bad magic"));
	b.p[0] = 'W';
	b.p[20] ^= 1;
	assert_int_equal(load(&b, &m, &info), -EBADMSG);
	assert_non_null(strstr(info.message, "header checksum"));
	b.p[20] ^= 1;
	struct buf short_hdr = {.p = b.p, .len = 20};

	assert_int_equal(load(&short_hdr, &m, &info), -EBADMSG);
	struct buf none = {.p = b.p, .len = 0};

	assert_int_equal(load(&none, &m, &info), -EBADMSG);
	free(b.p);
}

static void test_future_version(void **state)
{
	struct state_model *m = rich_model(), *m2 = NULL;
	struct buf b = snapshot(m);
	struct state_load_info info;

	(void)state;
	b.p[8] = STATE_FORMAT_VERSION + 1;
	assert_int_equal(load(&b, &m2, &info), -EPROTONOSUPPORT);
	assert_int_equal(info.version, STATE_FORMAT_VERSION + 1);
	assert_non_null(strstr(info.message, "newer"));
	/* Even a future header too short for version 1 is refused for its version. */
	struct buf cut = {.p = b.p, .len = 16};

	assert_int_equal(load(&cut, &m2, &info), -EPROTONOSUPPORT);
	/* Version 0 never existed. */
	b.p[8] = 0;
	assert_int_equal(load(&b, &m2, &info), -EBADMSG);
	free(b.p);
	state_model_free(m);
}

/* A frame whose CRC is right but whose content is not: malformed, or refused by the state. */
static void test_bad_frame_content(void **state)
{
	struct state_model *m = model_new(), *m2 = NULL;
	struct buf base = snapshot(m), b = {0};
	struct state_txn *t = txn_new();
	struct state_load_info info;
	uint8_t k[WG_KEY_LEN] = {9};
	size_t n;
	uint8_t *p;

	(void)state;
	/* Removing a peer that does not exist: the record contradicts itself. */
	buf_write(base.p, base.len, &b);
	assert_int_equal(state_txn_peer_remove(t, k, 0), 0);
	append_frame(&b, t);
	assert_int_equal(load(&b, &m2, &info), -EUCLEAN);
	assert_int_equal(info.offset, base.len);

	/* Mutations of a valid operation: unknown type, body one byte short or long. */
	state_txn_reset(t);
	struct state_peer pe = peer(1, "10.0.0.1", NULL);

	assert_int_equal(state_txn_peer_put(t, &pe, 0), 0);
	p = (uint8_t *)state_txn_payload(t, &n);
	for (int mut = 0; mut < 4; mut++) {
		uint8_t save[5];

		memcpy(save, p, 5);
		if (mut == 0)
			p[0] = 99; /* unknown type */
		else if (mut == 1)
			p[1]--; /* body length one short */
		else if (mut == 2)
			p[1]++; /* past the payload */
		else
			p[5 + 32] = 0x80; /* unknown flag */
		b.len = 0;
		buf_write(base.p, base.len, &b);
		append_frame(&b, t);
		assert_int_equal(load(&b, &m2, &info), -EBADMSG);
		assert_non_null(strstr(info.message, "malformed"));
		memcpy(p, save, 5);
		p[5 + 32] = 0;
	}
	/* A duplicate address inside one peer never gets into a txn. */
	pe.addrs[1] = pe.addrs[0];
	pe.n_addrs = 2;
	assert_int_equal(state_txn_peer_put(t, &pe, 0), -EINVAL);
	pe.n_addrs = 3;
	assert_int_equal(state_txn_peer_put(t, &pe, 0), -EINVAL);
	pe.n_addrs = 1;
	pe.flags = 1U << 7;
	assert_int_equal(state_txn_peer_put(t, &pe, 0), -EINVAL);
	assert_int_equal(state_txn_job_put(t, "", 0, "", 0, 1), -EINVAL);
	char big[STATE_JOB_ID_MAX + 1];

	memset(big, 'a', sizeof(big));
	assert_int_equal(state_txn_job_put(t, big, sizeof(big), "", 0, 1), -EINVAL);
	assert_int_equal(state_txn_server(t, k, "a/b"), -EINVAL);
	assert_int_equal(state_txn_server(t, k, ".."), -EINVAL);
	assert_int_equal(state_txn_release(t, &pe.addrs[0], 0), -EINVAL);

	state_txn_free(t);
	free(base.p);
	free(b.p);
	state_model_free(m);
}

static void test_apply_semantics(void **state)
{
	struct state_model *m = model_new();
	struct state_txn *t = txn_new();
	struct state_peer a = peer(1, "10.8.0.2", "fd42::2"), b = peer(2, "10.8.0.3", NULL);
	const struct state_peer *owner;
	struct state_counters c = {.last_rx = 10, .total_rx = 10};
	uint64_t dl;

	(void)state;
	put(m, &a, 0, 0);
	put(m, &b, 0, 0);
	/* Counters survive a re-put of the same peer. */
	assert_int_equal(state_txn_counters(t, a.public_key, &c), 0);
	assert_int_equal(apply(m, t), 0);
	state_txn_reset(t);
	a.persistent_keepalive = 0;
	put(m, &a, 0, 0);
	assert_int_equal(state_model_peer_get(m, a.public_key)->counters.total_rx, 10);
	assert_int_equal(state_model_peer_get(m, a.public_key)->persistent_keepalive, 0);

	/* b may not take a's address. */
	struct state_peer b2 = peer(2, "10.8.0.2", NULL);

	put(m, &b2, 0, -EADDRINUSE);
	assert_int_equal(state_model_addr_lookup(m, &b.addrs[0], &owner, NULL), 0);
	assert_memory_equal(owner->public_key, b.public_key, WG_KEY_LEN);

	/* Changing a peer's address quarantines the old one until the deadline. */
	struct state_peer b3 = peer(2, "10.8.0.9", NULL);

	put(m, &b3, 900, 0);
	assert_int_equal(state_model_addr_lookup(m, &b.addrs[0], &owner, &dl), 0);
	assert_null(owner);
	assert_int_equal(dl, 900);
	/* Remove a: both addresses quarantined; with deadline 0 they are simply free. */
	assert_int_equal(state_txn_peer_remove(t, a.public_key, 0), 0);
	assert_int_equal(apply(m, t), 0);
	state_txn_reset(t);
	assert_int_equal(state_model_addr_lookup(m, &a.addrs[0], NULL, NULL), -ENOENT);
	assert_null(state_model_peer_get(m, a.public_key));
	/* Removing it again, counters of a missing peer: refused. */
	assert_int_equal(state_txn_peer_remove(t, a.public_key, 0), 0);
	assert_int_equal(apply(m, t), -ENOENT);
	state_txn_reset(t);
	assert_int_equal(state_txn_counters(t, a.public_key, &c), 0);
	assert_int_equal(apply(m, t), -ENOENT);
	state_txn_reset(t);
	/* A quarantined address is taken over by a new peer (the pool decided it is free). */
	struct state_peer d = peer(4, "10.8.0.3", NULL);

	put(m, &d, 0, 0);
	assert_int_equal(state_model_addr_lookup(m, &d.addrs[0], &owner, &dl), 0);
	assert_non_null(owner);
	assert_int_equal(dl, 0);
	/* A release of an owned address is refused. */
	assert_int_equal(state_txn_release(t, &d.addrs[0], 5), 0);
	assert_int_equal(apply(m, t), -EADDRINUSE);
	state_txn_reset(t);
	/* Jobs: one answer per id. */
	assert_int_equal(state_txn_job_put(t, "j1", 2, "A", 1, 1), 0);
	assert_int_equal(apply(m, t), 0);
	assert_int_equal(apply(m, t), -EEXIST);
	state_txn_reset(t);
	assert_int_equal(state_model_check(m), 0);

	state_txn_free(t);
	state_model_free(m);
}

/* The operations of test_rollback: every kind, touching each other; conflict: end with an
 * operation the state refuses. */
static void rollback_ops(struct state_txn *t, bool conflict)
{
	uint8_t k[WG_KEY_LEN], srv[WG_KEY_LEN];
	struct state_peer p;
	struct state_counters c = {1, 2, 3, 4};

	memset(k, 1, sizeof(k));
	memset(srv, 0x55, sizeof(srv));
	/* Remove peer 1, give its address to a new peer, change peer 2, counters, job,
	 * generation, server, a release, remove peer 4 freeing its address at once... */
	assert_int_equal(state_txn_peer_remove(t, k, 0), 0);
	p = peer(20, "10.8.0.2", "fd42::99");
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	assert_int_equal(state_txn_counters(t, p.public_key, &c), 0);
	p = peer(2, "10.8.0.77", NULL);
	assert_int_equal(state_txn_peer_put(t, &p, 123), 0);
	assert_int_equal(state_txn_job_put(t, "job-3", 5, "z", 1, 5), 0);
	assert_int_equal(state_txn_generation(t, 43), 0);
	assert_int_equal(state_txn_server(t, srv, "other.key"), 0);
	assert_int_equal(state_txn_release(t, AP("10.8.0.100"), 9), 0);
	memset(k, 4, sizeof(k));
	assert_int_equal(state_txn_peer_remove(t, k, 0), 0);
	/* ...a new peer taking peer 4's freed address, put again (a modify), removed, put... */
	p = peer(21, "10.8.0.5", NULL);
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	p.persistent_keepalive = 1;
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	assert_int_equal(state_txn_peer_remove(t, p.public_key, 77), 0);
	assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	/* ...and finally a conflict: peer 22 wants peer 20's address. */
	if (conflict) {
		p = peer(22, "fd42::99", NULL);
		assert_int_equal(state_txn_peer_put(t, &p, 0), 0);
	}
}

/* A refused operation at the end of a txn reverts all the operations before it. */
static void test_rollback(void **state)
{
	struct state_model *m = rich_model(), *ref = NULL, *ok = NULL;
	struct state_load_info info;
	struct buf before = snapshot(m), after;
	struct state_txn *t = txn_new();
	size_t n;
	const uint8_t *pl;

	(void)state;
	assert_int_equal(load(&before, &ref, &info), 0);
	rollback_ops(t, true);
	assert_int_equal(apply(m, t), -EADDRINUSE);
	assert_int_equal(state_model_check(m), 0);
	/* Equal to what it was (the order inside may differ, so not compared as bytes). */
	assert_true(state_model_equal(m, ref));

	/* Without the conflict it applies; rolled back instead of settled, same state again. */
	state_txn_reset(t);
	rollback_ops(t, false);
	pl = state_txn_payload(t, &n);
	assert_int_equal(state_model_apply(m, pl, n, true, NULL), 0);
	assert_int_equal(state_model_check(m), 0);
	assert_false(state_model_equal(m, ref));
	state_model_rollback(m);
	assert_int_equal(state_model_check(m), 0);
	assert_true(state_model_equal(m, ref));
	/* Applied for good, it equals its own replay. */
	assert_int_equal(apply(m, t), 0);
	after = snapshot(m);
	assert_int_equal(load(&after, &ok, &info), 0);
	assert_true(state_model_equal(m, ok));
	assert_int_equal(state_model_peer_get(ok, peer(21, NULL, NULL).public_key)
				 ->persistent_keepalive,
			 1);

	free(before.p);
	free(after.p);
	state_model_free(ok);
	state_model_free(ref);
	state_txn_free(t);
	state_model_free(m);
}

static void test_jobs_bounded(void **state)
{
	struct state_model *m = model_new(), *m2 = NULL;
	struct state_txn *t = txn_new();
	struct state_load_info info;
	const uint8_t *ans;
	char id[16];
	size_t n;

	(void)state;
	for (int i = 0; i < STATE_JOBS_MAX + 50; i++) {
		int len = snprintf(id, sizeof(id), "job-%d", i);

		assert_int_equal(state_txn_job_put(t, id, (size_t)len, id, (size_t)len, 100 + i), 0);
		if (i % 7 == 0 || i > STATE_JOBS_MAX) {
			assert_int_equal(apply(m, t), 0);
			state_txn_reset(t);
		}
	}
	if (state_txn_ops(t))
		assert_int_equal(apply(m, t), 0);
	struct state_stats st;

	state_model_stats(m, &st);
	assert_int_equal(st.jobs, STATE_JOBS_MAX);
	assert_int_equal(state_model_job_get(m, "job-49", 6, &ans, &n), -ENOENT);
	assert_int_equal(state_model_job_get(m, "job-50", 6, &ans, &n), 0);
	assert_memory_equal(ans, "job-50", 6);
	assert_int_equal(state_model_check(m), 0);
	/* The snapshot replays without trimming anything more. */
	struct buf b = snapshot(m);

	assert_int_equal(load(&b, &m2, &info), 0);
	assert_true(state_model_equal(m, m2));
	/* Prune: answers older than the TTL go, quarantine past its deadline goes. */
	state_model_prune(m2, 100 + 5000 + STATE_JOB_TTL_SEC);
	state_model_stats(m2, &st);
	assert_int_equal(st.jobs, STATE_JOBS_MAX + 50 - 5000);
	assert_int_equal(state_model_check(m2), 0);

	free(b.p);
	state_model_free(m2);
	state_txn_free(t);
	state_model_free(m);
}

static void test_prune_quarantine(void **state)
{
	struct state_model *m = model_new();
	struct state_txn *t = txn_new();
	struct state_stats st;

	(void)state;
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(state_txn_release(t, &(struct wg_allowedip){.family = AF_INET,
									       .ip4.s_addr = htonl(
										       0x0a000000 + i)},
						   1 + i),
				 0);
	assert_int_equal(apply(m, t), 0);
	state_model_prune(m, 50);
	state_model_stats(m, &st);
	assert_int_equal(st.quarantined, 50);
	assert_int_equal(state_model_check(m), 0);
	assert_int_equal(state_model_addr_lookup(m,
						 &(struct wg_allowedip){.family = AF_INET,
									.ip4.s_addr = htonl(0x0a000031)},
						 NULL, NULL),
			 -ENOENT);
	state_txn_free(t);
	state_model_free(m);
}

static void test_counters_rebase(void **state)
{
	struct state_counters c = {0}, n;

	(void)state;
	state_counters_rebase(&c, 100, 50, false, &n);
	assert_int_equal(n.total_rx, 100);
	assert_int_equal(n.total_tx, 50);
	state_counters_rebase(&n, 150, 80, false, &c);
	assert_int_equal(c.total_rx, 150);
	assert_int_equal(c.total_tx, 80);
	/* The interface was recreated: the kernel starts again at zero. */
	state_counters_rebase(&c, 10, 5, false, &n);
	assert_int_equal(n.total_rx, 160);
	assert_int_equal(n.total_tx, 85);
	assert_int_equal(n.last_rx, 10);
	/* Only tx went backwards: both restarted. */
	state_counters_rebase(&n, 20, 1, false, &c);
	assert_int_equal(c.total_rx, 180);
	assert_int_equal(c.total_tx, 86);
	/* Reset known from outside, counters already past the old values. */
	state_counters_rebase(&c, 500, 500, true, &n);
	assert_int_equal(n.total_rx, 680);
	assert_int_equal(n.total_tx, 586);
	/* Saturation. */
	c = (struct state_counters){.total_rx = UINT64_MAX - 1};
	state_counters_rebase(&c, 10, 0, false, &n);
	assert_true(n.total_rx == UINT64_MAX);
}

static struct ippool *pool(const char *prefix, const char *server)
{
	struct ippool_config c = {.quarantine_seconds = 60};
	struct wg_allowedip srv = A(server);
	struct ippool *p = NULL;

	assert_int_equal(ippool_prefix_parse(prefix, &c.prefix), 0);
	c.server = &srv;
	assert_int_equal(ippool_new(&c, &p), 0);
	return p;
}

static void test_pools_restore(void **state)
{
	struct state_model *m = rich_model();
	struct ippool *pools[2] = {pool("10.8.0.0/24", "10.8.0.1"), pool("fd42::/64", "fd42::1")};
	enum ippool_state s;
	uint64_t dl;
	struct ippool_stats st;
	struct wg_allowedip bad;

	(void)state;
	assert_int_equal(state_model_pools_restore(m, pools, 2, NULL), 0);
	assert_int_equal(ippool_lookup(pools[0], AP("10.8.0.2"), &s, NULL), 0);
	assert_int_equal(s, IPPOOL_USED);
	assert_int_equal(ippool_lookup(pools[0], AP("10.8.0.3"), &s, NULL), 0);
	assert_int_equal(s, IPPOOL_HELD);
	assert_int_equal(ippool_lookup(pools[0], AP("10.8.0.4"), &s, &dl), 0);
	assert_int_equal(s, IPPOOL_QUARANTINED);
	assert_int_equal(dl, 5000);
	assert_int_equal(ippool_lookup(pools[1], AP("fd42::2"), &s, NULL), 0);
	assert_int_equal(s, IPPOOL_USED);
	ippool_get_stats(pools[0], &st);
	assert_int_equal(st.used, 2);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.quarantined, 2);
	/* A peer's address outside every pool: reported; a quarantined one: skipped. */
	struct ippool *p4 = pool("10.9.0.0/24", "10.9.0.1");

	assert_int_equal(state_model_pools_restore(m, &p4, 1, &bad), -EADDRNOTAVAIL);
	assert_true(bad.family == AF_INET || bad.family == AF_INET6);
	struct state_model *q = model_new();
	struct state_txn *t = txn_new();

	assert_int_equal(state_txn_release(t, AP("10.1.0.1"), 5), 0);
	assert_int_equal(apply(q, t), 0);
	ippool_free(p4);
	p4 = pool("10.9.0.0/24", "10.9.0.1");
	assert_int_equal(state_model_pools_restore(q, &p4, 1, &bad), 0);
	/* The server's own address owned by a peer: refused by the pool. */
	struct state_peer srvpeer = peer(9, "10.9.0.1", NULL);

	put(q, &srvpeer, 0, 0);
	assert_int_equal(state_model_pools_restore(q, &p4, 1, &bad), -EADDRNOTAVAIL);

	state_txn_free(t);
	state_model_free(q);
	ippool_free(p4);
	ippool_free(pools[0]);
	ippool_free(pools[1]);
	state_model_free(m);
}

/* Many random puts and removes on a small address space, checked against a simple model. */
static void test_random_ops(void **state)
{
	struct state_model *m = model_new(), *m2 = NULL;
	struct state_txn *t = txn_new();
	uint8_t owner[64] = {0}; /* address 10.0.0.i -> peer key byte, 0 = free */
	uint8_t has[64] = {0};   /* peer key byte -> its address + 1 */
	uint64_t rng = 12345;
	struct state_load_info info;

	(void)state;
	for (int step = 0; step < 20000; step++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint8_t k = (uint8_t)(1 + (rng >> 33) % 63), a = (uint8_t)((rng >> 45) % 64);
		struct state_peer p = peer(k, NULL, NULL);
		int expect;

		p.addrs[0] = (struct wg_allowedip){.family = AF_INET, .ip4.s_addr = htonl(0x0a000000 + a)};
		p.n_addrs = 1;
		if ((rng >> 20) & 3) {
			expect = owner[a] && owner[a] != k ? -EADDRINUSE : 0;
			put(m, &p, 0, expect);
			if (expect == 0) {
				if (has[k])
					owner[has[k] - 1] = 0;
				owner[a] = k;
				has[k] = (uint8_t)(a + 1);
			}
		} else {
			assert_int_equal(state_txn_peer_remove(t, p.public_key, 0), 0);
			assert_int_equal(apply(m, t), has[k] ? 0 : -ENOENT);
			state_txn_reset(t);
			if (has[k])
				owner[has[k] - 1] = 0;
			has[k] = 0;
		}
	}
	for (int a = 0; a < 64; a++) {
		const struct state_peer *o = NULL;
		int r = state_model_addr_lookup(
			m, &(struct wg_allowedip){.family = AF_INET, .ip4.s_addr = htonl(0x0a000000 + a)},
			&o, NULL);

		assert_int_equal(r, owner[a] ? 0 : -ENOENT);
		if (owner[a])
			assert_int_equal(o->public_key[0], owner[a]);
	}
	assert_int_equal(state_model_check(m), 0);
	struct buf b = snapshot(m);

	assert_int_equal(load(&b, &m2, &info), 0);
	assert_true(state_model_equal(m, m2));
	free(b.p);
	state_model_free(m2);
	state_txn_free(t);
	state_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_corrupt_middle),
		cmocka_unit_test(test_future_version),
		cmocka_unit_test(test_bad_frame_content),
		cmocka_unit_test(test_apply_semantics),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_jobs_bounded),
		cmocka_unit_test(test_prune_quarantine),
		cmocka_unit_test(test_counters_rebase),
		cmocka_unit_test(test_pools_restore),
		cmocka_unit_test(test_random_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
