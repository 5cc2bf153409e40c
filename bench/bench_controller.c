// SPDX-License-Identifier: MIT
/*
 * The load client of bench/run-controller.sh: end-to-end provisions against a running
 * wgfleet-controller. Each of CLIENTS threads registers its own user, then sends
 * POST /v1/users/{id}/vpns?wait=30 one after another; the controller answers 201 only
 * once the agent has put the peer on its device, so one answer is one provision from the
 * API call to the peer present on the node. Latency is taken per request, the rate over
 * the whole timed run (all threads start together at a barrier).
 *
 *   bench_controller URL TOKEN_FILE CLIENTS REQUESTS_PER_CLIENT TELEGRAM_ID_BASE
 *
 * Prints one line "provision|CLIENTS|N|SECONDS|PER_SECOND|P50_MS|P90_MS|P99_MS|MAX_MS|
 * FAILED|CLIENT_CPU_US_PER_REQUEST": a request that is not a 201 with status "active" is
 * failed, and any failure exits 1. The client's own CPU time per request shows whether
 * the client could be the bottleneck (it is not when it is far below the latency).
 * Each thread keeps one libcurl handle (common/httpc.h), so connections stay alive.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "http.h"
#include "httpc.h"

#define WARMUP 2 /* untimed requests per client: connections up, caches warm */

int main(int argc, char **argv);

struct client {
	pthread_t thread;
	const char *url, *token;
	uint64_t telegram_id;
	unsigned n;
	pthread_barrier_t *start;
	double *lat_ms; /* n latencies */
	unsigned failed;
	int error; /* 0, or -errno of a request that could not be made */
	char err[256];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One request; 1 when the answer is `want` (and for a VPN: active), 0 when not, -errno. */
static int request(struct client *c, struct httpc *h, const char *method, const char *path,
		   const char *body, long want, bool want_active)
{
	char url[512];
	struct httpc_response resp = {0};
	int r;

	snprintf(url, sizeof(url), "%s%s", c->url, path);
	r = httpc_request(h, method, url, c->token, NULL, body, strlen(body), "application/json",
			  0, &resp, c->err, sizeof(c->err));
	if (r < 0)
		return r;
	r = resp.status == want;
	if (r && want_active) {
		json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
		const char *st = json_string_value(json_object_get(j, "status"));

		r = st && strcmp(st, "active") == 0;
		json_decref(j);
	}
	if (!r)
		snprintf(c->err, sizeof(c->err), "%s %s: %ld %.200s", method, path, resp.status,
			 resp.body ? resp.body : "");
	httpc_response_done(&resp);
	return r;
}

static void *client_run(void *arg)
{
	struct client *c = arg;
	struct httpc_options o = {.timeout_ms = 60000};
	struct httpc *h = NULL;
	char path[128];
	const char *vpn = "{\"type\":\"wireguard\"}";
	int r;

	r = httpc_new(&o, &h);
	if (r < 0) {
		c->error = r;
		goto wait;
	}
	snprintf(path, sizeof(path), "/v1/users/%" PRIu64, c->telegram_id);
	r = request(c, h, "PUT", path, "{\"username\":\"bench\"}", 201, false);
	if (r <= 0) {
		/* The user may be left from an earlier round: 200 is fine then. */
		r = request(c, h, "PUT", path, "{\"username\":\"bench\"}", 200, false);
		if (r <= 0) {
			c->error = r < 0 ? r : -EPROTO;
			goto wait;
		}
	}
	snprintf(path, sizeof(path), "/v1/users/%" PRIu64 "/vpns?wait=30", c->telegram_id);
	for (unsigned i = 0; i < WARMUP; i++) {
		r = request(c, h, "POST", path, vpn, 201, true);
		if (r <= 0) {
			c->error = r < 0 ? r : -EPROTO;
			goto wait;
		}
	}
wait:
	pthread_barrier_wait(c->start);
	if (c->error)
		goto out;
	for (unsigned i = 0; i < c->n; i++) {
		double t0 = now_ms();

		r = request(c, h, "POST", path, vpn, 201, true);
		c->lat_ms[i] = now_ms() - t0;
		if (r < 0) {
			c->error = r;
			break;
		}
		if (r == 0)
			c->failed++;
	}
out:
	httpc_free(h);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double percentile(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
	struct client *cs = NULL;
	pthread_barrier_t start;
	char *token = NULL, err[256];
	double *all = NULL, t0, t1, cpu0, cpu1;
	unsigned clients, per, failed = 0;
	uint64_t base;
	size_t n = 0;
	int r, rc = 1;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_controller URL TOKEN_FILE CLIENTS "
				"REQUESTS_PER_CLIENT TELEGRAM_ID_BASE\n");
		return 2;
	}
	clients = (unsigned)strtoul(argv[3], NULL, 10);
	per = (unsigned)strtoul(argv[4], NULL, 10);
	base = strtoull(argv[5], NULL, 10);
	if (clients < 1 || clients > 1024 || per < 1 || per > 1000000 || base < 1) {
		fprintf(stderr, "bench_controller: CLIENTS 1..1024, REQUESTS_PER_CLIENT 1..1000000, "
				"TELEGRAM_ID_BASE > 0\n");
		return 2;
	}
	r = http_token_file_read(argv[2], &token, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench_controller: %s\n", err);
		return 1;
	}
	if (httpc_global_init() < 0)
		goto out;
	cs = calloc(clients, sizeof(*cs));
	all = calloc((size_t)clients * per, sizeof(*all));
	if (!cs || !all)
		goto out;
	pthread_barrier_init(&start, NULL, clients + 1);
	for (unsigned i = 0; i < clients; i++) {
		cs[i] = (struct client){.url = argv[1], .token = token, .telegram_id = base + i,
					.n = per, .start = &start, .lat_ms = all + (size_t)i * per};
		if (pthread_create(&cs[i].thread, NULL, client_run, &cs[i]) != 0) {
			fprintf(stderr, "bench_controller: cannot start thread %u\n", i);
			exit(1); /* the barrier would wait forever */
		}
	}
	pthread_barrier_wait(&start);
	t0 = now_ms();
	cpu0 = cpu_us();
	for (unsigned i = 0; i < clients; i++)
		pthread_join(cs[i].thread, NULL);
	t1 = now_ms();
	cpu1 = cpu_us();
	pthread_barrier_destroy(&start);

	for (unsigned i = 0; i < clients; i++) {
		if (cs[i].error) {
			fprintf(stderr, "bench_controller: client %u: %s (%s)\n", i, strerror(-cs[i].error),
				cs[i].err);
			goto out;
		}
		if (cs[i].failed)
			fprintf(stderr, "bench_controller: client %u: %u failed, last: %s\n", i,
				cs[i].failed, cs[i].err);
		failed += cs[i].failed;
	}
	n = (size_t)clients * per;
	qsort(all, n, sizeof(*all), cmp_double);
	printf("provision|%u|%zu|%.3f|%.1f|%.2f|%.2f|%.2f|%.2f|%u|%.0f\n", clients, n,
	       (t1 - t0) / 1e3, (double)n / ((t1 - t0) / 1e3), percentile(all, n, 50),
	       percentile(all, n, 90), percentile(all, n, 99), all[n - 1], failed,
	       (cpu1 - cpu0) / (double)n);
	rc = failed ? 1 : 0;
out:
	free(cs);
	free(all);
	http_token_free(token);
	return rc;
}
