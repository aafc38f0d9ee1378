#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 900
# data-disk: 256M
# mars-disk: 512M
#
# Promise: a secondary replays the primary's logfiles onto its own data device, in order and
# across logfile switches, and ends byte-identical to the primary's device; its version links
# equal the primary's once a logfile is replayed completely; `join-resource` refuses bad
# input and changes nothing then. With log compression enabled part of the time
# (`set-global-enabled-log-compressions`: LZO, then zlib), the logfiles mix plain and
# compressed records, and the secondary replays them all byte-identically.
#
# Until log shipping exists, one guest plays both hosts on one /mars: as "alpha" it is the
# primary of r0 on the first half of the data disk (dm-linear), writes a filesystem with a
# logfile switch in between and unloads the module; then it renames itself "bravo", reloads
# the module and joins r0 with the second half, as if the logfiles had been fetched.
. /mars-tests/lib.sh
ktap_begin

res=/mars/resource-r0
half=$(($(cat /sys/block/vda/size) / 2))
is() { [ "$(readlink "$1")" = "$2" ]; }
# unchanged COMMAND...: the command fails and /mars is the same before and after.
unchanged() {
	before=$(find /mars | sort | xargs stat -c '%n %s %y %N' | grep -v -e /actual-)
	"$@" && return 1
	after=$(find /mars | sort | xargs stat -c '%n %s %y %N' | grep -v -e /actual-)
	[ "$before" = "$after" ]
}

check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mount -t ext4 /dev/vdb /mars"
check "split the data disk into two halves" sh -c "
	echo '0 $half linear /dev/vda 0' | dmsetup create a &&
	echo '0 $half linear /dev/vda $half' | dmsetup create b && dmsetup mknodes"
check "hostname alpha" hostname alpha
check "modprobe mars" modprobe mars
check "create-cluster" marsadm create-cluster
check "create-resource r0 /dev/mapper/a" marsadm create-resource r0 /dev/mapper/a
check "/dev/mars/r0 appears" wait_for 20 test -b /dev/mars/r0
check "mkfs.ext4 on /dev/mars/r0 and mount" sh -c "mkfs.ext4 -q -F /dev/mars/r0 && mkdir -p /mnt && mount /dev/mars/r0 /mnt"
check "write 20 MiB of files" sh -c "for i in 1 2 3 4; do dd if=/dev/urandom of=/mnt/f\$i bs=1M count=5 2>/dev/null || exit 1; done; sync"
# Log compression (the original's command and link): LZO for the rest of logfile 1, zlib in
# logfile 2; the random files do not compress, so both logfiles mix plain and compressed
# records. Bad feature lists and knob values are refused and change nothing.
# (The logger is running: only the link itself can be checked to be unchanged.)
check "set-global-enabled-log-compressions with an unknown name is refused, no link written" \
	sh -c "! marsadm set-global-enabled-log-compressions COMPRESS_LZ5 && test ! -e /mars/defaults/enabled-log-compressions"
check "set-global-enabled-log-compressions with a digest is refused, no link written" \
	sh -c "! marsadm set-global-enabled-log-compressions CHKSUM_CRC32C && test ! -e /mars/defaults/enabled-log-compressions"
check_fails "logger_allow_compress refuses 2" sh -c "echo 2 > /proc/sys/mars/logger_allow_compress"
check_eq "logger_allow_compress is still 1" 1 "$(cat /proc/sys/mars/logger_allow_compress)"
check "set-global-enabled-log-compressions COMPRESS_LZO" marsadm set-global-enabled-log-compressions COMPRESS_LZO
check_eq "defaults/enabled-log-compressions as the original writes it" 0x01000000 "$(readlink /mars/defaults/enabled-log-compressions)"
check "the kernel takes it up" wait_for 20 sh -c "dmesg | grep -q 'log compression: enabled 0x0100'"
seq 1 400000 > /tmp/text
check "write 2.6 MiB of text" sh -c "cp /tmp/text /mnt/t1 && sync"
check "used-log-compression names LZO" wait_for 20 is /mars/actual-alpha/used-log-compression 16777216
check_eq "view-used-log-compression shows it" COMPRESS_LZO "$(marsadm view-used-log-compression r0)"
check "log-rotate" marsadm log-rotate r0
check "set-global-enabled-log-compressions COMPRESS_ZLIB" marsadm set-global-enabled-log-compressions COMPRESS_ZLIB
check "the kernel takes it up" wait_for 20 sh -c "dmesg | grep -q 'log compression: enabled 0x0400'"
check "write 12 MiB more after the switch" sh -c "for i in 5 6 7; do dd if=/dev/urandom of=/mnt/f\$i bs=1M count=4 2>/dev/null || exit 1; done; sync"
check "write the text again" sh -c "cp /tmp/text /mnt/t2 && sync"
check "used-log-compression names zlib" wait_for 20 is /mars/actual-alpha/used-log-compression 67108864
check "logging moved to logfile 2" wait_for 20 sh -c "readlink $res/replay-alpha | grep -q '^log-000000002-alpha,'"
(cd /mnt && md5sum f*) > /tmp/sums
check "umount" umount /mnt
check "rmmod mars (alpha writes everything back)" rmmod mars
check "logfile 1 holds plain and LZO records, logfile 2 plain and zlib ones, all readable" sh -c "
	marsadm log-dump $res/log-000000001-alpha > /tmp/d1; marsadm log-dump $res/log-000000002-alpha > /tmp/d2
	tail -1 /tmp/d1 | grep -q ' 0 defects' && tail -1 /tmp/d2 | grep -q ' 0 defects' &&
	grep -q ' lzo ' /tmp/d1 && grep -q ' - ' /tmp/d1 && grep -q ' zlib ' /tmp/d2 && grep -q ' - ' /tmp/d2"
echo "# logfile 1: $(grep -c ' lzo ' /tmp/d1) LZO records of $(grep -c ' new ' /tmp/d1); logfile 2: $(grep -c ' zlib ' /tmp/d2) zlib records of $(grep -c ' new ' /tmp/d2)"
check "alpha's version link of logfile 2 names its end" sh -c "
	size=\$(stat -c %s $res/log-000000002-alpha)
	readlink $res/version-000000002-alpha | grep -q \",log-000000002-alpha,\$size:\""

# --- bravo ---------------------------------------------------------------------------------
check "hostname bravo" hostname bravo
check "modprobe mars as bravo" modprobe mars
check "join-resource of an unknown resource is refused, nothing changes" unchanged marsadm join-resource r9 /dev/mapper/b
check "join-resource with a missing device is refused, nothing changes" unchanged marsadm join-resource r0 /dev/nonexistent
check "hold /dev/mapper/b by another device-mapper device" sh -c "echo '0 8 linear /dev/mapper/b 0' | dmsetup create c && dmsetup mknodes c"
check "join-resource with a device in use is refused, nothing changes" unchanged marsadm join-resource r0 /dev/mapper/b
check "release it" dmsetup remove c
check "join-resource with a bad name is refused, nothing changes" unchanged marsadm join-resource bad.name /dev/mapper/b
check "join-resource r0 /dev/mapper/b" marsadm join-resource r0 /dev/mapper/b
# No full sync here (alpha is gone); both halves started zeroed, so declare the sync done.
check "declare the sync done (both halves started zeroed)" marsadm set-link "$(readlink $res/size)" resource-r0/syncstatus-bravo
check "bravo attaches" wait_for 20 is $res/actual-bravo/is-attached 1
check "bravo replays" wait_for 20 is $res/actual-bravo/is-replaying 1
check "bravo is no primary (no device)" sh -c "is() { [ \"\$(readlink \"\$1\")\" = \"\$2\" ]; }; is $res/actual-bravo/is-primary 0 && test ! -e /dev/mars/r0"
final=$(readlink $res/version-000000002-alpha)
check "bravo replays logfile 2 to its end" wait_for 120 sh -c "
	readlink $res/replay-bravo | grep -q \"^log-000000002-alpha,\$(stat -c %s $res/log-000000002-alpha),\""
check_eq "bravo's version link of logfile 1 equals alpha's" "$(readlink $res/version-000000001-alpha)" "$(readlink $res/version-000000001-bravo)"
check_eq "bravo's version link of logfile 2 equals alpha's" "$final" "$(readlink $res/version-000000002-bravo)"
check "the two halves are byte-identical" cmp /dev/mapper/a /dev/mapper/b
check "down" marsadm down r0
check "is-replaying is 0" wait_for 10 is $res/actual-bravo/is-replaying 0
check "bravo's device alone is a clean filesystem" e2fsck -fn /dev/mapper/b
check "with alpha's files" sh -c "mount -o ro /dev/mapper/b /mnt && cd /mnt && md5sum -c /tmp/sums && cd / && umount /mnt"
check "rmmod mars" rmmod mars
ktap_end
