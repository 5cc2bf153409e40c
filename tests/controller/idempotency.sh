#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Idempotency-Key on POST /v1/users/{tid}/vpns: a retry with the key answers the VPN of the
# first request (201, the same id; with ?wait= once it is active) and creates nothing, also
# when 20 requests with one key collide in the database; a new key, or the same key for
# another user, is a new VPN; the key with another trial flag is 409 idempotency_conflict; a
# malformed key is 400. Refused requests change nothing; every VPN reaches the node once.
#   idempotency.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
CONF[db_pool_size]=32 # 20 requests wait in the database at once, next to the workers
ctl_setup
TID=200300
TID2=200301
user_put "$TID"
user_put "$TID2"
UID1=$(sql "SELECT id FROM users WHERE telegram_id = $TID")
UID2=$(sql "SELECT id FROM users WHERE telegram_id = $TID2")
paid='{"type":"wireguard"}'
trial='{"type":"wireguard","trial":true}'

# keyed NAME LINE: a request "role" NAME for api and expect, which send the header file
# $WGF_TMP/NAME.hdr (hdr() in ctl_lib.sh): the bot's token, and LINE.
keyed() {
	{ cat "$WGF_TMP/bot.hdr"; printf '%s\n' "$2"; } >"$WGF_TMP/$1.hdr"
}
key() { keyed "$1" "Idempotency-Key: $2"; }

vpns_of() { sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $1"; }
provisions() { sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision'"; }
provisions_of() { sql "SELECT COUNT(*) FROM jobs WHERE kind = 'provision' AND vpn_config_id = $1"; }
counts() { echo "$(sql "SELECT COUNT(*) FROM vpn_configs"):$(sql "SELECT COUNT(*) FROM jobs")"; }

# --- the same key twice: one VPN, one provision job, the same answer
key k1 k1
expect 201 k1 POST "/v1/users/$TID/vpns" "$paid"
V1=$(j .id)
shape=$(jq -c keys <<<"$BODY")
expect 201 k1 POST "/v1/users/$TID/vpns" "$paid"
[ "$(j .id)" = "$V1" ] || wgf_fail "the same key again -> VPN $(j .id), want $V1"
[ "$(jq -c keys <<<"$BODY")" = "$shape" ] || wgf_fail "a replay answers another shape: $BODY"
[ "$(vpns_of "$UID1")" = 1 ] || wgf_fail "the same key twice: $(vpns_of "$UID1") VPN rows, want 1"
[ "$(provisions_of "$V1")" = 1 ] || wgf_fail "the same key twice: $(provisions_of "$V1") provision jobs"
[ "$(sql "SELECT idempotency_key FROM vpn_configs WHERE id = $V1")" = k1 ] ||
	wgf_fail "the key is not stored with VPN $V1"
log "key k1 twice: VPN $V1 once"

# --- ?wait= on a replay waits as for a fresh VPN: active, with its config
expect 201 k1 POST "/v1/users/$TID/vpns?wait=15" "$paid"
[ "$(j .id)" = "$V1" ] && [ "$(j .status)" = active ] || wgf_fail "replay with ?wait: $BODY"
j .config | grep -q '^\[Interface\]' || wgf_fail "replay with ?wait: no config: $BODY"
[ "$(vpns_of "$UID1")" = 1 ] && [ "$(provisions)" = 1 ] || wgf_fail "replay with ?wait created something"

# --- 20 concurrent requests with one key: all 201, one VPN (paid, then trial)
#
# Made to collide for certain: a session of the test holds the user's row while the
# requests arrive. Each one reads (and misses) the key, then waits in its INSERT ... SELECT,
# which share-locks the user's row. Released together, one inserts and the others meet its
# key in the unique index: the duplicate-key path, not the lookup, decides.

# concurrent NAME ROLE PATH BODY: 20 POSTs in one curl, started at once (not one process
# each, which would spread them over more time than a transaction takes). Results in
# $WGF_TMP/NAME/N.body, statuses in $WGF_TMP/NAME/statuses ("CODE FILE" lines).
concurrent() {
	local dir=$WGF_TMP/$1 n out=()
	mkdir -p "$dir"
	for n in $(seq 1 20); do out+=(-o "$dir/$n.body" "$(ctl_url)$3"); done
	ip netns exec "$KNS" curl -sS -Z --parallel-immediate --parallel-max 20 -m 60 -X POST \
		-H @"$(hdr "$2")" -H 'Content-Type: application/json' --data-binary "$4" \
		-w '%{http_code} %{filename_effective}\n' "${out[@]}" >"$dir/statuses" 2>"$dir/err" ||
		wgf_fail "$1: curl failed: $(cat "$dir/err")"
}

hold_held() {
	[ "$(sql "SELECT COUNT(*) FROM information_schema.innodb_trx
	          WHERE trx_query LIKE 'SELECT SLEEP(2) AS hold_$WGF_ID%'")" = 1 ]
}

auto_increment() {
	sql "SELECT AUTO_INCREMENT FROM information_schema.tables
	     WHERE table_schema = DATABASE() AND table_name = 'vpn_configs'"
}

for kind in paid trial; do
	key "c$kind" "burst-$kind"
	body=$paid
	[ "$kind" = trial ] && body=$trial
	ai=$(auto_increment)
	sql "BEGIN; SELECT id FROM users WHERE id = $UID1 FOR UPDATE;
	     SELECT SLEEP(2) AS hold_$WGF_ID; COMMIT" >/dev/null &
	hold=$!
	wait_for 5 "the test's lock on the user" hold_held
	concurrent "$kind" "c$kind" "/v1/users/$TID/vpns" "$body"
	wait "$hold" || wgf_fail "the session holding the user's row failed"
	[ "$(grep -c '^201 ' "$WGF_TMP/$kind/statuses")" = 20 ] ||
		wgf_fail "$kind burst: $(sort "$WGF_TMP/$kind/statuses" | uniq -c -w 3)"
	id=$(jq -r .id "$WGF_TMP/$kind/1.body")
	for n in $(seq 1 20); do
		got=$(jq -r .id "$WGF_TMP/$kind/$n.body")
		[ "$got" = "$id" ] || wgf_fail "$kind burst, request $n: VPN $got, request 1: VPN $id"
	done
	[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE user_id = $UID1 AND idempotency_key = 'burst-$kind'")" = 1 ] ||
		wgf_fail "$kind burst: more than one VPN"
	[ "$(provisions_of "$id")" = 1 ] || wgf_fail "$kind burst: $(provisions_of "$id") provision jobs"
	[ "$(jq -r .trial "$WGF_TMP/$kind/1.body")" = "$([ "$kind" = trial ] && echo true || echo false)" ] ||
		wgf_fail "$kind burst: $(cat "$WGF_TMP/$kind/1.body")"
	# Every insert takes an id, also one rolled back: the ids used up beyond the one VPN
	# are the requests that met the key at the insert. None would mean the lock above did
	# not make them collide, and the duplicate-key path went untested.
	raced=$(( $(auto_increment) - ai - 1 ))
	(( raced > 0 )) || wgf_fail "$kind burst: no request met the key at the insert"
	log "20 concurrent requests with key burst-$kind: all 201, VPN $id ($raced met the key at the insert)"
	if [ "$kind" = trial ]; then VT=$id; fi
done
[ "$(vpns_of "$UID1")" = 3 ] && [ "$(provisions)" = 3 ] ||
	wgf_fail "after the bursts: $(vpns_of "$UID1") VPNs, $(provisions) provision jobs, want 3 and 3"

# --- a different key is a new VPN; keys are exact (case matters)
key k2 k2
expect 201 k2 POST "/v1/users/$TID/vpns" "$paid"
V2=$(j .id)
[ "$V2" != "$V1" ] || wgf_fail "a new key answered the old VPN"
key K1 K1
expect 201 K1 POST "/v1/users/$TID/vpns" "$paid"
[ "$(j .id)" != "$V1" ] && [ "$(j .id)" != "$V2" ] || wgf_fail "K1 answered the VPN of another key"
[ "$(vpns_of "$UID1")" = 5 ] || wgf_fail "two new keys: $(vpns_of "$UID1") VPNs, want 5"

# --- the same key for another request: 409 idempotency_conflict, nothing created
before=$(counts)
expect_err 409 idempotency_conflict k1 POST "/v1/users/$TID/vpns" "$trial"
expect_err 409 idempotency_conflict ctrial POST "/v1/users/$TID/vpns" "$paid"
# Another type is refused before any lookup: outline cannot be provisioned at all.
expect_err 422 unsupported_type k1 POST "/v1/users/$TID/vpns" '{"type":"outline"}'
[ "$(counts)" = "$before" ] || wgf_fail "a conflicting key changed the VPNs or jobs"

# --- a new key while the user's trial is live: still trial_exists (the duplicate key was
# the one-trial index, not the key's)
key k3 k3
expect_err 409 trial_exists k3 POST "/v1/users/$TID/vpns" "$trial"
[ "$(counts)" = "$before" ] || wgf_fail "trial_exists with a key changed the VPNs or jobs"

# --- malformed keys: 400 invalid_value, nothing created
key long "$(printf 'k%.0s' $(seq 1 65))"
expect_err 400 invalid_value long POST "/v1/users/$TID/vpns" "$paid"
key space 'a b'
expect_err 400 invalid_value space POST "/v1/users/$TID/vpns" "$paid"
keyed empty 'Idempotency-Key;' # curl's spelling of an empty header
expect_err 400 invalid_value empty POST "/v1/users/$TID/vpns" "$paid"
key utf8 "$(printf 'cl\xc3\xa9')"
expect_err 400 invalid_value utf8 POST "/v1/users/$TID/vpns" "$paid"
key ctl "$(printf 'a\tb')"
expect_err 400 invalid_value ctl POST "/v1/users/$TID/vpns" "$paid"
[ "$(counts)" = "$before" ] || wgf_fail "a malformed key changed the VPNs or jobs"
# 64 printable characters are a key
key max "$(printf 'k%.0s' $(seq 1 63))~"
expect 201 max POST "/v1/users/$TID/vpns" "$paid"
expect 201 max POST "/v1/users/$TID/vpns" "$paid"
[ "$(vpns_of "$UID1")" = 6 ] || wgf_fail "the 64-character key: $(vpns_of "$UID1") VPNs, want 6"

# --- the key is per user
expect 201 k1 POST "/v1/users/$TID2/vpns" "$paid"
U2V=$(j .id)
[ "$U2V" != "$V1" ] && [ "$(j .telegram_id)" = "$TID2" ] || wgf_fail "key k1 for user 2: $BODY"
expect 201 k1 POST "/v1/users/$TID2/vpns" "$paid"
[ "$(j .id)" = "$U2V" ] || wgf_fail "key k1 for user 2 again -> VPN $(j .id), want $U2V"
[ "$(vpns_of "$UID2")" = 1 ] && [ "$(vpns_of "$UID1")" = 6 ] || wgf_fail "key k1 for user 2: VPN counts"
# a trial under one user's key does not block another user's trial with that key
expect 201 ctrial POST "/v1/users/$TID2/vpns" "$trial"
[ "$(j .id)" != "$VT" ] || wgf_fail "user 2's trial is user 1's"

# --- a retry after a ban answers the VPN as it is now (revoked), and creates nothing
expect 200 bot PATCH "/v1/users/$TID2" '{"status":"banned"}'
expect 201 k1 POST "/v1/users/$TID2/vpns" "$paid"
[ "$(j .id)" = "$U2V" ] && [ "$(j .status)" = revoked ] || wgf_fail "replay after a ban: $BODY"
expect_err 409 user_banned k2 POST "/v1/users/$TID2/vpns" "$paid"
[ "$(vpns_of "$UID2")" = 2 ] || wgf_fail "after the ban: $(vpns_of "$UID2") VPNs of user 2, want 2"

# --- every VPN reached the node once
poll_until 20 nodes_match || { nodes_report; wgf_fail "the node does not match the database"; }
[ "$(node_peers 1 | wc -l)" = 6 ] || { nodes_report; wgf_fail "node 1 has $(node_peers 1 | wc -l) peers, want 6"; }
echo "idempotency: PASS"
