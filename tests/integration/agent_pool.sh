#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An exhausted pool on wireguard-go: a /29 pool (5 addresses for peers: 8 minus network,
# broadcast and the server's .1) is filled through the API; the next POST, and a PUT that
# adds a peer, are 507 pool_exhausted and change nothing (record, generation, device). A
# deleted peer's address stays in quarantine, so the pool is still exhausted after it.
#   agent_pool.sh BIN_DIR
AGENT_POOLS="pool = 10.98.0.0/29"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || wgf_fail "curl and python3 are needed"
agent_setup
agent_start
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
state_sum() { api GET /v1/info | sed '$d' | python3 -c 'import json,sys; i=json.load(sys.stdin); del i["boot_id"]; print(json.dumps(i, sort_keys=True))'; }
newkey() { "$AGENT" wg genkey | "$AGENT" wg pubkey; }

keys=()
for i in 1 2 3 4 5; do
	k=$(newkey)
	keys+=("$k")
	expect 201 - POST /v1/peers -d "{\"public_key\":\"$k\"}"
done
agent_view >"$WGF_TMP/agent.view"
device_view >"$WGF_TMP/device.view"
cmp -s "$WGF_TMP/agent.view" "$WGF_TMP/device.view" || wgf_fail "device differs from the agent"
[ "$(cut -d' ' -f2 "$WGF_TMP/agent.view" | sort -u | tr '\n' ' ')" = \
  "10.98.0.2/32 10.98.0.3/32 10.98.0.4/32 10.98.0.5/32 10.98.0.6/32 " ] ||
	wgf_fail "the pool did not hand out .2-.6 once each: $(cat "$WGF_TMP/agent.view")"
echo "a /29 pool: 5 peers got .2-.6, each once"

check_unchanged() { # $1: what
	[ "$(state_sum)" = "$before" ] || wgf_fail "$1 changed the state: $(state_sum)"
	device_view >"$WGF_TMP/device.now"
	cmp -s "$WGF_TMP/device.view" "$WGF_TMP/device.now" || wgf_fail "$1 changed the device"
}
before=$(state_sum)
K6=$(newkey)
expect 507 pool_exhausted POST /v1/peers -d "{\"public_key\":\"$K6\",\"job_id\":\"j-6\"}"
check_unchanged "POST on an exhausted pool"
expect 404 not_found GET "/v1/peers/$(enc "$K6")"
# The job id of a refused request is not remembered: the same job is refused again.
expect 507 pool_exhausted POST /v1/peers -d "{\"public_key\":\"$K6\",\"job_id\":\"j-6\"}"
body=$(printf '{"public_key":"%s"},' "${keys[@]}" "$K6")
expect 507 pool_exhausted PUT /v1/peers -d "{\"generation\":3,\"peers\":[${body%,}]}"
check_unchanged "PUT on an exhausted pool"
# An existing peer is still idempotent on a full pool.
expect 200 - POST /v1/peers -d "{\"public_key\":\"${keys[0]}\"}"
check_unchanged "POST of an existing peer"
echo "exhausted: POST and PUT are 507 pool_exhausted, nothing changed"

expect 200 - DELETE "/v1/peers/$(enc "${keys[4]}")"
api GET /v1/info | sed '$d' | python3 -c 'import json,sys; p=json.load(sys.stdin)["pools"][0]; assert (p["used"], p["quarantined"], p["free"]) == (4, 1, 0), p' ||
	wgf_fail "pool counts after DELETE: $(api GET /v1/info)"
before=$(state_sum)
device_view >"$WGF_TMP/device.view"
expect 507 pool_exhausted POST /v1/peers -d "{\"public_key\":\"$K6\"}"
check_unchanged "POST with the only free address in quarantine"
echo "a released address waits in quarantine: still 507"
agent_stop
echo "agent_pool: PASS"
