# SPDX-License-Identifier: MIT
# Shared by the integration tests: per-run network namespaces and wireguard-go daemons,
# always cleaned up (EXIT trap), even when a test fails. Source it from bash.
#
# Every name carries a per-run id, so parallel runs and leftovers of a killed run never
# collide. Interface names stay within 15 characters: "wf" + 6 hex + a role suffix.
set -euo pipefail

WGF_ID=$(printf '%06x' $(( (RANDOM << 9 ^ $$ ^ RANDOM) & 0xffffff )))
WGF_CLEANUP=()
WGF_TMP=$(mktemp -d "/tmp/wgfleet-test.$WGF_ID.XXXXXX")

wgf_cleanup() {
	local i
	for (( i=${#WGF_CLEANUP[@]}-1; i>=0; i-- )); do
		eval "${WGF_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$WGF_TMP"
}
trap wgf_cleanup EXIT
trap 'exit 130' INT TERM

wgf_fail() { echo "FAIL: $*" >&2; exit 1; }

# Root is required: this test creates namespaces and TUN devices. Not a skip: a failure.
[ "$(id -u)" = 0 ] || wgf_fail "must run as root (network namespaces, TUN)"
for tool in wireguard-go wg ip; do
	command -v "$tool" >/dev/null || wgf_fail "$tool is not installed (run scripts/deps.sh)"
done

# wgf_netns NAME: create a namespace, removed at exit.
wgf_netns() {
	ip netns add "$1"
	WGF_CLEANUP+=("ip netns del $1")
	ip -n "$1" link set lo up
}

# wgf_wggo NETNS IFACE: start wireguard-go for IFACE inside NETNS; its UAPI socket lands in
# the host's /var/run/wireguard (sockets are per mount namespace, so names must differ).
wgf_wggo() {
	local ns=$1 ifname=$2 sock=/var/run/wireguard/$2.sock i
	[ ! -e "$sock" ] || wgf_fail "$sock already exists"
	ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
		wireguard-go "$ifname" >"$WGF_TMP/wggo-$ifname.log" 2>&1 &
	local pid=$!
	WGF_CLEANUP+=("kill $pid; wait $pid; rm -f $sock")
	for (( i=0; i<500; i++ )); do
		[ -S "$sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$WGF_TMP/wggo-$ifname.log" >&2; wgf_fail "wireguard-go $ifname exited"; }
		sleep 0.01
	done
	wgf_fail "wireguard-go $ifname: no socket after 5 s"
}
