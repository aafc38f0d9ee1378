#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 900
# image: systemd
# data-disk: 64M
# mars-disk: 256M
#
# Promise: on hosts that boot systemd as PID 1 (Debian's systemd, the systemd guest image), a
# path unit on /mars/resource-r0/systemd-trigger wakes up on every host when a `systemd-*` or
# the `primary` link of r0 changes, whether the change was made on that host (marsadm) or
# arrived from the peer: the kernel touches the trigger file and /mars/userspace/systemd-trigger.
# A oneshot service behind the path unit records each activation with the `primary` and
# `systemd-want` it saw. `marsadm set-link bravo resource-r0/systemd-want` on alpha wakes the
# units on both hosts; so does the handover `marsadm primary r0` on bravo, after which both see
# bravo as primary. The boot itself leaves no failed unit.
. /mars-tests/lib.sh

h=$mars_host
peer=bravo; [ "$h" = bravo ] && peer=alpha
res=/mars/resource-r0
record=/run/mars-trigger-r0.log
ktap_begin

check "systemd is PID 1" sh -c '[ "$(cat /proc/1/comm)" = systemd ]'
# The scenario itself runs as mars-scenario.service, so the boot job is done or nearly.
booted() { case $(systemctl is-system-running) in running | degraded) ;; *) return 1 ;; esac; }
check "systemd finished booting" wait_for 300 booted
check "no unit failed" sh -c 'systemctl list-units --failed --no-legend --plain; [ -z "$(systemctl list-units --failed --no-legend)" ]'
check "mars.ko is installed as a package installs it" test -f "/lib/modules/$(uname -r)/extra/mars.ko"
check "marsadm is /usr/sbin/marsadm" test -x /usr/sbin/marsadm

mars_cluster_up
if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo joined" wait_for 300 is_link /mars/userspace/joined-bravo
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	# A handover needs a secondary that replays (after the fast full sync).
	check "replaying" wait_for 300 sh -c "[ \"\$(readlink $res/actual-$h/is-replaying)\" = 1 ]"
	marsadm set-link 1 userspace/joined-bravo
fi

# The units, as an administrator (or marsadm's generator) writes them: runtime units in
# /run/systemd/system. The path unit starts once /mars is mounted (inotify does not see a
# filesystem mounted over a watched directory).
cat > /run/mars-trigger-record <<EOF
#!/bin/sh
echo "\$(readlink $res/primary) \$(readlink $res/systemd-want || echo -)" >> $record
EOF
chmod +x /run/mars-trigger-record
mkdir -p /run/systemd/system
cat > /run/systemd/system/mars-trigger-r0.path <<EOF
[Unit]
Description=MARS resource r0: wake on /mars/resource-r0/systemd-trigger
[Path]
PathChanged=$res/systemd-trigger
Unit=mars-trigger-r0.service
EOF
cat > /run/systemd/system/mars-trigger-r0.service <<EOF
[Unit]
Description=MARS resource r0: record an activation
[Service]
Type=oneshot
ExecStart=/run/mars-trigger-record
EOF
check "daemon-reload" systemctl daemon-reload
check "start mars-trigger-r0.path" systemctl start mars-trigger-r0.path
check "the path unit is active" systemctl is-active --quiet mars-trigger-r0.path
# Nothing changes the waking links before both hosts watch: later touches count for step 1.
t1=$(date +%s)
marsadm set-link 1 "userspace/watching-$h"
check "$peer watches too" wait_for 120 is_link "/mars/userspace/watching-$peer"

# woke_with PRIMARY WANT: an activation recorded that primary and systemd-want.
woke_with() { grep -qx "$1 $2" "$record"; }
# trigger_since SECONDS: the trigger file is a regular file touched at or after SECONDS.
trigger_since() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %Y "$1")" -ge "$2" ]; }

# 1. A systemd-* link: set on alpha (a local change there, a peer's on bravo).
if [ "$h" = alpha ]; then
	check "set-link bravo resource-r0/systemd-want" marsadm set-link bravo resource-r0/systemd-want
fi
check "systemd-want woke the path unit (primary alpha, want bravo)" wait_for 120 woke_with alpha bravo
check "the kernel touched resource-r0/systemd-trigger" trigger_since $res/systemd-trigger "$t1"
check "the kernel touched userspace/systemd-trigger" trigger_since /mars/userspace/systemd-trigger "$t1"
# The handover starts once both hosts saw step 1: later touches count for step 2.
t2=$(date +%s)
marsadm set-link 1 "userspace/want-seen-$h"
check "$peer saw it too" wait_for 120 is_link "/mars/userspace/want-seen-$peer"

# 2. The handover: `primary` changes on bravo (local there, a peer's on alpha).
if [ "$h" = bravo ]; then
	check "primary r0 (handover to bravo)" marsadm primary r0 --timeout 400
	check "/dev/mars/r0 is here" wait_for 60 test -b /dev/mars/r0
fi
check "the handover woke the path unit (primary bravo)" wait_for 180 woke_with bravo bravo
check "the kernel touched resource-r0/systemd-trigger again" trigger_since $res/systemd-trigger "$t2"
check "the recording service never failed" sh -c '! systemctl is-failed --quiet mars-trigger-r0.service'
echo "# activations recorded (primary, systemd-want):"
sed 's/^/#   /' "$record"

# Stay up until the peer saw everything, then unload.
marsadm set-link 1 "userspace/done-$h"
check "$peer is done" wait_for 240 is_link "/mars/userspace/done-$peer"
check "stop the path unit" systemctl stop mars-trigger-r0.path
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
