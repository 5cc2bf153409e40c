#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# wireguard-go's CPU per added peer by the number of peers per UAPI request
# (docs/benchmarks.md, "Controller service"): why a provision batch goes to one node. A
# fresh wireguard-go in a namespace of its own for each batch size; PEERS new peers, each
# with a preshared key and one allowed IP, in requests of BATCH peers over one socket
# connection each; prints the daemon's CPU (/proc) per peer. Root.
#   sudo bench/run-wggo-batch.sh                  PEERS=4000 SIZES="1 2 8 1000"
set -euo pipefail
PEERS=${PEERS:-4000}
SIZES=${SIZES:-1 2 8 1000}
[ "$(id -u)" = 0 ] || { echo "run-wggo-batch: needs root (a network namespace)" >&2; exit 1; }
ns=wgfb$$ ifname=wgfb$$ pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || :; ip netns del "$ns" 2>/dev/null || :; }
trap cleanup EXIT
ip netns add "$ns"
echo "| peers per request | wireguard-go µs CPU per peer | µs wall per peer |"
echo "|---:|---:|---:|"
for bs in $SIZES; do
	ip netns exec "$ns" wireguard-go -f "$ifname" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do [ -S "/var/run/wireguard/$ifname.sock" ] && break; sleep 0.05; done
	ip -n "$ns" link set "$ifname" up
	python3 - "$bs" "$PEERS" "$pid" "/var/run/wireguard/$ifname.sock" <<'PY'
import os, socket, sys, time
bs, total, pid, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def ask(s, req):
    s.sendall(req.encode())
    r = b""
    while not r.endswith(b"\n\n"):
        r += s.recv(4096)
    assert r.startswith(b"errno=0"), r
s = socket.socket(socket.AF_UNIX)
s.connect(path)
ask(s, f"set=1\nprivate_key={os.urandom(32).hex()}\nlisten_port=51999\n\n")
c0, t0, n = cpu(), time.time(), 0
while n < total:
    req = ["set=1\n"]
    for _ in range(min(bs, total - n)):
        req.append(f"public_key={os.urandom(32).hex()}\npreshared_key={os.urandom(32).hex()}\n"
                   f"replace_allowed_ips=true\nallowed_ip=10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}/32\n")
        n += 1
    ask(s, "".join(req) + "\n")
c1, t1 = cpu(), time.time()
print(f"| {bs} | {1e6 * (c1 - c0) / total:.0f} | {1e6 * (t1 - t0) / total:.0f} |")
PY
	kill "$pid"; wait "$pid" 2>/dev/null || :
	pid=
done
