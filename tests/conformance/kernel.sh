#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs inside the VM (tests/vm/run): creates a kernel WireGuard link with our rtnetlink
# code, runs the conformance suite on it through the netlink backend, deletes the link.
#   kernel.sh PEERS V4 V6
set -eu
here=$(dirname "$0")
ifname=wgk0
wgfleet-agent link add "$ifname"
wgfleet-agent link up "$ifname"
ORDERED=1 sh "$here/conformance.sh" "$ifname" /tmp/conformance "${1:-200}" "${2:-3}" "${3:-2}"
wgfleet-agent link del "$ifname"
if wgfleet-agent wg show "$ifname" dump 2>/dev/null; then
	echo "FAIL: link still there after delete" >&2
	exit 1
fi
