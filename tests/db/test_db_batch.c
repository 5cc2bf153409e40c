// SPDX-License-Identifier: MIT
/*
 * The provisioner's batched statements against a real MariaDB (db_vpn.h, db_job.h,
 * db_user.h): a batch of configs for several users on several nodes created in one
 * transaction (rows in input order, audit rows and stored values as db_vpn_create_in_tx
 * writes them), refused as a whole by a unique key (-EEXIST: a second live trial, an
 * Idempotency-Key, a peer key; nothing left after the rollback); the batch's users read
 * share-locked (a ban waits for the batch, then finds its configs); their provision jobs
 * inserted running under the creator (-EEXIST for a second one); the activation of a
 * batch (addresses, audit rows as db_vpn_activate writes them), refused (-ESTALE, nothing
 * changed) for another owner's job, a config revoked meanwhile or one already active; the
 * jobs ended and released (leaving alone a job that a worker took over when the lease ran
 * out). Every test ends with the status counters equal to a recount.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_ip.h"
#include "db_job.h"
#include "db_user.h"
#include "db_vpn.h"

#define DAY_US (86400LL * 1000000)
#define MINUTE_US (60LL * 1000000)
#define OWNER "host-1:4242:prov"
#define LEASE_MS 60000U
#define NO_DUE_MS (3600ULL * 1000) /* a release that no claim of this file takes again */

static struct db *db;
static uint64_t counter = 1;

static int group_setup(void **state)
{
	(void)state;
	db = dbtest_open(2);
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

/* ---- helpers */

static const uint8_t priv_enc[] = {0x01, 0x00, 0xfe, 0x7f, 0x80, 0x02};
static const uint8_t psk_enc[] = {0x09, 0x00, 0x09};

/* One config of a batch, its strings owned here. */
struct cfg {
	struct db_vpn_new n;
	char key[45];
	char name[32];
	char idem[32];
};

/*
 * A WireGuard config like the provisioner's (peer key, sealed keys), for user on node;
 * trial, expiry (0: never) and an Idempotency-Key (NULL: none) as given.
 */
static void cfg_make(struct cfg *x, uint64_t user, uint64_t node, bool trial, int64_t expires_us,
                     const char *idem)
{
	uint64_t k = counter++;

	memset(x, 0, sizeof(*x));
	dbtest_make_key(70000000 + k, x->key);
	snprintf(x->name, sizeof(x->name), "batch-%" PRIu64, k);
	if (idem)
		snprintf(x->idem, sizeof(x->idem), "%s", idem);
	x->n = (struct db_vpn_new){
	    .user_id = user,
	    .node_id = node,
	    .type = VPN_WIREGUARD,
	    .name = x->name,
	    .config = k % 2 ? "{}" : "{\"note\":\"batch\"}",
	    .peer_public_key = x->key,
	    .expires_at_us = expires_us,
	    .is_trial = trial,
	    .private_key_enc = priv_enc,
	    .private_key_enc_len = sizeof(priv_enc),
	    .preshared_key_enc = k % 3 ? psk_enc : NULL,
	    .preshared_key_enc_len = k % 3 ? sizeof(psk_enc) : 0,
	    .idempotency_key = idem ? x->idem : NULL,
	};
}

/* The same config again with a new peer key, for another user (so that a trial does not
 * meet the batch's in the one-live-trial index) and without an Idempotency-Key. */
static void cfg_twin(struct cfg *twin, const struct cfg *x, uint64_t user)
{
	*twin = *x;
	dbtest_make_key(70000000 + counter++, twin->key);
	twin->n.user_id = user;
	twin->n.name = twin->name;
	twin->n.peer_public_key = twin->key;
	twin->n.idempotency_key = NULL;
}

static void news_of(const struct cfg *x, size_t n, struct db_vpn_new *ret)
{
	for (size_t i = 0; i < n; i++)
		ret[i] = x[i].n;
}

/* create_many of n configs in a transaction of its own, committed; *ret (n) as returned. */
static void create_many(struct db_conn *c, const struct cfg *x, size_t n, struct db_vpn **ret)
{
	struct db_vpn_new news[DB_BATCH_MAX];

	news_of(x, n, news);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, n, ret), 0);
	assert_db(c, db_tx_commit(c), 0);
}

/* create_many in a transaction that is rolled back; what it returned. *ret must stay NULL. */
static int create_many_refused(struct db_conn *c, const struct cfg *x, size_t n)
{
	struct db_vpn_new news[DB_BATCH_MAX];
	struct db_vpn *v = NULL;
	int r;

	news_of(x, n, news);
	assert_db(c, db_tx_begin(c), 0);
	r = db_vpn_create_many_in_tx(c, 0, news, n, &v);
	assert_null(v);
	assert_db(c, db_tx_rollback(c), 0);
	return r;
}

/* The configs and their provision jobs, as the provisioner's first transaction makes them. */
static void create_with_jobs(struct db_conn *c, const struct cfg *x, size_t n, const char *owner,
                             unsigned lease_ms, struct db_vpn **ret_vpns, struct db_job **ret_jobs)
{
	struct db_vpn_new news[DB_BATCH_MAX];
	uint64_t ids[DB_BATCH_MAX], nodes[DB_BATCH_MAX];

	news_of(x, n, news);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, n, ret_vpns), 0);
	for (size_t i = 0; i < n; i++) {
		ids[i] = (*ret_vpns)[i].id;
		nodes[i] = (*ret_vpns)[i].node_id;
	}
	assert_db(c, db_job_insert_running_in_tx(c, ids, nodes, n, owner, lease_ms, ret_jobs), 0);
	assert_db(c, db_tx_commit(c), 0);
}

/* The single value of sql (a JSON text) as a string to compare; free() it. */
static char *text_of(struct db_conn *c, const char *sql, uint64_t id)
{
	char *s = NULL;

	assert_db(c, dbtest_query_bytes(c, sql, (struct db_param[]){DB_UINT(id)}, 1, &s, NULL), 0);
	return s;
}

/* The vpn.create payload of config id, its vpn_config_id replaced by 0. */
static char *create_payload(struct db_conn *c, uint64_t id)
{
	return text_of(c,
	               "SELECT JSON_SET(payload, '$.vpn_config_id', 0) FROM audit_log "
	               "WHERE action = 'vpn.create' AND JSON_VALUE(payload, '$.vpn_config_id') = ?",
	               id);
}

/* The vpn.activate payload of config id, its vpn_config_id replaced by 0. */
static char *activate_payload(struct db_conn *c, uint64_t id)
{
	return text_of(c,
	               "SELECT JSON_SET(payload, '$.vpn_config_id', 0) FROM audit_log "
	               "WHERE action = 'vpn.activate' AND "
	               "JSON_VALUE(payload, '$.vpn_config_id') = ?",
	               id);
}

/* The first ip.assign payload of config id (by assignment), its ids and address blanked:
 * the shape and the key order. */
static char *ip_payload_shape(struct db_conn *c, uint64_t id)
{
	return text_of(c,
	               "SELECT JSON_SET(payload, '$.assignment_id', 0, '$.node_id', 0, "
	               "'$.address', '', '$.vpn_config_id', 0) FROM audit_log "
	               "WHERE action = 'ip.assign' AND JSON_VALUE(payload, '$.vpn_config_id') = ? "
	               "ORDER BY id LIMIT 1",
	               id);
}

static uint64_t audit_rows(struct db_conn *c, const char *action, uint64_t vpn_id)
{
	return COUNT(c,
	             "SELECT COUNT(*) FROM audit_log WHERE action = ? AND "
	             "JSON_VALUE(payload, '$.vpn_config_id') = ?",
	             DB_TEXT(action), DB_UINT(vpn_id));
}

static uint64_t all_rows(struct db_conn *c, const char *table)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	return dbtest_count(c, sql, NULL, 0);
}

struct totals {
	uint64_t vpns, jobs, audit, ips;
};

static struct totals totals(struct db_conn *c)
{
	return (struct totals){all_rows(c, "vpn_configs"), all_rows(c, "jobs"),
	                       all_rows(c, "audit_log"), all_rows(c, "ip_assignments")};
}

static void assert_totals(const struct totals *a, const struct totals *b)
{
	assert_int_equal(a->vpns, b->vpns);
	assert_int_equal(a->jobs, b->jobs);
	assert_int_equal(a->audit, b->audit);
	assert_int_equal(a->ips, b->ips);
}

static struct db_ip_address ip4(uint64_t a, unsigned b)
{
	return (struct db_ip_address){
	    .len = 4, .bytes = {10, (uint8_t)(64 + a / 256 % 64), (uint8_t)(a % 256), (uint8_t)b}};
}

static struct db_ip_address ip6(uint64_t a, unsigned b)
{
	struct db_ip_address x = {.len = 16, .bytes = {0xfd, 0x64, 0x01, 0x00}};

	x.bytes[12] = (uint8_t)(a >> 8);
	x.bytes[13] = (uint8_t)a;
	x.bytes[15] = (uint8_t)b;
	return x;
}

/* ---- creation */

static void test_create_many(void **state)
{
	enum { N = 5 };
	struct db_conn *c = *state;
	uint64_t u[3], node[2], ref_user[N], ref_id[N];
	int64_t later = db_now_us() + 30 * DAY_US, now;
	struct cfg x[N], twin[N];
	struct db_vpn *v = NULL;
	struct totals before;

	for (size_t i = 0; i < 3; i++)
		u[i] = dbtest_new_user(c);
	for (size_t i = 0; i < 2; i++)
		node[i] = dbtest_new_node(c, 100);
	/* 3 users on 2 nodes: a trial, a paid config with an Idempotency-Key, two users with
	 * two configs each, configs that never expire */
	cfg_make(&x[0], u[0], node[0], false, later, NULL);
	cfg_make(&x[1], u[1], node[1], true, later + 1234567, NULL);
	cfg_make(&x[2], u[2], node[0], false, 0, "batch-key-1");
	cfg_make(&x[3], u[0], node[1], false, 0, NULL);
	cfg_make(&x[4], u[1], node[0], false, later + 7, "batch-key-2");

	before = totals(c);
	create_many(c, x, N, &v);
	now = db_now_us();
	for (size_t i = 0; i < N; i++) {
		struct db_vpn *got = NULL;

		/* in input order, as stored */
		assert_true(v[i].id > 0);
		for (size_t k = 0; k < i; k++)
			assert_true(v[i].id != v[k].id);
		assert_int_equal(v[i].user_id, x[i].n.user_id);
		assert_int_equal(v[i].node_id, x[i].n.node_id);
		assert_string_equal(v[i].peer_public_key, x[i].key);
		assert_string_equal(v[i].name, x[i].name);
		assert_int_equal(v[i].type, VPN_WIREGUARD);
		assert_int_equal(v[i].status, VPN_PENDING);
		assert_int_equal(v[i].is_trial, x[i].n.is_trial);
		assert_int_equal(v[i].expires_at_us, x[i].n.expires_at_us);
		assert_true(v[i].created_at_us > now - MINUTE_US && v[i].created_at_us <= now);
		assert_int_equal(v[i].activated_at_us, 0);
		assert_int_equal(v[i].private_key_enc_len, sizeof(priv_enc));
		assert_memory_equal(v[i].private_key_enc, priv_enc, sizeof(priv_enc));
		assert_int_equal(v[i].preshared_key_enc_len, x[i].n.preshared_key_enc_len);
		/* what db_vpn_get reads is what create_many returned */
		assert_db(c, db_vpn_get(c, v[i].id, &got), 0);
		assert_int_equal(got->created_at_us, v[i].created_at_us);
		assert_string_equal(got->config, v[i].config);
		assert_string_equal(got->config, x[i].n.config);
		db_vpn_free(got);
		assert_int_equal(
		    COUNT(c,
		          "SELECT COUNT(*) FROM vpn_configs WHERE id = ? AND "
		          "idempotency_key <=> ?",
		          DB_UINT(v[i].id),
		          x[i].n.idempotency_key ? DB_TEXT(x[i].n.idempotency_key) : DB_NULL),
		    1);
		/* one vpn.create each, for its user, by the controller */
		assert_int_equal(audit_rows(c, "vpn.create", v[i].id), 1);
		assert_int_equal(COUNT(c,
		                       "SELECT COUNT(*) FROM audit_log WHERE action = 'vpn.create' "
		                       "AND JSON_VALUE(payload, '$.vpn_config_id') = ? AND "
		                       "user_id = ? AND actor_user_id IS NULL",
		                       DB_UINT(v[i].id), DB_UINT(x[i].n.user_id)),
		                 1);
	}
	struct totals after = totals(c);
	assert_int_equal(after.vpns, before.vpns + N);
	assert_int_equal(after.audit, before.audit + N);
	assert_int_equal(after.jobs, before.jobs);

	/* The same configs one at a time (db_vpn_create_in_tx), for other users: the same
	 * stored values and the same audit payload. */
	for (size_t i = 0; i < N; i++) {
		ref_user[i] = dbtest_new_user(c);
		cfg_twin(&twin[i], &x[i], ref_user[i]);
		assert_db(c, db_tx_begin(c), 0);
		assert_db(c, db_vpn_create_in_tx(c, 0, &twin[i].n, &ref_id[i]), 0);
		assert_db(c, db_tx_commit(c), 0);
	}
	for (size_t i = 0; i < N; i++) {
		char *batch = create_payload(c, v[i].id), *single = create_payload(c, ref_id[i]);

		print_message("vpn.create: batch %s, one at a time %s\n", batch, single);
		assert_string_equal(batch, single);
		free(batch);
		free(single);
		assert_int_equal(
		    COUNT(c,
		          "SELECT COUNT(*) FROM vpn_configs a JOIN vpn_configs b ON "
		          "a.type = b.type AND a.name = b.name AND a.config = b.config AND "
		          "a.private_key_enc <=> b.private_key_enc AND "
		          "a.preshared_key_enc <=> b.preshared_key_enc AND a.is_trial = b.is_trial "
		          "AND a.expires_at <=> b.expires_at AND a.status = b.status AND "
		          "a.extra = b.extra AND a.bandwidth_bytes = b.bandwidth_bytes AND "
		          "a.node_id = b.node_id AND a.activated_at <=> b.activated_at AND "
		          "a.revoked_at <=> b.revoked_at AND a.rx_seen = b.rx_seen AND "
		          "a.tx_seen = b.tx_seen WHERE a.id = ? AND b.id = ?",
		          DB_UINT(v[i].id), DB_UINT(ref_id[i])),
		    1);
	}
	db_vpns_free(v, N);
	dbtest_assert_counters_match(c);
}

static void test_create_many_refused(void **state)
{
	struct db_conn *c = *state;
	uint64_t a = dbtest_new_user(c), b = dbtest_new_user(c), d = dbtest_new_user(c);
	uint64_t node = dbtest_new_node(c, 100), other = dbtest_new_node(c, 100), id = 0;
	int64_t later = db_now_us() + 30 * DAY_US;
	struct cfg x[4], live;
	struct totals before, after;

	/* A user with a live trial asks for another one in a batch: -EEXIST, nothing. */
	cfg_make(&live, d, node, true, later, NULL);
	assert_db(c, db_vpn_create(c, 0, &live.n, &id), 0);
	cfg_make(&x[0], a, node, false, 0, NULL);
	cfg_make(&x[1], d, other, true, later, NULL);
	cfg_make(&x[2], b, other, false, 0, NULL);
	before = totals(c);
	assert_int_equal(create_many_refused(c, x, 3), -EEXIST);
	after = totals(c);
	assert_totals(&before, &after);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM vpn_configs WHERE user_id = ?", DB_UINT(d)),
	                 1);
	/* the trial first, or alone */
	assert_int_equal(create_many_refused(c, &x[1], 2), -EEXIST);
	assert_int_equal(create_many_refused(c, &x[1], 1), -EEXIST);

	/* Two trials of one user inside one batch, an Idempotency-Key twice, a peer key
	 * twice on a node: -EEXIST, nothing. */
	cfg_make(&x[0], a, node, true, later, NULL);
	cfg_make(&x[1], b, node, false, 0, NULL);
	cfg_make(&x[2], a, other, true, later, NULL);
	assert_int_equal(create_many_refused(c, x, 3), -EEXIST);
	cfg_make(&x[0], a, node, false, 0, "twice");
	cfg_make(&x[1], a, other, false, 0, "twice");
	assert_int_equal(create_many_refused(c, x, 2), -EEXIST);
	cfg_make(&x[0], a, node, false, 0, NULL);
	cfg_make(&x[1], b, node, false, 0, NULL);
	x[1].n.peer_public_key = x[0].key;
	assert_int_equal(create_many_refused(c, x, 2), -EEXIST);
	/* an Idempotency-Key or a peer key a committed config holds */
	assert_db(
	    c, SQL(c, "UPDATE vpn_configs SET idempotency_key = 'kept' WHERE id = ?", DB_UINT(id)),
	    0);
	cfg_make(&x[0], a, other, false, 0, NULL);
	cfg_make(&x[1], d, node, false, 0, "kept");
	assert_int_equal(create_many_refused(c, x, 2), -EEXIST);
	cfg_make(&x[1], a, node, false, 0, NULL);
	x[1].n.peer_public_key = live.key;
	assert_int_equal(create_many_refused(c, x, 2), -EEXIST);
	after = totals(c);
	assert_totals(&before, &after);

	/* The caller's mistakes: before anything is sent. */
	struct db_vpn_new news[DB_BATCH_MAX + 1];
	struct db_vpn *v = NULL;

	cfg_make(&x[0], a, node, false, 0, NULL);
	news[0] = x[0].n;
	news[0].peer_public_key = NULL;
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, 1, &v), -EINVAL);
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, 0, &v), -EINVAL);
	for (size_t i = 0; i < DB_BATCH_MAX + 1; i++)
		news[i] = x[0].n;
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, DB_BATCH_MAX + 1, &v), -EINVAL);
	assert_true(db_tx_active(c));
	assert_db(c, db_tx_rollback(c), 0);
	assert_null(v);
	after = totals(c);
	assert_totals(&before, &after);
	dbtest_assert_counters_match(c);
}

static int64_t tid_of(struct db_conn *c, uint64_t user)
{
	return (int64_t)COUNT(c, "SELECT telegram_id FROM users WHERE id = ?", DB_UINT(user));
}

/*
 * A banned user among a batch's: the batch reads its users with db_user_list_brief inside
 * its transaction and hands the banned one back; the read share-locks the users, so that a
 * ban waits for the batch's commit (and then revokes what it created).
 */
static void test_users_locked(void **state)
{
	struct db_conn *c = *state, *p = NULL;
	uint64_t a = dbtest_new_user(c), b = dbtest_new_user(c), node = dbtest_new_node(c, 100);
	int64_t tids[4] = {tid_of(c, a), 7999999999, tid_of(c, b), tid_of(c, a)};
	struct db_user_brief got[4];
	struct db *peer = dbtest_open(1);
	struct db_vpn *v = NULL;
	struct db_vpn_new news[2];
	size_t n = 0;
	struct cfg x[2];

	assert_db(c, db_user_set_status(c, 0, b, USER_BANNED), 0);
	/* those that exist, each once, with their status */
	assert_db(c, db_user_list_brief(c, tids, 4, got, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_true(got[i].id == a || got[i].id == b);
		assert_int_equal(got[i].telegram_id, tid_of(c, got[i].id));
		assert_int_equal(got[i].status, got[i].id == a ? USER_ACTIVE : USER_BANNED);
	}
	assert_db(c, db_user_list_brief(c, tids, 0, got, &n), -EINVAL);
	{
		int64_t many[DB_BATCH_MAX + 1] = {0};

		assert_db(c, db_user_list_brief(c, many, DB_BATCH_MAX + 1, got, &n), -EINVAL);
	}

	/* A ban waits while a batch holds its user. */
	assert_int_equal(db_acquire(peer, -1, &p, NULL), 0);
	assert_db(p, SQL(p, "SET SESSION innodb_lock_wait_timeout = 1"), 0);
	cfg_make(&x[0], a, node, false, 0, NULL);
	cfg_make(&x[1], a, node, false, 0, NULL);
	news[0] = x[0].n;
	news[1] = x[1].n;
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_user_list_brief(c, tids, 1, got, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].status, USER_ACTIVE);
	assert_db(c, db_vpn_create_many_in_tx(c, 0, news, 2, &v), 0);
	assert_db(p, db_user_set_status(p, 0, a, USER_BANNED), -EBUSY);
	assert_db(c, db_tx_commit(c), 0);
	/* then goes through, and finds the batch's configs to revoke */
	assert_db(p, db_user_set_status(p, 0, a, USER_BANNED), 0);
	{
		uint64_t *ids = NULL;
		size_t n_ids = 0;

		assert_db(p, db_tx_begin(p), 0);
		assert_db(p, db_vpn_list_user_live_in_tx(p, a, &ids, &n_ids), 0);
		assert_int_equal(n_ids, 2);
		assert_int_equal(ids[0], v[0].id < v[1].id ? v[0].id : v[1].id);
		for (size_t i = 0; i < n_ids; i++)
			assert_db(p, db_vpn_revoke_in_tx(p, 0, ids[i], "user banned"), 0);
		assert_db(p, db_tx_commit(p), 0);
		free(ids);
	}
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE user_id = ? AND "
	                       "status = 'revoked'",
	                       DB_UINT(a)),
	                 2);
	db_release(p);
	db_close(peer);
	db_vpns_free(v, 2);
	dbtest_assert_counters_match(c);
}

/* ---- provision jobs */

static void test_insert_running(void **state)
{
	enum { N = 4 };
	struct db_conn *c = *state;
	uint64_t u[2] = {dbtest_new_user(c), dbtest_new_user(c)};
	uint64_t node[2] = {dbtest_new_node(c, 100), dbtest_new_node(c, 100)};
	struct db_job *jobs = NULL, *again = NULL, *claimed = NULL;
	struct db_vpn *v = NULL;
	size_t n_claimed = 0;
	struct cfg x[N];
	int64_t t0 = db_now_us(), t1;

	for (size_t i = 0; i < N; i++)
		cfg_make(&x[i], u[i % 2], node[i / 2], false, 0, NULL);
	create_with_jobs(c, x, N, OWNER, LEASE_MS, &v, &jobs);
	t1 = db_now_us();
	for (size_t i = 0; i < N; i++) {
		char key[40];
		struct db_job *got = NULL;

		snprintf(key, sizeof(key), "provision-%" PRIu64, v[i].id);
		assert_true(jobs[i].id > 0);
		assert_int_equal(jobs[i].kind, JOB_PROVISION);
		assert_int_equal(jobs[i].vpn_config_id, v[i].id);
		assert_int_equal(jobs[i].node_id, x[i].n.node_id);
		assert_int_equal(jobs[i].state, JOB_RUNNING);
		assert_int_equal(jobs[i].attempts, 1);
		assert_string_equal(jobs[i].claimed_by, OWNER);
		assert_string_equal(jobs[i].idempotency_key, key);
		assert_string_equal(jobs[i].payload, "{}");
		assert_null(jobs[i].last_error);
		assert_int_equal(jobs[i].finished_at_us, 0);
		/* a lease of LEASE_MS from the insert (the database's clock, on this host) */
		assert_true(jobs[i].lease_expires_at_us >= t0 + LEASE_MS * 1000LL - MINUTE_US / 60);
		assert_true(jobs[i].lease_expires_at_us <= t1 + LEASE_MS * 1000LL + MINUTE_US / 60);
		/* the job as stored, and the one the API shows for the VPN */
		assert_db(c, db_job_latest_for_vpn(c, v[i].id, &got), 0);
		assert_int_equal(got->id, jobs[i].id);
		assert_int_equal(got->state, JOB_RUNNING);
		assert_int_equal(got->lease_expires_at_us, jobs[i].lease_expires_at_us);
		db_job_free(got);
	}

	/* A second provision job for one of them: -EEXIST, none inserted. */
	uint64_t ids[2] = {v[1].id, 0}, nodes[2] = {v[1].node_id, 0};
	uint64_t before = all_rows(c, "jobs");

	assert_db(c, db_tx_begin(c), 0);
	assert_db(c,
	          db_job_insert_running_in_tx(c, ids, nodes, 1, "someone-else", LEASE_MS, &again),
	          -EEXIST);
	assert_db(c, db_tx_rollback(c), 0);
	assert_null(again);
	/* also as the second row of a bulk: the first row goes with it */
	{
		struct cfg y;
		struct db_vpn_new ny;
		struct db_vpn *w = NULL;

		cfg_make(&y, u[0], node[0], false, 0, NULL);
		ny = y.n;
		assert_db(c, db_tx_begin(c), 0);
		assert_db(c, db_vpn_create_many_in_tx(c, 0, &ny, 1, &w), 0);
		ids[0] = w[0].id;
		nodes[0] = w[0].node_id;
		ids[1] = v[2].id;
		nodes[1] = v[2].node_id;
		assert_db(c, db_job_insert_running_in_tx(c, ids, nodes, 2, OWNER, LEASE_MS, &again),
		          -EEXIST);
		assert_db(c, db_tx_rollback(c), 0);
		assert_null(again);
		assert_int_equal(
		    COUNT(c, "SELECT COUNT(*) FROM vpn_configs WHERE id = ?", DB_UINT(w[0].id)), 0);
		db_vpns_free(w, 1);
	}
	assert_int_equal(all_rows(c, "jobs"), before);

	/* Running under a lease: no claim takes them. */
	assert_db(c, db_job_claim(c, "a-worker", LEASE_MS, 1000, &claimed, &n_claimed), 0);
	for (size_t i = 0; i < n_claimed; i++)
		for (size_t k = 0; k < N; k++)
			assert_true(claimed[i].id != jobs[k].id);
	db_jobs_free(claimed, n_claimed);

	/* The caller's mistakes. */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_job_insert_running_in_tx(c, ids, nodes, 0, OWNER, LEASE_MS, &again),
	          -EINVAL);
	assert_db(c, db_job_insert_running_in_tx(c, ids, nodes, 1, OWNER, 0, &again), -EINVAL);
	assert_db(c, db_job_insert_running_in_tx(c, ids, nodes, 1, "", LEASE_MS, &again), -EINVAL);
	assert_db(c, db_tx_rollback(c), 0);
	assert_null(again);

	db_jobs_free(jobs, N);
	db_vpns_free(v, N);
	dbtest_assert_counters_match(c);
}

/* ---- activation */

/* An activation's addresses (IPv4 and IPv6, numbered by n) and the config naming them. */
struct act {
	struct db_ip_address addr[2];
	char config[160];
};

static void act_make(struct act *a, uint64_t n)
{
	char t4[DB_IP_ADDRESS_STRLEN], t6[DB_IP_ADDRESS_STRLEN];

	a->addr[0] = ip4(n, 2);
	a->addr[1] = ip6(n, 2);
	assert_int_equal(db_ip_address_format(&a->addr[0], t4, sizeof(t4)), 0);
	assert_int_equal(db_ip_address_format(&a->addr[1], t6, sizeof(t6)), 0);
	snprintf(a->config, sizeof(a->config), "{\"addresses\": [\"%s/32\", \"%s/128\"]}", t4, t6);
}

static struct db_vpn_activation activation(const struct db_vpn *v, const struct db_job *j,
                                           const struct act *a)
{
	return (struct db_vpn_activation){v, j->id, a->config, a->addr, 2};
}

/* activate_many in a transaction that is rolled back; what it returned. Nothing stays. */
static int activate_refused(struct db_conn *c, const struct db_vpn_activation *acts, size_t n,
                            const char *owner)
{
	struct totals before = totals(c), after;
	int r;

	assert_db(c, db_tx_begin(c), 0);
	r = db_vpn_activate_many_in_tx(c, 0, acts, n, owner, db_now_us());
	assert_db(c, db_tx_rollback(c), 0);
	after = totals(c);
	assert_totals(&before, &after);
	return r;
}

static void assert_job(struct db_conn *c, uint64_t id, enum job_state state, const char *owner,
                       unsigned attempts)
{
	struct db_job *job = NULL;

	assert_db(c, db_job_get(c, id, &job), 0);
	assert_int_equal(job->state, state);
	assert_string_equal(job->claimed_by, owner);
	assert_int_equal(job->attempts, attempts);
	assert_int_equal(job->lease_expires_at_us != 0, state == JOB_RUNNING);
	assert_int_equal(job->finished_at_us != 0, state == JOB_DONE);
	db_job_free(job);
}

static void test_activate_many(void **state)
{
	enum { N = 5 };
	struct db_conn *c = *state;
	uint64_t u[3], node[2], ref = 0, job_ids[N];
	struct db_vpn_activation acts[N + 1];
	struct db_job *jobs = NULL, *fj = NULL;
	struct db_vpn *v = NULL, *fv = NULL;
	struct act a[N], ra, fa;
	struct cfg x[N], rx, fx;
	int64_t later = db_now_us() + 30 * DAY_US, at;
	struct totals before;

	for (size_t i = 0; i < 3; i++)
		u[i] = dbtest_new_user(c);
	for (size_t i = 0; i < 2; i++)
		node[i] = dbtest_new_node(c, 100);
	cfg_make(&x[0], u[0], node[0], true, later, NULL);
	cfg_make(&x[1], u[1], node[1], false, 0, NULL);
	cfg_make(&x[2], u[2], node[0], false, later, "act-key");
	cfg_make(&x[3], u[0], node[1], false, 0, NULL);
	cfg_make(&x[4], u[1], node[0], true, later, NULL);
	create_with_jobs(c, x, N, OWNER, LEASE_MS, &v, &jobs);
	for (size_t i = 0; i < N; i++) {
		act_make(&a[i], 2000 + v[i].id);
		acts[i] = activation(&v[i], &jobs[i], &a[i]);
		job_ids[i] = jobs[i].id;
	}

	/* The reference: a config activated one at a time with db_vpn_activate. */
	cfg_make(&rx, u[2], node[1], false, 0, NULL);
	assert_db(c, db_vpn_create(c, 0, &rx.n, &ref), 0);
	act_make(&ra, 1000);
	assert_db(c, db_vpn_activate(c, 0, ref, ra.config, ra.addr, 2), 0);

	/* A config of another process's batch. */
	cfg_make(&fx, u[2], node[1], false, 0, NULL);
	create_with_jobs(c, &fx, 1, "host-2:99:prov", LEASE_MS, &fv, &fj);
	act_make(&fa, 2000 + fv[0].id);

	/* Not the owner of the jobs: -ESTALE, nothing changed. One job of another owner among
	 * ours: the same. */
	assert_int_equal(activate_refused(c, acts, N, "host-1:4242:prov-x"), -ESTALE);
	assert_int_equal(activate_refused(c, acts, N, "host-2:99:prov"), -ESTALE);
	acts[N] = activation(&fv[0], &fj[0], &fa);
	assert_int_equal(activate_refused(c, acts, N + 1, OWNER), -ESTALE);
	assert_int_equal(activate_refused(c, &acts[N], 1, OWNER), -ESTALE);
	for (size_t i = 0; i < N; i++) {
		struct db_vpn *got = NULL;

		assert_db(c, db_vpn_get(c, v[i].id, &got), 0);
		assert_int_equal(got->status, VPN_PENDING);
		db_vpn_free(got);
		assert_job(c, job_ids[i], JOB_RUNNING, OWNER, 1);
	}
	/* The caller's mistakes. */
	assert_int_equal(activate_refused(c, acts, 0, OWNER), -EINVAL);
	assert_int_equal(activate_refused(c, acts, N, NULL), -EINVAL);
	{
		struct db_vpn_activation bad = acts[0];

		bad.vpn = NULL;
		assert_int_equal(activate_refused(c, &bad, 1, OWNER), -EINVAL);
	}

	/* The provisioner's second transaction. */
	before = totals(c);
	at = db_now_us();
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_activate_many_in_tx(c, 0, acts, N, OWNER, at), 0);
	assert_db(c, db_job_done_many_in_tx(c, job_ids, N, OWNER), 0);
	assert_db(c, db_tx_commit(c), 0);

	struct totals after = totals(c);
	assert_int_equal(after.vpns, before.vpns);
	assert_int_equal(after.jobs, before.jobs);
	assert_int_equal(after.ips, before.ips + 2 * N);
	assert_int_equal(after.audit, before.audit + 3 * N); /* 2 ip.assign, 1 vpn.activate */

	for (size_t i = 0; i < N; i++) {
		struct db_vpn *got = NULL;

		/* active since `at`, with its config */
		assert_db(c, db_vpn_get(c, v[i].id, &got), 0);
		assert_int_equal(got->status, VPN_ACTIVE);
		assert_string_equal(got->config, a[i].config);
		assert_int_equal(got->activated_at_us, at);
		assert_int_equal(got->created_at_us, v[i].created_at_us);
		assert_string_equal(got->peer_public_key, x[i].key);
		db_vpn_free(got);

		/* the addresses, as db_ip_record_in_tx records them */
		for (size_t k = 0; k < 2; k++)
			assert_int_equal(
			    COUNT(c,
			          "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ? AND "
			          "node_id = ? AND user_id = ? AND address = ? AND kind = ? AND "
			          "vpn_type = 'wireguard' AND released_at IS NULL",
			          DB_UINT(v[i].id), DB_UINT(x[i].n.node_id),
			          DB_UINT(x[i].n.user_id),
			          DB_BLOB(a[i].addr[k].bytes, a[i].addr[k].len),
			          DB_TEXT(x[i].n.is_trial ? "trial" : "paid")),
			    1);
		assert_int_equal(
		    COUNT(c, "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ?",
		          DB_UINT(v[i].id)),
		    2);

		/* one ip.assign per address, naming its assignment; one vpn.activate */
		assert_int_equal(audit_rows(c, "ip.assign", v[i].id), 2);
		assert_int_equal(
		    COUNT(c,
		          "SELECT COUNT(*) FROM audit_log l JOIN ip_assignments a ON "
		          "a.id = JSON_VALUE(l.payload, '$.assignment_id') AND "
		          "a.node_id = JSON_VALUE(l.payload, '$.node_id') AND "
		          "INET6_NTOA(a.address) = JSON_VALUE(l.payload, '$.address') AND "
		          "a.vpn_config_id = JSON_VALUE(l.payload, '$.vpn_config_id') AND "
		          "a.user_id = l.user_id WHERE l.action = 'ip.assign' AND "
		          "l.actor_user_id IS NULL AND a.vpn_config_id = ?",
		          DB_UINT(v[i].id)),
		    2);
		assert_int_equal(audit_rows(c, "vpn.activate", v[i].id), 1);
		assert_int_equal(
		    COUNT(c,
		          "SELECT COUNT(*) FROM audit_log WHERE action = 'vpn.activate' "
		          "AND JSON_VALUE(payload, '$.vpn_config_id') = ? AND "
		          "JSON_VALUE(payload, '$.addresses_recorded') = 2 AND "
		          "user_id = ? AND actor_user_id IS NULL",
		          DB_UINT(v[i].id), DB_UINT(x[i].n.user_id)),
		    1);
		/* the payloads are those of the one-at-a-time way */
		{
			char *batch = activate_payload(c, v[i].id),
			     *single = activate_payload(c, ref);

			if (i == 0)
				print_message("vpn.activate: batch %s, one at a time %s\n", batch,
				              single);
			assert_string_equal(batch, single);
			free(batch);
			free(single);
			batch = ip_payload_shape(c, v[i].id);
			single = ip_payload_shape(c, ref);
			if (i == 0)
				print_message("ip.assign: batch %s, one at a time %s\n", batch,
				              single);
			assert_string_equal(batch, single);
			free(batch);
			free(single);
		}

		/* the job ended, no result */
		assert_job(c, job_ids[i], JOB_DONE, OWNER, 1);
		assert_int_equal(COUNT(c,
		                       "SELECT COUNT(*) FROM jobs WHERE id = ? AND result IS NULL",
		                       DB_UINT(job_ids[i])),
		                 1);
	}
	/* the other owner's job is untouched */
	assert_job(c, fj[0].id, JOB_RUNNING, "host-2:99:prov", 1);

	/* Again: the jobs are done and the configs active, with addresses no other config
	 * holds: -ESTALE, nothing changed. */
	{
		struct act fresh;

		act_make(&fresh, 9000 + v[0].id);
		acts[0] = activation(&v[0], &jobs[0], &fresh);
		assert_int_equal(activate_refused(c, acts, 1, OWNER), -ESTALE);
	}

	db_jobs_free(jobs, N);
	db_jobs_free(fj, 1);
	db_vpns_free(fv, 1);
	db_vpns_free(v, N);
	dbtest_assert_counters_match(c);
}

/* A config revoked between the two transactions (a ban, a DELETE): the activation is
 * refused as a whole, nothing of it stays, and the jobs go back to the queue. */
static void test_activate_many_revoked(void **state)
{
	enum { N = 3 };
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), job_ids[N];
	struct db_vpn_activation acts[N];
	struct db_job *jobs = NULL;
	struct db_vpn *v = NULL;
	struct act a[N];
	struct cfg x[N];

	for (size_t i = 0; i < N; i++)
		cfg_make(&x[i], u, node, false, 0, NULL);
	create_with_jobs(c, x, N, OWNER, LEASE_MS, &v, &jobs);
	assert_db(c, db_vpn_revoke(c, 0, v[1].id, "banned"), 0);
	for (size_t i = 0; i < N; i++) {
		act_make(&a[i], 3000 + v[i].id);
		acts[i] = activation(&v[i], &jobs[i], &a[i]);
		job_ids[i] = jobs[i].id;
	}
	assert_int_equal(activate_refused(c, acts, N, OWNER), -ESTALE);
	/* the revoked one last, or alone */
	acts[1] = activation(&v[2], &jobs[2], &a[2]);
	acts[2] = activation(&v[1], &jobs[1], &a[1]);
	assert_int_equal(activate_refused(c, acts, N, OWNER), -ESTALE);
	assert_int_equal(activate_refused(c, &acts[2], 1, OWNER), -ESTALE);
	for (size_t i = 0; i < N; i++) {
		struct db_vpn *got = NULL;

		assert_db(c, db_vpn_get(c, v[i].id, &got), 0);
		assert_int_equal(got->status, i == 1 ? VPN_REVOKED : VPN_PENDING);
		assert_int_equal(got->activated_at_us, 0);
		assert_string_equal(got->config, x[i].n.config);
		db_vpn_free(got);
		assert_int_equal(audit_rows(c, "vpn.activate", v[i].id), 0);
		assert_int_equal(audit_rows(c, "ip.assign", v[i].id), 0);
		assert_job(c, job_ids[i], JOB_RUNNING, OWNER, 1);
	}

	/* The jobs go back to the queue, due later, with the reason. */
	int64_t t0 = db_now_us();

	assert_db(c, db_job_release_many(c, job_ids, N, OWNER, NO_DUE_MS, "activation: stale"), 0);
	for (size_t i = 0; i < N; i++) {
		struct db_job *job = NULL;

		assert_job(c, job_ids[i], JOB_PENDING, OWNER, 1);
		assert_db(c, db_job_get(c, job_ids[i], &job), 0);
		assert_true(job->next_attempt_at_us >= t0 + (int64_t)NO_DUE_MS * 1000 - MINUTE_US);
		assert_non_null(job->last_error);
		assert_string_equal(job->last_error, "activation: stale");
		db_job_free(job);
	}
	/* released: no longer the batch's to activate */
	acts[0] = activation(&v[0], &jobs[0], &a[0]);
	assert_int_equal(activate_refused(c, acts, 1, OWNER), -ESTALE);

	db_jobs_free(jobs, N);
	db_vpns_free(v, N);
	dbtest_assert_counters_match(c);
}

/* A lease that ran out: a worker took one job over; the batch cannot activate, and its
 * release leaves that job alone. */
static void test_release_many(void **state)
{
	enum { N = 3 };
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), job_ids[N], taken = 0;
	struct db_vpn_activation acts[N];
	struct db_job *jobs = NULL, *claimed = NULL;
	struct db_vpn *v = NULL;
	size_t n_claimed = 0;
	struct act a[N];
	struct cfg x[N];

	for (size_t i = 0; i < N; i++)
		cfg_make(&x[i], u, node, false, 0, NULL);
	create_with_jobs(c, x, N, OWNER, 1, &v, &jobs);
	for (size_t i = 0; i < N; i++) {
		job_ids[i] = jobs[i].id;
		act_make(&a[i], 4000 + v[i].id);
		acts[i] = activation(&v[i], &jobs[i], &a[i]);
	}
	usleep(20000); /* the 1 ms leases run out */
	assert_db(c, db_job_claim(c, "a-worker", LEASE_MS, 1, &claimed, &n_claimed), 0);
	assert_int_equal(n_claimed, 1);
	taken = claimed[0].id;
	assert_true(taken == job_ids[0] || taken == job_ids[1] || taken == job_ids[2]);
	assert_int_equal(claimed[0].attempts, 2);
	db_jobs_free(claimed, n_claimed);

	/* the batch can no longer activate them all */
	assert_int_equal(activate_refused(c, acts, N, OWNER), -ESTALE);

	assert_db(c, db_job_release_many(c, job_ids, N, OWNER, NO_DUE_MS, "node n1: timed out"), 0);
	for (size_t i = 0; i < N; i++) {
		struct db_job *job = NULL;

		if (job_ids[i] == taken) {
			assert_job(c, job_ids[i], JOB_RUNNING, "a-worker", 2);
			assert_db(c, db_job_get(c, job_ids[i], &job), 0);
			assert_null(job->last_error);
		} else {
			assert_job(c, job_ids[i], JOB_PENDING, OWNER, 1);
			assert_db(c, db_job_get(c, job_ids[i], &job), 0);
			assert_string_equal(job->last_error, "node n1: timed out");
		}
		db_job_free(job);
	}
	/* nothing, and the caller's mistakes */
	assert_db(c, db_job_release_many(c, job_ids, 0, OWNER, 0, NULL), 0);
	assert_db(c, db_job_release_many(c, job_ids, DB_BATCH_MAX + 1, OWNER, 0, NULL), -EINVAL);
	assert_db(c, db_job_release_many(c, job_ids, N, "", 0, NULL), -EINVAL);

	/* the worker finishes its own */
	assert_db(c, db_job_done(c, taken, "a-worker", NULL), 0);
	db_jobs_free(jobs, N);
	db_vpns_free(v, N);
	dbtest_assert_counters_match(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_many, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_create_many_refused, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_users_locked, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_insert_running, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_activate_many, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_activate_many_revoked, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_release_many, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
