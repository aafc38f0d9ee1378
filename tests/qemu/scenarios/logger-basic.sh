#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1800
# tools: fio
# data-disk: 256M
# mars-disk: 512M
#
# Promise: /dev/mars/<name> on a transaction logger (made with the TEST-ONLY hook of the
# MARS_TESTING build) logs every write into /mars/resource-<name>/log-N-<host> before writing
# it back to the data device: the logfile reads back clean with `marsadm log-dump` and holds
# the written data; the data device ends up with the same data; the replay link
# replay-<host> says how far writeback got; parallel writers share fsyncs (group commit);
# reads of data not yet written back come from the logger's memory; a filesystem and fio's
# verifying writes work through the device; with writeback stopped, a simulated crash loses
# nothing: the next start replays the log onto the data device and starts a fresh logfile.
. /mars-tests/lib.sh
ktap_begin

hook=/proc/sys/mars/test_logger
name=lg
dev=/dev/mars/$name
res=/mars/resource-$name
host=$(hostname)

hook_write() { printf '%s\n' "$1" | dd of="$hook" bs=4096 2>&1; }
stat_of() { awk -v n="$name" -v k="$1" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$hook"; }
replay_link() { readlink "$res/replay-$host"; }
log_file() { echo "$res/log-$(printf %09d "$1")-$host"; }
written_back() { [ "$(stat_of min_pos)" = "$(stat_of appended)" ] && [ "$(stat_of pending)" = 0 ]; }
link_says_written_back() { [ "$(replay_link)" = "$(basename "$(log_file "$1")"),$2,0" ]; }
# same_on_data_device OFFSET_BLOCKS FILE: the data device holds FILE at OFFSET (4 KiB blocks).
same_on_data_device() {
	n=$(($(stat -c %s "$2") / 4096))
	dd if=/dev/vda of=/tmp/vda.out bs=4096 skip="$1" count="$n" iflag=direct 2>/dev/null && cmp -s /tmp/vda.out "$2"
}
same_on_device() {
	n=$(($(stat -c %s "$2") / 4096))
	dd if="$dev" of=/tmp/dev.out bs=4096 skip="$1" count="$n" iflag=direct 2>/dev/null && cmp -s /tmp/dev.out "$2"
}

check "load the MARS_TESTING build" insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars && mkdir $res"
for knob in logger_completion_semantics aio_sync_mode mem_limit_percent mem_limit_gb logrot_auto_gb logger_report_interval_s logger_mem_used_kb; do
	test -e "/proc/sys/mars/$knob" || echo "# missing knob $knob"
done
# The original's defaults, except logger_completion_semantics: 3, the block layer's rule (knobs.rst).
check_eq "the logger knobs have their defaults" "3 2 20 16 32 2" \
	"$(cat /proc/sys/mars/logger_completion_semantics /proc/sys/mars/aio_sync_mode /proc/sys/mars/mem_limit_percent \
		/proc/sys/mars/mem_limit_gb /proc/sys/mars/logrot_auto_gb /proc/sys/mars/logger_report_interval_s | tr '\n' ' ' | sed 's/ $//')"
check_fails "logger_completion_semantics rejects 4" write_knob logger_completion_semantics 4

# --- a fresh resource starts with logfile 1 ---
check "create $name over /dev/vda, logging into $res" hook_write "$name $res /dev/vda"
check "$dev is a block device" test -b "$dev"
check_eq "it has the size of /dev/vda" "$(blockdev --getsize64 /dev/vda)" "$(blockdev --getsize64 $dev)"
check_eq "the replay link points to the start of logfile 1" "log-000000001-$host,0,0" "$(replay_link)"
# (Only zeros: the logger writes zeros ahead of its records as soon as it starts.)
check_eq "logfile 1 exists and holds no record" "0 records, 0 warnings, 0 defects" "$(marsadm log-dump "$(log_file 1)" | tail -1)"

# --- sequential writes: logged, acknowledged, written back ---
dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
check "write 4 MiB (64 KiB direct writes)" dd if=/tmp/a of="$dev" bs=64k oflag=direct
check "read them back through the device" same_on_device 0 /tmp/a
check "the logger writes everything back" wait_for 30 written_back
check "the data device holds them" same_on_data_device 0 /tmp/a
# The running logger keeps zeros written ahead of its records: the log's end is what it
# appended (the file's size only once it is finished).
size=$(stat_of appended)
echo "# logfile 1: $size bytes logged ($(stat -c %s "$(log_file 1)") with the zeros ahead), $(stat_of records) records in $(stat_of batches) batches"
check_eq "1024 records of 4 KiB + 84 bytes" $((1024 * (4096 + 84))) "$size"
check "marsadm log-dump reads logfile 1 back clean" marsadm log-dump "$(log_file 1)"
check_eq "log-dump lists 1024 records, no defect" "1024 records, 0 warnings, 0 defects" "$(marsadm log-dump "$(log_file 1)" | tail -1)"
check "the replay link reaches the end of logfile 1" wait_for 10 link_says_written_back 1 "$size"

# --- group commit: parallel synchronous writers share batches ---
r0=$(stat_of records) b0=$(stat_of batches)
check "8 parallel O_SYNC writers (fio), 64 writes of 4 KiB each" \
	fio --name=gc --filename="$dev" --rw=write --bs=4k --size=256k --numjobs=8 --offset=8M \
		--offset_increment=256k --direct=1 --sync=1 --ioengine=psync --output=/tmp/fio-gc.txt
records=$(($(stat_of records) - r0)) batches=$(($(stat_of batches) - b0))
echo "# 8 parallel O_SYNC writers: $records records in $batches batches"
check_eq "all 512 records were logged" 512 "$records"
check "they needed fewer syncs than records" test "$batches" -lt "$records"

# --- reads of data not yet written back come from the shadows ---
check "pause writeback" hook_write "pause $name"
dd if=/dev/urandom of=/tmp/b bs=4k count=256 2>/dev/null
dd if=/dev/urandom of=/tmp/s bs=512 count=24 2>/dev/null
check "write 1 MiB at 8 MiB" dd if=/tmp/b of="$dev" bs=4k seek=2048 oflag=direct
check "read it back through the device (from the shadows)" same_on_device 2048 /tmp/b
check_fails "the data device does not have it yet" same_on_data_device 2048 /tmp/b
check "overwrite 12 KiB at 8 MiB + 8 KiB and one sector at 8 MiB + 512 (unaligned to pages)" sh -c \
	"dd if=/tmp/s of=$dev bs=512 seek=16400 oflag=direct && dd if=/dev/zero of=$dev bs=512 seek=16385 count=1 oflag=direct"
dd if=/tmp/s of=/tmp/b bs=512 seek=16 conv=notrunc 2>/dev/null
dd if=/dev/zero of=/tmp/b bs=512 seek=1 count=1 conv=notrunc 2>/dev/null
check "the newest data read back through the device" same_on_device 2048 /tmp/b
echo "# shadow memory in use: $(cat /proc/sys/mars/logger_mem_used_kb) KiB, $(stat_of pending) pieces pending"
check "shadow memory is accounted" test "$(cat /proc/sys/mars/logger_mem_used_kb)" -ge 1024
check "resume writeback" hook_write "resume $name"
check "the logger writes everything back" wait_for 30 written_back
check "now the data device has them" same_on_data_device 2048 /tmp/b
check_eq "no shadow memory is left" 0 "$(cat /proc/sys/mars/logger_mem_used_kb)"

# --- writers are throttled, never failed, while the shadows reach the memory limit ---
limit_kb=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 100))
check "mem_limit_percent 1 (${limit_kb} KiB)" write_knob mem_limit_percent 1
check "pause writeback" hook_write "pause $name"
dd if=/dev/urandom of=/tmp/t bs=1M count=24 2>/dev/null
dd if=/tmp/t of="$dev" bs=64k seek=2048 oflag=direct 2>/tmp/dd-t.err &
dd_pid=$!
sleep 8
used_kb=$(cat /proc/sys/mars/logger_mem_used_kb)
echo "# with writeback paused: $used_kb KiB of shadow memory, limit $limit_kb KiB"
check "the writer waits (it has not finished 24 MiB)" kill -0 "$dd_pid"
check "the shadows stay within the limit" test "$used_kb" -le "$limit_kb"
check "resume writeback" hook_write "resume $name"
wait "$dd_pid"
check_eq "the throttled writer finishes without error" 0 "$?"
check "its data read back" same_on_device 32768 /tmp/t
check "mem_limit_percent back to 20" write_knob mem_limit_percent 20

# --- every completion semantics keeps the data ---
for sem in 0 1 2; do
	check "logger_completion_semantics $sem" write_knob logger_completion_semantics "$sem"
	check "fio verify under semantics $sem" \
		fio --name=sem$sem --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=8 --offset=160M \
			--ioengine=libaio --direct=1 --size=16M --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--output=/tmp/fio-sem.txt
done
check "logger_completion_semantics back to 3" write_knob logger_completion_semantics 3
check "the logger writes everything back" wait_for 60 written_back

# --- fio verify and a filesystem through the logged device ---
check "fio randwrite 4k-256k iodepth 16 direct, verify=crc32c" \
	fio --name=verify --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=16 --offset=64M \
		--ioengine=libaio --direct=1 --size=64M --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=1 --output=/tmp/fio.txt
grep -E '^ *(write|read):' /tmp/fio.txt | sed 's/^ */# fio: /'
check "mkfs.ext4 on $dev" mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/lg
check "mount it and copy /bin /lib /usr into it" sh -c "mount -t ext4 $dev /mnt/lg && cp -a /bin /lib /usr /mnt/lg/"
(cd /mnt/lg && find bin lib usr -type f -exec md5sum {} + | sort -k 2 > /tmp/sums)
check "the copy reads back identical" sh -c 'cd /mnt/lg && md5sum -c -s /tmp/sums'
check "umount" umount /mnt/lg
check "the logger writes everything back" wait_for 60 written_back
check "marsadm log-dump reads logfile 1 back clean" marsadm log-dump "$(log_file 1)"

# --- clean removal publishes the final position ---
check "remove $name" hook_write "-$name"
size=$(stat -c %s "$(log_file 1)")
check "the replay link says logfile 1 is written back" link_says_written_back 1 "$size"
check "fsck -n on the data device finds the filesystem clean" e2fsck -fn /dev/vda

# --- crash with writeback stopped, then recovery ---
check "create $name again" hook_write "$name $res /dev/vda"
check_eq "a clean log is not replayed; logging moves to logfile 2" "log-000000002-$host,0,0" "$(replay_link)"
check "pause writeback" hook_write "pause $name"
dd if=/dev/urandom of=/tmp/c bs=1M count=2 2>/dev/null
check "write 2 MiB at 32 MiB, fsync" dd if=/tmp/c of="$dev" bs=64k seek=512 oflag=direct conv=fsync
check_fails "the data device does not have them" same_on_data_device 8192 /tmp/c
check "crash (forget everything not written back)" hook_write "!$name"
check_eq "the replay link still points to the start of logfile 2" "log-000000002-$host,0,0" "$(replay_link)"
check_fails "the data device still does not have them" same_on_data_device 8192 /tmp/c
check "create $name again: recovery replays logfile 2" hook_write "$name $res /dev/vda"
echo "# $(stat_of replayed) records replayed"
check_eq "all 512 records were replayed" 512 "$(stat_of replayed)"
check "the data device has them" same_on_data_device 8192 /tmp/c
check_eq "logging moved on to logfile 3" "log-000000003-$host,0,0" "$(replay_link)"
check "logfile 2 reads back clean" marsadm log-dump "$(log_file 2)"
check "remove $name" hook_write "-$name"
check "rmmod" rmmod mars
check "no mars.ko message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'

ktap_end
