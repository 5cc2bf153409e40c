#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks of the controller's data layer (docs/benchmarks.md, "Controller data layer").
# Starts its own MariaDB (tests/db/server.sh) with durable commits
# (innodb_flush_log_at_trx_commit=1) and a buffer pool that holds the data, runs
#   (a) the status query with ROWS users, VPN configs and payments: the old system's one
#       query per figure against ours, in alternating rounds (bench_db status);
#   (b) payment completions per second with THREADS threads against MariaDB's raw
#       single-row durable autocommit INSERT (mariadb-slap, 1 and THREADS clients), in
#       alternating rounds (bench_db complete);
# prints the markdown tables and stops the server. Release build in build-bench-db/.
#   bench/run-db.sh                  ROWS=1000000 ROUNDS=5 THREADS=8 PER_THREAD=500
#   ROWS=100000 bench/run-db.sh      smaller, quicker
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-8}
PER_THREAD=${PER_THREAD:-500}
build=${BUILD:-build-bench-db}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_db wgfleet-controller >/dev/null
bin=$PWD/$build/bin
state=$PWD/$build/bench-db
out=$(mktemp -d)
trap 'tests/db/server.sh stop "$state" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

# Durable, and room for ~3 GB of rows and indexes; a big redo log for the bulk load.
WGFLEET_DB_SERVER_OPTS="--innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=3G \
--innodb-log-file-size=1G" tests/db/server.sh start "$state" >&2
sock=$(tests/db/server.sh url "$state")
sock=${sock#*\?socket=}
sql() { mariadb --no-defaults --protocol=socket --socket="$sock" -uroot -N -e "$1"; }
settings=$(sql "SELECT CONCAT('MariaDB ', VERSION(), ', innodb_flush_log_at_trx_commit=',
	@@innodb_flush_log_at_trx_commit, ', innodb_doublewrite=', @@innodb_doublewrite,
	', buffer pool ', @@innodb_buffer_pool_size DIV 1048576, ' MiB')")
[[ $settings == *"flush_log_at_trx_commit=1"* ]] || { echo "run-db: the server is not durable: $settings" >&2; exit 1; }

# A database for one part, migrated: tests/db/with_db.sh makes and drops it.
in_db() {
	local name=$1
	shift
	tests/db/with_db.sh "$state" "$name" sh -c '"$0" migrate >/dev/null && exec "$@"' \
		"$bin/wgfleet-controller" "$@"
}

# (a) status
echo "run-db: (a) status query, $ROWS rows per table, $ROUNDS rounds" >&2
in_db bench_status "$bin/bench_db" status "$ROWS" "$ROUNDS" >"$out/status"

# (b) payment completions. The reference: mariadb-slap, MariaDB's own load client, doing
# single-row autocommit INSERTs into a two-column table with nothing else on it.
raw_rate() { # clients queries
	mariadb-slap --no-defaults --socket="$sock" -uroot --create-schema=bench_raw \
		--create="CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB" \
		--query="INSERT INTO t (v) VALUES (1)" --concurrency="$1" --number-of-queries="$2" \
		--iterations=1 | awk -v n="$2" '/Average number of seconds/ { printf "%.0f\n", n / $(NF - 1) }'
}
total=$((THREADS * PER_THREAD))
echo "run-db: (b) $total payment completions with $THREADS threads, $ROUNDS rounds" >&2
for ((i = 0; i < ROUNDS; i++)); do
	raw_rate 1 "$total" >>"$out/raw1"
	raw_rate "$THREADS" "$total" >>"$out/raw8"
	in_db bench_complete "$bin/bench_db" complete "$THREADS" "$PER_THREAD" |
		awk -F'|' '/^complete\|/ { print $4 }' >>"$out/ours"
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
raw1=$(median "$out/raw1")
raw8=$(median "$out/raw8")
ours=$(median "$out/ours")

cat <<EOF
Measured on $(date -u +%Y-%m-%d) ($settings; $(nproc) vCPUs), median of $ROUNDS rounds.

### (a) Status query

$(sed -n 's/^gen_seconds=\(.*\)/Generating the rows took \1 s (INSERT ... SELECT from the sequence engine, triggers on)./p' "$out/status")

| rows | way | ms | speed-up vs old |
|---:|---|---:|---:|
$(grep '^|' "$out/status")

### (b) Payment completions, durable

| what | threads | per second | ratio to raw (1 client) | ratio to raw ($THREADS clients) |
|---|---:|---:|---:|---:|
| raw single-row autocommit INSERT (mariadb-slap) | 1 | $raw1 | 1 | |
| raw single-row autocommit INSERT (mariadb-slap) | $THREADS | $raw8 | | 1 |
| **ours: db_payment_complete()** (guarded UPDATE + counters + audit row, one transaction) | $THREADS | $ours | $(awk -v a="$ours" -v b="$raw1" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$ours" -v b="$raw8" 'BEGIN { printf "%.2f", a / b }') |
EOF
