#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An agent's token rotated, or the agent moved: PATCH /v1/nodes/{id} {agent_url?, token?}
# checks the new URL and token against the agent (its /v1/info, with the node's own server
# key) before it stores anything; wgfleetctl's `nodes add` and `nodes set-token` drive it. Rotation: the agent restarts with a new token, the
# controller's polls are refused, the node turns unhealthy; a wrong token, an unreachable
# URL or another node's agent is refused with nothing changed; the right token brings the
# node back and VPNs are provisioned there again. The audit row never holds the token.
#   node_agent.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
CTL_REGISTER=1 # node 2 is registered with wgfleetctl below
ctl_setup
N1=${NODE_ID[1]}
ctl() { ip netns exec "$KNS" "$WGFLEETCTL" --url "$(ctl_url 1)" --token-file "$WGF_TMP/admin.token" "$@"; }

# --- wgfleetctl nodes add: a wrong token file is refused, the right one registers node 2
(umask 077; echo "wrong-$WGF_ID" >"$WGF_TMP/wrong.token")
! ctl nodes add node2 "$(agent_url 2)" --agent-token-file "$WGF_TMP/wrong.token" >/dev/null 2>&1 ||
	wgf_fail "wgfleetctl nodes add with a wrong token succeeded"
out=$(ctl nodes add node2 "$(agent_url 2)" --agent-token-file "$WGF_TMP/agent2/token" --json) ||
	wgf_fail "wgfleetctl nodes add: $out"
NODE_ID[2]=$(jq -r .id <<<"$out")
[ "$(jq -r .name <<<"$out")" = node2 ] || wgf_fail "wgfleetctl nodes add answered: $out"
CTL_REGISTER=2
wait_for 15 "both nodes healthy" node_healthy 2
sealed() { sql "SELECT HEX(agent_token_enc), agent_url FROM nodes WHERE id = $N1"; }
patch_body() { jq -nc "$@"; }

# --- rotate node 1's token on the agent
NEW=agent1-rotated-$WGF_ID-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
(umask 077; printf '%s\n' "$NEW" >"$WGF_TMP/agent1/token")
agent_stop 1
agent_start 1
unhealthy() { api admin GET /v1/nodes; [ "$(j ".nodes[] | select(.id == $N1) | .health")" = unhealthy ]; }
wait_for 10 "node 1 unhealthy with the old token" unhealthy
log "node 1 unhealthy: $(j ".nodes[] | select(.id == $N1) | .last_error")"
before=$(sealed)

expect_err 403 forbidden bot PATCH "/v1/nodes/$N1" "$(patch_body --arg t "$NEW" '{token: $t}')"
expect_err 400 invalid_value admin PATCH "/v1/nodes/$N1" '{}'
expect_err 400 invalid_value admin PATCH "/v1/nodes/$N1" '{"token":"has space"}'
expect_err 400 invalid_value admin PATCH "/v1/nodes/$N1" '{"agent_url":"ftp://198.19.1.1:8080"}'
expect_err 404 not_found admin PATCH "/v1/nodes/999999" "$(patch_body --arg t "$NEW" '{token: $t}')"
expect_err 502 agent_unreachable admin PATCH "/v1/nodes/$N1" '{"token":"not-the-token"}'
expect_err 502 agent_unreachable admin PATCH "/v1/nodes/$N1" \
	"$(patch_body --arg t "$NEW" '{token: $t, agent_url: "http://198.19.1.1:9"}')"
# Node 2's agent (its URL and token) is another server: not node 1's.
expect_err 409 conflict admin PATCH "/v1/nodes/$N1" \
	"$(patch_body --arg t "${AGENT_TOKEN[2]}" --arg u "$(agent_url 2)" '{token: $t, agent_url: $u}')"
[ "$(sealed)" = "$before" ] || wgf_fail "a refused PATCH changed node 1's agent"

out=$(ctl nodes set-token "$N1" --agent-token-file "$WGF_TMP/agent1/token" --json) ||
	wgf_fail "wgfleetctl nodes set-token: $out"
BODY=$out
[ "$(j .agent_url)" = "$(agent_url 1)" ] || wgf_fail "set-token answer: $BODY"
[ "$(sealed)" != "$before" ] || wgf_fail "the new token was not stored"
! grep -qF "$NEW" <<<"$BODY" || wgf_fail "the answer shows the token"
audit=$(sql "SELECT payload FROM audit_log WHERE action = 'node.agent' ORDER BY id DESC LIMIT 1")
[ -n "$audit" ] && ! grep -qF "$NEW" <<<"$audit" || wgf_fail "audit row: '$audit'"
[ "$(sql "SELECT COUNT(*) FROM audit_log WHERE payload LIKE '%$NEW%'")" = 0 ] || wgf_fail "the token is in the audit log"
healthy1() { api admin GET /v1/nodes; [ "$(j ".nodes[] | select(.id == $N1) | .health")" = healthy ]; }
wait_for 10 "node 1 healthy with the new token" healthy1
log "token rotated: node 1 healthy again; audit: $audit"

# Provisioning works on node 1 again: drain node 2 so the VPN must go to node 1.
expect 200 admin PATCH "/v1/nodes/${NODE_ID[2]}" '{"state":"draining"}'
TID=150100
user_put "$TID"
expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"rot"}'
VID=$(j .id)
wait_for 10 "VPN $VID active" vpn_status "$VID" active
[ "$(node_index "$(j .node)")" = 1 ] || wgf_fail "VPN $VID went to $(j .node)"
wait_for 10 "the nodes hold exactly the active VPNs" nodes_match
echo "node_agent: PASS"
