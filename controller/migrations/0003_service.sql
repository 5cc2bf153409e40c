-- SPDX-License-Identifier: MIT
-- wgfleet controller schema, version 3: what the controller service (issue 5) keeps.
-- docs/schema.md explains every part.
--
-- 1. nodes: the sealed agent token and what the poller learns (health, boot id, free
--    addresses, peers), and the generation of the last full peer set sent.
-- 2. vpn_configs: the sealed client keys and the agent's traffic totals last counted.
-- 3. jobs: webhook jobs (kind 'notify', no node), the VPN a job is for (a revoke waits for
--    an earlier provision of the same VPN), who claimed it, its result; the indexes that
--    keep claiming cheap next to millions of finished jobs.
--
-- One ALTER per table: DDL commits on its own, and one statement per table leaves no
-- table half-changed if a later one fails.

-- Health: 'unknown' until the first poll (the nodes of version 2), then 'healthy' or
-- 'unhealthy' (failed_polls in a row reached the configured limit). Pools: the agent's
-- /v1/info lists them as an array, so the column takes an array as well as an object.
ALTER TABLE nodes
	ADD COLUMN agent_token_enc VARBINARY(8192) NULL AFTER agent_url,
	ADD COLUMN health VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL
		DEFAULT 'unknown' AFTER state,
	ADD COLUMN failed_polls INT UNSIGNED NOT NULL DEFAULT 0 AFTER health,
	ADD COLUMN boot_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL
		AFTER failed_polls,
	ADD COLUMN last_seen_at DATETIME(6) NULL AFTER boot_id,
	ADD COLUMN last_error VARCHAR(255) NULL AFTER last_seen_at,
	ADD COLUMN free_addresses BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER last_error,
	ADD COLUMN peers BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER free_addresses,
	ADD COLUMN peer_generation BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER peers,
	DROP CONSTRAINT nodes_pools_json,
	ADD CONSTRAINT nodes_pools_json CHECK (json_valid(pools) AND json_type(pools) IN ('OBJECT', 'ARRAY')),
	ADD CONSTRAINT nodes_health_valid CHECK (health IN ('unknown', 'healthy', 'unhealthy')),
	ADD CONSTRAINT nodes_boot_id_nonempty CHECK (boot_id <> ''),
	ADD CONSTRAINT nodes_agent_token_nonempty CHECK (LENGTH(agent_token_enc) > 0);

-- Sealed keys (the master key's secretbox: nonce, MAC and the 32-byte key). The seen
-- totals are the agent's rx/tx counters at the last accounting: the next poll adds only
-- the difference. vpn_configs_node_created: "configs created on a node since its last
-- poll" (node choice) reads a short range instead of all of the node's configs.
ALTER TABLE vpn_configs
	ADD COLUMN private_key_enc VARBINARY(255) NULL AFTER peer_public_key,
	ADD COLUMN preshared_key_enc VARBINARY(255) NULL AFTER private_key_enc,
	ADD COLUMN rx_seen BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER bandwidth_bytes,
	ADD COLUMN tx_seen BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER rx_seen,
	ADD KEY vpn_configs_node_created (node_id, created_at),
	ADD CONSTRAINT vpn_configs_private_key_nonempty CHECK (LENGTH(private_key_enc) > 0),
	ADD CONSTRAINT vpn_configs_preshared_key_nonempty CHECK (LENGTH(preshared_key_enc) > 0);

-- jobs_lease: running jobs by lease expiry (reclaiming a dead controller's jobs);
-- jobs_due (0001) serves pending jobs by due time. Neither range touches finished jobs.
-- jobs_state_id: "the newest failed jobs" without sorting all of them. jobs_vpn_config:
-- a VPN's jobs in order (the earlier unfinished job a later one waits for; the newest).
ALTER TABLE jobs
	MODIFY COLUMN node_id INT UNSIGNED NULL,
	ADD COLUMN vpn_config_id BIGINT UNSIGNED NULL AFTER node_id,
	ADD COLUMN claimed_by VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL
		AFTER lease_expires_at,
	ADD COLUMN result LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER last_error,
	ADD KEY jobs_lease (state, lease_expires_at),
	ADD KEY jobs_state_id (state, id),
	ADD KEY jobs_vpn_config (vpn_config_id, id),
	ADD CONSTRAINT jobs_vpn_config FOREIGN KEY (vpn_config_id) REFERENCES vpn_configs (id),
	DROP CONSTRAINT jobs_kind_valid,
	ADD CONSTRAINT jobs_kind_valid CHECK (kind IN ('provision', 'revoke', 'resync', 'notify')),
	ADD CONSTRAINT jobs_node_unless_notify CHECK ((kind = 'notify') = (node_id IS NULL)),
	ADD CONSTRAINT jobs_result_json CHECK (result IS NULL OR json_valid(result)),
	ADD CONSTRAINT jobs_claimed_by_nonempty CHECK (claimed_by <> '');
