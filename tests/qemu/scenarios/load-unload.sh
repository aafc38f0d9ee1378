#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 600
#
# Promise: mars.ko survives 50 load/unload cycles, each exercising /proc/sys/mars, without a
# leak (kmemleak, checked by init after this script) or any lockdep/KFENCE/WARN report (checked
# by the host in dmesg).
. /mars-tests/lib.sh
ktap_begin

cycles=0
i=0
while [ $i -lt 50 ]; do
	i=$((i + 1))
	modprobe mars || { echo "# modprobe failed in cycle $i"; break; }
	write_knob scan_interval_sec $((i % 300 + 1)) || { echo "# knob write failed in cycle $i"; break; }
	cat /proc/sys/mars/lamport_clock >/dev/null || break
	write_knob scan_interval_sec bad 2>/dev/null && { echo "# bad value accepted in cycle $i"; break; }
	rmmod mars || { echo "# rmmod failed in cycle $i"; break; }
	cycles=$((cycles + 1))
done
check_eq "50 load/unload cycles" 50 "$cycles"
check_fails "module not loaded at the end" grep -q '^mars ' /proc/modules
check "no mars.ko message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q mars'

ktap_end
