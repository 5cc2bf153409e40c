#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# POST /v1/peers/batch on wireguard-go, over real HTTP: 100 new peers land on the device
# (`wg show dump`) with the answers' addresses, logged as one line; the same job ids
# replay the same answers, also across the single route both ways; a batch with one bad
# item (a taken or differing address, a bad key, an exhausted pool, bad input) changes
# nothing (record, pool counts, device); new and existing peers mix; a restart keeps it all.
#   agent_batch.sh BIN_DIR
# A /24 (245 addresses for peers) so that one batch can exhaust it.
AGENT_POOLS="pool = 10.97.0.0/24
pool = fd97::/64
reserved = 10.97.0.2-10.97.0.9"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || wgf_fail "curl and python3 are needed"
agent_setup
agent_start
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
state_sum() { api GET /v1/info | sed '$d' | python3 -c 'import json,sys; i=json.load(sys.stdin); del i["boot_id"]; print(json.dumps(i, sort_keys=True))'; }
pool_used() { api GET /v1/info | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["pools"][0]["used"])'; }
# keys N: N public keys, one a line (any 32 bytes is a public key to WireGuard).
keys() { python3 -c 'import base64, os, sys
for _ in range(int(sys.argv[1])): print(base64.b64encode(os.urandom(32)).decode())' "$1"; }
# body KEYFILE [JOB_PREFIX] [INDEX=ADDRESS...]: a batch body, one item per key; items get
# job ids PREFIX-i when a prefix is given.
body() { python3 - "$@" <<'PY'
import json, sys
keys = open(sys.argv[1]).read().split()
prefix = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
want = dict(a.split("=") for a in sys.argv[3:])
peers = []
for i, k in enumerate(keys):
    p = {"public_key": k}
    if prefix:
        p["job_id"] = f"{prefix}-{i}"
    if str(i) in want:
        p["addresses"] = [want[str(i)]]
    peers.append(p)
print(json.dumps({"peers": peers}))
PY
}
# answers_view FILE: an answer's peers as agent_view/device_view lines.
answers_view() { sed '$d' "$1" | python3 -c 'import json, sys
for p in json.load(sys.stdin)["peers"]:
    print(p["public_key"], ",".join(sorted(p["addresses"])))' | sort; }
check_device() { # $1: what; the device holds exactly the agent's peers and addresses
	agent_view >"$WGF_TMP/agent.view"
	device_view >"$WGF_TMP/device.view"
	cmp -s "$WGF_TMP/agent.view" "$WGF_TMP/device.view" ||
		{ diff "$WGF_TMP/agent.view" "$WGF_TMP/device.view" | head >&2; wgf_fail "$1: device differs from the agent"; }
}
post() { # FILE BODYFILE: POST the batch, the answer (status on its last line) into FILE
	api POST /v1/peers/batch --data-binary "@$2" >"$1"
}
status() { tail -n1 "$1"; }

# --- bad input: 400 with the right code, nothing changes
before=$(state_sum)
keys 2 >"$WGF_TMP/k2"
{ read -r A; read -r B; } <"$WGF_TMP/k2"
expect 400 missing_field POST /v1/peers/batch -d '{}'
expect 400 unknown_field POST /v1/peers/batch -d '{"peers":[],"generation":1}'
expect 400 invalid_type POST /v1/peers/batch -d '{"peers":{}}'
expect 400 invalid_value POST /v1/peers/batch -d '{"peers":[]}'
expect 400 unknown_field POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$A\",\"colour\":1}]}"
expect 400 invalid_value POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$A\"},{\"public_key\":\"$A\"}]}"
expect 400 invalid_value POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$A\",\"job_id\":\"x\"},{\"public_key\":\"$B\",\"job_id\":\"x\"}]}"
expect 400 invalid_value POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$A\"},{\"public_key\":\"$B\",\"job_id\":\"\"}]}"
out=$(api POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$A\"},{\"public_key\":\"nope\"}]}")
[ "$(tail -n1 <<<"$out")" = 400 ] && grep -qF '"peers[1].public_key: not a base64 WireGuard key"' <<<"$out" ||
	wgf_fail "bad key in item 1: $out"
keys 1025 >"$WGF_TMP/k1025"
body "$WGF_TMP/k1025" >"$WGF_TMP/b1025"
post "$WGF_TMP/out" "$WGF_TMP/b1025"
[ "$(status "$WGF_TMP/out")" = 400 ] && grep -q '"code":"invalid_value".*1024' "$WGF_TMP/out" ||
	wgf_fail "1025 items: $(cat "$WGF_TMP/out")"
[ "$(state_sum)" = "$before" ] || wgf_fail "refused input changed the state: $(state_sum)"
[ -z "$(wg show "$IFN" peers)" ] || wgf_fail "refused input reached the device"
echo "bad input: missing, unknown, empty, 1025 items, a key or job id twice, a bad item: 400, nothing changed"

# --- 100 new peers in one batch. Item 50 asks for .10, the first address an allocation
# would hand out: requested addresses are taken before any allocation, so it gets it.
used0=$(pool_used)
keys 100 >"$WGF_TMP/k100"
body "$WGF_TMP/k100" b 50=10.97.0.10 >"$WGF_TMP/b100"
post "$WGF_TMP/a100" "$WGF_TMP/b100"
[ "$(status "$WGF_TMP/a100")" = 200 ] || wgf_fail "batch of 100: $(cat "$WGF_TMP/a100")"
sed '$d' "$WGF_TMP/a100" | python3 -c '
import json, sys
keys = open(sys.argv[1]).read().split()
a = json.load(sys.stdin)["peers"]
assert [p["public_key"] for p in a] == keys, "answers not in request order"
assert all(p["created"] for p in a), "not all created"
assert "10.97.0.10/32" in a[50]["addresses"], a[50]
addrs = [x for p in a for x in p["addresses"]]
assert len(addrs) == 200 and len(set(addrs)) == 200, "addresses not unique"
assert all(len(p["addresses"]) == 2 for p in a)
assert all(p["server_public_key"] and p["endpoint"] == "198.18.0.1:51820" for p in a)
' "$WGF_TMP/k100" || wgf_fail "batch of 100: bad answers"
answers_view "$WGF_TMP/a100" >"$WGF_TMP/answers.view"
device_view >"$WGF_TMP/device.view"
cmp -s "$WGF_TMP/answers.view" "$WGF_TMP/device.view" ||
	{ diff "$WGF_TMP/answers.view" "$WGF_TMP/device.view" | head >&2; wgf_fail "device differs from the answers"; }
check_device "batch of 100"
[ "$(pool_used)" = $((used0 + 100)) ] || wgf_fail "pool used $(pool_used), want $((used0 + 100))"
[ "$(grep -c 'batch of 100 peers: 100 created, 0 updated, 0 replayed' "$WGF_TMP/agent.log")" = 1 ] ||
	wgf_fail "no single log line for the batch: $(tail -5 "$WGF_TMP/agent.log")"
! grep -q '^peer .* created' "$WGF_TMP/agent.log" || wgf_fail "a batch logged per peer"
metrics=$(api GET /metrics) # not piped into grep -q: curl would fail writing the rest
grep -q '^wgfleet_agent_http_requests_total{method="POST",route="/v1/peers/batch",code="2xx"} 1$' <<<"$metrics" ||
	wgf_fail "no metrics for the route: $(grep batch <<<"$metrics")"
echo "100 new peers in one batch: on the device with the answers' addresses, one log line"

# --- replay: the same job ids give the same answers, whatever the body says
before=$(state_sum)
post "$WGF_TMP/r100" "$WGF_TMP/b100"
cmp -s "$WGF_TMP/a100" "$WGF_TMP/r100" || wgf_fail "the same batch again answered differently"
keys 100 >"$WGF_TMP/k100b"
body "$WGF_TMP/k100b" b >"$WGF_TMP/b100b"
post "$WGF_TMP/r100b" "$WGF_TMP/b100b"
cmp -s "$WGF_TMP/a100" "$WGF_TMP/r100b" || wgf_fail "other keys with the same job ids answered differently"
[ "$(state_sum)" = "$before" ] || wgf_fail "a replayed batch changed the state"
check_device "replayed batch"
grep -q 'batch of 100 peers: 0 created, 0 updated, 100 replayed' "$WGF_TMP/agent.log" || wgf_fail "replays not logged"
# Across routes: the single POST replays a batch item, a batch item replays a single POST.
C=$(keys 1)
one=$(api POST /v1/peers -d "{\"public_key\":\"$C\",\"job_id\":\"b-7\"}")
sed '$d' "$WGF_TMP/a100" | python3 -c 'import json, sys
one = json.loads(sys.argv[1].rsplit("\n", 2)[0])
assert one == json.load(sys.stdin)["peers"][7], one' "$one" || wgf_fail "single POST does not replay batch item 7: $one"
S=$(keys 1)
single=$(api POST /v1/peers -d "{\"public_key\":\"$S\",\"job_id\":\"s-1\"}")
[ "$(tail -n1 <<<"$single")" = 201 ] || wgf_fail "single POST: $single"
out=$(api POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$C\",\"job_id\":\"s-1\"}]}")
python3 -c 'import json, sys
single = json.loads(sys.argv[1].rsplit("\n", 2)[0])
batch = json.loads(sys.argv[2].rsplit("\n", 2)[0])
assert batch == {"peers": [single]}, batch' "$single" "$out" || wgf_fail "batch does not replay the single POST: $out"
expect 404 not_found GET "/v1/peers/$(enc "$C")"
echo "replay: same answers for the same job ids, across both routes"

# --- one bad item: nothing changes (record, pools, device), the error names the item
before=$(state_sum)
device_view >"$WGF_TMP/device.before"
K0=$(head -1 "$WGF_TMP/k100")
refused() { # STATUS CODE BODY: the batch is refused with peers[1] named
	local out
	out=$(api POST /v1/peers/batch -d "$3")
	[ "$(tail -n1 <<<"$out")" = "$1" ] && grep -q "\"code\":\"$2\"" <<<"$out" &&
		grep -q '"message":"peers\[1\]' <<<"$out" || wgf_fail "want $1 $2 for peers[1]: $out"
	[ "$(state_sum)" = "$before" ] || wgf_fail "a refused batch ($2) changed the state: $(state_sum)"
	device_view >"$WGF_TMP/device.now"
	cmp -s "$WGF_TMP/device.before" "$WGF_TMP/device.now" || wgf_fail "a refused batch ($2) changed the device"
}
refused 409 address_in_use "{\"peers\":[{\"public_key\":\"$A\",\"job_id\":\"r-1\"},{\"public_key\":\"$B\",\"addresses\":[\"10.97.0.10\"]}]}"
refused 409 address_unavailable "{\"peers\":[{\"public_key\":\"$A\"},{\"public_key\":\"$B\",\"addresses\":[\"10.97.0.5\"]}]}"
refused 409 addresses_differ "{\"peers\":[{\"public_key\":\"$A\",\"job_id\":\"r-1\"},{\"public_key\":\"$K0\",\"addresses\":[\"10.97.0.250\"]}]}"
# The job id of a refused batch is not remembered: refused again, not replayed.
refused 409 address_in_use "{\"peers\":[{\"public_key\":\"$A\",\"job_id\":\"r-1\"},{\"public_key\":\"$B\",\"addresses\":[\"10.97.0.10\"]}]}"
expect 404 not_found GET "/v1/peers/$(enc "$A")"
echo "one bad item (taken, reserved or differing address): 409 naming it, nothing changed"

# --- new and existing peers in one batch
K3=$(sed -n 4p "$WGF_TMP/k100")
N1=$(keys 1)
out=$(api POST /v1/peers/batch -d "{\"peers\":[{\"public_key\":\"$K3\",\"persistent_keepalive\":33},{\"public_key\":\"$N1\"}]}")
[ "$(tail -n1 <<<"$out")" = 200 ] || wgf_fail "mixed batch: $out"
sed '$d' "$WGF_TMP/a100" | python3 -c 'import json, sys
first = json.load(sys.stdin)["peers"][3]
a = json.loads(sys.argv[1].rsplit("\n", 2)[0])["peers"]
assert [p["public_key"] for p in a] == [sys.argv[2], sys.argv[3]], a
assert not a[0]["created"] and a[0]["addresses"] == first["addresses"], a[0]
assert a[0]["persistent_keepalive"] == 33, a[0]
assert a[1]["created"] and len(a[1]["addresses"]) == 2, a[1]' "$out" "$K3" "$N1" || wgf_fail "mixed batch answers: $out"
wg show "$IFN" dump | awk -v k="$K3" '$1 == k && $8 == 33 { f = 1 } END { exit !f }' ||
	wgf_fail "keepalive 33 not on the device: $(wg show "$IFN" dump | grep -F "$K3")"
check_device "mixed batch"
grep -q 'batch of 2 peers: 1 created, 1 updated, 0 replayed' "$WGF_TMP/agent.log" || wgf_fail "mixed batch not logged"
echo "mixed batch: the existing peer updated with its addresses, the new one created, both on the device"

# --- more new peers than the pool has left: 507 at the first that finds none, and every
# address taken for the items before it is given back
before=$(state_sum)
device_view >"$WGF_TMP/device.before"
free=$(api GET /v1/info | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["pools"][0]["free"])')
keys $((free + 1)) >"$WGF_TMP/kfull"
body "$WGF_TMP/kfull" full >"$WGF_TMP/bfull"
post "$WGF_TMP/out" "$WGF_TMP/bfull"
[ "$(status "$WGF_TMP/out")" = 507 ] && grep -q "\"code\":\"pool_exhausted\",\"message\":\"peers\\[$free\\]: " "$WGF_TMP/out" ||
	wgf_fail "$((free + 1)) new peers on $free free addresses: $(cat "$WGF_TMP/out")"
[ "$(state_sum)" = "$before" ] || wgf_fail "an exhausted batch changed the state: $(state_sum)"
device_view >"$WGF_TMP/device.now"
cmp -s "$WGF_TMP/device.before" "$WGF_TMP/device.now" || wgf_fail "an exhausted batch changed the device"
# Its job ids were not recorded, and the addresses it took are free again: exactly the free
# ones fit.
head -n "$free" "$WGF_TMP/kfull" >"$WGF_TMP/kfit"
body "$WGF_TMP/kfit" full >"$WGF_TMP/bfit"
post "$WGF_TMP/out" "$WGF_TMP/bfit"
[ "$(status "$WGF_TMP/out")" = 200 ] || wgf_fail "$free new peers on $free free addresses: $(cat "$WGF_TMP/out")"
sed '$d' "$WGF_TMP/out" | python3 -c 'import json, sys
assert all(p["created"] for p in json.load(sys.stdin)["peers"])' || wgf_fail "a job of the refused batch was replayed"
check_device "a batch that fills the pool"
echo "exhausted: $((free + 1)) new peers on $free free addresses refused, nothing changed; $free fit exactly"

# --- durable: a restart finds every peer of every batch, and the device converges to them
cp "$WGF_TMP/agent.view" "$WGF_TMP/before.view"
agent_stop
agent_start
check_device "after restart"
cmp -s "$WGF_TMP/before.view" "$WGF_TMP/agent.view" || wgf_fail "restart changed peers or addresses"
echo "restart: $(wc -l <"$WGF_TMP/agent.view") peers and their addresses kept"
agent_stop
echo "agent_batch: PASS"
