#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Trials: one live trial per user, even when 20 requests for it arrive at once: exactly
# one 201, nineteen 409 trial_exists, one VPN, one provision job, one peer. Twenty users
# asking at once all get theirs (the guard is per user). Refused bodies change nothing.
#   trials.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup
TID=200100
user_put "$TID"
trial='{"type":"wireguard","trial":true}'

# --- 20 concurrent trials for one user
for n in $(seq 1 20); do echo "t$n bot POST /v1/users/$TID/vpns $trial"; done >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 20
ok=0 conflict=0
for n in $(seq 1 20); do
	case $(burst_status "t$n") in
	201) ok=$((ok + 1)); VID=$(jq -r .id "$WGF_TMP/burst/t$n.body") ;;
	409) [ "$(jq -r .error.code "$WGF_TMP/burst/t$n.body")" = trial_exists ] ||
		wgf_fail "request $n: 409 $(burst_body "t$n")"
	     conflict=$((conflict + 1)) ;;
	*) wgf_fail "request $n: $(burst_status "t$n") $(burst_body "t$n")" ;;
	esac
done
[ "$ok" = 1 ] && [ "$conflict" = 19 ] || wgf_fail "20 concurrent trials: $ok created, $conflict refused"
log "20 concurrent trials: 1 created (VPN $VID), 19 trial_exists"

api bot GET "/v1/vpns/$VID"
[ "$(j .trial)" = true ] || wgf_fail "the trial is not a trial: $BODY"
exp=$(date -d "$(j .expires_at)" +%s)
(( exp - $(date +%s) > 3 * 86400 - 120 && exp - $(date +%s) <= 3 * 86400 )) ||
	wgf_fail "trial expires at $(j .expires_at), want trial_duration (3d) from now"
api bot GET "/v1/users/$TID/vpns"
[ "$(j '.vpns | length')" = 1 ] || wgf_fail "the user has $(j '.vpns | length') VPNs: $BODY"
uid=$(sql "SELECT id FROM users WHERE telegram_id = $TID")
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $uid")" = 1 ] || wgf_fail "more than one VPN row"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'")" = 1 ] || wgf_fail "more than one provision job"
wait_for 10 "the trial active" vpn_status "$VID" active
[ "$(node_peers 1 | wc -l)" = 1 ] || wgf_fail "node 1 has $(node_peers 1 | wc -l) peers, want 1"

# --- still one at a time once active; a paid VPN is not a trial and is not refused
expect_err 409 trial_exists bot POST "/v1/users/$TID/vpns" "$trial"
expect 201 bot POST "/v1/users/$TID/vpns" '{"type":"wireguard","name":"paid"}'
[ "$(j .trial)" = false ] && [ "$(j .expires_at)" = null ] || wgf_fail "non-trial VPN: $BODY"

# --- 20 users at once: 20 trials
for n in $(seq 1 20); do
	user_put $((TID + n))
	echo "u$n bot POST /v1/users/$((TID + n))/vpns $trial"
done >"$WGF_TMP/reqs2"
burst "$WGF_TMP/reqs2" 20
for n in $(seq 1 20); do
	[ "$(burst_status "u$n")" = 201 ] || wgf_fail "user $((TID + n)): $(burst_status "u$n") $(burst_body "u$n")"
done
wait_for 15 "22 VPNs active on the node" nodes_match
[ "$(node_peers 1 | wc -l)" = 22 ] || { nodes_report; wgf_fail "node 1 has $(node_peers 1 | wc -l) peers, want 22"; }

# --- refused requests change nothing
before=$(sql "SELECT COUNT(*) FROM vpn_configs"):$(sql "SELECT COUNT(*) FROM jobs")
expect_err 422 unsupported_type bot POST "/v1/users/$((TID + 50))/vpns" '{"type":"outline","trial":true}'
expect_err 404 not_found bot POST "/v1/users/$((TID + 50))/vpns" "$trial"
user_put $((TID + 50))
expect_err 422 unsupported_type bot POST "/v1/users/$((TID + 50))/vpns" '{"type":"outline","trial":true}'
api bot POST "/v1/users/$((TID + 50))/vpns" '{"type":"wireguard","trial":"yes"}'
[ "$STATUS" = 400 ] || wgf_fail "trial \"yes\" -> $STATUS: $BODY"
api bot POST "/v1/users/$((TID + 50))/vpns" '{"type":"wireguard","colour":1}'
[ "$STATUS" = 400 ] || wgf_fail "unknown field -> $STATUS: $BODY"
api bot POST "/v1/users/$((TID + 50))/vpns" '{"type":"wireguard"'
[ "$STATUS" = 400 ] || wgf_fail "broken JSON -> $STATUS: $BODY"
api bot POST "/v1/users/abc/vpns" "$trial"
[ "$STATUS" = 400 ] || wgf_fail "non-decimal id -> $STATUS: $BODY"
[ "$(sql "SELECT COUNT(*) FROM vpn_configs"):$(sql "SELECT COUNT(*) FROM jobs")" = "$before" ] ||
	wgf_fail "a refused request changed the VPNs or jobs"
echo "trials: PASS"
