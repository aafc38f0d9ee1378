#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 300
#
# Promise: on every host `modprobe mars` works, /proc/sys/mars shows the documented entries in
# the documented formats, bounded knobs accept good values and reject malformed or
# out-of-range ones with EINVAL leaving the old value, the guests reach each other over the
# private network, and the module unloads and reloads cleanly (knobs back to defaults).
. /mars-tests/lib.sh
ktap_begin

knob() { cat "/proc/sys/mars/$1"; }

check "modprobe mars" modprobe mars
check "/proc/sys/mars exists" test -d /proc/sys/mars
check "version names the module" grep -q '^mars-rust [0-9]' /proc/sys/mars/version

lc=$(cat /proc/sys/mars/lamport_clock)
echo "$lc" | sed 's/^/# lamport_clock: /'
check "lamport_clock has the original's three lines" sh -c '
	printf "%s\n" "$1" | sed -n 1p | grep -Eq "^CURRENT_TIME=[0-9]+\.[0-9]{9}$" &&
	printf "%s\n" "$1" | sed -n 2p | grep -Eq "^lamport_now=[0-9]+\.[0-9]{9}$" &&
	printf "%s\n" "$1" | sed -n 3p | grep -Eq "^CALLS=[0-9]+$" &&
	[ "$(printf "%s\n" "$1" | wc -l)" = 3 ]' - "$lc"
check "lamport_now is not behind CURRENT_TIME" sh -c '
	now=$(printf "%s\n" "$1" | sed -n "1s/.*=//p"); lam=$(printf "%s\n" "$1" | sed -n "2s/.*=//p")
	[ "$(printf "%s\n%s\n" "$now" "$lam" | sort -n | tail -1)" = "$lam" ]' - "$lc"
c1=$(sed -n 's/^CALLS=//p' /proc/sys/mars/lamport_clock)
c2=$(sed -n 's/^CALLS=//p' /proc/sys/mars/lamport_clock)
check_eq "CALLS counts reads" "$((c1 + 1))" "$c2"
check_fails "lamport_clock rejects writes" write_knob lamport_clock 5

check_eq "scan_interval_sec defaults to 5" 5 "$(knob scan_interval_sec)"
check "scan_interval_sec takes 7" write_knob scan_interval_sec 7
check_eq "scan_interval_sec reads back 7" 7 "$(knob scan_interval_sec)"
check_fails "scan_interval_sec rejects 'abc'" write_knob scan_interval_sec abc
check_fails "scan_interval_sec rejects 0 (below range)" write_knob scan_interval_sec 0
check_fails "scan_interval_sec rejects 301 (above range)" write_knob scan_interval_sec 301
check_fails "scan_interval_sec rejects '5 6'" write_knob scan_interval_sec "5 6"
check_fails "scan_interval_sec rejects an empty write" write_knob scan_interval_sec ""
check_fails "scan_interval_sec rejects an overflowing number" write_knob scan_interval_sec 99999999999999999999
check_eq "rejected writes left scan_interval_sec at 7" 7 "$(knob scan_interval_sec)"
check_fails "max_lamport_future rejects -1" write_knob max_lamport_future -1
check_eq "max_lamport_future keeps its default" 2592000 "$(knob max_lamport_future)"

check "trigger takes 1" write_knob trigger 1
check_fails "trigger rejects 0" write_knob trigger 0
check_fails "trigger rejects 32" write_knob trigger 32
check_fails "trigger rejects 'x'" write_knob trigger x

peer=bravo; [ "$mars_host" = bravo ] && peer=alpha
check "$peer reachable over the private network" wait_reachable "$peer" 60

check "rmmod mars" rmmod mars
check_fails "/proc/sys/mars is gone after unload" test -e /proc/sys/mars
modprobe mars
check_eq "knobs are back to defaults after reload" 5 "$(knob scan_interval_sec)"
rmmod mars

ktap_end
