// SPDX-License-Identifier: MIT
/*
 * The migration runner. It talks to the database only through db.h: the statements of
 * its own bookkeeping are in the statement table, and the migrations' statements, which
 * are compiled in, go through db_exec_sql().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "migrate.h"

static int fail(struct migrate_error *err, int code, const struct migration *m, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int fail(struct migrate_error *err, int code, const struct migration *m, const char *fmt,
                ...)
{
	va_list ap;

	if (!err)
		return code;
	err->version = m ? m->version : 0;
	snprintf(err->name, sizeof(err->name), "%s", m ? m->name : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

const char *migration_state_to_string(enum migration_state s)
{
	switch (s) {
	case MIGRATION_PENDING:
		return "pending";
	case MIGRATION_APPLIED:
		return "applied";
	case MIGRATION_INTERRUPTED:
		return "interrupted";
	case MIGRATION_MODIFIED:
		return "modified";
	case MIGRATION_UNKNOWN:
		return "unknown";
	}
	return "?";
}

/* ---- splitting ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int migration_split_next(const char *sql, size_t len, size_t *pos, const char **ret,
                         size_t *ret_len)
{
	size_t i = *pos;

	for (;;) {
		size_t start, end;
		bool content = false;

		while (i < len && is_space(sql[i]))
			i++;
		if (i >= len) {
			*pos = len;
			return 0;
		}
		start = len; /* set at the first character that is not a comment */
		for (; i < len && sql[i] != ';'; i++) {
			char c = sql[i];

			if (!content && !is_space(c) && c != '#' &&
			    !(c == '-' && i + 1 < len && sql[i + 1] == '-' &&
			      (i + 2 == len || is_space(sql[i + 2]))) &&
			    !(c == '/' && i + 2 < len && sql[i + 1] == '*' && sql[i + 2] != '!'))
				start = i;
			if (c == '\'' || c == '"' || c == '`') {
				/* Quoted: a doubled quote or (not in `names`) a backslash escapes.
				 */
				for (i++;; i++) {
					if (i >= len)
						return -EINVAL;
					if (sql[i] == '\\' && c != '`') {
						i++;
						continue;
					}
					if (sql[i] == c) {
						if (i + 1 < len && sql[i + 1] == c) {
							i++;
							continue;
						}
						break;
					}
				}
				content = true;
			} else if (c == '#' ||
			           (c == '-' && i + 2 < len && sql[i + 1] == '-' &&
			            is_space(sql[i + 2])) ||
			           (c == '-' && i + 2 == len && sql[i + 1] == '-')) {
				/* MariaDB needs a space after "--" for it to start a comment. */
				while (i + 1 < len && sql[i + 1] != '\n')
					i++;
			} else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
				const char *close = NULL;

				for (size_t j = i + 2; j + 1 < len; j++)
					if (sql[j] == '*' && sql[j + 1] == '/') {
						close = sql + j;
						break;
					}
				if (!close)
					return -EINVAL;
				/* An executable comment ("/" "*!") is code to the server. */
				if (sql[i + 2] == '!')
					content = true;
				i = (size_t)(close - sql) + 1;
			} else if (!is_space(c)) {
				content = true;
			}
		}
		end = i;
		if (i < len)
			i++; /* the ';' */
		if (!content)
			continue;
		while (end > start && is_space(sql[end - 1]))
			end--;
		*pos = i;
		*ret = sql + start;
		*ret_len = end - start;
		return 1;
	}
}

/* ---- status ---- */

struct list_ctx {
	struct migration_status *v;
	size_t n, cap;
};

/* A new zeroed entry at the end of ctx, or NULL when out of memory. */
static struct migration_status *list_add(struct list_ctx *ctx)
{
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 16;
		struct migration_status *nv = realloc(ctx->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		ctx->v = nv;
		ctx->cap = cap;
	}
	memset(&ctx->v[ctx->n], 0, sizeof(ctx->v[0]));
	return &ctx->v[ctx->n++];
}

/* One row of schema_migrations: version, name, checksum, applied_at. */
static int list_row(const struct db_row *row, void *userdata)
{
	struct list_ctx *ctx = userdata;
	struct migration_status *s;
	const char *name, *sum;
	size_t name_len, sum_len;
	uint64_t version;

	if (db_row_uint(row, 0, &version) < 0 || version > UINT32_MAX ||
	    db_row_bytes(row, 1, &name, &name_len) < 0 || db_row_bytes(row, 2, &sum, &sum_len) < 0)
		return -EBADMSG;
	s = list_add(ctx);
	if (!s)
		return -ENOMEM;
	s->version = (unsigned)version;
	snprintf(s->name, sizeof(s->name), "%.*s", (int)name_len, name);
	snprintf(s->db_checksum, sizeof(s->db_checksum), "%.*s", (int)sum_len, sum);
	if (db_row_is_null(row, 3)) {
		s->state = MIGRATION_INTERRUPTED;
	} else {
		if (db_row_time(row, 3, &s->applied_at_us) < 0)
			return -EBADMSG;
		s->state = MIGRATION_APPLIED;
	}
	return 0;
}

static const struct migration *find(const struct migration *set, size_t n, unsigned version)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].version == version)
			return &set[i];
	return NULL;
}

static int cmp_status(const void *a, const void *b)
{
	const struct migration_status *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static int count_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata);
}

/* What the database says, merged with set[], by version. */
static int read_status(struct db_conn *c, const struct migration *set, size_t n,
                       struct list_ctx *ctx, struct migrate_error *err)
{
	uint64_t tables = 0;
	size_t in_db;
	int r;

	r = db_query(c, DB_STMT_MIGRATIONS_TABLE_EXISTS, NULL, 0, count_row, &tables, NULL);
	if (r < 0)
		return fail(err, r, NULL, "%s", db_conn_error(c)->message);
	if (tables) {
		r = db_query(c, DB_STMT_MIGRATIONS_LIST, NULL, 0, list_row, ctx, NULL);
		if (r < 0)
			return fail(err, r, NULL, "%s", db_conn_error(c)->message);
	}
	in_db = ctx->n;
	for (size_t i = 0; i < in_db; i++) {
		struct migration_status *s = &ctx->v[i];

		s->migration = find(set, n, s->version);
		if (!s->migration)
			s->state = MIGRATION_UNKNOWN;
		else if (s->state == MIGRATION_APPLIED &&
		         strcmp(s->db_checksum, s->migration->checksum) != 0)
			s->state = MIGRATION_MODIFIED;
	}
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < in_db && !seen; j++)
			seen = ctx->v[j].version == set[i].version;
		if (seen)
			continue;
		struct migration_status *s = list_add(ctx);

		if (!s)
			return fail(err, -ENOMEM, NULL, "out of memory");
		s->version = set[i].version;
		snprintf(s->name, sizeof(s->name), "%s", set[i].name);
		s->state = MIGRATION_PENDING;
		s->migration = &set[i];
	}
	qsort(ctx->v, ctx->n, sizeof(*ctx->v), cmp_status);
	return 0;
}

int migrate_status(struct db_conn *c, const struct migration *set, size_t n,
                   struct migration_status **ret, size_t *ret_n, struct migrate_error *err)
{
	struct list_ctx ctx = {0};
	int r;

	r = read_status(c, set, n, &ctx, err);
	if (r < 0) {
		free(ctx.v);
		return r;
	}
	*ret = ctx.v;
	*ret_n = ctx.n;
	return 0;
}

/* Refuses a database whose history does not match set[]. */
static int check_history(const struct list_ctx *ctx, struct migrate_error *err)
{
	for (size_t i = 0; i < ctx->n; i++) {
		const struct migration_status *s = &ctx->v[i];
		struct migration unknown = {.version = s->version, .name = s->name};

		switch (s->state) {
		case MIGRATION_MODIFIED:
			return fail(err, -EBADMSG, s->migration,
			            "migration %s was modified after it was applied (checksum "
			            "%.12s... in the database, %.12s... in this build): restore "
			            "the file and add a new migration instead",
			            s->migration->name, s->db_checksum, s->migration->checksum);
		case MIGRATION_INTERRUPTED:
			return fail(err, -EUCLEAN, s->migration ? s->migration : &unknown,
			            "migration %s was interrupted: the schema may be half-changed; "
			            "repair it by hand, then delete its row (version %u) from "
			            "schema_migrations",
			            s->name, s->version);
		case MIGRATION_UNKNOWN:
			return fail(err, -EPROTO, &unknown,
			            "the database has migration %s (version %u) that this build "
			            "does not know: it was migrated by a newer controller",
			            s->name, s->version);
		case MIGRATION_PENDING:
		case MIGRATION_APPLIED:
			break;
		}
	}
	return 0;
}

/* Runs one migration: recorded first, its statements, then marked applied. */
static int apply_one(struct db_conn *c, const struct migration *m, struct migrate_error *err)
{
	struct db_param key[] = {DB_UINT(m->version), DB_TEXT(m->name), DB_TEXT(m->checksum)};
	const char *stmt;
	size_t pos = 0, len, done = 0;
	int r;

	/* A file that does not split cleanly must fail before it changes anything. */
	while ((r = migration_split_next(m->sql, m->sql_len, &pos, &stmt, &len)) > 0)
		;
	if (r < 0)
		return fail(err, r, m, "migration %s: unterminated quote or comment", m->name);
	pos = 0;

	r = db_exec(c, DB_STMT_MIGRATION_START, key, ARRAY_SIZE(key), NULL, NULL);
	if (r < 0)
		return fail(err, r, m, "cannot record migration %s: %s", m->name,
		            db_conn_error(c)->message);
	r = db_tx_begin(c);
	if (r < 0)
		goto failed;
	while ((r = migration_split_next(m->sql, m->sql_len, &pos, &stmt, &len)) > 0) {
		r = db_exec_sql(c, stmt, len, NULL, 0, NULL, NULL);
		if (r < 0)
			goto failed;
		done++;
	}
	r = db_exec(c, DB_STMT_MIGRATION_FINISH, key, 1, NULL, NULL);
	if (r < 0)
		goto failed;
	r = db_tx_commit(c);
	if (r < 0)
		goto failed;
	return 0;

failed:
	fail(err, r, m, "migration %s failed at statement %zu: %s", m->name, done + 1,
	     db_conn_error(c)->message);
	db_tx_rollback(c);
	if (done > 0)
		return r; /* earlier DDL is committed: leave the row as interrupted */
	/* Nothing was changed: forget the attempt so that a fixed build can run it. */
	if (db_exec(c, DB_STMT_MIGRATION_FORGET, key, 1, NULL, NULL) < 0 && err) {
		size_t l = strlen(err->message);

		snprintf(err->message + l, sizeof(err->message) - l,
		         " (and its row could not be removed: %s)", db_conn_error(c)->message);
	}
	return r;
}

int migrate_apply(struct db_conn *c, const struct migration *set, size_t n, unsigned lock_timeout_s,
                  size_t *ret_applied, struct migrate_error *err)
{
	struct db_param timeout = DB_UINT(lock_timeout_s);
	struct list_ctx ctx = {0};
	uint64_t locked = 0;
	size_t applied = 0;
	int r;

	if (db_tx_active(c))
		return fail(err, -EINVAL, NULL, "migrate_apply: called inside a transaction");
	for (size_t i = 1; i < n; i++)
		if (set[i].version <= set[i - 1].version)
			return fail(err, -EINVAL, &set[i], "migrations out of order at %s",
			            set[i].name);

	r = db_query(c, DB_STMT_MIGRATE_LOCK, &timeout, 1, count_row, &locked, NULL);
	if (r < 0)
		return fail(err, r, NULL, "cannot take the migration lock: %s",
		            db_conn_error(c)->message);
	if (!locked)
		return fail(err, -EBUSY, NULL,
		            "another controller is migrating this database (waited %u s)",
		            lock_timeout_s);

	r = db_exec(c, DB_STMT_MIGRATIONS_CREATE_TABLE, NULL, 0, NULL, NULL);
	if (r < 0) {
		fail(err, r, NULL, "cannot create schema_migrations: %s",
		     db_conn_error(c)->message);
		goto out;
	}
	/* Read under the lock: what another controller applied meanwhile counts. */
	r = read_status(c, set, n, &ctx, err);
	if (r < 0)
		goto out;
	r = check_history(&ctx, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ctx.n; i++) {
		if (ctx.v[i].state != MIGRATION_PENDING)
			continue;
		r = apply_one(c, ctx.v[i].migration, err);
		if (r < 0)
			goto out;
		applied++;
	}
	if (ret_applied)
		*ret_applied = applied;
	r = 0;
out:
	/* A lost connection has released the lock already. */
	(void)db_query(c, DB_STMT_MIGRATE_UNLOCK, NULL, 0, NULL, NULL, NULL);
	free(ctx.v);
	return r;
}
