#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# scripts/build-kselftest.sh installs the mars kselftest target with the kernel's selftests
# machinery without touching the shared kernel source, and the kernel's runner, run by
# busybox sh as in the guest, maps the test's exits: 4 to a skip (mars.ko absent), a failure
# to "not ok". Nothing here loads a module on the host: modinfo and modprobe are fakes that
# fail. Needs the unpacked kernel source (scripts/setup.sh). KTAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; bad=$((bad + 1)); fi; }

echo "TAP version 13"
echo "1..6"
touch "$tmp/stamp"
sleep 1
"$top/scripts/build-kselftest.sh" "$tmp/ks" >"$tmp/build.log" 2>&1
rc=$?; [ "$rc" = 0 ] || sed 's/^/# /' "$tmp/build.log"
ok "$rc" "build-kselftest.sh installs TARGETS=mars"
[ -x "$tmp/ks/run_kselftest.sh" ] && [ -f "$tmp/ks/kselftest/runner.sh" ] &&
	[ -f "$tmp/ks/kselftest/ktap_helpers.sh" ] && [ -x "$tmp/ks/mars/mars_sysctl.sh" ] &&
	[ -f "$tmp/ks/mars/settings" ]
ok $? "the install holds the runner, its helpers and mars/ with the test and its settings"
[ "$(cat "$tmp/ks/kselftest-list.txt" 2>/dev/null)" = "mars:mars_sysctl.sh" ]
ok $? "kselftest-list.txt names mars:mars_sysctl.sh"
changed=$(find "$KERNEL_SRC/tools/testing/selftests" "$KERNEL_SRC/scripts" -newer "$tmp/stamp" 2>/dev/null | head -5)
[ -z "$changed" ] && [ ! -e "$KERNEL_SRC/tools/testing/selftests/mars" ]
ok $? "the shared kernel source is unchanged${changed:+ (changed: $changed)}"

# run_as_guest MODPROBE_RC: run_kselftest.sh under busybox sh with fake modinfo (finds mars
# when MODPROBE_RC is given) and modprobe (exits MODPROBE_RC).
run_as_guest() {
	mkdir -p "$tmp/bin"
	if [ -n "$1" ]; then printf '#!/bin/sh\nexit 0\n'; else printf '#!/bin/sh\nexit 1\n'; fi >"$tmp/bin/modinfo"
	printf '#!/bin/sh\nexit %s\n' "${1:-1}" >"$tmp/bin/modprobe"
	chmod +x "$tmp/bin/modinfo" "$tmp/bin/modprobe"
	PATH="$tmp/bin:$PATH" busybox sh "$tmp/ks/run_kselftest.sh" 2>&1 | cat
}
out=$(run_as_guest "")
printf '%s\n' "$out" | sed 's/^/# /'
grep -qx 'ok 1 selftests: mars: mars_sysctl.sh # SKIP' <<<"$out"
ok $? "without mars.ko the runner reports a skip"
if [ "$(id -u)" = 0 ] && ! grep -qs '^mars ' /proc/modules; then
	out=$(run_as_guest 1)
	printf '%s\n' "$out" | sed 's/^/# /'
	grep -qx 'not ok 1 selftests: mars: mars_sysctl.sh # exit=1' <<<"$out"
	ok $? "a failed modprobe mars fails the test"
else
	ok 0 "a failed modprobe mars fails the test # SKIP not root, or mars loaded on this host"
fi
[ "$bad" = 0 ]
