// SPDX-License-Identifier: MIT
/*
 * The statement table. Only '?' placeholders (Connector/C has no named ones); the
 * parameter order is the order of the '?' and is repeated in each entry's comment.
 */
#include "db_stmt.h"

/* The migration lock is per database, so that controllers of different databases on one
 * server (and parallel tests) do not wait for each other. GET_LOCK names are limited to
 * 64 characters, hence the hash. */
#define MIGRATE_LOCK_NAME "CONCAT('wgfleet-migrate:', SHA1(DATABASE()))"

/* The columns of a user, in the order db_user.c reads them. */
#define USER_COLUMNS_OF(t)                                                                         \
	t ".id, " t ".telegram_id, " t ".username, " t ".first_name, " t ".last_name, " t          \
	  ".status, " t ".qvapay_user_id, " t ".qvapay_app_id, " t ".qvapay_linked_at, " t         \
	  ".last_login_at, " t ".created_at, " t ".updated_at"
#define USER_COLUMNS USER_COLUMNS_OF("users")

/* The columns of a payment, in the order db_payment.c reads them. */
#define PAYMENT_COLUMNS                                                                            \
	"id, user_id, method, amount, currency, status, vpn_type, months, provider_charge_id, "    \
	"vpn_config_id, failure_reason, created_at, completed_at, refunded_at"

const struct db_stmt_def db_stmts[DB_STMT__COUNT] = {
    [DB_STMT_TX_BEGIN] = {"tx_begin", "START TRANSACTION", DB_STMT_RETRY_SAFE},
    [DB_STMT_TX_COMMIT] = {"tx_commit", "COMMIT", 0},
    [DB_STMT_TX_ROLLBACK] = {"tx_rollback", "ROLLBACK", 0},

    /* (timeout seconds) -> 1 taken, 0 timed out, NULL error */
    [DB_STMT_MIGRATE_LOCK] = {"migrate_lock", "SELECT GET_LOCK(" MIGRATE_LOCK_NAME ", ?)", 0},
    [DB_STMT_MIGRATE_UNLOCK] = {"migrate_unlock", "SELECT RELEASE_LOCK(" MIGRATE_LOCK_NAME ")", 0},
    /* () -> count; --status must not create the table */
    [DB_STMT_MIGRATIONS_TABLE_EXISTS] = {"migrations_table_exists",
                                         "SELECT COUNT(*) FROM information_schema.tables "
                                         "WHERE table_schema = DATABASE() "
                                         "AND table_name = 'schema_migrations'",
                                         DB_STMT_RETRY_SAFE},
    /*
     * applied_at stays NULL while a migration runs: DDL commits on its own in MariaDB,
     * so a migration that failed half-way leaves a row that says so.
     */
    [DB_STMT_MIGRATIONS_CREATE_TABLE] =
        {"migrations_create_table",
         "CREATE TABLE IF NOT EXISTS schema_migrations ("
         " version INT UNSIGNED NOT NULL,"
         " name VARCHAR(255) NOT NULL,"
         " checksum CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,"
         " started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
         " applied_at DATETIME(6) NULL,"
         " PRIMARY KEY (version),"
         " CONSTRAINT schema_migrations_checksum_hex"
         "  CHECK (checksum REGEXP '^[0-9a-f]{64}$')"
         ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci",
         0},
    /* () -> version, name, checksum, applied_at (NULL: interrupted) */
    [DB_STMT_MIGRATIONS_LIST] = {"migrations_list",
                                 "SELECT version, name, checksum, applied_at "
                                 "FROM schema_migrations ORDER BY version",
                                 DB_STMT_RETRY_SAFE},
    /* (version, name, checksum) */
    [DB_STMT_MIGRATION_START] = {"migration_start",
                                 "INSERT INTO schema_migrations (version, name, checksum) "
                                 "VALUES (?, ?, ?)",
                                 0},
    /* (version) */
    [DB_STMT_MIGRATION_FINISH] = {"migration_finish",
                                  "UPDATE schema_migrations SET applied_at = NOW(6) "
                                  "WHERE version = ? AND applied_at IS NULL",
                                  0},
    /* (version): a migration that failed before changing anything */
    [DB_STMT_MIGRATION_FORGET] = {"migration_forget",
                                  "DELETE FROM schema_migrations "
                                  "WHERE version = ? AND applied_at IS NULL",
                                  0},

    /*
     * (telegram_id, username, first_name, last_name): registers or refreshes. Affected
     * rows: 1 inserted, 2 updated (last_login_at always changes); LAST_INSERT_ID(id)
     * makes the insert id the user's id in both cases.
     */
    [DB_STMT_USER_UPSERT] = {"user_upsert",
                             "INSERT INTO users (telegram_id, username, first_name, last_name, "
                             "last_login_at) VALUES (?, ?, ?, ?, NOW(6)) "
                             "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), "
                             "username = VALUES(username), first_name = VALUES(first_name), "
                             "last_name = VALUES(last_name), last_login_at = VALUES(last_login_at)",
                             0},
    /* (id) -> USER_COLUMNS */
    [DB_STMT_USER_GET] = {"user_get", "SELECT " USER_COLUMNS " FROM users WHERE id = ?",
                          DB_STMT_RETRY_SAFE},
    /* (telegram_id) -> USER_COLUMNS */
    [DB_STMT_USER_GET_BY_TELEGRAM] = {"user_get_by_telegram",
                                      "SELECT " USER_COLUMNS " FROM users WHERE telegram_id = ?",
                                      DB_STMT_RETRY_SAFE},
    /* (status, id, status): 0 rows if missing or already so */
    [DB_STMT_USER_SET_STATUS] = {"user_set_status",
                                 "UPDATE users SET status = ? WHERE id = ? AND status <> ?", 0},
    /* (granted_by, expires_at, user_id, role): 0 rows if the user or role is missing;
     * granting again renews the grant */
    [DB_STMT_USER_ROLE_GRANT] =
        {"user_role_grant",
         "INSERT INTO user_roles (user_id, role_id, granted_by, expires_at) "
         "SELECT u.id, r.id, ?, ? FROM users u JOIN roles r "
         "WHERE u.id = ? AND r.name = ? "
         "ON DUPLICATE KEY UPDATE granted_by = VALUES(granted_by), "
         "granted_at = NOW(6), expires_at = VALUES(expires_at)",
         0},
    /* (user_id, role) */
    [DB_STMT_USER_ROLE_REVOKE] = {"user_role_revoke",
                                  "DELETE ur FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
                                  "WHERE ur.user_id = ? AND r.name = ?",
                                  0},
    /* (user_id, role) -> count of live grants */
    [DB_STMT_USER_HAS_ROLE] =
        {"user_has_role",
         "SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
         "WHERE ur.user_id = ? AND r.name = ? "
         "AND (ur.expires_at IS NULL OR ur.expires_at > NOW(6))",
         DB_STMT_RETRY_SAFE},
    /* () -> USER_COLUMNS of users with a live admin or superadmin grant */
    [DB_STMT_ADMINS_LIST] =
        {"admins_list",
         "SELECT " USER_COLUMNS_OF(
             "u") " FROM users u WHERE u.id IN ("
                  "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
                  "WHERE r.name IN ('admin', 'superadmin') "
                  "AND (ur.expires_at IS NULL OR ur.expires_at > NOW(6))) ORDER BY u.id",
         DB_STMT_RETRY_SAFE},
    /* (user_id, action, telegram_id, username) */
    [DB_STMT_AUDIT_USER_UPSERT] =
        {"audit_user_upsert",
         "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
         "VALUES (NULL, ?, ?, JSON_OBJECT('telegram_id', ?, "
         "'username', ?))",
         0},
    /* (actor, user_id, action, status) */
    [DB_STMT_AUDIT_USER_STATUS] =
        {"audit_user_status",
         "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
         "VALUES (?, ?, ?, JSON_OBJECT('status', ?))",
         0},
    /* (actor, user_id, action, role, expires_at) */
    [DB_STMT_AUDIT_USER_ROLE] = {"audit_user_role",
                                 "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
                                 "VALUES (?, ?, ?, JSON_OBJECT('role', ?, 'expires_at', ?))",
                                 0},

    /* (user_id, method, amount, currency, vpn_type, months, provider_charge_id) */
    [DB_STMT_PAYMENT_CREATE] =
        {"payment_create",
         "INSERT INTO payments (user_id, method, amount, currency, vpn_type, "
         "months, provider_charge_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
         0},
    /* (id) -> PAYMENT_COLUMNS */
    [DB_STMT_PAYMENT_GET] = {"payment_get", "SELECT " PAYMENT_COLUMNS " FROM payments WHERE id = ?",
                             DB_STMT_RETRY_SAFE},
    /* (method, provider_charge_id) -> PAYMENT_COLUMNS */
    [DB_STMT_PAYMENT_GET_BY_CHARGE] = {"payment_get_by_charge",
                                       "SELECT " PAYMENT_COLUMNS " FROM payments "
                                       "WHERE method = ? AND provider_charge_id = ?",
                                       DB_STMT_RETRY_SAFE},
    /* (id) -> status: why a guarded UPDATE matched nothing */
    [DB_STMT_PAYMENT_STATUS] = {"payment_status", "SELECT status FROM payments WHERE id = ?",
                                DB_STMT_RETRY_SAFE},
    /*
     * The transitions, each guarded by the one state it leaves (model.h): of two
     * concurrent callers the second waits for the first's row lock, then matches 0 rows.
     */
    /* (vpn_config_id, id) */
    [DB_STMT_PAYMENT_COMPLETE] = {"payment_complete",
                                  "UPDATE payments SET status = 'completed', "
                                  "completed_at = NOW(6), vpn_config_id = IFNULL(?, vpn_config_id) "
                                  "WHERE id = ? AND status = 'pending'",
                                  0},
    /* (reason, id) */
    [DB_STMT_PAYMENT_FAIL] = {"payment_fail",
                              "UPDATE payments SET status = 'failed', failure_reason = ? "
                              "WHERE id = ? AND status = 'pending'",
                              0},
    /* (id) */
    [DB_STMT_PAYMENT_REFUND] = {"payment_refund",
                                "UPDATE payments SET status = 'refunded', refunded_at = NOW(6) "
                                "WHERE id = ? AND status = 'completed'",
                                0},
    /* (user_id, limit) -> PAYMENT_COLUMNS, newest first */
    [DB_STMT_PAYMENT_HISTORY] = {"payment_history",
                                 "SELECT " PAYMENT_COLUMNS " FROM payments WHERE user_id = ? "
                                 "ORDER BY created_at DESC, id DESC LIMIT ?",
                                 DB_STMT_RETRY_SAFE},
    /* (actor, user_id, payment_id, method, amount, currency, charge_id) */
    [DB_STMT_AUDIT_PAYMENT_CREATE] = {"audit_payment_create",
                                      "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                      "payload) VALUES (?, ?, 'payment.create', JSON_OBJECT("
                                      "'payment_id', ?, 'method', ?, 'amount', ?, 'currency', ?, "
                                      "'charge_id', ?))",
                                      0},
    /* (actor, action, payment_id, from, to, reason, payment_id): the user from the row */
    [DB_STMT_AUDIT_PAYMENT_TRANSITION] = {"audit_payment_transition",
                                          "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                          "payload) SELECT ?, user_id, ?, JSON_OBJECT("
                                          "'payment_id', ?, 'from', ?, 'to', ?, 'reason', ?) "
                                          "FROM payments WHERE id = ?",
                                          0},

    [DB_STMT_PING] = {"ping", "SELECT 1", DB_STMT_RETRY_SAFE},
};
