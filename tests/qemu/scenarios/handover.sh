#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 1500
# data-disk: 64M
# mars-disk: 512M
#
# Promise: planned handover moves a filesystem around the cluster without losing a write:
# alpha → bravo → charlie → alpha, each time with `marsadm primary r0` on the next host. Each
# primary mounts /dev/mars/r0, checks every file written so far against a checksum list
# whose own checksum the previous primary published (so a lost or stale write fails), adds
# files, unmounts and hands on. `marsadm primary` is refused while the device is still
# mounted on the current primary, and `secondary`/`primary` on a host that is not up to date
# waits rather than switching early. At the end every data device is byte-identical.
# Every host records `marsadm events --json r0` throughout; its stream shows each handover
# it took part in, in order: the new designation, then the kernel's role (tests/qemu/guest/lib.sh,
# events_*); Ctrl-C (SIGINT) ends the recorder with exit 0.
. /mars-tests/lib.sh

h=$mars_host
secondaries="bravo charlie"
order="alpha bravo charlie alpha"
res=/mars/resource-r0
# Checks: common 5 + 2 at the end; alpha +3 (create) +2 (first turn) +5 (last turn);
# bravo and charlie +2 (join) +5 (their turn), bravo +1 (the refusal).
case $h in
alpha) ktap_begin ;;
bravo) ktap_begin ;;
*) ktap_begin ;;
esac

all_joined() { for x in $secondaries; do is_link "/mars/userspace/joined-$x" || return 1; done; }
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
# verify: every file listed in /mnt/sums is intact, and the list is the one published.
verify() {
	[ "$(md5sum < /mnt/sums | cut -c1-32)" = "$(readlink /mars/userspace/sums-$1)" ] || { echo "checksum list differs"; return 1; }
	(cd /mnt && md5sum -c sums)
}
# add_files TURN: new files, appended to the checksum list.
add_files() {
	for i in 1 2 3; do
		dd if=/dev/urandom of="/mnt/t$1-$i" bs=1M count=2 2>/dev/null || return 1
		(cd /mnt && md5sum "t$1-$i") >> /mnt/sums || return 1
	done
	sync
}

mars_cluster_up
if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "every secondary joined" wait_for 240 all_joined
	check "mkfs on /dev/mars/r0" sh -c "mkfs.ext4 -q -F /dev/mars/r0"
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	# The replay starts once the (fast) full sync finished.
	wait_for 300 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	marsadm set-link 1 "userspace/joined-$h"
fi
check "wait-cluster" marsadm wait-cluster --timeout 120
events_start handover r0

turn=0
for p in $order; do
	if [ "$p" = "$h" ]; then
		if [ "$turn" -gt 0 ]; then
			prev=$((turn - 1))
			check "turn $turn: primary r0 (handover)" marsadm primary r0 --timeout 400
			check "turn $turn: /dev/mars/r0 is here" wait_for 30 test -b /dev/mars/r0
		fi
		check "turn $turn: mount" sh -c "mkdir -p /mnt && mount /dev/mars/r0 /mnt"
		if [ "$turn" -gt 0 ]; then
			check "turn $turn: every file written before is intact" verify "$prev"
		else
			touch /mnt/sums
		fi
		check "turn $turn: add files" add_files "$turn"
		marsadm set-link "$(md5sum < /mnt/sums | cut -c1-32)" "userspace/sums-$turn"
		if [ "$h" = alpha ] && [ "$turn" = 0 ]; then
			# bravo tries to take over while the device is mounted here.
			marsadm set-link 1 userspace/mounted-0
			wait_for 300 is_link /mars/userspace/tried-0
		fi
		umount /mnt
		marsadm set-link 1 "userspace/done-$turn"
	elif [ "$h" = bravo ] && [ "$turn" = 0 ]; then
		wait_for 300 is_link /mars/userspace/mounted-0
		refused_in_use() {
			out=$(marsadm primary r0 --timeout 60 2>&1) && return 1
			echo "$out"; echo "$out" | grep -q 'in use' && [ ! -b /dev/mars/r0 ]
		}
		check "primary is refused while alpha has the device mounted" refused_in_use
		marsadm set-link 1 userspace/tried-0
	fi
	wait_for 600 is_link "/mars/userspace/done-$turn"
	turn=$((turn + 1))
done

# Quiesced: every device equals the final primary's.
if [ "$h" = alpha ]; then
	marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5-final
	check "every secondary is byte-identical" wait_for 300 sh -c \
		"is_link() { [ -L \"\$1\" ]; }; is_link /mars/userspace/same-bravo && is_link /mars/userspace/same-charlie"
else
	wait_for 120 is_link /mars/userspace/md5-final
	want=$(readlink /mars/userspace/md5-final)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device becomes byte-identical to alpha's" wait_for 300 same
	same && marsadm set-link 1 "userspace/same-$h"
fi
events_stop handover
# The handovers as this host's stream shows them: the designation moves, then the kernel's role.
r0_is() { echo "type=resource name=r0 $*"; }
case $h in
alpha) events_expect handover "alpha hands over to bravo and takes over from charlie" \
	"$(r0_is primary=bravo)" "$(r0_is role=Secondary)" "$(r0_is primary=charlie)" "$(r0_is primary=alpha)" "$(r0_is role=Primary)" ;;
bravo) events_expect handover "bravo takes over from alpha and hands over to charlie" \
	"$(r0_is primary=bravo)" "$(r0_is role=Primary)" "$(r0_is primary=charlie)" "$(r0_is role=Secondary)" ;;
*) events_expect handover "charlie takes over from bravo and hands over to alpha" \
	"$(r0_is primary=charlie)" "$(r0_is role=Primary)" "$(r0_is primary=alpha)" "$(r0_is role=Secondary)" ;;
esac
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
