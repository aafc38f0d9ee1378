#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1800
# data-disk: 256M
# mars-disk: 512M
# crash-boots: 1
#
# Promise: a power failure (QEMU killed with SIGKILL) loses no write the transaction logger
# acknowledged as durable. Boot 1 logs 4 MiB of direct writes and an fsync with writeback stopped,
# so they exist only in the logfile, keeps more writes in flight, and is killed. Boot 2
# recovers: the replay link still names logfile 1 at position 0, recovery replays it onto the
# data device (stopping cleanly at a torn tail, if the kill left one), the data device then
# holds every acknowledged write, and logging continues in a fresh logfile 2. Then a logfile
# with compressed records (LZO, LZ4, zlib), as the original writes them, is recovered as well.
. /mars-tests/lib.sh

hook=/proc/sys/mars/test_logger
name=lg
dev=/dev/mars/$name
res=/mars/resource-$name
host=$(hostname)

hook_write() { printf '%s\n' "$1" | dd of="$hook" bs=4096 2>&1; }
stat_of() { awk -v n="$name" -v k="$1" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$hook"; }
log_file() { echo "$res/log-$(printf %09d "$1")-$host"; }
# same_on_data_device OFFSET_BLOCKS FILE: the data device holds FILE at OFFSET (4 KiB blocks).
same_on_data_device() {
	n=$(($(stat -c %s "$2") / 4096))
	dd if=/dev/vda of=/tmp/vda.out bs=4096 skip="$1" count="$n" iflag=direct 2>/dev/null && cmp -s /tmp/vda.out "$2"
}
# clean_or_torn FILE: log-dump finds no defect, or exactly one: a truncated last record or
# a torn last write.
clean_or_torn() {
	summary=$(marsadm log-dump "$1" | tail -1)
	echo "$summary"
	case "$summary" in
	*" 0 warnings, 0 defects") return 0 ;;
	*" 0 warnings, 1 defects; first defect at offset "*": truncated") return 0 ;;
	# The log writer writes zeros ahead of its records: a torn last write before them.
	*" 0 warnings, 1 defects; first defect at offset "*": torn-tail") return 0 ;;
	*) return 1 ;;
	esac
}

if [ "$mars_boot" = 1 ]; then
	ktap_begin
	check "load the MARS_TESTING build" insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
	check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars && mkdir $res"
	check "create $name over /dev/vda" hook_write "$name $res /dev/vda"
	check "pause writeback" hook_write "pause $name"
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
	# fsync at the end (a flush, waiting for every record logged before it, under every
	# completion semantics): O_DIRECT alone is, by default, acknowledged once copied (knobs.rst).
	# (busybox dd has no oflag=dsync.)
	check "write 4 MiB (64 KiB direct writes), fsync: all durable when dd returns" \
		dd if=/tmp/a of="$dev" bs=64k oflag=direct conv=fsync
	check "keep the expected data on /mars (synced)" sh -c "cp /tmp/a /mars/expected && sync"
	check_fails "the data device does not have it (only the log does)" same_on_data_device 0 /tmp/a
	# More writes in flight when the power fails.
	(while :; do dd if=/dev/urandom of="$dev" bs=64k seek=1024 count=16 oflag=direct 2>/dev/null; done) &
	sleep 2
	echo "# $(stat_of records) records logged, $(stat_of durable) bytes durable; power failure now"
	ktap_end
	echo "MARS-KILL-ME"
	sleep 3600
fi

ktap_begin
check "mount /mars after the power failure" sh -c "mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
echo "# replay link: $(readlink "$res/replay-$host"), logfile 1: $(stat -c %s "$(log_file 1)") bytes"
check_eq "the replay link still names the start of logfile 1" "log-000000001-$host,0,0" "$(readlink "$res/replay-$host")"
check "log-dump: logfile 1 is clean up to at most a torn last record" clean_or_torn "$(log_file 1)"
# The log writer keeps zeros written ahead of its records (log_writer.rs): the crash leaves a
# logfile longer than its log, so recovery below must find the end of the log inside the file.
check "logfile 1 ends in zeros written ahead (its last 64 KiB are zero)" sh -c "
	test \$(tail -c 65536 $(log_file 1) | tr -d '\\000' | wc -c) = 0"
check "load the MARS_TESTING build" insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
check "create $name again: recovery replays logfile 1" hook_write "$name $res /dev/vda"
echo "# $(stat_of replayed) records replayed"
check "at least the 1024 acknowledged records were replayed" test "$(stat_of replayed)" -ge 1024
check "the data device holds every acknowledged write" same_on_data_device 0 /mars/expected
check_eq "logging continues in logfile 2" "log-000000002-$host,0,0" "$(readlink "$res/replay-$host")"
check "remove $name" hook_write "-$name"

# Compressed records, as the original writes them with log compression on: a crashed logger
# leaves logfile 1 of resource cz (writeback paused), mars-adversary re-writes it with the
# payloads compressed by LZO, LZ4 and zlib in turn (mars-host's compressors, not the kernel's),
# and recovery replays it: the kernel's lib/lzo, lib/lz4 and lib/zlib decompress. The digests
# cycle CRC32C, CRC32, SHA1 and MD5 (what the original writes where CRC32C is disabled).
cz=/mars/resource-cz
czlog=$cz/log-000000001-$host
stat_cz() { awk -v k="$1" '$1 == "cz" { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$hook"; }
seq 1 300000 | head -c 1048576 > /tmp/text
check "create cz over /dev/vda, writeback paused" sh -c "mkdir $cz && printf 'cz $cz /dev/vda\n' > $hook && printf 'pause cz\n' > $hook"
check "write 1 MiB of text at 16 MiB, fsync" dd if=/tmp/text of=/dev/mars/cz bs=64k seek=256 oflag=direct conv=fsync
check_fails "the data device does not have it (only the log does)" same_on_data_device 4096 /tmp/text
check "crash cz (the log stays as written)" hook_write "!cz"
check_eq "cz's replay link names the start of logfile 1" "log-000000001-$host,0,0" "$(readlink "$cz/replay-$host")"
report=$(mars-adversary compress-log "$czlog" /tmp/cz.log)
echo "# compress-log: $report"
check "compress-log stored records with each of LZO, LZ4, zlib and CRC32C, CRC32, SHA1, MD5" sh -c "
	for k in lzo lz4 zlib crc32c crc32 sha1 md5; do echo '$report' | grep -q \" \$k=[1-9]\" || exit 1; done"
check "logfile 1 replaced by its compressed copy" sh -c "cp /tmp/cz.log $czlog && sync && test \$(stat -c %s $czlog) -lt 900000"
check "log-dump reads it: no defect, records compressed" sh -c "
	marsadm log-dump $czlog | tail -1 | grep -q ' 0 warnings, 0 defects' &&
	marsadm log-dump $czlog | grep -q lzo"
check "create cz again: recovery replays the compressed logfile" hook_write "cz $cz /dev/vda"
echo "# $(stat_cz replayed) compressed-log records replayed"
check "all 256 records were replayed" test "$(stat_cz replayed)" -ge 256
check "the data device holds the text" same_on_data_device 4096 /tmp/text
check "remove cz" hook_write "-cz"
check "rmmod" rmmod mars
ktap_end
