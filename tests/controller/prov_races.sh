#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Changes that meet a batch's first transaction (controller/provisioner.c) while it holds
# its users share-locked, made certain: a session of the test holds the gap at the end of
# vpn_configs, so the batch's INSERT waits there, locks held, until the test lets go.
#  - a ban of the batch's user waits for the batch's commit, then revokes what it made
#    (docs/architecture.md, "In batches"): the PATCH answers 200, the user ends with no
#    live VPN and no peer on the node.
#  - a node drained meanwhile takes no new VPN, as one at a time (DB_STMT_VPN_CREATE's
#    guard): the request answers 503 no_node, or its VPN was created before the drain
#    (its vpn.create audit row comes before the node.state one).
#   prov_races.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup
TB=720100 TD=720200
user_put "$TB"
user_put "$TD"
UB=$(sql "SELECT id FROM users WHERE telegram_id = $TB")

# waiting PREFIX: a statement that starts so waits for a lock.
waiting() {
	(( $(sql "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'
	          AND trx_query LIKE '$1%'") > 0 ))
}
# hold_gap SECONDS: in the background, a transaction that keeps every new vpn_configs row
# waiting for SECONDS (a next-key lock on the supremum); HOLD is its PID.
hold_gap() {
	sql "BEGIN; SELECT id FROM vpn_configs WHERE id > 1000000000 FOR UPDATE;
	     SELECT SLEEP($1) AS gap_$WGF_ID; COMMIT" >/dev/null &
	HOLD=$!
	wait_for 5 "the test's gap lock" poll_sql_hold
}
poll_sql_hold() {
	[ "$(sql "SELECT COUNT(*) FROM information_schema.innodb_trx
	          WHERE trx_query LIKE 'SELECT SLEEP(%) AS gap_$WGF_ID%'")" = 1 ]
}
# bg NAME ROLE METHOD PATH BODY: the request in the background; its status in
# $WGF_TMP/NAME.status, its body in NAME.body; $! is its PID.
bg() {
	ip netns exec "$KNS" curl -sS -m 30 -X "$3" -H @"$(hdr "$2")" -H 'Content-Type: application/json' \
		--data-binary "$5" -o "$WGF_TMP/$1.body" -w '%{http_code}' "$(ctl_url)$4" \
		>"$WGF_TMP/$1.status" 2>"$WGF_TMP/$1.err" &
}
st() { cat "$WGF_TMP/$1.status"; }
bd() { cat "$WGF_TMP/$1.body"; }
# Both races are checked in every run: a problem is noted, and the test fails at the end.
PROBLEMS=()
problem() { log "PROBLEM: $*"; PROBLEMS+=("$*"); }

# --- a ban that waits for a batch
expect 201 bot POST "/v1/users/$TB/vpns?wait=5" '{"type":"wireguard"}'
hold_gap 2
bg p1 bot POST "/v1/users/$TB/vpns" '{"type":"wireguard"}'
p1=$!
wait_for 5 "the batch waiting at its INSERT" waiting "INSERT INTO vpn_configs"
bg ban bot PATCH "/v1/users/$TB" '{"status":"banned"}'
ban=$!
wait_for 5 "the ban waiting for the batch" waiting "UPDATE users"
wait "$HOLD" "$p1" "$ban"
log "a ban that waited for a batch: POST $(st p1), PATCH $(st ban) $(bd ban)"
[ "$(st p1)" = 201 ] || wgf_fail "the batch's request: $(st p1) $(bd p1)"
[ "$(st ban)" = 200 ] || problem "the ban that waited for a batch: $(st ban) $(bd ban)"
wait_for 15 "jobs settled" jobs_settled
live=$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UB AND status IN ('pending', 'active')")
[ "$live" = 0 ] || problem "after the ban the user has $live live VPNs"
poll_until 10 nodes_match || { nodes_report; wgf_fail "the node differs from the database"; }

# --- a drain that meets a batch
hold_gap 2
bg p2 bot POST "/v1/users/$TD/vpns?wait=5" '{"type":"wireguard"}'
p2=$!
wait_for 5 "the batch waiting at its INSERT" waiting "INSERT INTO vpn_configs"
expect 200 admin PATCH "/v1/nodes/${NODE_ID[1]}" '{"state":"draining"}'
wait "$HOLD" "$p2"
log "a drain that met a batch: POST $(st p2) $(jq -c '{id, status, node, error}' "$WGF_TMP/p2.body")"
case $(st p2) in
503) [ "$(jq -r .error.code "$WGF_TMP/p2.body")" = no_node ] || wgf_fail "p2: $(bd p2)" ;;
201)
	V=$(jq -r .id "$WGF_TMP/p2.body")
	created=$(sql "SELECT id FROM audit_log WHERE action = 'vpn.create' AND JSON_VALUE(payload, '$.vpn_config_id') = $V")
	drained=$(sql "SELECT MAX(id) FROM audit_log WHERE action = 'node.state'")
	(( created < drained )) ||
		problem "VPN $V was created on node 1 after the node was drained (audit rows $drained, then $created)" ;;
*) wgf_fail "p2: $(st p2) $(jq -c '{id, status, error}' "$WGF_TMP/p2.body")" ;;
esac
(( ${#PROBLEMS[@]} == 0 )) || wgf_fail "$(printf '%s; ' "${PROBLEMS[@]}")"
echo "prov_races: PASS"
