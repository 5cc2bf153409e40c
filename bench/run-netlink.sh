#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks on the kernel module, inside the QEMU test bed (tests/vm/run): a WireGuard
# link created by our rtnetlink code, ours against the wg(8) binary in the same VM run.
# Absolute times are emulated (TCG); only the ratios mean something. Release build in
# build-bench/. Prints a markdown table for docs/benchmarks.md.
#   bench/run-netlink.sh [N ...]     default: 1000 10000 50000; rounds per size as
#   bench/wg-bench.sh chooses them (21 at 1,000 peers, 7 at 10,000, 3 above); ROUNDS=R
#   sets them all
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target wgfleet-agent wgf-genconf wgf-bench >/dev/null
rows=$(mktemp)
out=$(mktemp)
trap 'rm -f "$rows" "$out"' EXIT

# One boot per size: the kernel keeps no state between them. Under TCG a boot sometimes
# ends up on the jiffies clocksource (4 ms ticks), which makes every timing meaningless:
# such a boot exits 3 and is retried.
clock='cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource); case $cs in *jiffies*) echo "clocksource $cs: timings meaningless" >&2; exit 3;; esac'
for n in "${sizes[@]}"; do
	for attempt in 1 2 3 4; do
		rc=0
		tests/vm/run --build build-bench --payload bench --mem 3072 --timeout 1800 -- \
			sh -c "$clock; wgfleet-agent link add wgb0 && $PWD/bench/wg-bench.sh wgb0 $n ${ROUNDS:-auto} \$WGFLEET_BIN" \
			>"$out" 2>&1 || rc=$?
		[ "$rc" = 3 ] || break
		echo "run-netlink: N=$n: jiffies clocksource, booting again" >&2
	done
	[ "$rc" = 0 ] || { cat "$out" >&2; exit 1; }
	grep -E "^[0-9]+\|" "$out" | tr -d '\r' >>"$rows"
done
bench/table.sh "kernel (Debian $(cat build-bench/vm-cache/kernel/*/version 2>/dev/null | head -1) in QEMU TCG, netlink backend)" <"$rows"
