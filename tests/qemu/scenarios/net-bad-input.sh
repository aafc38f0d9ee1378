#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 360
#
# Promise: whatever arrives on port 7777 (or the log port 7778) only ever closes that one
# connection: random bytes,
# an HTTP request, headers announcing oversized payloads, truncated frames, garbage after a
# valid handshake, a frame of the log port, a request for a path outside /mars, a push of a
# link the sender does not own, a request naming a symlink out of /mars, a foreign cluster's
# hello and many connections at once leave
# no kernel report, are logged, and the cluster (alpha created it, bravo joined) keeps
# exchanging links afterwards. A well-formed request from userspace gets its answer.
. /mars-tests/lib.sh

h=$mars_host
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi

is_link() { [ -L "$1" ]; }
logged() { dmesg | grep -q "$1"; }

# hex HEXSTRING: the bytes.
hex() { printf "$(echo "$1" | sed 's/../\\x&/g')"; }
# header TYPE PAYLOAD_LEN_LE: a frame header (version 1, no flags, stamp 0, tag 1).
header() { hex "4d41525301${1}0000${2}000000000000000000000000""0100000000000000"; }
# A valid Hello of host "evil" with uuid "(any)": 22 payload bytes.
hello() { header 01 16000000; hex 01000000000000000101000504; printf '(any)evil'; }
send() { timeout 3 nc 10.77.0.1 7777 >/dev/null 2>&1; true; }
# The same Hello for the log port (role 1), and sending to it.
hello_log() { header 01 16000000; hex 01000000000000000101010504; printf '(any)evil'; }
send_log() { timeout 3 nc 10.77.0.1 7778 >/dev/null 2>&1; true; }

check "mkfs.ext4 /dev/vdb" mkfs.ext4 -q -F /dev/vdb
check "mount /dev/vdb on /mars" mount -t ext4 /dev/vdb /mars
check "modprobe mars" modprobe mars
if [ "$h" = alpha ]; then
	check "create-cluster" marsadm create-cluster
	# A symlink out of /mars (left by an operator or an older version): a GetEnts naming it
	# must list nothing (the listing never follows a symlink).
	ln -s /etc /mars/userspace/outside
else
	wait_reachable alpha 60
	check "join-cluster alpha" wait_for 120 marsadm join-cluster alpha --timeout 120
fi
check "wait-cluster" marsadm wait-cluster --timeout 60

if [ "$h" = bravo ]; then
	head -c 4096 /dev/urandom | send
	printf 'GET / HTTP/1.0\r\n\r\n' | send
	header 11 ffffffff | send                      # Dents announcing 4 GiB
	header 01 00001000 | send                      # Hello announcing 1 MiB
	{ header 01 16000000; hex 01000000000000000101; } | send          # truncated Hello
	{ hello; head -c 300 /dev/urandom; } | send                        # garbage after the handshake
	{ hello; header 20 10000000; head -c 16 /dev/zero; } | send         # a log port frame
	{ hello; header 10 09000000; hex 0101000400; printf /etc; } | send  # GetEnts of /etc
	{ hello; header 13 1c000000; hex 0100000000000000000000000a000200; printf '/mars/uuidxx'; } | send
	{ header 01 22000000; hex 01000000000000000101001104; printf 'other_1.000000000evil'; } | send
	i=0; while [ $i -lt 20 ]; do head -c 200 /dev/urandom | send & i=$((i + 1)); done; wait
	# The log port (7778): LogRead is offset (8), max_len (4), path_len (2), path.
	head -c 4096 /dev/urandom | send_log
	header 21 ffffffff | send_log                                               # LogData announcing 4 GiB
	{ hello_log; head -c 300 /dev/urandom; } | send_log                         # garbage after the handshake
	{ hello_log; header 10 0a000000; hex 0101000500; printf /mars; } | send_log  # a metadata frame
	{ hello_log; header 20 18000000; hex 0000000000000000000001000a00; printf /mars/uuid; } | send_log
	{ hello_log; header 20 1b000000; hex 0000000000000000000001000d00; printf '/etc/shadow..'; } | send_log
	out=$({ hello_log; sleep 1; } | timeout 3 nc 10.77.0.1 7778 | od -An -c | tr -d ' \n')
	check "the log port still welcomes a well-formed hello" sh -c 'echo "$1" | grep -q "alpha"' - "$out"
	# A well-formed request gets its answer: Welcome, then Dents naming /mars/uuid.
	out=$({ hello; header 10 0a000000; hex 0101000500; printf /mars; sleep 1; } | timeout 3 nc 10.77.0.1 7777 | od -An -c | tr -d ' \n')
	check "a well-formed GetEnts from userspace is answered" sh -c 'echo "$1" | grep -q "/mars/uuid"' - "$out"
	# GetEnts of /mars/userspace/outside (a link to /etc on alpha), depth 1: nothing of /etc.
	out=$({ hello; header 10 1c000000; hex 0101001700; printf /mars/userspace/outside; sleep 1; } | timeout 3 nc 10.77.0.1 7777 | od -An -c | tr -d ' \n')
	check "a GetEnts through a symlink is answered with nothing outside /mars" sh -c 'echo "$1" | grep -q alpha && ! echo "$1" | grep -q passwd' - "$out"
	marsadm set-link done userspace/attack-done
	check "bravo still exchanges: alpha's link after the attack arrived" wait_for 60 is_link /mars/userspace/after-alpha
	marsadm set-link x userspace/after-bravo
	check "bravo's own peer connection survived (still connected or reconnected)" wait_for 30 is_link /mars/actual-alpha/time
	check "alpha's heartbeat keeps arriving" marsadm wait-cluster --timeout 60
	check "nothing from the attacks in /mars" sh -c '[ ! -e /mars/ips/ip-evil ] && [ ! -e /mars/actual-evil ]'
	sleep 8
else
	check "the attacks are over" wait_for 200 is_link /mars/userspace/attack-done
	check "bad frames were logged and their connections closed" logged "net: closing the connection from 10.77.0.2"
	check "the oversized length was refused before its payload" logged "protocol error: .*cap"
	check "the foreign hello was refused" logged "net: refusing evil (.*): foreign cluster"
	check "the push of a link evil does not own was ignored" logged "net: ignoring a push of /mars/uuid from evil"
	marsadm set-link x userspace/after-alpha
	check "alpha still exchanges: bravo's link arrived" wait_for 60 is_link /mars/userspace/after-bravo
	check_eq "alpha's uuid is untouched" alpha_ "$(readlink /mars/uuid | cut -c1-6)"
	sleep 8
fi
check "rmmod" rmmod mars

ktap_end
