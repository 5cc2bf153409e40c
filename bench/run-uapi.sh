#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks on userspace WireGuard: for each size, a namespace of its own, and a fresh
# wireguard-go for every bulk-apply round (it keeps memory after churn), ours against wg(8)
# side by side. Release build in build-bench/. Prints a markdown table for
# docs/benchmarks.md.
#   bench/run-uapi.sh [N ...]        default: 1000 10000 50000; rounds per size as
#   bench/wg-bench.sh chooses them (21 at 1,000 peers, 7 at 10,000, 3 above); ROUNDS=R
#   sets them all
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target wgfleet-agent wgf-genconf wgf-bench >/dev/null
BIN=$PWD/build-bench/bin
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

# fresh_wggo NS IFACE: prints a script that stops the wireguard-go of IFACE it started
# last (if any) and starts a new one in NS, detached (it outlives the script, and holds
# no pipe of the caller's), then waits for its socket.
fresh_wggo() {
	local sock=/var/run/wireguard/$2.sock
	cat <<EOS
pid=\$(cat "$WGF_TMP/wggo.pid" 2>/dev/null) && kill "\$pid" 2>/dev/null &&
	while kill -0 "\$pid" 2>/dev/null; do sleep 0.01; done
rm -f "$sock"
setsid -f sh -c 'echo \$\$ >"$WGF_TMP/wggo.pid"; exec ip netns exec "$1" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go "$2"' </dev/null >>"$WGF_TMP/wggo.log" 2>&1
i=0
while [ ! -S "$sock" ]; do
	i=\$((i + 1)); [ \$i -lt 1000 ] || { echo "reset: no wireguard-go socket after 10 s" >&2; exit 1; }
	sleep 0.01
done
EOS
}

for n in "${sizes[@]}"; do
	(
		. tests/integration/lib.sh
		ns=wfb$WGF_ID if=wf${WGF_ID}b
		wgf_netns "$ns"
		# Each bulk-apply round starts on a fresh wireguard-go: emptying a used one
		# left its time to the garbage of the last round's peers (the same request took
		# 2.7 to 9.5 s at 50,000 peers; on a fresh daemon it varies by ~1 %).
		fresh_wggo "$ns" "$if" >"$WGF_TMP/reset.sh"
		WGF_CLEANUP+=("kill \$(cat $WGF_TMP/wggo.pid); rm -f /var/run/wireguard/$if.sock")
		sh "$WGF_TMP/reset.sh"
		RESET="sh $WGF_TMP/reset.sh" sh bench/wg-bench.sh "$if" "$n" "${ROUNDS:-auto}" "$BIN"
	) >>"$rows"
done
bench/table.sh "userspace (wireguard-go $(wireguard-go --version | sed -n 's/^wireguard-go v//p'), UAPI backend)" <"$rows"
