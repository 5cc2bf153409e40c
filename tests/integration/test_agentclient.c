// SPDX-License-Identifier: MIT
/*
 * The agent client (controller/agentclient.c) against a real `wgfleet-agent run` on
 * wireguard-go, driven by agentclient.sh inside the agent's network namespace:
 *
 *   test_agentclient live URL TOKEN SERVER_PUBLIC_KEY IFACE
 *       every call: info (the key wg(8) shows), healthz, add (addresses, job replay,
 *       idempotence, a taken address), get, list, remove, put (generations, a stale one),
 *       a batch add (new and existing peers, job replays across both add calls, a refused
 *       item that changes nothing), a wrong token and bad arguments that change nothing,
 *       an unreachable network
 *   test_agentclient down URL TOKEN     the agent is stopped: -ECONNREFUSED
 *   test_agentclient silent URL         a socket that never answers: -ETIMEDOUT in time
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "agentclient.h"
#include "httpc.h"
#include "wgdev.h"
#include "wgfleet/macro.h"
#include "wgkey.h"

static struct agent_target target;
static const char *server_key, *iface;
static struct httpc *http;

/* A random key whose base64 has '/' and '+', so the path needs percent-encoding. */
static void random_key(char out[static WG_KEY_B64_LEN])
{
	uint8_t k[WG_KEY_LEN];

	do {
		randombytes_buf(k, sizeof(k));
		wg_key_to_base64(out, k);
	} while (!strchr(out, '/') || !strchr(out, '+'));
}

static void expect_ok(int r, const struct agent_error *err, const char *what)
{
	if (r < 0)
		fail_msg("%s: %s (HTTP %u, code '%s': %s)", what, strerror(-r), err->http_status,
		         err->code, err->message);
}

static struct agent_info *info(void)
{
	struct agent_info *i = NULL;
	struct agent_error err = {0};

	expect_ok(agent_get_info(http, &target, &i, &err), &err, "info");
	return i;
}

static bool in_pools(const char *addr)
{
	struct wg_allowedip ip;

	assert_int_equal(wg_allowedip_parse(addr, &ip), 0);
	if (ip.family == AF_INET)
		return strncmp(addr, "10.99.", 6) == 0 && ip.cidr == 32;
	return strncmp(addr, "fd99::", 6) == 0 && ip.cidr == 128;
}

/* The peers wg(8) shows on the interface, one key per line. */
static char *device_peers(void)
{
	char cmd[128], *out = calloc(1, 65536);
	size_t n;
	FILE *p;

	assert_non_null(out);
	snprintf(cmd, sizeof(cmd), "wg show %s peers", iface);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, 65535, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	return out;
}

static char k1[WG_KEY_B64_LEN], k2[WG_KEY_B64_LEN], k3[WG_KEY_B64_LEN], k4[WG_KEY_B64_LEN],
    k6[WG_KEY_B64_LEN], psk[WG_KEY_B64_LEN];
static char k1_addrs[2][64];

static void test_info_and_health(void **state)
{
	struct agent_info *i = info();
	struct agent_error err = {0};
	json_t *pools;
	uint64_t min = UINT64_MAX;
	size_t k;
	json_t *p;

	assert_string_equal(i->public_key, server_key); /* what `wg show IFACE public-key` says */
	assert_string_equal(i->interface, iface);
	assert_string_equal(i->backend, "uapi"); /* wireguard-go: the userspace socket */
	assert_string_equal(i->endpoint, "198.18.0.1:51820");
	assert_int_equal(i->listen_port, 51820);
	assert_int_equal(i->peers, 0);
	assert_int_equal(i->generation, 0);
	assert_int_equal(strlen(i->boot_id), 36);
	/* free_addresses is the smallest pool's free count: the IPv4 /20 here. */
	pools = json_loads(i->pools_json, 0, NULL);
	assert_int_equal(json_array_size(pools), 2);
	json_array_foreach(pools, k, p)
	{
		const json_t *f = json_object_get(p, "free");
		uint64_t v = json_is_integer(f) ? (uint64_t)json_integer_value(f) : UINT64_MAX;

		if (v < min)
			min = v;
	}
	json_decref(pools);
	assert_int_equal(i->free_addresses, min);
	assert_true(i->free_addresses > 4000 && i->free_addresses < 4096);
	agent_info_free(i);
	expect_ok(agent_healthz(http, &target, &err), &err, "healthz");
}

static void test_add(void **state)
{
	struct agent_peer_req req = {
	    .public_key = k1, .preshared_key = psk, .persistent_keepalive = 25, .job_id = "job-1"};
	struct agent_peer *p = NULL, *again = NULL;
	struct agent_error err = {0};
	const char *want[] = {"10.99.0.50"};
	char *dev;

	expect_ok(agent_add_peer(http, &target, &req, &p, &err), &err, "add k1");
	assert_string_equal(p->public_key, k1);
	assert_true(p->created);
	assert_true(p->has_preshared_key);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_int_equal(p->n_addresses, 2);
	assert_true(in_pools(p->addresses[0]) && in_pools(p->addresses[1]));
	assert_string_equal(p->server_public_key, server_key);
	assert_string_equal(p->server_endpoint, "198.18.0.1:51820");
	snprintf(k1_addrs[0], sizeof(k1_addrs[0]), "%s", p->addresses[0]);
	snprintf(k1_addrs[1], sizeof(k1_addrs[1]), "%s", p->addresses[1]);

	/* The same job again, whatever the request says: the first answer. */
	req = (struct agent_peer_req){
	    .public_key = k2, .persistent_keepalive = -1, .job_id = "job-1"};
	expect_ok(agent_add_peer(http, &target, &req, &again, &err), &err, "job replay");
	assert_string_equal(again->public_key, k1);
	assert_true(again->created);
	assert_string_equal(again->addresses[0], p->addresses[0]);
	assert_string_equal(again->addresses[1], p->addresses[1]);
	again = agent_peer_free(again);

	/* The same key without a job: idempotent, same addresses, not created. */
	req = (struct agent_peer_req){.public_key = k1, .persistent_keepalive = -1};
	expect_ok(agent_add_peer(http, &target, &req, &again, &err), &err, "add k1 again");
	assert_false(again->created);
	assert_true(again->has_preshared_key); /* not sent: kept */
	assert_int_equal(again->persistent_keepalive, 25);
	assert_string_equal(again->addresses[0], p->addresses[0]);
	again = agent_peer_free(again);
	p = agent_peer_free(p);

	/* A requested address; then the same address for another key: 409 address_in_use. */
	req = (struct agent_peer_req){
	    .public_key = k3, .persistent_keepalive = 0, .addresses = want, .n_addresses = 1};
	expect_ok(agent_add_peer(http, &target, &req, &p, &err), &err, "add k3");
	assert_true(!strcmp(p->addresses[0], "10.99.0.50/32") ||
	            !strcmp(p->addresses[1], "10.99.0.50/32"));
	p = agent_peer_free(p);
	req.public_key = k4;
	assert_int_equal(agent_add_peer(http, &target, &req, &p, &err), -EEXIST);
	assert_null(p);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.code, "address_in_use");
	assert_false(agent_error_retryable(-EEXIST));

	dev = device_peers();
	assert_non_null(strstr(dev, k1));
	assert_non_null(strstr(dev, k3));
	assert_null(strstr(dev, k4));
	free(dev);
}

static void test_get_and_list(void **state)
{
	struct agent_peer *p = NULL, *all = NULL;
	struct agent_error err = {0};
	struct agent_info *i;
	size_t n = 0;
	bool seen1 = false, seen3 = false;

	expect_ok(agent_get_peer(http, &target, k1, &p, &err), &err, "get k1");
	assert_string_equal(p->public_key, k1);
	assert_true(p->on_device);
	assert_int_equal(p->n_addresses, 2);
	assert_null(p->server_public_key);
	p = agent_peer_free(p);
	assert_int_equal(agent_get_peer(http, &target, k4, &p, &err), -ENOENT);
	assert_int_equal(err.http_status, 404);
	assert_string_equal(err.code, "not_found");

	expect_ok(agent_list_peers(http, &target, &all, &n, &err), &err, "list");
	assert_int_equal(n, 2);
	for (size_t k = 0; k < n; k++) {
		assert_true(all[k].on_device);
		assert_int_equal(all[k].n_addresses, 2);
		/* Counters are there (zero: no client has sent anything yet). */
		assert_int_equal(all[k].rx_bytes, 0);
		assert_int_equal(all[k].tx_bytes, 0);
		assert_int_equal(all[k].latest_handshake, 0);
		if (!strcmp(all[k].public_key, k1)) {
			seen1 = true;
			assert_string_equal(all[k].addresses[0], k1_addrs[0]);
			assert_string_equal(all[k].addresses[1], k1_addrs[1]);
			assert_true(all[k].has_preshared_key);
		}
		seen3 |= !strcmp(all[k].public_key, k3);
	}
	assert_true(seen1 && seen3);
	agent_peers_free(all, n);

	i = info();
	assert_int_equal(i->peers, 2);
	agent_info_free(i);
}

static void test_remove(void **state)
{
	struct agent_error err = {0};
	bool removed = false;
	char *dev;

	expect_ok(agent_remove_peer(http, &target, k3, &removed, &err), &err, "remove k3");
	assert_true(removed);
	expect_ok(agent_remove_peer(http, &target, k3, &removed, &err), &err, "remove k3 again");
	assert_false(removed);
	dev = device_peers();
	assert_null(strstr(dev, k3));
	assert_non_null(strstr(dev, k1));
	free(dev);
}

static void test_put(void **state)
{
	const char *a6[] = {"10.99.0.60"};
	struct agent_peer_req set[] = {
	    {.public_key = k1, .persistent_keepalive = -1},
	    {.public_key = k6, .persistent_keepalive = 10, .addresses = a6, .n_addresses = 1},
	};
	struct agent_put_result *res = NULL;
	struct agent_error err = {0};
	struct agent_info *i;
	char *dev;

	expect_ok(agent_put_peers(http, &target, 5, set, 2, &res, &err), &err, "put 5");
	assert_int_equal(res->generation, 5);
	assert_int_equal(res->added, 1);
	assert_int_equal(res->removed, 0);
	assert_int_equal(res->n_peers, 2);
	for (size_t k = 0; k < res->n_peers; k++) {
		if (!strcmp(res->peers[k].public_key, k1)) {
			assert_string_equal(res->peers[k].addresses[0], k1_addrs[0]);
		} else {
			assert_string_equal(res->peers[k].public_key, k6);
			assert_true(!strcmp(res->peers[k].addresses[0], "10.99.0.60/32") ||
			            !strcmp(res->peers[k].addresses[1], "10.99.0.60/32"));
		}
	}
	res = agent_put_result_free(res);
	i = info();
	assert_int_equal(i->generation, 5);
	assert_int_equal(i->peers, 2);
	agent_info_free(i);

	/* Older: 409 stale_generation, nothing changes. The same again: applied (no-op). */
	assert_int_equal(agent_put_peers(http, &target, 4, set, 1, &res, &err), -EEXIST);
	assert_null(res);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.code, "stale_generation");
	expect_ok(agent_put_peers(http, &target, 5, set, 2, NULL, &err), &err, "put 5 again");
	i = info();
	assert_int_equal(i->peers, 2);
	agent_info_free(i);

	/* Only k6 at generation 6: k1 goes. */
	expect_ok(agent_put_peers(http, &target, 6, &set[1], 1, &res, &err), &err, "put 6");
	assert_int_equal(res->removed, 1);
	assert_int_equal(res->added, 0);
	res = agent_put_result_free(res);
	dev = device_peers();
	assert_null(strstr(dev, k1));
	assert_non_null(strstr(dev, k6));
	free(dev);
}

static bool has_addr(const struct agent_peer *p, const char *addr)
{
	for (size_t i = 0; i < p->n_addresses; i++)
		if (!strcmp(p->addresses[i], addr))
			return true;
	return false;
}

static void same_addrs(const struct agent_peer *a, const struct agent_peer *b)
{
	assert_int_equal(a->n_addresses, b->n_addresses);
	for (size_t i = 0; i < a->n_addresses; i++)
		assert_string_equal(a->addresses[i], b->addresses[i]);
}

/* After test_put the agent holds k6 only; this leaves it so. */
static void test_add_batch(void **state)
{
	char kb[3][WG_KEY_B64_LEN], kx[WG_KEY_B64_LEN], ky[WG_KEY_B64_LEN];
	const char *want[] = {"10.99.0.70"};
	const bool created[] = {true, false, true, true};
	struct agent_peer_req reqs[] = {
	    {.public_key = kb[0],
	     .preshared_key = psk,
	     .persistent_keepalive = 25,
	     .job_id = "batch-0"},
	    {.public_key = k6, .persistent_keepalive = 11}, /* exists: updated */
	    {.public_key = kb[1],
	     .persistent_keepalive = -1,
	     .addresses = want,
	     .n_addresses = 1,
	     .job_id = "batch-2"},
	    {.public_key = kb[2], .persistent_keepalive = -1},
	};
	struct agent_peer_req one = {.public_key = kx, .persistent_keepalive = -1};
	struct agent_peer_req refused[] = {
	    {.public_key = kx, .persistent_keepalive = -1},
	    {.public_key = ky, .persistent_keepalive = -1, .addresses = want, .n_addresses = 1},
	};
	struct agent_peer *p = NULL, *again = NULL, *q = NULL;
	struct agent_error err = {0};
	struct agent_info *before = info(), *after;
	char *dev;
	bool removed;

	for (size_t i = 0; i < 3; i++)
		random_key(kb[i]);
	random_key(kx);
	random_key(ky);
	expect_ok(agent_add_peers(http, &target, reqs, 4, &p, &err), &err, "batch");
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(p[i].public_key, reqs[i].public_key); /* request order */
		assert_int_equal(p[i].created, created[i]);
		assert_int_equal(p[i].n_addresses, 2);
		assert_true(in_pools(p[i].addresses[0]) && in_pools(p[i].addresses[1]));
		assert_string_equal(p[i].server_public_key, server_key);
		assert_string_equal(p[i].server_endpoint, "198.18.0.1:51820");
	}
	assert_true(p[0].has_preshared_key);
	assert_int_equal(p[0].persistent_keepalive, 25);
	assert_int_equal(p[1].persistent_keepalive, 11);
	assert_true(has_addr(&p[1], "10.99.0.60/32")); /* k6 keeps its addresses */
	assert_true(has_addr(&p[2], "10.99.0.70/32"));
	after = info();
	assert_int_equal(after->peers, before->peers + 3);
	assert_int_equal(after->free_addresses, before->free_addresses - 3);
	agent_info_free(after);
	dev = device_peers();
	for (size_t i = 0; i < 3; i++)
		assert_non_null(strstr(dev, kb[i]));
	free(dev);

	/* Again: the job items replay their first answers, the others are now existing. */
	expect_ok(agent_add_peers(http, &target, reqs, 4, &again, &err), &err, "batch again");
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(again[i].public_key, reqs[i].public_key);
		assert_int_equal(again[i].created, i == 0 || i == 2);
		same_addrs(&again[i], &p[i]);
	}
	again = agent_peers_free(again, 4);

	/* Job ids are shared with the single add, both ways, whatever the request says. */
	one.job_id = "batch-2";
	expect_ok(agent_add_peer(http, &target, &one, &q, &err), &err, "single replays batch");
	assert_string_equal(q->public_key, kb[1]);
	assert_true(q->created);
	same_addrs(q, &p[2]);
	q = agent_peer_free(q);
	one.job_id = "job-1"; /* test_add's, for k1 (removed since) */
	expect_ok(agent_add_peers(http, &target, &one, 1, &again, &err), &err,
	          "batch replays single");
	assert_string_equal(again[0].public_key, k1);
	assert_true(again[0].created);
	assert_string_equal(again[0].addresses[0], k1_addrs[0]);
	again = agent_peers_free(again, 1);
	assert_int_equal(agent_get_peer(http, &target, kx, &q, &err), -ENOENT);

	/* One refused item (an address kb[1] has): the error is its, nothing changes. */
	before = agent_info_free(before);
	before = info();
	assert_int_equal(agent_add_peers(http, &target, refused, 2, &again, &err), -EEXIST);
	assert_null(again);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.code, "address_in_use");
	assert_int_equal(strncmp(err.message, "peers[1]: ", 10), 0);
	assert_int_equal(agent_get_peer(http, &target, kx, &q, &err), -ENOENT);
	/* A key twice is the agent's 400; no peers and too many never leave the process. */
	refused[1] = refused[0];
	assert_int_equal(agent_add_peers(http, &target, refused, 2, &again, &err), -EINVAL);
	assert_int_equal(err.http_status, 400);
	assert_string_equal(err.code, "invalid_value");
	assert_int_equal(agent_add_peers(http, &target, refused, 0, &again, &err), -EINVAL);
	assert_int_equal(err.http_status, 0);
	assert_int_equal(agent_add_peers(http, &target, NULL, AGENT_BATCH_MAX + 1, &again, &err),
	                 -EINVAL);
	assert_null(again);
	after = info();
	assert_int_equal(after->peers, before->peers);
	assert_int_equal(after->free_addresses, before->free_addresses);
	agent_info_free(after);
	agent_info_free(before);

	for (size_t i = 0; i < 3; i++) {
		expect_ok(agent_remove_peer(http, &target, kb[i], &removed, &err), &err, "remove");
		assert_true(removed);
	}
	agent_peers_free(p, 4);
}

/* Refused requests: nothing reaches the agent's state. */
static void test_refused(void **state)
{
	struct agent_target wrong = {.url = target.url, .token = "not-the-token"};
	struct agent_target bad_url = {.url = "ftp://127.0.0.1:8080", .token = target.token};
	struct agent_target slash = {.url = NULL, .token = target.token};
	struct agent_peer_req req = {.public_key = k2, .persistent_keepalive = -1};
	struct agent_peer_req bad = {.public_key = "bm90IGEga2V5", .persistent_keepalive = -1};
	struct agent_info *before = info(), *after, *i = NULL;
	struct agent_peer *p = NULL;
	struct agent_error err = {0};
	char url[256];
	bool removed = true;

	assert_int_equal(agent_get_info(http, &wrong, &i, &err), -EACCES);
	assert_null(i);
	assert_int_equal(err.http_status, 401);
	assert_string_equal(err.code, "unauthorized");
	assert_null(strstr(err.message, "not-the-token"));
	assert_int_equal(agent_add_peer(http, &wrong, &req, &p, &err), -EACCES);
	assert_int_equal(agent_remove_peer(http, &wrong, k6, &removed, &err), -EACCES);
	assert_true(removed); /* untouched on failure */
	assert_int_equal(agent_put_peers(http, &wrong, 99, NULL, 0, NULL, &err), -EACCES);
	assert_false(agent_error_retryable(-EACCES));

	/* Bad arguments never leave the process. */
	assert_int_equal(agent_add_peer(http, &target, &bad, &p, &err), -EINVAL);
	assert_int_equal(err.http_status, 0);
	assert_int_equal(agent_put_peers(http, &target, 99, &bad, 1, NULL, &err), -EINVAL);
	assert_int_equal(agent_remove_peer(http, &target, "a/b", &removed, &err), -EINVAL);
	assert_int_equal(agent_get_peer(http, &target, NULL, &p, &err), -EINVAL);
	assert_int_equal(agent_get_info(http, &bad_url, &i, &err), -EINVAL);
	assert_int_equal(agent_get_info(http, &slash, &i, &err), -EINVAL);
	assert_null(p);
	assert_null(i);

	/* A trailing slash on the URL is fine. */
	snprintf(url, sizeof(url), "%s/", target.url);
	slash.url = url;
	expect_ok(agent_get_info(http, &slash, &i, &err), &err, "info with a trailing slash");
	i = agent_info_free(i);

	after = info();
	assert_int_equal(after->generation, before->generation);
	assert_int_equal(after->peers, before->peers);
	assert_int_equal(after->free_addresses, before->free_addresses);
	assert_string_equal(after->boot_id, before->boot_id);
	agent_info_free(before);
	agent_info_free(after);
}

static void test_unreachable(void **state)
{
	/* The namespace has a loopback and nothing else: no route to 192.0.2.1. */
	struct agent_target t = {.url = "http://192.0.2.1:8080", .token = target.token};
	struct agent_error err = {0};
	struct agent_info *i = NULL;
	int r = agent_get_info(http, &t, &i, &err);

	print_message("unreachable: %s\n", err.message);
	assert_int_equal(r, -ENETUNREACH);
	assert_int_equal(err.http_status, 0);
	assert_true(agent_error_retryable(r));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_down(void **state)
{
	struct agent_error err = {0};
	struct agent_info *i = NULL;
	int r = agent_get_info(http, &target, &i, &err);

	print_message("down: %s\n", err.message);
	assert_int_equal(r, -ECONNREFUSED);
	assert_null(i);
	assert_int_equal(err.http_status, 0);
	assert_non_null(strstr(err.message, "GET /v1/info: "));
	assert_true(agent_error_retryable(r));
	assert_int_equal(agent_healthz(http, &target, &err), -ECONNREFUSED);
}

static void test_silent(void **state)
{
	struct httpc_options o = {.timeout_ms = 500};
	struct agent_error err = {0};
	struct agent_info *i = NULL;
	struct httpc *h = NULL;
	int64_t t0, dt;
	int r;

	assert_int_equal(httpc_new(&o, &h), 0);
	t0 = now_ms();
	r = agent_get_info(h, &target, &i, &err);
	dt = now_ms() - t0;
	print_message("silent: %s after %lld ms\n", err.message, (long long)dt);
	assert_int_equal(r, -ETIMEDOUT);
	assert_null(i);
	assert_true(dt >= 450 && dt < 2000);
	assert_true(agent_error_retryable(r));
	httpc_free(h);
}

static int setup(void **state)
{
	if (httpc_global_init() < 0 || httpc_new(NULL, &http) < 0)
		return -1;
	random_key(k1);
	random_key(k2);
	random_key(k3);
	random_key(k4);
	random_key(k6);
	random_key(psk);
	return 0;
}

static int teardown(void **state)
{
	http = httpc_free(http);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_info_and_health),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_get_and_list),
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_put),
	    cmocka_unit_test(test_add_batch),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_unreachable),
	};
	const struct CMUnitTest down[] = {cmocka_unit_test(test_down)};
	const struct CMUnitTest silent[] = {cmocka_unit_test(test_silent)};

	if (argc == 6 && !strcmp(argv[1], "live")) {
		target = (struct agent_target){.url = argv[2], .token = argv[3]};
		server_key = argv[4];
		iface = argv[5];
		return cmocka_run_group_tests(live, setup, teardown);
	}
	if (argc == 4 && !strcmp(argv[1], "down")) {
		target = (struct agent_target){.url = argv[2], .token = argv[3]};
		return cmocka_run_group_tests(down, setup, teardown);
	}
	if (argc == 3 && !strcmp(argv[1], "silent")) {
		target = (struct agent_target){.url = argv[2], .token = "x"};
		return cmocka_run_group_tests(silent, setup, teardown);
	}
	fprintf(stderr,
	        "usage: %s live URL TOKEN SERVER_PUBLIC_KEY IFACE | down URL TOKEN | "
	        "silent URL\n",
	        argv[0]);
	return 2;
}
