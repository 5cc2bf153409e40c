#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rotating the master key (docs/operations.md): with the controller stopped,
# `wgfleet-controller rekey` seals every stored secret again with a new key. Afterwards the
# old key is refused at start-up, the new one starts, and everything sealed still opens:
# the node's agent token (polls, jobs) and the VPN's keys (its config is the same text). A
# second run changes nothing; the current key as the "new" one is refused.
#   rekey.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup
TID=160100
user_put "$TID"
for n in 1 2; do
	expect_any "201 202" bot POST "/v1/users/$TID/vpns?wait=10" "{\"type\":\"wireguard\",\"name\":\"k$n\"}"
	V[$n]=$(j .id)
	wait_for 10 "VPN ${V[$n]} active" vpn_status "${V[$n]}" active
done
api bot GET "/v1/vpns/${V[1]}/config"
config_before=$BODY
sealed() { sql "SELECT MD5(CONCAT_WS(',', (SELECT GROUP_CONCAT(HEX(private_key_enc), HEX(preshared_key_enc) ORDER BY id) FROM vpn_configs),
	(SELECT GROUP_CONCAT(HEX(agent_token_enc) ORDER BY id) FROM nodes)))"; }
ctl_stop 1
before=$(sealed)

rekey() { ip netns exec "$KNS" "$CTLBIN" rekey --config "$WGF_TMP/controller1.conf" --new-key "$1"; }
! rekey "$WGF_TMP/master.key" 2>"$WGF_TMP/same.err" || wgf_fail "rekey to the same key accepted"
grep -q "holds the current master key" "$WGF_TMP/same.err" || wgf_fail "same key: $(cat "$WGF_TMP/same.err")"
[ "$(sealed)" = "$before" ] || wgf_fail "a refused rekey changed the database"

"$CTLBIN" genkey --out "$WGF_TMP/new.key" >/dev/null
out=$(rekey "$WGF_TMP/new.key" 2>&1) || { echo "$out" >&2; wgf_fail "rekey failed"; }
log "rekey: $out"
[[ $out == *"re-sealed 3 rows"* ]] || wgf_fail "rekey should re-seal 2 VPNs and 1 node: $out"
after=$(sealed)
[ "$after" != "$before" ] || wgf_fail "rekey changed nothing"
out=$(rekey "$WGF_TMP/new.key") || wgf_fail "rekey again failed: $out"
[[ $out == *"re-sealed 0 rows"*"3 held it already"* ]] || wgf_fail "a second rekey: $out"
[ "$(sealed)" = "$after" ] || wgf_fail "a second rekey changed the database"

# The old key no longer opens what is stored; the new one does.
! ip netns exec "$KNS" "$CTLBIN" run --config "$WGF_TMP/controller1.conf" 2>"$WGF_TMP/old.err" ||
	wgf_fail "the controller started with the old key"
grep -q "does not open the secrets" "$WGF_TMP/old.err" || wgf_fail "old key: $(cat "$WGF_TMP/old.err")"
sed -i "s|^master_key_file = .*|master_key_file = $WGF_TMP/new.key|" "$WGF_TMP/controller1.conf"
ctl_start 1
api bot GET "/v1/vpns/${V[1]}/config"
[ "$STATUS" = 200 ] && [ "$BODY" = "$config_before" ] || wgf_fail "the config after rekey differs: $STATUS"
# The agent token opens: a revoke reaches the node.
expect 200 bot DELETE "/v1/vpns/${V[2]}"
wait_for 10 "the revoke reached the node" nodes_match
node_healthy 1 || wgf_fail "node not healthy after rekey: $BODY"
echo "rekey: PASS"
