#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# migrate_cli.sh WGFLEET_CONTROLLER: `wgfleet-controller migrate` as an operator runs it,
# on the fresh database of $DATABASE_URL (tests/db/with_db.sh).
set -euo pipefail
bin=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$out"/*; do echo "--- $f" >&2; cat "$f" >&2; done; exit 1; }

sock=${DATABASE_URL#*\?socket=}
db=${DATABASE_URL%%\?*}
db=${db##*/}
sql() { mariadb --no-defaults --protocol=socket --socket="$sock" -uroot "$db" -N -e "$1"; }

"$bin" --help >"$out/help" || fail "--help"
grep -q migrate "$out/help" || fail "--help does not list migrate"
"$bin" migrate --help >"$out/mhelp" || fail "migrate --help"

"$bin" migrate --status >"$out/status0" || fail "status on an empty database"
grep -q '0001_initial.sql *pending' "$out/status0" || fail "0001 not pending"
[ "$(sql 'SHOW TABLES' | wc -l)" = 0 ] || fail "--status created tables"

"$bin" migrate >"$out/apply" || fail "migrate"
grep -q '^applied 0001_initial.sql$' "$out/apply" || fail "migrate did not say what it applied"
"$bin" migrate >"$out/again" || fail "second migrate"
grep -q '^database is up to date' "$out/again" || fail "re-run is not a no-op"
"$bin" migrate --status >"$out/status1" || fail "status after migrate"
grep -q '0001_initial.sql *applied' "$out/status1" || fail "0001 not applied"

# The config file: its database_url is used, --database-url wins over it, it wins over
# DATABASE_URL; errors name the file and line, and a password never shows.
conf=$out/controller.conf
printf '# wgfleet controller\ndatabase_url = mysql://root@/%s?socket=%s\n' "$db" "$sock" >"$conf"
DATABASE_URL='mysql://root@127.0.0.1:1/nowhere' "$bin" migrate --config "$conf" --status >"$out/conf_status" 2>&1 ||
	fail "--config did not win over DATABASE_URL"
grep -q '0001_initial.sql' "$out/conf_status" || fail "--config: no status"
if "$bin" migrate --config "$conf" --database-url 'mysql://root@127.0.0.1:1/nowhere' --status >"$out/conf_opt" 2>&1; then
	fail "--database-url did not win over --config"
fi
printf 'database_url = mysql://root:hunter2@/%s?socket=%s\n' "$db" "$sock" >"$conf"
chmod 644 "$conf"
if "$bin" migrate --config "$conf" --status 2>"$out/conf_mode"; then fail "world-readable password accepted"; fi
grep -q 'readable by everyone' "$out/conf_mode" || fail "no reason for refusing the mode"
printf '\ndatabase_url = mysql://root:hunter2@h/d?sslverify=1\n' >"$conf"
chmod 600 "$conf"
if "$bin" migrate --config "$conf" --status 2>"$out/conf_bad"; then fail "bad database_url accepted"; fi
grep -q "^wgfleet-controller: $conf:2: database_url:" "$out/conf_bad" || fail "bad database_url: no file and line"
if grep -q hunter2 "$out/conf_bad" "$out/conf_mode"; then fail "password printed"; fi
if "$bin" migrate --config "$out/missing.conf" 2>"$out/conf_missing"; then fail "missing config accepted"; fi
grep -q 'No such file' "$out/conf_missing" || fail "missing config: no reason"
# A database migrated by a build whose 0001 differed.
sql "UPDATE schema_migrations SET checksum = REPEAT('f', 64) WHERE version = 1"
if "$bin" migrate >"$out/tampered" 2>"$out/tampered.err"; then fail "tampered migration accepted"; fi
grep -q '0001_initial.sql' "$out/tampered.err" || fail "the error does not name the file"
grep -q 'modified' "$out/tampered.err" || fail "the error does not say what is wrong"
if "$bin" migrate --status >"$out/status2" 2>&1; then fail "--status exits 0 on a tampered history"; fi
grep -q 'modified' "$out/status2" || fail "--status does not flag it"

# Usage errors and a bad URL; the password never shows.
if "$bin" migrate --database-url 'mysql://u:hunter2@h/d?nope=1' 2>"$out/badurl"; then fail "bad URL accepted"; fi
if grep -q hunter2 "$out/badurl"; then fail "password printed"; fi
if DATABASE_URL= "$bin" migrate 2>/dev/null; then fail "no URL accepted"; fi
if "$bin" migrate --database-url "mysql://root:hunter2@/$db?socket=$sock" 2>"$out/denied"; then fail "wrong password accepted"; fi
if grep -q hunter2 "$out/denied"; then fail "password printed"; fi
grep -q '\*\*\*' "$out/denied" || fail "URL not shown redacted"
echo "migrate_cli: ok"
