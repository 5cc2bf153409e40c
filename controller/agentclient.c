// SPDX-License-Identifier: MIT
/*
 * The node agent client (see agentclient.h). Answers are checked field by field before a
 * caller sees them: the controller records what comes back (addresses, keys, counters), so
 * an answer that is not what the API promises is an error, never a half-filled struct.
 */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentclient.h"
#include "httpc.h"
#include "httproute.h"
#include "wgdev.h"
#include "wgfleet/macro.h"
#include "wgkey.h"

#define JOB_ID_MAX 128
/* GET /v1/peers at 50,000 peers is ~20 MB; leave room, but bound it. */
#define MAX_ANSWER ((size_t)256 << 20)

__attribute__((format(printf, 4, 5))) static void err_set(struct agent_error *err, unsigned status,
                                                          const char *code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->http_status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Copy what an agent sent into a fixed field: printable ASCII, the rest as '?'. */
static void copy_printable(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = src[i] >= ' ' && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static int proto(struct agent_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int proto(struct agent_error *err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, 0, "", "unexpected answer from the agent: %s", msg);
	return -EPROTO;
}

static int bad_arg(struct agent_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad_arg(struct agent_error *err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, 0, "", "%s", msg);
	return -EINVAL;
}

bool agent_error_retryable(int r)
{
	switch (r) {
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECONNRESET:
	case -EIO:
	case -ENOSPC:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
}

int agent_status_to_errno(long status, const char *body, size_t len, struct agent_error *err)
{
	json_t *j = NULL, *e;
	int r;

	if (status >= 200 && status <= 299)
		return 0;
	if (status == 401 || status == 403)
		r = -EACCES;
	else if (status == 404)
		r = -ENOENT;
	else if (status == 409)
		r = -EEXIST;
	else if (status == 507)
		r = -ENOSPC;
	else if (status >= 400 && status <= 499)
		r = -EINVAL;
	else if (status >= 500 && status <= 599)
		r = -EIO;
	else
		r = -EPROTO;
	if (!err)
		return r;
	*err =
	    (struct agent_error){.http_status = status > 0 && status < 1000 ? (unsigned)status : 0};
	if (body && len)
		j = json_loadb(body, len, 0, NULL);
	e = json_object_get(json_object_get(j, "error"), "code");
	if (json_is_string(e)) {
		copy_printable(err->code, sizeof(err->code), json_string_value(e));
		e = json_object_get(json_object_get(j, "error"), "message");
		copy_printable(err->message, sizeof(err->message),
		               json_is_string(e) ? json_string_value(e) : "");
	} else {
		snprintf(err->message, sizeof(err->message), "HTTP status %ld without an API error",
		         status);
	}
	json_decref(j);
	return r;
}

/* ---- answers ---- */

static json_t *load(const char *body, size_t len, struct agent_error *err)
{
	json_error_t je;
	json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;

	if (!j)
		proto(err, "not JSON (%s)", body ? je.text : "no body");
	else if (!json_is_object(j)) {
		proto(err, "not a JSON object");
		j = (json_decref(j), NULL);
	}
	return j;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return false;
	return true;
}

/*
 * A string field: copied into *ret (NULL if absent or null and optional). Control
 * characters are refused: these strings end up in logs and in the database.
 */
static int get_str(const json_t *o, const char *name, bool required, char **ret,
                   struct agent_error *err)
{
	const json_t *v = json_object_get(o, name);
	char *s;

	if (!v || json_is_null(v)) {
		if (required)
			return proto(err, "\"%s\" is missing or null", name);
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v) || !printable(json_string_value(v)))
		return proto(err, "\"%s\" is not a printable string", name);
	s = strdup(json_string_value(v));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int get_key(const json_t *o, const char *name, bool required, char **ret,
                   struct agent_error *err)
{
	uint8_t key[WG_KEY_LEN];
	char *s = NULL;
	int r;

	r = get_str(o, name, required, &s, err);
	if (r < 0)
		return r;
	if (s && wg_key_from_base64(s, key) < 0) {
		free(s);
		return proto(err, "\"%s\" is not a base64 WireGuard key", name);
	}
	*ret = s;
	return 0;
}

/* An integer in [min, max]; *ret unchanged if absent and optional. */
static int get_int(const json_t *o, const char *name, bool required, json_int_t min, json_int_t max,
                   json_int_t *ret, struct agent_error *err)
{
	const json_t *v = json_object_get(o, name);

	if (!v) {
		if (required)
			return proto(err, "\"%s\" is missing", name);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return proto(err, "\"%s\" is not an integer in range", name);
	*ret = json_integer_value(v);
	return 0;
}

static int get_bool(const json_t *o, const char *name, bool required, bool *ret,
                    struct agent_error *err)
{
	const json_t *v = json_object_get(o, name);

	if (!v) {
		if (required)
			return proto(err, "\"%s\" is missing", name);
		return 0;
	}
	if (!json_is_boolean(v))
		return proto(err, "\"%s\" is not a boolean", name);
	*ret = json_is_true(v);
	return 0;
}

static void peer_done(struct agent_peer *p)
{
	if (!p)
		return;
	free(p->public_key);
	for (size_t i = 0; i < p->n_addresses; i++)
		free(p->addresses[i]);
	free(p->addresses);
	free(p->endpoint);
	free(p->server_public_key);
	free(p->server_endpoint);
	*p = (struct agent_peer){0};
}

struct agent_peer *agent_peer_free(struct agent_peer *p)
{
	peer_done(p);
	free(p);
	return NULL;
}

struct agent_peer *agent_peers_free(struct agent_peer *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		peer_done(&p[i]);
	free(p);
	return NULL;
}

struct agent_info *agent_info_free(struct agent_info *i)
{
	if (!i)
		return NULL;
	free(i->public_key);
	free(i->interface);
	free(i->backend);
	free(i->endpoint);
	free(i->boot_id);
	free(i->pools_json);
	free(i);
	return NULL;
}

struct agent_put_result *agent_put_result_free(struct agent_put_result *r)
{
	if (!r)
		return NULL;
	agent_peers_free(r->peers, r->n_peers);
	free(r);
	return NULL;
}

/*
 * One peer object. A POST answer carries server_public_key, and its "endpoint" is then the
 * server's; in GET answers "endpoint" is the client's and "created" a timestamp.
 */
static int peer_from_json(const json_t *o, struct agent_peer *ret, struct agent_error *err)
{
	struct agent_peer p = {0};
	const json_t *addrs, *a;
	json_int_t v;
	size_t i;
	int r;

	if (!json_is_object(o))
		return proto(err, "a peer is not an object");
	r = get_key(o, "public_key", true, &p.public_key, err);
	if (r < 0)
		goto out;
	addrs = json_object_get(o, "addresses");
	if (!json_is_array(addrs)) {
		r = proto(err, "\"addresses\" is not an array");
		goto out;
	}
	p.addresses = calloc(json_array_size(addrs) + 1, sizeof(*p.addresses));
	if (!p.addresses) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(addrs, i, a)
	{
		struct wg_allowedip ip;

		if (!json_is_string(a) || wg_allowedip_parse(json_string_value(a), &ip) < 0) {
			r = proto(err, "\"addresses\" holds something that is not an address");
			goto out;
		}
		p.addresses[i] = strdup(json_string_value(a));
		if (!p.addresses[i]) {
			r = -ENOMEM;
			goto out;
		}
		p.n_addresses = i + 1;
	}
	v = 0;
	r = get_int(o, "persistent_keepalive", false, 0, 65535, &v, err);
	p.persistent_keepalive = (int)v;
	if (r == 0)
		r = get_bool(o, "preshared_key", false, &p.has_preshared_key, err);
	if (r == 0)
		r = get_key(o, "server_public_key", false, &p.server_public_key, err);
	if (r == 0 && p.server_public_key) {
		r = get_bool(o, "created", true, &p.created, err);
		if (r == 0)
			r = get_str(o, "endpoint", false, &p.server_endpoint, err);
	} else if (r == 0) {
		r = get_bool(o, "on_device", false, &p.on_device, err);
		if (r == 0)
			r = get_str(o, "endpoint", false, &p.endpoint, err);
		v = 0;
		if (r == 0)
			r = get_int(o, "rx_bytes", false, 0, INT64_MAX, &v, err);
		p.rx_bytes = (uint64_t)v;
		v = 0;
		if (r == 0)
			r = get_int(o, "tx_bytes", false, 0, INT64_MAX, &v, err);
		p.tx_bytes = (uint64_t)v;
		v = 0;
		if (r == 0)
			r = get_int(o, "latest_handshake", false, 0, INT64_MAX, &v, err);
		p.latest_handshake = (int64_t)v;
	}
	if (r < 0)
		goto out;
	*ret = p;
	p = (struct agent_peer){0};
out:
	peer_done(&p);
	return r;
}

int agent_peer_parse(const char *body, size_t len, struct agent_peer **ret, struct agent_error *err)
{
	struct agent_peer *p = NULL;
	json_t *j = load(body, len, err);
	int r;

	if (!j)
		return -EPROTO;
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	r = peer_from_json(j, p, err);
	if (r < 0)
		goto out;
	*ret = p;
	p = NULL;
out:
	free(p);
	json_decref(j);
	return r;
}

static int peers_from_json(const json_t *arr, struct agent_peer **ret, size_t *ret_n,
                           struct agent_error *err)
{
	struct agent_peer *peers = NULL;
	size_t n = 0;
	int r = 0;

	if (!json_is_array(arr))
		return proto(err, "\"peers\" is not an array");
	peers = calloc(json_array_size(arr) + 1, sizeof(*peers));
	if (!peers)
		return -ENOMEM;
	for (; n < json_array_size(arr); n++) {
		r = peer_from_json(json_array_get(arr, n), &peers[n], err);
		if (r < 0)
			goto out;
	}
	*ret = peers;
	*ret_n = n;
	peers = NULL;
out:
	agent_peers_free(peers, n);
	return r;
}

int agent_peers_parse(const char *body, size_t len, struct agent_peer **ret, size_t *ret_n,
                      struct agent_error *err)
{
	json_t *j = load(body, len, err);
	int r;

	if (!j)
		return -EPROTO;
	r = peers_from_json(json_object_get(j, "peers"), ret, ret_n, err);
	json_decref(j);
	return r;
}

int agent_add_peers_parse(const char *body, size_t len, size_t n, struct agent_peer **ret,
                          struct agent_error *err)
{
	struct agent_peer *peers = NULL;
	json_t *j = load(body, len, err);
	size_t got = 0;
	int r;

	if (!j)
		return -EPROTO;
	r = peers_from_json(json_object_get(j, "peers"), &peers, &got, err);
	if (r < 0)
		goto out;
	/* Answers are matched to requests by position: the count must be the request's. */
	if (got != n) {
		r = proto(err, "%zu answers for %zu peers", got, n);
		goto out;
	}
	/* Each a POST answer (its server key and "created"), not a listed peer. */
	for (size_t i = 0; i < got; i++)
		if (!peers[i].server_public_key) {
			r = proto(err, "peers[%zu] is not an answer to an add", i);
			goto out;
		}
	*ret = peers;
	peers = NULL;
out:
	agent_peers_free(peers, got);
	json_decref(j);
	return r;
}

/* A pool's "free": an integer, or past 2^63 a float (saturated to UINT64_MAX). */
static int pool_free(const json_t *pool, uint64_t *ret, struct agent_error *err)
{
	const json_t *v = json_object_get(pool, "free");

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) >= 0) { /* NaN fails the comparison */
		double d = json_real_value(v);

		*ret = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
		return 0;
	}
	return proto(err, "a pool's \"free\" is not a count");
}

int agent_info_parse(const char *body, size_t len, struct agent_info **ret, struct agent_error *err)
{
	struct agent_info *i = NULL;
	json_t *j = load(body, len, err), *pools, *pool;
	json_int_t v = 0;
	size_t k;
	int r;

	if (!j)
		return -EPROTO;
	i = calloc(1, sizeof(*i));
	if (!i) {
		r = -ENOMEM;
		goto out;
	}
	r = get_key(j, "public_key", true, &i->public_key, err);
	if (r == 0)
		r = get_str(j, "interface", true, &i->interface, err);
	if (r == 0)
		r = get_str(j, "backend", true, &i->backend, err);
	if (r == 0)
		r = get_str(j, "endpoint", true, &i->endpoint, err);
	if (r == 0)
		r = get_str(j, "boot_id", true, &i->boot_id, err);
	if (r == 0)
		r = get_int(j, "listen_port", true, 0, 65535, &v, err);
	i->listen_port = (uint16_t)v;
	if (r == 0)
		r = get_int(j, "peers", true, 0, INT64_MAX, &v, err);
	i->peers = (uint64_t)v;
	if (r == 0)
		r = get_int(j, "generation", true, 0, INT64_MAX, &v, err);
	i->generation = (uint64_t)v;
	if (r < 0)
		goto out;
	pools = json_object_get(j, "pools");
	if (!json_is_array(pools)) {
		r = proto(err, "\"pools\" is not an array");
		goto out;
	}
	json_array_foreach(pools, k, pool)
	{
		uint64_t f = 0;

		r = pool_free(pool, &f, err);
		if (r < 0)
			goto out;
		if (k == 0 || f < i->free_addresses)
			i->free_addresses = f;
	}
	i->pools_json = json_dumps(pools, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!i->pools_json) {
		r = -ENOMEM;
		goto out;
	}
	*ret = i;
	i = NULL;
out:
	agent_info_free(i);
	json_decref(j);
	return r;
}

int agent_put_result_parse(const char *body, size_t len, struct agent_put_result **ret,
                           struct agent_error *err)
{
	struct agent_put_result *p = NULL;
	json_t *j = load(body, len, err);
	json_int_t v = 0;
	int r;

	if (!j)
		return -EPROTO;
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	r = get_int(j, "generation", true, 0, INT64_MAX, &v, err);
	p->generation = (uint64_t)v;
	if (r == 0)
		r = get_int(j, "added", true, 0, INT64_MAX, &v, err);
	p->added = (uint64_t)v;
	if (r == 0)
		r = get_int(j, "removed", true, 0, INT64_MAX, &v, err);
	p->removed = (uint64_t)v;
	if (r == 0)
		r = get_int(j, "updated", true, 0, INT64_MAX, &v, err);
	p->updated = (uint64_t)v;
	if (r == 0)
		r = peers_from_json(json_object_get(j, "peers"), &p->peers, &p->n_peers, err);
	if (r < 0)
		goto out;
	*ret = p;
	p = NULL;
out:
	agent_put_result_free(p);
	json_decref(j);
	return r;
}

/* ---- requests ---- */

/*
 * The request body is written twice: once to measure, once into a buffer of exactly that
 * size. No realloc, so a preshared key never stays behind in a buffer that was given back
 * unwiped (json_dumps and open_memstream would leave such copies).
 */
struct jw {
	char *buf;
	size_t len, cap;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->buf && w->len + n <= w->cap)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void jw_str(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

/* A JSON string of printable ASCII (checked by the caller): only '"' and '\' escaped. */
static void jw_quoted(struct jw *w, const char *s)
{
	jw_raw(w, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			jw_raw(w, "\\", 1);
		jw_raw(w, s, 1);
	}
	jw_raw(w, "\"", 1);
}

static bool job_id_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= JOB_ID_MAX && printable(s);
}

/*
 * One peer object; keys are re-encoded from their decoded bytes (canonical base64). job:
 * the body has job ids (POST, batch; a PUT has none).
 */
static int jw_peer(struct jw *w, const struct agent_peer_req *p, bool job, size_t idx,
                   struct agent_error *err)
{
	uint8_t key[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];
	int r = 0;

	if (!p->public_key || wg_key_from_base64(p->public_key, key) < 0)
		return bad_arg(err, "peer %zu: public_key is not a base64 WireGuard key", idx);
	wg_key_to_base64(b64, key);
	jw_str(w, "{\"public_key\":");
	jw_quoted(w, b64);
	if (p->preshared_key) {
		if (wg_key_from_base64(p->preshared_key, key) < 0 || wg_key_is_zero(key)) {
			r = bad_arg(err, "peer %zu: preshared_key is not a base64 key", idx);
			goto out;
		}
		wg_key_to_base64(b64, key);
		jw_str(w, ",\"preshared_key\":");
		jw_quoted(w, b64);
	}
	if (p->persistent_keepalive != -1) {
		char num[16];

		if (p->persistent_keepalive < 0 || p->persistent_keepalive > 65535) {
			r = bad_arg(err, "peer %zu: persistent_keepalive must be 0..65535 or -1",
			            idx);
			goto out;
		}
		snprintf(num, sizeof(num), "%d", p->persistent_keepalive);
		jw_str(w, ",\"persistent_keepalive\":");
		jw_str(w, num);
	}
	if (p->n_addresses && !p->addresses) {
		r = bad_arg(err, "peer %zu: n_addresses without addresses", idx);
		goto out;
	}
	if (p->addresses) {
		jw_str(w, ",\"addresses\":[");
		for (size_t i = 0; i < p->n_addresses; i++) {
			struct wg_allowedip ip;
			char buf[WG_ALLOWEDIP_STRLEN];

			if (!p->addresses[i] || wg_allowedip_parse(p->addresses[i], &ip) < 0 ||
			    ip.cidr != (ip.family == AF_INET ? 32 : 128)) {
				r = bad_arg(err,
				            "peer %zu: address %zu is not one IPv4 or IPv6 address",
				            idx, i);
				goto out;
			}
			wg_allowedip_format(&ip, buf);
			if (i)
				jw_raw(w, ",", 1);
			jw_quoted(w, buf);
		}
		jw_raw(w, "]", 1);
	}
	if (job && p->job_id) {
		if (!job_id_valid(p->job_id)) {
			r = bad_arg(err, "peer %zu: job_id must be 1..%d printable ASCII bytes",
			            idx, JOB_ID_MAX);
			goto out;
		}
		jw_str(w, ",\"job_id\":");
		jw_quoted(w, p->job_id);
	}
	jw_raw(w, "}", 1);
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(b64, sizeof(b64));
	return r;
}

enum body_kind { BODY_POST, BODY_PUT, BODY_BATCH };

static int jw_body(struct jw *w, enum body_kind kind, uint64_t generation,
                   const struct agent_peer_req *peers, size_t n, struct agent_error *err)
{
	char num[24];
	int r = 0;

	if (kind == BODY_POST)
		return jw_peer(w, &peers[0], true, 0, err);
	if (kind == BODY_PUT) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)generation);
		jw_str(w, "{\"generation\":");
		jw_str(w, num);
		jw_raw(w, ",", 1);
	} else {
		jw_raw(w, "{", 1);
	}
	jw_str(w, "\"peers\":[");
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i)
			jw_raw(w, ",", 1);
		r = jw_peer(w, &peers[i], kind == BODY_BATCH, i, err);
	}
	jw_str(w, "]}");
	return r;
}

char *agent_body_free(char *body, size_t len)
{
	if (body) {
		sodium_memzero(body, len);
		free(body);
	}
	return NULL;
}

static int body_build(enum body_kind kind, uint64_t generation, const struct agent_peer_req *peers,
                      size_t n, char **ret_body, size_t *ret_len, struct agent_error *err)
{
	struct jw w = {0};
	int r;

	if (!peers && n)
		return bad_arg(err, "n peers without peers");
	if (kind == BODY_POST && n != 1)
		return bad_arg(err, "POST takes exactly one peer");
	if (kind == BODY_BATCH && (n < 1 || n > AGENT_BATCH_MAX))
		return bad_arg(err, "a batch takes 1..%d peers", AGENT_BATCH_MAX);
	if (kind == BODY_PUT && generation > INT64_MAX)
		return bad_arg(err, "generation past 2^63-1");
	if (sodium_init() < 0)
		return -EIO;
	r = jw_body(&w, kind, generation, peers, n, err);
	if (r < 0)
		return r;
	w.cap = w.len;
	w.buf = malloc(w.cap + 1);
	if (!w.buf)
		return -ENOMEM;
	w.len = 0;
	r = jw_body(&w, kind, generation, peers, n, err);
	if (r < 0 || w.len != w.cap) {
		agent_body_free(w.buf, w.cap + 1);
		return r < 0 ? r : -EIO;
	}
	w.buf[w.len] = '\0';
	*ret_body = w.buf;
	*ret_len = w.len;
	return 0;
}

int agent_peers_body(bool put, uint64_t generation, const struct agent_peer_req *peers, size_t n,
                     char **ret_body, size_t *ret_len, struct agent_error *err)
{
	return body_build(put ? BODY_PUT : BODY_POST, generation, peers, n, ret_body, ret_len, err);
}

int agent_peers_batch_body(const struct agent_peer_req *peers, size_t n, char **ret_body,
                           size_t *ret_len, struct agent_error *err)
{
	return body_build(BODY_BATCH, 0, peers, n, ret_body, ret_len, err);
}

/* ---- calls ---- */

/* The agent's URL with path appended; a trailing '/' of the base is dropped. */
static int url_build(const struct agent_target *t, const char *path, char **ret,
                     struct agent_error *err)
{
	size_t n;

	if (!t || !t->url)
		return bad_arg(err, "no agent URL");
	n = strlen(t->url);
	while (n && t->url[n - 1] == '/')
		n--;
	if (asprintf(ret, "%.*s%s", (int)n, t->url, path) < 0)
		return -ENOMEM;
	return 0;
}

/* The path for one peer: the key checked, then percent-encoded (base64 has '/', '+', '='). */
static int peer_path(const char *public_key, char *buf, size_t size, struct agent_error *err)
{
	uint8_t key[WG_KEY_LEN];
	size_t n;
	int r;

	if (!public_key || wg_key_from_base64(public_key, key) < 0)
		return bad_arg(err, "public_key is not a base64 WireGuard key");
	r = snprintf(buf, size, "/v1/peers/");
	return http_percent_encode(public_key, strlen(public_key), buf + r, size - (size_t)r, &n);
}

/*
 * One request; a transport error or a non-2xx status becomes -errno with *err filled. On
 * success the answer is the caller's.
 */
static int call(struct httpc *h, const struct agent_target *t, const char *method, const char *path,
                bool auth, const char *body, size_t len, struct httpc_response *ret,
                struct agent_error *err)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct httpc_response resp = {0};
	char *url = NULL, msg[256] = "";
	int r;

	r = url_build(t, path, &url, err);
	if (r < 0)
		return r;
	r = httpc_request(h, method, url, auth ? t->token : NULL, headers, body, len,
	                  body ? "application/json" : NULL, MAX_ANSWER, &resp, msg, sizeof(msg));
	if (r < 0) {
		err_set(err, 0, "", "%s %s: %s", method, path, msg);
		goto out;
	}
	r = agent_status_to_errno(resp.status, resp.body, resp.len, err);
	if (r < 0)
		goto out;
	*ret = resp;
	resp = (struct httpc_response){0};
out:
	httpc_response_done(&resp);
	free(url);
	return r;
}

/* A parse failure of a 2xx answer: the status goes into *err too. */
static int answer_failed(int r, const struct httpc_response *resp, struct agent_error *err)
{
	if (err && r == -EPROTO)
		err->http_status = (unsigned)resp->status;
	return r;
}

int agent_get_info(struct httpc *h, const struct agent_target *t, struct agent_info **ret,
                   struct agent_error *err)
{
	struct httpc_response resp = {0};
	int r;

	r = call(h, t, "GET", "/v1/info", true, NULL, 0, &resp, err);
	if (r == 0)
		r = answer_failed(agent_info_parse(resp.body, resp.len, ret, err), &resp, err);
	httpc_response_done(&resp);
	return r;
}

int agent_healthz(struct httpc *h, const struct agent_target *t, struct agent_error *err)
{
	struct httpc_response resp = {0};
	json_t *j = NULL;
	int r;

	r = call(h, t, "GET", "/healthz", false, NULL, 0, &resp, err);
	if (r < 0)
		goto out;
	j = load(resp.body, resp.len, err);
	if (!j || !json_is_string(json_object_get(j, "status")) ||
	    strcmp(json_string_value(json_object_get(j, "status")), "ok") != 0)
		r = answer_failed(j ? proto(err, "status is not \"ok\"") : -EPROTO, &resp, err);
out:
	json_decref(j);
	httpc_response_done(&resp);
	return r;
}

int agent_add_peer(struct httpc *h, const struct agent_target *t, const struct agent_peer_req *p,
                   struct agent_peer **ret, struct agent_error *err)
{
	struct httpc_response resp = {0};
	char *body = NULL;
	size_t len = 0;
	int r;

	if (!p)
		return bad_arg(err, "no peer");
	r = agent_peers_body(false, 0, p, 1, &body, &len, err);
	if (r < 0)
		return r;
	r = call(h, t, "POST", "/v1/peers", true, body, len, &resp, err);
	if (r == 0)
		r = answer_failed(agent_peer_parse(resp.body, resp.len, ret, err), &resp, err);
	agent_body_free(body, len);
	httpc_response_done(&resp);
	return r;
}

int agent_add_peers(struct httpc *h, const struct agent_target *t,
                    const struct agent_peer_req *reqs, size_t n, struct agent_peer **ret_peers,
                    struct agent_error *err)
{
	struct httpc_response resp = {0};
	char *body = NULL;
	size_t len = 0;
	int r;

	r = agent_peers_batch_body(reqs, n, &body, &len, err);
	if (r < 0)
		return r;
	r = call(h, t, "POST", "/v1/peers/batch", true, body, len, &resp, err);
	if (r == 0)
		r = answer_failed(agent_add_peers_parse(resp.body, resp.len, n, ret_peers, err),
		                  &resp, err);
	agent_body_free(body, len);
	httpc_response_done(&resp);
	return r;
}

int agent_get_peer(struct httpc *h, const struct agent_target *t, const char *public_key,
                   struct agent_peer **ret, struct agent_error *err)
{
	struct httpc_response resp = {0};
	char path[160];
	int r;

	r = peer_path(public_key, path, sizeof(path), err);
	if (r < 0)
		return r;
	r = call(h, t, "GET", path, true, NULL, 0, &resp, err);
	if (r == 0)
		r = answer_failed(agent_peer_parse(resp.body, resp.len, ret, err), &resp, err);
	httpc_response_done(&resp);
	return r;
}

int agent_remove_peer(struct httpc *h, const struct agent_target *t, const char *public_key,
                      bool *ret_removed, struct agent_error *err)
{
	struct httpc_response resp = {0};
	json_t *j = NULL;
	bool removed = false;
	char path[160];
	int r;

	r = peer_path(public_key, path, sizeof(path), err);
	if (r < 0)
		return r;
	r = call(h, t, "DELETE", path, true, NULL, 0, &resp, err);
	if (r < 0)
		goto out;
	j = load(resp.body, resp.len, err);
	r = j ? get_bool(j, "removed", true, &removed, err) : -EPROTO;
	if (r < 0) {
		r = answer_failed(r, &resp, err);
		goto out;
	}
	if (ret_removed)
		*ret_removed = removed;
out:
	json_decref(j);
	httpc_response_done(&resp);
	return r;
}

int agent_list_peers(struct httpc *h, const struct agent_target *t, struct agent_peer **ret,
                     size_t *ret_n, struct agent_error *err)
{
	struct httpc_response resp = {0};
	int r;

	r = call(h, t, "GET", "/v1/peers", true, NULL, 0, &resp, err);
	if (r == 0)
		r = answer_failed(agent_peers_parse(resp.body, resp.len, ret, ret_n, err), &resp,
		                  err);
	httpc_response_done(&resp);
	return r;
}

int agent_put_peers(struct httpc *h, const struct agent_target *t, uint64_t generation,
                    const struct agent_peer_req *peers, size_t n, struct agent_put_result **ret,
                    struct agent_error *err)
{
	struct httpc_response resp = {0};
	struct agent_put_result *res = NULL;
	char *body = NULL;
	size_t len = 0;
	int r;

	r = agent_peers_body(true, generation, peers, n, &body, &len, err);
	if (r < 0)
		return r;
	r = call(h, t, "PUT", "/v1/peers", true, body, len, &resp, err);
	if (r == 0)
		r = answer_failed(agent_put_result_parse(resp.body, resp.len, &res, err), &resp,
		                  err);
	if (r == 0 && ret) {
		*ret = res;
		res = NULL;
	}
	agent_put_result_free(res);
	agent_body_free(body, len);
	httpc_response_done(&resp);
	return r;
}
