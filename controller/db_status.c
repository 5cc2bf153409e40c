// SPDX-License-Identifier: MIT
/*
 * Status figures. The counter rows (and the recount, which has the same shape) are
 * (subject, state, kind, detail, count, sum); this file files them into struct
 * db_status and derives the totals in C, so that the database answers a handful of
 * rows instead of one COUNT(*) per figure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_record.h"
#include "db_status.h"

struct db_status *db_status_free(struct db_status *s)
{
	if (s)
		free(s->payments.revenue);
	free(s);
	return NULL;
}

struct collect {
	struct db_status *s;
	size_t revenue_cap;
};

static int add_revenue(struct collect *x, enum payment_method method, const char *currency,
                       size_t currency_len, uint64_t count, uint64_t amount)
{
	struct db_status *s = x->s;
	struct db_revenue *r;
	int e;

	if (currency_len >= sizeof(r->currency))
		return -EBADMSG;
	e = db_record_grow((void **)&s->payments.revenue, &x->revenue_cap, s->payments.n_revenue,
	                   sizeof(*s->payments.revenue));
	if (e < 0)
		return e;
	r = &s->payments.revenue[s->payments.n_revenue++];
	r->method = method;
	memcpy(r->currency, currency, currency_len);
	r->currency[currency_len] = '\0';
	r->payments = count;
	r->amount = amount;
	return 0;
}

static bool is(const char *s, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(s, want, len);
}

/* One row (subject, state, kind, detail, count, sum). Rows arrive grouped by subject,
 * state, kind and detail, so each (method, currency) of a state appears once. */
static int counter_row(const struct db_row *row, void *userdata)
{
	struct collect *x = userdata;
	struct db_status *s = x->s;
	const char *subject, *state, *kind, *detail;
	size_t subject_len, state_len, kind_len, detail_len;
	uint64_t count, sum;

	if (db_row_bytes(row, 0, &subject, &subject_len) < 0 ||
	    db_row_bytes(row, 1, &state, &state_len) < 0 ||
	    db_row_bytes(row, 2, &kind, &kind_len) < 0 ||
	    db_row_bytes(row, 3, &detail, &detail_len) < 0 || db_row_uint(row, 4, &count) < 0 ||
	    db_row_uint(row, 5, &sum) < 0)
		return -EBADMSG;

	if (is(subject, subject_len, "users")) {
		enum user_status st;

		if (user_status_from_string(state, state_len, &st) < 0)
			return -EBADMSG;
		s->users.by_status[st] += count;
	} else if (is(subject, subject_len, "vpn_configs")) {
		enum vpn_status st;
		enum vpn_type type;
		bool trial = is(detail, detail_len, "trial");

		if (vpn_status_from_string(state, state_len, &st) < 0 ||
		    vpn_type_from_string(kind, kind_len, &type) < 0 ||
		    (!trial && !is(detail, detail_len, "paid")))
			return -EBADMSG;
		s->vpn.count[type][st][trial] += count;
		if (__builtin_add_overflow(s->vpn.bandwidth_bytes, sum, &s->vpn.bandwidth_bytes))
			return -EBADMSG;
	} else if (is(subject, subject_len, "payments")) {
		enum payment_status st;
		enum payment_method method;

		if (payment_status_from_string(state, state_len, &st) < 0 ||
		    payment_method_from_string(kind, kind_len, &method) < 0)
			return -EBADMSG;
		s->payments.by_status[st] += count;
		if (st == PAYMENT_COMPLETED && count > 0)
			return add_revenue(x, method, detail, detail_len, count, sum);
	} else if (is(subject, subject_len, "jobs")) {
		enum job_state st;

		if (job_state_from_string(state, state_len, &st) < 0)
			return -EBADMSG;
		s->jobs_by_state[st] += count;
	} else {
		return -EBADMSG;
	}
	return 0;
}

static int admins_row(const struct db_row *row, void *userdata)
{
	struct collect *x = userdata;

	return db_row_uint(row, 0, &x->s->users.admins) < 0 ? -EBADMSG : 1;
}

static int nodes_row(const struct db_row *row, void *userdata)
{
	struct collect *x = userdata;
	enum node_state st;
	const char *s;
	size_t len;
	uint64_t count;

	if (db_row_bytes(row, 0, &s, &len) < 0 || node_state_from_string(s, len, &st) < 0 ||
	    db_row_uint(row, 1, &count) < 0)
		return -EBADMSG;
	x->s->nodes_by_state[st] = count;
	return 0;
}

static int cmp_revenue(const void *a, const void *b)
{
	const struct db_revenue *x = a, *y = b;

	if (x->method != y->method)
		return x->method < y->method ? -1 : 1;
	return strcmp(x->currency, y->currency);
}

/* The totals that are sums of the figures read; revenue in a stable order. */
static void derive(struct db_status *s)
{
	if (s->payments.n_revenue > 1)
		qsort(s->payments.revenue, s->payments.n_revenue, sizeof(*s->payments.revenue),
		      cmp_revenue);
	for (int i = 0; i < _USER_STATUS_MAX; i++)
		s->users.all += s->users.by_status[i];
	for (int t = 0; t < _VPN_TYPE_MAX; t++)
		for (int st = 0; st < _VPN_STATUS_MAX; st++)
			for (int trial = 0; trial < 2; trial++) {
				uint64_t n = s->vpn.count[t][st][trial];

				s->vpn.all += n;
				s->vpn.by_type[t] += n;
				s->vpn.by_status[st] += n;
				if (trial)
					s->vpn.trial += n;
				else
					s->vpn.paid += n;
			}
	for (int i = 0; i < _PAYMENT_STATUS_MAX; i++)
		s->payments.all += s->payments.by_status[i];
}

struct read {
	enum db_stmt_id counters; /* the counters, or the recount */
	struct collect x;
};

static int read_tx(struct db_conn *c, void *userdata)
{
	struct read *rd = userdata;
	struct db_status *s = rd->x.s;
	int r;

	/* A deadlock rerun starts again from nothing. */
	free(s->payments.revenue);
	memset(s, 0, sizeof(*s));
	rd->x.revenue_cap = 0;

	r = db_query(c, rd->counters, NULL, 0, counter_row, &rd->x, NULL);
	if (r < 0)
		return r;
	r = db_query(c, DB_STMT_STATUS_ADMINS, NULL, 0, admins_row, &rd->x, NULL);
	if (r < 0)
		return r;
	r = db_query(c, DB_STMT_STATUS_NODES, NULL, 0, nodes_row, &rd->x, NULL);
	if (r < 0)
		return r;
	derive(s);
	return 0;
}

static int read_status(struct db_conn *c, enum db_stmt_id counters, struct db_status **ret)
{
	struct read rd = {counters, {NULL, 0}};
	int r;

	rd.x.s = calloc(1, sizeof(*rd.x.s));
	if (!rd.x.s)
		return -ENOMEM;
	/* One transaction: the three queries see one snapshot. */
	r = db_tx_run(c, read_tx, &rd);
	if (r < 0) {
		db_status_free(rd.x.s);
		return r;
	}
	*ret = rd.x.s;
	return 0;
}

int db_status_get(struct db_conn *c, struct db_status **ret)
{
	return read_status(c, DB_STMT_STATUS_COUNTERS, ret);
}

int db_status_recount(struct db_conn *c, struct db_status **ret)
{
	return read_status(c, DB_STMT_STATUS_RECOUNT, ret);
}

static int rebuild_tx(struct db_conn *c, void *userdata)
{
	struct db_param actor = db_record_opt_id(*(uint64_t *)userdata);
	int r;

	r = db_exec(c, DB_STMT_STATUS_COUNTERS_CLEAR, NULL, 0, NULL, NULL);
	if (r < 0)
		return r;
	r = db_exec(c, DB_STMT_STATUS_COUNTERS_FILL, NULL, 0, NULL, NULL);
	if (r < 0)
		return r;
	return db_exec(c, DB_STMT_AUDIT_STATUS_REBUILD, &actor, 1, NULL, NULL);
}

int db_status_rebuild(struct db_conn *c, uint64_t actor_id)
{
	return db_tx_run(c, rebuild_tx, &actor_id);
}
