// SPDX-License-Identifier: MIT
/*
 * The controller's HTTP API (docs/api.md, "Controller"; docs/controller.md, "Flows"):
 * routes, request validation, and the transactions behind each answer.
 *
 * Every request is checked completely (path ids, query, body, prices) before the database
 * is touched, and every change runs in one transaction (db_tx_run, which reruns it after a
 * deadlock) together with the jobs it queues, so a refused request changes nothing and an
 * acknowledged one is never lost. Workers are kicked only after the commit.
 *
 * Inside a transaction a request the data refuses (no such user, a second trial, ...) is
 * reported by filling a struct http_error and returning API_REFUSED: db_tx_run rolls back
 * and the handler answers with that error. Any other error is the database's: logged once
 * here, answered 503 database_unavailable when it is worth retrying, else 500 internal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wgfleet/macro.h"
#include "agentclient.h"
#include "api.h"
#include "apijson.h"
#include "clientconf.h"
#include "db_job.h"
#include "db_node.h"
#include "db_payment.h"
#include "db_status.h"
#include "db_user.h"
#include "db_vpn.h"
#include "http.h"
#include "httpc.h"
#include "provisioner.h"
#include "qrpng.h"
#include "vault.h"

#define API_MAX_BODY (64U << 10)
#define API_METRICS_PREFIX "wgfleet_controller"
/* The most rows a list answer holds (a user's VPNs or payments). */
#define API_LIST_MAX 1000
#define API_JOBS_DEFAULT 100
#define API_JOBS_MAX 1000
#define API_WAIT_MAX_S 60
/* How often a ?wait= looks at its VPN when no job finishes meanwhile. */
/* How often a ?wait= waiter reads the database when no worker of this process has told it
 * that its VPN's job finished: the job may run in another controller. */
#define API_WAIT_POLL_MS 250
/* The schema's limits, checked here so that the client learns which field is wrong. */
#define API_VPN_NAME_MAX 128
#define API_USERNAME_MAX 64
#define API_CHARGE_ID_MAX 191
#define API_REASON_MAX 255
/* vpn_configs.idempotency_key (0004) */
#define API_IDEMPOTENCY_KEY_MAX 64
/* A VPN has one address per pool of its node; more is not a config we wrote. */
#define API_ADDRESSES_MAX 16

#define ROLES_BOT (CTL_ROLE_BOT | CTL_ROLE_ADMIN)
#define ROLES_ADMIN CTL_ROLE_ADMIN
#define ROLES_MONITOR (CTL_ROLE_ADMIN | CTL_ROLE_MONITOR)

/* Returned by a transaction's function that refused the request (its http_error says why). */
#define API_REFUSED (-ECANCELED)

/* The controller itself is the actor of the audit log: the bot acts on behalf of users. */
#define ACTOR 0

__attribute__((format(printf, 4, 5))) static int refuse(struct http_error *err, unsigned status,
                                                        const char *code, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return API_REFUSED;
}

/* Characters, not bytes: the schema's VARCHAR limits count code points. */
static size_t utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- database errors ---- */

/* Errors that say "not now" rather than "never": the client may simply try again. */
static bool db_transient(int r)
{
	return r == -ENOTCONN || r == -ETIMEDOUT || r == -EBUSY || r == -EAGAIN;
}

static int respond_db_unavailable(struct http_response *resp)
{
	return http_respond_error(resp, 503, "database_unavailable",
	                          "the database is unavailable; try again");
}

/* The one place a database error of a handler is logged (and counted). c may be NULL. */
static void db_log(struct ctl_service *s, struct db_conn *c, int r, const char *what)
{
	const struct db_error *e = c ? db_conn_error(c) : NULL;
	const char *msg = e && e->code == r && e->message[0] ? e->message : strerror(-r);

	atomic_fetch_add(&s->metrics.db_errors, 1);
	svc_log(s, CTL_LOG_WARN, "%s: database %s: %s", what,
	        db_transient(r) ? "unavailable" : "error", msg);
}

/*
 * A database error, logged and answered: 503 database_unavailable when trying again may
 * work, else 500 internal. Returns what the respond call returns, so a handler can end
 * with `return db_failed(...)`.
 */
static int db_failed(struct ctl_service *s, struct db_conn *c, struct http_response *resp, int r,
                     const char *what)
{
	db_log(s, c, r, what);
	if (db_transient(r))
		return respond_db_unavailable(resp);
	return http_respond_error(resp, 500, "internal", "internal error");
}

/* A failed step (r < 0): a refusal (API_REFUSED) answered with err, else as db_failed. */
static int respond_failed(struct ctl_service *s, struct db_conn *c, struct http_response *resp,
                          int r, const struct http_error *err, const char *what)
{
	if (r == API_REFUSED)
		return http_respond_error_from(resp, err);
	return db_failed(s, c, resp, r, what);
}

/*
 * The answer of a handler's last read: j (stolen) with status when r is 0, else -ENOMEM as
 * it is (500, nothing to log) and any other error as db_failed.
 */
static int respond_result(struct ctl_service *s, struct db_conn *c, struct http_response *resp,
                          int r, unsigned status, json_t *j, const char *what)
{
	if (r == 0)
		return http_respond_json(resp, status, j);
	json_decref(j);
	return r == -ENOMEM ? r : db_failed(s, c, resp, r, what);
}

/* The answer of a list: {key: arr} (arr stays the caller's) as respond_result. */
static int respond_list(struct ctl_service *s, struct db_conn *c, struct http_response *resp, int r,
                        const char *key, json_t *arr, const char *what)
{
	return respond_result(s, c, resp, r, 200, r ? NULL : json_pack("{s:O}", key, arr), what);
}

/* Appends item (stolen) to arr; -ENOMEM if either is NULL (a failed allocation) or the
 * append fails. */
static int list_append(json_t *arr, json_t *item)
{
	return json_array_append_new(arr, item) < 0 ? -ENOMEM : 0;
}

/* A pooled connection, or NULL after answering 503 (svc_db_acquire has logged why). */
static struct db_conn *acquire(struct ctl_service *s, struct http_response *resp)
{
	struct db_conn *c = NULL;
	int r = svc_db_acquire(s, &c);

	if (r < 0) {
		respond_db_unavailable(resp);
		return NULL;
	}
	return c;
}

/* A request its checks refused (r < 0): answered with err, or r as it is (-ENOMEM) when
 * err is empty. */
static int respond_refused(struct http_response *resp, int r, const struct http_error *err)
{
	return err->code ? http_respond_error_from(resp, err) : r;
}

/*
 * The connection for a request whose checks ended with *r: NULL after answering, with *r
 * what the handler returns: their refusal (respond_refused) or 503 when no connection is
 * to be had (*r stays 0).
 */
static struct db_conn *acquire_checked(struct ctl_service *s, struct http_response *resp, int *r,
                                       const struct http_error *err)
{
	if (*r < 0) {
		*r = respond_refused(resp, *r, err);
		return NULL;
	}
	return acquire(s, resp);
}

/* ---- request parsing ---- */

/* A decimal id: digits only, 1..max, no sign, no overflow. */
static int id_parse(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v == 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The path's {name} as an id; 400 invalid_value (answered, -EINVAL) if it is not one. */
static int param_number(const struct http_request *req, struct http_response *resp,
                        const char *name, uint64_t max, uint64_t *ret)
{
	if (id_parse(http_request_param(req, name), max, ret) == 0)
		return 0;
	http_respond_error(resp, 400, "invalid_value", "%s: must be a positive decimal number",
	                   name);
	return -EINVAL;
}

/* The path's {id}, as param_number. */
static int param_id(const struct http_request *req, struct http_response *resp, uint64_t *ret)
{
	return param_number(req, resp, "id", UINT64_MAX, ret);
}

static int param_tid(const struct http_request *req, struct http_response *resp, int64_t *ret)
{
	uint64_t v;
	int r = param_number(req, resp, "telegram_id", INT64_MAX, &v);

	if (r == 0)
		*ret = (int64_t)v;
	return r;
}

/*
 * The body as an object with these fields. An empty body is {} when the body is optional
 * (DELETE /v1/vpns/{id}, the payment transitions). -EINVAL with *err filled otherwise.
 */
static int body_parse(const struct http_request *req, const struct http_field *fields, size_t n,
                      bool optional, json_t **ret, struct http_error *err)
{
	static const struct http_field none[] = {{"", HTTP_FIELD_STRING, 0}};

	if (req->body_len == 0 && optional) {
		*ret = json_object();
		return *ret ? 0 : -ENOMEM;
	}
	/* No fields: the schema still refuses every key as unknown. */
	return http_json_parse_object(req->body, req->body_len, n ? fields : none, n, ret, err);
}

/* An optional string field: NULL when absent or null. */
static const char *opt_string(const json_t *body, const char *name)
{
	return json_string_value(json_object_get(body, name));
}

/* ---- objects that need lookups ---- */

/* The nodes, read once per request that shows several objects naming them. */
struct node_names {
	struct db_node *nodes;
	size_t n;
	bool loaded;
};

static void node_names_done(struct node_names *nn)
{
	nn->nodes = db_nodes_free(nn->nodes, nn->n);
	nn->n = 0;
	nn->loaded = false;
}

/* The node's name, NULL if there is no such node (or id is 0). */
static int node_name(struct db_conn *c, struct node_names *nn, uint64_t id, const char **ret)
{
	int r;

	if (!nn->loaded) {
		r = db_node_list(c, &nn->nodes, &nn->n);
		if (r < 0)
			return r;
		nn->loaded = true;
	}
	*ret = NULL;
	for (size_t i = 0; i < nn->n; i++)
		if (nn->nodes[i].id == id)
			*ret = nn->nodes[i].name;
	return 0;
}

static int user_json(struct db_conn *c, const struct db_user *u, json_t **ret)
{
	const char *held[8];
	size_t n = 0;
	json_t *j;
	int r;

	for (size_t i = 0; i < apijson_n_roles && n < ARRAY_SIZE(held); i++) {
		bool has = false;

		r = db_user_has_role(c, u->id, apijson_roles[i], &has);
		if (r < 0)
			return r;
		if (has)
			held[n++] = apijson_roles[i];
	}
	j = apijson_user(u, held, n);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/* The Telegram id of a user by our id; -ENOENT if the user is gone (it never is). */
static int telegram_id_of(struct db_conn *c, uint64_t user_id, int64_t *ret)
{
	struct db_user *u = NULL;
	int r = db_user_get(c, user_id, &u);

	if (r == 0)
		*ret = u->telegram_id;
	db_user_free(u);
	return r;
}

/* tid: the owner's Telegram id, or 0 to look it up. */
static int vpn_json(struct db_conn *c, struct node_names *nn, const struct db_vpn *v, int64_t tid,
                    json_t **ret)
{
	struct db_job *job = NULL;
	const char *node = NULL;
	json_t *j;
	int r;

	if (!tid) {
		r = telegram_id_of(c, v->user_id, &tid);
		if (r < 0)
			return r;
	}
	r = node_name(c, nn, v->node_id, &node);
	if (r < 0)
		return r;
	r = db_job_latest_for_vpn(c, v->id, &job);
	if (r < 0 && r != -ENOENT)
		return r;
	j = apijson_vpn(v, tid, node, job);
	db_job_free(job);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

static int vpn_json_by_id(struct db_conn *c, uint64_t id, int64_t tid, json_t **ret)
{
	struct node_names nn = {0};
	struct db_vpn *v = NULL;
	int r = db_vpn_get(c, id, &v);

	if (r == 0)
		r = vpn_json(c, &nn, v, tid, ret);
	db_vpn_free(v);
	node_names_done(&nn);
	return r;
}

static int payment_json(struct db_conn *c, const struct db_payment *p, json_t **ret)
{
	int64_t tid = 0;
	json_t *j;
	int r = telegram_id_of(c, p->user_id, &tid);

	if (r < 0)
		return r;
	j = apijson_payment(p, tid);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

static int payment_json_by_id(struct db_conn *c, uint64_t id, json_t **ret)
{
	struct db_payment *p = NULL;
	int r = db_payment_get(c, id, &p);

	if (r == 0)
		r = payment_json(c, p, ret);
	db_payment_free(p);
	return r;
}

/*
 * The wg-quick text of an active VPN on node n: the keys opened with the master key, the
 * addresses from the config JSON, the rest from the configuration. Free the text with
 * clientconf_text_free(). -EINVAL: the record lacks what a config needs (no address, no
 * key); -EBADMSG: a key does not open with this master key.
 */
static int vpn_conf_text(struct ctl_service *s, const struct db_vpn *v, const struct db_node *n,
                         char **ret_text, size_t *ret_len)
{
	const struct controller_config *cfg = s->cfg;
	const char *addrs[API_ADDRESSES_MAX];
	uint8_t *priv = NULL, *psk = NULL;
	size_t priv_len = 0, psk_len = 0, n_addrs = 0, i;
	json_t *arr = apijson_vpn_addresses(v->config), *a;
	int r;

	if (!arr)
		return -ENOMEM;
	json_array_foreach(arr, i, a)
	{
		if (n_addrs < ARRAY_SIZE(addrs))
			addrs[n_addrs++] = json_string_value(a);
	}
	if (!v->private_key_enc || !n_addrs) {
		r = -EINVAL;
		goto out;
	}
	r = vault_open(s->vault, v->private_key_enc, v->private_key_enc_len, &priv, &priv_len);
	if (r == 0 && v->preshared_key_enc)
		r = vault_open(s->vault, v->preshared_key_enc, v->preshared_key_enc_len, &psk,
		               &psk_len);
	if (r < 0)
		goto out;
	struct clientconf cc = {
	    .private_key = (const char *)priv,
	    .addresses = addrs,
	    .n_addresses = n_addrs,
	    .dns = (const char *const *)cfg->dns,
	    .n_dns = cfg->n_dns,
	    .server_public_key = n->public_key,
	    .preshared_key = (const char *)psk,
	    .endpoint = n->endpoint,
	    .allowed_ips = (const char *const *)cfg->client_allowed_ips,
	    .n_allowed_ips = cfg->n_client_allowed_ips,
	    .persistent_keepalive = cfg->persistent_keepalive,
	};
	r = clientconf_format(&cc, ret_text, ret_len);
out:
	vault_plain_free(priv, priv_len);
	vault_plain_free(psk, psk_len);
	json_decref(arr);
	return r;
}

/* ---- /healthz, /metrics, /v1/status ---- */

static int h_healthz(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	struct db_status *st = NULL;
	struct db_conn *c;
	int r;

	(void)req;
	c = acquire(s, resp);
	if (!c)
		return 0;
	/* A real read, so that a dead server behind a pooled connection is noticed. */
	r = db_status_get(c, &st);
	if (r < 0) {
		svc_log(s, CTL_LOG_DEBUG, "/healthz: database: %s", db_conn_error(c)->message);
		r = http_respond_error(resp, 503, "database_unavailable",
		                       "the database does not answer");
	} else {
		r = http_respond_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	}
	db_status_free(st);
	db_release(c);
	return r;
}

static int h_metrics(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	char *http_text = NULL, *svc_text = NULL, *all = NULL;
	size_t http_len = 0, svc_len = 0;
	/* Set once the server started; a request that races the start shows no HTTP series. */
	struct http_server *srv = s->http;
	int r = 0;

	(void)req;
	if (srv)
		r = http_server_metrics(srv, &http_text, &http_len);
	if (r == 0)
		r = svc_metrics_text(s, &svc_text, &svc_len);
	if (r < 0)
		goto out;
	all = malloc(http_len + svc_len + 1);
	if (!all) {
		r = -ENOMEM;
		goto out;
	}
	if (http_len)
		memcpy(all, http_text, http_len);
	if (svc_len)
		memcpy(all + http_len, svc_text, svc_len);
	r = http_respond_text(resp, 200, "text/plain; version=0.0.4", all, http_len + svc_len);
out:
	free(all);
	free(http_text);
	free(svc_text);
	return r;
}

static int h_status(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	struct db_status *st = NULL;
	struct db_node *nodes = NULL;
	size_t n = 0;
	struct db_conn *c;
	int r;

	(void)req;
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = db_status_get(c, &st);
	if (r == 0)
		r = db_node_list(c, &nodes, &n);
	if (r < 0)
		r = db_failed(s, c, resp, r, "GET /v1/status");
	else
		r = http_respond_json(resp, 200, apijson_status(st, nodes, n));
	db_nodes_free(nodes, n);
	db_status_free(st);
	db_release(c);
	return r;
}

/* ---- users ---- */

/* The user by Telegram id; API_REFUSED (404 in err) if there is none. */
static int user_by_tid(struct db_conn *c, int64_t tid, struct db_user **ret, struct http_error *err)
{
	int r = db_user_get_by_telegram(c, tid, ret);

	if (r == -ENOENT)
		r = refuse(err, 404, "not_found", "no user with Telegram id %" PRId64, tid);
	return r;
}

/*
 * A pooled connection and the user by Telegram id, or NULL after answering (503, 404, the
 * database's error).
 */
static struct db_conn *acquire_user(struct ctl_service *s, struct http_response *resp, int64_t tid,
                                    const char *what, struct db_user **ret)
{
	struct http_error err = {0};
	struct db_conn *c = acquire(s, resp);
	int r = c ? user_by_tid(c, tid, ret, &err) : 0;

	if (r < 0) {
		respond_failed(s, c, resp, r, &err, what);
		c = db_release(c);
	}
	return c;
}

static int respond_user(struct ctl_service *s, struct db_conn *c, struct http_response *resp,
                        unsigned status, uint64_t user_id, const char *what)
{
	struct db_user *u = NULL;
	json_t *j = NULL;
	int r = db_user_get(c, user_id, &u);

	if (r == 0)
		r = user_json(c, u, &j);
	db_user_free(u);
	return respond_result(s, c, resp, r, status, j, what);
}

static const struct http_field user_put_fields[] = {
    {"username", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
    {"first_name", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
    {"last_name", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
};

/* A profile field: the body's if given (null clears it), else what is stored. */
static const char *profile_field(const json_t *body, const char *name, const char *stored)
{
	const json_t *v = json_object_get(body, name);

	return v ? json_string_value(v) : stored;
}

static int h_user_put(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "PUT /v1/users/{telegram_id}";
	struct ctl_service *s = ud;
	struct http_error err = {0};
	struct db_user *old = NULL;
	struct db_conn *c = NULL;
	json_t *body = NULL;
	int64_t tid;
	uint64_t id;
	bool created = false;
	int r;

	if (param_tid(req, resp, &tid) < 0)
		return 0;
	r = body_parse(req, user_put_fields, ARRAY_SIZE(user_put_fields), false, &body, &err);
	if (r == 0 && opt_string(body, "username") &&
	    utf8_length(opt_string(body, "username")) > API_USERNAME_MAX)
		r = refuse(&err, 400, "invalid_value", "username: at most %d characters",
		           API_USERNAME_MAX);
	c = acquire_checked(s, resp, &r, &err);
	if (!c)
		goto out;
	/* Fields left out keep their values: the bot may refresh only what it knows. */
	r = db_user_get_by_telegram(c, tid, &old);
	if (r < 0 && r != -ENOENT) {
		r = db_failed(s, c, resp, r, what);
		goto out;
	}
	struct db_user_profile p = {
	    .telegram_id = tid,
	    .username = profile_field(body, "username", old ? old->username : NULL),
	    .first_name = profile_field(body, "first_name", old ? old->first_name : NULL),
	    .last_name = profile_field(body, "last_name", old ? old->last_name : NULL),
	};
	r = db_user_upsert(c, &p, &id, &created);
	if (r == -EINVAL) {
		r = http_respond_error(resp, 400, "invalid_value",
		                       "the names were refused (too long?)");
		goto out;
	}
	if (r < 0) {
		r = db_failed(s, c, resp, r, what);
		goto out;
	}
	r = respond_user(s, c, resp, created ? 201 : 200, id, what);
out:
	db_user_free(old);
	json_decref(body);
	db_release(c);
	return r;
}

static int h_user_get(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "GET /v1/users/{telegram_id}";
	struct ctl_service *s = ud;
	struct db_user *u = NULL;
	struct db_conn *c;
	int64_t tid;
	int r;

	if (param_tid(req, resp, &tid) < 0)
		return 0;
	c = acquire_user(s, resp, tid, what, &u);
	if (!c)
		return 0;
	r = respond_user(s, c, resp, 200, u->id, what);
	db_user_free(u);
	db_release(c);
	return r;
}

struct user_status_tx {
	struct ctl_service *s;
	int64_t tid;
	enum user_status status;
	uint64_t user_id; /* out */
	size_t revoked;   /* out: VPNs a ban ended */
	struct http_error err;
};

/* The status, and with a ban the end of every live VPN of the user and its revoke job. */
static int user_status_tx(struct db_conn *c, void *userdata)
{
	struct user_status_tx *x = userdata;
	struct db_user *u = NULL;
	uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	x->revoked = 0;
	r = user_by_tid(c, x->tid, &u, &x->err);
	if (r < 0)
		goto out;
	x->user_id = u->id;
	r = db_user_set_status_in_tx(c, ACTOR, u->id, x->status);
	if (r == -EALREADY)
		r = 0; /* a repeated ban still ends a VPN that slipped in meanwhile */
	if (r < 0 || x->status != USER_BANNED)
		goto out;
	r = db_vpn_list_user_live_in_tx(c, u->id, &ids, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct db_vpn *v = NULL;

		r = db_vpn_get_locked_in_tx(c, ids[i], &v);
		if (r == 0)
			r = db_vpn_revoke_in_tx(c, ACTOR, ids[i], "user banned");
		if (r == 0) {
			r = grant_queue_revoke_in_tx(c, ids[i], v->node_id);
			x->revoked++;
		} else if (r == -EALREADY || r == -EPERM) {
			r = 0; /* ended meanwhile: its own revoke or expiry queued its job */
		}
		db_vpn_free(v);
	}
out:
	free(ids);
	db_user_free(u);
	return r;
}

static const struct http_field user_patch_fields[] = {
    {"status", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
};

static int h_user_patch(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "PATCH /v1/users/{telegram_id}";
	struct ctl_service *s = ud;
	struct user_status_tx x = {.s = s};
	struct db_conn *c = NULL;
	json_t *body = NULL;
	const char *st;
	int r;

	if (param_tid(req, resp, &x.tid) < 0)
		return 0;
	r = body_parse(req, user_patch_fields, ARRAY_SIZE(user_patch_fields), false, &body, &x.err);
	if (r == 0) {
		st = opt_string(body, "status");
		if (user_status_from_string(st, strlen(st), &x.status) < 0)
			r = refuse(&x.err, 400, "invalid_value",
			           "status: must be active or banned");
	}
	c = acquire_checked(s, resp, &r, &x.err);
	if (!c)
		goto out;
	r = db_tx_run(c, user_status_tx, &x);
	if (r < 0) {
		r = respond_failed(s, c, resp, r, &x.err, what);
		goto out;
	}
	if (x.revoked) {
		svc_log(s, CTL_LOG_INFO, "user %" PRId64 " banned: %zu VPN(s) revoked", x.tid,
		        x.revoked);
		svc_kick_workers(s);
	}
	r = respond_user(s, c, resp, 200, x.user_id, what);
out:
	json_decref(body);
	db_release(c);
	return r;
}

/* PUT (grant) and DELETE (revoke) /v1/users/{telegram_id}/roles/{role}. */
static int user_role(const struct http_request *req, struct http_response *resp,
                     struct ctl_service *s, bool grant)
{
	const char *what = grant ? "PUT /v1/users/{telegram_id}/roles/{role}"
	                         : "DELETE /v1/users/{telegram_id}/roles/{role}";
	const char *role = http_request_param(req, "role");
	struct db_user *u = NULL;
	struct db_conn *c;
	bool known = false;
	int64_t tid;
	int r;

	if (param_tid(req, resp, &tid) < 0)
		return 0;
	for (size_t i = 0; role && i < apijson_n_roles; i++)
		known |= !strcmp(role, apijson_roles[i]);
	if (!known)
		return http_respond_error(resp, 404, "not_found",
		                          "no such role (admin, superadmin)");
	c = acquire_user(s, resp, tid, what, &u);
	if (!c)
		return 0;
	r = grant ? db_user_grant_role(c, ACTOR, u->id, role, 0)
	          : db_user_revoke_role(c, ACTOR, u->id, role);
	if (r == -ENOENT && !grant)
		r = 0; /* not held: already what was asked */
	r = r < 0 ? db_failed(s, c, resp, r, what) : respond_user(s, c, resp, 200, u->id, what);
	db_user_free(u);
	db_release(c);
	return r;
}

static int h_role_put(const struct http_request *req, struct http_response *resp, void *ud)
{
	return user_role(req, resp, ud, true);
}

static int h_role_delete(const struct http_request *req, struct http_response *resp, void *ud)
{
	return user_role(req, resp, ud, false);
}

/* ---- VPNs ---- */

/* grant_create_vpn_in_tx's refusals, filed in err; any other result as it is. */
static int grant_refused(int r, struct http_error *err)
{
	if (r == -ENOSPC)
		return refuse(err, 503, "no_node", "no active healthy node has room");
	if (r == -EPERM) /* banned between our read and the insert */
		return refuse(err, 409, "user_banned", "the user is banned");
	if (r == -EOPNOTSUPP)
		return refuse(err, 422, "unsupported_type", "this VPN type cannot be provisioned");
	return r;
}

struct vpn_create_tx {
	struct ctl_service *s;
	int64_t tid;
	struct grant_request g;
	/* Set for the second run after an insert with the key met a duplicate key: look the
	 * key up, but create nothing. */
	bool lookup_only;
	uint64_t vpn_id; /* out */
	bool replayed;   /* out: vpn_id is the key's VPN from an earlier request */
	struct http_error err;
};

/*
 * The VPN an earlier request with this Idempotency-Key created for the user, if any: 0
 * with x->vpn_id set, -ENOENT if the key is new, API_REFUSED if that VPN is not what this
 * request asks for (the client reused a key for another request).
 */
static int vpn_create_replay(struct db_conn *c, struct vpn_create_tx *x)
{
	struct db_vpn *v = NULL;
	uint64_t id = 0;
	int r;

	r = db_vpn_find_by_idempotency_in_tx(c, x->g.user_id, x->g.idempotency_key, &id);
	if (r < 0)
		return r;
	r = db_vpn_get(c, id, &v);
	if (r < 0)
		return r;
	if (v->type != x->g.type || v->is_trial != x->g.trial) {
		r = refuse(&x->err, 409, "idempotency_conflict",
		           "Idempotency-Key: already used for VPN %" PRIu64
		           " (%s%s), which this request does not match",
		           id, vpn_type_to_string(v->type), v->is_trial ? ", trial" : "");
		goto out;
	}
	x->vpn_id = id;
	x->replayed = true;
out:
	db_vpn_free(v);
	return r;
}

static int vpn_create_tx(struct db_conn *c, void *userdata)
{
	struct vpn_create_tx *x = userdata;
	struct db_user *u = NULL;
	int r;

	x->replayed = false;
	r = user_by_tid(c, x->tid, &u, &x->err);
	if (r < 0)
		goto out;
	x->g.user_id = u->id;
	/* Before the status check: a retry answers what the first request answered, even if
	 * the user was banned in between (the VPN then shows as revoked). */
	if (x->g.idempotency_key) {
		r = vpn_create_replay(c, x);
		if (r != -ENOENT)
			goto out;
	}
	if (u->status != USER_ACTIVE) {
		r = refuse(&x->err, 409, "user_banned", "the user is banned");
		goto out;
	}
	/* Still no VPN with the key: the first run's duplicate key was another one (the live
	 * trial, the peer key), answered as it is without a key. */
	r = x->lookup_only ? -EEXIST : grant_create_vpn_in_tx(x->s, c, ACTOR, &x->g, &x->vpn_id);
	/*
	 * With a key, the duplicate may be a concurrent request with the same key: its insert
	 * was not committed when we looked (our insert waited for its commit), so our snapshot
	 * cannot show it, and the failed insert broke this transaction anyway. Left to the
	 * caller, which looks again in a new one.
	 */
	if (r == -EEXIST && x->g.idempotency_key && !x->lookup_only)
		goto out;
	if (r == -EEXIST && x->g.trial)
		r = refuse(&x->err, 409, "trial_exists", "the user has a live trial already");
	else
		r = grant_refused(r, &x->err);
out:
	db_user_free(u);
	return r;
}

static const struct http_field vpn_post_fields[] = {
    {"type", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"trial", HTTP_FIELD_BOOLEAN, 0},
    {"name", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
};

/* The Idempotency-Key header: NULL when absent, else 1..API_IDEMPOTENCY_KEY_MAX printable
 * ASCII characters without spaces; -EINVAL (answered) otherwise. */
static int idempotency_key_header(const struct http_request *req, struct http_response *resp,
                                  const char **ret)
{
	const char *k = http_request_header(req, "Idempotency-Key");
	size_t n = 0;

	*ret = NULL;
	if (!k)
		return 0;
	for (; k[n] && n <= API_IDEMPOTENCY_KEY_MAX; n++)
		if ((unsigned char)k[n] <= ' ' || (unsigned char)k[n] > '~')
			break;
	if (n == 0 || n > API_IDEMPOTENCY_KEY_MAX || k[n]) {
		http_respond_error(resp, 400, "invalid_value",
		                   "Idempotency-Key: 1..%d printable ASCII characters, no spaces",
		                   API_IDEMPOTENCY_KEY_MAX);
		return -EINVAL;
	}
	*ret = k;
	return 0;
}

/* ?wait=SECONDS: -1 when absent, else 0..API_WAIT_MAX_S; -EINVAL (answered) otherwise. */
static int wait_param(const struct http_request *req, struct http_response *resp, int *ret)
{
	const char *w = http_request_query(req, "wait");
	uint64_t v = 0;

	*ret = -1;
	if (!w)
		return 0;
	/* id_parse refuses 0, which is a valid wait. */
	if (strcmp(w, "0") != 0 && id_parse(w, API_WAIT_MAX_S, &v) < 0) {
		http_respond_error(resp, 400, "invalid_value", "wait: must be 0..%d seconds",
		                   API_WAIT_MAX_S);
		return -EINVAL;
	}
	*ret = (int)v;
	return 0;
}

/*
 * After the commit of a new VPN with ?wait=N: watch it until the worker has activated it
 * (201 with "config") or N seconds pass (202, still pending). The connection goes back to
 * the pool while waiting, so that waiters never starve the workers they wait for. *body
 * (the VPN as committed) is replaced by what a later read finds; if a read fails, the
 * answer is the committed VPN.
 */
static int vpn_wait(struct ctl_service *s, uint64_t id, int64_t tid, int wait_s, uint64_t seen,
                    json_t **body, unsigned *ret_status)
{
	int64_t deadline = now_ms() + (int64_t)wait_s * 1000;
	int r = 0;

	*ret_status = 202;
	while (*ret_status == 202) {
		struct node_names nn = {0};
		struct db_conn *c = NULL;
		struct db_vpn *v = NULL;
		struct db_node *n = NULL;
		char *text = NULL;
		size_t len = 0;
		int64_t left = deadline - now_ms();
		json_t *j = NULL;

		if (left <= 0 || atomic_load(&s->stopping))
			break;
		/* Returns early only when a worker here finished this VPN's job; else after
		 * API_WAIT_POLL_MS, in case another controller's worker did. */
		svc_wait_vpn_finished(s, id, &seen, (unsigned)MIN(left, (int64_t)API_WAIT_POLL_MS));
		if (svc_db_acquire(s, &c) < 0)
			break;
		r = db_vpn_get(c, id, &v);
		if (r == 0 && v->status != VPN_PENDING)
			r = vpn_json(c, &nn, v, tid, &j);
		if (r == 0 && v->status == VPN_ACTIVE)
			r = db_node_get(c, v->node_id, &n);
		if (r < 0 && r != -ENOMEM)
			db_log(s, c, r, "?wait");
		if (r == 0 && j) {
			/* 201 either way: active with its config (the answer a waiting client
			 * wants, still "created"), or ended meanwhile and shown as it is. */
			*ret_status = 201;
			if (v->status == VPN_ACTIVE) {
				r = vpn_conf_text(s, v, n, &text, &len);
				if (r == 0 &&
				    json_object_set_new(j, "config", json_stringn(text, len)) < 0)
					r = -ENOMEM;
				else if (r < 0 && r != -ENOMEM)
					svc_log(s, CTL_LOG_WARN,
					        "?wait: VPN %" PRIu64
					        ": cannot make its config: %s",
					        id, strerror(-r));
			}
			json_decref(*body);
			*body = j;
			j = NULL;
		}
		clientconf_text_free(text, len);
		json_decref(j);
		db_node_free(n);
		db_vpn_free(v);
		node_names_done(&nn);
		db_release(c);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			break;
	}
	return 0;
}

/*
 * The answer to a creation the provisioner took (provisioner.h) in state st: the config as
 * committed (201, or 202 while ?wait= runs out), or active with its config (201). A config
 * whose job went back to the workers is waited for as vpn_wait() waits.
 */
static int vpn_batched_answer(struct ctl_service *s, const struct prov_req *pr, enum prov_state st,
                              int64_t tid, int wait_s, int64_t deadline, uint64_t seen,
                              json_t **ret, unsigned *ret_status)
{
	/* Shallow copies, read only: the activation changed these fields and nothing else. */
	struct db_vpn vpn = *pr->vpn;
	struct db_job job = *pr->job;
	const struct db_vpn *v = &vpn;
	json_t *j;
	char *text = NULL;
	size_t len = 0;
	int r = 0;

	if (st == PROV_ACTIVE) {
		vpn.status = VPN_ACTIVE;
		vpn.config = (char *)pr->config;
		vpn.activated_at_us = vpn.updated_at_us = pr->activated_at_us;
		job.state = JOB_DONE;
	}
	j = apijson_vpn(v, tid, pr->node_name, &job);
	if (!j)
		return -ENOMEM;
	*ret_status = 201;
	if (st == PROV_ACTIVE) {
		struct db_node n = {.public_key = (char *)pr->node_public_key,
		                    .endpoint = (char *)pr->node_endpoint};

		r = pr->node_public_key ? vpn_conf_text(s, v, &n, &text, &len) : -ENOMEM;
		if (r == 0 && json_object_set_new(j, "config", json_stringn(text, len)) < 0)
			r = -ENOMEM;
		else if (r < 0)
			svc_log(s, CTL_LOG_WARN, "?wait: VPN %" PRIu64 ": cannot make its config: %s",
			        v->id, strerror(-r));
		clientconf_text_free(text, len);
		r = r == -ENOMEM ? r : 0;
	} else if (wait_s >= 0) {
		int64_t left = deadline - now_ms();

		*ret_status = 202;
		if (st == PROV_HANDED_OFF && left > 0)
			r = vpn_wait(s, v->id, tid, (int)((left + 999) / 1000), seen, &j, ret_status);
	}
	if (r < 0) {
		json_decref(j);
		return r;
	}
	*ret = j;
	return 0;
}

static int h_vpns_post(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "POST /v1/users/{telegram_id}/vpns";
	struct ctl_service *s = ud;
	struct vpn_create_tx x = {.s = s};
	struct db_conn *c = NULL;
	json_t *body = NULL, *answer = NULL;
	unsigned status = 201;
	uint64_t seen;
	const char *type, *name;
	int wait_s, r;

	if (param_tid(req, resp, &x.tid) < 0 || wait_param(req, resp, &wait_s) < 0 ||
	    idempotency_key_header(req, resp, &x.g.idempotency_key) < 0)
		return 0;
	r = body_parse(req, vpn_post_fields, ARRAY_SIZE(vpn_post_fields), false, &body, &x.err);
	if (r == 0) {
		type = opt_string(body, "type");
		name = opt_string(body, "name");
		if (vpn_type_from_string(type, strlen(type), &x.g.type) < 0)
			r = refuse(&x.err, 400, "invalid_value",
			           "type: must be wireguard or outline");
		else if (x.g.type != VPN_WIREGUARD)
			r = refuse(&x.err, 422, "unsupported_type",
			           "type: %s cannot be provisioned", type);
		else if (name && (!*name || utf8_length(name) > API_VPN_NAME_MAX))
			r = refuse(&x.err, 400, "invalid_value", "name: 1..%d characters",
			           API_VPN_NAME_MAX);
		x.g.trial = json_is_true(json_object_get(body, "trial"));
		x.g.name = name;
		x.g.expires_at_us = 0; /* a non-trial VPN created here never expires */
	}
	/* Before the commit, so that a worker finishing the job at once is not missed. */
	pthread_mutex_lock(&s->lock);
	seen = s->finished_seq;
	pthread_mutex_unlock(&s->lock);
	if (r == 0 && s->prov) {
		int64_t deadline = now_ms() + (wait_s > 0 ? (int64_t)wait_s * 1000 : 0);
		struct prov_req *pr = NULL;
		enum prov_state st;

		r = prov_submit(s, x.tid, &x.g, &pr);
		if (r < 0)
			goto out;
		st = prov_wait(s, pr, wait_s > 0, deadline);
		if (st != PROV_FALLBACK) {
			r = vpn_batched_answer(s, pr, st, x.tid, wait_s, deadline, seen, &answer,
			                       &status);
			prov_put(s, pr);
			if (r < 0)
				goto out;
			r = http_respond_json(resp, status, answer);
			answer = NULL;
			goto out;
		}
		/* Handed back: the ordinary way tells what is wrong, or does it alone. */
		prov_put(s, pr);
	}
	c = acquire_checked(s, resp, &r, &x.err);
	if (!c)
		goto out;
	r = db_tx_run(c, vpn_create_tx, &x);
	if (r == -EEXIST && x.g.idempotency_key) {
		/* Lost to a concurrent request with the key (its VPN is committed now), or hit
		 * another unique key: a new snapshot tells which. */
		x.lookup_only = true;
		r = db_tx_run(c, vpn_create_tx, &x);
	}
	if (r < 0) {
		r = respond_failed(s, c, resp, r, &x.err, what);
		goto out;
	}
	/* A replay created nothing; its job was queued (and the workers kicked) before. */
	if (!x.replayed)
		svc_kick_workers(s);
	r = vpn_json_by_id(c, x.vpn_id, x.tid, &answer);
	if (r < 0) {
		r = r == -ENOMEM ? r : db_failed(s, c, resp, r, what);
		goto out;
	}
	c = db_release(c);
	if (wait_s >= 0) {
		r = vpn_wait(s, x.vpn_id, x.tid, wait_s, seen, &answer, &status);
		if (r < 0)
			goto out;
	}
	r = http_respond_json(resp, status, answer);
	answer = NULL;
out:
	json_decref(answer);
	json_decref(body);
	db_release(c);
	return r;
}

static int h_vpns_list(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "GET /v1/users/{telegram_id}/vpns";
	struct ctl_service *s = ud;
	struct node_names nn = {0};
	struct db_user *u = NULL;
	struct db_vpn *v = NULL;
	struct db_conn *c;
	json_t *arr = NULL;
	size_t n = 0;
	int64_t tid;
	int r;

	if (param_tid(req, resp, &tid) < 0)
		return 0;
	c = acquire_user(s, resp, tid, what, &u);
	if (!c)
		return 0;
	r = db_vpn_list_by_user(c, u->id, API_LIST_MAX, &v, &n);
	arr = json_array();
	if (r == 0 && !arr)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *j = NULL;

		r = vpn_json(c, &nn, &v[i], tid, &j);
		if (r == 0)
			r = list_append(arr, j);
	}
	r = respond_list(s, c, resp, r, "vpns", arr, what);
	json_decref(arr);
	node_names_done(&nn);
	db_vpns_free(v, n);
	db_user_free(u);
	db_release(c);
	return r;
}

static int h_vpn_get(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	struct db_conn *c;
	json_t *j = NULL;
	uint64_t id;
	int r;

	if (param_id(req, resp, &id) < 0)
		return 0;
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = vpn_json_by_id(c, id, 0, &j);
	if (r == -ENOENT)
		r = http_respond_error(resp, 404, "not_found", "no VPN %" PRIu64, id);
	else
		r = respond_result(s, c, resp, r, 200, j, "GET /v1/vpns/{id}");
	db_release(c);
	return r;
}

/* GET /v1/vpns/{id}/config (qr false) and /qr (qr true). */
static int vpn_config(const struct http_request *req, struct http_response *resp,
                      struct ctl_service *s, bool qr)
{
	const char *what = qr ? "GET /v1/vpns/{id}/qr" : "GET /v1/vpns/{id}/config";
	struct db_vpn *v = NULL;
	struct db_node *n = NULL;
	struct db_conn *c;
	char *text = NULL;
	uint8_t *png = NULL;
	size_t len = 0, png_len = 0;
	uint64_t id;
	int r;

	if (param_id(req, resp, &id) < 0)
		return 0;
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = db_vpn_get(c, id, &v);
	if (r == 0 && v->status != VPN_ACTIVE) {
		/* A pending VPN has no addresses yet; an ended one's may belong to others now. */
		r = http_respond_error(resp, 409, "conflict", "VPN %" PRIu64 " is %s: no config",
		                       id, vpn_status_to_string(v->status));
		goto out;
	}
	if (r == 0)
		r = db_node_get(c, v->node_id, &n);
	if (r == -ENOENT) {
		r = http_respond_error(resp, 404, "not_found", "no VPN %" PRIu64, id);
		goto out;
	}
	if (r < 0) {
		r = db_failed(s, c, resp, r, what);
		goto out;
	}
	r = vpn_conf_text(s, v, n, &text, &len);
	if (r == 0 && qr)
		r = qrpng_encode(text, len, QRPNG_DEFAULT_SCALE, QRPNG_DEFAULT_MARGIN, &png,
		                 &png_len);
	if (r < 0) {
		svc_log(s, CTL_LOG_WARN, "%s: VPN %" PRIu64 ": cannot make its config: %s", what,
		        id, strerror(-r));
		r = r == -ENOMEM ? r : http_respond_error(resp, 500, "internal", "internal error");
		goto out;
	}
	r = qr ? http_respond_text(resp, 200, "image/png", png, png_len)
	       : http_respond_text(resp, 200, "text/plain; charset=utf-8", text, len);
out:
	qrpng_free(png, png_len);
	clientconf_text_free(text, len);
	db_node_free(n);
	db_vpn_free(v);
	db_release(c);
	return r;
}

static int h_vpn_config(const struct http_request *req, struct http_response *resp, void *ud)
{
	return vpn_config(req, resp, ud, false);
}

static int h_vpn_qr(const struct http_request *req, struct http_response *resp, void *ud)
{
	return vpn_config(req, resp, ud, true);
}

struct vpn_revoke_tx {
	uint64_t id;
	const char *reason;
	bool revoked; /* out: false when it had ended already */
	struct http_error err;
};

static int vpn_revoke_tx(struct db_conn *c, void *userdata)
{
	struct vpn_revoke_tx *x = userdata;
	struct db_vpn *v = NULL;
	int r;

	x->revoked = false;
	r = db_vpn_get(c, x->id, &v);
	if (r == -ENOENT)
		r = refuse(&x->err, 404, "not_found", "no VPN %" PRIu64, x->id);
	if (r < 0)
		goto out;
	r = db_vpn_revoke_in_tx(c, ACTOR, x->id, x->reason);
	if (r == -EALREADY || r == -EPERM) {
		r = 0; /* revoked or expired already: the answer is the VPN as it is */
		goto out;
	}
	if (r == 0)
		r = grant_queue_revoke_in_tx(c, x->id, v->node_id);
	x->revoked = r == 0;
out:
	db_vpn_free(v);
	return r;
}

static const struct http_field reason_fields[] = {
    {"reason", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
};

/* An optional {reason?} body; the reason (or NULL) in *ret_reason, owned by *ret_body. */
static int reason_parse(const struct http_request *req, json_t **ret_body, const char **ret_reason,
                        struct http_error *err)
{
	int r = body_parse(req, reason_fields, ARRAY_SIZE(reason_fields), true, ret_body, err);

	if (r < 0)
		return r;
	*ret_reason = opt_string(*ret_body, "reason");
	if (*ret_reason && utf8_length(*ret_reason) > API_REASON_MAX)
		return refuse(err, 400, "invalid_value", "reason: at most %d characters",
		              API_REASON_MAX);
	return 0;
}

static int h_vpn_delete(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "DELETE /v1/vpns/{id}";
	struct ctl_service *s = ud;
	struct vpn_revoke_tx x = {0};
	struct db_conn *c = NULL;
	json_t *body = NULL, *j = NULL;
	int r;

	if (param_id(req, resp, &x.id) < 0)
		return 0;
	r = reason_parse(req, &body, &x.reason, &x.err);
	c = acquire_checked(s, resp, &r, &x.err);
	if (!c)
		goto out;
	r = db_tx_run(c, vpn_revoke_tx, &x);
	if (r < 0) {
		r = respond_failed(s, c, resp, r, &x.err, what);
		goto out;
	}
	if (x.revoked)
		svc_kick_workers(s);
	r = vpn_json_by_id(c, x.id, 0, &j);
	r = respond_result(s, c, resp, r, 200, j, what);
out:
	json_decref(body);
	db_release(c);
	return r;
}

/* ---- payments ---- */

static const struct http_field payment_post_fields[] = {
    {"telegram_id", HTTP_FIELD_INTEGER, HTTP_FIELD_REQUIRED},
    {"method", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"amount", HTTP_FIELD_INTEGER, HTTP_FIELD_REQUIRED},
    {"currency", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"vpn_type", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"months", HTTP_FIELD_INTEGER, HTTP_FIELD_REQUIRED},
    {"charge_id", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
};

/* The body of POST /v1/payments, checked against the price list. */
static int payment_parse(const struct controller_config *cfg, const json_t *body,
                         struct db_payment_new *ret, struct http_error *err)
{
	struct db_payment_new p = {0};
	const struct ctl_price *price;
	const char *method = opt_string(body, "method"), *type = opt_string(body, "vpn_type");
	json_int_t tid = json_integer_value(json_object_get(body, "telegram_id"));
	json_int_t months = json_integer_value(json_object_get(body, "months"));

	p.amount = json_integer_value(json_object_get(body, "amount"));
	p.currency = opt_string(body, "currency");
	p.provider_charge_id = opt_string(body, "charge_id");
	if (tid <= 0)
		return refuse(err, 400, "invalid_value", "telegram_id: must be positive");
	if (payment_method_from_string(method, strlen(method), &p.method) < 0)
		return refuse(err, 400, "invalid_value", "method: must be stars or qvapay");
	if (vpn_type_from_string(type, strlen(type), &p.vpn_type) < 0)
		return refuse(err, 400, "invalid_value", "vpn_type: must be wireguard or outline");
	if (p.amount <= 0)
		return refuse(err, 400, "invalid_value", "amount: must be positive");
	if (months < 1 || months > 120)
		return refuse(err, 400, "invalid_value", "months: must be 1..120");
	if (!*p.provider_charge_id || utf8_length(p.provider_charge_id) > API_CHARGE_ID_MAX)
		return refuse(err, 400, "invalid_value", "charge_id: 1..%d characters",
		              API_CHARGE_ID_MAX);
	p.user_id = 0; /* the caller looks the user up */
	p.months = (unsigned)months;
	price = ctlconf_price(cfg, p.method, p.vpn_type, p.months);
	if (!price || price->amount != p.amount || strcmp(price->currency, p.currency) != 0)
		return refuse(err, 422, "price_mismatch",
		              "no price of this amount and currency for %s %s, %u month(s)", method,
		              type, p.months);
	*ret = p;
	return 0;
}

static int h_payment_post(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "POST /v1/payments";
	struct ctl_service *s = ud;
	struct http_error err = {0};
	struct db_payment_new p;
	struct db_user *u = NULL;
	struct db_conn *c = NULL;
	json_t *body = NULL, *j = NULL;
	uint64_t id;
	int64_t tid;
	int r;

	r = body_parse(req, payment_post_fields, ARRAY_SIZE(payment_post_fields), false, &body,
	               &err);
	if (r == 0)
		r = payment_parse(s->cfg, body, &p, &err);
	if (r < 0) {
		r = respond_refused(resp, r, &err);
		goto out;
	}
	tid = (int64_t)json_integer_value(json_object_get(body, "telegram_id"));
	c = acquire_user(s, resp, tid, what, &u);
	if (!c)
		goto out;
	if (u->status != USER_ACTIVE) {
		r = http_respond_error(resp, 409, "user_banned", "the user is banned");
		goto out;
	}
	p.user_id = u->id;
	r = db_payment_create(c, ACTOR, &p, &id);
	if (r == -EEXIST)
		r = http_respond_error(resp, 409, "duplicate_charge",
		                       "a %s payment with this charge_id exists already",
		                       payment_method_to_string(p.method));
	else if (r == -EINVAL)
		r = http_respond_error(resp, 400, "invalid_value", "the payment was refused");
	else if (r < 0)
		r = db_failed(s, c, resp, r, what);
	else if ((r = payment_json_by_id(c, id, &j)) == 0)
		r = http_respond_json(resp, 201, j);
	else if (r != -ENOMEM)
		r = db_failed(s, c, resp, r, what);
out:
	db_user_free(u);
	json_decref(body);
	db_release(c);
	return r;
}

struct payment_complete_tx {
	struct ctl_service *s;
	uint64_t id;
	uint64_t vpn_id; /* out: what the payment bought (0: nothing) */
	bool created;    /* out: a new VPN, whose provision job waits */
	struct http_error err;
};

/* The payment.completed webhook's data. */
static int payment_webhook(struct ctl_service *s, struct db_conn *c, const struct db_payment *p,
                           uint64_t vpn_id, int64_t expires_at_us)
{
	char key[64], *text = NULL;
	int64_t tid = 0;
	json_t *data;
	int r;

	r = telegram_id_of(c, p->user_id, &tid);
	if (r < 0)
		return r;
	data = json_pack("{s:I, s:I, s:I, s:o, s:I, s:o}", "payment_id", (json_int_t)p->id,
	                 "telegram_id", (json_int_t)tid, "vpn_id", (json_int_t)vpn_id, "vpn_type",
	                 json_string(vpn_type_to_string(p->vpn_type)), "months",
	                 (json_int_t)p->months, "expires_at", apijson_time(expires_at_us));
	text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	json_decref(data);
	if (!text)
		return -ENOMEM;
	snprintf(key, sizeof(key), "payment.completed-%" PRIu64, p->id);
	r = grant_queue_webhook_in_tx(s, c, "payment.completed", text, key);
	free(text);
	return r;
}

/*
 * With the payment's row locked, so that of any number of concurrent completions one
 * decides and the others find it completed: extend the user's newest live paid VPN of the
 * type, or create one; link it; queue the webhook.
 */
static int payment_complete_tx(struct db_conn *c, void *userdata)
{
	struct payment_complete_tx *x = userdata;
	struct db_payment *p = NULL;
	int64_t expires = 0;
	uint64_t vid = 0;
	int r;

	x->created = false;
	x->vpn_id = 0;
	r = db_payment_get_for_update_in_tx(c, x->id, &p);
	if (r == -ENOENT)
		r = refuse(&x->err, 404, "not_found", "no payment %" PRIu64, x->id);
	if (r < 0)
		goto out;
	if (p->status == PAYMENT_COMPLETED) {
		x->vpn_id = p->vpn_config_id; /* a repeat: the same answer, nothing changes */
		goto out;
	}
	if (p->status != PAYMENT_PENDING) {
		r = refuse(&x->err, 409, "invalid_transition", "the payment is %s",
		           payment_status_to_string(p->status));
		goto out;
	}
	r = db_vpn_find_live_paid_in_tx(c, p->user_id, p->vpn_type, &vid);
	if (r == -ENOENT) {
		/* Created without an expiry, then extended: the same calendar-month rule as
		 * an extension, computed by the database's clock. */
		struct grant_request g = {.user_id = p->user_id, .type = p->vpn_type};

		r = grant_refused(grant_create_vpn_in_tx(x->s, c, ACTOR, &g, &vid), &x->err);
		x->created = r == 0;
	}
	if (r == 0)
		r = db_vpn_extend_in_tx(c, ACTOR, vid, p->months, &expires);
	if (r == 0)
		r = db_payment_complete_in_tx(c, ACTOR, x->id, vid);
	if (r == 0)
		r = payment_webhook(x->s, c, p, vid, expires);
	if (r == 0)
		x->vpn_id = vid;
out:
	db_payment_free(p);
	return r;
}

static int h_payment_complete(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "POST /v1/payments/{id}/complete";
	struct ctl_service *s = ud;
	struct payment_complete_tx x = {.s = s};
	struct db_conn *c = NULL;
	json_t *body = NULL, *pj = NULL, *vj = NULL;
	int r;

	if (param_id(req, resp, &x.id) < 0)
		return 0;
	r = body_parse(req, NULL, 0, true, &body, &x.err);
	c = acquire_checked(s, resp, &r, &x.err);
	if (!c)
		goto out;
	r = db_tx_run(c, payment_complete_tx, &x);
	if (r < 0) {
		r = respond_failed(s, c, resp, r, &x.err, what);
		goto out;
	}
	if (x.created)
		svc_kick_workers(s);
	r = payment_json_by_id(c, x.id, &pj);
	if (r == 0 && x.vpn_id)
		r = vpn_json_by_id(c, x.vpn_id, 0, &vj);
	r = respond_result(s, c, resp, r, 200,
	                   r ? NULL : json_pack("{s:O, s:O?}", "payment", pj, "vpn", vj), what);
out:
	json_decref(vj);
	json_decref(pj);
	json_decref(body);
	db_release(c);
	return r;
}

/* POST /v1/payments/{id}/fail and /refund: the state machine in db_payment decides. */
static int payment_end(const struct http_request *req, struct http_response *resp,
                       struct ctl_service *s, bool refund)
{
	const char *what = refund ? "POST /v1/payments/{id}/refund" : "POST /v1/payments/{id}/fail";
	struct http_error err = {0};
	struct db_conn *c = NULL;
	json_t *body = NULL, *j = NULL;
	const char *reason = NULL;
	uint64_t id;
	int r;

	if (param_id(req, resp, &id) < 0)
		return 0;
	r = refund ? body_parse(req, NULL, 0, true, &body, &err)
	           : reason_parse(req, &body, &reason, &err);
	c = acquire_checked(s, resp, &r, &err);
	if (!c)
		goto out;
	r = refund ? db_payment_refund(c, ACTOR, id) : db_payment_fail(c, ACTOR, id, reason);
	if (r == -EALREADY)
		r = 0; /* a repeat: the payment as it is */
	if (r == -ENOENT) {
		r = http_respond_error(resp, 404, "not_found", "no payment %" PRIu64, id);
		goto out;
	}
	if (r == -EPERM) {
		struct db_payment *p = NULL;

		r = db_payment_get(c, id, &p);
		if (r == 0)
			r = http_respond_error(
			    resp, 409, "invalid_transition", "the payment is %s: it cannot be %s",
			    payment_status_to_string(p->status), refund ? "refunded" : "failed");
		db_payment_free(p);
		if (r < 0)
			r = db_failed(s, c, resp, r, what);
		goto out;
	}
	if (r == 0)
		r = payment_json_by_id(c, id, &j);
	if (r == -EINVAL)
		r = http_respond_error(resp, 400, "invalid_value", "the reason was refused");
	else
		r = respond_result(s, c, resp, r, 200, j, what);
out:
	json_decref(body);
	db_release(c);
	return r;
}

static int h_payment_fail(const struct http_request *req, struct http_response *resp, void *ud)
{
	return payment_end(req, resp, ud, false);
}

static int h_payment_refund(const struct http_request *req, struct http_response *resp, void *ud)
{
	return payment_end(req, resp, ud, true);
}

static int h_payments_list(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "GET /v1/users/{telegram_id}/payments";
	struct ctl_service *s = ud;
	struct db_user *u = NULL;
	struct db_payment *p = NULL;
	struct db_conn *c;
	json_t *arr = NULL;
	size_t n = 0;
	int64_t tid;
	int r;

	if (param_tid(req, resp, &tid) < 0)
		return 0;
	c = acquire_user(s, resp, tid, what, &u);
	if (!c)
		return 0;
	r = db_payment_history(c, u->id, API_LIST_MAX, &p, &n);
	if (r < 0) {
		r = db_failed(s, c, resp, r, what);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; r == 0 && i < n; i++)
		r = list_append(arr, apijson_payment(&p[i], tid));
	r = respond_list(s, c, resp, r, "payments", arr, what);
out:
	json_decref(arr);
	db_payments_free(p, n);
	db_user_free(u);
	db_release(c);
	return r;
}

/* ---- nodes ---- */

static const struct http_field node_post_fields[] = {
    {"name", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"agent_url", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
    {"token", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
};

/* ^[a-z0-9][a-z0-9._-]{0,63}$, the schema's rule. */
static bool node_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* What an http_token may be: 1..HTTP_TOKEN_MAX printable ASCII characters, no spaces. */
static bool token_valid(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if (t[n] <= 0x20 || t[n] >= 0x7f)
			return false;
	return n >= 1 && n <= HTTP_TOKEN_MAX;
}

/* An agent URL and token as a request gives them (each NULL: not given): 0, or a refusal
 * in err. */
static int agent_fields_check(const char *url, const char *token, struct http_error *err)
{
	if (url && strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return refuse(err, 400, "invalid_value", "agent_url: must be http:// or https://");
	if (token && !token_valid(token))
		return refuse(err, 400, "invalid_value",
		              "token: 1..%d printable ASCII characters without spaces",
		              HTTP_TOKEN_MAX);
	return 0;
}

/* The agent's /v1/info with this token, over a client of its own (one per request). */
static int agent_info(struct ctl_service *s, const char *url, const char *token,
                      struct agent_info **ret, struct agent_error *err)
{
	struct httpc_options o = {
	    .ca_file = s->cfg->agent_ca_file,
	    .timeout_ms = (unsigned)s->cfg->agent_timeout_ms,
	};
	struct agent_target t = {.url = url, .token = token};
	struct httpc *h = NULL;
	int r = httpc_new(&o, &h);

	if (r < 0) {
		snprintf(err->message, sizeof(err->message), "cannot start an HTTP client: %s",
		         strerror(-r));
		return r;
	}
	r = agent_get_info(h, &t, ret, err);
	httpc_free(h);
	return r;
}

static int h_node_post(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "POST /v1/nodes";
	struct ctl_service *s = ud;
	struct http_error err = {0};
	struct agent_error aerr = {0};
	struct agent_info *info = NULL;
	struct db_node *n = NULL;
	struct db_conn *c = NULL;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	json_t *body = NULL;
	char *token = NULL;
	const char *name = NULL, *url = NULL;
	uint64_t id;
	int r;

	r = body_parse(req, node_post_fields, ARRAY_SIZE(node_post_fields), false, &body, &err);
	if (r == 0) {
		name = opt_string(body, "name");
		url = opt_string(body, "agent_url");
		token = (char *)opt_string(body, "token");
		if (!node_name_valid(name))
			r = refuse(&err, 400, "invalid_value",
			           "name: 1..64 of a-z 0-9 . _ -, starting with a letter or digit");
		else
			r = agent_fields_check(url, token, &err);
	}
	if (r < 0) {
		r = respond_refused(resp, r, &err);
		goto out;
	}
	/* Before anything is recorded: a node whose agent we cannot talk to is refused. */
	r = agent_info(s, url, token, &info, &aerr);
	if (r < 0) {
		svc_log(s, CTL_LOG_INFO, "%s: agent of node %s: %s", what, name, aerr.message);
		r = http_respond_error(resp, 502, "agent_unreachable", "the agent: %s",
		                       aerr.message[0] ? aerr.message : strerror(-r));
		goto out;
	}
	r = vault_seal(s->vault, token, strlen(token), &sealed, &sealed_len);
	if (r < 0)
		goto out;
	c = acquire(s, resp);
	if (!c)
		goto out;
	struct db_node_new nn = {
	    .name = name,
	    .agent_url = url,
	    .endpoint = info->endpoint,
	    .public_key = info->public_key,
	    .pools = info->pools_json,
	    .agent_token_enc = sealed,
	    .agent_token_enc_len = sealed_len,
	    .boot_id = info->boot_id,
	    .free_addresses = info->free_addresses,
	    .peers = info->peers,
	};
	r = db_node_create(c, ACTOR, &nn, &id);
	if (r == -EEXIST) {
		r = http_respond_error(resp, 409, "conflict",
		                       "a node with this name or public key exists already");
		goto out;
	}
	if (r == -EINVAL) {
		r = http_respond_error(resp, 400, "invalid_value",
		                       "the node was refused (its URL or the agent's endpoint)");
		goto out;
	}
	if (r == 0)
		r = db_node_get(c, id, &n);
	if (r < 0) {
		r = db_failed(s, c, resp, r, what);
		goto out;
	}
	svc_log(s, CTL_LOG_INFO, "node %s (%" PRIu64 ") registered: %s", name, id, info->endpoint);
	r = http_respond_json(resp, 201, apijson_node(n));
out:
	/* The token's only plain copy we own: the parsed body's. */
	if (token)
		explicit_bzero(token, strlen(token));
	free(sealed);
	db_node_free(n);
	agent_info_free(info);
	json_decref(body);
	db_release(c);
	return r;
}

static int h_nodes_list(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	struct db_node *v = NULL;
	struct db_conn *c;
	json_t *arr = NULL;
	size_t n = 0;
	int r;

	(void)req;
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = db_node_list(c, &v, &n);
	if (r < 0) {
		r = db_failed(s, c, resp, r, "GET /v1/nodes");
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; r == 0 && i < n; i++)
		r = list_append(arr, apijson_node(&v[i]));
	r = respond_list(s, c, resp, r, "nodes", arr, "GET /v1/nodes");
out:
	json_decref(arr);
	db_nodes_free(v, n);
	db_release(c);
	return r;
}

static const struct http_field node_patch_fields[] = {
    {"state", HTTP_FIELD_STRING, 0},
    {"agent_url", HTTP_FIELD_STRING, 0},
    {"token", HTTP_FIELD_STRING, 0},
};

/*
 * A moved agent or a rotated agent token: checked against the agent first (its /v1/info
 * with the new URL and token must answer, with the node's own server key), then stored.
 * A token not given stays; so does a URL not given. 0, or an answer already made (< 0
 * only for failures of our own).
 */
static int node_set_agent(struct ctl_service *s, struct db_conn *c, struct http_response *resp,
                          uint64_t id, const char *url, const char *token, bool *ret_answered)
{
	struct agent_error aerr = {0};
	struct agent_info *info = NULL;
	struct db_node *n = NULL;
	uint8_t *plain = NULL, *sealed = NULL;
	size_t plain_len = 0, sealed_len = 0;
	int r;

	*ret_answered = true;
	r = db_node_get(c, id, &n);
	if (r == -ENOENT) {
		r = http_respond_error(resp, 404, "not_found", "no node %" PRIu64, id);
		goto out;
	}
	if (r < 0) {
		r = db_failed(s, c, resp, r, "PATCH /v1/nodes/{id}");
		goto out;
	}
	if (!token) {
		if (!n->agent_token_enc || vault_open(s->vault, n->agent_token_enc,
		                                      n->agent_token_enc_len, &plain, &plain_len) < 0) {
			r = http_respond_error(resp, 409, "conflict",
			                       "node %s has no usable token stored: give one", n->name);
			goto out;
		}
		token = (const char *)plain;
	}
	if (!url)
		url = n->agent_url;
	r = agent_info(s, url, token, &info, &aerr);
	if (r < 0) {
		r = http_respond_error(resp, 502, "agent_unreachable", "the agent: %s",
		                       aerr.message[0] ? aerr.message : strerror(-r));
		goto out;
	}
	if (strcmp(info->public_key, n->public_key) != 0) {
		r = http_respond_error(resp, 409, "conflict",
		                       "the agent there has server key %s, node %s has %s: another "
		                       "server is registered as a node of its own",
		                       info->public_key, n->name, n->public_key);
		goto out;
	}
	r = vault_seal(s->vault, token, strlen(token), &sealed, &sealed_len);
	if (r == 0)
		r = db_node_set_agent(c, ACTOR, id, url, sealed, sealed_len, !plain);
	if (r == -EINVAL) {
		r = http_respond_error(resp, 400, "invalid_value", "the agent URL was refused");
		goto out;
	}
	if (r < 0) {
		r = r == -ENOMEM ? r : db_failed(s, c, resp, r, "PATCH /v1/nodes/{id}");
		goto out;
	}
	svc_log(s, CTL_LOG_INFO, "node %s: agent %s%s", n->name, url,
	        plain ? "" : ", new token");
	*ret_answered = false;
out:
	vault_plain_free(plain, plain_len);
	free(sealed);
	agent_info_free(info);
	db_node_free(n);
	return r;
}

static int h_node_patch(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "PATCH /v1/nodes/{id}";
	struct ctl_service *s = ud;
	struct http_error err = {0};
	enum node_state state = NODE_ACTIVE;
	struct db_node *n = NULL;
	struct db_conn *c = NULL;
	json_t *body = NULL;
	const char *st = NULL, *url = NULL;
	char *token = NULL;
	bool answered = false;
	uint64_t id;
	int r;

	if (param_id(req, resp, &id) < 0)
		return 0;
	r = body_parse(req, node_patch_fields, ARRAY_SIZE(node_patch_fields), false, &body, &err);
	if (r == 0) {
		st = opt_string(body, "state");
		url = opt_string(body, "agent_url");
		token = (char *)opt_string(body, "token");
		if (!st && !url && !token)
			r = refuse(&err, 400, "invalid_value",
			           "nothing to change: give state, agent_url or token");
		else if (st && node_state_from_string(st, strlen(st), &state) < 0)
			r = refuse(&err, 400, "invalid_value",
			           "state: must be active, draining or disabled");
		else
			r = agent_fields_check(url, token, &err);
	}
	c = acquire_checked(s, resp, &r, &err);
	if (!c)
		goto out;
	if (url || token) {
		r = node_set_agent(s, c, resp, id, url, token, &answered);
		if (r < 0 || answered)
			goto out;
	}
	if (st) {
		r = db_node_set_state(c, ACTOR, id, state);
		if (r == -EALREADY)
			r = 0;
	}
	if (r == 0)
		r = db_node_get(c, id, &n);
	if (r == -ENOENT)
		r = http_respond_error(resp, 404, "not_found", "no node %" PRIu64, id);
	else if (r < 0)
		r = db_failed(s, c, resp, r, what);
	else
		r = http_respond_json(resp, 200, apijson_node(n));
out:
	/* The token's only plain copy we own: the parsed body's. */
	if (token)
		explicit_bzero(token, strlen(token));
	db_node_free(n);
	json_decref(body);
	db_release(c);
	return r;
}

/* ---- jobs ---- */

static int h_jobs(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct ctl_service *s = ud;
	const char *st = http_request_query(req, "state"), *lim = http_request_query(req, "limit");
	struct node_names nn = {0};
	struct db_job *v = NULL;
	struct db_conn *c;
	enum job_state state;
	uint64_t limit = API_JOBS_DEFAULT;
	json_t *arr = NULL;
	size_t n = 0;
	int r;

	if (st && job_state_from_string(st, strlen(st), &state) < 0)
		return http_respond_error(resp, 400, "invalid_value",
		                          "state: must be pending, running, done or failed");
	if (lim && id_parse(lim, API_JOBS_MAX, &limit) < 0)
		return http_respond_error(resp, 400, "invalid_value", "limit: must be 1..%d",
		                          API_JOBS_MAX);
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = db_job_list(c, st ? (int)state : -1, (unsigned)limit, &v, &n);
	arr = json_array();
	if (r == 0 && !arr)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *node = NULL;

		r = node_name(c, &nn, v[i].node_id, &node);
		if (r == 0)
			r = list_append(arr, apijson_job(&v[i], node));
	}
	r = respond_list(s, c, resp, r, "jobs", arr, "GET /v1/jobs");
	json_decref(arr);
	node_names_done(&nn);
	db_jobs_free(v, n);
	db_release(c);
	return r;
}

/* An operator's second chance for a failed job (db_job_requeue): the workers are woken at
 * once. */
static int h_job_retry(const struct http_request *req, struct http_response *resp, void *ud)
{
	static const char what[] = "POST /v1/jobs/{id}/retry";
	struct ctl_service *s = ud;
	struct node_names nn = {0};
	struct db_job *j = NULL;
	const char *node = NULL;
	struct db_conn *c;
	uint64_t id;
	int r;

	if (param_id(req, resp, &id) < 0)
		return 0;
	c = acquire(s, resp);
	if (!c)
		return 0;
	r = db_job_requeue(c, id);
	if (r == -ENOENT) {
		r = http_respond_error(resp, 404, "not_found", "no job %" PRIu64, id);
		goto out;
	}
	if (r == -EPERM) {
		r = http_respond_error(resp, 409, "invalid_transition",
		                       "job %" PRIu64 " is not failed: only a failed job is retried",
		                       id);
		goto out;
	}
	if (r == 0) {
		svc_kick_workers(s);
		r = db_job_get(c, id, &j);
	}
	if (r == 0)
		r = node_name(c, &nn, j->node_id, &node);
	if (r < 0)
		r = r == -ENOMEM ? r : db_failed(s, c, resp, r, what);
	else
		r = http_respond_json(resp, 200, apijson_job(j, node));
out:
	node_names_done(&nn);
	db_job_free(j);
	db_release(c);
	return r;
}

/* ---- the server ---- */

static void on_http_event(const struct http_event *ev, void *ud)
{
	struct ctl_service *s = ud;
	char line[512];

	http_event_format(ev, line, sizeof(line));
	svc_log(s, ev->level == HTTP_EVENT_WARN ? CTL_LOG_WARN : CTL_LOG_DEBUG, "http: %s", line);
}

int api_start(struct ctl_service *s, const struct http_token *tokens, size_t n_tokens,
              char *ret_err, size_t err_size)
{
	const struct http_route routes[] = {
	    {HTTP_GET, "/healthz", h_healthz, 0, HTTP_ROUTE_PUBLIC, s},
	    {HTTP_GET, "/metrics", h_metrics, ROLES_MONITOR, 0, s},
	    {HTTP_GET, "/v1/status", h_status, ROLES_MONITOR, 0, s},
	    {HTTP_PUT, "/v1/users/{telegram_id}", h_user_put, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/users/{telegram_id}", h_user_get, ROLES_BOT, 0, s},
	    {HTTP_PATCH, "/v1/users/{telegram_id}", h_user_patch, ROLES_BOT, 0, s},
	    {HTTP_PUT, "/v1/users/{telegram_id}/roles/{role}", h_role_put, ROLES_ADMIN, 0, s},
	    {HTTP_DELETE, "/v1/users/{telegram_id}/roles/{role}", h_role_delete, ROLES_ADMIN, 0, s},
	    {HTTP_POST, "/v1/users/{telegram_id}/vpns", h_vpns_post, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/users/{telegram_id}/vpns", h_vpns_list, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/users/{telegram_id}/payments", h_payments_list, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/vpns/{id}", h_vpn_get, ROLES_BOT, 0, s},
	    {HTTP_DELETE, "/v1/vpns/{id}", h_vpn_delete, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/vpns/{id}/config", h_vpn_config, ROLES_BOT, 0, s},
	    {HTTP_GET, "/v1/vpns/{id}/qr", h_vpn_qr, ROLES_BOT, 0, s},
	    {HTTP_POST, "/v1/payments", h_payment_post, ROLES_BOT, 0, s},
	    {HTTP_POST, "/v1/payments/{id}/complete", h_payment_complete, ROLES_BOT, 0, s},
	    {HTTP_POST, "/v1/payments/{id}/fail", h_payment_fail, ROLES_BOT, 0, s},
	    {HTTP_POST, "/v1/payments/{id}/refund", h_payment_refund, ROLES_BOT, 0, s},
	    {HTTP_POST, "/v1/nodes", h_node_post, ROLES_ADMIN, 0, s},
	    {HTTP_GET, "/v1/nodes", h_nodes_list, ROLES_MONITOR, 0, s},
	    {HTTP_PATCH, "/v1/nodes/{id}", h_node_patch, ROLES_ADMIN, 0, s},
	    {HTTP_GET, "/v1/jobs", h_jobs, ROLES_MONITOR, 0, s},
	    {HTTP_POST, "/v1/jobs/{id}/retry", h_job_retry, ROLES_ADMIN, 0, s},
	};
	struct http_server_config hc = {
	    .listen = s->cfg->api_listen_addr,
	    .tls_cert_file = s->cfg->tls_cert,
	    .tls_key_file = s->cfg->tls_key,
	    .routes = routes,
	    .n_routes = ARRAY_SIZE(routes),
	    .tokens = tokens,
	    .n_tokens = n_tokens,
	    .max_body = API_MAX_BODY,
	    .metrics_prefix = API_METRICS_PREFIX,
	    .on_event = on_http_event,
	    .event_userdata = s,
	};

	return http_server_start(&hc, &s->http, ret_err, err_size);
}

void api_stop(struct ctl_service *s)
{
	s->http = http_server_stop(s->http);
}
