#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 400
#
# Promise: with /mars mounted, the strategy thread of mars.ko keeps this host's alive links
# /mars/actual-<host>/{time,alive,tree}: `time` is a Lamport stamp whose symlink mtime is that
# very stamp, rewritten every round; /proc/sys/mars/trigger forces a round at once even when
# the scan interval is long; the scan advances the Lamport clock with link mtimes it sees, but
# a link stamped years ahead does not drag it; rmmod is prompt even while the thread sleeps and
# leaves alive=0; stamps keep moving forward across a reload; without /mars mounted the module
# loads, stays idle and unloads cleanly.
. /mars-tests/lib.sh
ktap_begin

actual=/mars/actual-$mars_host
clock_field() { sed -n "s/^$1=\([0-9]*\)\..*/\1/p" /proc/sys/mars/lamport_clock; }
links_exist() { [ -L "$actual/time" ] && [ -L "$actual/alive" ] && [ -L "$actual/tree" ]; }
time_differs() { [ "$(readlink "$actual/time")" != "$1" ]; }
# stamp_newer A B: whether the Lamport stamp A (sec.nsec, nine digits) is later than B.
stamp_newer() {
	[ "${1%.*}" -gt "${2%.*}" ] || { [ "${1%.*}" -eq "${2%.*}" ] && [ "1${1#*.}" -gt "1${2#*.}" ]; }
}

check "mkfs.ext4 /dev/vdb" mkfs.ext4 -q -F /dev/vdb
check "mount /dev/vdb on /mars" mount -t ext4 /dev/vdb /mars
check "modprobe mars" modprobe mars
check "alive links appear within the scan interval" wait_for 6 links_exist
check_eq "alive is 1" 1 "$(readlink "$actual/alive")"
check_eq "tree is 0.1" 0.1 "$(readlink "$actual/tree")"

# A long interval, and one triggered round to start it: from then on the tree stays quiet.
write_knob scan_interval_sec 300
write_knob trigger 1
sleep 2
stamp=$(readlink "$actual/time")
echo "# time: $stamp"
check "time is a Lamport stamp sec.nsec" sh -c 'echo "$1" | grep -Eq "^[0-9]+\.[0-9]{9}$"' - "$stamp"
check_eq "time's mtime (stat %Y) is its value's seconds" "${stamp%.*}" "$(stat -c %Y "$actual/time")"
mtime_ns=$(stat -c %y "$actual/time" | sed -n 's/^[^.]*\.\([0-9]*\).*/\1/p')
check_eq "time's mtime nanoseconds are its value's" "${stamp#*.}" "$mtime_ns"
sleep 3
check_eq "no round without trigger during a 300 s interval" "$stamp" "$(readlink "$actual/time")"
write_knob trigger 1
check "trigger updates time within a few seconds" wait_for 5 time_differs "$stamp"

# The scan believes link stamps up to max_lamport_future ahead, and no further.
mkdir -p /mars/userspace
ln -s bogus /mars/userspace/far-future
touch -h -d "@$(($(clock_field CURRENT_TIME) + 10 * 365 * 86400))" /mars/userspace/far-future
write_knob trigger 1
sleep 3
real=$(clock_field CURRENT_TIME); lamport=$(clock_field lamport_now)
max_future=$(cat /proc/sys/mars/max_lamport_future)
echo "# after a link 10 years ahead: lamport_now - CURRENT_TIME = $((lamport - real)) s"
check "a link 10 years ahead moves lamport_now less than max_lamport_future" \
	test $((lamport - real)) -lt "$max_future"
near=$((real + 3600))
ln -s plausible /mars/userspace/near-future
touch -h -d "@$near" /mars/userspace/near-future
write_knob trigger 1
check "a link 1 hour ahead advances lamport_now to its stamp" \
	wait_for 5 sh -c '[ "$(sed -n "s/^lamport_now=\([0-9]*\)\..*/\1/p" /proc/sys/mars/lamport_clock)" -ge "$1" ]' - "$near"
stamp=$(readlink "$actual/time")
write_knob trigger 1
check "time then carries the advanced Lamport clock" \
	wait_for 5 sh -c '[ "$(readlink "$1")" != "$2" ] && [ "$(readlink "$1" | cut -d. -f1)" -ge "$3" ]' - \
	"$actual/time" "$stamp" "$near"

# rmmod in the middle of a 300 s sleep.
sleep 1
start=$(clock_field CURRENT_TIME)
check "rmmod mars during a long sleep" rmmod mars
took=$(($(date +%s) - start))
echo "# rmmod took about $took s"
check "rmmod returned within 3 seconds" test "$took" -le 3
check_eq "alive is 0 after rmmod" 0 "$(readlink "$actual/alive")"

# The clock restarts with the module; the stamps it writes must still move forward, also
# when the last ones came from a clock that ran ahead (and the link that drove it is gone).
old=$(readlink "$actual/time")
rm /mars/userspace/near-future
check "modprobe mars again" modprobe mars
check "alive is 1 again" wait_for 6 sh -c '[ "$(readlink "$1")" = 1 ]' - "$actual/alive"
new=$(readlink "$actual/time")
echo "# time before: $old, after reload: $new"
check "time moves forward across a reload" stamp_newer "$new" "$old"
check "rmmod mars again" rmmod mars

# Without /mars mounted: load, stay idle, unload.
check "umount /mars" wait_for 5 umount /mars
check "modprobe mars without /mars mounted" modprobe mars
sleep 2
check_fails "nothing written to the unmounted /mars" test -e "$actual"
check "the module says it is idle" sh -c 'dmesg | grep -q "/mars is not a mounted filesystem"'
check "rmmod mars" rmmod mars
check "no mars.ko message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q mars'

ktap_end
