#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install every Debian 12 package wgfleet needs to build, test, benchmark and run.
# Idempotent and non-interactive: packages already present are not touched, and
# apt-get is only called when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmnl-dev libnl-3-dev libnl-route-3-dev linux-libc-dev
  libmariadb-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev
  libsodium-dev libqrencode-dev libcmocka-dev
  # userspace WireGuard and the network test beds
  wireguard-go wireguard-tools iproute2 iputils-ping
  # systemd-analyze verify of systemd/wgfleet-agent.service
  systemd
  # the agent's integration tests drive its API with a small stdlib-only Python client
  python3
  # the kernel WireGuard test bed (stock Debian kernel under QEMU)
  qemu-system-x86 busybox-static kmod cpio xz-utils
  # the controller's database
  mariadb-server mariadb-client openssl
  # benchmarks
  hyperfine
  # test_qrpng reads the controller's QR code PNGs back with an independent decoder
  zbar-tools
  # the package test (cpack -G DEB, dpkg-shlibdeps, deb-systemd-helper, useradd) and the
  # demo test (a git clone of the repository); scripts/demo uses curl
  dpkg-dev init-system-helpers passwd git curl
  # the controller and agent tests read JSON answers with jq and time steps with bc
  jq bc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system services (MariaDB): the tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
