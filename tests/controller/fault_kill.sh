#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of the controller in the middle of a burst of provisions and revokes, and a
# restart while the burst goes on. Every acknowledged request is carried out exactly once:
# each acknowledged provision ends active with its peer on its node, each acknowledged
# revoke ends with the peer gone; whatever the dead process had claimed is taken over
# after its lease; the nodes hold exactly the active VPNs, no job failed.
#   fault_kill.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
N=120 R=30 USERS=10 TID=500100
for (( u=0; u<USERS; u++ )); do user_put $((TID + u)); done

# R VPNs to revoke during the burst, active before it starts.
for (( n=0; n<R; n++ )); do
	expect 201 bot POST "/v1/users/$((TID + n % USERS))/vpns" "{\"type\":\"wireguard\",\"name\":\"old$n\"}"
	OLD[n]=$(j .id)
done
wait_for 15 "the first $R VPNs active" nodes_match

# The burst: N provisions with the R revokes among them, 8 at a time.
for (( n=0; n<N; n++ )); do
	echo "p$n bot POST /v1/users/$((TID + n % USERS))/vpns {\"type\":\"wireguard\",\"name\":\"new$n\"}"
	if (( n % 4 == 0 && n / 4 < R )); then echo "r$((n / 4)) bot DELETE /v1/vpns/${OLD[n / 4]}"; fi
done >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 8 0.05 &
burst_pid=$!
sleep 1
old_pid=${CTL_PID[1]}
ctl_stop 1 KILL
log "controller $old_pid killed (SIGKILL)"
sleep 0.5
ctl_start 1
log "controller restarted as ${CTL_PID[1]}"
wait "$burst_pid"

acked=0 lost=0
declare -A WANT_ACTIVE WANT_REVOKED
for (( n=0; n<N; n++ )); do
	case $(burst_status "p$n") in
	201|202) WANT_ACTIVE[$(jq -r .id "$WGF_TMP/burst/p$n.body")]=1; acked=$((acked + 1)) ;;
	000|5??) lost=$((lost + 1)) ;;
	*) wgf_fail "provision $n: $(burst_status "p$n") $(burst_body "p$n")" ;;
	esac
done
for (( n=0; n<R; n++ )); do
	case $(burst_status "r$n") in
	200) WANT_REVOKED[${OLD[n]}]=1; acked=$((acked + 1)) ;;
	000|5??) lost=$((lost + 1)) ;;
	*) wgf_fail "revoke $n: $(burst_status "r$n") $(burst_body "r$n")" ;;
	esac
done
log "$acked requests acknowledged, $lost without an answer"
(( lost > 0 )) || wgf_fail "no request went unanswered: the kill did not hit the burst"
(( ${#WANT_ACTIVE[@]} > N / 4 )) || wgf_fail "only ${#WANT_ACTIVE[@]} provisions acknowledged"

# Jobs the dead process held come back after job_lease (5 s).
wait_for 30 "jobs settled after the restart" jobs_settled
poll_until 10 nodes_match || { nodes_report; wgf_fail "nodes differ from the database"; }
for id in "${!WANT_ACTIVE[@]}"; do
	[ "$(sql "SELECT status FROM vpn_configs WHERE id = $id")" = active ] ||
		wgf_fail "acknowledged VPN $id is $(sql "SELECT status FROM vpn_configs WHERE id = $id")"
done
for id in "${!WANT_REVOKED[@]}"; do
	[ "$(sql "SELECT status FROM vpn_configs WHERE id = $id")" = revoked ] ||
		wgf_fail "acknowledged revoke of VPN $id: it is $(sql "SELECT status FROM vpn_configs WHERE id = $id")"
	key=$(sql "SELECT peer_public_key FROM vpn_configs WHERE id = $id")
	for i in 1 2; do ! node_peers "$i" | grep -qxF "$key" || wgf_fail "revoked VPN $id still on node $i"; done
done
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE state = 'failed'")" = 0 ] || wgf_fail "failed jobs after the restart"
# One provision job per VPN, one revoke job per revoked VPN: nothing queued twice.
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'")" = "$(sql "SELECT COUNT(*) FROM vpn_configs")" ] ||
	wgf_fail "provision jobs differ from VPNs"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'revoke'")" = "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE status = 'revoked'")" ] ||
	wgf_fail "revoke jobs differ from revoked VPNs"
taken=$(sql "SELECT COUNT(*) FROM jobs WHERE attempts > 1")
log "after the restart: ${#WANT_ACTIVE[@]} acknowledged provisions active, ${#WANT_REVOKED[@]} acknowledged revokes gone, $taken jobs taken over or retried"
echo "fault_kill: PASS"
