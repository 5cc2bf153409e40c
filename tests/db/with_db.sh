#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# with_db.sh STATE_DIR NAME COMMAND [ARGS...]: run COMMAND with DATABASE_URL naming a fresh,
# empty database `t_NAME` on the run's server (tests/db/server.sh), dropped afterwards.
# Every db test gets its own database, so tests can run in parallel on one server.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: with_db.sh STATE_DIR NAME COMMAND [ARGS...]" >&2; exit 2; }
state=$1 name=t_$2
shift 2
[ -r "$state/url" ] || { echo "with_db.sh: no server in $state (the db/server_start fixture failed?)" >&2; exit 1; }
server_url=$(cat "$state/url")
sock=${server_url#*\?socket=}
port=${server_url#mysql://root@127.0.0.1:}
port=${port%%/*}
[[ $name =~ ^[A-Za-z0-9_]{1,60}$ ]] || { echo "with_db.sh: bad name $name" >&2; exit 2; }

sql() { mariadb --no-defaults --protocol=socket --socket="$sock" -uroot -e "$1"; }

sql "DROP DATABASE IF EXISTS \`$name\`; CREATE DATABASE \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"
trap 'sql "DROP DATABASE IF EXISTS \`$name\`" || true' EXIT
export DATABASE_URL="mysql://root@127.0.0.1:$port/$name?socket=$sock"
export WGFLEET_TEST_SERVER_URL=$server_url
export WGFLEET_TEST_TLS_DIR=$state/tls
"$@"
