// SPDX-License-Identifier: MIT
/*
 * The HTTP module's overhead: requests per second and latency percentiles for a trivial JSON
 * route behind a bearer token, over keep-alive connections on loopback from N client
 * threads. The clients are minimal HTTP/1.1 over raw sockets, so libcurl's own cost stays
 * out of the numbers.
 *
 *   bench_http [THREADS [REQUESTS_PER_THREAD [get|post]]]     (defaults: 8 20000 get)
 *
 * "post" sends a 60-byte JSON body that the handler parses and checks against a schema.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "wgfleet/macro.h"

#define TOKEN "bench-token-0123456789abcdef"

int main(int argc, char **argv);

static int h_ping(const struct http_request *req, struct http_response *resp, void *userdata)
{
	return http_respond_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static int h_post(const struct http_request *req, struct http_response *resp, void *userdata)
{
	static const struct http_field fields[] = {
		{"public_key", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
	};
	struct http_error err;
	json_t *body, *out;

	if (http_json_parse_object(req->body, req->body_len, fields, ARRAY_SIZE(fields), &body,
				   &err) < 0)
		return http_respond_error_from(resp, &err);
	out = json_pack("{s:O}", "public_key", json_object_get(body, "public_key"));
	json_decref(body);
	return http_respond_json(resp, 201, out);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

struct client {
	uint16_t port;
	int n;
	bool post;
	uint64_t *lat_ns;
	int errors;
};

/* One response: headers, then Content-Length bytes of body. 0, or -1 on anything odd. */
static int read_response(int fd, char *buf, size_t size, size_t *have, int want_status)
{
	size_t used = *have;
	char *end;
	long clen;

	for (;;) {
		buf[used] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		ssize_t n = recv(fd, buf + used, size - 1 - used, 0);
		if (n <= 0)
			return -1;
		used += (size_t)n;
	}
	if (atoi(buf + 9) != want_status)
		return -1;
	char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (!cl)
		return -1;
	clen = strtol(cl + 17, NULL, 10);
	size_t total = (size_t)(end + 4 - buf) + (size_t)clen;
	while (used < total) {
		ssize_t n = recv(fd, buf + used, size - 1 - used, 0);
		if (n <= 0)
			return -1;
		used += (size_t)n;
	}
	/* Keep bytes of a next response (none expected: one request in flight). */
	memmove(buf, buf + total, used - total);
	*have = used - total;
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const char body[] = "{\"public_key\":\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"}";
	char req[512], buf[8192];
	size_t have = 0, len;
	int fd, one = 1;

	if (c->post)
		len = (size_t)snprintf(req, sizeof(req),
				       "POST /v1/peers HTTP/1.1\r\nHost: bench\r\n"
				       "Authorization: Bearer " TOKEN "\r\n"
				       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				       sizeof(body) - 1, body);
	else
		len = (size_t)snprintf(req, sizeof(req),
				       "GET /v1/ping HTTP/1.1\r\nHost: bench\r\n"
				       "Authorization: Bearer " TOKEN "\r\n\r\n");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		c->errors = c->n;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < c->n; i++) {
		uint64_t t0 = now_ns();

		if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len ||
		    read_response(fd, buf, sizeof(buf), &have, c->post ? 201 : 200) < 0) {
			c->errors++;
			break;
		}
		c->lat_ns[i] = now_ns() - t0;
	}
	close(fd);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 8, n = argc > 2 ? atoi(argv[2]) : 20000;
	bool post = argc > 3 && strcmp(argv[3], "post") == 0;
	const struct http_route routes[] = {
		{HTTP_GET, "/healthz", h_ping, 0, HTTP_ROUTE_PUBLIC, NULL},
		{HTTP_GET, "/v1/info", h_ping, 1, 0, NULL},
		{HTTP_GET, "/v1/peers", h_ping, 1, 0, NULL},
		{HTTP_POST, "/v1/peers", h_post, 1, 0, NULL},
		{HTTP_DELETE, "/v1/peers/{public_key}", h_ping, 1, 0, NULL},
		{HTTP_GET, "/v1/ping", h_ping, 1, 0, NULL},
	};
	const struct http_token tokens[] = {{TOKEN, 1, "bench"}};
	struct http_server_config cfg = {
		.routes = routes,
		.n_routes = ARRAY_SIZE(routes),
		.tokens = tokens,
		.n_tokens = 1,
	};
	struct http_server *srv = NULL;
	struct client *c;
	pthread_t *t;
	uint64_t *all, t0, elapsed;
	size_t total = 0;
	int errors = 0;
	char err[256];

	if (threads < 1 || n < 1) {
		fprintf(stderr, "usage: %s [THREADS [REQUESTS_PER_THREAD [get|post]]]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (wg_endpoint_parse("127.0.0.1:0", &cfg.listen) < 0 ||
	    http_server_start(&cfg, &srv, err, sizeof(err)) < 0) {
		fprintf(stderr, "start: %s\n", err);
		return 1;
	}
	c = calloc((size_t)threads, sizeof(*c));
	t = calloc((size_t)threads, sizeof(*t));
	all = calloc((size_t)threads * (size_t)n, sizeof(*all));
	if (!c || !t || !all)
		return 1;
	t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		c[i] = (struct client){.port = http_server_port(srv), .n = n, .post = post,
				       .lat_ns = all + (size_t)i * (size_t)n};
		pthread_create(&t[i], NULL, client_main, &c[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		errors += c[i].errors;
	}
	elapsed = now_ns() - t0;
	for (size_t i = 0; i < (size_t)threads * (size_t)n; i++)
		if (all[i])
			all[total++] = all[i];
	qsort(all, total, sizeof(*all), cmp_u64);
	printf("%s, %d threads x %d requests, keep-alive: %.0f req/s, p50 %.1f us, p99 %.1f us, "
	       "p99.9 %.1f us, max %.1f us, errors %d\n",
	       post ? "POST /v1/peers (JSON + schema)" : "GET /v1/ping", threads, n,
	       (double)total / ((double)elapsed / 1e9), total ? all[total / 2] / 1e3 : 0.0,
	       total ? all[total * 99 / 100] / 1e3 : 0.0,
	       total ? all[total * 999 / 1000] / 1e3 : 0.0, total ? all[total - 1] / 1e3 : 0.0,
	       errors);
	http_server_stop(srv);
	free(all);
	free(c);
	free(t);
	return errors ? 1 : 0;
}
