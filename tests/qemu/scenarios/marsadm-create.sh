#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 300
#
# Promise: on a fresh /mars with mars.ko loaded, `marsadm create-cluster` and
# `marsadm create-resource r0 /dev/vda` write the links of the original MARS (names and
# values), each stamped with a Lamport time not behind the clock before the command and
# strictly increasing in write order, and the kernel's clock follows them; every bad input on
# real devices (missing device, a device of 64 KiB, a mounted device, bad and reserved names,
# an existing resource, a second create-cluster) is refused with exit code 1 and a message,
# leaving every entry of /mars exactly as it was.
. /mars-tests/lib.sh
ktap_begin

h=$mars_host
res=/mars/resource-r0
lamport_now() { sed -n 's/^lamport_now=//p' /proc/sys/mars/lamport_clock; }
# mtime PATH: the mtime of the link itself as sec.nsec.
mtime() { echo "$(stat -c %Y "$1").$(stat -c %y "$1" | sed -n 's/^[^.]*\.\([0-9]\{9\}\).*/\1/p')"; }
# stamp_ge A B: whether the stamp A (sec.nsec, nine digits) is not before B.
stamp_ge() {
	[ "${1%.*}" -gt "${2%.*}" ] || { [ "${1%.*}" -eq "${2%.*}" ] && [ "1${1#*.}" -ge "1${2#*.}" ]; }
}
stamp_gt() { [ "$1" != "$2" ] && stamp_ge "$1" "$2"; }
# listing: every entry of /mars with type, mode, size, mtime (ns), link value, and the
# checksum of every regular file. The kernel's heartbeat (actual-<host>/time and its
# directory) changes by itself and is left out.
listing() {
	find /mars | sort | grep -v -e "^/mars/actual-$h\$" -e "^/mars/actual-$h/time\$" |
		xargs stat -c '%n %F %a %s %y %N'
	find /mars -type f | sort | xargs -r md5sum
}
# links_in_order START PATH...: the links are stamped not before START, strictly increasing.
links_in_order() {
	start=$1 prev=; shift
	for p in "$@"; do
		m=$(mtime "$p")
		if [ -z "$prev" ]; then
			stamp_ge "$m" "$start" || { echo "$p: $m is before $start"; return 1; }
		else
			stamp_gt "$m" "$prev" || { echo "$p: $m is not after $prev"; return 1; }
		fi
		prev=$m
	done
}
# refused DESCRIPTION MESSAGE-PATTERN COMMAND...: the command exits 1, says something
# matching the pattern, and /mars is unchanged.
refused() {
	desc=$1 pat=$2; shift 2
	before=$(listing)
	out=$("$@" 2>&1); rc=$?
	after=$(listing)
	if [ "$rc" = 1 ] && echo "$out" | grep -q -e "$pat" && [ "$before" = "$after" ]; then
		ktap_result ok "$desc"
	else
		echo "# exit code $rc, output:"; echo "$out" | sed 's/^/#   /'
		[ "$before" = "$after" ] || { echo "# /mars changed:"; diff_listing "$before" "$after"; }
		ktap_result fail "$desc"
	fi
}
diff_listing() {
	echo "$1" > /tmp/before; echo "$2" > /tmp/after
	diff /tmp/before /tmp/after | sed 's/^/#   /'
}
link_is() { check_eq "$1 -> $2" "$2" "$(readlink "$1")"; }

check "mkfs.ext4 /dev/vdb" mkfs.ext4 -q -F /dev/vdb
check "mount /dev/vdb on /mars" mount -t ext4 /dev/vdb /mars
check "modprobe mars" modprobe mars
# One round now, then a quiet tree: rounds come only on trigger.
write_knob scan_interval_sec 300
write_knob trigger 1
sleep 1

refused "a tree command before create-cluster is refused" "create-cluster first" marsadm attach r0

# --- create-cluster -------------------------------------------------------------------------
lam0=$(lamport_now)
check "create-cluster" marsadm create-cluster
uuid=$(readlink /mars/uuid)
echo "# uuid: $uuid"
check "uuid is <host>_<lamport stamp>" sh -c 'echo "$1" | grep -Eq "^$2_[0-9]+\.[0-9]{9}$"' - "$uuid" "$h"
check "uuid's stamp is not before lamport_now before the command" stamp_ge "${uuid#*_}" "$lam0"
link_is /mars/ips/ip-$h 10.77.0.1
link_is /mars/defaults-$h/sync-limit 0
link_is /mars/defaults-$h/sync-pref-list "(none)"
link_is /mars/actual-$h/marsadm-version 2.9
check "directories ips defaults defaults-$h todo-global userspace actual-$h" \
	test -d /mars/ips -a -d /mars/defaults -a -d /mars/defaults-$h -a -d /mars/todo-global \
	-a -d /mars/userspace -a -d /mars/actual-$h
check "cluster links stamped from lamport_now on, strictly increasing in write order" links_in_order "$lam0" \
	/mars/actual-$h/marsadm-version /mars/uuid /mars/defaults-$h/sync-limit \
	/mars/defaults-$h/sync-pref-list /mars/ips/ip-$h
refused "create-cluster twice is refused" "already created" marsadm create-cluster

# --- create-resource ------------------------------------------------------------------------
# Written while the module is not loaded, so the links can be checked before the kernel acts
# on them (it attaches the device and starts logging at once).
size=$(($(cat /sys/block/vda/size) * 512))
lam1=$(lamport_now)
check "rmmod mars (create-resource works offline)" rmmod mars
check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
link_is $res/size "$size"
link_is $res/data-$h /dev/vda
link_is $res/device-$h r0
link_is $res/primary "$h"
link_is $res/userspace/last-primary "$h"
link_is $res/syncstatus-$h "$size"
link_is $res/replay-$h "log-000000001-$h,0,0"
link_is $res/version-000000000-$h "00000000000000000000000000000000,log-000000000-$h,0:"
link_is $res/version-000000001-$h \
	"00000000000000000000000000000000,log-000000001-$h,0:00000000000000000000000000000000,log-000000000-$h,0"
link_is $res/maxnr 1
link_is $res/actual-$h/if-on 0
link_is $res/todo-$h/attach 1
link_is $res/todo-$h/connect 1
link_is $res/todo-$h/sync 1
link_is $res/todo-$h/allow-replay 1
check "log-000000001-$h is an empty regular file" sh -c '[ -f "$1" ] && [ ! -L "$1" ] && [ ! -s "$1" ]' - \
	$res/log-000000001-$h
check "no skip-check link for a first resource" test ! -e $res/skip-check-$h
check "directories userspace defaults defaults-$h local-$h actual-$h todo-$h" \
	test -d $res/userspace -a -d $res/defaults -a -d $res/defaults-$h -a -d $res/local-$h \
	-a -d $res/actual-$h -a -d $res/todo-$h
check "no temporaries left" sh -c '! find /mars -name ".tmp*" | grep -q .'
check "resource links stamped from lamport_now on, strictly increasing in write order, attach last" \
	links_in_order "$lam1" $res/size $res/data-$h $res/device-$h $res/actual-$h/if-on \
	$res/todo-$h/connect $res/todo-$h/sync $res/todo-$h/allow-replay $res/primary \
	$res/userspace/last-primary $res/syncstatus-$h $res/replay-$h $res/version-000000000-$h \
	$res/version-000000001-$h $res/maxnr $res/todo-$h/attach
last=$(mtime $res/todo-$h/attach)
json=$(marsadm view r0 --json)
check "view --json: attach switch set, kernel not yet" sh -c 'echo "$1" | grep -q "\"state\": \"switching-on\""' - "$json"
check "modprobe mars" modprobe mars
check "the first round brings the kernel's clock up to the newest stamp" \
	wait_for 5 sh -c 'f() { [ "${1%.*}" -gt "${2%.*}" ] || { [ "${1%.*}" -eq "${2%.*}" ] && [ "1${1#*.}" -ge "1${2#*.}" ]; }; };
		f "$(sed -n "s/^lamport_now=//p" /proc/sys/mars/lamport_clock)" "$1"' - "$last"

check "the kernel attaches and starts /dev/mars/r0" wait_for 20 test -b /dev/mars/r0
json=$(marsadm view r0 --json)
check "view --json: r0 designated primary $h" sh -c 'echo "$1" | grep -q "\"designated_primary\": \"$2\""' - "$json" "$h"
check "view names r0 and /dev/vda" sh -c 'marsadm view r0 | grep -q "^r0 " && marsadm view r0 | grep -q /dev/vda'

# --- refusals on real devices ----------------------------------------------------------------
refused "a missing device is refused" "does not exist" marsadm create-resource r1 /dev/nonexistent
truncate -s 64K /tmp/tiny.img
loop=$(losetup -f)
losetup "$loop" /tmp/tiny.img
refused "a device of 64 KiB is refused as too small" "too small" marsadm create-resource r1 "$loop"
losetup -d "$loop"
refused "a mounted device (/dev/vdb under /mars) is refused" "exclusive" marsadm create-resource r1 /dev/vdb
refused "a name with a dot is refused" "disallowed characters" marsadm create-resource bad.name /dev/vda
refused "the reserved name 'none' is refused" "reserved" marsadm create-resource none /dev/vda
refused "'all' is refused as a resource name" "reserved" marsadm create-resource all /dev/vda
refused "a 64-character name is refused" "too long" marsadm create-resource \
	aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa /dev/vda
refused "an existing resource is refused" "already member" marsadm create-resource r0 /dev/vda
refused "a device held by a resource is refused" "exclusive" marsadm create-resource r1 /dev/vda
truncate -s 1M /tmp/small.img
loop=$(losetup -f)
losetup "$loop" /tmp/small.img
refused "a size above the device size is refused" "larger than the device" \
	marsadm create-resource r1 "$loop" --size=1T
refused "a device name used by another resource is refused" "already exists" \
	marsadm create-resource r1 "$loop" r0
losetup -d "$loop"

check "rmmod mars" rmmod mars
check "the device is gone with the module" test ! -e /dev/mars/r0
ktap_end
