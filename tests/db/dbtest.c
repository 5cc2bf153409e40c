// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dbtest.h"
#include "db_node.h"
#include "db_status.h"
#include "db_user.h"
#include "migrate.h"

struct db_url *dbtest_url(void)
{
	const char *text = getenv("DATABASE_URL");
	struct db_url_error err = {0};
	struct db_url *url = NULL;

	if (!text) {
		print_error("DATABASE_URL is not set: run the db tests through ctest "
		            "(tests/db/with_db.sh gives each one a database)\n");
		fail();
	}
	if (db_url_parse(text, &url, &err) < 0) {
		print_error("DATABASE_URL: %s\n", err.message);
		fail();
	}
	return url;
}

static struct db *open_url(const struct db_url *url, unsigned pool_size)
{
	struct db_options opts = {.pool_size = pool_size};
	struct db_error err = {0};
	struct db *db = NULL;

	if (db_open(url, &opts, &db, &err) < 0) {
		print_error("db_open: %s\n", err.message);
		fail();
	}
	return db;
}

struct db *dbtest_open(unsigned pool_size)
{
	struct db_url *url = dbtest_url();
	struct db *db = open_url(url, pool_size);

	db_url_free(url);
	return db;
}

struct db *dbtest_open_fresh(const char *suffix, unsigned pool_size, char **ret_name)
{
	struct db_url *url = dbtest_url();
	struct db *server;
	struct db_conn *c;
	char *name, sql[256];

	assert_non_null(url->database);
	assert_true(asprintf(&name, "%s_%s", url->database, suffix) > 0);
	assert_true(strlen(name) <= 64 && !strpbrk(name, "`"));
	server = open_url(url, 1);
	assert_int_equal(db_acquire(server, -1, &c, NULL), 0);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", name);
	assert_db(c, dbtest_exec(c, sql, NULL, 0), 0);
	snprintf(sql, sizeof(sql), "CREATE DATABASE `%s`", name);
	assert_db(c, dbtest_exec(c, sql, NULL, 0), 0);
	db_release(c);
	db_close(server);

	free(url->database);
	url->database = name;
	server = open_url(url, pool_size);
	if (ret_name)
		assert_non_null(*ret_name = strdup(name));
	db_url_free(url);
	return server;
}

void dbtest_migrate(struct db *db)
{
	struct migrate_error err = {0};
	struct db_conn *c;
	int r;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	r = migrate_apply(c, migrations_builtin, migrations_builtin_count, 30, NULL, &err);
	if (r < 0)
		print_error("migrate: %s: %s\n", err.name, err.message);
	assert_int_equal(r, 0);
	db_release(c);
}

int dbtest_exec(struct db_conn *c, const char *sql, const struct db_param *params, size_t n)
{
	return db_exec_sql(c, sql, strlen(sql), params, n, NULL, NULL);
}

struct first {
	bool seen, is_null;
	char *bytes;
	size_t len;
	uint64_t u;
	int r;
};

static int first_row(const struct db_row *row, void *userdata)
{
	struct first *f = userdata;
	const char *p;

	f->seen = true;
	if (db_row_is_null(row, 0)) {
		f->is_null = true;
		return 1;
	}
	if (db_row_bytes(row, 0, &p, &f->len) == 0) {
		f->bytes = malloc(f->len + 1);
		if (!f->bytes)
			return -ENOMEM;
		memcpy(f->bytes, p, f->len + 1);
	} else {
		f->r = db_row_uint(row, 0, &f->u);
	}
	return 1;
}

static int query_first(struct db_conn *c, const char *sql, const struct db_param *params, size_t n,
                       struct first *f)
{
	int r = db_query_sql(c, sql, strlen(sql), params, n, first_row, f, NULL);

	if (r < 0)
		return r;
	if (!f->seen)
		return -ENOENT;
	if (f->is_null)
		return -ENODATA;
	return 0;
}

int dbtest_query_bytes(struct db_conn *c, const char *sql, const struct db_param *params, size_t n,
                       char **ret, size_t *ret_len)
{
	struct first f = {0};
	int r = query_first(c, sql, params, n, &f);

	if (r < 0)
		return r;
	if (!f.bytes)
		return -ERANGE;
	*ret = f.bytes;
	if (ret_len)
		*ret_len = f.len;
	return 0;
}

int dbtest_query_uint(struct db_conn *c, const char *sql, const struct db_param *params, size_t n,
                      uint64_t *ret)
{
	struct first f = {0};
	int r = query_first(c, sql, params, n, &f);

	if (r < 0)
		return r;
	if (f.bytes) {
		char *end;

		errno = 0;
		f.u = strtoull(f.bytes, &end, 10);
		r = errno || *end ? -ERANGE : 0;
		free(f.bytes);
		if (r < 0)
			return r;
	} else if (f.r < 0) {
		return f.r;
	}
	*ret = f.u;
	return 0;
}

void dbtest_make_key(uint64_t n, char key[static 45])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	memset(key, 'A', 42);
	for (int i = 0; i < 11; i++, n >>= 6)
		key[41 - i] = b64[n & 63];
	key[42] = 'E';
	key[43] = '=';
	key[44] = '\0';
}

static void print_status(const char *what, const struct db_status *s)
{
	print_error("%s: users %llu (active %llu, banned %llu, admins %llu); vpn %llu "
	            "(trial %llu, paid %llu, bandwidth %llu); payments %llu; revenue rows %zu\n",
	            what, (unsigned long long)s->users.all,
	            (unsigned long long)s->users.by_status[USER_ACTIVE],
	            (unsigned long long)s->users.by_status[USER_BANNED],
	            (unsigned long long)s->users.admins, (unsigned long long)s->vpn.all,
	            (unsigned long long)s->vpn.trial, (unsigned long long)s->vpn.paid,
	            (unsigned long long)s->vpn.bandwidth_bytes, (unsigned long long)s->payments.all,
	            s->payments.n_revenue);
}

void dbtest_assert_counters_match(struct db_conn *c)
{
	struct db_status *kept = NULL, *counted = NULL;
	bool same;

	assert_db(c, db_status_get(c, &kept), 0);
	assert_db(c, db_status_recount(c, &counted), 0);
	/* Every figure but the revenue list is a plain number: compare them at once. */
	same =
	    !memcmp(&kept->users, &counted->users, sizeof(kept->users)) &&
	    !memcmp(&kept->vpn, &counted->vpn, sizeof(kept->vpn)) &&
	    kept->payments.all == counted->payments.all &&
	    !memcmp(kept->payments.by_status, counted->payments.by_status,
	            sizeof(kept->payments.by_status)) &&
	    !memcmp(kept->jobs_by_state, counted->jobs_by_state, sizeof(kept->jobs_by_state)) &&
	    !memcmp(kept->nodes_by_state, counted->nodes_by_state, sizeof(kept->nodes_by_state)) &&
	    kept->payments.n_revenue == counted->payments.n_revenue;
	for (size_t i = 0; same && i < kept->payments.n_revenue; i++) {
		const struct db_revenue *a = &kept->payments.revenue[i],
		                        *b = &counted->payments.revenue[i];

		same = a->method == b->method && !strcmp(a->currency, b->currency) &&
		       a->payments == b->payments && a->amount == b->amount;
	}
	if (!same) {
		print_status("counters", kept);
		print_status("recount ", counted);
	}
	db_status_free(kept);
	db_status_free(counted);
	assert_true(same);
}

struct db *dbtest_pool;

int dbtest_conn_setup(void **state)
{
	struct db_conn *c;

	assert_int_equal(db_acquire(dbtest_pool, 5000, &c, NULL), 0);
	*state = c;
	return 0;
}

int dbtest_conn_teardown(void **state)
{
	db_release(*state);
	return 0;
}

uint64_t dbtest_count(struct db_conn *c, const char *sql, const struct db_param *params, size_t n)
{
	uint64_t v = 0;

	assert_db(c, dbtest_query_uint(c, sql, params, n, &v), 0);
	return v;
}

/* Far from the ids and key numbers the tests make themselves. */
static uint64_t fixture_counter = 1;

uint64_t dbtest_new_user(struct db_conn *c)
{
	struct db_user_profile p = {.telegram_id = (int64_t)(8000000000ULL + fixture_counter++)};
	uint64_t id = 0;

	assert_db(c, db_user_upsert(c, &p, &id, NULL), 0);
	return id;
}

uint64_t dbtest_new_node(struct db_conn *c, uint64_t free_addresses)
{
	char key[45], name[32];
	uint64_t id = 0;

	dbtest_make_key(50000000 + fixture_counter, key);
	snprintf(name, sizeof(name), "fixture-%llu", (unsigned long long)fixture_counter++);
	struct db_node_new n = {.name = name,
	                        .agent_url = "https://agent.example:8443",
	                        .endpoint = "vpn.example:51820",
	                        .public_key = key,
	                        .free_addresses = free_addresses};
	assert_db(c, db_node_create(c, 0, &n, &id), 0);
	return id;
}
