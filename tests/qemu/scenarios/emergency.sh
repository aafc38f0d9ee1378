#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1500
# tools: fio
# data-disk: 96M
# mars-disk: 64M
#
# Promise: a full /mars never fails an application write. bravo joins r0 and then stops
# fetching, so none of alpha's logfiles can be deleted; cron's log rotation runs on alpha (every
# 2 s here). fio writes more than the 64 MiB /mars holds to alpha's /dev/mars/r0 (random
# writes of 4 KiB to 256 KiB, direct IO) and verifies everything it wrote: it exits 0 with no
# error. Meanwhile /mars fills, alpha goes into emergency mode (level 4, jammed): it stops
# logging, its writes go to the data device directly, and it makes a hole of ten logfile
# numbers; `is-emergency`, `has-emergency` and the level are published, and `marsadm view`
# shows the emergency on alpha and on bravo. `marsadm invalidate` is refused on bravo while
# alpha is in emergency. The documented recovery then brings bravo back: fetch on again, bravo
# catches up and stops cleanly at the hole (a message, no error loop); `marsadm log-delete-all`
# frees /mars on alpha, the level falls back to 0 and alpha logs again after the hole;
# `marsadm invalidate` on bravo syncs it, and it ends byte-identical to alpha, also with data
# written after the emergency; `view` shows no emergency any more.
# Both hosts record `marsadm events --json` throughout (tests/qemu/guest/lib.sh, events_*):
# alpha's stream shows the level rising, logging stopping, the emergency ending and the level
# back at 0; bravo's shows the primary's emergency and its end. Ctrl-C ends them with exit 0.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
fio_mib=80
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
synced() { [ "$(readlink $res/syncstatus-bravo)" = "$(readlink $res/size)" ]; }
link_is() { [ "$(readlink "$1")" = "$2" ]; }
# lognr LINK: the logfile number a replay link names.
lognr() { readlink "$1" | sed -n 's/^log-0*\([0-9][0-9]*\)-.*/\1/p'; }
no_emergency() { ! marsadm view r0 | grep -q EMERGENCY; }

if [ "$h" = alpha ]; then
	ktap_begin
	mars_cluster_up
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 60 test -b /dev/mars/r0
	check "an empty /mars is at emergency level 0" wait_for 30 link_is /mars/actual-alpha/emergency 0
	check "bravo joined, synced, and stopped fetching" wait_for 600 is_link /mars/userspace/ready-bravo
	events_start emergency
	# cron's log rotation, as in production (there every few minutes).
	(while [ ! -e /tmp/stop-rotate ]; do marsadm log-rotate r0 --thresh-logfiles 100000 >/dev/null 2>&1; sleep 2; done) &
	fio --name=fill --filename=/dev/mars/r0 --rw=randwrite --bsrange=4k-256k --direct=1 --ioengine=libaio \
		--iodepth=8 --size=${fio_mib}M --verify=crc32c --verify_fatal=1 --output=/tmp/fio.out >/dev/null 2>&1
	fio_rc=$?
	touch /tmp/stop-rotate
	grep -E "^ *(write|read):|err=" /tmp/fio.out | sed 's/^/# /'
	check_eq "fio wrote ${fio_mib} MiB (more than /mars holds), verified, exit 0" 0 "$fio_rc"
	check "fio reports no error" sh -c "grep -q 'err= 0' /tmp/fio.out && ! grep -qiE 'verify.*(fail|bad)|Input/output' /tmp/fio.out"
	check "alpha stopped logging (is-emergency)" link_is $res/actual-alpha/is-emergency 1
	check "r0 is in emergency (has-emergency)" link_is $res/actual-alpha/has-emergency 1
	# Level 4 at the jam; once the logger's shadow memory went to the data device instead of
	# /mars it may fall (one step per round) while fio still verifies, but not to 0: the
	# emergency stays until then (hysteresis).
	level_seen() { dmesg | grep -q 'emergency level 4 (jammed' && [ "$(readlink /mars/actual-alpha/emergency)" -ge 1 ]; }
	check "emergency level 4 (jammed) reached, the level published still above 0" level_seen
	check "the kernel log says so" sh -c "dmesg | grep -q 'EMERGENCY MODE'"
	hole=$(lognr $res/replay-alpha)
	echo "# logging resumes into logfile $hole; logfiles: $(ls $res | grep -c '^log-')"
	the_hole() {
		[ -n "$hole" ] && [ -f $res/log-$(printf %09d "$hole")-alpha ] && [ ! -s $res/log-$(printf %09d "$hole")-alpha ] &&
			is_link $res/version-$(printf %09d $((hole - 1)))-alpha &&
			! ls $res | grep -q "^log-$(printf %09d $((hole - 2)))-"
	}
	check "the hole: the replay link names an empty logfile after ten missing numbers" the_hole
	marsadm view r0 | sed 's/^/# /'
	check "view shows the emergency" sh -c "marsadm view r0 | grep -q 'EMERGENCY: /mars full: logging stopped since'"
	check "view --json: level above 0, logging stopped" sh -c "marsadm view r0 --json | grep -q '\"emergency_level\": [1-4]' &&
		marsadm view r0 --json | grep -q '\"logging_stopped\": true'"
	marsadm set-link 1 userspace/jammed-alpha
	# Recovery (Documentation/admin-guide.rst, "Emergency mode"): bravo fetches again and stops
	# at the hole; then the logfiles every member replayed can go.
	check "bravo stands at the hole" wait_for 900 is_link /mars/userspace/at-hole-bravo
	at=$(readlink /mars/userspace/at-hole-bravo)
	bravo_at_hole() { [ "$(lognr $res/replay-bravo)" = "$at" ] && [ "$at" -lt "$hole" ]; }
	check "bravo's replay link (logfile $at) arrived here" wait_for 60 bravo_at_hole
	check "log-delete-all frees /mars" marsadm log-delete-all r0 --window 1
	echo "# after log-delete-all: $(ls $res | grep '^log-' | tr '\n' ' ') ($(df -m /mars | tail -1))"
	over() {
		link_is /mars/actual-alpha/emergency 0 && link_is $res/actual-alpha/is-emergency 0 &&
			link_is $res/actual-alpha/has-emergency 0
	}
	check "level back to 0, logging again" wait_for 180 over
	check "the kernel log says so" sh -c "dmesg | grep -q 'emergency mode over: logging into logfile $hole'"
	marsadm set-link 1 userspace/resumed-alpha
	check "write 8 MiB after the emergency" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=8 seek=16 oflag=direct conv=fsync
	logged() { _p=$(readlink $res/replay-alpha); [ "$(lognr $res/replay-alpha)" = "$hole" ] && [ "$(echo "$_p" | cut -d, -f2)" -gt 0 ]; }
	check "they are logged in logfile $hole (its replay position moves)" wait_for 60 logged
	sum=$(res_md5 /dev/mars/r0)
	marsadm set-link "$sum" userspace/md5-alpha
	check "bravo ends byte-identical" wait_for 900 is_link /mars/userspace/same-bravo
	check "view shows no emergency" wait_for 60 no_emergency
	events_stop emergency
	events_expect emergency "the level rises, logging stops, the emergency ends" \
		"type=host name=alpha emergency-level~^[1-4]\$" "type=resource name=r0 emergency=logging-stopped" \
		"type=resource name=r0 emergency=no"
	events_expect emergency "the level rises and falls back to 0" \
		"type=host name=alpha emergency-level~^[1-4]\$" "type=host name=alpha emergency-level=0"
	check "rmmod mars" rmmod mars
	ktap_end
	exit
fi

# --- bravo -------------------------------------------------------------------------------
ktap_begin
mars_cluster_up
check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
check "the initial full sync finishes" wait_for 600 synced
check "replaying" wait_for 120 link_is $res/actual-bravo/is-replaying 1
check "fetch off (alpha's logfiles cannot be deleted now)" marsadm set-link 0 resource-r0/todo-bravo/connect
check "fetch stopped" wait_for 60 link_is $res/actual-bravo/is-copying 0
events_start emergency
marsadm set-link 1 userspace/ready-bravo
check "alpha is jammed" wait_for 900 is_link /mars/userspace/jammed-alpha
check "alpha's emergency arrived here" wait_for 60 link_is $res/actual-alpha/has-emergency 1
check "invalidate is refused while the primary is in emergency" sh -c "! marsadm invalidate r0 2>/tmp/inv.err"
sed 's/^/# /' /tmp/inv.err
check_eq "nothing changed: syncstatus still complete" "$(readlink $res/size)" "$(readlink $res/syncstatus-bravo)"
check "view names the primary's emergency" sh -c "marsadm view r0 | grep -q \"EMERGENCY on the primary 'alpha'\""
check "fetch on again" marsadm set-link 1 resource-r0/todo-bravo/connect
at_hole() {
	_h=$(lognr $res/replay-alpha) _b=$(lognr $res/replay-bravo)
	[ -n "$_h" ] && [ -n "$_b" ] && [ "$_b" -lt "$_h" ] && dmesg | grep -q "replay stops after logfile $_b:"
}
check "bravo catches up and stops cleanly at the hole" wait_for 900 at_hole
dmesg | grep -E "hole|fetch stops|EMERGENCY|deleting the old logfile" | tail -6 | sed 's/^/# /'
check "no replay error loop" sh -c "[ \$(dmesg | grep -c 'replay stops after logfile') -eq 1 ] && ! dmesg | grep -q 'replay: EIO'"
marsadm set-link "$(lognr $res/replay-bravo)" userspace/at-hole-bravo
check "alpha logs again" wait_for 600 is_link /mars/userspace/resumed-alpha
check "alpha's emergency is over here" wait_for 60 link_is $res/actual-alpha/has-emergency 0
check "invalidate r0" marsadm invalidate r0
check "the full sync finishes" wait_for 600 synced
check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
want=$(readlink /mars/userspace/md5-alpha)
same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
check "bravo's device becomes byte-identical to alpha's" wait_for 600 same
marsadm set-link 1 userspace/same-bravo
check "view shows no emergency" wait_for 60 no_emergency
marsadm view r0 | sed 's/^/# /'
events_stop emergency
events_expect emergency "the primary's emergency arrives and ends" \
	"type=resource name=r0 emergency=primary-stopped:alpha" "type=resource name=r0 emergency=no"
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
