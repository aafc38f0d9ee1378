#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 720
# tools: fio
# data-disk: 1G
# mars-disk: 512M
#
# Promise: every write through /dev/mars/<res> reads back intact, however the writes are
# sized and queued, while the logfiles rotate again and again: fio writes random blocks of
# 512 B to 1 MiB, 32 in flight, O_DIRECT, each block carrying a CRC32C, and reads them all
# back (verify_fatal), pass after pass of 64 MiB over a 1 GiB device for about a minute in
# make check (longer, up to four minutes, until the logfiles rotated more than 5 times) (several GiB in make soak, scripts/soak.sh), while a
# background loop runs `marsadm log-rotate` every second and `marsadm log-delete` (the logfiles
# every member has replayed), so /mars (512 MiB) never fills. The resource is made the way
# an operator makes it (modprobe mars, create-cluster, create-resource). After `marsadm down`
# the data device alone holds what the last passes wrote (fio --verify_only on /dev/vda).
# A long run (several GiB): MARS_EXTRA_APPEND=mars_fio_budget=SECONDS MARS_TIMEOUT=... (see
# Documentation/testing.rst).
. /mars-tests/lib.sh
ktap_begin

name=fv
dev=/dev/mars/$name
res=/mars/resource-$name
host=$(hostname)
budget=${mars_fio_budget:-60}
region=64
engine=libaio
fio --name=probe --filename=/dev/vda --size=64k --rw=read --bs=4k --direct=1 --ioengine=io_uring \
	--output=/dev/null >/dev/null 2>&1 && engine=io_uring

# pass N [ARGS...]: fio pass N over the (N mod 16)-th 64 MiB region, seeded by N (small passes:
# the time budget is checked between passes).
pass() {
	pass_nr=$1; shift
	fio --name="pass$pass_nr" --filename="$dev" --offset=$(((pass_nr % 16) * region))M --size=${region}M \
		--rw=randwrite --bssplit=512/10:4k/35:16k/20:64k/15:256k/12:1m/8 --blockalign=512 \
		--iodepth=32 --ioengine="$engine" --direct=1 --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randseed="$pass_nr" --eta=never --output="/tmp/fio-pass$pass_nr.txt" "$@"
}

# log_nr: the number of the logfile the replay link names.
log_nr() { readlink "$res/replay-$host" | sed 's/^log-0*\([0-9]*\)-.*/\1/'; }
# newest_nr: the number of this host's newest logfile.
newest_nr() { ls "$res" | sed -n "s/^log-0*\([0-9]*\)-$host\$/\1/p" | sort -n | tail -1; }
# written_back: the replay link names the newest logfile, nothing dirty, at the durable end
# its version link names (everything logged is on the data device; production links only).
written_back() {
	l=$(readlink "$res/replay-$host") || return 1
	nr=$(log_nr) rest=${l#*,}
	[ "$nr" = "$(newest_nr)" ] && [ "${rest#*,}" = 0 ] || return 1
	v=$(readlink "$res/version-$(printf %09d "$nr")-$host") || return 1
	[ "${rest%%,*}" = "$(echo "$v" | cut -d, -f3 | cut -d: -f1)" ]
}

check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
check "modprobe mars" modprobe mars
check "logger_report_interval_s 1 (rotation requests are looked at every second)" write_knob logger_report_interval_s 1
check "create-cluster" marsadm create-cluster
check "create-resource $name /dev/vda" marsadm create-resource "$name" /dev/vda
check "$dev appears" wait_for 60 test -b "$dev"

# Rotation: `marsadm log-rotate` (a new empty logfile when the newest is not empty) and
# `marsadm log-delete` (logfiles replayed everywhere) every second. Counts what it saw in /tmp.
rotate_loop() {
	: > /tmp/deleted
	while [ ! -e /tmp/stop-rotating ]; do
		marsadm log-rotate "$name" > /dev/null 2>> /tmp/rotate.err
		marsadm --window=1 log-delete "$name" 2>> /tmp/rotate.err | grep "^deleted 'log-" >> /tmp/deleted
		echo "$(df -k /mars | awk 'NR == 2 { print $3 }')" >> /tmp/mars-used
		sleep 1
	done
}
rotate_loop &
rotator=$!
first_log=$(log_nr)

# enough: the logfiles rotated and were deleted more than 5 times (what the checks below want).
enough() {
	[ $(($(newest_nr) - first_log)) -gt 5 ] && [ "$(wc -l < /tmp/deleted)" -gt 5 ]
}
# Passes for the budget, then on while the rotation has not been seen enough (a slow, loaded
# host fits fewer passes into the budget), up to four times the budget.
start=$(date +%s) p=0 failed=0
while t=$(($(date +%s) - start)); [ "$t" -lt "$budget" ] ||
	{ [ "$t" -lt $((budget * 4)) ] && ! enough; }; do
	p=$((p + 1))
	pass "$p" || { failed=$p; break; }
done
elapsed=$(($(date +%s) - start))
touch /tmp/stop-rotating; wait "$rotator"
check_eq "every fio pass verified (first failed pass: 0 = none)" 0 "$failed"
[ "$failed" != 0 ] && sed 's/^/# /' "/tmp/fio-pass$failed.txt" | head -40
written=$((p * region))
echo "# $p passes of $region MiB in ${elapsed}s: $written MiB written and verified, engine $engine"
grep -h -E '^ *(write|read):' /tmp/fio-pass1.txt "/tmp/fio-pass$p.txt" | sed 's/^ */# fio: /'
last_log=$(newest_nr)
rotations=$((last_log - first_log))
echo "# logfiles $first_log..$last_log: $rotations rotations, $(wc -l < /tmp/deleted) logfiles deleted, /mars peak use $(sort -n /tmp/mars-used | tail -1) KiB"
check "more than 5 rotations" test "$rotations" -gt 5
check "written-back logfiles were deleted" test "$(wc -l < /tmp/deleted)" -gt 5
check "/mars never filled (peak below 400 MiB)" test "$(sort -n /tmp/mars-used | tail -1)" -lt 409600
check "the logger writes everything back" wait_for 120 written_back
# (A deleted logfile leaves a tombstone: a symlink to .deleted, no logfile.)
check "the logfiles left read back clean" sh -c "for f in $res/log-*; do [ -L \$f ] && continue; marsadm log-dump \$f | tail -1 | grep -q ' 0 warnings, 0 defects' || { echo \$f; exit 1; }; done"
check "marsadm down $name" marsadm down "$name"
check "$dev is gone" wait_for 30 test ! -e "$dev"
# The data device alone: the last 3 passes' regions hold what they wrote.
dev=/dev/vda
verified=0 q=$p
while [ "$q" -ge 1 ] && [ "$q" -gt $((p - 3)) ]; do
	pass "$q" --verify_only >/dev/null || break
	verified=$((verified + 1)); q=$((q - 1))
done
expect=$((p < 3 ? p : 3))
check_eq "the data device alone holds the last $expect passes' data" "$expect" "$verified"
check "logger_report_interval_s back to 2" write_knob logger_report_interval_s 2
check "unload the module" rmmod mars
check "no mars message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'
ktap_end
