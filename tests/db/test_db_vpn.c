// SPDX-License-Identifier: MIT
/*
 * VPN configs and IP assignments against a real MariaDB: every operation, every refusal
 * with its code and nothing stored, the audit rows, the expiry queries, bandwidth
 * accounting, the clean-up sweep, and address reuse after a release. The 32-thread races
 * (one trial, one address) are in test_db_records.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_ip.h"
#include "db_user.h"
#include "db_vpn.h"

#define DAY_US (86400LL * 1000000)

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

static uint64_t new_node_in_state(struct db_conn *c, const char *state)
{
	char key[45], name[32];
	uint64_t id = 0;
	const char *sql = "INSERT INTO nodes (name, agent_url, endpoint, public_key, state) "
	                  "VALUES (?, 'https://agent.example:8443', 'vpn.example:51820', ?, ?)";

	dbtest_make_key(counter, key);
	snprintf(name, sizeof(name), "node-%llu", (unsigned long long)counter++);
	assert_db(c,
	          db_exec_sql(c, sql, strlen(sql),
	                      (struct db_param[]){DB_TEXT(name), DB_TEXT(key), DB_TEXT(state)}, 3,
	                      NULL, &id),
	          0);
	return id;
}

static uint64_t new_node(struct db_conn *c)
{
	return new_node_in_state(c, "active");
}

static struct db_vpn_new wg(uint64_t user, uint64_t node)
{
	return (struct db_vpn_new){.user_id = user,
	                           .node_id = node,
	                           .type = VPN_WIREGUARD,
	                           .name = "phone",
	                           .expires_at_us = db_now_us() + 30 * DAY_US};
}

static uint64_t create(struct db_conn *c, const struct db_vpn_new *n)
{
	uint64_t id = 0;

	assert_db(c, db_vpn_create(c, 0, n, &id), 0);
	assert_true(id > 0);
	return id;
}

static struct db_ip_address ip(const char *text)
{
	struct db_ip_address a;

	assert_int_equal(db_ip_address_parse(text, &a), 0);
	return a;
}

/* ip() for a call that takes a pointer: a slot of a small ring, valid for a while. */
static const struct db_ip_address *ipp(const char *text)
{
	static struct db_ip_address ring[8];
	static unsigned next;
	struct db_ip_address *a = &ring[next++ % ARRAY_SIZE(ring)];

	*a = ip(text);
	return a;
}

static uint64_t audit_count(struct db_conn *c, uint64_t user, const char *action)
{
	return COUNT(c, "SELECT COUNT(*) FROM audit_log WHERE user_id = ? AND action = ?",
	             DB_UINT(user), DB_TEXT(action));
}

static uint64_t live_addresses(struct db_conn *c, uint64_t vpn)
{
	return COUNT(c,
	             "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ? AND "
	             "released_at IS NULL",
	             DB_UINT(vpn));
}

/* ---- addresses (pure) ---- */

static void test_address_text(void **state)
{
	struct db_ip_address a;
	char buf[DB_IP_ADDRESS_STRLEN];

	assert_int_equal(db_ip_address_parse("10.8.0.2", &a), 0);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.bytes, ((uint8_t[]){10, 8, 0, 2}), 4);
	/* one form per address: IPv4-mapped IPv6 is the IPv4 address */
	assert_int_equal(db_ip_address_parse("::ffff:10.8.0.2", &a), 0);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.bytes, ((uint8_t[]){10, 8, 0, 2}), 4);
	assert_int_equal(db_ip_address_parse("FD42:0::02", &a), 0);
	assert_int_equal(a.len, 16);
	assert_int_equal(db_ip_address_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fd42::2");
	static const char *const bad[] = {"",        "10.8.0",    "10.8.0.256", "10.8.0.2/32",
	                                  "fd42::g", " 10.8.0.2", "010.8.0.2"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(db_ip_address_parse(bad[i], &a), -EINVAL);
	a.len = 5;
	assert_int_equal(db_ip_address_format(&a, buf, sizeof(buf)), -EINVAL);
}

/* ---- create, get, list ---- */

static void test_create_and_get(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), id, id2;
	struct db_vpn_new n = wg(u, node);
	struct db_vpn *v = NULL, *list = NULL;
	char key[45];
	size_t len = 0;

	dbtest_make_key(counter++, key);
	n.name = "Pingu's \xf0\x9f\x90\xa7 phone";
	n.config = "{\"dns\": \"1.1.1.1\", \"note\": \"\\\"quoted\\\" \xf0\x9f\x98\x80\"}";
	n.peer_public_key = key;
	id = create(c, &n);
	assert_db(c, db_vpn_get(c, id, &v), 0);
	assert_int_equal(v->id, id);
	assert_int_equal(v->user_id, u);
	assert_int_equal(v->node_id, node);
	assert_int_equal(v->type, VPN_WIREGUARD);
	assert_string_equal(v->name, n.name);
	assert_string_equal(v->config, n.config);
	assert_string_equal(v->peer_public_key, key);
	assert_int_equal(v->status, VPN_PENDING);
	assert_false(v->is_trial);
	assert_int_equal(v->bandwidth_bytes, 0);
	assert_string_equal(v->extra, "{}");
	assert_true(v->created_at_us > 0);
	assert_int_equal(v->expires_at_us, n.expires_at_us);
	assert_int_equal(v->activated_at_us, 0);
	assert_int_equal(v->revoked_at_us, 0);
	v = db_vpn_free(v);

	n = wg(u, node);
	n.type = VPN_OUTLINE;
	n.expires_at_us = 0; /* never */
	id2 = create(c, &n);
	assert_db(c, db_vpn_list_by_user(c, u, 10, &list, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(list[0].id, id2); /* newest first */
	assert_int_equal(list[0].type, VPN_OUTLINE);
	assert_int_equal(list[0].expires_at_us, 0);
	assert_string_equal(list[0].config, "{}");
	assert_null(list[0].peer_public_key);
	assert_int_equal(list[1].id, id);
	list = db_vpns_free(list, len);
	assert_db(c, db_vpn_list_by_user(c, u, 1, &list, &len), 0);
	assert_int_equal(len, 1);
	list = db_vpns_free(list, len);
	assert_db(c, db_vpn_list_by_user(c, 999999999, 10, &list, &len), 0);
	assert_int_equal(len, 0);
	list = db_vpns_free(list, len);

	assert_db(c, db_vpn_get(c, 999999999, &v), -ENOENT);
	assert_null(v);
	assert_int_equal(audit_count(c, u, "vpn.create"), 2);
}

static void test_create_refused(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), banned = dbtest_new_user(c), node = new_node(c),
	         other = new_node(c);
	uint64_t draining = new_node_in_state(c, "draining");
	uint64_t disabled = new_node_in_state(c, "disabled"), id = 0;
	struct db_vpn_new n;
	char key[45], name[130];

	assert_db(c, db_user_set_status(c, 0, banned, USER_BANNED), 0);

	/* who and where */
	n = wg(999999999, node);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -ENOENT);
	n = wg(u, 999999);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -ENOENT);
	n = wg(banned, node);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EPERM);
	n = wg(u, draining);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EPERM);
	n = wg(u, disabled);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EPERM);

	/* what: the schema's constraints */
	static const char *const bad_json[] = {"{", "[1]", "\"x\"", "{\"a\":}", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad_json); i++) {
		n = wg(u, node);
		n.config = bad_json[i];
		assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	}
	n = wg(u, node);
	n.expires_at_us = db_now_us() - DAY_US; /* born expired */
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	n = wg(u, node);
	n.name = "";
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	memset(name, 'x', 129);
	name[129] = '\0';
	n.name = name; /* 129 characters: refused, never cut */
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	n = wg(u, node);
	n.type = _VPN_TYPE_MAX;
	assert_int_equal(db_vpn_create(c, 0, &n, &id), -EINVAL);
	n = wg(u, node);
	n.peer_public_key = "not a key";
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	dbtest_make_key(counter++, key);
	n = wg(u, node);
	n.type = VPN_OUTLINE;
	n.peer_public_key = key; /* Outline has no WireGuard peer */
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EINVAL);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM vpn_configs WHERE user_id IN (?, ?)",
	                       DB_UINT(u), DB_UINT(banned)),
	                 0);
	assert_int_equal(audit_count(c, u, "vpn.create"), 0);

	/* one peer key per node; another node has its own peers */
	n = wg(u, node);
	n.peer_public_key = key;
	create(c, &n);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EEXIST);
	n.node_id = other;
	create(c, &n);
}

/* ---- the one live trial ---- */

static void test_one_trial(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), trial, id = 0;
	struct db_vpn_new n = wg(u, node);

	n.is_trial = true;
	trial = create(c, &n);
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EEXIST);
	assert_non_null(strstr(db_conn_error(c)->message, "vpn_configs_one_active_trial"));
	/* also once it is active, also of another type */
	assert_db(c, db_vpn_activate(c, 0, trial, NULL, NULL, 0), 0);
	n.type = VPN_OUTLINE;
	assert_db(c, db_vpn_create(c, 0, &n, &id), -EEXIST);
	/* paid configs are not limited */
	n.is_trial = false;
	create(c, &n);
	create(c, &n);
	/* once the trial has ended, the database allows another (whether to offer one is
	 * the service's business) */
	assert_db(c, db_vpn_expire(c, 0, trial), 0);
	n.is_trial = true;
	create(c, &n);
	assert_int_equal(audit_count(c, u, "vpn.create"), 4);
}

/* ---- transitions ---- */

static void test_lifecycle(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), id, id2;
	struct db_vpn_new n = wg(u, node);
	struct db_ip_address addrs[] = {ip("10.20.0.2"), ip("fd20::2")};
	struct db_ip_assignment *list = NULL;
	struct db_vpn *v = NULL;
	char *text = NULL;
	size_t len = 0;

	n.is_trial = true;
	id = create(c, &n);
	assert_db(c, db_vpn_revoke(c, 0, id, "x"), 0); /* pending can be revoked */
	assert_db(c, db_vpn_activate(c, 0, id, NULL, NULL, 0), -EPERM);
	n.is_trial = false;
	id = create(c, &n);

	/* activate: the addresses join the config in the same transaction */
	assert_db(
	    c,
	    db_vpn_activate(c, u, id, "{\"address\": \"10.20.0.2/32\"}", addrs, ARRAY_SIZE(addrs)),
	    0);
	assert_db(c, db_vpn_get(c, id, &v), 0);
	assert_int_equal(v->status, VPN_ACTIVE);
	assert_true(v->activated_at_us >= v->created_at_us);
	assert_string_equal(v->config, "{\"address\": \"10.20.0.2/32\"}");
	v = db_vpn_free(v);
	assert_db(c, db_ip_list_node(c, node, NULL, 10, &list, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(list[0].address.len, 4); /* 10. sorts before fd20:: */
	assert_memory_equal(list[0].address.bytes, addrs[0].bytes, 4);
	assert_int_equal(list[1].address.len, 16);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(list[i].vpn_config_id, id);
		assert_int_equal(list[i].user_id, u);
		assert_int_equal(list[i].node_id, node);
		assert_int_equal(list[i].kind, IP_PAID);
		assert_int_equal(list[i].vpn_type, VPN_WIREGUARD);
		assert_int_equal(list[i].released_at_us, 0);
	}
	free(list);
	assert_db(c, db_vpn_activate(c, 0, id, NULL, NULL, 0), -EALREADY);
	assert_db(c, db_vpn_activate(c, 0, 999999999, NULL, NULL, 0), -ENOENT);

	/* revoke: reason and time into extra, addresses released */
	assert_db(c, db_vpn_revoke(c, u, id, "abuse: \"spam\" \xf0\x9f\x9a\xab"), 0);
	assert_db(c, db_vpn_get(c, id, &v), 0);
	assert_int_equal(v->status, VPN_REVOKED);
	assert_true(v->revoked_at_us >= v->activated_at_us);
	v = db_vpn_free(v);
	assert_db(
	    c,
	    dbtest_query_bytes(
	        c, "SELECT JSON_VALUE(extra, '$.revocation.reason') FROM vpn_configs WHERE id = ?",
	        (struct db_param[]){DB_UINT(id)}, 1, &text, NULL),
	    0);
	assert_string_equal(text, "abuse: \"spam\" \xf0\x9f\x9a\xab");
	free(text);
	/* the time is the revocation's, in UTC */
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM vpn_configs WHERE id = ? AND "
	                       "JSON_VALUE(extra, '$.revocation.at') = "
	                       "DATE_FORMAT(revoked_at, '%Y-%m-%dT%H:%i:%s.%fZ')",
	                       DB_UINT(id)),
	                 1);
	assert_int_equal(live_addresses(c, id), 0);
	assert_db(c, db_vpn_revoke(c, u, id, NULL), -EALREADY);
	assert_db(c, db_vpn_expire(c, 0, id), -EPERM);
	assert_db(c, db_vpn_revoke(c, 0, 999999999, NULL), -ENOENT);

	/* expire: from active (and from pending), addresses released */
	id2 = create(c, &n);
	assert_db(c, db_vpn_activate(c, 0, id2, NULL, addrs, 1), 0); /* the address is free again */
	assert_int_equal(live_addresses(c, id2), 1);
	assert_db(c, db_vpn_expire(c, 0, id2), 0);
	assert_int_equal(live_addresses(c, id2), 0);
	assert_db(c, db_vpn_expire(c, 0, id2), -EALREADY);
	assert_db(c, db_vpn_revoke(c, 0, id2, NULL), -EPERM);
	assert_db(c, db_vpn_activate(c, 0, id2, NULL, NULL, 0), -EPERM);
	assert_db(c, db_vpn_expire(c, 0, create(c, &n)), 0);
	assert_db(c, db_vpn_expire(c, 0, 999999999), -ENOENT);

	assert_int_equal(audit_count(c, u, "vpn.activate"), 2);
	assert_int_equal(audit_count(c, u, "vpn.revoke"), 2);
	assert_int_equal(audit_count(c, u, "vpn.expire"), 2);
	assert_int_equal(audit_count(c, u, "ip.assign"), 3);
	assert_int_equal(COUNT(c,
	                       "SELECT JSON_VALUE(payload, '$.addresses_released') FROM audit_log "
	                       "WHERE action = 'vpn.revoke' AND "
	                       "JSON_VALUE(payload, '$.vpn_config_id') = ?",
	                       DB_UINT(id)),
	                 2);
	assert_int_equal(COUNT(c,
	                       "SELECT actor_user_id FROM audit_log WHERE action = 'vpn.activate' "
	                       "AND JSON_VALUE(payload, '$.vpn_config_id') = ?",
	                       DB_UINT(id)),
	                 u);
}

/* An activation either records all its addresses or none, and the config stays pending. */
static void test_activate_atomic(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), first, second;
	struct db_vpn_new n = wg(u, node);
	struct db_ip_address taken = ip("10.30.0.9");
	struct db_ip_address addrs[] = {ip("10.30.0.10"), taken};
	struct db_vpn *v = NULL;

	first = create(c, &n);
	assert_db(c, db_vpn_activate(c, 0, first, NULL, &taken, 1), 0);
	second = create(c, &n);
	assert_db(c, db_vpn_activate(c, 0, second, "{\"x\": 1}", addrs, ARRAY_SIZE(addrs)),
	          -EEXIST);
	assert_db(c, db_vpn_get(c, second, &v), 0);
	assert_int_equal(v->status, VPN_PENDING);
	assert_string_equal(v->config, "{}");
	v = db_vpn_free(v);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ?",
	                       DB_UINT(second)),
	                 0);
	assert_int_equal(audit_count(c, u, "vpn.activate"), 1);
	/* a bad address (neither 4 nor 16 bytes) is refused before anything is sent */
	addrs[0].len = 5;
	assert_int_equal(db_vpn_activate(c, 0, second, NULL, addrs, 1), -EINVAL);
	assert_int_equal(db_vpn_activate(c, 0, second, NULL, NULL, 1), -EINVAL);
	/* a trial's addresses are trial addresses */
	n.is_trial = true;
	uint64_t trial = create(c, &n);
	struct db_ip_address t = ip("10.30.0.11");
	assert_db(c, db_vpn_activate(c, 0, trial, NULL, &t, 1), 0);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id = ? AND "
	                       "kind = 'trial'",
	                       DB_UINT(trial)),
	                 1);
}

/* ---- expiry queries ---- */

static bool listed(const struct db_vpn *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return true;
	return false;
}

static void test_due_and_expired(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), soon, later, never, pending, past;
	uint64_t *to_activate[] = {&soon, &later, &never, &past};
	struct db_vpn_new n = wg(u, node);
	struct db_vpn *v = NULL;
	size_t len = 0;

	n.expires_at_us = db_now_us() + 100LL * 1000000;
	soon = create(c, &n);
	pending = create(c, &n); /* never activated: not due, whatever its expiry */
	n.expires_at_us = db_now_us() + 5000LL * 1000000;
	later = create(c, &n);
	n.expires_at_us = 0;
	never = create(c, &n);
	n.expires_at_us = db_now_us() + 100LL * 1000000;
	past = create(c, &n);
	for (size_t i = 0; i < ARRAY_SIZE(to_activate); i++)
		assert_db(c, db_vpn_activate(c, 0, *to_activate[i], NULL, NULL, 0), 0);
	/* 'past' expired an hour ago (moved back in time by hand) */
	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET created_at = created_at - INTERVAL 2 DAY, "
	              "activated_at = activated_at - INTERVAL 2 DAY, "
	              "expires_at = NOW(6) - INTERVAL 1 HOUR WHERE id = ?",
	              DB_UINT(past)),
	          0);

	assert_db(c, db_vpn_list_due(c, 200, 100, &v, &len), 0);
	assert_true(listed(v, len, soon));
	assert_false(listed(v, len, later) || listed(v, len, never) || listed(v, len, pending) ||
	             listed(v, len, past));
	for (size_t i = 1; i < len; i++)
		assert_true(v[i].expires_at_us >= v[i - 1].expires_at_us);
	v = db_vpns_free(v, len);
	assert_db(c, db_vpn_list_due(c, 6000, 100, &v, &len), 0);
	assert_true(listed(v, len, soon) && listed(v, len, later));
	v = db_vpns_free(v, len);

	assert_db(c, db_vpn_list_expired(c, 100, &v, &len), 0);
	assert_true(listed(v, len, past));
	assert_false(listed(v, len, soon) || listed(v, len, never) || listed(v, len, pending));
	v = db_vpns_free(v, len);
	/* the sweep: once marked expired, it is no longer listed */
	assert_db(c, db_vpn_expire(c, 0, past), 0);
	assert_db(c, db_vpn_list_expired(c, 100, &v, &len), 0);
	assert_false(listed(v, len, past));
	v = db_vpns_free(v, len);
}

/* ---- bandwidth ---- */

static void test_bandwidth(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), id;
	struct db_vpn_new n = wg(u, node);
	struct db_vpn *v = NULL;

	id = create(c, &n);
	assert_db(c, db_vpn_add_bandwidth(c, id, 1000), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 0), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 5ULL << 40), 0); /* 5 TiB */
	/* an overflow is refused, not wrapped */
	assert_db(c, db_vpn_add_bandwidth(c, id, UINT64_MAX), -EINVAL);
	assert_db(c, db_vpn_add_bandwidth(c, 999999999, 1), -ENOENT);
	assert_db(c, db_vpn_get(c, id, &v), 0);
	assert_int_equal(v->bandwidth_bytes, 1000 + (5ULL << 40));
	v = db_vpn_free(v);

	/* in the caller's transaction: a batch is applied whole or not at all */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 1), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 2), 0);
	assert_db(c, db_tx_rollback(c), 0);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 3), 0);
	assert_db(c, db_vpn_add_bandwidth(c, id, 4), 0);
	assert_db(c, db_tx_commit(c), 0);
	assert_db(c, db_vpn_get(c, id, &v), 0);
	assert_int_equal(v->bandwidth_bytes, 1000 + (5ULL << 40) + 7);
	v = db_vpn_free(v);
	/* the functions that open their own transaction refuse to run inside one */
	assert_db(c, db_tx_begin(c), 0);
	assert_int_equal(db_vpn_expire(c, 0, id), -EINVAL);
	assert_db(c, db_tx_rollback(c), 0);
}

/* ---- clean-up ---- */

static void test_cleanup(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), ended, live, released = 99;
	struct db_vpn_new n = wg(u, node);
	struct db_ip_address a[] = {ip("10.40.0.2"), ip("fd40::2"), ip("10.40.0.3")};

	ended = create(c, &n);
	live = create(c, &n);
	assert_db(c, db_vpn_activate(c, 0, ended, NULL, a, 2), 0);
	assert_db(c, db_vpn_activate(c, 0, live, NULL, a + 2, 1), 0);
	/* ended behind the record functions' back: its addresses stay live */
	assert_db(c,
	          SQL(c,
	              "UPDATE vpn_configs SET status = 'revoked', revoked_at = NOW(6) "
	              "WHERE id = ?",
	              DB_UINT(ended)),
	          0);
	assert_int_equal(live_addresses(c, ended), 2);
	assert_db(c, db_vpn_cleanup(c, 0, &released), 0);
	assert_int_equal(released, 2);
	assert_int_equal(live_addresses(c, ended), 0);
	assert_int_equal(live_addresses(c, live), 1);
	assert_db(c, db_vpn_cleanup(c, 0, &released), 0);
	assert_int_equal(released, 0);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'vpn.cleanup' AND "
	                          "JSON_VALUE(payload, '$.released_addresses') = 2"),
	                 1);
}

/* ---- IP assignments ---- */

static void test_ip_record_release(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), node2 = new_node(c), v1, v2, v3, ended;
	uint64_t id = 0, id2 = 0;
	struct db_vpn_new n = wg(u, node);
	struct db_ip_address a = ip("10.50.0.2"), bad = {.len = 5};

	v1 = create(c, &n);
	v2 = create(c, &n);
	n.node_id = node2;
	v3 = create(c, &n);
	n.node_id = node;
	ended = create(c, &n);
	assert_db(c, db_vpn_revoke(c, 0, ended, NULL), 0);

	assert_db(c, db_ip_record(c, u, v1, &a, &id), 0);
	assert_true(id > 0);
	/* the same address on the same node, for another config: refused */
	assert_db(c, db_ip_record(c, 0, v2, &a, &id2), -EEXIST);
	assert_non_null(strstr(db_conn_error(c)->message, "ip_assignments_node_live_address"));
	/* ...and for the same config */
	assert_db(c, db_ip_record(c, 0, v1, &a, &id2), -EEXIST);
	/* another node has its own pool */
	assert_db(c, db_ip_record(c, 0, v3, &a, &id2), 0);
	assert_db(c, db_ip_record(c, 0, ended, ipp("10.50.0.3"), &id2), -EPERM);
	assert_db(c, db_ip_record(c, 0, 999999999, ipp("10.50.0.3"), &id2), -ENOENT);
	assert_int_equal(db_ip_record(c, 0, v1, &bad, &id2), -EINVAL);
	assert_int_equal(db_ip_release(c, 0, node, &bad), -EINVAL);

	/* release, and the address can be recorded again; the old row stays as history */
	assert_db(c, db_ip_release(c, u, node, &a), 0);
	assert_db(c, db_ip_release(c, u, node, &a), -ENOENT);
	assert_db(c, db_ip_release(c, u, 999999, &a), -ENOENT);
	assert_db(c, db_ip_record(c, 0, v2, &a, &id2), 0);
	assert_true(id2 != id);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM ip_assignments WHERE node_id = ? AND "
	                       "address = ?",
	                       DB_UINT(node), DB_BLOB(a.bytes, a.len)),
	                 2);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM ip_assignments WHERE id = ? AND "
	                       "released_at >= assigned_at",
	                       DB_UINT(id)),
	                 1);
	/* reviving the released row would make the address live twice */
	assert_db(c,
	          SQL(c, "UPDATE ip_assignments SET released_at = NULL WHERE id = ?", DB_UINT(id)),
	          -EEXIST);
	assert_int_equal(audit_count(c, u, "ip.assign"), 3);
	assert_int_equal(audit_count(c, u, "ip.release"), 1);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM audit_log WHERE action = 'ip.release' AND "
	                       "JSON_VALUE(payload, '$.address') = '10.50.0.2' AND "
	                       "actor_user_id = ?",
	                       DB_UINT(u)),
	                 1);
}

static void test_ip_list_and_usage(void **state)
{
	struct db_conn *c = *state;
	uint64_t u = dbtest_new_user(c), node = new_node(c), empty = new_node(c), paid, trial;
	struct db_vpn_new n = wg(u, node);
	static const char *const texts[] = {"fd60::1", "10.60.0.3", "10.60.0.1", "fd60::0:2",
	                                    "10.60.1.0"};
	struct db_ip_assignment *page = NULL, *all = NULL;
	struct db_ip_usage *usage = NULL;
	size_t len = 0, n_all = 0, n_usage = 0;

	paid = create(c, &n);
	n.is_trial = true;
	trial = create(c, &n);
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		assert_db(c, db_ip_record(c, 0, i < 3 ? paid : trial, ipp(texts[i]), NULL), 0);
	assert_db(c, db_ip_record(c, 0, paid, ipp("10.60.9.9"), NULL), 0);
	assert_db(c, db_ip_release(c, 0, node, ipp("10.60.9.9")), 0); /* not listed */

	/* pages of 2, in address (byte) order */
	static const char *const want[] = {"10.60.0.1", "10.60.0.3", "10.60.1.0", "fd60::1",
	                                   "fd60::2"};
	struct db_ip_address *after = NULL;
	for (;;) {
		assert_db(c, db_ip_list_node(c, node, after, 2, &page, &len), 0);
		if (len == 0)
			break;
		all = realloc(all, (n_all + len) * sizeof(*all));
		assert_non_null(all);
		memcpy(all + n_all, page, len * sizeof(*page));
		n_all += len;
		free(page);
		page = NULL;
		after = &all[n_all - 1].address;
	}
	free(page);
	assert_int_equal(n_all, ARRAY_SIZE(want));
	for (size_t i = 0; i < n_all; i++) {
		char buf[DB_IP_ADDRESS_STRLEN];

		assert_int_equal(db_ip_address_format(&all[i].address, buf, sizeof(buf)), 0);
		assert_string_equal(buf, want[i]);
	}
	free(all);
	assert_db(c, db_ip_list_node(c, empty, NULL, 10, &page, &len), 0);
	assert_int_equal(len, 0);
	free(page);

	assert_db(c, db_ip_usage(c, &usage, &n_usage), 0);
	bool seen_node = false, seen_empty = false;
	for (size_t i = 0; i < n_usage; i++) {
		if (i > 0)
			assert_true(usage[i].node_id > usage[i - 1].node_id);
		if (usage[i].node_id == node) {
			seen_node = true;
			assert_int_equal(usage[i].live[IP_PAID], 3);
			assert_int_equal(usage[i].live[IP_TRIAL], 2);
		} else if (usage[i].node_id == empty) {
			seen_empty = true;
			assert_int_equal(usage[i].live[IP_PAID], 0);
			assert_int_equal(usage[i].live[IP_TRIAL], 0);
		}
	}
	assert_true(seen_node && seen_empty);
	free(usage);
}

/* Last: everything above went through the triggers; the counters still add up. */
static void test_counters_match(void **state)
{
	dbtest_assert_counters_match(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_text),
	    cmocka_unit_test_setup_teardown(test_create_and_get, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_create_refused, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_one_trial, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_lifecycle, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_activate_atomic, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_due_and_expired, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_bandwidth, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_cleanup, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_ip_record_release, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_ip_list_and_usage, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_counters_match, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
