// SPDX-License-Identifier: MIT
/*
 * The one boundary to MariaDB (Connector/C). Connections are pooled; each caches its
 * prepared statements, which a reconnect throws away (the server forgets them with the
 * session). Connector/C's own reconnect stays off: it would silently drop a transaction
 * and the statements' handles, so the reconnect happens here, where we know whether a
 * transaction was open and whether a statement may already have reached the server.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "wgfleet/macro.h"
#include "db.h"

#define DB_POOL_DEFAULT 8
#define DB_POOL_MAX 1024
#define DB_MAX_PARAMS 64
#define DB_COL_BUF_INITIAL 256
#define DB_CONNECT_TIMEOUT_DEFAULT_S 10

/*
 * Every session: UTC, so DATETIME values mean the same thing to every controller; strict
 * mode, so a value that does not fit is an error and never silently truncated.
 */
#define DB_SESSION_INIT                                                                            \
	"SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"    \
	"ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"

enum tx_state {
	TX_NONE,
	TX_OPEN,
	TX_BROKEN, /* an error ended it; only a rollback is accepted */
};

struct db_conn {
	struct db *db;
	MYSQL *mysql; /* NULL while disconnected */
	bool dead;    /* the connection was lost: reconnect before the next statement */
	MYSQL_STMT *stmts[DB_STMT__COUNT];
	bool in_use;
	pthread_t owner;
	enum tx_state tx;
	struct db_error tx_err; /* what broke the transaction */
	struct db_error err;
};

struct db {
	struct db_url *url;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned size;
	struct db_conn *conns;
};

/*
 * mysql_library_init is not thread-safe and mysql_library_end is needed for a clean exit
 * (LeakSanitizer): the first pool opened initialises the library, the last one closed
 * ends it.
 */
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned lib_users;

static int lib_get(void)
{
	int r = 0;

	pthread_mutex_lock(&lib_lock);
	if (lib_users == 0 && mysql_library_init(0, NULL, NULL))
		r = -EIO;
	else
		lib_users++;
	pthread_mutex_unlock(&lib_lock);
	return r;
}

static void lib_put(void)
{
	pthread_mutex_lock(&lib_lock);
	if (--lib_users == 0)
		mysql_library_end();
	pthread_mutex_unlock(&lib_lock);
}

/* ---- errors ---- */

static bool is_connection_error(unsigned e)
{
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_COMMANDS_OUT_OF_SYNC:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case ER_CON_COUNT_ERROR:
	case ER_NET_READ_ERROR:
		return true;
	default:
		return e >= 2000 && e < 2100 && e != CR_OUT_OF_MEMORY;
	}
}

static int map_error(unsigned e)
{
	if (is_connection_error(e))
		return -ENOTCONN;
	switch (e) {
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
	case ER_DUP_KEY:
	case ER_DUP_UNIQUE:
		return -EEXIST;
	case ER_LOCK_DEADLOCK:
		return -EAGAIN;
	case ER_LOCK_WAIT_TIMEOUT:
		return -EBUSY;
	case ER_CONSTRAINT_FAILED:
	case ER_NO_REFERENCED_ROW:
	case ER_NO_REFERENCED_ROW_2:
	case ER_ROW_IS_REFERENCED:
	case ER_ROW_IS_REFERENCED_2:
	case ER_BAD_NULL_ERROR:
	case ER_DATA_TOO_LONG:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case ER_DATA_OUT_OF_RANGE: /* BIGINT UNSIGNED arithmetic: a counter would wrap */
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case WARN_DATA_TRUNCATED:
	case ER_TRUNCATED_WRONG_VALUE:
	case ER_NO_DEFAULT_FOR_FIELD:
	case ER_DIVISION_BY_ZERO:
	case ER_INVALID_CHARACTER_STRING:
	case ER_WRONG_VALUE:
	case ER_WRONG_VALUE_FOR_TYPE:
	case ER_ILLEGAL_VALUE_FOR_TYPE:
		return -EINVAL;
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
		return -EACCES;
	case ER_BAD_DB_ERROR:
		return -ENOENT;
	case ER_STATEMENT_TIMEOUT:
		return -ETIMEDOUT;
	case CR_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void error_setv(struct db_error *e, int code, unsigned server_code, const char *sqlstate,
                       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void error_setv(struct db_error *e, int code, unsigned server_code, const char *sqlstate,
                       const char *fmt, va_list ap)
{
	e->code = code;
	e->server_code = server_code;
	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate ? sqlstate : "");
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

static void error_set(struct db_error *e, int code, unsigned server_code, const char *sqlstate,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void error_set(struct db_error *e, int code, unsigned server_code, const char *sqlstate,
                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_setv(e, code, server_code, sqlstate, fmt, ap);
	va_end(ap);
}

static void error_clear(struct db_error *e)
{
	e->code = 0;
	e->server_code = 0;
	e->sqlstate[0] = '\0';
	e->message[0] = '\0';
}

/*
 * Records what happened on c and what it means for the connection and the transaction.
 * Returns code.
 */
static int conn_failed(struct db_conn *c, int code, unsigned server_code, const char *sqlstate,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int conn_failed(struct db_conn *c, int code, unsigned server_code, const char *sqlstate,
                       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_setv(&c->err, code, server_code, sqlstate, fmt, ap);
	va_end(ap);
	if (server_code && is_connection_error(server_code))
		c->dead = true;
	/*
	 * After an error MariaDB rolls back the statement (a deadlock: the whole transaction)
	 * and carries on; a caller that then committed would commit half its work. So any
	 * error ends the transaction for us.
	 */
	if (c->tx == TX_OPEN) {
		c->tx = TX_BROKEN;
		c->tx_err = c->err;
	}
	return code;
}

/* The caller's mistake, found before anything was sent: reported, but it neither ends
 * the transaction nor says anything about the connection. */
static int conn_misuse(struct db_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int conn_misuse(struct db_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_setv(&c->err, -EINVAL, 0, NULL, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int stmt_failed(struct db_conn *c, MYSQL_STMT *s, const char *what)
{
	unsigned e = mysql_stmt_errno(s);

	if (!e) /* the connector failed before talking to the server */
		return conn_failed(c, -EIO, mysql_errno(c->mysql), NULL, "%s: %s", what,
		                   mysql_error(c->mysql));
	return conn_failed(c, map_error(e), e, mysql_stmt_sqlstate(s), "%s: %s", what,
	                   mysql_stmt_error(s));
}

static int mysql_failed(struct db_conn *c, const char *what)
{
	unsigned e = mysql_errno(c->mysql);

	return conn_failed(c, e ? map_error(e) : -EIO, e, mysql_sqlstate(c->mysql), "%s: %s", what,
	                   e ? mysql_error(c->mysql) : "unknown client error");
}

/* ---- connections ---- */

static void conn_disconnect(struct db_conn *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(c->stmts); i++)
		if (c->stmts[i]) {
			mysql_stmt_close(c->stmts[i]);
			c->stmts[i] = NULL;
		}
	if (c->mysql)
		mysql_close(c->mysql);
	c->mysql = NULL;
	c->dead = false;
}

static int conn_connect(struct db_conn *c)
{
	const struct db_url *u = c->db->url;
	unsigned proto = u->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
	unsigned connect_timeout =
	    u->connect_timeout_s ? u->connect_timeout_s : DB_CONNECT_TIMEOUT_DEFAULT_S;
	unsigned no_local_infile = 0;
	my_bool off = 0, on = 1, verify = u->ssl_verify;
	MYSQL *m;

	m = mysql_init(NULL);
	if (!m)
		return conn_failed(c, -ENOMEM, 0, NULL, "connect: out of memory");
	/* utf8mb4 on the wire too: usernames carry 4-byte emoji. */
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_optionsv(m, MYSQL_INIT_COMMAND, DB_SESSION_INIT);
	mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &no_local_infile);
	mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	if (u->read_timeout_s)
		mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &u->read_timeout_s);
	if (u->write_timeout_s)
		mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &u->write_timeout_s);
	if (u->ssl) {
		/* Refuse to fall back to plain text if the server offers no TLS. */
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		if (u->ssl_ca)
			mysql_optionsv(m, MYSQL_OPT_SSL_CA, u->ssl_ca);
		if (u->ssl_capath)
			mysql_optionsv(m, MYSQL_OPT_SSL_CAPATH, u->ssl_capath);
		if (u->ssl_cert)
			mysql_optionsv(m, MYSQL_OPT_SSL_CERT, u->ssl_cert);
		if (u->ssl_key)
			mysql_optionsv(m, MYSQL_OPT_SSL_KEY, u->ssl_key);
	}
	/*
	 * CLIENT_FOUND_ROWS: an UPDATE reports the rows its WHERE matched, not only those it
	 * changed, so "0 rows" always means "the guard did not match".
	 */
	if (!mysql_real_connect(m, u->socket ? "localhost" : u->host, u->user, u->password,
	                        u->database, u->port, u->socket, CLIENT_FOUND_ROWS)) {
		unsigned e = mysql_errno(m);
		int code = e ? map_error(e) : -ENOTCONN;

		/* Any failure to connect means the database is unavailable, except these. */
		if (code != -EACCES && code != -ENOENT && code != -ENOMEM)
			code = -ENOTCONN;
		conn_failed(c, code, e, mysql_sqlstate(m), "connect: %s", mysql_error(m));
		mysql_close(m);
		return code;
	}
	/* Belt and braces: Connector/C 3.3 lets a server without TLS through even with
	 * MYSQL_OPT_SSL_ENFORCE (measured here), so check what was negotiated. */
	if (u->ssl && !mysql_get_ssl_cipher(m)) {
		conn_failed(c, -ENOTCONN, 0, NULL,
		            "connect: TLS required (ssl=1) but the server did not use it");
		mysql_close(m);
		return -ENOTCONN;
	}
	c->mysql = m;
	c->dead = false;
	return 0;
}

/*
 * True if the server has closed the connection (a KILL, a restart, an idle timeout).
 * Costs one poll(2), no round trip: a connection found dead here is re-established
 * before a statement is sent, so that statement cannot have been applied.
 */
static bool peer_closed(MYSQL *m)
{
	my_socket fd = mysql_get_socket(m);
	struct pollfd p = {.fd = (int)fd, .events = POLLIN | POLLRDHUP};

	if ((int)fd < 0)
		return true;
	if (poll(&p, 1, 0) <= 0)
		return false;
	/* Unread data alone (a TLS session ticket) is no sign of death. */
	return p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL);
}

/* Makes c ready for a statement: refuses inside a broken transaction, reconnects when
 * outside one. */
static int conn_ready(struct db_conn *c)
{
	if (c->tx == TX_BROKEN) {
		c->err = c->tx_err;
		return c->err.code;
	}
	if (c->mysql && !c->dead && !peer_closed(c->mysql))
		return 0;
	if (c->tx == TX_OPEN) {
		conn_disconnect(c);
		return conn_failed(c, -ENOTCONN, 0, NULL,
		                   "connection lost inside a transaction: the server rolled it "
		                   "back");
	}
	conn_disconnect(c);
	return conn_connect(c);
}

/* ---- statements ---- */

static int stmt_get(struct db_conn *c, enum db_stmt_id id, MYSQL_STMT **ret)
{
	const struct db_stmt_def *def = &db_stmts[id];
	MYSQL_STMT *s;
	int r;

	if (c->stmts[id]) {
		*ret = c->stmts[id];
		return 0;
	}
	s = mysql_stmt_init(c->mysql);
	if (!s)
		return mysql_failed(c, def->name);
	if (mysql_stmt_prepare(s, def->sql, strlen(def->sql))) {
		r = stmt_failed(c, s, def->name);
		mysql_stmt_close(s);
		return r;
	}
	c->stmts[id] = s;
	*ret = s;
	return 0;
}

static int time_from_us(int64_t us, MYSQL_TIME *t)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t tt;

	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	tt = (time_t)secs;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
		return -ERANGE;
	memset(t, 0, sizeof(*t));
	t->year = (unsigned)tm.tm_year + 1900;
	t->month = (unsigned)tm.tm_mon + 1;
	t->day = (unsigned)tm.tm_mday;
	t->hour = (unsigned)tm.tm_hour;
	t->minute = (unsigned)tm.tm_min;
	t->second = (unsigned)tm.tm_sec;
	t->second_part = (unsigned long)frac;
	t->time_type = MYSQL_TIMESTAMP_DATETIME;
	return 0;
}

static int64_t time_to_us(const MYSQL_TIME *t)
{
	struct tm tm = {
	    .tm_year = (int)t->year - 1900,
	    .tm_mon = (int)t->month - 1,
	    .tm_mday = (int)t->day,
	    .tm_hour = (int)t->hour,
	    .tm_min = (int)t->minute,
	    .tm_sec = (int)t->second,
	};

	return (int64_t)timegm(&tm) * 1000000 + (int64_t)t->second_part;
}

/* Binding space for one execution; lives on the caller's stack. */
struct params {
	MYSQL_BIND bind[DB_MAX_PARAMS];
	unsigned long len[DB_MAX_PARAMS];
	MYSQL_TIME time[DB_MAX_PARAMS];
};

static int bind_params(struct db_conn *c, MYSQL_STMT *s, const char *name, const struct db_param *p,
                       size_t n, struct params *b)
{
	if (mysql_stmt_param_count(s) != n || n > DB_MAX_PARAMS)
		return conn_misuse(c, "%s: takes %lu parameters, %zu given", name,
		                   mysql_stmt_param_count(s), n);
	memset(b->bind, 0, n * sizeof(b->bind[0]));
	for (size_t i = 0; i < n; i++) {
		MYSQL_BIND *x = &b->bind[i];

		switch (p[i].type) {
		case DB_TYPE_NULL:
			x->buffer_type = MYSQL_TYPE_NULL;
			break;
		case DB_TYPE_INT:
			x->buffer_type = MYSQL_TYPE_LONGLONG;
			x->buffer = (void *)&p[i].i;
			break;
		case DB_TYPE_UINT:
			x->buffer_type = MYSQL_TYPE_LONGLONG;
			x->buffer = (void *)&p[i].u;
			x->is_unsigned = 1;
			break;
		case DB_TYPE_TEXT:
		case DB_TYPE_BLOB:
			/* With an explicit length: a NUL is data, not the end. */
			x->buffer_type =
			    p[i].type == DB_TYPE_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
			x->buffer = (void *)(p[i].bytes.p ? p[i].bytes.p : "");
			b->len[i] = p[i].bytes.len;
			x->buffer_length = b->len[i];
			x->length = &b->len[i];
			break;
		case DB_TYPE_TIME:
			if (time_from_us(p[i].time_us, &b->time[i]) < 0)
				return conn_misuse(c, "%s: parameter %zu: time out of range", name,
				                   i + 1);
			x->buffer_type = MYSQL_TYPE_DATETIME;
			x->buffer = &b->time[i];
			break;
		default:
			return conn_misuse(c, "%s: parameter %zu: bad type", name, i + 1);
		}
	}
	if (n && mysql_stmt_bind_param(s, b->bind))
		return stmt_failed(c, s, name);
	return 0;
}

/*
 * Array binding (db_exec_bulk): every parameter is a column of rows values, sent in one
 * COM_STMT_BULK_EXECUTE. Connector/C reads a column of a fixed-size type (LONGLONG) as an
 * array of values, but one of a variable-size type as an array of pointers, one per row:
 * bytes, and also DATETIME (its pack_len is MYSQL_PS_SKIP_RESULT_W_LEN, not the size of a
 * MYSQL_TIME), so times are kept in one array and pointed at from another.
 */
struct bulk_col {
	void *values;       /* int64_t/uint64_t[rows], or MYSQL_TIME[rows] */
	const void **ptrs;  /* bytes and times: what MYSQL_BIND.buffer points at */
	unsigned long *len; /* bytes: the length of each row's value */
	char *ind;          /* STMT_INDICATOR_NONE/_NULL per row; NULL if no row is NULL */
};

struct bulk {
	MYSQL_BIND bind[DB_MAX_PARAMS];
	struct bulk_col col[DB_MAX_PARAMS];
	size_t n, rows;
};

static void bulk_free(struct bulk *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->col[i].values);
		free(b->col[i].ptrs);
		free(b->col[i].len);
		free(b->col[i].ind);
	}
	b->n = 0;
}

static enum enum_field_types bulk_field_type(enum db_type t)
{
	switch (t) {
	case DB_TYPE_INT:
	case DB_TYPE_UINT:
		return MYSQL_TYPE_LONGLONG;
	case DB_TYPE_TEXT:
		return MYSQL_TYPE_STRING;
	case DB_TYPE_BLOB:
		return MYSQL_TYPE_BLOB;
	case DB_TYPE_TIME:
		return MYSQL_TYPE_DATETIME;
	default:
		return MYSQL_TYPE_NULL;
	}
}

/*
 * The type of column i of rows sets of n params (row-major in p): the one type of its
 * values that are not NULL, DB_TYPE_NULL if all are; *ret_nulls: some are NULL.
 */
static int bulk_column_type(struct db_conn *c, const char *name, const struct db_param *p, size_t n,
                            size_t rows, size_t i, enum db_type *ret_type, bool *ret_nulls)
{
	enum db_type type = DB_TYPE_NULL;
	bool nulls = false;
	size_t first = 0;

	for (size_t j = 0; j < rows; j++) {
		enum db_type t = p[j * n + i].type;

		if (t == DB_TYPE_NULL) {
			nulls = true;
		} else if (bulk_field_type(t) == MYSQL_TYPE_NULL) {
			return conn_misuse(c, "%s: parameter %zu, row %zu: bad type", name, i + 1,
			                   j + 1);
		} else if (type == DB_TYPE_NULL) {
			type = t;
			first = j;
		} else if (t != type) {
			/* The wire has one type per column, for all rows. */
			return conn_misuse(c, "%s: parameter %zu: rows %zu and %zu differ in type",
			                   name, i + 1, first + 1, j + 1);
		}
	}
	*ret_type = type;
	*ret_nulls = nulls;
	return 0;
}

/* Column i of b, of that type, from rows sets of n params (row-major in p). */
static int bulk_column_fill(struct db_conn *c, const char *name, const struct db_param *p, size_t n,
                            size_t rows, size_t i, enum db_type type, bool nulls, struct bulk *b)
{
	MYSQL_BIND *x = &b->bind[i];
	struct bulk_col *col = &b->col[i];
	MYSQL_TIME *t;
	uint64_t *v;

	x->buffer_type = bulk_field_type(type);
	if (type == DB_TYPE_NULL)
		return 0; /* NULL in every row: the type alone says so, no arrays */
	if (nulls) {
		col->ind = calloc(rows, sizeof(col->ind[0]));
		if (!col->ind)
			return conn_failed(c, -ENOMEM, 0, NULL, "%s: out of memory", name);
		for (size_t j = 0; j < rows; j++)
			col->ind[j] = p[j * n + i].type == DB_TYPE_NULL ? STMT_INDICATOR_NULL
			                                                : STMT_INDICATOR_NONE;
		x->u.indicator = col->ind;
	}
	/* The rows that are NULL keep zeros: the connector skips them. */
	switch (type) {
	case DB_TYPE_INT:
	case DB_TYPE_UINT:
		col->values = v = calloc(rows, sizeof(*v));
		if (!v)
			break;
		for (size_t j = 0; j < rows; j++)
			if (p[j * n + i].type != DB_TYPE_NULL)
				v[j] = p[j * n + i].u; /* .i and .u share their 64 bits */
		x->buffer = v;
		x->is_unsigned = type == DB_TYPE_UINT;
		return 0;
	case DB_TYPE_TEXT:
	case DB_TYPE_BLOB:
		col->ptrs = calloc(rows, sizeof(col->ptrs[0]));
		col->len = calloc(rows, sizeof(col->len[0]));
		if (!col->ptrs || !col->len)
			break;
		for (size_t j = 0; j < rows; j++) {
			const struct db_param *y = &p[j * n + i];

			if (y->type == DB_TYPE_NULL)
				continue;
			/* With an explicit length: a NUL is data, not the end. */
			col->ptrs[j] = y->bytes.p ? y->bytes.p : "";
			col->len[j] = y->bytes.len;
		}
		x->buffer = col->ptrs;
		x->length = col->len;
		return 0;
	case DB_TYPE_TIME:
		col->values = t = calloc(rows, sizeof(*t));
		col->ptrs = calloc(rows, sizeof(col->ptrs[0]));
		if (!t || !col->ptrs)
			break;
		for (size_t j = 0; j < rows; j++) {
			if (p[j * n + i].type == DB_TYPE_NULL)
				continue;
			if (time_from_us(p[j * n + i].time_us, &t[j]) < 0)
				return conn_misuse(c,
				                   "%s: parameter %zu, row %zu: time out of range",
				                   name, i + 1, j + 1);
			col->ptrs[j] = &t[j];
		}
		x->buffer = col->ptrs;
		return 0;
	default:
		return conn_misuse(c, "%s: parameter %zu: bad type", name, i + 1);
	}
	return conn_failed(c, -ENOMEM, 0, NULL, "%s: out of memory", name);
}

/*
 * Fills b (which the caller frees with bulk_free, whatever this returns) with the columns
 * of rows sets of n params each, row-major in p. Nothing is sent: every error but -ENOMEM
 * is the caller's mistake.
 */
static int bulk_build(struct db_conn *c, const char *name, const struct db_param *p, size_t n,
                      size_t rows, struct bulk *b)
{
	memset(b->bind, 0, n * sizeof(b->bind[0]));
	memset(b->col, 0, n * sizeof(b->col[0]));
	b->n = n;
	b->rows = rows;
	for (size_t i = 0; i < n; i++) {
		enum db_type type = DB_TYPE_NULL;
		bool nulls = false;
		int r;

		r = bulk_column_type(c, name, p, n, rows, i, &type, &nulls);
		if (r == 0)
			r = bulk_column_fill(c, name, p, n, rows, i, type, nulls, b);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A bulk that failed. MariaDB 10.11 refuses array binding for some statements, INSERT ...
 * SELECT among them (ER_UNSUPPORTED_PS, before it runs any row), and a server without
 * bulk support is refused by the connector before anything is sent: neither ran anything,
 * so, like a misuse, they leave the transaction open, for a caller who then runs the rows
 * one by one. Everything else is any statement's error.
 */
static int bulk_failed(struct db_conn *c, MYSQL_STMT *s, const char *name)
{
	unsigned e = mysql_stmt_errno(s);

	if (e != ER_UNSUPPORTED_PS && e != CR_FUNCTION_NOT_SUPPORTED)
		return stmt_failed(c, s, name);
	error_set(&c->err, -EOPNOTSUPP, e, mysql_stmt_sqlstate(s), "%s: array binding: %s", name,
	          mysql_stmt_error(s));
	return -EOPNOTSUPP;
}

/* Binds b's columns to s and sets its array size; stmt_execute sets it back. */
static int bind_bulk(struct db_conn *c, MYSQL_STMT *s, const char *name, struct bulk *b)
{
	unsigned rows = (unsigned)b->rows;

	if (mysql_stmt_param_count(s) != b->n)
		return conn_misuse(c, "%s: takes %lu parameters, %zu given", name,
		                   mysql_stmt_param_count(s), b->n);
	if (mysql_stmt_bind_param(s, b->bind))
		return stmt_failed(c, s, name);
	/* Its only error is CR_NOT_IMPLEMENTED, which is_connection_error would take for a
	 * lost connection: report it as ours. */
	if (mysql_stmt_attr_set(s, STMT_ATTR_ARRAY_SIZE, &rows))
		return conn_failed(c, -EIO, 0, NULL, "%s: the connector refused array binding",
		                   name);
	return 0;
}

enum col_kind {
	COL_INT,
	COL_TIME,
	COL_BYTES,
};

struct db_col {
	enum col_kind kind;
	bool is_unsigned;
	int64_t i;
	MYSQL_TIME t;
	char *buf;
	size_t cap; /* bytes of buf; one is kept for the terminating NUL */
	unsigned long len;
	my_bool is_null;
	my_bool error;
};

struct db_row {
	struct db_col *cols;
	unsigned n;
};

static void cols_free(struct db_col *cols, unsigned n)
{
	if (!cols)
		return;
	for (unsigned i = 0; i < n; i++)
		free(cols[i].buf);
	free(cols);
}

static void col_bind(struct db_col *col, MYSQL_BIND *b)
{
	memset(b, 0, sizeof(*b));
	b->is_null = &col->is_null;
	b->error = &col->error;
	switch (col->kind) {
	case COL_INT:
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &col->i;
		b->is_unsigned = col->is_unsigned;
		break;
	case COL_TIME:
		b->buffer_type = MYSQL_TYPE_DATETIME;
		b->buffer = &col->t;
		break;
	case COL_BYTES:
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = col->buf;
		b->buffer_length = col->cap - 1;
		b->length = &col->len;
		break;
	}
}

/*
 * Fetches every row of the executed statement s, calling fn for each. Columns of integer
 * types arrive as integers, dates as MYSQL_TIME, everything else (text, JSON, binary,
 * DECIMAL) as bytes, grown to fit.
 */
static int fetch_rows(struct db_conn *c, MYSQL_STMT *s, const char *name, db_row_fn fn,
                      void *userdata, uint64_t *ret_rows)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(s);
	struct db_col *cols = NULL;
	MYSQL_BIND *binds = NULL;
	MYSQL_FIELD *fields;
	uint64_t rows = 0;
	bool stopped = false;
	unsigned n = 0;
	int r;

	if (!meta) {
		if (mysql_stmt_errno(s)) {
			r = stmt_failed(c, s, name);
			goto out;
		}
		r = 0; /* no result set */
		goto out;
	}
	n = mysql_num_fields(meta);
	fields = mysql_fetch_fields(meta);
	cols = calloc(n ? n : 1, sizeof(*cols));
	binds = calloc(n ? n : 1, sizeof(*binds));
	if (!cols || !binds) {
		r = conn_failed(c, -ENOMEM, 0, NULL, "%s: out of memory", name);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		switch (fields[i].type) {
		case MYSQL_TYPE_TINY:
		case MYSQL_TYPE_SHORT:
		case MYSQL_TYPE_INT24:
		case MYSQL_TYPE_LONG:
		case MYSQL_TYPE_LONGLONG:
		case MYSQL_TYPE_YEAR:
			cols[i].kind = COL_INT;
			cols[i].is_unsigned = fields[i].flags & UNSIGNED_FLAG;
			break;
		case MYSQL_TYPE_DATE:
		case MYSQL_TYPE_DATETIME:
		case MYSQL_TYPE_TIMESTAMP:
			cols[i].kind = COL_TIME;
			break;
		default:
			cols[i].kind = COL_BYTES;
			cols[i].cap = DB_COL_BUF_INITIAL;
			cols[i].buf = malloc(cols[i].cap);
			if (!cols[i].buf) {
				r = conn_failed(c, -ENOMEM, 0, NULL, "%s: out of memory", name);
				goto out;
			}
			break;
		}
		col_bind(&cols[i], &binds[i]);
	}
	if (mysql_stmt_bind_result(s, binds)) {
		r = stmt_failed(c, s, name);
		goto out;
	}
	for (;;) {
		int f = mysql_stmt_fetch(s);
		bool rebind = false;

		if (f == MYSQL_NO_DATA)
			break;
		if (f == 1) {
			r = stmt_failed(c, s, name);
			goto out;
		}
		for (unsigned i = 0; i < n; i++) {
			struct db_col *col = &cols[i];

			if (col->kind != COL_BYTES || col->is_null)
				continue;
			if (col->len + 1 > col->cap) {
				/* Truncated: grow and fetch this column again. */
				size_t cap = col->len + 1;
				char *nb = realloc(col->buf, cap);

				if (!nb) {
					r = conn_failed(c, -ENOMEM, 0, NULL, "%s: out of memory",
					                name);
					goto out;
				}
				col->buf = nb;
				col->cap = cap;
				col_bind(col, &binds[i]);
				if (mysql_stmt_fetch_column(s, &binds[i], i, 0)) {
					r = stmt_failed(c, s, name);
					goto out;
				}
				rebind = true;
			}
			col->buf[col->len] = '\0';
		}
		if (rebind && mysql_stmt_bind_result(s, binds)) {
			r = stmt_failed(c, s, name);
			goto out;
		}
		if (f == MYSQL_DATA_TRUNCATED && !rebind) {
			/* Only byte columns are grown; anything else truncated is a bug. */
			r = conn_failed(c, -EIO, 0, NULL, "%s: a value did not fit its type", name);
			goto out;
		}
		if (stopped || !fn)
			continue; /* drain the rest: the connection must be left in sync */
		struct db_row row = {cols, n};
		r = fn(&row, userdata);
		if (r < 0) {
			conn_failed(c, r, 0, NULL, "%s: row handler failed", name);
			/* drain, then fail */
			while ((f = mysql_stmt_fetch(s)) == 0 || f == MYSQL_DATA_TRUNCATED)
				;
			goto out;
		}
		rows++;
		if (r > 0)
			stopped = true;
	}
	if (ret_rows)
		*ret_rows = rows;
	r = 0;
out:
	mysql_stmt_free_result(s);
	if (meta)
		mysql_free_result(meta);
	cols_free(cols, n);
	free(binds);
	return r;
}

/*
 * Binds and executes s, with params (n of them), or with bulk's columns if bulk is not
 * NULL; *ret_sent tells whether the request may have reached the server (false only when
 * the connector failed to send it: CR_SERVER_GONE_ERROR).
 */
static int stmt_execute(struct db_conn *c, MYSQL_STMT *s, const char *name,
                        const struct db_param *params, size_t n, struct bulk *bulk, bool *ret_sent)
{
	static const unsigned no_array = 0;
	struct params b;
	int r;

	*ret_sent = false;
	r = bulk ? bind_bulk(c, s, name, bulk) : bind_params(c, s, name, params, n, &b);
	if (r < 0)
		goto out;
	if (mysql_stmt_execute(s)) {
		*ret_sent = mysql_stmt_errno(s) != CR_SERVER_GONE_ERROR;
		r = bulk ? bulk_failed(c, s, name) : stmt_failed(c, s, name);
		goto out;
	}
	*ret_sent = true;
	r = 0;
out:
	/*
	 * The statement stays cached: the next db_exec on it must go out as a plain
	 * COM_STMT_EXECUTE, not as a bulk of the rows' worth of the arrays we free now.
	 */
	if (bulk)
		mysql_stmt_attr_set(s, STMT_ATTR_ARRAY_SIZE, &no_array);
	return r;
}

/* A statement to run: one of the table, or an ad-hoc one (prepared, run, closed). */
struct stmt_ref {
	int id; /* enum db_stmt_id, or -1 for ad-hoc */
	const char *name;
	const char *sql;
	size_t len;
	unsigned flags;
};

static int stmt_prepare_adhoc(struct db_conn *c, const struct stmt_ref *ref, MYSQL_STMT **ret)
{
	MYSQL_STMT *s = mysql_stmt_init(c->mysql);
	int r;

	if (!s)
		return mysql_failed(c, ref->name);
	if (mysql_stmt_prepare(s, ref->sql, ref->len)) {
		r = stmt_failed(c, s, ref->name);
		mysql_stmt_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* params and n, or bulk if not NULL, as for stmt_execute. */
static int run(struct db_conn *c, const struct stmt_ref *ref, const struct db_param *params,
               size_t n, struct bulk *bulk, db_row_fn fn, void *userdata, uint64_t *ret_rows,
               uint64_t *ret_affected, uint64_t *ret_insert_id)
{
	MYSQL_STMT *s = NULL;
	bool sent = false;
	int r;

	for (int attempt = 0;; attempt++) {
		error_clear(&c->err);
		r = conn_ready(c);
		if (r < 0)
			return r;
		if (ref->id >= 0)
			r = stmt_get(c, (enum db_stmt_id)ref->id, &s);
		else
			r = stmt_prepare_adhoc(c, ref, &s);
		if (r == 0)
			r = stmt_execute(c, s, ref->name, params, n, bulk, &sent);
		/*
		 * Send once more on a fresh connection only what cannot be applied twice: a
		 * statement that never left (or a prepare), or a read. Inside a transaction
		 * nothing is resent: the transaction died with the connection.
		 */
		if (r == -ENOTCONN && c->dead && attempt == 0 && c->tx == TX_NONE &&
		    (!sent || (ref->flags & DB_STMT_RETRY_SAFE))) {
			if (ref->id < 0 && s)
				mysql_stmt_close(s);
			s = NULL;
			continue;
		}
		break;
	}
	if (r < 0)
		goto out;
	if (ret_affected)
		*ret_affected = mysql_stmt_affected_rows(s);
	if (ret_insert_id)
		*ret_insert_id = mysql_stmt_insert_id(s);
	r = fetch_rows(c, s, ref->name, fn, userdata, ret_rows);
out:
	if (ref->id < 0 && s)
		mysql_stmt_close(s);
	return r;
}

static int table_ref(enum db_stmt_id id, struct stmt_ref *ref)
{
	if ((unsigned)id >= DB_STMT__COUNT)
		return -EINVAL;
	*ref = (struct stmt_ref){(int)id, db_stmts[id].name, db_stmts[id].sql,
	                         strlen(db_stmts[id].sql), db_stmts[id].flags};
	return 0;
}

int db_exec(struct db_conn *c, enum db_stmt_id id, const struct db_param *params, size_t n_params,
            uint64_t *ret_affected, uint64_t *ret_insert_id)
{
	uint64_t affected, insert_id;
	struct stmt_ref ref;
	int r;

	r = table_ref(id, &ref);
	if (r < 0)
		return conn_misuse(c, "no statement %d", (int)id);
	r = run(c, &ref, params, n_params, NULL, NULL, NULL, NULL, &affected, &insert_id);
	if (r < 0)
		return r;
	if (ret_affected)
		*ret_affected = affected;
	if (ret_insert_id)
		*ret_insert_id = insert_id;
	return 0;
}

int db_exec_bulk(struct db_conn *c, enum db_stmt_id id, const struct db_param *params,
                 size_t n_params, size_t n_rows, uint64_t *ret_affected)
{
	struct bulk b = {.n = 0};
	struct stmt_ref ref;
	uint64_t affected;
	int r;

	r = table_ref(id, &ref);
	if (r < 0)
		return conn_misuse(c, "no statement %d", (int)id);
	if (n_rows == 0) {
		/* Nothing to send, but a broken transaction still answers as db_exec would. */
		if (c->tx == TX_BROKEN) {
			c->err = c->tx_err;
			return c->err.code;
		}
		error_clear(&c->err);
		if (ret_affected)
			*ret_affected = 0;
		return 0;
	}
	/* The protocol has no bulk without parameters (CR_BULK_WITHOUT_PARAMETERS), and the
	 * connector counts rows in an unsigned int. */
	if (n_params == 0 || n_params > DB_MAX_PARAMS || n_rows > UINT_MAX)
		return conn_misuse(c, "%s: %zu parameters in %zu rows: not for array binding",
		                   ref.name, n_params, n_rows);
	r = bulk_build(c, ref.name, params, n_params, n_rows, &b);
	if (r < 0)
		goto out;
	r = run(c, &ref, NULL, 0, &b, NULL, NULL, NULL, &affected, NULL);
	if (r < 0)
		goto out;
	if (ret_affected)
		*ret_affected = affected;
out:
	bulk_free(&b);
	return r;
}

int db_query(struct db_conn *c, enum db_stmt_id id, const struct db_param *params, size_t n_params,
             db_row_fn fn, void *userdata, uint64_t *ret_rows)
{
	struct stmt_ref ref;
	uint64_t rows = 0;
	int r;

	r = table_ref(id, &ref);
	if (r < 0)
		return conn_misuse(c, "no statement %d", (int)id);
	r = run(c, &ref, params, n_params, NULL, fn, userdata, &rows, NULL, NULL);
	if (r < 0)
		return r;
	if (ret_rows)
		*ret_rows = rows;
	return 0;
}

int db_exec_sql(struct db_conn *c, const char *sql, size_t len, const struct db_param *params,
                size_t n_params, uint64_t *ret_affected, uint64_t *ret_insert_id)
{
	const struct stmt_ref ref = {-1, "ad-hoc statement", sql, len, 0};
	uint64_t affected, insert_id;
	int r;

	r = run(c, &ref, params, n_params, NULL, NULL, NULL, NULL, &affected, &insert_id);
	if (r < 0)
		return r;
	if (ret_affected)
		*ret_affected = affected;
	if (ret_insert_id)
		*ret_insert_id = insert_id;
	return 0;
}

int db_query_sql(struct db_conn *c, const char *sql, size_t len, const struct db_param *params,
                 size_t n_params, db_row_fn fn, void *userdata, uint64_t *ret_rows)
{
	const struct stmt_ref ref = {-1, "ad-hoc query", sql, len, 0};
	uint64_t rows = 0;
	int r;

	r = run(c, &ref, params, n_params, NULL, fn, userdata, &rows, NULL, NULL);
	if (r < 0)
		return r;
	if (ret_rows)
		*ret_rows = rows;
	return 0;
}

/* ---- row accessors ---- */

static const struct db_col *row_col(const struct db_row *row, unsigned col)
{
	return col < row->n ? &row->cols[col] : NULL;
}

unsigned db_row_columns(const struct db_row *row)
{
	return row->n;
}

bool db_row_is_null(const struct db_row *row, unsigned col)
{
	const struct db_col *x = row_col(row, col);

	return !x || x->is_null;
}

/* Integers that arrive as text: DECIMAL results of SUM(), for instance. */
static int parse_int_text(const struct db_col *x, bool is_unsigned, uint64_t *ret_u, int64_t *ret_i)
{
	char *end;

	if (!x->len || x->len != strlen(x->buf))
		return -ERANGE;
	errno = 0;
	if (is_unsigned) {
		if (x->buf[0] == '-')
			return -ERANGE;
		unsigned long long v = strtoull(x->buf, &end, 10);
		if (errno || *end)
			return -ERANGE;
		*ret_u = v;
	} else {
		long long v = strtoll(x->buf, &end, 10);
		if (errno || *end)
			return -ERANGE;
		*ret_i = v;
	}
	return 0;
}

int db_row_int(const struct db_row *row, unsigned col, int64_t *ret)
{
	const struct db_col *x = row_col(row, col);
	int64_t v;

	if (!x)
		return -ERANGE;
	if (x->is_null)
		return -ENODATA;
	if (x->kind == COL_INT) {
		if (x->is_unsigned && (uint64_t)x->i > INT64_MAX)
			return -ERANGE;
		v = x->i;
	} else if (x->kind != COL_BYTES || parse_int_text(x, false, NULL, &v) < 0) {
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

int db_row_uint(const struct db_row *row, unsigned col, uint64_t *ret)
{
	const struct db_col *x = row_col(row, col);
	uint64_t v;

	if (!x)
		return -ERANGE;
	if (x->is_null)
		return -ENODATA;
	if (x->kind == COL_INT) {
		if (!x->is_unsigned && x->i < 0)
			return -ERANGE;
		v = (uint64_t)x->i;
	} else if (x->kind != COL_BYTES || parse_int_text(x, true, &v, NULL) < 0) {
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

int db_row_bytes(const struct db_row *row, unsigned col, const char **ret, size_t *ret_len)
{
	const struct db_col *x = row_col(row, col);

	if (!x || x->kind != COL_BYTES)
		return -ERANGE;
	if (x->is_null)
		return -ENODATA;
	*ret = x->buf;
	if (ret_len)
		*ret_len = x->len;
	return 0;
}

int db_row_time(const struct db_row *row, unsigned col, int64_t *ret)
{
	const struct db_col *x = row_col(row, col);

	if (!x || x->kind != COL_TIME)
		return -ERANGE;
	if (x->is_null)
		return -ENODATA;
	*ret = time_to_us(&x->t);
	return 0;
}

/* ---- transactions ---- */

int db_tx_begin(struct db_conn *c)
{
	int r;

	if (c->tx != TX_NONE)
		return conn_misuse(c, "tx_begin: a transaction is already open");
	r = db_exec(c, DB_STMT_TX_BEGIN, NULL, 0, NULL, NULL);
	if (r < 0)
		return r;
	c->tx = TX_OPEN;
	return 0;
}

int db_tx_commit(struct db_conn *c)
{
	int r;

	if (c->tx == TX_NONE)
		return conn_misuse(c, "tx_commit: no transaction is open");
	/* A broken transaction answers with what broke it (conn_ready). A commit whose
	 * answer is lost (-ENOTCONN) may or may not have happened; it stays broken. */
	r = db_exec(c, DB_STMT_TX_COMMIT, NULL, 0, NULL, NULL);
	if (r < 0)
		return r;
	c->tx = TX_NONE;
	return 0;
}

int db_tx_rollback(struct db_conn *c)
{
	MYSQL_STMT *s = NULL;
	bool sent;
	int r = 0;

	if (c->tx == TX_NONE)
		return 0;
	c->tx = TX_NONE;
	error_clear(&c->err);
	/* On a dead connection the server has already rolled back: nothing to send. */
	if (!c->mysql || c->dead || peer_closed(c->mysql)) {
		c->dead = c->mysql != NULL;
		return 0;
	}
	r = stmt_get(c, DB_STMT_TX_ROLLBACK, &s);
	if (r == 0)
		r = stmt_execute(c, s, db_stmts[DB_STMT_TX_ROLLBACK].name, NULL, 0, NULL, &sent);
	return r;
}

bool db_tx_active(const struct db_conn *c)
{
	return c->tx != TX_NONE;
}

/* Reruns are always safe (fn acts only through c) and a deadlock victim has let go of its
 * locks, so the budget is generous: transactions that take many status-counter rows (a
 * batch of configs, provisioner.c) meet each other now and then in opposite orders. */
#define DB_TX_DEADLOCK_TRIES 12

int db_tx_run(struct db_conn *c, db_tx_fn fn, void *userdata)
{
	int r = -EAGAIN;

	if (c->tx != TX_NONE)
		return conn_misuse(c, "tx_run: a transaction is already open");
	for (int attempt = 0; attempt < DB_TX_DEADLOCK_TRIES && r == -EAGAIN; attempt++) {
		r = db_tx_begin(c);
		if (r < 0)
			return r;
		r = fn(c, userdata);
		if (r == 0)
			r = db_tx_commit(c);
		if (r < 0) {
			/* Keep fn's error for the caller, not the rollback's. */
			struct db_error e = c->err;

			db_tx_rollback(c);
			c->err = e;
		}
	}
	return r;
}

/* ---- the pool ---- */

const struct db_error *db_conn_error(const struct db_conn *c)
{
	return &c->err;
}

uint64_t db_conn_server_id(const struct db_conn *c)
{
	return c->mysql ? mysql_thread_id(c->mysql) : 0;
}

static void deadline_after(int timeout_ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int db_acquire(struct db *db, int timeout_ms, struct db_conn **ret, struct db_error *err)
{
	pthread_t self = pthread_self();
	struct db_conn *c = NULL;
	struct timespec deadline;
	int r;

	if (timeout_ms > 0)
		deadline_after(timeout_ms, &deadline);
	pthread_mutex_lock(&db->lock);
	for (;;) {
		for (unsigned i = 0; i < db->size; i++) {
			struct db_conn *x = &db->conns[i];

			if (x->in_use && pthread_equal(x->owner, self)) {
				pthread_mutex_unlock(&db->lock);
				if (err)
					error_set(err, -EDEADLK, 0, NULL,
					          "this thread already holds a connection");
				return -EDEADLK;
			}
			/* An open connection beats an empty slot. */
			if (!x->in_use && (!c || (!c->mysql && x->mysql)))
				c = x;
		}
		if (c)
			break;
		if (timeout_ms == 0)
			r = ETIMEDOUT;
		else if (timeout_ms < 0)
			r = pthread_cond_wait(&db->freed, &db->lock);
		else
			r = pthread_cond_timedwait(&db->freed, &db->lock, &deadline);
		if (r == ETIMEDOUT) {
			pthread_mutex_unlock(&db->lock);
			if (err)
				error_set(err, -ETIMEDOUT, 0, NULL,
				          "no database connection free after %d ms (pool of %u)",
				          timeout_ms, db->size);
			return -ETIMEDOUT;
		}
	}
	c->in_use = true;
	c->owner = self;
	pthread_mutex_unlock(&db->lock);

	error_clear(&c->err);
	if (!c->mysql || c->dead) {
		conn_disconnect(c);
		r = conn_connect(c);
		if (r < 0) {
			if (err)
				*err = c->err;
			db_release(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

struct db_conn *db_release(struct db_conn *c)
{
	struct db *db;

	if (!c)
		return NULL;
	db = c->db;
	if (c->tx != TX_NONE)
		db_tx_rollback(c);
	if (c->dead)
		conn_disconnect(c);
	pthread_mutex_lock(&db->lock);
	c->in_use = false;
	pthread_cond_signal(&db->freed);
	pthread_mutex_unlock(&db->lock);
	return NULL;
}

int db_open(const struct db_url *url, const struct db_options *opts, struct db **ret,
            struct db_error *err)
{
	unsigned size = opts && opts->pool_size ? opts->pool_size : DB_POOL_DEFAULT;
	pthread_condattr_t ca;
	struct db_conn *c;
	struct db *db;
	int r;

	if (size > DB_POOL_MAX) {
		if (err)
			error_set(err, -EINVAL, 0, NULL, "pool size %u exceeds %u", size,
			          DB_POOL_MAX);
		return -EINVAL;
	}
	r = lib_get();
	if (r < 0) {
		if (err)
			error_set(err, r, 0, NULL, "cannot initialise the MariaDB client library");
		return r;
	}
	db = calloc(1, sizeof(*db));
	if (!db) {
		lib_put();
		return -ENOMEM;
	}
	db->size = size;
	db->conns = calloc(size, sizeof(*db->conns));
	if (!db->conns || db_url_dup(url, &db->url) < 0) {
		free(db->conns);
		free(db);
		lib_put();
		return -ENOMEM;
	}
	for (unsigned i = 0; i < size; i++)
		db->conns[i].db = db;
	pthread_mutex_init(&db->lock, NULL);
	/* Timeouts are durations: a wall-clock jump must not stretch or cut them. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->freed, &ca);
	pthread_condattr_destroy(&ca);

	/* One connection now, so that a bad address or password fails at start-up. */
	r = db_acquire(db, -1, &c, err);
	if (r < 0) {
		db_close(db);
		return r;
	}
	db_release(c);
	*ret = db;
	return 0;
}

struct db *db_close(struct db *db)
{
	if (!db)
		return NULL;
	for (unsigned i = 0; i < db->size; i++)
		conn_disconnect(&db->conns[i]);
	free(db->conns);
	pthread_cond_destroy(&db->freed);
	pthread_mutex_destroy(&db->lock);
	db_url_free(db->url);
	free(db);
	lib_put();
	return NULL;
}

int64_t db_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
