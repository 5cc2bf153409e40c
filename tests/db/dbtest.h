/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the db tests. The database comes from DATABASE_URL, which tests/db/with_db.sh
 * sets to a fresh, empty database on the run's private server (tests/db/server.sh). A
 * missing DATABASE_URL or an unreachable server fails the test; nothing is skipped.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "db.h"

/* The URL of the test's database, parsed; fails the test if unset or bad. */
struct db_url *dbtest_url(void);

/* A pool on the test's database. */
struct db *dbtest_open(unsigned pool_size);

/* A pool on a new, empty database "<test database>_<suffix>" (dropped first if it was
 * there), for tests that need more than one; *ret_name (optional, malloc'ed) names it. */
struct db *dbtest_open_fresh(const char *suffix, unsigned pool_size, char **ret_name);

/* Applies the built-in migrations to db's database. */
void dbtest_migrate(struct db *db);

/* Runs sql with params on c; returns what db_exec_sql returned. */
int dbtest_exec(struct db_conn *c, const char *sql, const struct db_param *params, size_t n);

/* The first column of the first row of a query, as text (malloc'ed, *ret_len bytes) or
 * as an unsigned integer. Returns -ENOENT without a row, -ENODATA for NULL. */
int dbtest_query_bytes(struct db_conn *c, const char *sql, const struct db_param *params, size_t n,
                       char **ret, size_t *ret_len);
int dbtest_query_uint(struct db_conn *c, const char *sql, const struct db_param *params, size_t n,
                      uint64_t *ret);

/* Fails the test unless the status counters (db_status_get) equal the figures counted
 * from the tables (db_status_recount): the triggers of migration 0002 kept up. */
void dbtest_assert_counters_match(struct db_conn *c);

/* A WireGuard public key that passes the schema's base64 check, unique per n. */
void dbtest_make_key(uint64_t n, char key[static 45]);

/* The single unsigned value sql returns (a COUNT, a SUM); fails the test on an error. */
uint64_t dbtest_count(struct db_conn *c, const char *sql, const struct db_param *params, size_t n);
#define COUNT(c, sql, ...)                                                                         \
	dbtest_count((c), (sql), (const struct db_param[]){__VA_ARGS__},                           \
	             sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param))

/* A new user (a Telegram id unique in this process) and a new active node with that many
 * free addresses (name and key unique in this process); each fails the test on an error. */
uint64_t dbtest_new_user(struct db_conn *c);
uint64_t dbtest_new_node(struct db_conn *c, uint64_t free_addresses);

/* SQL(c, "INSERT ... VALUES (?, ?)", DB_INT(1), DB_TEXT("x")) -> return code */
#define SQL(c, sql, ...)                                                                           \
	dbtest_exec((c), (sql), (const struct db_param[]){__VA_ARGS__},                            \
	            sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param))
#define SQL_UINT(c, ret, sql, ...)                                                                 \
	dbtest_query_uint(                                                                         \
	    (c), (sql), (const struct db_param[]){__VA_ARGS__},                                    \
	    sizeof((const struct db_param[]){__VA_ARGS__}) / sizeof(struct db_param), (ret))

/* Asserts that r == want, printing the connection's error otherwise. */
#define assert_db(c, r, want)                                                                      \
	do {                                                                                       \
		int r_ = (r);                                                                      \
		if (r_ != (want))                                                                  \
			print_error("%s:%d: got %d (%s), want %d\n", __FILE__, __LINE__, r_,       \
			            db_conn_error(c)->message, (want));                            \
		assert_int_equal(r_, (want));                                                      \
	} while (0)

/*
 * Per-test fixture for cmocka: a connection from dbtest_pool (which the group setup sets to
 * its pool) in *state, released after the test.
 */
extern struct db *dbtest_pool;
int dbtest_conn_setup(void **state);
int dbtest_conn_teardown(void **state);
