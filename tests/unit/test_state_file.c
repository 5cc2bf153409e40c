// SPDX-License-Identifier: MIT
/*
 * The durable record's file shell, in a temporary directory: create, reopen, the lock,
 * torn tails cut off the file, corruption and future versions refused, compaction, the
 * single-change helpers and counter updates. (Crashes: tests/integration/state_crash.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "state.h"
#include "state_codec.h"

static char dir[64];

static void path(char *buf, const char *name)
{
	snprintf(buf, 128, "%s/%s", dir, name);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	const char *names[] = {"state.journal", "state.journal.tmp", "state.lock"};
	char p[128];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		path(p, names[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static off_t journal_size(void)
{
	char p[128];
	struct stat s;

	path(p, "state.journal");
	assert_int_equal(stat(p, &s), 0);
	return s.st_size;
}

static struct state *open_ok(struct state_load_info *info)
{
	struct state_load_info scratch;
	struct state *st = NULL;
	int r = state_open(dir, info ? info : &scratch, &st);

	if (r < 0)
		fprintf(stderr, "state_open: %s: %s\n", strerror(-r),
			(info ? info : &scratch)->message);
	assert_int_equal(r, 0);
	return st;
}

static struct state_peer peer(uint8_t k, uint32_t a4)
{
	struct state_peer p = {0};

	memset(p.public_key, k, WG_KEY_LEN);
	p.created = p.updated = 100;
	p.addrs[0] = (struct wg_allowedip){.family = AF_INET, .cidr = 32, .ip4.s_addr = htonl(a4)};
	p.n_addrs = 1;
	return p;
}

static const struct state_peer *P(uint8_t k, uint32_t a4)
{
	static struct state_peer ring[4];
	static unsigned i;

	ring[i % 4] = peer(k, a4);
	return &ring[i++ % 4];
}

static int collect(const void *data, size_t len, void *userdata)
{
	FILE *f = userdata;

	return fwrite(data, 1, len, f) == len ? 0 : -EIO;
}

/* A copy of the state's model (through its snapshot). */
static struct state_model *copy_model(const struct state *st)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	struct state_model *m = NULL;
	struct state_load_info info;

	assert_int_equal(state_model_snapshot(state_model(st), 1, collect, f), 0);
	fclose(f);
	assert_int_equal(state_model_new(&m), 0);
	assert_int_equal(state_model_load(m, (uint8_t *)mem, len, &info, NULL), 0);
	free(mem);
	return m;
}

static void test_create_reopen_lock(void **state)
{
	struct state_load_info info;
	struct state *st = open_ok(&info), *st2 = NULL;
	char p[128];
	struct stat s;

	(void)state;
	assert_true(info.created);
	path(p, "state.journal");
	assert_int_equal(stat(p, &s), 0);
	assert_int_equal(s.st_mode & 0777, 0600);
	assert_int_equal(s.st_size, STATE_HEADER_SIZE);
	/* One owner at a time. */
	assert_int_equal(state_open(dir, NULL, &st2), -EBUSY);
	assert_null(st2);
	st = state_close(st);
	assert_null(st);
	st = open_ok(&info);
	assert_false(info.created);
	assert_int_equal(info.frames, 0);
	state_close(st);
	assert_int_equal(state_open("/nonexistent/wgfleet-state", NULL, &st2), -ENOENT);
}

static void test_changes_survive(void **state)
{
	struct state *st = open_ok(NULL);
	struct state_peer p = peer(1, 0x0a080002);
	struct state_model *before;
	struct state_load_info info;
	const uint8_t *ans;
	size_t n;
	uint8_t srv[WG_KEY_LEN] = {7};
	const char *kf;
	off_t size;

	(void)state;
	p.flags = STATE_PEER_HAS_PRESHARED_KEY;
	memset(p.preshared_key, 0x5a, WG_KEY_LEN);
	assert_int_equal(state_peer_put(st, &p, 0), 0);
	assert_int_equal(state_peer_put(st, P(2, 0x0a080003), 0), 0);
	assert_int_equal(state_peer_put(st, P(3, 0x0a080002), 0),
			 -EADDRINUSE);
	assert_int_equal(state_peer_set_disabled(st, p.public_key, true, 200), 0);
	assert_int_equal(state_job_answer_put(st, "job", 3, "{}", 2, 300), 0);
	assert_int_equal(state_job_answer_put(st, "job", 3, "{x}", 3, 300), -EEXIST);
	assert_int_equal(state_generation_set(st, 9), 0);
	assert_int_equal(state_server_set(st, srv, "server.key"), 0);
	assert_int_equal(state_peer_remove(st, peer(2, 0).public_key, 5000), 0);
	/* Refusals write nothing. */
	size = journal_size();
	assert_int_equal(state_peer_remove(st, peer(2, 0).public_key, 5000), -ENOENT);
	assert_int_equal(state_peer_set_disabled(st, peer(9, 0).public_key, true, 1), -ENOENT);
	assert_int_equal(state_addr_release(st, &p.addrs[0], 10), -EADDRINUSE);
	assert_int_equal(journal_size(), size);
	assert_int_equal(state_addr_release(st, &peer(0, 0x0a0800fe).addrs[0], 10), 0);
	assert_int_equal(state_check(st), 0);
	before = copy_model(st);
	state_close(st);

	st = open_ok(&info);
	assert_false(info.torn_tail);
	assert_int_equal(info.frames, 8);
	assert_true(state_model_equal(state_model(st), before));
	const struct state_peer *q = state_peer_get(st, p.public_key);

	assert_non_null(q);
	assert_true(q->flags & STATE_PEER_DISABLED);
	assert_int_equal(q->updated, 200);
	assert_int_equal(q->preshared_key[0], 0x5a);
	assert_int_equal(state_job_get(st, "job", 3, &ans, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(state_generation(st), 9);
	assert_int_equal(state_server_get(st, srv, &kf), 0);
	assert_string_equal(kf, "server.key");
	const struct state_peer *owner = (void *)1;
	uint64_t dl;

	assert_int_equal(state_addr_lookup(st, &peer(0, 0x0a080003).addrs[0], &owner, &dl), 0);
	assert_null(owner);
	assert_int_equal(dl, 5000);
	size_t iter = 0, count = 0;

	while (state_peer_next(st, &iter))
		count++;
	assert_int_equal(count, 1);
	state_close(st);
	state_model_free(before);
}

static void test_txn_atomic(void **state)
{
	struct state *st = open_ok(NULL);
	struct state_txn *t = NULL;
	off_t size;

	(void)state;
	assert_int_equal(state_txn_new(&t), 0);
	/* An empty txn writes nothing. */
	size = journal_size();
	assert_int_equal(state_commit(st, t), 0);
	assert_int_equal(journal_size(), size);
	/* Remove 1 and hand its address to 4, with the job answer, as one change. */
	assert_int_equal(state_txn_peer_remove(t, peer(1, 0).public_key, 0), 0);
	assert_int_equal(state_txn_peer_put(t, P(4, 0x0a080002), 0), 0);
	assert_int_equal(state_txn_job_put(t, "j4", 2, "ok", 2, 400), 0);
	/* ...but ending with a refused operation: nothing happens, the txn is kept. */
	assert_int_equal(state_txn_peer_remove(t, peer(99, 0).public_key, 0), 0);
	assert_int_equal(state_commit(st, t), -ENOENT);
	assert_int_equal(journal_size(), size);
	assert_int_equal(state_txn_ops(t), 4);
	assert_non_null(state_peer_get(st, peer(1, 0).public_key));
	state_txn_reset(t);
	assert_int_equal(state_txn_peer_remove(t, peer(1, 0).public_key, 0), 0);
	assert_int_equal(state_txn_peer_put(t, P(4, 0x0a080002), 0), 0);
	assert_int_equal(state_txn_job_put(t, "j4", 2, "ok", 2, 400), 0);
	assert_int_equal(state_commit(st, t), 0);
	assert_int_equal(state_txn_ops(t), 0);
	assert_null(state_peer_get(st, peer(1, 0).public_key));
	state_close(st);
	st = open_ok(NULL);
	assert_non_null(state_peer_get(st, peer(4, 0).public_key));
	assert_null(state_peer_get(st, peer(1, 0).public_key));
	state_txn_free(t);
	state_close(st);
}

static void append_bytes(const void *data, size_t len)
{
	char p[128];
	int fd;

	path(p, "state.journal");
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_torn_tail_cut(void **state)
{
	struct state_load_info info;
	struct state *st;
	off_t good = journal_size();
	struct state_model *before;

	(void)state;
	st = open_ok(NULL);
	before = copy_model(st);
	state_close(st);
	/* A frame header that promises more than there is. */
	append_bytes("WGFR\x40\x00\x00\x00garbage", 15);
	st = open_ok(&info);
	assert_true(info.torn_tail);
	assert_int_equal(info.torn_bytes, 15);
	assert_int_equal(journal_size(), good);
	assert_true(state_model_equal(state_model(st), before));
	/* Appends continue right after the last good frame. */
	assert_int_equal(state_peer_put(st, P(5, 0x0a080005), 0), 0);
	state_close(st);
	st = open_ok(&info);
	assert_false(info.torn_tail);
	assert_non_null(state_peer_get(st, peer(5, 0).public_key));
	state_close(st);
	state_model_free(before);
}

static void test_corrupt_and_future(void **state)
{
	char p[128];
	struct state_load_info info;
	struct state *st = NULL;
	uint8_t b;
	int fd;

	(void)state;
	path(p, "state.journal");
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	/* A flipped byte in the first frame, with good frames after it. */
	assert_int_equal(pread(fd, &b, 1, STATE_HEADER_SIZE + 20), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, STATE_HEADER_SIZE + 20), 1);
	assert_int_equal(state_open(dir, &info, &st), -EBADMSG);
	assert_int_equal(info.offset, STATE_HEADER_SIZE);
	assert_non_null(strstr(info.message, "corrupt"));
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, STATE_HEADER_SIZE + 20), 1);
	/* A journal from a future agent. */
	assert_int_equal(pread(fd, &b, 1, 8), 1);
	assert_int_equal(b, STATE_FORMAT_VERSION);
	b = STATE_FORMAT_VERSION + 1;
	assert_int_equal(pwrite(fd, &b, 1, 8), 1);
	assert_int_equal(state_open(dir, &info, &st), -EPROTONOSUPPORT);
	assert_non_null(strstr(info.message, "newer"));
	b = STATE_FORMAT_VERSION;
	assert_int_equal(pwrite(fd, &b, 1, 8), 1);
	close(fd);
	/* Back as it was; the failed opens released the lock. */
	st = open_ok(NULL);
	state_close(st);
}

static void test_compaction(void **state)
{
	struct state *st = open_ok(NULL);
	struct state_model *before;
	struct state_load_info info;
	struct state_stats stats;
	char p[128];
	int fd;

	(void)state;
	/* Lots of churn on few peers: the journal grows, the state does not. */
	uint32_t last = 0;

	for (uint32_t i = 0; i < 20000 && !state_compact_due(st); i++) {
		struct state_peer q = peer((uint8_t)(10 + i % 50), 0x0a090000 + i);

		q.updated = i;
		assert_int_equal(state_peer_put(st, &q, 1000 + i), 0);
		last = i;
	}
	assert_true(state_compact_due(st));
	state_get_stats(st, &stats);
	assert_int_equal(stats.peers, 50 + 2);
	assert_true(stats.quarantined > 1000);
	/* Prune at 2000: quarantine deadlines <= 2000 are forgotten. */
	assert_int_equal(state_compact(st, 2000), 0);
	assert_false(state_compact_due(st));
	state_get_stats(st, &stats);
	assert_true(stats.journal_bytes < (1 << 20) / 2);
	assert_int_equal(stats.journal_bytes, journal_size());
	/* released at i = 50 with deadline 1050: gone; the last one released: kept */
	assert_int_equal(state_addr_lookup(st, &peer(0, 0x0a090000).addrs[0], NULL, NULL), -ENOENT);
	assert_int_equal(state_addr_lookup(st, &peer(0, 0x0a090000 + last - 50).addrs[0], NULL,
					   NULL),
			 0);
	assert_int_equal(state_peer_put(st, P(6, 0x0a080006), 0), 0);
	before = copy_model(st);
	state_close(st);

	/* A compaction that died before its rename leaves a temp file: ignored, removed. */
	path(p, "state.journal.tmp");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "WGFSTATEjunk", 12), 12);
	close(fd);
	st = open_ok(&info);
	assert_int_equal(access(p, F_OK), -1);
	assert_true(state_model_equal(state_model(st), before));
	state_close(st);
	state_model_free(before);
}

static void test_counters(void **state)
{
	struct state *st = open_ok(NULL);
	struct state_counter_sample s[3] = {0};
	const struct state_peer *q;
	off_t size;

	(void)state;
	memset(s[0].public_key, 6, WG_KEY_LEN);
	memset(s[1].public_key, 0xee, WG_KEY_LEN); /* unknown: skipped */
	memset(s[2].public_key, 5, WG_KEY_LEN);
	s[0].rx_bytes = 1000;
	s[0].tx_bytes = 2000;
	s[2].rx_bytes = 1;
	assert_int_equal(state_counters_update(st, s, 3, false), 0);
	/* Unchanged samples write nothing. */
	size = journal_size();
	assert_int_equal(state_counters_update(st, s, 3, false), 0);
	assert_int_equal(journal_size(), size);
	/* The interface was recreated: counters start again. */
	s[0].rx_bytes = 10;
	s[0].tx_bytes = 20;
	assert_int_equal(state_counters_update(st, s, 1, false), 0);
	state_close(st);
	st = open_ok(NULL);
	q = state_peer_get(st, s[0].public_key);
	assert_int_equal(q->counters.total_rx, 1010);
	assert_int_equal(q->counters.total_tx, 2020);
	assert_int_equal(q->counters.last_rx, 10);
	/* A re-put keeps the counters. */
	struct state_peer p = *q;

	p.persistent_keepalive = 5;
	assert_int_equal(state_peer_put(st, &p, 0), 0);
	assert_int_equal(state_peer_get(st, s[0].public_key)->counters.total_rx, 1010);
	state_close(st);
}

int main(void)
{
	/* In order: each test continues from the state the one before left. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_reopen_lock),
		cmocka_unit_test(test_changes_survive),
		cmocka_unit_test(test_txn_atomic),
		cmocka_unit_test(test_torn_tail_cut),
		cmocka_unit_test(test_corrupt_and_future),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
