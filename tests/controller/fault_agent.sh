#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An agent stopped (SIGSTOP: its socket still accepts, nothing answers, requests time out
# and pile up) for 20 s in the middle of 200 provisions over two nodes. Every request is
# acknowledged; afterwards all 200 VPNs are active and every node's device holds exactly
# the peers of its active VPNs: none missing, none extra, none twice, no job failed.
#   fault_agent.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
N=200 USERS=20 TID=400100
for (( u=0; u<USERS; u++ )); do user_put $((TID + u)); done

for (( n=0; n<N; n++ )); do
	echo "p$n bot POST /v1/users/$((TID + n % USERS))/vpns {\"type\":\"wireguard\",\"name\":\"v$n\"}"
done >"$WGF_TMP/reqs"
# 4 at a time, each after 0.35 s: about 11 per second, so the burst spans the outage.
burst "$WGF_TMP/reqs" 4 0.35 &
burst_pid=$!
sleep 1.5
kill -STOP "${AGENT_PID[1]}"
log "agent 1 stopped"
sleep 20
kill -CONT "${AGENT_PID[1]}"
log "agent 1 continued"
wait "$burst_pid"
log "burst done"
for (( n=0; n<N; n++ )); do
	[ "$(burst_status "p$n")" = 201 ] || wgf_fail "request $n: $(burst_status "p$n") $(burst_body "p$n")"
done
per_node=$(sql "SELECT GROUP_CONCAT(c ORDER BY node_id) FROM (SELECT node_id, COUNT(*) c FROM vpn_configs GROUP BY node_id) x")
log "all $N acknowledged; VPNs per node: $per_node"

all_active() { [ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE status = 'active'")" = "$N" ]; }
wait_for 30 "all $N VPNs active" all_active
poll_until 10 nodes_match || { nodes_report; wgf_fail "nodes differ from the database"; }
wait_for 10 "jobs settled" jobs_settled
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE state = 'failed'")" = 0 ] || wgf_fail "failed jobs: $(sql "SELECT id, kind, last_error FROM jobs WHERE state = 'failed' LIMIT 5")"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'")" = "$N" ] || wgf_fail "provision jobs != $N"
# Each peer once: the agent's own record agrees with its device and the database.
for i in 1 2; do
	c=$(agent_api "$i" GET /v1/peers | jq '.peers | length')
	[ "$c" = "$(node_peers "$i" | wc -l)" ] || wgf_fail "agent $i lists $c peers, its device $(node_peers "$i" | wc -l)"
	[ "$(agent_api "$i" GET /v1/peers | jq -r '.peers[].public_key' | sort | uniq -d)" = "" ] || wgf_fail "agent $i lists a peer twice"
done
retried=$(sql "SELECT COUNT(*) FROM jobs WHERE attempts > 1")
log "all $N active, each exactly once on its node; $retried jobs needed more than one attempt"
[ "$retried" -gt 0 ] || wgf_fail "no job was retried: the outage did not happen during the burst"
# Node 1 got requests before the controller saw it was down, and after it came back.
(( $(node_peers 1 | wc -l) > 0 )) || wgf_fail "node 1 has no peers: the test did not exercise it"
echo "fault_agent: PASS"
