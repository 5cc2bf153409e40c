#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole path, as the bot walks it: register a user, a Stars payment at the listed
# price, complete it; the VPN becomes active on a node; its config brings a client
# namespace's tunnel up exactly as written and a ping crosses it (IPv4 and IPv6); the QR
# code decodes to the same config. Revoke: the peer leaves the node's device within a few
# seconds and the ping fails.
#   whole_path.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
TID=100200300

# --- a user, a payment, its completion
expect 201 bot PUT "/v1/users/$TID" '{"username":"alice","first_name":"Alice"}'
[ "$(j .telegram_id)" = "$TID" ] && [ "$(j .status)" = active ] || wgf_fail "new user: $BODY"
expect 200 bot PUT "/v1/users/$TID" '{"username":"alice2"}'
[ "$(j .username)" = alice2 ] || wgf_fail "updated user: $BODY"

pay=$(jq -nc --argjson t "$TID" --arg c "charge-$WGF_ID-1" \
	'{telegram_id: $t, method: "stars", amount: 150, currency: "XTR", vpn_type: "wireguard",
	  months: 1, charge_id: $c}')
expect 201 bot POST /v1/payments "$pay"
PID=$(j .id)
[ "$(j .status)" = pending ] && [ "$(j .vpn_id)" = null ] || wgf_fail "new payment: $BODY"
expect_any "200 201" bot POST "/v1/payments/$PID/complete"
VID=$(j .vpn.id)
[ "$(j .payment.status)" = completed ] && [ "$(j .payment.vpn_id)" = "$VID" ] &&
	[ "$VID" != null ] || wgf_fail "complete: $BODY"
[ "$(j .vpn.trial)" = false ] && [ "$(j .vpn.type)" = wireguard ] || wgf_fail "bought VPN: $BODY"
# A month from now (calendar month: 28..31 days).
exp=$(date -d "$(j .vpn.expires_at)" +%s)
days=$(( (exp - $(date +%s)) / 86400 ))
(( days >= 27 && days <= 31 )) || wgf_fail "expires_at $(j .vpn.expires_at) is $days days away, want a month"
log "payment $PID completed: VPN $VID"

wait_for 10 "VPN $VID active" vpn_status "$VID" active
api bot GET "/v1/vpns/$VID"
PUB=$(j .public_key)
NODE=$(node_index "$(j .node)")
mapfile -t ADDRS < <(j '.addresses[]')
[ "${#ADDRS[@]}" = 2 ] || wgf_fail "want an IPv4 and an IPv6 address: $BODY"
[ "$(j .job.state)" = done ] || wgf_fail "job of an active VPN: $BODY"
log "VPN $VID active on node $NODE: ${ADDRS[*]}"

# --- the node has exactly this peer, with the VPN's addresses and a preshared key
[ "$(node_peers "$NODE")" = "$PUB" ] || wgf_fail "node $NODE peers: $(node_peers "$NODE"), want $PUB"
other=$((3 - NODE))
[ -z "$(node_peers "$other")" ] || wgf_fail "node $other has peers: $(node_peers "$other")"
got=$(wg show "${SIF[$NODE]}" allowed-ips | awk -v k="$PUB" '$1 == k { $1 = ""; print }' | tr ' ' '\n' | sed '/^$/d' | sort)
[ "$got" = "$(printf '%s\n' "${ADDRS[@]}" | sort)" ] || wgf_fail "allowed IPs on the node: $got, want ${ADDRS[*]}"

# --- the config: text/plain, exactly what the VPN record and the node say
api_file bot GET "/v1/vpns/$VID/config" "$WGF_TMP/config.txt"
[ "$STATUS" = 200 ] || wgf_fail "config -> $STATUS"
[[ $CTYPE == text/plain* ]] || wgf_fail "config content type $CTYPE"
conf() { sed -n "s/^$1 *= *//p" "$WGF_TMP/config.txt"; }
[ "$(conf PrivateKey | wg pubkey)" = "$PUB" ] || wgf_fail "the config's private key is not the VPN's key"
[ "$(conf PublicKey)" = "$(wg show "${SIF[$NODE]}" public-key)" ] || wgf_fail "PublicKey is not node $NODE's"
[ "$(conf Endpoint)" = "198.18.$NODE.1:51820" ] || wgf_fail "Endpoint $(conf Endpoint)"
[ "$(conf PresharedKey)" = "$(wg show "${SIF[$NODE]}" preshared-keys | awk -v k="$PUB" '$1 == k { print $2 }')" ] ||
	wgf_fail "PresharedKey differs from the node's"
[ "$(conf Address | tr -d ' ' | tr ',' '\n' | sort)" = "$(printf '%s\n' "${ADDRS[@]}" | sort)" ] ||
	wgf_fail "Address $(conf Address), want ${ADDRS[*]}"
[ "$(conf DNS)" = 192.0.2.53 ] || wgf_fail "DNS $(conf DNS)"
[ "$(conf AllowedIPs)" = "10.96.0.0/12, fd64:100::/32" ] || wgf_fail "AllowedIPs $(conf AllowedIPs)"
[ "$(conf PersistentKeepalive)" = 25 ] || wgf_fail "PersistentKeepalive $(conf PersistentKeepalive)"

# --- the QR code is a PNG of that same text
api_file bot GET "/v1/vpns/$VID/qr" "$WGF_TMP/qr.png"
[ "$STATUS" = 200 ] && [ "$CTYPE" = image/png ] || wgf_fail "qr -> $STATUS $CTYPE"
[ "$(head -c 8 "$WGF_TMP/qr.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || wgf_fail "qr is not a PNG"
if command -v zbarimg >/dev/null; then
	zbarimg -q --raw "$WGF_TMP/qr.png" >"$WGF_TMP/qr.txt" || wgf_fail "zbarimg cannot read the QR code"
	diff <(sed '/^$/d' "$WGF_TMP/qr.txt") <(sed '/^$/d' "$WGF_TMP/config.txt") ||
		wgf_fail "the QR code does not hold the config"
fi

# --- a client uses the config and pings the server through the tunnel
client_up "$VID"
[ "$CLIENT_NODE" = "$NODE" ] || wgf_fail "client_up: node $CLIENT_NODE"
client_ping "$NODE" || wgf_fail "no ping through the tunnel to $(server_addr4 "$NODE")"
ip netns exec "$CNS" ping -6 -c 2 -i 0.2 -W 2 "$(server_addr6 "$NODE")" >/dev/null ||
	wgf_fail "no IPv6 ping through the tunnel"
hs=$(wg show "${SIF[$NODE]}" latest-handshakes | awk -v k="$PUB" '$1 == k { print $2 }')
[ "${hs:-0}" -gt 0 ] || wgf_fail "no handshake on the node"
log "ping through the tunnel to node $NODE: ok"

# --- revoke: the peer leaves the node within seconds, the ping fails
t0=$(date +%s%3N)
expect 200 bot DELETE "/v1/vpns/$VID" '{"reason":"test revoke"}'
[ "$(j .status)" = revoked ] && [ "$(j .revoked_at)" != null ] || wgf_fail "revoke: $BODY"
peer_gone() { ! node_peers "$NODE" | grep -qxF "$PUB"; }
wait_for 5 "peer removed from node $NODE after the revoke" peer_gone
log "peer gone from the node $(( $(date +%s%3N) - t0 )) ms after the revoke"
! ip netns exec "$CNS" ping -c 3 -i 0.2 -W 1 "$(server_addr4 "$NODE")" >/dev/null 2>&1 ||
	wgf_fail "the ping still crosses the tunnel after the revoke"
wait_for 5 "the revoke job done" vpn_status "$VID" revoked
api bot GET "/v1/vpns/$VID"
[ "$(j .job.state)" = done ] || wgf_fail "revoke job: $BODY"
# Revoked stays revoked: a second DELETE changes nothing.
api bot DELETE "/v1/vpns/$VID"
api bot GET "/v1/vpns/$VID"
[ "$(j .status)" = revoked ] || wgf_fail "after a second DELETE: $BODY"
sleep 1.5 # a poll and a reconcile: nothing brings the peer back
peer_gone || wgf_fail "the peer came back on node $NODE"
echo "whole_path: PASS"
