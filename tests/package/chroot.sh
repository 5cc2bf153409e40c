#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# chroot.sh DEB: the package on a fresh Debian 12: mmdebstrap makes a minimal bookworm root
# (variant apt: the Essential set plus apt; needs the network), apt installs DEB there with
# its Depends from the archive, and the binaries, the user and the enabled units are checked
# inside; then apt purges it. Run by package.sh when WGFLEET_PACKAGE_CHROOT=1 (about 30 s
# with a near mirror; WGFLEET_PACKAGE_MIRROR overrides the mirror). A missing mmdebstrap is
# a failure: whoever asked for this test wants it run.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: chroot.sh DEB" >&2; exit 2; }
deb=$(realpath "$1")
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v mmdebstrap >/dev/null || fail "mmdebstrap is missing (apt-get install mmdebstrap)"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot)"
tmp=$(mktemp -d /tmp/wgfleet-chroot.XXXXXX)
root=$tmp/root
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

printf 'mmdebstrap bookworm ... '
t0=$SECONDS
mmdebstrap --variant=apt --mode=root --quiet bookworm "$root" ${WGFLEET_PACKAGE_MIRROR:-} \
	>"$tmp/mmdebstrap.log" 2>&1 || { cat "$tmp/mmdebstrap.log" >&2; fail "mmdebstrap failed"; }
echo "ok ($((SECONDS - t0)) s)"
cp "$deb" "$root/tmp/"
mount -t proc proc "$root/proc" # wgfleet-agent run finds wgfleet-agentd through /proc/self/exe
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

printf 'apt-get install ./%s ... ' "$(basename "$deb")"
t0=$SECONDS
in_root sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb")" \
	>"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; fail "apt could not install the package"; }
echo "ok ($((SECONDS - t0)) s)"

printf 'installed package works ... '
in_root dpkg-query -W -f='${Status}' wgfleet | grep -qx 'install ok installed' || fail "not installed"
for b in wgfleet-agent wgfleet-controller; do
	in_root "$b" --help >/dev/null || fail "$b --help in the fresh root"
done
in_root wgfleet-agent run --help >/dev/null || fail "wgfleet-agent run --help (wgfleet-agentd) in the fresh root"
if in_root test -x /usr/bin/wgfleetctl; then in_root wgfleetctl --help >/dev/null || fail "wgfleetctl --help"; fi
in_root wgfleet-agent check-config /etc/wgfleet/agent.conf.example >/dev/null || fail "agent.conf.example"
in_root getent passwd wgfleet | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "no wgfleet system user"
for u in wgfleet-agent wgfleet-controller; do
	[ -L "$root/etc/systemd/system/multi-user.target.wants/$u.service" ] || fail "$u.service not enabled"
done
echo ok

printf 'apt-get purge ... '
in_root apt-get purge -y -qq wgfleet >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "purge failed"; }
[ ! -e "$root/usr/bin/wgfleet-agent" ] && [ ! -e "$root/etc/wgfleet" ] || fail "purge left files behind"
[ -z "$(find "$root/etc/systemd" -name 'wgfleet-*')" ] || fail "purge left unit links"
echo ok
echo "chroot: PASS"
