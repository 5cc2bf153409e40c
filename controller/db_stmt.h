/* SPDX-License-Identifier: MIT */
/*
 * Every SQL statement the controller runs, by name. One statement, one purpose: the text
 * lives in the table of db_stmt.c, prepared once per connection (and again after a
 * reconnect) by db.c.
 */
#pragma once

#include <stdbool.h>

enum db_stmt_id {
	/* transactions */
	DB_STMT_TX_BEGIN,
	DB_STMT_TX_COMMIT,
	DB_STMT_TX_ROLLBACK,

	/* migrations (migrate.c) */
	DB_STMT_MIGRATE_LOCK,
	DB_STMT_MIGRATE_UNLOCK,
	DB_STMT_MIGRATIONS_TABLE_EXISTS,
	DB_STMT_MIGRATIONS_CREATE_TABLE,
	DB_STMT_MIGRATIONS_LIST,
	DB_STMT_MIGRATION_START,
	DB_STMT_MIGRATION_FINISH,
	DB_STMT_MIGRATION_FORGET,

	/* users and roles (db_user.c) */
	DB_STMT_USER_UPSERT,
	DB_STMT_USER_GET,
	DB_STMT_USER_GET_BY_TELEGRAM,
	DB_STMT_USER_SET_STATUS,
	DB_STMT_USER_ROLE_GRANT,
	DB_STMT_USER_ROLE_REVOKE,
	DB_STMT_USER_HAS_ROLE,
	DB_STMT_ADMINS_LIST,
	DB_STMT_AUDIT_USER_UPSERT,
	DB_STMT_AUDIT_USER_STATUS,
	DB_STMT_AUDIT_USER_ROLE,

	/* payments (db_payment.c) */
	DB_STMT_PAYMENT_CREATE,
	DB_STMT_PAYMENT_GET,
	DB_STMT_PAYMENT_GET_BY_CHARGE,
	DB_STMT_PAYMENT_STATUS,
	DB_STMT_PAYMENT_COMPLETE,
	DB_STMT_PAYMENT_FAIL,
	DB_STMT_PAYMENT_REFUND,
	DB_STMT_PAYMENT_HISTORY,
	DB_STMT_AUDIT_PAYMENT_CREATE,
	DB_STMT_AUDIT_PAYMENT_TRANSITION,

	/* VPN configs (db_vpn.c) */
	DB_STMT_VPN_CREATE,
	DB_STMT_VPN_CREATE_WHY,
	DB_STMT_VPN_GET,
	DB_STMT_VPN_STATUS,
	DB_STMT_VPN_LIST_BY_USER,
	DB_STMT_VPN_ACTIVATE,
	DB_STMT_VPN_EXPIRE,
	DB_STMT_VPN_REVOKE,
	DB_STMT_VPN_LIST_DUE,
	DB_STMT_VPN_LIST_EXPIRED,
	DB_STMT_VPN_ADD_BANDWIDTH,
	DB_STMT_VPN_RELEASE_IPS,
	DB_STMT_VPN_CLEANUP,
	DB_STMT_AUDIT_VPN_CREATE,
	DB_STMT_AUDIT_VPN_TRANSITION,
	DB_STMT_AUDIT_VPN_CLEANUP,

	/* IP assignments (db_ip.c) */
	DB_STMT_IP_RECORD,
	DB_STMT_IP_RELEASE,
	DB_STMT_IP_LIST_NODE,
	DB_STMT_IP_USAGE,
	DB_STMT_AUDIT_IP,

	/* status aggregates (db_status.c) */
	DB_STMT_STATUS_COUNTERS,
	DB_STMT_STATUS_ADMINS,
	DB_STMT_STATUS_NODES,
	DB_STMT_STATUS_RECOUNT,
	DB_STMT_STATUS_COUNTERS_CLEAR,
	DB_STMT_STATUS_COUNTERS_FILL,
	DB_STMT_AUDIT_STATUS_REBUILD,

	/* diagnostics */
	DB_STMT_PING,

	DB_STMT__COUNT
};

enum {
	/* Safe to send again after the connection was lost mid-statement: a read, or the
	 * start of a transaction. Everything else may have been applied already. */
	DB_STMT_RETRY_SAFE = 1U << 0,
	DB_STMT_FLAGS_ALL = DB_STMT_RETRY_SAFE,
};

struct db_stmt_def {
	const char *name;
	const char *sql;
	unsigned flags;
};

/* Indexed by enum db_stmt_id; every entry is filled (checked by the unit tests). */
extern const struct db_stmt_def db_stmts[DB_STMT__COUNT];
