#!/bin/sh
# SPDX-License-Identifier: MIT
# The node agent on the kernel backend, inside the VM guest (tests/vm/run): the agent
# creates the WireGuard link itself through rtnetlink and drives it through netlink.
# Provisions peers over the API, checks `wg show dump` equals the agent's view, removes a
# peer by hand (reconcile restores it), DELETEs one, and SIGTERM ends the agent with 0.
# POSIX sh (dash in the guest: no pipefail); no python or curl there, so wgf-http talks HTTP.
set -eu

B=${WGFLEET_BIN:?run this through tests/vm/run}
IFN=wgk0
API=http://127.0.0.1:8080
D=$(mktemp -d /tmp/agent.XXXXXX)
PID=

fail() {
	echo "FAIL: $*" >&2
	[ ! -f "$D/log" ] || sed 's/^/agent: /' "$D/log" >&2
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	exit 1
}
# api METHOD PATH [BODY]: the body, then the status on the last line.
api() {
	"$B/wgf-http" -T "$D/token" -X "$1" ${3:+-d "$3"} "$API$2"
}
# expect STATUS METHOD PATH [BODY]: prints the body.
expect() {
	want=$1
	shift
	out=$(api "$@") || fail "$*: no answer"
	[ "$(printf '%s\n' "$out" | tail -n 1)" = "$want" ] || fail "$* -> $out, want $want"
	printf '%s\n' "$out" | sed '$d'
}
# Sorted "key address" lines: the agent's record and the kernel's peers (one pool: one address).
agent_view() {
	expect 200 GET /v1/peers | tr '{' '\n' |
		sed -n 's/^"public_key":"\([^"]*\)","addresses":\["\([^"]*\)"\].*/\1 \2/p' | sort
}
device_view() {
	wg show "$IFN" dump | tail -n +2 | awk '{ print $1, $4 }' | sort
}
consistent() { # $1: when
	agent_view >"$D/agent.view"
	device_view >"$D/device.view"
	cmp -s "$D/agent.view" "$D/device.view" ||
		fail "$1: device differs from the agent: $(diff "$D/agent.view" "$D/device.view")"
	[ "$(wc -l <"$D/agent.view")" = "$2" ] || fail "$1: $(wc -l <"$D/agent.view") peers, want $2"
}
urlkey() { printf '%s' "$1" | sed 's|/|%2F|g; s|+|%2B|g; s|=|%3D|g'; }

mkdir -m 700 "$D/state"
(umask 077 && echo "vm-token-$$" >"$D/token")
cat >"$D/agent.conf" <<CONF
interface = $IFN
listen_port = 51820
endpoint = 192.0.2.1:51820
backend = kernel
pool = 10.77.0.0/24
api_listen = 127.0.0.1:8080
token_file = $D/token
state_dir = $D/state
reconcile_interval = 2s
quarantine = 1h
log_level = info
CONF

"$B/wgfleet-agent" run --config "$D/agent.conf" 2>"$D/log" &
PID=$!
i=0
until out=$("$B/wgf-http" "$API/healthz" 2>/dev/null) && [ "$(echo "$out" | tail -n 1)" = 200 ]; do
	kill -0 "$PID" 2>/dev/null || fail "the agent exited"
	i=$((i + 1))
	[ "$i" -lt 300 ] || fail "no /healthz after 30 s"
	sleep 0.1
done
info=$(expect 200 GET /v1/info)
echo "$info" | grep -q '"backend":"netlink"' || fail "not on the netlink backend: $info"
[ "$(cat "/sys/class/net/$IFN/type" 2>/dev/null)" = 65534 ] || fail "$IFN is not a WireGuard link"
spub=$(echo "$info" | sed -n 's/.*"public_key":"\([^"]*\)".*"interface".*/\1/p')
[ "$(wg show "$IFN" public-key)" = "$spub" ] || fail "device key differs from /v1/info ($spub)"
[ "$(wg show "$IFN" listen-port)" = 51820 ] || fail "listen port not set"
ip addr show "$IFN" | grep -q 'inet 10\.77\.0\.1/24' || fail "server address not on $IFN"
ip link show "$IFN" | grep -q ',UP' || fail "$IFN is not up"
echo "agent up on the kernel link $IFN (netlink), key and address applied"

for n in 1 2 3 4 5; do
	k=$(wg genkey | wg pubkey)
	eval "K$n=\$k"
	expect 201 POST /v1/peers "{\"public_key\":\"$k\",\"persistent_keepalive\":25}" >/dev/null
done
consistent "5 peers" 5
[ "$(cut -d' ' -f2 "$D/agent.view" | sort -u | wc -l)" = 5 ] || fail "an address on two peers"
echo "5 peers provisioned: wg show dump = the agent's view"

wg set "$IFN" peer "$K3" remove
i=0
until wg show "$IFN" peers | grep -qxF "$K3"; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || fail "peer removed by hand not restored within 6 s"
	sleep 0.1
done
consistent "after the repair" 5
expect 200 GET /metrics | grep -q 'wgfleet_agent_reconcile_repairs_total{kind="readded"} 1' ||
	fail "repair not counted"
echo "a peer removed by hand was re-added by reconcile"

expect 200 DELETE "/v1/peers/$(urlkey "$K2")" | grep -q '"removed":true' || fail "DELETE"
! wg show "$IFN" peers | grep -qxF "$K2" || fail "deleted peer still on $IFN"
consistent "after DELETE" 4
echo "DELETE removed the peer from the kernel"

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
[ "$rc" = 0 ] || fail "the agent exited with $rc on SIGTERM"
grep -q 'stopping' "$D/log" || fail "no stop logged"
echo "agent_kernel: PASS"
