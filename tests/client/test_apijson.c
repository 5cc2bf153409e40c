// SPDX-License-Identifier: MIT
/*
 * The controller API's objects (controller/apijson.c) against docs/api.md, "Objects":
 * times, counts past 2^63 - 1, a VPN's addresses from its stored config, every field of a
 * hand-built vpn, payment and node by name and value, a node never showing its sealed
 * token, and the status figures, whose sections each add up to their table's size.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apijson.h"
#include "wgfleet/macro.h"

#define S_US(s) ((s)*INT64_C(1000000))
#define KEY_B "PybGzKZG4EgALTViOqU6N/ZN5T4aazO3NFlBvOOK4nk="

/* got must equal the JSON text want (integers and reals told apart); takes got. */
static void assert_json(json_t *got, const char *want)
{
	json_error_t e;
	json_t *w = json_loads(want, JSON_DECODE_ANY, &e);
	char *g;

	if (!w)
		fail_msg("bad expected JSON '%s': %s", want, e.text);
	assert_non_null(got);
	if (!json_equal(got, w)) {
		g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		fail_msg("got  %s\nwant %s", g ? g : "?", want);
	}
	json_decref(w);
	json_decref(got);
}

/* o must be an object with exactly these keys (the field list of docs/api.md). */
static void assert_keys(const json_t *o, const char *const *keys, size_t n)
{
	assert_true(json_is_object(o));
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(o, keys[i]))
			fail_msg("no \"%s\"", keys[i]);
	if (json_object_size(o) != n)
		fail_msg("%zu keys, documented %zu", json_object_size(o), n);
}

static void assert_time(int64_t us, const char *want)
{
	json_t *t = apijson_time(us);

	assert_non_null(t);
	if (!want) {
		assert_true(json_is_null(t));
	} else {
		assert_true(json_is_string(t));
		if (strcmp(json_string_value(t), want))
			fail_msg("%lld: '%s', want '%s'", (long long)us, json_string_value(t),
			         want);
	}
	json_decref(t);
}

static void test_time(void **state)
{
	assert_time(0, NULL);
	assert_time(S_US(1796611289), "2026-12-07T02:41:29Z");
	assert_time(S_US(1796611289) + 999999, "2026-12-07T02:41:29Z");
	assert_time(S_US(1700000000), "2023-11-14T22:13:20Z");
	assert_time(S_US(951782400), "2000-02-29T00:00:00Z");
	assert_time(S_US(253402300799), "9999-12-31T23:59:59Z");
	assert_time(1, "1970-01-01T00:00:00Z");
	assert_time(S_US(1), "1970-01-01T00:00:01Z");
	/* Before 1970 the second is rounded down, not toward zero. */
	assert_time(-1, "1969-12-31T23:59:59Z");
	assert_time(-1000000, "1969-12-31T23:59:59Z");
	assert_time(-1000001, "1969-12-31T23:59:58Z");
	/* The extremes of the type: a string (glibc prints such years in full), no overflow. */
	assert_time(INT64_MAX, "294247-01-10T04:00:54Z");
	assert_time(INT64_MIN, "-290308-12-21T19:59:05Z");
}

static void test_count(void **state)
{
	json_t *c;

	assert_json(apijson_count(0), "0");
	assert_json(apijson_count(1021), "1021");
	c = apijson_count((uint64_t)INT64_MAX);
	assert_true(json_is_integer(c));
	assert_true(json_integer_value(c) == INT64_MAX);
	json_decref(c);
	c = apijson_count((uint64_t)INT64_MAX + 1);
	assert_true(json_is_real(c));
	assert_true(json_real_value(c) == 9223372036854775808.0);
	json_decref(c);
	c = apijson_count(UINT64_MAX);
	assert_true(json_is_real(c));
	assert_true(json_real_value(c) == 18446744073709551616.0);
	json_decref(c);
}

static void test_vpn_addresses(void **state)
{
	assert_json(apijson_vpn_addresses(NULL), "[]");
	assert_json(apijson_vpn_addresses("{}"), "[]");
	assert_json(apijson_vpn_addresses(""), "[]");
	assert_json(apijson_vpn_addresses("{\"addresses\":"), "[]");
	assert_json(apijson_vpn_addresses("not json"), "[]");
	assert_json(apijson_vpn_addresses("[\"10.8.0.2/32\"]"), "[]");
	assert_json(apijson_vpn_addresses("{\"addresses\":\"10.8.0.2/32\"}"), "[]");
	assert_json(apijson_vpn_addresses("{\"addresses\":{\"a\":\"10.8.0.2/32\"}}"), "[]");
	assert_json(apijson_vpn_addresses("{\"addresses\":[]}"), "[]");
	assert_json(apijson_vpn_addresses("{\"addresses\":[\"10.8.0.10/32\",\"fd42:8:0:1::2/128\"],"
	                                  "\"dns\":[\"1.1.1.1\"]}"),
	            "[\"10.8.0.10/32\",\"fd42:8:0:1::2/128\"]");
	/* Only the strings of the array, in order. */
	assert_json(apijson_vpn_addresses("{\"addresses\":[1,\"10.8.0.3/32\",null,[\"x\"],"
	                                  "\"fd42::3/128\"]}"),
	            "[\"10.8.0.3/32\",\"fd42::3/128\"]");
}

static const char *const vpn_keys[] = {
    "id",         "telegram_id",  "node",       "type",       "name",
    "status",     "trial",        "addresses",  "public_key", "bandwidth_bytes",
    "created_at", "activated_at", "expires_at", "revoked_at", "job",
};

static void test_vpn(void **state)
{
	struct db_vpn v = {
	    .id = 42,
	    .user_id = 3,
	    .node_id = 2,
	    .type = VPN_WIREGUARD,
	    .name = "laptop",
	    .config = "{\"addresses\":[\"10.8.0.10/32\",\"fd42:8:0:1::2/128\"]}",
	    .peer_public_key = KEY_B,
	    .status = VPN_ACTIVE,
	    .is_trial = true,
	    .bandwidth_bytes = 10240,
	    .created_at_us = S_US(1796611289),
	    .activated_at_us = S_US(1796611289) + 500000,
	    .expires_at_us = S_US(1796688000),
	    .revoked_at_us = 0,
	};
	struct db_job job = {.id = 77, .kind = JOB_PROVISION, .state = JOB_DONE};
	json_t *o = apijson_vpn(&v, 123456789, "fra1", &job);

	assert_keys(o, vpn_keys, ARRAY_SIZE(vpn_keys));
	assert_json(o, "{\"id\":42,\"telegram_id\":123456789,\"node\":\"fra1\","
	               "\"type\":\"wireguard\",\"name\":\"laptop\",\"status\":\"active\","
	               "\"trial\":true,\"addresses\":[\"10.8.0.10/32\",\"fd42:8:0:1::2/128\"],"
	               "\"public_key\":\"" KEY_B "\",\"bandwidth_bytes\":10240,"
	               "\"created_at\":\"2026-12-07T02:41:29Z\","
	               "\"activated_at\":\"2026-12-07T02:41:29Z\","
	               "\"expires_at\":\"2026-12-08T00:00:00Z\",\"revoked_at\":null,"
	               "\"job\":{\"id\":77,\"state\":\"done\"}}");

	/* Pending, no node, key or job yet, no name, unknown enums, a huge counter. */
	v = (struct db_vpn){
	    .id = 1,
	    .type = (enum vpn_type)99,
	    .config = "{}",
	    .status = (enum vpn_status)_VPN_STATUS_MAX,
	    .bandwidth_bytes = UINT64_MAX,
	    .created_at_us = S_US(1700000000),
	    .revoked_at_us = S_US(951782400),
	};
	o = apijson_vpn(&v, 5, NULL, NULL);
	assert_keys(o, vpn_keys, ARRAY_SIZE(vpn_keys));
	assert_json(o, "{\"id\":1,\"telegram_id\":5,\"node\":null,\"type\":null,\"name\":\"\","
	               "\"status\":null,\"trial\":false,\"addresses\":[],\"public_key\":null,"
	               "\"bandwidth_bytes\":1.8446744073709552e19,"
	               "\"created_at\":\"2023-11-14T22:13:20Z\",\"activated_at\":null,"
	               "\"expires_at\":null,\"revoked_at\":\"2000-02-29T00:00:00Z\",\"job\":null}");

	/* A job in an unknown state still shows its id. */
	job.state = _JOB_STATE_MAX;
	o = apijson_vpn(&v, 5, NULL, &job);
	assert_non_null(o);
	assert_json(json_incref(json_object_get(o, "job")), "{\"id\":77,\"state\":null}");
	json_decref(o);
}

static void test_payment(void **state)
{
	static const char *const keys[] = {
	    "id",           "telegram_id", "method", "amount", "currency",       "vpn_type",
	    "months",       "charge_id",   "status", "vpn_id", "failure_reason", "created_at",
	    "completed_at", "refunded_at",
	};
	struct db_payment p = {
	    .id = 9,
	    .user_id = 3,
	    .method = PAYMENT_STARS,
	    .amount = 250,
	    .currency = "XTR",
	    .status = PAYMENT_REFUNDED,
	    .vpn_type = VPN_WIREGUARD,
	    .months = 3,
	    .provider_charge_id = "stxABC-123",
	    .vpn_config_id = 42,
	    .created_at_us = S_US(1700000000),
	    .completed_at_us = S_US(1700000000) + 1,
	    .refunded_at_us = S_US(1796611289),
	};
	json_t *o = apijson_payment(&p, 123456789);

	assert_keys(o, keys, ARRAY_SIZE(keys));
	assert_json(o, "{\"id\":9,\"telegram_id\":123456789,\"method\":\"stars\",\"amount\":250,"
	               "\"currency\":\"XTR\",\"vpn_type\":\"wireguard\",\"months\":3,"
	               "\"charge_id\":\"stxABC-123\",\"status\":\"refunded\",\"vpn_id\":42,"
	               "\"failure_reason\":null,\"created_at\":\"2023-11-14T22:13:20Z\","
	               "\"completed_at\":\"2023-11-14T22:13:20Z\","
	               "\"refunded_at\":\"2026-12-07T02:41:29Z\"}");

	/* A failed QvaPay payment: no VPN, a reason, no charge id, not completed. */
	p = (struct db_payment){
	    .id = 10,
	    .method = PAYMENT_QVAPAY,
	    .amount = 499,
	    .currency = "USD",
	    .status = PAYMENT_FAILED,
	    .vpn_type = VPN_OUTLINE,
	    .months = 1,
	    .failure_reason = "declined",
	    .created_at_us = S_US(951782400),
	};
	o = apijson_payment(&p, 7);
	assert_keys(o, keys, ARRAY_SIZE(keys));
	assert_json(o, "{\"id\":10,\"telegram_id\":7,\"method\":\"qvapay\",\"amount\":499,"
	               "\"currency\":\"USD\",\"vpn_type\":\"outline\",\"months\":1,"
	               "\"charge_id\":null,\"status\":\"failed\",\"vpn_id\":null,"
	               "\"failure_reason\":\"declined\",\"created_at\":\"2000-02-29T00:00:00Z\","
	               "\"completed_at\":null,\"refunded_at\":null}");
}

static const char *const node_keys[] = {
    "id",     "name",    "agent_url",    "endpoint",   "public_key",     "pools", "state",
    "health", "boot_id", "last_seen_at", "last_error", "free_addresses", "peers",
};

static void test_node(void **state)
{
	static const char token[] = "sealed-agent-token-SECRET";
	struct db_node n = {
	    .id = 2,
	    .name = "fra1",
	    .agent_url = "https://10.0.0.2:8443",
	    .endpoint = "vpn-fra1.example.com:51820",
	    .public_key = KEY_B,
	    .pools = "[{\"prefix\":\"10.8.0.0/22\",\"free\":1017}]",
	    .state = NODE_DRAINING,
	    .health = NODE_HEALTH_HEALTHY,
	    .failed_polls = 0,
	    .agent_token_enc = (uint8_t *)token,
	    .agent_token_enc_len = sizeof(token) - 1,
	    .boot_id = "835063e7-8889-4075-a4df-9adc5834b5a1",
	    .last_seen_at_us = S_US(1796611289),
	    .free_addresses = 1017,
	    .peers = 3,
	    .peer_generation = 7,
	};
	json_t *o = apijson_node(&n);
	char *text, *hex;

	assert_keys(o, node_keys, ARRAY_SIZE(node_keys));
	/* The token, in no form: not as a field, not as text, hex or base64. */
	text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "token"));
	assert_null(strstr(text, "SECRET"));
	hex = malloc(2 * sizeof(token) + 1);
	assert_non_null(hex);
	for (size_t i = 0; i + 1 < sizeof(token); i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)token[i]);
	assert_null(strstr(text, hex));
	assert_null(strstr(text, "c2VhbGVk")); /* base64 of "sealed" */
	free(hex);
	free(text);
	assert_json(o, "{\"id\":2,\"name\":\"fra1\",\"agent_url\":\"https://10.0.0.2:8443\","
	               "\"endpoint\":\"vpn-fra1.example.com:51820\",\"public_key\":\"" KEY_B "\","
	               "\"pools\":[{\"prefix\":\"10.8.0.0/22\",\"free\":1017}],"
	               "\"state\":\"draining\",\"health\":\"healthy\","
	               "\"boot_id\":\"835063e7-8889-4075-a4df-9adc5834b5a1\","
	               "\"last_seen_at\":\"2026-12-07T02:41:29Z\",\"last_error\":null,"
	               "\"free_addresses\":1017,\"peers\":3}");

	/* Never polled, pools not JSON, an error: the same fields. */
	n = (struct db_node){
	    .id = 3,
	    .name = "ams1",
	    .agent_url = "http://[fd00::1]:8080",
	    .endpoint = "[2001:db8::1]:51820",
	    .public_key = KEY_B,
	    .pools = "{\"prefix\"",
	    .state = NODE_DISABLED,
	    .health = NODE_HEALTH_UNHEALTHY,
	    .agent_token_enc = (uint8_t *)token,
	    .agent_token_enc_len = sizeof(token) - 1,
	    .last_error = "connect: Connection refused",
	    .free_addresses = (uint64_t)INT64_MAX + 1,
	};
	o = apijson_node(&n);
	assert_keys(o, node_keys, ARRAY_SIZE(node_keys));
	assert_json(o, "{\"id\":3,\"name\":\"ams1\",\"agent_url\":\"http://[fd00::1]:8080\","
	               "\"endpoint\":\"[2001:db8::1]:51820\",\"public_key\":\"" KEY_B "\","
	               "\"pools\":null,\"state\":\"disabled\",\"health\":\"unhealthy\","
	               "\"boot_id\":null,\"last_seen_at\":null,"
	               "\"last_error\":\"connect: Connection refused\","
	               "\"free_addresses\":9.223372036854775808e18,\"peers\":0}");
}

/* The sum of a status section's values (reals for counts past 2^63 - 1). */
static double section_sum(const json_t *section)
{
	const char *name;
	json_t *v;
	double sum = 0;

	assert_true(json_is_object(section));
	json_object_foreach((json_t *)section, name, v)
	{
		assert_true(json_is_number(v));
		sum += json_number_value(v);
	}
	return sum;
}

static void test_status(void **state)
{
	struct db_node nodes[] = {
	    {.name = "fra1",
	     .state = NODE_ACTIVE,
	     .health = NODE_HEALTH_HEALTHY,
	     .peers = 3,
	     .free_addresses = 1017,
	     .agent_token_enc = (uint8_t *)"tok",
	     .agent_token_enc_len = 3},
	    {.name = "ams1", .state = NODE_DRAINING, .health = NODE_HEALTH_UNKNOWN},
	};
	struct db_status st = {0};
	json_t *o;

	/* Figures as db_status gives them: "all" is each table's size; the other breakdowns
	 * (admins, by type, trial/paid, the per-node and per-method figures) overlap the
	 * statuses and must stay out of the sections. */
	st.users.by_status[USER_ACTIVE] = 120;
	st.users.by_status[USER_BANNED] = 3;
	st.users.all = 123;
	st.users.admins = 2;
	st.vpn.by_status[VPN_PENDING] = 1;
	st.vpn.by_status[VPN_ACTIVE] = 80;
	st.vpn.by_status[VPN_EXPIRED] = 30;
	st.vpn.by_status[VPN_REVOKED] = 4;
	st.vpn.all = 115;
	st.vpn.by_type[VPN_WIREGUARD] = 115;
	st.vpn.trial = 40;
	st.vpn.paid = 75;
	st.vpn.bandwidth_bytes = 1 << 30;
	st.payments.by_status[PAYMENT_PENDING] = 5;
	st.payments.by_status[PAYMENT_COMPLETED] = 70;
	st.payments.by_status[PAYMENT_FAILED] = 6;
	st.payments.by_status[PAYMENT_REFUNDED] = 1;
	st.payments.all = 82;
	st.nodes_by_state[NODE_ACTIVE] = 1;
	st.nodes_by_state[NODE_DRAINING] = 1;
	st.jobs_by_state[JOB_PENDING] = 2;
	st.jobs_by_state[JOB_RUNNING] = 1;
	st.jobs_by_state[JOB_DONE] = 400;
	st.jobs_by_state[JOB_FAILED] = 7;

	o = apijson_status(&st, nodes, ARRAY_SIZE(nodes));
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 5);
	assert_true(section_sum(json_object_get(o, "users")) == (double)st.users.all);
	assert_true(section_sum(json_object_get(o, "vpns")) == (double)st.vpn.all);
	assert_true(section_sum(json_object_get(o, "payments")) == (double)st.payments.all);
	assert_true(section_sum(json_object_get(o, "jobs")) == 410);
	assert_json(o, "{\"users\":{\"active\":120,\"banned\":3},"
	               "\"vpns\":{\"pending\":1,\"active\":80,\"expired\":30,\"revoked\":4},"
	               "\"payments\":{\"pending\":5,\"completed\":70,\"failed\":6,\"refunded\":1},"
	               "\"jobs\":{\"pending\":2,\"running\":1,\"done\":400,\"failed\":7},"
	               "\"nodes\":[{\"name\":\"fra1\",\"state\":\"active\",\"health\":\"healthy\","
	               "\"peers\":3,\"free_addresses\":1017},"
	               "{\"name\":\"ams1\",\"state\":\"draining\",\"health\":\"unknown\","
	               "\"peers\":0,\"free_addresses\":0}]}");

	/* An empty fleet: every state listed with 0, so each section still sums to 0. */
	memset(&st, 0, sizeof(st));
	assert_json(apijson_status(&st, NULL, 0),
	            "{\"users\":{\"active\":0,\"banned\":0},"
	            "\"vpns\":{\"pending\":0,\"active\":0,\"expired\":0,\"revoked\":0},"
	            "\"payments\":{\"pending\":0,\"completed\":0,\"failed\":0,\"refunded\":0},"
	            "\"jobs\":{\"pending\":0,\"running\":0,\"done\":0,\"failed\":0},"
	            "\"nodes\":[]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time),          cmocka_unit_test(test_count),
	    cmocka_unit_test(test_vpn_addresses), cmocka_unit_test(test_vpn),
	    cmocka_unit_test(test_payment),       cmocka_unit_test(test_node),
	    cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
