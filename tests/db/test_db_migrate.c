// SPDX-License-Identifier: MIT
/*
 * The migration runner against a real MariaDB: from empty to latest, re-run, tampered,
 * unknown and interrupted histories, a migration that fails, the lock, and controllers
 * racing to migrate one database.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "migrate.h"

/* A migration set for the tests: a hand-written SQL file with its real checksum. */
static struct migration mk(unsigned version, const char *name, const char *sql, char *sum)
{
	unsigned char bin[32];

	/* The checksum of the tests need not be SHA-256: any 64 hex digits that change
	 * with the text. FNV-1a spread over 32 bytes does. */
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = sql; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (int i = 0; i < 32; i++) {
		h = (h ^ (unsigned)i) * 1099511628211ULL;
		bin[i] = (unsigned char)(h >> 56);
	}
	for (int i = 0; i < 32; i++)
		sprintf(sum + 2 * i, "%02x", bin[i]);
	return (struct migration){version, name, sql, strlen(sql), sum};
}

static uint64_t table_count(struct db_conn *c)
{
	uint64_t n = 0;

	assert_db(c,
	          SQL_UINT(c, &n,
	                   "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
	                   "DATABASE()"),
	          0);
	return n;
}

static void test_empty_to_latest(void **state)
{
	struct db *db = dbtest_open_fresh("latest", 1, NULL);
	struct migration_status *st = NULL;
	struct migrate_error err = {0};
	size_t n = 0, applied = 99;
	struct db_conn *c;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_int_equal(table_count(c), 0);

	/* --status on an empty database changes nothing */
	assert_int_equal(
	    migrate_status(c, migrations_builtin, migrations_builtin_count, &st, &n, &err), 0);
	assert_int_equal(n, migrations_builtin_count);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(st[i].state, MIGRATION_PENDING);
	free(st);
	assert_int_equal(table_count(c), 0);

	assert_int_equal(
	    migrate_apply(c, migrations_builtin, migrations_builtin_count, 10, &applied, &err), 0);
	assert_int_equal(applied, migrations_builtin_count);
	uint64_t tables = table_count(c);
	assert_true(tables >= 11); /* the ten of 0001 and schema_migrations */

	assert_int_equal(
	    migrate_status(c, migrations_builtin, migrations_builtin_count, &st, &n, &err), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(st[i].state, MIGRATION_APPLIED);
		assert_string_equal(st[i].db_checksum, migrations_builtin[i].checksum);
		assert_true(st[i].applied_at_us > 0);
	}
	free(st);

	/* re-run: a no-op */
	assert_int_equal(
	    migrate_apply(c, migrations_builtin, migrations_builtin_count, 10, &applied, &err), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(table_count(c), tables);
	uint64_t rows = 0;
	assert_db(c, SQL_UINT(c, &rows, "SELECT COUNT(*) FROM schema_migrations"), 0);
	assert_int_equal(rows, migrations_builtin_count);
	/* 0001's data (the roles) went in once */
	assert_db(c, SQL_UINT(c, &rows, "SELECT COUNT(*) FROM roles"), 0);
	assert_int_equal(rows, 2);

	/* tampered: the database remembers another checksum for 0001 */
	assert_db(c,
	          SQL(c, "UPDATE schema_migrations SET checksum = REPEAT('0', 64) "
	                 "WHERE version = 1"),
	          0);
	assert_int_equal(
	    migrate_apply(c, migrations_builtin, migrations_builtin_count, 10, &applied, &err),
	    -EBADMSG);
	assert_int_equal(err.version, 1);
	assert_string_equal(err.name, migrations_builtin[0].name);
	assert_non_null(strstr(err.message, migrations_builtin[0].name));
	assert_int_equal(
	    migrate_status(c, migrations_builtin, migrations_builtin_count, &st, &n, &err), 0);
	assert_int_equal(st[0].state, MIGRATION_MODIFIED);
	free(st);

	db_release(c);
	db_close(db);
}

static void test_sets(void **state)
{
	struct db *db = dbtest_open_fresh("sets", 1, NULL);
	char s1[65], s2[65], s2b[65], s3[65], s3b[65];
	struct migration v1[] = {
	    mk(1, "0001_a.sql",
	       "CREATE TABLE a (id INT PRIMARY KEY);\n"
	       "INSERT INTO a VALUES (1), (2);",
	       s1),
	    mk(2, "0002_b.sql", "ALTER TABLE a ADD COLUMN b INT NOT NULL DEFAULT 7", s2),
	};
	struct migration v2[] = {
	    v1[0],
	    mk(2, "0002_b.sql", "ALTER TABLE a ADD COLUMN b INT NOT NULL DEFAULT 8", s2b),
	};
	struct migration_status *st = NULL;
	struct migrate_error err = {0};
	size_t n = 0, applied = 0;
	struct db_conn *c;
	uint64_t v = 0;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_int_equal(migrate_apply(c, v1, 1, 10, &applied, &err), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(migrate_apply(c, v1, 2, 10, &applied, &err), 0);
	assert_int_equal(applied, 1);
	assert_db(c, SQL_UINT(c, &v, "SELECT SUM(b) FROM a"), 0);
	assert_int_equal(v, 14);

	/* the file of an applied migration was edited */
	assert_int_equal(migrate_apply(c, v2, 2, 10, &applied, &err), -EBADMSG);
	assert_string_equal(err.name, "0002_b.sql");

	/* an older binary: the database has a migration it does not know */
	assert_int_equal(migrate_apply(c, v1, 1, 10, &applied, &err), -EPROTO);
	assert_int_equal(err.version, 2);
	assert_int_equal(migrate_status(c, v1, 1, &st, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(st[0].state, MIGRATION_APPLIED);
	assert_int_equal(st[1].state, MIGRATION_UNKNOWN);
	free(st);

	/* a migration whose first statement fails changed nothing: forgotten, and a fixed
	 * build applies it */
	struct migration bad1[] = {v1[0], v1[1],
	                           mk(3, "0003_c.sql", "ALTER TABLE nope ADD COLUMN c INT", s3)};
	assert_int_equal(migrate_apply(c, bad1, 3, 10, &applied, &err), -EIO);
	assert_string_equal(err.name, "0003_c.sql");
	assert_non_null(strstr(err.message, "statement 1"));
	assert_db(c, SQL_UINT(c, &v, "SELECT COUNT(*) FROM schema_migrations"), 0);
	assert_int_equal(v, 2);

	/* one that fails half-way (DDL already committed) is left as interrupted, and
	 * stops every later migrate */
	struct migration bad2[] = {
	    v1[0], v1[1],
	    mk(3, "0003_c.sql", "ALTER TABLE a ADD COLUMN c INT; INSERT INTO a (id) VALUES (1)",
	       s3b)};
	assert_int_equal(migrate_apply(c, bad2, 3, 10, &applied, &err), -EEXIST);
	assert_non_null(strstr(err.message, "statement 2"));
	assert_int_equal(migrate_status(c, bad2, 3, &st, &n, &err), 0);
	assert_int_equal(st[2].state, MIGRATION_INTERRUPTED);
	free(st);
	assert_int_equal(migrate_apply(c, bad2, 3, 10, &applied, &err), -EUCLEAN);
	assert_int_equal(err.version, 3);

	db_release(c);
	db_close(db);
}

static void test_lock_held(void **state)
{
	char *name = NULL;
	struct db *db = dbtest_open_fresh("lock", 1, &name);
	struct db *other = dbtest_open(1);
	struct migrate_error err = {0};
	struct db_conn *c, *holder;
	size_t applied = 0;
	uint64_t got = 0;

	/* Another session holds this database's migration lock. */
	assert_int_equal(db_acquire(other, -1, &holder, NULL), 0);
	assert_db(holder,
	          SQL_UINT(holder, &got, "SELECT GET_LOCK(CONCAT('wgfleet-migrate:', SHA1(?)), 0)",
	                   DB_TEXT(name)),
	          0);
	assert_int_equal(got, 1);

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_int_equal(
	    migrate_apply(c, migrations_builtin, migrations_builtin_count, 1, &applied, &err),
	    -EBUSY);
	assert_non_null(strstr(err.message, "another controller"));
	assert_int_equal(table_count(c), 0);

	db_release(holder);
	db_close(other); /* the session ends: the lock is free */
	assert_int_equal(
	    migrate_apply(c, migrations_builtin, migrations_builtin_count, 10, &applied, &err), 0);
	assert_int_equal(applied, migrations_builtin_count);
	db_release(c);
	db_close(db);
	free(name);
}

struct racer {
	struct db *db;
	size_t applied;
	int r;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	struct migrate_error err = {0};
	struct db_conn *c;

	x->r = db_acquire(x->db, -1, &c, NULL);
	if (x->r == 0) {
		x->r = migrate_apply(c, migrations_builtin, migrations_builtin_count, 60,
		                     &x->applied, &err);
		db_release(c);
	}
	return NULL;
}

static void test_concurrent_controllers(void **state)
{
	enum { N = 4 };
	struct db *first = dbtest_open_fresh("race", 1, NULL);
	struct racer racers[N];
	pthread_t t[N];
	size_t total = 0, workers = 0;

	/* Each "controller" has its own pool on the same database. */
	struct db_url *url = dbtest_url();
	char *name;

	racers[0] = (struct racer){.db = first};
	assert_true(asprintf(&name, "%s_race", url->database) > 0);
	free(url->database);
	url->database = name;
	for (int i = 1; i < N; i++) {
		struct db_options o = {.pool_size = 1};

		racers[i] = (struct racer){0};
		assert_int_equal(db_open(url, &o, &racers[i].db, NULL), 0);
	}
	db_url_free(url);

	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &racers[i]), 0);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(racers[i].r, 0);
		total += racers[i].applied;
		workers += racers[i].applied > 0;
		db_close(racers[i].db);
	}
	/* exactly one controller did the work, the others found it done */
	assert_int_equal(total, migrations_builtin_count);
	assert_int_equal(workers, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_to_latest),
	    cmocka_unit_test(test_sets),
	    cmocka_unit_test(test_lock_held),
	    cmocka_unit_test(test_concurrent_controllers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
