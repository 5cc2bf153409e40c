#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The node agent on wireguard-go, driven over real HTTP: 1,000 peers from 8 concurrent
# clients (unique addresses, `wg show dump` equals the agent's view); a restart keeps peers
# and addresses; kill -9 during a burst of provisions, then restart: every acknowledged peer
# is present and no address is on two peers.
#   agent_scale.sh BIN_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
CLIENT=$(dirname "$0")/agent_client.py
command -v curl >/dev/null && command -v python3 >/dev/null || wgf_fail "curl and python3 are needed"

check_consistent() { # $1: what
	agent_view >"$WGF_TMP/agent.view"
	device_view >"$WGF_TMP/device.view"
	cmp -s "$WGF_TMP/agent.view" "$WGF_TMP/device.view" ||
		{ diff "$WGF_TMP/agent.view" "$WGF_TMP/device.view" | head >&2; wgf_fail "$1: device differs from the agent"; }
	local dup
	dup=$(awk '{ n = split($2, a, ","); for (i = 1; i <= n; i++) print a[i] }' "$WGF_TMP/agent.view" | sort | uniq -d | head -3)
	[ -z "$dup" ] || wgf_fail "$1: addresses on two peers: $dup"
}

clients() { # N_EACH TAG: 8 concurrent clients
	local i pids=()
	for i in 1 2 3 4 5 6 7 8; do
		ip netns exec "$NS" python3 "$CLIENT" 127.0.0.1 8080 "$TOKEN" "$1" "$WGF_TMP/acked.$2.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || [ "$2" = burst ] || wgf_fail "a client failed"; done
}

agent_setup
agent_start
boot1=$(api GET /v1/info | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["boot_id"])')

t0=$(date +%s.%N)
clients 125 first
t1=$(date +%s.%N)
cat "$WGF_TMP"/acked.first.* | sort >"$WGF_TMP/acked"
[ "$(wc -l <"$WGF_TMP/acked")" = 1000 ] || wgf_fail "$(wc -l <"$WGF_TMP/acked") of 1000 provisions acknowledged"
check_consistent "1000 peers"
[ "$(wc -l <"$WGF_TMP/agent.view")" = 1000 ] || wgf_fail "agent lists $(wc -l <"$WGF_TMP/agent.view") peers"
awk '{ print $1, ($3 < $2 ? $3 "," $2 : $2 "," $3) }' "$WGF_TMP/acked" | sort |
	cmp -s - "$WGF_TMP/agent.view" || wgf_fail "answers given differ from the agent's record"
echo "1000 peers from 8 clients in $(echo "$t1 - $t0" | bc) s: unique addresses, device = agent"

# Restart: same peers, same addresses, a new boot id.
cp "$WGF_TMP/agent.view" "$WGF_TMP/before"
agent_stop
agent_start
check_consistent "after restart"
cmp -s "$WGF_TMP/before" "$WGF_TMP/agent.view" || wgf_fail "restart changed peers or addresses"
boot2=$(api GET /v1/info | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["boot_id"])')
[ "$boot1" != "$boot2" ] || wgf_fail "boot id did not change on restart"
echo "restart: same 1000 peers and addresses, boot id $boot1 -> $boot2"

# kill -9 in the middle of a burst, then restart.
clients 400 burst &
cpid=$!
# The kill must land inside the burst: after the first acknowledgements, not after a fixed
# time (a loaded machine may take longer than that to start eight clients).
acked_burst() { cat "$WGF_TMP"/acked.burst.* 2>/dev/null | wc -l; }
for (( n=0; n<600; n++ )); do
	[ "$(acked_burst)" -ge 200 ] && break
	sleep 0.05
done
agent_kill
wait "$cpid" || true
cat "$WGF_TMP"/acked.burst.* 2>/dev/null | sort >"$WGF_TMP/acked.burst" || true
nb=$(wc -l <"$WGF_TMP/acked.burst")
[ "$nb" -gt 0 ] && [ "$nb" -lt 3200 ] || wgf_fail "the kill did not land inside the burst ($nb acknowledged)"
agent_start
check_consistent "after kill -9"
missing=$(cut -d' ' -f1 "$WGF_TMP/acked" "$WGF_TMP/acked.burst" | sort | comm -23 - <(cut -d' ' -f1 "$WGF_TMP/agent.view") | wc -l)
[ "$missing" = 0 ] || wgf_fail "$missing acknowledged peers lost by kill -9"
n=$(wc -l <"$WGF_TMP/agent.view")
echo "kill -9 after $nb acknowledged provisions: $n peers after restart, all acknowledged present, no duplicate address"
agent_stop
grep -q 'dropped an unacknowledged torn' "$WGF_TMP/agent.log" && echo "(a torn last frame was dropped)"
echo "agent_scale: PASS"
