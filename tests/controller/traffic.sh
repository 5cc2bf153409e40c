#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Traffic: pings through a client's tunnel; the poller adds the agent's totals into the
# VPN's bandwidth_bytes, which then equals the agent's rx + tx for the peer. The node's
# wireguard-go is restarted (device counters back to zero) and the agent too: the VPN's
# bytes never go down, and new traffic keeps adding up.
#   traffic.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
CONF[persistent_keepalive]=0 # no keepalives: the totals hold still between pings
ctl_setup
TID=120100
user_put "$TID"
expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"t"}'
VID=$(j .id)
wait_for 10 "VPN active" vpn_status "$VID" active
KEY=$(j .public_key)
KEY_URL=$(jq -rn --arg k "$KEY" '$k | @uri')
[ "$(j .bandwidth_bytes)" = 0 ] || wgf_fail "a new VPN has used $(j .bandwidth_bytes) bytes"
client_up "$VID"

bw() { api bot GET "/v1/vpns/$VID"; j .bandwidth_bytes; }
agent_total() { agent_api 1 GET "/v1/peers/$KEY_URL" | jq '.rx_bytes + .tx_bytes'; }
# bw_settles: the VPN's bytes equal the agent's totals (a poll has counted everything).
bw_settles() { local a; a=$(agent_total); [ "$a" -gt 0 ] && [ "$(bw)" = "$a" ]; }
# After the node's interface was recreated the client still holds a session the new one
# does not know; WireGuard has the client handshake again once it has sent data without an
# answer for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s), so allow for that, and no more.
traffic() {
	local end=$(( $(date +%s) + 30 ))
	while (( $(date +%s) < end )); do
		ip netns exec "$CNS" ping -c 20 -i 0.05 -W 2 -s 1000 "$(server_addr4 1)" >/dev/null 2>&1 && return 0
	done
	wgf_fail "no ping through the tunnel ($1) within 30 s"
}
# watch SECONDS FLOOR: sample the VPN's bytes every 0.2 s; none may be below FLOOR or
# below an earlier sample. Prints the last.
watch_bw() {
	local end=$(( $(date +%s%3N) + $1 * 1000 )) last=$2 b
	while (( $(date +%s%3N) < end )); do
		b=$(bw)
		(( b >= last )) || wgf_fail "bandwidth_bytes went down: $last -> $b"
		last=$b
		sleep 0.2
	done
	echo "$last"
}

traffic "first"
wait_for 10 "bandwidth_bytes equals the agent's rx + tx" bw_settles
b1=$(bw)
(( b1 >= 20 * 1028 * 2 )) || wgf_fail "20 pings of 1000 bytes each way counted as $b1 bytes"
log "after 20 pings: $b1 bytes (agent: $(agent_total))"

# --- the device's counters reset under the agent: a new wireguard-go
wggo_stop 1
wggo_start 1
restored() { wg show "${SIF[1]}" peers | grep -qxF "$KEY"; }
wait_for 10 "the agent restored the peer on the new interface" restored
b2=$(watch_bw 3 "$b1")
log "after the interface reset: $b2 bytes"
traffic "after the reset"
wait_for 10 "bandwidth_bytes equals the agent's totals again" bw_settles
b3=$(watch_bw 1 "$b2")
(( b3 >= b1 + 20 * 1028 * 2 )) || wgf_fail "new traffic after the reset: $b1 -> $b3"
log "new traffic after the reset: $b3 bytes"

# --- the agent restarts (new boot id; its journal keeps the totals)
agent_stop 1
agent_start 1
b4=$(watch_bw 3 "$b3")
traffic "after the agent restart"
wait_for 10 "bandwidth_bytes equals the agent's totals after its restart" bw_settles
b5=$(watch_bw 1 "$b4")
(( b5 >= b3 + 20 * 1028 * 2 )) || wgf_fail "new traffic after the agent restart: $b3 -> $b5"
# The database holds integers that only grew.
[ "$(sql "SELECT bandwidth_bytes FROM vpn_configs WHERE id = $VID")" = "$(bw)" ] || wgf_fail "API and database differ"
log "bytes: $b1 -> $b3 -> $b5, never down"
echo "traffic: PASS"
