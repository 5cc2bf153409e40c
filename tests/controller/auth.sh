#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Auth: every route with every role. bot: users (roles excepted), VPNs, payments; monitor:
# GET /v1/status, /metrics, /v1/jobs, /v1/nodes; admin: everything. A role that may not is
# 403 forbidden and changes nothing; no token, a wrong token, another scheme: 401
# unauthorized, on every route but /healthz.
#   auth.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2 CTL_REGISTER=1 # node 2 is for the admin to register
ctl_setup
TID=800100
expect 201 admin PUT "/v1/users/$TID" '{"username":"owner"}'
expect_any "201 202" admin POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","name":"v"}'
VID=$(j .id)
wait_for 10 "VPN active" vpn_status "$VID" active
N1=${NODE_ID[1]}
snapshot() {
	sql "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM user_roles),
	            (SELECT COUNT(*) FROM vpn_configs), (SELECT COUNT(*) FROM payments),
	            (SELECT COUNT(*) FROM nodes), (SELECT COUNT(*) FROM jobs),
	            (SELECT COUNT(*) FROM vpn_configs WHERE status = 'revoked'),
	            (SELECT GROUP_CONCAT(status ORDER BY id) FROM payments),
	            (SELECT GROUP_CONCAT(state ORDER BY id) FROM nodes),
	            (SELECT GROUP_CONCAT(status ORDER BY id) FROM users)"
}
charge=0
paybody() {
	charge=$((charge + 1))
	echo "{\"telegram_id\":$TID,\"method\":\"stars\",\"amount\":150,\"currency\":\"XTR\",\"vpn_type\":\"wireguard\",\"months\":1,\"charge_id\":\"auth-$WGF_ID-$1-$charge\"}"
}
nodebody="{\"name\":\"node2\",\"agent_url\":\"$(agent_url 2)\",\"token\":\"${AGENT_TOKEN[2]}\"}"

# The table: ROLES-ALLOWED METHOD PATH [BODY]. Routes whose answer for an allowed role
# depends on the order of the checks get their own cases below.
routes=(
	"admin,monitor GET /metrics"
	"admin,monitor GET /v1/status"
	"bot,admin PUT /v1/users/$((TID + 1)) {\"username\":\"x\"}"
	"bot,admin GET /v1/users/$TID"
	"bot,admin PATCH /v1/users/$TID {\"status\":\"active\"}"
	"admin PUT /v1/users/$TID/roles/admin"
	"admin DELETE /v1/users/$TID/roles/admin"
	"bot,admin POST /v1/users/$TID/vpns {\"type\":\"wireguard\"}"
	"bot,admin GET /v1/users/$TID/vpns"
	"bot,admin GET /v1/vpns/$VID"
	"bot,admin GET /v1/vpns/$VID/config"
	"bot,admin GET /v1/vpns/$VID/qr"
	"bot,admin POST /v1/payments PAY"
	"bot,admin GET /v1/users/$TID/payments"
	"admin,monitor GET /v1/nodes"
	"admin PATCH /v1/nodes/$N1 {\"state\":\"active\"}"
	"admin,monitor GET /v1/jobs"
	"admin,monitor GET /v1/jobs?state=done"
)
for route in "${routes[@]}"; do
	read -r allowed m p body <<<"$route"
	for role in bot admin monitor; do
		b=$body
		[ "$b" != PAY ] || b=$(paybody "$role")
		if [[ ,$allowed, == *",$role,"* ]]; then
			if [ -n "$b" ]; then api "$role" "$m" "$p" "$b"; else api "$role" "$m" "$p"; fi
			[[ $STATUS == 2?? ]] || wgf_fail "$role $m $p -> $STATUS, want 2xx: $BODY"
		else
			before=$(snapshot)
			if [ -n "$b" ]; then api "$role" "$m" "$p" "$b"; else api "$role" "$m" "$p"; fi
			[ "$STATUS" = 403 ] && [ "$(j .error.code)" = forbidden ] ||
				wgf_fail "$role $m $p -> $STATUS, want 403 forbidden: $BODY"
			[ "$(snapshot)" = "$before" ] || wgf_fail "$role $m $p was refused but changed something"
		fi
	done
	for role in none wrong; do
		before=$(snapshot)
		if [ -n "$body" ]; then api "$role" "$m" "$p" "{}"; else api "$role" "$m" "$p"; fi
		[ "$STATUS" = 401 ] && [ "$(j .error.code)" = unauthorized ] ||
			wgf_fail "$role token, $m $p -> $STATUS, want 401 unauthorized: $BODY"
		[ "$(snapshot)" = "$before" ] || wgf_fail "$m $p without a valid token changed something"
	done
done
log "${#routes[@]} routes x 5 callers as the table says"

# --- the routes that change state for good: each role once, in an order that works
pay_and() { # ROLE ACTION: a fresh payment (as admin), then ACTION on it as ROLE
	expect 201 admin POST /v1/payments "$(paybody "$1-$2")"
	PAYID=$(j .id)
	api "$1" POST "/v1/payments/$PAYID/$2"
}
for action in complete fail; do
	pay_and monitor "$action"
	[ "$STATUS" = 403 ] || wgf_fail "monitor $action -> $STATUS"
	for role in bot admin; do
		pay_and "$role" "$action"
		[[ $STATUS == 2?? ]] || wgf_fail "$role $action -> $STATUS: $BODY"
	done
done
for role in monitor bot admin; do
	expect 201 admin POST /v1/payments "$(paybody "r-$role")"
	PAYID=$(j .id)
	expect_any "200 201" admin POST "/v1/payments/$PAYID/complete"
	api "$role" POST "/v1/payments/$PAYID/refund"
	if [ "$role" = monitor ]; then [ "$STATUS" = 403 ] || wgf_fail "monitor refund -> $STATUS"
	else [ "$STATUS" = 200 ] || wgf_fail "$role refund -> $STATUS: $BODY"; fi
done
for role in monitor bot admin; do
	expect 201 admin POST "/v1/users/$TID/vpns" '{"type":"wireguard"}'
	v=$(j .id)
	before=$(snapshot)
	api "$role" DELETE "/v1/vpns/$v"
	if [ "$role" = monitor ]; then
		[ "$STATUS" = 403 ] && [ "$(snapshot)" = "$before" ] || wgf_fail "monitor DELETE vpn -> $STATUS"
	else [ "$STATUS" = 200 ] || wgf_fail "$role DELETE vpn -> $STATUS: $BODY"; fi
done

# --- nodes: only admin registers one
for role in bot monitor; do
	before=$(snapshot)
	api "$role" POST /v1/nodes "$nodebody"
	[ "$STATUS" = 403 ] && [ "$(snapshot)" = "$before" ] || wgf_fail "$role POST /v1/nodes -> $STATUS: $BODY"
done
expect 201 admin POST /v1/nodes "$nodebody"

# --- other schemes and malformed headers are 401 too; /healthz is public
for h in "Authorization: Basic $(cat "$WGF_TMP/admin.token")" "Authorization: Bearer" \
	"Authorization: bearer$(cat "$WGF_TMP/admin.token")" "Authorization: Bearer $(cat "$WGF_TMP/admin.token")x"; do
	printf '%s\n' "$h" >"$WGF_TMP/odd.hdr"
	api odd GET /v1/status
	[ "$STATUS" = 401 ] || wgf_fail "header '${h%% *} ${h#* }' -> $STATUS"
done
for role in none wrong bot; do
	api "$role" GET /healthz
	[ "$STATUS" = 200 ] && [ "$(j .status)" = ok ] || wgf_fail "$role GET /healthz -> $STATUS: $BODY"
done
echo "auth: PASS"
