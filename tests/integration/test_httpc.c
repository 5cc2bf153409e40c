// SPDX-License-Identifier: MIT
/*
 * The HTTP client (common/httpc.c) over real HTTP on loopback: our HTTP server module on
 * 127.0.0.1 port 0 (also with TLS, a certificate made here with openssl), and raw sockets
 * for what a well-behaved server never does (no answer, a reset, garbage, a redirect,
 * a body without a length). No root needed; nothing is skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "http.h"
#include "httpc.h"
#include "wgfleet/macro.h"

#define ROLE_AGENT (1U << 0)
#define TOKEN "tok-3f9a1c77e2"

static struct http_server *server;
static char base[64], tmpdir[64];

/* ---- the server ---- */

static int h_json(const struct http_request *req, struct http_response *resp, void *ud)
{
	return http_respond_json(resp, 200, json_pack("{s:s}", "principal", req->principal->name));
}

static int h_echo(const struct http_request *req, struct http_response *resp, void *ud)
{
	const char *ct = http_request_header(req, "Content-Type");

	return http_respond_json(resp, 200,
	                         json_pack("{s:s, s:s*, s:I, s:s%}", "method",
	                                   http_method_name(req->method), "content_type", ct, "len",
	                                   (json_int_t)req->body_len, "body", req->body,
	                                   req->body_len < 1000 ? req->body_len : 0));
}

static int h_big(const struct http_request *req, struct http_response *resp, void *ud)
{
	size_t n = strtoul(http_request_query(req, "n"), NULL, 10);
	char *buf = malloc(n);
	int r;

	if (!buf)
		return -ENOMEM;
	memset(buf, 'x', n);
	r = http_respond_text(resp, 200, "text/plain", buf, n);
	free(buf);
	return r;
}

static const struct http_route routes[] = {
    {HTTP_GET, "/json", h_json, ROLE_AGENT, 0, NULL},
    {HTTP_POST, "/echo", h_echo, ROLE_AGENT, 0, NULL},
    {HTTP_PUT, "/echo", h_echo, ROLE_AGENT, 0, NULL},
    {HTTP_PATCH, "/echo", h_echo, ROLE_AGENT, 0, NULL},
    {HTTP_DELETE, "/echo", h_echo, ROLE_AGENT, 0, NULL},
    {HTTP_GET, "/big", h_big, 0, HTTP_ROUTE_PUBLIC, NULL},
};

static const struct http_token tokens[] = {{TOKEN, ROLE_AGENT, "agent"}};

static struct http_server *start(const char *cert, const char *key)
{
	struct http_server_config c = {
	    .routes = routes,
	    .n_routes = ARRAY_SIZE(routes),
	    .tokens = tokens,
	    .n_tokens = ARRAY_SIZE(tokens),
	    .max_body = 8 << 20,
	    .tls_cert_file = cert,
	    .tls_key_file = key,
	};
	struct http_server *srv = NULL;
	char err[256] = "";
	int r;

	assert_int_equal(wg_endpoint_parse("127.0.0.1:0", &c.listen), 0);
	r = http_server_start(&c, &srv, err, sizeof(err));
	if (r < 0)
		fail_msg("http_server_start: %s (%s)", strerror(-r), err);
	return srv;
}

/* ---- raw servers: what a well-behaved server never does ---- */

enum raw_mode {
	RAW_SILENT,  /* listen, never accept: the kernel completes the handshake, nobody reads */
	RAW_REPLY,   /* answer every request on a connection with reply (keep-alive) */
	RAW_CLOSE,   /* read the request, close without a word */
	RAW_RESET,   /* read the request, close with RST */
	RAW_ONESHOT, /* read the request, send reply, close */
};

struct raw {
	int lfd;
	uint16_t port;
	enum raw_mode mode;
	const char *reply;
	pthread_t thread;
	atomic_int accepts, requests;
};

/* Read one request (headers and a Content-Length body); false at EOF or after 5 s. */
static bool read_request(int fd)
{
	char buf[65536];
	size_t len = 0;
	char *end;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) != 1)
			return false;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			size_t want =
			    (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);

			if (len >= want)
				return true;
		}
		if (len == sizeof(buf) - 1)
			return false;
	}
}

static void *raw_main(void *arg)
{
	struct raw *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0)
			return NULL; /* shut down */
		atomic_fetch_add(&s->accepts, 1);
		while (read_request(fd)) {
			atomic_fetch_add(&s->requests, 1);
			if (s->mode == RAW_RESET) {
				struct linger l = {.l_onoff = 1, .l_linger = 0};

				setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
				break;
			}
			if (s->mode == RAW_CLOSE)
				break;
			if (write(fd, s->reply, strlen(s->reply)) < 0 || s->mode == RAW_ONESHOT)
				break;
		}
		close(fd);
	}
}

static struct raw *raw_start(enum raw_mode mode, const char *reply)
{
	struct raw *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	assert_non_null(s);
	s->mode = mode;
	s->reply = reply;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	if (mode != RAW_SILENT)
		assert_int_equal(pthread_create(&s->thread, NULL, raw_main, s), 0);
	return s;
}

static void raw_stop(struct raw *s)
{
	shutdown(s->lfd, SHUT_RDWR); /* wakes accept() */
	if (s->mode != RAW_SILENT)
		pthread_join(s->thread, NULL);
	close(s->lfd);
	free(s);
}

/* ---- helpers ---- */

static struct httpc *client(const char *ca_file, unsigned timeout_ms)
{
	struct httpc_options o = {.ca_file = ca_file, .timeout_ms = timeout_ms};
	struct httpc *h = NULL;

	assert_int_equal(httpc_new(&o, &h), 0);
	return h;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A request that must fail with want; the answer struct must stay untouched. */
static void expect_fail(struct httpc *h, const char *method, const char *url, const char *token,
                        const char *const *hdrs, const void *body, size_t len, size_t max, int want,
                        char *err, size_t err_size)
{
	struct httpc_response resp = {.status = 12345};
	int r;

	err[0] = '\0';
	r = httpc_request(h, method, url, token, hdrs, body, len, NULL, max, &resp, err, err_size);
	if (r != want)
		fail_msg("%s %s: %d (%s), want %d (%s): %s", method ? method : "(null)",
		         url ? url : "(null)", r, strerror(-r), want, strerror(-want), err);
	assert_int_equal(resp.status, 12345);
	assert_null(resp.body);
	assert_true(err[0] != '\0');
	assert_null(strstr(err, TOKEN));
}

static json_t *ok_json(struct httpc *h, const char *method, const char *path, const void *body,
                       size_t len, const char *ct)
{
	struct httpc_response resp = {0};
	char url[256], err[256];
	json_t *j;
	int r;

	snprintf(url, sizeof(url), "%s%s", base, path);
	r = httpc_request(h, method, url, TOKEN, NULL, body, len, ct, 0, &resp, err, sizeof(err));
	if (r < 0)
		fail_msg("%s %s: %s (%s)", method, path, strerror(-r), err);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "application/json");
	j = json_loadb(resp.body, resp.len, 0, NULL);
	assert_non_null(j);
	httpc_response_done(&resp);
	assert_null(resp.body);
	return j;
}

/* ---- tests ---- */

static void test_get_with_token(void **state)
{
	struct httpc *h = client(NULL, 0);
	json_t *j = ok_json(h, "GET", "/json", NULL, 0, NULL);

	assert_string_equal(json_string_value(json_object_get(j, "principal")), "agent");
	json_decref(j);
	httpc_free(h);
}

static void test_methods_and_bodies(void **state)
{
	static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE"};
	struct httpc *h = client(NULL, 0);
	const char *body = "{\"a\":1}";

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		json_t *j = ok_json(h, methods[i], "/echo", body, strlen(body), "application/json");

		assert_string_equal(json_string_value(json_object_get(j, "method")), methods[i]);
		assert_string_equal(json_string_value(json_object_get(j, "content_type")),
		                    "application/json");
		assert_string_equal(json_string_value(json_object_get(j, "body")), body);
		json_decref(j);
	}
	/* POST without a body: an empty one, and no form-urlencoded type made up by libcurl. */
	{
		json_t *j = ok_json(h, "POST", "/echo", NULL, 0, NULL);

		assert_int_equal(json_integer_value(json_object_get(j, "len")), 0);
		assert_null(json_object_get(j, "content_type"));
		json_decref(j);
	}
	/* DELETE without a body. */
	{
		json_t *j = ok_json(h, "DELETE", "/echo", NULL, 0, NULL);

		assert_string_equal(json_string_value(json_object_get(j, "method")), "DELETE");
		assert_int_equal(json_integer_value(json_object_get(j, "len")), 0);
		json_decref(j);
	}
	/* 4 MiB up without waiting for "100 Continue" (libcurl would wait a second). */
	{
		size_t n = 4 << 20;
		char *big = malloc(n);
		int64_t t0 = now_ms();
		json_t *j;

		assert_non_null(big);
		memset(big, 'b', n);
		j = ok_json(h, "PUT", "/echo", big, n, "application/octet-stream");
		assert_int_equal(json_integer_value(json_object_get(j, "len")), (json_int_t)n);
		assert_true(now_ms() - t0 < 900);
		json_decref(j);
		free(big);
	}
	httpc_free(h);
}

static void test_statuses_are_answers(void **state)
{
	struct httpc *h = client(NULL, 0);
	struct httpc_response resp = {0};
	char url[256], err[256];

	snprintf(url, sizeof(url), "%s/nope", base);
	assert_int_equal(
	    httpc_request(h, "GET", url, TOKEN, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)),
	    0);
	assert_int_equal(resp.status, 404);
	assert_non_null(strstr(resp.body, "\"not_found\""));
	httpc_response_done(&resp);
	/* A wrong token is the server's 401, not an error of the client. */
	snprintf(url, sizeof(url), "%s/json", base);
	assert_int_equal(
	    httpc_request(h, "GET", url, "wrong", NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)),
	    0);
	assert_int_equal(resp.status, 401);
	httpc_response_done(&resp);
	/* No token at all. */
	assert_int_equal(
	    httpc_request(h, "GET", url, NULL, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)), 0);
	assert_int_equal(resp.status, 401);
	httpc_response_done(&resp);
	/* HEAD: the status, no body. */
	assert_int_equal(
	    httpc_request(h, "HEAD", url, TOKEN, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)),
	    0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.len, 0);
	assert_string_equal(resp.body, "");
	httpc_response_done(&resp);
	httpc_response_done(NULL);
	httpc_free(h);
}

static void test_max_response(void **state)
{
	struct httpc *h = client(NULL, 0);
	struct httpc_response resp = {0};
	char url[256], err[256];
	const char *nolen = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
	                    "0123456789012345678901234567890123456789";
	struct raw *s = raw_start(RAW_ONESHOT, nolen);

	/* With a Content-Length: refused before the body is read. */
	snprintf(url, sizeof(url), "%s/big?n=100000", base);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 99999, -EFBIG, err, sizeof(err));
	assert_int_equal(httpc_request(h, "GET", url, NULL, NULL, NULL, 0, NULL, 100000, &resp, err,
	                               sizeof(err)),
	                 0);
	assert_int_equal(resp.len, 100000);
	assert_int_equal(resp.body[99999], 'x');
	assert_int_equal(resp.body[100000], '\0');
	assert_string_equal(resp.content_type, "text/plain");
	httpc_response_done(&resp);
	/* The default limit is far above this. */
	assert_int_equal(
	    httpc_request(h, "GET", url, NULL, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)), 0);
	httpc_response_done(&resp);

	/* Without a length (read until close): cut off by the counting writer. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 39, -EFBIG, err, sizeof(err));
	assert_int_equal(
	    httpc_request(h, "GET", url, NULL, NULL, NULL, 0, NULL, 40, &resp, err, sizeof(err)),
	    0);
	assert_int_equal(resp.len, 40);
	assert_null(resp.content_type);
	httpc_response_done(&resp);
	raw_stop(s);
	httpc_free(h);
}

static void test_refused(void **state)
{
	struct httpc *h = client(NULL, 0);
	struct raw *s = raw_start(RAW_SILENT, NULL);
	char url[128], err[256];
	uint16_t port = s->port;

	raw_stop(s); /* the port is free now: nothing listens */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/json", port);
	expect_fail(h, "GET", url, TOKEN, NULL, NULL, 0, 0, -ECONNREFUSED, err, sizeof(err));
	print_message("refused: %s\n", err);
	httpc_free(h);
}

static void test_timeout(void **state)
{
	struct httpc *h = client(NULL, 300);
	struct raw *s = raw_start(RAW_SILENT, NULL);
	char url[128], err[256];
	int64_t t0, dt;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/json", s->port);
	t0 = now_ms();
	expect_fail(h, "GET", url, TOKEN, NULL, NULL, 0, 0, -ETIMEDOUT, err, sizeof(err));
	dt = now_ms() - t0;
	print_message("timeout after %lld ms: %s\n", (long long)dt, err);
	assert_true(dt >= 250 && dt < 1500);
	raw_stop(s);
	httpc_free(h);
}

static void test_broken_servers(void **state)
{
	struct httpc *h = client(NULL, 2000);
	char url[128], err[256];
	struct raw *s;

	s = raw_start(RAW_CLOSE, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 0, -ECONNRESET, err, sizeof(err));
	print_message("closed: %s\n", err);
	raw_stop(s);

	s = raw_start(RAW_RESET, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 0, -ECONNRESET, err, sizeof(err));
	print_message("reset: %s\n", err);
	raw_stop(s);

	/* Not HTTP at all (libcurl calls it HTTP/0.9 and refuses it). */
	s = raw_start(RAW_ONESHOT, "SSH-2.0-OpenSSH_9.2\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 0, -EPROTO, err, sizeof(err));
	print_message("not HTTP: %s\n", err);
	raw_stop(s);

	/* A broken status line. */
	s = raw_start(RAW_ONESHOT, "HTTP/1.1 abc\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	expect_fail(h, "GET", url, NULL, NULL, NULL, 0, 0, -EPROTO, err, sizeof(err));
	print_message("bad status line: %s\n", err);
	raw_stop(s);
	httpc_free(h);
}

static void test_no_redirects(void **state)
{
	struct httpc *h = client(NULL, 2000);
	struct httpc_response resp = {0};
	char url[256], err[256], reply[512];
	static const char *const targets[] = {"file:///etc/passwd", "ftp://127.0.0.1/x", ""};
	struct raw *s;

	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		const char *target = targets[i];
		char self[256];

		if (!*target) { /* a redirect to a real page on our own server */
			snprintf(self, sizeof(self), "%s/json", base);
			target = self;
		}
		snprintf(reply, sizeof(reply),
		         "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 5\r\n\r\nmoved",
		         target);
		s = raw_start(RAW_REPLY, reply);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
		assert_int_equal(httpc_request(h, "GET", url, TOKEN, NULL, NULL, 0, NULL, 0, &resp,
		                               err, sizeof(err)),
		                 0);
		assert_int_equal(resp.status, 302);
		assert_string_equal(resp.body, "moved");
		httpc_response_done(&resp);
		/* The connection is kept alive: free the client before the server stops. */
		httpc_free(h);
		h = client(NULL, 2000);
		assert_int_equal(atomic_load(&s->requests), 1);
		raw_stop(s);
	}
	httpc_free(h);
}

static void test_keepalive(void **state)
{
	const char *reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct raw *s = raw_start(RAW_REPLY, reply);
	struct httpc *h = client(NULL, 2000);
	struct httpc_response resp = {0};
	char url[128], err[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s->port);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(httpc_request(h, i % 2 ? "POST" : "GET", url, TOKEN, NULL,
		                               i % 2 ? "x" : NULL, i % 2, NULL, 0, &resp, err,
		                               sizeof(err)),
		                 0);
		assert_string_equal(resp.body, "ok");
		httpc_response_done(&resp);
	}
	/* Five requests, one connection; a second handle opens its own. */
	assert_int_equal(atomic_load(&s->requests), 5);
	assert_int_equal(atomic_load(&s->accepts), 1);
	httpc_free(h);
	h = client(NULL, 2000);
	assert_int_equal(
	    httpc_request(h, "GET", url, NULL, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)), 0);
	httpc_response_done(&resp);
	assert_int_equal(atomic_load(&s->accepts), 2);
	httpc_free(h);
	raw_stop(s);
}

static void test_bad_input(void **state)
{
	static const char *const bad_hdr1[] = {"NoColon", NULL};
	static const char *const bad_hdr2[] = {"X-A: b\r\nX-Injected: c", NULL};
	static const char *const bad_hdr3[] = {": empty name", NULL};
	static const char *const bad_hdr4[] = {"Bad Name: x", NULL};
	struct httpc *h = client(NULL, 0);
	char url[128], err[256];

	snprintf(url, sizeof(url), "%s/json", base);
	expect_fail(h, "GET", "ftp://127.0.0.1/x", NULL, NULL, NULL, 0, 0, -EINVAL, err,
	            sizeof(err));
	expect_fail(h, "GET", "file:///etc/passwd", NULL, NULL, NULL, 0, 0, -EINVAL, err,
	            sizeof(err));
	expect_fail(h, "GET", "gopher://127.0.0.1/", NULL, NULL, NULL, 0, 0, -EINVAL, err,
	            sizeof(err));
	expect_fail(h, "GET", "127.0.0.1:80/x", NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", "http://exa mple/", NULL, NULL, NULL, 0, 0, -EINVAL, err,
	            sizeof(err));
	expect_fail(h, "GET", "", NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", NULL, NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, NULL, url, NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "get", url, NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GE T", url, NULL, NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, "two words", NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, "x\r\nX-Injected: 1", NULL, NULL, 0, 0, -EINVAL, err,
	            sizeof(err));
	expect_fail(h, "GET", url, "", NULL, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, NULL, bad_hdr1, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, NULL, bad_hdr2, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, NULL, bad_hdr3, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, NULL, bad_hdr4, NULL, 0, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "GET", url, NULL, NULL, "body", 4, 0, -EINVAL, err, sizeof(err));
	expect_fail(h, "POST", url, NULL, NULL, NULL, 4, 0, -EINVAL, err, sizeof(err));
	/* And the handle still works after all that. */
	json_decref(ok_json(h, "GET", "/json", NULL, 0, NULL));
	assert_int_equal(
	    httpc_request(NULL, "GET", url, NULL, NULL, NULL, 0, NULL, 0, NULL, NULL, 0), -EINVAL);
	assert_null(httpc_free(NULL));
	httpc_free(h);
}

static void test_tls(void **state)
{
	char cert[128], key[128], other[128], okey[128], cmd[1024], url[256], err[256];
	struct httpc_response resp = {0};
	struct http_server *tls;
	struct httpc *h = NULL;

	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(other, sizeof(other), "%s/other.pem", tmpdir);
	snprintf(okey, sizeof(okey), "%s/okey.pem", tmpdir);
	for (int i = 0; i < 2; i++) {
		snprintf(
		    cmd, sizeof(cmd),
		    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		    "-days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
		    "-keyout %s -out %s 2>/dev/null",
		    i ? okey : key, i ? other : cert);
		assert_int_equal(system(cmd), 0);
	}
	tls = start(cert, key);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/json", http_server_port(tls));

	/* Trusted through ca_file: the request goes through, token and all. */
	h = client(cert, 0);
	assert_int_equal(
	    httpc_request(h, "GET", url, TOKEN, NULL, NULL, 0, NULL, 0, &resp, err, sizeof(err)),
	    0);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "\"agent\""));
	httpc_response_done(&resp);
	httpc_free(h);

	/* Not trusted: the system's CAs, or another certificate. */
	h = client(NULL, 0);
	expect_fail(h, "GET", url, TOKEN, NULL, NULL, 0, 0, -EPROTO, err, sizeof(err));
	print_message("untrusted: %s\n", err);
	httpc_free(h);
	h = client(other, 0);
	expect_fail(h, "GET", url, TOKEN, NULL, NULL, 0, 0, -EPROTO, err, sizeof(err));
	httpc_free(h);

	/* https:// to a plain HTTP server. */
	h = client(cert, 0);
	snprintf(url, sizeof(url), "https://%s/json", base + strlen("http://"));
	expect_fail(h, "GET", url, TOKEN, NULL, NULL, 0, 0, -EPROTO, err, sizeof(err));
	print_message("https to http: %s\n", err);
	httpc_free(h);
	http_server_stop(tls);

	/* A CA file that cannot be read is refused when the client is made. */
	h = NULL;
	assert_int_equal(httpc_new(&(struct httpc_options){.ca_file = "/nonexistent/ca.pem"}, &h),
	                 -EINVAL);
	assert_null(h);
}

/* ---- setup ---- */

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	if (httpc_global_init() < 0 || httpc_global_init() < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wgfleet-httpc-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	server = start(NULL, NULL);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", http_server_port(server));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	server = http_server_stop(server);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_with_token),
	    cmocka_unit_test(test_methods_and_bodies),
	    cmocka_unit_test(test_statuses_are_answers),
	    cmocka_unit_test(test_max_response),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_broken_servers),
	    cmocka_unit_test(test_no_redirects),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
