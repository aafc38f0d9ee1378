#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1500
# data-disk: 64M
# mars-disk: 256M
#
# Promise: membership changes and log housekeeping keep a running cluster intact.
# * Bad input is refused with a clear error and changes nothing: join-cluster with an
#   unreachable address, a port where nothing listens, or the host's own address;
#   join-resource of an unknown resource or with a too small device; create-resource of an
#   existing resource name; leave-resource while switches are on or on the primary;
#   delete-resource while members are left; deactivate-guest of a storage member; a change
#   in another host's name (--host=alpha on bravo), which reads fine (view-is-primary).
# * Log housekeeping (`marsadm cron` on alpha): a logfile a lagging secondary (bravo, replay
#   paused) still needs is NOT deleted; once bravo has replayed it, it is deleted on alpha and
#   bravo's fetched copy disappears too; the tombstone is collected once bravo has seen it
#   and does not come back.
# * bravo leaves the resource while alpha keeps running and writing: bravo's data device is
#   free again and bravo's links are gone on both hosts; bravo joins again (its full sync
#   catches up) and replicates.
# * After both left, delete-resource deletes the resource on both hosts (view lists nothing).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then other=bravo; ktap_begin; else other=alpha; ktap_begin; fi

say() { marsadm set-link 1 "userspace/$1-$h" >/dev/null; }
await() { wait_for "${2:-300}" is_link "/mars/userspace/$1-$other"; }
is() { [ "$(readlink "$1")" = "$2" ]; }
# snapshot: the tree without what changes by itself (heartbeats, the other host's keys, the
# logger's replay and version links, directory mtimes); directories by name only.
snapshot() {
	{ find /mars -type d; find /mars ! -type d -exec stat -c '%n %s %y %N' {} +; } | sort |
		grep -v -e /actual- -e "-$other" -e /userspace -e /replay- -e /version- -e /log-
}
# unchanged COMMAND...: the command fails and the tree is the same before and after.
unchanged() {
	before=$(snapshot)
	"$@" && return 1
	[ "$before" = "$(snapshot)" ]
}
# synced: bravo's full sync is complete (both disks start zeroed: it finds them equal).
synced() { [ "$(readlink $res/syncstatus-bravo)" = "$(readlink $res/size)" ]; }
is_file() { [ -f "$1" ] && [ ! -L "$1" ]; }
gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
replays_in() { readlink "$res/replay-$1" | grep -q "^log-00000000$2-alpha,"; }
# replays_from HOST N: HOST's replay link is in logfile N or a later one.
replays_from() {
	_n=$(readlink "$res/replay-$1" | sed -n 's/^log-0*\([0-9][0-9]*\)-.*/\1/p')
	[ -n "$_n" ] && [ "$_n" -ge "$2" ]
}
# replay_log_stays HOST: the logfile HOST replays in (logfile 3 or, once cron rotated and
# HOST followed, a later one) is still here (alpha): log-delete keeps what a member needs.
replay_log_stays() {
	_n=$(readlink "$res/replay-$1" | sed -n 's/^log-0*\([0-9][0-9]*\)-.*/\1/p')
	[ -n "$_n" ] && [ "$_n" -ge 3 ] && is_file "$res/log-$(printf %09d "$_n")-alpha"
}
write_mib() { dd if=/dev/urandom of=/dev/mars/r0 bs=1M count="$1" seek="${2:-0}" oflag=direct 2>/dev/null; }
write_rotate() { write_mib "$1" "$2" && marsadm log-rotate r0; }

check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
check "modprobe mars" modprobe mars
if [ "$h" = alpha ]; then
	check "create-cluster" marsadm create-cluster --secret-file="$MARS_SECRET_FILE"
	check "bravo is known" wait_for 180 is_link /mars/ips/ip-bravo
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 30 test -b /dev/mars/r0
	check "leave-resource on the primary is refused, nothing changes" unchanged marsadm leave-resource r0
else
	wait_reachable alpha 60
	check "join-cluster with an unreachable address is refused, nothing changes" \
		unchanged marsadm join-cluster alpha 10.77.0.9 --timeout 5 --secret-file="$MARS_SECRET_FILE"
	check "join-cluster at a port where nothing listens is refused, nothing changes" \
		unchanged marsadm join-cluster alpha 10.77.0.1:7790 --secret-file="$MARS_SECRET_FILE"
	check "join-cluster with the own address is refused, nothing changes" \
		unchanged marsadm join-cluster alpha 10.77.0.2 --secret-file="$MARS_SECRET_FILE"
	check "join-cluster alpha" wait_for 120 marsadm join-cluster alpha --timeout 120 --secret-file="$MARS_SECRET_FILE"
	check "resource r0 arrived" wait_for 120 is $res/primary alpha
	# Not a member yet: activate-guest only makes sure r0 is known (it asks alpha for news);
	# there is no guest link to delete; acting as alpha reads alpha's state, changes nothing.
	check "activate-guest r0 (writes no guest link)" sh -c \
		"marsadm activate-guest r0 --timeout 60 && [ ! -e $res/device-bravo ]"
	check "deactivate-guest r0: nothing to do" sh -c "marsadm deactivate-guest r0 | grep -q 'no guest'"
	check "view as alpha with --host: alpha is primary" wait_for 60 sh -c \
		"[ \"\$(marsadm --host=alpha view-is-primary r0 2>/dev/null | tail -n 1)\" = 1 ]"
	check "a change in alpha's name is refused, nothing changes" \
		unchanged marsadm --host=alpha pause-sync r0
	check "make a 1 MiB device" sh -c "echo '0 2048 linear /dev/vda 0' | dmsetup create small && dmsetup mknodes small"
	check "join-resource with a too small device is refused, nothing changes" \
		unchanged marsadm join-resource r0 /dev/mapper/small
	check "create-resource of an existing resource name is refused, nothing changes" \
		unchanged marsadm create-resource r0 /dev/mapper/small
	check "remove it" dmsetup remove small
	check "join-resource of an unknown resource is refused, nothing changes" \
		unchanged marsadm join-resource r9 /dev/vda
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "the full sync finished" wait_for 400 synced
	check "replaying" wait_for 60 is $res/actual-bravo/is-replaying 1
	check "leave-resource while up is refused, nothing changes" unchanged marsadm leave-resource r0
	check "deactivate-guest of a storage member is refused, nothing changes" \
		unchanged marsadm deactivate-guest r0
	# Lag behind: keep fetching, stop replaying.
	check "pause the replay" marsadm set-link 0 resource-r0/todo-bravo/allow-replay
	check "replay stopped" wait_for 30 is $res/actual-bravo/is-replaying 0
	say paused
fi

# --- log housekeeping with a lagging secondary ---------------------------------------------
if [ "$h" = alpha ]; then
	check "bravo paused its replay" await paused
	check "write 2 MiB, log-rotate" write_rotate 2 0
	check "logging moved to logfile 2" wait_for 60 replays_in alpha 2
	check "write 2 MiB, log-rotate" write_rotate 2 2
	check "logging moved to logfile 3" wait_for 60 replays_in alpha 3
	check "write 1 MiB" write_mib 1 4
	check "bravo still needs logfile 1" replays_in bravo 1
	sleep 3
	check "cron" marsadm cron --window=1
	check "logfile 1 is kept while bravo needs it" is_file $res/log-000000001-alpha
	say cron1
	check "bravo caught up" await caught-up
	check "bravo's replay link arrived here" wait_for 60 replays_from bravo 3
	sleep 3
	check "cron" marsadm cron --window=1
	check "logfiles 1 and 2 are deleted" sh -c "is() { [ \"\$(readlink \"\$1\")\" = \"\$2\" ]; }
		is $res/log-000000001-alpha .deleted && is $res/log-000000002-alpha .deleted"
	check "the logfile bravo replays in stays" replay_log_stays bravo
	say deleted
	check "the tombstone is collected once bravo has seen it" \
		wait_for 120 sh -c "sleep 1; marsadm cron --window=1 >/dev/null 2>&1; [ ! -L $res/log-000000001-alpha ]"
	sleep 12
	check "and does not come back" gone $res/log-000000001-alpha
else
	check "logfile 2 arrived" wait_for 120 test -s $res/log-000000002-alpha
	check "alpha ran cron" await cron1
	check "bravo's copy of logfile 1 is kept" is_file $res/log-000000001-alpha
	check "resume the replay" marsadm set-link 1 resource-r0/todo-bravo/allow-replay
	check "bravo replays into logfile 3" wait_for 120 replays_from bravo 3
	say caught-up
	check "alpha deleted logfiles 1 and 2" await deleted
	check "bravo's copies of logfiles 1 and 2 disappear" \
		wait_for 60 sh -c "! test -f $res/log-000000001-alpha && ! test -f $res/log-000000002-alpha"
	# (alpha may have deleted logfile 3 too, once bravo followed a cron rotation into the empty
	# logfile 4, which bravo has nothing to fetch of: then its tombstone is here.)
	check "bravo's copy of logfile 3 stays unless alpha deleted it" sh -c \
		"[ -f $res/log-000000003-alpha ] && [ ! -L $res/log-000000003-alpha ] || [ \"\$(readlink $res/log-000000003-alpha)\" = .deleted ]"
fi

# --- bravo leaves while alpha keeps writing, then joins again ------------------------------
if [ "$h" = alpha ]; then
	check "bravo left" await left
	check "alpha keeps writing" write_mib 2 8
	check "alpha is still primary" is $res/actual-alpha/is-primary 1
	check "bravo's links are gone here" wait_for 60 sh -c "
		for l in data-bravo replay-bravo device-bravo todo-bravo/attach actual-bravo/is-attached; do
			[ ! -L $res/\$l ] || [ \"\$(readlink $res/\$l)\" = .deleted ] || exit 1
		done"
	check "delete-resource with members left is refused, nothing changes" unchanged marsadm delete-resource r0
	say checked
	check "bravo joined again" await rejoined
	check "bravo is a member here again" wait_for 60 is_link $res/data-bravo
	# Everybody leaves; then the resource goes.
	check "secondary" marsadm secondary r0
	check "down" marsadm down r0
	check "leave-resource r0" marsadm leave-resource r0
	say left2
	check "bravo left too" await left2
	check "bravo's leave arrived" wait_for 60 is $res/replay-bravo .deleted
	check "delete-resource r0" marsadm delete-resource r0
	say gone
else
	check "down" marsadm down r0
	check "leave-resource r0" marsadm leave-resource r0
	check "bravo's data device is free" sh -c "echo '0 8 linear /dev/vda 0' | dmsetup create probe && dmsetup remove probe"
	check "bravo's links are gone" sh -c "
		for l in data-bravo replay-bravo device-bravo todo-bravo/attach actual-bravo/is-attached; do
			[ \"\$(readlink $res/\$l)\" = .deleted ] || exit 1
		done"
	check "no copy of alpha's logfiles is left" sh -c "for f in $res/log-*; do [ -L \"\$f\" ] || [ ! -e \"\$f\" ] || exit 1; done"
	say left
	check "alpha checked" await checked
	check "join-resource r0 again" marsadm join-resource r0 /dev/vda
	check "the full sync finished again" wait_for 400 synced
	check "replaying again" wait_for 60 is $res/actual-bravo/is-replaying 1
	say rejoined
	check "alpha left" await left2
	check "down" marsadm down r0
	check "leave-resource r0" marsadm leave-resource r0
	say left2
	check "alpha deleted the resource" await gone
	check "the deletion arrived" wait_for 60 is $res/size .deleted
fi
check "view lists no resource" sh -c "! marsadm view | grep -q r0"
check "view r0 is refused" sh -c "! marsadm view r0"
check "rmmod mars" rmmod mars
ktap_end
