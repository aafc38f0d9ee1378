#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1800
# tools: fio
# data-disk: 256M
#
# Promise: /dev/mars/<name>, an if brick wired to a bio brick on /dev/vda (made with the
# TEST-ONLY hook of the MARS_TESTING build), is a faithful pass-through block device: a
# filesystem made on it is, byte for byte, the filesystem on the lower device; fio's
# verifying random writes of 4k..1M at queue depth 32 read back intact; fsync and sync reach
# the device as flushes; IO errors below reach the application; the input can be rewired to
# another lower device under load without losing a write; the lower device is held
# exclusively; removal (and unloading) is refused while the device is open, mounted or busy
# and works after; malformed hook input is rejected with EINVAL; unloading removes every
# device. The production mars.ko has no such hook.
. /mars-tests/lib.sh
ktap_begin

hook=/proc/sys/mars/test_passthrough
dev=/dev/mars/pt
sysdir=/sys/block/mars!pt

# check_errno DESCRIPTION MESSAGE COMMAND...: passes when the command fails with that error
# text (the strerror of the expected errno).
check_errno() {
	desc=$1 want=$2; shift 2
	if out=$("$@" 2>&1); then
		echo "# unexpectedly succeeded: $*"
		ktap_result fail "$desc"
	elif printf '%s\n' "$out" | grep -q "$want"; then
		ktap_result ok "$desc"
	else
		printf '%s\n' "$out" | sed 's/^/# /'
		echo "# expected error: $want"
		ktap_result fail "$desc"
	fi
}
# One write(2) of "$1\n" to the hook; dd reports the errno text of a failed write.
hook_write() { printf '%s\n' "$1" | dd of="$hook" bs=4096 2>&1; }
# flushes completed by the device (field 16 of the block stat file)
flushes() { awk '{ print $16 }' "$sysdir/stat"; }

check "load the MARS_TESTING build" insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
check "test_passthrough exists and is write-only" sh -c "[ -w $hook ] && ! cat $hook 2>/dev/null"

# --- malformed input is EINVAL, other refusals have their own errno ---
check_errno "one word is EINVAL" "Invalid argument" hook_write "pt"
check_errno "three words are EINVAL" "Invalid argument" hook_write "pt /dev/vda x"
check_errno "a relative path is EINVAL" "Invalid argument" hook_write "pt dev/vda"
check_errno "an empty line is EINVAL" "Invalid argument" hook_write ""
check_errno "a name with '/' is EINVAL" "Invalid argument" hook_write "a/b /dev/vda"
check_errno "a reserved name is EINVAL" "Invalid argument" hook_write "all /dev/vda"
check_errno "a 27-byte name is ENAMETOOLONG" "too long" hook_write "abcdefghijklmnopqrstuvwxyz0 /dev/vda"
check_errno "a missing lower device is ENOENT" "No such file" hook_write "pt /dev/nonexistent"
check_errno "removing an unknown device is ENOENT" "No such file" hook_write "-pt"
check_fails "no device was left behind by the refusals" test -e /dev/mars

# --- create ---
check "create pt over /dev/vda" hook_write "pt /dev/vda"
check "/dev/mars/pt is a block device" test -b "$dev"
check_eq "it has the size of /dev/vda" "$(blockdev --getsize64 /dev/vda)" "$(blockdev --getsize64 $dev)"
check_eq "it advertises a write-back cache" "write back" "$(cat "$sysdir/queue/write_cache")"
check_eq "it advertises FUA" 1 "$(cat "$sysdir/queue/fua")"
check_eq "it does not advertise discard" 0 "$(cat "$sysdir/queue/discard_max_bytes")"
check_errno "the same name again is EEXIST" "File exists" hook_write "pt /dev/vda"
check_errno "a second device over /dev/vda is EBUSY" "busy" hook_write "pt2 /dev/vda"

# --- a filesystem through the brick ---
check "mkfs.ext4 on /dev/mars/pt" mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/pt /mnt/lower
check "mount it" mount -t ext4 "$dev" /mnt/pt
check "copy /bin /sbin /lib /usr into it" sh -c 'mkdir /mnt/pt/tree && cp -a /bin /sbin /lib /usr /mnt/pt/tree/'
(cd /mnt/pt && find tree -type f -exec md5sum {} + | sort -k 2 > /tmp/sums)
echo "# $(wc -l < /tmp/sums) files, $(du -sk /mnt/pt/tree | cut -f1) KiB"
check "the copy reads back identical" sh -c 'cd /mnt/pt && md5sum -c -s /tmp/sums'
f0=$(flushes)
check "sync" sync
check "sync reached the device as flushes" test "$(flushes)" -gt "$f0"
check_errno "mounting the lower device meanwhile is EBUSY" "busy" mount -t ext4 -o ro /dev/vda /mnt/lower
check_errno "removal while mounted is EBUSY" "busy" hook_write "-pt"
check "the device still works after the refusal" sh -c 'cd /mnt/pt && md5sum -c -s /tmp/sums'
check "umount" umount /mnt/pt
check "fsck -n finds it clean" e2fsck -fn "$dev"

# --- removal, then the lower device alone holds the same filesystem ---
exec 3< "$dev"
check_errno "removal while open is EBUSY" "busy" hook_write "-pt"
exec 3<&-
check "removal after close works" hook_write "-pt"
check_fails "/dev/mars/pt is gone" test -e "$dev"
check "mount /dev/vda itself" mount -t ext4 -o ro /dev/vda /mnt/lower
check "/dev/vda holds the identical files" sh -c 'cd /mnt/lower && md5sum -c -s /tmp/sums'
umount /mnt/lower

# --- fio: verified random writes of 4k..1M at queue depth 32, and fsync ---
check "create pt again" hook_write "pt /dev/vda"
fio_out=/tmp/fio-verify.txt
check "fio randwrite 4k-1M iodepth 32 direct, verify=crc32c" \
	fio --name=verify --filename="$dev" --rw=randwrite --bsrange=4k-1m --iodepth=32 \
		--ioengine=libaio --direct=1 --size=128M --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=1 --output="$fio_out"
grep -E '^ *(write|read):' "$fio_out" | sed 's/^ */# fio verify: /'
f0=$(flushes)
check "fio with fsync after every write" \
	fio --name=fsync --filename="$dev" --rw=write --bs=64k --size=8M --fsync=1 \
		--ioengine=psync --output=/tmp/fio-fsync.txt
grep -E '^ *write:' /tmp/fio-fsync.txt | sed 's/^ */# fio fsync: /'
n=$(($(flushes) - f0))
echo "# $n flushes for 128 fsyncs"
# The block layer may let a flush that arrives while one is in flight share the next one.
check "the fsyncs reached the device as flushes" test "$n" -ge 120

# Waits (at most 30 s) until fio, started in the background as $fio_pid, has IO flowing on
# the device: more than 100 requests completed.
ios() { awk '{ print $1 + $5 }' "$sysdir/stat"; }
wait_io() {
	i0=$(ios) n=0
	while [ "$(ios)" -le $((i0 + 100)) ] && [ $n -lt 300 ] && kill -0 "$fio_pid" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
	done
}
# writes completed by a device-mapper device
dm_writes() { awk '{ print $5 }' "/sys/block/$(dmsetup info -c --noheadings -o blkdevname "$1")/stat"; }

# --- rewiring under load: the input moves to another lower device while IO goes on ---
check "remove pt" hook_write "-pt"
sectors=$(blockdev --getsz /dev/vda)
check "two device-mapper mappings of /dev/vda" sh -c "
	dmsetup create mars-lin1 --table '0 $sectors linear /dev/vda 0' &&
	dmsetup create mars-lin2 --table '0 $sectors linear /dev/vda 0' && dmsetup mknodes"
check "create pt over the first" hook_write "pt /dev/mapper/mars-lin1"
fio --name=rewire --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=16 \
	--ioengine=libaio --direct=1 --size=96M --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--output=/tmp/fio-rewire.txt >/dev/null 2>&1 &
fio_pid=$!
wait_io
w1=$(dm_writes mars-lin1)
check "rewire pt to the second mapping while fio writes" hook_write "=pt /dev/mapper/mars-lin2"
wait "$fio_pid"
check_eq "fio verifies all it wrote across the rewiring" 0 "$?"
grep -E '^ *(write|read):' /tmp/fio-rewire.txt | sed 's/^ */# fio rewire: /'
echo "# writes: $w1 through the first mapping before, $(dm_writes mars-lin2) through the second after"
check "both mappings carried writes" test "$w1" -gt 0 -a "$(dm_writes mars-lin2)" -gt 0
check_eq "the first mapping was released" 0 "$(dmsetup info -c --noheadings -o open mars-lin1)"
check "remove pt" hook_write "-pt"
dmsetup remove mars-lin1; dmsetup remove mars-lin2

# --- removal and unloading attempts under load are refused and do not disturb the load ---
# (fd 3 keeps the device open across the whole loop, so fio ending cannot race an attempt.)
check "create pt over /dev/vda again" hook_write "pt /dev/vda"
exec 3< "$dev"
fio --name=busy --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=16 --ioengine=libaio \
	--direct=1 --size=128M --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--output=/tmp/fio-busy.txt >/dev/null 2>&1 &
fio_pid=$!
wait_io
tries=0 refused=0 unloaded=0
while kill -0 "$fio_pid" 2>/dev/null; do
	tries=$((tries + 1))
	hook_write "-pt" 2>&1 | grep -q busy && refused=$((refused + 1))
	rmmod mars 2>/dev/null && unloaded=$((unloaded + 1))
	sleep 0.2
done
wait "$fio_pid"
check_eq "fio verifies all it wrote under removal and unload attempts" 0 "$?"
echo "# $refused of $tries removal attempts refused with EBUSY, $unloaded unloads"
check "every removal attempt under load was refused" test "$tries" -gt 0 -a "$refused" = "$tries"
check_eq "no unload attempt succeeded" 0 "$unloaded"
check_errno "an open device pins the module (rmmod refused)" "unavailable" rmmod mars
exec 3<&-

# --- errors of the lower device reach the application ---
# (No udev in the guest: dmsetup mknodes makes /dev/mapper/mars-err.)
check "a device-mapper error target as lower device" \
	sh -c 'dmsetup create mars-err --table "0 8192 error" && dmsetup mknodes mars-err'
check "create err over it" hook_write "err /dev/mapper/mars-err"
check_errno "a read fails with EIO" "Input/output error" dd if=/dev/mars/err of=/dev/null bs=4k count=1 iflag=direct
check_errno "a write fails with EIO" "Input/output error" dd if=/dev/zero of=/dev/mars/err bs=4k count=1 oflag=direct
check "remove err" hook_write "-err"
dmsetup remove mars-err

# --- unloading removes the devices; the production module has no hook ---
check "rmmod with a device present" rmmod mars
check_fails "unloading removed /dev/mars/pt" test -e "$dev"
check "the lower device is free again (exclusive open by mkfs)" mkfs.ext4 -q -F /dev/vda
# The same verify job on the lower device alone, for comparison (not a check).
fio --name=verify --filename=/dev/vda --rw=randwrite --bsrange=4k-1m --iodepth=32 \
	--ioengine=libaio --direct=1 --size=128M --verify=crc32c --do_verify=1 --randrepeat=1 \
	--output=/tmp/fio-raw.txt >/dev/null 2>&1 &&
	grep -E '^ *(write|read):' /tmp/fio-raw.txt | sed 's/^ */# fio on \/dev\/vda alone: /'
modprobe mars
check_fails "the production mars.ko has no test hook" test -e "$hook"
rmmod mars
# (The block layer's own "I/O error, dev mars!err" reports of the error test are expected.)
check "no mars.ko message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'

ktap_end
