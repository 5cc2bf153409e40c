#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks on userspace WireGuard: for each size, a fresh wireguard-go in a namespace of
# its own (it keeps memory after churn), ours against wg(8) side by side. Release build in
# build-bench/. Prints a markdown table for docs/benchmarks.md.
#   bench/run-uapi.sh [N ...]        default: 1000 10000 50000; rounds per size: 21 at
#   1,000 peers (a round is ~80 ms, and one noisy round moves a short median), 7 at 10,000,
#   3 above; ROUNDS=R sets them all
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
rounds_for() {
	if [ -n "${ROUNDS:-}" ]; then echo "$ROUNDS"
	elif (( $1 <= 1000 )); then echo 21
	elif (( $1 <= 10000 )); then echo 7
	else echo 3; fi
}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DASAN=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target wgfleet-agent wgf-genconf wgf-bench >/dev/null
BIN=$PWD/build-bench/bin
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

for n in "${sizes[@]}"; do
	(
		. tests/integration/lib.sh
		wgf_netns "wfb$WGF_ID"
		wgf_wggo "wfb$WGF_ID" "wf${WGF_ID}b"
		sh bench/wg-bench.sh "wf${WGF_ID}b" "$n" "$(rounds_for "$n")" "$BIN"
	) >>"$rows"
done
bench/table.sh "userspace (wireguard-go $(wireguard-go --version | sed -n 's/^wireguard-go v//p'), UAPI backend)" <"$rows"
