// SPDX-License-Identifier: MIT
/*
 * The HTTP module's parsers of client bytes: percent-decoding, route matching, query strings,
 * bearer headers and JSON bodies against a schema. The first byte picks the method, the rest
 * is the input. Beyond "never crash, leak or read past len", each result is checked:
 *   - decoding never lengthens and never yields a control byte; encode-then-decode is the
 *     identity;
 *   - a matched route has the request's method and one non-empty parameter per "{name}";
 *   - re-encoding every segment of the path with http_percent_encode (which escapes '/')
 *     and matching again gives the same outcome, route and parameters: segments are split
 *     before decoding, and decoding is consistent with encoding;
 *   - a bearer header is accepted only for a configured token;
 *   - a refused JSON body comes with a 400, a code and a printable message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httproute.h"
#include "wgfleet/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h(const struct http_request *req, struct http_response *resp, void *userdata)
{
	return 0;
}

static const struct http_route routes[] = {
	{HTTP_GET, "/", h, 1, 0, NULL},
	{HTTP_GET, "/healthz", h, 0, HTTP_ROUTE_PUBLIC, NULL},
	{HTTP_GET, "/metrics", h, 3, 0, NULL},
	{HTTP_GET, "/v1/info", h, 1, 0, NULL},
	{HTTP_GET, "/v1/peers", h, 1, 0, NULL},
	{HTTP_POST, "/v1/peers", h, 1, 0, NULL},
	{HTTP_PUT, "/v1/peers", h, 1, 0, NULL},
	{HTTP_GET, "/v1/peers/{public_key}", h, 1, 0, NULL},
	{HTTP_DELETE, "/v1/peers/{public_key}", h, 1, 0, NULL},
	{HTTP_GET, "/v1/users/me", h, 1, 0, NULL},
	{HTTP_PUT, "/v1/users/{telegram_id}", h, 1, 0, NULL},
	{HTTP_GET, "/v1/users/{telegram_id}", h, 1, 0, NULL},
	{HTTP_PATCH, "/v1/users/{telegram_id}", h, 1, 0, NULL},
	{HTTP_PUT, "/v1/users/{telegram_id}/roles/{role}", h, 1, 0, NULL},
	{HTTP_DELETE, "/v1/users/{telegram_id}/roles/{role}", h, 1, 0, NULL},
	{HTTP_POST, "/v1/users/{telegram_id}/vpns", h, 1, 0, NULL},
	{HTTP_GET, "/v1/vpns/{id}/config", h, 1, 0, NULL},
	{HTTP_POST, "/v1/payments/{id}/complete", h, 1, 0, NULL},
	{HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h, 1, 0, NULL},
	{HTTP_GET, "/x/{a}/x/{b}/x/{c}/x/{d}/x/{e}/x/{f}/x/{g}/x/{h}", h, 1, 0, NULL},
};

static const struct http_field fields[] = {
	{"public_key", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
	{"preshared_key", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
	{"persistent_keepalive", HTTP_FIELD_INTEGER, 0},
	{"addresses", HTTP_FIELD_ARRAY, 0},
	{"weight", HTTP_FIELD_NUMBER, 0},
	{"enabled", HTTP_FIELD_BOOLEAN, 0},
	{"meta", HTTP_FIELD_OBJECT, 0},
};

static const struct http_token tokens[] = {
	{"agent-token", 1, "agent"},
	{"b+/=", 2, "b64"},
};

static struct http_router *router;
static struct http_auth *auth;

static const uint32_t methods[] = {0,         HTTP_GET,   HTTP_HEAD,  HTTP_POST,
				   HTTP_PUT,  HTTP_PATCH, HTTP_DELETE};

static size_t count_params(const struct http_route *r)
{
	size_t n = 0;

	for (const char *p = r->pattern; (p = strchr(p, '{')); p++)
		n++;
	return n;
}

static void check_decode(const char *s, size_t len)
{
	char *dec = malloc(len + 1), *enc = malloc(3 * len + 1), *back = malloc(len + 1);
	size_t dlen, elen, blen;

	if (!dec || !enc || !back)
		abort();
	if (http_percent_decode(s, len, dec, &dlen) == 0) {
		if (dlen > len || dec[dlen] != '\0')
			abort();
		for (size_t i = 0; i < dlen; i++)
			if ((unsigned char)dec[i] < 0x20 || (unsigned char)dec[i] == 0x7f)
				abort();
		if (http_percent_encode(dec, dlen, enc, 3 * dlen + 1, &elen) < 0 ||
		    elen > 3 * dlen || http_percent_decode(enc, elen, back, &blen) < 0 ||
		    blen != dlen || memcmp(back, dec, dlen) != 0)
			abort();
	}
	free(dec);
	free(enc);
	free(back);
}

/* The same path with every segment decoded and re-encoded; NULL if it can't be. */
static char *reencode(const char *path, size_t len, size_t *ret_len)
{
	char *out = malloc(3 * len + 2), *seg = malloc(len + 1);
	const char *p = path + 1, *end = path + len;
	size_t o = 0;

	if (!out || !seg)
		abort();
	if (len == 1) {
		out[o++] = '/';
		goto done;
	}
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;
		size_t dlen, elen;

		if (http_percent_decode(p, (size_t)(e - p), seg, &dlen) < 0) {
			free(out);
			free(seg);
			return NULL;
		}
		out[o++] = '/';
		if (http_percent_encode(seg, dlen, out + o, 3 * len + 2 - o, &elen) < 0)
			abort();
		o += elen;
		if (!slash)
			break;
		p = slash + 1;
	}
done:
	out[o] = '\0';
	free(seg);
	*ret_len = o;
	return out;
}

static void check_match(uint32_t method, const char *path, size_t len)
{
	struct http_match *m = malloc(sizeof(*m)), *m2 = malloc(sizeof(*m2));
	size_t len2;
	char *again;

	if (!m || !m2)
		abort();
	http_router_match(router, method, path, len, m);
	switch (m->result) {
	case HTTP_MATCH_OK: {
		uint32_t want = method == HTTP_HEAD ? HTTP_GET : method;

		if (!m->route || m->route != http_router_route(router, m->index) ||
		    m->route->method != want || m->n_params != count_params(m->route))
			abort();
		for (size_t i = 0; i < m->n_params; i++)
			if (m->params[i].len == 0 || strlen(m->params[i].value) != m->params[i].len)
				abort();
		break;
	}
	case HTTP_MATCH_NO_METHOD:
		if (!m->allow || m->route)
			abort();
		break;
	case HTTP_MATCH_NO_PATH:
	case HTTP_MATCH_BAD_PATH:
		if (m->route || m->public || m->n_params)
			abort();
		break;
	}

	if (m->result == HTTP_MATCH_BAD_PATH || len == 0 || path[0] != '/' || len > HTTP_PATH_MAX)
		goto out;
	again = reencode(path, len, &len2);
	if (!again) {
		/* A bad segment past HTTP_MAX_SEGMENTS: the matcher gave up before reaching it. */
		if (m->result != HTTP_MATCH_NO_PATH)
			abort();
		goto out;
	}
	if (len2 <= HTTP_PATH_MAX) {
		http_router_match(router, method, again, len2, m2);
		if (m2->result != m->result || m2->index != m->index || m2->allow != m->allow ||
		    m2->public != m->public || m2->n_params != m->n_params)
			abort();
		for (size_t i = 0; i < m->n_params; i++)
			if (m->params[i].len != m2->params[i].len ||
			    memcmp(m->params[i].value, m2->params[i].value, m->params[i].len) != 0)
				abort();
	}
	free(again);
out:
	free(m);
	free(m2);
}

static void check_auth(const char *s)
{
	const struct http_principal *p = http_auth_check(auth, s);
	const char *t;

	if (!p)
		return;
	t = s + 7;
	while (*t == ' ')
		t++;
	if (strcmp(t, tokens[p->role == 1 ? 0 : 1].token) != 0)
		abort();
}

static void check_json(const char *s, size_t len)
{
	struct http_error err = {0};
	json_t *v = NULL;

	if (http_json_parse_object(s, len, fields, ARRAY_SIZE(fields), &v, &err) < 0) {
		if (v || err.status != 400 || !err.code ||
		    !memchr(err.message, '\0', sizeof(err.message)))
			abort();
		for (const char *c = err.message; *c; c++)
			if (*c < 0x20 || *c >= 0x7f)
				abort();
		return;
	}
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "public_key")))
		abort();
	json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_query q = {0};
	char *s;

	if (!router && (http_router_new(routes, ARRAY_SIZE(routes), &router) < 0 ||
			http_auth_new(tokens, ARRAY_SIZE(tokens), &auth) < 0))
		abort();
	if (size == 0)
		return 0;

	/* A NUL-terminated copy of the input after the method byte, for the C-string APIs. */
	s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	check_decode(s, size - 1);
	check_match(methods[data[0] % ARRAY_SIZE(methods)], s, size - 1);
	if (http_query_parse(&q, s, size - 1) == 0)
		for (size_t i = 0; i < q.n; i++)
			if (!q.items[i].name[0])
				abort();
	http_query_done(&q);
	check_auth(s);
	check_json(s, size - 1);
	free(s);
	return 0;
}
