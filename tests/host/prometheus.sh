#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# marsadm view --prometheus: parsed by a real Prometheus parser (prometheus_client's text
# parser, Debian package python3-prometheus-client, installed here when missing, as root),
# its values compared with `view --json` of the same tree (tests/host/prometheus_compare.py),
# the counters with the fake /proc/sys/mars and the peers with their heartbeats. The tree is
# made by build/marsadm (create-cluster, create-resource) plus the links the kernel and the
# peers would write. KTAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/ktap.sh"

echo "TAP version 13"
marsadm=$top/build/marsadm
[ -x "$marsadm" ] || { echo "Bail out! run make first: no build/marsadm"; exit 1; }
mars_apt_install python3-prometheus-client >&2 || { echo "Bail out! cannot install python3-prometheus-client"; exit 1; }

now=2000000000.123456789
export MARS_ROOT=$tmp/mars MARS_PROC=$tmp/proc MARS_HOST=alpha
mkdir -p "$MARS_ROOT" "$MARS_PROC"
chmod 700 "$MARS_ROOT"
printf 'CURRENT_TIME=1700000000.000000000\nlamport_now=%s\nCALLS=1\n' "$now" > "$MARS_PROC/lamport_clock"
: > "$MARS_PROC/trigger"
# put REL VALUE [STAMP]: a link as the kernel or a peer writes it.
put() {
	mkdir -p "$(dirname "$MARS_ROOT/$1")"
	ln -sfn "$2" "$MARS_ROOT/$1" && touch -h -d "@${3:-$now}" "$MARS_ROOT/$1"
}
truncate -s 1M "$tmp/disk0.img"
truncate -s 4M "$tmp/disk1.img"
truncate -s 1M "$tmp/disk2.img"
truncate -s 1M "$tmp/disk3.img"
{
	"$marsadm" create-cluster --ip=10.0.0.1 &&
		"$marsadm" create-resource r0 "$tmp/disk0.img" &&
		"$marsadm" create-resource r1 "$tmp/disk1.img" &&
		"$marsadm" create-resource r2 "$tmp/disk2.img" &&
		"$marsadm" create-resource r3 "$tmp/disk3.img"
} > "$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; echo "Bail out! cannot make the tree"; exit 1; }
put actual-alpha/alive 1
put actual-alpha/time "$now"
put actual-alpha/emergency 1
put actual-alpha/rest-space 1234
put actual-alpha/total-space 5678
put ips/ip-bravo 10.0.0.2
put actual-bravo/time 1999999990.5
put ips/ip-charlie 10.0.0.3
put actual-charlie/time 1999990000.0
# r0: a primary with two logfiles, its replay in the first.
put resource-r0/actual-alpha/is-attached 1
put resource-r0/actual-alpha/is-primary 1
put resource-r0/actual-alpha/msg-err-disk "1.0 2.0 read error"
head -c 3000 /dev/zero > "$MARS_ROOT/resource-r0/log-000000001-alpha"
head -c 5000 /dev/zero > "$MARS_ROOT/resource-r0/log-000000002-alpha"
put resource-r0/replay-alpha log-000000001-alpha,1000,0
put resource-r0/todo-alpha/emergency-limit 20
put resource-r0/actual-alpha/is-emergency 1
# r1: half synced, a split brain reported by bravo's kernel.
put resource-r1/syncstatus-alpha 2097152
put resource-r1/actual-alpha/amount-sync_rate 1024
put resource-r1/actual-bravo/msg-err-splitbrain-detected "split brain"
# r0: bravo is a member too; both kernels publish their fetch (alpha's counter from an
# earlier time as secondary, bravo fetching at 300 KiB/s).
put resource-r0/data-bravo /dev/vdb
put resource-r0/actual-alpha/amount-file_bytes 4096
put resource-r0/actual-alpha/amount-file_rate 0
put resource-r0/actual-bravo/amount-file_bytes 123456789
put resource-r0/actual-bravo/amount-file_rate 300
put resource-r0/syncstatus-bravo 4096
put resource-r0/replay-bravo log-000000002-alpha,1234,0
put resource-r0/actual-bravo/amount-replay_rate 20
# r1: bravo designated, alpha fetches at 50 KiB/s (the fetch line of view uses this rate).
put resource-r1/primary bravo
put resource-r1/actual-alpha/amount-file_rate 50
put resource-r1/actual-alpha/amount-file_bytes 777
# Bytes logged: alpha logged 8000 bytes of r0.
put resource-r0/actual-alpha/amount-log_bytes 8000
# r2: alpha primary, its logger appended up to 2000 (1500 written back, 500 dirty; the file
# is longer: zeros written ahead); bravo replayed all of it (lag 0 whatever its stamp says),
# charlie is behind at 10, its newest replayed record 100 s old (lag 100 s).
put resource-r2/data-bravo /dev/vdc
put resource-r2/data-charlie /dev/vdc
head -c 8192 /dev/zero > "$MARS_ROOT/resource-r2/log-000000001-alpha"
put resource-r2/replay-alpha log-000000001-alpha,1500,500
put resource-r2/replay-bravo log-000000001-alpha,2000,0
put resource-r2/actual-bravo/replay-stamp 1999000000
put resource-r2/replay-charlie log-000000001-alpha,10,0
put resource-r2/actual-charlie/replay-stamp 1999999900
# r3: bravo designated, alpha (this host) and charlie secondaries; alpha has fetched and
# replayed all bravo's log (its lag is the age of bravo's last heartbeat); charlie is behind
# but this host is no primary to judge it.
put resource-r3/primary bravo
put resource-r3/data-bravo /dev/vdd
put resource-r3/data-charlie /dev/vdd
head -c 1000 /dev/zero > "$MARS_ROOT/resource-r3/log-000000001-bravo"
put resource-r3/version-000000001-bravo "00000000000000000000000000000000,log-000000001-bravo,1000:"
put resource-r3/replay-alpha log-000000001-bravo,1000,0
put resource-r3/actual-alpha/replay-stamp 1999999000
put resource-r3/replay-charlie log-000000001-bravo,10,0
put resource-r3/actual-charlie/replay-stamp 1999990000
# The kernel's statistics.
echo 12345 > "$MARS_PROC/log_fetch_bytes"
echo 678 > "$MARS_PROC/sync_data_bytes"
echo 9 > "$MARS_PROC/sync_sum_bytes"
echo 4096 > "$MARS_PROC/sync_copied_bytes"
echo 0 > "$MARS_PROC/sync_served_bytes"
echo 3 > "$MARS_PROC/net_refused_entries"
echo 2 > "$MARS_PROC/net_refused_connections"
echo 1 > "$MARS_PROC/sync_connections"

"$marsadm" view --json > "$tmp/view.json" 2> "$tmp/err" || { cat "$tmp/err"; echo "Bail out! view --json failed"; exit 1; }
"$marsadm" view --prometheus > "$tmp/metrics.txt" 2> "$tmp/err" ||
	{ cat "$tmp/err"; echo "Bail out! view --prometheus failed"; exit 1; }
# Debian's python3, which the package serves (PATH may name another one first).
/usr/bin/python3 "$top/tests/host/prometheus_compare.py" "$tmp/view.json" "$tmp/metrics.txt" "$MARS_PROC"
