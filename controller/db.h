/* SPDX-License-Identifier: MIT */
/*
 * The controller's database module: a bounded pool of MariaDB connections, the named
 * prepared statements of db_stmt.h, and transactions with one owner. db.c is the only
 * file that includes <mysql.h>; everything else sees these types.
 *
 * Errors are 0 or a negative errno, the same everywhere:
 *   -ENOENT    not found (record operations; also an unknown database)
 *   -EEXIST    duplicate key
 *   -EINVAL    a constraint (CHECK, foreign key, NOT NULL, JSON, length) refused the data,
 *              or a caller's mistake (wrong parameter count)
 *   -EAGAIN    deadlock: the server rolled the transaction back; run it again
 *   -EBUSY     lock wait timeout, or a lock (GET_LOCK) held elsewhere
 *   -ENOTCONN  the database is unreachable or the connection was lost; inside a
 *              transaction this means the transaction is gone (see db_tx_begin)
 *   -EACCES    access denied
 *   -ETIMEDOUT no pooled connection became free in time
 *   -EDEADLK   this thread already holds a connection of this pool
 *   -EOPNOTSUPP (db_exec_bulk) the server cannot run this statement as a bulk
 *   -EIO       anything else the server or the connector reported
 * The server's own message (never the password) is kept for the log: db_conn_error().
 *
 * Thread safety: a struct db is shared by all threads; a struct db_conn belongs to the
 * thread that acquired it until it is released, and must not be used by another.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dburl.h"
#include "db_stmt.h"

struct db;
struct db_conn;
struct db_row;

struct db_options {
	unsigned pool_size; /* at most this many connections; 0 means 8 */
};

struct db_error {
	int code;             /* what the call returned */
	unsigned server_code; /* MariaDB or Connector/C error number; 0 if ours */
	char sqlstate[6];     /* "" if none */
	char message[512];    /* for the log */
};

/*
 * Opens a pool for url (copied) and makes one connection, so that a wrong address or
 * password fails here, with err (optional) filled in. *ret is freed with db_close().
 */
int db_open(const struct db_url *url, const struct db_options *opts, struct db **ret,
            struct db_error *err);

/* Closes every connection and frees the pool. All connections must have been released.
 * NULL is fine; returns NULL. */
struct db *db_close(struct db *db);

/*
 * Takes a connection of the pool for the calling thread, waiting up to timeout_ms
 * (-1: forever) for one to be free; connects it if needed. One per thread at a time
 * (-EDEADLK otherwise). On failure err (optional) says why.
 */
int db_acquire(struct db *db, int timeout_ms, struct db_conn **ret, struct db_error *err);

/* Gives c back to its pool, rolling back a transaction left open. NULL is fine; returns
 * NULL. */
struct db_conn *db_release(struct db_conn *c);

/* The last error on c (code 0 if the last call succeeded). Valid until the next call. */
const struct db_error *db_conn_error(const struct db_conn *c);

/* The server's id for c's current session (what KILL takes); 0 when disconnected. */
uint64_t db_conn_server_id(const struct db_conn *c);

/*
 * Transactions. The connection's owner opens at most one at a time. If the connection is
 * lost or any statement fails inside it (deadlock, constraint, lost connection), the
 * transaction is broken: every later statement and db_tx_commit() return the error that
 * broke it, and nothing is replayed; only db_tx_rollback() clears it. A lost connection
 * is re-established by the first statement after the rollback.
 */
int db_tx_begin(struct db_conn *c);
int db_tx_commit(struct db_conn *c);
/* Always leaves c outside any transaction; returns 0, or the error the rollback met
 * (the server then rolls back on its own when it notices the dead session). */
int db_tx_rollback(struct db_conn *c);
bool db_tx_active(const struct db_conn *c);

/*
 * Runs fn(c, userdata) in a transaction of its own: commits if fn returns 0, rolls back
 * otherwise and returns fn's error. A deadlock (-EAGAIN) reruns the whole transaction, up
 * to 12 times, so fn must only act through c. c must not be in a transaction. -ENOTCONN
 * from the commit means the outcome is unknown.
 */
typedef int (*db_tx_fn)(struct db_conn *c, void *userdata);
int db_tx_run(struct db_conn *c, db_tx_fn fn, void *userdata);

/* Statement parameters, bound in order to the statement's '?'. */
enum db_type {
	DB_TYPE_NULL,
	DB_TYPE_INT,  /* int64_t */
	DB_TYPE_UINT, /* uint64_t */
	DB_TYPE_TEXT, /* UTF-8 bytes with a length (NUL allowed) */
	DB_TYPE_BLOB, /* binary bytes with a length */
	DB_TYPE_TIME, /* microseconds since 1970-01-01 UTC, as DATETIME(6) */
};

struct db_param {
	enum db_type type;
	union {
		int64_t i;
		uint64_t u;
		int64_t time_us;
		struct {
			const void *p;
			size_t len;
		} bytes;
	};
};

#define DB_NULL ((struct db_param){.type = DB_TYPE_NULL})
#define DB_INT(v) ((struct db_param){.type = DB_TYPE_INT, .i = (int64_t)(v)})
#define DB_UINT(v) ((struct db_param){.type = DB_TYPE_UINT, .u = (uint64_t)(v)})
#define DB_TEXTN(s, n) ((struct db_param){.type = DB_TYPE_TEXT, .bytes = {(s), (n)}})
#define DB_TEXT(s) DB_TEXTN((s), strlen(s))
#define DB_BLOB(s, n) ((struct db_param){.type = DB_TYPE_BLOB, .bytes = {(s), (n)}})
#define DB_TIME(us) ((struct db_param){.type = DB_TYPE_TIME, .time_us = (int64_t)(us)})

/*
 * Runs statement id with params. ret_affected and ret_insert_id are optional. Outside a
 * transaction, a connection found dead before the statement is sent is re-established
 * and the statement sent once more; a statement that may have reached the server is
 * only sent again if the table marks it read-only.
 */
int db_exec(struct db_conn *c, enum db_stmt_id id, const struct db_param *params, size_t n_params,
            uint64_t *ret_affected, uint64_t *ret_insert_id);

/*
 * Runs statement id once for each of n_rows parameter sets, in one round trip (MariaDB
 * array binding: STMT_ATTR_ARRAY_SIZE, column-wise). params is row-major, n_rows rows of
 * n_params (1..64). Column k must have the same type in every row, or be NULL in some rows
 * (STMT_INDICATOR_NULL); otherwise -EINVAL and nothing is sent. n_rows == 0: nothing sent,
 * affected 0. Errors, reconnecting and resending as db_exec, and:
 *   - an error in any row fails the statement as a whole: the server undoes every row of
 *     it (also inside a transaction, which is then broken as after any error);
 *   - -EOPNOTSUPP: the server runs no statement of this kind as a bulk (INSERT ... SELECT
 *     on MariaDB 10.11, whatever n_rows); nothing ran and a transaction goes on, so the
 *     caller can run the rows one by one with db_exec.
 * ret_affected (may be NULL): the sum over the rows of what db_exec would report (an
 * UPDATE's matched rows; a row that matches nothing adds 0), except that for an UPDATE
 * of a table with triggers MariaDB 10.11 adds every row the triggers wrote: there it is
 * only an upper bound (0 still means that no row matched). No insert id. The request
 * carries every row: keep it well under the server's max_allowed_packet.
 */
int db_exec_bulk(struct db_conn *c, enum db_stmt_id id, const struct db_param *params,
                 size_t n_params, size_t n_rows, uint64_t *ret_affected);

/*
 * Runs a query and calls fn for every row, in order; fn returns 0 to go on, 1 to stop
 * early, or a negative errno that db_query returns. fn must not use c. ret_rows
 * (optional) counts the rows fn saw.
 */
typedef int (*db_row_fn)(const struct db_row *row, void *userdata);
int db_query(struct db_conn *c, enum db_stmt_id id, const struct db_param *params, size_t n_params,
             db_row_fn fn, void *userdata, uint64_t *ret_rows);

/* Row accessors, valid inside the callback. Column indexes start at 0. A NULL value
 * gives -ENODATA; a value of the wrong kind or out of range gives -ERANGE. */
unsigned db_row_columns(const struct db_row *row);
bool db_row_is_null(const struct db_row *row, unsigned col);
int db_row_int(const struct db_row *row, unsigned col, int64_t *ret);
int db_row_uint(const struct db_row *row, unsigned col, uint64_t *ret);
/* Text or binary; *ret points into the row (NUL-terminated for convenience). */
int db_row_bytes(const struct db_row *row, unsigned col, const char **ret, size_t *ret_len);
/* DATETIME/TIMESTAMP as microseconds since 1970-01-01 UTC. */
int db_row_time(const struct db_row *row, unsigned col, int64_t *ret);

/*
 * One-off prepared statements of SQL compiled into the program that is not one of the
 * service's statements: the migrations' steps and the tests' probes. Same parameters,
 * rows, errors and reconnect rules as db_exec()/db_query() (never resent once it may have
 * reached the server). Never build sql from outside input: values go in params.
 */
int db_exec_sql(struct db_conn *c, const char *sql, size_t len, const struct db_param *params,
                size_t n_params, uint64_t *ret_affected, uint64_t *ret_insert_id);
int db_query_sql(struct db_conn *c, const char *sql, size_t len, const struct db_param *params,
                 size_t n_params, db_row_fn fn, void *userdata, uint64_t *ret_rows);

/* Current time on the client, in the representation of DB_TIME. */
int64_t db_now_us(void);
