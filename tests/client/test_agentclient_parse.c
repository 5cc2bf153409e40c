// SPDX-License-Identifier: MIT
/*
 * The pure half of the agent client (controller/agentclient.c): HTTP status to -errno,
 * error bodies, every answer parser on the documented examples and on answers that are
 * missing a field or have one of the wrong type, and the request bodies (exact JSON,
 * canonical keys, and every bad argument refused with a message and no body).
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

#include "agentclient.h"
#include "wgfleet/macro.h"

#define KEY_A "Hsd/I+0IMwaRWR9cmv7IqOglnkOiX5HHwOaslJV38/4="
#define KEY_B "PybGzKZG4EgALTViOqU6N/ZN5T4aazO3NFlBvOOK4nk="
#define PSK "61N8XdMblAQfUZLLDcKqMNJhp830tkWv8QpO6LpnYH8="

static void test_status_mapping(void **state)
{
	static const struct {
		long status;
		int want;
	} cases[] = {
	    {200, 0},       {201, 0},       {204, 0},       {301, -EPROTO}, {100, -EPROTO},
	    {400, -EINVAL}, {401, -EACCES}, {403, -EACCES}, {404, -ENOENT}, {405, -EINVAL},
	    {409, -EEXIST}, {413, -EINVAL}, {422, -EINVAL}, {500, -EIO},    {502, -EIO},
	    {503, -EIO},    {507, -ENOSPC}, {0, -EPROTO},
	};
	struct agent_error err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&err, 0x55, sizeof(err));
		assert_int_equal(agent_status_to_errno(cases[i].status, NULL, 0, &err),
		                 cases[i].want);
		if (cases[i].want < 0) {
			assert_int_equal(err.http_status, cases[i].status);
			assert_string_equal(err.code, "");
			assert_non_null(strstr(err.message, "without an API error"));
		}
	}
	assert_int_equal(agent_status_to_errno(409, NULL, 0, NULL), -EEXIST);
}

static void test_error_body(void **state)
{
	const char *body = "{\"error\":{\"code\":\"stale_generation\",\"message\":\"generation 6 "
	                   "is older than the current 7\"}}";
	const char *hostile = "{\"error\":{\"code\":\"x\\u001b[2J\",\"message\":\"a\\nb\"}}";
	struct agent_error err;

	assert_int_equal(agent_status_to_errno(409, body, strlen(body), &err), -EEXIST);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.code, "stale_generation");
	assert_string_equal(err.message, "generation 6 is older than the current 7");
	/* Control characters from the agent never reach a log line. */
	assert_int_equal(agent_status_to_errno(400, hostile, strlen(hostile), &err), -EINVAL);
	assert_string_equal(err.code, "x?[2J");
	assert_string_equal(err.message, "a?b");
	/* An HTML error page from something in between. */
	assert_int_equal(agent_status_to_errno(502, "<html>", 6, &err), -EIO);
	assert_string_equal(err.code, "");
	assert_string_equal(err.message, "HTTP status 502 without an API error");
}

static void test_retryable(void **state)
{
	const int yes[] = {-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ENETUNREACH,
	                   -ECONNRESET,   -EIO,       -ENOSPC,       -ENOMEM};
	const int no[] = {0, -EACCES, -ENOENT, -EEXIST, -EINVAL, -EPROTO, -EFBIG};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		assert_true(agent_error_retryable(yes[i]));
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		assert_false(agent_error_retryable(no[i]));
}

/* The example of docs/api.md, with a second (IPv6 /64) pool whose size is a float. */
static const char info_example[] =
    "{\"public_key\":\"" KEY_A "\",\"interface\":\"wg0\",\"backend\":\"netlink\","
    "\"listen_port\":51820,\"endpoint\":\"vpn-fra1.example.com:51820\",\"pools\":["
    "{\"prefix\":\"10.8.0.0/22\",\"server_address\":\"10.8.0.1/32\",\"size\":1021,\"used\":3,"
    "\"held\":0,\"quarantined\":1,\"free\":1017},"
    "{\"prefix\":\"fd42:8::/64\",\"server_address\":\"fd42:8::1/128\","
    "\"size\":1.8446744073709552e19,\"used\":3,\"held\":0,\"quarantined\":0,"
    "\"free\":1.8446744073709552e19}],"
    "\"peers\":3,\"boot_id\":\"835063e7-8889-4075-a4df-9adc5834b5a1\",\"generation\":7}";

static void test_info(void **state)
{
	struct agent_info *i = NULL;
	struct agent_error err = {0};

	assert_int_equal(agent_info_parse(info_example, strlen(info_example), &i, &err), 0);
	assert_string_equal(i->public_key, KEY_A);
	assert_string_equal(i->interface, "wg0");
	assert_string_equal(i->backend, "netlink");
	assert_string_equal(i->endpoint, "vpn-fra1.example.com:51820");
	assert_string_equal(i->boot_id, "835063e7-8889-4075-a4df-9adc5834b5a1");
	assert_int_equal(i->listen_port, 51820);
	assert_int_equal(i->peers, 3);
	assert_int_equal(i->generation, 7);
	/* One address from each pool per peer: the smaller pool decides. */
	assert_int_equal(i->free_addresses, 1017);
	assert_non_null(strstr(i->pools_json, "\"prefix\":\"10.8.0.0/22\""));
	assert_int_equal(i->pools_json[0], '[');
	i = agent_info_free(i);
	assert_null(agent_info_free(NULL));
}

static void test_info_saturates(void **state)
{
	const char *j = "{\"public_key\":\"" KEY_A "\",\"interface\":\"wg0\",\"backend\":\"x\","
	                "\"listen_port\":1,\"endpoint\":\"e:1\",\"pools\":[{\"free\":3e30}],"
	                "\"peers\":0,\"boot_id\":\"b\",\"generation\":0}";
	const char *none = "{\"public_key\":\"" KEY_A "\",\"interface\":\"wg0\",\"backend\":\"x\","
	                   "\"listen_port\":1,\"endpoint\":\"e:1\",\"pools\":[],"
	                   "\"peers\":0,\"boot_id\":\"b\",\"generation\":0}";
	struct agent_info *i = NULL;

	assert_int_equal(agent_info_parse(j, strlen(j), &i, NULL), 0);
	assert_true(i->free_addresses == UINT64_MAX);
	i = agent_info_free(i);
	assert_int_equal(agent_info_parse(none, strlen(none), &i, NULL), 0);
	assert_int_equal(i->free_addresses, 0);
	agent_info_free(i);
}

/* Replace the first occurrence of from in info_example with to. */
static char *info_with(const char *from, const char *to)
{
	const char *p = strstr(info_example, from);
	char *s;

	assert_non_null(p);
	assert_true(asprintf(&s, "%.*s%s%s", (int)(p - info_example), info_example, to,
	                     p + strlen(from)) > 0);
	return s;
}

static void test_info_bad(void **state)
{
	static const struct {
		const char *from, *to, *why;
	} cases[] = {
	    {"\"interface\":\"wg0\",", "", "\"interface\" is missing"},
	    {"\"interface\":\"wg0\"", "\"interface\":7", "\"interface\" is not a printable string"},
	    {"\"interface\":\"wg0\"", "\"interface\":\"w\\u0007g\"", "printable"},
	    {KEY_A, "not-a-key", "not a base64 WireGuard key"},
	    {"\"listen_port\":51820", "\"listen_port\":70000", "\"listen_port\""},
	    {"\"listen_port\":51820", "\"listen_port\":\"51820\"", "\"listen_port\""},
	    {"\"generation\":7", "\"generation\":-1", "\"generation\""},
	    {"\"peers\":3", "\"peers\":3.5", "\"peers\""},
	    {"\"free\":1017", "\"free\":-1", "\"free\""},
	    {"\"free\":1017", "\"free\":null", "\"free\""},
	    {"\"boot_id\":\"835063e7-8889-4075-a4df-9adc5834b5a1\"", "\"boot_id\":null",
	     "\"boot_id\" is missing"},
	    {"\"pools\":[", "\"pools\":7,\"more\":[", "\"pools\" is not an array"},
	};
	struct agent_info *i = NULL;
	struct agent_error err;

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		char *s = info_with(cases[k].from, cases[k].to);

		memset(&err, 0, sizeof(err));
		assert_int_equal(agent_info_parse(s, strlen(s), &i, &err), -EPROTO);
		assert_null(i);
		if (!strstr(err.message, cases[k].why))
			fail_msg("case %zu: message '%s' lacks '%s'", k, err.message, cases[k].why);
		free(s);
	}
	/* Not JSON, not an object, duplicate keys. */
	assert_int_equal(agent_info_parse("{", 1, &i, &err), -EPROTO);
	assert_int_equal(agent_info_parse("[]", 2, &i, &err), -EPROTO);
	assert_int_equal(agent_info_parse("{\"a\":1,\"a\":2}", 13, &i, &err), -EPROTO);
	assert_int_equal(agent_info_parse(NULL, 0, &i, &err), -EPROTO);
	assert_null(i);
}

static void test_peer_post_answer(void **state)
{
	const char *j = "{\"public_key\":\"" KEY_B "\",\"addresses\":[\"10.8.0.10/32\","
	                "\"fd42:8:0:1::2/128\"],\"persistent_keepalive\":25,\"preshared_key\":true,"
	                "\"created\":true,\"server_public_key\":\"" KEY_A "\","
	                "\"endpoint\":\"vpn-fra1.example.com:51820\"}";
	struct agent_peer *p = NULL;

	assert_int_equal(agent_peer_parse(j, strlen(j), &p, NULL), 0);
	assert_string_equal(p->public_key, KEY_B);
	assert_int_equal(p->n_addresses, 2);
	assert_string_equal(p->addresses[0], "10.8.0.10/32");
	assert_string_equal(p->addresses[1], "fd42:8:0:1::2/128");
	assert_int_equal(p->persistent_keepalive, 25);
	assert_true(p->has_preshared_key);
	assert_true(p->created);
	assert_string_equal(p->server_public_key, KEY_A);
	assert_string_equal(p->server_endpoint, "vpn-fra1.example.com:51820");
	assert_null(p->endpoint);
	agent_peer_free(p);
	assert_null(agent_peer_free(NULL));
}

static const char list_example[] =
    "{\"count\":2,\"peers\":["
    "{\"public_key\":\"" KEY_B "\",\"addresses\":[\"10.8.0.10/32\",\"fd42:8:0:1::2/128\"],"
    "\"preshared_key\":false,\"persistent_keepalive\":25,\"disabled\":false,"
    "\"created\":1718000000,\"updated\":1718000000,\"endpoint\":\"203.0.113.7:40112\","
    "\"latest_handshake\":1718000123,\"rx_bytes\":10240,\"tx_bytes\":8812,\"on_device\":true},"
    "{\"public_key\":\"" KEY_A "\",\"addresses\":[\"10.8.0.11/32\"],\"preshared_key\":true,"
    "\"persistent_keepalive\":0,\"disabled\":false,\"created\":1,\"updated\":1,"
    "\"endpoint\":null,\"latest_handshake\":0,\"rx_bytes\":0,\"tx_bytes\":0,"
    "\"on_device\":false}]}";

static void test_peers_list(void **state)
{
	struct agent_peer *p = NULL;
	size_t n = 0;

	assert_int_equal(agent_peers_parse(list_example, strlen(list_example), &p, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].public_key, KEY_B);
	assert_false(p[0].created); /* a timestamp here, not the POST flag */
	assert_true(p[0].on_device);
	assert_string_equal(p[0].endpoint, "203.0.113.7:40112");
	assert_int_equal(p[0].latest_handshake, 1718000123);
	assert_int_equal(p[0].rx_bytes, 10240);
	assert_int_equal(p[0].tx_bytes, 8812);
	assert_null(p[0].server_public_key);
	assert_false(p[1].on_device);
	assert_null(p[1].endpoint);
	assert_true(p[1].has_preshared_key);
	assert_int_equal(p[1].n_addresses, 1);
	agent_peers_free(p, n);

	assert_int_equal(agent_peers_parse("{\"count\":0,\"peers\":[]}", 22, &p, &n, NULL), 0);
	assert_int_equal(n, 0);
	agent_peers_free(p, n);
}

static void test_peers_bad(void **state)
{
	static const char *const bad[] = {
	    "{\"count\":0}",
	    "{\"peers\":[{\"addresses\":[]}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\"}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[\"10.8.0.300\"]}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[5]}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],\"rx_bytes\":-5}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],\"on_device\":1}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],"
	    "\"persistent_keepalive\":65536}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],"
	    "\"server_public_key\":\"" KEY_B "\"}]}", /* a POST answer without "created" */
	    "{\"peers\":[7]}",
	};
	struct agent_peer *p = NULL;
	struct agent_error err;
	size_t n = 99;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err.message[0] = '\0';
		if (agent_peers_parse(bad[i], strlen(bad[i]), &p, &n, &err) != -EPROTO)
			fail_msg("case %zu accepted", i);
		assert_null(p);
		assert_int_equal(n, 99);
		assert_non_null(strstr(err.message, "unexpected answer from the agent"));
	}
}

static void test_put_result(void **state)
{
	const char *j = "{\"generation\":8,\"added\":1,\"removed\":2,\"updated\":0,\"peers\":["
	                "{\"public_key\":\"" KEY_A "\",\"addresses\":[\"10.8.0.2/32\"]}]}";
	struct agent_put_result *r = NULL;

	assert_int_equal(agent_put_result_parse(j, strlen(j), &r, NULL), 0);
	assert_int_equal(r->generation, 8);
	assert_int_equal(r->added, 1);
	assert_int_equal(r->removed, 2);
	assert_int_equal(r->updated, 0);
	assert_int_equal(r->n_peers, 1);
	assert_string_equal(r->peers[0].addresses[0], "10.8.0.2/32");
	agent_put_result_free(r);
	r = NULL;
	assert_int_equal(agent_put_result_parse("{\"generation\":8}", 16, &r, NULL), -EPROTO);
	assert_null(r);
}

static void test_batch_answer(void **state)
{
	const char *j =
	    "{\"peers\":["
	    "{\"public_key\":\"" KEY_B "\",\"addresses\":[\"10.8.0.10/32\"],"
	    "\"persistent_keepalive\":25,\"preshared_key\":true,\"created\":true,"
	    "\"server_public_key\":\"" KEY_A "\",\"endpoint\":\"vpn.example.com:51820\"},"
	    "{\"public_key\":\"" KEY_A "\",\"addresses\":[\"10.8.0.11/32\","
	    "\"fd42::11/128\"],\"persistent_keepalive\":0,\"preshared_key\":false,"
	    "\"created\":false,\"server_public_key\":\"" KEY_A "\","
	    "\"endpoint\":\"vpn.example.com:51820\"}]}";
	static const char *const bad[] = {
	    "{\"count\":1}",
	    "{\"peers\":{}}",
	    "[]",
	    /* a listed peer, not an add answer */
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],\"on_device\":true}]}",
	    /* an add answer without "created" */
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[],"
	    "\"server_public_key\":\"" KEY_B "\"}]}",
	    "{\"peers\":[{\"public_key\":\"" KEY_A "\",\"addresses\":[\"x\"],\"created\":true,"
	    "\"server_public_key\":\"" KEY_B "\"}]}",
	};
	static struct agent_peer sentinel; /* *ret must keep it when parsing fails */
	struct agent_peer *p = NULL, *untouched = &sentinel;
	struct agent_error err;

	assert_int_equal(agent_add_peers_parse(j, strlen(j), 2, &p, NULL), 0);
	assert_string_equal(p[0].public_key, KEY_B);
	assert_true(p[0].created);
	assert_true(p[0].has_preshared_key);
	assert_int_equal(p[0].persistent_keepalive, 25);
	assert_string_equal(p[0].server_public_key, KEY_A);
	assert_string_equal(p[0].server_endpoint, "vpn.example.com:51820");
	assert_string_equal(p[1].public_key, KEY_A);
	assert_false(p[1].created);
	assert_int_equal(p[1].n_addresses, 2);
	assert_string_equal(p[1].addresses[1], "fd42::11/128");
	agent_peers_free(p, 2);

	/* Answers are matched by position: another count than the request's is an error. */
	for (size_t n = 0; n < 4; n++) {
		if (n == 2)
			continue;
		p = untouched;
		memset(&err, 0, sizeof(err));
		assert_int_equal(agent_add_peers_parse(j, strlen(j), n, &p, &err), -EPROTO);
		assert_ptr_equal(p, untouched);
		assert_non_null(strstr(err.message, "answers for"));
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = untouched;
		memset(&err, 0, sizeof(err));
		if (agent_add_peers_parse(bad[i], strlen(bad[i]), 1, &p, &err) != -EPROTO)
			fail_msg("case %zu accepted", i);
		assert_ptr_equal(p, untouched);
		assert_non_null(strstr(err.message, "unexpected answer from the agent"));
	}
}

static void test_post_body(void **state)
{
	const char *addrs[] = {"10.8.0.5", "fd42::5/128"};
	struct agent_peer_req p = {
	    .public_key = KEY_B,
	    .preshared_key = PSK,
	    .persistent_keepalive = 25,
	    .addresses = addrs,
	    .n_addresses = 2,
	    .job_id = "job-\"7\"\\",
	};
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(agent_peers_body(false, 0, &p, 1, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"public_key\":\"" KEY_B "\",\"preshared_key\":\"" PSK "\","
	                          "\"persistent_keepalive\":25,"
	                          "\"addresses\":[\"10.8.0.5/32\",\"fd42::5/128\"],"
	                          "\"job_id\":\"job-\\\"7\\\"\\\\\"}");
	assert_int_equal(len, strlen(body));
	/* A valid JSON object whose job_id decodes back to the original. */
	{
		json_t *j = json_loadb(body, len, 0, NULL);

		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "job_id")), p.job_id);
		json_decref(j);
	}
	agent_body_free(body, len);

	/* The minimum: only the key. */
	p = (struct agent_peer_req){.public_key = KEY_A, .persistent_keepalive = -1};
	assert_int_equal(agent_peers_body(false, 0, &p, 1, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"public_key\":\"" KEY_A "\"}");
	agent_body_free(body, len);
	/* An empty address list is sent as such (PUT: "the peer keeps what it has"). */
	p.addresses = addrs;
	p.n_addresses = 0;
	assert_int_equal(agent_peers_body(false, 0, &p, 1, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"public_key\":\"" KEY_A "\",\"addresses\":[]}");
	agent_body_free(body, len);
}

static void test_put_body(void **state)
{
	const char *addrs[] = {"10.8.0.9"};
	struct agent_peer_req peers[] = {
	    {.public_key = KEY_A, .persistent_keepalive = 0, .job_id = "ignored"},
	    {.public_key = KEY_B,
	     .persistent_keepalive = -1,
	     .preshared_key = PSK,
	     .addresses = addrs,
	     .n_addresses = 1},
	};
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(agent_peers_body(true, 42, peers, 2, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"generation\":42,\"peers\":["
	                          "{\"public_key\":\"" KEY_A "\",\"persistent_keepalive\":0},"
	                          "{\"public_key\":\"" KEY_B "\",\"preshared_key\":\"" PSK "\","
	                          "\"addresses\":[\"10.8.0.9/32\"]}]}");
	agent_body_free(body, len);
	assert_int_equal(agent_peers_body(true, 0, NULL, 0, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"generation\":0,\"peers\":[]}");
	agent_body_free(body, len);
}

static void test_batch_body(void **state)
{
	const char *addrs[] = {"10.8.0.9"};
	struct agent_peer_req peers[] = {
	    {.public_key = KEY_A, .persistent_keepalive = 0, .job_id = "job-a"},
	    {.public_key = KEY_B,
	     .persistent_keepalive = -1,
	     .preshared_key = PSK,
	     .addresses = addrs,
	     .n_addresses = 1},
	};
	struct agent_peer_req *many;
	struct agent_error err;
	char *body = NULL;
	size_t len = 0;

	/* A batch keeps job ids (unlike a PUT) and has no generation. */
	assert_int_equal(agent_peers_batch_body(peers, 2, &body, &len, NULL), 0);
	assert_string_equal(body, "{\"peers\":["
	                          "{\"public_key\":\"" KEY_A "\",\"persistent_keepalive\":0,"
	                          "\"job_id\":\"job-a\"},"
	                          "{\"public_key\":\"" KEY_B "\",\"preshared_key\":\"" PSK "\","
	                          "\"addresses\":[\"10.8.0.9/32\"]}]}");
	assert_int_equal(len, strlen(body));
	agent_body_free(body, len);
	body = NULL;

	/* 1..AGENT_BATCH_MAX peers. */
	many = calloc(AGENT_BATCH_MAX + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= AGENT_BATCH_MAX; i++)
		many[i] = (struct agent_peer_req){.public_key = KEY_A, .persistent_keepalive = -1};
	assert_int_equal(agent_peers_batch_body(many, AGENT_BATCH_MAX, &body, &len, NULL), 0);
	agent_body_free(body, len);
	body = NULL;
	assert_int_equal(agent_peers_batch_body(many, AGENT_BATCH_MAX + 1, &body, &len, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.message, "1..1024"));
	assert_int_equal(agent_peers_batch_body(many, 0, &body, &len, &err), -EINVAL);
	assert_int_equal(agent_peers_batch_body(NULL, 1, &body, &len, &err), -EINVAL);
	assert_null(body);
	free(many);

	/* A bad item is named by its position, job ids included. */
	peers[1].job_id = "";
	assert_int_equal(agent_peers_batch_body(peers, 2, &body, &len, &err), -EINVAL);
	assert_non_null(strstr(err.message, "peer 1: job_id"));
	peers[1].job_id = NULL;
	peers[1].preshared_key = "short";
	assert_int_equal(agent_peers_batch_body(peers, 2, &body, &len, &err), -EINVAL);
	assert_non_null(strstr(err.message, "peer 1: preshared_key"));
	assert_null(body);
}

static void test_body_bad(void **state)
{
	const char *bad_addr[] = {"10.8.0.0/24"}, *bad_addr2[] = {"nope"}, *null_addr[] = {NULL};
	char long_job[130];
	struct {
		struct agent_peer_req p;
		const char *why;
	} cases[] = {
	    {{.public_key = NULL, .persistent_keepalive = -1}, "public_key"},
	    {{.public_key = "abc", .persistent_keepalive = -1}, "public_key"},
	    {{.public_key = KEY_A "x", .persistent_keepalive = -1}, "public_key"},
	    {{.public_key = KEY_A, .preshared_key = "short", .persistent_keepalive = -1},
	     "preshared_key"},
	    {{.public_key = KEY_A,
	      .preshared_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	      .persistent_keepalive = -1},
	     "preshared_key"}, /* all zeros: the agent refuses it too */
	    {{.public_key = KEY_A, .persistent_keepalive = 65536}, "persistent_keepalive"},
	    {{.public_key = KEY_A, .persistent_keepalive = -2}, "persistent_keepalive"},
	    {{.public_key = KEY_A,
	      .persistent_keepalive = -1,
	      .addresses = bad_addr,
	      .n_addresses = 1},
	     "address 0"},
	    {{.public_key = KEY_A,
	      .persistent_keepalive = -1,
	      .addresses = bad_addr2,
	      .n_addresses = 1},
	     "address 0"},
	    {{.public_key = KEY_A,
	      .persistent_keepalive = -1,
	      .addresses = null_addr,
	      .n_addresses = 1},
	     "address 0"},
	    {{.public_key = KEY_A, .persistent_keepalive = -1, .n_addresses = 1}, "n_addresses"},
	    {{.public_key = KEY_A, .persistent_keepalive = -1, .job_id = ""}, "job_id"},
	    {{.public_key = KEY_A, .persistent_keepalive = -1, .job_id = "a\nb"}, "job_id"},
	    {{.public_key = KEY_A, .persistent_keepalive = -1, .job_id = long_job}, "job_id"},
	};
	struct agent_error err;
	char *body = NULL;
	size_t len = 0;

	memset(long_job, 'j', sizeof(long_job) - 1);
	long_job[sizeof(long_job) - 1] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&err, 0, sizeof(err));
		if (agent_peers_body(false, 0, &cases[i].p, 1, &body, &len, &err) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_null(body);
		if (!strstr(err.message, cases[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].why);
		/* And in a PUT set, as the second peer (job_id is not part of a PUT). */
		if (!strcmp(cases[i].why, "job_id"))
			continue;
		struct agent_peer_req set[2] = {{.public_key = KEY_B, .persistent_keepalive = -1},
		                                cases[i].p};
		assert_int_equal(agent_peers_body(true, 1, set, 2, &body, &len, &err), -EINVAL);
		assert_non_null(strstr(err.message, "peer 1"));
		assert_null(body);
	}
	/* POST takes one peer; a generation must fit the API's signed integers. */
	assert_int_equal(agent_peers_body(false, 0, &cases[1].p, 2, &body, &len, &err), -EINVAL);
	assert_int_equal(agent_peers_body(false, 0, NULL, 1, &body, &len, &err), -EINVAL);
	assert_int_equal(agent_peers_body(true, UINT64_MAX, NULL, 0, &body, &len, &err), -EINVAL);
	assert_null(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_mapping),   cmocka_unit_test(test_error_body),
	    cmocka_unit_test(test_retryable),        cmocka_unit_test(test_info),
	    cmocka_unit_test(test_info_saturates),   cmocka_unit_test(test_info_bad),
	    cmocka_unit_test(test_peer_post_answer), cmocka_unit_test(test_peers_list),
	    cmocka_unit_test(test_peers_bad),        cmocka_unit_test(test_put_result),
	    cmocka_unit_test(test_post_body),        cmocka_unit_test(test_put_body),
	    cmocka_unit_test(test_body_bad),         cmocka_unit_test(test_batch_answer),
	    cmocka_unit_test(test_batch_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
