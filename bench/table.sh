#!/bin/sh
# SPDX-License-Identifier: MIT
# Rows "N|operation|reference|ref_ms|ours_ms" on stdin → a markdown table on stdout.
#   table.sh TITLE
echo "### $1"
echo
echo "| peers | operation | reference | reference ms | ours ms | ratio (ours/ref) |"
echo "|---:|---|---|---:|---:|---:|"
awk -F'|' '{ r = ($4 > 0) ? $5 / $4 : 0;
	     if (r > 0 && r < 0.01) rs = sprintf("%.4f (%.0fx faster)", r, 1 / r);
	     else rs = sprintf("%.2f", r);
	     printf "| %s | %s | %s | %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, rs }'
