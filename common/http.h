/* SPDX-License-Identifier: MIT */
/*
 * The HTTP boundary: the only code that includes <microhttpd.h>. A server with a route table
 * (httproute.h), bearer-token roles, a body limit, optional TLS, per-route Prometheus
 * metrics and an event callback instead of logging. Nothing here knows what the daemon
 * serves; the agent and the controller each pass their own routes and tokens.
 *
 * Threads: one thread per connection (libmicrohttpd's internal polling thread accepts and
 * hands each connection to its own thread), bounded by max_connections. Handlers may block
 * (database, netlink, a controller's ?wait=) without stalling other clients, which a small
 * shared pool would do. Handlers and the event callback run concurrently.
 *
 * Every error response is {"error": {"code", "message"}}; the codes are listed in
 * docs/http.md. (Except the few libmicrohttpd sends by itself before we see the request: a
 * malformed request line or header, headers over its 32 KiB buffer.) Requests are checked
 * in this order: route lookup (not yet revealed), token
 * (401 unless the outcome is public), 404/405/400 for the path, 403 for the role, 413 by
 * Content-Length, query decoding (400), the body (413 past max_body), then the handler.
 */
#pragma once

#include <stdint.h>

#include "httproute.h"
#include "wgdev.h"

enum http_event_level {
	HTTP_EVENT_DEBUG, /* one per answered request */
	HTTP_EVENT_WARN,  /* a 5xx answer, a request cut off, libmicrohttpd's own errors */
};

/*
 * A request answered or abandoned (method != NULL), or a message from libmicrohttpd
 * (method == NULL, message set). Strings are valid only during the callback; path is the
 * raw percent-encoded path as the client sent it (use http_event_format to print it).
 */
struct http_event {
	enum http_event_level level;
	const char *message;   /* NULL, or why: "handler failed: Input/output error" */
	const char *method;    /* as received */
	const char *path;      /* untrusted bytes */
	const char *route;     /* the matched pattern, NULL if none */
	const char *principal; /* the token's name, NULL if none */
	const char *peer;      /* "127.0.0.1", "::1" */
	unsigned status;       /* 0: no response was sent (timeout, client gone) */
	uint64_t duration_us;
	int error; /* the handler's negative errno, else 0 */
};

typedef void (*http_event_fn)(const struct http_event *ev, void *userdata);

/* One log line: `GET /v1/peers/abc 200 0.42ms principal=bot peer=127.0.0.1`; path escaped. */
void http_event_format(const struct http_event *ev, char *buf, size_t size);

struct http_server_config {
	/* AF_INET or AF_INET6 with a port; port 0 picks a free one (http_server_port). */
	union wg_endpoint listen;
	/* PEM files, both or neither; TLS 1.2 and 1.3 only. */
	const char *tls_cert_file, *tls_key_file;
	const struct http_route *routes; /* copied */
	size_t n_routes;
	const struct http_token *tokens; /* only digests are kept */
	size_t n_tokens;
	size_t max_body;                 /* bytes; 0: 1 MiB */
	unsigned max_connections;        /* 0: 64 */
	unsigned max_connections_per_ip; /* 0: no per-address limit */
	unsigned idle_timeout_sec;       /* a silent connection is closed; 0: 30 */
	unsigned request_timeout_sec;    /* headers to last body byte; 0: 30 */
	const char *metrics_prefix;      /* [a-zA-Z_:][a-zA-Z0-9_:]*; NULL: "http" */
	http_event_fn on_event;          /* may be NULL */
	void *event_userdata;
};

struct http_server;

/*
 * Bind, listen and start serving. -EINVAL for a bad config or route table, -errno of
 * socket/bind/listen (-EADDRINUSE, -EACCES), of reading the TLS files, -EOPNOTSUPP if
 * libmicrohttpd lacks TLS, -EIO if libmicrohttpd refuses to start (a bad certificate).
 * On failure ret_err (if not NULL) holds one line naming the cause (and file, if any).
 */
int http_server_start(const struct http_server_config *cfg, struct http_server **ret,
		      char *ret_err, size_t err_size);
/*
 * Close the listening socket and every connection, wait for running handlers to return,
 * free. After it returns no handler or event callback runs. Accepts NULL, returns NULL.
 */
struct http_server *http_server_stop(struct http_server *srv);
/* The bound port, in host order (what port 0 picked). */
uint16_t http_server_port(const struct http_server *srv);

/*
 * Prometheus text for this server: <prefix>_http_requests_total{method,route,code} (code is
 * a class: "2xx", "4xx", ...) and <prefix>_http_request_duration_seconds{method,route}
 * histograms, one series per route (route is the pattern, so cardinality is the table's
 * size) plus route="unmatched" for requests that reached no route. The caller frees
 * *ret_text. -ENOMEM.
 */
int http_server_metrics(struct http_server *srv, char **ret_text, size_t *ret_len);

/* A request header by name (case-insensitive), valid during the handler; NULL if absent. */
const char *http_request_header(const struct http_request *req, const char *name);

/*
 * Read a bearer token from a file: one trailing newline (LF or CRLF) is dropped; the rest
 * must be 1..HTTP_TOKEN_MAX printable characters without spaces. Refused: a file that group
 * or others may access (-EPERM), not a regular file or an empty or bad token (-EINVAL),
 * too large (-EFBIG), and open/read errors. ret_err names the file and the reason, never
 * the content. Free the token with http_token_free(), which wipes it.
 */
int http_token_file_read(const char *path, char **ret_token, char *ret_err, size_t err_size);
char *http_token_free(char *token);
