// SPDX-License-Identifier: MIT
/*
 * The schema's constraints against a real MariaDB: every rule of docs/schema.md is tried
 * with a row that breaks it, and must come back as the right error code, with nothing
 * stored. Values go in through prepared-statement parameters, as the service's will.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "wgfleet/macro.h"
#include "dbtest.h"

static struct db *db;
static uint64_t counter = 1;

static int group_setup(void **state)
{
	db = dbtest_open(2);
	dbtest_migrate(db);
	dbtest_pool = db;
	return 0;
}

static int group_teardown(void **state)
{
	db = db_close(db);
	return 0;
}


static int insert(struct db_conn *c, const char *sql, const struct db_param *p, size_t n,
                  uint64_t *ret_id)
{
	return db_exec_sql(c, sql, strlen(sql), p, n, NULL, ret_id);
}
#define INSERT(c, id, sql, ...)                                                                    \
	insert((c), (sql), (const struct db_param[]){__VA_ARGS__},                                 \
	       sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param), (id))

/* A WireGuard public key that passes the schema's base64 check, unique per n. */
static void make_key(uint64_t n, char key[static 45])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	memset(key, 'A', 42);
	for (int i = 0; i < 11; i++, n >>= 6)
		key[41 - i] = b64[n & 63];
	key[42] = 'E';
	key[43] = '=';
	key[44] = '\0';
}

static uint64_t mk_user(struct db_conn *c)
{
	uint64_t id;
	int64_t tg = (int64_t)(5000000000ULL + counter++); /* past 32 bits on purpose */

	assert_db(c, INSERT(c, &id, "INSERT INTO users (telegram_id) VALUES (?)", DB_INT(tg)), 0);
	return id;
}

static uint64_t mk_node(struct db_conn *c)
{
	char key[45], name[32];
	uint64_t id;

	make_key(counter, key);
	snprintf(name, sizeof(name), "node-%llu", (unsigned long long)counter++);
	assert_db(c,
	          INSERT(c, &id,
	                 "INSERT INTO nodes (name, agent_url, endpoint, public_key, pools) "
	                 "VALUES (?, 'https://agent.example:8443', 'vpn.example:51820', ?, "
	                 "'{\"wireguard\":{\"v4\":\"10.8.0.0/16\"}}')",
	                 DB_TEXT(name), DB_TEXT(key)),
	          0);
	return id;
}

static int mk_vpn(struct db_conn *c, uint64_t user, uint64_t node, const char *status, int trial,
                  uint64_t *ret_id)
{
	return INSERT(c, ret_id,
	              "INSERT INTO vpn_configs (user_id, node_id, type, name, status, is_trial, "
	              "activated_at, revoked_at) VALUES (?, ?, 'wireguard', 'phone', ?, ?, "
	              "IF(? = 'active', NOW(6), NULL), IF(? = 'revoked', NOW(6), NULL))",
	              DB_UINT(user), DB_UINT(node), DB_TEXT(status), DB_INT(trial), DB_TEXT(status),
	              DB_TEXT(status));
}

static int mk_payment(struct db_conn *c, uint64_t user, const char *method, int64_t amount,
                      const char *currency, const char *status, const char *charge)
{
	return INSERT(c, NULL,
	              "INSERT INTO payments (user_id, method, amount, currency, status, vpn_type, "
	              "months, provider_charge_id) VALUES (?, ?, ?, ?, ?, 'wireguard', 1, ?)",
	              DB_UINT(user), DB_TEXT(method), DB_INT(amount), DB_TEXT(currency),
	              DB_TEXT(status), DB_TEXT(charge));
}

static uint64_t count(struct db_conn *c, const char *sql, const struct db_param *p, size_t n)
{
	uint64_t v = 0;

	assert_db(c, dbtest_query_uint(c, sql, p, n, &v), 0);
	return v;
}

/* ---- users ---- */

static void test_duplicate_telegram_id(void **state)
{
	struct db_conn *c = *state;
	int64_t tg = 9000000000000000001LL; /* a 64-bit id; the old system's INT overflowed */

	assert_db(c, SQL(c, "INSERT INTO users (telegram_id) VALUES (?)", DB_INT(tg)), 0);
	assert_db(c, SQL(c, "INSERT INTO users (telegram_id) VALUES (?)", DB_INT(tg)), -EEXIST);
	assert_int_equal(db_conn_error(c)->server_code, 1062);
	assert_non_null(strstr(db_conn_error(c)->message, "users_telegram_id"));
	assert_int_equal(count(c, "SELECT COUNT(*) FROM users WHERE telegram_id = ?",
	                       (struct db_param[]){DB_INT(tg)}, 1),
	                 1);
	assert_db(c, SQL(c, "INSERT INTO users (telegram_id) VALUES (0)"), -EINVAL);
	assert_db(c, SQL(c, "INSERT INTO users (telegram_id) VALUES (-5)"), -EINVAL);
}

static void test_user_status_and_link(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c);

	assert_db(c, SQL(c, "UPDATE users SET status = 'banned' WHERE id = ?", DB_UINT(u)), 0);
	/* exact values only: case and trailing spaces are not forgiven */
	assert_db(c, SQL(c, "UPDATE users SET status = 'deleted' WHERE id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE users SET status = 'Active' WHERE id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE users SET status = 'active ' WHERE id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE users SET status = NULL WHERE id = ?", DB_UINT(u)), -EINVAL);
	/* a QvaPay link is all three fields or none */
	assert_db(c, SQL(c, "UPDATE users SET qvapay_user_id = 'q1' WHERE id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(c,
	          SQL(c,
	              "UPDATE users SET qvapay_user_id = 'q1', qvapay_app_id = 'a1', "
	              "qvapay_linked_at = NOW(6) WHERE id = ?",
	              DB_UINT(u)),
	          0);
	uint64_t v = mk_user(c);
	assert_db(c,
	          SQL(c,
	              "UPDATE users SET qvapay_user_id = 'q1', qvapay_app_id = 'a2', "
	              "qvapay_linked_at = NOW(6) WHERE id = ?",
	              DB_UINT(v)),
	          -EEXIST);
}

static void test_roles(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c), admin = mk_user(c);

	assert_db(c,
	          SQL(c,
	              "INSERT INTO user_roles (user_id, role_id, granted_by, expires_at) "
	              "SELECT ?, id, ?, NOW(6) + INTERVAL 30 DAY FROM roles WHERE name = 'admin'",
	              DB_UINT(u), DB_UINT(admin)),
	          0);
	/* granted twice: one row per user and role */
	assert_db(c,
	          SQL(c,
	              "INSERT INTO user_roles (user_id, role_id) "
	              "SELECT ?, id FROM roles WHERE name = 'admin'",
	              DB_UINT(u)),
	          -EEXIST);
	/* orphans: no such role, no such granter */
	assert_db(c,
	          SQL(c, "INSERT INTO user_roles (user_id, role_id) VALUES (?, 999)", DB_UINT(u)),
	          -EINVAL);
	assert_db(c,
	          SQL(c,
	              "INSERT INTO user_roles (user_id, role_id, granted_by) "
	              "SELECT ?, id, 999999999 FROM roles WHERE name = 'superadmin'",
	              DB_UINT(u)),
	          -EINVAL);
	/* an expiry before the grant */
	assert_db(c,
	          SQL(c,
	              "INSERT INTO user_roles (user_id, role_id, expires_at) "
	              "SELECT ?, id, NOW(6) - INTERVAL 1 DAY FROM roles WHERE name = 'superadmin'",
	              DB_UINT(u)),
	          -EINVAL);
	assert_db(c, SQL(c, "INSERT INTO roles (name) VALUES ('Admin')"), -EINVAL);
	assert_db(c, SQL(c, "INSERT INTO roles (name) VALUES ('admin')"), -EEXIST);
}

static void test_user_settings(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c);

	assert_db(c,
	          SQL(c, "INSERT INTO user_settings (user_id, language, data) VALUES (?, 'es', ?)",
	              DB_UINT(u), DB_TEXT("{\"theme\":\"dark\"}")),
	          0);
	assert_db(c, SQL(c, "UPDATE user_settings SET data = '[1]' WHERE user_id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE user_settings SET data = '{' WHERE user_id = ?", DB_UINT(u)),
	          -EINVAL);
	assert_db(
	    c, SQL(c, "UPDATE user_settings SET notify_expiry = 2 WHERE user_id = ?", DB_UINT(u)),
	    -EINVAL);
	assert_db(
	    c,
	    SQL(c, "UPDATE user_settings SET language = 'spanish!' WHERE user_id = ?", DB_UINT(u)),
	    -EINVAL);
	assert_db(c, SQL(c, "INSERT INTO user_settings (user_id) VALUES (999999999)"), -EINVAL);
}

/* ---- nodes ---- */

static void test_nodes(void **state)
{
	struct db_conn *c = *state;
	uint64_t n = mk_node(c);
	char key[45];

	make_key(counter++, key);
	for (size_t i = 0; i < 4; i++) {
		static const char *const bad[] = {"up", "Active", "", "disabled "};

		assert_db(
		    c,
		    SQL(c, "UPDATE nodes SET state = ? WHERE id = ?", DB_TEXT(bad[i]), DB_UINT(n)),
		    -EINVAL);
	}
	assert_db(c, SQL(c, "UPDATE nodes SET state = 'draining' WHERE id = ?", DB_UINT(n)), 0);
	/* an object or (since 0003: the agent's /v1/info lists pools) an array, nothing else */
	assert_db(c, SQL(c, "UPDATE nodes SET pools = '[]' WHERE id = ?", DB_UINT(n)), 0);
	assert_db(c, SQL(c, "UPDATE nodes SET pools = '7' WHERE id = ?", DB_UINT(n)), -EINVAL);
	assert_db(c, SQL(c, "UPDATE nodes SET pools = '\"x\"' WHERE id = ?", DB_UINT(n)), -EINVAL);
	assert_db(c, SQL(c, "UPDATE nodes SET pools = 'nope' WHERE id = ?", DB_UINT(n)), -EINVAL);
	assert_db(c, SQL(c, "UPDATE nodes SET agent_url = 'ftp://x' WHERE id = ?", DB_UINT(n)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE nodes SET endpoint = 'vpn.example' WHERE id = ?", DB_UINT(n)),
	          -EINVAL);
	assert_db(
	    c, SQL(c, "UPDATE nodes SET endpoint = '[2001:db8::1]:51820' WHERE id = ?", DB_UINT(n)),
	    0);
	/* 44 characters but not a 32-byte key (the last character before '=' is impossible) */
	assert_db(c,
	          SQL(c, "UPDATE nodes SET public_key = CONCAT(REPEAT('A', 42), 'B=') WHERE id = ?",
	              DB_UINT(n)),
	          -EINVAL);
	/* two nodes with one key would be one peer to every client */
	assert_db(c,
	          SQL(c,
	              "INSERT INTO nodes (name, agent_url, endpoint, public_key) "
	              "SELECT 'other', agent_url, endpoint, public_key FROM nodes WHERE id = ?",
	              DB_UINT(n)),
	          -EEXIST);
}

/* ---- VPN configs ---- */

static void test_one_active_trial(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c), other = mk_user(c), n = mk_node(c), first, id;

	assert_db(c, mk_vpn(c, u, n, "pending", 1, &first), 0);
	assert_db(c, mk_vpn(c, u, n, "pending", 1, &id), -EEXIST);
	assert_non_null(strstr(db_conn_error(c)->message, "vpn_configs_one_active_trial"));
	assert_db(c, mk_vpn(c, u, n, "active", 1, &id), -EEXIST);
	/* paid configs are not limited, and other users have their own trial */
	assert_db(c, mk_vpn(c, u, n, "active", 0, &id), 0);
	assert_db(c, mk_vpn(c, u, n, "active", 0, &id), 0);
	assert_db(c, mk_vpn(c, other, n, "active", 1, &id), 0);
	/* turning a paid config into a second live trial is caught too */
	assert_db(c, SQL(c, "UPDATE vpn_configs SET is_trial = 1 WHERE id = ?", DB_UINT(id - 1)),
	          -EEXIST);
	/* once the trial has ended, a new one is allowed (the business rule on repeats is
	 * the service's; the database guarantees only one live trial) */
	assert_db(
	    c, SQL(c, "UPDATE vpn_configs SET status = 'expired' WHERE id = ?", DB_UINT(first)), 0);
	assert_db(c, mk_vpn(c, u, n, "pending", 1, &id), 0);
	/* and reviving the expired one would make two */
	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET status = 'active', activated_at = NOW(6) "
	              "WHERE id = ?",
	              DB_UINT(first)),
	          -EEXIST);
}

static void test_vpn_constraints(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c), n = mk_node(c), id;
	char key[45];

	assert_db(c, mk_vpn(c, u, n, "paid", 0, &id), -EINVAL);
	assert_db(c, mk_vpn(c, u, n, "ACTIVE", 0, &id), -EINVAL);
	assert_db(c, mk_vpn(c, u, n, "pending", 2, &id), -EINVAL);
	/* orphans */
	assert_db(c, mk_vpn(c, 999999999, n, "pending", 0, &id), -EINVAL);
	assert_int_equal(db_conn_error(c)->server_code, 1452);
	assert_db(c, mk_vpn(c, u, 999999, "pending", 0, &id), -EINVAL);

	assert_db(c, mk_vpn(c, u, n, "pending", 0, &id), 0);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET type = 'openvpn' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET config = '{\"a\":' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	assert_int_equal(db_conn_error(c)->server_code, 4025);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET extra = '\"x\"' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	/* active needs activated_at; revoked needs revoked_at, and only revoked has one */
	assert_db(c, SQL(c, "UPDATE vpn_configs SET status = 'active' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET status = 'revoked' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET revoked_at = NOW(6) WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	assert_db(
	    c, SQL(c, "UPDATE vpn_configs SET expires_at = created_at WHERE id = ?", DB_UINT(id)),
	    -EINVAL);
	/* bandwidth is an unsigned 64-bit byte count: no float, no negative */
	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET bandwidth_bytes = ? WHERE id = ?",
	              DB_UINT(UINT64_MAX), DB_UINT(id)),
	          0);
	uint64_t bw = 0;
	assert_db(
	    c,
	    SQL_UINT(c, &bw, "SELECT bandwidth_bytes FROM vpn_configs WHERE id = ?", DB_UINT(id)),
	    0);
	assert_true(bw == UINT64_MAX);
	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET bandwidth_bytes = -1 WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	/* one peer key per node; an Outline config has none */
	make_key(counter++, key);
	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET peer_public_key = ? WHERE id = ?", DB_TEXT(key),
	              DB_UINT(id)),
	          0);
	uint64_t id2;
	assert_db(c, mk_vpn(c, u, n, "pending", 0, &id2), 0);
	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET peer_public_key = ? WHERE id = ?", DB_TEXT(key),
	              DB_UINT(id2)),
	          -EEXIST);
	assert_db(c, SQL(c, "UPDATE vpn_configs SET type = 'outline' WHERE id = ?", DB_UINT(id)),
	          -EINVAL);
	/* a user or node with configs cannot be deleted from under them */
	assert_db(c, SQL(c, "DELETE FROM nodes WHERE id = ?", DB_UINT(n)), -EINVAL);
	assert_int_equal(db_conn_error(c)->server_code, 1451);
}

/* ---- IP assignments ---- */

static void test_ip_assignments(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c), n = mk_node(c), n2 = mk_node(c), v;
	static const unsigned char a4[4] = {10, 8, 0, 2};
	static const unsigned char a6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
	const char *ins = "INSERT INTO ip_assignments (node_id, address, kind, vpn_type, "
	                  "vpn_config_id, user_id) VALUES (?, ?, ?, 'wireguard', ?, ?)";

	assert_db(c, mk_vpn(c, u, n, "pending", 0, &v), 0);
	assert_db(
	    c, SQL(c, ins, DB_UINT(n), DB_BLOB(a4, 4), DB_TEXT("paid"), DB_UINT(v), DB_UINT(u)), 0);
	assert_db(c,
	          SQL(c, ins, DB_UINT(n), DB_BLOB(a6, 16), DB_TEXT("paid"), DB_UINT(v), DB_UINT(u)),
	          0);
	/* the same address twice on one node */
	assert_db(c,
	          SQL(c, ins, DB_UINT(n), DB_BLOB(a4, 4), DB_TEXT("trial"), DB_UINT(v), DB_UINT(u)),
	          -EEXIST);
	/* ...but another node has its own pool */
	assert_db(c,
	          SQL(c, ins, DB_UINT(n2), DB_BLOB(a4, 4), DB_TEXT("paid"), DB_UINT(v), DB_UINT(u)),
	          0);
	/* neither IPv4 nor IPv6 */
	assert_db(c,
	          SQL(c, ins, DB_UINT(n), DB_BLOB(a6, 5), DB_TEXT("paid"), DB_UINT(v), DB_UINT(u)),
	          -EINVAL);
	assert_db(c,
	          SQL(c, ins, DB_UINT(n), DB_BLOB(a6, 15), DB_TEXT("gift"), DB_UINT(v), DB_UINT(u)),
	          -EINVAL);
	/* orphans */
	assert_db(
	    c,
	    SQL(c, ins, DB_UINT(999999), DB_BLOB(a6, 4), DB_TEXT("paid"), DB_UINT(v), DB_UINT(u)),
	    -EINVAL);
	assert_db(c,
	          SQL(c, ins, DB_UINT(n), DB_BLOB(a6, 4), DB_TEXT("paid"), DB_UINT(999999999),
	              DB_UINT(u)),
	          -EINVAL);
	/* a live assignment belongs to a config */
	assert_db(c, SQL(c, ins, DB_UINT(n), DB_BLOB(a6, 4), DB_TEXT("paid"), DB_NULL, DB_UINT(u)),
	          -EINVAL);
	assert_db(c,
	          SQL(c,
	              "UPDATE ip_assignments SET released_at = assigned_at - INTERVAL 1 SECOND "
	              "WHERE node_id = ? AND address = ?",
	              DB_UINT(n), DB_BLOB(a4, 4)),
	          -EINVAL);
}

/* ---- payments ---- */

static void test_payments(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c);

	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "pending", "ch-1"), 0);
	/* a repeated confirmation of one charge cannot make a second payment */
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "pending", "ch-1"), -EEXIST);
	assert_non_null(strstr(db_conn_error(c)->message, "payments_charge"));
	/* ids are compared exactly: another method, case or trailing space is another id */
	assert_db(c, mk_payment(c, u, "qvapay", 500, "USD", "pending", "ch-1"), 0);
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "pending", "CH-1"), 0);
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "pending", "ch-1 "), 0);
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "pending", ""), -EINVAL);
	assert_db(c, mk_payment(c, u, "card", 150, "USD", "pending", "ch-2"), -EINVAL);
	/* the old system's metric counted 'paid', which its own CHECK did not allow */
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "paid", "ch-3"), -EINVAL);
	assert_db(c, mk_payment(c, u, "stars", 0, "XTR", "pending", "ch-4"), -EINVAL);
	assert_db(c, mk_payment(c, u, "stars", -10, "XTR", "pending", "ch-5"), -EINVAL);
	assert_db(c, mk_payment(c, u, "stars", 150, "USD", "pending", "ch-6"), -EINVAL);
	assert_db(c, mk_payment(c, u, "qvapay", 150, "usd", "pending", "ch-7"), -EINVAL);
	/* completed needs completed_at; refunded also refunded_at */
	assert_db(c, mk_payment(c, u, "stars", 150, "XTR", "completed", "ch-8"), -EINVAL);
	assert_db(c,
	          SQL(c, "UPDATE payments SET status = 'completed', completed_at = NOW(6) "
	                 "WHERE provider_charge_id = 'ch-1' AND method = 'stars'"),
	          0);
	assert_db(c,
	          SQL(c, "UPDATE payments SET status = 'refunded' "
	                 "WHERE provider_charge_id = 'ch-1' AND method = 'stars'"),
	          -EINVAL);
	/* orphan */
	assert_db(c, mk_payment(c, 999999999, "stars", 150, "XTR", "pending", "ch-9"), -EINVAL);
	/* months and the amount are integers in range */
	assert_db(c,
	          SQL(c, "UPDATE payments SET months = 0 WHERE provider_charge_id = 'CH-1' "
	                 "AND method = 'stars'"),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE payments SET amount = 1.5 WHERE provider_charge_id = 'CH-1'"),
	          0); /* rounds to 2, an integer: money never holds a fraction */
	uint64_t amount = 0;
	assert_db(
	    c,
	    SQL_UINT(c, &amount, "SELECT amount FROM payments WHERE provider_charge_id = 'CH-1'"),
	    0);
	assert_int_equal(amount, 2);
}

/* ---- jobs and the audit log ---- */

static void test_jobs_and_audit(void **state)
{
	struct db_conn *c = *state;
	uint64_t n = mk_node(c), u = mk_user(c);
	const char *ins = "INSERT INTO jobs (kind, node_id, payload, idempotency_key) "
	                  "VALUES (?, ?, ?, ?)";

	assert_db(c, SQL(c, ins, DB_TEXT("provision"), DB_UINT(n), DB_TEXT("{}"), DB_TEXT("k1")),
	          0);
	assert_db(c, SQL(c, ins, DB_TEXT("revoke"), DB_UINT(n), DB_TEXT("{}"), DB_TEXT("k1")),
	          -EEXIST);
	assert_db(c, SQL(c, ins, DB_TEXT("reboot"), DB_UINT(n), DB_TEXT("{}"), DB_TEXT("k2")),
	          -EINVAL);
	assert_db(c, SQL(c, ins, DB_TEXT("revoke"), DB_UINT(n), DB_TEXT("{x}"), DB_TEXT("k3")),
	          -EINVAL);
	assert_db(c, SQL(c, ins, DB_TEXT("revoke"), DB_UINT(999999), DB_TEXT("{}"), DB_TEXT("k4")),
	          -EINVAL);
	assert_db(c, SQL(c, ins, DB_TEXT("revoke"), DB_UINT(n), DB_TEXT("{}"), DB_TEXT("")),
	          -EINVAL);
	/* running needs a lease (so a dead controller's jobs are retried); done a finish */
	assert_db(c, SQL(c, "UPDATE jobs SET state = 'running' WHERE idempotency_key = 'k1'"),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE jobs SET state = 'done' WHERE idempotency_key = 'k1'"),
	          -EINVAL);
	assert_db(c, SQL(c, "UPDATE jobs SET state = 'queued' WHERE idempotency_key = 'k1'"),
	          -EINVAL);
	assert_db(
	    c,
	    SQL(c, "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
	           "lease_expires_at = NOW(6) + INTERVAL 30 SECOND WHERE idempotency_key = 'k1'"),
	    0);

	const char *audit = "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
	                    "VALUES (?, ?, ?, ?)";
	assert_db(c, SQL(c, audit, DB_NULL, DB_UINT(u), DB_TEXT("user.ban"), DB_TEXT("{}")), 0);
	assert_db(c, SQL(c, audit, DB_NULL, DB_UINT(u), DB_TEXT("Ban User"), DB_TEXT("{}")),
	          -EINVAL);
	assert_db(c, SQL(c, audit, DB_NULL, DB_UINT(u), DB_TEXT("user.ban"), DB_TEXT("{")),
	          -EINVAL);
	assert_db(c,
	          SQL(c, audit, DB_UINT(999999999), DB_UINT(u), DB_TEXT("user.ban"), DB_TEXT("{}")),
	          -EINVAL);
}

/* ---- strings ---- */

static void roundtrip_name(struct db_conn *c, uint64_t user, const char *s, size_t len)
{
	char *back = NULL;
	size_t back_len = 0;

	assert_db(
	    c,
	    SQL(c, "UPDATE users SET first_name = ? WHERE id = ?", DB_TEXTN(s, len), DB_UINT(user)),
	    0);
	assert_db(c,
	          dbtest_query_bytes(c, "SELECT first_name FROM users WHERE id = ?",
	                             (struct db_param[]){DB_UINT(user)}, 1, &back, &back_len),
	          0);
	assert_int_equal(back_len, len);
	assert_memory_equal(back, s, len);
	free(back);
}

static void test_hostile_strings(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = mk_user(c);
	static const char nul[] = "a\0b'\0\"";
	char *big;

	roundtrip_name(c, u, "O'Brien \"the\" `x` '; DROP TABLE users; --", 41);
	roundtrip_name(c, u, "back\\slash \\' \\\\ \\0 \\n %_", 25);
	roundtrip_name(c, u, nul, sizeof(nul) - 1);
	roundtrip_name(c, u, "\xf0\x9f\x98\x80\xf0\x9f\x87\xa8\xf0\x9f\x87\xba \xe2\x80\x8b", 16);
	roundtrip_name(c, u, "", 0);
	roundtrip_name(c, u, " trailing  ", 11);

	/* 10 KB of 4-byte characters */
	big = malloc(10240);
	assert_non_null(big);
	for (size_t i = 0; i < 10240; i += 4)
		memcpy(big + i, "\xf0\x9f\x90\xa7", 4);
	roundtrip_name(c, u, big, 10240);

	/* Where a column is short, too long is refused, never cut. */
	assert_db(
	    c,
	    SQL(c, "UPDATE users SET username = ? WHERE id = ?", DB_TEXTN(big, 65 * 4), DB_UINT(u)),
	    -EINVAL);
	assert_int_equal(db_conn_error(c)->server_code, 1406);
	assert_db(
	    c,
	    SQL(c, "UPDATE users SET username = ? WHERE id = ?", DB_TEXTN(big, 64 * 4), DB_UINT(u)),
	    0);
	/* Invalid UTF-8 is refused, not mangled into '?'. */
	assert_db(c,
	          SQL(c, "UPDATE users SET first_name = ? WHERE id = ?", DB_TEXT("bad \xff\xfe"),
	              DB_UINT(u)),
	          -EINVAL);
	free(big);

	/* Distinct emoji are distinct names (utf8mb4_general_ci would say equal). */
	uint64_t same = 0;
	assert_db(c,
	          SQL_UINT(c, &same, "SELECT COUNT(*) FROM users WHERE id = ? AND username = ?",
	                   DB_UINT(u), DB_TEXTN("\xf0\x9f\x90\xa8", 4)),
	          0);
	assert_int_equal(same, 0);
}

/* Every query path has its index, with the columns in the order the query needs. */
static void test_indexes(void **state)
{
	struct db_conn *c = *state;
	static const struct {
		const char *table, *index, *columns;
	} want[] = {
	    {"users", "users_telegram_id", "telegram_id"},
	    {"user_roles", "user_roles_role", "role_id,expires_at"},
	    {"vpn_configs", "vpn_configs_expiry", "status,expires_at"},
	    {"vpn_configs", "vpn_configs_user", "user_id,created_at"},
	    {"vpn_configs", "vpn_configs_one_active_trial", "active_trial_user"},
	    {"vpn_configs", "vpn_configs_node_status", "node_id,status"},
	    {"ip_assignments", "ip_assignments_node_address", "node_id,address"},
	    {"ip_assignments", "ip_assignments_node_live", "node_id,released_at,kind"},
	    {"ip_assignments", "ip_assignments_node_live_address", "node_id,live_address"},
	    {"ip_assignments", "ip_assignments_vpn_config", "vpn_config_id"},
	    {"status_counters", "PRIMARY", "subject,state,kind,detail,slot"},
	    {"payments", "payments_charge", "method,provider_charge_id"},
	    {"payments", "payments_user", "user_id,created_at"},
	    {"payments", "payments_status_method", "status,method,currency,amount"},
	    {"jobs", "jobs_due", "state,next_attempt_at"},
	    {"jobs", "jobs_idempotency_key", "idempotency_key"},
	    {"audit_log", "audit_log_user", "user_id,created_at"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *cols = NULL;

		assert_db(c,
		          dbtest_query_bytes(
		              c,
		              "SELECT GROUP_CONCAT(column_name ORDER BY seq_in_index) "
		              "FROM information_schema.statistics WHERE table_schema = "
		              "DATABASE() AND table_name = ? AND index_name = ?",
		              (struct db_param[]){DB_TEXT(want[i].table), DB_TEXT(want[i].index)},
		              2, &cols, NULL),
		          0);
		if (strcmp(cols, want[i].columns))
			print_error("%s.%s: %s, want %s\n", want[i].table, want[i].index, cols,
			            want[i].columns);
		assert_string_equal(cols, want[i].columns);
		free(cols);
	}
	/* utf8mb4 everywhere */
	uint64_t other = 1;
	assert_db(c,
	          SQL_UINT(c, &other,
	                   "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = "
	                   "DATABASE() AND character_set_name IS NOT NULL AND "
	                   "character_set_name <> 'utf8mb4'"),
	          0);
	assert_int_equal(other, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_duplicate_telegram_id, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_user_status_and_link, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_roles, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_user_settings, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_nodes, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_one_active_trial, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_vpn_constraints, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_ip_assignments, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_payments, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_jobs_and_audit, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_strings, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_indexes, dbtest_conn_setup, dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
