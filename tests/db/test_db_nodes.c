// SPDX-License-Identifier: MIT
/*
 * Nodes against a real MariaDB: registration (every field round-trips, the sealed token
 * byte for byte; a duplicate name or key, a bad name, URL, endpoint, key or pools refused
 * with nothing stored), state changes, poll reports (healthy, unhealthy after N failures
 * in a row, back to healthy; the boot id's first record and its changes), the choice of a
 * node for a new config (most free addresses, minus the configs created since the last
 * poll; draining, disabled, unhealthy and unknown nodes skipped; -ENOSPC), and the peer
 * generation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_node.h"
#include "db_sealed.h"
#include "db_user.h"
#include "db_vpn.h"

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

struct names {
	char name[32], key[45];
};

/* A fresh name and key, and a node description using them. */
static struct db_node_new node_new(struct names *nm, uint64_t free_addresses)
{
	snprintf(nm->name, sizeof(nm->name), "node-%llu", (unsigned long long)counter);
	dbtest_make_key(2000000 + counter++, nm->key);
	return (struct db_node_new){.name = nm->name,
	                            .agent_url = "https://agent.example:8443",
	                            .endpoint = "vpn.example:51820",
	                            .public_key = nm->key,
	                            .pools = "[]",
	                            .free_addresses = free_addresses};
}

static uint64_t create(struct db_conn *c, uint64_t free_addresses)
{
	struct names nm;
	struct db_node_new n = node_new(&nm, free_addresses);
	uint64_t id = 0;

	assert_db(c, db_node_create(c, 0, &n, &id), 0);
	return id;
}

static struct db_node *get(struct db_conn *c, uint64_t id)
{
	struct db_node *n = NULL;

	assert_db(c, db_node_get(c, id, &n), 0);
	return n;
}

static void test_create(void **state)
{
	struct db_conn *c = *state;
	static const uint8_t token[] = {0x00, 0xff, 0x10, 0x00, 0x7f, 0x80, 0x00};
	static const char pools[] =
	    "[{\"prefix\": \"10.8.0.0/22\", \"size\": 1021, \"free\": 1017}, "
	    "{\"prefix\": \"fd42::/64\", \"size\": 1.8446744073709552e19}]";
	struct names nm;
	struct db_node_new n = node_new(&nm, 1017);
	uint64_t id = 0, other = 0, nodes;
	struct db_node *got, *v = NULL;
	size_t count_v = 0;

	n.pools = pools;
	n.agent_token_enc = token;
	n.agent_token_enc_len = sizeof(token);
	n.boot_id = "835063e7-8889-4075-a4df-9adc5834b5a1";
	n.peers = 3;
	assert_db(c, db_node_create(c, 0, &n, &id), 0);
	got = get(c, id);
	assert_string_equal(got->name, nm.name);
	assert_string_equal(got->agent_url, "https://agent.example:8443");
	assert_string_equal(got->endpoint, "vpn.example:51820");
	assert_string_equal(got->public_key, nm.key);
	assert_string_equal(got->pools, pools);
	assert_int_equal(got->state, NODE_ACTIVE);
	assert_int_equal(got->health, NODE_HEALTH_HEALTHY);
	assert_int_equal(got->failed_polls, 0);
	assert_int_equal(got->agent_token_enc_len, sizeof(token));
	assert_memory_equal(got->agent_token_enc, token, sizeof(token));
	assert_string_equal(got->boot_id, "835063e7-8889-4075-a4df-9adc5834b5a1");
	assert_true(got->last_seen_at_us > db_now_us() - 60000000LL);
	assert_null(got->last_error);
	assert_int_equal(got->free_addresses, 1017);
	assert_int_equal(got->peers, 3);
	assert_int_equal(got->peer_generation, 0);
	got = db_node_free(got);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE action = 'node.create' "
	                       "AND JSON_VALUE(payload, '$.node_id') = ?",
	                       DB_UINT(id)),
	                 1);

	/* Defaults: no token, no boot id, pools {} */
	struct names nm2;
	struct db_node_new bare = node_new(&nm2, 0);
	bare.pools = NULL;
	assert_db(c, db_node_create(c, 0, &bare, &other), 0);
	got = get(c, other);
	assert_null(got->agent_token_enc);
	assert_int_equal(got->agent_token_enc_len, 0);
	assert_null(got->boot_id);
	assert_string_equal(got->pools, "{}");
	got = db_node_free(got);

	/* Refusals: nothing stored, no audit row. */
	nodes = COUNT(c, "SELECT COUNT(*) FROM nodes");
	uint64_t audits = COUNT(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'node.create'");
	struct names nm3;
	struct db_node_new bad = node_new(&nm3, 0);
	struct db_node_new b;

	b = bad, b.name = nm.name; /* taken */
	assert_db(c, db_node_create(c, 0, &b, &other), -EEXIST);
	b = bad, b.public_key = nm.key; /* taken */
	assert_db(c, db_node_create(c, 0, &b, &other), -EEXIST);
	static const char *const bad_names[] = {"", "Node", "-x", "a b", "a/b"};
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		b = bad, b.name = bad_names[i];
		assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	}
	b = bad, b.agent_url = "ftp://agent.example";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.endpoint = "vpn.example";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.public_key = "not a key";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.pools = "\"x\"";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.pools = "[";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.boot_id = "";
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.agent_token_enc = token, b.agent_token_enc_len = 0;
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.agent_token_enc = NULL, b.agent_token_enc_len = 5;
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	b = bad, b.name = NULL;
	assert_db(c, db_node_create(c, 0, &b, &other), -EINVAL);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM nodes"), nodes);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'node.create'"),
	                 audits);
	/* the name is still free after all that */
	assert_db(c, db_node_create(c, 0, &bad, &other), 0);

	/* list: every node, by id */
	assert_db(c, db_node_list(c, &v, &count_v), 0);
	assert_int_equal(count_v, nodes + 1);
	for (size_t i = 1; i < count_v; i++)
		assert_true(v[i - 1].id < v[i].id);
	v = db_nodes_free(v, count_v);
	assert_db(c, db_node_get(c, 999999, &got), -ENOENT);
}

static void test_set_state(void **state)
{
	struct db_conn *c = *state;
	uint64_t id = create(c, 10);
	struct db_node *n;

	assert_db(c, db_node_set_state(c, 0, id, NODE_DRAINING), 0);
	assert_db(c, db_node_set_state(c, 0, id, NODE_DRAINING), -EALREADY);
	n = get(c, id);
	assert_int_equal(n->state, NODE_DRAINING);
	n = db_node_free(n);
	assert_db(c, db_node_set_state(c, 0, id, NODE_DISABLED), 0);
	assert_db(c, db_node_set_state(c, 0, id, NODE_ACTIVE), 0);
	assert_db(c, db_node_set_state(c, 0, 999999, NODE_ACTIVE), -ENOENT);
	assert_db(c, db_node_set_state(c, 0, id, _NODE_STATE_MAX), -EINVAL);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE action = 'node.state' "
	                       "AND JSON_VALUE(payload, '$.node_id') = ?",
	                       DB_UINT(id)),
	                 3);
	n = get(c, id);
	assert_int_equal(n->state, NODE_ACTIVE);
	n = db_node_free(n);
}

static void report_fail(struct db_conn *c, uint64_t id, const char *error)
{
	struct db_node_report r = {.ok = false, .error = error, .unhealthy_after = 3};
	bool changed = true;

	assert_db(c, db_node_report(c, id, &r, &changed), 0);
	assert_false(changed);
}

static bool report_ok(struct db_conn *c, uint64_t id, const char *boot_id, uint64_t free_addresses)
{
	struct db_node_report r = {
	    .ok = true, .boot_id = boot_id, .free_addresses = free_addresses, .peers = 7};
	bool changed = true;

	assert_db(c, db_node_report(c, id, &r, &changed), 0);
	return changed;
}

static void test_report(void **state)
{
	struct db_conn *c = *state;
	uint64_t id = create(c, 10);
	struct db_node *n;
	int64_t seen;
	char long_error[400];

	/* A node created without a boot id: the first one recorded is no change. */
	assert_false(report_ok(c, id, "boot-1", 100));
	n = get(c, id);
	assert_string_equal(n->boot_id, "boot-1");
	assert_int_equal(n->free_addresses, 100);
	assert_int_equal(n->peers, 7);
	seen = n->last_seen_at_us;
	n = db_node_free(n);
	assert_false(report_ok(c, id, "boot-1", 90));
	assert_false(report_ok(c, id, NULL, 90));    /* no boot id in this report: keep */
	assert_true(report_ok(c, id, "boot-2", 90)); /* the agent restarted */
	assert_false(report_ok(c, id, "boot-2", 90));
	n = get(c, id);
	assert_string_equal(n->boot_id, "boot-2");
	assert_true(n->last_seen_at_us >= seen);
	n = db_node_free(n);

	/* Failures: healthy until the third in a row. */
	report_fail(c, id, "connect: refused");
	report_fail(c, id, "connect: refused");
	n = get(c, id);
	assert_int_equal(n->health, NODE_HEALTH_HEALTHY);
	assert_int_equal(n->failed_polls, 2);
	assert_string_equal(n->last_error, "connect: refused");
	seen = n->last_seen_at_us;
	n = db_node_free(n);
	memset(long_error, 'x', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	report_fail(c, id, long_error);
	n = get(c, id);
	assert_int_equal(n->health, NODE_HEALTH_UNHEALTHY);
	assert_int_equal(n->failed_polls, 3);
	assert_int_equal(strlen(n->last_error), 255); /* cut, not refused */
	assert_int_equal(n->last_seen_at_us, seen);   /* a failure is not a sighting */
	assert_int_equal(n->free_addresses, 90);
	n = db_node_free(n);
	report_fail(c, id, NULL);
	n = get(c, id);
	assert_int_equal(n->health, NODE_HEALTH_UNHEALTHY);
	assert_int_equal(n->failed_polls, 4);
	assert_null(n->last_error);
	n = db_node_free(n);

	/* One good poll: healthy again, the count and the error cleared. */
	struct db_node_report ok = {.ok = true,
	                            .boot_id = "boot-2",
	                            .free_addresses = 80,
	                            .peers = 9,
	                            .pools = "[{\"prefix\": \"10.9.0.0/24\"}]"};
	assert_db(c, db_node_report(c, id, &ok, NULL), 0);
	n = get(c, id);
	assert_int_equal(n->health, NODE_HEALTH_HEALTHY);
	assert_int_equal(n->failed_polls, 0);
	assert_null(n->last_error);
	assert_int_equal(n->free_addresses, 80);
	assert_int_equal(n->peers, 9);
	assert_string_equal(n->pools, "[{\"prefix\": \"10.9.0.0/24\"}]");
	n = db_node_free(n);

	/* A node that was never polled (version 2's nodes) stays unknown until it is. */
	assert_db(c, SQL(c, "UPDATE nodes SET health = 'unknown' WHERE id = ?", DB_UINT(id)), 0);
	report_fail(c, id, "x");
	n = get(c, id);
	assert_int_equal(n->health, NODE_HEALTH_UNKNOWN);
	n = db_node_free(n);

	/* Bad input changes nothing. */
	struct db_node_report bad = {.ok = false, .error = "x", .unhealthy_after = 0};
	assert_db(c, db_node_report(c, id, &bad, NULL), -EINVAL);
	bad = (struct db_node_report){.ok = true, .pools = "{x"};
	assert_db(c, db_node_report(c, id, &bad, NULL), -EINVAL);
	bad = (struct db_node_report){.ok = true, .boot_id = ""};
	assert_db(c, db_node_report(c, id, &bad, NULL), -EINVAL);
	n = get(c, id);
	assert_int_equal(n->failed_polls, 1);
	assert_int_equal(n->free_addresses, 80);
	assert_string_equal(n->boot_id, "boot-2");
	n = db_node_free(n);
	assert_db(c, db_node_report(c, 999999, &ok, NULL), -ENOENT);
}

/* ---- the choice of a node ---- */

static uint64_t pick(struct db_conn *c)
{
	uint64_t id = 0;
	int r;

	assert_db(c, db_tx_begin(c), 0);
	r = db_node_pick_in_tx(c, &id);
	assert_db(c, db_tx_commit(c), 0);
	return r < 0 ? (uint64_t)r : id;
}

static uint64_t user_id(struct db_conn *c)
{
	struct db_user_profile p = {.telegram_id = (int64_t)(8000000000ULL + counter++)};
	uint64_t id = 0;

	assert_db(c, db_user_upsert(c, &p, &id, NULL), 0);
	return id;
}

static uint64_t config_on(struct db_conn *c, uint64_t user, uint64_t node)
{
	struct db_vpn_new n = {.user_id = user, .node_id = node, .type = VPN_OUTLINE, .name = "x"};
	uint64_t id = 0;

	assert_db(c, db_vpn_create(c, 0, &n, &id), 0);
	return id;
}

static void test_pick(void **state)
{
	(void)state;
	struct db *d = dbtest_open_fresh("pick", 2, NULL);
	struct db_conn *c = NULL;
	uint64_t a, b, draining, disabled, unhealthy, unknown, user, cfg[15];

	dbtest_migrate(d);
	assert_int_equal(db_acquire(d, -1, &c, NULL), 0);
	assert_int_equal(pick(c), (uint64_t)-ENOSPC); /* no node at all */

	a = create(c, 10);
	b = create(c, 20);
	draining = create(c, 300);
	disabled = create(c, 400);
	unhealthy = create(c, 500);
	unknown = create(c, 600);
	assert_db(c, db_node_set_state(c, 0, draining, NODE_DRAINING), 0);
	assert_db(c, db_node_set_state(c, 0, disabled, NODE_DISABLED), 0);
	for (int i = 0; i < 3; i++)
		report_fail(c, unhealthy, "down");
	assert_db(c, SQL(c, "UPDATE nodes SET health = 'unknown' WHERE id = ?", DB_UINT(unknown)),
	          0);
	assert_int_equal(pick(c), b);

	/* Configs created on b since its last poll count against it; ended ones do not. */
	user = user_id(c);
	for (int i = 0; i < 15; i++)
		cfg[i] = config_on(c, user, b);
	assert_int_equal(pick(c), a); /* b: 20 - 15 = 5 < 10 */
	for (int i = 0; i < 10; i++)
		assert_db(c, db_vpn_revoke(c, 0, cfg[i], NULL), 0);
	assert_int_equal(pick(c), b); /* 20 - 5 = 15 */
	/* A poll after those creations: the agent's count includes them, so the 5 live
	 * configs no longer count against b. */
	assert_false(report_ok(c, b, NULL, 12));
	assert_int_equal(pick(c), b); /* 12 > 10 */
	assert_false(report_ok(c, b, NULL, 8));
	assert_int_equal(pick(c), a); /* 8 < 10 */
	/* Equal room: the lower id. */
	assert_false(report_ok(c, b, NULL, 10));
	assert_int_equal(pick(c), a < b ? a : b);

	/* Full: a node with no free address is not picked. */
	assert_false(report_ok(c, a, NULL, 0));
	assert_int_equal(pick(c), b);
	for (int i = 0; i < 10; i++)
		config_on(c, user, b);
	assert_int_equal(pick(c), (uint64_t)-ENOSPC); /* b: 10 - 10 = 0 */

	/* Back in service: the unhealthy one after a good poll, the draining one. */
	assert_false(report_ok(c, unhealthy, NULL, 50));
	assert_int_equal(pick(c), unhealthy);
	assert_db(c, db_node_set_state(c, 0, draining, NODE_ACTIVE), 0);
	assert_int_equal(pick(c), draining);

	db_release(c);
	db_close(d);
}

static void test_generation(void **state)
{
	struct db_conn *c = *state;
	uint64_t id = create(c, 10), g = 0;
	struct db_node *n;

	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_node_next_generation_in_tx(c, id, &g), 0);
	assert_int_equal(g, 1);
	assert_db(c, db_node_next_generation_in_tx(c, id, &g), 0);
	assert_int_equal(g, 2);
	assert_db(c, db_tx_commit(c), 0);
	n = get(c, id);
	assert_int_equal(n->peer_generation, 2);
	n = db_node_free(n);

	/* rolled back with its transaction */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_node_next_generation_in_tx(c, id, &g), 0);
	assert_int_equal(g, 3);
	assert_db(c, db_tx_rollback(c), 0);
	n = get(c, id);
	assert_int_equal(n->peer_generation, 2);
	n = db_node_free(n);

	g = 77;
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_node_next_generation_in_tx(c, 999999, &g), -ENOENT);
	assert_db(c, db_tx_rollback(c), 0);
	assert_int_equal(g, 77);
}

/* A moved agent or a new token (db_node_set_agent), and the sealed values as a rekey sees
 * and replaces them (db_sealed.h): guarded by the value replaced. */
static void test_agent_and_sealed(void **state)
{
	struct db_conn *c = *state;
	static const uint8_t t1[] = "sealed-one", t2[] = "sealed-two", t3[] = "sealed-3";
	struct names nm;
	struct db_node_new n = node_new(&nm, 10);
	struct db_sealed_row *rows = NULL, old = {0}, new = {0};
	struct db_node *got;
	uint64_t id = 0;
	size_t k = 0;

	n.agent_token_enc = t1;
	n.agent_token_enc_len = sizeof(t1);
	assert_db(c, db_node_create(c, 0, &n, &id), 0);
	assert_db(c, db_node_set_agent(c, 0, id, "http://10.0.0.9:8080", t2, sizeof(t2), true), 0);
	got = get(c, id);
	assert_string_equal(got->agent_url, "http://10.0.0.9:8080");
	assert_memory_equal(got->agent_token_enc, t2, sizeof(t2));
	db_node_free(got);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE action = 'node.agent' "
	                       "AND JSON_VALUE(payload, '$.node_id') = ? "
	                       "AND payload NOT LIKE '%sealed%'",
	                       DB_UINT(id)),
	                 1);
	assert_db(c, db_node_set_agent(c, 0, 999999, "http://x:1", t2, sizeof(t2), true), -ENOENT);
	assert_db(c, db_node_set_agent(c, 0, id, "ftp://x", t2, sizeof(t2), true), -EINVAL);

	assert_db(c, db_sealed_page(c, DB_SEALED_NODES, id - 1, 1, &rows, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(rows[0].id, id);
	assert_memory_equal(rows[0].blob[0], t2, sizeof(t2));
	assert_null(rows[0].blob[1]);
	old.blob[0] = (uint8_t *)t1, old.len[0] = sizeof(t1); /* not what is stored */
	new.blob[0] = (uint8_t *)t3, new.len[0] = sizeof(t3);
	assert_db(c, db_sealed_replace(c, DB_SEALED_NODES, id, &old, &new), -ESTALE);
	assert_db(c, db_sealed_replace(c, DB_SEALED_NODES, id, &rows[0], &new), 0);
	assert_db(c, db_sealed_replace(c, DB_SEALED_NODES, 999999, &rows[0], &new), -ENOENT);
	old.blob[0] = NULL, old.len[0] = 0;
	assert_db(c, db_sealed_replace(c, DB_SEALED_NODES, id, &old, &new), -EINVAL);
	got = get(c, id);
	assert_memory_equal(got->agent_token_enc, t3, sizeof(t3));
	db_node_free(got);
	db_sealed_rows_free(rows, k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_set_state, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_report, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test_setup_teardown(test_generation, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_agent_and_sealed, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
