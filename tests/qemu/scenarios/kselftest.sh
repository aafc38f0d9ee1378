#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 300
#
# Promise: the mars kselftest (tests/selftests/mars), installed into the image by the
# kernel's own selftests machinery (scripts/build-kselftest.sh: `make -C
# tools/testing/selftests TARGETS=mars install`), passes when the kernel's runner runs it in
# the guest: run_kselftest.sh lists it, runs it under busybox sh with the timeout of its
# settings file, and reports it ok (not skipped) with every subtest passed; with mars.ko not
# installed the runner reports a skip (the test's exit 4, KSFT_SKIP), which is no pass here.
# run_kselftest.sh of 6.12 exits 0 whatever its tests did: the result lines are what count.
. /mars-tests/lib.sh
ktap_begin
ks=/kselftest
t=mars_sysctl.sh

# (Not $out: lib.sh's check sets it.)
# result_line OUTPUT: the runner's result line of its first test.
result_line() { printf '%s\n' "$1" | grep -E '^(not )?ok 1 '; }

check "kselftest installed at $ks" test -x $ks/run_kselftest.sh
check_eq "run_kselftest.sh lists mars:$t" "mars:$t" "$($ks/run_kselftest.sh -l)"
# The runner enforces the timeout only through /usr/bin/timeout --foreground (coreutils).
check "/usr/bin/timeout --foreground works" /usr/bin/timeout --foreground 5 true

ksout=$($ks/run_kselftest.sh 2>&1)
rc=$?
printf '%s\n' "$ksout" | sed 's/^/# kselftest: /'
check_eq "run_kselftest.sh exits 0" 0 "$rc"
check_eq "kselftest reports mars:$t ok" "ok 1 selftests: mars: $t" "$(result_line "$ksout")"
check "every subtest of $t passed" sh -c 'printf "%s\n" "$1" |
	grep -Eqx "# # Totals: pass:[1-9][0-9]* fail:0 xfail:0 xpass:0 skip:0 error:0"' - "$ksout"
check "the runner took the timeout from mars/settings" sh -c 'printf "%s\n" "$1" |
	grep -qx "# timeout set to 120"' - "$ksout"
check_fails "mars is unloaded after the kselftest" grep -q '^mars ' /proc/modules

# Without mars.ko (the module tree hidden under an empty tmpfs): a skip.
mount -t tmpfs none /lib/modules
ksout=$($ks/run_kselftest.sh -t "mars:$t" 2>&1)
umount /lib/modules
printf '%s\n' "$ksout" | sed 's/^/# kselftest without mars.ko: /'
check_eq "without mars.ko kselftest reports a skip" "ok 1 selftests: mars: $t # SKIP" "$(result_line "$ksout")"

ktap_end
