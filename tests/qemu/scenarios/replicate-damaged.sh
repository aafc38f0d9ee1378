#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 900
# data-disk: 64M
# mars-disk: 512M
#
# Promise: a logfile damaged on its origin is not replayed beyond the damage on a secondary,
# the secondary says so, and `marsadm invalidate` is the way out. bravo does not fetch
# (todo-bravo/connect = 0) while alpha writes 2 MiB into logfile 1 and finishes it
# (`marsadm log-rotate`; the rotation is done once alpha's replay link names logfile 2 and
# logfile 1's size is the end its version link names: before that the file is preallocated
# and longer than its records); then 16 bytes in the middle of those 2 MiB are damaged on
# alpha's disk. Once bravo fetches again it fetches logfile 1 up to its end, finds the
# damaged record, fetches that part again 3 times (`attempt 3 of 3` in its kernel log), then
# its replay stops at the damaged record with `actual-bravo/msg-err-logfile-damaged` ("... on
# its origin too") and a kernel log line, which `marsadm view` shows; everything before the
# damaged record is replayed, none of the damaged bytes reach bravo's data device. `marsadm
# invalidate` on bravo brings it to alpha's data and clears the message.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
log1=$res/log-000000001-alpha
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi
size=$((64 * 1048576))
res_md5() { device_md5 "$1" "$size"; }
# The position alpha's version link of logfile 1 names: its durable end.
version1_end() { readlink $res/version-000000001-alpha | cut -d: -f1 | cut -d, -f3; }

mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo synced and stopped fetching" wait_for 300 is_link /mars/userspace/paused-bravo
	check "write 2 MiB" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=2 oflag=direct status=none
	check "log-rotate" marsadm log-rotate r0
	# log-rotate only creates logfile 2; the kernel switches to it a moment later.
	echo "# right after log-rotate: logfile 1 is $(stat -c %s $log1) bytes, its version link says $(version1_end)"
	finished() {
		readlink $res/replay-alpha | grep -q '^log-000000002-alpha,' &&
			[ "$(stat -c %s $log1)" = "$(version1_end)" ]
	}
	check "logfile 1 is finished (alpha replays logfile 2, logfile 1 ends where its version link says)" wait_for 60 finished
	end=$(stat -c %s $log1)
	echo "# logfile 1 ends at $end"
	check "logfile 1 ends more than 2 MiB in" test "$end" -gt 2097152
	at=$((end - 1048576))
	check "damage 16 bytes of alpha's own logfile 1 at $at" sh -c "printf ZZZZZZZZZZZZZZZZ | dd of=$log1 bs=1 seek=$at conv=notrunc status=none && sync"
	check "logfile 1 still ends at $end" test "$(stat -c %s $log1)" = "$end"
	check "publish where the damage is" marsadm set-link "$at" userspace/damaged-at
	check "publish the checksum" marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5-alpha
	check "bravo is back after invalidate" wait_for 480 is_link /mars/userspace/invalidated-bravo
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "the full sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	check "replaying" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	check "stop fetching" marsadm set-link 0 "resource-r0/todo-$h/connect"
	check "not copying" wait_for 60 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
	check "tell alpha" marsadm set-link 1 userspace/paused-bravo
	check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
	at=$(readlink /mars/userspace/damaged-at)
	check "fetch again" marsadm set-link 1 "resource-r0/todo-$h/connect"
	damaged() { readlink $res/actual-$h/msg-err-logfile-damaged | grep -q 'damaged at byte .* on its origin too'; }
	check "the replay stops with msg-err-logfile-damaged" wait_for 240 damaged
	echo "# msg-err-logfile-damaged: $(readlink $res/actual-$h/msg-err-logfile-damaged)"
	check "the part was fetched again 3 times first" sh -c "dmesg | grep -q 'is damaged at .*fetching it again from alpha (attempt 3 of 3)'"
	check "the kernel log says the replay stops" sh -c "dmesg | grep -q 'damaged at .*also as fetched again from its origin: replay stops'"
	fetched() { [ "$(stat -c %s $log1)" = "$(version1_end)" ]; }
	check "the copy holds logfile 1 up to its end" wait_for 60 fetched
	replayed=$(readlink $res/replay-$h)
	echo "# replay-$h: $replayed, the damage at $at"
	pos=$(echo "$replayed" | cut -d, -f2)
	# A record is at most 32 KiB (MAX_RECORD_LEN): the damaged one starts within that before.
	check "the replay stands at the damaged record" sh -c "echo '$replayed' | grep -q '^log-000000001-alpha,' && [ $pos -le $at ] && [ $pos -gt $((at - 32768)) ]"
	check "none of the damaged bytes are on the data device" sh -c "! dd if=/dev/vda bs=1M iflag=direct 2>/dev/null | grep -q ZZZZZZZZZZZZZZZZ"
	check "marsadm view shows the message" sh -c "marsadm view r0 | grep -q 'msg-err-logfile-damaged: .*run .marsadm invalidate. on this host'"
	check_eq "the replay did not move meanwhile" "$replayed" "$(readlink $res/replay-$h)"
	check "marsadm invalidate r0" marsadm invalidate r0
	want=$(readlink /mars/userspace/md5-alpha)
	check "the full sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device is alpha's" wait_for 240 same
	check "the message is gone" sh -c "! marsadm view r0 | grep -q 'msg-err-logfile-damaged'"
	check "tell alpha" marsadm set-link 1 userspace/invalidated-bravo
fi
check "rmmod mars" sh -c "marsadm down r0; sleep 2; rmmod mars"
ktap_end
