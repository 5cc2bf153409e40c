// SPDX-License-Identifier: MIT
/*
 * What the service grants, against a real MariaDB: a config and its job in one
 * transaction (both or neither), sealed keys byte for byte, extensions in calendar months
 * (from the expiry, from now once it passed, Jan 31 + 1 month), the newest live paid
 * config of a user, the live configs of a node and of a user, the sweep's "expire only if
 * still due", traffic accounting (differences, counter resets, overflow refused whole,
 * re-applying is free, 8 pollers at once count once, 50,000 peers), and 20 threads
 * completing one payment (lock, check, complete): exactly one wins.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_job.h"
#include "db_node.h"
#include "db_payment.h"
#include "db_user.h"
#include "db_vpn.h"

#define DAY_US (86400LL * 1000000)
#define THREADS 20

static struct db *db;
static uint64_t counter = 1;

static int group_setup(void **state)
{
	(void)state;
	db = dbtest_open(THREADS + 2);
	dbtest_migrate(db);
	dbtest_pool = db;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	db = db_close(db);
	return 0;
}

/* A WireGuard config with a peer key (unique per call, into key if not NULL), expiring in
 * `days` (0: never). */
static uint64_t new_vpn(struct db_conn *c, uint64_t user, uint64_t node, int days, bool trial,
                        char *key /* 45 bytes, or NULL */)
{
	char buf[45];
	uint64_t id = 0;

	if (!key)
		key = buf;
	dbtest_make_key(4000000 + counter++, key);
	struct db_vpn_new n = {.user_id = user,
	                       .node_id = node,
	                       .type = VPN_WIREGUARD,
	                       .name = "phone",
	                       .peer_public_key = key,
	                       .is_trial = trial,
	                       .expires_at_us = days ? db_now_us() + days * DAY_US : 0};
	assert_db(c, db_vpn_create(c, 0, &n, &id), 0);
	return id;
}

static struct db_vpn *get(struct db_conn *c, uint64_t id)
{
	struct db_vpn *v = NULL;

	assert_db(c, db_vpn_get(c, id, &v), 0);
	return v;
}

/* ---- a config and its job ---- */

static void test_create_with_job(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000), vpn = 0, job = 0;
	uint64_t vpns = COUNT(c, "SELECT COUNT(*) FROM vpn_configs");
	uint64_t jobs = COUNT(c, "SELECT COUNT(*) FROM jobs");
	static const uint8_t priv[72] = {0, 1, 2, 0, 255, 254, 0}, psk[72] = {9, 0, 9, 0};
	char key[45];
	bool created = false;
	struct db_vpn *v;

	dbtest_make_key(5000000 + counter++, key);
	struct db_vpn_new n = {.user_id = user,
	                       .node_id = node,
	                       .type = VPN_WIREGUARD,
	                       .name = "laptop",
	                       .peer_public_key = key,
	                       .private_key_enc = priv,
	                       .private_key_enc_len = sizeof(priv),
	                       .preshared_key_enc = psk,
	                       .preshared_key_enc_len = sizeof(psk)};
	struct db_job_new jn = {
	    .kind = JOB_PROVISION, .node_id = node, .idempotency_key = "grant-provision-1"};

	/* Rolled back: neither exists. */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_create_in_tx(c, 0, &n, &vpn), 0);
	jn.vpn_config_id = vpn;
	assert_db(c, db_job_enqueue_in_tx(c, &jn, &job, &created), 0);
	assert_db(c, db_tx_rollback(c), 0);
	struct db_job *j = NULL;
	assert_db(c, db_vpn_get(c, vpn, &v), -ENOENT);
	assert_db(c, db_job_get(c, job, &j), -ENOENT);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM vpn_configs"), vpns);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs"), jobs);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM audit_log WHERE user_id = ?", DB_UINT(user)),
	    1); /* user.register only */

	/* Committed: both, and the config's audit row. */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_create_in_tx(c, 0, &n, &vpn), 0);
	jn.vpn_config_id = vpn;
	assert_db(c, db_job_enqueue_in_tx(c, &jn, &job, &created), 0);
	assert_db(c, db_tx_commit(c), 0);
	v = get(c, vpn);
	assert_int_equal(v->status, VPN_PENDING);
	assert_int_equal(v->private_key_enc_len, sizeof(priv));
	assert_memory_equal(v->private_key_enc, priv, sizeof(priv));
	assert_int_equal(v->preshared_key_enc_len, sizeof(psk));
	assert_memory_equal(v->preshared_key_enc, psk, sizeof(psk));
	assert_int_equal(v->rx_seen, 0);
	assert_int_equal(v->tx_seen, 0);
	v = db_vpn_free(v);
	assert_db(c, db_job_latest_for_vpn(c, vpn, &j), 0);
	assert_int_equal(j->id, job);
	assert_int_equal(j->kind, JOB_PROVISION);
	j = db_job_free(j);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE user_id = ? "
	                       "AND action = 'vpn.create'",
	                       DB_UINT(user)),
	                 1);

	/* Sealed keys: 1..255 bytes, a length without bytes is a caller's mistake. */
	static const uint8_t big[256] = {1};
	struct db_vpn_new bad = n;
	bad.peer_public_key = NULL;
	bad.private_key_enc_len = sizeof(big), bad.private_key_enc = big;
	assert_db(c, db_vpn_create(c, 0, &bad, &vpn), -EINVAL);
	bad = n, bad.peer_public_key = NULL, bad.private_key_enc_len = 0;
	assert_db(c, db_vpn_create(c, 0, &bad, &vpn), -EINVAL);
	bad = n, bad.peer_public_key = NULL, bad.preshared_key_enc = NULL;
	assert_db(c, db_vpn_create(c, 0, &bad, &vpn), -EINVAL);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM vpn_configs"), vpns + 1);
	dbtest_assert_counters_match(c);
}

/* ---- extensions ---- */

static int64_t extend(struct db_conn *c, uint64_t id, unsigned months)
{
	int64_t at = 0;
	int r;

	assert_db(c, db_tx_begin(c), 0);
	r = db_vpn_extend_in_tx(c, 0, id, months, &at);
	if (r == 0)
		assert_db(c, db_tx_commit(c), 0);
	else
		assert_db(c, db_tx_rollback(c), 0);
	return r < 0 ? r : at;
}

/* Seconds between the config's expiry and `sql_time` (an SQL expression). */
static int64_t expiry_minus(struct db_conn *c, uint64_t id, const char *sql_time)
{
	char sql[256];
	char *text = NULL;
	int64_t v;

	snprintf(sql, sizeof(sql),
	         "SELECT CAST(TIMESTAMPDIFF(MICROSECOND, %s, expires_at) AS CHAR) "
	         "FROM vpn_configs WHERE id = ?",
	         sql_time);
	assert_db(c, dbtest_query_bytes(c, sql, &DB_UINT(id), 1, &text, NULL), 0);
	v = strtoll(text, NULL, 10);
	free(text);
	return v / 1000000;
}

static void set_times(struct db_conn *c, uint64_t id, const char *created, const char *expires)
{
	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET created_at = ?, expires_at = ? WHERE id = ?",
	              DB_TEXT(created), DB_TEXT(expires), DB_UINT(id)),
	          0);
}

static void expect_expiry(struct db_conn *c, uint64_t id, const char *want)
{
	char *text = NULL;

	assert_db(c,
	          dbtest_query_bytes(c,
	                             "SELECT DATE_FORMAT(expires_at, '%Y-%m-%d %H:%i:%s.%f') "
	                             "FROM vpn_configs WHERE id = ?",
	                             &DB_UINT(id), 1, &text, NULL),
	          0);
	assert_string_equal(text, want);
	free(text);
}

static void test_extend(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000);
	uint64_t future = new_vpn(c, user, node, 10, false, NULL);
	uint64_t past = new_vpn(c, user, node, 10, false, NULL);
	uint64_t never = new_vpn(c, user, node, 0, false, NULL);
	uint64_t cal = new_vpn(c, user, node, 10, false, NULL);
	char *before = NULL;
	int64_t at;
	struct db_vpn *v;

	/* From the expiry: exactly one calendar month later. */
	assert_db(c,
	          dbtest_query_bytes(c,
	                             "SELECT DATE_FORMAT(DATE_ADD(expires_at, INTERVAL 1 MONTH), "
	                             "'%Y-%m-%d %H:%i:%s.%f') FROM vpn_configs WHERE id = ?",
	                             &DB_UINT(future), 1, &before, NULL),
	          0);
	at = extend(c, future, 1);
	assert_true(at > 0);
	expect_expiry(c, future, before);
	free(before);
	v = get(c, future);
	assert_int_equal(v->expires_at_us, at);
	v = db_vpn_free(v);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE action = 'vpn.extend' "
	                       "AND JSON_VALUE(payload, '$.vpn_config_id') = ? "
	                       "AND JSON_VALUE(payload, '$.months') = 1",
	                       DB_UINT(future)),
	                 1);

	/* Past its expiry (the sweep has not run yet): from now. */
	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET created_at = NOW(6) - INTERVAL 60 DAY, "
	              "expires_at = NOW(6) - INTERVAL 1 DAY WHERE id = ?",
	              DB_UINT(past)),
	          0);
	assert_true(extend(c, past, 2) > 0);
	int64_t off = expiry_minus(c, past, "NOW(6) + INTERVAL 2 MONTH");
	assert_true(off >= -5 && off <= 0);

	/* A config that never expired gets now + months. */
	assert_true(extend(c, never, 3) > 0);
	off = expiry_minus(c, never, "NOW(6) + INTERVAL 3 MONTH");
	assert_true(off >= -5 && off <= 0);

	/* Calendar months: Jan 31 + 1 = Feb 28, then Mar 28; leap years have Feb 29. */
	set_times(c, cal, "2030-12-01 00:00:00", "2031-01-31 12:00:00.250000");
	assert_true(extend(c, cal, 1) > 0);
	expect_expiry(c, cal, "2031-02-28 12:00:00.250000");
	assert_true(extend(c, cal, 1) > 0);
	expect_expiry(c, cal, "2031-03-28 12:00:00.250000");
	set_times(c, cal, "2030-12-01 00:00:00", "2032-01-31 00:00:00");
	assert_true(extend(c, cal, 1) > 0);
	expect_expiry(c, cal, "2032-02-29 00:00:00.000000");
	assert_true(extend(c, cal, 12) > 0);
	expect_expiry(c, cal, "2033-02-28 00:00:00.000000");

	/* Refusals change nothing. */
	assert_int_equal(extend(c, cal, 0), -EINVAL);
	assert_int_equal(extend(c, cal, 1201), -EINVAL);
	assert_int_equal(extend(c, 999999, 1), -ENOENT);
	assert_db(c, db_vpn_revoke(c, 0, cal, NULL), 0);
	assert_int_equal(extend(c, cal, 1), -EPERM);
	expect_expiry(c, cal, "2033-02-28 00:00:00.000000");
}

static uint64_t find_paid(struct db_conn *c, uint64_t user, enum vpn_type type)
{
	uint64_t id = 0;
	int r;

	assert_db(c, db_tx_begin(c), 0);
	r = db_vpn_find_live_paid_in_tx(c, user, type, &id);
	assert_db(c, db_tx_commit(c), 0);
	return r < 0 ? (uint64_t)r : id;
}

static void test_find_and_list(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), other_user = dbtest_new_user(c),
	         node = dbtest_new_node(c, 100000), node2 = dbtest_new_node(c, 100000);
	uint64_t *ids = NULL;
	size_t n = 0;
	struct db_vpn *v = NULL;
	char key_old[45];

	assert_int_equal(find_paid(c, user, VPN_WIREGUARD), (uint64_t)-ENOENT);
	uint64_t trial = new_vpn(c, user, node, 3, true, NULL);
	uint64_t old = new_vpn(c, user, node, 30, false, key_old);
	uint64_t newer = new_vpn(c, user, node, 30, false, NULL);
	uint64_t comp = new_vpn(c, user, node, 0, false, NULL); /* never expires */
	struct db_vpn_new outline = {.user_id = user,
	                             .node_id = node2,
	                             .type = VPN_OUTLINE,
	                             .name = "o",
	                             .expires_at_us = db_now_us() + DAY_US};
	uint64_t ol = 0;
	assert_db(c, db_vpn_create(c, 0, &outline, &ol), 0);
	uint64_t theirs = new_vpn(c, other_user, node, 30, false, NULL);

	assert_int_equal(find_paid(c, user, VPN_WIREGUARD), newer);
	assert_int_equal(find_paid(c, user, VPN_OUTLINE), ol);
	assert_db(c, db_vpn_revoke(c, 0, newer, NULL), 0);
	assert_int_equal(find_paid(c, user, VPN_WIREGUARD), old);
	assert_db(c, db_vpn_activate(c, 0, old, NULL, NULL, 0), 0);
	assert_int_equal(find_paid(c, user, VPN_WIREGUARD), old); /* active counts too */
	assert_db(c, db_vpn_expire(c, 0, old), 0);
	assert_int_equal(find_paid(c, user, VPN_WIREGUARD), (uint64_t)-ENOENT); /* trial, comp */
	assert_int_equal(find_paid(c, user, _VPN_TYPE_MAX), (uint64_t)-EINVAL);

	/* The user's live configs: trial, comp, outline. */
	uint64_t nobody = dbtest_new_user(c);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_list_user_live_in_tx(c, user, &ids, &n), 0);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], trial);
	assert_int_equal(ids[1], comp);
	assert_int_equal(ids[2], ol);
	free(ids);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_list_user_live_in_tx(c, nobody, &ids, &n), 0);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(n, 0);
	free(ids);

	/* The node's live configs: active, then pending; not ended ones, not node2's. */
	assert_db(c, db_vpn_activate(c, 0, comp, NULL, NULL, 0), 0);
	assert_db(c, db_vpn_list_node_live(c, node, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].id, comp);
	assert_int_equal(v[0].status, VPN_ACTIVE);
	assert_int_equal(v[1].id, trial);
	assert_int_equal(v[2].id, theirs);
	v = db_vpns_free(v, n);

	/* By node and key, any status. */
	assert_db(c, db_vpn_get_by_node_key(c, node, key_old, &v), 0);
	assert_int_equal(v->id, old);
	assert_int_equal(v->status, VPN_EXPIRED);
	v = db_vpn_free(v);
	assert_db(c, db_vpn_get_by_node_key(c, node2, key_old, &v), -ENOENT);
}

static void test_expire_due(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000);
	uint64_t due = new_vpn(c, user, node, 10, false, NULL);
	uint64_t extended = new_vpn(c, user, node, 10, false, NULL);
	struct db_vpn *v;

	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET created_at = NOW(6) - INTERVAL 40 DAY, "
	              "expires_at = NOW(6) - INTERVAL 1 SECOND WHERE id IN (?, ?)",
	              DB_UINT(due), DB_UINT(extended)),
	          0);
	/* The sweep listed both; a payment extends one before the sweep gets to it. */
	assert_true(extend(c, extended, 1) > 0);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_expire_due_in_tx(c, 0, due), 0);
	assert_db(c, db_vpn_expire_due_in_tx(c, 0, extended), -ESTALE);
	assert_db(c, db_tx_rollback(c), 0); /* the error broke the transaction */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_expire_due_in_tx(c, 0, due), 0);
	assert_db(c, db_tx_commit(c), 0);
	v = get(c, due);
	assert_int_equal(v->status, VPN_EXPIRED);
	v = db_vpn_free(v);
	v = get(c, extended);
	assert_int_equal(v->status, VPN_PENDING);
	v = db_vpn_free(v);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_expire_due_in_tx(c, 0, due), -EALREADY);
	assert_db(c, db_tx_rollback(c), 0);

	/* Revoke and expire inside the caller's transaction: released with it or not at all */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_revoke_in_tx(c, 0, extended, "ban"), 0);
	assert_db(c, db_tx_rollback(c), 0);
	v = get(c, extended);
	assert_int_equal(v->status, VPN_PENDING);
	v = db_vpn_free(v);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_expire_in_tx(c, 0, extended), 0);
	assert_db(c, db_tx_commit(c), 0);
	v = get(c, extended);
	assert_int_equal(v->status, VPN_EXPIRED);
	v = db_vpn_free(v);
	dbtest_assert_counters_match(c);
}

/* ---- traffic ---- */

static uint64_t bandwidth(struct db_conn *c, uint64_t id)
{
	struct db_vpn *v = get(c, id);
	uint64_t b = v->bandwidth_bytes;

	db_vpn_free(v);
	return b;
}

static uint64_t apply(struct db_conn *c, uint64_t node, const struct db_traffic_sample *s, size_t n)
{
	uint64_t updated = 0;

	assert_db(c, db_vpn_traffic_apply(c, node, s, n, &updated), 0);
	return updated;
}

static void test_traffic(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000),
	         node2 = dbtest_new_node(c, 100000);
	char ka[45], kb[45], kc[45], kx[45], unknown[45];
	uint64_t a = new_vpn(c, user, node, 10, false, ka);
	uint64_t b = new_vpn(c, user, node, 10, false, kb);
	uint64_t revoked = new_vpn(c, user, node, 10, false, kc);
	uint64_t elsewhere = new_vpn(c, user, node2, 10, false, kx);
	struct db_vpn *v;

	dbtest_make_key(999999999, unknown);
	assert_db(c, db_vpn_revoke(c, 0, revoked, NULL), 0);

	struct db_traffic_sample s1[] = {
	    {ka, 1000, 500}, {kb, 10, 0}, {kc, 7, 3}, {kx, 99, 99}, {unknown, 5, 5}};
	assert_int_equal(apply(c, node, s1, ARRAY_SIZE(s1)), 3);
	assert_int_equal(bandwidth(c, a), 1500);
	assert_int_equal(bandwidth(c, b), 10);
	assert_int_equal(bandwidth(c, revoked), 10);  /* traffic before the revoke counts */
	assert_int_equal(bandwidth(c, elsewhere), 0); /* not this node's config */
	v = get(c, a);
	assert_int_equal(v->rx_seen, 1000);
	assert_int_equal(v->tx_seen, 500);
	v = db_vpn_free(v);

	/* The same totals again: nothing written, nothing added. */
	assert_int_equal(apply(c, node, s1, ARRAY_SIZE(s1)), 0);
	assert_int_equal(bandwidth(c, a), 1500);

	/* Growth adds the difference; a lower total means the agent started again from 0. */
	struct db_traffic_sample s2[] = {{ka, 1600, 900}, {kb, 4, 1}};
	assert_int_equal(apply(c, node, s2, ARRAY_SIZE(s2)), 2);
	assert_int_equal(bandwidth(c, a), 1500 + 600 + 400);
	assert_int_equal(bandwidth(c, b), 10 + 4 + 1);
	/* back to zero: the seen totals follow, nothing is added */
	struct db_traffic_sample zero[] = {{ka, 0, 0}};
	assert_int_equal(apply(c, node, zero, 1), 1);
	assert_int_equal(bandwidth(c, a), 2500);
	v = get(c, a);
	assert_int_equal(v->rx_seen, 0);
	assert_int_equal(v->tx_seen, 0);
	v = db_vpn_free(v);
	/* the other node's report leaves this node's configs alone */
	struct db_traffic_sample on2[] = {{ka, 1, 1}, {kx, 100, 100}};
	assert_int_equal(apply(c, node2, on2, ARRAY_SIZE(on2)), 1);
	assert_int_equal(bandwidth(c, a), 2500);
	assert_int_equal(bandwidth(c, elsewhere), 200);

	/* Overflow: refused, and nothing of the batch applied (b's sample sorts first or
	 * not: either way it is rolled back). */
	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET bandwidth_bytes = 18446744073709551000 "
	              "WHERE id = ?",
	              DB_UINT(a)),
	          0);
	struct db_traffic_sample big[] = {{kb, 100, 100}, {ka, 1000, 0}};
	assert_db(c, db_vpn_traffic_apply(c, node, big, ARRAY_SIZE(big), NULL), -EINVAL);
	assert_int_equal(bandwidth(c, b), 15);
	v = get(c, b);
	assert_int_equal(v->rx_seen, 4);
	v = db_vpn_free(v);
	/* rx + tx differences that overflow 64 bits on their own */
	struct db_traffic_sample huge[] = {{kb, UINT64_MAX, UINT64_MAX}};
	assert_db(c, db_vpn_traffic_apply(c, node, huge, 1, NULL), -EINVAL);
	assert_int_equal(bandwidth(c, b), 15);
	assert_db(
	    c, SQL(c, "UPDATE vpn_configs SET bandwidth_bytes = 2500 WHERE id = ?", DB_UINT(a)), 0);

	/* A key twice in one report is a caller's mistake. */
	struct db_traffic_sample dup[] = {{kb, 20, 1}, {ka, 5, 5}, {kb, 30, 1}};
	assert_db(c, db_vpn_traffic_apply(c, node, dup, ARRAY_SIZE(dup), NULL), -EINVAL);
	struct db_traffic_sample nokey[] = {{NULL, 1, 1}};
	assert_db(c, db_vpn_traffic_apply(c, node, nokey, 1, NULL), -EINVAL);
	assert_int_equal(bandwidth(c, b), 15);
	assert_db(c, db_vpn_traffic_apply(c, 999999, s1, 1, NULL), -ENOENT);
	assert_int_equal(apply(c, node, NULL, 0), 0);
	dbtest_assert_counters_match(c);
}

/* 8 pollers report the same totals at once: each byte is counted once. */
struct poller {
	pthread_barrier_t *start;
	uint64_t node;
	const struct db_traffic_sample *s;
	size_t n;
	uint64_t updated;
	int r;
};

static void *poller_thread(void *arg)
{
	struct poller *p = arg;
	struct db_conn *c = NULL;

	p->r = db_acquire(db, 10000, &c, NULL);
	pthread_barrier_wait(p->start);
	if (p->r == 0) {
		p->r = db_vpn_traffic_apply(c, p->node, p->s, p->n, &p->updated);
		db_release(c);
	}
	return NULL;
}

static void test_traffic_concurrent(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000), ids[64], updated = 0;
	struct db_traffic_sample s[64];
	char keys[64][45];
	struct poller p[8];
	pthread_t t[8];
	pthread_barrier_t start;

	for (int i = 0; i < 64; i++) {
		ids[i] = new_vpn(c, user, node, 10, false, keys[i]);
		s[i] = (struct db_traffic_sample){keys[i], 1000 + i, 2000};
	}
	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++) {
		p[i] = (struct poller){&start, node, s, 64, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, poller_thread, &p[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].r, 0);
		updated += p[i].updated;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(updated, 64); /* one poller wrote; the others found nothing new */
	for (int i = 0; i < 64; i++)
		assert_int_equal(bandwidth(c, ids[i]), 3000 + i);
	dbtest_assert_counters_match(c);
}

static int plan_row(const struct db_row *row, void *userdata)
{
	const char *table, *type, *key = "";
	size_t tl, yl, kl = 0;

	if (db_row_bytes(row, 2, &table, &tl) < 0 || db_row_bytes(row, 3, &type, &yl) < 0)
		return 0; /* the batch's own rows (no table) */
	db_row_bytes(row, 5, &key, &kl);
	if (tl == 1 && table[0] == 'v') {
		/* the configs: one primary-key lookup per row of the batch */
		*(bool *)userdata = !strcmp(type, "eq_ref") && !strcmp(key, "PRIMARY");
		if (!*(bool *)userdata)
			print_error("traffic apply reads vpn_configs by %s/%s\n", type, key);
	}
	return 0;
}

/* EXPLAIN of the batch update: never a scan of vpn_configs. */
static void check_traffic_plan(struct db_conn *c)
{
	struct db_param p[4 * VPN_TRAFFIC_BATCH];
	char sql[8192];
	bool ok = false;

	for (size_t i = 0; i < ARRAY_SIZE(p); i++)
		p[i] = DB_UINT(i + 1);
	snprintf(sql, sizeof(sql), "EXPLAIN %s", db_stmts[DB_STMT_VPN_TRAFFIC_APPLY].sql);
	assert_db(c, db_query_sql(c, sql, strlen(sql), p, ARRAY_SIZE(p), plan_row, &ok, NULL), 0);
	assert_true(ok);
}

static void test_traffic_50k(void **state)
{
	(void)state;
	enum { N = 50000 };
	struct db *d = dbtest_open_fresh("traffic", 2, NULL);
	struct db_conn *c = NULL;
	struct db_traffic_sample *s = calloc(N, sizeof(*s));
	char(*keys)[45] = calloc(N, sizeof(*keys));
	uint64_t user, node, updated = 0, total = 0;
	int64_t t0;

	assert_non_null(s);
	assert_non_null(keys);
	dbtest_migrate(d);
	assert_int_equal(db_acquire(d, -1, &c, NULL), 0);
	user = dbtest_new_user(c);
	node = dbtest_new_node(c, 100000);
	/* 50,000 configs with keys "AAA...<i>E=" (digits are base64 too), made in SQL */
	assert_db(c,
	          SQL(c,
	              "INSERT INTO vpn_configs (user_id, node_id, type, name, peer_public_key, "
	              "status, activated_at) SELECT ?, ?, 'wireguard', 'x', "
	              "CONCAT(LPAD(seq, 42, 'A'), 'E='), 'active', NOW(6) FROM seq_0_to_49999",
	              DB_UINT(user), DB_UINT(node)),
	          0);
	for (int i = 0; i < N; i++) {
		char digits[16];
		int len = snprintf(digits, sizeof(digits), "%d", i);

		memset(keys[i], 'A', 42);
		memcpy(keys[i] + 42 - len, digits, (size_t)len);
		memcpy(keys[i] + 42, "E=", 3);
	}
	/* in reverse key order, so that nothing depends on the caller's order */
	for (int i = 0; i < N; i++)
		s[i] = (struct db_traffic_sample){keys[N - 1 - i], (uint64_t)i + 1, 1};

	assert_db(c, SQL(c, "ANALYZE TABLE vpn_configs"), 0);
	check_traffic_plan(c);

	t0 = db_now_us();
	assert_db(c, db_vpn_traffic_apply(c, node, s, N, &updated), 0);
	print_message("traffic_apply: 50,000 changed peers in %.0f ms\n",
	              (double)(db_now_us() - t0) / 1000);
	assert_int_equal(updated, N);
	t0 = db_now_us();
	assert_db(c, db_vpn_traffic_apply(c, node, s, N, &updated), 0);
	print_message("traffic_apply: 50,000 unchanged peers in %.0f ms\n",
	              (double)(db_now_us() - t0) / 1000);
	assert_int_equal(updated, 0);
	assert_db(c,
	          SQL_UINT(c, &total,
	                   "SELECT SUM(bandwidth_bytes) FROM vpn_configs WHERE node_id = ?",
	                   DB_UINT(node)),
	          0);
	assert_int_equal(total, (uint64_t)N * (N + 1) / 2 + N);
	dbtest_assert_counters_match(c);
	free(s);
	free(keys);
	db_release(c);
	db_close(d);
}

/* ---- 20 threads complete one payment ---- */

struct completer {
	pthread_barrier_t *start;
	uint64_t payment, user, node;
	bool won;
	int r;
};

/* What the API does: lock the payment, check it, grant, complete, queue the webhook; all
 * in one transaction. A loser sees the payment completed and grants nothing. */
static int complete_tx(struct db_conn *c, void *userdata)
{
	struct completer *x = userdata;
	struct db_payment *p = NULL;
	uint64_t vpn = 0, job = 0;
	bool created;
	char key[64];
	int r;

	x->won = false;
	r = db_payment_get_for_update_in_tx(c, x->payment, &p);
	if (r < 0)
		return r;
	if (p->status != PAYMENT_PENDING) {
		db_payment_free(p);
		return 0;
	}
	struct db_vpn_new n = {
	    .user_id = x->user, .node_id = x->node, .type = p->vpn_type, .name = "paid"};
	db_payment_free(p);
	r = db_vpn_create_in_tx(c, 0, &n, &vpn);
	if (r < 0)
		return r;
	r = db_vpn_extend_in_tx(c, 0, vpn, 1, NULL);
	if (r < 0)
		return r;
	r = db_payment_complete_in_tx(c, 0, x->payment, vpn);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "payment-%llu-completed", (unsigned long long)x->payment);
	struct db_job_new j = {.kind = JOB_NOTIFY, .vpn_config_id = vpn, .idempotency_key = key};
	r = db_job_enqueue_in_tx(c, &j, &job, &created);
	if (r < 0)
		return r;
	x->won = created;
	return 0;
}

static void *completer_thread(void *arg)
{
	struct completer *x = arg;
	struct db_conn *c = NULL;

	x->r = db_acquire(db, 10000, &c, NULL);
	pthread_barrier_wait(x->start);
	if (x->r == 0) {
		x->r = db_tx_run(c, complete_tx, x);
		db_release(c);
	}
	return NULL;
}

static void test_complete_race(void **state)
{
	struct db_conn *c = *state;
	uint64_t user = dbtest_new_user(c), node = dbtest_new_node(c, 100000), payment = 0;
	struct completer x[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t start;
	struct db_payment *p = NULL;
	int won = 0;

	struct db_payment_new pn = {.user_id = user,
	                            .method = PAYMENT_STARS,
	                            .amount = 150,
	                            .currency = "XTR",
	                            .vpn_type = VPN_WIREGUARD,
	                            .months = 1,
	                            .provider_charge_id = "grant-race"};
	assert_db(c, db_payment_create(c, 0, &pn, &payment), 0);
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		x[i] = (struct completer){&start, payment, user, node, false, 0};
		assert_int_equal(pthread_create(&t[i], NULL, completer_thread, &x[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(x[i].r, 0);
		won += x[i].won;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(won, 1);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM vpn_configs WHERE user_id = ?", DB_UINT(user)), 1);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE user_id = ? "
	                       "AND action = 'payment.complete'",
	                       DB_UINT(user)),
	                 1);
	assert_db(c, db_payment_get(c, payment, &p), 0);
	assert_int_equal(p->status, PAYMENT_COMPLETED);
	assert_int_equal(p->vpn_config_id,
	                 COUNT(c, "SELECT id FROM vpn_configs WHERE user_id = ?", DB_UINT(user)));
	p = db_payment_free(p);
	/* completing again in a transaction: -EALREADY, as db_payment_complete says */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_payment_complete_in_tx(c, 0, payment, 0), -EALREADY);
	assert_db(c, db_tx_rollback(c), 0);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_payment_get_for_update_in_tx(c, 999999, &p), -ENOENT);
	assert_db(c, db_tx_rollback(c), 0);
	dbtest_assert_counters_match(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_with_job, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_extend, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_find_and_list, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_expire_due, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_traffic, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_traffic_concurrent, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test(test_traffic_50k),
	    cmocka_unit_test_setup_teardown(test_complete_race, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
