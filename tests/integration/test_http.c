// SPDX-License-Identifier: MIT
/*
 * The HTTP module over real HTTP on loopback: a server on 127.0.0.1 port 0 (and ::1, and
 * with TLS using a certificate made here with openssl), talked to with libcurl and raw
 * sockets. No root needed; nothing is skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "http.h"
#include "wgfleet/macro.h"

#define ROLE_AGENT (1U << 0)
#define ROLE_MONITOR (1U << 1)
#define AGENT_TOKEN "agent-token-7b1c9e0f5a"
#define MONITOR_TOKEN "monitor-token-33d0a1"
#define MAX_BODY 4096

/* ---- the server under test ---- */

static struct http_server *server;
static char base_url[128];
static atomic_int calls_add, calls_echo;

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static char events[64][400];
static size_t n_events;
static unsigned n_warn;

static void on_event(const struct http_event *ev, void *userdata)
{
	char line[300];

	http_event_format(ev, line, sizeof(line));
	pthread_mutex_lock(&events_lock);
	snprintf(events[n_events % ARRAY_SIZE(events)], sizeof(events[0]), "%s%s",
		 ev->level == HTTP_EVENT_WARN ? "WARN " : "", line);
	n_events++;
	if (ev->level == HTTP_EVENT_WARN)
		n_warn++;
	pthread_mutex_unlock(&events_lock);
}

/* Wait up to a second for an event line containing all of the given strings. */
static bool saw_event(const char *a, const char *b)
{
	for (int tries = 0; tries < 100; tries++) {
		bool found = false;

		pthread_mutex_lock(&events_lock);
		for (size_t i = 0; i < ARRAY_SIZE(events) && i < n_events; i++)
			if (strstr(events[i], a) && (!b || strstr(events[i], b)))
				found = true;
		pthread_mutex_unlock(&events_lock);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static int h_health(const struct http_request *req, struct http_response *resp, void *userdata)
{
	assert_null(req->principal);
	return http_respond_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static int h_echo(const struct http_request *req, struct http_response *resp, void *userdata)
{
	const char *q = http_request_query(req, "q"), *x = http_request_header(req, "X-Test");

	atomic_fetch_add(&calls_echo, 1);
	return http_respond_json(resp, 200,
				 json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "key",
					   http_request_param(req, "key"), "method",
					   http_method_name(req->method), "q", q, "x", x,
					   "principal", req->principal->name));
}

static int h_delete_peer(const struct http_request *req, struct http_response *resp,
			 void *userdata)
{
	const char *key = http_request_param(req, "public_key");

	return http_respond_json(resp, 200, json_pack("{s:s}", "deleted", key));
}

static int h_add_peer(const struct http_request *req, struct http_response *resp, void *userdata)
{
	static const struct http_field fields[] = {
		{"public_key", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
		{"persistent_keepalive", HTTP_FIELD_INTEGER, 0},
		{"pad", HTTP_FIELD_STRING, 0},
	};
	struct http_error err;
	json_t *body, *out;

	atomic_fetch_add(&calls_add, 1);
	if (http_json_parse_object(req->body, req->body_len, fields, ARRAY_SIZE(fields), &body,
				   &err) < 0)
		return http_respond_error_from(resp, &err);
	out = json_pack("{s:O,s:I}", "public_key", json_object_get(body, "public_key"), "len",
			(json_int_t)req->body_len);
	json_decref(body);
	return http_respond_json(resp, 201, out);
}

static int h_role(const struct http_request *req, struct http_response *resp, void *userdata)
{
	return http_respond_json(resp, 200,
				 json_pack("{s:s,s:s}", "id", http_request_param(req, "id"), "role",
					   http_request_param(req, "role")));
}

static int h_monitor_only(const struct http_request *req, struct http_response *resp,
			  void *userdata)
{
	return http_respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static int h_fail(const struct http_request *req, struct http_response *resp, void *userdata)
{
	return -EIO;
}

static int h_text(const struct http_request *req, struct http_response *resp, void *userdata)
{
	static const char png[] = "\x89PNG\r\n\x1a\n\0\0binary";
	int r = http_respond_text(resp, 200, "image/png", png, sizeof(png) - 1);

	return r < 0 ? r : http_response_add_header(resp, "Content-Disposition", "inline");
}

static int h_metrics(const struct http_request *req, struct http_response *resp, void *userdata)
{
	struct http_server **srv = userdata;
	char *text;
	size_t len;
	int r;

	r = http_server_metrics(*srv, &text, &len);
	if (r < 0)
		return r;
	r = http_respond_text(resp, 200, "text/plain; version=0.0.4", text, len);
	free(text);
	return r;
}

static const struct http_route routes[] = {
	{HTTP_GET, "/healthz", h_health, 0, HTTP_ROUTE_PUBLIC, NULL},
	{HTTP_GET, "/v1/echo/{key}", h_echo, ROLE_AGENT | ROLE_MONITOR, 0, NULL},
	{HTTP_POST, "/v1/peers", h_add_peer, ROLE_AGENT, 0, NULL},
	{HTTP_DELETE, "/v1/peers/{public_key}", h_delete_peer, ROLE_AGENT, 0, NULL},
	{HTTP_PUT, "/v1/users/{id}/roles/{role}", h_role, ROLE_AGENT, 0, NULL},
	{HTTP_GET, "/v1/status", h_monitor_only, ROLE_MONITOR, 0, NULL},
	{HTTP_GET, "/v1/fail", h_fail, ROLE_AGENT, 0, NULL},
	{HTTP_GET, "/v1/qr", h_text, ROLE_AGENT, 0, NULL},
	{HTTP_GET, "/metrics", h_metrics, ROLE_AGENT | ROLE_MONITOR, 0, &server},
};

static const struct http_token tokens[] = {
	{AGENT_TOKEN, ROLE_AGENT, "agent"},
	{MONITOR_TOKEN, ROLE_MONITOR, "monitor"},
};

static struct http_server_config config(const char *listen)
{
	struct http_server_config c = {
		.routes = routes,
		.n_routes = ARRAY_SIZE(routes),
		.tokens = tokens,
		.n_tokens = ARRAY_SIZE(tokens),
		.max_body = MAX_BODY,
		.metrics_prefix = "test",
		.on_event = on_event,
	};

	assert_int_equal(wg_endpoint_parse(listen, &c.listen), 0);
	return c;
}

static struct http_server *start(const struct http_server_config *c)
{
	struct http_server *srv = NULL;
	char err[256] = "";
	int r;

	r = http_server_start(c, &srv, err, sizeof(err));
	if (r < 0)
		fail_msg("http_server_start: %s (%s)", strerror(-r), err);
	assert_non_null(srv);
	assert_int_not_equal(http_server_port(srv), 0);
	return srv;
}

/* ---- a small libcurl client ---- */

struct reply {
	long status;
	char body[65536];
	size_t len;
	char content_type[128], allow[128], www_auth[128], cache[64], disposition[64];
	CURLcode code;
};

struct upload {
	const char *data;
	size_t len, off;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct reply *r = userdata;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);

	if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	line += nlen + 1;
	len -= nlen + 1;
	while (len && *line == ' ')
		line++, len--;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	snprintf(out, size, "%.*s", (int)len, line);
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct reply *r = userdata;
	size_t len = size * n;

	header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
	header_value(p, len, "Allow", r->allow, sizeof(r->allow));
	header_value(p, len, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
	header_value(p, len, "Cache-Control", r->cache, sizeof(r->cache));
	header_value(p, len, "Content-Disposition", r->disposition, sizeof(r->disposition));
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *userdata)
{
	struct upload *u = userdata;
	size_t len = size * n, left = u->len - u->off;

	if (len > left)
		len = left;
	if (len > 1000)
		len = 1000; /* several chunks */
	memcpy(p, u->data + u->off, len);
	u->off += len;
	return len;
}

struct req {
	const char *method;
	const char *url;      /* relative to base_url unless it starts with "http" */
	const char *auth;     /* the whole Authorization header value, or NULL */
	const char *body;     /* NULL: none */
	size_t body_len;      /* 0 with body: strlen */
	bool chunked;
	const char *extra;    /* one more request header */
	const char *cainfo;   /* TLS: trust this certificate */
};

static void perform(CURL *c, const struct req *q, struct reply *r)
{
	struct curl_slist *hdrs = NULL;
	struct upload up = {0};
	char url[1024], auth[256];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", strncmp(q->url, "http", 4) ? base_url : "", q->url);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (q->cainfo)
		curl_easy_setopt(c, CURLOPT_CAINFO, q->cainfo);
	if (q->auth) {
		snprintf(auth, sizeof(auth), "Authorization: %s", q->auth);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (q->extra)
		hdrs = curl_slist_append(hdrs, q->extra);
	if (q->body) {
		up.data = q->body;
		up.len = q->body_len ? q->body_len : strlen(q->body);
		if (q->chunked) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &up);
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.len);
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	}
	if (q->method && strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (q->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	r->code = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
}

static struct reply *call(const struct req q)
{
	static struct reply r;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	perform(c, &q, &r);
	curl_easy_cleanup(c);
	if (r.code != CURLE_OK)
		fail_msg("%s %s: %s", q.method ? q.method : "GET", q.url,
			 curl_easy_strerror(r.code));
	return &r;
}

#define BEARER_AGENT "Bearer " AGENT_TOKEN
#define BEARER_MONITOR "Bearer " MONITOR_TOKEN

static void assert_error(const struct reply *r, long status, const char *code)
{
	json_error_t jerr;
	json_t *j = json_loads(r->body, 0, &jerr), *e;

	if (r->status != status)
		fail_msg("status %ld, want %ld: %s", r->status, status, r->body);
	assert_non_null(j);
	assert_string_equal(r->content_type, "application/json");
	assert_string_equal(r->cache, "no-store");
	/* Exactly {"error": {"code", "message"}}, nothing else. */
	assert_int_equal(json_object_size(j), 1);
	e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_int_equal(json_object_size(e), 2);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_true(json_is_string(json_object_get(e, "message")));
	json_decref(j);
}

static json_t *assert_json(const struct reply *r, long status)
{
	json_error_t jerr;
	json_t *j;

	if (r->status != status)
		fail_msg("status %ld, want %ld: %s", r->status, status, r->body);
	assert_string_equal(r->content_type, "application/json");
	j = json_loads(r->body, 0, &jerr);
	assert_non_null(j);
	return j;
}

static void assert_field(json_t *j, const char *name, const char *want)
{
	json_t *v = json_object_get(j, name);

	if (!want) {
		assert_true(!v || json_is_null(v));
		return;
	}
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), want);
}

/* ---- tests ---- */

static void test_routing(void **state)
{
	struct reply *r;
	json_t *j;

	r = call((struct req){.url = "/v1/echo/abc", .auth = BEARER_AGENT});
	j = assert_json(r, 200);
	assert_field(j, "key", "abc");
	assert_field(j, "method", "GET");
	assert_field(j, "principal", "agent");
	assert_field(j, "q", NULL);
	assert_string_equal(r->cache, "no-store");
	json_decref(j);

	/* A WireGuard public key, percent-encoded, as DELETE /v1/peers/{public_key} gets it. */
	r = call((struct req){.method = "DELETE",
			      .url = "/v1/peers/xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg%3D",
			      .auth = BEARER_AGENT});
	j = assert_json(r, 200);
	assert_field(j, "deleted", "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
	json_decref(j);
	r = call((struct req){.method = "DELETE",
			      .url = "/v1/peers/a%2Fb%2Bc%2fd%2be%3D%3d",
			      .auth = BEARER_AGENT});
	j = assert_json(r, 200);
	assert_field(j, "deleted", "a/b+c/d+e==");
	json_decref(j);
	/* Raw '+' and '=' are legal in a path and stay as they are. */
	r = call((struct req){.method = "DELETE", .url = "/v1/peers/ab+c=", .auth = BEARER_AGENT});
	j = assert_json(r, 200);
	assert_field(j, "deleted", "ab+c=");
	json_decref(j);

	/* Two parameters, a query (decoded strictly, '+' kept) and a request header. */
	r = call((struct req){.method = "PUT", .url = "/v1/users/12345/roles/ad%6Din",
			      .auth = BEARER_AGENT});
	j = assert_json(r, 200);
	assert_field(j, "id", "12345");
	assert_field(j, "role", "admin");
	json_decref(j);
	r = call((struct req){.url = "/v1/echo/k?q=a%2Fb+c%26d&other=1", .auth = BEARER_AGENT,
			      .extra = "X-Test: hello"});
	j = assert_json(r, 200);
	assert_field(j, "q", "a/b+c&d");
	assert_field(j, "x", "hello");
	json_decref(j);

	/* HEAD is served by the GET route without a body. */
	r = call((struct req){.method = "HEAD", .url = "/v1/echo/abc", .auth = BEARER_AGENT});
	assert_int_equal(r->status, 200);
	assert_int_equal(r->len, 0);

	/* A text body with its own content type and header, binary-safe. */
	r = call((struct req){.url = "/v1/qr", .auth = BEARER_AGENT});
	assert_int_equal(r->status, 200);
	assert_string_equal(r->content_type, "image/png");
	assert_string_equal(r->disposition, "inline");
	assert_int_equal(r->len, 16);
	assert_memory_equal(r->body, "\x89PNG\r\n\x1a\n\0\0binary", 16);
}

static void test_not_found(void **state)
{
	struct reply *r;

	r = call((struct req){.url = "/v1/nope", .auth = BEARER_AGENT});
	assert_error(r, 404, "not_found");
	r = call((struct req){.url = "/v1/echo/abc/", .auth = BEARER_AGENT});
	assert_error(r, 404, "not_found");
	r = call((struct req){.url = "/v1/echo/", .auth = BEARER_AGENT});
	assert_error(r, 404, "not_found");
	r = call((struct req){.method = "DELETE", .url = "/v1/peers/", .auth = BEARER_AGENT});
	assert_error(r, 404, "not_found");

	r = call((struct req){.method = "PATCH", .url = "/v1/peers", .auth = BEARER_AGENT});
	assert_error(r, 405, "method_not_allowed");
	assert_string_equal(r->allow, "POST");
	r = call((struct req){.method = "POST", .url = "/v1/echo/x", .auth = BEARER_AGENT});
	assert_error(r, 405, "method_not_allowed");
	assert_string_equal(r->allow, "GET, HEAD");
	r = call((struct req){.method = "OPTIONS", .url = "/v1/peers/x", .auth = BEARER_AGENT});
	assert_error(r, 405, "method_not_allowed");
	assert_string_equal(r->allow, "DELETE");

	/* Bad escapes in the path or the query: 400, and no handler runs. */
	int before = atomic_load(&calls_echo);
	r = call((struct req){.url = "/v1/echo/%zz", .auth = BEARER_AGENT});
	assert_error(r, 400, "bad_request");
	r = call((struct req){.url = "/v1/echo/a%2", .auth = BEARER_AGENT});
	assert_error(r, 400, "bad_request");
	r = call((struct req){.url = "/v1/echo/a%00b", .auth = BEARER_AGENT});
	assert_error(r, 400, "bad_request");
	r = call((struct req){.url = "/v1/echo/a?q=%G1", .auth = BEARER_AGENT});
	assert_error(r, 400, "bad_request");
	r = call((struct req){.url = "/v1/echo/a?q=1&q=2", .auth = BEARER_AGENT});
	assert_error(r, 400, "bad_request");
	assert_int_equal(atomic_load(&calls_echo), before);

	/*
	 * Headers beyond libmicrohttpd's per-connection memory: it answers by itself (431, not
	 * our JSON: documented), the request's context is still freed (LeakSanitizer) and the
	 * server goes on.
	 */
	static char big[40000];
	memcpy(big, "X-Big: ", 7);
	memset(big + 7, 'a', sizeof(big) - 8);
	r = call((struct req){.url = "/v1/echo/big", .auth = BEARER_AGENT, .extra = big});
	assert_true(r->status == 431 || r->status == 413);
	assert_true(saw_event("- /v1/echo/big 0 ", NULL));
	r = call((struct req){.url = "/healthz"});
	assert_int_equal(r->status, 200);
}

static void test_auth(void **state)
{
	const char *wrong[] = {
		NULL,                         /* missing */
		"Bearer not-the-token",       /* wrong */
		"Bearer " AGENT_TOKEN "x",    /* longer */
		"Bearer agent-token-7b1c9e0f5", /* a prefix */
		"Basic YWdlbnQ6dG9rZW4=",     /* another scheme */
		AGENT_TOKEN,                  /* no scheme */
		"Bearer",
	};
	const char *urls[] = {"/v1/echo/abc", "/v1/nope", "/v1/echo/%zz", "/healthz/x"};
	char first[sizeof(((struct reply *)0)->body)] = "";
	int before = atomic_load(&calls_echo);
	struct reply *r;

	/* The same 401 body for every wrong token and every path, existing or not. */
	for (size_t u = 0; u < ARRAY_SIZE(urls); u++)
		for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
			r = call((struct req){.url = urls[u], .auth = wrong[i]});
			assert_error(r, 401, "unauthorized");
			assert_string_equal(r->www_auth, "Bearer");
			if (!first[0]) /* same size as r->body, which is NUL-terminated */
				memcpy(first, r->body, sizeof(first));
			assert_string_equal(r->body, first);
		}
	/* A known path with the wrong method doesn't reveal itself either. */
	r = call((struct req){.method = "POST", .url = "/v1/echo/abc"});
	assert_error(r, 401, "unauthorized");
	assert_string_equal(r->body, first);
	r = call((struct req){.method = "DELETE", .url = "/v1/status"});
	assert_error(r, 401, "unauthorized");
	/* Nor does a body over the limit. */
	char big[MAX_BODY + 100];
	memset(big, ' ', sizeof(big));
	r = call((struct req){.method = "POST", .url = "/v1/peers", .body = big,
			      .body_len = sizeof(big)});
	assert_error(r, 401, "unauthorized");
	assert_int_equal(atomic_load(&calls_echo), before);

	/* A valid token of a role the route doesn't allow: 403. */
	r = call((struct req){.url = "/v1/status", .auth = BEARER_AGENT});
	assert_error(r, 403, "forbidden");
	r = call((struct req){.method = "DELETE", .url = "/v1/peers/abc", .auth = BEARER_MONITOR});
	assert_error(r, 403, "forbidden");
	r = call((struct req){.url = "/v1/status", .auth = BEARER_MONITOR});
	assert_int_equal(r->status, 200);
	r = call((struct req){.url = "/v1/echo/m", .auth = "bearer " MONITOR_TOKEN});
	json_t *j = assert_json(r, 200);
	assert_field(j, "principal", "monitor");
	json_decref(j);

	/* Public: no token needed, a wrong one is ignored; 405 there needs none either. */
	r = call((struct req){.url = "/healthz"});
	j = assert_json(r, 200);
	assert_field(j, "status", "ok");
	json_decref(j);
	r = call((struct req){.url = "/healthz", .auth = "Bearer wrong"});
	assert_int_equal(r->status, 200);
	r = call((struct req){.method = "HEAD", .url = "/healthz"});
	assert_int_equal(r->status, 200);
	r = call((struct req){.method = "DELETE", .url = "/healthz"});
	assert_error(r, 405, "method_not_allowed");
	assert_string_equal(r->allow, "GET, HEAD");
}

static void test_bodies(void **state)
{
	char body[MAX_BODY + 1], *huge;
	struct reply *r;
	json_t *j;
	int before = atomic_load(&calls_add);

	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = "{\"public_key\":\"k1\",\"persistent_keepalive\":25}"});
	j = assert_json(r, 201);
	assert_field(j, "public_key", "k1");
	json_decref(j);

	/* Exactly max_body is accepted, with Content-Length and chunked. */
	memset(body, 'x', sizeof(body));
	memcpy(body, "{\"public_key\":\"k2\",\"pad\":\"", 26);
	memcpy(body + MAX_BODY - 2, "\"}", 2);
	body[MAX_BODY] = '\0';
	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = body});
	j = assert_json(r, 201);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), MAX_BODY);
	json_decref(j);
	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = body, .chunked = true});
	j = assert_json(r, 201);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), MAX_BODY);
	json_decref(j);
	assert_int_equal(atomic_load(&calls_add), before + 3);

	/* One byte more: 413 and the handler is not called, with Content-Length or chunked. */
	huge = malloc(2 * 1024 * 1024);
	assert_non_null(huge);
	memset(huge, ' ', 2 * 1024 * 1024);
	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = huge, .body_len = MAX_BODY + 1});
	assert_error(r, 413, "payload_too_large");
	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = huge, .body_len = MAX_BODY + 1, .chunked = true});
	assert_error(r, 413, "payload_too_large");
	/* 2 MiB: curl asks "Expect: 100-continue" and gets 413 instead of reading it all. */
	r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
			      .body = huge, .body_len = 2 * 1024 * 1024});
	assert_error(r, 413, "payload_too_large");
	free(huge);
	assert_int_equal(atomic_load(&calls_add), before + 3);

	/* The handler's schema: each refusal has its code and names the field. */
	static const struct {
		const char *body, *code, *message;
	} bad[] = {
		{"{\"public_key\":", "bad_json", NULL},
		{"not json", "bad_json", NULL},
		{"", "bad_json", NULL},
		{"{\"public_key\":\"a\",\"public_key\":\"b\"}", "bad_json", NULL},
		{"[1,2]", "invalid_type", "body: expected an object"},
		{"{\"public_key\":\"k\",\"colour\":\"red\"}", "unknown_field",
		 "unknown field \"colour\""},
		{"{\"public_key\":42}", "invalid_type", "public_key: expected a string"},
		{"{\"public_key\":\"k\",\"persistent_keepalive\":\"25\"}", "invalid_type",
		 "persistent_keepalive: expected an integer"},
		{"{\"persistent_keepalive\":25}", "missing_field", "public_key: required"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = call((struct req){.method = "POST", .url = "/v1/peers", .auth = BEARER_AGENT,
				      .body = bad[i].body[0] ? bad[i].body : NULL});
		assert_error(r, 400, bad[i].code);
		if (bad[i].message) {
			json_t *e = json_loads(r->body, 0, NULL);

			assert_string_equal(
				json_string_value(json_object_get(json_object_get(e, "error"),
								  "message")),
				bad[i].message);
			json_decref(e);
		}
	}
}

static void test_handler_failure(void **state)
{
	unsigned warn_before;
	struct reply *r;

	pthread_mutex_lock(&events_lock);
	warn_before = n_warn;
	pthread_mutex_unlock(&events_lock);

	r = call((struct req){.url = "/v1/fail", .auth = BEARER_AGENT});
	assert_error(r, 500, "internal");
	/* The client learns nothing; the daemon's event has the errno, at warn. */
	assert_null(strstr(r->body, "Input/output"));
	assert_true(saw_event("WARN GET /v1/fail 500", "error=Input/output error"));
	pthread_mutex_lock(&events_lock);
	assert_true(n_warn > warn_before);
	pthread_mutex_unlock(&events_lock);

	/* One debug line per request, with the principal and the peer. */
	call((struct req){.url = "/v1/echo/evt%2Fkey", .auth = BEARER_AGENT});
	assert_true(saw_event("GET /v1/echo/evt%2Fkey 200 ", "principal=agent peer=127.0.0.1"));
	call((struct req){.url = "/v1/echo/%0d%0a", .auth = BEARER_AGENT});
	assert_true(saw_event("GET /v1/echo/%0d%0a 400 ", NULL));
}

/* ---- many clients at once ---- */

#define N_THREADS 8
#define N_REQUESTS 200

struct worker {
	int id;
	int ok;
	long connects;
	char failure[256];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	CURL *c = curl_easy_init();
	struct reply *r = malloc(sizeof(*r));

	for (int i = 0; c && r && i < N_REQUESTS; i++) {
		char url[128], body[128], want[64];
		long n = 0;
		json_t *j;

		/* Keys with '/' and '+' so decoding runs on every request. */
		snprintf(want, sizeof(want), "t%d/r%d+x", w->id, i);
		if (i % 2 == 0) {
			snprintf(url, sizeof(url), "/v1/echo/t%d%%2Fr%d%%2Bx", w->id, i);
			perform(c, &(struct req){.url = url, .auth = BEARER_AGENT}, r);
		} else {
			snprintf(body, sizeof(body), "{\"public_key\":\"%s\"}", want);
			perform(c,
				&(struct req){.method = "POST", .url = "/v1/peers",
					      .auth = BEARER_AGENT, .body = body},
				r);
		}
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
		w->connects += n;
		j = json_loads(r->body, 0, NULL);
		if (r->code == CURLE_OK && r->status == (i % 2 ? 201 : 200) && j &&
		    strcmp(json_string_value(json_object_get(j, i % 2 ? "public_key" : "key"))
			       ?: "",
			   want) == 0)
			w->ok++;
		else if (!w->failure[0])
			snprintf(w->failure, sizeof(w->failure), "request %d: %s %ld %.150s", i,
				 curl_easy_strerror(r->code), r->status, r->body);
		json_decref(j);
	}
	free(r);
	curl_easy_cleanup(c);
	return NULL;
}

static uint64_t metric(const char *text, const char *series)
{
	const char *p = strstr(text, series);

	return p ? strtoull(p + strlen(series), NULL, 10) : 0;
}

static void test_concurrent(void **state)
{
	struct worker w[N_THREADS] = {0};
	pthread_t t[N_THREADS];
	long connects = 0;
	char *text = NULL;

	for (int i = 0; i < N_THREADS; i++) {
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failure[0])
			print_error("thread %d: %s\n", i, w[i].failure);
		assert_int_equal(w[i].ok, N_REQUESTS);
		connects += w[i].connects;
	}
	/* Keep-alive works: about one connection per client. */
	assert_true(connects <= 2 * N_THREADS);

	/* Every request is counted; completions may trail the replies by a moment. */
	for (int tries = 0; tries < 100; tries++) {
		free(text);
		assert_int_equal(http_server_metrics(server, &text, NULL), 0);
		if (metric(text, "test_http_requests_total{method=\"POST\",route=\"/v1/peers\","
				 "code=\"2xx\"} ") >= N_THREADS * N_REQUESTS / 2)
			break;
		usleep(10000);
	}
	assert_true(metric(text, "test_http_requests_total{method=\"GET\",route=\"/v1/echo/{key}\","
				 "code=\"2xx\"} ") >= N_THREADS * N_REQUESTS / 2);
	assert_true(metric(text, "test_http_requests_total{method=\"POST\",route=\"/v1/peers\","
				 "code=\"2xx\"} ") >= N_THREADS * N_REQUESTS / 2);
	free(text);
}

static void test_metrics(void **state)
{
	struct reply *r;

	call((struct req){.url = "/v1/nope-for-metrics", .auth = BEARER_AGENT});
	/* The scrape runs as a handler: let the previous request's completion land first. */
	for (int tries = 0; tries < 100; tries++) {
		r = call((struct req){.url = "/metrics", .auth = BEARER_MONITOR});
		if (strstr(r->body, "route=\"unmatched\",code=\"4xx\"}"))
			break;
		usleep(10000);
	}
	assert_int_equal(r->status, 200);
	assert_string_equal(r->content_type, "text/plain; version=0.0.4");
	assert_non_null(strstr(r->body, "# TYPE test_http_requests_total counter\n"));
	assert_non_null(strstr(r->body, "# TYPE test_http_request_duration_seconds histogram\n"));
#define FAIL_LABELS "{method=\"GET\",route=\"/v1/fail\""
	assert_non_null(strstr(r->body, "test_http_requests_total{method=\"any\","
					"route=\"unmatched\",code=\"4xx\"} "));
	assert_non_null(
		strstr(r->body, "test_http_requests_total" FAIL_LABELS ",code=\"5xx\"} 1\n"));

	/* The histogram is cumulative and its +Inf bucket equals its count. */
	const char *series = "test_http_request_duration_seconds_bucket" FAIL_LABELS ",le=\"";
	uint64_t last = 0, inf, count;
	for (const char *p = strstr(r->body, series); p; p = strstr(p + 1, series)) {
		uint64_t v = strtoull(strstr(p, "} ") + 2, NULL, 10);

		assert_true(v >= last);
		last = v;
	}
	inf = metric(r->body, "test_http_request_duration_seconds_bucket" FAIL_LABELS
			      ",le=\"+Inf\"} ");
	count = metric(r->body, "test_http_request_duration_seconds_count" FAIL_LABELS "} ");
	assert_int_equal(inf, 1);
	assert_int_equal(count, 1);
	assert_int_equal(last, 1);
	assert_non_null(
		strstr(r->body, "test_http_request_duration_seconds_sum" FAIL_LABELS "} 0."));
}

/* ---- TLS, IPv6, start errors ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_tls(void **state)
{
	char cert[128], key[128], cmd[1024], url[128], err[256];
	struct http_server_config c = config("127.0.0.1:0");
	struct http_server *srv, *srv2 = NULL;
	struct reply *r;

	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		 "-keyout %s -out %s 2>/dev/null",
		 key, cert);
	assert_int_equal(system(cmd), 0);

	c.tls_cert_file = cert;
	c.tls_key_file = key;
	srv = start(&c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/healthz", http_server_port(srv));
	r = call((struct req){.url = url, .cainfo = cert});
	assert_int_equal(r->status, 200);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/peers/a%%2Fb", http_server_port(srv));
	r = call((struct req){
		.method = "DELETE", .url = url, .cainfo = cert, .auth = BEARER_AGENT});
	json_t *j = assert_json(r, 200);
	assert_field(j, "deleted", "a/b");
	json_decref(j);
	r = call((struct req){.url = url, .cainfo = cert}); /* still 401 over TLS */
	assert_error(r, 401, "unauthorized");

	/* Plain HTTP to the TLS port gets no HTTP answer. */
	{
		struct reply rr;
		CURL *cu = curl_easy_init();

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", http_server_port(srv));
		perform(cu, &(struct req){.url = url}, &rr);
		assert_true(rr.code != CURLE_OK || rr.status != 200);
		curl_easy_cleanup(cu);
	}
	/* And a client that doesn't trust the certificate refuses it. */
	{
		struct reply rr;
		CURL *cu = curl_easy_init();

		snprintf(url, sizeof(url), "https://127.0.0.1:%u/healthz", http_server_port(srv));
		perform(cu, &(struct req){.url = url, .cainfo = "/dev/null"}, &rr);
		assert_int_not_equal(rr.code, CURLE_OK);
		curl_easy_cleanup(cu);
	}
	http_server_stop(srv);

	/* Broken TLS setups fail to start with a reason. */
	c.tls_key_file = cert; /* a certificate is not a key */
	assert_int_equal(http_server_start(&c, &srv2, err, sizeof(err)), -EIO);
	assert_null(srv2);
	print_message("bad key: %s\n", err);
	assert_non_null(strstr(err, "libmicrohttpd failed to start: "));
	assert_null(strstr(err, "no reason given")); /* its own words came through */
	c.tls_key_file = "/nonexistent/key.pem";
	assert_int_equal(http_server_start(&c, &srv2, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	c.tls_key_file = NULL;
	assert_int_equal(http_server_start(&c, &srv2, err, sizeof(err)), -EINVAL);
	assert_null(srv2);
}

static void test_ipv6(void **state)
{
	struct http_server_config c = config("[::1]:0");
	struct http_server *srv = start(&c);
	char url[128];
	struct reply *r;

	snprintf(url, sizeof(url), "http://[::1]:%u/v1/echo/v6%%2Bkey", http_server_port(srv));
	r = call((struct req){.url = url, .auth = BEARER_AGENT});
	json_t *j = assert_json(r, 200);
	assert_field(j, "key", "v6+key");
	json_decref(j);
	assert_true(saw_event("GET /v1/echo/v6%2Bkey 200", "peer=::1"));
	http_server_stop(srv);
}

static void test_start_errors(void **state)
{
	struct http_server_config c = config("127.0.0.1:0");
	struct http_server *srv = NULL;
	char listen[64], err[256];
	struct http_route bad_route = {HTTP_GET, "no-slash", h_health, 1, 0, NULL};
	struct http_token bad_tokens[] = {{"same", 1, "a"}, {"same", 2, "b"}};

	/* The port is taken: -EADDRINUSE naming the address. */
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", http_server_port(server));
	c = config(listen);
	assert_int_equal(http_server_start(&c, &srv, err, sizeof(err)), -EADDRINUSE);
	assert_null(srv);
	assert_non_null(strstr(err, listen));

	c = config("127.0.0.1:0");
	c.routes = &bad_route;
	c.n_routes = 1;
	assert_int_equal(http_server_start(&c, &srv, err, sizeof(err)), -EINVAL);
	c = config("127.0.0.1:0");
	c.tokens = bad_tokens;
	c.n_tokens = 2;
	assert_int_equal(http_server_start(&c, &srv, err, sizeof(err)), -EINVAL);
	c = config("127.0.0.1:0");
	c.metrics_prefix = "bad-prefix";
	assert_int_equal(http_server_start(&c, &srv, err, sizeof(err)), -EINVAL);
	c = config("127.0.0.1:0");
	c.listen.addr.sa_family = AF_UNIX;
	assert_int_equal(http_server_start(&c, &srv, NULL, 0), -EINVAL);
	assert_null(srv);
	assert_null(http_server_stop(NULL));
}

/* ---- limits and timeouts, with raw sockets ---- */

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Read until the server closes (true) or timeout_ms passes (false); what came in buf. */
static bool closed_within(int fd, int timeout_ms, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return false;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			return true;
		len += (size_t)n;
		buf[len] = '\0';
	}
}

static void test_limits(void **state)
{
	struct http_server_config c = config("127.0.0.1:0");
	const char *head = "POST /v1/peers HTTP/1.1\r\nHost: x\r\nAuthorization: " BEARER_AGENT
			   "\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{";
	const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_server *srv;
	char buf[2048], url[128];
	int s1, s2, s3, before;

	c.max_connections = 2;
	c.request_timeout_sec = 1;
	c.idle_timeout_sec = 2;
	srv = start(&c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", http_server_port(srv));

	/* Two connections are in; the third is closed without an answer. */
	s1 = connect_to(http_server_port(srv));
	s2 = connect_to(http_server_port(srv));
	assert_int_equal(send(s1, get, strlen(get), 0), (ssize_t)strlen(get));
	assert_false(closed_within(s1, 300, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	usleep(100000); /* let the server take s2 */
	s3 = connect_to(http_server_port(srv));
	send(s3, get, strlen(get), MSG_NOSIGNAL);
	assert_true(closed_within(s3, 2000, buf, sizeof(buf)));
	assert_null(strstr(buf, "HTTP/1.1"));
	close(s3);
	close(s1);
	close(s2);

	/* A freed slot is usable again. */
	bool served = false;
	for (int tries = 0; tries < 100 && !served; tries++) {
		struct reply rr;
		CURL *cu = curl_easy_init();

		perform(cu, &(struct req){.url = url}, &rr);
		curl_easy_cleanup(cu);
		served = rr.code == CURLE_OK && rr.status == 200;
		if (!served)
			usleep(20000);
	}
	assert_true(served);

	/*
	 * A body that trickles in past request_timeout: the connection is dropped and the
	 * handler never runs. Meanwhile a silent connection reaches the idle timeout.
	 */
	before = atomic_load(&calls_add);
	s1 = connect_to(http_server_port(srv));
	s2 = connect_to(http_server_port(srv));
	assert_int_equal(send(s1, head, strlen(head), 0), (ssize_t)strlen(head));
	usleep(1200000);
	send(s1, "\"", 1, MSG_NOSIGNAL);
	assert_true(closed_within(s1, 1000, buf, sizeof(buf)));
	assert_null(strstr(buf, "HTTP/1.1"));
	assert_int_equal(atomic_load(&calls_add), before);
	assert_true(saw_event("POST /v1/peers 0 ", "request timeout"));
	assert_true(closed_within(s2, 3000, buf, sizeof(buf)));
	close(s1);
	close(s2);

	/* Stopping with an idle keep-alive connection open returns promptly. */
	s1 = connect_to(http_server_port(srv));
	assert_int_equal(send(s1, get, strlen(get), 0), (ssize_t)strlen(get));
	assert_false(closed_within(s1, 200, buf, sizeof(buf)));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	http_server_stop(srv);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_true(closed_within(s1, 1000, buf, sizeof(buf)));
	close(s1);
}

/* ---- token files ---- */

static void token_file(const char *content, mode_t mode, int want, const char *want_token,
		       const char *want_err)
{
	char path[128], err[256] = "", *token = (char *)0x1;

	snprintf(path, sizeof(path), "%s/token", tmpdir);
	unlink(path);
	write_file(path, content, mode);
	assert_int_equal(http_token_file_read(path, &token, err, sizeof(err)), want);
	if (want == 0) {
		assert_string_equal(token, want_token);
		http_token_free(token);
	} else {
		assert_ptr_equal(token, (char *)0x1);
		assert_non_null(strstr(err, path));
		if (want_err)
			assert_non_null(strstr(err, want_err));
		/* The content never shows in the message. */
		assert_null(strstr(err, "s3cret"));
	}
}

static void test_token_file(void **state)
{
	char err[256], *token = NULL, big[HTTP_TOKEN_MAX + 10];

	token_file("s3cret-token\n", 0600, 0, "s3cret-token", NULL);
	token_file("s3cret-token", 0400, 0, "s3cret-token", NULL);
	token_file("s3cret-token\r\n", 0600, 0, "s3cret-token", NULL);
	token_file("s3cret-token\n\n", 0600, -EINVAL, NULL, "spaces");
	token_file("s3cret token\n", 0600, -EINVAL, NULL, "spaces");
	token_file(" s3cret\n", 0600, -EINVAL, NULL, NULL);
	token_file("", 0600, -EINVAL, NULL, "empty");
	token_file("\n", 0600, -EINVAL, NULL, "empty");
	token_file("s3cret-token\n", 0640, -EPERM, NULL, "chmod 600");
	token_file("s3cret-token\n", 0604, -EPERM, NULL, "0604");
	token_file("s3cret-token\n", 0620, -EPERM, NULL, NULL);
	char longest[HTTP_TOKEN_MAX + 1];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	token_file(big, 0600, -EFBIG, NULL, NULL);
	big[HTTP_TOKEN_MAX + 1] = '\0'; /* one byte over, even without a newline */
	token_file(big, 0600, -EFBIG, NULL, NULL);
	memset(longest, 'a', HTTP_TOKEN_MAX);
	longest[HTTP_TOKEN_MAX] = '\0';
	big[HTTP_TOKEN_MAX] = '\n'; /* the longest token, with its newline */
	token_file(big, 0600, 0, longest, NULL);

	assert_int_equal(http_token_file_read("/nonexistent/token", &token, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/token"));
	assert_int_equal(http_token_file_read(tmpdir, &token, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_null(token);
	assert_null(http_token_free(NULL));
}

/* ---- setup ---- */

static int setup(void **state)
{
	struct http_server_config c = config("127.0.0.1:0");

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wgfleet-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	server = start(&c);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", http_server_port(server));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	server = http_server_stop(server);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return -1;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_handler_failure),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_token_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
