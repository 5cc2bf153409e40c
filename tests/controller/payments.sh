#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Payments: 20 concurrent completions of one payment grant one VPN (one row, one provision
# job, counted once in /v1/status) and all 20 answers agree; a second payment extends that
# VPN instead of making another; an amount, currency or months off the price list is 422
# price_mismatch and records nothing; the state machine refuses what it must.
#   payments.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup
TID=300100
user_put "$TID"
# pay METHOD AMOUNT CURRENCY MONTHS CHARGE: a payment body
pay() {
	jq -nc --argjson t "$TID" --arg m "$1" --argjson a "$2" --arg c "$3" --argjson mo "$4" \
		--arg ch "$5" '{telegram_id: $t, method: $m, amount: $a, currency: $c,
		vpn_type: "wireguard", months: $mo, charge_id: $ch}'
}
counts() { sql "SELECT (SELECT COUNT(*) FROM payments), (SELECT COUNT(*) FROM vpn_configs), (SELECT COUNT(*) FROM jobs)"; }

# --- off the price list: refused, nothing recorded
before=$(counts)
expect_err 422 price_mismatch bot POST /v1/payments "$(pay stars 149 XTR 1 bad-1)"
expect_err 422 price_mismatch bot POST /v1/payments "$(pay stars 151 XTR 1 bad-2)"
expect_err 422 price_mismatch bot POST /v1/payments "$(pay stars 150 USD 1 bad-3)"
expect_err 422 price_mismatch bot POST /v1/payments "$(pay stars 150 XTR 2 bad-4)"
expect_err 422 price_mismatch bot POST /v1/payments "$(pay qvapay 150 XTR 1 bad-5)"
expect_err 422 price_mismatch bot POST /v1/payments "$(pay stars 400 XTR 1 bad-6)"
api bot POST /v1/payments "$(pay stars -150 XTR 1 bad-7)"
[[ $STATUS == 4?? ]] || wgf_fail "a negative amount -> $STATUS: $BODY"
api bot POST /v1/payments "$(pay cash 150 XTR 1 bad-8)"
[[ $STATUS == 4?? ]] || wgf_fail "an unknown method -> $STATUS: $BODY"
[ "$(counts)" = "$before" ] || wgf_fail "a refused payment recorded something: $before -> $(counts)"
api bot GET "/v1/users/$TID/payments"
[ "$STATUS" = 200 ] && [ "$(j '.payments | length')" = 0 ] || wgf_fail "payments after refusals: $BODY"
log "price mismatches refused, nothing recorded"

# --- 20 concurrent completions of one payment
expect 201 bot POST /v1/payments "$(pay stars 150 XTR 1 "ch-$WGF_ID-1")"
P1=$(j .id)
expect_err 409 duplicate_charge bot POST /v1/payments "$(pay stars 150 XTR 1 "ch-$WGF_ID-1")"
for n in $(seq 1 20); do echo "c$n bot POST /v1/payments/$P1/complete"; done >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 20
VID=
for n in $(seq 1 20); do
	s=$(burst_status "c$n")
	[ "$s" = 200 ] || [ "$s" = 201 ] || wgf_fail "completion $n: $s $(burst_body "c$n")"
	read -r st pv vv < <(jq -r '"\(.payment.status) \(.payment.vpn_id) \(.vpn.id)"' "$WGF_TMP/burst/c$n.body")
	[ "$st" = completed ] && [ "$pv" = "$vv" ] && [ "$vv" != null ] ||
		wgf_fail "completion $n: $(burst_body "c$n")"
	[ -z "$VID" ] || [ "$VID" = "$vv" ] || wgf_fail "completion $n names VPN $vv, another names $VID"
	VID=$vv
done
log "20 concurrent completions: all name VPN $VID"
uid=$(sql "SELECT id FROM users WHERE telegram_id = $TID")
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $uid")" = 1 ] || wgf_fail "more than one VPN granted"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'")" = 1 ] || wgf_fail "more than one provision job"
[ "$(sql "SELECT status FROM payments WHERE id = $P1")" = completed ] || wgf_fail "payment not completed"
wait_for 10 "VPN $VID active" vpn_status "$VID" active
exp1=$(j .expires_at)
expect 200 admin GET /v1/status
[ "$(j '[.vpns[]] | add')" = 1 ] || wgf_fail "status counts $(j '[.vpns[]] | add') VPNs, want 1: $BODY"
[ "$(j '.vpns.active')" = 1 ] || wgf_fail "status: $BODY"
[ "$(j '.payments.completed')" = 1 ] || wgf_fail "status payments: $BODY"
[ "$(node_peers 1 | wc -l)" = 1 ] || wgf_fail "node has $(node_peers 1 | wc -l) peers"
# Completing again answers the same.
expect 200 bot POST "/v1/payments/$P1/complete"
[ "$(j .vpn.id)" = "$VID" ] || wgf_fail "repeat completion: $BODY"

# --- a second payment extends the same VPN by its months
expect 201 bot POST /v1/payments "$(pay stars 400 XTR 3 "ch-$WGF_ID-2")"
P2=$(j .id)
expect_any "200 201" bot POST "/v1/payments/$P2/complete"
[ "$(j .vpn.id)" = "$VID" ] || wgf_fail "a second payment made VPN $(j .vpn.id), want $VID extended"
exp2=$(j .vpn.expires_at)
d=$(( ($(date -d "$exp2" +%s) - $(date -d "$exp1" +%s)) / 86400 ))
(( d >= 88 && d <= 92 )) || wgf_fail "extended by $d days ($exp1 -> $exp2), want 3 months"
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $uid")" = 1 ] || wgf_fail "extension made a VPN"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'")" = 1 ] || wgf_fail "extension queued a provision"
log "second payment extended VPN $VID to $exp2"

# --- transitions
expect_err 409 invalid_transition bot POST "/v1/payments/$P1/fail" '{"reason":"x"}'
expect 201 bot POST /v1/payments "$(pay qvapay 299 USD 1 "ch-$WGF_ID-3")"
P3=$(j .id)
expect_err 409 invalid_transition bot POST "/v1/payments/$P3/refund"
expect 200 bot POST "/v1/payments/$P3/fail" '{"reason":"card declined"}'
[ "$(j .status)" = failed ] && [ "$(j .failure_reason)" = "card declined" ] || wgf_fail "fail: $BODY"
before=$(counts)
expect_err 409 invalid_transition bot POST "/v1/payments/$P3/complete"
[ "$(counts)" = "$before" ] || wgf_fail "completing a failed payment changed something"
expect 200 bot POST "/v1/payments/$P2/refund"
[ "$(j .status)" = refunded ] || wgf_fail "refund: $BODY"
expect_err 409 invalid_transition bot POST "/v1/payments/$P2/complete"
expect_err 404 not_found bot POST "/v1/payments/999999/complete"
api bot GET "/v1/users/$TID/payments"
[ "$(j '.payments | length')" = 3 ] || wgf_fail "the user has $(j '.payments | length') payments, want 3"
echo "payments: PASS"
