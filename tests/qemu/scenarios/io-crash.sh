#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 600
# data-disk: 256M
# mars-disk: 512M
# crash-boots: 3
# extra-disk: 64M
#
# Promise: a power failure at any moment loses no write that /dev/mars/<res> acknowledged as
# durable, and never moves a block back to older data.
#
# Every boot recovers the device (the logger replays its log), then `ackcheck verify` reads
# the first 32 MiB through the device and again, once everything is written back, on the data
# device alone, and compares each 4 KiB block with the journal of what was acknowledged (see
# tests/qemu/guest/ackcheck.c). Then `ackcheck run` writes 1..16 blocks at a time from 4
# threads (O_DIRECT|O_DSYNC, O_DIRECT followed by fdatasync, or O_DIRECT|O_DSYNC through Linux
# AIO, which sends a FUA write and no flush: what POSIX calls durable),
# each block tagged with its block number and the write's sequence number, and journals every
# write before issuing it (INTENT) and after its acknowledgement (ACK), with O_DIRECT|O_DSYNC
# on a disk of its own (/dev/vdc): a journal in /mars would be made durable by the same ext4
# commits as the logfiles and could hide a logger that acknowledges too early. After a random
# 2-9 s, with writeback sometimes paused (acknowledged data then exist only in the log), a
# logfile rotation at a random moment and /mars on a disk that delays writes by 0, 25 or
# 50 ms, the guest asks to be killed (SIGKILL of QEMU: what the guest handed to its virtual
# disks stays, nothing else). 3 crash points in make check, then a clean shutdown; make soak
# runs many more (MARS_CRASH_BOOTS, scripts/soak.sh).
#
# Why a lost write fails the test: a write the logger acknowledged whose log record was not
# durable, a record recovery does not replay, a replay in the wrong order, or a replay link
# that skips records would leave some block with zeros or an older sequence number than the
# journal's last ACK for it; verify compares every byte of every block with the data the
# ACKed write carried, and accepts other content only for the one write per thread that was
# in flight (INTENT without ACK), which it then pins (FOUND/CLOSED records) so that a later
# crash cannot move the block back. The slow log disk keeps records in flight longer than the
# journal's, widening the window in which an early acknowledgement shows. Checked against a
# mutant logger that acknowledges flushes at once (and writes on copy, semantics 0): its
# first crash point left 382 acknowledged blocks zero. (Semantics 0 alone is no such mutant:
# O_DSYNC writes and fdatasync send a flush, which still waits for the log.) A failed
# recovery fails the "switch on" check; a kernel report on any boot's console fails the
# scenario (scripts/run-scenario.sh).
#
# The logger runs with the default completion semantics (3, the block layer's rule,
# Documentation/knobs.rst): writes with FUA and flushes wait for their log records, every
# other write (also a plain O_DIRECT one) is acknowledged once copied; the check below keeps
# it that way. An O_DIRECT|O_DSYNC write on a block device is a FUA write followed by a flush
# (block/fops.c: dio_bio_write_op, then generic_write_sync), fdatasync a flush.
# MARS_EXTRA_APPEND=mars_crash_semantics=N runs the boots with logger_completion_semantics N
# instead (e.g. 1 or 2, the stricter rules).
. /mars-tests/lib.sh

name=ck
dev=/dev/mars/$name
res=/mars/resource-$name
host=$(hostname)
journal=/dev/vdc
blocks=8192
last_boot=$((${mars_crash_boots:-3} + 1))

seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
# /mars sits on a dm-delay device delaying its writes by 0, 25 or 50 ms (chosen per boot): a
# slow log disk keeps log records in flight for long, so that a logger acknowledging before
# its record is durable would be caught by almost any crash. Delayed writes wait in the guest's
# memory, so the power failure loses them as it would lose a disk's volatile cache.
log_delay=$(((seed >> 20) % 3 * 25))
mount_mars() {
	dmsetup create slowmars --table "0 $(blockdev --getsz /dev/vdb) delay /dev/vdb 0 0 /dev/vdb 0 $log_delay" &&
		dmsetup mknodes slowmars && mkdir -p /mars && mount -t ext4 /dev/mapper/slowmars /mars
}

# check_semantics: the completion semantics under test (the default 3 unless
# mars_crash_semantics asks for another).
check_semantics() {
	if [ -n "${mars_crash_semantics:-}" ]; then
		check "variant: logger_completion_semantics $mars_crash_semantics" write_knob logger_completion_semantics "$mars_crash_semantics"
	else
		check_eq "logger_completion_semantics is the default 3 (FUA writes and flushes wait for the log)" 3 "$(cat /proc/sys/mars/logger_completion_semantics)"
	fi
}

if [ "$mars_boot" = 1 ]; then
	ktap_begin
	check "make /mars" mkfs.ext4 -q -F /dev/vdb
	check "mount /mars (writes delayed by $log_delay ms)" mount_mars
	check_eq "the journal disk is empty" 0 "$(head -c 1048576 "$journal" | tr -d '\0' | wc -c)"
	check "load the module" mars_logged_device_load
	check_semantics
	check "switch $dev on" mars_logged_device_up "$name" /dev/vda
else
	ktap_begin
	check "mount /mars after the power failure (writes delayed by $log_delay ms)" mount_mars
	echo "# replay link: $(readlink "$res/replay-$host"); logfiles: $(cd "$res" && ls log-* | tr '\n' ' ')"
	check "load the module" mars_logged_device_load
	check_semantics
	check "switch $dev on: recovery" mars_logged_device_up "$name" /dev/vda
	echo "# $(mars_logger_stat "$name" replayed) records replayed"
	# verify_blocks WHAT DEVICE [resolve]: one check, with ackcheck's summary as a diagnostic.
	verify_blocks() {
		ackcheck verify "$2" "$journal" "$blocks" $3 > /tmp/verify.out 2>&1
		rc=$?
		sed 's/^/# /' /tmp/verify.out
		check_eq "$1" 0 "$rc"
	}
	verify_blocks "every acknowledged write reads back through $dev" "$dev" resolve
	check "the logger writes everything back" wait_for 120 mars_written_back "$name"
	verify_blocks "the data device alone holds them too" /dev/vda
	# Logfiles fully written back (below the one the replay link names) are no longer needed.
	nr=$(readlink "$res/replay-$host" | sed 's/^log-0*\([0-9]*\)-.*/\1/')
	for f in "$res"/log-*; do
		n=$(basename "$f" | sed 's/^log-0*\([0-9]*\)-.*/\1/')
		[ "$n" -lt "$nr" ] && rm -f "$f"
	done
fi

if [ "$mars_boot" -ge "$last_boot" ]; then
	check "switch $dev off" mars_logged_device_down "$name"
	check "unload the module" rmmod mars
	umount /mars; dmsetup remove slowmars
	check "no mars message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'
	echo "# $(ackcheck verify /dev/vda "$journal" "$blocks")"
	ktap_end
	exit
fi

pause=$(((seed >> 4) % 3 == 0))
delay=$((2 + (seed >> 8) % 8))
rotate_after=$(((seed >> 16) % delay))
echo "# boot $mars_boot: seed $seed, writeback paused: $pause, crash after ${delay}s, rotation after ${rotate_after}s"
[ "$pause" = 1 ] && mars_logged_device_ctl "pause $name"
ackcheck run "$dev" "$journal" "$blocks" 4 "$seed" 2>/tmp/ackcheck.err &
sleep 1
check "the writers are running" kill -0 $!
sleep "$rotate_after"
nr=$(mars_logger_stat "$name" log)
touch "$res/log-$(printf %09d $((nr + 1)))-$host"
sleep $((delay - rotate_after))
check "the writers are still running" kill -0 $!
check "no mars message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'
echo "# power failure: logging into logfile $(mars_logger_stat "$name" log), $(mars_logger_stat "$name" records) records, $(mars_logger_stat "$name" durable) bytes durable"
ktap_end
echo "MARS-KILL-ME"
sleep 3600
