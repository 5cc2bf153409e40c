# SPDX-License-Identifier: MIT
# The controller's end-to-end test bed: real MariaDB, real agents on wireguard-go in
# network namespaces, the real controller, real HTTP. Source it from a test script, after
# setting what it should differ in, then call ctl_setup:
#
#   . "$(dirname "$0")/ctl_lib.sh"        # $1: the build's bin directory
#   CTL_NODES=2                            # agents (1..9), default 2
#   CONF[trial_duration]=4s                # any controller config key (one value each)
#   CONF_LISTS+=("price = ...")            # more list-key lines (price, dns, token, ...)
#   ctl_setup                              # everything below, started and registered
#
# The topology. Nothing is added to the host's network namespace, so ports and addresses
# are fixed and parallel runs cannot collide:
#
#   KNS  control namespace: the controller(s) (API on 127.0.0.1:8000 + k) and every
#        request the test makes (curl, wgfleetctl). MariaDB is reached through its unix
#        socket, which is a file and not bound to a network namespace.
#   SNS[i]  node i: wireguard-go interface SIF[i] (UDP 51820), the agent, its API on
#        198.19.i.1:8080, reachable from KNS over a veth (198.19.i.2 in KNS).
#   CNS  client namespace: one veth to every node (198.18.i.2 here, 198.18.i.1 there);
#        node i's agent announces the endpoint 198.18.i.1:51820.
#
# Node i's pools: 10.(100 + i).0.0/16 and fd64:100:i::/64, server addresses .0.1 and ::1.
# Client configs allow 10.96.0.0/12 and fd64:100::/32 (CLIENT_ROUTES), so a client
# namespace routes exactly the tunnel networks into the tunnel and keeps its underlay.
#
# The database: DATABASE_URL from tests/db/with_db.sh (a fresh database on the run's
# server); CTL_OWN_DB=1 starts a private server instead (for tests that restart it).
#
# Requests: `api ROLE METHOD PATH [BODY]` sets STATUS and BODY (call it directly, not in
# $(...)); ROLE is bot, admin, monitor, none (no header) or wrong (an unknown token).
# CTL_K picks the controller (1 or 2). `expect STATUS ROLE METHOD PATH [BODY]` and
# `expect_err STATUS CODE ROLE ...` fail the test on any other answer.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

BIN=$(realpath "$1")
CTLBIN=$BIN/wgfleet-controller
AGENT=$BIN/wgfleet-agent
WGFLEETCTL=$BIN/wgfleetctl
DBDIR=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../db")
for tool in curl jq mariadb; do
	command -v "$tool" >/dev/null || wgf_fail "$tool is not installed (run scripts/deps.sh)"
done
[ -x "$CTLBIN" ] && [ -x "$AGENT" ] || wgf_fail "no wgfleet-controller or wgfleet-agent in $BIN"

KNS=wfk$WGF_ID
CNS=wfc$WGF_ID
CIF=wf${WGF_ID}c
CLIENT_ROUTES=(10.96.0.0/12 fd64:100::/32)
CTL_NODES=${CTL_NODES:-2}
CTL_REGISTER= # how many of the nodes ctl_setup registers; default all
CTL_K=1
CTL_OWN_DB=${CTL_OWN_DB:-0}
declare -a SNS SIF AGENT_PID WGGO_PID NODE_ID AGENT_TOKEN CTL_PID
declare -A CONF
CONF_LISTS=()
STATUS= BODY=
T0_MS=$(date +%s%3N)

# The controller's configuration for the tests: short intervals so that a test sees the
# effect of a poll, a sweep or a retry within a second or two.
CONF=(
	[workers]=4
	[job_max_attempts]=1000
	[job_backoff]=100ms
	[job_backoff_max]=1s
	[job_lease]=5s
	[agent_timeout]=2s
	[poll_interval]=1s
	[unhealthy_after]=3
	[sweep_interval]=1s
	[trial_duration]=3d
	[persistent_keepalive]=25
	[db_pool_size]=16
	[log_level]=info
)

log() { printf '[%6d ms] %s\n' $(( $(date +%s%3N) - T0_MS )) "$*"; }

# On a failure, the last lines of every daemon's log say what the daemons saw.
ctl_on_exit() {
	local rc=$? f
	trap - EXIT
	if [ "$rc" != 0 ]; then
		for f in "$WGF_TMP"/controller*.log "$WGF_TMP"/agent*.log; do
			[ -f "$f" ] || continue
			echo "---- last lines of ${f##*/}" >&2
			tail -n 40 "$f" >&2
		done
	fi
	wgf_cleanup
	exit "$rc"
}
trap ctl_on_exit EXIT

# poll_until SECONDS COMMAND...: COMMAND every 0.1 s until it succeeds (0), or 1 after SECONDS.
poll_until() {
	local end=$(( $(date +%s%3N) + $1 * 1000 ))
	shift
	until "$@"; do
		(( $(date +%s%3N) < end )) || return 1
		sleep 0.1
	done
}

# wait_for SECONDS WHAT COMMAND...: poll_until, and a failure of the test on timeout.
wait_for() {
	local secs=$1 what=$2
	shift 2
	poll_until "$secs" "$@" || wgf_fail "$what: not within $secs s"
}

# ---- the database

sql() {
	mariadb --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot -N -B "$DB_NAME" -e "$1"
}

ctl_db() {
	if [ "$CTL_OWN_DB" = 1 ]; then
		DB_STATE=$WGF_TMP/db
		"$DBDIR/server.sh" start "$DB_STATE" >/dev/null
		WGF_CLEANUP+=("$DBDIR/server.sh stop $DB_STATE")
		local url
		url=$(cat "$DB_STATE/url")
		DB_SOCK=${url#*\?socket=}
		DB_NAME=wgfleet
		mariadb --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot -e \
			"CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci"
		export DATABASE_URL="mysql://root@/$DB_NAME?socket=$DB_SOCK"
	else
		[ -n "${DATABASE_URL:-}" ] || wgf_fail "no DATABASE_URL: run through tests/db/with_db.sh"
		DB_SOCK=${DATABASE_URL#*\?socket=}
		DB_NAME=${DATABASE_URL%%\?*}
		DB_NAME=${DB_NAME##*/}
	fi
	"$CTLBIN" migrate >"$WGF_TMP/migrate.log" 2>&1 || { cat "$WGF_TMP/migrate.log" >&2; wgf_fail "migrate failed"; }
}

# ---- nodes: namespaces, wireguard-go, agents

# wggo_start I: wireguard-go for node I's interface (its PID kept in WGGO_PID[I]).
wggo_start() {
	local i=$1 sock=/var/run/wireguard/${SIF[$1]}.sock n
	[ ! -e "$sock" ] || wgf_fail "$sock already exists"
	ip netns exec "${SNS[$i]}" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
		wireguard-go "${SIF[$i]}" >>"$WGF_TMP/wggo$i.log" 2>&1 &
	WGGO_PID[$i]=$!
	for (( n=0; n<500; n++ )); do
		[ -S "$sock" ] && return 0
		kill -0 "${WGGO_PID[$i]}" 2>/dev/null || wgf_fail "wireguard-go ${SIF[$i]} exited"
		sleep 0.01
	done
	wgf_fail "wireguard-go ${SIF[$i]}: no socket after 5 s"
}

# wggo_stop I: end node I's wireguard-go; its interface (and every counter) goes with it.
wggo_stop() {
	local i=$1 n
	kill -TERM "${WGGO_PID[$i]}" 2>/dev/null || true
	wait "${WGGO_PID[$i]}" 2>/dev/null || true
	WGGO_PID[$i]=
	for (( n=0; n<500; n++ )); do
		ip -n "${SNS[$i]}" link show "${SIF[$i]}" >/dev/null 2>&1 || break
		sleep 0.01
	done
	rm -f "/var/run/wireguard/${SIF[$i]}.sock"
}

# CTL_AGENT_TLS=1: every agent serves HTTPS with a certificate for its address, signed by
# a test CA ($WGF_TMP/tls/ca.crt) that the controller trusts (agent_ca_file); a node listed
# in CTL_TLS_ROGUE gets a self-signed certificate instead, which nobody should trust.
CTL_AGENT_TLS=${CTL_AGENT_TLS:-0}
CTL_TLS_ROGUE=${CTL_TLS_ROGUE:-}
agent_url() { echo "$([ "$CTL_AGENT_TLS" = 1 ] && echo https || echo http)://198.19.$1.1:8080"; }
# agent_curl_tls I: curl's options for node I's API: the test CA when the agents speak TLS
# (a rogue node's certificate is taken unchecked: the test itself knows it).
agent_curl_tls() {
	if [ "$CTL_AGENT_TLS" != 1 ]; then return 0; fi
	if [[ " $CTL_TLS_ROGUE " == *" $1 "* ]]; then echo "-k"; else echo "--cacert $WGF_TMP/tls/ca.crt"; fi
}

# tls_node_cert I: node I's certificate and key in $WGF_TMP/tls (the CA made first).
tls_node_cert() {
	local i=$1 d=$WGF_TMP/tls
	mkdir -p -m 700 "$d"
	if [ ! -f "$d/ca.crt" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=wgfleet test CA $WGF_ID" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null ||
			wgf_fail "openssl: no test CA"
	fi
	printf 'subjectAltName = IP:198.19.%s.1\nbasicConstraints = CA:FALSE\n' "$i" >"$d/ext$i"
	if [[ " $CTL_TLS_ROGUE " == *" $i "* ]]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=198.19.$i.1" -addext "subjectAltName = IP:198.19.$i.1" \
			-keyout "$d/agent$i.key" -out "$d/agent$i.crt" 2>/dev/null || wgf_fail "openssl: no rogue cert"
	else
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=198.19.$i.1" \
			-keyout "$d/agent$i.key" -out "$d/agent$i.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/agent$i.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -extfile "$d/ext$i" -out "$d/agent$i.crt" 2>/dev/null || wgf_fail "openssl: no cert for node $i"
	fi
	chmod 600 "$d/agent$i.key"
}

# agent_start I: node I's agent; returns once its /healthz answers from KNS.
agent_start() {
	local i=$1 n
	ip netns exec "${SNS[$i]}" "$AGENT" run --config "$WGF_TMP/agent$i.conf" \
		>>"$WGF_TMP/agent$i.log" 2>&1 &
	AGENT_PID[$i]=$!
	for (( n=0; n<500; n++ )); do
		ip netns exec "$KNS" curl -sf $(agent_curl_tls "$i") "$(agent_url "$i")/healthz" >/dev/null 2>&1 && return 0
		kill -0 "${AGENT_PID[$i]}" 2>/dev/null || wgf_fail "agent $i exited (agent$i.log)"
		sleep 0.02
	done
	wgf_fail "agent $i: no /healthz after 10 s"
}

# agent_stop I [SIGNAL]: SIGTERM (or SIGNAL) and wait until it is gone.
agent_stop() {
	local i=$1 sig=${2:-TERM}
	[ -n "${AGENT_PID[$i]}" ] || return 0
	kill -"$sig" "${AGENT_PID[$i]}" 2>/dev/null || true
	wait "${AGENT_PID[$i]}" 2>/dev/null || true
	AGENT_PID[$i]=
}

# agent_api I METHOD PATH: node I's agent API, straight (not through the controller).
agent_api() {
	ip netns exec "$KNS" curl -sS $(agent_curl_tls "$1") -X "$2" -H "Authorization: Bearer ${AGENT_TOKEN[$1]}" \
		"$(agent_url "$1")$3"
}

node_setup() {
	local i=$1
	SNS[$i]=wfs$WGF_ID$i
	SIF[$i]=wf${WGF_ID}s$i
	wgf_netns "${SNS[$i]}"
	# node <-> control
	ip link add "vk$WGF_ID${i}a" netns "${SNS[$i]}" type veth peer name "vk$WGF_ID${i}b" netns "$KNS"
	ip -n "${SNS[$i]}" addr add "198.19.$i.1/30" dev "vk$WGF_ID${i}a"
	ip -n "$KNS" addr add "198.19.$i.2/30" dev "vk$WGF_ID${i}b"
	ip -n "${SNS[$i]}" link set "vk$WGF_ID${i}a" up
	ip -n "$KNS" link set "vk$WGF_ID${i}b" up
	# node <-> client
	ip link add "vc$WGF_ID${i}a" netns "${SNS[$i]}" type veth peer name "vc$WGF_ID${i}b" netns "$CNS"
	ip -n "${SNS[$i]}" addr add "198.18.$i.1/30" dev "vc$WGF_ID${i}a"
	ip -n "$CNS" addr add "198.18.$i.2/30" dev "vc$WGF_ID${i}b"
	ip -n "${SNS[$i]}" link set "vc$WGF_ID${i}a" up
	ip -n "$CNS" link set "vc$WGF_ID${i}b" up

	wggo_start "$i"
	mkdir -m 700 "$WGF_TMP/agent$i"
	AGENT_TOKEN[$i]=agent$i-$WGF_ID-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	(umask 077; printf '%s\n' "${AGENT_TOKEN[$i]}" >"$WGF_TMP/agent$i/token")
	# AGENT_RECONCILE: the tests' 1 s unless the caller (a benchmark) sets the default.
	cat >"$WGF_TMP/agent$i.conf" <<CONF
interface = ${SIF[$i]}
listen_port = 51820
endpoint = 198.18.$i.1:51820
backend = userspace
pool = 10.$((100 + i)).0.0/16
pool = fd64:100:$i::/64
api_listen = 198.19.$i.1:8080
token_file = $WGF_TMP/agent$i/token
state_dir = $WGF_TMP/agent$i/state
reconcile_interval = ${AGENT_RECONCILE:-1s}
quarantine = 1h
log_level = info
CONF
	if [ "$CTL_AGENT_TLS" = 1 ]; then
		tls_node_cert "$i"
		printf 'tls_cert = %s\ntls_key = %s\n' "$WGF_TMP/tls/agent$i.crt" "$WGF_TMP/tls/agent$i.key" \
			>>"$WGF_TMP/agent$i.conf"
	fi
	mkdir -m 700 "$WGF_TMP/agent$i/state"
	agent_start "$i"
}

# The tunnel address of node I's server, and what the client pings.
server_addr4() { echo "10.$((100 + $1)).0.1"; }
server_addr6() { echo "fd64:100:$1::1"; }

# node_peers I: the public keys on node I's interface (the device itself, via wg(8)).
node_peers() { wg show "${SIF[$1]}" peers | sort; }

# ---- the controller

ctl_write_conf() {
	local k=$1 key line
	{
		echo "api_listen = 127.0.0.1:$((8000 + k))"
		echo "master_key_file = $WGF_TMP/master.key"
		for role in bot admin monitor; do echo "token = $role $WGF_TMP/$role.token"; done
		echo "dns = 192.0.2.53"
		echo "client_allowed_ips = $(printf '%s, ' "${CLIENT_ROUTES[@]}" | sed 's/, $//')"
		echo "price = stars wireguard 1 150 XTR"
		echo "price = stars wireguard 3 400 XTR"
		echo "price = qvapay wireguard 1 299 USD"
		for key in "${!CONF[@]}"; do echo "$key = ${CONF[$key]}"; done
		for line in "${CONF_LISTS[@]}"; do echo "$line"; done
		if [ "$CTL_AGENT_TLS" = 1 ]; then echo "agent_ca_file = $WGF_TMP/tls/ca.crt"; fi
	} >"$WGF_TMP/controller$k.conf"
	chmod 600 "$WGF_TMP/controller$k.conf"
}

# ctl_start [K]: controller K (default 1) in KNS; returns once its /healthz is 200.
ctl_start() {
	local k=${1:-1} n
	[ -f "$WGF_TMP/controller$k.conf" ] || ctl_write_conf "$k"
	ip netns exec "$KNS" "$CTLBIN" run --config "$WGF_TMP/controller$k.conf" \
		>>"$WGF_TMP/controller$k.log" 2>&1 &
	CTL_PID[$k]=$!
	for (( n=0; n<1000; n++ )); do
		[ "$(ip netns exec "$KNS" curl -s -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$((8000 + k))/healthz")" = 200 ] && return 0
		kill -0 "${CTL_PID[$k]}" 2>/dev/null || wgf_fail "controller $k exited (controller$k.log)"
		sleep 0.02
	done
	wgf_fail "controller $k: no /healthz after 20 s"
}

# ctl_stop [K] [SIGNAL]: SIGTERM (or SIGNAL) and wait until it is gone.
ctl_stop() {
	local k=${1:-1} sig=${2:-TERM}
	[ -n "${CTL_PID[$k]:-}" ] || return 0
	kill -"$sig" "${CTL_PID[$k]}" 2>/dev/null || true
	wait "${CTL_PID[$k]}" 2>/dev/null || true
	CTL_PID[$k]=
}

ctl_url() { echo "http://127.0.0.1:$((8000 + ${1:-$CTL_K}))"; }

# Auth headers live in files (curl -H @FILE) so tokens never show in a process list.
hdr() {
	case $1 in
	none) echo /dev/null ;;
	*) echo "$WGF_TMP/$1.hdr" ;;
	esac
}

# api ROLE METHOD PATH [BODY]: sets STATUS and BODY.
api() {
	local role=$1 m=$2 p=$3 out
	local data=()
	[ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data-binary "$4")
	out=$(ip netns exec "$KNS" curl -sS -X "$m" -H @"$(hdr "$role")" "${data[@]}" \
		-w '\n%{http_code}' "$(ctl_url)$p") || { STATUS=000; BODY=; return 0; }
	STATUS=${out##*$'\n'}
	BODY=${out%$'\n'*}
	[ "$BODY" != "$STATUS" ] || BODY=
}

# api_file ROLE METHOD PATH FILE: the body into FILE; sets STATUS and CTYPE.
api_file() {
	local out
	out=$(ip netns exec "$KNS" curl -sS -X "$2" -H @"$(hdr "$1")" -o "$4" \
		-w '%{http_code} %{content_type}' "$(ctl_url)$3") || wgf_fail "curl $2 $3 failed"
	STATUS=${out%% *}
	CTYPE=${out#* }
}

expect() {
	local want=$1
	shift
	api "$@"
	[ "$STATUS" = "$want" ] || wgf_fail "$1 $2 $3 -> $STATUS, want $want: $BODY"
}

expect_err() {
	local want=$1 code=$2
	shift 2
	api "$@"
	[ "$STATUS" = "$want" ] || wgf_fail "$1 $2 $3 -> $STATUS, want $want ($code): $BODY"
	[ "$(jq -r '.error.code' <<<"$BODY")" = "$code" ] || wgf_fail "$1 $2 $3 -> $BODY, want code $code"
}

# j FILTER: jq -r over BODY.
j() { jq -r "$1" <<<"$BODY"; }

# node_index VALUE: which node (1..N) a VPN's "node" field (an id or a name) is.
node_index() {
	local i
	for (( i=1; i<=CTL_NODES; i++ )); do
		[ "$1" = "${NODE_ID[$i]}" ] || [ "$1" = "node$i" ] && { echo "$i"; return 0; }
	done
	wgf_fail "unknown node '$1'"
}

node_healthy() {
	api admin GET /v1/nodes
	[ "$STATUS" = 200 ] && [ "$(j "[.nodes[] | select(.health == \"healthy\")] | length")" = "$1" ]
}

ctl_register_nodes() {
	local i
	CTL_REGISTER=${CTL_REGISTER:-$CTL_NODES}
	for (( i=1; i<=CTL_REGISTER; i++ )); do
		expect 201 admin POST /v1/nodes "$(jq -nc --arg n "node$i" --arg u "$(agent_url "$i")" \
			--arg t "${AGENT_TOKEN[$i]}" '{name: $n, agent_url: $u, token: $t}')"
		NODE_ID[$i]=$(j .id)
	done
	wait_for 15 "all $CTL_REGISTER nodes healthy" node_healthy "$CTL_REGISTER"
}

# ctl_setup: the whole bed, controller 1 running, the nodes registered and healthy.
ctl_setup() {
	local i role
	command -v wg >/dev/null || wgf_fail "wg is not installed"
	wgf_netns "$KNS"
	wgf_netns "$CNS"
	# Daemons end before their namespaces go (cleanup runs in reverse order).
	WGF_CLEANUP+=("ctl_teardown")
	ctl_db
	"$CTLBIN" genkey --out "$WGF_TMP/master.key" >/dev/null ||
		wgf_fail "wgfleet-controller genkey failed"
	for role in bot admin monitor; do
		(umask 077
		 head -c 24 /dev/urandom | base64 | tr '+/' '-_' | sed "s/^/$role-/" >"$WGF_TMP/$role.token"
		 printf 'Authorization: Bearer %s\n' "$(cat "$WGF_TMP/$role.token")" >"$WGF_TMP/$role.hdr")
	done
	printf 'Authorization: Bearer wrong-%s\n' "$WGF_ID" >"$WGF_TMP/wrong.hdr"
	for (( i=1; i<=CTL_NODES; i++ )); do node_setup "$i"; done
	ctl_start 1
	ctl_register_nodes
	log "bed ready: $CTL_NODES node(s), controller pid ${CTL_PID[1]}, database $DB_NAME"
}

ctl_teardown() {
	local k i
	for k in "${!CTL_PID[@]}"; do ctl_stop "$k" KILL; done
	for i in "${!AGENT_PID[@]}"; do
		[ -n "${AGENT_PID[$i]}" ] && kill -CONT "${AGENT_PID[$i]}" 2>/dev/null
		agent_stop "$i" KILL
	done
	for i in "${!WGGO_PID[@]}"; do [ -n "${WGGO_PID[$i]}" ] && wggo_stop "$i"; done
	[ -n "${CLIENT_WGGO_PID:-}" ] && { kill "$CLIENT_WGGO_PID"; wait "$CLIENT_WGGO_PID"; }
	rm -f "/var/run/wireguard/$CIF.sock"
	return 0
}

# ---- users, VPNs, the client

user_put() { expect_any "200 201" bot PUT "/v1/users/$1" "{\"username\":\"u$1\"}"; }

# expect_any "S1 S2" ROLE METHOD PATH [BODY]
expect_any() {
	local want=$1
	shift
	api "$@"
	[[ " $want " == *" $STATUS "* ]] || wgf_fail "$1 $2 $3 -> $STATUS, want one of $want: $BODY"
}

vpn_status() { api bot GET "/v1/vpns/$1"; [ "$STATUS" = 200 ] && [ "$(j .status)" = "$2" ]; }

# client_up VPN_ID: the client namespace brings up the tunnel with exactly the config the
# API hands out; wg-quick's own keys (Address, DNS) are applied by hand. Sets CLIENT_NODE.
client_up() {
	local id=$1 a r
	api bot GET "/v1/vpns/$id/config"
	[ "$STATUS" = 200 ] || wgf_fail "config of VPN $id -> $STATUS: $BODY"
	printf '%s\n' "$BODY" >"$WGF_TMP/client.conf"
	if [ -z "${CLIENT_WGGO_PID:-}" ]; then
		ip netns exec "$CNS" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
			wireguard-go "$CIF" >>"$WGF_TMP/wggo-client.log" 2>&1 &
		CLIENT_WGGO_PID=$!
		wait_for 5 "client wireguard-go socket" test -S "/var/run/wireguard/$CIF.sock"
	fi
	grep -Ev '^[[:space:]]*(Address|DNS|MTU)[[:space:]]*=' "$WGF_TMP/client.conf" >"$WGF_TMP/client.wg"
	(umask 077; wg setconf "$CIF" "$WGF_TMP/client.wg") || wgf_fail "wg setconf refused the config"
	ip -n "$CNS" addr flush dev "$CIF"
	for a in $(sed -n 's/^Address *= *//p' "$WGF_TMP/client.conf" | tr ',' ' '); do
		ip -n "$CNS" addr add "$a" dev "$CIF"
	done
	ip -n "$CNS" link set "$CIF" up
	for r in "${CLIENT_ROUTES[@]}"; do ip -n "$CNS" route replace "$r" dev "$CIF"; done
	api bot GET "/v1/vpns/$id"
	CLIENT_NODE=$(node_index "$(j .node)")
}

# client_ping NODE [COUNT]: pings node NODE's server address through the tunnel; a fresh
# handshake may cost the first packet, so a few tries.
client_ping() {
	local n
	for (( n=0; n<3; n++ )); do
		ip netns exec "$CNS" ping -c "${2:-3}" -i 0.2 -W 2 "$(server_addr4 "$1")" >/dev/null 2>&1 && return 0
	done
	return 1
}

# ---- bursts of requests

# burst FILE PARALLEL [DELAY]: one request per line of FILE, "NAME ROLE METHOD PATH [BODY]"
# (BODY without spaces), PARALLEL at a time, each after DELAY seconds, all from KNS
# against controller CTL_K. Results: $WGF_TMP/burst/NAME.status (000: no answer) and
# NAME.body.
burst() {
	local file=$1 par=$2 delay=${3:-0}
	mkdir -p "$WGF_TMP/burst"
	cat >"$WGF_TMP/burst.sh" <<'SH'
#!/bin/sh
# burst.sh DIR URL HDRDIR DELAY "NAME ROLE METHOD PATH [BODY]"
dir=$1 url=$2 hdrs=$3 delay=$4
set -f
set -- $5
name=$1 role=$2 m=$3 p=$4
[ "$delay" = 0 ] || sleep "$delay"
if [ $# -ge 5 ]; then
	code=$(curl -sS -m 60 -X "$m" -H @"$hdrs/$role.hdr" -H 'Content-Type: application/json' \
		--data-binary "$5" -o "$dir/$name.body" -w '%{http_code}' "$url$p" 2>>"$dir/$name.err")
else
	code=$(curl -sS -m 60 -X "$m" -H @"$hdrs/$role.hdr" -o "$dir/$name.body" \
		-w '%{http_code}' "$url$p" 2>>"$dir/$name.err")
fi
echo "${code:-000}" >"$dir/$name.status"
SH
	chmod +x "$WGF_TMP/burst.sh"
	ip netns exec "$KNS" xargs -d '\n' -n 1 -P "$par" "$WGF_TMP/burst.sh" "$WGF_TMP/burst" \
		"$(ctl_url)" "$WGF_TMP" "$delay" <"$file"
}

# burst_status NAME: the status code of one burst request.
burst_status() { cat "$WGF_TMP/burst/$1.status"; }
burst_body() { cat "$WGF_TMP/burst/$1.body"; }

# ---- checks against the nodes

# active_keys_of NODE: public keys of the VPNs the database has active or pending there.
db_keys_of_node() {
	sql "SELECT peer_public_key FROM vpn_configs WHERE node_id = ${NODE_ID[$1]}
	     AND status IN ($2) ORDER BY peer_public_key" | sort
}

# nodes_match: every node carries exactly the peers of its active VPNs (no missing, no
# extra, no duplicates), and no VPN is pending any more.
nodes_match() {
	local i
	[ "$(sql "SELECT COUNT(*) FROM vpn_configs WHERE status = 'pending'")" = 0 ] || return 1
	for (( i=1; i<=CTL_REGISTER; i++ )); do
		[ "$(node_peers "$i")" = "$(db_keys_of_node "$i" "'active'")" ] || return 1
	done
}

# nodes_report: what differs, for a failure message.
nodes_report() {
	local i
	echo "pending VPNs: $(sql "SELECT COUNT(*) FROM vpn_configs WHERE status = 'pending'")"
	for (( i=1; i<=CTL_REGISTER; i++ )); do
		echo "node $i: $(node_peers "$i" | wc -l) peers on the device, $(db_keys_of_node "$i" "'active'" | wc -l) active VPNs"
		diff <(node_peers "$i") <(db_keys_of_node "$i" "'active'") | head -5
	done
	echo "jobs: $(sql "SELECT CONCAT(kind, '/', state, ':', COUNT(*)) FROM jobs GROUP BY kind, state" | tr '\n' ' ')"
}

# jobs_settled: nothing pending or running.
jobs_settled() {
	[ "$(sql "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')")" = 0 ]
}
