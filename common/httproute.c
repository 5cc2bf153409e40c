// SPDX-License-Identifier: MIT
/*
 * The pure half of the HTTP module (see httproute.h). Everything here is reached with bytes a
 * client chose, so every length is explicit and every loop is bounded by the input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "httproute.h"
#include "wgfleet/macro.h"

static const struct {
	uint32_t bit;
	const char *name;
} methods[] = {
	{HTTP_GET, "GET"},     {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
	{HTTP_PUT, "PUT"},     {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
};

uint32_t http_method_parse(const char *s)
{
	if (!s)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strcmp(s, methods[i].name) == 0)
			return methods[i].bit;
	return 0;
}

const char *http_method_name(uint32_t method)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (method == methods[i].bit)
			return methods[i].name;
	return "OTHER";
}

void http_allow_format(uint32_t mask, char *buf, size_t size)
{
	size_t off = 0;

	if (!size)
		return;
	buf[0] = '\0';
	if (mask & HTTP_GET)
		mask |= HTTP_HEAD;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		int n;

		if (!(mask & methods[i].bit))
			continue;
		n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", methods[i].name);
		if (n < 0 || (size_t)n >= size - off)
			return; /* truncated but terminated */
		off += (size_t)n;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20; /* 'A'..'F' -> 'a'..'f'; nothing else lands in that range */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int http_percent_decode(const char *s, size_t len, char *buf, size_t *ret_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (is_control(c))
			return -EINVAL;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	*ret_len = o;
	return 0;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int http_percent_encode(const char *s, size_t len, char *buf, size_t size, size_t *ret_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c)) {
			if (size - o < 2)
				return -ENOBUFS;
			buf[o++] = (char)c;
		} else {
			if (size - o < 4)
				return -ENOBUFS;
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	if (size - o < 1)
		return -ENOBUFS;
	buf[o] = '\0';
	*ret_len = o;
	return 0;
}

/* ---- route table ---- */

struct segment {
	const char *text; /* literal bytes, or the parameter's name (NUL-terminated) */
	size_t len;
	bool param;
};

struct compiled_route {
	struct http_route route; /* .pattern points at pattern below */
	char *pattern;
	char *names; /* a second copy of the pattern, cut into parameter names */
	size_t n_segments;
	struct segment segments[HTTP_MAX_SEGMENTS];
};

struct http_router {
	struct compiled_route *routes;
	size_t n;
};

/* RFC 3986 pchar without pct-encoded: what a literal pattern segment may contain. */
static bool is_pchar(unsigned char c)
{
	return is_unreserved(c) || (c && strchr("!$&'()*+,;=:@", c));
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int compile_pattern(struct compiled_route *cr)
{
	char *p, *names = cr->names;
	size_t n = 0;

	if (cr->pattern[0] != '/' || strlen(cr->pattern) > HTTP_PATH_MAX)
		return -EINVAL;
	if (cr->pattern[1] == '\0') {
		cr->n_segments = 0;
		return 0;
	}
	p = cr->pattern + 1;
	names += 1;
	for (;;) {
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct segment *seg;

		if (len == 0 || n == HTTP_MAX_SEGMENTS)
			return -EINVAL;
		seg = &cr->segments[n++];
		if (p[0] == '{') {
			if (len < 3 || p[len - 1] != '}')
				return -EINVAL;
			for (size_t i = 1; i < len - 1; i++)
				if (!is_name_char((unsigned char)p[i]))
					return -EINVAL;
			names[len - 1] = '\0';
			seg->text = names + 1;
			seg->len = len - 2;
			seg->param = true;
		} else {
			for (size_t i = 0; i < len; i++)
				if (!is_pchar((unsigned char)p[i]))
					return -EINVAL;
			seg->text = p;
			seg->len = len;
			seg->param = false;
		}
		if (!slash)
			break;
		p = slash + 1;
		names += len + 1;
	}
	cr->n_segments = n;

	size_t n_params = 0;
	for (size_t i = 0; i < n; i++) {
		if (!cr->segments[i].param)
			continue;
		if (++n_params > HTTP_MAX_PARAMS)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (cr->segments[j].param &&
			    strcmp(cr->segments[i].text, cr->segments[j].text) == 0)
				return -EINVAL; /* a parameter name twice */
	}
	return 0;
}

/* Two patterns that every path matches alike (parameter names don't matter). */
static bool same_shape(const struct compiled_route *a, const struct compiled_route *b)
{
	if (a->n_segments != b->n_segments)
		return false;
	for (size_t i = 0; i < a->n_segments; i++) {
		const struct segment *x = &a->segments[i], *y = &b->segments[i];

		if (x->param != y->param)
			return false;
		if (!x->param && (x->len != y->len || memcmp(x->text, y->text, x->len) != 0))
			return false;
	}
	return true;
}

static bool is_route_method(uint32_t m)
{
	return m == HTTP_GET || m == HTTP_POST || m == HTTP_PUT || m == HTTP_PATCH ||
	       m == HTTP_DELETE;
}

struct http_router *http_router_free(struct http_router *router)
{
	if (!router)
		return NULL;
	for (size_t i = 0; i < router->n; i++) {
		free(router->routes[i].pattern);
		free(router->routes[i].names);
	}
	free(router->routes);
	free(router);
	return NULL;
}

int http_router_new(const struct http_route *routes, size_t n, struct http_router **ret)
{
	struct http_router *r = NULL;
	int err;

	if (n && !routes)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (n) {
		r->routes = calloc(n, sizeof(*r->routes));
		if (!r->routes) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct http_route *src = &routes[i];
		struct compiled_route *cr = &r->routes[i];

		if (!is_route_method(src->method) || !src->pattern || !src->handler ||
		    (src->flags & ~HTTP_ROUTE_FLAGS_ALL) ||
		    (!(src->flags & HTTP_ROUTE_PUBLIC) && !src->roles)) {
			err = -EINVAL;
			goto out;
		}
		cr->route = *src;
		cr->pattern = strdup(src->pattern);
		cr->names = strdup(src->pattern);
		r->n = i + 1;
		if (!cr->pattern || !cr->names) {
			err = -ENOMEM;
			goto out;
		}
		cr->route.pattern = cr->pattern;
		err = compile_pattern(cr);
		if (err < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (r->routes[j].route.method == cr->route.method &&
			    same_shape(&r->routes[j], cr)) {
				err = -EINVAL;
				goto out;
			}
	}
	r->n = n;
	*ret = r;
	r = NULL;
	err = 0;
out:
	http_router_free(r);
	return err;
}

size_t http_router_size(const struct http_router *router)
{
	return router ? router->n : 0;
}

const struct http_route *http_router_route(const struct http_router *router, size_t i)
{
	return router && i < router->n ? &router->routes[i].route : NULL;
}

void http_router_match(const struct http_router *router, uint32_t method, const char *path,
		       size_t len, struct http_match *ret)
{
	struct {
		const char *text;
		size_t len;
	} segs[HTTP_MAX_SEGMENTS];
	const struct compiled_route *found = NULL;
	uint32_t want = method == HTTP_HEAD ? HTTP_GET : method, allow = 0;
	bool all_public = true;
	size_t n = 0, used = 0;

	ret->result = HTTP_MATCH_NO_PATH;
	ret->index = 0;
	ret->route = NULL;
	ret->allow = 0;
	ret->public = false;
	ret->n_params = 0;
	ret->buf[0] = '\0';
	if (!router || !path || len == 0 || path[0] != '/' || len > HTTP_PATH_MAX)
		return;

	/*
	 * Split on raw '/' first, then decode each segment into buf: an encoded "%2F" belongs
	 * to its segment. Each decoded segment plus its NUL takes at most its raw length plus
	 * the '/' before it, so buf (HTTP_PATH_MAX + 1) always has room.
	 */
	if (len > 1) {
		const char *p = path + 1, *end = path + len;

		for (;;) {
			const char *slash = memchr(p, '/', (size_t)(end - p));
			const char *e = slash ? slash : end;
			size_t dlen;

			if (n == HTTP_MAX_SEGMENTS)
				return;
			if (http_percent_decode(p, (size_t)(e - p), ret->buf + used, &dlen) < 0) {
				ret->result = HTTP_MATCH_BAD_PATH;
				return;
			}
			segs[n].text = ret->buf + used;
			segs[n].len = dlen;
			n++;
			used += dlen + 1;
			if (!slash)
				break;
			p = slash + 1;
		}
	}

	for (size_t i = 0; i < router->n; i++) {
		const struct compiled_route *cr = &router->routes[i];
		size_t j;

		if (cr->n_segments != n)
			continue;
		for (j = 0; j < n; j++) {
			const struct segment *s = &cr->segments[j];
			bool same;

			if (s->param)
				same = segs[j].len > 0; /* a parameter is never empty */
			else
				same = s->len == segs[j].len &&
				       memcmp(s->text, segs[j].text, s->len) == 0;
			if (!same)
				break;
		}
		if (j < n)
			continue;
		allow |= cr->route.method;
		all_public = all_public && (cr->route.flags & HTTP_ROUTE_PUBLIC);
		if (!found && cr->route.method == want) {
			found = cr;
			ret->index = i;
		}
	}

	if (found) {
		ret->result = HTTP_MATCH_OK;
		ret->route = &found->route;
		ret->public = found->route.flags & HTTP_ROUTE_PUBLIC;
		for (size_t j = 0; j < n; j++) {
			if (!found->segments[j].param)
				continue;
			ret->params[ret->n_params++] = (struct http_param){
				.name = found->segments[j].text,
				.value = segs[j].text,
				.len = segs[j].len,
			};
		}
	} else if (allow) {
		ret->result = HTTP_MATCH_NO_METHOD;
		ret->allow = allow | (allow & HTTP_GET ? HTTP_HEAD : 0);
		ret->public = all_public;
	}
}

/* ---- bearer tokens ---- */

struct auth_entry {
	uint8_t digest[crypto_hash_sha256_BYTES];
	struct http_principal principal;
};

struct http_auth {
	struct auth_entry *entries;
	size_t n;
	char **names;
};

static bool token_valid(const char *t, size_t len)
{
	if (len == 0 || len > HTTP_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return false;
	return true;
}

struct http_auth *http_auth_free(struct http_auth *auth)
{
	if (!auth)
		return NULL;
	if (auth->entries)
		sodium_memzero(auth->entries, auth->n * sizeof(*auth->entries));
	for (size_t i = 0; i < auth->n; i++)
		free(auth->names[i]);
	free(auth->names);
	free(auth->entries);
	free(auth);
	return NULL;
}

int http_auth_new(const struct http_token *tokens, size_t n, struct http_auth **ret)
{
	struct http_auth *a = NULL;
	int err;

	if (n && !tokens)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->entries = calloc(n ? n : 1, sizeof(*a->entries));
	a->names = calloc(n ? n : 1, sizeof(*a->names));
	if (!a->entries || !a->names) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct http_token *t = &tokens[i];
		struct auth_entry *e = &a->entries[i];
		size_t len = t->token ? strnlen(t->token, HTTP_TOKEN_MAX + 1) : 0;

		a->n = i + 1;
		if (!token_valid(t->token, len) || !t->role || (t->role & (t->role - 1)) ||
		    !t->name || !*t->name) {
			err = -EINVAL;
			goto out;
		}
		crypto_hash_sha256(e->digest, (const unsigned char *)t->token, len);
		a->names[i] = strdup(t->name);
		if (!a->names[i]) {
			err = -ENOMEM;
			goto out;
		}
		e->principal.role = t->role;
		e->principal.name = a->names[i];
		for (size_t j = 0; j < i; j++)
			if (sodium_memcmp(a->entries[j].digest, e->digest, sizeof(e->digest)) ==
			    0) {
				/* One token, two roles: which one would it be? */
				err = -EINVAL;
				goto out;
			}
	}
	*ret = a;
	a = NULL;
	err = 0;
out:
	http_auth_free(a);
	return err;
}

const struct http_principal *http_auth_check(const struct http_auth *auth,
					     const char *authorization)
{
	uint8_t digest[crypto_hash_sha256_BYTES];
	const struct http_principal *found = NULL;
	const char *token;
	size_t len;

	if (!auth || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	token = authorization + 7;
	while (*token == ' ')
		token++;
	len = strnlen(token, HTTP_TOKEN_MAX + 1);
	if (!token_valid(token, len))
		return NULL;
	crypto_hash_sha256(digest, (const unsigned char *)token, len);
	/* No early exit: every configured digest is compared whatever matched before. */
	for (size_t i = 0; i < auth->n; i++)
		if (sodium_memcmp(digest, auth->entries[i].digest, sizeof(digest)) == 0)
			found = &auth->entries[i].principal;
	sodium_memzero(digest, sizeof(digest));
	return found;
}

/* ---- query ---- */

static int query_add(struct http_query *q, const char *raw_name, size_t nlen,
		     const char *raw_value, size_t vlen)
{
	_cleanup_free_ char *name = NULL, *value = NULL;
	struct http_query_param *items;

	if (nlen == 0)
		return -EINVAL;
	if (q->n >= HTTP_MAX_QUERY)
		return -E2BIG;
	name = malloc(nlen + 1);
	value = malloc(vlen + 1);
	if (!name || !value)
		return -ENOMEM;
	if (http_percent_decode(raw_name, nlen, name, &nlen) < 0 ||
	    http_percent_decode(raw_value, vlen, value, &vlen) < 0 || nlen == 0)
		return -EINVAL;
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->items[i].name, name) == 0)
			return -EEXIST;
	items = realloc(q->items, (q->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	q->items = items;
	items[q->n].name = name;
	items[q->n].value = value;
	q->n++;
	name = value = NULL;
	return 0;
}

int http_query_parse(struct http_query *q, const char *raw, size_t len)
{
	const char *p = raw, *end = raw + len;

	if (!raw)
		return len ? -EINVAL : 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		int r;

		if (e > p) {
			r = eq ? query_add(q, p, (size_t)(eq - p), eq + 1, (size_t)(e - eq - 1))
			       : query_add(q, p, (size_t)(e - p), "", 0);
			if (r < 0)
				return r;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return 0;
}

void http_query_done(struct http_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++) {
		free(q->items[i].name);
		free(q->items[i].value);
	}
	free(q->items);
	q->items = NULL;
	q->n = 0;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
	if (!req || !req->match || !name)
		return NULL;
	for (size_t i = 0; i < req->match->n_params; i++)
		if (strcmp(req->match->params[i].name, name) == 0)
			return req->match->params[i].value;
	return NULL;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
	if (!req || !req->query || !name)
		return NULL;
	for (size_t i = 0; i < req->query->n; i++)
		if (strcmp(req->query->items[i].name, name) == 0)
			return req->query->items[i].value;
	return NULL;
}

/* ---- errors and responses ---- */

/* Error messages are printable ASCII: whatever a client put in them, the JSON stays valid. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void error_set(struct http_error *err, unsigned status, const char *code, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));
static void error_set(struct http_error *err, unsigned status, const char *code, const char *fmt,
		      ...)
{
	va_list ap;

	if (!err)
		return;
	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	sanitize(err->message);
}

json_t *http_error_json(const char *code, const char *message)
{
	char buf[sizeof(((struct http_error *)0)->message)];

	snprintf(buf, sizeof(buf), "%s", message ? message : "");
	sanitize(buf);
	return json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "internal", "message",
			 buf);
}

static void response_clear_body(struct http_response *resp)
{
	json_decref(resp->json);
	resp->json = NULL;
	/* A body may be a client's config with its private key. */
	if (resp->body)
		sodium_memzero(resp->body, resp->body_len);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	free(resp->content_type);
	resp->content_type = NULL;
}

int http_respond_json(struct http_response *resp, unsigned status, json_t *body)
{
	if (!body)
		return -ENOMEM;
	if (status < 100 || status > 599) {
		json_decref(body);
		return -EINVAL;
	}
	response_clear_body(resp);
	resp->status = status;
	resp->json = body;
	return 0;
}

/* A header value: no control characters (no CR/LF to split the response with). */
static bool header_value_valid(const char *v)
{
	for (; *v; v++)
		if (is_control((unsigned char)*v) && *v != '\t')
			return false;
	return true;
}

/* An RFC 9110 token. */
static bool header_name_valid(const char *n)
{
	if (!*n)
		return false;
	for (; *n; n++)
		if (!is_name_char((unsigned char)*n) && !strchr("!#$%&'*+-.^`|~", *n))
			return false;
	return true;
}

int http_respond_text(struct http_response *resp, unsigned status, const char *content_type,
		      const void *data, size_t len)
{
	char *body = NULL, *ct = NULL;

	if (status < 100 || status > 599 || (len && !data) || (!content_type && len) ||
	    (content_type && !header_value_valid(content_type)))
		return -EINVAL;
	body = malloc(len ? len : 1);
	ct = content_type ? strdup(content_type) : NULL;
	if (!body || (content_type && !ct)) {
		free(body);
		free(ct);
		return -ENOMEM;
	}
	if (len)
		memcpy(body, data, len);
	response_clear_body(resp);
	resp->status = status;
	resp->body = body;
	resp->body_len = len;
	resp->content_type = ct;
	return 0;
}

int http_respond_error(struct http_response *resp, unsigned status, const char *code,
		       const char *fmt, ...)
{
	struct http_error err = {.status = status, .code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	return http_respond_error_from(resp, &err);
}

int http_respond_error_from(struct http_response *resp, const struct http_error *err)
{
	return http_respond_json(resp, err->status, http_error_json(err->code, err->message));
}

int http_response_add_header(struct http_response *resp, const char *name, const char *value)
{
	char *n, *v;

	if (!name || !value || !header_name_valid(name) || !header_value_valid(value))
		return -EINVAL;
	if (resp->n_headers >= HTTP_MAX_HEADERS)
		return -E2BIG;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	resp->headers[resp->n_headers].name = n;
	resp->headers[resp->n_headers].value = v;
	resp->n_headers++;
	return 0;
}

void http_response_done(struct http_response *resp)
{
	if (!resp)
		return;
	response_clear_body(resp);
	for (size_t i = 0; i < resp->n_headers; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	resp->n_headers = 0;
	resp->status = 0;
}

/* ---- JSON bodies ---- */

int http_json_parse(const char *body, size_t len, json_t **ret, struct http_error *ret_err)
{
	json_error_t jerr;
	json_t *v;

	if (!body || len == 0) {
		error_set(ret_err, 400, "bad_json", "request body is empty; expected JSON");
		return -EINVAL;
	}
	v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v) {
		error_set(ret_err, 400, "bad_json", "malformed JSON at line %d column %d: %s",
			  jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static const char *type_name(enum http_field_type t)
{
	switch (t) {
	case HTTP_FIELD_STRING:
		return "a string";
	case HTTP_FIELD_INTEGER:
		return "an integer";
	case HTTP_FIELD_NUMBER:
		return "a number";
	case HTTP_FIELD_BOOLEAN:
		return "a boolean";
	case HTTP_FIELD_ARRAY:
		return "an array";
	case HTTP_FIELD_OBJECT:
		return "an object";
	}
	return "a value";
}

static bool type_matches(enum http_field_type t, const json_t *v)
{
	switch (t) {
	case HTTP_FIELD_STRING:
		return json_is_string(v);
	case HTTP_FIELD_INTEGER:
		return json_is_integer(v);
	case HTTP_FIELD_NUMBER:
		return json_is_number(v);
	case HTTP_FIELD_BOOLEAN:
		return json_is_boolean(v);
	case HTTP_FIELD_ARRAY:
		return json_is_array(v);
	case HTTP_FIELD_OBJECT:
		return json_is_object(v);
	}
	return false;
}

int http_schema_check(const json_t *value, const struct http_field *fields, size_t n,
		      const char *where, struct http_error *ret_err)
{
	const char *dot = where ? "." : "", *w = where ? where : "";
	const char *key;
	json_t *v;

	if (!json_is_object(value)) {
		error_set(ret_err, 400, "invalid_type", "%s: expected an object",
			  where ? where : "body");
		return -EINVAL;
	}
	/* jansson keeps insertion order, so "the first problem" is the client's order. */
	json_object_foreach((json_t *)value, key, v) {
		const struct http_field *f = NULL;

		for (size_t i = 0; i < n && !f; i++)
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		if (!f) {
			/* The name is the client's: truncated, and sanitized by error_set. */
			error_set(ret_err, 400, "unknown_field", "%s%sunknown field \"%.48s%s\"", w,
				  where ? ": " : "", key, strlen(key) > 48 ? "..." : "");
			return -EINVAL;
		}
		if (json_is_null(v) && (f->flags & HTTP_FIELD_NULLABLE))
			continue;
		if (!type_matches(f->type, v)) {
			error_set(ret_err, 400, "invalid_type", "%s%s%s: expected %s", w, dot,
				  f->name, type_name(f->type));
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n; i++)
		if ((fields[i].flags & HTTP_FIELD_REQUIRED) &&
		    !json_object_get(value, fields[i].name)) {
			error_set(ret_err, 400, "missing_field", "%s%s%s: required", w, dot,
				  fields[i].name);
			return -EINVAL;
		}
	return 0;
}

int http_json_parse_object(const char *body, size_t len, const struct http_field *fields,
			   size_t n, json_t **ret, struct http_error *ret_err)
{
	json_t *v = NULL;
	int r;

	r = http_json_parse(body, len, &v, ret_err);
	if (r < 0)
		return r;
	r = http_schema_check(v, fields, n, NULL, ret_err);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
