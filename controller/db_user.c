// SPDX-License-Identifier: MIT
/*
 * Users and roles over the statement table. The rules (one row per Telegram id, one grant
 * per user and role, valid states) are the schema's; this file only maps them to our
 * types and error codes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_record.h"
#include "db_user.h"

struct db_user *db_user_free(struct db_user *u)
{
	if (!u)
		return NULL;
	free(u->username);
	free(u->first_name);
	free(u->last_name);
	free(u->qvapay_user_id);
	free(u->qvapay_app_id);
	free(u);
	return NULL;
}

static void user_clear(struct db_user *u)
{
	free(u->username);
	free(u->first_name);
	free(u->last_name);
	free(u->qvapay_user_id);
	free(u->qvapay_app_id);
}

struct db_user *db_users_free(struct db_user *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		user_clear(&v[i]);
	free(v);
	return NULL;
}

/* USER_COLUMNS (db_stmt.c) into u, which the caller zeroed. */
static int user_from_row(const struct db_row *row, struct db_user *u)
{
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &u->id)) < 0 ||
	    (r = db_row_int(row, 1, &u->telegram_id)) < 0 ||
	    (r = db_record_strdup(row, 2, &u->username)) < 0 ||
	    (r = db_record_strdup(row, 3, &u->first_name)) < 0 ||
	    (r = db_record_strdup(row, 4, &u->last_name)) < 0 ||
	    (r = db_row_bytes(row, 5, &s, &len)) < 0 ||
	    (r = user_status_from_string(s, len, &u->status)) < 0 ||
	    (r = db_record_strdup(row, 6, &u->qvapay_user_id)) < 0 ||
	    (r = db_record_strdup(row, 7, &u->qvapay_app_id)) < 0 ||
	    (r = db_record_time(row, 8, &u->qvapay_linked_at_us)) < 0 ||
	    (r = db_record_time(row, 9, &u->last_login_at_us)) < 0 ||
	    (r = db_record_time(row, 10, &u->created_at_us)) < 0 ||
	    (r = db_record_time(row, 11, &u->updated_at_us)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	return 0;
}

static int one_user_row(const struct db_row *row, void *userdata)
{
	struct db_user **u = userdata;
	int r;

	*u = calloc(1, sizeof(**u));
	if (!*u)
		return -ENOMEM;
	r = user_from_row(row, *u);
	if (r < 0)
		*u = db_user_free(*u);
	return r < 0 ? r : 1;
}

static int get_one(struct db_conn *c, enum db_stmt_id id, const struct db_param *p,
                   struct db_user **ret)
{
	struct db_user *u = NULL;
	int r;

	r = db_query(c, id, p, 1, one_user_row, &u, NULL);
	if (r < 0)
		return r;
	if (!u)
		return -ENOENT;
	*ret = u;
	return 0;
}

int db_user_get(struct db_conn *c, uint64_t id, struct db_user **ret)
{
	return get_one(c, DB_STMT_USER_GET, &DB_UINT(id), ret);
}

int db_user_get_by_telegram(struct db_conn *c, int64_t telegram_id, struct db_user **ret)
{
	return get_one(c, DB_STMT_USER_GET_BY_TELEGRAM, &DB_INT(telegram_id), ret);
}

struct upsert {
	const struct db_user_profile *p;
	uint64_t id;
	bool created;
};

static int upsert_tx(struct db_conn *c, void *userdata)
{
	struct upsert *x = userdata;
	struct db_param p[] = {DB_INT(x->p->telegram_id), db_record_opt_text(x->p->username),
	                       db_record_opt_text(x->p->first_name),
	                       db_record_opt_text(x->p->last_name)};
	uint64_t affected = 0, id = 0;
	int r;

	r = db_exec(c, DB_STMT_USER_UPSERT, p, ARRAY_SIZE(p), &affected, &id);
	if (r < 0)
		return r;
	/*
	 * An insert always reports its id. An update that changed nothing (32 threads
	 * registering one new user, two logins in one microsecond) reports none, and under
	 * CLIENT_FOUND_ROWS the same row count as an insert (1). Its row is there, perhaps
	 * committed after this transaction's snapshot: a locking read sees it (the upsert
	 * holds its lock already).
	 */
	x->created = id && affected == 1;
	if (!id) {
		struct db_user *u = NULL;

		r = get_one(c, DB_STMT_USER_GET_BY_TELEGRAM_LOCKED, &DB_INT(x->p->telegram_id), &u);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
		id = u->id;
		db_user_free(u);
	}
	x->id = id;
	struct db_param a[] = {DB_UINT(id), DB_TEXT(x->created ? "user.register" : "user.login"),
	                       DB_INT(x->p->telegram_id), db_record_opt_text(x->p->username)};
	return db_exec(c, DB_STMT_AUDIT_USER_UPSERT, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_user_upsert(struct db_conn *c, const struct db_user_profile *p, uint64_t *ret_id,
                   bool *ret_created)
{
	struct upsert x = {.p = p};
	int r;

	if (p->telegram_id <= 0)
		return -EINVAL;
	r = db_tx_run(c, upsert_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	if (ret_created)
		*ret_created = x.created;
	return 0;
}

struct set_status {
	uint64_t actor, user;
	enum user_status status;
};

static int set_status_tx(struct db_conn *c, void *userdata)
{
	struct set_status *x = userdata;
	const char *name = user_status_to_string(x->status);
	struct db_param p[] = {DB_TEXT(name), DB_UINT(x->user), DB_TEXT(name)};
	uint64_t affected = 0;
	struct db_user *u = NULL;
	int r;

	r = db_exec(c, DB_STMT_USER_SET_STATUS, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0)
		return r;
	if (affected == 0) {
		r = db_user_get(c, x->user, &u);
		db_user_free(u);
		return r < 0 ? r : -EALREADY;
	}
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->user),
	                       DB_TEXT(x->status == USER_BANNED ? "user.ban" : "user.unban"),
	                       DB_TEXT(name)};
	return db_exec(c, DB_STMT_AUDIT_USER_STATUS, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_user_set_status_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t user_id,
                             enum user_status status)
{
	struct set_status x = {actor_id, user_id, status};

	if (!user_status_to_string(status))
		return -EINVAL;
	return set_status_tx(c, &x);
}

int db_user_set_status(struct db_conn *c, uint64_t actor_id, uint64_t user_id,
                       enum user_status status)
{
	struct set_status x = {actor_id, user_id, status};

	if (!user_status_to_string(status))
		return -EINVAL;
	return db_tx_run(c, set_status_tx, &x);
}

struct role_change {
	uint64_t actor, user;
	const char *role;
	int64_t expires_at_us;
	bool grant;
};

static int role_tx(struct db_conn *c, void *userdata)
{
	struct role_change *x = userdata;
	struct db_param expires = x->expires_at_us ? DB_TIME(x->expires_at_us) : DB_NULL;
	uint64_t affected = 0;
	int r;

	if (x->grant) {
		struct db_param p[] = {db_record_opt_id(x->actor), expires, DB_UINT(x->user),
		                       DB_TEXT(x->role)};

		r = db_exec(c, DB_STMT_USER_ROLE_GRANT, p, ARRAY_SIZE(p), &affected, NULL);
	} else {
		struct db_param p[] = {DB_UINT(x->user), DB_TEXT(x->role)};

		r = db_exec(c, DB_STMT_USER_ROLE_REVOKE, p, ARRAY_SIZE(p), &affected, NULL);
	}
	if (r < 0)
		return r;
	if (affected == 0)
		return -ENOENT;
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->user),
	                       DB_TEXT(x->grant ? "role.grant" : "role.revoke"), DB_TEXT(x->role),
	                       expires};
	return db_exec(c, DB_STMT_AUDIT_USER_ROLE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_user_grant_role(struct db_conn *c, uint64_t actor_id, uint64_t user_id, const char *role,
                       int64_t expires_at_us)
{
	struct role_change x = {actor_id, user_id, role, expires_at_us, true};

	return db_tx_run(c, role_tx, &x);
}

int db_user_revoke_role(struct db_conn *c, uint64_t actor_id, uint64_t user_id, const char *role)
{
	struct role_change x = {actor_id, user_id, role, 0, false};

	return db_tx_run(c, role_tx, &x);
}

static int count_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata);
}

int db_user_has_role(struct db_conn *c, uint64_t user_id, const char *role, bool *ret)
{
	struct db_param p[] = {DB_UINT(user_id), DB_TEXT(role)};
	uint64_t n = 0;
	int r;

	r = db_query(c, DB_STMT_USER_HAS_ROLE, p, ARRAY_SIZE(p), count_row, &n, NULL);
	if (r < 0)
		return r;
	*ret = n > 0;
	return 0;
}

struct user_list {
	struct db_user *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct user_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	/* counted even on failure, so that db_users_free frees its strings */
	return user_from_row(row, &l->v[l->n++]);
}

int db_admins_list(struct db_conn *c, struct db_user **ret, size_t *ret_n)
{
	struct user_list l = {0};
	int r;

	r = db_query(c, DB_STMT_ADMINS_LIST, NULL, 0, list_row, &l, NULL);
	if (r < 0) {
		db_users_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

struct brief_list {
	struct db_user_brief *v;
	size_t n, cap;
};

static int brief_row(const struct db_row *row, void *userdata)
{
	struct brief_list *l = userdata;
	struct db_user_brief b;
	const char *s;
	size_t len;

	if (l->n == l->cap)
		return -EBADMSG; /* more rows than ids: telegram_id is unique */
	if (db_row_uint(row, 0, &b.id) < 0 || db_row_int(row, 1, &b.telegram_id) < 0 ||
	    db_row_bytes(row, 2, &s, &len) < 0 || user_status_from_string(s, len, &b.status) < 0)
		return -EBADMSG;
	l->v[l->n++] = b;
	return 0;
}

int db_user_list_brief(struct db_conn *c, const int64_t *telegram_ids, size_t n,
                       struct db_user_brief *ret, size_t *ret_n)
{
	struct db_param p[DB_BATCH_MAX];
	struct brief_list l = {ret, 0, n};
	int r;

	if (n == 0 || n > DB_BATCH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < DB_BATCH_MAX; i++)
		p[i] = i < n ? DB_INT(telegram_ids[i]) : DB_NULL;
	r = db_query(c, DB_STMT_BATCH_USERS, p, ARRAY_SIZE(p), brief_row, &l, NULL);
	if (r < 0)
		return r;
	*ret_n = l.n;
	return 0;
}
