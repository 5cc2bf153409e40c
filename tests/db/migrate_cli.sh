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
