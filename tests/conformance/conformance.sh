#!/bin/sh
# SPDX-License-Identifier: MIT
# Conformance of `wgfleet-agent wg` against wg(8) on one live WireGuard interface, whatever
# its backend: wireguard-go (UAPI) on the host, the kernel module (netlink) in the VM.
# POSIX sh, so busybox runs it inside the VM.
#
#   conformance.sh IFACE WORKDIR [PEERS] [V4_PER_PEER] [V6_PER_PEER]
#
# Environment: AGENT, GENCONF, WG (program paths; default from PATH); ORDERED=1 when the
# backend lists peers in a stable order (kernel: dumps must match byte for byte, order
# included); NO_KERNEL_WG=1 when the machine has no WireGuard module (changes the error
# expected for a missing interface).
set -eu
IF=$1
W=$2
N=${3:-200}
V4=${4:-3}
V6=${5:-2}
AGENT=${AGENT:-wgfleet-agent}
GENCONF=${GENCONF:-wgf-genconf}
WG=${WG:-wg}
ORDERED=${ORDERED:-0}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "-- $*"; }

# Peer lines are compared sorted unless ORDERED=1 (wireguard-go lists them in random order).
norm() {
	if [ "$ORDERED" = 1 ]; then cat "$1"; else sed -n 1p "$1"; sed 1d "$1" | sort; fi
}
same() { # same FILE_A FILE_B WHAT
	norm "$1" >"$W/na"
	norm "$2" >"$W/nb"
	if ! cmp -s "$W/na" "$W/nb"; then
		echo "--- $1" >&2
		diff "$W/na" "$W/nb" | head -20 >&2 || true
		fail "$3"
	fi
}
expect_fail() { # expect_fail PATTERN CMD...: must exit non-zero with PATTERN on stderr
	pat=$1
	shift
	if "$@" >"$W/out" 2>"$W/err"; then fail "succeeded but should not: $*"; fi
	grep -q "$pat" "$W/err" || { cat "$W/err" >&2; fail "no '$pat' in error of: $*"; }
}

mkdir -p "$W"
printf '[Interface]\n' >"$W/empty.conf"
"$GENCONF" --peers "$N" --v4 "$V4" --v6 "$V6" --psk-every 3 --endpoint-every 2 \
	--keepalive-every 5 --subnet-every 7 --private-key --listen-port 51820 >"$W/a.conf"
"$GENCONF" --peers "$N" --v4 "$V4" --v6 "$V6" --psk-every 3 --endpoint-every 2 \
	--keepalive-every 5 --subnet-every 7 --private-key --listen-port 51820 --variant >"$W/b.conf"

step "setconf: $N peers, $V4 IPv4 + $V6 IPv6 allowed IPs each, written by wg(8) (reference)"
$WG setconf "$IF" "$W/a.conf"
$WG show "$IF" dump >"$W/ref_a"
[ "$(sed 1d "$W/ref_a" | wc -l)" -eq "$N" ] || fail "reference has the wrong peer count"
$AGENT wg show "$IF" dump >"$W/ours_read_ref"
same "$W/ref_a" "$W/ours_read_ref" "our show differs from wg show on the same state"

step "setconf: the same file written by us, read back by wg(8) and by us"
$WG setconf "$IF" "$W/empty.conf"
[ "$($WG show "$IF" peers | wc -l)" -eq 0 ] || fail "device not emptied"
$AGENT wg setconf "$IF" "$W/a.conf"
$WG show "$IF" dump >"$W/wg_a"
$AGENT wg show "$IF" dump >"$W/ours_a"
same "$W/ref_a" "$W/wg_a" "state written by us differs from state written by wg setconf"
same "$W/wg_a" "$W/ours_a" "our show differs from wg show"

step "syncconf: remove 1, change 4 (allowed IPs, endpoint, psk, keepalive), add 2"
$WG syncconf "$IF" "$W/b.conf"
$WG show "$IF" dump >"$W/ref_b"
$WG setconf "$IF" "$W/a.conf"
$AGENT wg syncconf -v "$IF" "$W/b.conf" 2>"$W/sync.log"
cat "$W/sync.log"
grep -q ": 2 added, 4 changed, 1 removed, device unchanged" "$W/sync.log" ||
	fail "syncconf did not send exactly the differing peers"
$WG show "$IF" dump >"$W/wg_b"
same "$W/ref_b" "$W/wg_b" "state after our syncconf differs from wg syncconf's"
$AGENT wg syncconf -v "$IF" "$W/b.conf" 2>"$W/sync2.log"
grep -q ": 0 added, 0 changed, 0 removed, device unchanged" "$W/sync2.log" ||
	fail "a second syncconf should send nothing: $(cat "$W/sync2.log")"

step "syncconf back to A (the reverse changes), then to no peers"
# Reference: wg(8) syncs from state B back to A; then B is rebuilt the same way and we do it.
$WG syncconf "$IF" "$W/a.conf"
$WG show "$IF" dump >"$W/ref_back"
$WG setconf "$IF" "$W/a.conf"
$WG syncconf "$IF" "$W/b.conf"
$AGENT wg syncconf -v "$IF" "$W/a.conf" 2>"$W/sync3.log"
grep -q ": 1 added, 4 changed, 2 removed" "$W/sync3.log" || fail "$(cat "$W/sync3.log")"
$WG show "$IF" dump >"$W/wg_back"
same "$W/ref_back" "$W/wg_back" "our syncconf back to A differs from wg syncconf's"
$AGENT wg syncconf "$IF" "$W/empty.conf"
[ "$($WG show "$IF" peers | wc -l)" -eq 0 ] || fail "syncconf to no peers left peers"
$AGENT wg setconf "$IF" "$W/a.conf"

step "incremental set: add one peer, update one, remove one (wg(8) does the same from A)"
keys=$(sed -n 's/^PublicKey = //p' "$W/a.conf")
k_upd=$(echo "$keys" | sed -n 2p)
k_del=$(echo "$keys" | sed -n 3p)
k_new=$(sed -n 's/^PublicKey = //p' "$W/b.conf" | tail -n 1)
printf '%s\n' "$(sed -n 's/^PresharedKey = //p' "$W/a.conf" | head -1)" >"$W/psk"
incremental() { # incremental TOOL...: the three targeted changes through TOOL's `set`
	"$@" set "$IF" peer "$k_new" allowed-ips 10.255.0.1/32,fd00:ffff::1/128 \
		endpoint 198.18.255.1:9 persistent-keepalive 7 preshared-key "$W/psk"
	"$@" set "$IF" peer "$k_upd" endpoint "[fd99::ab]:77" allowed-ips 10.254.0.0/16
	"$@" set "$IF" peer "$k_del" remove
}
$WG setconf "$IF" "$W/a.conf"
incremental $WG
$WG show "$IF" dump >"$W/ref_inc"
$WG setconf "$IF" "$W/a.conf"
incremental $AGENT wg
$WG show "$IF" dump >"$W/wg_inc"
same "$W/ref_inc" "$W/wg_inc" "our incremental set differs from wg set's"
[ "$(sed 1d "$W/wg_inc" | wc -l)" -eq "$N" ] || fail "incremental set: wrong peer count"
$WG setconf "$IF" "$W/a.conf"

step "setconf without [Interface] keys resets the device, as wg(8)'s does"
$AGENT wg setconf "$IF" "$W/empty.conf"
[ "$($WG show "$IF" private-key)" = "(none)" ] || fail "our setconf kept the private key"
[ "$($WG show "$IF" fwmark)" = "off" ] || fail "our setconf kept the fwmark"
$WG setconf "$IF" "$W/a.conf"
$WG setconf "$IF" "$W/empty.conf"
[ "$($WG show "$IF" private-key)" = "(none)" ] || fail "reference: wg setconf kept the key"
$WG setconf "$IF" "$W/a.conf"

step "bad input: clear error, nothing changed"
$WG show "$IF" dump >"$W/before"
key31=$(printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==') # 31 bytes
printf '[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.0/33\n' \
	"$(sed -n 's/^PublicKey = //p' "$W/a.conf" | head -1)" >"$W/bad_mask.conf"
printf '[Peer]\nPublicKey = %s\n' "$key31" >"$W/bad_key.conf"
printf '[Interface]\nAddress = 10.0.0.1/24\n' >"$W/bad_quick.conf"
expect_fail "bad_mask.conf:3:" $AGENT wg setconf "$IF" "$W/bad_mask.conf"
expect_fail "bad_key.conf:2:" $AGENT wg setconf "$IF" "$W/bad_key.conf"
expect_fail "bad_quick.conf:2:" $AGENT wg syncconf "$IF" "$W/bad_quick.conf"
expect_fail "cannot read" $AGENT wg setconf "$IF" "$W/does-not-exist.conf"
expect_fail "allowed-ips" $AGENT wg set "$IF" peer "$k_upd" allowed-ips 10.0.0.0/33
expect_fail "not a base64 public key" $AGENT wg set "$IF" peer "$key31" remove
expect_fail "unknown" $AGENT wg set "$IF" peer "$k_upd" frobnicate 1
expect_fail "invalid interface name" $AGENT wg show abcdefghijklmnop dump
expect_fail "invalid interface name" $AGENT wg setconf abcdefghijklmnop "$W/a.conf"
if [ "${NO_KERNEL_WG:-0}" = 1 ]; then
	expect_fail "kernel WireGuard not available" $AGENT wg show wgfnone0 dump
else
	expect_fail "no such interface" $AGENT wg show wgfnone0 dump
	expect_fail "no such interface" $AGENT wg setconf wgfnone0 "$W/a.conf"
	expect_fail "not a WireGuard interface" $AGENT wg show lo dump
	expect_fail "not a WireGuard interface" $AGENT wg setconf lo "$W/a.conf"
fi
$WG show "$IF" dump >"$W/after"
same "$W/before" "$W/after" "a rejected command changed the device"

$WG setconf "$IF" "$W/empty.conf"
echo "conformance: PASS ($IF, $N peers)"
