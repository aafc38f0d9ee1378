#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kselftest for mars.ko: the module loads, publishes /proc/sys/mars with its version and its
# bounded knobs, refuses knob values that are malformed or out of range (the write fails and
# the value stays), takes a value in range, and unloads, removing /proc/sys/mars.
#
# Optional argument (the kselftest runner passes $KSELFTEST_MARS_SYSCTL_SH_ARGS): the exact
# version expected, e.g. 0.1.0; without it any "mars-rust X.Y.Z" passes.
# KTAP output; exit 0 pass, 1 fail, 4 skip (kselftest's KSFT_SKIP): not root, mars.ko not
# installed, or mars loaded already (the test does not unload a module that may be in use).
# POSIX sh: runs under busybox sh, dash and bash.

DIR=$(dirname "$0")
. "$DIR/../kselftest/ktap_helpers.sh"

expected_version=${1:-}
knobs=/proc/sys/mars

ktap_print_header
if [ "$(id -u)" != 0 ]; then
	ktap_skip_all "must be run as root"
	exit "$KSFT_SKIP"
fi
if ! modinfo mars >/dev/null 2>&1; then
	ktap_skip_all "mars.ko is not installed for $(uname -r)"
	exit "$KSFT_SKIP"
fi
if grep -qs '^mars ' /proc/modules; then
	ktap_skip_all "mars is loaded already (and may be in use)"
	exit "$KSFT_SKIP"
fi
ktap_set_plan 13

# result DESCRIPTION COMMAND...: ok when the command succeeds.
result() {
	desc=$1
	shift
	if "$@"; then ktap_test_pass "$desc"; else ktap_test_fail "$desc"; fi
}
# expect DESCRIPTION EXPECTED ACTUAL
expect() {
	if [ "$2" = "$3" ]; then
		ktap_test_pass "$1"
	else
		ktap_print_msg "expected '$2', got '$3'"
		ktap_test_fail "$1"
	fi
}
# write_knob NAME VALUE: writes like an operator does; fails like the write(2) fails.
write_knob() { printf '%s\n' "$2" 2>/dev/null >"$knobs/$1"; }
refused() { ! write_knob "$@"; }
matches() { printf '%s\n' "$1" | grep -Eqx "$2"; }

if ! modprobe mars; then
	ktap_test_fail "modprobe mars"
	ktap_exit_fail_msg "mars.ko did not load"
fi
ktap_test_pass "modprobe mars"
result "/proc/sys/mars exists" test -d "$knobs"

version=$(cat "$knobs/version" 2>&1)
ktap_print_msg "version: $version"
if [ -n "$expected_version" ]; then
	expect "version is mars-rust $expected_version" "mars-rust $expected_version" "$version"
else
	result "version is mars-rust X.Y.Z" matches "$version" 'mars-rust [0-9]+\.[0-9]+\.[0-9]+'
fi
result "version refuses writes" refused version 1.0

expect "scan_interval_sec defaults to 5" 5 "$(cat "$knobs/scan_interval_sec")"
result "scan_interval_sec takes 7" write_knob scan_interval_sec 7
expect "scan_interval_sec reads back 7" 7 "$(cat "$knobs/scan_interval_sec")"
result "scan_interval_sec refuses 0 (below its range 1..300)" refused scan_interval_sec 0
result "scan_interval_sec refuses 301 (above its range)" refused scan_interval_sec 301
result "scan_interval_sec refuses 'abc'" refused scan_interval_sec abc
expect "refused writes left scan_interval_sec at 7" 7 "$(cat "$knobs/scan_interval_sec")"

result "rmmod mars" rmmod mars
result "/proc/sys/mars is gone after unload" test ! -e "$knobs"

ktap_finished
