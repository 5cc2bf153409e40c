#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks on userspace WireGuard: for each size, a fresh wireguard-go in a namespace of
# its own (it keeps memory after churn), ours against wg(8) side by side. Release build in
# build-bench/. Prints a markdown table for docs/benchmarks.md.
#   bench/run-uapi.sh [N ...]        default: 1000 10000 50000; ROUNDS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
ROUNDS=${ROUNDS:-3}
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
		sh bench/wg-bench.sh "wf${WGF_ID}b" "$n" "$ROUNDS" "$BIN"
	) >>"$rows"
done
bench/table.sh "userspace (wireguard-go $(wireguard-go --version | sed -n 's/^wireguard-go v//p'), UAPI backend)" <"$rows"
