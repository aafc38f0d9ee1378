#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 300
#
# The demo (make demo): two MARS hosts on a private network. Grows into the full replication
# demo as features land; today it loads the module and shows its control surface.
. /mars-tests/lib.sh
peer=bravo; [ "$mars_host" = bravo ] && peer=alpha
say() { echo "[$mars_host] $*"; }

say "kernel $(uname -r), loading mars.ko with modprobe"
modprobe mars || exit 1
say "$(cat /proc/sys/mars/version)"
say "/proc/sys/mars: $(ls /proc/sys/mars | tr '\n' ' ')"
cat /proc/sys/mars/lamport_clock | sed "s/^/[$mars_host]   /"
say "setting scan_interval_sec to 3"; write_knob scan_interval_sec 3
say "scan_interval_sec = $(cat /proc/sys/mars/scan_interval_sec)"
if write_knob scan_interval_sec 0 2>/dev/null; then
	say "setting scan_interval_sec to 0 (out of range): accepted?!"; exit 1
else
	say "setting scan_interval_sec to 0 (out of range): rejected with EINVAL"
fi
say "scan_interval_sec still $(cat /proc/sys/mars/scan_interval_sec)"
say "marsadm: $(marsadm version)"
if wait_reachable "$peer" 60; then
	say "peer $peer reachable: $(ping -c 3 -q "$peer" | tail -1)"
else
	say "peer $peer NOT reachable"; exit 1
fi
rmmod mars && say "module unloaded cleanly"
