#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 2400
# image: systemd
# data-disk: 32M
# mars-disk: 256M
#
# Promise: the application stack follows the primary, driven by systemd (Debian's systemd as
# PID 1, the systemd guest image), with MARS installed from its Debian packages only.
#
# 0. The packages: the harness's copies of marsadm, mars.ko and the units are removed, then
#    `dpkg -i` installs marsadm_*.deb and mars-modules-<kver>_*.deb (mars.ko built on the host
#    by DKMS from the mars-dkms package against this kernel's build tree: scripts/deb-module.sh;
#    scripts/build-systemd-image.sh puts both into the image). Everything below uses what they
#    installed: /usr/sbin/marsadm, mars.ko from /lib/modules/<kver>/updates/dkms (modprobe), the
#    units in /lib/systemd/system and the templates in /usr/lib/marsadm; the package enabled and
#    started mars-cron.timer, which runs `marsadm cron` (2 min after boot, then every 5 min).
#
# r0 (on /dev/vda) gets `marsadm set-systemd-unit r0 mars-counter-r0.service
# mnt-mars-r0.mount`: the shipped mount template (/dev/mars/r0 on /mnt/mars/r0) and an
# administrator's template in /etc/marsadm/systemd-templates, a service bound to the mount
# that appends "<n> <host>" once a second to /mnt/mars/r0/counter, continuing from the file's
# last value, and keeps its last n in /run (local, not replicated: the witness). Only the
# global watcher mars-trigger.path is started by hand; marsadm generates the rest.
#
# 1. The stack runs on alpha. `marsadm primary r0` on bravo returns 0 within 240 s; at that
#    moment the service and the mount are inactive on alpha and nothing is mounted there, and
#    both are active on bravo. The counter file on bravo holds 1, 2, 3, ... without a gap or
#    a repeat, alpha's last value is at least alpha's witness (every value written before the
#    handover is there), and bravo's values follow it. The kernel touched
#    resource-r0/systemd-trigger and userspace/systemd-trigger on both hosts.
# 2. Back to alpha the same way.
# 3. Four resources (r1..r4, loop devices, the shipped mount template by its marker:
#    `set-systemd-unit rN DEFAULT`) are handed over at once (`primary r1,r2,r3,r4
#    --parallel`), mars_systemd_rounds times (1; `make soak` runs 10), alternating: every
#    round returns 0 within 240 s, all four mounts are active on the new primary and inactive
#    on the old one.
# 4. The network is cut (both sides); `marsadm primary --force r0` on bravo starts the stack
#    there (counter file without a gap). alpha, cut off, cannot know: its stack keeps running
#    on its copy (Documentation/systemd.rst). When the network is back, alpha stops its stack
#    and its device goes away, `marsadm systemd-trigger r0` there starts nothing, both hosts'
#    `view` reports the split brain, systemd-want is bravo on both, and bravo's stack ran on
#    throughout (its counter still grows).
# The boot and the whole run leave no failed unit.
. /mars-tests/lib.sh

h=$mars_host
if [ "$h" = alpha ]; then peer=bravo peer_ip=10.77.0.2; else peer=alpha peer_ip=10.77.0.1; fi
res=/mars/resource-r0
rounds=${mars_systemd_rounds:-1}
# As an operator's shell: marsadm outside a unit (the scenario runs as mars-scenario.service).
unset INVOCATION_ID
ktap_begin

check "systemd is PID 1" sh -c '[ "$(cat /proc/1/comm)" = systemd ]'
# The scenario itself runs as mars-scenario.service, so the boot job is done or nearly.
booted() { case $(systemctl is-system-running) in running | degraded) ;; *) return 1 ;; esac; }
check "systemd finished booting" wait_for 300 booted
# no_failed: no unit failed; else the failed ones and the end of their journal are printed.
no_failed() {
	failed=$(systemctl list-units --failed --no-legend --plain | cut -d' ' -f1)
	[ -z "$failed" ] && return 0
	for u in $failed; do
		echo "$u:"
		journalctl -u "$u" --no-pager -n 25 -o short-monotonic 2>&1 | sed 's/^/    /'
	done
	return 1
}
check "no unit failed" no_failed

# --- 0. MARS from its Debian packages, nothing of the harness's copies ---
# The guest's shell is busybox's, and with /proc mounted it runs its own applets before any
# program of the same name in PATH: dpkg (busybox has a small dpkg of its own) is called by its
# path; depmod, modinfo and modprobe are busybox's here, and so is the depmod the package's
# postinst runs (modules.dep, which they all read).
kver=$(uname -r)
debs=/var/cache/mars/debs
check "remove the harness's marsadm, mars.ko, units and templates" sh -c "rm -f /usr/sbin/marsadm \
	/lib/modules/$kver/extra/mars.ko /lib/modules/$kver/extra/mars-testing.ko /usr/lib/systemd/system/mars* &&
	rm -rf /usr/lib/marsadm && depmod -a && systemctl daemon-reload && ! command -v marsadm && ! modinfo -n mars"
check "dpkg -i marsadm and mars-modules-$kver" sh -c "/usr/bin/dpkg -i $debs/marsadm_*.deb $debs/mars-modules-${kver}_*.deb 2>&1"
installed() { for p in "$@"; do [ "$(/usr/bin/dpkg-query -W -f='${Status}' "$p")" = "install ok installed" ] || return 1; done; }
check "dpkg: both installed" installed marsadm "mars-modules-$kver"
owned_by() { _o=$(/usr/bin/dpkg -S "$2" 2>&1) && [ "${_o%%:*}" = "$1" ] || { echo "$2: $_o"; return 1; }; }
check "marsadm is the package's /usr/sbin/marsadm" sh -c '[ "$(command -v marsadm)" = /usr/sbin/marsadm ]'
check "dpkg -S /usr/sbin/marsadm: marsadm" owned_by marsadm /usr/sbin/marsadm
check "modprobe finds the package's mars.ko (DKMS's updates/dkms)" sh -c \
	"case \"\$(modinfo -n mars)\" in /lib/modules/$kver/updates/dkms/mars.ko | updates/dkms/mars.ko) ;; *) modinfo -n mars; exit 1 ;; esac"
check "dpkg -S mars.ko: mars-modules-$kver" owned_by "mars-modules-$kver" "/lib/modules/$kver/updates/dkms/mars.ko"
fragment_owned() { owned_by marsadm "$(systemctl show -p FragmentPath --value "$1")"; }
units_owned() { for u in mars.service mars-trigger.path mars-cron.timer mars-cron.service; do fragment_owned "$u" || return 1; done; }
check "systemd loads the package's units" units_owned
check "the templates are the package's" owned_by marsadm "/usr/lib/marsadm/systemd-templates/mnt-mars-@escvar{res}.mount"
check "the package enabled and started mars-cron.timer" sh -c \
	'[ "$(systemctl is-enabled mars-cron.timer)" = enabled ] && [ "$(systemctl is-active mars-cron.timer)" = active ]'

# --- The cluster: r0 on /dev/vda, r1..r4 on loop devices of 8 MiB (files in /run) ---
mars_cluster_up
for i in 1 2 3 4; do
	truncate -s 8M /run/r$i.img && losetup /dev/loop$i /run/r$i.img
done
devs() { echo "r0 /dev/vda"; for i in 1 2 3 4; do echo "r$i /dev/loop$i"; done; }
if [ "$h" = alpha ]; then
	make_all() { devs | while read -r r d; do marsadm create-resource "$r" "$d" || exit 1; done; }
	check "create-resource r0 /dev/vda, r1..r4 /dev/loop1..4" make_all
	fs_all() { for r in r0 r1 r2 r3 r4; do wait_for 60 test -b /dev/mars/$r && mkfs.ext4 -q -F /dev/mars/$r || return 1; done; }
	check "mkfs.ext4 on /dev/mars/r0..r4" fs_all
	marsadm set-link 1 userspace/fs-made
	check "bravo joined" wait_for 300 is_link /mars/userspace/joined-bravo
else
	arrived() { for r in r0 r1 r2 r3 r4; do [ "$(readlink /mars/resource-$r/primary)" = alpha ] || return 1; done; }
	check "resources r0..r4 arrived" wait_for 120 arrived
	wait_for 120 is_link /mars/userspace/fs-made
	join_all() { devs | while read -r r d; do marsadm join-resource "$r" "$d" || exit 1; done; }
	check "join-resource r0..r4" join_all
	# A handover needs a secondary that replays (after the fast full sync).
	replaying() { for r in r0 r1 r2 r3 r4; do [ "$(readlink /mars/resource-$r/actual-$h/is-replaying)" = 1 ] || return 1; done; }
	check "replaying r0..r4" wait_for 300 replaying
	marsadm set-link 1 userspace/joined-bravo
fi

# --- The stack: an administrator's template for the counter, the shipped mount template ---
cat > /run/mars-counter <<'EOF'
#!/bin/sh
# mars-counter RES: appends "<n> <host>" to /mnt/mars/RES/counter once a second, n continuing
# from the file's last line; /run/mars-counter-RES.last is the last n written (the witness).
# Each line is fsynced, as an application that wants its appends to survive a crash must do:
# after a forced failover the new primary holds a crash image of the old one's device, and
# ext4 may show an append that was not fsynced as a line of NULs there (i_size committed
# before the data of a block already allocated).
f=/mnt/mars/$1/counter h=$(hostname)
n=$(tail -n 1 "$f" 2>/dev/null | cut -d' ' -f1)
n=${n:-0}
while :; do
	n=$((n + 1))
	echo "$n $h" >> "$f" || exit 1
	sync "$f" || exit 1
	echo "$n" > "/run/mars-counter-$1.last"
	sleep 1
done
EOF
chmod +x /run/mars-counter
mkdir -p /etc/marsadm/systemd-templates
cat > '/etc/marsadm/systemd-templates/mars-counter-@escvar{res}.service' <<'EOF'
# A test application on the filesystem of a MARS resource: stopped with (and before) it.
[Unit]
Description=MARS test: a counter on /mnt/mars/@{res}
BindsTo=mnt-mars-@escvar{res}.mount
After=mnt-mars-@escvar{res}.mount

[Service]
ExecStart=/run/mars-counter @{res}
EOF
check "start the global watcher mars-trigger.path" systemctl start mars-trigger.path
t_start=$(date +%s)

# unit_state UNIT: its ActiveState (active, inactive, failed, activating, ...).
unit_state() { systemctl show -p ActiveState --value "$1"; }
# stack_running RES [SERVICE]: the mount (and the service) active, the filesystem mounted.
stack_running() {
	_ok=0
	for _u in mnt-mars-$1.mount ${2:-}; do
		_s=$(unit_state "$_u"); [ "$_s" = active ] || { echo "$_u is $_s"; _ok=1; }
	done
	grep -q "^/dev/mars/$1 /mnt/mars/$1 " /proc/mounts || { echo "/dev/mars/$1 is not mounted on /mnt/mars/$1"; _ok=1; }
	return $_ok
}
# stack_stopped RES [SERVICE]: both inactive, nothing mounted on /mnt/mars/RES.
stack_stopped() {
	_ok=0
	for _u in mnt-mars-$1.mount ${2:-}; do
		_s=$(unit_state "$_u"); [ "$_s" = inactive ] || { echo "$_u is $_s"; _ok=1; }
	done
	if grep " /mnt/mars/$1 " /proc/mounts; then _ok=1; fi
	return $_ok
}
r0_running() { stack_running r0 mars-counter-r0.service; }
r0_stopped() { stack_stopped r0 mars-counter-r0.service; }
# counter_ok OLD WITNESS: line k of the counter file is "k <host>" (no gap, no repeat), and
# the last value OLD wrote is at least WITNESS.
counter_ok() {
	awk -v old="$1" -v w="$2" '
		$1 != NR { print "line " NR " is \"" $0 "\": a gap or a repeat"; bad = 1; exit }
		$2 == old { last = $1 }
		END { if (bad) exit 1; if (w != "" && last + 0 < w + 0) { print old "'"'"'s last value here is " last + 0 ", but " old " wrote " w; exit 1 } }' \
		/mnt/mars/r0/counter
}
# counter_here: the service here has written at least two values since the stack came.
counter_here() { [ "$(tail -n 2 /mnt/mars/r0/counter | grep -c " $h$")" = 2 ]; }
# trigger_since FILE SECONDS: a regular file touched at or after SECONDS.
trigger_since() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %Y "$1")" -ge "$2" ]; }
# sync_point NAME: say NAME here, wait until the peer said it (in KTAP).
sync_point() { marsadm set-link 1 "userspace/$1-$h"; check "$peer: $1" wait_for "${2:-400}" is_link "/mars/userspace/$1-$peer"; }
# handover RESOURCES: `marsadm primary` here, checked and timed (at most 240 s).
handover() {
	_t0=$(date +%s)
	marsadm primary "$1" --parallel --timeout 240 || return 1
	_took=$(($(date +%s) - _t0))
	echo "$_took" > /run/handover-took
	echo "took $_took s"
	[ "$_took" -le 240 ]
}
# handed_over RESOURCE HOST: the primary link of RESOURCE names HOST.
handed_over() { [ "$(readlink "/mars/resource-$1/primary")" = "$2" ]; }

if [ "$h" = alpha ]; then
	check "set-systemd-unit r0 mars-counter-r0.service mnt-mars-r0.mount" \
		marsadm set-systemd-unit r0 mars-counter-r0.service mnt-mars-r0.mount
	set_default() { for i in 1 2 3 4; do marsadm set-systemd-unit r$i DEFAULT || return 1; done; }
	check "set-systemd-unit r1..r4 DEFAULT (the shipped mount template)" set_default
	check "the stack of r0 runs on alpha" wait_for 120 r0_running
	check "the counter counts on alpha" wait_for 60 counter_here
	four_here() { for i in 1 2 3 4; do stack_running r$i || return 1; done; }
	check "r1..r4 are mounted on alpha" wait_for 120 four_here
fi
check "the watcher of r0 was generated and started" wait_for 120 sh -c \
	'[ "$(systemctl show -p ActiveState --value mars-r0-trigger.path)" = active ] && grep -q "^### GENERATED FROM:" /run/systemd/system/mars-r0-trigger.path'
check_eq "get-systemd-unit r0" "mars-counter-r0.service mnt-mars-r0.mount" "$(marsadm get-systemd-unit r0)"
check_eq "get-systemd-want r0" alpha "$(marsadm get-systemd-want r0)"
sync_point stack-on-alpha

# --- 1. and 2.: r0's planned handovers, alpha -> bravo -> alpha ---
# move_r0 TO FROM STEP
move_r0() {
	if [ "$h" = "$1" ]; then
		check "$3: primary r0 on $1 (at most 240 s)" handover r0
		echo "# primary r0 took $(cat /run/handover-took) s"
		# primary returns once the mount holds the device: systemd may still be starting the
		# service.
		check "$3: the stack of r0 runs on $1" wait_for 60 r0_running
		check "$3: $2 wrote its last value" wait_for 120 is_link "/mars/userspace/$3-last-$2"
		check "$3: the counter on $1 has every value $2 wrote, and no gap" \
			counter_ok "$2" "$(readlink "/mars/userspace/$3-last-$2")"
		check "$3: the counter counts on $1" wait_for 60 counter_here
		check "$3: the stack still runs on $1" r0_running
	else
		check "$3: primary r0 is $1" wait_for 300 handed_over r0 "$1"
		check "$3: the stack of r0 is stopped on $2, nothing mounted" r0_stopped
		check "$3: /dev/mars/r0 is gone on $2" wait_for 60 sh -c '! test -e /dev/mars/r0'
		marsadm set-link "$(cat /run/mars-counter-r0.last)" "userspace/$3-last-$2"
		echo "# $2 wrote up to $(cat /run/mars-counter-r0.last)"
	fi
}
t1=$(date +%s)
move_r0 bravo alpha handover1
check "the kernel touched resource-r0/systemd-trigger" trigger_since $res/systemd-trigger "$t1"
check "the kernel touched userspace/systemd-trigger" trigger_since /mars/userspace/systemd-trigger "$t_start"
sync_point handover1
move_r0 alpha bravo handover2
sync_point handover2

# --- 3. Four resources at once ---
four_stopped() { for i in 1 2 3 4; do stack_stopped r$i || return 1; done; }
four_running() { for i in 1 2 3 4; do stack_running r$i || return 1; done; }
four_at() { for i in 1 2 3 4; do handed_over r$i "$1" || return 1; done; }
round=1 to=bravo from=alpha
while [ "$round" -le "$rounds" ]; do
	if [ "$h" = "$to" ]; then
		check "round $round: primary r1,r2,r3,r4 --parallel on $to (at most 240 s)" handover r1,r2,r3,r4
		echo "# primary r1,r2,r3,r4 took $(cat /run/handover-took) s"
		check "round $round: r1..r4 are mounted on $to" wait_for 60 four_running
	else
		check "round $round: r1..r4 have primary $to" wait_for 400 four_at "$to"
		check "round $round: r1..r4 are unmounted on $from" four_stopped
	fi
	sync_point "round$round" 500
	round=$((round + 1)) x=$to to=$from from=$x
done
check "no unit failed after the handovers" no_failed

# --- 4. Failover while alpha is cut off, and alpha's return ---
peer_dev() { ip route get "$peer_ip" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1; }
net_cut() { /sbin/tc qdisc add dev "$(peer_dev)" root netem loss 100%; }
net_restore() { /sbin/tc qdisc del dev "$(peer_dev)" root; }
unreachable() { ! ping -c 1 -W 1 "$peer_ip" >/dev/null 2>&1 && ! ping -c 1 -W 1 "$peer_ip" >/dev/null 2>&1; }
split_seen() { marsadm view r0 | grep -q "SPLIT BRAIN between 'alpha' and 'bravo'"; }
if [ "$h" = alpha ]; then
	check "cut the network to bravo" net_cut
	sleep 20
	check "cut off, alpha cannot know: its stack keeps running on its copy" r0_running
	check "restore the network on alpha's side" net_restore
	check "bravo is reachable again" wait_reachable "$peer_ip" 400
	check "alpha learns that bravo is primary" wait_for 180 handed_over r0 bravo
	check "alpha stops its stack (systemd-want names bravo)" wait_for 180 r0_stopped
	check "alpha's /dev/mars/r0 goes away (alpha stepped down)" wait_for 120 sh -c '! test -e /dev/mars/r0'
	check "systemd-trigger r0 on alpha" marsadm systemd-trigger r0
	sleep 3
	check "alpha did not start its copy" r0_stopped
else
	check "alpha is cut off" wait_for 300 unreachable
	check "cut the network to alpha" net_cut
	check "primary --force r0 on bravo (at most 240 s)" marsadm primary r0 --force --timeout 240
	check "the stack of r0 runs on bravo" wait_for 60 r0_running
	check "the counter on bravo has no gap" counter_ok alpha ""
	check "the counter counts on bravo" wait_for 60 counter_here
	check "restore the network on bravo's side" net_restore
	check "alpha is reachable again" wait_reachable "$peer_ip" 400
fi
check "view r0 on $h reports the split brain" wait_for 240 split_seen
marsadm view r0 | sed 's/^/# /'
check_eq "systemd-want of r0 on $h is bravo" bravo "$(marsadm get-systemd-want r0)"
sync_point returned 600
if [ "$h" = bravo ]; then
	n1=$(tail -n 1 /mnt/mars/r0/counter | cut -d' ' -f1)
	check "bravo's stack ran on throughout" r0_running
	grows() { [ "$(tail -n 1 /mnt/mars/r0/counter | cut -d' ' -f1)" -gt "$n1" ]; }
	check "bravo's counter still grows" wait_for 30 grows
	check "the counter on bravo has no gap" counter_ok alpha ""
else
	check "alpha's stack stays stopped" r0_stopped
fi
check "no unit failed" no_failed
echo "# the last lines of the counter file here:"
tail -n 3 /mnt/mars/r0/counter 2>/dev/null | sed 's/^/#   /'

# The housekeeping timer the package enabled has run `marsadm cron` (with the cluster there:
# its condition /mars/ips held) and it succeeded.
cron_ran() {
	[ "$(systemctl show -p LastTriggerUSecMonotonic --value mars-cron.timer)" != 0 ] &&
		[ "$(systemctl show -p ExecMainStartTimestampMonotonic --value mars-cron.service)" != 0 ] &&
		[ "$(systemctl show -p ExecMainStatus --value mars-cron.service)" = 0 ] &&
		[ "$(systemctl show -p Result --value mars-cron.service)" = success ] ||
		{ systemctl status --no-pager mars-cron.timer mars-cron.service; return 1; }
}
check "mars-cron.timer ran marsadm cron, which succeeded" wait_for 420 cron_ran
journalctl -b --no-pager -u mars-cron.service | tail -n 4 | sed 's/^/# /'
# Stay up until the peer saw everything, then unload.
sync_point done 300
check "stop the watchers and the stacks" sh -c 'systemctl stop "mars-*trigger.path" &&
	systemctl stop "mars-counter-*.service" "mnt-mars-*.mount"'
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
