#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The controller end to end (docs/benchmarks.md, "Controller service"): provisions per
# second from the API call to the peer on the node's device, and their latency, with
# CLIENTS concurrent clients (bench_controller: POST /v1/users/{id}/vpns?wait=30, which
# answers once the agent has the peer) over two agents on wireguard-go, against MariaDB's
# raw single-row durable INSERT rate (mariadb-slap, 1 and CLIENTS clients) measured on the
# same server in alternating rounds. The server is durable (innodb_flush_log_at_trx_commit=1;
# the binary log is off, so sync_binlog does not apply). The bed is the controller tests'
# (tests/controller/ctl_lib.sh: namespaces, agents, controller; root). Release build in
# build-bench-ctl/. Prints the markdown table.
#   sudo bench/run-controller.sh                       CLIENTS=16 PER_CLIENT=100 ROUNDS=3
#   WORKERS=8 DB_POOL=32 sudo bench/run-controller.sh  other controller settings
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-16}
PER_CLIENT=${PER_CLIENT:-100}
ROUNDS=${ROUNDS:-3}
build=${BUILD:-build-bench-ctl}
[ "$(id -u)" = 0 ] || { echo "run-controller: needs root (network namespaces)" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target wgfleet-controller wgfleet-agent wgfleet-agentd \
	bench_controller >/dev/null

# Durable commits, and a buffer pool that holds everything this run writes.
export WGFLEET_DB_SERVER_OPTS="--innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=1G"
CTL_OWN_DB=1
set -- "$PWD/$build/bin"
. tests/controller/ctl_lib.sh
CTL_NODES=2
# The service's defaults, but for a shorter poll (registration waits for a healthy node).
CONF=([log_level]=warn [poll_interval]=5s [workers]=${WORKERS:-4} [db_pool_size]=${DB_POOL:-16})
ctl_setup >&2
settings=$(sql "SELECT CONCAT('MariaDB ', VERSION(), ', innodb_flush_log_at_trx_commit=',
	@@innodb_flush_log_at_trx_commit, ', log_bin=', @@log_bin, ', buffer pool ',
	@@innodb_buffer_pool_size DIV 1048576, ' MiB')")
[[ $settings == *"flush_log_at_trx_commit=1"* ]] || { echo "run-controller: the server is not durable: $settings" >&2; exit 1; }

raw_rate() { # clients queries
	mariadb-slap --no-defaults --socket="$DB_SOCK" -uroot --create-schema=bench_raw \
		--create="CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB" \
		--query="INSERT INTO t (v) VALUES (1)" --concurrency="$1" --number-of-queries="$2" \
		--iterations=1 | awk -v n="$2" '/Average number of seconds/ { printf "%.0f\n", n / $(NF - 1) }'
}
total=$((CLIENTS * PER_CLIENT))
out=$WGF_TMP/bench
mkdir -p "$out"
for (( r=0; r<ROUNDS; r++ )); do
	echo "run-controller: round $((r + 1))/$ROUNDS: raw inserts, then $total provisions with $CLIENTS clients" >&2
	raw_rate 1 "$total" >>"$out/raw1"
	raw_rate "$CLIENTS" "$total" >>"$out/rawN"
	ip netns exec "$KNS" "$BIN/bench_controller" "$(ctl_url 1)" "$WGF_TMP/bot.token" \
		"$CLIENTS" "$PER_CLIENT" $((1000000 + r * 1000)) | tee -a "$out/ours" >&2
done
# Every answer was a peer on a device: the nodes hold exactly the active VPNs.
poll_until 30 nodes_match || { nodes_report >&2; echo "run-controller: nodes differ from the database" >&2; exit 1; }
peers=$(( $(node_peers 1 | wc -l) + $(node_peers 2 | wc -l) ))

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%s\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'|' -v c="$1" '{ print $c }' "$out/ours" | median; }
raw1=$(median <"$out/raw1")
rawN=$(median <"$out/rawN")
rate=$(col 5) p50=$(col 6) p90=$(col 7) p99=$(col 8) max=$(col 9) cpu=$(col 11)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat <<EOF
Measured on $(date -u +%Y-%m-%d) ($settings; $(nproc) vCPUs; controller workers=${WORKERS:-4},
db_pool_size=${DB_POOL:-16}; release build), median of $ROUNDS rounds of $total provisions
with $CLIENTS clients over 2 agents on wireguard-go; afterwards the devices held $peers
peers, exactly the active VPNs.

| what | clients | per second | p50 ms | p90 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|---:|
| raw single-row autocommit INSERT (mariadb-slap) | 1 | $raw1 | | | | |
| raw single-row autocommit INSERT (mariadb-slap) | $CLIENTS | $rawN | | | | |
| **provision, API call to peer on the device** | $CLIENTS | $rate | $p50 | $p90 | $p99 | $max |

Ratio to raw: $(ratio "$rate" "$raw1") (1 client), $(ratio "$rate" "$rawN") ($CLIENTS clients).
The load client used $cpu µs of CPU per provision.
EOF
