#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 900
# data-disk: 128M
# mars-disk: 512M
#
# Promise: create-cluster on alpha, join-cluster on the others, create-resource on alpha and
# join-resource on the others (fresh zeroed disks) make a replicating cluster: a filesystem
# written through /dev/mars/r0 on alpha, with a logfile switch in between, arrives on every
# secondary's data device byte-identical once quiesced (checksums of the whole device
# compared), without any further operator action; the secondaries fetched the logfiles over
# port 7778, replayed them, and their version links equal alpha's. (replicate-basic runs the
# same with two hosts.)
. /mars-tests/lib.sh

h=$mars_host
all=$(echo alpha bravo charlie delta | cut -d' ' -f1-"$mars_nguests")
others=$(for x in $all; do [ "$x" != "$h" ] && echo "$x"; done)
secondaries=$(for x in $all; do [ "$x" != alpha ] && echo "$x"; done)
res=/mars/resource-r0
nsec=$(echo $secondaries | wc -w)
if [ "$h" = alpha ]; then ktap_begin $((16 + nsec)); else ktap_begin 20; fi

wait_for() {
	n=$(($1 * 5)); shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2; n=$((n - 1))
	done
	"$@"
}
is_link() { [ -L "$1" ] && [ "$(readlink "$1")" != .deleted ]; }
all_ips_here() { for x in $all; do is_link "/mars/ips/ip-$x" || return 1; done; }
all_joined() { for x in $secondaries; do is_link "/mars/userspace/joined-$x" || return 1; done; }
size() { readlink $res/size; }
# device_md5 DEV: checksum of the resource's size bytes of DEV, read past the page cache.
device_md5() { dd if="$1" bs=1M count=$(($(size) / 1048576)) iflag=direct 2>/dev/null | md5sum | cut -c1-32; }

check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mount -t ext4 /dev/vdb /mars"
check "modprobe mars" modprobe mars
if [ "$h" = alpha ]; then
	check "create-cluster" marsadm create-cluster
else
	wait_reachable alpha 60
	check "join-cluster alpha" marsadm join-cluster alpha --timeout 120
fi
check "every member is known" wait_for 90 all_ips_here

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
	sum=$(device_md5 /dev/mars/r0)
	echo "# alpha's device: $sum"
	check "publish the checksum" marsadm set-link "$sum" userspace/md5-alpha
	check "logging moved to logfile 2" sh -c "readlink $res/replay-alpha | grep -q '^log-000000002-alpha,'"
	for x in $secondaries; do
		check "$x reports the same data" wait_for 300 is_link "/mars/userspace/same-$x"
	done
	check "still primary" test -b /dev/mars/r0
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "attached" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-attached)\" = 1 ]"
	check "replaying" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	check "fetching" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 1 ]"
	check "tell alpha" marsadm set-link 1 "userspace/joined-$h"
	check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
	want=$(readlink /mars/userspace/md5-alpha)
	check "logfile 2 of alpha was fetched" wait_for 120 test -s $res/log-000000002-alpha
	# Poll the checksum of the data device until it matches (replay may still be running).
	same() { [ "$(device_md5 /dev/vda)" = "$want" ]; }
	check "the data device becomes byte-identical to alpha's device" wait_for 240 same
	check_eq "version link of logfile 1 equals alpha's" "$(readlink $res/version-000000001-alpha)" "$(readlink $res/version-000000001-$h)"
	check "replay reached logfile 2" sh -c "readlink $res/replay-$h | grep -q '^log-000000002-alpha,'"
	check "tell alpha" marsadm set-link 1 "userspace/same-$h"
	check "down" marsadm down r0
	check "the data device alone holds alpha's filesystem" e2fsck -fn /dev/vda
	check "not copying any more" wait_for 20 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
fi
check "rmmod mars" rmmod mars
ktap_end
