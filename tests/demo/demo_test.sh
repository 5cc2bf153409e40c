#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 6's proof, as a newcomer meets wgfleet: clone the repository (SOURCE_DIR's HEAD) into
# a fresh directory, run `scripts/demo` there, and check that its ping through the tunnel
# succeeded and `wgfleetctl status --json` shows one user, one active VPN, one completed
# payment and two healthy nodes. Run it a second time (it must reuse what exists: the same
# counts), then `scripts/demo stop`: no process, namespace, interface or UAPI socket of it
# may remain. Needs root. The clone uses BUILD_DIR's binaries (WGFLEET_BUILD_DIR) instead
# of building its own.
#   demo_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: demo_test.sh SOURCE_DIR BUILD_DIR" >&2; exit 2; }
src=$(realpath "$1") build=$(realpath "$2")
[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, WireGuard interfaces)"
command -v git >/dev/null || fail "git is missing"
git -C "$src" rev-parse --verify -q HEAD >/dev/null || fail "$src is not a git checkout with a commit"
tmp=$(mktemp -d /tmp/wgfleet-demo.XXXXXX)
clone=$tmp/wgfleet
cleanup() {
	[ ! -x "$clone/scripts/demo" ] || "$clone/scripts/demo" stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git clone -q --no-hardlinks "$src" "$clone"
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	echo "note: $src has uncommitted changes; the clone, like CI's, has only HEAD ($(git -C "$src" rev-parse --short HEAD))"
fi
read -r nsp ifp < <("$clone/scripts/demo" names)
[ -z "$(ip netns list | awk '{ print $1 }' | grep "^$nsp-" || true)" ] || fail "namespaces $nsp-* exist before the run"

# run N: the demo in the clone; its output is shown either way.
run() {
	local t0=$SECONDS
	if ! WGFLEET_BUILD_DIR=$build "$clone/scripts/demo" >"$tmp/run$1.out" 2>&1; then
		cat "$tmp/run$1.out"
		fail "scripts/demo (run $1) failed"
	fi
	cat "$tmp/run$1.out"
	echo "--- run $1: $((SECONDS - t0)) s"
	grep -q ' 0% packet loss' "$clone/var/client/ping.log" || fail "run $1: the ping through the tunnel failed: $(cat "$clone/var/client/ping.log")"
	"$clone/scripts/demo" ctl status --json >"$tmp/status$1.json" 2>"$tmp/status$1.err" ||
		fail "run $1: wgfleetctl status --json: $(cat "$tmp/status$1.err")"
	python3 - "$tmp/status$1.json" <<'PY' || fail "run $1: wgfleetctl status --json is not what the demo should leave: $(cat "$tmp/status$1.json")"
import json, sys
s = json.load(open(sys.argv[1]))
def count(section, key=None):
    v = s[section]
    return sum(v.values()) if key is None else v.get(key, 0)
problems = []
if count("users") != 1: problems.append("users %r, want 1" % s["users"])
if count("vpns", "active") != 1 or count("vpns") != 1: problems.append("vpns %r, want 1 active" % s["vpns"])
if count("payments", "completed") != 1 or count("payments") != 1:
    problems.append("payments %r, want 1 completed" % s["payments"])
healthy = [n for n in s["nodes"] if n.get("health") == "healthy"]
if len(s["nodes"]) != 2 or len(healthy) != 2: problems.append("nodes %r, want 2 healthy" % s["nodes"])
for p in problems: print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
	echo "run $1: ping ok; status: 1 user, 1 active VPN, 1 completed payment, 2 healthy nodes"
}

run 1
# Safe to run twice: it stops the first run and finds the same user, payment and VPN.
run 2
grep -q '^stopping the previous run \.\.\. ok' "$tmp/run2.out" || fail "the second run did not restart the first"

"$clone/scripts/demo" stop || fail "scripts/demo stop failed"

# Nothing of it remains: namespaces, processes (anything naming the clone or our
# interfaces), UAPI sockets, interfaces on the host.
left=$(ip netns list | awk '{ print $1 }' | grep "^$nsp-" || true)
[ -z "$left" ] || fail "namespaces remain: $left"
procs=$(CLONE=$clone/ IFP=$ifp python3 -c '
import os
me = {os.getpid(), os.getppid()}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if int(pid) not in me and (os.environ["CLONE"] in cmd or os.environ["IFP"] in cmd):
        print(pid, cmd)')
[ -z "$procs" ] || fail "processes remain: $procs"
! ls /var/run/wireguard/"$ifp"* >/dev/null 2>&1 || fail "UAPI sockets remain: $(ls /var/run/wireguard/"$ifp"*)"
! ip -o link show | grep -q "$ifp" || fail "host interfaces remain: $(ip -o link show | grep "$ifp")"
echo "demo: PASS (stop left no process, namespace, interface or socket)"
