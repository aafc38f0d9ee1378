#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1500
# tools: fio
# data-disk: 64M
# mars-disk: 64M
#
# Promise: a log write that fails (ENOSPC) never fails an application write, and it does not
# make a new hole every round. The emergency thresholds are off on alpha
# (required_free_space_{1..4}_mb = 0: the level stays 0, the strategy never jams), so only the
# log writer's failure can stop logging. bravo joins r0 and replays. A file fills alpha's
# /mars; fio then writes 24 MiB with verify to /dev/mars/r0 (more than the zeros written
# ahead of the logfile): it exits 0 with no error. The log writer failed: alpha stopped
# logging (`is-emergency`, `view`, `view --json`) at level 0, made the hole (empty logfile
# N+11, `version-(N+10)`, the replay link names it), and writes go to the data device
# (logger_resume is 0 meanwhile: read back what was written, the logfiles do not change).
# With logger_resume = 1 and /mars still full, every resume fails again, but the strategy
# waits after each failure (2 scan intervals, doubling): few failures in 24 s of writes, not
# one per round, and the doubled wait is announced. Once the file is gone, alpha logs again
# (the writes after that move its replay position), and `marsadm invalidate` brings bravo
# back to byte-identical.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
synced() { [ "$(readlink $res/syncstatus-bravo)" = "$(readlink $res/size)" ]; }
link_is() { [ "$(readlink "$1")" = "$2" ]; }
# lognr LINK: the logfile number a replay link names.
lognr() { readlink "$1" | sed -n 's/^log-0*\([0-9][0-9]*\)-.*/\1/p'; }
failures() { dmesg | grep -c 'a log write failed'; }

if [ "$h" = alpha ]; then
	ktap_begin
	mars_cluster_up
	for i in 1 2 3 4; do write_knob required_free_space_${i}_mb 0; done
	write_knob logger_resume 0
	write_knob scan_interval_sec 1
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 60 test -b /dev/mars/r0
	check "bravo joined, synced and replays" wait_for 600 is_link /mars/userspace/ready-bravo
	dd if=/dev/zero of=/mars/fill bs=1M 2>/dev/null; sync
	echo "# filled: $(df -k /mars | tail -1)"
	fio --name=enospc --filename=/dev/mars/r0 --rw=randwrite --bsrange=4k-128k --direct=1 --ioengine=libaio \
		--iodepth=8 --size=24M --verify=crc32c --verify_fatal=1 --output=/tmp/fio.out >/dev/null 2>&1
	fio_rc=$?
	grep -E "^ *(write|read):|err=" /tmp/fio.out | sed 's/^/# /'
	check_eq "fio wrote 24 MiB into a full /mars, verified, exit 0" 0 "$fio_rc"
	check "fio reports no error" sh -c "grep -q 'err= 0' /tmp/fio.out && ! grep -qiE 'verify.*(fail|bad)|Input/output' /tmp/fio.out"
	dmesg | grep -E "EMERGENCY|log writer|log write|hole" | head -8 | sed 's/^/# /'
	check "the log writer failed (kernel log)" sh -c "dmesg | grep -q 'EMERGENCY MODE: the logfile cannot be written'"
	check "alpha stopped logging (is-emergency)" wait_for 60 link_is $res/actual-alpha/is-emergency 1
	check_eq "at emergency level 0: not the strategy's jam" 0 "$(readlink /mars/actual-alpha/emergency)"
	check "the strategy waits before resuming" wait_for 30 sh -c "dmesg | grep -q 'a log write failed (1 in a row): logging resumes after emergency level 0 for 2 s'"
	hole=$(lognr $res/replay-alpha)
	echo "# the replay link names logfile $hole; logfiles: $(ls $res | grep '^log-' | tr '\n' ' ')"
	the_hole() {
		[ -n "$hole" ] && [ -f $res/log-$(printf %09d "$hole")-alpha ] && [ ! -s $res/log-$(printf %09d "$hole")-alpha ] &&
			link_is $res/version-$(printf %09d $((hole - 1)))-alpha "00000000000000000000000000000000,log-$(printf %09d $((hole - 1)))-alpha,0:" &&
			! ls $res | grep -q "^log-$(printf %09d $((hole - 2)))-" &&
			[ "$(readlink $res/replay-alpha)" = "log-$(printf %09d "$hole")-alpha,0,0" ]
	}
	check "the hole: the replay link names an empty logfile after ten missing numbers" the_hole
	marsadm view r0 | sed 's/^/# /'
	check "view shows the emergency" sh -c "marsadm view r0 | grep -q 'r0 UpToDate EmergencyMode Primary' &&
		marsadm view r0 | grep -q 'EMERGENCY: /mars full: logging stopped since'"
	check "view --json: logging stopped" sh -c "marsadm view r0 --json | grep -q '\"logging_stopped\": true'"
	# Bypass: writes go to the data device, nothing to the log.
	logs_before=$(ls -l $res | grep ' log-' | awk '{print $5, $9}' | tr '\n' ' ')
	dd if=/dev/urandom of=/tmp/bypass bs=1M count=4 2>/dev/null
	check "write 4 MiB in bypass" dd if=/tmp/bypass of=/dev/mars/r0 bs=1M seek=40 oflag=direct conv=fsync
	check_eq "they read back" "$(md5sum < /tmp/bypass)" "$(dd if=/dev/mars/r0 bs=1M skip=40 count=4 iflag=direct 2>/dev/null | md5sum)"
	check_eq "the logfiles did not change" "$logs_before" "$(ls -l $res | grep ' log-' | awk '{print $5, $9}' | tr '\n' ' ')"
	check "still not logging (logger_resume 0)" link_is $res/actual-alpha/is-emergency 1
	# /mars still full, resume allowed: every resume fails at the next write, the waits double.
	n0=$(failures)
	write_knob logger_resume 1
	i=0 end=$(($(date +%s) + 24))
	while [ "$(date +%s)" -lt $end ]; do
		dd if=/dev/urandom of=/dev/mars/r0 bs=64k count=1 seek=$((i % 256)) oflag=direct 2>/dev/null || echo "# write $i failed"
		sleep 0.5; i=$((i + 1))
	done
	n=$(failures)
	dmesg | grep -E "a log write failed|emergency mode over" | tail -6 | sed 's/^/# /'
	echo "# log write failures: $n0 before, $n after 24 s of writes into a full /mars"
	check "logging was tried again, and failed again" test "$n" -gt "$n0"
	check "no resume storm: at most 6 failures in 24 s" test "$n" -le 6
	check "the second failure in a row waits twice as long" sh -c "dmesg | grep -q 'a log write failed (2 in a row): logging resumes after emergency level 0 for 4 s'"
	# Space again: logging resumes by itself.
	rm -f /mars/fill; sync
	check "alpha logs again" wait_for 180 link_is $res/actual-alpha/is-emergency 0
	check "the kernel log says so" sh -c "dmesg | grep -q 'emergency mode over: logging into logfile'"
	now=$(lognr $res/replay-alpha)
	check "write 8 MiB after the emergency" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=8 seek=16 oflag=direct conv=fsync
	logged() { _p=$(readlink $res/replay-alpha); [ "$(lognr $res/replay-alpha)" = "$now" ] && [ "$(echo "$_p" | cut -d, -f2)" -gt 0 ]; }
	check "they are logged in logfile $now (its replay position moves)" wait_for 60 logged
	check_eq "no further log write failure" "$n" "$(failures)"
	check "view shows no emergency" sh -c "! marsadm view r0 | grep -q EMERGENCY"
	marsadm set-link 1 userspace/resumed-alpha
	sum=$(res_md5 /dev/mars/r0)
	marsadm set-link "$sum" userspace/md5-alpha
	check "bravo ends byte-identical" wait_for 900 is_link /mars/userspace/same-bravo
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
marsadm set-link 1 userspace/ready-bravo
check "alpha logs again" wait_for 900 is_link /mars/userspace/resumed-alpha
check "invalidate r0" marsadm invalidate r0
check "the full sync finishes" wait_for 600 synced
check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
want=$(readlink /mars/userspace/md5-alpha)
same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
check "bravo's device becomes byte-identical to alpha's" wait_for 600 same
marsadm set-link 1 userspace/same-bravo
marsadm view r0 | sed 's/^/# /'
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
