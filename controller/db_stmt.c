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
	"bandwidth_bytes, extra, created_at, activated_at, expires_at, revoked_at, updated_at, "   \
	"private_key_enc, preshared_key_enc, rx_seen, tx_seen"

/* The columns of a node, in the order db_node.c reads them. */
#define NODE_COLUMNS                                                                               \
	"id, name, agent_url, endpoint, public_key, pools, state, health, failed_polls, "          \
	"agent_token_enc, boot_id, last_seen_at, last_error, free_addresses, peers, "              \
	"peer_generation, created_at, updated_at"

/* The columns of a job, in the order db_job.c reads them. */
#define JOB_COLUMNS                                                                                \
	"id, kind, node_id, vpn_config_id, payload, state, attempts, next_attempt_at, "            \
	"lease_expires_at, last_error, idempotency_key, claimed_by, result, created_at, "          \
	"updated_at, finished_at"

/* DB_STMT_VPN_TRAFFIC_APPLY's rows after the first: 15 of them (VPN_TRAFFIC_BATCH). */
#define TRAFFIC_ROW                                                                                \
	" UNION ALL SELECT CAST(? AS UNSIGNED), CAST(? AS UNSIGNED), CAST(? AS UNSIGNED), "         \
	"CAST(? AS UNSIGNED)"
#define TRAFFIC_ROWS_5 TRAFFIC_ROW TRAFFIC_ROW TRAFFIC_ROW TRAFFIC_ROW TRAFFIC_ROW
#define TRAFFIC_ROWS_15 TRAFFIC_ROWS_5 TRAFFIC_ROWS_5 TRAFFIC_ROWS_5

/*
 * A job j may run unless an earlier job of the same VPN is unfinished: a revoke never
 * overtakes the provision before it. Webhooks (notify) neither wait nor hold anyone up.
 * The subquery is a plain read (measured: SKIP LOCKED does not skip its rows, and it
 * takes no locks), a short range of jobs_vpn_config.
 */
#define JOB_NOT_BLOCKED                                                                            \
	"(j.kind = 'notify' OR j.vpn_config_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e "        \
	"WHERE e.vpn_config_id = j.vpn_config_id AND e.id < j.id "                                 \
	"AND e.state IN ('pending', 'running') AND e.kind <> 'notify'))"

/* DB_BATCH_MAX placeholders */
#define Q8 "?, ?, ?, ?, ?, ?, ?, ?"
#define Q32 Q8 ", " Q8 ", " Q8 ", " Q8
#define P8 "(?, ?), (?, ?), (?, ?), (?, ?), (?, ?), (?, ?), (?, ?), (?, ?)"
#define P32 P8 ", " P8 ", " P8 ", " P8

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
    /* (telegram_id) -> USER_COLUMNS: the newest committed row, locked (an upsert's own) */
    [DB_STMT_USER_GET_BY_TELEGRAM_LOCKED] = {"user_get_by_telegram_locked",
                                             "SELECT " USER_COLUMNS
                                             " FROM users WHERE telegram_id = ? FOR UPDATE",
                                             0},
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
    /* (id) -> PAYMENT_COLUMNS, the row locked until the caller's transaction ends */
    [DB_STMT_PAYMENT_GET_FOR_UPDATE] = {"payment_get_for_update",
                                        "SELECT " PAYMENT_COLUMNS " FROM payments WHERE id = ? "
                                        "FOR UPDATE",
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
     * (type, name, config, peer_public_key, private_key_enc, preshared_key_enc, is_trial,
     * expires_at, idempotency_key, user_id, node_id): only
     * for an active user on an active node (0 rows otherwise; DB_STMT_VPN_CREATE_WHY says
     * why). The one-live-trial index refuses a second trial with a duplicate key, and
     * vpn_configs_user_idempotency (0004) a second config with the user's key.
     */
    [DB_STMT_VPN_CREATE] = {"vpn_create",
                            "INSERT INTO vpn_configs (user_id, node_id, type, name, config, "
                            "peer_public_key, private_key_enc, preshared_key_enc, is_trial, "
                            "expires_at, idempotency_key) "
                            "SELECT u.id, n.id, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                            "FROM users u JOIN nodes n "
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
    /* (id) -> VPN_COLUMNS, locked: the row as it is now, not as the snapshot has it */
    [DB_STMT_VPN_GET_LOCKED] = {"vpn_get_locked",
                                "SELECT " VPN_COLUMNS " FROM vpn_configs WHERE id = ? FOR UPDATE",
                                DB_STMT_RETRY_SAFE},
    /* (id) -> status: why a guarded UPDATE matched nothing */
    [DB_STMT_VPN_STATUS] = {"vpn_status", "SELECT status FROM vpn_configs WHERE id = ?",
                            DB_STMT_RETRY_SAFE},
    /* (id) -> status, as committed last (a locking read: whatever the snapshot) */
    [DB_STMT_VPN_STATUS_LOCKED] = {"vpn_status_locked",
                                   "SELECT status FROM vpn_configs WHERE id = ? "
                                   "LOCK IN SHARE MODE",
                                   DB_STMT_RETRY_SAFE},
    /* (vpn id) -> its user's id, the user share-locked and the config not locked (a
     * subquery of a locking read is a plain read in MariaDB): the user before the config */
    [DB_STMT_VPN_USER_LOCK] = {"vpn_user_lock",
                               "SELECT id FROM users WHERE id = (SELECT user_id FROM "
                               "vpn_configs WHERE id = ?) LOCK IN SHARE MODE",
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
    /* (id): the expiry sweep's expire, only while the expiry has passed (a payment may
     * have extended the config since the sweep listed it) */
    [DB_STMT_VPN_EXPIRE_DUE] = {"vpn_expire_due",
                                "UPDATE vpn_configs SET status = 'expired' "
                                "WHERE id = ? AND status IN ('pending', 'active') "
                                "AND expires_at <= NOW(6)",
                                0},
    /* (months, id): calendar months from the expiry, or from now if that is later */
    [DB_STMT_VPN_EXTEND] = {"vpn_extend",
                            "UPDATE vpn_configs SET expires_at = DATE_ADD(GREATEST("
                            "COALESCE(expires_at, NOW(6)), NOW(6)), INTERVAL ? MONTH) "
                            "WHERE id = ? AND status IN ('pending', 'active')",
                            0},
    /* (id) -> expires_at */
    [DB_STMT_VPN_EXPIRES_AT] = {"vpn_expires_at", "SELECT expires_at FROM vpn_configs WHERE id = ?",
                                DB_STMT_RETRY_SAFE},
    /* (actor, months, id): the user and the new expiry from the row */
    [DB_STMT_AUDIT_VPN_EXTEND] = {"audit_vpn_extend",
                                  "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                  "payload) SELECT ?, user_id, 'vpn.extend', JSON_OBJECT("
                                  "'vpn_config_id', id, 'months', ?, 'expires_at', "
                                  "DATE_FORMAT(expires_at, '%Y-%m-%dT%H:%i:%s.%fZ')) "
                                  "FROM vpn_configs WHERE id = ?",
                                  0},
    /* (user_id, type) -> id of the newest live paid config that expires, locked (a range
     * of vpn_configs_user) */
    [DB_STMT_VPN_FIND_LIVE_PAID] = {"vpn_find_live_paid",
                                    "SELECT id FROM vpn_configs WHERE user_id = ? AND type = ? "
                                    "AND is_trial = 0 AND status IN ('pending', 'active') "
                                    "AND expires_at IS NOT NULL "
                                    "ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
                                    DB_STMT_RETRY_SAFE},
    /* (node_id) -> VPN_COLUMNS of the node's active, then pending configs, each by id:
     * the order of vpn_configs_node_status (no sort) */
    [DB_STMT_VPN_LIST_NODE_LIVE] = {"vpn_list_node_live",
                                    "SELECT " VPN_COLUMNS " FROM vpn_configs WHERE node_id = ? "
                                    "AND status IN ('pending', 'active') ORDER BY status, id",
                                    DB_STMT_RETRY_SAFE},
    /* (user_id) -> ids of the user's pending and active configs, locked */
    [DB_STMT_VPN_LIST_USER_LIVE] = {"vpn_list_user_live",
                                    "SELECT id FROM vpn_configs WHERE user_id = ? "
                                    "AND status IN ('pending', 'active') ORDER BY id FOR UPDATE",
                                    DB_STMT_RETRY_SAFE},
    /* (node_id, peer_public_key) -> VPN_COLUMNS */
    [DB_STMT_VPN_GET_BY_NODE_KEY] = {"vpn_get_by_node_key",
                                     "SELECT " VPN_COLUMNS " FROM vpn_configs "
                                     "WHERE node_id = ? AND peer_public_key = ?",
                                     DB_STMT_RETRY_SAFE},
    /* (node_id) -> id, peer_public_key, rx_seen, tx_seen of every config of the node with a
     * key, any status (a range of vpn_configs_node_peer; db_vpn.c sorts them itself) */
    [DB_STMT_VPN_TRAFFIC_SEEN] = {"vpn_traffic_seen",
                                  "SELECT id, peer_public_key, rx_seen, tx_seen FROM vpn_configs "
                                  "WHERE node_id = ? AND peer_public_key IS NOT NULL",
                                  DB_STMT_RETRY_SAFE},
    /*
     * (id, bytes, rx_seen, tx_seen) x VPN_TRAFFIC_BATCH: one round trip for a batch of
     * configs (unused rows: id 0, which is no config). The batch drives the join
     * (STRAIGHT_JOIN: each row one primary-key lookup, never a scan of the configs).
     * bandwidth_bytes is BIGINT UNSIGNED: an overflow is an error, never a wrap.
     */
    [DB_STMT_VPN_TRAFFIC_APPLY] = {"vpn_traffic_apply",
                                   "UPDATE (SELECT CAST(? AS UNSIGNED) AS id, "
                                   "CAST(? AS UNSIGNED) AS bytes, CAST(? AS UNSIGNED) AS rx, "
                                   "CAST(? AS UNSIGNED) AS tx" TRAFFIC_ROWS_15 ") s "
                                   "STRAIGHT_JOIN vpn_configs v ON v.id = s.id "
                                   "SET v.bandwidth_bytes = v.bandwidth_bytes + s.bytes, "
                                   "v.rx_seen = s.rx, v.tx_seen = s.tx",
                                   0},
    /* (user_id, idempotency_key) -> id: a plain read, no lock. Of concurrent requests with
     * one key, those that miss it here meet the unique key at the insert instead. */
    [DB_STMT_VPN_FIND_BY_IDEMPOTENCY] = {"vpn_find_by_idempotency",
                                         "SELECT id FROM vpn_configs WHERE user_id = ? "
                                         "AND idempotency_key = ?",
                                         DB_STMT_RETRY_SAFE},

    /* (name, agent_url, endpoint, public_key, pools, agent_token_enc, boot_id,
     * free_addresses, peers): healthy, seen now (the controller just talked to it) */
    [DB_STMT_NODE_CREATE] = {"node_create",
                             "INSERT INTO nodes (name, agent_url, endpoint, public_key, pools, "
                             "agent_token_enc, boot_id, free_addresses, peers, health, "
                             "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'healthy', NOW(6))",
                             0},
    /* (id) -> NODE_COLUMNS */
    [DB_STMT_NODE_GET] = {"node_get", "SELECT " NODE_COLUMNS " FROM nodes WHERE id = ?",
                          DB_STMT_RETRY_SAFE},
    /* () -> NODE_COLUMNS by id */
    [DB_STMT_NODE_LIST] = {"node_list", "SELECT " NODE_COLUMNS " FROM nodes ORDER BY id",
                           DB_STMT_RETRY_SAFE},
    /* (id) -> state: why a guarded UPDATE matched nothing */
    [DB_STMT_NODE_STATE] = {"node_state", "SELECT state FROM nodes WHERE id = ?",
                            DB_STMT_RETRY_SAFE},
    /* (state, id, state): 0 rows if missing or already so */
    [DB_STMT_NODE_SET_STATE] = {"node_set_state",
                                "UPDATE nodes SET state = ? WHERE id = ? AND state <> ?", 0},
    /* (id) -> boot_id: the node's row locked, which serialises the pollers of one node
     * (traffic accounting, health) */
    [DB_STMT_NODE_LOCK] = {"node_lock", "SELECT boot_id FROM nodes WHERE id = ? FOR UPDATE",
                           DB_STMT_RETRY_SAFE},
    /* (boot_id or NULL to keep, free_addresses, peers, pools or NULL to keep, id) */
    [DB_STMT_NODE_REPORT_OK] = {"node_report_ok",
                                "UPDATE nodes SET health = 'healthy', failed_polls = 0, "
                                "last_seen_at = NOW(6), last_error = NULL, "
                                "boot_id = IFNULL(?, boot_id), free_addresses = ?, peers = ?, "
                                "pools = IFNULL(?, pools), public_key = IFNULL(?, public_key), "
                                "endpoint = IFNULL(?, endpoint) WHERE id = ?",
                                0},
    /* (unhealthy_after, error, id): health before failed_polls, so both read the old count
     * (MariaDB assigns left to right) */
    [DB_STMT_NODE_REPORT_FAIL] = {"node_report_fail",
                                  "UPDATE nodes SET health = IF(failed_polls + 1 >= ?, "
                                  "'unhealthy', health), failed_polls = failed_polls + 1, "
                                  "last_error = LEFT(?, 255) WHERE id = ?",
                                  0},
    /*
     * () -> id of the active, healthy node with the most free addresses: the agent's count
     * at the last poll minus the live configs created on the node since (a short range of
     * vpn_configs_node_created). A plain read: no lock on the node row, so creations do
     * not queue behind each other.
     */
    [DB_STMT_NODE_PICK] = {"node_pick",
                           "SELECT id FROM (SELECT n.id, n.free_addresses AS f, "
                           "(SELECT COUNT(*) FROM vpn_configs v WHERE v.node_id = n.id "
                           "AND v.created_at > n.last_seen_at "
                           "AND v.status IN ('pending', 'active')) AS c FROM nodes n "
                           "WHERE n.state = 'active' AND n.health = 'healthy') x "
                           "WHERE f > c ORDER BY f - c DESC, id LIMIT 1",
                           DB_STMT_RETRY_SAFE},
    /* (id): LAST_INSERT_ID hands the new generation back */
    [DB_STMT_NODE_NEXT_GENERATION] = {"node_next_generation",
                                      "UPDATE nodes SET peer_generation = "
                                      "LAST_INSERT_ID(peer_generation + 1) WHERE id = ?",
                                      0},
    /* (actor, node_id, name, agent_url) */
    [DB_STMT_AUDIT_NODE_CREATE] = {"audit_node_create",
                                   "INSERT INTO audit_log (actor_user_id, action, payload) "
                                   "VALUES (?, 'node.create', JSON_OBJECT('node_id', ?, "
                                   "'name', ?, 'agent_url', ?))",
                                   0},
    /* (actor, node_id, state) */
    /* (agent_url, agent_token_enc, id): a moved agent or a rotated token */
    [DB_STMT_NODE_SET_AGENT] = {"node_set_agent",
                                "UPDATE nodes SET agent_url = ?, agent_token_enc = ? WHERE id = ?",
                                0},
    /* (actor, node_id, agent_url, token_changed): never the token itself */
    [DB_STMT_AUDIT_NODE_AGENT] = {"audit_node_agent",
                                  "INSERT INTO audit_log (actor_user_id, action, payload) "
                                  "VALUES (?, 'node.agent', JSON_OBJECT('node_id', ?, "
                                  "'agent_url', ?, 'token_changed', ? = 1))",
                                  0},
    [DB_STMT_AUDIT_NODE_STATE] = {"audit_node_state",
                                  "INSERT INTO audit_log (actor_user_id, action, payload) "
                                  "VALUES (?, 'node.state', JSON_OBJECT('node_id', ?, "
                                  "'state', ?))",
                                  0},

    /*
     * (kind, node_id, vpn_config_id, payload, idempotency_key). A known key inserts
     * nothing and leaves the existing job unchanged, but sets the session's
     * LAST_INSERT_ID() to that job's id with bit 63 set, which no AUTO_INCREMENT id
     * reaches: DB_STMT_JOB_ENQUEUED_ID then tells "created" from "existed" (the affected-
     * row count is 1 either way under CLIENT_FOUND_ROWS, and the insert id the server
     * reports for an upsert is 0 once the jobs triggers ran). A concurrent enqueue of the
     * same key waits for the first and then finds its job.
     */
    [DB_STMT_JOB_ENQUEUE] = {"job_enqueue",
                             "INSERT INTO jobs (kind, node_id, vpn_config_id, payload, "
                             "idempotency_key) VALUES (?, ?, ?, ?, ?) "
                             "ON DUPLICATE KEY UPDATE id = id + 0 * LAST_INSERT_ID(id | (1 << 63))",
                             0},
    /* () -> the new job's id, or the existing one's with bit 63 set; right after
     * DB_STMT_JOB_ENQUEUE on the same session */
    [DB_STMT_JOB_ENQUEUED_ID] = {"job_enqueued_id", "SELECT LAST_INSERT_ID()", 0},
    /* (id) -> JOB_COLUMNS */
    [DB_STMT_JOB_GET] = {"job_get", "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?",
                         DB_STMT_RETRY_SAFE},
    /* (id) -> count */
    [DB_STMT_JOB_EXISTS] = {"job_exists", "SELECT COUNT(*) FROM jobs WHERE id = ?",
                            DB_STMT_RETRY_SAFE},
    /* (limit) -> JOB_COLUMNS, newest first */
    [DB_STMT_JOB_LIST] = {"job_list", "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id DESC LIMIT ?",
                          DB_STMT_RETRY_SAFE},
    /* (state, limit) -> JOB_COLUMNS, newest first: a range of jobs_state_id, no sort.
     * Forced: for a common state the optimizer walks the primary key backwards, which
     * reads every row when the state is rare (a few failed among millions done). */
    [DB_STMT_JOB_LIST_BY_STATE] = {"job_list_by_state",
                                   "SELECT " JOB_COLUMNS " FROM jobs FORCE INDEX (jobs_state_id) "
                                   "WHERE state = ? ORDER BY id DESC LIMIT ?",
                                   DB_STMT_RETRY_SAFE},
    /* (vpn_config_id) -> JOB_COLUMNS of the VPN's newest agent job (webhooks aside) */
    [DB_STMT_JOB_LATEST_FOR_VPN] = {"job_latest_for_vpn",
                                    "SELECT " JOB_COLUMNS " FROM jobs WHERE vpn_config_id = ? "
                                    "AND kind <> 'notify' ORDER BY id DESC LIMIT 1",
                                    DB_STMT_RETRY_SAFE},
    /*
     * () Before a claim's transaction, for that transaction only: READ COMMITTED takes no
     * gap locks (enqueues do not wait for claims) and releases at once the rows the scan
     * read but did not take (blocked jobs stay claimable by others). Lost with the
     * connection: the claim is then repeatable-read, slower under contention but correct.
     */
    [DB_STMT_JOB_CLAIM_ISOLATION] = {"job_claim_isolation",
                                     "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                                     DB_STMT_RETRY_SAFE},
    /* (limit) -> ids of running jobs whose lease ran out (their claimer died), oldest
     * lease first, locked; rows another claim holds are skipped (range of jobs_lease) */
    [DB_STMT_JOB_CLAIM_EXPIRED] = {"job_claim_expired",
                                   "SELECT j.id FROM jobs j WHERE j.state = 'running' "
                                   "AND j.lease_expires_at <= NOW(6) AND " JOB_NOT_BLOCKED
                                   " ORDER BY j.lease_expires_at, j.id LIMIT ? "
                                   "FOR UPDATE SKIP LOCKED",
                                   DB_STMT_RETRY_SAFE},
    /* (limit) -> ids of pending jobs that are due, oldest due first, locked; rows another
     * claim holds are skipped (range of jobs_due) */
    [DB_STMT_JOB_CLAIM_DUE] = {"job_claim_due",
                               "SELECT j.id FROM jobs j WHERE j.state = 'pending' "
                               "AND j.next_attempt_at <= NOW(6) AND " JOB_NOT_BLOCKED
                               " ORDER BY j.next_attempt_at, j.id LIMIT ? "
                               "FOR UPDATE SKIP LOCKED",
                               DB_STMT_RETRY_SAFE},
    /* (owner, lease microseconds, id): a row the claim holds locked */
    [DB_STMT_JOB_CLAIM_TAKE] = {"job_claim_take",
                                "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                                "claimed_by = ?, lease_expires_at = NOW(6) + INTERVAL ? "
                                "MICROSECOND WHERE id = ?",
                                0},
    /* (vpn_config_id, id) -> 1 if an earlier agent job of the VPN is unfinished */
    [DB_STMT_JOB_BLOCKED] = {"job_blocked",
                             "SELECT EXISTS (SELECT 1 FROM jobs WHERE vpn_config_id = ? "
                             "AND id < ? AND state IN ('pending', 'running') "
                             "AND kind <> 'notify')",
                             DB_STMT_RETRY_SAFE},
    /* (id, owner) -> attempts of the job while it runs under owner, locked */
    [DB_STMT_JOB_OWNED] = {"job_owned",
                           "SELECT attempts FROM jobs WHERE id = ? AND state = 'running' "
                           "AND claimed_by = ? FOR UPDATE",
                           DB_STMT_RETRY_SAFE},
    /*
     * The ends of a run, each guarded by "still running under this owner": a worker whose
     * lease ran out and whose job another worker took matches nothing.
     */
    /* (result, id, owner) */
    [DB_STMT_JOB_DONE] = {"job_done",
                          "UPDATE jobs SET state = 'done', result = ?, lease_expires_at = NULL, "
                          "finished_at = NOW(6) WHERE id = ? AND state = 'running' "
                          "AND claimed_by = ?",
                          0},
    /* (delay microseconds, error, id, owner) */
    [DB_STMT_JOB_RETRY] = {"job_retry",
                           "UPDATE jobs SET state = 'pending', lease_expires_at = NULL, "
                           "next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND, "
                           "last_error = LEFT(?, 4096) WHERE id = ? AND state = 'running' "
                           "AND claimed_by = ?",
                           0},
    /* (delay microseconds, id, owner): the claim's attempt given back */
    [DB_STMT_JOB_DEFER] = {"job_defer",
                           "UPDATE jobs SET state = 'pending', lease_expires_at = NULL, "
                           "attempts = GREATEST(attempts, 1) - 1, "
                           "next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND "
                           "WHERE id = ? AND state = 'running' AND claimed_by = ?",
                           0},
    /* (error, id, owner) */
    [DB_STMT_JOB_FAIL] = {"job_fail",
                          "UPDATE jobs SET state = 'failed', lease_expires_at = NULL, "
                          "last_error = LEFT(?, 4096), finished_at = NOW(6) "
                          "WHERE id = ? AND state = 'running' AND claimed_by = ?",
                          0},
    /* (seconds, limit): the oldest done jobs first, along jobs_state_id; failed ones stay
     * for the operator */
    /* (after_id, limit): the sealed secrets, for a re-seal with a new master key */
    [DB_STMT_SEALED_VPN_PAGE] = {"sealed_vpn_page",
                                 "SELECT id, private_key_enc, preshared_key_enc FROM vpn_configs "
                                 "WHERE id > ? AND (private_key_enc IS NOT NULL "
                                 "OR preshared_key_enc IS NOT NULL) ORDER BY id LIMIT ?",
                                 DB_STMT_RETRY_SAFE},
    /* (new private, new preshared, id, old private, old preshared): guarded by the old
     * values (<=> compares NULLs too) */
    [DB_STMT_SEALED_VPN_REPLACE] = {"sealed_vpn_replace",
                                    "UPDATE vpn_configs SET private_key_enc = ?, "
                                    "preshared_key_enc = ? WHERE id = ? "
                                    "AND private_key_enc <=> ? AND preshared_key_enc <=> ?",
                                    0},
    [DB_STMT_SEALED_NODE_PAGE] = {"sealed_node_page",
                                  "SELECT id, agent_token_enc, NULL FROM nodes WHERE id > ? "
                                  "AND agent_token_enc IS NOT NULL ORDER BY id LIMIT ?",
                                  DB_STMT_RETRY_SAFE},
    /* (new token, unused, id, old token, unused) */
    [DB_STMT_SEALED_NODE_REPLACE] = {"sealed_node_replace",
                                     "UPDATE nodes SET agent_token_enc = ? WHERE ? IS NULL "
                                     "AND id = ? AND agent_token_enc <=> ? AND ? IS NULL",
                                     0},
    /* (id): an operator's second chance for a failed job, with a fresh attempt budget */
    [DB_STMT_JOB_REQUEUE] = {"job_requeue",
                             "UPDATE jobs SET state = 'pending', attempts = 0, "
                             "next_attempt_at = NOW(6), lease_expires_at = NULL, "
                             "finished_at = NULL WHERE id = ? AND state = 'failed'",
                             0},
    [DB_STMT_JOB_PURGE] = {"job_purge",
                           "DELETE FROM jobs WHERE state = 'done' "
                           "AND finished_at < NOW(6) - INTERVAL ? SECOND ORDER BY id LIMIT ?",
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

    /*
     * (telegram_id x DB_BATCH_MAX) -> id, telegram_id, status of the users that exist,
     * share-locked until the transaction ends: a ban (DB_STMT_USER_SET_STATUS) waits for
     * the batch's commit and then revokes what it created, as DB_STMT_VPN_CREATE's guard
     * ensures one at a time.
     */
    [DB_STMT_BATCH_USERS] = {"batch_users",
                             "SELECT id, telegram_id, status FROM users WHERE telegram_id IN ("
                             Q32 ") LOCK IN SHARE MODE",
                             DB_STMT_RETRY_SAFE},
    /* (user id x DB_BATCH_MAX) -> those ids, share-locked (the users before their configs) */
    [DB_STMT_BATCH_USERS_LOCK] = {"batch_users_lock",
                                  "SELECT id FROM users WHERE id IN (" Q32
                                  ") LOCK IN SHARE MODE",
                                  DB_STMT_RETRY_SAFE},
    /* (node id x DB_BATCH_MAX) -> the ids of those that are active, share-locked: a node
     * drained or disabled meanwhile takes no VPN of the batch (DB_STMT_VPN_CREATE's guard) */
    [DB_STMT_BATCH_NODES_LOCK] = {"batch_nodes_lock",
                                  "SELECT id FROM nodes WHERE id IN (" Q32
                                  ") AND state = 'active' LOCK IN SHARE MODE",
                                  DB_STMT_RETRY_SAFE},
    /* ((node_id, peer_public_key) x DB_BATCH_MAX) -> VPN_COLUMNS (unique key
     * vpn_configs_node_peer) */
    [DB_STMT_BATCH_VPNS_BY_KEY] = {"batch_vpns_by_key",
                                   "SELECT " VPN_COLUMNS " FROM vpn_configs "
                                   "WHERE (node_id, peer_public_key) IN (" P32 ")",
                                   DB_STMT_RETRY_SAFE},
    /*
     * (node_id, vpn_config_id, idempotency_key, owner, lease microseconds): a provision job
     * claimed by its creator from the start, as DB_STMT_JOB_CLAIM_TAKE would leave it; a
     * known key is a duplicate key.
     */
    [DB_STMT_BATCH_JOB_INSERT] = {"batch_job_insert",
                                  "INSERT INTO jobs (kind, node_id, vpn_config_id, payload, "
                                  "idempotency_key, state, attempts, claimed_by, "
                                  "lease_expires_at) VALUES ('provision', ?, ?, '{}', ?, "
                                  "'running', 1, ?, NOW(6) + INTERVAL ? MICROSECOND)",
                                  0},
    /* (vpn_config_id x DB_BATCH_MAX) -> JOB_COLUMNS of their provision jobs */
    [DB_STMT_BATCH_JOBS_BY_VPN] = {"batch_jobs_by_vpn",
                                   "SELECT " JOB_COLUMNS " FROM jobs WHERE vpn_config_id IN ("
                                   Q32 ") AND kind = 'provision'",
                                   DB_STMT_RETRY_SAFE},
    /*
     * (job id x DB_BATCH_MAX, owner) -> the ids of those provision jobs that still run under
     * owner and whose configs are still pending; jobs and configs locked. Jobs first and
     * both by the primary key, so that only these rows are locked: a scan of jobs_state_id
     * or of the pending configs (vpn_configs_expiry) would lock the ranges where other
     * batches insert and activate theirs, and deadlock with them (seen with two
     * controllers).
     */
    [DB_STMT_BATCH_PROVISIONS_OPEN] = {"batch_provisions_open",
                                       "SELECT STRAIGHT_JOIN j.id FROM jobs j FORCE INDEX (PRIMARY) "
                                       "JOIN vpn_configs v FORCE INDEX (PRIMARY) "
                                       "ON v.id = j.vpn_config_id "
                                       "WHERE j.id IN (" Q32 ") AND j.state = 'running' "
                                       "AND j.claimed_by = ? AND v.status = 'pending' FOR UPDATE",
                                       DB_STMT_RETRY_SAFE},
    /* (activated_at, config, id): DB_STMT_VPN_ACTIVATE with the caller's time, which it
     * then knows without reading the row back */
    [DB_STMT_BATCH_VPN_ACTIVATE] = {"batch_vpn_activate",
                                    "UPDATE vpn_configs SET status = 'active', activated_at = ?, "
                                    "config = ? WHERE id = ? AND status = 'pending'",
                                    0},
    /* DB_STMT_VPN_CREATE's parameters, without its guard (the caller holds the users
     * share-locked by DB_STMT_BATCH_USERS and chose active nodes) */
    [DB_STMT_BATCH_VPN_INSERT] = {"batch_vpn_insert",
                                  "INSERT INTO vpn_configs (type, name, config, "
                                  "peer_public_key, private_key_enc, preshared_key_enc, is_trial, "
                                  "expires_at, idempotency_key, user_id, node_id) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  0},
    /* (node_id, address, kind, vpn_type, vpn_config_id, user_id): DB_STMT_IP_RECORD's row
     * for a config the caller has just activated (and so holds locked) */
    [DB_STMT_BATCH_IP_INSERT] = {"batch_ip_insert",
                                 "INSERT INTO ip_assignments (node_id, address, kind, vpn_type, "
                                 "vpn_config_id, user_id) VALUES (?, ?, ?, ?, ?, ?)",
                                 0},
    /* (vpn_config_id x DB_BATCH_MAX) -> id, node_id, address as text, vpn_config_id, user_id
     * of their live assignments */
    [DB_STMT_BATCH_IPS_OF] = {"batch_ips_of",
                              "SELECT id, node_id, INET6_NTOA(address), vpn_config_id, user_id "
                              "FROM ip_assignments WHERE vpn_config_id IN (" Q32
                              ") AND released_at IS NULL",
                              DB_STMT_RETRY_SAFE},
    /* (actor, user_id, assignment id, node_id, address, vpn_config_id): DB_STMT_AUDIT_IP's
     * row */
    [DB_STMT_BATCH_AUDIT_IP] = {"batch_audit_ip",
                                "INSERT INTO audit_log (actor_user_id, user_id, action, payload) "
                                "VALUES (?, ?, 'ip.assign', JSON_OBJECT('assignment_id', ?, "
                                "'node_id', ?, 'address', ?, 'vpn_config_id', ?))",
                                0},
    /* (actor, user_id, vpn_config_id, addresses recorded): DB_STMT_AUDIT_VPN_TRANSITION's
     * row of an activation */
    [DB_STMT_BATCH_AUDIT_ACTIVATE] = {"batch_audit_activate",
                                      "INSERT INTO audit_log (actor_user_id, user_id, action, "
                                      "payload) VALUES (?, ?, 'vpn.activate', JSON_OBJECT("
                                      "'vpn_config_id', ?, 'to', 'active', 'reason', NULL, "
                                      "'addresses_recorded', ?, 'addresses_released', 0))",
                                      0},

    [DB_STMT_PING] = {"ping", "SELECT 1", DB_STMT_RETRY_SAFE},
};
