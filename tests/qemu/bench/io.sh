#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1800
# tools: fio
# data-disk: 1G
# mars-disk: 16G
#
# Benchmark (make bench, not make check): the primary's IO path against the raw data device,
# same guest, same run, same disks. fio on /dev/vda first, then the same jobs on
# /dev/mars/<res> over /dev/vda with its log on /dev/vdb (/mars): sequential 1 MiB writes
# (throughput), random 4 KiB writes at queue depth 1 (mean latency; also against O_DSYNC on the
# raw device, the fair baseline under logger_completion_semantics 1 and 2, which acknowledge
# these O_DIRECT writes only once their log record is durable; and O_DSYNC, i.e. FUA, on every
# device) and at queue depth 32 (IOPS), all O_DIRECT; then reads of data not pending in the
# logger's shadows (after everything is written back): sequential 1 MiB at QD 8, random 4 KiB
# at QD 1 (mean latency) and QD 32 (IOPS). Then the DRBD baseline: the same jobs on a single-node DRBD
# 8.4 device (built into the kernel) over /dev/vda with external metadata on /dev/vdb (after
# /mars is unmounted), Primary without a peer (drbd_up_single in lib.sh). Prints one
# "# bench:" line per number and the ratios mars/raw and mars/drbd; the MARS write jobs run
# twice, under the default completion semantics (mars) and under the original's (mars1). The aim: sequential
# >= 0.8 of raw, QD1 latency <= 1.25 of raw. Under TCG the absolute numbers mean little; the
# ratios are what to compare. 20 s per job.
# While the MARS jobs run, logfiles that are written back are deleted every second (as the
# original's `marsadm log-delete-all` from cron would): a sequential job writes several GiB of
# log, and a full /mars puts the logger into emergency mode, in which writes bypass the log
# (until 7 Dec 2026 every MARS figure after the first job was measured so, 4G /mars). A check
# fails if the logger went into emergency mode anyway: its figures would not be the logger's.
. /mars-tests/lib.sh
ktap_begin

name=bench
dev=/dev/mars/$name
seconds=20
engine=libaio
fio --name=probe --filename=/dev/vda --size=64k --rw=read --bs=4k --direct=1 --ioengine=io_uring \
	--output=/dev/null >/dev/null 2>&1 && engine=io_uring

# job NAME DEVICE FIO-ARGS...: runs one fio job for $seconds s; prints the terse v3 line.
job() {
	n=$1 d=$2; shift 2
	fio --name="$n" --filename="$d" --direct=1 --ioengine="$engine" --size=512M --time_based \
		--runtime="$seconds" --ramp_time=2 --output-format=terse --terse-version=3 --eta=never "$@" > "/tmp/$n.terse" &&
		test -s "/tmp/$n.terse"
}
# job_cpu NAME DEVICE FIO-ARGS...: job, and notes in /tmp/NAME.cpu where the guest's CPU
# time went during 10 s of it (cpu_report).
job_cpu() {
	job "$@" &
	sleep 6; cpu_snapshot /tmp/cpu.0; sleep 10; cpu_snapshot /tmp/cpu.1
	cpu_report /tmp/cpu.0 /tmp/cpu.1 | sed "s/^# cpu:/# cpu $1:/" > "/tmp/$1.cpu"
	wait $!
}
# field NAME N: field N of job NAME's terse output (48 write KiB/s, 49 write IOPS, 81 write
# mean latency in us).
field() { awk -F';' -v f="$2" '{ print $f }' "/tmp/$1.terse"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
run_all() { # PREFIX DEVICE
	check "$1: sequential 1 MiB writes, QD 8" job_cpu "$1-seq" "$2" --rw=write --bs=1M --iodepth=8
	check "$1: random 4 KiB writes, QD 1" job_cpu "$1-qd1" "$2" --rw=randwrite --bs=4k --iodepth=1 --randrepeat=1
	check "$1: random 4 KiB writes, QD 32" job_cpu "$1-qd32" "$2" --rw=randwrite --bs=4k --iodepth=32 --randrepeat=1
	# A durable write costs a FUA/flush on every device: the fairer QD1 comparison.
	check "$1: random 4 KiB O_DSYNC writes, QD 1" job "$1-qd1-dsync" "$2" --rw=randwrite --bs=4k --iodepth=1 --randrepeat=1 --sync=dsync
	cat "/tmp/$1-seq.cpu" "/tmp/$1-qd1.cpu" "/tmp/$1-qd32.cpu" 2>/dev/null
}
run_reads() { # PREFIX DEVICE (on MARS: nothing pending in the shadows any more)
	check "$1: sequential 1 MiB reads, QD 8" job_cpu "$1-rseq" "$2" --rw=read --bs=1M --iodepth=8
	check "$1: random 4 KiB reads, QD 1" job "$1-rqd1" "$2" --rw=randread --bs=4k --iodepth=1 --randrepeat=1
	check "$1: random 4 KiB reads, QD 32" job "$1-rqd32" "$2" --rw=randread --bs=4k --iodepth=32 --randrepeat=1
	cat "/tmp/$1-rseq.cpu" 2>/dev/null
}

# log_deleter NAME: every second, deletes the logfiles of /mars/resource-NAME before the one its
# replay link names (written back and released by the logger). Runs until killed.
log_deleter() {
	while :; do
		r=$(readlink "/mars/resource-$1/replay-$(hostname)" 2>/dev/null)
		for f in /mars/resource-"$1"/log-*; do
			[ -f "$f" ] || continue
			b=$(basename "$f")
			[ "$(printf '%s\n%s\n' "$b" "$r" | sort | head -1)" = "$b" ] && [ "${r%%,*}" != "$b" ] && rm -f "$f"
		done
		sleep 1
	done
}
# not_emergency: the logger never stopped logging (dmesg).
not_emergency() { ! dmesg | grep -q 'EMERGENCY MODE'; }

echo "# engine $engine, $seconds s per job"
run_all raw /dev/vda
run_reads raw /dev/vda
check "load the module" mars_logged_device_load
# Variants (not the default): mars_bench_semantics=N on the kernel command line
# (MARS_EXTRA_APPEND) sets logger_completion_semantics, e.g. 1 for the original's rule
# (O_DIRECT writes acknowledged only once their records are durable).
if [ -n "${mars_bench_semantics:-}" ]; then
	check "variant: logger_completion_semantics $mars_bench_semantics" write_knob logger_completion_semantics "$mars_bench_semantics"
fi
echo "# bench: note logger_completion_semantics $(cat /proc/sys/mars/logger_completion_semantics), crc32c by $(awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ && n == "crc32c" && $3 > p { p = $3; best = d } END { print best }' /proc/crypto), cpu $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
check "make and mount /mars on its own disk" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
check "switch $dev on over /dev/vda" mars_logged_device_up "$name" /dev/vda
log_deleter "$name" &
deleter=$!
run_all mars "$dev"
check "the logger logged all along (no emergency mode: /mars did not fill)" not_emergency
echo "# logger: $(mars_logger_stat "$name" records) records in $(mars_logger_stat "$name" batches) batches, $(mars_logger_stat "$name" writebacks) writebacks"
check "the logger writes everything back" wait_for 300 mars_written_back "$name"
# The same write jobs under the original's completion semantics (1: every O_DIRECT write waits
# for its log record), in the same run, so that the two compare under the same load
# (mars_bench_compare=0 skips them; not when a variant set the semantics).
compare=${mars_bench_compare:-1}
[ -n "${mars_bench_semantics:-}" ] && compare=0
if [ "$compare" = 1 ]; then
	sem=$(cat /proc/sys/mars/logger_completion_semantics)
	check "logger_completion_semantics 1 (the original's rule)" write_knob logger_completion_semantics 1
	run_all mars1 "$dev"
	check "logger_completion_semantics back to $sem" write_knob logger_completion_semantics "$sem"
	check "the logger writes everything back" wait_for 300 mars_written_back "$name"
	check "the logger logged all along (no emergency mode: /mars did not fill)" not_emergency
fi
echo "# /mars: $(df -m /mars | awk 'NR == 2 { print $3 " MiB used, " $4 " MiB free" }'), logfiles $(cd "/mars/resource-$name" && echo log-*)"
echo "# logger before the reads: $(mars_logger_stat "$name" pending) pieces pending writeback"
run_reads mars "$dev"
kill "$deleter"; wait "$deleter" 2>/dev/null
check "switch $dev off" mars_logged_device_down "$name"
check "unload the module" rmmod mars
check "unmount /mars" umount /mars
# DRBD's metadata overwrites the start of /dev/vdb (/mars is gone); its data device is /dev/vda.
check "DRBD 8.4: /dev/drbd0 over /dev/vda, metadata on /dev/vdb, Primary alone" drbd_up_single /dev/vda /dev/vdb
run_all drbd /dev/drbd0
run_reads drbd /dev/drbd0
echo "# drbd: $(grep '^ *0:' -A1 /proc/drbd | tr -s ' \n' ' ')max request $(cat /sys/block/drbd0/queue/max_sectors_kb) KiB"
check "switch /dev/drbd0 off" drbd_down

devices="raw mars drbd"
[ "$compare" = 1 ] && devices="raw mars mars1 drbd"
for p in $devices; do
	echo "# bench: $p seq-1M-write $(($(field $p-seq 48) / 1024)) MiB/s"
	echo "# bench: $p randwrite-4k-qd1 mean latency $(field $p-qd1 81) us"
	echo "# bench: $p randwrite-4k-qd1 O_DSYNC mean latency $(field $p-qd1-dsync 81) us"
	echo "# bench: $p randwrite-4k-qd32 $(field $p-qd32 49) IOPS"
	[ "$p" = mars1 ] && continue # (writes only)
	echo "# bench: $p seq-1M-read $(($(field $p-rseq 7) / 1024)) MiB/s"
	echo "# bench: $p randread-4k-qd1 mean latency $(field $p-rqd1 40) us"
	echo "# bench: $p randread-4k-qd32 $(field $p-rqd32 8) IOPS"
done
echo "# bench: ratio seq-1M-write throughput mars/raw $(ratio "$(field mars-seq 48)" "$(field raw-seq 48)") (aim >= 0.8)"
echo "# bench: ratio randwrite-4k-qd1 latency mars/raw $(ratio "$(field mars-qd1 81)" "$(field raw-qd1 81)") (aim <= 1.25)"
echo "# bench: ratio randwrite-4k-qd1 latency mars/raw-O_DSYNC $(ratio "$(field mars-qd1 81)" "$(field raw-qd1-dsync 81)")"
echo "# bench: ratio randwrite-4k-qd1 O_DSYNC latency mars/raw $(ratio "$(field mars-qd1-dsync 81)" "$(field raw-qd1-dsync 81)") (aim <= 1.5)"
echo "# bench: ratio randwrite-4k-qd32 IOPS mars/raw $(ratio "$(field mars-qd32 49)" "$(field raw-qd32 49)") (aim >= 0.8)"
echo "# bench: ratio seq-1M-read throughput mars/raw $(ratio "$(field mars-rseq 7)" "$(field raw-rseq 7)") (aim >= 0.95)"
echo "# bench: ratio randread-4k-qd1 latency mars/raw $(ratio "$(field mars-rqd1 40)" "$(field raw-rqd1 40)")"
echo "# bench: ratio randread-4k-qd32 IOPS mars/raw $(ratio "$(field mars-rqd32 8)" "$(field raw-rqd32 8)") (aim >= 0.95)"
if [ "$compare" = 1 ]; then
	echo "# bench: ratio seq-1M-write throughput mars1/raw $(ratio "$(field mars1-seq 48)" "$(field raw-seq 48)") (semantics 1)"
	echo "# bench: ratio randwrite-4k-qd1 latency mars1/raw $(ratio "$(field mars1-qd1 81)" "$(field raw-qd1 81)") (semantics 1)"
	echo "# bench: ratio randwrite-4k-qd1 O_DSYNC latency mars1/raw $(ratio "$(field mars1-qd1-dsync 81)" "$(field raw-qd1-dsync 81)") (semantics 1)"
	echo "# bench: ratio randwrite-4k-qd32 IOPS mars1/raw $(ratio "$(field mars1-qd32 49)" "$(field raw-qd32 49)") (semantics 1)"
fi
echo "# bench: ratio seq-1M-write throughput drbd/raw $(ratio "$(field drbd-seq 48)" "$(field raw-seq 48)")"
echo "# bench: ratio seq-1M-write throughput mars/drbd $(ratio "$(field mars-seq 48)" "$(field drbd-seq 48)")"
echo "# bench: ratio randwrite-4k-qd1 latency mars/drbd $(ratio "$(field mars-qd1 81)" "$(field drbd-qd1 81)")"
echo "# bench: ratio randwrite-4k-qd32 IOPS mars/drbd $(ratio "$(field mars-qd32 49)" "$(field drbd-qd32 49)")"
echo "# bench: ratio randwrite-4k-qd1 O_DSYNC latency mars/drbd $(ratio "$(field mars-qd1-dsync 81)" "$(field drbd-qd1-dsync 81)")"
echo "# bench: ratio seq-1M-read throughput mars/drbd $(ratio "$(field mars-rseq 7)" "$(field drbd-rseq 7)")"
ktap_end
