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
# The agents' default reconcile (the tests' 1 s reads every device whole each second: at a
# few thousand peers that was a quarter of wireguard-go's CPU in this bench).
AGENT_RECONCILE=30s
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
# CPU ticks by program (all processes of each), and the machine's busy ticks: what a
# provision costs each part, from snapshots around the provisions.
machine_busy() { # all CPUs' ticks but idle and iowait
	awk '{ busy = 0; for (i = 2; i <= 9; i++) if (i != 5 && i != 6) busy += $i; print busy; exit }' /proc/stat
}
cpu_snapshot() {
	echo "machine $(machine_busy)"
	for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null || :; done |
		sed -E 's/^[0-9]+ \((.*)\) [A-Z] /\1 /' |
		awk '{ t[$1] += $12 + $13 } END { for (c in t) print c, t[c] }'
}
for (( r=0; r<ROUNDS; r++ )); do
	echo "run-controller: round $((r + 1))/$ROUNDS: raw inserts, then $total provisions with $CLIENTS clients" >&2
	raw_rate 1 "$total" >>"$out/raw1"
	busy0=$(machine_busy)
	raw_rate "$CLIENTS" "$total" >>"$out/rawN"
	busy1=$(machine_busy)
	awk -v a="$busy0" -v b="$busy1" -v n="$total" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.0f\n", (b - a) * 1e6 / hz / n }' >>"$out/rawN_cpu"
	cpu_snapshot >"$out/cpu0"
	ip netns exec "$KNS" "$BIN/bench_controller" "$(ctl_url 1)" "$WGF_TMP/bot.token" \
		"$CLIENTS" "$PER_CLIENT" $((1000000 + r * 1000)) | tee -a "$out/ours" >&2
	cpu_snapshot >"$out/cpu1"
	# µs of CPU per provision by program, this round
	awk -v n="$total" -v hz="$(getconf CLK_TCK)" 'NR == FNR { a[$1] = $2; next }
		{ d = ($2 - a[$1]) * 1e6 / hz / n; if (d >= 5) printf "%s %.0f\n", $1, d }' \
		"$out/cpu0" "$out/cpu1" >>"$out/cpu"
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

CPU per provision by program (µs, median of the rounds; "machine" is all CPUs busy,
the rest is what /proc counts for each program's processes). A raw insert with $CLIENTS
clients kept the machine busy for $(median <"$out/rawN_cpu") µs each (mariadb-slap and mariadbd).

| program | µs per provision |
|---|---:|
$(awk '{ print $1 }' "$out/cpu" | sort -u | while read -r c; do
	printf '| %s | %s |\n' "$c" "$(awk -v c="$c" '$1 == c { print $2 }' "$out/cpu" | median)"
done | sort -t'|' -k3 -rn)
EOF
