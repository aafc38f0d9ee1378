#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1800
# data-disk: 64M
# mars-disk: 512M
#
# Promise: a forced failover while the primary is cut off makes a split brain that is
# reported on every host and never mixes the two sides' writes. alpha is primary of r0 and
# bravo has replayed region P. The network is cut (every packet dropped, on both sides).
# On bravo `marsadm primary r0` is refused (alpha is not reachable) and `primary --force`
# makes bravo primary; bravo writes region B through /dev/mars/r0, alpha writes region A
# through its /dev/mars/r0. After the network is back alpha, whose device is closed, steps
# down; `marsadm view` and `view --json` on both hosts report the split brain naming both
# hosts and their common ancestor, and alpha's status line shows it as the losing side
# (`SplitBrain ReplayHalted`, not consistent); alpha's kernel stops its replay there; each device keeps
# P and its own region, and the other side's region never arrives (it stays zero).
#
# Then the documented resolution with bravo's side surviving: on alpha (which has already
# stepped down) `marsadm invalidate r0` and `marsadm log-purge-all r0`. Afterwards `view`
# (text and JSON) reports no split brain on either host, alpha's sync finishes and `view`
# calls alpha consistent, alpha's region A is gone (zero, as on bravo) and bravo's region B
# is there, a new write of bravo (region C) arrives on alpha, and alpha's whole data device
# is byte-identical to bravo's /dev/mars/r0 (md5sum of the whole device).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; peer=bravo; peer_ip=10.77.0.2; else ktap_begin; peer=alpha; peer_ip=10.77.0.1; fi

# region_md5 DEV MIB: checksum of 1 MiB at MIB MiB, read past the page cache.
region_md5() { dd if="$1" bs=1M skip="$2" count=1 iflag=direct 2>/dev/null | md5sum | cut -c1-32; }
# region_write DEV MIB FILE: writes FILE (1 MiB) there, durably.
region_write() { dd if="$3" of="$1" bs=1M seek="$2" count=1 oflag=direct conv=fsync,notrunc 2>/dev/null; }
zero_md5=$(dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum | cut -c1-32)
P=1 A=16 B=32 C=48
# The cut: every packet towards the peer dropped (netem), on this side.
peer_dev() { ip route get "$peer_ip" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1; }
net_cut() { /sbin/tc qdisc add dev "$(peer_dev)" root netem loss 100%; }
net_restore() { /sbin/tc qdisc del dev "$(peer_dev)" root; }
unreachable() { ! ping -c 1 -W 1 "$peer_ip" >/dev/null 2>&1 && ! ping -c 1 -W 1 "$peer_ip" >/dev/null 2>&1; }
# split_seen: `view` and `view --json` both report the split brain with both hosts.
split_seen() {
	text=$(marsadm view r0) && json=$(marsadm view r0 --json) || return 1
	echo "$text" | grep -q "SPLIT BRAIN between 'alpha' and 'bravo': common ancestor log-" || return 1
	echo "$json" | tr -d ' \n' | grep -q '"detected":true' || return 1
	echo "$json" | tr -d ' \n' | grep -q '"hosts":\["alpha","bravo"\]'
}
# split_gone: neither `view` nor `view --json` reports (or suspects) a split brain.
split_gone() {
	text=$(marsadm view r0) && json=$(marsadm view r0 --json) || return 1
	! echo "$text" | grep -q "SPLIT BRAIN" || return 1
	echo "$json" | tr -d ' \n' | grep -q '"detected":false' || return 1
	echo "$json" | tr -d ' \n' | grep -q '"suspected":false'
}
size() { readlink $res/size; }

mars_cluster_up
if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo joined" wait_for 240 is_link /mars/userspace/joined-bravo
	dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null
	check "write region P on alpha" region_write /dev/mars/r0 $P /tmp/p
	marsadm set-link "$(md5sum < /tmp/p | cut -c1-32)" userspace/md5-p
	check "bravo replayed region P" wait_for 240 is_link /mars/userspace/has-p-bravo
	check "cut the network to bravo" net_cut
	dd if=/dev/urandom of=/tmp/a bs=1M count=1 2>/dev/null
	check "write region A on alpha while cut off" region_write /dev/mars/r0 $A /tmp/a
	sleep 20
	check "restore the network on alpha's side" net_restore
	check "bravo is reachable again" wait_reachable $peer_ip 300
	check "alpha learns that bravo is primary" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = bravo ]"
	check "alpha steps down (its device was closed)" wait_for 120 sh -c "[ ! -b /dev/mars/r0 ] && [ \"\$(readlink $res/actual-alpha/is-primary)\" = 0 ]"
	check "view on alpha reports the split brain with both hosts" wait_for 120 split_seen
	marsadm view r0 | sed 's/^/# /'
	losing_side() {
		marsadm view r0 | grep -q '^r0 SplitBrain ReplayHalted Secondary bravo$' &&
			marsadm view r0 --json | tr -d ' \n' | grep -q '"this_host_forked":true' &&
			marsadm view r0 --json | tr -d ' \n' | grep -q '"consistent":false'
	}
	check "view on alpha: the losing side (SplitBrain ReplayHalted, not consistent)" wait_for 60 losing_side
	check "alpha's kernel stops its replay at the split brain" wait_for 120 sh -c \
		"readlink $res/actual-alpha/msg-err-splitbrain-detected | grep -q 'does not continue'"
	check_eq "alpha's device keeps region P" "$(readlink /mars/userspace/md5-p)" "$(region_md5 /dev/vda $P)"
	check_eq "alpha's device keeps alpha's region A" "$(md5sum < /tmp/a | cut -c1-32)" "$(region_md5 /dev/vda $A)"
	check_eq "bravo's region B never reaches alpha" "$zero_md5" "$(region_md5 /dev/vda $B)"
	marsadm set-link 1 userspace/done-alpha
	wait_for 300 is_link /mars/userspace/done-bravo

	# --- Resolution: bravo's side survives, alpha gives up its writes since the split ---
	resolve() {
		out=$(marsadm invalidate r0 --timeout 120 2>&1); rc=$?
		echo "$out"; [ $rc = 0 ]
	}
	check "marsadm invalidate r0 on alpha" resolve
	check "view on alpha no longer reports a split brain" wait_for 120 split_gone
	check "alpha's full sync from bravo finishes" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-alpha)\" = \"\$(readlink $res/size)\" ]"
	check "marsadm log-purge-all r0 on alpha" marsadm log-purge-all r0
	marsadm set-link 1 userspace/resolved-alpha
	has_c() { is_link /mars/userspace/md5-c && [ "$(readlink /mars/userspace/md5-c)" = "$(region_md5 /dev/vda $C)" ]; }
	check "bravo's new region C arrives on alpha" wait_for 300 has_c
	check_eq "alpha's region A written during the split is gone" "$zero_md5" "$(region_md5 /dev/vda $A)"
	check_eq "bravo's region B is on alpha" "$(readlink /mars/userspace/md5-b)" "$(region_md5 /dev/vda $B)"
	check "bravo's checksum of its whole device arrived" wait_for 120 is_link /mars/userspace/md5-all-bravo
	same_as_bravo() { [ "$(device_md5 /dev/vda "$(size)")" = "$(readlink /mars/userspace/md5-all-bravo)" ]; }
	check "alpha's data device is byte-identical to bravo's" wait_for 120 same_as_bravo
	check "view on alpha: consistent" wait_for 60 sh -c "marsadm view r0 --json | tr -d ' \n' | grep -q '\"consistent\":true'"
	marsadm view r0 | sed 's/^/# /'
	marsadm set-link 1 userspace/resolved-done-alpha
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	wait_for 60 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	marsadm set-link 1 userspace/joined-bravo
	has_p() { is_link /mars/userspace/md5-p && [ "$(region_md5 /dev/vda $P)" = "$(readlink /mars/userspace/md5-p)" ]; }
	check "region P replayed" wait_for 240 has_p
	marsadm set-link 1 userspace/has-p-bravo
	check "alpha is cut off" wait_for 300 unreachable
	check "cut the network to alpha" net_cut
	# alpha's last heartbeat here must be older than 2 x 5 s for the refusal below.
	sleep 15
	refused() {
		out=$(marsadm primary r0 --window 5 --timeout 30 2>&1) && { echo "$out"; return 1; }
		echo "$out"; echo "$out" | grep -q "is not reachable" && echo "$out" | grep -q "primary --force"
	}
	check "primary without --force is refused: alpha is not reachable" refused
	check_eq "the refusal changed nothing" alpha "$(readlink $res/primary)"
	forced() {
		out=$(marsadm primary r0 --force --timeout 120 2>&1); rc=$?
		echo "$out"; [ $rc = 0 ] && echo "$out" | grep -q "from 'alpha' to 'bravo' (forced)"
	}
	check "primary --force makes bravo primary" forced
	check "/dev/mars/r0 is here" wait_for 60 test -b /dev/mars/r0
	check_eq "bravo's device starts from the replayed data (region P)" "$(readlink /mars/userspace/md5-p)" "$(region_md5 /dev/mars/r0 $P)"
	dd if=/dev/urandom of=/tmp/b bs=1M count=1 2>/dev/null
	check "write region B on bravo" region_write /dev/mars/r0 $B /tmp/b
	marsadm set-link "$(md5sum < /tmp/b | cut -c1-32)" userspace/md5-b
	check "restore the network on bravo's side" net_restore
	check "alpha is reachable again" wait_reachable $peer_ip 300
	check "view on bravo reports the split brain with both hosts" wait_for 180 split_seen
	marsadm view r0 | sed 's/^/# /'
	check_eq "bravo's device keeps region P" "$(readlink /mars/userspace/md5-p)" "$(region_md5 /dev/mars/r0 $P)"
	check_eq "bravo's device keeps bravo's region B" "$(md5sum < /tmp/b | cut -c1-32)" "$(region_md5 /dev/mars/r0 $B)"
	wait_for 300 is_link /mars/userspace/done-alpha
	check_eq "alpha's region A never reaches bravo" "$zero_md5" "$(region_md5 /dev/mars/r0 $A)"
	marsadm set-link 1 userspace/done-bravo

	# --- Resolution (on alpha): bravo's data are the resource's data ---
	check "alpha invalidated" wait_for 600 is_link /mars/userspace/resolved-alpha
	check "view on bravo no longer reports a split brain" wait_for 120 split_gone
	dd if=/dev/urandom of=/tmp/c bs=1M count=1 2>/dev/null
	check "write region C on bravo" region_write /dev/mars/r0 $C /tmp/c
	marsadm set-link "$(md5sum < /tmp/c | cut -c1-32)" userspace/md5-c
	all=$(device_md5 /dev/mars/r0 "$(size)")
	echo "# bravo's /dev/mars/r0: $all"
	marsadm set-link "$all" userspace/md5-all-bravo
	check "alpha's device equals bravo's" wait_for 600 is_link /mars/userspace/resolved-done-alpha
	marsadm view r0 | sed 's/^/# /'
fi
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
