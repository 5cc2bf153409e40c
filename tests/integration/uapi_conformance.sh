#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The conformance suite against real wireguard-go in a namespace this test creates.
#   uapi_conformance.sh BIN_DIR PEERS V4 V6
. "$(dirname "$0")/lib.sh"
BIN=$1
ns=wfns$WGF_ID
ifname=wf${WGF_ID}u
wgf_netns "$ns"
wgf_wggo "$ns" "$ifname"
no_mod=0
[ -d /sys/module/wireguard ] || no_mod=1
AGENT=$BIN/wgfleet-agent GENCONF=$BIN/wgf-genconf NO_KERNEL_WG=$no_mod \
	sh "$(dirname "$0")/../conformance/conformance.sh" "$ifname" "$WGF_TMP/work" "${2:-200}" "${3:-3}" "${4:-2}"
