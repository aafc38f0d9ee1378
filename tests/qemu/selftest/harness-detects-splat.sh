#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 120
#
# Harness self-test, expected to FAIL: every check passes and the script exits 0, but the
# kernel prints a backtrace (sysrq 'l'), which must make the host mark the scenario failed.
# scripts/check.sh counts this test as passed only when run-scenario.sh reports the kernel
# report as the reason.
. /mars-tests/lib.sh
ktap_begin
echo 1 > /proc/sys/kernel/sysrq
echo l > /proc/sysrq-trigger
sleep 1
check "a passing check" true
ktap_end
