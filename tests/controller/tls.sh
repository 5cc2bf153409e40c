#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS between the controller and its agents (docs/operations.md): agents serve HTTPS with
# certificates of a private CA, which the controller trusts through agent_ca_file. A node
# registered with its https:// URL is polled and provisioned, and a client pings through
# the tunnel; an agent whose certificate the CA did not sign, or an https agent named with
# http://, is refused at registration (502 agent_unreachable) and nothing is recorded.
#   tls.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
command -v openssl >/dev/null || wgf_fail "openssl is not installed (run scripts/deps.sh)"
CTL_NODES=2
CTL_REGISTER=1       # node 2 is the rogue one: registered by hand below
CTL_AGENT_TLS=1
CTL_TLS_ROGUE="2"
ctl_setup
[[ $(agent_url 1) == https://* ]] || wgf_fail "the agents do not speak TLS"
# The agent refuses plain HTTP on its TLS port.
! ip netns exec "$KNS" curl -sf -m 3 "http://198.19.1.1:8080/healthz" >/dev/null 2>&1 ||
	wgf_fail "agent 1 answers plain HTTP"

# A VPN on the TLS node: provision, config, ping, revoke; all over HTTPS.
TID=130100
user_put "$TID"
expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"tls"}'
VID=$(j .id)
wait_for 10 "VPN active over TLS" vpn_status "$VID" active
client_up "$VID"
client_ping 1 || wgf_fail "no ping through the tunnel of a VPN provisioned over TLS"
expect 200 bot DELETE "/v1/vpns/$VID"
wait_for 10 "peer removed over TLS" nodes_match
log "provision, ping and revoke over TLS: ok"

nodes_before=$(sql "SELECT COUNT(*) FROM nodes")
# Node 2's certificate is self-signed: the controller must not trust it.
expect_err 502 agent_unreachable admin POST /v1/nodes "$(jq -nc --arg u "$(agent_url 2)" \
	--arg t "${AGENT_TOKEN[2]}" '{name: "rogue", agent_url: $u, token: $t}')"
log "self-signed agent refused: $(j .error.message)"
# An https agent named with http://.
expect_err 502 agent_unreachable admin POST /v1/nodes "$(jq -nc --arg t "${AGENT_TOKEN[1]}" \
	'{name: "plain", agent_url: "http://198.19.1.1:8080", token: $t}')"
[ "$(sql "SELECT COUNT(*) FROM nodes")" = "$nodes_before" ] || wgf_fail "a refused registration recorded a node"
# The trusted node stays healthy under the poller (every poll is an HTTPS request).
sleep 2
node_healthy 1 || wgf_fail "node 1 is not healthy: $BODY"
echo "tls: PASS"
