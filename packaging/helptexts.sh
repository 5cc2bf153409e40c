#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# helptexts.sh OUT_DIR BIN...: the installed reference of each command line tool, written to
# OUT_DIR/NAME.txt: `NAME --help`, then `NAME CMD --help` for every CMD its usage lists
# under "Commands:". Run at install time, so the texts are those of the binaries installed.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: helptexts.sh OUT_DIR BIN..." >&2; exit 2; }
out=$1
shift
mkdir -p "$out"
for bin in "$@"; do
	name=$(basename "$bin")
	top=$("$bin" --help) || { echo "helptexts.sh: $name --help failed" >&2; exit 1; }
	{
		printf '%s --help\n\n%s\n' "$name" "$top"
		# "Commands:" then "  NAME  description" lines up to the first blank line.
		printf '%s\n' "$top" | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
			on && /^  [a-z]/ && !seen[$1]++ { print $1 }' | while read -r cmd; do
			printf '\n\n%s %s --help\n\n' "$name" "$cmd"
			# Some commands print their usage on stderr; both are the text.
			"$bin" "$cmd" --help 2>&1 || true
		done
	} >"$out/$name.txt"
done
