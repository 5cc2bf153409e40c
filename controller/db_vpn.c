// SPDX-License-Identifier: MIT
/*
 * VPN configs over the statement table. As for payments, a transition is one guarded
 * UPDATE and the row is read only afterwards, to tell "already there" from "not
 * allowed" with the pure state machine of model.c. The one-live-trial rule is the
 * schema's unique index: no check-then-insert here, which is what raced in the old
 * system.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_record.h"
#include "db_vpn.h"

static void vpn_clear(struct db_vpn *v)
{
	free(v->name);
	free(v->config);
	free(v->peer_public_key);
	free(v->extra);
}

struct db_vpn *db_vpn_free(struct db_vpn *v)
{
	if (v)
		vpn_clear(v);
	free(v);
	return NULL;
}

struct db_vpn *db_vpns_free(struct db_vpn *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		vpn_clear(&v[i]);
	free(v);
	return NULL;
}

/* VPN_COLUMNS (db_stmt.c) into v, which the caller zeroed. */
static int vpn_from_row(const struct db_row *row, struct db_vpn *v)
{
	uint64_t trial;
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &v->id)) < 0 || (r = db_row_uint(row, 1, &v->user_id)) < 0 ||
	    (r = db_row_uint(row, 2, &v->node_id)) < 0 ||
	    (r = db_row_bytes(row, 3, &s, &len)) < 0 ||
	    (r = vpn_type_from_string(s, len, &v->type)) < 0 ||
	    (r = db_record_strdup(row, 4, &v->name)) < 0 ||
	    (r = db_record_strdup(row, 5, &v->config)) < 0 ||
	    (r = db_record_strdup(row, 6, &v->peer_public_key)) < 0 ||
	    (r = db_row_bytes(row, 7, &s, &len)) < 0 ||
	    (r = vpn_status_from_string(s, len, &v->status)) < 0 ||
	    (r = db_row_uint(row, 8, &trial)) < 0 ||
	    (r = db_row_uint(row, 9, &v->bandwidth_bytes)) < 0 ||
	    (r = db_record_strdup(row, 10, &v->extra)) < 0 ||
	    (r = db_record_time(row, 11, &v->created_at_us)) < 0 ||
	    (r = db_record_time(row, 12, &v->activated_at_us)) < 0 ||
	    (r = db_record_time(row, 13, &v->expires_at_us)) < 0 ||
	    (r = db_record_time(row, 14, &v->revoked_at_us)) < 0 ||
	    (r = db_record_time(row, 15, &v->updated_at_us)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	v->is_trial = trial != 0;
	return 0;
}

struct vpn_list {
	struct db_vpn *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct vpn_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	/* counted even on failure, so that db_vpns_free frees what was read */
	return vpn_from_row(row, &l->v[l->n++]);
}

static int list(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                struct db_vpn **ret, size_t *ret_n)
{
	struct vpn_list l = {0};
	int r;

	r = db_query(c, id, p, n, list_row, &l, NULL);
	if (r < 0) {
		db_vpns_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int db_vpn_get(struct db_conn *c, uint64_t id, struct db_vpn **ret)
{
	struct db_vpn *v = NULL;
	size_t n = 0;
	int r;

	r = list(c, DB_STMT_VPN_GET, &DB_UINT(id), 1, &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		db_vpns_free(v, n);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

int db_vpn_list_by_user(struct db_conn *c, uint64_t user_id, unsigned limit, struct db_vpn **ret,
                        size_t *ret_n)
{
	struct db_param p[] = {DB_UINT(user_id), DB_UINT(limit)};

	return list(c, DB_STMT_VPN_LIST_BY_USER, p, ARRAY_SIZE(p), ret, ret_n);
}

int db_vpn_list_due(struct db_conn *c, uint32_t seconds, unsigned limit, struct db_vpn **ret,
                    size_t *ret_n)
{
	struct db_param p[] = {DB_UINT(seconds), DB_UINT(limit)};

	return list(c, DB_STMT_VPN_LIST_DUE, p, ARRAY_SIZE(p), ret, ret_n);
}

int db_vpn_list_expired(struct db_conn *c, unsigned limit, struct db_vpn **ret, size_t *ret_n)
{
	return list(c, DB_STMT_VPN_LIST_EXPIRED, &DB_UINT(limit), 1, ret, ret_n);
}

/* ---- create ---- */

struct create {
	uint64_t actor;
	const struct db_vpn_new *n;
	uint64_t id;
};

/* user status, node state: NULL for a missing row */
struct why {
	bool user, node;
};

static int why_row(const struct db_row *row, void *userdata)
{
	struct why *w = userdata;

	w->user = !db_row_is_null(row, 0);
	w->node = !db_row_is_null(row, 1);
	return 1;
}

static int create_tx(struct db_conn *c, void *userdata)
{
	struct create *x = userdata;
	const struct db_vpn_new *n = x->n;
	const char *type = vpn_type_to_string(n->type);
	struct db_param expires = n->expires_at_us ? DB_TIME(n->expires_at_us) : DB_NULL;
	struct db_param p[] = {DB_TEXT(type),
	                       DB_TEXT(n->name),
	                       DB_TEXT(n->config ? n->config : "{}"),
	                       db_record_opt_text(n->peer_public_key),
	                       DB_UINT(n->is_trial),
	                       expires,
	                       DB_UINT(n->user_id),
	                       DB_UINT(n->node_id)};
	uint64_t affected = 0;
	int r;

	r = db_exec(c, DB_STMT_VPN_CREATE, p, ARRAY_SIZE(p), &affected, &x->id);
	if (r < 0)
		return r;
	if (affected == 0) {
		struct db_param q[] = {DB_UINT(n->user_id), DB_UINT(n->node_id)};
		struct why w = {0};

		r = db_query(c, DB_STMT_VPN_CREATE_WHY, q, ARRAY_SIZE(q), why_row, &w, NULL);
		if (r < 0)
			return r;
		return w.user && w.node ? -EPERM : -ENOENT;
	}
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_UINT(n->user_id),
	                       DB_UINT(x->id),
	                       DB_UINT(n->node_id),
	                       DB_TEXT(type),
	                       DB_UINT(n->is_trial),
	                       expires};
	return db_exec(c, DB_STMT_AUDIT_VPN_CREATE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_create(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                  uint64_t *ret_id)
{
	struct create x = {actor_id, n, 0};
	int r;

	if (!vpn_type_to_string(n->type) || !n->name)
		return -EINVAL;
	r = db_tx_run(c, create_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	return 0;
}

/* ---- transitions ---- */

struct transition {
	uint64_t actor, id;
	enum vpn_event event;
	const char *config, *reason;
	const struct db_ip_address *addresses;
	size_t n_addresses;
};

static int status_row(const struct db_row *row, void *userdata)
{
	const char *s;
	size_t len;

	if (db_row_bytes(row, 0, &s, &len) < 0 || vpn_status_from_string(s, len, userdata) < 0)
		return -EBADMSG;
	return 1;
}

/* Why the guarded UPDATE matched nothing: the state machine on the row as it is now. */
static int refused(struct db_conn *c, const struct transition *x)
{
	enum vpn_status now, to;
	uint64_t rows = 0;
	int r;

	r = db_query(c, DB_STMT_VPN_STATUS, &DB_UINT(x->id), 1, status_row, &now, &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return -ENOENT;
	r = vpn_next(now, x->event, &to);
	return r < 0 ? r : -EIO; /* allowed, yet the guard did not match: a bug */
}

static int transition_tx(struct db_conn *c, void *userdata)
{
	static const char *const actions[_VPN_EVENT_MAX] = {
	    [VPN_EVENT_ACTIVATE] = "vpn.activate",
	    [VPN_EVENT_EXPIRE] = "vpn.expire",
	    [VPN_EVENT_REVOKE] = "vpn.revoke",
	};
	static const enum vpn_status targets[_VPN_EVENT_MAX] = {
	    [VPN_EVENT_ACTIVATE] = VPN_ACTIVE,
	    [VPN_EVENT_EXPIRE] = VPN_EXPIRED,
	    [VPN_EVENT_REVOKE] = VPN_REVOKED,
	};
	struct transition *x = userdata;
	uint64_t affected = 0, released = 0;
	int r;

	switch (x->event) {
	case VPN_EVENT_ACTIVATE: {
		struct db_param p[] = {db_record_opt_text(x->config), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_VPN_ACTIVATE, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	case VPN_EVENT_EXPIRE:
		r = db_exec(c, DB_STMT_VPN_EXPIRE, &DB_UINT(x->id), 1, &affected, NULL);
		break;
	case VPN_EVENT_REVOKE: {
		struct db_param p[] = {db_record_opt_text(x->reason), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_VPN_REVOKE, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (affected == 0)
		return refused(c, x);

	if (x->event == VPN_EVENT_ACTIVATE) {
		/* The config row is ours (X-locked) now: the addresses join it atomically. */
		for (size_t i = 0; i < x->n_addresses; i++) {
			r = db_ip_record_in_tx(c, x->actor, x->id, &x->addresses[i], NULL);
			if (r < 0)
				return r;
		}
	} else {
		r = db_exec(c, DB_STMT_VPN_RELEASE_IPS, &DB_UINT(x->id), 1, &released, NULL);
		if (r < 0)
			return r;
	}
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_TEXT(actions[x->event]),
	                       DB_TEXT(vpn_status_to_string(targets[x->event])),
	                       db_record_opt_text(x->reason),
	                       DB_UINT(x->event == VPN_EVENT_ACTIVATE ? x->n_addresses : 0),
	                       DB_UINT(released),
	                       DB_UINT(x->id)};
	return db_exec(c, DB_STMT_AUDIT_VPN_TRANSITION, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_activate(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *config,
                    const struct db_ip_address *addresses, size_t n)
{
	struct transition x = {actor_id, id, VPN_EVENT_ACTIVATE, config, NULL, addresses, n};

	if (n && !addresses)
		return -EINVAL;
	return db_tx_run(c, transition_tx, &x);
}

int db_vpn_revoke(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *reason)
{
	struct transition x = {actor_id, id, VPN_EVENT_REVOKE, NULL, reason, NULL, 0};

	return db_tx_run(c, transition_tx, &x);
}

int db_vpn_expire(struct db_conn *c, uint64_t actor_id, uint64_t id)
{
	struct transition x = {actor_id, id, VPN_EVENT_EXPIRE, NULL, NULL, NULL, 0};

	return db_tx_run(c, transition_tx, &x);
}

/* ---- clean-up and accounting ---- */

struct cleanup {
	uint64_t actor, released;
};

static int cleanup_tx(struct db_conn *c, void *userdata)
{
	struct cleanup *x = userdata;
	int r;

	r = db_exec(c, DB_STMT_VPN_CLEANUP, NULL, 0, &x->released, NULL);
	if (r < 0 || x->released == 0)
		return r; /* a sweep that found nothing leaves no trace in the audit log */
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->released)};
	return db_exec(c, DB_STMT_AUDIT_VPN_CLEANUP, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_cleanup(struct db_conn *c, uint64_t actor_id, uint64_t *ret_released)
{
	struct cleanup x = {actor_id, 0};
	int r;

	r = db_tx_run(c, cleanup_tx, &x);
	if (r < 0)
		return r;
	if (ret_released)
		*ret_released = x.released;
	return 0;
}

int db_vpn_add_bandwidth(struct db_conn *c, uint64_t id, uint64_t bytes)
{
	struct db_param p[] = {DB_UINT(bytes), DB_UINT(id)};
	uint64_t affected = 0;
	int r;

	r = db_exec(c, DB_STMT_VPN_ADD_BANDWIDTH, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0)
		return r;
	return affected ? 0 : -ENOENT;
}
