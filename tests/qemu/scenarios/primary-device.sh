#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 900
# data-disk: 256M
# mars-disk: 512M
#
# Promise: with the production module (`modprobe mars`), `marsadm create-resource` on a
# fresh cluster makes this host a working primary without any other step: the strategy thread
# attaches the data device, starts the transaction logger and /dev/mars/<res> appears. A
# filesystem made, written and checked through it survives `secondary`/`primary`, `down`/`up`,
# a log rotation and a module reload; the indicators in actual-<host>/ follow (is-attached,
# is-primary, if-on, open-count); the device is never pulled from under its users (secondary
# and down are refused while it is mounted, and the kernel keeps it); and once the resource
# is down, the data device alone holds the same filesystem.
. /mars-tests/lib.sh
ktap_begin

h=$mars_host
res=/mars/resource-r0
dev=/dev/mars/r0
act=$res/actual-$h
is() { [ "$(readlink "$1")" = "$2" ]; }
replay_log() { readlink $res/replay-$h | cut -d, -f1; }
# write_tree DIR: a tree of files of random sizes, and their checksums in /tmp/sums.
write_tree() {
	mkdir -p "$1/a/b/c" "$1/d" || return 1
	i=0
	for f in "$1/x" "$1/a/y" "$1/a/b/z" "$1/a/b/c/w" "$1/d/v"; do
		i=$((i + 1))
		dd if=/dev/urandom of="$f" bs=4k count=$((i * 97)) 2>/dev/null || return 1
	done
	dd if=/dev/urandom of="$1/d/big" bs=1M count=24 2>/dev/null || return 1
	(cd "$1" && find . -type f | sort | xargs md5sum) > /tmp/sums
}
same_tree() { (cd "$1" && find . -type f | sort | xargs md5sum) | cmp -s - /tmp/sums; }

check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mount -t ext4 /dev/vdb /mars"
check "modprobe mars" modprobe mars
check "create-cluster" marsadm create-cluster
check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
check "/dev/mars/r0 appears" wait_for 20 test -b $dev
check "is-attached is 1" wait_for 10 is $act/is-attached 1
check "is-primary is 1" wait_for 10 is $act/is-primary 1
check "if-on is 1" wait_for 10 is $act/if-on 1
check_eq "the device has the data device's size" "$(cat /sys/block/vda/size)" "$(cat /sys/block/mars!r0/size 2>&1)"
check "the data device is held exclusively (mount fails)" sh -c '! mount -t ext4 /dev/vda /mnt 2>/dev/null'
check "marsadm view shows r0" sh -c 'marsadm view r0 | grep -q r0'

# --- a filesystem through the device --------------------------------------------------------
check "mkfs.ext4 on $dev" mkfs.ext4 -q -F $dev
check "mount $dev" sh -c "mkdir -p /mnt && mount -t ext4 $dev /mnt"
check "write a tree of files" write_tree /mnt
check "open-count is 1 while mounted" wait_for 10 is $act/open-count 1
check_fails "secondary is refused while mounted" marsadm secondary r0
check_fails "down is refused while mounted" marsadm down r0
check "the device stays" test -b $dev
check "log-rotate while mounted" marsadm log-rotate r0
dd if=/dev/urandom of=/mnt/after-rotate bs=1M count=4 2>/dev/null
check "sync" sync
check "logging moved to logfile 2" wait_for 20 sh -c "[ \"\$(readlink $res/replay-$h | cut -d, -f1)\" = log-000000002-$h ]"
(cd /mnt && find . -type f | sort | xargs md5sum) > /tmp/sums
check "umount" umount /mnt
check "fsck clean" e2fsck -fn $dev
check "open-count is 0 after umount" wait_for 10 is $act/open-count 0
check "the kernel logged the writes" sh -c "[ \$(cat $res/log-000000001-$h $res/log-000000002-$h | wc -c) -gt 30000000 ]"

# --- secondary / primary --------------------------------------------------------------------
check "secondary" marsadm secondary r0
check "the device is gone" wait_for 10 test ! -e $dev
check "is-primary is 0" wait_for 10 is $act/is-primary 0
check "still attached" is $act/is-attached 1
check "primary" marsadm primary r0
check "the device is back" wait_for 20 test -b $dev
check "mount read-only" mount -t ext4 -o ro $dev /mnt
check "same checksums" same_tree /mnt
check "umount" umount /mnt

# --- module reload --------------------------------------------------------------------------
check "rmmod mars while the device is closed" rmmod mars
check "the device is gone after rmmod" test ! -e $dev
check "modprobe mars again" modprobe mars
check "the device comes back by itself" wait_for 30 test -b $dev
check "fsck clean after reload" e2fsck -fn $dev

# --- down: the data device alone ------------------------------------------------------------
check "down" marsadm down r0
check "the device is gone after down" wait_for 10 test ! -e $dev
check "is-attached is 0" wait_for 10 is $act/is-attached 0
check "fsck of the data device alone is clean" e2fsck -fn /dev/vda
check "mount the data device alone" mount -t ext4 -o ro /dev/vda /mnt
check "the data device holds the same files" same_tree /mnt
check "umount the data device" umount /mnt
check "up" marsadm up r0
check "the device is back after up" wait_for 30 test -b $dev
ktap_end
