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

/* The columns of a VPN config, in the order db_vpn.c reads them. */
#define VPN_COLUMNS                                                                                \
	"id, user_id, node_id, type, name, config, peer_public_key, status, is_trial, "            \
	"bandwidth_bytes, extra, created_at, activated_at, expires_at, revoked_at, updated_at"

/* The columns of an IP assignment, in the order db_ip.c reads them. */
#define IP_COLUMNS                                                                                 \
	"id, node_id, address, kind, vpn_type, vpn_config_id, user_id, assigned_at, released_at"

/*
 * The figures of the big tables as rows (subject, state, kind, detail, slot, count, sum):
 * what the triggers of 0002 keep in status_counters. For rebuilding the counters: it
 * reads every row.
 */
#define STATUS_LIVE_ROWS                                                                           \
	"SELECT 'users' AS subject, status AS state, '' AS kind, '' AS detail, id % 16 AS slot, "  \
	"COUNT(*) AS n, 0 AS total FROM users GROUP BY status, id % 16 "                           \
	"UNION ALL SELECT 'vpn_configs', status, type, IF(is_trial = 1, 'trial', 'paid'), "        \
	"id % 16, COUNT(*), SUM(bandwidth_bytes) FROM vpn_configs "                                \
	"GROUP BY status, type, is_trial, id % 16 "                                                \
	"UNION ALL SELECT 'payments', status, method, currency, id % 16, COUNT(*), SUM(amount) "   \
	"FROM payments GROUP BY status, method, currency, id % 16 "                                \
	"UNION ALL SELECT 'jobs', state, '', '', id % 16, COUNT(*), 0 FROM jobs "                  \
	"GROUP BY state, id % 16"

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

    /*
     * (type, name, config, peer_public_key, is_trial, expires_at, user_id, node_id): only
     * for an active user on an active node (0 rows otherwise; DB_STMT_VPN_CREATE_WHY says
     * why). The one-live-trial index refuses a second trial with a duplicate key.
     */
    [DB_STMT_VPN_CREATE] = {"vpn_create",
                            "INSERT INTO vpn_configs (user_id, node_id, type, name, config, "
                            "peer_public_key, is_trial, expires_at) "
                            "SELECT u.id, n.id, ?, ?, ?, ?, ?, ? FROM users u JOIN nodes n "
                            "WHERE u.id = ? AND n.id = ? AND u.status = 'active' "
                            "AND n.state = 'active'",
                            0},
    /* (user_id, node_id) -> user status, node state (NULL: no such row) */
    [DB_STMT_VPN_CREATE_WHY] = {"vpn_create_why",
                                "SELECT (SELECT status FROM users WHERE id = ?), "
                                "(SELECT state FROM nodes WHERE id = ?)",
                                DB_STMT_RETRY_SAFE},
    /* (id) -> VPN_COLUMNS */
    [DB_STMT_VPN_GET] = {"vpn_get", "SELECT " VPN_COLUMNS " FROM vpn_configs WHERE id = ?",
                         DB_STMT_RETRY_SAFE},
    /* (id) -> status: why a guarded UPDATE matched nothing */
    [DB_STMT_VPN_STATUS] = {"vpn_status", "SELECT status FROM vpn_configs WHERE id = ?",
                            DB_STMT_RETRY_SAFE},
    /* (user_id, limit) -> VPN_COLUMNS, newest first (index vpn_configs_user) */
    [DB_STMT_VPN_LIST_BY_USER] = {"vpn_list_by_user",
                                  "SELECT " VPN_COLUMNS " FROM vpn_configs WHERE user_id = ? "
                                  "ORDER BY created_at DESC, id DESC LIMIT ?",
                                  DB_STMT_RETRY_SAFE},
    /*
     * The transitions of model.h, each guarded by the states it leaves
     * (vpn_event_allowed_from): of concurrent callers one matches, the others wait for
     * its row lock and then match nothing.
     */
    /* (config or NULL to keep it, id) */
    [DB_STMT_VPN_ACTIVATE] = {"vpn_activate",
                              "UPDATE vpn_configs SET status = 'active', activated_at = NOW(6), "
                              "config = IFNULL(?, config) WHERE id = ? AND status = 'pending'",
                              0},
    /* (id) */
    [DB_STMT_VPN_EXPIRE] = {"vpn_expire",
                            "UPDATE vpn_configs SET status = 'expired' "
                            "WHERE id = ? AND status IN ('pending', 'active')",
                            0},
    /* (reason, id): extra.revocation = {reason, at} (UTC, ISO 8601) */
    [DB_STMT_VPN_REVOKE] = {"vpn_revoke",
                            "UPDATE vpn_configs SET status = 'revoked', revoked_at = NOW(6), "
                            "extra = JSON_SET(extra, '$.revocation', JSON_OBJECT('reason', ?, "
                            "'at', DATE_FORMAT(NOW(6), '%Y-%m-%dT%H:%i:%s.%fZ'))) "
                            "WHERE id = ? AND status IN ('pending', 'active')",
                            0},
    /* (seconds, limit) -> VPN_COLUMNS of active configs expiring within seconds, soonest
     * first (a range of index vpn_configs_expiry) */
    [DB_STMT_VPN_LIST_DUE] = {"vpn_list_due",
                              "SELECT " VPN_COLUMNS " FROM vpn_configs WHERE status = 'active' "
                              "AND expires_at > NOW(6) AND expires_at <= NOW(6) + INTERVAL ? "
                              "SECOND ORDER BY expires_at, id LIMIT ?",
                              DB_STMT_RETRY_SAFE},
    /* (limit) -> VPN_COLUMNS of active configs past their expiry, oldest first */
    [DB_STMT_VPN_LIST_EXPIRED] = {"vpn_list_expired",
                                  "SELECT " VPN_COLUMNS " FROM vpn_configs "
                                  "WHERE status = 'active' AND expires_at <= NOW(6) "
                                  "ORDER BY expires_at, id LIMIT ?",
                                  DB_STMT_RETRY_SAFE},
    /* (bytes, id): BIGINT UNSIGNED, so an overflow is an error, never a wrap */
    [DB_STMT_VPN_ADD_BANDWIDTH] = {"vpn_add_bandwidth",
                                   "UPDATE vpn_configs SET bandwidth_bytes = bandwidth_bytes + ? "
                                   "WHERE id = ?",
                                   0},
    /* (vpn_config_id): its live addresses (index ip_assignments_vpn_config) */
    [DB_STMT_VPN_RELEASE_IPS] = {"vpn_release_ips",
                                 "UPDATE ip_assignments SET released_at = NOW(6) "
                                 "WHERE vpn_config_id = ? AND released_at IS NULL",
                                 0},
    /*
     * () Live addresses of ended configs: only rows changed behind the record functions'
     * back (they release in the same transaction). Walks the live assignments node by
     * node (index ip_assignments_node_live, forced: with few rows the optimizer would
     * pick any index), never the ever-growing ended configs.
     */
    [DB_STMT_VPN_CLEANUP] = {"vpn_cleanup",
                             "UPDATE nodes n STRAIGHT_JOIN ip_assignments a "
                             "FORCE INDEX (ip_assignments_node_live) "
                             "ON a.node_id = n.id AND a.released_at IS NULL "
                             "STRAIGHT_JOIN vpn_configs v ON v.id = a.vpn_config_id "
                             "SET a.released_at = NOW(6) "
                             "WHERE v.status IN ('expired', 'revoked')",
                             0},
    /* (actor, user_id, vpn_config_id, node_id, type, trial, expires_at) */
    [DB_STMT_AUDIT_VPN_CREATE] = {"audit_vpn_create",
                                  "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                  "payload) VALUES (?, ?, 'vpn.create', JSON_OBJECT("
                                  "'vpn_config_id', ?, 'node_id', ?, 'type', ?, 'trial', ?, "
                                  "'expires_at', ?))",
                                  0},
    /* (actor, action, to, reason, addresses recorded, addresses released, id): the user
     * from the row */
    [DB_STMT_AUDIT_VPN_TRANSITION] = {"audit_vpn_transition",
                                      "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                      "payload) SELECT ?, user_id, ?, JSON_OBJECT("
                                      "'vpn_config_id', id, 'to', ?, 'reason', ?, "
                                      "'addresses_recorded', ?, 'addresses_released', ?) "
                                      "FROM vpn_configs WHERE id = ?",
                                      0},
    /* (actor, released) */
    [DB_STMT_AUDIT_VPN_CLEANUP] = {"audit_vpn_cleanup",
                                   "INSERT INTO audit_log (actor_user_id, action, payload) "
                                   "VALUES (?, 'vpn.cleanup', JSON_OBJECT('released_addresses', "
                                   "?))",
                                   0},

    /*
     * (address, vpn_config_id): node, owner, type and kind all come from the config, which
     * must be live (0 rows otherwise). A live duplicate on the node is a duplicate key
     * (ip_assignments_node_live_address, migration 0002).
     */
    [DB_STMT_IP_RECORD] = {"ip_record",
                           "INSERT INTO ip_assignments (node_id, address, kind, vpn_type, "
                           "vpn_config_id, user_id) SELECT node_id, ?, "
                           "IF(is_trial = 1, 'trial', 'paid'), type, id, user_id "
                           "FROM vpn_configs WHERE id = ? AND status IN ('pending', 'active')",
                           0},
    /* (node_id, address): the live one; LAST_INSERT_ID(id) hands its id back */
    [DB_STMT_IP_RELEASE] = {"ip_release",
                            "UPDATE ip_assignments SET released_at = NOW(6), "
                            "id = LAST_INSERT_ID(id) WHERE node_id = ? AND live_address = ?",
                            0},
    /* (node_id, after, limit) -> IP_COLUMNS of live assignments by address, after `after`
     * ('' from the start): a range of ip_assignments_node_live_address */
    [DB_STMT_IP_LIST_NODE] = {"ip_list_node",
                              "SELECT " IP_COLUMNS " FROM ip_assignments WHERE node_id = ? "
                              "AND live_address > ? ORDER BY live_address LIMIT ?",
                              DB_STMT_RETRY_SAFE},
    /* () -> node id, kind (NULL: none), live count; every node, by id */
    [DB_STMT_IP_USAGE] = {"ip_usage",
                          "SELECT n.id, a.kind, COUNT(a.id) FROM nodes n "
                          "LEFT JOIN ip_assignments a ON a.node_id = n.id "
                          "AND a.released_at IS NULL GROUP BY n.id, a.kind ORDER BY n.id",
                          DB_STMT_RETRY_SAFE},
    /* (actor, action, id) */
    [DB_STMT_AUDIT_IP] = {"audit_ip",
                          "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
                          "SELECT ?, user_id, ?, JSON_OBJECT('assignment_id', id, 'node_id', "
                          "node_id, 'address', INET6_NTOA(address), 'vpn_config_id', "
                          "vpn_config_id) FROM ip_assignments WHERE id = ?",
                          0},

    /* () -> subject, state, kind, detail, count, sum: the counters of 0002, slots summed
     * (the primary key's order: no sort) */
    [DB_STMT_STATUS_COUNTERS] = {"status_counters",
                                 "SELECT subject, state, kind, detail, SUM(row_count), "
                                 "SUM(amount_sum) FROM status_counters "
                                 "GROUP BY subject, state, kind, detail",
                                 DB_STMT_RETRY_SAFE},
    /* () -> users holding a live admin or superadmin grant: the two roles, then their
     * grants through index user_roles_role (STRAIGHT_JOIN: never the other way round) */
    [DB_STMT_STATUS_ADMINS] = {"status_admins",
                               "SELECT COUNT(DISTINCT ur.user_id) FROM roles r "
                               "STRAIGHT_JOIN user_roles ur ON ur.role_id = r.id "
                               "WHERE r.name IN ('admin', 'superadmin') "
                               "AND (ur.expires_at IS NULL OR ur.expires_at > NOW(6))",
                               DB_STMT_RETRY_SAFE},
    /* () -> state, count (index nodes_state) */
    [DB_STMT_STATUS_NODES] = {"status_nodes", "SELECT state, COUNT(*) FROM nodes GROUP BY state",
                              DB_STMT_RETRY_SAFE},
    /*
     * () -> the rows of DB_STMT_STATUS_COUNTERS, counted from the tables themselves, each
     * grouped in the order of an index (users_status, vpn_configs_type_status,
     * payments_status_method, jobs_due); the bandwidth sum still reads every config.
     */
    [DB_STMT_STATUS_RECOUNT] = {"status_recount",
                                "SELECT 'users', status, '', '', COUNT(*), 0 FROM users "
                                "GROUP BY status "
                                "UNION ALL SELECT 'vpn_configs', status, type, "
                                "IF(is_trial = 1, 'trial', 'paid'), COUNT(*), "
                                "SUM(bandwidth_bytes) FROM vpn_configs "
                                "GROUP BY type, status, is_trial "
                                "UNION ALL SELECT 'payments', status, method, currency, "
                                "COUNT(*), SUM(amount) FROM payments "
                                "GROUP BY status, method, currency "
                                "UNION ALL SELECT 'jobs', state, '', '', COUNT(*), 0 FROM jobs "
                                "GROUP BY state",
                                DB_STMT_RETRY_SAFE},
    [DB_STMT_STATUS_COUNTERS_CLEAR] = {"status_counters_clear", "DELETE FROM status_counters", 0},
    /* A locking read of every row: writers wait until the rebuild commits. */
    [DB_STMT_STATUS_COUNTERS_FILL] = {"status_counters_fill",
                                      "INSERT INTO status_counters (subject, state, kind, "
                                      "detail, slot, row_count, amount_sum) " STATUS_LIVE_ROWS,
                                      0},
    /* (actor) */
    [DB_STMT_AUDIT_STATUS_REBUILD] = {"audit_status_rebuild",
                                      "INSERT INTO audit_log (actor_user_id, action, payload) "
                                      "VALUES (?, 'status.rebuild', '{}')",
                                      0},

    [DB_STMT_PING] = {"ping", "SELECT 1", DB_STMT_RETRY_SAFE},
};
