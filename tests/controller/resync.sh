#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resync: an agent restarts with its state directory wiped and a fresh interface (new boot
# id, no peers, a new server key). The poller sees the new boot id, and the resync job
# puts back every active VPN's peer with the addresses its config names, and no revoked
# one. A plain agent restart (same state, new boot id) changes nothing on the device.
#   resync.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup
TID=110100
user_put "$TID"
for n in $(seq 1 12); do
	expect 201 bot POST "/v1/users/$TID/vpns" "{\"type\":\"wireguard\",\"name\":\"v$n\"}"
	V[n]=$(j .id)
done
wait_for 10 "12 VPNs active" nodes_match
expect 200 bot DELETE "/v1/vpns/${V[1]}"
expect 200 bot DELETE "/v1/vpns/${V[2]}"
wait_for 10 "2 revoked" nodes_match
# The addresses each active VPN's config names, as "key addr,addr" lines.
want_view() {
	local id
	for id in $(sql "SELECT id FROM vpn_configs WHERE status = 'active'"); do
		api bot GET "/v1/vpns/$id"
		echo "$(j .public_key) $(j '.addresses | sort | join(",")')"
	done | sort
}
device_view() {
	wg show "${SIF[1]}" allowed-ips | awk '{ k = $1; $1 = ""; n = split(substr($0, 2), a, " ");
		asort(a); s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") a[i]; print k, s }' | sort
}
WANT=$(want_view)
[ "$(wc -l <<<"$WANT")" = 10 ] || wgf_fail "want 10 active VPNs: $WANT"
[ "$(device_view)" = "$WANT" ] || wgf_fail "the device differs before the test"
boot_of_node() { api admin GET /v1/nodes; j ".nodes[] | select(.id == ${NODE_ID[1]}) | .boot_id"; }
boot0=$(boot_of_node)
[ "$boot0" = "$(agent_api 1 GET /v1/info | jq -r .boot_id)" ] || wgf_fail "the node's boot id is not the agent's"

# --- restart with nothing: state wiped, interface recreated
agent_stop 1
wggo_stop 1
rm -rf "$WGF_TMP/agent1/state"
mkdir -m 700 "$WGF_TMP/agent1/state"
wggo_start 1
t0=$(date +%s%3N)
fresh() { grep -c ': 0 peers, generation 0 (new)$' "$WGF_TMP/agent1.log"; }
f0=$(fresh)
agent_start 1
# The agent's own start-up line says whether it came back empty; its /v1/info cannot, as
# the poller may already have seen the new boot id and the resync put the peers back.
(( $(fresh) == f0 + 1 )) || wgf_fail "the agent came back with peers: $(tail -5 "$WGF_TMP/agent1.log")"
boot1=$(agent_api 1 GET /v1/info | jq -r .boot_id)
[ "$boot1" != "$boot0" ] || wgf_fail "same boot id after a restart"
log "agent restarted empty: boot id $boot1"

restored() { [ "$(device_view)" = "$WANT" ]; }
# A poll (1 s), the resync job and its PUT.
wait_for 10 "all active peers restored" restored
log "all 10 peers restored $(( $(date +%s%3N) - t0 )) ms after the agent started"
[ "$(boot_of_node)" = "$boot1" ] || wgf_fail "the node's boot id is $(boot_of_node), want $boot1"
api admin GET "/v1/jobs?state=done"
[ "$(j '[.jobs[] | select(.kind == "resync")] | length')" -ge 1 ] || wgf_fail "no resync job done: $BODY"
# The agent's own record holds them too (it journals the PUT).
[ "$(agent_api 1 GET /v1/peers | jq '.peers | length')" = 10 ] || wgf_fail "the agent does not list 10 peers"
for id in "${V[1]}" "${V[2]}"; do
	key=$(sql "SELECT peer_public_key FROM vpn_configs WHERE id = $id")
	! node_peers 1 | grep -qxF "$key" || wgf_fail "revoked VPN $id came back"
done
# New VPNs still get addresses that do not collide with the restored ones.
expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"after"}'
V[13]=$(j .id)
wait_for 10 "the new VPN active" nodes_match
[ "$(device_view | awk '{ print $2 }' | tr ',' '\n' | sort | uniq -d)" = "" ] || wgf_fail "an address is on two peers"
WANT=$(want_view)

# --- a plain restart: a new boot id, the same state; nothing to change
resyncs() { sql "SELECT COUNT(*) FROM jobs WHERE kind = 'resync'"; }
r0=$(resyncs)
agent_stop 1
agent_start 1
boot2=$(agent_api 1 GET /v1/info | jq -r .boot_id)
node_boot() { [ "$(boot_of_node)" = "$boot2" ]; }
wait_for 10 "the poller saw boot id $boot2" node_boot
wait_for 10 "jobs settled" jobs_settled
(( $(resyncs) == r0 + 1 )) || wgf_fail "resync jobs: $r0 -> $(resyncs), want one more"
[ "$(device_view)" = "$WANT" ] || wgf_fail "the device changed after a plain restart"
# The node's key as clients see it: the agent's current one (recorded by the poller).
api admin GET /v1/nodes
nodekey=$(j ".nodes[] | select(.id == ${NODE_ID[1]}) | .public_key")
[ "$nodekey" = "$(wg show "${SIF[1]}" public-key)" ] ||
	wgf_fail "the node's recorded public key $nodekey is not the agent's current one"
echo "resync: PASS"
