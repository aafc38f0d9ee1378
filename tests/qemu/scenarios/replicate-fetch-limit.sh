#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 900
# data-disk: 64M
# mars-disk: 512M
#
# Promise: log_fetch_speed_limit_kib bounds the rate at which a secondary fetches logfiles,
# lifting it lets the fetch go faster at once, and network_io_timeout is how long a fetch
# waits for a silent origin. bravo sets the limit to 200 KiB/s and stops fetching while
# alpha writes 12 MiB; once bravo fetches again, the logfile data it receives
# (log_fetch_bytes) between 1 MiB and 3.5 MiB into the fetch come at 150 to 220 KiB/s (the
# pacing keeps to the limit exactly unless the guest cannot keep up: a slow host may fall
# below, never above); with the limit lifted (0) the next 4 MiB come at least twice as fast
# (both measured with the guest's clock, which the pacing uses too). With network_io_timeout
# 2 and bravo's packets to alpha dropped, the fetch gives its silent connection up within 8 s
# (the kernel log's `fetch: Conn(Silent)`); once the network is back, bravo's data device
# becomes byte-identical to alpha's.
# Bravo's kernel publishes its fetch (Documentation/tree.rst): during the limited fetch
# actual-bravo/amount-file_rate comes to 100 to 220 KiB/s and `marsadm view` shows it on the
# fetch line; at the end actual-bravo/amount-file_bytes equals log_fetch_bytes (one resource)
# and is at least the 12 MiB written, and alpha's `view --prometheus` shows that total as
# mars_resource_fetched_bytes_total{peer="bravo"}. Alpha's kernel publishes the bytes its
# logger appended (actual-alpha/amount-log_bytes, >= the 12 MiB written), its metrics show
# them as mars_resource_logged_bytes_total{peer="alpha"} and, once bravo caught up, bravo's
# replay lag in seconds as 0. Bravo's replay lag in seconds (from actual-bravo/replay-stamp,
# the origin's stamp of the newest record replayed) is at least 10 s while it is behind in the
# limited fetch (alpha wrote before bravo fetched again), and at most 30 s once caught up.
# Network compression (issue 17): `set-global-enabled-net-compressions` refuses bad lists
# (no link written) and writes the original's value; 2 MiB of text fetched without
# compression cost at least their size on the wire (log_fetch_wire_bytes against
# log_fetch_bytes); with COMPRESS_LZ4 enabled on alpha bravo's fetch reconnects with LZ4
# (kernel log), 4 MiB of text cost less than half their size on the wire, alpha publishes
# used-net-compression (view shows it), and 2 MiB of random data cost at most 1 % more than
# their size; then bravo zeroes the 4 MiB of text on its device and a fast full sync
# (invalidate) copies them back compressed (sync_wire_bytes less than half of
# sync_data_bytes). Each time bravo's device ends byte-identical to alpha's. The TCP tuning
# knob tcp_tuning_1_replication_traffic/tcp_keepidle = 600 gives the fetch connections made
# after it a keepalive timer beyond 10 s (/proc/net/tcp).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi
size=$((64 * 1048576))
res_md5() { device_md5 "$1" "$size"; }
limit=200
# metric NAME PEER: the value of r0's metric NAME{peer="PEER"} in this host's view (empty if none).
metric() {
	marsadm view r0 --prometheus | awk -v n="$1" -v p="peer=\"$2\"" '
		index($0, n "{") == 1 && index($0, p) { v = $NF } END { print v }'
}

mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo stopped fetching" wait_for 300 is_link /mars/userspace/paused-bravo
	check "write 12 MiB" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=12 oflag=direct status=none
	check "publish the checksum" marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5-alpha
	check "bravo caught up" wait_for 300 is_link /mars/userspace/same-bravo
	# Bravo's total as alpha's metrics show it, once it arrived here (at least the 12 MiB).
	bravo_fetched() {
		marsadm view r0 --prometheus | awk -v want=$((12 * 1048576)) '
			/^mars_resource_fetched_bytes_total\{/ && /peer="bravo"/ { v = $NF }
			END { exit !(v != "" && v >= want) }'
	}
	check "alpha's metrics show bravo's fetched bytes (>= 12 MiB)" wait_for 60 bravo_fetched
	logged() { v=$(readlink $res/actual-$h/amount-log_bytes) && [ "$v" -ge $((12 * 1048576)) ]; }
	check "alpha's kernel publishes amount-log_bytes >= the 12 MiB written" wait_for 30 logged
	echo "# amount-log_bytes: $(readlink $res/actual-$h/amount-log_bytes)"
	logged_metric() { v=$(metric mars_resource_logged_bytes_total alpha) && [ -n "$v" ] && [ "$v" -ge $((12 * 1048576)) ]; }
	check "alpha's metrics show the bytes it logged" logged_metric
	bravo_lag_zero() { [ "$(metric mars_resource_peer_replay_lag_seconds bravo)" = 0 ]; }
	check "alpha's metrics show bravo's replay lag: 0 s once caught up" wait_for 60 bravo_lag_zero
	# --- Network compression.
	nc_link=/mars/defaults/enabled-net-compressions
	check "set-global-enabled-net-compressions with an unknown name is refused, no link written" \
		sh -c "! marsadm set-global-enabled-net-compressions COMPRESS_LZ5 && test ! -e $nc_link"
	check "set-global-enabled-net-compressions with a digest is refused, no link written" \
		sh -c "! marsadm set-global-enabled-net-compressions CHKSUM_CRC32C && test ! -e $nc_link"
	check "set-global-enabled-net-compressions with stray bits is refused, no link written" \
		sh -c "! marsadm set-global-enabled-net-compressions 0x02000001 && test ! -e $nc_link"
	# text MIB SEEK_MIB: writes MIB MiB of repeating text at SEEK_MIB MiB.
	text() { yes "MARS network compression: a line of text that repeats, $1 at $2" | head -c $(($1 * 1048576)) |
		dd of=/dev/mars/r0 bs=1M seek="$2" iflag=fullblock oflag=direct status=none; }
	publish() { marsadm set-link "$(res_md5 /dev/mars/r0)" "userspace/$1"; }
	check "bravo is ready" wait_for 120 is_link /mars/userspace/nc-ready-bravo
	check "write 2 MiB of text, compression off" text 2 16
	check "publish the checksum" publish md5-nc0
	check "bravo has it" wait_for 120 is_link /mars/userspace/nc0-bravo
	check "set-global-enabled-net-compressions COMPRESS_LZ4" marsadm set-global-enabled-net-compressions COMPRESS_LZ4
	check_eq "defaults/enabled-net-compressions as the original writes it" 0x02000000 "$(readlink $nc_link)"
	check "bravo's fetch agreed on LZ4" wait_for 90 is_link /mars/userspace/nc-lz4-bravo
	check "write 4 MiB of text" text 4 20
	check "publish the checksum" publish md5-nc1
	check "bravo has it" wait_for 120 is_link /mars/userspace/nc1-bravo
	check "used-net-compression names LZ4" wait_for 20 sh -c "[ \"\$(readlink /mars/actual-alpha/used-net-compression)\" = 33554432 ]"
	check_eq "view-used-net-compression shows it" COMPRESS_LZ4 "$(marsadm view-used-net-compression r0)"
	check "view-default-header shows it" sh -c "marsadm view-default-header r0 | grep -q 'used-net-compression=\"COMPRESS_LZ4\"'"
	check "write 2 MiB of random data, compression on" dd if=/dev/urandom of=/dev/mars/r0 bs=1M seek=28 count=2 oflag=direct status=none
	check "publish the checksum" publish md5-nc2
	check "bravo synced the text back and is identical" wait_for 300 is_link /mars/userspace/nc-sync-bravo
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "the full sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	check "set log_fetch_speed_limit_kib to $limit" write_knob log_fetch_speed_limit_kib "$limit"
	check "stop fetching" marsadm set-link 0 "resource-r0/todo-$h/connect"
	check "not copying" wait_for 60 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
	check "tell alpha" marsadm set-link 1 userspace/paused-bravo
	check "alpha's checksum arrived" wait_for 300 is_link /mars/userspace/md5-alpha
	fetched() { cat /proc/sys/mars/log_fetch_bytes; }
	# sample: the guest's uptime (s) and the bytes fetched so far.
	sample() { echo "$(cut -d' ' -f1 /proc/uptime) $(fetched)"; }
	# rate_kib FROM TO: KiB/s between two samples.
	rate_kib() { echo "$1 $2" | awk '{ printf "%d", ($4 - $2) / ($3 - $1) / 1024 }'; }
	base=$(fetched)
	grown() { [ "$(fetched)" -ge $((base + $1)) ]; }
	check "fetch again" marsadm set-link 1 "resource-r0/todo-$h/connect"
	check "1 MiB fetched" wait_for 120 grown 1048576
	s1=$(sample)
	check "3.5 MiB fetched" wait_for 120 grown 3670016
	s2=$(sample)
	limited=$(rate_kib "$s1" "$s2")
	echo "# limited to $limit KiB/s: $limited KiB/s ($s1 -> $s2)"
	check "the limited rate is within 150 to 220 KiB/s" sh -c "[ $limited -ge 150 ] && [ $limited -le 220 ]"
	# The kernel's own measurement of the limited fetch (KiB/s over at least 10 s).
	file_rate() { readlink "$res/actual-$h/amount-file_rate"; }
	rate_plausible() { r=$(file_rate) && [ "$r" -ge 100 ] && [ "$r" -le 220 ]; }
	check "the kernel publishes the fetch rate: 100 to 220 KiB/s" wait_for 20 rate_plausible
	echo "# amount-file_rate: $(file_rate) KiB/s"
	check "view shows the published fetch rate" sh -c "marsadm view r0 | grep 'fetch lag:.*, rate [1-9][0-9]* KiB/s'"
	lag_behind() { v=$(metric mars_resource_peer_replay_lag_seconds bravo) && [ -n "$v" ] && [ "$v" -ge 10 ] && [ "$v" -le 900 ]; }
	check "behind in the limited fetch, the replay lag is 10 to 900 s" wait_for 30 lag_behind
	echo "# replay lag while behind: $(metric mars_resource_peer_replay_lag_seconds bravo) s"
	check "lift the limit" write_knob log_fetch_speed_limit_kib 0
	s3=$(sample)
	b3=$(fetched)
	grown3() { [ "$(fetched)" -ge $((b3 + $1)) ]; }
	check "4 MiB more fetched" wait_for 120 grown3 4194304
	s4=$(sample)
	free=$(rate_kib "$s3" "$s4")
	echo "# without the limit: $free KiB/s ($s3 -> $s4)"
	check "without the limit at least twice as fast" test "$free" -ge $((2 * limited))
	# network_io_timeout: bravo's packets to alpha are dropped; with 2 s the fetch gives its
	# connections up within a few seconds (with the default 15 s it would not within 8 s).
	check "set network_io_timeout to 2" write_knob network_io_timeout 2
	dev=$(ip route get 10.77.0.1 | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1)
	silences() { dmesg | grep -c 'r0: fetch: Conn(Silent)'; }
	before=$(silences)
	gave_up() { [ "$(silences)" -gt "$before" ]; }
	check "cut bravo's packets to alpha ($dev)" /sbin/tc qdisc add dev "$dev" root netem loss 100%
	check "the fetch gives up on the silent connection within 8 s" wait_for 8 gave_up
	check "restore the network" /sbin/tc qdisc del dev "$dev" root
	check "network_io_timeout back to 15" write_knob network_io_timeout 15
	want=$(readlink /mars/userspace/md5-alpha)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device becomes byte-identical to alpha's" wait_for 240 same
	# The kernel's total for the resource: everything this host fetched (one resource here),
	# published within 10 s after its last change.
	file_bytes() { readlink "$res/actual-$h/amount-file_bytes"; }
	total_matches() { [ "$(file_bytes)" = "$(fetched)" ]; }
	check "amount-file_bytes equals log_fetch_bytes" wait_for 30 total_matches
	echo "# amount-file_bytes: $(file_bytes), log_fetch_bytes: $(fetched)"
	check "amount-file_bytes is at least the 12 MiB written" test "$(file_bytes)" -ge $((12 * 1048576))
	lag_small() { v=$(metric mars_resource_peer_replay_lag_seconds bravo) && [ -n "$v" ] && [ "$v" -le 30 ]; }
	check "caught up, the replay lag is at most 30 s" wait_for 60 lag_small
	echo "# replay lag caught up: $(metric mars_resource_peer_replay_lag_seconds bravo) s"
	check "tell alpha" marsadm set-link 1 userspace/same-bravo
	# --- Network compression.
	wire() { cat /proc/sys/mars/log_fetch_wire_bytes; }
	same_as() { [ "$(res_md5 /dev/vda)" = "$(readlink "/mars/userspace/$1")" ]; }
	w0=$(wire) f0=$(fetched)
	check "tell alpha" marsadm set-link 1 userspace/nc-ready-bravo
	check "alpha's checksum arrived" wait_for 120 is_link /mars/userspace/md5-nc0
	check "2 MiB of text arrived" wait_for 120 same_as md5-nc0
	w1=$(wire) f1=$(fetched)
	echo "# text, compression off: $((f1 - f0)) bytes of logfile fetched, $((w1 - w0)) bytes on the wire"
	check "text without compression: at least its size on the wire" test $((w1 - w0)) -ge $((f1 - f0)) -a $((f1 - f0)) -ge 2097152
	# The log fetch's keepalive (tcp_tuning_1_replication_traffic/), applied to the connections
	# made from now on: with 600 s the keepalive timer of a new connection (/proc/net/tcp,
	# timer 2, in 1/100 s) is far beyond the default 4 s.
	check "tcp_keepidle of log fetch connections: 600 s" write_knob tcp_tuning_1_replication_traffic/tcp_keepidle 600
	check "tell alpha" marsadm set-link 1 userspace/nc0-bravo
	lz4_fetch() { dmesg | grep 'r0: fetch: connected to alpha' | tail -1 | grep -q 'compression lz4'; }
	check "the fetch reconnected and agreed on LZ4" wait_for 60 lz4_fetch
	keepalive_long() {
		awk '$3 == "01004D0A:1E62" && $4 == "01" { print $6 }' /proc/net/tcp | while IFS=: read -r tr when; do
			[ "$tr" = 02 ] && [ $((0x$when)) -gt 1000 ] && echo long
		done | grep -q long
	}
	check "the new fetch connections have a keepalive timer beyond 10 s (tcp_keepidle 600)" wait_for 30 keepalive_long
	check "tcp_keepidle back to 4" write_knob tcp_tuning_1_replication_traffic/tcp_keepidle 4
	w1=$(wire) f1=$(fetched)
	check "tell alpha" marsadm set-link 1 userspace/nc-lz4-bravo
	check "alpha's checksum arrived" wait_for 120 is_link /mars/userspace/md5-nc1
	check "4 MiB of text arrived" wait_for 120 same_as md5-nc1
	w2=$(wire) f2=$(fetched)
	echo "# text, LZ4: $((f2 - f1)) bytes of logfile fetched, $((w2 - w1)) bytes on the wire"
	check "text with LZ4: less than half its size on the wire" test $((2 * (w2 - w1))) -lt $((f2 - f1)) -a $((f2 - f1)) -ge 4194304
	check "tell alpha" marsadm set-link 1 userspace/nc1-bravo
	check "alpha's checksum arrived" wait_for 120 is_link /mars/userspace/md5-nc2
	check "2 MiB of random data arrived" wait_for 120 same_as md5-nc2
	w3=$(wire) f3=$(fetched)
	echo "# random data, LZ4 on: $((f3 - f2)) bytes of logfile fetched, $((w3 - w2)) bytes on the wire"
	check "random data with LZ4 on: at most 1 % over its size on the wire" test $((100 * (w3 - w2))) -le $((101 * (f3 - f2))) -a $((f3 - f2)) -ge 2097152
	sync_wire() { cat /proc/sys/mars/sync_wire_bytes; }
	sync_data() { cat /proc/sys/mars/sync_data_bytes; }
	sw0=$(sync_wire) sd0=$(sync_data)
	synced() { [ "$(readlink $res/syncstatus-$h)" = "$(readlink $res/size)" ]; }
	check "down, zero the 4 MiB of text, invalidate, up" sh -c "marsadm down r0 &&
		dd if=/dev/zero of=/dev/vda bs=1M seek=20 count=4 oflag=direct status=none && marsadm invalidate r0 && marsadm up r0"
	check "the sync finishes" wait_for 300 synced
	check "the sync agreed on LZ4" sh -c "dmesg | grep 'r0: sync: connected to alpha' | tail -1 | grep -q 'compression lz4'"
	sw1=$(sync_wire) sd1=$(sync_data)
	echo "# fast full sync, LZ4: $((sd1 - sd0)) bytes of block data, $((sw1 - sw0)) bytes on the wire"
	check "the synced text cost less than half its size on the wire" test $((2 * (sw1 - sw0))) -lt $((sd1 - sd0)) -a $((sd1 - sd0)) -ge 4194304
	check "the device becomes byte-identical to alpha's" wait_for 240 same_as md5-nc2
	check "tell alpha" marsadm set-link 1 userspace/nc-sync-bravo
fi
check "rmmod mars" sh -c "marsadm down r0; sleep 2; rmmod mars"
ktap_end
