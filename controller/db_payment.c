// SPDX-License-Identifier: MIT
/*
 * Payments over the statement table. A transition is one guarded UPDATE: InnoDB makes a
 * concurrent second caller wait for the first one's row lock and then re-read the row, so
 * it matches nothing; only then is the row read to tell "already done" from "not allowed",
 * with the pure state machine of model.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_payment.h"
#include "db_record.h"

static void payment_clear(struct db_payment *p)
{
	free(p->provider_charge_id);
	free(p->failure_reason);
}

struct db_payment *db_payment_free(struct db_payment *p)
{
	if (p)
		payment_clear(p);
	free(p);
	return NULL;
}

struct db_payment *db_payments_free(struct db_payment *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		payment_clear(&v[i]);
	free(v);
	return NULL;
}

/* PAYMENT_COLUMNS (db_stmt.c) into p, which the caller zeroed. */
static int payment_from_row(const struct db_row *row, struct db_payment *p)
{
	const char *s, *cur;
	size_t len, cur_len;
	uint64_t months;
	int r;

	if ((r = db_row_uint(row, 0, &p->id)) < 0 || (r = db_row_uint(row, 1, &p->user_id)) < 0 ||
	    (r = db_row_bytes(row, 2, &s, &len)) < 0 ||
	    (r = payment_method_from_string(s, len, &p->method)) < 0 ||
	    (r = db_row_int(row, 3, &p->amount)) < 0 ||
	    (r = db_row_bytes(row, 4, &cur, &cur_len)) < 0 || cur_len >= sizeof(p->currency) ||
	    (r = db_row_bytes(row, 5, &s, &len)) < 0 ||
	    (r = payment_status_from_string(s, len, &p->status)) < 0 ||
	    (r = db_row_bytes(row, 6, &s, &len)) < 0 ||
	    (r = vpn_type_from_string(s, len, &p->vpn_type)) < 0 ||
	    (r = db_row_uint(row, 7, &months)) < 0 ||
	    (r = db_record_strdup(row, 8, &p->provider_charge_id)) < 0 ||
	    (r = db_record_strdup(row, 10, &p->failure_reason)) < 0 ||
	    (r = db_record_time(row, 11, &p->created_at_us)) < 0 ||
	    (r = db_record_time(row, 12, &p->completed_at_us)) < 0 ||
	    (r = db_record_time(row, 13, &p->refunded_at_us)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	memcpy(p->currency, cur, cur_len);
	p->currency[cur_len] = '\0';
	p->months = (unsigned)months;
	return db_record_uint(row, 9, &p->vpn_config_id) < 0 ? -EBADMSG : 0;
}

struct payment_list {
	struct db_payment *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct payment_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	return payment_from_row(row, &l->v[l->n++]);
}

static int get_one(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                   struct db_payment **ret)
{
	struct payment_list l = {0};
	int r;

	r = db_query(c, id, p, n, list_row, &l, NULL);
	if (r < 0 || l.n != 1) {
		db_payments_free(l.v, l.n);
		return r < 0 ? r : -ENOENT;
	}
	*ret = l.v;
	return 0;
}

int db_payment_get(struct db_conn *c, uint64_t id, struct db_payment **ret)
{
	return get_one(c, DB_STMT_PAYMENT_GET, &DB_UINT(id), 1, ret);
}

int db_payment_get_for_update_in_tx(struct db_conn *c, uint64_t id, struct db_payment **ret)
{
	return get_one(c, DB_STMT_PAYMENT_GET_FOR_UPDATE, &DB_UINT(id), 1, ret);
}

int db_payment_get_by_charge(struct db_conn *c, enum payment_method method,
                             const char *provider_charge_id, struct db_payment **ret)
{
	const char *m = payment_method_to_string(method);
	struct db_param p[2];

	if (!m || !provider_charge_id)
		return -EINVAL;
	p[0] = DB_TEXT(m);
	p[1] = DB_TEXT(provider_charge_id);
	return get_one(c, DB_STMT_PAYMENT_GET_BY_CHARGE, p, 2, ret);
}

int db_payment_history(struct db_conn *c, uint64_t user_id, unsigned limit, struct db_payment **ret,
                       size_t *ret_n)
{
	struct db_param p[] = {DB_UINT(user_id), DB_UINT(limit)};
	struct payment_list l = {0};
	int r;

	r = db_query(c, DB_STMT_PAYMENT_HISTORY, p, ARRAY_SIZE(p), list_row, &l, NULL);
	if (r < 0) {
		db_payments_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

struct create {
	uint64_t actor;
	const struct db_payment_new *p;
	uint64_t id;
};

static int create_tx(struct db_conn *c, void *userdata)
{
	struct create *x = userdata;
	const struct db_payment_new *n = x->p;
	const char *method = payment_method_to_string(n->method);
	struct db_param p[] = {DB_UINT(n->user_id),
	                       DB_TEXT(method),
	                       DB_INT(n->amount),
	                       DB_TEXT(n->currency),
	                       DB_TEXT(vpn_type_to_string(n->vpn_type)),
	                       DB_UINT(n->months),
	                       DB_TEXT(n->provider_charge_id)};
	int r;

	r = db_exec(c, DB_STMT_PAYMENT_CREATE, p, ARRAY_SIZE(p), NULL, &x->id);
	if (r < 0)
		return r;
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_UINT(n->user_id),
	                       DB_UINT(x->id),
	                       DB_TEXT(method),
	                       DB_INT(n->amount),
	                       DB_TEXT(n->currency),
	                       DB_TEXT(n->provider_charge_id)};
	return db_exec(c, DB_STMT_AUDIT_PAYMENT_CREATE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_payment_create(struct db_conn *c, uint64_t actor_id, const struct db_payment_new *p,
                      uint64_t *ret_id)
{
	struct create x = {actor_id, p, 0};
	int r;

	if (!payment_method_to_string(p->method) || !vpn_type_to_string(p->vpn_type) ||
	    !p->currency || !p->provider_charge_id)
		return -EINVAL;
	r = db_tx_run(c, create_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	return 0;
}

struct transition {
	uint64_t actor, id, vpn_config_id;
	enum payment_event event;
	const char *reason;
};

static int status_row(const struct db_row *row, void *userdata)
{
	const char *s;
	size_t len;

	if (db_row_bytes(row, 0, &s, &len) < 0 || payment_status_from_string(s, len, userdata) < 0)
		return -EBADMSG;
	return 1;
}

static int transition_tx(struct db_conn *c, void *userdata)
{
	static const char *const actions[_PAYMENT_EVENT_MAX] = {
	    [PAYMENT_EVENT_COMPLETE] = "payment.complete",
	    [PAYMENT_EVENT_FAIL] = "payment.fail",
	    [PAYMENT_EVENT_REFUND] = "payment.refund",
	};
	struct transition *x = userdata;
	enum payment_status from, to, now = _PAYMENT_STATUS_MAX;
	uint64_t affected = 0, rows = 0;
	int r;

	r = payment_event_edge(x->event, &from, &to);
	if (r < 0)
		return r;
	switch (x->event) {
	case PAYMENT_EVENT_COMPLETE: {
		struct db_param p[] = {db_record_opt_id(x->vpn_config_id), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_PAYMENT_COMPLETE, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	case PAYMENT_EVENT_FAIL: {
		struct db_param p[] = {x->reason ? DB_TEXT(x->reason) : DB_NULL, DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_PAYMENT_FAIL, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	case PAYMENT_EVENT_REFUND:
		r = db_exec(c, DB_STMT_PAYMENT_REFUND, &DB_UINT(x->id), 1, &affected, NULL);
		break;
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (affected == 0) {
		/* Why not: the state machine on the row as it is now. */
		r = db_query(c, DB_STMT_PAYMENT_STATUS, &DB_UINT(x->id), 1, status_row, &now,
		             &rows);
		if (r < 0)
			return r;
		if (rows == 0)
			return -ENOENT;
		r = payment_next(now, x->event, &to);
		return r < 0 ? r : -EIO; /* allowed, yet the guard did not match: a bug */
	}
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_TEXT(actions[x->event]),
	                       DB_UINT(x->id),
	                       DB_TEXT(payment_status_to_string(from)),
	                       DB_TEXT(payment_status_to_string(to)),
	                       x->reason ? DB_TEXT(x->reason) : DB_NULL,
	                       DB_UINT(x->id)};
	return db_exec(c, DB_STMT_AUDIT_PAYMENT_TRANSITION, a, ARRAY_SIZE(a), NULL, NULL);
}

static int transition(struct db_conn *c, struct transition *x)
{
	return db_tx_run(c, transition_tx, x);
}

int db_payment_complete(struct db_conn *c, uint64_t actor_id, uint64_t payment_id,
                        uint64_t vpn_config_id)
{
	struct transition x = {actor_id, payment_id, vpn_config_id, PAYMENT_EVENT_COMPLETE, NULL};

	return transition(c, &x);
}

int db_payment_complete_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t payment_id,
                              uint64_t vpn_config_id)
{
	struct transition x = {actor_id, payment_id, vpn_config_id, PAYMENT_EVENT_COMPLETE, NULL};

	return transition_tx(c, &x);
}

int db_payment_fail(struct db_conn *c, uint64_t actor_id, uint64_t payment_id, const char *reason)
{
	struct transition x = {actor_id, payment_id, 0, PAYMENT_EVENT_FAIL, reason};

	return transition(c, &x);
}

int db_payment_refund(struct db_conn *c, uint64_t actor_id, uint64_t payment_id)
{
	struct transition x = {actor_id, payment_id, 0, PAYMENT_EVENT_REFUND, NULL};

	return transition(c, &x);
}
