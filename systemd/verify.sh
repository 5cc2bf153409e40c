#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# verify.sh UNIT...: systemd-analyze verify each UNIT, failing on any diagnostic (verify
# exits 0 on some warnings), then print each unit's `systemd-analyze security` exposure
# score and fail if it is above the ceiling docs/install.md records for it.
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze missing (scripts/deps.sh installs systemd)" >&2; exit 1; }
for unit in "$@"; do
	name=$(basename "$unit")
	out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$out" >&2; exit 1; }
	# Warnings about units we do not ship (network-online.target on a host without it) are not ours.
	ours=$(printf '%s\n' "$out" | grep -F "$name" || true)
	[ -z "$ours" ] || { echo "$ours" >&2; exit 1; }
	echo "systemd-analyze verify $name: OK"
done
for unit in "$@"; do
	name=$(basename "$unit")
	case $name in
	wgfleet-agent.service) ceiling=1.9 ;;      # CAP_NET_ADMIN, AF_NETLINK, root
	wgfleet-controller.service) ceiling=1.1 ;; # no capability, own user
	*) continue ;;
	esac
	# --offline reads the unit file only (systemd >= 250): no running manager needed.
	out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || { echo "$out" >&2; exit 1; }
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	[ -n "$score" ] || { echo "$out" >&2; echo "FAIL: no exposure score for $name" >&2; exit 1; }
	awk -v s="$score" -v c="$ceiling" 'BEGIN { exit !(s <= c) }' ||
		{ printf '%s\n' "$out" | grep -v "^✓" >&2; echo "FAIL: $name exposure $score > $ceiling" >&2; exit 1; }
	echo "systemd-analyze security $name: $score (ceiling $ceiling)"
done
