#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Expiry: a trial (trial_duration 4s) and a paid VPN whose expires_at is moved into the
# past leave the node's device within one sweep (sweep_interval 1s) plus the revoke's round
# trip; they end `expired`, their clients can no longer ping; a VPN that has not expired
# stays.
#   expiry.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
CONF[trial_duration]=4s
ctl_setup
TID=700100
user_put "$TID"
user_put $((TID + 1))
SWEEP_MS=1000 SLACK_MS=2000 # one sweep, and the revoke job's way to the agent

# --- a trial: active, pings, gone within a sweep of its expiry
expect_any "200 201" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","trial":true}'
[ "$(j .status)" = active ] || wgf_fail "trial with ?wait: $BODY"
TRIAL=$(j .id) TKEY=$(j .public_key)
exp_ms=$(( $(date -d "$(j .expires_at)" +%s%N) / 1000000 ))
client_up "$TRIAL"
client_ping 1 || wgf_fail "no ping through the trial's tunnel"

# --- a paid VPN (never expires unless moved) and a control that stays
expect 201 bot POST "/v1/users/$((TID + 1))/vpns" '{"type":"wireguard","name":"paid"}'
PAID=$(j .id)
expect 201 bot POST "/v1/users/$((TID + 1))/vpns" '{"type":"wireguard","name":"stays"}'
STAY=$(j .id)
wait_for 10 "the VPNs active" nodes_match
PKEY=$(sql "SELECT peer_public_key FROM vpn_configs WHERE id = $PAID")
SKEY=$(sql "SELECT peer_public_key FROM vpn_configs WHERE id = $STAY")

gone() { ! node_peers 1 | grep -qxF "$1"; }
# The trial: removed no later than expiry + one sweep + slack.
now_ms=$(date +%s%3N)
(( exp_ms > now_ms )) || wgf_fail "the trial expired before the test could watch it (setup too slow)"
wait_for 15 "the trial removed" gone "$TKEY"
late=$(( $(date +%s%3N) - exp_ms ))
log "trial removed ${late} ms after its expiry"
(( late <= SWEEP_MS + SLACK_MS )) || wgf_fail "trial removed $late ms after expiry, want <= $((SWEEP_MS + SLACK_MS))"
(( late >= -100 )) || wgf_fail "trial removed $((-late)) ms before its expiry"
wait_for 5 "trial expired" vpn_status "$TRIAL" expired
! ip netns exec "$CNS" ping -c 2 -i 0.2 -W 1 "$(server_addr4 1)" >/dev/null 2>&1 ||
	wgf_fail "the expired trial's client still pings"

# --- the paid VPN, expired by moving expires_at (the schema wants it after created_at)
sql "UPDATE vpn_configs SET expires_at = created_at + INTERVAL 1 MICROSECOND WHERE id = $PAID"
t0=$(date +%s%3N)
wait_for 15 "the expired paid VPN removed" gone "$PKEY"
late=$(( $(date +%s%3N) - t0 ))
log "paid VPN removed ${late} ms after its expires_at moved into the past"
(( late <= SWEEP_MS + SLACK_MS )) || wgf_fail "removed after $late ms, want <= $((SWEEP_MS + SLACK_MS))"
wait_for 5 "paid VPN expired" vpn_status "$PAID" expired

# --- the rest stays: nothing else expired, the control still on the node
sleep 1.5
! gone "$SKEY" || wgf_fail "a VPN that has not expired was removed"
vpn_status "$STAY" active || wgf_fail "the control VPN: $BODY"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'revoke'")" = 2 ] || wgf_fail "revoke jobs: $(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'revoke'"), want 2"
# A new trial is possible once the old one has expired.
expect_any "200 201" bot POST "/v1/users/$TID/vpns" '{"type":"wireguard","trial":true}'
echo "expiry: PASS"
