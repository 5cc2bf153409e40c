#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A private MariaDB server for one test run (the CTest fixture of the `db` label).
#
#   server.sh start STATE_DIR   template datadir (mariadb-install-db, once per run), a copy
#                               of it, mariadbd on a socket in that copy and 127.0.0.1 on a
#                               free port (plain or TLS, with a test CA in STATE_DIR/tls);
#                               writes STATE_DIR/url (root, no database)
#   server.sh stop STATE_DIR    clean shutdown (innodb_fast_shutdown=2, SIGTERM, wait until
#                               the process is really gone), datadir removed
#   server.sh url STATE_DIR     prints the server's URL
#   server.sh restart STATE_DIR a crash and a restart: mariadbd killed (SIGKILL) and started
#                               again on the same datadir, port and socket (for tests of
#                               clients that must survive it; never on the shared fixture
#                               while other tests use it); WGFLEET_DB_DOWN_SECONDS (default
#                               0) keeps it down that long in between
#
# WGFLEET_DB_SERVER_OPTS (start): more mariadbd options, after ours, so they win; the
# benchmarks (bench/run-db.sh) use it for durable commits and a bigger buffer pool.
#
# The recipe and its timings are in docs/controller-db.md. A missing mariadbd is a failure,
# never a skip. If the caller (ctest) dies without running `stop`, a watchdog started with
# the server stops it, so no run leaves a server behind.
set -euo pipefail

die() { echo "server.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: server.sh start|stop|url STATE_DIR"
cmd=$1
state=$(realpath -m "$2")
data=$state/data
template=$state/template
sock=$data/mysqld.sock
log=$state/mariadbd.log

now_ms() { date +%s%3N; }

# gone PID: true once PID has exited. kill -0 stays true for a zombie that nobody has
# reaped yet (the server is reparented once `start` exits), so read the state instead.
gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# is_ours PID: PID is a mariadbd started on our datadir (pid files can be stale).
is_ours() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "--datadir=$data "
}

admin() { mariadb-admin --no-defaults --protocol=socket --socket="$sock" -uroot "$@"; }

stop_server() {
	local pid i
	if [ -f "$state/watchdog.pid" ]; then
		pid=$(cat "$state/watchdog.pid")
		# The watchdog itself ends up here through exec: it must not kill itself.
		[ "$pid" = $$ ] || kill "$pid" 2>/dev/null || true
		rm -f "$state/watchdog.pid"
	fi
	if [ -f "$state/mariadbd.pid" ]; then
		pid=$(cat "$state/mariadbd.pid")
		if ! gone "$pid" && is_ours "$pid"; then
			# The datadir is thrown away: skip the purge and buffer flush on the way out.
			mariadb --no-defaults --protocol=socket --socket="$sock" -uroot \
				-e 'SET GLOBAL innodb_fast_shutdown=2' >/dev/null 2>&1 || true
			kill -TERM "$pid" 2>/dev/null || true
			for (( i=0; i<1000; i++ )); do gone "$pid" && break; sleep 0.01; done
			if ! gone "$pid"; then
				echo "server.sh: mariadbd $pid ignored SIGTERM for 10 s, killing it" >&2
				kill -KILL "$pid" 2>/dev/null || true
				for (( i=0; i<500; i++ )); do gone "$pid" && break; sleep 0.01; done
			fi
		fi
		rm -f "$state/mariadbd.pid"
	fi
	rm -rf "$data" "$template" "$state/url" "$state/tls" "$state/port" "$state/opts"
}

# launch PORT: mariadbd on the datadir, in the background; sets pid. The options are kept
# in STATE_DIR/opts so that `restart` starts the same server (WGFLEET_DB_SERVER_OPTS
# included) however it is called.
launch() {
	local tls=$state/tls
	# stdin/stdout/stderr detached: ctest waits for the test's output pipe to close.
	setsid mariadbd --no-defaults --user=root --datadir="$data" --socket="$sock" \
		--port="$1" --bind-address=127.0.0.1 --skip-name-resolve --skip-log-bin \
		--skip-performance-schema --innodb-buffer-pool-size=128M \
		--innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_520_ci \
		--max-connections=500 --log-error="$log" \
		--ssl-ca="$tls/ca.pem" --ssl-cert="$tls/server.pem" --ssl-key="$tls/server.key" \
		${WGFLEET_DB_SERVER_OPTS:-} </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$state/mariadbd.pid"
	echo "$1" >"$state/port"
	printf '%s\n' "${WGFLEET_DB_SERVER_OPTS:-}" >"$state/opts"
}

restart_server() {
	local pid port i
	export PATH=$PATH:/usr/sbin:/sbin
	[ -f "$state/mariadbd.pid" ] && [ -f "$state/port" ] || die "no server in $state"
	pid=$(cat "$state/mariadbd.pid")
	port=$(cat "$state/port")
	gone "$pid" || is_ours "$pid" || die "pid $pid is not our mariadbd"
	kill -KILL "$pid" 2>/dev/null || true
	for (( i=0; i<500; i++ )); do gone "$pid" && break; sleep 0.01; done
	gone "$pid" || die "mariadbd $pid survived SIGKILL for 5 s"
	sleep "${WGFLEET_DB_DOWN_SECONDS:-0}"
	WGFLEET_DB_SERVER_OPTS=$(cat "$state/opts")
	launch "$port"
	for (( i=0; i<3000; i++ )); do
		admin ping >/dev/null 2>&1 && { echo "mariadb: restarted, pid $pid, port $port"; return 0; }
		gone "$pid" && break
		sleep 0.01
	done
	die "mariadbd did not come back on port $port (log: $log)"
}

start_server() {
	local t0 t1 t2 t3 port pid i try
	for tool in mariadbd mariadb-install-db mariadb-admin mariadb openssl; do
		command -v "$tool" >/dev/null ||
			PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
			die "$tool is not installed (run scripts/deps.sh): the db tests need a real MariaDB"
	done
	export PATH=$PATH:/usr/sbin:/sbin
	# unix socket paths are limited to 107 bytes
	[ ${#sock} -le 100 ] || die "socket path too long (${#sock} > 100): $sock; use a shorter build directory"

	mkdir -p "$state"
	stop_server # leftovers of an earlier run that was killed
	: >"$log"
	t0=$(now_ms)
	# Once per run; the server options that size files on disk must match the server's.
	mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
		--skip-test-db --datadir="$template" --skip-log-bin \
		--innodb-log-file-size=16M --innodb-buffer-pool-size=128M \
		>"$state/install-db.log" 2>&1 || { cat "$state/install-db.log" >&2; die "mariadb-install-db failed"; }
	t1=$(now_ms)

	# TLS: a throw-away CA and a server certificate for 127.0.0.1, plus a CA that signed
	# nothing (to see verification fail). Plain connections stay possible.
	local tls=$state/tls
	mkdir -p "$tls"
	(
		cd "$tls"
		ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
		openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3 -subj /CN=wgfleet-test-ca
		openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem -days 3 -subj /CN=wgfleet-other-ca
		openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=127.0.0.1
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out server.pem -days 3 -extfile san.ext
	) >"$state/tls.log" 2>&1 || { cat "$state/tls.log" >&2; die "openssl could not make the test certificates"; }

	for (( try=0; try<5; try++ )); do
		rm -rf "$data"
		cp -a --reflink=auto "$template" "$data"
		port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$) % 40000 ))
		t2=$(now_ms)
		launch "$port"
		for (( i=0; i<3000; i++ )); do
			admin ping >/dev/null 2>&1 && break
			gone "$pid" && break
			sleep 0.01
		done
		if admin ping >/dev/null 2>&1; then
			break
		fi
		if ! gone "$pid"; then
			stop_server
			die "mariadbd did not answer within 30 s (log: $log)"
		fi
		# Lost the race for the port: try another one.
		grep -q 'Address already in use' "$log" || { cat "$log" >&2; stop_server; die "mariadbd exited at start"; }
	done
	admin ping >/dev/null 2>&1 || { stop_server; die "no free port after $try tries"; }
	t3=$(now_ms)

	echo "mysql://root@127.0.0.1:$port/?socket=$sock" >"$state/url"

	# Stops the server if our caller (ctest) goes away without running `stop`. By hand,
	# WGFLEET_DB_KEEP=1 keeps the server after the calling shell exits.
	[ "${WGFLEET_DB_KEEP:-0}" = 1 ] && { report; return; }
	local parent=$PPID self
	self=$(realpath "$0")
	setsid bash -c 'while kill -0 '"$parent"' 2>/dev/null; do sleep 1; done; exec "$0" stop "$1"' \
		"$self" "$state" </dev/null >/dev/null 2>&1 &
	echo $! >"$state/watchdog.pid"
	report
}

report() {
	echo "mariadb: template $((t1 - t0)) ms, copy $((t2 - t1)) ms, server start $((t3 - t2)) ms, pid $pid, port $port, socket $sock"
}

case $cmd in
start)
	trap 'rc=$?; [ $rc = 0 ] || stop_server; exit $rc' EXIT
	trap 'exit 130' INT TERM
	start_server
	;;
stop) stop_server ;;
url) cat "$state/url" ;;
restart) restart_server ;;
*) die "unknown command $cmd" ;;
esac
