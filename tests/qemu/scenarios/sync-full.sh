#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 2400
# data-disk: 64M
# mars-disk: 256M
# extra-disk: 1M
# crash-boots: 1
# crash-hosts: bravo
#
# Promise: a secondary whose data device holds different data joins and ends byte-identical
# to the primary through the full sync (port 7779), and the sync survives a network cut and a
# power failure by resuming where it stopped, never from 0; fast full sync moves only what
# differs.
#
# alpha fills its disk with random data, creates r0 on it and writes a filesystem; bravo fills
# its disk with other random data and joins with the sync limited to 1 MiB/s. While the sync
# runs (replay waits for it) alpha writes more files, then cuts the network for 30 s; the
# sync continues after the cut from its persisted syncstatus; `pause-sync` stops the running
# copy (nothing copied for 5 s) and `resume-sync` continues it. Then bravo is killed (power
# failure, crash boot) in the middle of the sync; after the reboot syncstatus is still at
# least what it was 6 s before the kill (ext4 commits every 5 s) and the kernel copies only
# the rest. Parallel sockets: bravo sets sync_sockets to 3, and during the copy exactly three
# connections to alpha's port 7779 are established (/proc/net/tcp) and sync_connections says
# 3; after the reboot the sync uses the default 2, and none is left once a sync finished.
# Once synced and replayed past syncpos, bravo's device equals alpha's (checksums
# of the whole device) and `marsadm view` reports it consistent. Fast full sync: `invalidate`
# with identical devices moves (almost) no data over the wire (counter
# /proc/sys/mars/sync_data_bytes), and with three 64 KiB blocks changed on bravo moves about
# those three blocks; the devices are identical again afterwards. Digest choice: with CRC32C
# and CRC32 disabled for the network (`set-global-disabled-net-digests`, a bad list refused
# first) both ends agree on MD5 in the handshake, alpha serves MD5 digests (its
# used-net-digest) and the identical devices still move nothing; with none disabled the next
# sync uses CRC32C again.
# bravo records `marsadm events --json` in each boot (tests/qemu/guest/lib.sh, events_*): in
# the first (with --window 10: a peer counts as connected while its heartbeat is at most 20 s
# old) the stream shows the sync starting, its rate, alpha disconnected during the cut and
# connected after it, and the sync moving on; in the second the module loading, the sync
# finishing, the replica becoming consistent, and the invalidate's sync from 0 to the end.
# Ctrl-C ends each recording with exit 0.
# Sync limit: bad values of set-global-sync-limit-value are refused and change nothing; with
# the limit 1 (defaults-bravo/sync-limit) bravo joins r2, then r1 (alpha made both on 4 MiB
# loop devices of random data; the sync limited to 512 KiB/s): r1, first in name order, takes
# the slot, r2 stops unfinished and waits (msg-inf-sync-start says why, view shows it);
# sampled every 0.5 s from then on, never both sync at once, r1 syncs alone while r2 waits,
# and r2 syncs only once r1 finished; both end byte-identical to alpha's.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
mib=64
size_bytes=$((mib * 1048576))
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
peer_dev() { ip route get 10.77.0.2 | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1; }
syncstatus() { readlink "$res/syncstatus-bravo"; }
synced() { [ "$(syncstatus)" = "$(readlink $res/size)" ]; }
data_bytes() { cat /proc/sys/mars/sync_data_bytes; }
copied_bytes() { cat /proc/sys/mars/sync_copied_bytes; }
# Whether exactly $1 TCP connections to port 7779 (0x1E63) of alpha (10.77.0.1 = 01004D0A in
# /proc/net/tcp) are established.
sync_conns_are() { [ "$(awk '$3 == "01004D0A:1E63" && $4 == "01"' /proc/net/tcp | wc -l)" = "$1" ]; }

if [ "$h" = alpha ]; then
	ktap_begin
	mars_cluster_up
	check "fill alpha's disk with random data" dd if=/dev/urandom of=/dev/vda bs=1M count=$mib oflag=direct
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 30 test -b /dev/mars/r0
	check "mkfs.ext4, mount, write 8 MiB of files" sh -c "mkfs.ext4 -q -F /dev/mars/r0 && mkdir -p /mnt &&
		mount /dev/mars/r0 /mnt && dd if=/dev/urandom of=/mnt/a bs=1M count=8 2>/dev/null && sync"
	check "bravo joined" wait_for 300 is_link /mars/userspace/joined-bravo
	check "bravo asks for the network cut" wait_for 300 is_link /mars/userspace/cut-now
	dev=$(peer_dev)
	check "cut the network to bravo" /sbin/tc qdisc add dev "$dev" root netem loss 100%
	sleep 30
	check "restore the network" /sbin/tc qdisc del dev "$dev" root
	check "tell bravo" marsadm set-link 1 userspace/restored
	check "write 4 MiB more while bravo syncs" sh -c "dd if=/dev/urandom of=/mnt/b bs=1M count=4 2>/dev/null && sync"
	check "umount (quiesce)" umount /mnt
	sum=$(res_md5 /dev/mars/r0)
	echo "# alpha's device: $sum"
	check "publish the checksum" marsadm set-link "$sum" userspace/md5-alpha
	check "bravo asks for r1 and r2" wait_for 900 is_link /mars/userspace/want-r12
	check "create r1, r2 on 4 MiB loop devices of random data" sh -c "for i in 1 2; do
		dd if=/dev/urandom of=/run/r\$i.img bs=1M count=4 2>/dev/null && losetup /dev/loop\$i /run/r\$i.img &&
		marsadm create-resource r\$i /dev/loop\$i && marsadm set-link \$(md5sum < /dev/loop\$i | cut -c1-32) userspace/md5-r\$i || exit 1
	done"
	check "bravo finished" wait_for 900 is_link /mars/userspace/done-bravo
	echo "# alpha served $(cat /proc/sys/mars/sync_served_bytes) bytes of block data"
	check "rmmod mars" rmmod mars
	ktap_end
	exit
fi

# --- bravo -------------------------------------------------------------------------------
if [ "$mars_boot" = 1 ]; then
	ktap_begin
	mars_cluster_up
	check "fill bravo's disk with other random data" dd if=/dev/urandom of=/dev/vda bs=1M count=$mib oflag=direct
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "bad sync knob values are refused" sh -c "! (echo -1 > /proc/sys/mars/sync_speed_limit_kib) 2>/dev/null &&
		! (echo 0 > /proc/sys/mars/sync_parallel) 2>/dev/null && ! (echo 2 > /proc/sys/mars/do_fast_fullsync) 2>/dev/null &&
		! (echo 0 > /proc/sys/mars/sync_sockets) 2>/dev/null && ! (echo 9 > /proc/sys/mars/sync_sockets) 2>/dev/null &&
		[ \"\$(cat /proc/sys/mars/sync_speed_limit_kib) \$(cat /proc/sys/mars/sync_parallel) \$(cat /proc/sys/mars/do_fast_fullsync) \$(cat /proc/sys/mars/sync_sockets)\" = '0 4 1 2' ]"
	check "limit the sync to 1 MiB/s" write_knob sync_speed_limit_kib 1024
	check "sync over 3 connections" write_knob sync_sockets 3
	events_start sync1 --window 10
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check_eq "join asks for a full sync" 0 "$(syncstatus)"
	check "syncing" wait_for 60 sh -c "[ \"\$(readlink $res/actual-bravo/is-syncing)\" = 1 ]"
	marsadm set-link 1 userspace/joined-bravo
	check "no replay while syncing" sh -c "[ \"\$(readlink $res/actual-bravo/is-replaying)\" != 1 ]"
	check "progress is persisted in syncstatus" wait_for 200 sh -c "[ \$(readlink $res/syncstatus-bravo) -gt 0 ]"
	check "the sync holds 3 connections to alpha's port 7779" wait_for 30 sync_conns_are 3
	echo "# connections to alpha (local, remote, state):"
	awk '$3 ~ /^01004D0A:/ {print "#   " $2, $3, $4}' /proc/net/tcp
	check_eq "sync_connections says 3" 3 "$(cat /proc/sys/mars/sync_connections)"
	s1=$(syncstatus)
	echo "# syncstatus before the cut: $s1"
	marsadm set-link 1 userspace/cut-now
	check "the network is back" wait_for 300 is_link /mars/userspace/restored
	check "the sync goes on after the cut, from where it was" wait_for 300 sh -c "[ \$(readlink $res/syncstatus-bravo) -gt $s1 ]"
	dmesg | grep -E "sync: .*retrying" | tail -3 | sed 's/^/# /'
	# (The sync may have passed a window between s1 and the cut: its stream must show it move
	# after the reconnection, the next window at most.)
	events_wait sync1 120 "the sync starts with a rate, goes on after the reconnection" \
		"type=resource name=r0 repl=Syncing" "type=sync resource=r0 rate=*" \
		"type=peer name=alpha connection=disconnected" "type=peer name=alpha connection=connected" \
		"type=sync resource=r0 bytes=*"
	# pause-sync / resume-sync of a running sync: the copy stands still, then goes on.
	check "pause-sync r0 (the sync is running)" marsadm pause-sync r0
	check_eq "paused: is-syncing is 0" 0 "$(readlink $res/actual-bravo/is-syncing)"
	p1=$(copied_bytes)
	sleep 5
	check_eq "paused: nothing copied in 5 s" "$p1" "$(copied_bytes)"
	check "resume-sync r0" marsadm resume-sync r0
	check "the copy goes on after resume-sync" wait_for 60 sh -c "[ \$(cat /proc/sys/mars/sync_copied_bytes) -gt $p1 ]"
	s2=$(syncstatus)
	echo "# syncstatus after the cut: $s2"
	check "still syncing before the power failure" test "$s2" -lt "$size_bytes"
	# Where the sync was, for the next boot, on a disk of the test's own.
	check "note it" sh -c "printf '%s\\n' $s2 | dd of=/dev/vdc bs=512 count=1 conv=sync,fsync"
	events_stop sync1
	sleep 6
	echo "# power failure at syncstatus $(syncstatus)"
	ktap_end
	echo "MARS-KILL-ME"
	sleep 3600
fi

ktap_begin
check "mount /mars after the power failure" sh -c "mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
s2=$(dd if=/dev/vdc bs=512 count=1 2>/dev/null | tr -d '\0' | head -1)
s3=$(syncstatus)
echo "# syncstatus noted before the power failure: $s2; after: $s3"
check "syncstatus survived the power failure (resume, not restart)" test "$s3" -gt 0 -a "$s3" -ge "$s2"
events_start sync2
check "modprobe mars" modprobe mars
check "the sync resumes and finishes" wait_for 400 synced
copied=$(dmesg | sed -n 's/.*r0: sync: copy of \([0-9]*\) bytes finished.*/\1/p' | tail -1)
echo "# this boot copied $copied bytes of $size_bytes"
check "it copied only the rest" test -n "$copied" -a "$copied" -le $((size_bytes - s3 + 16777216)) -a "$copied" -lt "$size_bytes"
dmesg | grep "r0: sync: connected to" | sed 's/^/# /'
check "after the reboot it synced over the default 2 connections" sh -c "dmesg | grep -q 'r0: sync: connected to alpha over 2 connections'"
check_eq "no sync connection left after the sync" 0 "$(cat /proc/sys/mars/sync_connections)"
check "syncpos recorded" is_link $res/syncpos-bravo
echo "# syncpos-bravo: $(readlink $res/syncpos-bravo)"
check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
want=$(readlink /mars/userspace/md5-alpha)
same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
check "bravo's device becomes byte-identical to alpha's" wait_for 300 same
check "marsadm view: consistent" wait_for 120 sh -c "marsadm view r0 --json | grep -q '\"consistent\": true'"
marsadm view r0 | sed 's/^/# /'

# --- fast full sync ------------------------------------------------------------------------
check "no sync limit" write_knob sync_speed_limit_kib 0
check "set-global-disabled-net-digests with a bad name is refused, no link written" \
	sh -c "! marsadm set-global-disabled-net-digests CHKSUM_CRC64 && test ! -e /mars/defaults/disabled-net-digests"
# (Not CRC32 alone: the kernel's CRC32 of a zero block is 0, and an all-zero digest is never
# trusted, so its zero blocks would be rewritten.)
check "set-global-disabled-net-digests 'CHKSUM_CRC32C|CHKSUM_CRC32'" marsadm set-global-disabled-net-digests "CHKSUM_CRC32C|CHKSUM_CRC32"
check_eq "defaults/disabled-net-digests as the original writes it" 0x000c0000 "$(readlink /mars/defaults/disabled-net-digests)"
check "the kernel takes it up" wait_for 20 sh -c "dmesg | grep 'digests: disabled' | tail -1 | grep -q 'for the network 0x000c'"
d0=$(data_bytes) c0=$(copied_bytes) s0=$(cat /proc/sys/mars/sync_sum_bytes)
check "invalidate with identical devices" marsadm invalidate r0
check "the sync finishes" wait_for 300 synced
dmesg | grep "r0: sync: connected to" | tail -1 | sed 's/^/# /'
check "both ends agreed on MD5 (CRC32C and CRC32 disabled)" sh -c "dmesg | grep 'r0: sync: connected to' | tail -1 | grep -q 'block digest md5,'"
check "bravo's used-net-digest names MD5" wait_for 20 sh -c "[ \"\$(readlink /mars/actual-bravo/used-net-digest)\" = 131072 ]"
check "alpha served MD5 digests (its used-net-digest)" wait_for 30 sh -c "[ \"\$(readlink /mars/actual-alpha/used-net-digest)\" = 131072 ]"
check_eq "view-used-net-digest shows it" CHKSUM_MD5 "$(marsadm view-used-net-digest r0)"
events_stop sync2
events_expect sync2 "the module loads, the sync finishes, consistent; invalidate syncs from 0 to the end" \
	"type=host name=bravo module=loaded" "type=sync resource=r0 percent=100.0" \
	"type=resource name=r0 consistent=yes" "type=sync resource=r0 bytes=0" "type=sync resource=r0 percent=100.0"
d1=$(data_bytes) c1=$(copied_bytes) s1=$(cat /proc/sys/mars/sync_sum_bytes)
echo "# fast full sync of identical devices ($size_bytes bytes): $((d1 - d0)) data bytes and $((s1 - s0)) checksum bytes received, $((c1 - c0)) bytes written"
check "identical devices: (almost) nothing moved" test $((d1 - d0)) -le 65536 -a $((c1 - c0)) -le 65536 -a $((s1 - s0)) -gt 0
check "set-global-disabled-net-digests '' (none)" marsadm set-global-disabled-net-digests ""
check "the kernel takes it up" wait_for 20 sh -c "dmesg | grep 'digests: disabled' | tail -1 | grep -q 'for the network 0x0000'"
check "down, change three 64 KiB blocks, invalidate, up" sh -c "marsadm down r0 &&
	for off in 16 272 640; do dd if=/dev/urandom of=/dev/vda bs=64k count=1 seek=\$off oflag=direct 2>/dev/null || exit 1; done &&
	marsadm invalidate r0 && marsadm up r0"
check "the sync finishes" wait_for 300 synced
check "with none disabled: CRC32C" sh -c "dmesg | grep 'r0: sync: connected to' | tail -1 | grep -q 'block digest crc32c,'"
d2=$(data_bytes) c2=$(copied_bytes)
echo "# fast full sync with 3 changed 64 KiB blocks: $((d2 - d1)) data bytes received, $((c2 - c1)) bytes written"
check "three changed blocks: about three blocks moved" test $((c2 - c1)) -ge 196608 -a $((c2 - c1)) -le 393216 -a $((d2 - d1)) -le $((c2 - c1))
check "identical again" wait_for 300 same

# --- sync limit ----------------------------------------------------------------------------
rl() { readlink "/mars/resource-$1/$2"; }
marsadm set-link 1 userspace/want-r12
check "r1 and r2 arrived" wait_for 120 sh -c "[ \"\$(readlink /mars/resource-r1/primary)\" = alpha ] &&
	[ \"\$(readlink /mars/resource-r2/primary)\" = alpha ]"
check "bad sync limits are refused, nothing written" sh -c "for v in -1 4097 abc 0x1 1,2 ''; do
	! marsadm set-global-sync-limit-value \"\$v\" 2>/dev/null || exit 1; done &&
	[ \"\$(readlink /mars/defaults-bravo/sync-limit)\" = 0 ]"
check "set-global-sync-limit-value 1" marsadm set-global-sync-limit-value 1
check_eq "get-global-sync-limit-value" 1 "$(marsadm get-global-sync-limit-value)"
check "limit the sync to 512 KiB/s" write_knob sync_speed_limit_kib 512
check "4 MiB loop devices of zeros" sh -c "for i in 1 2; do truncate -s 4M /run/r\$i.img && losetup /dev/loop\$i /run/r\$i.img || exit 1; done"
check "join-resource r2" marsadm join-resource r2 /dev/loop2
check "r2 syncs" wait_for 60 sh -c "[ \"\$(readlink /mars/resource-r2/actual-bravo/is-syncing)\" = 1 ]"
check "join-resource r1" marsadm join-resource r1 /dev/loop1
check "r1 syncs (first in name order)" wait_for 30 sh -c "[ \"\$(readlink /mars/resource-r1/actual-bravo/is-syncing)\" = 1 ]"
size1=$(rl r1 size) size2=$(rl r2 size)
check "r2 stops and waits, unfinished" wait_for 30 sh -c "[ \"\$(readlink /mars/resource-r2/actual-bravo/is-syncing)\" = 0 ] &&
	[ \"\$(readlink /mars/resource-r2/syncstatus-bravo)\" -lt $size2 ]"
check "r2's msg-inf-sync-start says why" wait_for 10 sh -c \
	"readlink /mars/resource-r2/actual-bravo/msg-inf-sync-start | grep -q 'do not start sync due to global synclimit 1'"
check "view r2 shows it" sh -c "marsadm view r2 | grep -q 'msg-inf-sync-start: .*global synclimit 1'"
bad=0 n=0 alone=0 after=0
while [ $n -lt 600 ]; do
	a=$(rl r1 actual-bravo/is-syncing) b=$(rl r2 actual-bravo/is-syncing) d1=$(rl r1 syncstatus-bravo) d2=$(rl r2 syncstatus-bravo)
	if [ "$a$b" = 11 ]; then bad=$((bad + 1)); echo "# sample $n: r1 and r2 sync at once"; fi
	if [ "$b" = 1 ] && [ "$d1" != "$size1" ]; then bad=$((bad + 1)); echo "# sample $n: r2 syncs, r1 at $d1 of $size1"; fi
	[ "$a$b" = 10 ] && [ "$d2" -lt "$size2" ] && alone=$((alone + 1))
	[ "$b" = 1 ] && [ "$d1" = "$size1" ] && after=$((after + 1))
	[ "$d1" = "$size1" ] && [ "$d2" = "$size2" ] && break
	n=$((n + 1))
	sleep 0.5
done
echo "# $n samples until both synced: r1 syncing while r2 waited in $alone, r2 syncing after r1 finished in $after"
check_eq "limit 1: never two syncs at once, r2 only after r1 finished" 0 "$bad"
check "r1 synced alone while r2 waited, then r2 synced" test "$alone" -gt 0 -a "$after" -gt 0
check "both synced" test "$(rl r1 syncstatus-bravo) $(rl r2 syncstatus-bravo)" = "$size1 $size2"
check "r2's message is OK again" wait_for 10 sh -c "[ \"\$(readlink /mars/resource-r2/actual-bravo/msg-inf-sync-start)\" = OK ]"
check "r1 and r2 byte-identical to alpha's" wait_for 60 sh -c "for i in 1 2; do
	[ \"\$(md5sum < /dev/loop\$i | cut -c1-32)\" = \"\$(readlink /mars/userspace/md5-r\$i)\" ] || exit 1; done"
check "set-global-sync-limit-value 0, no speed limit" sh -c "marsadm set-global-sync-limit-value 0 &&
	echo 0 > /proc/sys/mars/sync_speed_limit_kib"
marsadm set-link 1 userspace/done-bravo
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
