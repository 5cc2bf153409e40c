# SPDX-License-Identifier: MIT
# The node agent on a wireguard-go interface in a namespace, for the agent_* tests.
# Source after lib.sh. Sets AGENT, NS, IFN, API, TOKEN; agent_start/agent_stop/agent_kill;
# WGGO_PID is the server's wireguard-go (agent_wggo_stop/agent_wggo_start recreate the
# interface). AGENT_POOLS, if set before agent_setup, replaces the pool lines of the config.
AGENT=$1/wgfleet-agent
NS=wfa$WGF_ID
IFN=wf${WGF_ID}a
API=http://127.0.0.1:8080
TOKEN=tok-$WGF_ID-$RANDOM$RANDOM
AGENT_PID=
WGGO_PID=
: "${AGENT_POOLS:=pool = 10.99.0.0/20
pool = fd99::/64
reserved = 10.99.0.2-10.99.0.9}"

# agent_wggo_start: wireguard-go for $IFN in $NS, with its PID kept (lib.sh's wgf_wggo does
# not give it out, and the rebase test must kill this one daemon and no other).
agent_wggo_start() {
	local sock=/var/run/wireguard/$IFN.sock i
	[ ! -e "$sock" ] || wgf_fail "$sock already exists"
	ip netns exec "$NS" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
		wireguard-go "$IFN" >>"$WGF_TMP/wggo-$IFN.log" 2>&1 &
	WGGO_PID=$!
	WGF_CLEANUP+=("kill $WGGO_PID; wait $WGGO_PID; rm -f $sock")
	for (( i=0; i<500; i++ )); do
		[ -S "$sock" ] && return 0
		kill -0 "$WGGO_PID" 2>/dev/null || { cat "$WGF_TMP/wggo-$IFN.log" >&2; wgf_fail "wireguard-go $IFN exited"; }
		sleep 0.01
	done
	wgf_fail "wireguard-go $IFN: no socket after 5 s"
}

# agent_wggo_stop: end the server's wireguard-go; its TUN device and socket go with it.
agent_wggo_stop() {
	local i
	kill -TERM "$WGGO_PID"
	wait "$WGGO_PID" 2>/dev/null || true
	for (( i=0; i<500; i++ )); do
		ip -n "$NS" link show "$IFN" >/dev/null 2>&1 || break
		sleep 0.01
	done
	! ip -n "$NS" link show "$IFN" >/dev/null 2>&1 || wgf_fail "$IFN still exists after wireguard-go exited"
	rm -f "/var/run/wireguard/$IFN.sock"
}

# agent_setup [EXTRA CONFIG LINES]: namespace, wireguard-go, config, token, state dir.
agent_setup() {
	wgf_netns "$NS"
	agent_wggo_start
	mkdir -m 700 "$WGF_TMP/state"
	(umask 077; printf '%s\n' "$TOKEN" >"$WGF_TMP/token")
	cat >"$WGF_TMP/agent.conf" <<CONF
interface = $IFN
listen_port = 51820
endpoint = 198.18.0.1:51820
backend = userspace
$AGENT_POOLS
api_listen = 127.0.0.1:8080
token_file = $WGF_TMP/token
state_dir = $WGF_TMP/state
reconcile_interval = 2s
quarantine = 1h
log_level = info
${1:-}
CONF
}

agent_start() {
	ip netns exec "$NS" "$AGENT" run --config "$WGF_TMP/agent.conf" 2>>"$WGF_TMP/agent.log" &
	AGENT_PID=$!
	WGF_CLEANUP+=("kill $AGENT_PID")
	local i
	for (( i=0; i<500; i++ )); do
		ip netns exec "$NS" curl -sf "$API/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WGF_TMP/agent.log" >&2; wgf_fail "agent exited"; }
		sleep 0.02
	done
	cat "$WGF_TMP/agent.log" >&2
	wgf_fail "agent: no /healthz after 10 s"
}

# agent_stop: SIGTERM, which must end the agent with status 0.
agent_stop() {
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" || { cat "$WGF_TMP/agent.log" >&2; wgf_fail "agent exited with $? on SIGTERM"; }
}

agent_kill() {
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
}

# api METHOD PATH [CURL ARGS...]: prints the body, then the status on the last line.
api() {
	local m=$1 p=$2
	shift 2
	ip netns exec "$NS" curl -sS -X "$m" -H "Authorization: Bearer $TOKEN" \
		-w '\n%{http_code}\n' "$@" "$API$p"
}

# expect STATUS CODE_OR_- METHOD PATH [CURL ARGS...]: the status and error code must match.
expect() {
	local want=$1 code=$2 out status
	shift 2
	out=$(api "$@")
	status=$(tail -n1 <<<"$out")
	[ "$status" = "$want" ] || wgf_fail "$* -> $status, want $want: $out"
	if [ "$code" != - ]; then
		grep -q "\"code\":\"$code\"" <<<"$out" || wgf_fail "$* -> $out, want code $code"
	fi
}

# The agent's peers and the device's, as sorted "key addr,addr" lines.
agent_view() {
	api GET /v1/peers | sed '$d' | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    print(p["public_key"], ",".join(sorted(p["addresses"])))' | sort
}
device_view() {
	wg show "$IFN" dump | tail -n +2 | awk '{ n = split($4, a, ","); s = ""; asort(a);
		for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") a[i]; print $1, s }' | sort
}
