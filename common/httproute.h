/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the HTTP module: methods, strict percent-decoding, the route table and its
 * matcher, bearer-token checking, the request and response structs handlers see, JSON body
 * parsing with a strict object schema, and the JSON error format. No I/O and no
 * libmicrohttpd here (http.h adds the server), so all of it is unit-tested and fuzzed.
 *
 * Errors: 0 or -errno. Functions that can fail because of what a client sent fill a
 * struct http_error (status, stable code, message) that a handler answers with
 * http_respond_error_from(). Messages are printable ASCII; client bytes are never echoed
 * raw and a field name the client made up is truncated.
 *
 * Ownership: http_router_free(), http_auth_free() accept NULL and return NULL. A router and
 * an auth table are read-only after creation and safe to share between threads.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Methods as bits, so a path's allowed methods are a mask (the Allow header of a 405). */
enum {
	HTTP_GET = 1U << 0,
	HTTP_HEAD = 1U << 1, /* requests only: served by the GET route, body dropped */
	HTTP_POST = 1U << 2,
	HTTP_PUT = 1U << 3,
	HTTP_PATCH = 1U << 4,
	HTTP_DELETE = 1U << 5,
	HTTP_METHOD_ALL = (1U << 6) - 1,
};

/* The bit for an exact, case-sensitive method name; 0 for any other (OPTIONS, "get", ...). */
uint32_t http_method_parse(const char *s);
/* "GET", ...; "OTHER" for 0 or a mask of several. */
const char *http_method_name(uint32_t method);
/* "GET, HEAD, POST" for a mask (HEAD is listed whenever GET is); always terminated. */
void http_allow_format(uint32_t methods, char *buf, size_t size);

/*
 * Strict percent-decoding of len bytes of s into buf, which must hold len + 1 bytes and may
 * be s itself (decoding never lengthens). '%' must be followed by two hex digits and '+'
 * stays '+' (base64 keys contain it). A raw or decoded byte below 0x20 or 0x7f is refused
 * too: decoded values are C strings and may end up in a log. -EINVAL on any of those (buf
 * then holds garbage); else buf is NUL-terminated and *ret_len is its length.
 */
int http_percent_decode(const char *s, size_t len, char *buf, size_t *ret_len);
/*
 * Encode every byte except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), so the
 * result is safe as one path segment or query value. buf holds size bytes (3 * len + 1 is
 * always enough); -ENOBUFS if it is too small. NUL-terminated; *ret_len its length.
 */
int http_percent_encode(const char *s, size_t len, char *buf, size_t size, size_t *ret_len);

struct http_request;
struct http_response;

/*
 * A handler answers through resp (http_respond_*) and returns 0, or a negative errno for a
 * failure of its own, which the client sees as 500 `internal` (the errno goes to the event
 * callback, never to the client). Called on the server's connection threads, concurrently.
 */
typedef int (*http_handler_fn)(const struct http_request *req, struct http_response *resp,
			       void *userdata);

enum {
	HTTP_ROUTE_PUBLIC = 1U << 0, /* no token needed (/healthz) */
	HTTP_ROUTE_FLAGS_ALL = (1U << 1) - 1,
};

/*
 * One entry of the route table. pattern is "/" or "/seg/seg..." where a segment is a literal
 * (RFC 3986 pchar characters, no '%') or a whole-segment parameter "{name}" ([A-Za-z0-9_]+)
 * that matches one non-empty path segment, percent-decoded. roles is the mask of token
 * roles allowed (ignored for a public route). Routes are tried in table order and the first
 * whose method and pattern match wins.
 */
struct http_route {
	uint32_t method; /* exactly one of GET, POST, PUT, PATCH, DELETE */
	const char *pattern;
	http_handler_fn handler;
	uint32_t roles;
	uint32_t flags;
	void *userdata;
};

#define HTTP_MAX_SEGMENTS 16
#define HTTP_MAX_PARAMS 8
#define HTTP_PATH_MAX 2048 /* longer paths match no route */

struct http_router;

/*
 * Check and copy a route table (patterns are copied; handlers and userdata are kept as
 * pointers). -EINVAL for a bad pattern or method, a missing handler, a non-public route with
 * no roles, or two routes with the same method and equivalent patterns; -ENOMEM.
 */
int http_router_new(const struct http_route *routes, size_t n, struct http_router **ret);
struct http_router *http_router_free(struct http_router *router);
size_t http_router_size(const struct http_router *router);
/* The i-th route as copied (its pattern is the router's copy); NULL past the end. */
const struct http_route *http_router_route(const struct http_router *router, size_t i);

enum http_match_result {
	HTTP_MATCH_OK,
	HTTP_MATCH_NO_PATH,   /* 404 */
	HTTP_MATCH_NO_METHOD, /* 405, allow says which methods the path has */
	HTTP_MATCH_BAD_PATH,  /* 400: a bad percent-escape or a control character */
};

struct http_param {
	const char *name;  /* the router's copy */
	const char *value; /* decoded, NUL-terminated, in the match's buffer */
	size_t len;
};

struct http_match {
	enum http_match_result result;
	size_t index; /* HTTP_MATCH_OK: the route's index in the table */
	const struct http_route *route;
	uint32_t allow; /* HTTP_MATCH_NO_METHOD: the path's methods, HEAD with GET */
	/*
	 * No token needed for this outcome: the route is public, or (405) every route on this
	 * path is. Anything else is checked for a token before the client learns whether the
	 * path exists.
	 */
	bool public;
	size_t n_params;
	struct http_param params[HTTP_MAX_PARAMS];
	char buf[HTTP_PATH_MAX + 1];
};

/*
 * Match len bytes of a raw (still percent-encoded) request path, without the query, for a
 * method bit (HEAD finds the GET route; 0 finds nothing). Segments are split on raw '/'
 * before decoding, so "%2F" inside a key stays inside its segment. Never fails; the
 * outcome is in ret->result.
 */
void http_router_match(const struct http_router *router, uint32_t method, const char *path,
		       size_t len, struct http_match *ret);

/* Who presented a valid token. */
struct http_principal {
	uint32_t role;    /* one bit, the daemon's own meaning */
	const char *name; /* for logs: "bot", "admin", "agent" */
};

struct http_token {
	const char *token; /* printable ASCII without spaces, 1..HTTP_TOKEN_MAX bytes */
	uint32_t role;     /* exactly one bit */
	const char *name;
};

#define HTTP_TOKEN_MAX 4096

struct http_auth;

/*
 * Keep only the SHA-256 digest of each token (the caller may wipe its copies afterwards).
 * -EINVAL for a bad token, role or name, or a token listed twice; -ENOMEM; -EIO if
 * libsodium cannot start.
 */
int http_auth_new(const struct http_token *tokens, size_t n, struct http_auth **ret);
struct http_auth *http_auth_free(struct http_auth *auth);
/*
 * The principal for an Authorization header value ("Bearer <token>", scheme in any case),
 * or NULL when it is missing, of another scheme or not a configured token. The presented
 * token is hashed and its digest compared with every configured digest in constant time,
 * so neither the content nor the length of a configured token leaks.
 */
const struct http_principal *http_auth_check(const struct http_auth *auth,
					     const char *authorization);

struct http_query_param {
	char *name, *value; /* decoded */
};

/* Decoded query parameters; each name at most once. */
struct http_query {
	struct http_query_param *items;
	size_t n;
};

#define HTTP_MAX_QUERY 32

/*
 * Parse len bytes of a raw query string (after the '?'): '&'-separated name=value pairs,
 * each strictly percent-decoded ('+' stays '+'; a bare "name" has the value ""; empty pairs
 * as in "a=1&&b=2" are skipped). Appends to q. -EINVAL for a bad escape or an empty name,
 * -EEXIST for a name given twice, -E2BIG past HTTP_MAX_QUERY, -ENOMEM; q keeps what was
 * added before the error (free it with http_query_done either way).
 */
int http_query_parse(struct http_query *q, const char *raw, size_t len);
void http_query_done(struct http_query *q);

/* What a handler sees. The server fills it; handlers only read it. */
struct http_request {
	uint32_t method;  /* HTTP_HEAD on a GET route for a HEAD request */
	const char *path; /* raw, percent-encoded, without the query */
	const struct http_route *route;
	const struct http_principal *principal; /* NULL on a public route */
	const char *body;                       /* NUL-terminated; "" when there is none */
	size_t body_len;
	/* Read through the accessors. */
	const struct http_match *match;
	const struct http_query *query;
	void *internal; /* the server's; NULL when a test builds a request by hand */
};

/* A path parameter by the name in the pattern ("public_key"), decoded; NULL if none. */
const char *http_request_param(const struct http_request *req, const char *name);
/* A decoded query parameter; NULL if absent ("" for a bare "?name"). */
const char *http_request_query(const struct http_request *req, const char *name);

/*
 * An error for the client: the status, a stable code from the list in docs/http.md (a
 * static string) and a one-line printable ASCII message.
 */
struct http_error {
	unsigned status;
	const char *code;
	char message[192];
};

/* {"error": {"code": code, "message": message}}; non-printable bytes become '?'. NULL: ENOMEM. */
json_t *http_error_json(const char *code, const char *message);

#define HTTP_MAX_HEADERS 8

/* What a handler answers. Start from {0}; http_response_done() releases it. */
struct http_response {
	unsigned status; /* 0: nothing set yet */
	json_t *json;    /* sent compact, with a final newline */
	char *body;      /* used when json is NULL */
	size_t body_len;
	char *content_type;
	size_t n_headers;
	struct {
		char *name, *value;
	} headers[HTTP_MAX_HEADERS];
};

/*
 * Each respond function replaces any earlier body and status. They return 0, so a handler
 * can end with `return http_respond_...(...)`.
 */
/* Steals the reference to body, even on error; a NULL body (a failed json_pack) is -ENOMEM. */
int http_respond_json(struct http_response *resp, unsigned status, json_t *body);
/* Copies len bytes; content_type NULL with len 0 for an empty answer (204). -EINVAL, -ENOMEM. */
int http_respond_text(struct http_response *resp, unsigned status, const char *content_type,
		      const void *data, size_t len);
/* The standard error body; code must be a static string. */
int http_respond_error(struct http_response *resp, unsigned status, const char *code,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int http_respond_error_from(struct http_response *resp, const struct http_error *err);
/* An extra header (Location, Retry-After, ...). -EINVAL for a bad name or value, -E2BIG. */
int http_response_add_header(struct http_response *resp, const char *name, const char *value);
void http_response_done(struct http_response *resp);

enum http_field_type {
	HTTP_FIELD_STRING = 1,
	HTTP_FIELD_INTEGER, /* a JSON integer: 3, not 3.0 */
	HTTP_FIELD_NUMBER,  /* integer or real */
	HTTP_FIELD_BOOLEAN,
	HTTP_FIELD_ARRAY,
	HTTP_FIELD_OBJECT,
};

enum {
	HTTP_FIELD_REQUIRED = 1U << 0,
	HTTP_FIELD_NULLABLE = 1U << 1, /* null is accepted (and counts as present) */
	HTTP_FIELD_FLAGS_ALL = (1U << 2) - 1,
};

struct http_field {
	const char *name;
	enum http_field_type type;
	uint32_t flags;
};

/*
 * Parse a JSON body (any value; duplicate keys and "\u0000" refused). -EINVAL with
 * 400 `bad_json` for an empty or malformed body.
 */
int http_json_parse(const char *body, size_t len, json_t **ret, struct http_error *ret_err);
/*
 * Check that value is an object whose keys are all in fields, each of its type, with every
 * required field present. The first problem in key order wins: 400 `unknown_field`,
 * `invalid_type` or `missing_field`, the message naming the field as "where.name" (where
 * may be NULL, or "peers[3]" for a nested object). -EINVAL on a mismatch.
 */
int http_schema_check(const json_t *value, const struct http_field *fields, size_t n,
		      const char *where, struct http_error *ret_err);
/* Both of the above: the body must be a JSON object matching fields. */
int http_json_parse_object(const char *body, size_t len, const struct http_field *fields,
			   size_t n, json_t **ret, struct http_error *ret_err);
