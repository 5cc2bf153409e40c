#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The agent client (controller/agentclient.c) against a real agent on wireguard-go: the C
# program test_agentclient runs inside the agent's namespace, first against the running
# agent (every call), then against the stopped one (connection refused), then against a
# socket that accepts and never answers (a timeout within the configured time).
#   agentclient.sh BIN_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
command -v python3 >/dev/null || wgf_fail "python3 is needed"
TEST=$1/test_agentclient
[ -x "$TEST" ] || wgf_fail "$TEST is not built"
agent_setup
agent_start

PUB=$(wg show "$IFN" public-key)
[ -n "$PUB" ] || wgf_fail "no public key on $IFN"
ip netns exec "$NS" "$TEST" live "$API" "$TOKEN" "$PUB" "$IFN" || wgf_fail "live agent"
# What the client saw is what the device has: the C test left exactly one peer.
[ "$(wg show "$IFN" peers | wc -l)" = 1 ] || wgf_fail "device peers: $(wg show "$IFN" peers)"

agent_stop
ip netns exec "$NS" "$TEST" down "$API" "$TOKEN" || wgf_fail "stopped agent"

# A listening socket nobody reads from: the kernel accepts, no answer ever comes.
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(300)' >"$WGF_TMP/silent.port" &
SILENT_PID=$!
WGF_CLEANUP+=("kill $SILENT_PID")
for (( i=0; i<500; i++ )); do [ -s "$WGF_TMP/silent.port" ] && break; sleep 0.01; done
PORT=$(cat "$WGF_TMP/silent.port")
[ -n "$PORT" ] || wgf_fail "the silent socket did not start"
ip netns exec "$NS" "$TEST" silent "http://127.0.0.1:$PORT" || wgf_fail "silent socket"
echo "agentclient: PASS"
