#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1200
# image: systemd
# data-disk: 64M
# mars-disk: 256M
# output: text
#
# The demo (make demo): two MARS hosts on a private network, each booting systemd as PID 1.
# alpha creates a cluster and a resource, bravo joins both (a fast full sync finds the fresh
# disks equal); alpha puts a filesystem on /dev/mars/demo and hands it to systemd
# (`marsadm set-systemd-unit demo DEFAULT`: the shipped mount unit on /mnt/mars/demo, made
# from its template), writes files there; bravo fetches the logfiles over port 7778 and
# replays them; then `marsadm primary demo` on bravo (planned handover): systemd unmounts the
# filesystem on alpha, the primary role moves, systemd mounts it on bravo, which finds
# alpha's files. Both data devices end byte-identical. Every step prints what it does.
. /mars-tests/lib.sh
h=$mars_host
res=/mars/resource-demo
mnt=/mnt/mars/demo
unit=mnt-mars-demo.mount
# As an operator's shell: marsadm outside a unit (the demo runs as a systemd service).
unset INVOCATION_ID
say() { echo "[$h] $*"; }
show() { sed "s/^/[$h]   /"; }
wait_link() { wait_for "$1" is_link "$2"; }
fail() { say "FAILED: $*"; exit 1; }
res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
# unit_line: the mount unit's state and where /dev/mars/demo is mounted here.
unit_line() {
	m=$(grep "^/dev/mars/demo " /proc/mounts | cut -d' ' -f1-2)
	echo "systemd: $unit is $(systemctl show -p ActiveState --value $unit); mounted: ${m:-nothing}"
}
mounted() { [ "$(systemctl show -p ActiveState --value $unit)" = active ] && grep -q "^/dev/mars/demo $mnt " /proc/mounts; }

booted() { case $(systemctl is-system-running) in running | degraded) ;; *) return 1 ;; esac; }
wait_for 300 booted
say "kernel $(uname -r), $(systemctl --version | head -1) as PID 1; /mars on /dev/vdb, data on /dev/vda"
mkfs.ext4 -q -F /dev/vdb && mount -t ext4 /dev/vdb /mars && chmod 0700 /mars || fail "mount /mars"
modprobe mars || fail "modprobe mars"
say "$(cat /proc/sys/mars/version); knobs: $(ls /proc/sys/mars | tr '\n' ' ')"
say "systemctl start mars-trigger.path (installed by make install-systemd: runs marsadm when /mars changes)"
systemctl start mars-trigger.path || fail "mars-trigger.path"
if [ "$h" = alpha ]; then
	say "marsadm create-cluster"; marsadm create-cluster --secret-file="$MARS_SECRET_FILE" >/dev/null || fail "create-cluster"
	say "marsadm create-resource demo /dev/vda"; marsadm create-resource demo /dev/vda >/dev/null || fail "create-resource"
	wait_for 30 test -b /dev/mars/demo || fail "no /dev/mars/demo"
	say "/dev/mars/demo is here; waiting for bravo to join"
	wait_link 300 /mars/userspace/joined-bravo || fail "bravo did not join"
	say "mkfs.ext4 /dev/mars/demo"
	mkfs.ext4 -q -F /dev/mars/demo || fail "mkfs"
	say "marsadm set-systemd-unit demo DEFAULT (the template marked DEFAULT_START: a mount unit)"
	marsadm set-systemd-unit demo DEFAULT 2>&1 | show
	wait_for 60 mounted || fail "systemd did not mount /dev/mars/demo"
	say "$(unit_line)"
	say "generated: $(grep -l '^### GENERATED FROM' /run/systemd/system/* | xargs -n1 basename | tr '\n' ' ')"
	say "writing 4 files of 1 MiB into $mnt"
	for i in 1 2 3 4; do dd if=/dev/urandom of=$mnt/file$i bs=1M count=1 2>/dev/null; done
	(cd $mnt && md5sum file*) > $mnt/SUMS
	sync
	marsadm view demo | show
	marsadm set-link 1 userspace/written
	say "waiting for bravo to take over"
	wait_link 600 /mars/userspace/took-over || fail "bravo did not take over"
	say "$(unit_line)"
	say "now secondary: $(marsadm view demo | head -1)"
	want=$(readlink /mars/userspace/md5-bravo)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	wait_for 300 same || fail "alpha's disk differs from bravo's"
	say "alpha's data device is byte-identical to bravo's ($want)"
	marsadm set-link 1 userspace/alpha-done
else
	wait_reachable alpha 60 || fail "alpha unreachable"
	# Refused (nothing changed) until alpha's module listens: try again.
	say "marsadm join-cluster alpha"; wait_for 120 marsadm join-cluster alpha --timeout 120 --secret-file="$MARS_SECRET_FILE" || fail "join-cluster"
	wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]" || fail "resource demo did not arrive"
	say "marsadm join-resource demo /dev/vda"
	out=$(marsadm join-resource demo /dev/vda 2>&1) || fail "join-resource: $out"
	echo "$out" | show
	wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]" || fail "the full sync did not finish"
	say "full sync finished: $(cat /proc/sys/mars/sync_data_bytes) data bytes, $(cat /proc/sys/mars/sync_sum_bytes) checksum bytes received"
	marsadm set-link 1 userspace/joined-bravo
	wait_link 600 /mars/userspace/written || fail "alpha did not write"
	say "alpha wrote its files; fetching and replaying"
	say "units from the tree: $(marsadm get-systemd-unit demo), wanted on $(marsadm get-systemd-want demo); $(unit_line)"
	marsadm view demo | show
	say "marsadm primary demo (planned handover: systemd stops the stack on alpha, starts it here)"
	t0=$(date +%s)
	out=$(marsadm primary demo --timeout 300 2>&1) || fail "handover: $out"
	echo "$out" | show
	say "handover done in $(($(date +%s) - t0)) s"
	wait_for 60 mounted || fail "systemd did not mount /dev/mars/demo on bravo"
	say "$(unit_line)"
	(cd $mnt && md5sum -c SUMS) | show
	(cd $mnt && md5sum -c SUMS >/dev/null) || fail "files differ on bravo"
	say "all of alpha's files are intact on bravo"
	marsadm view demo | show
	say "systemctl stop $unit (for the checksum of the whole device)"
	systemctl stop $unit || fail "umount"
	marsadm set-link "$(res_md5 /dev/mars/demo)" userspace/md5-bravo
	marsadm set-link 1 userspace/took-over
	wait_link 600 /mars/userspace/alpha-done || fail "alpha did not finish"
fi
sleep 5
systemctl stop mars-trigger.path "mars-*-trigger.path"
rmmod mars && say "module unloaded cleanly"
