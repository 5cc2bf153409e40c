#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# systemd-analyze verify UNIT, failing on any diagnostic (verify exits 0 on some warnings).
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze missing (scripts/deps.sh installs systemd)" >&2; exit 1; }
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$1" 2>&1) || { echo "$out" >&2; exit 1; }
# Warnings about units we do not ship (network-online.target on a host without it) are not ours.
ours=$(printf '%s\n' "$out" | grep -F "$(basename "$1")" || true)
[ -z "$ours" ] || { echo "$ours" >&2; exit 1; }
echo "systemd-analyze verify: OK"
