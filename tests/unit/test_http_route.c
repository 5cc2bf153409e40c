// SPDX-License-Identifier: MIT
/*
 * The pure half of the HTTP module: percent-decoding, the route table and matcher, bearer
 * tokens, query parameters, responses and the JSON schema check. The server itself is
 * tested over real HTTP in tests/integration/test_http.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "httproute.h"
#include "wgfleet/macro.h"

static int h_dummy(const struct http_request *req, struct http_response *resp, void *userdata)
{
	return 0;
}

/* ---- methods ---- */

static void test_methods(void **state)
{
	char buf[64];

	assert_int_equal(http_method_parse("GET"), HTTP_GET);
	assert_int_equal(http_method_parse("DELETE"), HTTP_DELETE);
	assert_int_equal(http_method_parse("get"), 0);
	assert_int_equal(http_method_parse("OPTIONS"), 0);
	assert_int_equal(http_method_parse(NULL), 0);
	assert_string_equal(http_method_name(HTTP_PATCH), "PATCH");
	assert_string_equal(http_method_name(0), "OTHER");
	assert_string_equal(http_method_name(HTTP_GET | HTTP_PUT), "OTHER");

	http_allow_format(HTTP_GET | HTTP_DELETE, buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD, DELETE");
	http_allow_format(HTTP_POST, buf, sizeof(buf));
	assert_string_equal(buf, "POST");
	http_allow_format(HTTP_METHOD_ALL, buf, 10);
	assert_true(strlen(buf) < 10);
}

/* ---- percent-decoding ---- */

static void decode_ok(const char *in, const char *want)
{
	char buf[256];
	size_t len = 12345;

	assert_int_equal(http_percent_decode(in, strlen(in), buf, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len + 1);
}

static void decode_bad(const char *in, size_t len)
{
	char buf[256];
	size_t out = 12345;

	assert_int_equal(http_percent_decode(in, len, buf, &out), -EINVAL);
	assert_int_equal(out, 12345); /* not written on error */
}

static void test_percent_decode(void **state)
{
	decode_ok("", "");
	decode_ok("abc", "abc");
	decode_ok("a%2Fb", "a/b");
	decode_ok("a%2fb", "a/b");
	decode_ok("%2B%2b%3D", "++=");
	decode_ok("a+b=", "a+b="); /* '+' is not a space here */
	decode_ok("%C3%A9", "\xc3\xa9");
	decode_ok("%25", "%");
	decode_ok("%2525", "%25"); /* decoded once, not twice */
	decode_ok("x%20y", "x y");
	decode_ok("\xc3\xa9", "\xc3\xa9"); /* raw UTF-8 is passed through */

	decode_bad("%", 1);
	decode_bad("%2", 2);
	decode_bad("a%", 2);
	decode_bad("%G0", 3);
	decode_bad("%0G", 3);
	decode_bad("%-1", 3);
	decode_bad("% 1", 3);
	decode_bad("%00", 3);
	decode_bad("%0a", 3);
	decode_bad("%0D%0A", 6);
	decode_bad("%7F", 3);
	decode_bad("%7f", 3);
	decode_bad("a\nb", 3);
	decode_bad("a\x7f", 2);
	decode_bad("a\0b", 3);
	/* The length bounds the input: "%2F" cut after "%2" is a bad escape. */
	decode_bad("%2F", 2);

	/* In place. */
	char s[] = "k%2Fe%2By%3D";
	size_t len;

	assert_int_equal(http_percent_decode(s, strlen(s), s, &len), 0);
	assert_string_equal(s, "k/e+y=");
}

static void test_percent_encode(void **state)
{
	const char *key = "hB3+/Pd0lJ4aX9vzy6p1r8Q2r3W0n+3s/1r4uV0yTm0=";
	char enc[256], dec[256];
	size_t elen, dlen;

	assert_int_equal(http_percent_encode(key, strlen(key), enc, sizeof(enc), &elen), 0);
	assert_int_equal(elen, strlen(enc));
	assert_null(strchr(enc, '/'));
	assert_null(strchr(enc, '+'));
	assert_null(strchr(enc, '='));
	assert_non_null(strstr(enc, "%2F"));
	assert_non_null(strstr(enc, "%2B"));
	assert_non_null(strstr(enc, "%3D"));
	assert_int_equal(http_percent_decode(enc, elen, dec, &dlen), 0);
	assert_string_equal(dec, key);

	assert_int_equal(http_percent_encode("a-._~Z9", 7, enc, sizeof(enc), &elen), 0);
	assert_string_equal(enc, "a-._~Z9");
	assert_int_equal(http_percent_encode("/", 1, enc, 4, &elen), 0);
	assert_string_equal(enc, "%2F");
	assert_int_equal(http_percent_encode("/", 1, enc, 3, &elen), -ENOBUFS);
	assert_int_equal(http_percent_encode("ab", 2, enc, 2, &elen), -ENOBUFS);
	assert_int_equal(http_percent_encode("", 0, enc, 1, &elen), 0);
	assert_int_equal(http_percent_encode("", 0, enc, 0, &elen), -ENOBUFS);
}

/* ---- route table ---- */

static int new_router(const struct http_route *routes, size_t n, struct http_router **ret)
{
	*ret = NULL;
	return http_router_new(routes, n, ret);
}

static void router_bad(struct http_route r)
{
	struct http_router *router;

	assert_int_equal(new_router(&r, 1, &router), -EINVAL);
	assert_null(router);
}

static void test_router_validation(void **state)
{
	const char *bad_patterns[] = {
		"",        "v1",       "//",     "/a/",      "/a//b",       "/{}",
		"/{a",     "/a}",      "/{a-b}", "/x{a}",    "/{a}x",       "/a%20b",
		"/a b",    "/a\"b",    "/a\\b",  "/{a}/{a}", "/a/b?c",      "/a#b",
		"/{a}/b/{a}", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
		"/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
	};
	struct http_router *router;

	for (size_t i = 0; i < ARRAY_SIZE(bad_patterns); i++)
		router_bad((struct http_route){HTTP_GET, bad_patterns[i], h_dummy, 1, 0, NULL});

	router_bad((struct http_route){HTTP_HEAD, "/a", h_dummy, 1, 0, NULL});
	router_bad((struct http_route){0, "/a", h_dummy, 1, 0, NULL});
	router_bad((struct http_route){HTTP_GET | HTTP_POST, "/a", h_dummy, 1, 0, NULL});
	router_bad((struct http_route){HTTP_GET, NULL, h_dummy, 1, 0, NULL});
	router_bad((struct http_route){HTTP_GET, "/a", NULL, 1, 0, NULL});
	router_bad((struct http_route){HTTP_GET, "/a", h_dummy, 0, 0, NULL}); /* nobody */
	router_bad((struct http_route){HTTP_GET, "/a", h_dummy, 1, 1U << 5, NULL});

	/* Good ones, including the root, sixteen segments and eight parameters. */
	struct http_route good[] = {
		{HTTP_GET, "/", h_dummy, 1, 0, NULL},
		{HTTP_GET, "/healthz", h_dummy, 0, HTTP_ROUTE_PUBLIC, NULL},
		{HTTP_GET, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", h_dummy, 1, 0, NULL},
		{HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h_dummy, 1, 0, NULL},
		{HTTP_GET, "/a-b.c_d~e!$&'()*+,;=:@", h_dummy, 1, 0, NULL},
		{HTTP_GET, "/v1/peers/{Public_Key_2}", h_dummy, 1, 0, NULL},
	};
	assert_int_equal(new_router(good, ARRAY_SIZE(good), &router), 0);
	assert_int_equal(http_router_size(router), ARRAY_SIZE(good));
	assert_string_equal(http_router_route(router, 5)->pattern, "/v1/peers/{Public_Key_2}");
	assert_ptr_not_equal(http_router_route(router, 5)->pattern, good[5].pattern); /* copied */
	assert_null(http_router_route(router, ARRAY_SIZE(good)));
	router = http_router_free(router);
	assert_null(router);
	assert_null(http_router_free(NULL));

	/* The same method on equivalent patterns is a mistake; another method is not. */
	struct http_route dup[] = {
		{HTTP_GET, "/v1/peers/{key}", h_dummy, 1, 0, NULL},
		{HTTP_GET, "/v1/peers/{other}", h_dummy, 1, 0, NULL},
	};
	assert_int_equal(new_router(dup, 2, &router), -EINVAL);
	dup[1].method = HTTP_DELETE;
	assert_int_equal(new_router(dup, 2, &router), 0);
	http_router_free(router);

	/* An empty table is valid (everything is 404). */
	assert_int_equal(new_router(NULL, 0, &router), 0);
	http_router_free(router);
}

enum { R_INFO, R_LIST, R_ADD, R_SET, R_GET, R_DEL, R_ME, R_USER, R_ROLE, R_HEALTH, R_ROOT, R_OPEN };

static const struct http_route table[] = {
	[R_INFO] = {HTTP_GET, "/v1/info", h_dummy, 1, 0, NULL},
	[R_LIST] = {HTTP_GET, "/v1/peers", h_dummy, 1, 0, NULL},
	[R_ADD] = {HTTP_POST, "/v1/peers", h_dummy, 1, 0, NULL},
	[R_SET] = {HTTP_PUT, "/v1/peers", h_dummy, 1, 0, NULL},
	[R_GET] = {HTTP_GET, "/v1/peers/{public_key}", h_dummy, 1, 0, NULL},
	[R_DEL] = {HTTP_DELETE, "/v1/peers/{public_key}", h_dummy, 1, 0, NULL},
	[R_ME] = {HTTP_GET, "/v1/users/me", h_dummy, 1, 0, NULL},
	[R_USER] = {HTTP_GET, "/v1/users/{telegram_id}", h_dummy, 1, 0, NULL},
	[R_ROLE] = {HTTP_PUT, "/v1/users/{telegram_id}/roles/{role}", h_dummy, 1, 0, NULL},
	[R_HEALTH] = {HTTP_GET, "/healthz", h_dummy, 0, HTTP_ROUTE_PUBLIC, NULL},
	[R_ROOT] = {HTTP_GET, "/", h_dummy, 1, 0, NULL},
	[R_OPEN] = {HTTP_GET, "/mixed", h_dummy, 0, HTTP_ROUTE_PUBLIC, NULL},
};

static const struct http_route mixed_post = {HTTP_POST, "/mixed", h_dummy, 1, 0, NULL};

static struct http_router *table_router(void)
{
	struct http_route routes[ARRAY_SIZE(table) + 1];
	struct http_router *r;

	memcpy(routes, table, sizeof(table));
	routes[ARRAY_SIZE(table)] = mixed_post;
	assert_int_equal(new_router(routes, ARRAY_SIZE(routes), &r), 0);
	return r;
}

static struct http_match *match(struct http_router *r, uint32_t method, const char *path)
{
	static struct http_match m;

	memset(&m, 0xa5, sizeof(m)); /* every field must be set by the matcher */
	http_router_match(r, method, path, strlen(path), &m);
	return &m;
}

static void test_router_match(void **state)
{
	struct http_router *r = table_router();
	struct http_match *m;

	m = match(r, HTTP_GET, "/v1/info");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_INFO);
	assert_string_equal(m->route->pattern, "/v1/info");
	assert_int_equal(m->n_params, 0);
	assert_false(m->public);

	m = match(r, HTTP_POST, "/v1/peers");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_ADD);

	/* A base64 key, percent-encoded: '/', '+' and '=' come back. */
	m = match(r, HTTP_DELETE,
		  "/v1/peers/hB3%2B%2FPd0lJ4a%2fX9vzy6p1r8Q2r3W0n%2B3s%2F1r4uV0yTm%3D");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_DEL);
	assert_int_equal(m->n_params, 1);
	assert_string_equal(m->params[0].name, "public_key");
	assert_string_equal(m->params[0].value, "hB3+/Pd0lJ4a/X9vzy6p1r8Q2r3W0n+3s/1r4uV0yTm=");
	assert_int_equal(m->params[0].len, 44);

	/* Raw '+' and '=' are legal in a path segment. */
	m = match(r, HTTP_GET, "/v1/peers/ab+c=");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_string_equal(m->params[0].value, "ab+c=");

	/* Two parameters. */
	m = match(r, HTTP_PUT, "/v1/users/12345/roles/ad%6Din");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_ROLE);
	assert_int_equal(m->n_params, 2);
	assert_string_equal(m->params[0].name, "telegram_id");
	assert_string_equal(m->params[0].value, "12345");
	assert_string_equal(m->params[1].name, "role");
	assert_string_equal(m->params[1].value, "admin");

	/* Table order: the literal listed first wins over the parameter. */
	m = match(r, HTTP_GET, "/v1/users/me");
	assert_int_equal(m->index, R_ME);
	m = match(r, HTTP_GET, "/v1/users/m%65"); /* literals compare decoded */
	assert_int_equal(m->index, R_ME);
	m = match(r, HTTP_GET, "/v1/users/42");
	assert_int_equal(m->index, R_USER);

	/* The root. */
	m = match(r, HTTP_GET, "/");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_ROOT);

	/* HEAD is served by GET. */
	m = match(r, HTTP_HEAD, "/v1/info");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->index, R_INFO);

	http_router_free(r);
}

static void test_router_no_match(void **state)
{
	struct http_router *r = table_router();
	struct http_match *m;
	char longpath[HTTP_PATH_MAX + 2];

	const char *not_found[] = {
		"/v1/nope",   "/v1/info/",     "/v1/peers/", "/v1/peers//", "//v1/info",
		"/v1//peers", "/v1/peers/a/b", "v1/info",    "",            "*",
		"/V1/info",   "/v1/info%2F",   "/v1%2Finfo", "/healthz/",   "/v1/users/me/roles",
		"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
	};
	for (size_t i = 0; i < ARRAY_SIZE(not_found); i++) {
		m = match(r, HTTP_GET, not_found[i]);
		assert_int_equal(m->result, HTTP_MATCH_NO_PATH);
		assert_false(m->public);
		assert_null(m->route);
		assert_int_equal(m->n_params, 0);
	}

	/* Known path, wrong method: 405 with the methods the path has. */
	m = match(r, HTTP_PATCH, "/v1/peers");
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_int_equal(m->allow, HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT);
	assert_false(m->public);
	m = match(r, HTTP_POST, "/v1/peers/abc");
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_int_equal(m->allow, HTTP_GET | HTTP_HEAD | HTTP_DELETE);
	m = match(r, 0, "/v1/info"); /* OPTIONS, TRACE, ... */
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_int_equal(m->allow, HTTP_GET | HTTP_HEAD);
	m = match(r, HTTP_HEAD, "/v1/users/1/roles/x"); /* only PUT there */
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_int_equal(m->allow, HTTP_PUT);

	/* Bad escapes and control characters anywhere in the path. */
	const char *bad[] = {"/v1/peers/%zz", "/v1/peers/%", "/v1/peers/a%2", "/v1/peers/%00",
			     "/v1/%0Apeers", "/nope/%ZZ"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		m = match(r, HTTP_GET, bad[i]);
		assert_int_equal(m->result, HTTP_MATCH_BAD_PATH);
		assert_false(m->public);
	}

	/* Longer than HTTP_PATH_MAX: no route, whatever it looks like. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	memcpy(longpath, "/v1/peers/", 10);
	longpath[sizeof(longpath) - 1] = '\0';
	m = match(r, HTTP_GET, longpath);
	assert_int_equal(m->result, HTTP_MATCH_NO_PATH);
	longpath[HTTP_PATH_MAX] = '\0'; /* exactly HTTP_PATH_MAX is fine */
	m = match(r, HTTP_GET, longpath);
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_int_equal(m->params[0].len, HTTP_PATH_MAX - 10);

	/* A path of only slashes and escapes still fits the decode buffer. */
	memset(longpath, '/', HTTP_PATH_MAX);
	longpath[HTTP_PATH_MAX] = '\0';
	m = match(r, HTTP_GET, longpath);
	assert_int_equal(m->result, HTTP_MATCH_NO_PATH);

	/* NULL router or path. */
	http_router_match(NULL, HTTP_GET, "/v1/info", 8, m);
	assert_int_equal(m->result, HTTP_MATCH_NO_PATH);

	http_router_free(r);
}

static void test_router_public(void **state)
{
	struct http_router *r = table_router();
	struct http_match *m;

	m = match(r, HTTP_GET, "/healthz");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_true(m->public);
	m = match(r, HTTP_HEAD, "/healthz");
	assert_true(m->public);

	/* 405 on a path that only public routes serve needs no token... */
	m = match(r, HTTP_POST, "/healthz");
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_true(m->public);

	/* ...but on a path that also has a private route it does. */
	m = match(r, HTTP_GET, "/mixed");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_true(m->public);
	m = match(r, HTTP_POST, "/mixed");
	assert_int_equal(m->result, HTTP_MATCH_OK);
	assert_false(m->public);
	m = match(r, HTTP_DELETE, "/mixed");
	assert_int_equal(m->result, HTTP_MATCH_NO_METHOD);
	assert_false(m->public);

	http_router_free(r);
}

/* ---- tokens ---- */

static void test_auth(void **state)
{
	const struct http_token tokens[] = {
		{"bot-token-0123456789", 1U << 0, "bot"},
		{"admin-token-0123456789", 1U << 1, "admin"},
		{"mon", 1U << 2, "monitor"},
	};
	const struct http_principal *p;
	struct http_auth *a = NULL;

	assert_int_equal(http_auth_new(tokens, ARRAY_SIZE(tokens), &a), 0);
	p = http_auth_check(a, "Bearer bot-token-0123456789");
	assert_non_null(p);
	assert_int_equal(p->role, 1U << 0);
	assert_string_equal(p->name, "bot");
	p = http_auth_check(a, "bearer admin-token-0123456789");
	assert_non_null(p);
	assert_string_equal(p->name, "admin");
	p = http_auth_check(a, "BEARER   mon");
	assert_non_null(p);
	assert_int_equal(p->role, 1U << 2);

	const char *refused[] = {
		"",
		"Bearer",
		"Bearer ",
		"Bearer  ",
		"Basic Ym90OnRva2Vu",
		"Token bot-token-0123456789",
		"Bearerbot-token-0123456789",
		"Bearer bot-token-012345678",   /* a prefix */
		"Bearer bot-token-01234567890", /* longer */
		"Bearer bot-token-0123456789 ", /* trailing junk */
		"Bearer bot-token-0123456789 x",
		"Bearer mo",
		"Bearer BOT-TOKEN-0123456789",
		"bot-token-0123456789",
	};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		assert_null(http_auth_check(a, refused[i]));
	assert_null(http_auth_check(a, NULL));
	assert_null(http_auth_check(NULL, "Bearer mon"));
	a = http_auth_free(a);
	assert_null(a);

	/* A token beyond HTTP_TOKEN_MAX is refused without trouble. */
	char *huge = malloc(HTTP_TOKEN_MAX + 20);
	assert_non_null(huge);
	memcpy(huge, "Bearer ", 7);
	memset(huge + 7, 'x', HTTP_TOKEN_MAX + 10);
	huge[HTTP_TOKEN_MAX + 17] = '\0';
	assert_int_equal(http_auth_new(tokens, 1, &a), 0);
	assert_null(http_auth_check(a, huge));
	http_auth_free(a);
	free(huge);

	/* No tokens at all: nothing authenticates. */
	assert_int_equal(http_auth_new(NULL, 0, &a), 0);
	assert_null(http_auth_check(a, "Bearer mon"));
	http_auth_free(a);

	/* Bad tables. */
	const struct http_token bad[][2] = {
		{{"same", 1, "a"}, {"same", 2, "b"}},
		{{"ok", 3, "a"}, {"ok2", 4, "b"}},
		{{"ok", 0, "a"}, {"ok2", 4, "b"}},
		{{"has space", 1, "a"}, {"ok2", 4, "b"}},
		{{"", 1, "a"}, {"ok2", 4, "b"}},
		{{NULL, 1, "a"}, {"ok2", 4, "b"}},
		{{"ok", 1, NULL}, {"ok2", 4, "b"}},
		{{"ok", 1, ""}, {"ok2", 4, "b"}},
		{{"ok", 1, "a"}, {"tab\t", 4, "b"}},
		{{"ok", 1, "a"}, {"\xc3\xa9", 4, "b"}},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		a = NULL;
		assert_int_equal(http_auth_new(bad[i], 2, &a), -EINVAL);
		assert_null(a);
	}
	/* The same role for two tokens is fine (two bots). */
	const struct http_token two[] = {{"one", 1, "bot"}, {"two", 1, "bot"}};
	assert_int_equal(http_auth_new(two, 2, &a), 0);
	assert_non_null(http_auth_check(a, "Bearer one"));
	assert_non_null(http_auth_check(a, "Bearer two"));
	http_auth_free(a);
}

/* ---- query and request accessors ---- */

static void query_fails(const char *raw, int want)
{
	struct http_query q = {0};

	assert_int_equal(http_query_parse(&q, raw, strlen(raw)), want);
	http_query_done(&q);
}

static void test_query(void **state)
{
	struct http_query q = {0};
	struct http_request req = {.query = &q};
	const char *raw = "wait=30&k%65y=a%2Fb%2Bc&flag&plus=a+b&&empty=&eq=a=b&";

	assert_int_equal(http_query_parse(&q, raw, strlen(raw)), 0);
	assert_int_equal(q.n, 6);
	assert_string_equal(http_request_query(&req, "wait"), "30");
	assert_string_equal(http_request_query(&req, "key"), "a/b+c");
	assert_string_equal(http_request_query(&req, "flag"), "");
	assert_string_equal(http_request_query(&req, "plus"), "a+b"); /* not a space */
	assert_string_equal(http_request_query(&req, "empty"), "");
	assert_string_equal(http_request_query(&req, "eq"), "a=b");
	assert_null(http_request_query(&req, "nope"));
	assert_null(http_request_query(NULL, "wait"));
	/* The length bounds the input. */
	http_query_done(&q);
	assert_int_equal(q.n, 0);
	assert_int_equal(http_query_parse(&q, "a=1&b=2", 3), 0);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.items[0].value, "1");
	http_query_done(&q);
	http_query_done(&q);
	assert_int_equal(http_query_parse(&q, "", 0), 0);
	assert_int_equal(http_query_parse(&q, NULL, 0), 0);
	assert_int_equal(q.n, 0);

	query_fails("wait=1&wait=2", -EEXIST);
	query_fails("wait=1&w%61it=2", -EEXIST); /* the same after decoding */
	query_fails("bad=%zz", -EINVAL);
	query_fails("%zz=1", -EINVAL);
	query_fails("=1", -EINVAL);
	query_fails("a=1&=2", -EINVAL);
	query_fails("nl=a%0Ab", -EINVAL);
	query_fails("x=%", -EINVAL);
	query_fails("a=\x01", -EINVAL);

	char many[HTTP_MAX_QUERY * 8 + 16] = "";
	for (int i = 0; i < HTTP_MAX_QUERY; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "p%d=v&", i);
	assert_int_equal(http_query_parse(&q, many, strlen(many)), 0);
	assert_int_equal(q.n, HTTP_MAX_QUERY);
	http_query_done(&q);
	strcat(many, "one=more");
	query_fails(many, -E2BIG);
}

static void test_request_params(void **state)
{
	struct http_router *r = table_router();
	struct http_match m;
	struct http_request req = {.match = &m};
	const char *path = "/v1/users/7/roles/bot";

	http_router_match(r, HTTP_PUT, path, strlen(path), &m);
	assert_int_equal(m.result, HTTP_MATCH_OK);
	assert_string_equal(http_request_param(&req, "telegram_id"), "7");
	assert_string_equal(http_request_param(&req, "role"), "bot");
	assert_null(http_request_param(&req, "public_key"));
	assert_null(http_request_param(&req, NULL));
	assert_null(http_request_param(NULL, "role"));
	http_router_free(r);
}

/* ---- responses ---- */

static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	return s;
}

static void test_responses(void **state)
{
	struct http_response resp = {0};
	char *s;

	assert_int_equal(http_respond_error(&resp, 404, "not_found", "no %s here", "peer"), 0);
	assert_int_equal(resp.status, 404);
	s = dump(resp.json);
	assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no peer here\"}}");
	free(s);

	/* A message with a client's bytes in it stays printable ASCII (and valid JSON). */
	assert_int_equal(http_respond_error(&resp, 400, "invalid_value", "bad key \"%s\"",
					    "\xff\n\x01z"),
			 0);
	s = dump(resp.json);
	assert_string_equal(
		s, "{\"error\":{\"code\":\"invalid_value\",\"message\":\"bad key \\\"???z\\\"\"}}");
	free(s);

	/* Replacing the body: JSON, then text, then JSON again. */
	assert_int_equal(http_respond_text(&resp, 200, "text/plain; version=0.0.4", "a 1\n", 4), 0);
	assert_null(resp.json);
	assert_int_equal(resp.body_len, 4);
	assert_memory_equal(resp.body, "a 1\n", 4);
	assert_string_equal(resp.content_type, "text/plain; version=0.0.4");
	assert_int_equal(http_respond_json(&resp, 201, json_pack("{s:i}", "n", 1)), 0);
	assert_int_equal(resp.status, 201);
	assert_null(resp.body);
	assert_null(resp.content_type);
	assert_int_equal(http_respond_json(&resp, 200, NULL), -ENOMEM);
	assert_int_equal(http_respond_json(&resp, 99, json_object()), -EINVAL);
	assert_int_equal(http_respond_text(&resp, 204, NULL, NULL, 0), 0);
	assert_int_equal(resp.body_len, 0);
	assert_int_equal(http_respond_text(&resp, 200, NULL, "x", 1), -EINVAL);
	assert_int_equal(http_respond_text(&resp, 200, "text/plain\r\nX-Evil: 1", "x", 1),
			 -EINVAL);
	assert_int_equal(http_respond_text(&resp, 200, "image/png", NULL, 3), -EINVAL);

	assert_int_equal(http_response_add_header(&resp, "Location", "/v1/vpns/7"), 0);
	assert_int_equal(http_response_add_header(&resp, "Bad Name", "x"), -EINVAL);
	assert_int_equal(http_response_add_header(&resp, "", "x"), -EINVAL);
	assert_int_equal(http_response_add_header(&resp, "X-Split", "a\r\nSet-Cookie: x"), -EINVAL);
	assert_int_equal(http_response_add_header(&resp, "X-Null", NULL), -EINVAL);
	for (int i = 1; i < HTTP_MAX_HEADERS; i++)
		assert_int_equal(http_response_add_header(&resp, "X-N", "1"), 0);
	assert_int_equal(http_response_add_header(&resp, "X-N", "1"), -E2BIG);
	assert_string_equal(resp.headers[0].name, "Location");
	http_response_done(&resp);
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.n_headers, 0);
	http_response_done(&resp);
	http_response_done(NULL);

	struct http_error err = {.status = 409, .code = "conflict"};
	snprintf(err.message, sizeof(err.message), "job already done");
	assert_int_equal(http_respond_error_from(&resp, &err), 0);
	assert_int_equal(resp.status, 409);
	s = dump(resp.json);
	assert_string_equal(s,
			    "{\"error\":{\"code\":\"conflict\",\"message\":\"job already done\"}}");
	free(s);
	http_response_done(&resp);
}

/* ---- JSON bodies ---- */

static const struct http_field peer_fields[] = {
	{"public_key", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
	{"preshared_key", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
	{"persistent_keepalive", HTTP_FIELD_INTEGER, 0},
	{"addresses", HTTP_FIELD_ARRAY, 0},
	{"weight", HTTP_FIELD_NUMBER, 0},
	{"enabled", HTTP_FIELD_BOOLEAN, 0},
	{"meta", HTTP_FIELD_OBJECT, 0},
};

static struct http_error parse_fails(const char *body)
{
	struct http_error err = {0};
	json_t *v = (json_t *)0x1;

	assert_int_equal(http_json_parse_object(body, strlen(body), peer_fields,
						ARRAY_SIZE(peer_fields), &v, &err),
			 -EINVAL);
	assert_ptr_equal(v, (json_t *)0x1); /* not written */
	assert_int_equal(err.status, 400);
	assert_non_null(err.code);
	for (const char *p = err.message; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	return err;
}

static void test_json_schema(void **state)
{
	struct http_error err;
	json_t *v = NULL;
	const char *ok = "{\"public_key\":\"k\",\"preshared_key\":null,\"persistent_keepalive\":25,"
			 "\"addresses\":[],\"weight\":1.5,\"enabled\":true,\"meta\":{}}";

	assert_int_equal(http_json_parse_object(ok, strlen(ok), peer_fields,
						ARRAY_SIZE(peer_fields), &v, &err),
			 0);
	assert_string_equal(json_string_value(json_object_get(v, "public_key")), "k");
	json_decref(v);
	ok = "{\"public_key\":\"k\",\"weight\":2}";
	assert_int_equal(http_json_parse_object(ok, strlen(ok), peer_fields,
						ARRAY_SIZE(peer_fields), &v, &err),
			 0);
	json_decref(v);

	err = parse_fails("");
	assert_string_equal(err.code, "bad_json");
	err = parse_fails("{");
	assert_string_equal(err.code, "bad_json");
	err = parse_fails("{\"public_key\":\"k\",}");
	assert_string_equal(err.code, "bad_json");
	err = parse_fails("{\"public_key\":\"k\"} junk");
	assert_string_equal(err.code, "bad_json");
	err = parse_fails("{\"public_key\":\"a\",\"public_key\":\"b\"}");
	assert_string_equal(err.code, "bad_json"); /* duplicate keys */
	err = parse_fails("{\"public_key\":\"a\\u0000b\"}");
	assert_string_equal(err.code, "bad_json");
	err = parse_fails("{\"public_key\":\"\xff\"}");
	assert_string_equal(err.code, "bad_json"); /* not UTF-8 */
	err = parse_fails("{\"persistent_keepalive\":99999999999999999999999}");
	assert_string_equal(err.code, "bad_json");

	err = parse_fails("[]");
	assert_string_equal(err.code, "invalid_type");
	assert_string_equal(err.message, "body: expected an object");
	err = parse_fails("\"str\"");
	assert_string_equal(err.code, "invalid_type");

	err = parse_fails("{\"public_key\":\"k\",\"colour\":1}");
	assert_string_equal(err.code, "unknown_field");
	assert_string_equal(err.message, "unknown field \"colour\"");
	err = parse_fails("{\"public_key\":\"k\",\"x\\ny\":1}");
	assert_string_equal(err.code, "unknown_field");
	assert_string_equal(err.message, "unknown field \"x?y\"");
	err = parse_fails("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			  "aaaaaaaaaaaaaa\":1}");
	assert_string_equal(err.code, "unknown_field");
	assert_string_equal(err.message, "unknown field \"aaaaaaaaaaaaaaaaaaaaaaaa"
					 "aaaaaaaaaaaaaaaaaaaaaaaa...\"");

	err = parse_fails("{\"public_key\":7}");
	assert_string_equal(err.code, "invalid_type");
	assert_string_equal(err.message, "public_key: expected a string");
	err = parse_fails("{\"public_key\":\"k\",\"persistent_keepalive\":25.0}");
	assert_string_equal(err.code, "invalid_type");
	assert_string_equal(err.message, "persistent_keepalive: expected an integer");
	err = parse_fails("{\"public_key\":\"k\",\"persistent_keepalive\":\"25\"}");
	assert_string_equal(err.message, "persistent_keepalive: expected an integer");
	err = parse_fails("{\"public_key\":\"k\",\"persistent_keepalive\":null}");
	assert_string_equal(err.message, "persistent_keepalive: expected an integer");
	err = parse_fails("{\"public_key\":\"k\",\"enabled\":1}");
	assert_string_equal(err.message, "enabled: expected a boolean");
	err = parse_fails("{\"public_key\":\"k\",\"addresses\":{}}");
	assert_string_equal(err.message, "addresses: expected an array");
	err = parse_fails("{\"public_key\":\"k\",\"meta\":[]}");
	assert_string_equal(err.message, "meta: expected an object");
	err = parse_fails("{\"public_key\":\"k\",\"weight\":\"1\"}");
	assert_string_equal(err.message, "weight: expected a number");

	/* The first problem in the client's key order wins. */
	err = parse_fails("{\"enabled\":1,\"zzz\":1}");
	assert_string_equal(err.code, "invalid_type");
	err = parse_fails("{\"zzz\":1,\"enabled\":1}");
	assert_string_equal(err.code, "unknown_field");

	err = parse_fails("{}");
	assert_string_equal(err.code, "missing_field");
	assert_string_equal(err.message, "public_key: required");
	err = parse_fails("{\"preshared_key\":null}");
	assert_string_equal(err.code, "missing_field");

	/* Nested objects name their place. */
	json_t *peer = json_pack("{s:i}", "public_key", 1);
	assert_int_equal(http_schema_check(peer, peer_fields, ARRAY_SIZE(peer_fields),
					   "peers[3]", &err),
			 -EINVAL);
	assert_string_equal(err.message, "peers[3].public_key: expected a string");
	json_object_set_new(peer, "public_key", json_string("k"));
	json_object_set_new(peer, "bogus", json_true());
	assert_int_equal(http_schema_check(peer, peer_fields, ARRAY_SIZE(peer_fields),
					   "peers[3]", &err),
			 -EINVAL);
	assert_string_equal(err.message, "peers[3]: unknown field \"bogus\"");
	json_object_del(peer, "bogus");
	assert_int_equal(http_schema_check(peer, peer_fields, ARRAY_SIZE(peer_fields),
					   "peers[3]", &err),
			 0);
	json_decref(peer);
	assert_int_equal(http_schema_check(NULL, peer_fields, 1, "peers[0]", &err), -EINVAL);
	assert_string_equal(err.message, "peers[0]: expected an object");

	/* http_json_parse takes any value. */
	assert_int_equal(http_json_parse("42", 2, &v, &err), 0);
	assert_true(json_is_integer(v));
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_percent_encode),
		cmocka_unit_test(test_router_validation),
		cmocka_unit_test(test_router_match),
		cmocka_unit_test(test_router_no_match),
		cmocka_unit_test(test_router_public),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_request_params),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_json_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
