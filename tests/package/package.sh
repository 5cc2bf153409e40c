#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package, built with cpack from BUILD_DIR and installed with dpkg into a
# throwaway root (its own status database, maintainer scripts run chrootless with
# DPKG_ROOT), then upgraded, removed and purged there. Checks: control fields; Depends
# covering every shared library the binaries need (each NEEDED soname's owning package on
# this host); the files and the units' paths; conffiles = the files in /etc; the postinst's
# system user and enabled units inside the root and nothing changed on the host; the
# installed binaries run (--help, check-config of the installed example); remove keeps the
# conffiles, purge removes them. Nothing outside its temporary directory is touched.
#   package.sh BUILD_DIR SOURCE_DIR
# WGFLEET_PACKAGE_CHROOT=1 also installs the .deb with apt into a fresh Debian 12 root made
# by mmdebstrap (network; about two minutes; tests/package/chroot.sh).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: package.sh BUILD_DIR SOURCE_DIR" >&2; exit 2; }
build=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d /tmp/wgfleet-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { printf '%s ... ' "$1"; }
ok() { echo "ok${1:+ ($1)}"; }
for tool in cpack dpkg dpkg-deb dpkg-query readelf useradd deb-systemd-helper; do
	command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
		fail "$tool is missing (scripts/deps.sh installs what the package test needs)"
done
export PATH=$PATH:/usr/sbin:/sbin

step "cpack -G DEB"
t0=$(date +%s%3N)
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
	{ cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
debs=("$tmp"/out/wgfleet_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "expected one wgfleet_*.deb, got: ${debs[*]}"
deb=${debs[0]}
ok "$(basename "$deb"), $(( $(stat -c %s "$deb") / 1024 )) KiB, $(( $(date +%s%3N) - t0 )) ms"

step "control fields"
field() { dpkg-deb --field "$deb" "$1"; }
version=$(sed -n 's/^project(wgfleet VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ "$(field Package)" = wgfleet ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version-1" ] || fail "Version: $(field Version), want $version-1"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
[[ "$(field Recommends)" == *wireguard-tools* ]] || fail "Recommends: $(field Recommends)"
[ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] || fail "no Maintainer or Description"
depends=$(field Depends)
ok "Depends: $depends"

step "Depends covers every library the binaries need"
dpkg-deb -x "$deb" "$tmp/x"
dep_names=" $(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/[ (:].*//' | tr '\n' ' ')"
n_libs=0
for elf in "$tmp"/x/usr/bin/*; do
	for so in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		# awk reads to the end: an early exit would kill ldconfig with SIGPIPE, which
		# pipefail turns into a silent failure of the assignment (set -e).
		path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|x32|AArch64|64bit/ && !p { p = $NF } END { print p }')
		[ -n "$path" ] || path=$(ldconfig -p | awk -v so="$so" '$1 == so && !p { p = $NF } END { print p }')
		[ -n "$path" ] || fail "$(basename "$elf") needs $so, which this host does not have"
		owner=$(dpkg-query -S "$(realpath "$path")" 2>/dev/null || dpkg-query -S "$path" 2>/dev/null) ||
			fail "no package owns $path ($so, needed by $(basename "$elf"))"
		pkg=${owner%%:*}
		pkg=${pkg%%,*}
		[[ "$dep_names" == *" $pkg "* ]] || fail "$(basename "$elf") needs $so from $pkg, not in Depends: $depends"
		n_libs=$((n_libs + 1))
	done
done
for must in libmariadb3 libmicrohttpd12 libjansson4; do
	[[ "$dep_names" == *" $must "* ]] || fail "Depends lacks $must: $depends"
done
ok "$n_libs NEEDED entries, each owner in Depends"

step "files"
want=(usr/bin/wgfleet-agent usr/bin/wgfleet-agentd usr/bin/wgfleet-controller
      usr/lib/systemd/system/wgfleet-agent.service usr/lib/systemd/system/wgfleet-controller.service
      usr/lib/sysusers.d/wgfleet.conf etc/wgfleet/agent.conf.example
      usr/share/doc/wgfleet/README.md usr/share/doc/wgfleet/install.md
      usr/share/doc/wgfleet/cli/wgfleet-agent.txt usr/share/doc/wgfleet/cli/wgfleet-controller.txt)
[ ! -e "$build/bin/wgfleetctl" ] || want+=(usr/bin/wgfleetctl usr/share/doc/wgfleet/cli/wgfleetctl.txt)
[ ! -e "$src/controller/controller.conf.example" ] || want+=(etc/wgfleet/controller.conf.example)
for m in "$src"/controller/migrations/*.sql; do want+=("usr/share/wgfleet/migrations/$(basename "$m")"); done
for f in "${want[@]}"; do [ -f "$tmp/x/$f" ] || fail "$f is not in the package"; done
for f in "$tmp"/x/usr/bin/*; do [ -x "$f" ] || fail "$f is not executable"; done
# Nothing of the build machine leaks in: no build-tree or /usr/local path in a shipped text.
! grep -rlE "$build|/usr/local" "$tmp/x/usr/lib" "$tmp/x/etc" 2>/dev/null || fail "a build path leaked into the package"
grep -qx "ExecStart=/usr/bin/wgfleet-agent run --config /etc/wgfleet/agent.conf" \
	"$tmp/x/usr/lib/systemd/system/wgfleet-agent.service" || fail "agent unit ExecStart"
grep -qx "ExecStart=/usr/bin/wgfleet-controller run --config /etc/wgfleet/controller.conf" \
	"$tmp/x/usr/lib/systemd/system/wgfleet-controller.service" || fail "controller unit ExecStart"
grep -qx "ConditionPathExists=/etc/wgfleet/agent.conf" "$tmp/x/usr/lib/systemd/system/wgfleet-agent.service" ||
	fail "agent unit starts unconfigured"
grep -qx "ConditionPathExists=/etc/wgfleet/controller.conf" \
	"$tmp/x/usr/lib/systemd/system/wgfleet-controller.service" || fail "controller unit starts unconfigured"
ok "${#want[@]} expected files present, units name /usr/bin and /etc/wgfleet"

step "conffiles and maintainer scripts"
dpkg-deb -e "$deb" "$tmp/ctl"
diff <(sort "$tmp/ctl/conffiles") <(cd "$tmp/x" && find etc -type f | sed 's|^|/|' | sort) >&2 ||
	fail "conffiles differ from the files in /etc"
for s in postinst prerm postrm; do
	[ -x "$tmp/ctl/$s" ] || fail "$s missing or not executable"
	sh -n "$tmp/ctl/$s" || fail "$s: syntax error"
done
ok "$(wc -l <"$tmp/ctl/conffiles") conffiles"

# --- a throwaway root: an empty dpkg database and the account files useradd needs
root=$tmp/root
mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/usr/sbin"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
chmod 640 "$root/etc/shadow" "$root/etc/gshadow"
cp /etc/login.defs "$root/etc/" 2>/dev/null || true
# The root's packages do not exist in its database: Depends were checked above instead.
rdpkg() { DPKG_ROOT= dpkg --root="$root" --force-script-chrootless --force-depends \
	--log="$tmp/dpkg.log" "$@" >>"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg $*"; }; }
host_state() { sha256sum /etc/passwd /etc/group; ls -la /etc/systemd/system 2>/dev/null || true; }
host_before=$(host_state)

step "install into the throwaway root"
rdpkg -i "$deb"
[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' wgfleet)" = "install ok installed" ] ||
	fail "dpkg does not record wgfleet as installed"
for f in "${want[@]}"; do [ -e "$root/$f" ] || fail "$f not installed"; done
IFS=: read -r _ _ uid gid _ home shell < <(grep '^wgfleet:' "$root/etc/passwd") || fail "postinst made no wgfleet user"
[ "$uid" -lt 1000 ] && [ "$home" = /nonexistent ] && [ "$shell" = /usr/sbin/nologin ] ||
	fail "wgfleet user is not a system account: $(grep '^wgfleet:' "$root/etc/passwd")"
grep -q "^wgfleet:x:$gid:" "$root/etc/group" || fail "no wgfleet group"
for u in wgfleet-agent wgfleet-controller; do
	l=$root/etc/systemd/system/multi-user.target.wants/$u.service
	[ "$(readlink "$l")" = "/usr/lib/systemd/system/$u.service" ] || fail "$u not enabled (no $l)"
done
[ "$(host_state)" = "$host_before" ] || fail "installing into the root changed the host"
ok "user wgfleet ($uid:$gid), both units enabled, host unchanged"

step "installed binaries run"
for b in wgfleet-agent wgfleet-controller; do
	"$root/usr/bin/$b" --help >"$tmp/help" 2>&1 || { cat "$tmp/help" >&2; fail "$b --help"; }
	grep -q "^Usage: $b" "$tmp/help" || fail "$b --help: $(head -3 "$tmp/help")"
done
# `run` execs wgfleet-agentd from its own directory: the one in the root must be there.
"$root/usr/bin/wgfleet-agent" run --help >"$tmp/help" 2>&1 || { cat "$tmp/help" >&2; fail "wgfleet-agent run --help"; }
"$root/usr/bin/wgfleet-controller" migrate --help >/dev/null || fail "wgfleet-controller migrate --help"
if [ -e "$root/usr/bin/wgfleetctl" ]; then
	"$root/usr/bin/wgfleetctl" --help >/dev/null || fail "wgfleetctl --help"
fi
"$root/usr/bin/wgfleet-agent" check-config "$root/etc/wgfleet/agent.conf.example" >/dev/null ||
	fail "the installed agent.conf.example does not pass check-config"
# The units as installed pass systemd-analyze verify (their ExecStart pointed into the root:
# verify wants the binary to exist) and keep their security exposure (systemd/verify.sh).
mkdir "$tmp/units"
for u in wgfleet-agent wgfleet-controller; do
	sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$root/usr/lib/systemd/system/$u.service" \
		>"$tmp/units/$u.service"
done
"$src/systemd/verify.sh" "$tmp/units/wgfleet-agent.service" "$tmp/units/wgfleet-controller.service" \
	>"$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out" >&2; fail "the installed units do not verify"; }
ok

step "reinstall (upgrade path), remove, purge"
echo "# an operator's note" >>"$root/etc/wgfleet/agent.conf.example"
rdpkg -i "$deb"
[ "$(grep -c '^wgfleet:' "$root/etc/passwd")" = 1 ] || fail "upgrade duplicated the user"
grep -q "an operator's note" "$root/etc/wgfleet/agent.conf.example" || fail "upgrade overwrote a changed conffile"
rdpkg -r wgfleet
[ ! -e "$root/usr/bin/wgfleet-agent" ] || fail "remove left the binaries"
[ -e "$root/etc/wgfleet/agent.conf.example" ] || fail "remove took the conffiles"
rdpkg -P wgfleet
[ ! -e "$root/etc/wgfleet/agent.conf.example" ] || fail "purge left the conffiles"
[ -z "$(find "$root/etc/systemd" -name 'wgfleet-*' 2>/dev/null)" ] || fail "purge left unit links: $(find "$root/etc/systemd" -name 'wgfleet-*')"
dpkg-query --admindir="$root/var/lib/dpkg" -W wgfleet >/dev/null 2>&1 && fail "purge left wgfleet in the database"
[ "$(host_state)" = "$host_before" ] || fail "the root's remove/purge changed the host"
ok "conffile edit kept, purge clean"

if [ "${WGFLEET_PACKAGE_CHROOT:-0}" = 1 ]; then
	"$(dirname "$0")/chroot.sh" "$deb"
fi
echo "package: PASS"
