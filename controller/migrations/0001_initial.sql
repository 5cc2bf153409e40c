-- SPDX-License-Identifier: MIT
-- wgfleet controller schema, version 1. docs/schema.md explains every constraint.
--
-- Conventions:
--  * utf8mb4 everywhere. Human text (names) uses utf8mb4_unicode_520_ci, which tells
--    4-byte characters apart (utf8mb4_general_ci treats every emoji as equal).
--    Machine values (states, methods, keys, charge ids) use utf8mb4_nopad_bin: exact,
--    case- and trailing-space-sensitive, so 'Active', 'active ' and 'active' are three
--    different values and the CHECK constraints accept only the real one.
--  * Times are DATETIME(6) in UTC (every session sets time_zone '+00:00').
--  * Money and bytes are integers: amounts in the currency's smallest unit, bytes as
--    BIGINT UNSIGNED.
--  * JSON is LONGTEXT with a json_valid() CHECK (what MariaDB's JSON type is), and an
--    object where the code expects one.
--  * Every enumerated column has a CHECK listing its values.

CREATE TABLE users (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	telegram_id BIGINT NOT NULL,
	username VARCHAR(64) NULL,
	first_name TEXT NULL,
	last_name TEXT NULL,
	status VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'active',
	qvapay_user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
	qvapay_app_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
	qvapay_linked_at DATETIME(6) NULL,
	last_login_at DATETIME(6) NULL,
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	PRIMARY KEY (id),
	UNIQUE KEY users_telegram_id (telegram_id),
	UNIQUE KEY users_qvapay_user (qvapay_user_id),
	KEY users_status (status),
	KEY users_username (username),
	CONSTRAINT users_telegram_id_positive CHECK (telegram_id > 0),
	CONSTRAINT users_status_valid CHECK (status IN ('active', 'banned')),
	CONSTRAINT users_qvapay_link_whole CHECK (
		(qvapay_user_id IS NULL AND qvapay_app_id IS NULL AND qvapay_linked_at IS NULL) OR
		(qvapay_user_id IS NOT NULL AND qvapay_app_id IS NOT NULL AND qvapay_linked_at IS NOT NULL)),
	CONSTRAINT users_qvapay_user_id_nonempty CHECK (qvapay_user_id <> '' AND qvapay_app_id <> '')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE roles (
	id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,
	name VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	description VARCHAR(255) NOT NULL DEFAULT '',
	PRIMARY KEY (id),
	UNIQUE KEY roles_name (name),
	CONSTRAINT roles_name_valid CHECK (name REGEXP '^[a-z][a-z0-9_]{0,31}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

INSERT INTO roles (name, description) VALUES
	('admin', 'manages users, VPN configs, payments and nodes'),
	('superadmin', 'also grants and revokes roles');

CREATE TABLE user_roles (
	user_id BIGINT UNSIGNED NOT NULL,
	role_id SMALLINT UNSIGNED NOT NULL,
	granted_by BIGINT UNSIGNED NULL,
	granted_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	expires_at DATETIME(6) NULL,
	PRIMARY KEY (user_id, role_id),
	KEY user_roles_role (role_id, expires_at),
	KEY user_roles_granted_by (granted_by),
	CONSTRAINT user_roles_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT user_roles_role FOREIGN KEY (role_id) REFERENCES roles (id),
	CONSTRAINT user_roles_granted_by FOREIGN KEY (granted_by) REFERENCES users (id) ON DELETE SET NULL,
	CONSTRAINT user_roles_expiry_after_grant CHECK (expires_at IS NULL OR expires_at > granted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE user_settings (
	user_id BIGINT UNSIGNED NOT NULL,
	language VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
	notify_expiry TINYINT UNSIGNED NOT NULL DEFAULT 1,
	data LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	PRIMARY KEY (user_id),
	CONSTRAINT user_settings_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT user_settings_language_valid CHECK (language REGEXP '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
	CONSTRAINT user_settings_notify_expiry_bool CHECK (notify_expiry IN (0, 1)),
	CONSTRAINT user_settings_data_json CHECK (json_valid(data) AND json_type(data) = 'OBJECT')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE nodes (
	id INT UNSIGNED NOT NULL AUTO_INCREMENT,
	name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	agent_url VARCHAR(2048) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	endpoint VARCHAR(261) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	public_key CHAR(44) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	pools LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	state VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'active',
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	PRIMARY KEY (id),
	UNIQUE KEY nodes_name (name),
	UNIQUE KEY nodes_public_key (public_key),
	KEY nodes_state (state),
	CONSTRAINT nodes_name_valid CHECK (name REGEXP '^[a-z0-9][a-z0-9._-]{0,63}$'),
	CONSTRAINT nodes_agent_url_http CHECK (agent_url REGEXP '^https?://[^[:space:]]+$'),
	CONSTRAINT nodes_endpoint_host_port CHECK (endpoint REGEXP '^([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$'),
	CONSTRAINT nodes_public_key_base64 CHECK (public_key REGEXP '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$'),
	CONSTRAINT nodes_pools_json CHECK (json_valid(pools) AND json_type(pools) = 'OBJECT'),
	CONSTRAINT nodes_state_valid CHECK (state IN ('active', 'draining', 'disabled'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE vpn_configs (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	user_id BIGINT UNSIGNED NOT NULL,
	node_id INT UNSIGNED NOT NULL,
	type VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	name VARCHAR(128) NOT NULL,
	config LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	peer_public_key CHAR(44) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
	status VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'pending',
	is_trial TINYINT UNSIGNED NOT NULL DEFAULT 0,
	bandwidth_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
	extra LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	activated_at DATETIME(6) NULL,
	expires_at DATETIME(6) NULL,
	revoked_at DATETIME(6) NULL,
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	-- The owner while this row is a live trial, NULL otherwise; UNIQUE ignores NULLs, so
	-- the index below allows any number of paid or ended configs and one live trial.
	active_trial_user BIGINT UNSIGNED AS
		(IF(is_trial = 1 AND status IN ('pending', 'active'), user_id, NULL)) STORED,
	PRIMARY KEY (id),
	UNIQUE KEY vpn_configs_one_active_trial (active_trial_user),
	UNIQUE KEY vpn_configs_node_peer (node_id, peer_public_key),
	KEY vpn_configs_user (user_id, created_at),
	KEY vpn_configs_expiry (status, expires_at),
	KEY vpn_configs_node_status (node_id, status),
	KEY vpn_configs_type_status (type, status, is_trial),
	CONSTRAINT vpn_configs_user FOREIGN KEY (user_id) REFERENCES users (id),
	CONSTRAINT vpn_configs_node FOREIGN KEY (node_id) REFERENCES nodes (id),
	CONSTRAINT vpn_configs_type_valid CHECK (type IN ('wireguard', 'outline')),
	CONSTRAINT vpn_configs_status_valid CHECK (status IN ('pending', 'active', 'expired', 'revoked')),
	CONSTRAINT vpn_configs_is_trial_bool CHECK (is_trial IN (0, 1)),
	CONSTRAINT vpn_configs_config_json CHECK (json_valid(config) AND json_type(config) = 'OBJECT'),
	CONSTRAINT vpn_configs_extra_json CHECK (json_valid(extra) AND json_type(extra) = 'OBJECT'),
	CONSTRAINT vpn_configs_peer_key_base64 CHECK (peer_public_key REGEXP '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$'),
	CONSTRAINT vpn_configs_peer_key_wireguard CHECK (peer_public_key IS NULL OR type = 'wireguard'),
	CONSTRAINT vpn_configs_active_since CHECK (status <> 'active' OR activated_at IS NOT NULL),
	CONSTRAINT vpn_configs_revoked_when CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
	CONSTRAINT vpn_configs_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at),
	CONSTRAINT vpn_configs_name_nonempty CHECK (name <> '')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE ip_assignments (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	node_id INT UNSIGNED NOT NULL,
	-- 4 or 16 bytes in network order: one spelling per address, so the UNIQUE key below
	-- cannot be dodged by writing 2001:db8::1 as 2001:DB8:0::1.
	address VARBINARY(16) NOT NULL,
	kind VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	vpn_type VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	vpn_config_id BIGINT UNSIGNED NULL,
	user_id BIGINT UNSIGNED NULL,
	assigned_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	released_at DATETIME(6) NULL,
	extra LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	PRIMARY KEY (id),
	UNIQUE KEY ip_assignments_node_address (node_id, address),
	KEY ip_assignments_node_live (node_id, released_at, kind),
	KEY ip_assignments_vpn_config (vpn_config_id),
	KEY ip_assignments_user (user_id),
	CONSTRAINT ip_assignments_node FOREIGN KEY (node_id) REFERENCES nodes (id),
	CONSTRAINT ip_assignments_vpn_config FOREIGN KEY (vpn_config_id) REFERENCES vpn_configs (id),
	CONSTRAINT ip_assignments_user FOREIGN KEY (user_id) REFERENCES users (id),
	CONSTRAINT ip_assignments_address_length CHECK (LENGTH(address) IN (4, 16)),
	CONSTRAINT ip_assignments_kind_valid CHECK (kind IN ('trial', 'paid')),
	CONSTRAINT ip_assignments_vpn_type_valid CHECK (vpn_type IN ('wireguard', 'outline')),
	CONSTRAINT ip_assignments_release_after_assign CHECK (released_at IS NULL OR released_at >= assigned_at),
	CONSTRAINT ip_assignments_live_has_owner CHECK (released_at IS NOT NULL OR vpn_config_id IS NOT NULL),
	CONSTRAINT ip_assignments_extra_json CHECK (json_valid(extra) AND json_type(extra) = 'OBJECT')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE payments (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	user_id BIGINT UNSIGNED NOT NULL,
	method VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	amount BIGINT NOT NULL,
	currency VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	status VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'pending',
	vpn_type VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	months SMALLINT UNSIGNED NOT NULL,
	provider_charge_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	vpn_config_id BIGINT UNSIGNED NULL,
	failure_reason VARCHAR(255) NULL,
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	completed_at DATETIME(6) NULL,
	refunded_at DATETIME(6) NULL,
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	PRIMARY KEY (id),
	UNIQUE KEY payments_charge (method, provider_charge_id),
	KEY payments_user (user_id, created_at),
	KEY payments_status_method (status, method, currency, amount),
	KEY payments_vpn_config (vpn_config_id),
	CONSTRAINT payments_user FOREIGN KEY (user_id) REFERENCES users (id),
	CONSTRAINT payments_vpn_config FOREIGN KEY (vpn_config_id) REFERENCES vpn_configs (id),
	CONSTRAINT payments_method_valid CHECK (method IN ('stars', 'qvapay')),
	CONSTRAINT payments_amount_positive CHECK (amount > 0),
	CONSTRAINT payments_currency_valid CHECK (currency REGEXP '^[A-Z]{3,8}$'),
	CONSTRAINT payments_stars_in_xtr CHECK (method <> 'stars' OR currency = 'XTR'),
	CONSTRAINT payments_status_valid CHECK (status IN ('pending', 'completed', 'failed', 'refunded')),
	CONSTRAINT payments_vpn_type_valid CHECK (vpn_type IN ('wireguard', 'outline')),
	CONSTRAINT payments_months_range CHECK (months BETWEEN 1 AND 120),
	CONSTRAINT payments_charge_id_nonempty CHECK (provider_charge_id <> ''),
	CONSTRAINT payments_completed_when CHECK ((status IN ('completed', 'refunded')) = (completed_at IS NOT NULL)),
	CONSTRAINT payments_refunded_when CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE jobs (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	kind VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	node_id INT UNSIGNED NOT NULL,
	payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	state VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'pending',
	attempts INT UNSIGNED NOT NULL DEFAULT 0,
	next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	lease_expires_at DATETIME(6) NULL,
	last_error TEXT NULL,
	idempotency_key VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
	finished_at DATETIME(6) NULL,
	PRIMARY KEY (id),
	UNIQUE KEY jobs_idempotency_key (idempotency_key),
	KEY jobs_due (state, next_attempt_at),
	KEY jobs_node_state (node_id, state),
	CONSTRAINT jobs_node FOREIGN KEY (node_id) REFERENCES nodes (id),
	CONSTRAINT jobs_kind_valid CHECK (kind IN ('provision', 'revoke', 'resync')),
	CONSTRAINT jobs_state_valid CHECK (state IN ('pending', 'running', 'done', 'failed')),
	CONSTRAINT jobs_payload_json CHECK (json_valid(payload) AND json_type(payload) = 'OBJECT'),
	CONSTRAINT jobs_running_has_lease CHECK ((state = 'running') = (lease_expires_at IS NOT NULL)),
	CONSTRAINT jobs_finished_when CHECK ((state IN ('done', 'failed')) = (finished_at IS NOT NULL)),
	CONSTRAINT jobs_idempotency_key_nonempty CHECK (idempotency_key <> '')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

CREATE TABLE audit_log (
	id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
	actor_user_id BIGINT UNSIGNED NULL,
	user_id BIGINT UNSIGNED NULL,
	action VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '{}',
	created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (id),
	KEY audit_log_user (user_id, created_at),
	KEY audit_log_actor (actor_user_id, created_at),
	KEY audit_log_created (created_at),
	CONSTRAINT audit_log_actor FOREIGN KEY (actor_user_id) REFERENCES users (id),
	CONSTRAINT audit_log_user FOREIGN KEY (user_id) REFERENCES users (id),
	CONSTRAINT audit_log_action_valid CHECK (action REGEXP '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$'),
	CONSTRAINT audit_log_payload_json CHECK (json_valid(payload) AND json_type(payload) = 'OBJECT')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
