// SPDX-License-Identifier: MIT
/*
 * The HTTP server on libmicrohttpd (see http.h). libmicrohttpd calls on_access() several
 * times per request: once when the headers are in (route, token, role and limits are decided
 * there, and an error is answered at once, before any body is read or "100 Continue" is
 * sent), once per body chunk, and once more when the body is complete (the handler runs).
 * on_completed() ends every request: metrics, the event, freeing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <sodium.h>

#include "http.h"
#include "secretfile.h"
#include "wgfleet/macro.h"

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT_SEC 30
#define TLS_FILE_MAX (1024 * 1024)
/* No SSL 3.0, TLS 1.0 or 1.1; GnuTLS's NORMAL set otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

static const char internal_body[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}\n";

/* Upper bounds of the latency buckets, in microseconds and as Prometheus prints them. */
static const uint64_t bucket_us[] = {100,    250,    500,     1000,    2500,    5000,
				     10000,  25000,  50000,   100000,  250000,  500000,
				     1000000, 2500000, 5000000, 10000000};
static const char *const bucket_le[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					"0.005",  "0.01",    "0.025",  "0.05",  "0.1",
					"0.25",   "0.5",     "1",      "2.5",   "5",
					"10"};
#define N_BUCKETS ARRAY_SIZE(bucket_us)
_Static_assert(ARRAY_SIZE(bucket_us) == ARRAY_SIZE(bucket_le), "bucket tables");

/* Relaxed atomics: each counter is exact, a scrape is not a snapshot across counters. */
struct route_metrics {
	atomic_uint_least64_t by_class[5];            /* 1xx .. 5xx */
	atomic_uint_least64_t buckets[N_BUCKETS + 1]; /* not cumulative; the last is > 10 s */
	atomic_uint_least64_t sum_us;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_router *router;
	struct http_auth *auth;
	struct route_metrics *metrics; /* one per route, then one for "unmatched" */
	size_t n_routes;
	size_t max_body;
	uint64_t request_timeout_us;
	uint16_t port;
	char *prefix;
	http_event_fn on_event;
	void *event_userdata;
	char *tls_cert, *tls_key;
	size_t tls_key_len;
	atomic_bool starting;
	char start_err[200]; /* libmicrohttpd's last message while starting */
};

struct request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_request req;
	struct http_match match;
	struct http_query query;
	const struct http_principal *principal;
	const char *method; /* NULL until the headers are in */
	char *uri;          /* as the client sent it, cut at the '?' into path and query */
	size_t path_len;
	const char *query_raw; /* NULL: no '?' */
	size_t slot; /* metrics slot */
	uint64_t start_us;
	char *body;
	size_t body_len, body_cap;
	bool discard;    /* over max_body: read and drop the rest, then 413 */
	unsigned status; /* queued response; 0: none yet */
	int error;       /* the handler's negative errno */
	const char *message;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- responses ---- */

static enum MHD_Result queue_mhd(struct request *rq, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);

	MHD_destroy_response(r);
	if (ret == MHD_YES)
		rq->status = status;
	return ret;
}

/* The last resort when even building an error fails: a static body, no allocation. */
static enum MHD_Result queue_internal(struct request *rq)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(sizeof(internal_body) - 1, (void *)internal_body,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
		    MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue_mhd(rq, 500, r);
}

/* A response body that may hold a client's private key (a config, a QR code) or a token:
 * wiped before it is freed, whenever libmicrohttpd is done with it. */
struct wiped_body {
	size_t len;
	char data[];
};

static void wiped_body_free(void *cls)
{
	struct wiped_body *w = cls;

	sodium_memzero(w->data, w->len);
	free(w);
}

static struct wiped_body *wiped_body_new(size_t len)
{
	struct wiped_body *w = malloc(sizeof(*w) + len + 1);

	if (w)
		w->len = len + 1;
	return w;
}

static struct MHD_Response *wiped_response(struct wiped_body *w, size_t len)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer_with_free_callback_cls(len, w->data, wiped_body_free,
								   w);
	if (!r)
		wiped_body_free(w);
	return r;
}

static enum MHD_Result queue(struct request *rq, struct http_response *resp)
{
	struct MHD_Response *r = NULL;
	const char *ct = resp->content_type;
	bool ok;

	if (resp->status == 0)
		return queue_internal(rq);
	if (resp->json) {
		size_t len = json_dumpb(resp->json, NULL, 0, JSON_COMPACT);
		struct wiped_body *w = len ? wiped_body_new(len) : NULL;

		if (!w || json_dumpb(resp->json, w->data, len, JSON_COMPACT) != len) {
			if (w)
				wiped_body_free(w);
			return queue_internal(rq);
		}
		w->data[len++] = '\n';
		r = wiped_response(w, len);
		ct = "application/json";
	} else if (resp->body_len) {
		struct wiped_body *w = wiped_body_new(resp->body_len);

		if (!w)
			return queue_internal(rq);
		memcpy(w->data, resp->body, resp->body_len);
		r = wiped_response(w, resp->body_len);
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return queue_internal(rq);

	/* Answers carry configs, keys and users' data: never cached by proxies, never sniffed. */
	ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
	     MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
	if (ct)
		ok = ok && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct) == MHD_YES;
	for (size_t i = 0; i < resp->n_headers; i++)
		ok = ok && MHD_add_response_header(r, resp->headers[i].name,
						   resp->headers[i].value) == MHD_YES;
	if (!ok) {
		MHD_destroy_response(r);
		return queue_internal(rq);
	}
	return queue_mhd(rq, resp->status, r);
}

/* An error answer with an optional extra header (Allow, WWW-Authenticate). */
static enum MHD_Result answer_error(struct request *rq, unsigned status, const char *code,
				    const char *message, const char *hname, const char *hvalue)
{
	struct http_response resp = {0};
	enum MHD_Result ret;

	if (http_respond_error(&resp, status, code, "%s", message) < 0 ||
	    (hname && http_response_add_header(&resp, hname, hvalue) < 0))
		http_response_done(&resp);
	ret = queue(rq, &resp);
	http_response_done(&resp);
	return ret;
}

/* ---- the request's life ---- */

static struct request *request_free(struct request *rq)
{
	if (!rq)
		return NULL;
	http_query_done(&rq->query);
	/* Request bodies carry agent tokens (POST /v1/nodes) and preshared keys. */
	if (rq->body)
		sodium_memzero(rq->body, rq->body_cap);
	free(rq->body);
	free(rq->uri);
	free(rq);
	return NULL;
}

static enum MHD_Result request_begin(struct request *rq)
{
	struct http_server *srv = rq->srv;
	const struct http_match *m = &rq->match;
	const char *cl;
	char allow[64];
	int r;

	http_router_match(srv->router, http_method_parse(rq->method), rq->uri, rq->path_len,
			  &rq->match);
	rq->slot = m->result == HTTP_MATCH_OK ? m->index : srv->n_routes;

	/* Before anything that would tell a stranger whether the path exists. */
	if (!m->public) {
		rq->principal = http_auth_check(
			srv->auth, MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION));
		if (!rq->principal)
			return answer_error(rq, 401, "unauthorized", "missing or invalid token",
					    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	}
	switch (m->result) {
	case HTTP_MATCH_OK:
		break;
	case HTTP_MATCH_NO_PATH:
		return answer_error(rq, 404, "not_found", "no such resource", NULL, NULL);
	case HTTP_MATCH_NO_METHOD:
		http_allow_format(m->allow, allow, sizeof(allow));
		return answer_error(rq, 405, "method_not_allowed",
				    "method not allowed on this resource", MHD_HTTP_HEADER_ALLOW,
				    allow);
	case HTTP_MATCH_BAD_PATH:
		return answer_error(rq, 400, "bad_request",
				    "malformed percent-encoding or control character in the path",
				    NULL, NULL);
	}
	if (!m->public && !(m->route->roles & rq->principal->role))
		return answer_error(rq, 403, "forbidden", "this token may not do this", NULL, NULL);

	cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		/* libmicrohttpd has already refused a malformed Content-Length. */
		unsigned long long n = strtoull(cl, NULL, 10);

		if (n > srv->max_body) {
			char msg[80];

			snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->max_body);
			return answer_error(rq, 413, "payload_too_large", msg, NULL, NULL);
		}
		if (n) {
			rq->body = malloc((size_t)n + 1);
			if (!rq->body)
				return queue_internal(rq);
			rq->body_cap = (size_t)n + 1;
		}
	}

	r = rq->query_raw ? http_query_parse(&rq->query, rq->query_raw, strlen(rq->query_raw)) : 0;
	switch (r) {
	case 0:
		return MHD_YES;
	case -EEXIST:
		return answer_error(rq, 400, "bad_request", "a query parameter is given twice",
				    NULL, NULL);
	case -E2BIG:
		return answer_error(rq, 400, "bad_request", "too many query parameters", NULL,
				    NULL);
	case -EINVAL:
		return answer_error(rq, 400, "bad_request", "malformed query parameter", NULL,
				    NULL);
	default:
		return queue_internal(rq);
	}
}

/* One chunk of body: 0 to go on, -ETIMEDOUT to drop the connection, -ENOMEM. */
static int request_body(struct request *rq, const char *data, size_t n)
{
	struct http_server *srv = rq->srv;

	if (srv->request_timeout_us && now_us() - rq->start_us > srv->request_timeout_us) {
		rq->message = "request timeout: the body came too slowly";
		return -ETIMEDOUT;
	}
	if (rq->discard)
		return 0;
	if (n > srv->max_body - rq->body_len) {
		/*
		 * A chunked body over the limit: libmicrohttpd can't answer mid-body, so the rest
		 * is read and dropped (bounded by request_timeout) and 413 follows.
		 */
		rq->discard = true;
		if (rq->body)
			sodium_memzero(rq->body, rq->body_cap);
		free(rq->body);
		rq->body = NULL;
		rq->body_len = rq->body_cap = 0;
		return 0;
	}
	if (rq->body_len + n + 1 > rq->body_cap) {
		size_t cap = rq->body_cap ? rq->body_cap : 4096;
		char *b;

		while (cap < rq->body_len + n + 1)
			cap *= 2;
		if (cap > srv->max_body + 1)
			cap = srv->max_body + 1;
		/* Not realloc: it could leave a copy of the secret-bearing body behind. */
		b = malloc(cap);
		if (!b)
			return -ENOMEM;
		if (rq->body) {
			memcpy(b, rq->body, rq->body_len);
			sodium_memzero(rq->body, rq->body_cap);
			free(rq->body);
		}
		rq->body = b;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	return 0;
}

static enum MHD_Result request_finish(struct request *rq)
{
	const struct http_route *route = rq->match.route;
	struct http_response resp = {0};
	enum MHD_Result ret;
	char msg[80];
	int r;

	if (rq->discard) {
		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", rq->srv->max_body);
		return answer_error(rq, 413, "payload_too_large", msg, NULL, NULL);
	}
	if (rq->body)
		rq->body[rq->body_len] = '\0';
	rq->req = (struct http_request){
		.method = http_method_parse(rq->method),
		.path = rq->uri,
		.route = route,
		.principal = rq->match.public ? NULL : rq->principal,
		.body = rq->body ? rq->body : "",
		.body_len = rq->body_len,
		.match = &rq->match,
		.query = &rq->query,
		.internal = rq,
	};
	r = route->handler(&rq->req, &resp, route->userdata);
	if (r < 0 || resp.status == 0) {
		rq->error = r < 0 ? r : -EINVAL;
		rq->message = r < 0 ? "handler failed" : "handler gave no response";
		http_response_done(&resp);
		if (http_respond_error(&resp, 500, "internal", "internal error") < 0)
			http_response_done(&resp);
	}
	ret = queue(rq, &resp);
	http_response_done(&resp);
	return ret;
}

/*
 * The first thing libmicrohttpd reports of a request, with the URI exactly as sent. Its
 * own query parsing turns '+' into ' ' (HTML forms), which would corrupt base64 values, so
 * the request starts here and the query is parsed from this copy. What this returns is the
 * request's context; on_completed() frees it even if the headers are then refused.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->srv = cls;
	rq->conn = conn;
	rq->start_us = now_us();
	rq->slot = rq->srv->n_routes;
	rq->uri = strdup(uri);
	if (!rq->uri) {
		free(rq);
		return NULL;
	}
	rq->path_len = strcspn(rq->uri, "?");
	if (rq->uri[rq->path_len] == '?') {
		rq->uri[rq->path_len] = '\0';
		rq->query_raw = rq->uri + rq->path_len + 1;
	}
	return rq;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;
	size_t n;

	if (!rq)
		return MHD_NO; /* on_uri ran out of memory */
	if (!rq->method) {
		rq->method = method;
		return request_begin(rq);
	}
	n = *upload_data_size;
	*upload_data_size = 0;
	if (rq->status)
		return MHD_YES; /* answered early; whatever body still comes is dropped */
	if (n)
		return request_body(rq, upload_data, n) < 0 ? MHD_NO : MHD_YES;
	return request_finish(rq);
}

static void metrics_observe(struct http_server *srv, size_t slot, unsigned status, uint64_t us)
{
	struct route_metrics *m = &srv->metrics[slot];
	size_t b = 0;

	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&m->by_class[status / 100 - 1], 1, memory_order_relaxed);
	while (b < N_BUCKETS && us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, us, memory_order_relaxed);
}

static void peer_address(struct MHD_Connection *conn, char buf[static INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	buf[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
			  INET6_ADDRSTRLEN);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  INET6_ADDRSTRLEN);
}

static const char *termination_reason(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK:
		return NULL;
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
		return "idle timeout";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
		return "server shutting down";
	case MHD_REQUEST_TERMINATED_READ_ERROR:
		return "read error";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
		return "client closed the connection";
	default:
		return "connection error";
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct request *rq = *con_cls;
	char peer[INET6_ADDRSTRLEN];
	uint64_t us;

	if (!rq)
		return;
	*con_cls = NULL;
	us = now_us() - rq->start_us;
	if (rq->status)
		metrics_observe(srv, rq->slot, rq->status, us);
	if (srv->on_event) {
		struct http_event ev = {
			.level = rq->status >= 500 ? HTTP_EVENT_WARN : HTTP_EVENT_DEBUG,
			.message = rq->message ? rq->message : termination_reason(toe),
			.method = rq->method ? rq->method : "-",
			.path = rq->uri,
			.route = rq->match.route ? rq->match.route->pattern : NULL,
			.principal = rq->principal ? rq->principal->name : NULL,
			.peer = peer,
			.status = rq->status,
			.duration_us = us,
			.error = rq->error,
		};

		peer_address(conn, peer);
		srv->on_event(&ev, srv->event_userdata);
	}
	request_free(rq);
}

/*
 * Paths come from on_uri(); this keeps libmicrohttpd from decoding its own copies too (its
 * decoding would turn "%2F" into "/" and accept any escape).
 */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char buf[256];
	size_t len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (atomic_load(&srv->starting))
		snprintf(srv->start_err, sizeof(srv->start_err), "%s", buf);
	if (srv->on_event) {
		struct http_event ev = {.level = HTTP_EVENT_WARN, .message = buf};

		srv->on_event(&ev, srv->event_userdata);
	}
}

/* ---- start and stop ---- */

/* Read a whole file (at most max bytes) NUL-terminated; -EFBIG past max. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	buf = malloc(max + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == max) {
			char c;

			n = read(fd, &c, 1);
			if (n < 0 && errno == EINTR)
				continue;
			err = n < 0 ? negative_errno() : n > 0 ? -EFBIG : 0;
			if (err < 0)
				goto out;
			break;
		}
		n = read(fd, buf + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = negative_errno();
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	err = 0;
out:
	if (buf) {
		sodium_memzero(buf, max + 1);
		free(buf);
	}
	close(fd);
	return err;
}

static bool prefix_valid(const char *p)
{
	for (size_t i = 0; p[i]; i++) {
		char c = p[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     c == ':';

		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return p[0] != '\0';
}

static int listen_socket(const union wg_endpoint *ep, int *ret_fd, uint16_t *ret_port)
{
	union wg_endpoint bound;
	socklen_t len = ep->addr.sa_family == AF_INET ? sizeof(ep->addr4) : sizeof(ep->addr6);
	socklen_t blen = sizeof(bound);
	int fd, one = 1, err;

	fd = socket(ep->addr.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	/* A restarted daemon must not wait out TIME_WAIT connections of its predecessor. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, &ep->addr, len) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, &bound.addr, &blen) < 0) {
		err = negative_errno();
		close(fd);
		return err;
	}
	*ret_port = ntohs(bound.addr.sa_family == AF_INET ? bound.addr4.sin_port
							   : bound.addr6.sin6_port);
	*ret_fd = fd;
	return 0;
}

struct http_server *http_server_stop(struct http_server *srv)
{
	if (!srv)
		return NULL;
	/* Joins every connection thread: no handler runs once this returns. */
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	http_router_free(srv->router);
	http_auth_free(srv->auth);
	free(srv->metrics);
	free(srv->prefix);
	free(srv->tls_cert);
	if (srv->tls_key) {
		sodium_memzero(srv->tls_key, srv->tls_key_len);
		free(srv->tls_key);
	}
	free(srv);
	return NULL;
}

int http_server_start(const struct http_server_config *cfg, struct http_server **ret,
		      char *ret_err, size_t err_size)
{
	struct http_server *srv = NULL;
	sa_family_t family = cfg->listen.addr.sa_family;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	size_t cert_len;
	int fd, err;

	if ((family != AF_INET && family != AF_INET6) ||
	    !cfg->tls_cert_file != !cfg->tls_key_file ||
	    (cfg->metrics_prefix && !prefix_valid(cfg->metrics_prefix))) {
		err_printf(ret_err, err_size, "invalid HTTP server configuration");
		return -EINVAL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	srv->request_timeout_us =
		(uint64_t)(cfg->request_timeout_sec ? cfg->request_timeout_sec
						    : DEFAULT_TIMEOUT_SEC) * 1000000;
	srv->on_event = cfg->on_event;
	srv->event_userdata = cfg->event_userdata;
	srv->n_routes = cfg->n_routes;
	srv->prefix = strdup(cfg->metrics_prefix ? cfg->metrics_prefix : "http");
	srv->metrics = calloc(cfg->n_routes + 1, sizeof(*srv->metrics));
	if (!srv->prefix || !srv->metrics) {
		err = -ENOMEM;
		goto out;
	}
	err = http_router_new(cfg->routes, cfg->n_routes, &srv->router);
	if (err < 0) {
		err_printf(ret_err, err_size, "invalid route table");
		goto out;
	}
	err = http_auth_new(cfg->tokens, cfg->n_tokens, &srv->auth);
	if (err < 0) {
		err_printf(ret_err, err_size, "invalid token table");
		goto out;
	}
	if (cfg->tls_cert_file) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			err = -EOPNOTSUPP;
			err_printf(ret_err, err_size, "libmicrohttpd was built without TLS");
			goto out;
		}
		err = read_file(cfg->tls_cert_file, TLS_FILE_MAX, &srv->tls_cert, &cert_len);
		if (err < 0) {
			err_printf(ret_err, err_size, "TLS certificate %s: %s", cfg->tls_cert_file,
				strerror(-err));
			goto out;
		}
		err = read_file(cfg->tls_key_file, TLS_FILE_MAX, &srv->tls_key, &srv->tls_key_len);
		if (err < 0) {
			err_printf(ret_err, err_size, "TLS key %s: %s", cfg->tls_key_file,
				strerror(-err));
			goto out;
		}
		flags |= MHD_USE_TLS;
	}
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	err = listen_socket(&cfg->listen, &fd, &srv->port);
	if (err < 0) {
		char addr[WG_ENDPOINT_STRLEN];

		wg_endpoint_format(&cfg->listen, addr);
		err_printf(ret_err, err_size, "listen on %s: %s", addr, strerror(-err));
		goto out;
	}

	/*
	 * From here libmicrohttpd owns fd: it closes it in MHD_stop_daemon() and also when
	 * MHD_start_daemon() fails, so it is never closed here (a second close could hit a
	 * descriptor another thread just opened). The TLS options come last so that
	 * MHD_OPTION_END cuts them off for plain HTTP.
	 */
	atomic_store(&srv->starting, true);
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
		cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT,
		cfg->idle_timeout_sec ? cfg->idle_timeout_sec : DEFAULT_TIMEOUT_SEC,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
		TLS_PRIORITIES, MHD_OPTION_END);
	atomic_store(&srv->starting, false);
	if (!srv->daemon) {
		err = -EIO;
		err_printf(ret_err, err_size, "libmicrohttpd failed to start: %s",
			srv->start_err[0] ? srv->start_err : "no reason given");
		goto out;
	}
	*ret = srv;
	srv = NULL;
	err = 0;
out:
	http_server_stop(srv);
	return err;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv ? srv->port : 0;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	const struct request *rq = req ? req->internal : NULL;

	if (!rq || !name)
		return NULL;
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* ---- metrics ---- */

/* `method="GET",route="/v1/peers/{public_key}"` for a slot. */
static void metrics_labels(const struct http_server *srv, size_t slot, char *buf, size_t size)
{
	const struct http_route *r = http_router_route(srv->router, slot);

	/* Patterns hold only pchar, '/', '{' and '}': nothing to escape in a label value. */
	snprintf(buf, size, "method=\"%s\",route=\"%s\"", r ? http_method_name(r->method) : "any",
		 r ? r->pattern : "unmatched");
}

#define BUCKET "_http_request_duration_seconds_bucket"

int http_server_metrics(struct http_server *srv, char **ret_text, size_t *ret_len)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	const char *p = srv->prefix;
	char *text = NULL, labels[HTTP_PATH_MAX + 64];
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# HELP %s_http_requests_total HTTP requests answered, by status class.\n", p);
	fprintf(f, "# TYPE %s_http_requests_total counter\n", p);
	for (size_t s = 0; s <= srv->n_routes; s++) {
		metrics_labels(srv, s, labels, sizeof(labels));
		for (size_t c = 0; c < ARRAY_SIZE(classes); c++) {
			uint64_t v = atomic_load_explicit(&srv->metrics[s].by_class[c],
							  memory_order_relaxed);

			if (v)
				fprintf(f, "%s_http_requests_total{%s,code=\"%s\"} %" PRIu64 "\n",
					p, labels, classes[c], v);
		}
	}
	fprintf(f, "# HELP %s_http_request_duration_seconds From request line to response sent.\n",
		p);
	fprintf(f, "# TYPE %s_http_request_duration_seconds histogram\n", p);
	for (size_t s = 0; s <= srv->n_routes; s++) {
		struct route_metrics *m = &srv->metrics[s];
		uint64_t counts[N_BUCKETS + 1], total = 0, cum = 0, sum;

		for (size_t b = 0; b <= N_BUCKETS; b++) {
			counts[b] = atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
			total += counts[b];
		}
		sum = atomic_load_explicit(&m->sum_us, memory_order_relaxed);
		if (s == srv->n_routes && total == 0)
			continue; /* no "unmatched" series until something went unmatched */
		metrics_labels(srv, s, labels, sizeof(labels));
		/* Cumulative from one read of each bucket, so +Inf always equals _count. */
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += counts[b];
			fprintf(f, "%s%s{%s,le=\"%s\"} %" PRIu64 "\n", p, BUCKET, labels,
				bucket_le[b], cum);
		}
		fprintf(f, "%s%s{%s,le=\"+Inf\"} %" PRIu64 "\n", p, BUCKET, labels, total);
		fprintf(f, "%s_http_request_duration_seconds_sum{%s} %" PRIu64 ".%06" PRIu64 "\n",
			p, labels, sum / 1000000, sum % 1000000);
		fprintf(f, "%s_http_request_duration_seconds_count{%s} %" PRIu64 "\n", p, labels,
			total);
	}
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* ---- events ---- */

/* Append s escaped (printable ASCII kept, the rest as \xNN), at most max input bytes. */
static size_t append_escaped(char *buf, size_t size, size_t off, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max && off + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c >= 0x7f || c == '\\')
			off += (size_t)snprintf(buf + off, size - off, "\\x%02x", c);
		else
			buf[off++] = (char)c;
	}
	if (s[i] && off + 4 < size)
		off += (size_t)snprintf(buf + off, size - off, "...");
	buf[off] = '\0';
	return off;
}

static size_t append(char *buf, size_t size, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t size, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (off >= size)
		return off;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, size - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		return off;
	return (size_t)n >= size - off ? size - 1 : off + (size_t)n;
}

void http_event_format(const struct http_event *ev, char *buf, size_t size)
{
	size_t off = 0;

	if (!size)
		return;
	buf[0] = '\0';
	if (!ev->method) {
		append_escaped(buf, size, 0, ev->message ? ev->message : "", size);
		return;
	}
	off = append_escaped(buf, size, off, ev->method, 16);
	off = append(buf, size, off, " ");
	off = append_escaped(buf, size, off, ev->path ? ev->path : "", 200);
	off = append(buf, size, off, " %u %" PRIu64 ".%03" PRIu64 "ms", ev->status,
		     ev->duration_us / 1000, ev->duration_us % 1000);
	if (ev->principal)
		off = append(buf, size, off, " principal=%s", ev->principal);
	if (ev->peer && ev->peer[0])
		off = append(buf, size, off, " peer=%s", ev->peer);
	if (ev->error) {
		char e[64];

		off = append(buf, size, off, " error=%s", strerror_r(-ev->error, e, sizeof(e)));
	}
	if (ev->message)
		append(buf, size, off, " (%s)", ev->message);
}

/* ---- token files ---- */

char *http_token_free(char *token)
{
	if (token) {
		sodium_memzero(token, strlen(token));
		free(token);
	}
	return NULL;
}

int http_token_file_read(const char *path, char **ret_token, char *ret_err, size_t err_size)
{
	char buf[HTTP_TOKEN_MAX + 2]; /* the token and CR LF */
	size_t len = 0;
	char *token;
	int err;

	err = secret_file_read("token file", path, buf, sizeof(buf), &len, ret_err, err_size);
	if (err == -EFBIG)
		err_printf(ret_err, err_size, "token file %s: longer than %d bytes", path,
		           HTTP_TOKEN_MAX);
	if (err < 0)
		goto out;
	if (len && buf[len - 1] == '\n') {
		len--;
		if (len && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		err = -EINVAL;
		err_printf(ret_err, err_size, "token file %s: empty", path);
		goto out;
	}
	if (len > HTTP_TOKEN_MAX) {
		err = -EFBIG;
		err_printf(ret_err, err_size, "token file %s: longer than %d bytes", path,
			HTTP_TOKEN_MAX);
		goto out;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			err = -EINVAL;
			err_printf(ret_err, err_size,
				"token file %s: the token has spaces, control or non-ASCII "
				"characters (only one trailing newline is allowed)",
				path);
			goto out;
		}
	token = malloc(len + 1);
	if (!token) {
		err = -ENOMEM;
		err_printf(ret_err, err_size, "token file %s: out of memory", path);
		goto out;
	}
	memcpy(token, buf, len);
	token[len] = '\0';
	*ret_token = token;
	err = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	return err;
}
