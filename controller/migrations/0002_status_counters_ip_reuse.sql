-- SPDX-License-Identifier: MIT
-- wgfleet controller schema, version 2. docs/schema.md explains every part.
--
-- 1. Status counters kept by triggers, so that the status page reads a few hundred small
--    rows instead of counting millions (the old system ran a dozen COUNT(*) per call).
-- 2. IP assignments: an address is unique on its node among *live* assignments, so that
--    an address the agent released and later hands out again can be recorded again,
--    while the released rows stay as history.

-- Row counts and sums of the big tables, by the values the status page reports. Each
-- group is split over 16 slots (the row's id modulo 16): concurrent transactions on
-- different rows rarely update the same counter row, so the counters do not serialise
-- the writes they count. The status query sums the slots.
CREATE TABLE status_counters (
	subject VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	state VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
	kind VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT '',
	detail VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT '',
	slot TINYINT UNSIGNED NOT NULL,
	row_count BIGINT NOT NULL DEFAULT 0,
	-- bandwidth bytes (vpn_configs) or amounts in the smallest unit (payments): wide
	-- enough that no sum of BIGINT UNSIGNED values can overflow it
	amount_sum DECIMAL(39, 0) NOT NULL DEFAULT 0,
	PRIMARY KEY (subject, state, kind, detail, slot),
	CONSTRAINT status_counters_subject_valid CHECK (subject IN ('users', 'vpn_configs', 'payments', 'jobs')),
	CONSTRAINT status_counters_slot_range CHECK (slot < 16)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;

-- The triggers. Each body is one statement (an INSERT ... SELECT ... WHERE that inserts
-- nothing when nothing counted changed), so the migration needs no DELIMITER. An UPDATE
-- that moves a row to another group takes it out of the old group first, then adds it to
-- the new one. Every counter update is an upsert: a group seen for the first time gets
-- its row. Keys: users (status), vpn_configs (status, type, trial|paid) with the
-- bandwidth, payments (status, method, currency) with the amount, jobs (state).

CREATE TRIGGER users_count_insert AFTER INSERT ON users FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	VALUES ('users', NEW.status, NEW.id % 16, 1)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER users_count_update_leave AFTER UPDATE ON users FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'users', OLD.status, OLD.id % 16, -1 FROM DUAL
	WHERE NOT (OLD.status <=> NEW.status AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER users_count_update_enter AFTER UPDATE ON users FOR EACH ROW FOLLOWS users_count_update_leave
	INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'users', NEW.status, NEW.id % 16, 1 FROM DUAL
	WHERE NOT (OLD.status <=> NEW.status AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER users_count_delete AFTER DELETE ON users FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	VALUES ('users', OLD.status, OLD.id % 16, -1)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER vpn_configs_count_insert AFTER INSERT ON vpn_configs FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	VALUES ('vpn_configs', NEW.status, NEW.type, IF(NEW.is_trial = 1, 'trial', 'paid'),
		NEW.id % 16, 1, NEW.bandwidth_bytes)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER vpn_configs_count_update_leave AFTER UPDATE ON vpn_configs FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'vpn_configs', OLD.status, OLD.type, IF(OLD.is_trial = 1, 'trial', 'paid'),
		OLD.id % 16, -1, -CAST(OLD.bandwidth_bytes AS DECIMAL(39, 0)) FROM DUAL
	WHERE NOT (OLD.status <=> NEW.status AND OLD.type <=> NEW.type
		AND OLD.is_trial <=> NEW.is_trial AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

-- Same group: only the bandwidth moved (the accounting path), so only its difference is
-- added, to the one counter row.
CREATE TRIGGER vpn_configs_count_update_enter AFTER UPDATE ON vpn_configs FOR EACH ROW FOLLOWS vpn_configs_count_update_leave
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'vpn_configs', NEW.status, NEW.type, IF(NEW.is_trial = 1, 'trial', 'paid'),
		NEW.id % 16, IF(g.same, 0, 1),
		IF(g.same, CAST(NEW.bandwidth_bytes AS DECIMAL(39, 0)) - OLD.bandwidth_bytes,
			NEW.bandwidth_bytes)
	FROM (SELECT OLD.status <=> NEW.status AND OLD.type <=> NEW.type
		AND OLD.is_trial <=> NEW.is_trial AND OLD.id <=> NEW.id AS same) g
	WHERE NOT (g.same AND OLD.bandwidth_bytes = NEW.bandwidth_bytes)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER vpn_configs_count_delete AFTER DELETE ON vpn_configs FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	VALUES ('vpn_configs', OLD.status, OLD.type, IF(OLD.is_trial = 1, 'trial', 'paid'),
		OLD.id % 16, -1, -CAST(OLD.bandwidth_bytes AS DECIMAL(39, 0)))
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER payments_count_insert AFTER INSERT ON payments FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	VALUES ('payments', NEW.status, NEW.method, NEW.currency, NEW.id % 16, 1, NEW.amount)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER payments_count_update_leave AFTER UPDATE ON payments FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'payments', OLD.status, OLD.method, OLD.currency, OLD.id % 16, -1, -OLD.amount
	FROM DUAL
	WHERE NOT (OLD.status <=> NEW.status AND OLD.method <=> NEW.method
		AND OLD.currency <=> NEW.currency AND OLD.amount <=> NEW.amount AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER payments_count_update_enter AFTER UPDATE ON payments FOR EACH ROW FOLLOWS payments_count_update_leave
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'payments', NEW.status, NEW.method, NEW.currency, NEW.id % 16, 1, NEW.amount
	FROM DUAL
	WHERE NOT (OLD.status <=> NEW.status AND OLD.method <=> NEW.method
		AND OLD.currency <=> NEW.currency AND OLD.amount <=> NEW.amount AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER payments_count_delete AFTER DELETE ON payments FOR EACH ROW
	INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	VALUES ('payments', OLD.status, OLD.method, OLD.currency, OLD.id % 16, -1, -OLD.amount)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count),
		amount_sum = amount_sum + VALUES(amount_sum);

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	VALUES ('jobs', NEW.state, NEW.id % 16, 1)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER jobs_count_update_leave AFTER UPDATE ON jobs FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'jobs', OLD.state, OLD.id % 16, -1 FROM DUAL
	WHERE NOT (OLD.state <=> NEW.state AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER jobs_count_update_enter AFTER UPDATE ON jobs FOR EACH ROW FOLLOWS jobs_count_update_leave
	INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'jobs', NEW.state, NEW.id % 16, 1 FROM DUAL
	WHERE NOT (OLD.state <=> NEW.state AND OLD.id <=> NEW.id)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs FOR EACH ROW
	INSERT INTO status_counters (subject, state, slot, row_count)
	VALUES ('jobs', OLD.state, OLD.id % 16, -1)
	ON DUPLICATE KEY UPDATE row_count = row_count + VALUES(row_count);

-- The counters of the rows that exist already. Each INSERT ... SELECT reads its table
-- with shared locks (a locking read, in this transaction), so no write can slip between
-- the count and the triggers; the upsert sets, rather than adds, in case a trigger
-- counted a row before this ran.
INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'users', status, id % 16, COUNT(*) FROM users GROUP BY status, id % 16
	ON DUPLICATE KEY UPDATE row_count = VALUES(row_count);
INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'vpn_configs', status, type, IF(is_trial = 1, 'trial', 'paid'), id % 16, COUNT(*),
		SUM(bandwidth_bytes)
	FROM vpn_configs GROUP BY status, type, is_trial, id % 16
	ON DUPLICATE KEY UPDATE row_count = VALUES(row_count), amount_sum = VALUES(amount_sum);
INSERT INTO status_counters (subject, state, kind, detail, slot, row_count, amount_sum)
	SELECT 'payments', status, method, currency, id % 16, COUNT(*), SUM(amount)
	FROM payments GROUP BY status, method, currency, id % 16
	ON DUPLICATE KEY UPDATE row_count = VALUES(row_count), amount_sum = VALUES(amount_sum);
INSERT INTO status_counters (subject, state, slot, row_count)
	SELECT 'jobs', state, id % 16, COUNT(*) FROM jobs GROUP BY state, id % 16
	ON DUPLICATE KEY UPDATE row_count = VALUES(row_count);

-- One live assignment per address and node. live_address is the address while the
-- assignment is live and NULL once released; UNIQUE ignores NULLs (as for the one live
-- trial in 0001), so released rows stay as history and never block the address.
ALTER TABLE ip_assignments
	ADD COLUMN live_address VARBINARY(16) AS (IF(released_at IS NULL, address, NULL)) STORED
		AFTER address,
	DROP INDEX ip_assignments_node_address,
	ADD UNIQUE KEY ip_assignments_node_live_address (node_id, live_address),
	ADD KEY ip_assignments_node_address (node_id, address);
