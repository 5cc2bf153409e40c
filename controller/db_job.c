// SPDX-License-Identifier: MIT
/*
 * The job queue over the statement table. A claim is a locking read that skips the rows
 * other claims hold, then one UPDATE per job it took, in one short transaction; every end
 * of a run is an UPDATE guarded by "running under this owner", so a worker that lost its
 * lease cannot overwrite the outcome of the worker that took the job over.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_job.h"
#include "db_record.h"

#define JOB_OWNER_MAX 64
#define JOB_KEY_MAX 191
#define JOB_CLAIM_MAX 1000
#define JOB_LIST_MAX 1000
/* ~31 years: NOW() plus any delay stays a valid DATETIME, and ms -> us cannot overflow. */
#define JOB_DELAY_MAX_MS 1000000000000ULL
/* bit 63 of LAST_INSERT_ID(): the idempotency key was known (DB_STMT_JOB_ENQUEUE) */
#define JOB_EXISTED_BIT (1ULL << 63)

void db_job_clear(struct db_job *j)
{
	if (!j)
		return;
	free(j->payload);
	free(j->last_error);
	free(j->idempotency_key);
	free(j->claimed_by);
	free(j->result);
}

struct db_job *db_job_free(struct db_job *j)
{
	if (j)
		db_job_clear(j);
	free(j);
	return NULL;
}

struct db_job *db_jobs_free(struct db_job *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_job_clear(&v[i]);
	free(v);
	return NULL;
}

/* JOB_COLUMNS (db_stmt.c) into j, which the caller zeroed. */
static int job_from_row(const struct db_row *row, struct db_job *j)
{
	uint64_t attempts;
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &j->id)) < 0 || (r = db_row_bytes(row, 1, &s, &len)) < 0 ||
	    (r = job_kind_from_string(s, len, &j->kind)) < 0 ||
	    (r = db_record_uint(row, 2, &j->node_id)) < 0 ||
	    (r = db_record_uint(row, 3, &j->vpn_config_id)) < 0 ||
	    (r = db_record_strdup(row, 4, &j->payload)) < 0 ||
	    (r = db_row_bytes(row, 5, &s, &len)) < 0 ||
	    (r = job_state_from_string(s, len, &j->state)) < 0 ||
	    (r = db_row_uint(row, 6, &attempts)) < 0 || attempts > UINT32_MAX ||
	    (r = db_record_time(row, 7, &j->next_attempt_at_us)) < 0 ||
	    (r = db_record_time(row, 8, &j->lease_expires_at_us)) < 0 ||
	    (r = db_record_strdup(row, 9, &j->last_error)) < 0 ||
	    (r = db_record_strdup(row, 10, &j->idempotency_key)) < 0 ||
	    (r = db_record_strdup(row, 11, &j->claimed_by)) < 0 ||
	    (r = db_record_strdup(row, 12, &j->result)) < 0 ||
	    (r = db_record_time(row, 13, &j->created_at_us)) < 0 ||
	    (r = db_record_time(row, 14, &j->updated_at_us)) < 0 ||
	    (r = db_record_time(row, 15, &j->finished_at_us)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	j->attempts = (unsigned)attempts;
	return 0;
}

struct job_list {
	struct db_job *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct job_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	/* counted even on failure, so that db_jobs_free frees what was read */
	return job_from_row(row, &l->v[l->n++]);
}

/* Appends the rows of statement id to l. */
static int read_into(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                     struct job_list *l)
{
	return db_query(c, id, p, n, list_row, l, NULL);
}

static int list(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                struct db_job **ret, size_t *ret_n)
{
	struct job_list l = {0};
	int r;

	r = read_into(c, id, p, n, &l);
	if (r < 0) {
		db_jobs_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

static int get_one(struct db_conn *c, enum db_stmt_id id, uint64_t arg, struct db_job **ret)
{
	struct db_job *v = NULL;
	size_t n = 0;
	int r;

	r = list(c, id, &DB_UINT(arg), 1, &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		db_jobs_free(v, n);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

int db_job_get(struct db_conn *c, uint64_t id, struct db_job **ret)
{
	return get_one(c, DB_STMT_JOB_GET, id, ret);
}

int db_job_latest_for_vpn(struct db_conn *c, uint64_t vpn_id, struct db_job **ret)
{
	return get_one(c, DB_STMT_JOB_LATEST_FOR_VPN, vpn_id, ret);
}

int db_job_list(struct db_conn *c, int state, unsigned limit, struct db_job **ret,
                size_t *ret_n)
{
	const char *name;

	if (limit == 0 || limit > JOB_LIST_MAX)
		return -EINVAL;
	if (state < 0)
		return list(c, DB_STMT_JOB_LIST, &DB_UINT(limit), 1, ret, ret_n);
	name = job_state_to_string((enum job_state)state);
	if (!name)
		return -EINVAL;
	struct db_param p[] = {DB_TEXT(name), DB_UINT(limit)};
	return list(c, DB_STMT_JOB_LIST_BY_STATE, p, ARRAY_SIZE(p), ret, ret_n);
}

/* ---- enqueue ---- */

static int uint_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata) < 0 ? -EBADMSG : 1;
}

static bool text_fits(const char *s, size_t max)
{
	return s && s[0] && strnlen(s, max + 1) <= max;
}

static int job_new_valid(const struct db_job_new *n)
{
	if (!n || !job_kind_to_string(n->kind) || !text_fits(n->idempotency_key, JOB_KEY_MAX))
		return -EINVAL;
	/* The schema says the same (jobs_node_unless_notify); saying it here keeps the
	 * caller's transaction intact. */
	if ((n->kind == JOB_NOTIFY) != (n->node_id == 0))
		return -EINVAL;
	return 0;
}

int db_job_enqueue_in_tx(struct db_conn *c, const struct db_job_new *n, uint64_t *ret_id,
                         bool *ret_created)
{
	uint64_t insert_id = 0;
	int r;

	r = job_new_valid(n);
	if (r < 0)
		return r;
	struct db_param p[] = {DB_TEXT(job_kind_to_string(n->kind)),
	                       db_record_opt_id(n->node_id),
	                       db_record_opt_id(n->vpn_config_id),
	                       DB_TEXT(n->payload ? n->payload : "{}"),
	                       DB_TEXT(n->idempotency_key)};
	r = db_exec(c, DB_STMT_JOB_ENQUEUE, p, ARRAY_SIZE(p), NULL, NULL);
	if (r < 0)
		return r;
	r = db_query(c, DB_STMT_JOB_ENQUEUED_ID, NULL, 0, uint_row, &insert_id, NULL);
	if (r < 0)
		return r;
	if ((insert_id & ~JOB_EXISTED_BIT) == 0)
		return -EIO; /* neither a new id nor a known one: cannot happen */
	*ret_id = insert_id & ~JOB_EXISTED_BIT;
	*ret_created = !(insert_id & JOB_EXISTED_BIT);
	return 0;
}

struct enqueue {
	const struct db_job_new *n;
	uint64_t id;
	bool created;
};

static int enqueue_tx(struct db_conn *c, void *userdata)
{
	struct enqueue *x = userdata;

	return db_job_enqueue_in_tx(c, x->n, &x->id, &x->created);
}

int db_job_enqueue(struct db_conn *c, const struct db_job_new *n, uint64_t *ret_id,
                   bool *ret_created)
{
	struct enqueue x = {n, 0, false};
	int r;

	r = job_new_valid(n);
	if (r < 0)
		return r;
	r = db_tx_run(c, enqueue_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	*ret_created = x.created;
	return 0;
}

/* ---- claim ---- */

struct claim {
	const char *owner;
	uint64_t lease_us;
	unsigned max;
	uint64_t *ids;   /* as claimed: oldest due first */
	uint64_t *order; /* as updated */
	size_t n_ids;
	struct job_list jobs;
};

#define JOB_COUNTER_SLOTS 16 /* migration 0002 */

static int cmp_slot(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	uint64_t sx = x % JOB_COUNTER_SLOTS, sy = y % JOB_COUNTER_SLOTS;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int id_row(const struct db_row *row, void *userdata)
{
	struct claim *x = userdata;

	if (x->n_ids == x->max)
		return 1; /* cannot happen: each query asks for what is left */
	return db_row_uint(row, 0, &x->ids[x->n_ids++]) < 0 ? -EBADMSG : 0;
}

static int claim_tx(struct db_conn *c, void *userdata)
{
	struct claim *x = userdata;
	int r;

	/* A deadlock rerun starts again from nothing. */
	db_jobs_free(x->jobs.v, x->jobs.n);
	x->jobs = (struct job_list){0};
	x->n_ids = 0;

	/* Row callbacks must not use c: collect the ids, then take each. */
	r = db_query(c, DB_STMT_JOB_CLAIM_EXPIRED, &DB_UINT(x->max), 1, id_row, x, NULL);
	if (r < 0)
		return r;
	if (x->n_ids < x->max) {
		r = db_query(c, DB_STMT_JOB_CLAIM_DUE, &DB_UINT(x->max - x->n_ids), 1, id_row, x,
		             NULL);
		if (r < 0)
			return r;
	}
	/*
	 * Taken in the order of their status counter slot (0002: id % 16): every claim then
	 * locks the counter rows in the same order, and two claims cannot deadlock on them.
	 */
	memcpy(x->order, x->ids, x->n_ids * sizeof(*x->ids));
	qsort(x->order, x->n_ids, sizeof(*x->order), cmp_slot);
	for (size_t i = 0; i < x->n_ids; i++) {
		struct db_param p[] = {DB_TEXT(x->owner), DB_UINT(x->lease_us), DB_UINT(x->order[i])};
		uint64_t affected = 0;

		r = db_exec(c, DB_STMT_JOB_CLAIM_TAKE, p, ARRAY_SIZE(p), &affected, NULL);
		if (r < 0)
			return r;
		if (affected != 1)
			return -EIO; /* the row is locked by us: cannot happen */
	}
	for (size_t i = 0; i < x->n_ids; i++) {
		r = read_into(c, DB_STMT_JOB_GET, &DB_UINT(x->ids[i]), 1, &x->jobs);
		if (r < 0)
			return r;
	}
	return x->jobs.n == x->n_ids ? 0 : -EIO;
}

int db_job_claim(struct db_conn *c, const char *owner, unsigned lease_ms, unsigned max,
                 struct db_job **ret, size_t *ret_n)
{
	struct claim x = {owner, (uint64_t)lease_ms * 1000, max, NULL, NULL, 0, {0}};
	int r;

	if (!text_fits(owner, JOB_OWNER_MAX) || lease_ms == 0 || max == 0 || max > JOB_CLAIM_MAX)
		return -EINVAL;
	x.ids = calloc(max, sizeof(*x.ids));
	x.order = calloc(max, sizeof(*x.order));
	if (!x.ids || !x.order) {
		r = -ENOMEM;
		goto out;
	}
	/* For the next transaction only; see DB_STMT_JOB_CLAIM_ISOLATION. */
	r = db_exec(c, DB_STMT_JOB_CLAIM_ISOLATION, NULL, 0, NULL, NULL);
	if (r == 0)
		r = db_tx_run(c, claim_tx, &x);
out:
	free(x.ids);
	free(x.order);
	if (r < 0) {
		db_jobs_free(x.jobs.v, x.jobs.n);
		return r;
	}
	*ret = x.jobs.v;
	*ret_n = x.jobs.n;
	return 0;
}

static int flag_row(const struct db_row *row, void *userdata)
{
	uint64_t v;

	if (db_row_uint(row, 0, &v) < 0)
		return -EBADMSG;
	*(bool *)userdata = v != 0;
	return 1;
}

int db_job_blocked(struct db_conn *c, const struct db_job *j, bool *ret)
{
	bool blocked = false;
	int r;

	if (!j)
		return -EINVAL;
	if (j->kind != JOB_NOTIFY && j->vpn_config_id) {
		struct db_param p[] = {DB_UINT(j->vpn_config_id), DB_UINT(j->id)};

		r = db_query(c, DB_STMT_JOB_BLOCKED, p, ARRAY_SIZE(p), flag_row, &blocked, NULL);
		if (r < 0)
			return r;
	}
	*ret = blocked;
	return 0;
}

/* ---- the ends of a run ---- */

/* Why an UPDATE guarded by "running under owner" matched nothing. */
static int not_owned(struct db_conn *c, uint64_t id)
{
	bool exists = false;
	int r;

	r = db_query(c, DB_STMT_JOB_EXISTS, &DB_UINT(id), 1, flag_row, &exists, NULL);
	if (r < 0)
		return r;
	return exists ? -ESTALE : -ENOENT;
}

/* A guarded end-of-run UPDATE, in the caller's transaction. */
static int finish(struct db_conn *c, enum db_stmt_id stmt, const struct db_param *p, size_t n,
                  uint64_t id)
{
	uint64_t affected = 0;
	int r;

	r = db_exec(c, stmt, p, n, &affected, NULL);
	if (r < 0)
		return r;
	return affected ? 0 : not_owned(c, id);
}

struct finish {
	enum db_stmt_id stmt;
	const struct db_param *p;
	size_t n;
	uint64_t id;
};

static int finish_tx(struct db_conn *c, void *userdata)
{
	struct finish *x = userdata;

	return finish(c, x->stmt, x->p, x->n, x->id);
}

/*
 * The same in a transaction of its own, for db_tx_run's deadlock reruns: the jobs
 * triggers lock status counter rows (0002), and a claim (pending -> running) and a
 * deferral (running -> pending) of jobs in one counter slot take the same two rows in
 * opposite orders.
 */
static int finish_own(struct db_conn *c, enum db_stmt_id stmt, const struct db_param *p,
                      size_t n, uint64_t id)
{
	struct finish x = {stmt, p, n, id};

	return db_tx_run(c, finish_tx, &x);
}

static bool delay_valid(uint64_t delay_ms)
{
	return delay_ms <= JOB_DELAY_MAX_MS;
}

int db_job_done(struct db_conn *c, uint64_t id, const char *owner, const char *result)
{
	if (!text_fits(owner, JOB_OWNER_MAX))
		return -EINVAL;
	struct db_param p[] = {db_record_opt_text(result), DB_UINT(id), DB_TEXT(owner)};
	return finish_own(c, DB_STMT_JOB_DONE, p, ARRAY_SIZE(p), id);
}

int db_job_insert_running_in_tx(struct db_conn *c, const uint64_t *vpn_ids,
                                const uint64_t *node_ids, size_t n, const char *owner,
                                unsigned lease_ms, struct db_job **ret_jobs)
{
	enum { NP = 5 };
	struct db_param p[NP * DB_BATCH_MAX], q[DB_BATCH_MAX];
	char keys[DB_BATCH_MAX][40];
	struct job_list l = {0};
	struct db_job *out = NULL;
	int r;

	if (n == 0 || n > DB_BATCH_MAX || !text_fits(owner, JOB_OWNER_MAX) || lease_ms == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "provision-%" PRIu64, vpn_ids[i]);
		p[i * NP + 0] = DB_UINT(node_ids[i]);
		p[i * NP + 1] = DB_UINT(vpn_ids[i]);
		p[i * NP + 2] = DB_TEXT(keys[i]);
		p[i * NP + 3] = DB_TEXT(owner);
		p[i * NP + 4] = DB_UINT((uint64_t)lease_ms * 1000);
	}
	r = db_exec_bulk(c, DB_STMT_BATCH_JOB_INSERT, p, NP, n, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < DB_BATCH_MAX; i++)
		q[i] = i < n ? DB_UINT(vpn_ids[i]) : DB_NULL;
	r = read_into(c, DB_STMT_BATCH_JOBS_BY_VPN, q, ARRAY_SIZE(q), &l);
	if (r < 0)
		goto out;
	out = calloc(n, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < l.n; k++)
			if (l.v[k].id && l.v[k].vpn_config_id == vpn_ids[i])
				break;
		if (k == l.n) {
			r = -ESTALE;
			goto out;
		}
		out[i] = l.v[k];
		memset(&l.v[k], 0, sizeof(l.v[k]));
	}
	*ret_jobs = out;
	out = NULL;
out:
	db_jobs_free(out, n);
	db_jobs_free(l.v, l.n);
	return r;
}

int db_job_done_many_in_tx(struct db_conn *c, const uint64_t *ids, size_t n, const char *owner)
{
	struct db_param p[3 * DB_BATCH_MAX];

	if (n == 0 || n > DB_BATCH_MAX || !text_fits(owner, JOB_OWNER_MAX))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		p[3 * i] = DB_NULL;
		p[3 * i + 1] = DB_UINT(ids[i]);
		p[3 * i + 2] = DB_TEXT(owner);
	}
	return db_exec_bulk(c, DB_STMT_JOB_DONE, p, 3, n, NULL);
}

struct release_many {
	const struct db_param *p;
	size_t n;
};

static int release_many_tx(struct db_conn *c, void *userdata)
{
	struct release_many *x = userdata;

	return db_exec_bulk(c, DB_STMT_JOB_RETRY, x->p, 4, x->n, NULL);
}

int db_job_release_many(struct db_conn *c, const uint64_t *ids, size_t n, const char *owner,
                        uint64_t delay_ms, const char *error)
{
	struct db_param p[4 * DB_BATCH_MAX];
	struct release_many x = {p, n};

	if (n > DB_BATCH_MAX || !text_fits(owner, JOB_OWNER_MAX) || !delay_valid(delay_ms))
		return -EINVAL;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		p[4 * i] = DB_UINT(delay_ms * 1000);
		p[4 * i + 1] = db_record_opt_text(error);
		p[4 * i + 2] = DB_UINT(ids[i]);
		p[4 * i + 3] = DB_TEXT(owner);
	}
	return db_tx_run(c, release_many_tx, &x);
}

int db_job_defer(struct db_conn *c, uint64_t id, const char *owner, uint64_t delay_ms)
{
	if (!text_fits(owner, JOB_OWNER_MAX) || !delay_valid(delay_ms))
		return -EINVAL;
	struct db_param p[] = {DB_UINT(delay_ms * 1000), DB_UINT(id), DB_TEXT(owner)};
	return finish_own(c, DB_STMT_JOB_DEFER, p, ARRAY_SIZE(p), id);
}

int db_job_fail(struct db_conn *c, uint64_t id, const char *owner, const char *error)
{
	if (!text_fits(owner, JOB_OWNER_MAX))
		return -EINVAL;
	struct db_param p[] = {db_record_opt_text(error), DB_UINT(id), DB_TEXT(owner)};
	return finish_own(c, DB_STMT_JOB_FAIL, p, ARRAY_SIZE(p), id);
}

int db_job_requeue(struct db_conn *c, uint64_t id)
{
	struct db_job *j = NULL;
	uint64_t n = 0;
	int r;

	r = db_exec(c, DB_STMT_JOB_REQUEUE, &DB_UINT(id), 1, &n, NULL);
	if (r < 0 || n == 1)
		return r;
	/* Nothing changed: say why. */
	r = db_job_get(c, id, &j);
	db_job_free(j);
	return r < 0 ? r : -EPERM;
}

int db_job_purge(struct db_conn *c, uint64_t older_than_s, unsigned limit,
                 uint64_t *ret_deleted)
{
	uint64_t n = 0;
	int r;

	if (older_than_s == 0 || older_than_s > INT32_MAX || limit == 0 || limit > 100000)
		return -EINVAL;
	struct db_param p[] = {DB_UINT(older_than_s), DB_UINT(limit)};
	r = db_exec(c, DB_STMT_JOB_PURGE, p, ARRAY_SIZE(p), &n, NULL);
	if (r == 0 && ret_deleted)
		*ret_deleted = n;
	return r;
}

struct retry {
	uint64_t id;
	const char *owner, *error;
	uint64_t delay_us;
	unsigned max_attempts;
	bool failed;
};

static int attempts_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata) < 0 ? -EBADMSG : 1;
}

static int retry_tx(struct db_conn *c, void *userdata)
{
	struct retry *x = userdata;
	struct db_param owned[] = {DB_UINT(x->id), DB_TEXT(x->owner)};
	uint64_t attempts = 0, rows = 0;
	int r;

	/* Lock the row while it is ours, then decide: retry or give up. */
	r = db_query(c, DB_STMT_JOB_OWNED, owned, ARRAY_SIZE(owned), attempts_row, &attempts,
	             &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return not_owned(c, x->id);
	x->failed = attempts >= x->max_attempts;
	if (x->failed) {
		struct db_param p[] = {db_record_opt_text(x->error), DB_UINT(x->id),
		                       DB_TEXT(x->owner)};
		return finish(c, DB_STMT_JOB_FAIL, p, ARRAY_SIZE(p), x->id);
	}
	struct db_param p[] = {DB_UINT(x->delay_us), db_record_opt_text(x->error), DB_UINT(x->id),
	                       DB_TEXT(x->owner)};
	return finish(c, DB_STMT_JOB_RETRY, p, ARRAY_SIZE(p), x->id);
}

int db_job_retry(struct db_conn *c, uint64_t id, const char *owner, uint64_t delay_ms,
                 const char *error, unsigned max_attempts, bool *ret_failed)
{
	struct retry x = {id, owner, error, delay_ms * 1000, max_attempts, false};
	int r;

	if (!text_fits(owner, JOB_OWNER_MAX) || !delay_valid(delay_ms) || max_attempts == 0)
		return -EINVAL;
	r = db_tx_run(c, retry_tx, &x);
	if (r < 0)
		return r;
	if (ret_failed)
		*ret_failed = x.failed;
	return 0;
}
