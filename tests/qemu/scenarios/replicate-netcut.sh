#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 1200
# tools: fio
# data-disk: 128M
# mars-disk: 512M
#
# Promise: replication survives a network cut without operator action. While fio writes
# continuously to /dev/mars/r0 on alpha (random writes, 4 KiB to 64 KiB, direct IO, for 60 s,
# at most 3 MiB/s: about 180 MiB of log; unlimited, an idle host wrote 440 MiB into the 512 MiB
# /mars, alpha went into emergency mode and bravo could not catch up),
# the network between alpha and bravo is cut 10 s in for 30 s (every packet dropped) and
# restored; the
# writes on alpha never stall or fail, bravo reconnects by itself, catches up and ends
# byte-identical to alpha's device once alpha is quiesced.
# Both hosts record `marsadm events --json --window 10` (a peer counts as connected while its
# heartbeat is at most 20 s old) across the cut: each stream shows the peer disconnected, then
# connected again, and on bravo the replay moving on after that; Ctrl-C ends the recorder with
# exit 0, and `marsadm events | head -n 1` ends by itself (tests/qemu/guest/lib.sh, events_*).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi

res_md5() { device_md5 "$1" "$(readlink $res/size)"; }
# The interface towards bravo, and the cut: every packet on it dropped (netem).
peer_dev() { ip route get 10.77.0.2 | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1; }

mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo joined" wait_for 240 is_link /mars/userspace/joined-bravo
	events_start netcut --window 10
	fio --name=load --filename=/dev/mars/r0 --rw=randwrite --bsrange=4k-64k --direct=1 \
		--ioengine=libaio --iodepth=8 --size=96M --time_based --runtime=60 --rate=3m \
		--output=/tmp/fio.out >/dev/null 2>&1 &
	fio_pid=$!
	sleep 10
	dev=$(peer_dev)
	echo "# cutting the network on $dev"
	check "cut the network to bravo" /sbin/tc qdisc add dev "$dev" root netem loss 100%
	check "bravo is unreachable" sh -c '! ping -c 2 -W 1 10.77.0.2'
	sleep 30
	check "restore the network" /sbin/tc qdisc del dev "$dev" root
	wait "$fio_pid"; fio_rc=$?
	check_eq "fio on alpha completes without error" 0 "$fio_rc"
	sed -n 's/^ *write: /# write: /p' /tmp/fio.out
	sync
	sleep 3
	sum=$(res_md5 /dev/mars/r0)
	marsadm set-link "$sum" userspace/md5-alpha
	check "bravo reports the same data" wait_for 400 is_link /mars/userspace/same-bravo
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "fetching" wait_for 30 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 1 ]"
	events_start netcut --window 10
	marsadm set-link 1 userspace/joined-bravo
	check "alpha's checksum arrived after the cut" wait_for 400 is_link /mars/userspace/md5-alpha
	want=$(readlink /mars/userspace/md5-alpha)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device catches up and becomes byte-identical" wait_for 300 same
	same && marsadm set-link 1 userspace/same-bravo
	dmesg | grep -E "fetch: .*retrying|net: " | tail -5 | sed 's/^/# /'
fi
events_stop netcut
if [ "$h" = alpha ]; then
	events_expect netcut "bravo disconnected during the cut, connected after it" \
		"type=peer name=bravo connection=disconnected" "type=peer name=bravo connection=connected"
else
	events_expect netcut "alpha disconnected during the cut, connected after it, the replay moves on" \
		"type=peer name=alpha connection=disconnected" "type=peer name=alpha connection=connected" \
		"type=replay resource=r0 position=*"
	events_sigpipe
fi
check "rmmod mars" sh -c "sleep 5; rmmod mars"
ktap_end
