#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Generate the man pages from Documentation/*.rst with docutils' rst2man (Debian package
# python3-docutils, installed here when missing, idempotently) into DIR (default build/man):
#   marsadm.8     from Documentation/marsadm.8.rst (written as a man page already)
#   mars-knobs.7  from Documentation/knobs.rst (/proc/sys/mars), under a man page header
# Usage: scripts/build-man.sh [DIR]. Prints the generated files.
set -euo pipefail
. "$(dirname "$0")/env.sh"
out=${1:-$MARS_TOP/build/man}

mars_apt_install python3-docutils || exit 1

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# rst2man takes the document title for the page name: knobs.rst's own title (the first
# overlined heading) gives way to the man page header.
{
	printf '%s\n' '==========' 'mars-knobs' '==========' '' \
		'------------------------------------------------------' \
		'the /proc/sys/mars tunables of the MARS kernel module' \
		'------------------------------------------------------' '' ':Manual section: 7' \
		':Manual group: MARS' ''
	awk 'NR > 1 && !done && /^=+$/ { skip++; if (skip == 2) done = 1; next } skip == 1 { next } { print }' \
		"$MARS_TOP/Documentation/knobs.rst"
} > "$tmp/mars-knobs.7.rst"
# --halt=warning: a warning (a broken reference, an unknown directive) fails the build.
rst2man --halt=warning --no-generator --no-datestamp "$MARS_TOP/Documentation/marsadm.8.rst" "$tmp/marsadm.8"
rst2man --halt=warning --no-generator --no-datestamp "$tmp/mars-knobs.7.rst" "$tmp/mars-knobs.7"
for page in marsadm.8 mars-knobs.7; do
	cmp -s "$tmp/$page" "$out/$page" || cp "$tmp/$page" "$out/$page"
	echo "$out/$page"
done
