// SPDX-License-Identifier: MIT
/*
 * The DB module against a real MariaDB: the pool's bounds, connections killed by the
 * server (idle, mid-statement, inside a transaction), errors that end a transaction,
 * lock conflicts, connection failures, and the value conversions.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "dbtest.h"

static struct db *db;    /* the pool under test */
static struct db *admin; /* a second pool, for the server-side view and KILL */

static int group_setup(void **state)
{
	struct db_conn *c;

	db = dbtest_open(4);
	admin = dbtest_open(4);
	assert_int_equal(db_acquire(admin, -1, &c, NULL), 0);
	assert_db(c, SQL(c, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL DEFAULT 0)"), 0);
	db_release(c);
	return 0;
}

static int group_teardown(void **state)
{
	db = db_close(db);
	admin = db_close(admin);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rows_with_id(int id)
{
	struct db_conn *a;
	uint64_t n = 99;

	assert_int_equal(db_acquire(admin, -1, &a, NULL), 0);
	assert_db(a, SQL_UINT(a, &n, "SELECT COUNT(*) FROM t WHERE id = ?", DB_INT(id)), 0);
	db_release(a);
	return n;
}

/* Kills a session from the admin pool and waits until the server has let it go. */
static void kill_session(uint64_t id)
{
	struct db_conn *a;
	char sql[64];
	uint64_t n = 1;

	assert_int_equal(db_acquire(admin, -1, &a, NULL), 0);
	snprintf(sql, sizeof(sql), "KILL CONNECTION %" PRIu64, id);
	assert_db(a, SQL(a, sql), 0);
	for (int i = 0; i < 500 && n; i++) {
		assert_db(a,
		          SQL_UINT(a, &n,
		                   "SELECT COUNT(*) FROM information_schema.processlist "
		                   "WHERE id = ?",
		                   DB_UINT(id)),
		          0);
		if (n)
			usleep(10000);
	}
	assert_int_equal(n, 0);
	db_release(a);
}

/* ---- the pool ---- */

/* A thread that takes a connection and keeps it until told to give it back. */
struct holder {
	struct db_conn *c;
	int timeout_ms;
	int r;
	int64_t waited_ms;
	sem_t taken, give_back;
	pthread_t thread;
};

static void *holder_thread(void *arg)
{
	struct holder *h = arg;
	int64_t t0 = now_ms();

	h->r = db_acquire(db, h->timeout_ms, &h->c, NULL);
	h->waited_ms = now_ms() - t0;
	sem_post(&h->taken);
	sem_wait(&h->give_back);
	h->c = db_release(h->c);
	return NULL;
}

static void holder_start(struct holder *h, int timeout_ms)
{
	memset(h, 0, sizeof(*h));
	h->timeout_ms = timeout_ms;
	sem_init(&h->taken, 0, 0);
	sem_init(&h->give_back, 0, 0);
	assert_int_equal(pthread_create(&h->thread, NULL, holder_thread, h), 0);
}

static void holder_stop(struct holder *h)
{
	sem_post(&h->give_back);
	pthread_join(h->thread, NULL);
	sem_destroy(&h->taken);
	sem_destroy(&h->give_back);
}

static void test_pool_bounds(void **state)
{
	struct holder h[4], late, waiter;
	struct db_error err = {0};
	struct db_conn *mine, *again;

	/* one connection per thread at a time */
	assert_int_equal(db_acquire(db, -1, &mine, NULL), 0);
	assert_int_equal(db_acquire(db, 0, &again, &err), -EDEADLK);
	assert_int_equal(err.code, -EDEADLK);
	mine = db_release(mine);

	/* four threads fill the pool of four */
	for (int i = 0; i < 4; i++) {
		holder_start(&h[i], -1);
		sem_wait(&h[i].taken);
		assert_int_equal(h[i].r, 0);
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(h[i].c, h[j].c);

	/* a fifth waits, then times out */
	holder_start(&late, 200);
	sem_wait(&late.taken);
	assert_int_equal(late.r, -ETIMEDOUT);
	assert_true(late.waited_ms >= 190 && late.waited_ms < 2000);
	holder_stop(&late);
	assert_int_equal(db_acquire(db, 0, &again, NULL), -ETIMEDOUT);

	/* a waiter without a timeout gets the first connection given back */
	holder_start(&waiter, -1);
	usleep(150000);
	holder_stop(&h[2]);
	sem_wait(&waiter.taken);
	assert_int_equal(waiter.r, 0);
	assert_true(waiter.waited_ms >= 100);
	holder_stop(&waiter);
	for (int i = 0; i < 4; i++)
		if (i != 2)
			holder_stop(&h[i]);
}

/* ---- lost connections ---- */

static void test_reconnect_after_kill(void **state)
{
	struct db_conn *c;
	uint64_t before, after, one = 0;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_db(c, db_query(c, DB_STMT_PING, NULL, 0, NULL, NULL, NULL), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (100)"), 0);
	before = db_conn_server_id(c);
	assert_true(before > 0);

	kill_session(before);

	/* The next call notices, reconnects (a new session) and succeeds, with statements
	 * prepared again on the new session. */
	assert_db(c, db_query(c, DB_STMT_PING, NULL, 0, NULL, NULL, NULL), 0);
	after = db_conn_server_id(c);
	assert_true(after > 0 && after != before);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (101)"), 0);
	assert_db(c, SQL_UINT(c, &one, "SELECT COUNT(*) FROM t WHERE id IN (100, 101)"), 0);
	assert_int_equal(one, 2);

	/* and a write is never sent twice: killed again, the insert happens once */
	kill_session(after);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (102)"), 0);
	assert_int_equal(rows_with_id(102), 1);
	db_release(c);
}

struct sleeper {
	struct db_conn *c;
	int r;
};

static void *sleep_thread(void *arg)
{
	struct sleeper *s = arg;

	s->r = SQL(s->c, "SELECT SLEEP(20)");
	return NULL;
}

static void test_kill_mid_statement(void **state)
{
	struct sleeper s = {0};
	struct db_conn *a;
	uint64_t id, busy = 0;
	pthread_t t;
	int64_t t0;

	assert_int_equal(db_acquire(db, -1, &s.c, NULL), 0);
	id = db_conn_server_id(s.c);
	assert_int_equal(pthread_create(&t, NULL, sleep_thread, &s), 0);

	/* wait until the statement runs on the server */
	assert_int_equal(db_acquire(admin, -1, &a, NULL), 0);
	for (int i = 0; i < 500 && !busy; i++) {
		assert_db(a,
		          SQL_UINT(a, &busy,
		                   "SELECT COUNT(*) FROM information_schema.processlist "
		                   "WHERE id = ? AND info LIKE 'SELECT SLEEP%'",
		                   DB_UINT(id)),
		          0);
		if (!busy)
			usleep(10000);
	}
	db_release(a);
	assert_int_equal(busy, 1);

	t0 = now_ms();
	kill_session(id);
	pthread_join(t, NULL);
	assert_true(now_ms() - t0 < 5000);
	/* lost, and not sent again (it may have had effects) */
	assert_int_equal(s.r, -ENOTCONN);
	assert_true(db_conn_error(s.c)->message[0] != '\0');

	/* the next call reconnects */
	assert_db(s.c, db_query(s.c, DB_STMT_PING, NULL, 0, NULL, NULL, NULL), 0);
	assert_true(db_conn_server_id(s.c) != id);
	db_release(s.c);
}

static void test_kill_in_transaction(void **state)
{
	struct db_conn *c;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (200)"), 0);
	kill_session(db_conn_server_id(c));

	/* The transaction is gone with the session: reported, never replayed on a new one. */
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (201)"), -ENOTCONN);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (202)"), -ENOTCONN);
	assert_db(c, db_tx_commit(c), -ENOTCONN);
	assert_true(db_tx_active(c));
	assert_int_equal(db_tx_rollback(c), 0);
	assert_false(db_tx_active(c));
	assert_int_equal(rows_with_id(200), 0);
	assert_int_equal(rows_with_id(201), 0);
	assert_int_equal(rows_with_id(202), 0);

	/* the connection works again, transactions too */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (203)"), 0);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(rows_with_id(203), 1);

	/* killed between the last statement and the commit: the commit reports it */
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (204)"), 0);
	kill_session(db_conn_server_id(c));
	assert_db(c, db_tx_commit(c), -ENOTCONN);
	db_release(c); /* rolls back */
	assert_int_equal(rows_with_id(204), 0);

	/* killed before the transaction starts: begin reconnects, nothing was open */
	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	kill_session(db_conn_server_id(c));
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (205)"), 0);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(rows_with_id(205), 1);
	db_release(c);
}

/* ---- errors inside transactions ---- */

static void test_error_breaks_transaction(void **state)
{
	struct db_conn *c;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_tx_begin(c), -EINVAL); /* one at a time */
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (300)"), 0);
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (300)"), -EEXIST);
	/* MariaDB undid only the statement; committing now would keep 300 and lose the
	 * rest of the caller's work. Every later call reports the first error. */
	assert_db(c, SQL(c, "INSERT INTO t (id) VALUES (301)"), -EEXIST);
	assert_db(c, db_tx_commit(c), -EEXIST);
	assert_non_null(strstr(db_conn_error(c)->message, "Duplicate"));
	assert_int_equal(db_tx_rollback(c), 0);
	assert_int_equal(rows_with_id(300), 0);
	assert_int_equal(rows_with_id(301), 0);
	assert_db(c, db_tx_commit(c), -EINVAL); /* none open */
	db_release(c);
}

struct locker {
	struct db_conn *c;
	int first, second;
	pthread_barrier_t *barrier;
	int r;
};

static void *deadlock_thread(void *arg)
{
	struct locker *l = arg;

	l->r = db_tx_begin(l->c);
	if (l->r == 0)
		l->r = SQL(l->c, "UPDATE t SET v = v + 1 WHERE id = ?", DB_INT(l->first));
	pthread_barrier_wait(l->barrier);
	if (l->r == 0)
		l->r = SQL(l->c, "UPDATE t SET v = v + 1 WHERE id = ?", DB_INT(l->second));
	if (l->r == 0)
		l->r = db_tx_commit(l->c);
	else
		db_tx_rollback(l->c);
	return NULL;
}

static void test_conflicts(void **state)
{
	struct db_conn *c1, *c2;
	pthread_barrier_t barrier;
	struct locker a, b;
	pthread_t ta, tb;

	assert_int_equal(db_acquire(admin, -1, &c1, NULL), 0);
	assert_db(c1, SQL(c1, "INSERT INTO t (id) VALUES (400), (401)"), 0);
	db_release(c1);

	/* a lock wait timeout is -EBUSY */
	assert_int_equal(db_acquire(db, -1, &c1, NULL), 0);
	assert_int_equal(db_acquire(admin, -1, &c2, NULL), 0);
	assert_db(c2, SQL(c2, "SET SESSION innodb_lock_wait_timeout = 1"), 0);
	assert_db(c1, db_tx_begin(c1), 0);
	assert_db(c1, SQL(c1, "UPDATE t SET v = 1 WHERE id = 400"), 0);
	assert_db(c2, db_tx_begin(c2), 0);
	assert_db(c2, SQL(c2, "UPDATE t SET v = 2 WHERE id = 400"), -EBUSY);
	assert_db(c2, SQL(c2, "SELECT 1 FROM t WHERE id = 400 FOR UPDATE NOWAIT"), -EBUSY);
	db_tx_rollback(c2);
	assert_db(c2, SQL(c2, "SET SESSION innodb_lock_wait_timeout = DEFAULT"), 0);
	db_release(c2);
	db_tx_rollback(c1);
	db_release(c1);

	/* a deadlock is -EAGAIN for one of the two, which must run its work again */
	pthread_barrier_init(&barrier, NULL, 2);
	a = (struct locker){.first = 400, .second = 401, .barrier = &barrier};
	b = (struct locker){.first = 401, .second = 400, .barrier = &barrier};
	assert_int_equal(db_acquire(db, -1, &a.c, NULL), 0);
	assert_int_equal(db_acquire(admin, -1, &b.c, NULL), 0);
	pthread_create(&ta, NULL, deadlock_thread, &a);
	pthread_create(&tb, NULL, deadlock_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&barrier);
	assert_true((a.r == 0 && b.r == -EAGAIN) || (a.r == -EAGAIN && b.r == 0));
	db_release(a.c);
	db_release(b.c);
}

/* ---- connecting ---- */

static void test_connect_errors(void **state)
{
	struct db_url *url = dbtest_url(), *bad = NULL;
	struct db_options o = {.pool_size = 1};
	struct db_error err = {0};
	const char *server = getenv("WGFLEET_TEST_SERVER_URL");
	struct db *x = NULL;
	struct db_conn *c;

	assert_int_equal(db_url_dup(url, &bad), 0);
	free(bad->password);
	bad->password = strdup("wrong");
	assert_int_equal(db_open(bad, &o, &x, &err), -EACCES);
	assert_null(x);
	assert_int_equal(err.server_code, 1045);
	assert_null(strstr(err.message, "wrong"));
	bad = db_url_free(bad);

	assert_int_equal(db_url_dup(url, &bad), 0);
	free(bad->database);
	bad->database = strdup("no_such_database");
	assert_int_equal(db_open(bad, &o, &x, &err), -ENOENT);
	bad = db_url_free(bad);

	assert_int_equal(db_url_parse("mysql://root@127.0.0.1:1/x?connect-timeout=2", &bad, NULL),
	                 0);
	assert_int_equal(db_open(bad, &o, &x, &err), -ENOTCONN);
	bad = db_url_free(bad);

	/* TCP to the same server: the URL without its socket */
	assert_non_null(server);
	assert_int_equal(db_url_parse(server, &bad, NULL), 0);
	free(bad->socket);
	bad->socket = NULL;
	free(bad->database);
	bad->database = strdup(url->database);
	if (db_open(bad, &o, &x, &err) < 0)
		print_error("TCP: %s\n", err.message);
	assert_non_null(x);
	assert_int_equal(db_acquire(x, -1, &c, NULL), 0);
	assert_db(c, db_query(c, DB_STMT_PING, NULL, 0, NULL, NULL, NULL), 0);
	/* killed over TCP, reconnected over TCP */
	kill_session(db_conn_server_id(c));
	assert_db(c, db_query(c, DB_STMT_PING, NULL, 0, NULL, NULL, NULL), 0);
	db_release(c);
	db_close(x);
	db_url_free(bad);

	db_url_free(url);
}

/* Opens a one-connection pool on the test database over TCP with TLS options. */
static int open_tls(const char *ca, bool verify, struct db **ret, struct db_error *err)
{
	struct db_url *url = dbtest_url(), *tcp = NULL;
	struct db_options o = {.pool_size = 1};
	const char *dir = getenv("WGFLEET_TEST_TLS_DIR");
	int r;

	assert_non_null(dir);
	assert_int_equal(db_url_parse(getenv("WGFLEET_TEST_SERVER_URL"), &tcp, NULL), 0);
	free(tcp->socket);
	tcp->socket = NULL;
	tcp->database = strdup(url->database);
	tcp->ssl = true;
	tcp->ssl_verify = verify;
	if (ca)
		assert_true(asprintf(&tcp->ssl_ca, "%s/%s", dir, ca) > 0);
	r = db_open(tcp, &o, ret, err);
	db_url_free(tcp);
	db_url_free(url);
	return r;
}

static void test_tls(void **state)
{
	struct db_error err = {0};
	struct db_conn *c;
	struct db *x = NULL;
	char *cipher = NULL;

	/* verified against the test CA: encrypted */
	assert_int_equal(open_tls("ca.pem", true, &x, &err), 0);
	assert_int_equal(db_acquire(x, -1, &c, NULL), 0);
	assert_db(c,
	          dbtest_query_bytes(c,
	                             "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
	                             "WHERE VARIABLE_NAME = 'Ssl_cipher'",
	                             NULL, 0, &cipher, NULL),
	          0);
	assert_true(cipher[0] != '\0');
	free(cipher);
	/* the reconnect keeps TLS */
	kill_session(db_conn_server_id(c));
	assert_db(c,
	          dbtest_query_bytes(c,
	                             "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
	                             "WHERE VARIABLE_NAME = 'Ssl_cipher'",
	                             NULL, 0, &cipher, NULL),
	          0);
	assert_true(cipher[0] != '\0');
	free(cipher);
	db_release(c);
	x = db_close(x);

	/* a certificate from another CA is refused when verifying */
	assert_int_equal(open_tls("other-ca.pem", true, &x, &err), -ENOTCONN);
	assert_null(x);
	assert_true(err.message[0] != '\0');

	/* without verification the link is encrypted but anyone's certificate is taken */
	assert_int_equal(open_tls(NULL, false, &x, &err), 0);
	x = db_close(x);
}

/* ---- values ---- */

struct row_check {
	int64_t t_us;
	int calls;
};

static int check_row(const struct db_row *row, void *userdata)
{
	struct row_check *rc = userdata;
	const char *s;
	size_t len;
	uint64_t u;
	int64_t i, t;

	rc->calls++;
	assert_int_equal(db_row_columns(row), 7);
	assert_int_equal(db_row_uint(row, 0, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(db_row_int(row, 0, &i), -ERANGE);
	assert_int_equal(db_row_int(row, 1, &i), 0);
	assert_int_equal(i, INT64_MIN);
	assert_int_equal(db_row_uint(row, 1, &u), -ERANGE);
	assert_true(db_row_is_null(row, 2));
	assert_int_equal(db_row_int(row, 2, &i), -ENODATA);
	assert_int_equal(db_row_bytes(row, 3, &s, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(s, "a\0b\xff", 4);
	assert_int_equal(db_row_uint(row, 4, &u), 0); /* DECIMAL as text */
	assert_true(u == 12345678901234567890ULL);
	assert_int_equal(db_row_time(row, 5, &t), 0);
	assert_int_equal(t, rc->t_us);
	assert_int_equal(db_row_time(row, 6, &t), 0);
	assert_int_equal(t, -86400LL * 1000000 + 1); /* 1969-12-31 00:00:00.000001 */
	assert_int_equal(db_row_bytes(row, 0, &s, &len), -ERANGE);
	assert_int_equal(db_row_int(row, 9, &i), -ERANGE);
	return 0;
}

static void test_values(void **state)
{
	const char *sql = "SELECT CAST(? AS UNSIGNED), ?, ?, ?, "
	                  "CAST('12345678901234567890' AS DECIMAL(30,0)), "
	                  "CAST(? AS DATETIME(6)), CAST(? AS DATETIME(6))";
	struct row_check rc = {.t_us = 1764042123456789LL};
	struct db_param p[] = {
	    DB_UINT(UINT64_MAX),    DB_INT(INT64_MIN), DB_NULL,
	    DB_BLOB("a\0b\xff", 4), DB_TIME(rc.t_us),  DB_TIME(-86400LL * 1000000 + 1),
	};
	struct db_conn *c;
	uint64_t rows = 0;

	assert_int_equal(db_acquire(db, -1, &c, NULL), 0);
	assert_db(c, db_query_sql(c, sql, strlen(sql), p, ARRAY_SIZE(p), check_row, &rc, &rows), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(rc.calls, 1);

	/* the session is UTC: NOW() is the client's clock, not the host's zone */
	uint64_t skew = 99;
	assert_db(c,
	          SQL_UINT(c, &skew, "SELECT ABS(TIMESTAMPDIFF(SECOND, NOW(6), ?)) < 60",
	                   DB_TIME(db_now_us())),
	          0);
	assert_int_equal(skew, 1);

	/* wrong parameter count: the caller's mistake, nothing sent */
	assert_db(c, SQL(c, "SELECT ?"), -EINVAL);
	assert_db(c, SQL(c, "SELECT 1", DB_INT(1)), -EINVAL);
	/* a large result: values longer than the first buffer are fetched whole */
	char *big = NULL;
	size_t len = 0;
	assert_db(c, dbtest_query_bytes(c, "SELECT REPEAT('x', 100000)", NULL, 0, &big, &len), 0);
	assert_int_equal(len, 100000);
	assert_int_equal(big[99999], 'x');
	assert_int_equal(big[100000], '\0');
	free(big);
	db_release(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_bounds),
	    cmocka_unit_test(test_reconnect_after_kill),
	    cmocka_unit_test(test_kill_mid_statement),
	    cmocka_unit_test(test_kill_in_transaction),
	    cmocka_unit_test(test_error_breaks_transaction),
	    cmocka_unit_test(test_conflicts),
	    cmocka_unit_test(test_connect_errors),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
