#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 900
# data-disk: 64M
# mars-disk: 512M
# extra-disk: 8M
#
# Promise: create-cluster on alpha, join-cluster on the others, create-resource on alpha and
# join-resource on the others (fresh zeroed disks: the full sync finds them equal) make a replicating cluster: a filesystem
# written through /dev/mars/r0 on alpha, with a logfile switch in between, arrives on every
# secondary's data device byte-identical once quiesced (checksums of the whole device
# compared), without any further operator action; the secondaries fetched the logfiles over
# port 7778 over log_fetch_sockets parallel connections (bravo sets 3, others keep the default
# 2), replayed them, and their version links equal alpha's. Three hosts: alpha primary,
# bravo and charlie secondaries. Then, with bravo's replay paused, 16 bytes damaged in
# bravo's fetched copy of a logfile are fetched again from alpha: the replay does not stop,
# and the data still arrive intact. (The script works with two guests too; a two-guest run
# was dropped from make check because the three-guest run checks everything it checked.)
# Resize: a second resource r1 (alpha and bravo) on a 4 MiB dm-linear device over /dev/vdc on
# each host; once both grew it to 8 MiB (a dm table reload, online), each actsize-<host> shows
# 8 MiB, `marsadm resize r1` on alpha grows /dev/mars/r1 online to 8 MiB (refused before the
# disks grew), bravo syncs the new range, and 2 MiB written into it arrive byte-identical.
. /mars-tests/lib.sh

h=$mars_host
all=$(echo alpha bravo charlie delta | cut -d' ' -f1-"$mars_nguests")
secondaries=$(for x in $all; do [ "$x" != alpha ] && echo "$x"; done)
res=/mars/resource-r0
nsec=$(echo $secondaries | wc -w)
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi

all_joined() { for x in $secondaries; do is_link "/mars/userspace/joined-$x" || return 1; done; }
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
# Whether exactly $1 TCP connections to port 7778 (0x1E62) of alpha (10.77.0.1 = 01004D0A in /proc/net/tcp)
# are established.
log_conns_are() { [ "$(awk '$3 == "01004D0A:1E62" && $4 == "01"' /proc/net/tcp | wc -l)" = "$1" ]; }

mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 30 test -b /dev/mars/r0
	check "every secondary joined" wait_for 180 all_joined
	check "mkfs.ext4 on /dev/mars/r0 and mount" sh -c "mkfs.ext4 -q -F /dev/mars/r0 && mkdir -p /mnt && mount /dev/mars/r0 /mnt"
	check "write 16 MiB of files" sh -c "for i in 1 2 3 4; do dd if=/dev/urandom of=/mnt/f\$i bs=1M count=4 2>/dev/null || exit 1; done; sync"
	check "log-rotate" marsadm log-rotate r0
	check "write 8 MiB more" sh -c "for i in 5 6; do dd if=/dev/urandom of=/mnt/f\$i bs=1M count=4 2>/dev/null || exit 1; done; sync"
	(cd /mnt && md5sum f*) > /tmp/sums
	check "umount" umount /mnt
	sum=$(res_md5 /dev/mars/r0)
	echo "# alpha's device: $sum"
	check "publish the checksum" marsadm set-link "$sum" userspace/md5-alpha
	check "logging moved to logfile 2" sh -c "readlink $res/replay-alpha | grep -q '^log-000000002-alpha,'"
	for x in $secondaries; do
		check "$x reports the same data" wait_for 300 is_link "/mars/userspace/same-$x"
	done
	# bravo pauses its replay and damages its fetched copy (below).
	check "bravo paused its replay" wait_for 60 is_link /mars/userspace/paused-bravo
	check "write 2 MiB more" dd if=/dev/urandom of=/dev/mars/r0 bs=1M seek=8 count=2 oflag=direct status=none
	check "publish the new checksum" marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5b-alpha
	check "bravo got the data despite the damaged copy" wait_for 240 is_link /mars/userspace/refetched-bravo
	check "still primary" test -b /dev/mars/r0
	# Resize: r1 on alpha and bravo.
	r1=/mars/resource-r1
	r1_grown() { [ "$(readlink $r1/actsize-alpha)" = 8388608 ] && [ "$(readlink $r1/actsize-bravo)" = 8388608 ]; }
	check "r1data: dm-linear over the first 4 MiB of /dev/vdc" sh -c "dmsetup create r1data --table '0 8192 linear /dev/vdc 0' && dmsetup mknodes r1data"
	check "create-resource r1 /dev/mapper/r1data" marsadm create-resource r1 /dev/mapper/r1data
	check "/dev/mars/r1 appears" wait_for 30 test -b /dev/mars/r1
	check "the kernel publishes actsize-alpha" wait_for 30 sh -c "[ \"\$(readlink $r1/actsize-alpha)\" = 4194304 ]"
	check "bravo joined r1 and synced" wait_for 180 is_link /mars/userspace/r1-joined-bravo
	check_fails "resize to 8M refused while the disks have 4 MiB" marsadm resize r1 8M
	check "grow r1data to 8 MiB online" sh -c "dmsetup reload r1data --table '0 16384 linear /dev/vdc 0' && dmsetup resume r1data"
	check "both actsize links show 8 MiB" wait_for 60 r1_grown
	check "marsadm resize r1" marsadm resize r1
	check_eq "/dev/mars/r1 has 8 MiB" 8388608 "$(blockdev --getsize64 /dev/mars/r1)"
	check "the kernel told of the change" sh -c "dmesg | grep -q 'mars/r1: detected capacity change'"
	check_fails "shrinking is refused" marsadm resize r1 4M
	check "write 2 MiB into the new range" dd if=/dev/urandom of=/dev/mars/r1 bs=1M seek=5 count=2 oflag=direct status=none
	check "publish r1's checksum" marsadm set-link "$(device_md5 /dev/mars/r1 8388608)" userspace/md5-r1
	check "bravo has the new range" wait_for 300 is_link /mars/userspace/r1-same-bravo
	check "tell bravo" marsadm set-link 1 userspace/r1-seen-alpha
	# Give bravo time to pull the answer before unloading.
	sleep 10
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	[ "$h" = bravo ] && echo 3 > /proc/sys/mars/log_fetch_sockets
	check "log_fetch_sockets refuses 9" sh -c '! echo 9 > /proc/sys/mars/log_fetch_sockets'
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "attached" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-attached)\" = 1 ]"
	# Both disks start zeroed: the fast full sync compares checksums and copies (almost) nothing.
	check "the full sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	echo "# sync: $(cat /proc/sys/mars/sync_data_bytes) data bytes, $(cat /proc/sys/mars/sync_sum_bytes) checksum bytes received"
	check "replaying" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	check "fetching" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 1 ]"
	check "tell alpha" marsadm set-link 1 "userspace/joined-$h"
	check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
	want=$(readlink /mars/userspace/md5-alpha)
	check "logfile 2 of alpha was fetched" wait_for 120 test -s $res/log-000000002-alpha
	# Poll the checksum of the data device until it matches (replay may still be running).
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device becomes byte-identical to alpha's device" wait_for 240 same
	sockets=$(cat /proc/sys/mars/log_fetch_sockets)
	check "the fetch holds $sockets connections to alpha's port 7778" wait_for 30 log_conns_are "$sockets"
	echo "# connections to alpha (local, remote, state):"
	awk '$3 ~ /^01004D0A:/ {print "#   " $2, $3, $4}' /proc/net/tcp
	check_eq "version link of logfile 1 equals alpha's" "$(readlink $res/version-000000001-alpha)" "$(readlink $res/version-000000001-$h)"
	check "replay reached logfile 2" sh -c "readlink $res/replay-$h | grep -q '^log-000000002-alpha,'"
	check "tell alpha" marsadm set-link 1 "userspace/same-$h"
	if [ "$h" = bravo ]; then
		# Replay paused, the fetch goes on: the next 2 MiB arrive in the copy and stay there.
		check "pause the replay" marsadm set-link 0 resource-r0/todo-$h/allow-replay
		check "replay paused" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 0 ]"
		replayed=$(readlink $res/replay-$h | cut -d, -f2)
		copy=$res/$(readlink $res/replay-$h | cut -d, -f1)
		check "tell alpha" marsadm set-link 1 "userspace/paused-$h"
		check "alpha's new checksum arrived" wait_for 120 is_link /mars/userspace/md5b-alpha
		grown() { [ "$(stat -c %s "$copy")" -gt $((replayed + 1048576)) ]; }
		check "the copy grew by more than 1 MiB" wait_for 120 grown
		# 16 bytes in the middle of the first new MiB (a record's payload or header: either
		# way a check fails). Not a single byte: random data hold it already once in 256.
		check "damage 16 bytes of the fetched copy" sh -c "printf ZZZZZZZZZZZZZZZZ | dd of=$copy bs=1 seek=$((replayed + 524288)) conv=notrunc status=none"
		check "resume the replay" marsadm set-link 1 resource-r0/todo-$h/allow-replay
		want=$(readlink /mars/userspace/md5b-alpha)
		check "the data device again becomes byte-identical to alpha's" wait_for 240 same
		check "the kernel fetched the damaged part again" sh -c "dmesg | grep -q 'is damaged at .*fetching it again from alpha'"
		check "the replay did not stop" sh -c "! dmesg | grep -q 'replay stops'"
		check "tell alpha" marsadm set-link 1 "userspace/refetched-$h"
	fi
	check "down" marsadm down r0
	check "the data device alone holds alpha's filesystem" e2fsck -fn /dev/vda
	check "not copying any more" wait_for 20 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
	if [ "$h" = bravo ]; then
		r1=/mars/resource-r1
		r1_synced() { [ "$(readlink $r1/syncstatus-$h)" = "$(readlink $r1/size)" ]; }
		check "r1data: dm-linear over the first 4 MiB of /dev/vdc" sh -c "dmsetup create r1data --table '0 8192 linear /dev/vdc 0' && dmsetup mknodes r1data"
		check "resource r1 arrived" wait_for 120 sh -c "[ \"\$(readlink $r1/primary)\" = alpha ]"
		check "join-resource r1 /dev/mapper/r1data" marsadm join-resource r1 /dev/mapper/r1data
		check "r1 synced" wait_for 120 r1_synced
		check "grow r1data to 8 MiB online" sh -c "dmsetup reload r1data --table '0 16384 linear /dev/vdc 0' && dmsetup resume r1data"
		check "tell alpha" marsadm set-link 1 userspace/r1-joined-bravo
		check "the size of r1 grows to 8 MiB" wait_for 120 sh -c "[ \"\$(readlink $r1/size)\" = 8388608 ]"
		check "bravo syncs the new range" wait_for 120 r1_synced
		check "alpha's checksum of r1 arrived" wait_for 120 is_link /mars/userspace/md5-r1
		want_r1=$(readlink /mars/userspace/md5-r1)
		same_r1() { [ "$(device_md5 /dev/mapper/r1data 8388608)" = "$want_r1" ]; }
		check "r1 becomes byte-identical to alpha's, new range included" wait_for 240 same_r1
		check "tell alpha" marsadm set-link 1 userspace/r1-same-bravo
		# Stay until alpha has pulled that link (it pulls it from here): alpha answers, and
		# alpha checks that it saw the link. Not a check here: alpha may unload before its
		# answer reaches us.
		wait_for 120 is_link /mars/userspace/r1-seen-alpha || echo "# alpha's answer did not arrive"
	fi
fi
check "rmmod mars" rmmod mars
ktap_end
