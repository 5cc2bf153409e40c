#!/bin/sh
# SPDX-License-Identifier: MIT
# One benchmark size on one live, empty WireGuard interface, ours side by side with wg(8)
# in the same run. POSIX sh: runs on the host (wireguard-go) and in the VM (kernel).
#   [RESET=SHELL_CMD] wg-bench.sh IFACE N ROUNDS BIN_DIR
# ROUNDS "auto": 21 up to 1,000 peers (a round is ~80 ms, and one noisy round moves a
# short median), 7 up to 10,000, 3 above.
# Prints rows "N|operation|reference|ref_ms|ours_ms" (ratio = ours / reference).
set -eu
IF=$1
N=$2
R=$3
BIN=$4
if [ "$R" = auto ]; then
	if [ "$N" -le 1000 ]; then R=21; elif [ "$N" -le 10000 ]; then R=7; else R=3; fi
fi
WG=${WG:-wg}
A=$BIN/wgfleet-agent
T=$BIN/wgf-bench
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# As in the reference figures: one device, one allowed IP per peer, no endpoints.
"$BIN/wgf-genconf" --peers "$N" --seed 7 >"$W/a.conf"
"$BIN/wgf-genconf" --peers "$((N + 1))" --seed 7 >"$W/plus1.conf"
printf '[Interface]\n' >"$W/empty.conf"
K=$(sed -n 's/^PublicKey = //p' "$W/plus1.conf" | tail -n 1)
IP=$(sed -n 's/^AllowedIPs = //p' "$W/plus1.conf" | tail -n 1)

# RESET, if set, is a shell command that leaves an empty device before each bulk-apply
# round (run-uapi.sh: a fresh wireguard-go, whose time otherwise depends on the garbage
# the previous round's peers left).
set -- $($T time "$R" --before "${RESET:-$WG setconf $IF $W/empty.conf}" \
	-- "$WG" setconf "$IF" "$W/a.conf" -- "$A" wg setconf "$IF" "$W/a.conf")
echo "$N|bulk apply from empty (setconf)|wg setconf|$1|$2"

"$WG" setconf "$IF" "$W/a.conf"
set -- $($T time "$R" -- "$WG" show "$IF" dump -- "$A" wg show "$IF" dump)
echo "$N|full read with stats (show dump)|wg show dump|$1|$2"

rm_extra="$WG set $IF peer $K remove"
set -- $($T time "$R" --before "$rm_extra" \
	-- "$WG" syncconf "$IF" "$W/plus1.conf" -- "$A" wg set "$IF" peer "$K" allowed-ips "$IP")
echo "$N|one peer added: our 'wg set' process vs wg syncconf|wg syncconf|$1|$2"
sync_ms=$1
set -- $($T time "$R" --before "$rm_extra" \
	-- "$WG" set "$IF" peer "$K" allowed-ips "$IP" -- "$A" wg set "$IF" peer "$K" allowed-ips "$IP")
echo "$N|one peer added: our 'wg set' process vs one wg set process|wg set|$1|$2"
lib=$($T add-one "$IF" 31)
echo "$N|one peer added: library call on an open handle vs wg syncconf|wg syncconf|$sync_ms|$lib"
"$WG" setconf "$IF" "$W/empty.conf"
