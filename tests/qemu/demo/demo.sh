#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 900
# data-disk: 128M
# mars-disk: 512M
# output: text
#
# The demo (make demo): two MARS hosts on a private network. alpha creates a cluster and a
# resource, bravo joins both (a fast full sync finds the fresh disks equal); alpha puts a
# filesystem on /dev/mars/demo and writes files; bravo fetches the logfiles over port 7778
# and replays them; then the primary role moves to
# bravo (planned handover), which mounts the filesystem and finds alpha's files. Both data
# devices end byte-identical. Every step prints what it does.
. /mars-tests/lib.sh
h=$mars_host
res=/mars/resource-demo
say() { echo "[$h] $*"; }
wait_link() { wait_for "$1" is_link "$2"; }
fail() { say "FAILED: $*"; exit 1; }
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }

say "kernel $(uname -r); /mars on /dev/vdb, data on /dev/vda"
mkfs.ext4 -q -F /dev/vdb && mount -t ext4 /dev/vdb /mars && chmod 0700 /mars || fail "mount /mars"
modprobe mars || fail "modprobe mars"
say "$(cat /proc/sys/mars/version); knobs: $(ls /proc/sys/mars | tr '\n' ' ')"
if [ "$h" = alpha ]; then
	say "marsadm create-cluster"; marsadm create-cluster --secret-file="$MARS_SECRET_FILE" >/dev/null || fail "create-cluster"
	say "marsadm create-resource demo /dev/vda"; marsadm create-resource demo /dev/vda >/dev/null || fail "create-resource"
	wait_for 30 test -b /dev/mars/demo || fail "no /dev/mars/demo"
	say "/dev/mars/demo is here; waiting for bravo to join"
	wait_link 300 /mars/userspace/joined-bravo || fail "bravo did not join"
	say "mkfs.ext4 /dev/mars/demo, mount, write 8 files of 1 MiB"
	mkfs.ext4 -q -F /dev/mars/demo && mkdir -p /mnt && mount /dev/mars/demo /mnt || fail "mkfs/mount"
	for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom of=/mnt/file$i bs=1M count=1 2>/dev/null; done
	(cd /mnt && md5sum file*) > /mnt/SUMS
	umount /mnt
	say "unmounted; logfiles: $(cd $res && ls log-* | tr '\n' ' ')"
	marsadm view demo | sed "s/^/[$h]   /"
	marsadm set-link 1 userspace/written
	say "waiting for bravo to take over"
	wait_link 600 /mars/userspace/took-over || fail "bravo did not take over"
	say "now secondary: $(marsadm view demo | head -1)"
	want=$(readlink /mars/userspace/md5-bravo)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	wait_for 300 same || fail "alpha's disk differs from bravo's"
	say "alpha's data device is byte-identical to bravo's ($want)"
	marsadm set-link 1 userspace/alpha-done
else
	wait_reachable alpha 60 || fail "alpha unreachable"
	# Refused (nothing changed) until alpha's module listens: try again.
	say "marsadm join-cluster alpha"; wait_for 120 marsadm join-cluster alpha --timeout 120 --secret-file="$MARS_SECRET_FILE" || fail "join-cluster"
	wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]" || fail "resource demo did not arrive"
	say "marsadm join-resource demo /dev/vda"
	out=$(marsadm join-resource demo /dev/vda 2>&1) || fail "join-resource: $out"
	echo "$out" | sed "s/^/[$h]   /"
	wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]" || fail "the full sync did not finish"
	say "full sync finished: $(cat /proc/sys/mars/sync_data_bytes) data bytes, $(cat /proc/sys/mars/sync_sum_bytes) checksum bytes received"
	marsadm set-link 1 userspace/joined-bravo
	wait_link 600 /mars/userspace/written || fail "alpha did not write"
	say "alpha wrote its files; fetching and replaying"
	marsadm view demo | sed "s/^/[$h]   /"
	say "marsadm primary demo (planned handover)"
	out=$(marsadm primary demo --timeout 300 2>&1) || fail "handover: $out"
	echo "$out" | sed "s/^/[$h]   /"
	wait_for 30 test -b /dev/mars/demo || fail "no /dev/mars/demo on bravo"
	mkdir -p /mnt && mount /dev/mars/demo /mnt || fail "mount on bravo"
	(cd /mnt && md5sum -c SUMS) | sed "s/^/[$h]   /"
	(cd /mnt && md5sum -c SUMS >/dev/null) || fail "files differ on bravo"
	say "all of alpha's files are intact on bravo"
	umount /mnt
	marsadm view demo | sed "s/^/[$h]   /"
	marsadm set-link "$(res_md5 /dev/mars/demo)" userspace/md5-bravo
	marsadm set-link 1 userspace/took-over
	wait_link 600 /mars/userspace/alpha-done || fail "alpha did not finish"
fi
sleep 5
rmmod mars && say "module unloaded cleanly"
