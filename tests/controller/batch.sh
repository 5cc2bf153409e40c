#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# VPN creation in batches (controller/provisioner.h), end to end.
#  - 60 POST /v1/users/{tid}/vpns?wait=10 from 12 clients over 6 users: all 201 active with
#    a config; an agent logged a batch of more than one peer; both nodes got a sixth or
#    more of them (a batch goes to one node, the next sees the room it took); every provision job done
#    after one attempt; per VPN one vpn.create, one vpn.activate and two ip.assign audit
#    rows; every peer sent to an agent once; the nodes hold exactly the active VPNs; each
#    answer shows its job done, as the one-at-a-time answer does.
#  - without ?wait: 201 pending with its job {id, state}, active within seconds.
#  - a ban in the middle of a burst of 40 creations for the user: in the end the user has
#    no live VPN and no peer on any node; every answer was 201 or 409 user_banned.
#  - what a batch hands back still gets the one-at-a-time answer, in a burst: two trials
#    for one user (201 and 409 trial_exists), an unknown user (404 not_found), one
#    Idempotency-Key twice (one VPN, both answers name it).
#  - /v1/status agrees with COUNTs of the tables; no job failed.
#   batch.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
CONF[db_pool_size]=32 # 12 clients waiting, next to the workers and the provisioner
ctl_setup
USERS=6 TID=700100 TB=700200 TT=700300 TK=700301
for (( u=0; u<USERS; u++ )); do user_put $((TID + u)); done
for t in "$TB" "$TT" "$TK"; do user_put "$t"; done
paid='{"type":"wireguard"}'

# The peers the agents were sent: a line per POST /v1/peers, N per batch (as in
# two_controllers.sh).
agent_posts() {
	awk '/^peer .* (created|updated)/ { s++ } /^batch of [0-9]+ peers:/ { s += $3 } END { print s + 0 }' \
		"$WGF_TMP/agent$1.log"
}
# The largest batch an agent logged.
agent_max_batch() {
	awk '/^batch of [0-9]+ peers:/ { if ($3 > m) m = $3 } END { print m + 0 }' "$WGF_TMP/agent$1.log"
}
# ids LIST_OF_NAMES: the VPN ids of those burst answers, comma-separated.
ids_of() {
	local n
	for n in "$@"; do jq -r .id "$WGF_TMP/burst/$n.body"; done | paste -sd, -
}
# status_matches: /v1/status says what COUNTs of the tables say.
status_matches() {
	local s
	api monitor GET /v1/status
	[ "$STATUS" = 200 ] || return 1
	for s in pending active expired revoked; do
		[ "$(j ".vpns.$s")" = "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE status = '$s'")" ] || return 1
	done
	for s in active banned; do
		[ "$(j ".users.$s")" = "$(sql "SELECT COUNT(*) FROM users WHERE status = '$s'")" ] || return 1
	done
	for s in pending running done failed; do
		[ "$(j ".jobs.$s")" = "$(sql "SELECT COUNT(*) FROM jobs WHERE state = '$s'")" ] || return 1
	done
	for s in pending completed failed refunded; do
		[ "$(j ".payments.$s")" = "$(sql "SELECT COUNT(*) FROM payments WHERE status = '$s'")" ] || return 1
	done
}
settle() {
	wait_for 30 "jobs settled" jobs_settled
	poll_until 15 nodes_match || { nodes_report; wgf_fail "$1: the nodes differ from the database"; }
	status_matches || wgf_fail "$1: /v1/status $BODY differs from the tables"
	[ "$(sql "SELECT COUNT(*) FROM jobs WHERE state = 'failed'")" = 0 ] ||
		wgf_fail "$1: failed jobs: $(sql "SELECT id, kind, last_error FROM jobs WHERE state = 'failed' LIMIT 5")"
}

# --- 60 creations, 12 at a time, waiting for each
N=60
sent0=$(( $(agent_posts 1) + $(agent_posts 2) ))
for (( n=0; n<N; n++ )); do
	echo "w$n bot POST /v1/users/$((TID + n % USERS))/vpns?wait=10 {\"type\":\"wireguard\",\"name\":\"w$n\"}"
done >"$WGF_TMP/reqs"
t0=$(date +%s%3N)
burst "$WGF_TMP/reqs" 12
log "$N creations with ?wait=10, 12 at a time: $(( $(date +%s%3N) - t0 )) ms"
names=() JOB_NOT_DONE=()
for (( n=0; n<N; n++ )); do
	[ "$(burst_status "w$n")" = 201 ] || wgf_fail "request w$n: $(burst_status "w$n") $(burst_body "w$n")"
	read -r st cf tg js < <(jq -r '[.status, (.config // "" | startswith("[Interface]")),
		.telegram_id, .job.state] | @tsv' "$WGF_TMP/burst/w$n.body")
	[ "$st $cf $tg" = "active true $((TID + n % USERS))" ] ||
		wgf_fail "request w$n: not active with a config: $(burst_body "w$n")"
	# as the one-at-a-time answer shows it (checked last, after everything else)
	[ "$js" = done ] || JOB_NOT_DONE+=("w$n: $(jq -c .job "$WGF_TMP/burst/w$n.body")")
	names+=("w$n")
done
W=$(ids_of "${names[@]}")
[ "$(sql "SELECT COUNT(DISTINCT id) FROM vpn_configs WHERE id IN ($W) AND status = 'active'")" = "$N" ] ||
	wgf_fail "the $N answers name $(sql "SELECT COUNT(DISTINCT id) FROM vpn_configs WHERE id IN ($W)") VPNs"
m1=$(agent_max_batch 1) m2=$(agent_max_batch 2)
log "largest batch on node 1: $m1 peers, on node 2: $m2"
(( m1 > 1 || m2 > 1 )) || wgf_fail "no agent logged a batch of more than one peer"
# A batch stays on one node, but the next one sees the room it took: the burst is spread.
split=$(sql "SELECT GROUP_CONCAT(c ORDER BY node_id) FROM (SELECT node_id, COUNT(*) c
             FROM vpn_configs WHERE id IN ($W) GROUP BY node_id) x")
log "the $N VPNs by node: $split"
[[ $split =~ ^([0-9]+),([0-9]+)$ ]] && (( BASH_REMATCH[1] >= N / 6 && BASH_REMATCH[2] >= N / 6 )) ||
	wgf_fail "the $N VPNs are not spread over both nodes: $split"
# One provision job per VPN, done at its first attempt.
bad=$(sql "SELECT COUNT(*) FROM vpn_configs v WHERE v.id IN ($W) AND 1 <> (SELECT COUNT(*)
           FROM jobs j WHERE j.vpn_config_id = v.id AND j.kind = 'provision' AND j.state = 'done'
           AND j.attempts = 1)")
[ "$bad" = 0 ] || wgf_fail "$bad VPNs without exactly one provision job done at attempt 1: $(sql "SELECT
	vpn_config_id, state, attempts, claimed_by, last_error FROM jobs WHERE vpn_config_id IN ($W)
	AND (state <> 'done' OR attempts <> 1) LIMIT 5")"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE vpn_config_id IN ($W)")" = "$N" ] ||
	wgf_fail "more than one job per VPN: $(sql "SELECT COUNT(*) FROM jobs WHERE vpn_config_id IN ($W)")"
# The audit trail of the one-at-a-time way: per VPN 1 vpn.create, 1 vpn.activate, 2 ip.assign.
audit() {
	sql "SELECT COUNT(*) FROM audit_log WHERE action = '$1' AND
	     JSON_VALUE(payload, '$.vpn_config_id') IN ($W)"
}
audit_per_vpn() {
	sql "SELECT COUNT(*) FROM vpn_configs v WHERE v.id IN ($W) AND (SELECT COUNT(*) FROM audit_log a
	     WHERE a.action = '$1' AND a.user_id = v.user_id
	     AND JSON_VALUE(a.payload, '$.vpn_config_id') = v.id) = $2"
}
for x in "vpn.create 1" "vpn.activate 1" "ip.assign 2"; do
	read -r act per <<<"$x"
	[ "$(audit_per_vpn "$act" "$per")" = "$N" ] && [ "$(audit "$act")" = $(( N * per )) ] ||
		wgf_fail "$act: $(audit "$act") audit rows for $N VPNs, $(audit_per_vpn "$act" "$per") of them with $per"
done
[ "$(sql "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id IN ($W) AND released_at IS NULL")" = $(( 2 * N )) ] ||
	wgf_fail "live addresses of the $N VPNs: $(sql "SELECT COUNT(*) FROM ip_assignments WHERE vpn_config_id IN ($W)")"
sent=$(( $(agent_posts 1) + $(agent_posts 2) - sent0 ))
[ "$sent" = "$N" ] || wgf_fail "the agents were sent $sent peers for $N VPNs"
settle "after the burst with ?wait"
log "burst: $N VPNs active, each sent once, audited as one at a time"

# --- without ?wait: 201 pending, with its job; active soon after
expect 201 bot POST "/v1/users/$TID/vpns" "$paid"
V=$(j .id)
[ "$(j .status)" = pending ] || wgf_fail "without ?wait: $BODY"
[[ "$(j .job.id)" =~ ^[0-9]+$ ]] && [[ "$(j .job.state)" =~ ^(pending|running|done)$ ]] ||
	wgf_fail "without ?wait, the job: $BODY"
[ "$(sql "SELECT vpn_config_id FROM jobs WHERE id = $(j .job.id)")" = "$V" ] ||
	wgf_fail "without ?wait: job $(j .job.id) is not VPN $V's"
wait_for 5 "VPN $V active" vpn_status "$V" active
log "without ?wait: VPN $V pending with job $(sql "SELECT id FROM jobs WHERE vpn_config_id = $V"), then active"

# --- a ban during a burst of 40 creations for the user
UB=$(sql "SELECT id FROM users WHERE telegram_id = $TB")
for (( n=0; n<40; n++ )); do
	echo "b$n bot POST /v1/users/$TB/vpns?wait=5 {\"type\":\"wireguard\",\"name\":\"b$n\"}"
done >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 4 0.1 &
burst_pid=$!
user_has() { (( $(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB") >= $1 )); }
wait_for 10 "the burst's first VPNs" user_has 6
# (a ban that has to wait for a batch's first transaction is made certain in prov_races.sh)
expect 200 bot PATCH "/v1/users/$TB" '{"status":"banned"}'
log "user $TB banned with $(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB") VPNs"
wait "$burst_pid"
created=0 refused=0
for (( n=0; n<40; n++ )); do
	case $(burst_status "b$n") in
	201 | 202) created=$((created + 1)) ;;
	409)
		[ "$(jq -r .error.code "$WGF_TMP/burst/b$n.body")" = user_banned ] ||
			wgf_fail "request b$n: 409 $(burst_body "b$n")"
		refused=$((refused + 1)) ;;
	*) wgf_fail "request b$n: $(burst_status "b$n") $(burst_body "b$n")" ;;
	esac
done
log "ban during the burst: $created created, $refused refused"
(( created > 0 && refused > 0 )) || wgf_fail "the ban did not fall inside the burst ($created created, $refused refused)"
settle "after the ban"
live=$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB AND status IN ('active', 'pending')")
[ "$live" = 0 ] || wgf_fail "the banned user has $live live VPNs: $(sql "SELECT id, status FROM vpn_configs
	WHERE user_id = $UB AND status IN ('active', 'pending')")"
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB")" = "$created" ] ||
	wgf_fail "the banned user has $(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB") VPNs, $created answered 201"
sql "SELECT peer_public_key FROM vpn_configs WHERE user_id = $UB" | sort >"$WGF_TMP/banned.keys"
for (( i=1; i<=CTL_NODES; i++ )); do
	on=$(node_peers "$i" | comm -12 - "$WGF_TMP/banned.keys" | wc -l)
	[ "$on" = 0 ] || wgf_fail "node $i still has $on peers of the banned user"
done
[ "$(sql "SELECT COUNT(*) FROM ip_assignments WHERE user_id = $UB AND released_at IS NULL")" = 0 ] ||
	wgf_fail "the banned user still holds addresses"

# --- what a batch hands back, inside a burst: two trials of one user, an unknown user, one
# Idempotency-Key twice, among ordinary creations
{ cat "$WGF_TMP/bot.hdr"; echo "Idempotency-Key: batch-$WGF_ID"; } >"$WGF_TMP/keyed.hdr"
{
	echo "t1 bot POST /v1/users/$TT/vpns?wait=10 {\"type\":\"wireguard\",\"trial\":true}"
	echo "k1 keyed POST /v1/users/$TK/vpns?wait=10 $paid"
	echo "x1 bot POST /v1/users/799999/vpns?wait=10 $paid"
	for (( n=0; n<4; n++ )); do echo "o$n bot POST /v1/users/$((TID + n))/vpns?wait=10 $paid"; done
	echo "t2 bot POST /v1/users/$TT/vpns?wait=10 {\"type\":\"wireguard\",\"trial\":true}"
	echo "k2 keyed POST /v1/users/$TK/vpns?wait=10 $paid"
	for (( n=4; n<8; n++ )); do echo "o$n bot POST /v1/users/$((TID + n % USERS))/vpns?wait=10 $paid"; done
} >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 13
st="$(burst_status t1) $(burst_status t2)"
[ "$st" = "201 409" ] || [ "$st" = "409 201" ] || wgf_fail "two trials: $st: $(burst_body t1) $(burst_body t2)"
for t in t1 t2; do
	if [ "$(burst_status $t)" = 409 ]; then
		[ "$(jq -r .error.code "$WGF_TMP/burst/$t.body")" = trial_exists ] || wgf_fail "$t: $(burst_body $t)"
	else
		[ "$(jq -r '.trial, .status' "$WGF_TMP/burst/$t.body" | paste -sd' ')" = "true active" ] ||
			wgf_fail "$t: $(burst_body $t)"
	fi
done
[ "$(burst_status x1)" = 404 ] && [ "$(jq -r .error.code "$WGF_TMP/burst/x1.body")" = not_found ] ||
	wgf_fail "unknown user: $(burst_status x1) $(burst_body x1)"
[ "$(burst_status k1)" = 201 ] && [ "$(burst_status k2)" = 201 ] ||
	wgf_fail "one key twice: $(burst_status k1) $(burst_body k1); $(burst_status k2) $(burst_body k2)"
K=$(jq -r .id "$WGF_TMP/burst/k1.body")
[ "$(jq -r .id "$WGF_TMP/burst/k2.body")" = "$K" ] || wgf_fail "one key twice: two VPNs $K, $(jq -r .id "$WGF_TMP/burst/k2.body")"
UK=$(sql "SELECT id FROM users WHERE telegram_id = $TK")
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UK")" = 1 ] || wgf_fail "one key twice: more than one VPN"
[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = (SELECT id FROM users WHERE telegram_id = $TT)")" = 1 ] ||
	wgf_fail "two trials: more than one VPN"
for (( n=0; n<8; n++ )); do
	[ "$(burst_status "o$n")" = 201 ] && [ "$(jq -r .status "$WGF_TMP/burst/o$n.body")" = active ] ||
		wgf_fail "request o$n next to the refused ones: $(burst_status "o$n") $(burst_body "o$n")"
done
# and the key once more, alone: the same VPN, nothing new
expect 201 keyed POST "/v1/users/$TK/vpns" "$paid"
[ "$(j .id)" = "$K" ] || wgf_fail "the key again: $BODY"
settle "after the refusals"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE vpn_config_id = $K")" = 1 ] || wgf_fail "one key twice: more than one job"
log "in a burst: trial_exists, not_found and one key twice answered as one at a time"

# The answer of a VPN active after ?wait shows its provision job as it is then (done), as
# the one-at-a-time way's answer does.
(( ${#JOB_NOT_DONE[@]} == 0 )) ||
	wgf_fail "${#JOB_NOT_DONE[@]} active answers show their job unfinished, e.g. ${JOB_NOT_DONE[0]}"
echo "batch: PASS"
