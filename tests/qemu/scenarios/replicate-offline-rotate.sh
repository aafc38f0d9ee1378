#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 600
# data-disk: 64M
# mars-disk: 512M
#
# Promise: a secondary that was not fetching while the primary switched logfiles catches up
# by itself once it fetches again, and keeps replicating what the primary writes afterwards:
# bravo stops fetching (todo-bravo/connect = 0); alpha writes 8 MiB, `marsadm log-rotate`,
# writes 8 MiB more; bravo fetches again and its data device becomes byte-identical to
# alpha's; then alpha writes 4 MiB more into logfile 2 and bravo's device follows again.
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi
size=$((64 * 1048576))
res_md5() { device_md5 "$1" "$size"; }
# tree: bravo's view of the resource, for the record.
tree() { ls -l "$res" | awk '{ print "# ", $9, $10, $11 }'; }

mars_cluster_up

if [ "$h" = alpha ]; then
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "bravo stopped fetching" wait_for 300 is_link /mars/userspace/paused-bravo
	check "write 8 MiB" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=8 oflag=direct
	check "log-rotate" marsadm log-rotate r0
	check "write 8 MiB more" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=8 seek=8 oflag=direct
	check "publish the checksum" marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5-1
	check "bravo caught up" wait_for 300 is_link /mars/userspace/same1-bravo
	check "write 4 MiB more" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=4 seek=20 oflag=direct
	check "publish the checksum" marsadm set-link "$(res_md5 /dev/mars/r0)" userspace/md5-2
	check "bravo followed" wait_for 300 is_link /mars/userspace/same2-bravo
else
	check "resource r0 arrived" wait_for 120 sh -c "[ \"\$(readlink $res/primary)\" = alpha ]"
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "the full sync finished" wait_for 300 sh -c "[ \"\$(readlink $res/syncstatus-$h)\" = \"\$(readlink $res/size)\" ]"
	check "stop fetching" marsadm set-link 0 "resource-r0/todo-$h/connect"
	check "not copying" wait_for 60 sh -c "[ \"\$(readlink $res/actual-$h/is-copying)\" = 0 ]"
	check "tell alpha" marsadm set-link 1 userspace/paused-bravo
	check "alpha's first checksum arrived" wait_for 300 is_link /mars/userspace/md5-1
	check "fetch again" marsadm set-link 1 "resource-r0/todo-$h/connect"
	want=$(readlink /mars/userspace/md5-1)
	same() { [ "$(res_md5 /dev/vda)" = "$want" ]; }
	check "the data device becomes byte-identical to alpha's" wait_for 240 same || tree
	check "tell alpha" marsadm set-link 1 userspace/same1-bravo
	check "alpha's second checksum arrived" wait_for 300 is_link /mars/userspace/md5-2
	want=$(readlink /mars/userspace/md5-2)
	check "the data device follows alpha's writes into logfile 2" wait_for 240 same || tree
	check "tell alpha" marsadm set-link 1 userspace/same2-bravo
	check "replay is in logfile 2" sh -c "readlink $res/replay-$h | grep -q '^log-000000002-alpha,'"
	tree
fi
check "rmmod mars" sh -c "marsadm down r0; sleep 2; rmmod mars"
ktap_end
