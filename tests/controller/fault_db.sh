#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# MariaDB crashes (SIGKILL) under a steady load of provisions and comes back 3 s later on
# the same port and socket. The controller keeps running (same process): while the
# database is away /healthz is 503 and requests fail cleanly; afterwards requests succeed
# again, and every provision it acknowledged, before or after, ends active on its node.
# Uses a private MariaDB server (tests/db/server.sh start/restart), not the shared one.
#   fault_db.sh BIN_DIR
CTL_OWN_DB=1
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
N=360 USERS=8 TID=600100
for (( u=0; u<USERS; u++ )); do user_put $((TID + u)); done
pid0=${CTL_PID[1]}

for (( n=0; n<N; n++ )); do
	echo "p$n bot POST /v1/users/$((TID + n % USERS))/vpns {\"type\":\"wireguard\",\"name\":\"v$n\"}"
done >"$WGF_TMP/reqs"
burst "$WGF_TMP/reqs" 4 0.1 &
burst_pid=$!
sleep 3
log "MariaDB killed"
WGFLEET_DB_DOWN_SECONDS=3 "$DBDIR/server.sh" restart "$DB_STATE" >/dev/null &
restart_pid=$!
sleep 1.5
hz=$(ip netns exec "$KNS" curl -s -o /dev/null -w '%{http_code}' "$(ctl_url)/healthz")
[ "$hz" = 503 ] || wgf_fail "/healthz answers $hz while the database is down, want 503"
wait "$restart_pid" || wgf_fail "MariaDB did not come back"
log "MariaDB back"
wait "$burst_pid"
kill -0 "$pid0" 2>/dev/null && [ "${CTL_PID[1]}" = "$pid0" ] || wgf_fail "the controller did not survive"

declare -A WANT
ok=0 failed=0 last_fail=-1 first_fail=-1
for (( n=0; n<N; n++ )); do
	s=$(burst_status "p$n")
	case $s in
	201|202) WANT[$(jq -r .id "$WGF_TMP/burst/p$n.body")]=1; ok=$((ok + 1)) ;;
	5??) failed=$((failed + 1)); last_fail=$n; (( first_fail >= 0 )) || first_fail=$n
	     jq -e '.error.code | strings' "$WGF_TMP/burst/p$n.body" >/dev/null ||
		wgf_fail "request $n: $s without an API error: $(burst_body "p$n")" ;;
	*) wgf_fail "request $n: $s $(burst_body "p$n")" ;;
	esac
done
log "$ok acknowledged, $failed refused with 5xx (requests $first_fail..$last_fail)"
(( failed > 0 )) || wgf_fail "no request failed: the outage missed the burst"
(( last_fail < N - 30 )) || wgf_fail "requests still failed at the end of the burst (last $last_fail of $N)"
# Fresh requests succeed, without a restart of the controller.
expect 201 bot POST "/v1/users/$TID/vpns" '{"type":"wireguard","name":"after"}'
WANT[$(j .id)]=1
expect 200 admin GET /v1/status
hz=$(ip netns exec "$KNS" curl -s -o /dev/null -w '%{http_code}' "$(ctl_url)/healthz")
[ "$hz" = 200 ] || wgf_fail "/healthz $hz after the database came back"

wait_for 30 "jobs settled" jobs_settled
poll_until 10 nodes_match || { nodes_report; wgf_fail "nodes differ from the database"; }
for id in "${!WANT[@]}"; do
	[ "$(sql "SELECT status FROM vpn_configs WHERE id = $id")" = active ] ||
		wgf_fail "acknowledged VPN $id is $(sql "SELECT status FROM vpn_configs WHERE id = $id")"
done
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE state = 'failed'")" = 0 ] || wgf_fail "failed jobs"
[ "${CTL_PID[1]}" = "$pid0" ] && kill -0 "$pid0" || wgf_fail "the controller restarted"
log "${#WANT[@]} acknowledged VPNs active on their nodes; controller $pid0 ran throughout"
echo "fault_db: PASS"
