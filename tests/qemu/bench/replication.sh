#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 2400
# tools: fio
# data-disk: 512M
# mars-disk: 1G
#
# Benchmark (make bench, not make check): log shipping between two guests against plain TCP
# between the same guests in the same run. Baseline: fio's net engine sends 256 MiB over one
# TCP connection from alpha to bravo. Catch-up: bravo stops fetching (todo-bravo/connect = 0),
# alpha writes 256 MiB through /dev/mars/r0 (sequential 1 MiB direct writes), then bravo
# fetches again; the time until its copy of alpha's logfile has alpha's size gives the
# catch-up throughput. Replay lag: the time from alpha's quiesce until bravo's data device
# is byte-identical. Replication lag under load: while fio writes 1 MiB/s elsewhere on the
# device, alpha writes a marker block (O_DIRECT, then fsync) and bravo polls its data device for
# it and answers with a link; the marker's round trip minus half a link round trip (measured
# the same way without a marker) is the lag from the ack on alpha to the replay on bravo,
# 5 samples. Prints "# bench:" lines and the ratio catch-up / TCP (aim: >= 0.8).
# DRBD baseline, first, on the same disks (the MARS part takes them afterwards): a DRBD 8.4
# pair (built into the kernel) alpha -> bravo over the same network, protocol A (asynchronous,
# like MARS), data device the first 256 MiB of /dev/vda (device-mapper linear), external
# metadata on /dev/vdb (drbd_up_pair in lib.sh). The time of the full initial resync of the
# 256 MiB gives the resync throughput; then alpha writes 256 MiB to /dev/drbd0 with the same
# fio job as through /dev/mars/r0 below, while connected. Ratios (alpha): MARS catch-up /
# DRBD resync, and MARS write throughput / DRBD protocol A write throughput (MARS's with
# bravo not fetching: an asynchronous primary does not wait for its secondary either way).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi
mb=256

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
log_file() { echo "$res/log-000000001-alpha"; }
mib_s() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
# fill DEV TERSE: the write job of both parts: $mb MiB of sequential 1 MiB direct writes, QD 8.
fill() {
	fio --name=fill --filename="$1" --rw=write --bs=1M --direct=1 --ioengine=libaio --iodepth=8 \
		--size=${mb}M --eta=never --output-format=terse --terse-version=3 --output="$2" && test -s "$2"
}
# Terse version 3: field 48 is the write bandwidth in KiB/s.
write_kib() { awk -F';' '{ print $48 }' "$1" 2>/dev/null; }

# --- DRBD baseline ---
check "DRBD data device: the first $mb MiB of /dev/vda" sh -c \
	"dmsetup create drbd-data --table '0 $((mb * 2048)) linear /dev/vda 0' && dmsetup mknodes drbd-data"
check "DRBD 8.4 pair alpha - bravo, protocol A, connected" drbd_up_pair /dev/mapper/drbd-data /dev/vdb $((3 - mars_index)) A
if [ "$h" = alpha ]; then
	t0=$(now_ms)
	check "primary --force: full resync of $mb MiB to bravo" $DRBDSETUP primary 0 --force
	check "the resync ends" wait_for 1200 drbd_in_sync
	t1=$(now_ms)
	drbd_resync_kib=$((mb * 1024 * 1000 / (t1 - t0 + 1)))
	echo "# bench: drbd full resync of $mb MiB: $(mib_s $drbd_resync_kib) MiB/s ($((t1 - t0)) ms)"
	check "write $mb MiB through /dev/drbd0 (protocol A, connected)" fill /dev/drbd0 /tmp/drbd-fill.terse
	drbd_write_kib=$(write_kib /tmp/drbd-fill.terse)
	echo "# bench: drbd protocol A seq-1M-write $(mib_s "$drbd_write_kib") MiB/s"
	echo "# drbd: $(grep '^ *0:' -A1 /proc/drbd | tr -s ' \n' ' ')"
	check "DRBD off" drbd_down
else
	check "the resync arrives" wait_for 1200 drbd_in_sync
	# Connected until alpha switches off.
	wait_for 1200 drbd_disconnected || echo "# alpha did not disconnect"
	check "DRBD off" drbd_down
fi
check "remove the DRBD data device" dmsetup remove drbd-data

# --- MARS ---
mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	wait_for 240 is_link /mars/userspace/tcp-ready
	tcp_kib=$(tcp_send_kib 10.77.0.2 $mb)
	echo "# bench: plain TCP alpha -> bravo $(awk -v k="$tcp_kib" 'BEGIN { printf "%.1f", k / 1024 }') MiB/s"
	marsadm set-link "$tcp_kib" userspace/tcp-kib
	wait_for 240 is_link /mars/userspace/paused-bravo
	check "write $mb MiB through /dev/mars/r0" fill /dev/mars/r0 /tmp/mars-fill.terse
	mars_write_kib=$(write_kib /tmp/mars-fill.terse)
	echo "# bench: mars seq-1M-write $(mib_s "$mars_write_kib") MiB/s (bravo not fetching)"
	# Logfile 1 is finished by a rotation: cut at the end of its last record (a running
	# logger keeps zeros written ahead), its version link naming that end.
	marsadm log-rotate r0 || echo "# log-rotate failed"
	wait_for 60 sh -c "readlink $res/version-000000001-alpha | grep -q \",\$(stat -c %s $(log_file)):\""
	end=$(stat -c %s "$(log_file)")
	marsadm set-link "$end" userspace/log-end
	cpu_snapshot /tmp/cpu.0
	sum=$(device_md5 /dev/mars/r0 $((mb * 1048576)))
	marsadm set-link "$sum" userspace/md5-alpha
	check "bravo caught up" wait_for 1200 is_link /mars/userspace/done-bravo
	cpu_snapshot /tmp/cpu.1
	cpu_report /tmp/cpu.0 /tmp/cpu.1 | sed 's/^# cpu:/# cpu alpha while bravo fetched and replayed:/'
	# bravo's catch-up throughput, computed as bravo does from its time and the log's end.
	catchup_kib=$((end / 1024 * 1000 / ($(readlink /mars/userspace/done-bravo) + 1)))
	echo "# bench: ratio catch-up (mars) / full resync (drbd) $(ratio "$catchup_kib" "$drbd_resync_kib")"
	echo "# bench: ratio full resync (drbd) / plain TCP $(ratio "$drbd_resync_kib" "$tcp_kib")"
	echo "# bench: ratio seq-1M-write throughput mars/drbd-protocol-A $(ratio "$mars_write_kib" "$drbd_write_kib")"
	# Lag under a steady load (the load writes the second half of the device).
	fio --name=steady --filename=/dev/mars/r0 --rw=randwrite --bs=64k --direct=1 --ioengine=libaio \
		--offset=50% --size=50% --rate=1m --time_based --runtime=120 --eta=never --output=/dev/null &
	load=$!
	link_rtt=0 lag_total=0
	for i in 1 2 3 4 5; do
		t0=$(now_ms); marsadm set-link "$i" "userspace/ping-$i"; wait_for 60 is_link "/mars/userspace/pong-$i"
		link_rtt=$((link_rtt + $(now_ms) - t0))
		t0=$(now_ms)
		# (busybox dd: no oflag=sync; conv=fsync flushes after the O_DIRECT write.)
		printf 'MARKER-%08d' "$i" | dd of=/dev/mars/r0 bs=4096 seek=$((i * 16)) conv=sync,fsync oflag=direct 2>/tmp/marker.err ||
			sed 's/^/# marker write failed: /' /tmp/marker.err
		wait_for 120 is_link "/mars/userspace/seen-$i" || echo "# sample $i: bravo did not answer"
		lag_total=$((lag_total + $(now_ms) - t0))
		echo "# sample $i: marker round trip $(($(now_ms) - t0)) ms"
	done
	kill "$load" 2>/dev/null; wait "$load" 2>/dev/null
	echo "# bench: replication lag (ack on alpha to replay on bravo) ~ $(( (lag_total - link_rtt / 2) / 5 )) ms mean of 5 (marker round trip $((lag_total / 5)) ms, link round trip $((link_rtt / 5)) ms)"
	marsadm set-link 1 userspace/lag-done
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	# The (fast) full sync first, so that it does not disturb the measurements below.
	wait_for 600 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	tcp_listen $mb || echo "# the TCP listener did not start"
	marsadm set-link 1 userspace/tcp-ready
	wait
	marsadm set-link 0 "resource-r0/todo-$h/connect"
	wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
	marsadm set-link 1 userspace/paused-bravo
	wait_for 1200 is_link /mars/userspace/log-end
	end=$(readlink /mars/userspace/log-end)
	cpu_snapshot /tmp/cpu.0
	t0=$(now_ms)
	marsadm set-link 1 "resource-r0/todo-$h/connect"
	check "the logfile arrives" wait_for 1200 sh -c "[ \"\$(stat -c %s $(log_file) 2>/dev/null)\" = $end ]"
	t1=$(now_ms)
	cpu_snapshot /tmp/cpu.1
	cpu_report /tmp/cpu.0 /tmp/cpu.1 | sed 's/^# cpu:/# cpu bravo during the catch-up fetch:/'
	catchup_kib=$((end / 1024 * 1000 / (t1 - t0 + 1)))
	tcp_kib=$(readlink /mars/userspace/tcp-kib)
	echo "# bench: catch-up fetch of $((end / 1048576)) MiB: $(awk -v k="$catchup_kib" 'BEGIN { printf "%.1f", k / 1024 }') MiB/s ($((t1 - t0)) ms, log_fetch_sockets $(cat /proc/sys/mars/log_fetch_sockets 2>/dev/null || echo 1))"
	echo "# bench: catch-up / plain TCP = $(awk -v a="$catchup_kib" -v b="$tcp_kib" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }') (aim >= 0.8)"
	want=$(readlink /mars/userspace/md5-alpha)
	same() { [ "$(device_md5 /dev/vda $((mb * 1048576)))" = "$want" ]; }
	wait_for 1200 same
	t2=$(now_ms)
	echo "# bench: replay done $((t2 - t1)) ms after the fetch ($((end / 1024 * 1000 / (t2 - t0 + 1) / 1024)) MiB/s fetch + replay)"
	marsadm set-link "$((t1 - t0))" userspace/done-bravo
	for i in 1 2 3 4 5; do
		wait_for 120 is_link "/mars/userspace/ping-$i" && marsadm set-link "$i" "userspace/pong-$i"
		marker() { dd if=/dev/vda bs=4096 skip=$((i * 16)) count=1 iflag=direct 2>/dev/null | head -c 15 | grep -q "MARKER-$(printf %08d "$i")"; }
		n=0; while ! marker && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
		marsadm set-link "$i" "userspace/seen-$i"
	done
	wait_for 300 is_link /mars/userspace/lag-done
fi
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
