#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The node agent with 50,000 peers on wireguard-go (Release build in build-bench/):
#  1. load N peers with one PUT /v1/peers (the agent journals them in one frame and pushes
#     them to the device through its incremental diff);
#  2. provision latency: M POST /v1/peers of new peers, one at a time over one keep-alive
#     connection (bench_agent), p50/p90/p99;
#  3. the agent's RSS (VmRSS/VmHWM of wgfleet-agentd alone, not wireguard-go), after the
#     load and after a restart that reads the same peers back from the journal;
#  4. on the same device, the `wg syncconf`-per-change way of control panels: a config with
#     all peers plus one new one rewritten and `wg syncconf` run, S times.
#   bench/run-agent.sh [N [M [S]]]      defaults: 50000 500 20
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000} M=${2:-500} S=${3:-20}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target wgfleet-agent wgfleet-agentd bench_agent >/dev/null
BIN=$PWD/build-bench/bin

# p50 and p99 of numbers on stdin (nearest rank), in ms.
pct() { sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.5) + 1; j = int(NR * 0.99) + 1;
	if (j > NR) j = NR; printf "p50 %.1f ms  p99 %.1f ms  max %.1f ms (%d runs)\n", v[i], v[j], v[NR], NR }'; }

set -- "$BIN"
# A /10 and a /64: every peer gets an IPv4 and an IPv6 address (two allowed IPs).
AGENT_POOLS="pool = 10.64.0.0/10
pool = fd99::/64"
. tests/integration/lib.sh
. tests/integration/agent_lib.sh
agent_setup
# The default interval: a reconcile pass (a full device read) may land among the POSTs.
sed -i 's/^reconcile_interval = .*/reconcile_interval = 30s/' "$WGF_TMP/agent.conf"
agent_start
[ "$(cat "/proc/$AGENT_PID/comm")" = wgfleet-agentd ] || wgf_fail "PID $AGENT_PID is not the agent"
rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$AGENT_PID/status"; echo; }

echo "wireguard-go $(wireguard-go --version | sed -n 's/^wireguard-go v//p'), $(nproc) vCPU, state on $(df -T "$WGF_TMP" | awk 'NR == 2 { print $2 }')"
echo "agent idle:            $(rss)"
ip netns exec "$NS" "$BIN/bench_agent" 127.0.0.1 8080 "$WGF_TMP/token" put "$N"
[ "$(wg show "$IFN" peers | wc -l)" = "$N" ] || wgf_fail "device has $(wg show "$IFN" peers | wc -l) peers, want $N"
echo "agent with $N peers:   $(rss)"
ip netns exec "$NS" "$BIN/bench_agent" 127.0.0.1 8080 "$WGF_TMP/token" post "$M"
[ "$(wg show "$IFN" peers | wc -l)" = $((N + M)) ] || wgf_fail "device does not have $((N + M)) peers"
echo "agent with $((N + M)) peers:   $(rss)"
# The next reconcile pass (SIGHUP runs one now) gives the burst's pages back: steady state.
kill -HUP "$AGENT_PID"
sleep 2
echo "agent after a reconcile pass: $(rss)"
echo "journal: $(du -k "$WGF_TMP/state" | awk '{ printf "%.1f MB", $1 / 1024 }')"
# The same peers loaded from the journal at start (plus one full reconcile pass against the
# device): the steady state, without the PUT's transient 6 MB answer and JSON trees.
agent_stop
t0=$(date +%s%N)
agent_start
echo "agent restarted with $((N + M)) peers in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(rss)"
# The agent goes, so that its reconcile does not undo the syncconf runs below.
agent_stop

wg showconf "$IFN" >"$WGF_TMP/panel.conf"
for (( i=0; i<S; i++ )); do
	printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.127.%d.%d/32\n' \
		"$(head -c 32 /dev/urandom | base64)" $((i / 250)) $((i % 250 + 1)) >>"$WGF_TMP/panel.conf"
	t0=$(date +%s%N)
	wg syncconf "$IFN" "$WGF_TMP/panel.conf"
	echo $(( ($(date +%s%N) - t0) / 1000 )) | awk '{ print $1 / 1000 }'
done | pct | sed "s/^/wg syncconf per change, $((N + M))+ peers: /"
[ "$(wg show "$IFN" peers | wc -l)" = $((N + M + S)) ] || wgf_fail "syncconf did not add the peers"
