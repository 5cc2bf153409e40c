#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `wgfleet-controller run` refuses to start, with one clear line and exit status 1 (2 for a
# usage error), whenever something it needs is wrong, and changes nothing in the database:
# no --config, an unknown key, no master key, a master key that is missing, readable by
# others or malformed, a master key that does not open the secrets this database holds
# (the wrong key file), a token file readable by others, an unmigrated database, a port in
# use. Then the right configuration starts and serves again. genkey never replaces a file.
#   startup.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
ctl_setup # a registered node: its agent token is sealed with the master key in the database
ctl_stop 1
CONF_FILE=$WGF_TMP/controller1.conf
cp "$CONF_FILE" "$WGF_TMP/good.conf"

snapshot() { sql "SELECT CONCAT((SELECT COUNT(*) FROM audit_log), '/', (SELECT COUNT(*) FROM jobs),
	'/', (SELECT GROUP_CONCAT(CONCAT(id, ':', updated_at, ':', health) ORDER BY id) FROM nodes))"; }
before=$(snapshot)

# refuse WANT_STATUS PATTERN [ARGS...]: run with ARGS (default: --config CONF_FILE) in KNS;
# it must exit WANT_STATUS within 20 s, print PATTERN on stderr, and not listen.
refuse() {
	local want=$1 pattern=$2 rc=0
	shift 2
	[ $# -gt 0 ] || set -- --config "$CONF_FILE"
	timeout 20 ip netns exec "$KNS" "$CTLBIN" run "$@" >"$WGF_TMP/refuse.out" 2>"$WGF_TMP/refuse.err" || rc=$?
	[ "$rc" = "$want" ] || wgf_fail "run $*: exit $rc, want $want: $(cat "$WGF_TMP/refuse.err")"
	grep -qE -e "$pattern" "$WGF_TMP/refuse.err" ||
		wgf_fail "run $*: the message does not say '$pattern': $(cat "$WGF_TMP/refuse.err")"
	[ "$want" = 2 ] || [ "$(wc -l <"$WGF_TMP/refuse.err")" -le 2 ] || wgf_fail "run $*: more than a clear line: $(cat "$WGF_TMP/refuse.err")"
	log "refused ($rc): $(head -n 1 "$WGF_TMP/refuse.err")"
}
# with_conf SED_EXPR: CONF_FILE = the good configuration edited by SED_EXPR.
with_conf() { sed "$1" "$WGF_TMP/good.conf" >"$CONF_FILE"; chmod 600 "$CONF_FILE"; }

refuse 2 "--config FILE is required" --database-url "$DATABASE_URL"
with_conf '$a no_such_key = 1'
refuse 1 "controller1.conf:[0-9]+: .*no_such_key"
with_conf '/^master_key_file/d'
refuse 1 "sets no master_key_file.*genkey"
with_conf "s|^master_key_file = .*|master_key_file = $WGF_TMP/missing.key|"
refuse 1 "master key file .*missing.key"
cp "$WGF_TMP/master.key" "$WGF_TMP/open.key"
chmod 644 "$WGF_TMP/open.key"
with_conf "s|^master_key_file = .*|master_key_file = $WGF_TMP/open.key|"
refuse 1 "master key file .*open.key"
(umask 077; echo "not-a-key" >"$WGF_TMP/bad.key")
with_conf "s|^master_key_file = .*|master_key_file = $WGF_TMP/bad.key|"
refuse 1 "master key file .*bad.key"
# Another valid key: it cannot open the node's sealed agent token.
"$CTLBIN" genkey --out "$WGF_TMP/other.key" >/dev/null
with_conf "s|^master_key_file = .*|master_key_file = $WGF_TMP/other.key|"
refuse 1 "does not open the secrets stored in this database"
! "$CTLBIN" genkey --out "$WGF_TMP/other.key" 2>"$WGF_TMP/genkey.err" || wgf_fail "genkey replaced a file"
grep -q "never replaced" "$WGF_TMP/genkey.err" || wgf_fail "genkey: $(cat "$WGF_TMP/genkey.err")"
# A token file that others may read.
cp "$WGF_TMP/bot.token" "$WGF_TMP/open.token"
chmod 644 "$WGF_TMP/open.token"
with_conf "s|^token = bot .*|token = bot $WGF_TMP/open.token|"
refuse 1 "token file .*open.token"
# The port is taken.
with_conf ''
ip netns exec "$KNS" python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8001)); s.listen(); time.sleep(30)' &
holder=$!
sleep 0.5
refuse 1 "API on 127.0.0.1:8001"
kill "$holder"; wait "$holder" 2>/dev/null || true

[ "$(snapshot)" = "$before" ] || wgf_fail "a refused start changed the database: $before -> $(snapshot)"

# An unmigrated database (a fresh one on the same server).
sql "CREATE DATABASE ${DB_NAME}_empty"
WGF_CLEANUP+=("sql 'DROP DATABASE IF EXISTS ${DB_NAME}_empty'")
refuse 1 "is not applied: run 'wgfleet-controller migrate'" --config "$CONF_FILE" \
	--database-url "mysql://root@/${DB_NAME}_empty?socket=$DB_SOCK"

# The good configuration starts and serves.
cp "$WGF_TMP/good.conf" "$CONF_FILE"
ctl_start 1
expect 200 admin GET /v1/nodes
[ "$(j '.nodes | length')" = 1 ] || wgf_fail "nodes after the restart: $BODY"
echo "startup: PASS"
