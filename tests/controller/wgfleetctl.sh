#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# wgfleetctl against the running controller: `status --json` is the API's /v1/status;
# the tables show the nodes, VPNs and jobs the API holds; a token of the wrong role is
# exit 1 with the API's error; bad usage is exit 2 and sends nothing.
#   wgfleetctl.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
[ -x "$WGFLEETCTL" ] || wgf_fail "no wgfleetctl in $BIN"
TID=130100
user_put "$TID"
expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"ctl-test"}'
VID=$(j .id)
wait_for 10 "VPN active" vpn_status "$VID" active
# ctl ROLE ARGS...: wgfleetctl in KNS against controller 1; output in OUT, exit code in RC.
ctl() {
	local role=$1
	shift
	RC=0
	OUT=$(ip netns exec "$KNS" "$WGFLEETCTL" --url "$(ctl_url 1)" --token-file "$WGF_TMP/$role.token" "$@" 2>&1) || RC=$?
}

# --- status
ctl monitor status --json
[ "$RC" = 0 ] || wgf_fail "status --json: exit $RC: $OUT"
api monitor GET /v1/status
# Same document (jobs and node counters may move between the two reads: compare the shape
# and the parts that hold still here).
[ "$(jq -S 'del(.jobs) | del(.nodes[].free_addresses)' <<<"$OUT")" = "$(jq -S 'del(.jobs) | del(.nodes[].free_addresses)' <<<"$BODY")" ] ||
	wgf_fail "status --json differs from GET /v1/status: $OUT vs $BODY"
[ "$(jq -r '[.nodes[].name] | sort | join(",")' <<<"$OUT")" = node1,node2 ] || wgf_fail "status nodes: $OUT"
ctl admin status
[ "$RC" = 0 ] || wgf_fail "status: exit $RC: $OUT"
for word in node1 node2 healthy active; do
	grep -qw "$word" <<<"$OUT" || wgf_fail "the status table lacks '$word': $OUT"
done
jq -e . <<<"$OUT" >/dev/null 2>&1 && wgf_fail "the status table is JSON"
log "status table:"
printf '%s\n' "$OUT"

# --- nodes, vpns, users, jobs
ctl monitor nodes list
[ "$RC" = 0 ] && grep -q "node1" <<<"$OUT" && grep -q "node2" <<<"$OUT" || wgf_fail "nodes list: $RC $OUT"
ctl admin nodes list --json
[ "$(jq '.nodes | length' <<<"$OUT")" = 2 ] || wgf_fail "nodes list --json: $OUT"
ctl admin vpns list "$TID"
[ "$RC" = 0 ] && grep -q ctl-test <<<"$OUT" || wgf_fail "vpns list: $RC $OUT"
ctl admin vpns show "$VID" --json
[ "$(jq -r .id <<<"$OUT")" = "$VID" ] && [ "$(jq -r .status <<<"$OUT")" = active ] || wgf_fail "vpns show: $OUT"
ctl admin users show "$TID"
[ "$RC" = 0 ] && grep -q "u$TID" <<<"$OUT" || wgf_fail "users show: $RC $OUT"
ctl monitor jobs --state done --json
[ "$RC" = 0 ] && [ "$(jq '[.jobs[] | select(.kind == "provision")] | length' <<<"$OUT")" -ge 1 ] ||
	wgf_fail "jobs --state done: $RC $OUT"

# --- refusals: the wrong role (exit 1, the API's code), bad usage (exit 2)
ctl bot status
[ "$RC" = 1 ] && grep -q forbidden <<<"$OUT" || wgf_fail "status with the bot token: exit $RC: $OUT"
ctl monitor nodes set-state "${NODE_ID[2]}" draining
[ "$RC" = 1 ] && grep -q forbidden <<<"$OUT" || wgf_fail "set-state with the monitor token: exit $RC: $OUT"
ctl admin nodes set-state "${NODE_ID[2]}" sideways
[ "$RC" = 2 ] || wgf_fail "set-state sideways: exit $RC: $OUT"
ctl admin jobs --state nope
[ "$RC" = 2 ] || wgf_fail "jobs --state nope: exit $RC: $OUT"
ctl admin nodes set-state "${NODE_ID[2]}" draining
[ "$RC" = 0 ] || wgf_fail "set-state draining: exit $RC: $OUT"
api admin GET /v1/nodes
[ "$(j ".nodes[] | select(.id == ${NODE_ID[2]}) | .state")" = draining ] || wgf_fail "node 2 not draining: $BODY"
# A draining node gets no new VPNs.
for n in 1 2 3; do
	expect 201 bot POST "/v1/users/$TID/vpns" '{"type":"wireguard"}'
	[ "$(node_index "$(j .node)")" = 1 ] || wgf_fail "a new VPN went to the draining node"
done
ip netns exec "$KNS" "$WGFLEETCTL" --url "http://127.0.0.1:9" --token-file "$WGF_TMP/admin.token" status >/dev/null 2>&1 &&
	wgf_fail "status against nothing succeeded"
echo "wgfleetctl: PASS"
