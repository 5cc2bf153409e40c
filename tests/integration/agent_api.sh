#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The node agent's API over real HTTP on wireguard-go: every auth and bad-input case
# (4xx JSON error, nothing changed), idempotent POST and job replay, pool exhaustion,
# DELETE, PUT with generations, a peer removed by hand repaired within one interval, and a
# client namespace that uses a provisioned address and the agent's endpoint pings the server.
#   agent_api.sh BIN_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || wgf_fail "curl and python3 are needed"
CNS=wfc$WGF_ID CIF=wf${WGF_ID}c
agent_setup
agent_start
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
state_sum() { api GET /v1/info | sed '$d' | python3 -c 'import json,sys; i=json.load(sys.stdin); del i["boot_id"]; print(json.dumps(i, sort_keys=True))'; }

# --- auth: 401 without, with a wrong and with another scheme's token, on real and unknown paths
for p in /v1/info /v1/peers /metrics /nope; do
	for h in "" "Authorization: Bearer wrong" "Authorization: Basic $TOKEN"; do
		out=$(ip netns exec "$NS" curl -sS -w '\n%{http_code}' ${h:+-H "$h"} "$API$p")
		[ "$(tail -n1 <<<"$out")" = 401 ] && grep -q '"code":"unauthorized"' <<<"$out" ||
			wgf_fail "$p with '${h%% *}': $out"
	done
done
[ "$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' "$API/healthz")" = 200 ] || wgf_fail "healthz not public"

# --- bad input: 400/404/405/413, and nothing changes
before=$(state_sum)
K=$("$AGENT" wg genkey | "$AGENT" wg pubkey)
expect 400 bad_json POST /v1/peers -d '{"public_key":'
expect 400 bad_json POST /v1/peers -d ''
expect 400 unknown_field POST /v1/peers -d "{\"public_key\":\"$K\",\"colour\":1}"
expect 400 invalid_type POST /v1/peers -d '{"public_key":42}'
expect 400 invalid_type POST /v1/peers -d "{\"public_key\":\"$K\",\"persistent_keepalive\":\"25\"}"
expect 400 invalid_type POST /v1/peers -d '[1]'
expect 400 missing_field POST /v1/peers -d '{}'
expect 400 invalid_value POST /v1/peers -d '{"public_key":"not-a-key"}'
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"preshared_key\":\"short\"}"
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"persistent_keepalive\":70000}"
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.1.0.5\"]}"
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.5/24\"]}"
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.5\",\"10.99.0.6\"]}"
expect 400 invalid_value POST /v1/peers -d "{\"public_key\":\"$K\",\"job_id\":\"\"}"
expect 400 invalid_value DELETE /v1/peers/abc
expect 400 invalid_value GET /v1/peers/abc
expect 400 bad_request GET /v1/peers/%zz
expect 404 not_found GET /v1/nope
expect 404 not_found GET "/v1/peers/$(enc "$K")"
expect 405 method_not_allowed PATCH /v1/peers
expect 400 missing_field PUT /v1/peers -d '{"peers":[]}'
expect 400 invalid_value PUT /v1/peers -d "{\"generation\":5,\"peers\":[{\"public_key\":\"$K\"},{\"public_key\":\"$K\"}]}"
expect 400 unknown_field PUT /v1/peers -d "{\"generation\":5,\"peers\":[{\"public_key\":\"$K\",\"job_id\":\"x\"}]}"
head -c $((17 << 20)) /dev/zero | tr '\0' ' ' >"$WGF_TMP/big"
expect 413 payload_too_large POST /v1/peers --data-binary "@$WGF_TMP/big"
expect 409 address_unavailable POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.3\"]}"
expect 409 address_unavailable POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.1\"]}"
[ "$(state_sum)" = "$before" ] || wgf_fail "a refused request changed the state: $(state_sum)"
[ -z "$(wg show "$IFN" peers)" ] || wgf_fail "a refused request reached the device"
echo "auth and bad input: all refused with the right status and code, nothing changed"

# --- POST: requested address, idempotent, job replay; DELETE absent/present
out=$(api POST /v1/peers -d "{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.20\"],\"persistent_keepalive\":25,\"job_id\":\"j-1\"}")
[ "$(tail -n1 <<<"$out")" = 201 ] && grep -q '"10.99.0.20/32"' <<<"$out" || wgf_fail "POST with address: $out"
again=$(api POST /v1/peers -d "{\"public_key\":\"$K\"}")
[ "$(tail -n1 <<<"$again")" = 200 ] && grep -q '"10.99.0.20/32"' <<<"$again" || wgf_fail "POST again: $again"
replay=$(api POST /v1/peers -d "{\"public_key\":\"$("$AGENT" wg genkey | "$AGENT" wg pubkey)\",\"job_id\":\"j-1\"}")
[ "$(sed '$d' <<<"$replay")" = "$(sed '$d' <<<"$out")" ] || wgf_fail "job replay differs: $replay"
K2=$("$AGENT" wg genkey | "$AGENT" wg pubkey)
expect 409 address_in_use POST /v1/peers -d "{\"public_key\":\"$K2\",\"addresses\":[\"10.99.0.20\"]}"
expect 200 - DELETE "/v1/peers/$(enc "$K2")"
api DELETE "/v1/peers/$(enc "$K2")" | grep -q '"removed":false' || wgf_fail "DELETE absent"
api GET "/v1/peers/$(enc "$K")" | grep -q '"persistent_keepalive":25' || wgf_fail "GET peer"
wg show "$IFN" allowed-ips | grep -q "10.99.0.20/32" || wgf_fail "peer not on the device"

# --- a peer removed by hand comes back within one interval (2 s)
wg set "$IFN" peer "$K" remove
for (( i=0; i<30; i++ )); do wg show "$IFN" peers | grep -qF "$K" && break; sleep 0.1; done
wg show "$IFN" peers | grep -qF "$K" || wgf_fail "removed peer not repaired within one interval"
api GET /metrics | grep -q 'wgfleet_agent_reconcile_repairs_total{kind="readded"} 1' || wgf_fail "repair not counted"
# ... and a stray peer added by hand goes away
S=$("$AGENT" wg genkey | "$AGENT" wg pubkey)
wg set "$IFN" peer "$S" allowed-ips 10.99.9.9/32
for (( i=0; i<30; i++ )); do wg show "$IFN" peers | grep -qF "$S" || break; sleep 0.1; done
! wg show "$IFN" peers | grep -qF "$S" || wgf_fail "stray peer not removed"
echo "reconcile: hand-removed peer re-added, stray peer removed, both within one interval"

# --- PUT: desired set, generation
K3=$("$AGENT" wg genkey | "$AGENT" wg pubkey)
out=$(api PUT /v1/peers -d "{\"generation\":7,\"peers\":[{\"public_key\":\"$K\"},{\"public_key\":\"$K3\"}]}")
grep -q '"added":1' <<<"$out" && grep -q '"removed":0' <<<"$out" || wgf_fail "PUT: $out"
expect 409 stale_generation PUT /v1/peers -d '{"generation":6,"peers":[]}'
[ "$(wg show "$IFN" peers | wc -l)" = 2 ] || wgf_fail "PUT: device has $(wg show "$IFN" peers | wc -l) peers"
out=$(api PUT /v1/peers -d "{\"generation\":8,\"peers\":[{\"public_key\":\"$K\"}]}")
grep -q '"removed":1' <<<"$out" || wgf_fail "PUT removal: $out"
[ "$(wg show "$IFN" peers)" = "$K" ] || wgf_fail "PUT: device not converged"
# A new address in one family only: the other family's address is kept, not reallocated.
addrs_of() { api GET "/v1/peers/$(enc "$1")" | sed '$d' | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["addresses"])))'; }
read -r v4 v6 < <(addrs_of "$K")
[ "$v4" = 10.99.0.20/32 ] && [[ "$v6" == fd99::*/128 ]] || wgf_fail "K has $v4 $v6"
out=$(api PUT /v1/peers -d "{\"generation\":9,\"peers\":[{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.21\"]}]}")
grep -q '"updated":1' <<<"$out" || wgf_fail "PUT new IPv4: $out"
[ "$(addrs_of "$K")" = "10.99.0.21/32 $v6" ] || wgf_fail "PUT new IPv4: IPv6 $v6 not kept: $(addrs_of "$K")"
out=$(api PUT /v1/peers -d "{\"generation\":10,\"peers\":[{\"public_key\":\"$K\",\"addresses\":[\"10.99.0.21\",\"fd99::77\"]}]}")
grep -q '"updated":1' <<<"$out" || wgf_fail "PUT new IPv6: $out"
[ "$(addrs_of "$K")" = "10.99.0.21/32 fd99::77/128" ] || wgf_fail "PUT new IPv6: $(addrs_of "$K")"
[ "$(wg show "$IFN" allowed-ips | awk '{ $1 = ""; print }' | xargs -n1 | sort | xargs)" = "10.99.0.21/32 fd99::77/128" ] ||
	wgf_fail "PUT: device allowed IPs $(wg show "$IFN" allowed-ips)"

echo "PUT: desired set applied as a difference, stale generation refused, one family readdressed"

# --- a client namespace with a provisioned address pings the server through the tunnel
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
wg set "$CIF" private-key "$WGF_TMP/c.key" peer "$spub" endpoint "$ep" allowed-ips 10.99.0.0/20 persistent-keepalive 1
ip -n "$CNS" addr add "$caddr" dev "$CIF"
ip -n "$CNS" link set "$CIF" up
ip -n "$CNS" route add 10.99.0.0/20 dev "$CIF"
ip netns exec "$CNS" ping -c 3 -i 0.2 -W 2 10.99.0.1 >/dev/null || wgf_fail "no ping from $caddr to 10.99.0.1 through the tunnel"
sleep 0.3
api GET "/v1/peers/$(enc "$CK")" | python3 -c 'import json,sys; p=json.loads(sys.stdin.read().rsplit("\n",2)[0]); assert p["rx_bytes"] > 0 and p["latest_handshake"] > 0 and p["endpoint"].startswith("198.18.0.2:"), p' ||
	wgf_fail "agent does not report the client's handshake, endpoint and bytes"
echo "tunnel: client $caddr pinged the server through $ep"
agent_stop
echo "agent_api: PASS"
