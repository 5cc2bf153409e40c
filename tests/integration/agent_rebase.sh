#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interface recreation on wireguard-go: a client pings through the tunnel so the peer has
# traffic; then the server's wireguard-go is killed and started again (new interface,
# counters at zero). The agent must restore key, address and peer within an interval, count
# a rebase, and the peer's rx/tx totals must never go backwards and keep growing.
#   agent_rebase.sh BIN_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || wgf_fail "curl and python3 are needed"
CNS=wfc$WGF_ID CIF=wf${WGF_ID}c
agent_setup
agent_start
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# "rx tx" of the client's peer as the agent reports them.
totals() {
	api GET "/v1/peers/$(enc "$CK")" | sed '$d' |
		python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["rx_bytes"], p["tx_bytes"])'
}
# Ping the server through the tunnel; a few tries, as a fresh handshake may drop the first.
traffic() {
	local i
	for (( i=0; i<5; i++ )); do
		ip netns exec "$CNS" ping -c 5 -i 0.1 -W 2 -s 1000 10.99.0.1 >/dev/null && return 0
	done
	wgf_fail "no ping through the tunnel ($1)"
}
# Wait until the agent's totals reach at least "$1 $2" (reconcile samples the counters too).
metric() { api GET /metrics | sed '$d' | awk -v m="$1" '$1 == m { print $2 }'; }

# --- a client namespace joined by a veth; one provisioned peer
wgf_netns "$CNS"
ip link add "v$WGF_ID"a netns "$NS" type veth peer name "v$WGF_ID"b netns "$CNS"
ip -n "$NS" addr add 198.18.0.1/30 dev "v$WGF_ID"a
ip -n "$CNS" addr add 198.18.0.2/30 dev "v$WGF_ID"b
ip -n "$NS" link set "v$WGF_ID"a up
ip -n "$CNS" link set "v$WGF_ID"b up
wgf_wggo "$CNS" "$CIF"
(umask 077; "$AGENT" wg genkey >"$WGF_TMP/c.key")
CK=$("$AGENT" wg pubkey <"$WGF_TMP/c.key")
out=$(api POST /v1/peers -d "{\"public_key\":\"$CK\"}" | sed '$d')
read -r caddr spub ep < <(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); print(a["addresses"][0], a["server_public_key"], a["endpoint"])' "$out")
client_peer() {
	wg set "$CIF" private-key "$WGF_TMP/c.key" peer "$spub" endpoint "$ep" \
		allowed-ips 10.99.0.0/20 persistent-keepalive 1
}
client_peer
ip -n "$CNS" addr add "$caddr" dev "$CIF"
ip -n "$CNS" link set "$CIF" up
ip -n "$CNS" route add 10.99.0.0/20 dev "$CIF"

traffic "before the reset"
sleep 0.3
read -r rx1 tx1 < <(totals)
[ "$rx1" -gt 0 ] && [ "$tx1" -gt 0 ] || wgf_fail "no traffic counted before the reset: rx $rx1 tx $tx1"
# Let one reconcile pass (interval 2 s) record these counters, as it would in service.
sleep 2.2
read -r rx1 tx1 < <(totals)
ifindex1=$(ip -n "$NS" -o link show "$IFN" | cut -d: -f1)
rebases0=$(metric wgfleet_agent_counter_rebases_total)
echo "before: rx $rx1 tx $tx1 on ifindex $ifindex1"

# --- recreate the interface: wireguard-go killed and started again, counters at zero
agent_wggo_stop
agent_wggo_start
[ -z "$(wg show "$IFN" peers)" ] || wgf_fail "the new interface already has peers"
t0=$(date +%s.%N)
for (( i=0; i<60; i++ )); do
	wg show "$IFN" peers | grep -qxF "$CK" && break
	sleep 0.1
done
wg show "$IFN" peers | grep -qxF "$CK" || { cat "$WGF_TMP/agent.log" >&2; wgf_fail "peer not restored within 6 s"; }
t1=$(date +%s.%N)
[ "$(wg show "$IFN" public-key)" = "$spub" ] || wgf_fail "server key not restored"
[ "$(wg show "$IFN" listen-port)" = 51820 ] || wgf_fail "listen port not restored"
wg show "$IFN" allowed-ips | grep -qF "${caddr%/*}/32" || wgf_fail "allowed IP not restored"
for (( i=0; i<30; i++ )); do
	ip -n "$NS" addr show "$IFN" | grep -q 'inet 10\.99\.0\.1/' && ip -n "$NS" link show "$IFN" | grep -q ',UP' && break
	sleep 0.1
done
ip -n "$NS" addr show "$IFN" | grep -q 'inet 10\.99\.0\.1/' || wgf_fail "server address not restored"
ifindex2=$(ip -n "$NS" -o link show "$IFN" | cut -d: -f1)
echo "recreated as ifindex $ifindex2: key, port, address and peer restored in $(echo "$t1 - $t0" | bc) s"

# Right after the reset the device counts from zero; the agent's totals must not drop.
read -r rx2 tx2 < <(totals)
[ "$rx2" -ge "$rx1" ] && [ "$tx2" -ge "$tx1" ] || wgf_fail "totals went backwards: $rx1/$tx1 -> $rx2/$tx2"

# The client's session died with the old interface; a fresh peer entry handshakes at once.
wg set "$CIF" peer "$spub" remove
client_peer
traffic "after the reset"
sleep 0.3
read -r rx3 tx3 < <(totals)
dev_rx=$(wg show "$IFN" transfer | awk -v k="$CK" '$1 == k { print $2 }')
[ "$rx3" -gt "$rx1" ] && [ "$tx3" -gt "$tx1" ] || wgf_fail "totals did not grow: $rx1/$tx1 -> $rx3/$tx3"
[ "$dev_rx" -lt "$rx3" ] || wgf_fail "device rx $dev_rx is not below the total $rx3: not rebased?"
[ "$(metric wgfleet_agent_counter_rebases_total)" -gt "$rebases0" ] || wgf_fail "no rebase counted"
echo "after: rx $rx3 tx $tx3 (device alone: rx $dev_rx), rebase counted"

# Once more through a reconcile pass (which saves the counters), and a restart of the agent.
sleep 2.2
traffic "after a reconcile pass"
sleep 0.3
read -r rx4 tx4 < <(totals)
[ "$rx4" -gt "$rx3" ] && [ "$tx4" -gt "$tx3" ] || wgf_fail "totals did not grow: $rx3/$tx3 -> $rx4/$tx4"
sleep 2.2
agent_stop
agent_start
read -r rx5 tx5 < <(totals)
[ "$rx5" -ge "$rx4" ] && [ "$tx5" -ge "$tx4" ] || wgf_fail "totals went backwards over a restart: $rx4/$tx4 -> $rx5/$tx5"
echo "totals grow on: rx $rx4 tx $tx4; after an agent restart rx $rx5 tx $tx5"
agent_stop
echo "agent_rebase: PASS"
