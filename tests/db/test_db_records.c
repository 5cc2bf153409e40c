// SPDX-License-Identifier: MIT
/*
 * Record operations against a real MariaDB: users, roles and payments, their audit rows,
 * and the races the schema and the guarded transitions must win: 32 threads completing
 * one payment, creating one charge, registering one Telegram user, taking one trial
 * (db_vpn_create) and recording one address on one node (db_ip_record). The VPN and IP
 * operations themselves are in test_db_vpn.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_payment.h"
#include "db_user.h"
#include "db_vpn.h"

#define THREADS 32

static struct db *db;

static int group_setup(void **state)
{
	db = dbtest_open(THREADS + 1);
	dbtest_migrate(db);
	dbtest_pool = db;
	return 0;
}

static int group_teardown(void **state)
{
	db = db_close(db);
	return 0;
}


static int64_t next_telegram_id = 7000000000LL;

static uint64_t new_user(struct db_conn *c)
{
	struct db_user_profile p = {.telegram_id = next_telegram_id++, .first_name = "T"};
	uint64_t id = 0;

	assert_db(c, db_user_upsert(c, &p, &id, NULL), 0);
	return id;
}

static uint64_t audit_count(struct db_conn *c, uint64_t user, const char *action)
{
	uint64_t n = 0;

	assert_db(c,
	          SQL_UINT(c, &n, "SELECT COUNT(*) FROM audit_log WHERE user_id = ? AND action = ?",
	                   DB_UINT(user), DB_TEXT(action)),
	          0);
	return n;
}

/* ---- users ---- */

static void test_user_upsert(void **state)
{
	struct db_conn *c = *state;
	struct db_user_profile p = {.telegram_id = 8000000000000000001LL,
	                            .username = "pingu",
	                            .first_name = "P\xf0\x9f\x90\xa7",
	                            .last_name = NULL};
	struct db_user *u = NULL;
	uint64_t id = 0, id2 = 0;
	bool created = false;

	assert_db(c, db_user_upsert(c, &p, &id, &created), 0);
	assert_true(created);
	assert_true(id > 0);
	assert_db(c, db_user_get_by_telegram(c, p.telegram_id, &u), 0);
	assert_int_equal(u->id, id);
	assert_int_equal(u->telegram_id, p.telegram_id);
	assert_string_equal(u->username, "pingu");
	assert_string_equal(u->first_name, "P\xf0\x9f\x90\xa7");
	assert_null(u->last_name);
	assert_int_equal(u->status, USER_ACTIVE);
	assert_true(u->last_login_at_us > 0 && u->created_at_us > 0);
	assert_null(u->qvapay_user_id);
	u = db_user_free(u);

	/* again: same row, names refreshed */
	p.username = "pingu2";
	p.last_name = "Antarctic";
	assert_db(c, db_user_upsert(c, &p, &id2, &created), 0);
	assert_false(created);
	assert_int_equal(id2, id);
	assert_db(c, db_user_get(c, id, &u), 0);
	assert_string_equal(u->username, "pingu2");
	assert_string_equal(u->last_name, "Antarctic");
	u = db_user_free(u);

	assert_int_equal(audit_count(c, id, "user.register"), 1);
	assert_int_equal(audit_count(c, id, "user.login"), 1);
	assert_db(c, db_user_get(c, 999999999, &u), -ENOENT);
	assert_db(c, db_user_get_by_telegram(c, 1, &u), -ENOENT);
	assert_null(u);
	p.telegram_id = 0;
	assert_int_equal(db_user_upsert(c, &p, &id, NULL), -EINVAL);
}

static void test_user_status(void **state)
{
	struct db_conn *c = *state;
	uint64_t admin = new_user(c), u = new_user(c);
	struct db_user *x = NULL;
	uint64_t actor = 0;

	assert_db(c, db_user_set_status(c, admin, u, USER_BANNED), 0);
	assert_db(c, db_user_set_status(c, admin, u, USER_BANNED), -EALREADY);
	assert_db(c, db_user_get(c, u, &x), 0);
	assert_int_equal(x->status, USER_BANNED);
	x = db_user_free(x);
	assert_db(c, db_user_set_status(c, 0, u, USER_ACTIVE), 0);
	assert_db(c, db_user_set_status(c, admin, 999999999, USER_BANNED), -ENOENT);
	assert_int_equal(db_user_set_status(c, admin, u, _USER_STATUS_MAX), -EINVAL);
	assert_int_equal(audit_count(c, u, "user.ban"), 1);
	assert_int_equal(audit_count(c, u, "user.unban"), 1);
	assert_db(c,
	          SQL_UINT(c, &actor,
	                   "SELECT actor_user_id FROM audit_log WHERE user_id = ? AND action = "
	                   "'user.ban'",
	                   DB_UINT(u)),
	          0);
	assert_int_equal(actor, admin);
}

static bool listed(struct db_user *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return true;
	return false;
}

static void test_roles(void **state)
{
	struct db_conn *c = *state;
	uint64_t boss = new_user(c), a = new_user(c), b = new_user(c), old = new_user(c);
	int64_t now = db_now_us();
	struct db_user *v = NULL;
	size_t n = 0;
	bool has = false;

	assert_db(c, db_user_grant_role(c, 0, boss, "superadmin", 0), 0);
	assert_db(c, db_user_grant_role(c, boss, a, "admin", 0), 0);
	assert_db(c, db_user_grant_role(c, boss, b, "admin", now + 3600LL * 1000000), 0);
	/* granting again renews, still one grant */
	assert_db(c, db_user_grant_role(c, boss, b, "admin", now + 7200LL * 1000000), 0);
	assert_db(c, db_user_grant_role(c, boss, a, "admin", now - 1000000), -EINVAL);
	assert_db(c, db_user_grant_role(c, boss, a, "wizard", 0), -ENOENT);
	assert_db(c, db_user_grant_role(c, boss, 999999999, "admin", 0), -ENOENT);
	/* an expired grant (back-dated by hand) no longer counts */
	assert_db(c, db_user_grant_role(c, boss, old, "admin", now + 1000000), 0);
	assert_db(c,
	          SQL(c,
	              "UPDATE user_roles SET granted_at = NOW(6) - INTERVAL 2 DAY, "
	              "expires_at = NOW(6) - INTERVAL 1 DAY WHERE user_id = ?",
	              DB_UINT(old)),
	          0);

	assert_db(c, db_user_has_role(c, a, "admin", &has), 0);
	assert_true(has);
	assert_db(c, db_user_has_role(c, old, "admin", &has), 0);
	assert_false(has);
	assert_db(c, db_admins_list(c, &v, &n), 0);
	assert_true(listed(v, n, boss) && listed(v, n, a) && listed(v, n, b));
	assert_false(listed(v, n, old));
	for (size_t i = 1; i < n; i++)
		assert_true(v[i].id > v[i - 1].id);
	v = db_users_free(v, n);

	assert_db(c, db_user_revoke_role(c, boss, a, "admin"), 0);
	assert_db(c, db_user_revoke_role(c, boss, a, "admin"), -ENOENT);
	assert_db(c, db_user_has_role(c, a, "admin", &has), 0);
	assert_false(has);
	assert_int_equal(audit_count(c, b, "role.grant"), 2);
	assert_int_equal(audit_count(c, a, "role.revoke"), 1);
}

/* ---- payments ---- */

static struct db_payment_new stars(uint64_t user, const char *charge)
{
	return (struct db_payment_new){.user_id = user,
	                               .method = PAYMENT_STARS,
	                               .amount = 250,
	                               .currency = "XTR",
	                               .vpn_type = VPN_WIREGUARD,
	                               .months = 1,
	                               .provider_charge_id = charge};
}

static void test_payment_lifecycle(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = new_user(c), id = 0, id2 = 0, id3 = 0;
	struct db_payment_new n = stars(u, "life-1");
	struct db_payment *p = NULL, *v = NULL;
	size_t count = 0;

	assert_db(c, db_payment_create(c, 0, &n, &id), 0);
	assert_db(c, db_payment_get(c, id, &p), 0);
	assert_int_equal(p->status, PAYMENT_PENDING);
	assert_int_equal(p->amount, 250);
	assert_string_equal(p->currency, "XTR");
	assert_string_equal(p->provider_charge_id, "life-1");
	assert_int_equal(p->completed_at_us, 0);
	p = db_payment_free(p);
	/* the same charge again: refused, and findable by its charge id */
	assert_db(c, db_payment_create(c, 0, &n, &id2), -EEXIST);
	assert_db(c, db_payment_get_by_charge(c, PAYMENT_STARS, "life-1", &p), 0);
	assert_int_equal(p->id, id);
	p = db_payment_free(p);
	assert_db(c, db_payment_get_by_charge(c, PAYMENT_QVAPAY, "life-1", &p), -ENOENT);

	assert_db(c, db_payment_refund(c, 0, id), -EPERM); /* not completed yet */
	assert_db(c, db_payment_complete(c, 0, id, 0), 0);
	assert_db(c, db_payment_complete(c, 0, id, 0), -EALREADY);
	assert_db(c, db_payment_fail(c, 0, id, "late"), -EPERM);
	assert_db(c, db_payment_refund(c, u, id), 0);
	assert_db(c, db_payment_refund(c, u, id), -EALREADY);
	assert_db(c, db_payment_complete(c, 0, id, 0), -EPERM);
	assert_db(c, db_payment_get(c, id, &p), 0);
	assert_int_equal(p->status, PAYMENT_REFUNDED);
	assert_true(p->completed_at_us > 0 && p->refunded_at_us >= p->completed_at_us);
	p = db_payment_free(p);

	n = stars(u, "life-2");
	n.method = PAYMENT_QVAPAY;
	n.currency = "USD";
	n.amount = 499; /* cents */
	assert_db(c, db_payment_create(c, 0, &n, &id2), 0);
	assert_db(c, db_payment_fail(c, 0, id2, "card declined \xf0\x9f\x99\x81"), 0);
	assert_db(c, db_payment_get(c, id2, &p), 0);
	assert_int_equal(p->status, PAYMENT_FAILED);
	assert_string_equal(p->failure_reason, "card declined \xf0\x9f\x99\x81");
	p = db_payment_free(p);
	assert_db(c, db_payment_complete(c, 0, 999999999, 0), -ENOENT);

	/* the schema still has the last word */
	n = stars(u, "life-3");
	n.currency = "USD";
	assert_db(c, db_payment_create(c, 0, &n, &id3), -EINVAL);
	n = stars(999999999, "life-4");
	assert_db(c, db_payment_create(c, 0, &n, &id3), -EINVAL);

	assert_db(c, db_payment_history(c, u, 10, &v, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(v[0].id, id2); /* newest first */
	assert_int_equal(v[1].id, id);
	v = db_payments_free(v, count);
	assert_db(c, db_payment_history(c, u, 1, &v, &count), 0);
	assert_int_equal(count, 1);
	v = db_payments_free(v, count);

	assert_int_equal(audit_count(c, u, "payment.create"), 2);
	assert_int_equal(audit_count(c, u, "payment.complete"), 1);
	assert_int_equal(audit_count(c, u, "payment.refund"), 1);
	assert_int_equal(audit_count(c, u, "payment.fail"), 1);
}

/* ---- races ---- */

struct race {
	pthread_barrier_t *start;
	int (*fn)(struct db_conn *c, struct race *x);
	uint64_t arg, out; /* out: also an input, set before the start */
	bool flag;
	int r;
	char why[600]; /* the connection's error when fn failed */
};

static void *race_thread(void *arg)
{
	struct race *x = arg;
	struct db_conn *c;

	x->r = db_acquire(db, 10000, &c, NULL);
	pthread_barrier_wait(x->start);
	if (x->r == 0) {
		x->r = x->fn(c, x);
		if (x->r < 0) {
			const struct db_error *e = db_conn_error(c);

			snprintf(x->why, sizeof(x->why), "server error %u (%s): %s", e->server_code,
				 e->sqlstate, e->message);
		}
		db_release(c);
	}
	return NULL;
}

/* Runs fn in THREADS threads released together, thread i with arg and out = outs[i];
 * counts the results. */
static void race_with(int (*fn)(struct db_conn *c, struct race *x), uint64_t arg,
                      const uint64_t *outs, struct race out[THREADS], int *ret_ok, int *ret_other)
{
	pthread_barrier_t start;
	pthread_t t[THREADS];

	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		out[i] = (struct race){.start = &start, .fn = fn, .arg = arg, .out = outs[i]};
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &out[i]), 0);
	}
	*ret_ok = *ret_other = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (out[i].r == 0)
			(*ret_ok)++;
		else
			(*ret_other)++;
		if (out[i].r != 0 && out[i].r != -EEXIST && out[i].r != -EALREADY)
			print_message("race: thread %d: %s; %s\n", i, strerror(-out[i].r), out[i].why);
	}
	pthread_barrier_destroy(&start);
}

/* Every thread with the same arg (and out starting as `out0`). */
static void race(int (*fn)(struct db_conn *c, struct race *x), uint64_t arg, uint64_t out0,
                 struct race out[THREADS], int *ret_ok, int *ret_other)
{
	uint64_t outs[THREADS];

	for (int i = 0; i < THREADS; i++)
		outs[i] = out0;
	race_with(fn, arg, outs, out, ret_ok, ret_other);
}

/* Thread i with out = outs[i]. */
static void race_each(int (*fn)(struct db_conn *c, struct race *x), const uint64_t *outs,
                      struct race out[THREADS], int *ret_ok, int *ret_other)
{
	race_with(fn, 0, outs, out, ret_ok, ret_other);
}

static int complete_fn(struct db_conn *c, struct race *x)
{
	return db_payment_complete(c, 0, x->arg, 0);
}

static void test_race_complete(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = new_user(c), id = 0;
	struct db_payment_new n = stars(u, "race-complete");
	struct race out[THREADS];
	int ok, other;

	assert_db(c, db_payment_create(c, 0, &n, &id), 0);
	race(complete_fn, id, 0, out, &ok, &other);
	assert_int_equal(ok, 1);
	for (int i = 0; i < THREADS; i++)
		if (out[i].r)
			assert_int_equal(out[i].r, -EALREADY); /* each loser learns why */
	assert_int_equal(audit_count(c, u, "payment.complete"), 1);
}

static int create_fn(struct db_conn *c, struct race *x)
{
	struct db_payment_new n = stars(x->arg, "race-charge");

	return db_payment_create(c, 0, &n, &x->out);
}

static void test_race_same_charge(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = new_user(c), rows = 0;
	struct race out[THREADS];
	int ok, other;

	race(create_fn, u, 0, out, &ok, &other);
	assert_int_equal(ok, 1);
	for (int i = 0; i < THREADS; i++)
		if (out[i].r)
			assert_int_equal(out[i].r, -EEXIST);
	assert_db(c,
	          SQL_UINT(c, &rows, "SELECT COUNT(*) FROM payments WHERE user_id = ?", DB_UINT(u)),
	          0);
	assert_int_equal(rows, 1);
	assert_int_equal(audit_count(c, u, "payment.create"), 1);
}

static int upsert_fn(struct db_conn *c, struct race *x)
{
	struct db_user_profile p = {.telegram_id = (int64_t)x->arg, .username = "racer"};

	return db_user_upsert(c, &p, &x->out, &x->flag);
}

static void test_race_register(void **state)
{
	struct db_conn *c = *state;
	int64_t tg = next_telegram_id++;
	struct race out[THREADS];
	int ok, other, created = 0;
	uint64_t rows = 0;

	race(upsert_fn, (uint64_t)tg, 0, out, &ok, &other);
	assert_int_equal(ok, THREADS);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(out[i].out, out[0].out);
		created += out[i].flag;
	}
	assert_int_equal(created, 1);
	assert_db(
	    c, SQL_UINT(c, &rows, "SELECT COUNT(*) FROM users WHERE telegram_id = ?", DB_INT(tg)),
	    0);
	assert_int_equal(rows, 1);
	assert_int_equal(audit_count(c, out[0].out, "user.register"), 1);
}

static uint64_t new_node(struct db_conn *c, const char *name, const char *key)
{
	uint64_t id = 0;
	const char *sql = "INSERT INTO nodes (name, agent_url, endpoint, public_key) "
	                  "VALUES (?, 'https://a.example', 'a.example:51820', ?)";

	assert_db(c,
	          db_exec_sql(c, sql, strlen(sql), (struct db_param[]){DB_TEXT(name), DB_TEXT(key)},
	                      2, NULL, &id),
	          0);
	return id;
}

static int trial_fn(struct db_conn *c, struct race *x)
{
	struct db_vpn_new n = {.user_id = x->arg,
	                       .node_id = x->out,
	                       .type = VPN_WIREGUARD,
	                       .name = "trial",
	                       .expires_at_us = db_now_us() + 3LL * 86400 * 1000000,
	                       .is_trial = true};

	return db_vpn_create(c, 0, &n, &x->out);
}

static void test_race_trial(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = new_user(c), node, rows = 0;
	struct race out[THREADS];
	int ok, other;

	node = new_node(c, "race-node", "RACERACERACERACERACERACERACERACERACERACERAE=");
	race(trial_fn, u, node, out, &ok, &other);
	assert_int_equal(ok, 1);
	for (int i = 0; i < THREADS; i++)
		if (out[i].r)
			assert_int_equal(out[i].r, -EEXIST);
	assert_db(c,
	          SQL_UINT(c, &rows,
	                   "SELECT COUNT(*) FROM vpn_configs WHERE user_id = ? AND is_trial = 1",
	                   DB_UINT(u)),
	          0);
	assert_int_equal(rows, 1);
	assert_int_equal(audit_count(c, u, "vpn.create"), 1);
}

static struct db_ip_address race_address = {4, {10, 9, 0, 7}};

/* Each thread records the same address for a config of its own on the one node. */
static int address_fn(struct db_conn *c, struct race *x)
{
	return db_ip_record(c, 0, x->out, &race_address, NULL);
}

static void test_race_address(void **state)
{
	struct db_conn *c = *state;
	uint64_t node, configs[THREADS], rows = 0;
	struct race out[THREADS];
	int ok, other;

	node = new_node(c, "race-node-2", "RACERACERACERACERACERACERACERACERACERACERAI=");
	for (int i = 0; i < THREADS; i++) {
		struct db_vpn_new n = {.user_id = new_user(c),
		                       .node_id = node,
		                       .type = VPN_WIREGUARD,
		                       .name = "phone"};

		assert_db(c, db_vpn_create(c, 0, &n, &configs[i]), 0);
	}
	race_each(address_fn, configs, out, &ok, &other);
	assert_int_equal(ok, 1);
	for (int i = 0; i < THREADS; i++)
		if (out[i].r)
			assert_int_equal(out[i].r, -EEXIST);
	assert_db(c,
	          SQL_UINT(c, &rows,
	                   "SELECT COUNT(*) FROM ip_assignments WHERE node_id = ? AND address = ?",
	                   DB_UINT(node), DB_BLOB(race_address.bytes, 4)),
	          0);
	assert_int_equal(rows, 1);
	assert_db(
	    c, SQL_UINT(c, &rows, "SELECT COUNT(*) FROM audit_log WHERE action = 'ip.assign'"), 0);
	assert_int_equal(rows, 1);
}

/*
 * Many writers at once through every counted path (registrations, bans, configs through
 * their states, bandwidth, payments through theirs), a few of them sharing rows: the
 * counter rows are contended, deadlocks are rerun, and the counters must still add up.
 */
#define MIXED_THREADS 8
#define MIXED_ROUNDS 12

static uint64_t mixed_shared_user;

/* arg: the node; out: the thread's number */
static int mixed_fn(struct db_conn *c, struct race *x)
{
	uint64_t node = x->arg, me = 0, id = 0;
	int64_t tg = 9100000000LL + (int64_t)x->out * 1000;
	int r = 0;

	if (x->out >= MIXED_THREADS)
		return 0; /* the race helper starts THREADS threads: the rest watch */

	for (int i = 0; i < MIXED_ROUNDS && r == 0; i++) {
		struct db_user_profile p = {.telegram_id = tg + i};
		char charge[48];

		if ((r = db_user_upsert(c, &p, &me, NULL)) < 0)
			break;
		struct db_vpn_new n = {.user_id = me,
		                       .node_id = node,
		                       .type = i % 2 ? VPN_OUTLINE : VPN_WIREGUARD,
		                       .name = "mixed",
		                       .is_trial = i % 3 == 0};
		if ((r = db_vpn_create(c, 0, &n, &id)) < 0)
			break;
		if (i % 4 != 3 && (r = db_vpn_activate(c, 0, id, NULL, NULL, 0)) < 0)
			break;
		if ((r = db_vpn_add_bandwidth(c, id, 1000 + (uint64_t)i)) < 0)
			break;
		if (i % 4 == 1)
			r = db_vpn_revoke(c, 0, id, "mixed");
		else if (i % 4 == 2)
			r = db_vpn_expire(c, 0, id);
		if (r < 0)
			break;
		snprintf(charge, sizeof(charge), "mixed-%llu-%d", (unsigned long long)x->out, i);
		struct db_payment_new pay = stars(me, charge);
		pay.amount = 10 + i;
		if ((r = db_payment_create(c, 0, &pay, &id)) < 0)
			break;
		if (i % 3 != 2 && (r = db_payment_complete(c, 0, id, 0)) < 0)
			break;
		if (i % 3 == 1)
			r = db_payment_refund(c, 0, id);
		else if (i % 3 == 2)
			r = db_payment_fail(c, 0, id, NULL);
		if (r < 0)
			break;
		/* everyone bans and unbans one shared user: its counter rows are hot */
		r = db_user_set_status(c, 0, mixed_shared_user, i % 2 ? USER_ACTIVE : USER_BANNED);
		if (r == -EALREADY)
			r = 0;
	}
	return r;
}

static void test_race_mixed(void **state)
{
	struct db_conn *c = *state;
	char key[45];
	uint64_t node;
	uint64_t outs[THREADS];
	struct race out[THREADS];
	int ok, other;

	dbtest_make_key(777, key);
	node = new_node(c, "mixed-node", key);
	mixed_shared_user = new_user(c);
	for (int i = 0; i < THREADS; i++)
		outs[i] = (uint64_t)i;
	race_with(mixed_fn, node, outs, out, &ok, &other);
	for (int i = 0; i < THREADS; i++)
		if (out[i].r)
			print_error("thread %d: %d (%s)\n", i, out[i].r, strerror(-out[i].r));
	assert_int_equal(ok, THREADS);
	dbtest_assert_counters_match(c);
}

/* Last: after all of the above, the trigger-kept counters still equal a recount. */
static void test_counters_match(void **state)
{
	dbtest_assert_counters_match(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_user_upsert, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_user_status, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_roles, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_payment_lifecycle, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_complete, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_same_charge, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_register, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_trial, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_address, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_race_mixed, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_counters_match, dbtest_conn_setup, dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
