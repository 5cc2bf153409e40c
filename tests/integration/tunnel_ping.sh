#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two namespaces joined by a veth pair, a wireguard-go daemon in each, and a tunnel
# between them configured only by wgfleet-agent: keys, peers, tunnel addresses, MTU, up.
# A ping must cross the tunnel, and both wg(8) and we must then see a handshake and bytes.
#   tunnel_ping.sh BIN_DIR
. "$(dirname "$0")/lib.sh"
AGENT=$1/wgfleet-agent
s=wfs$WGF_ID c=wfc$WGF_ID
sif=wf${WGF_ID}s cif=wf${WGF_ID}c
wgf_netns "$s"
wgf_netns "$c"
# The underlay: 198.18.0.0/30 (benchmarking range) exists only inside these namespaces.
ip link add "v$WGF_ID"a netns "$s" type veth peer name "v$WGF_ID"b netns "$c"
ip -n "$s" addr add 198.18.0.1/30 dev "v$WGF_ID"a
ip -n "$c" addr add 198.18.0.2/30 dev "v$WGF_ID"b
ip -n "$s" link set "v$WGF_ID"a up
ip -n "$c" link set "v$WGF_ID"b up

wgf_wggo "$s" "$sif"
wgf_wggo "$c" "$cif"

umask 077
"$AGENT" wg genkey >"$WGF_TMP/s.key"
"$AGENT" wg genkey >"$WGF_TMP/c.key"
"$AGENT" wg genpsk >"$WGF_TMP/psk"
spub=$("$AGENT" wg pubkey <"$WGF_TMP/s.key")
cpub=$("$AGENT" wg pubkey <"$WGF_TMP/c.key")
[ "$spub" = "$(wg pubkey <"$WGF_TMP/s.key")" ] || wgf_fail "our pubkey differs from wg pubkey"

cat >"$WGF_TMP/s.conf" <<CONF
[Interface]
PrivateKey = $(cat "$WGF_TMP/s.key")
ListenPort = 51820

[Peer]
PublicKey = $cpub
PresharedKey = $(cat "$WGF_TMP/psk")
AllowedIPs = 10.99.0.2/32, fd99::2/128
CONF
cat >"$WGF_TMP/c.conf" <<CONF
[Interface]
PrivateKey = $(cat "$WGF_TMP/c.key")

[Peer]
PublicKey = $spub
PresharedKey = $(cat "$WGF_TMP/psk")
AllowedIPs = 10.99.0.0/24, fd99::/64
Endpoint = 198.18.0.1:51820
PersistentKeepalive = 25
CONF
"$AGENT" wg setconf "$sif" "$WGF_TMP/s.conf"
"$AGENT" wg setconf "$cif" "$WGF_TMP/c.conf"
for side in "$s:$sif:1" "$c:$cif:2"; do
	IFS=: read -r ns ifname n <<<"$side"
	ip netns exec "$ns" "$AGENT" link addr "$ifname" "10.99.0.$n/24"
	ip netns exec "$ns" "$AGENT" link addr "$ifname" "fd99::$n/64"
	ip netns exec "$ns" "$AGENT" link mtu "$ifname" 1420
	ip netns exec "$ns" "$AGENT" link up "$ifname"
done
[ "$(ip netns exec "$s" cat /sys/class/net/"$sif"/mtu)" = 1420 ] || wgf_fail "MTU not set"

ip netns exec "$c" ping -c 3 -i 0.2 -W 2 10.99.0.1 || wgf_fail "no IPv4 ping through the tunnel"
ip netns exec "$c" ping -6 -c 2 -i 0.2 -W 2 fd99::1 || wgf_fail "no IPv6 ping through the tunnel"

"$AGENT" wg show "$sif" dump >"$WGF_TMP/ours"
wg show "$sif" dump >"$WGF_TMP/ref"
cat "$WGF_TMP/ours"
cmp "$WGF_TMP/ours" "$WGF_TMP/ref" || wgf_fail "our dump differs from wg's after traffic"
read -r _ _ endpoint _ hs rx tx _ < <(sed -n 2p "$WGF_TMP/ours")
[ "$endpoint" = "198.18.0.2:$(wg show "$cif" listen-port)" ] || wgf_fail "server did not learn the client endpoint ($endpoint)"
[ "$hs" -gt 0 ] && [ "$rx" -gt 0 ] && [ "$tx" -gt 0 ] || wgf_fail "no handshake or no bytes counted"
echo "tunnel_ping: PASS (handshake at $hs, rx $rx, tx $tx)"
