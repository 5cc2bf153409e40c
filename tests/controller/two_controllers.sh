#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two controller processes against one database share the work and do no job twice: 100
# provisions, half sent to each, 16 at a time, over two nodes. Every job ends done after
# exactly one attempt; both processes claimed jobs; the agents were asked to add a peer
# exactly 100 times in all (their own request counters); each peer is on its node once.
#   two_controllers.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=2
ctl_setup
ctl_start 2
N=100 USERS=10 TID=900100
for (( u=0; u<USERS; u++ )); do user_put $((TID + u)); done

# The peers the agents were sent, by POST /v1/peers (a line each) and POST
# /v1/peers/batch (a line per batch), from their logs (registration and polls send none).
agent_posts() {
	awk '/^peer .* (created|updated)/ { s++ } /^batch of [0-9]+ peers:/ { s += $3 } END { print s + 0 }' \
		"$WGF_TMP/agent$1.log"
}
before=$(( $(agent_posts 1) + $(agent_posts 2) ))

for (( n=0; n<N; n++ )); do
	echo "p$n bot POST /v1/users/$((TID + n % USERS))/vpns {\"type\":\"wireguard\",\"name\":\"v$n\"}"
done >"$WGF_TMP/reqs"
# Odd requests to controller 2, even ones to controller 1.
sed -n '1~2p' "$WGF_TMP/reqs" >"$WGF_TMP/reqs1"
sed -n '2~2p' "$WGF_TMP/reqs" >"$WGF_TMP/reqs2"
CTL_K=1 burst "$WGF_TMP/reqs1" 8 &
b1=$!
CTL_K=2 burst "$WGF_TMP/reqs2" 8 &
b2=$!
wait "$b1"
wait "$b2"
for (( n=0; n<N; n++ )); do
	[ "$(burst_status "p$n")" = 201 ] || wgf_fail "request $n: $(burst_status "p$n") $(burst_body "p$n")"
done
wait_for 30 "jobs settled" jobs_settled
poll_until 10 nodes_match || { nodes_report; wgf_fail "nodes differ from the database"; }

[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision' AND state = 'done'")" = "$N" ] ||
	wgf_fail "provision jobs done: $(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision' AND state = 'done'"), want $N"
twice=$(sql "SELECT COUNT(*) FROM jobs WHERE attempts <> 1")
[ "$twice" = 0 ] || wgf_fail "$twice jobs were claimed more than once: $(sql "SELECT id, attempts, claimed_by, last_error FROM jobs WHERE attempts <> 1 LIMIT 5")"
after=$(( $(agent_posts 1) + $(agent_posts 2) ))
[ $((after - before)) = "$N" ] || wgf_fail "the agents were sent $((after - before)) peers for $N provisions"
# Which process claimed what: the owner names the process; both must appear.
owners=$(sql "SELECT claimed_by FROM jobs WHERE kind = 'provision'" | sort | uniq -c)
log "claimed_by: $(tr -s ' \n' ' ' <<<"$owners")"
by_pid() { sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision' AND claimed_by REGEXP '(^|[^0-9])$1([^0-9]|\$)'"; }
c1=$(by_pid "${CTL_PID[1]}") c2=$(by_pid "${CTL_PID[2]}")
log "controller 1 (pid ${CTL_PID[1]}) did $c1 jobs, controller 2 (pid ${CTL_PID[2]}) did $c2"
(( c1 > 0 && c2 > 0 && c1 + c2 == N )) ||
	wgf_fail "jobs per controller: $c1 + $c2, want both > 0 and $N in all (owners: $owners)"
echo "two_controllers: PASS"
