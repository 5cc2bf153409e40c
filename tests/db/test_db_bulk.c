// SPDX-License-Identifier: MIT
/*
 * db_exec_bulk (MariaDB array binding) against a real MariaDB, on statements of the table:
 * INSERT ... VALUES (audit_vpn_create, node_create, payment_create), INSERT ... SELECT
 * (ip_record, vpn_create: refused by the server) and guarded UPDATEs (ip_release,
 * sealed_vpn_replace, vpn_activate, job_done). Each bulk is checked against what the same
 * rows do through db_exec: the values stored (NULLs, text, binary, times), the affected
 * count (the sum over the rows, a row that matched nothing adding 0; plus what triggers
 * wrote, for an UPDATE), a duplicate key in the middle (the whole statement undone, in a
 * transaction too), the cached statement still right for a plain db_exec afterwards, the
 * caller's mistakes, and a connection lost before the bulk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_ip.h"
#include "db_job.h"
#include "db_user.h"
#include "db_vpn.h"

#define DAY_US (86400LL * 1000000)
#define AUDIT_NP 7 /* parameters of audit_vpn_create */

static struct db *db;
static struct db *peer; /* a second pool: a view from outside c's transaction, and KILL */
static uint64_t counter = 1;

static int group_setup(void **state)
{
	db = dbtest_open(2);
	peer = dbtest_open(1);
	dbtest_migrate(db);
	dbtest_pool = db;
	return 0;
}

static int group_teardown(void **state)
{
	db = db_close(db);
	peer = db_close(peer);
	return 0;
}

static uint64_t create(struct db_conn *c, uint64_t user, uint64_t node)
{
	struct db_vpn_new n = {.user_id = user,
	                       .node_id = node,
	                       .type = VPN_WIREGUARD,
	                       .name = "phone",
	                       .expires_at_us = db_now_us() + 30 * DAY_US};
	uint64_t id = 0;

	assert_db(c, db_vpn_create(c, 0, &n, &id), 0);
	return id;
}

static struct db_ip_address ip4(unsigned a, unsigned b)
{
	return (struct db_ip_address){.len = 4, .bytes = {10, 77, (uint8_t)a, (uint8_t)b}};
}

/* A number no other test of this file uses, for ids stored only as JSON. */
static uint64_t unique(void)
{
	return 1000000000ULL + counter++ * 1000000ULL;
}

/*
 * Row i of audit_vpn_create (actor, user, vpn id, node, type, trial, expiry) for user u:
 * NULLs in some rows of the actor and expiry columns, so that a column mixes a type and
 * NULL.
 */
static void audit_row(struct db_param *row, uint64_t u, uint64_t vpn_id, size_t i)
{
	row[0] = i % 3 == 0 ? DB_NULL : DB_UINT(u);
	row[1] = DB_UINT(u);
	row[2] = DB_UINT(vpn_id);
	row[3] = DB_UINT(1000 + i);
	row[4] = DB_TEXT(i % 2 ? "wireguard" : "outline");
	row[5] = DB_UINT(i % 2);
	row[6] = i % 4 == 1 ? DB_NULL : DB_TIME(1893456000000000LL + (int64_t)i * 1000001);
}

/* How many rows of `base + i` (bulk) equal row `plain + i` (db_exec) in every column but
 * the id, for i < n. */
static uint64_t audit_same(struct db_conn *c, uint64_t u, uint64_t plain, uint64_t base)
{
	return COUNT(c,
	             "SELECT COUNT(*) FROM audit_log a JOIN audit_log b "
	             "ON JSON_VALUE(b.payload, '$.vpn_config_id') = "
	             "JSON_VALUE(a.payload, '$.vpn_config_id') - ? + ? "
	             "AND JSON_SET(b.payload, '$.vpn_config_id', 0) = "
	             "JSON_SET(a.payload, '$.vpn_config_id', 0) "
	             "AND b.actor_user_id <=> a.actor_user_id AND b.user_id = a.user_id "
	             "AND b.action = a.action "
	             "WHERE a.user_id = ? AND a.action = 'vpn.create' "
	             "AND JSON_VALUE(a.payload, '$.vpn_config_id') >= ? "
	             "AND JSON_VALUE(a.payload, '$.vpn_config_id') < ? + 1000000",
	             DB_UINT(plain), DB_UINT(base), DB_UINT(u), DB_UINT(plain), DB_UINT(plain));
}

static uint64_t audit_rows(struct db_conn *c, uint64_t base)
{
	return COUNT(c,
	             "SELECT COUNT(*) FROM audit_log WHERE action = 'vpn.create' AND "
	             "JSON_VALUE(payload, '$.vpn_config_id') >= ? AND "
	             "JSON_VALUE(payload, '$.vpn_config_id') < ? + 1000000",
	             DB_UINT(base), DB_UINT(base));
}

/* ---- INSERT ... VALUES ---- */

static void audit_bulk_vs_plain(struct db_conn *c, size_t n)
{
	struct db_param *rows = calloc(n * AUDIT_NP, sizeof(*rows));
	uint64_t u = dbtest_new_user(c), plain = unique(), bulk = unique(), affected = 0;

	assert_non_null(rows);
	for (size_t i = 0; i < n; i++) {
		audit_row(&rows[i * AUDIT_NP], u, plain + i, i);
		assert_db(
		    c,
		    db_exec(c, DB_STMT_AUDIT_VPN_CREATE, &rows[i * AUDIT_NP], AUDIT_NP, NULL, NULL),
		    0);
		audit_row(&rows[i * AUDIT_NP], u, bulk + i, i);
	}
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, n, &affected), 0);
	assert_int_equal(affected, n);
	assert_int_equal(audit_rows(c, bulk), n);
	assert_int_equal(audit_same(c, u, plain, bulk), n);
	free(rows);
}

static void test_insert_values(void **state)
{
	struct db_conn *c = *state;
	char *text = NULL;

	audit_bulk_vs_plain(c, 1);
	audit_bulk_vs_plain(c, 7);
	audit_bulk_vs_plain(c, 200);

	/* Rows read back by hand: NULLs, and a time with microseconds. */
	uint64_t u = dbtest_new_user(c), id = unique();
	struct db_param rows[3 * AUDIT_NP];

	for (size_t i = 0; i < 3; i++)
		audit_row(&rows[i * AUDIT_NP], u, id + i, i);
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, NULL), 0);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE user_id = ? AND "
	                       "actor_user_id IS NULL AND JSON_VALUE(payload, '$.type') = "
	                       "'outline' AND JSON_VALUE(payload, '$.node_id') = 1000 AND "
	                       "JSON_VALUE(payload, '$.trial') = 0",
	                       DB_UINT(u)),
	                 1);
	assert_db(c,
	          dbtest_query_bytes(c,
	                             "SELECT JSON_VALUE(payload, '$.expires_at') FROM audit_log "
	                             "WHERE user_id = ? AND JSON_VALUE(payload, '$.node_id') = "
	                             "1002",
	                             (struct db_param[]){DB_UINT(u)}, 1, &text, NULL),
	          0);
	assert_string_equal(text, "2030-01-01 00:00:02.000002");
	free(text);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE user_id = ? AND "
	                       "actor_user_id = ? AND JSON_TYPE(JSON_EXTRACT(payload, "
	                       "'$.expires_at')) = 'NULL' AND JSON_VALUE(payload, '$.trial') = 1",
	                       DB_UINT(u), DB_UINT(u)),
	                 1);
}

/* A column that is NULL in every row goes out as MYSQL_TYPE_NULL, without arrays. */
static void test_all_null_column(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), base = unique(), affected = 0;
	struct db_param rows[5 * AUDIT_NP];

	for (size_t i = 0; i < 5; i++) {
		audit_row(&rows[i * AUDIT_NP], u, base + i, i);
		rows[i * AUDIT_NP + 0] = DB_NULL;
		rows[i * AUDIT_NP + 6] = DB_NULL;
	}
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 5, &affected), 0);
	assert_int_equal(affected, 5);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE user_id = ? AND "
	                       "actor_user_id IS NULL AND JSON_TYPE(JSON_EXTRACT(payload, "
	                       "'$.expires_at')) = 'NULL'",
	                       DB_UINT(u)),
	                 5);
}

/*
 * node_create: text, binary (with NULs) and NULL in one column, NULL or text in another.
 * (name, agent URL, endpoint, key, pools, sealed token, boot id, free addresses, peers)
 */
static void test_insert_values_mixed(void **state)
{
	enum { NP = 9, N = 6 };
	struct db_conn *c = *state;
	static const uint8_t sealed[] = {0x00, 0x01, 0xfe, 0xff, 0x00, 0x7f, 0x80};
	char name[N][24], key[N][45], boot[N][16];
	struct db_param rows[N * NP];
	uint64_t affected = 0;

	for (size_t i = 0; i < N; i++) {
		struct db_param *r = &rows[i * NP];

		snprintf(name[i], sizeof(name[i]), "bulk-node-%zu", i);
		snprintf(boot[i], sizeof(boot[i]), "boot-\xc3\xa9-%zu", i);
		dbtest_make_key(80000000 + i, key[i]);
		r[0] = DB_TEXT(name[i]);
		r[1] = DB_TEXT("https://agent.example:8443");
		r[2] = DB_TEXT("vpn.example:51820");
		r[3] = DB_TEXT(key[i]);
		r[4] = DB_TEXT(i % 2 ? "{\"v4\":\"10.0.0.0/24\"}" : "{}");
		r[5] = i % 3 ? DB_BLOB(sealed, 1 + i) : DB_NULL;
		r[6] = i % 2 ? DB_TEXT(boot[i]) : DB_NULL;
		r[7] = DB_UINT(100 * i);
		r[8] = DB_UINT(i);
	}
	assert_db(c, db_exec_bulk(c, DB_STMT_NODE_CREATE, rows, NP, N, &affected), 0);
	assert_int_equal(affected, N);
	for (size_t i = 0; i < N; i++) {
		const struct db_param *r = &rows[i * NP];

		assert_int_equal(
		    COUNT(c,
		          "SELECT COUNT(*) FROM nodes WHERE name = ? AND public_key = ? "
		          "AND pools = ? AND agent_token_enc <=> ? AND boot_id <=> ? "
		          "AND free_addresses = ? AND peers = ? AND health = 'healthy'",
		          r[0], r[3], r[4], r[5], r[6], r[7], r[8]),
		    1);
	}
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM nodes WHERE name LIKE 'bulk-node-%' AND "
	                          "agent_token_enc IS NULL AND boot_id IS NULL"),
	                 1); /* row 0 only */
}

/* ---- INSERT ... SELECT: refused by MariaDB 10.11, nothing run ---- */

static void test_insert_select_refused(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), affected = 77, id = 0;
	uint64_t v = create(c, u, node);
	struct db_ip_address a = ip4(1, 1), b = ip4(1, 2), d = ip4(1, 3);
	struct db_param rows[] = {DB_BLOB(a.bytes, 4), DB_UINT(v), DB_BLOB(b.bytes, 4), DB_UINT(v)};

	assert_db(c, db_exec_bulk(c, DB_STMT_IP_RECORD, rows, 2, 2, &affected), -EOPNOTSUPP);
	assert_int_equal(db_conn_error(c)->server_code, 1295); /* ER_UNSUPPORTED_PS */
	assert_int_equal(affected, 77);
	/* one row is no exception: the server decides by the kind of statement */
	assert_db(c, db_exec_bulk(c, DB_STMT_IP_RECORD, rows, 2, 1, &affected), -EOPNOTSUPP);
	struct db_param vpn[] = {
	    DB_TEXT("wireguard"), DB_TEXT("x"), DB_TEXT("{}"), DB_NULL,    DB_NULL,      DB_NULL,
	    DB_UINT(0),           DB_NULL,      DB_NULL,       DB_UINT(u), DB_UINT(node)};
	assert_db(c, db_exec_bulk(c, DB_STMT_VPN_CREATE, vpn, 11, 1, &affected), -EOPNOTSUPP);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM ip_assignments WHERE node_id = ?", DB_UINT(node)), 0);

	/* Inside a transaction, which goes on: the caller can still run the rows one by one. */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_exec(c, DB_STMT_IP_RECORD, &rows[0], 2, &affected, &id), 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_IP_RECORD, &rows[2], 2, 1, &affected), -EOPNOTSUPP);
	assert_true(db_tx_active(c));
	/* the cached statement is plain again */
	assert_db(c, db_exec(c, DB_STMT_IP_RECORD, &rows[2], 2, &affected, &id), 0);
	assert_int_equal(affected, 1);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ?", DB_UINT(v)), 2);
	rows[0] = DB_BLOB(d.bytes, 4);
	assert_db(c, db_exec(c, DB_STMT_IP_RECORD, rows, 2, &affected, &id), 0);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ?", DB_UINT(v)), 3);
}

/* ---- guarded UPDATEs ---- */

/* ip_release (no triggers on ip_assignments): the sum of the rows each WHERE matched. */
static void test_update_sum(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), affected = 0, id = 0;
	uint64_t v = create(c, u, node);
	struct db_ip_address a[3] = {ip4(4, 1), ip4(4, 2), ip4(4, 3)}, none = ip4(4, 9);

	for (size_t i = 0; i < 3; i++)
		assert_db(c, db_ip_record(c, 0, v, &a[i], &id), 0);
	/* (node, address) */
	struct db_param rows[] = {
	    DB_UINT(node),      DB_BLOB(a[0].bytes, 4), DB_UINT(node), DB_BLOB(none.bytes, 4),
	    DB_UINT(node),      DB_BLOB(a[2].bytes, 4), DB_UINT(node), DB_BLOB(a[0].bytes, 4),
	    DB_UINT(999999999), DB_BLOB(a[1].bytes, 4),
	};
	assert_db(c, db_exec_bulk(c, DB_STMT_IP_RELEASE, rows, 2, 5, &affected), 0);
	/* rows 1 and 3; row 4 finds row 1's address released already; 2 and 5 match nothing */
	assert_int_equal(affected, 2);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ? AND "
	                       "released_at IS NULL AND address = ?",
	                       DB_UINT(v), DB_BLOB(a[1].bytes, 4)),
	                 1);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ? AND "
	                       "released_at IS NOT NULL",
	                       DB_UINT(v)),
	                 2);
	assert_db(c, db_exec_bulk(c, DB_STMT_IP_RELEASE, rows, 2, 5, &affected), 0);
	assert_int_equal(affected, 0);
}

/*
 * sealed_vpn_replace: binary values and NULLs in the WHERE (<=>). vpn_configs has triggers,
 * but these leave the counters alone (no status, type or bandwidth moves): the count is
 * exact. (new private, new preshared, id, old private, old preshared)
 */
static void test_update_null_guards(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), affected = 0;
	uint64_t v1 = create(c, u, node), v2 = create(c, u, node), v3 = create(c, u, node);
	static const uint8_t old[] = {1, 0, 2}, fresh[] = {9, 0, 9, 0}, psk[] = {7};

	assert_db(c,
	          SQL(c, "UPDATE vpn_configs SET private_key_enc = ? WHERE id = ?",
	              DB_BLOB(old, sizeof(old)), DB_UINT(v2)),
	          0);
	struct db_param rows[] = {
	    /* v1: no keys yet (NULL <=> NULL) */
	    DB_BLOB(fresh, sizeof(fresh)),
	    DB_BLOB(psk, 1),
	    DB_UINT(v1),
	    DB_NULL,
	    DB_NULL,
	    /* v2: guarded by its old key */
	    DB_BLOB(fresh, sizeof(fresh)),
	    DB_NULL,
	    DB_UINT(v2),
	    DB_BLOB(old, sizeof(old)),
	    DB_NULL,
	    /* v3: a wrong old key, nothing happens */
	    DB_BLOB(fresh, sizeof(fresh)),
	    DB_NULL,
	    DB_UINT(v3),
	    DB_BLOB(old, sizeof(old)),
	    DB_NULL,
	};
	assert_db(c, db_exec_bulk(c, DB_STMT_SEALED_VPN_REPLACE, rows, 5, 3, &affected), 0);
	assert_int_equal(affected, 2);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE (id = ? AND "
	                       "preshared_key_enc = ?) OR (id = ? AND preshared_key_enc IS NULL) "
	                       "OR (id = ? AND private_key_enc IS NULL)",
	                       DB_UINT(v1), DB_BLOB(psk, 1), DB_UINT(v2), DB_UINT(v3)),
	                 3);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE id IN (?, ?) AND "
	                       "private_key_enc = ?",
	                       DB_UINT(v1), DB_UINT(v2), DB_BLOB(fresh, sizeof(fresh))),
	                 2);
	dbtest_assert_counters_match(c);
}

/*
 * vpn_activate on vpn_configs, whose triggers write the status counters: every row does
 * what db_exec would do, but MariaDB 10.11 adds the rows the triggers wrote to the bulk's
 * count (db_exec's count leaves them out). 0 still means no row matched.
 */
static void test_update_triggers(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = dbtest_new_node(c, 100), affected = 0;
	uint64_t p1 = create(c, u, node), p2 = create(c, u, node), p3 = create(c, u, node);
	uint64_t active = create(c, u, node), revoked = create(c, u, node), single;
	char *config = NULL;

	assert_db(c, db_vpn_activate(c, 0, active, "{\"was\":\"active\"}", NULL, 0), 0);
	assert_db(c, db_vpn_revoke(c, 0, revoked, NULL), 0);
	/* (config or NULL: keep, id); the active and the revoked ones do not match */
	struct db_param rows[] = {
	    DB_TEXT("{\"n\":1}"), DB_UINT(p1),     DB_NULL, DB_UINT(p2),
	    DB_TEXT("{\"n\":3}"), DB_UINT(active), DB_NULL, DB_UINT(revoked),
	    DB_TEXT("{\"n\":5}"), DB_UINT(p3),     DB_NULL, DB_UINT(999999999),
	};
	assert_db(c, db_exec_bulk(c, DB_STMT_VPN_ACTIVATE, rows, 2, 6, &affected), 0);
	print_message("vpn_activate, 6 rows of which 3 match: affected %" PRIu64 "\n", affected);
	assert_true(affected > 3);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE id IN (?, ?, ?) AND "
	                       "status = 'active' AND activated_at IS NOT NULL",
	                       DB_UINT(p1), DB_UINT(p2), DB_UINT(p3)),
	                 3);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE (id = ? AND config = "
	                       "'{\"n\":1}') OR (id = ? AND config = '{}') OR (id = ? AND "
	                       "config = '{\"n\":5}')",
	                       DB_UINT(p1), DB_UINT(p2), DB_UINT(p3)),
	                 3);
	assert_db(c,
	          dbtest_query_bytes(c, "SELECT config FROM vpn_configs WHERE id = ?",
	                             (struct db_param[]){DB_UINT(active)}, 1, &config, NULL),
	          0);
	assert_string_equal(config, "{\"was\":\"active\"}");
	free(config);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE id = ? AND "
	                       "status = 'revoked'",
	                       DB_UINT(revoked)),
	                 1);
	dbtest_assert_counters_match(c);
	/* again: nothing matches, no trigger runs */
	assert_db(c, db_exec_bulk(c, DB_STMT_VPN_ACTIVATE, rows, 2, 6, &affected), 0);
	assert_int_equal(affected, 0);
	/* one row: db_exec says 1, the same row as a bulk says more */
	single = create(c, u, node);
	rows[1] = DB_UINT(single);
	assert_db(c, db_exec_bulk(c, DB_STMT_VPN_ACTIVATE, rows, 2, 1, &affected), 0);
	print_message("vpn_activate, 1 row as a bulk: affected %" PRIu64 "\n", affected);
	assert_true(affected > 1);
	single = create(c, u, node);
	rows[1] = DB_UINT(single);
	assert_db(c, db_exec(c, DB_STMT_VPN_ACTIVATE, rows, 2, &affected, NULL), 0);
	assert_int_equal(affected, 1);
}

static void test_job_done(void **state)
{
	struct db_conn *c = *state;
	uint64_t node = dbtest_new_node(c, 100), ids[6], affected = 0;
	char key[32];
	struct db_job *v = NULL;
	size_t n = 0;
	bool created = false;

	for (size_t i = 0; i < 6; i++) {
		struct db_job_new j = {.kind = JOB_RESYNC, .node_id = node, .idempotency_key = key};

		snprintf(key, sizeof(key), "bulk-done-%zu", i);
		assert_db(c, db_job_enqueue(c, &j, &ids[i], &created), 0);
		assert_true(created);
	}
	assert_db(c, db_job_claim(c, "bulk-a", 60000, 4, &v, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].id, ids[i]); /* oldest first */
	db_jobs_free(v, n);
	v = NULL;
	assert_db(c, db_job_claim(c, "bulk-b", 60000, 2, &v, &n), 0);
	assert_int_equal(n, 2);
	db_jobs_free(v, n);
	/* (result or NULL, id, owner): jobs 0-3 are bulk-a's, 4-5 bulk-b's */
	struct db_param rows[] = {
	    DB_TEXT("{\"ok\":0}"), DB_UINT(ids[0]),   DB_TEXT("bulk-a"),     DB_NULL,
	    DB_UINT(ids[1]),       DB_TEXT("bulk-a"), DB_TEXT("{\"ok\":4}"), DB_UINT(ids[4]),
	    DB_TEXT("bulk-a"), /* not ours */
	    DB_TEXT("{\"ok\":3}"), DB_UINT(ids[3]),   DB_TEXT("bulk-a"),     DB_NULL,
	    DB_UINT(999999999),    DB_TEXT("bulk-a"), DB_TEXT("{\"ok\":0}"), DB_UINT(ids[0]),
	    DB_TEXT("bulk-a"), /* done by row 1 */
	};
	assert_db(c, db_exec_bulk(c, DB_STMT_JOB_DONE, rows, 3, 6, &affected), 0);
	/* 3 matched; jobs has triggers too, which MariaDB 10.11 counts in */
	print_message("job_done, 6 rows of which 3 match: affected %" PRIu64 "\n", affected);
	assert_true(affected >= 3);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND "
	                       "finished_at IS NOT NULL AND ((id = ? AND result = '{\"ok\":0}') "
	                       "OR (id = ? AND result IS NULL) OR (id = ? AND result = "
	                       "'{\"ok\":3}'))",
	                       DB_UINT(ids[0]), DB_UINT(ids[1]), DB_UINT(ids[3])),
	                 3);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM jobs WHERE id IN (?, ?, ?) AND "
	                       "state = 'running'",
	                       DB_UINT(ids[2]), DB_UINT(ids[4]), DB_UINT(ids[5])),
	                 3);
	dbtest_assert_counters_match(c);
	assert_db(c, db_exec_bulk(c, DB_STMT_JOB_DONE, rows, 3, 6, &affected), 0);
	assert_int_equal(affected, 0);
}

/* ---- the cached statement afterwards ---- */

/* payment_create row i for user u: (user, method, amount, currency, type, months, charge) */
static void payment_row(struct db_param *row, uint64_t u, const char *charge, size_t i)
{
	row[0] = DB_UINT(u);
	row[1] = DB_TEXT("stars");
	row[2] = DB_INT(10 + (int64_t)i);
	row[3] = DB_TEXT("XTR");
	row[4] = DB_TEXT(i % 2 ? "outline" : "wireguard");
	row[5] = DB_UINT(1 + i % 12);
	row[6] = DB_TEXT(charge);
}

static uint64_t payments_of(struct db_conn *c, uint64_t u)
{
	return COUNT(c, "SELECT COUNT(*) FROM payments WHERE user_id = ?", DB_UINT(u));
}

/*
 * A plain db_exec on a statement that just ran as a bulk sends one parameter set: were the
 * array size left set, it would send 50 rows read from freed arrays (ASan) or 50 copies.
 */
static void test_plain_after_bulk(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), base = unique(), affected = 0, id = 0;
	struct db_param rows[50 * AUDIT_NP], pay[2 * 7];

	for (size_t i = 0; i < 50; i++)
		audit_row(&rows[i * AUDIT_NP], u, base + i, i);
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 50, &affected), 0);
	assert_int_equal(affected, 50);
	audit_row(&rows[0], u, base + 100, 3);
	assert_db(c, db_exec(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, &affected, &id), 0);
	assert_int_equal(affected, 1);
	assert_true(id > 0);
	assert_int_equal(audit_rows(c, base), 51);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE id = ? AND "
	                       "JSON_VALUE(payload, '$.vpn_config_id') = ?",
	                       DB_UINT(id), DB_UINT(base + 100)),
	                 1);

	/* the same after a bulk that failed: the array size is reset on every path */
	payment_row(&pay[0], u, "plain-after-1", 0);
	payment_row(&pay[7], u, "plain-after-1", 1);
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, pay, 7, 2, &affected), -EEXIST);
	payment_row(&pay[0], u, "plain-after-2", 0);
	assert_db(c, db_exec(c, DB_STMT_PAYMENT_CREATE, pay, 7, &affected, &id), 0);
	assert_int_equal(affected, 1);
	assert_int_equal(payments_of(c, u), 1);
	/* and a bulk again after the plain one */
	payment_row(&pay[0], u, "plain-after-3", 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, pay, 7, 2, &affected), 0);
	assert_int_equal(affected, 2);
	assert_int_equal(payments_of(c, u), 3);
	dbtest_assert_counters_match(c);
}

/* ---- a duplicate key in the middle ---- */

static void test_duplicate_key(void **state)
{
	enum { N = 6 };
	struct db_conn *c = *state, *p = NULL;
	uint64_t u = dbtest_new_user(c), affected = 0, n = 0, id = 0;
	char charge[N][24];
	struct db_param rows[N * 7], first[7];

	for (size_t i = 0; i < N; i++) {
		snprintf(charge[i], sizeof(charge[i]), "dup-%" PRIu64 "-%zu", u, i);
		payment_row(&rows[i * 7], u, charge[i], i);
	}
	rows[3 * 7 + 6] = DB_TEXT(charge[0]); /* row 4 takes row 1's charge again */

	/* Outside a transaction: the statement fails as a whole, no row of it is kept. */
	affected = 77;
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, rows, 7, N, &affected), -EEXIST);
	assert_int_equal(affected, 77);
	assert_int_equal(db_conn_error(c)->server_code, 1062); /* ER_DUP_ENTRY */
	assert_non_null(strstr(db_conn_error(c)->message, "payments_charge"));
	assert_int_equal(payments_of(c, u), 0);
	dbtest_assert_counters_match(c); /* the triggers' rows went with them */

	/*
	 * Inside a transaction: the bulk's rows are undone, the earlier statement's row is not
	 * (the peer reads uncommitted rows to see it); the transaction is broken for us until
	 * the rollback.
	 */
	payment_row(first, u, "dup-first", 9);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_exec(c, DB_STMT_PAYMENT_CREATE, first, 7, &affected, &id), 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, rows, 7, N, &affected), -EEXIST);
	assert_true(db_tx_active(c));
	assert_db(c, db_exec(c, DB_STMT_PAYMENT_CREATE, first, 7, &affected, NULL), -EEXIST);
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, rows, 7, 0, &affected), -EEXIST);

	assert_int_equal(db_acquire(peer, -1, &p, NULL), 0);
	assert_db(p, SQL(p, "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"), 0);
	assert_db(p, SQL_UINT(p, &n, "SELECT COUNT(*) FROM payments WHERE user_id = ?", DB_UINT(u)),
	          0);
	assert_int_equal(n, 1); /* the plain row; none of the bulk's 3 before the duplicate */
	assert_db(p,
	          SQL_UINT(p, &n, "SELECT COUNT(*) FROM payments WHERE user_id = ? AND id = ?",
	                   DB_UINT(u), DB_UINT(id)),
	          0);
	assert_int_equal(n, 1);
	assert_db(p, SQL(p, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"), 0);
	db_release(p);

	assert_db(c, db_tx_rollback(c), 0);
	assert_int_equal(payments_of(c, u), 0);

	/* Without the duplicate, the same bulk in a transaction commits every row. */
	rows[3 * 7 + 6] = DB_TEXT(charge[3]);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_exec(c, DB_STMT_PAYMENT_CREATE, first, 7, &affected, &id), 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_PAYMENT_CREATE, rows, 7, N, &affected), 0);
	assert_int_equal(affected, N);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(payments_of(c, u), N + 1);
	dbtest_assert_counters_match(c);
}

/* ---- no rows, and the caller's mistakes ---- */

static void test_zero_rows_and_misuse(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), base = unique(), affected = 77;
	struct db_param rows[3 * AUDIT_NP];

	for (size_t i = 0; i < 3; i++)
		audit_row(&rows[i * AUDIT_NP], u, base + i, i);

	/* nothing sent, affected 0 (params may even be NULL) */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, NULL, AUDIT_NP, 0, &affected), 0);
	assert_int_equal(affected, 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 0, NULL), 0);

	/* Mistakes are found before anything is sent, inside a transaction that goes on. */
	assert_db(c, db_tx_begin(c), 0);
	affected = 77;
	rows[AUDIT_NP + 4] = DB_UINT(1); /* a number where row 1 has text */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, &affected),
	          -EINVAL);
	assert_non_null(strstr(db_conn_error(c)->message, "parameter 5"));
	rows[AUDIT_NP + 4] = DB_TEXT("wireguard");
	rows[2 * AUDIT_NP + 1] = DB_INT(u); /* signed where the others are unsigned */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, &affected),
	          -EINVAL);
	rows[2 * AUDIT_NP + 1] = DB_UINT(u);
	rows[2 * AUDIT_NP + 6] = DB_TIME(INT64_MAX); /* beyond year 9999 */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, &affected),
	          -EINVAL);
	rows[2 * AUDIT_NP + 6] = DB_NULL;
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP - 1, 1, &affected),
	          -EINVAL);
	assert_non_null(strstr(db_conn_error(c)->message, "takes 7 parameters, 6 given"));
	assert_db(c, db_exec_bulk(c, DB_STMT_TX_COMMIT, NULL, 0, 3, &affected), -EINVAL);
	assert_db(c, db_exec_bulk(c, DB_STMT__COUNT, rows, AUDIT_NP, 3, &affected), -EINVAL);
	assert_int_equal(affected, 77);
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, &affected), 0);
	assert_int_equal(affected, 3);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(audit_rows(c, base), 3);
	/* a constraint in one row: the server's -EINVAL, the statement undone */
	rows[2 * AUDIT_NP + 1] = DB_UINT(999999999); /* no such user: foreign key */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 3, &affected),
	          -EINVAL);
	assert_int_equal(audit_rows(c, base), 3);
}

/* ---- a connection lost before the bulk ---- */

static void kill_session(uint64_t id)
{
	struct db_conn *a;
	char sql[64];
	uint64_t n = 1;

	assert_int_equal(db_acquire(peer, -1, &a, NULL), 0);
	snprintf(sql, sizeof(sql), "KILL CONNECTION %" PRIu64, id);
	assert_db(a, SQL(a, sql), 0);
	for (int i = 0; i < 500 && n; i++) {
		assert_db(
		    a,
		    SQL_UINT(a, &n,
		             "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?",
		             DB_UINT(id)),
		    0);
		if (n)
			usleep(10000);
	}
	assert_int_equal(n, 0);
	db_release(a);
	usleep(20000); /* the FIN reaches our socket */
}

static void test_reconnect(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), base = unique(), affected = 0, before;
	struct db_param rows[4 * AUDIT_NP];

	for (size_t i = 0; i < 4; i++)
		audit_row(&rows[i * AUDIT_NP], u, base + i, i);
	/* prepared and cached on this session, then the session dies */
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 2, &affected), 0);
	before = db_conn_server_id(c);
	kill_session(before);
	/* found dead before sending: reconnected, prepared again, sent once */
	assert_db(
	    c,
	    db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, &rows[2 * AUDIT_NP], AUDIT_NP, 2, &affected),
	    0);
	assert_int_equal(affected, 2);
	assert_true(db_conn_server_id(c) != before);
	assert_int_equal(audit_rows(c, base), 4);

	/* inside a transaction, the transaction is gone with the session: nothing resent */
	for (size_t i = 0; i < 4; i++)
		audit_row(&rows[i * AUDIT_NP], u, base + 10 + i, i);
	assert_db(c, db_tx_begin(c), 0);
	kill_session(db_conn_server_id(c));
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 4, &affected),
	          -ENOTCONN);
	assert_db(c, db_tx_commit(c), -ENOTCONN);
	assert_db(c, db_tx_rollback(c), 0);
	assert_db(c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, 4, &affected), 0);
	assert_int_equal(audit_rows(c, base), 8);
}

/* ---- one round trip against a hundred (printed, not asserted) ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_timing(void **state)
{
	enum { N = 100, ROUNDS = 5 };
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), affected = 0;
	struct db_param rows[N * AUDIT_NP];
	double loop_best = 1e9, bulk_best = 1e9;

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t base = unique();
		double t0, t1;

		for (size_t i = 0; i < N; i++)
			audit_row(&rows[i * AUDIT_NP], u, base + i, i);
		t0 = now_ms();
		assert_db(c, db_tx_begin(c), 0);
		for (size_t i = 0; i < N; i++)
			assert_db(c,
			          db_exec(c, DB_STMT_AUDIT_VPN_CREATE, &rows[i * AUDIT_NP],
			                  AUDIT_NP, NULL, NULL),
			          0);
		assert_db(c, db_tx_commit(c), 0);
		t1 = now_ms();
		loop_best = t1 - t0 < loop_best ? t1 - t0 : loop_best;

		for (size_t i = 0; i < N; i++)
			audit_row(&rows[i * AUDIT_NP], u, base + N + i, i);
		t0 = now_ms();
		assert_db(c, db_tx_begin(c), 0);
		assert_db(
		    c, db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, rows, AUDIT_NP, N, &affected), 0);
		assert_db(c, db_tx_commit(c), 0);
		t1 = now_ms();
		bulk_best = t1 - t0 < bulk_best ? t1 - t0 : bulk_best;
		assert_int_equal(affected, N);
	}
	print_message("audit_vpn_create, %d rows in one transaction, best of %d: "
	              "db_exec x %d %.2f ms, db_exec_bulk %.2f ms\n",
	              N, ROUNDS, N, loop_best, bulk_best);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_insert_values, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_all_null_column, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_insert_values_mixed, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_insert_select_refused, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_update_sum, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_update_null_guards, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_update_triggers, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_job_done, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_plain_after_bulk, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_key, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_zero_rows_and_misuse, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_timing, dbtest_conn_setup, dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
