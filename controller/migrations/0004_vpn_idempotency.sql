-- SPDX-License-Identifier: MIT
-- wgfleet controller schema, version 4: idempotent VPN creation. docs/schema.md explains it.
--
-- vpn_configs: the Idempotency-Key a client sent with POST /v1/users/{tid}/vpns. A bot
-- that retries after a lost answer or a 503 sends the same key and gets the VPN of its
-- first attempt instead of a second one.
--
-- One ALTER per table: DDL commits on its own, and one statement per table leaves no
-- table half-changed if a later one fails.

-- NULL: created without a key (the API before version 4, payment completions). The key is
-- per user, so the UNIQUE key is (user_id, idempotency_key); UNIQUE ignores NULLs, so keyless
-- configs never collide. Exact comparison (nopad_bin): 'k1', 'K1' and 'k1 ' are three keys.
-- It also decides between concurrent requests with one key: the second insert is a
-- duplicate key, and that request answers the first one's VPN.
ALTER TABLE vpn_configs
	ADD COLUMN idempotency_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL
		AFTER extra,
	ADD UNIQUE KEY vpn_configs_user_idempotency (user_id, idempotency_key),
	ADD CONSTRAINT vpn_configs_idempotency_key_nonempty CHECK (idempotency_key <> '');
