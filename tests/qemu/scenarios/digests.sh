#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 400
# data-disk: 32M
#
# Promise: mars.ko computes the same log digests as userspace and reads and writes the same
# records. At every load the module checks its kernel-side digests (lib crc32c and crc32_le,
# crypto md5 and sha1) and LZO, LZ4 and zlib (compression and decompression) against core/testdata/digest_vectors.txt, the file the
# userspace tests check mars-host against, with the same checker; it refuses to load on any
# mismatch and reports the count when all agree. The counts here follow the vector file
# (tools/mars-host/tests/vector_checker.rs asserts them on the host side).
#
# Digest choice (issue 17): the log writer takes the first of CRC32C, CRC32, MD5, SHA1 the
# cluster offers and `set-global-disabled-log-digests` does not disable, plain MD5 (MD5_OLD)
# when all four are; bad lists are refused and write nothing. One guest plays both hosts (as
# replay-secondary.sh): as "alpha" the primary of r0 on the first half of the data disk
# (dm-linear) writes 1 MiB under each of five settings, and the records of its logfile carry
# crc32c, crc32, md5, sha1, md5old in that order (`marsadm log-dump`); `actual-alpha/` shows
# `features`, `usable` and `used-log-digest` as the original writes them. Then as "bravo" it
# joins r0 with the second half and replays the logfile: both halves byte-identical.
. /mars-tests/lib.sh
ktap_begin

expected='mars: self-test: 47 digest vectors and records agree with userspace$'

uptime_cs() { read -r up _ < /proc/uptime; echo "${up%.*}${up#*.}"; }
t0=$(uptime_cs)
check "modprobe mars" modprobe mars
t1=$(uptime_cs)
echo "# modprobe mars took about $(( (t1 - t0) * 10 )) ms"
dmesg | grep 'mars: self-test' | sed 's/^/# /'

check_eq "self-test checked every vector" 1 "$(dmesg | grep -c "$expected")"
check_fails "every digest algorithm is available" sh -c 'dmesg | grep -Eq "mars: digest .* unavailable|skipped \(algorithm unavailable\)"'
check_fails "no self-test error" sh -c 'dmesg | grep -q "mars: self-test: .*line [0-9]*:"'
check "rmmod mars" rmmod mars
modprobe mars
check_eq "the self-test runs at every load" 2 "$(dmesg | grep -c "$expected")"
rmmod mars

# --- digest choice -------------------------------------------------------------------------
res=/mars/resource-r0
half=$(($(cat /sys/block/vda/size) / 2))
is() { [ "$(readlink "$1")" = "$2" ]; }
check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
check "split the data disk into two halves" sh -c "
	echo '0 $half linear /dev/vda 0' | dmsetup create a &&
	echo '0 $half linear /dev/vda $half' | dmsetup create b && dmsetup mknodes"
check "hostname alpha" hostname alpha
check "modprobe mars" modprobe mars
check "create-cluster" marsadm create-cluster
check "create-resource r0 /dev/mapper/a" marsadm create-resource r0 /dev/mapper/a
check "/dev/mars/r0 appears" wait_for 20 test -b /dev/mars/r0
check "features: what this kernel offers, as the original writes it" wait_for 20 is /mars/actual-alpha/features 4,5,0x071f0000
check "usable: the same in a cluster of one" wait_for 20 is /mars/actual-alpha/usable 4,5,0x071f0000
for bad in CHKSUM_CRC64 crc32c 0x00040000 "CHKSUM_CRC32|COMPRESS_LZ4"; do
	check "set-global-disabled-log-digests '$bad' is refused, no link written" \
		sh -c "! marsadm set-global-disabled-log-digests '$bad' && test ! -e /mars/defaults/disabled-log-digests"
done
# One MiB under each setting: offset in MiB, the disabled list, its bits as the kernel logs
# them, the digest that follows and its mref flag in decimal.
while read -r mib list bits algo flag <&3; do
	if [ "$list" != - ]; then
		check "set-global-disabled-log-digests '$list'" marsadm set-global-disabled-log-digests "$list"
		check "the kernel takes it up ($bits)" wait_for 20 sh -c "dmesg | grep -q 'digests: disabled for logs $bits,'"
	fi
	check "write 1 MiB at $mib MiB" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=1 seek="$mib" oflag=direct
	check "used-log-digest names $algo ($flag)" wait_for 20 is /mars/actual-alpha/used-log-digest "$flag"
done 3<<EOF
0 - - crc32c 262144
1 CHKSUM_CRC32C 0x0004 crc32 524288
2 CHKSUM_CRC32C|CHKSUM_CRC32 0x000c md5 131072
3 CHKSUM_CRC32C|CHKSUM_CRC32|CHKSUM_MD5 0x000e sha1 1048576
4 CHKSUM_CRC32C|CHKSUM_CRC32|CHKSUM_MD5|CHKSUM_SHA1 0x001e md5old 65536
EOF
check_eq "defaults/disabled-log-digests as the original writes it" 0x001e0000 "$(readlink /mars/defaults/disabled-log-digests)"
check_eq "view-used-log-digest shows it" CHKSUM_MD5_OLD "$(marsadm view-used-log-digest r0)"
marsadm view r0 | sed 's/^/# /'
check "rmmod mars (alpha writes everything back)" rmmod mars
marsadm log-dump $res/log-000000001-alpha > /tmp/dump
tail -1 /tmp/dump | sed 's/^/# /'
seqs=$(awk '$6 == "new" { print $8 }' /tmp/dump | uniq | tr '\n' ' ')
echo "# record digests in log order: $seqs"
check "logfile 1 reads without a defect" sh -c "tail -1 /tmp/dump | grep -q ' 0 defects'"
check_eq "its records carry crc32c, crc32, md5, sha1, md5old in that order" "crc32c crc32 md5 sha1 md5old " "$seqs"

check "hostname bravo" hostname bravo
check "modprobe mars as bravo" modprobe mars
check "join-resource r0 /dev/mapper/b" marsadm join-resource r0 /dev/mapper/b
# No full sync here (alpha is gone); both halves started zeroed, so declare the sync done.
check "declare the sync done (both halves started zeroed)" marsadm set-link "$(readlink $res/size)" resource-r0/syncstatus-bravo
check "bravo replays logfile 1 to its end" wait_for 120 sh -c "
	readlink $res/replay-bravo | grep -q \"^log-000000001-alpha,\$(stat -c %s $res/log-000000001-alpha),\""
check "the two halves are byte-identical" cmp /dev/mapper/a /dev/mapper/b
check "rmmod mars" rmmod mars

ktap_end
