#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1800
# tools: fio
# data-disk: 256M
# mars-disk: 512M
#
# Benchmark (make bench, not make check): full sync between two guests against baselines of
# the same run.
#   1. Full sync against plain TCP: fio's net engine sends 256 MiB over one TCP connection
#      from alpha to bravo; then bravo joins r0 (alpha's disk full of random data, bravo's
#      zeroed) with do_fast_fullsync = 0, and the time until bravo wrote the whole device
#      (/proc/sys/mars/sync_copied_bytes) gives the sync throughput. Ratio sync / TCP (aim
#      >= 0.9).
#   2. Fast full sync of identical devices against a plain read of the device: bravo reads its
#      whole data device (dd, O_DIRECT) before joining; after the first sync, `invalidate`
#      with do_fast_fullsync = 1 compares the two identical devices block by block; the time
#      until all digests arrived (sync_sum_bytes) against the read time gives the ratio (aim
#      >= 0.8). The bytes that went over the wire are printed from the counters.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi
mb=256
bytes=$((mb * 1048576))

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
counter() { cat "/proc/sys/mars/$1"; }

mars_cluster_up

if [ "$h" = alpha ]; then
	check "fill alpha's disk with random data" dd if=/dev/urandom of=/dev/vda bs=1M count=$mb oflag=direct
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	wait_for 240 is_link /mars/userspace/tcp-ready
	tcp_kib=$(tcp_send_kib 10.77.0.2 $mb)
	echo "# bench: plain TCP alpha -> bravo $((tcp_kib / 1024)) MiB/s"
	marsadm set-link "$tcp_kib" userspace/tcp-kib
	check "bravo done" wait_for 1500 is_link /mars/userspace/done-bravo
	echo "# bench: alpha served $(counter sync_served_bytes) bytes of block data"
else
	t0=$(now_ms)
	dd if=/dev/vda of=/dev/null bs=1M count=$mb iflag=direct 2>/dev/null
	read_ms=$(($(now_ms) - t0 + 1))
	echo "# bench: plain read of the data device: $((bytes / 1024 * 1000 / read_ms / 1024)) MiB/s ($read_ms ms)"
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	tcp_listen $mb || echo "# the TCP listener did not start"
	marsadm set-link 1 userspace/tcp-ready
	wait
	check "TCP baseline measured" wait_for 120 is_link /mars/userspace/tcp-kib
	tcp_kib=$(readlink /mars/userspace/tcp-kib)

	write_knob do_fast_fullsync 0
	c0=$(counter sync_copied_bytes)
	t0=$(now_ms)
	check "join-resource r0 /dev/vda (full sync, every block)" marsadm join-resource r0 /dev/vda
	check "the whole device is copied" wait_for 1200 sh -c "[ \$(cat /proc/sys/mars/sync_copied_bytes) -ge $((c0 + bytes)) ]"
	sync_ms=$(($(now_ms) - t0 + 1))
	sync_kib=$((bytes / 1024 * 1000 / sync_ms))
	echo "# bench: full sync of $mb MiB: $((sync_kib / 1024)) MiB/s ($sync_ms ms), $(counter sync_data_bytes) data bytes received, sync_sockets $(counter sync_sockets)"
	echo "# bench: full sync / plain TCP = $(ratio "$sync_kib" "$tcp_kib") (aim >= 0.9)"
	check "the sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = $bytes ]"

	write_knob do_fast_fullsync 1
	d0=$(counter sync_data_bytes) s0=$(counter sync_sum_bytes)
	want=$((s0 + bytes / 65536 * 32))
	t0=$(now_ms)
	check "invalidate (identical devices)" marsadm invalidate r0
	check "every digest compared" wait_for 1200 sh -c "[ \$(cat /proc/sys/mars/sync_sum_bytes) -ge $want ]"
	fast_ms=$(($(now_ms) - t0 + 1))
	d1=$(counter sync_data_bytes) s1=$(counter sync_sum_bytes)
	echo "# bench: fast full sync of identical devices: $fast_ms ms, $((d1 - d0)) data bytes and $((s1 - s0)) checksum bytes on the wire"
	echo "# bench: fast full sync / plain read = $(ratio "$read_ms" "$fast_ms") (aim >= 0.8)"
	wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = $bytes ]"
	marsadm set-link 1 userspace/done-bravo
fi
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
