#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 2
# timeout: 360
#
# Promise: whatever arrives on port 7777 (or the log port 7778) only ever closes that one
# connection: random bytes,
# an HTTP request, headers announcing oversized payloads, truncated frames, a version-1 hello,
# garbage, requests and pushes after a hello instead of the proof, a hello with a wrong proof
# (a foreign host without the cluster secret) and many connections at once leave no kernel
# report, are logged, and the cluster (alpha created it, bravo joined) keeps exchanging links
# afterwards. A hello without the secret learns nothing: the answer is a challenge (no host
# name, no uuid), and a wrong proof gets a refusal (AuthFailed). Even a member's GetEnts of a
# directory that is a symlink out of /mars on alpha (/mars/esc -> /etc) lists nothing.
. /mars-tests/lib.sh

h=$mars_host
if [ "$h" = alpha ]; then ktap_begin; else ktap_begin; fi

is_link() { [ -L "$1" ]; }
logged() { dmesg | grep -q "$1"; }

# hex HEXSTRING: the bytes.
hex() { printf "$(echo "$1" | sed 's/../\\x&/g')"; }
# header TYPE PAYLOAD_LEN_LE: a frame header (version 2, no flags, stamp 0, tag 1).
header() { hex "4d41525302${1}0000${2}000000000000000000000000""0100000000000000"; }
NONCE=1111111111111111111111111111111111111111111111111111111111111111
# A well-formed Hello of host "evil" with uuid "(any)": 54 payload bytes (a nonce, no secret).
hello() { header 01 36000000; hex "01000000000000000202000504${NONCE}"; printf '(any)evil'; }
# The same as a version-1 frame (the layout before authentication).
hello_v1() { hex "4d41525301010000160000000000000000000000000000000100000000000000"; hex 01000000000000000101000504; printf '(any)evil'; }
# An Auth with a proof of zeros: nobody's proof.
bad_auth() { header 08 20000000; head -c 32 /dev/zero; }
send() { timeout 3 nc 10.77.0.1 7777 >/dev/null 2>&1; true; }
# The same with 12 s for alpha to answer (a proof is checked after the challenge went out: on
# a loaded host a TCG guest took longer than 3 s).
send_slow() { timeout 12 nc 10.77.0.1 7777 >/dev/null 2>&1; true; }
# The same Hello for the log port (role 1), and sending to it.
hello_log() { header 01 36000000; hex "01000000000000000202010504${NONCE}"; printf '(any)evil'; }
send_log() { timeout 3 nc 10.77.0.1 7778 >/dev/null 2>&1; true; }
# answer PORT [SECONDS]: what the server answers to standard input within SECONDS (3), as hex.
answer() { timeout "${2:-3}" nc 10.77.0.1 "$1" | od -An -tx1 | tr -d ' \n'; }

check "mkfs.ext4 /dev/vdb" mkfs.ext4 -q -F /dev/vdb
check "mount /dev/vdb on /mars" mount -t ext4 /dev/vdb /mars
check "modprobe mars" modprobe mars
if [ "$h" = alpha ]; then
	check "create-cluster" marsadm create-cluster --secret-file="$MARS_SECRET_FILE"
else
	wait_reachable alpha 60
	check "join-cluster alpha" wait_for 120 marsadm join-cluster alpha --timeout 120 \
		--secret-file="$MARS_SECRET_FILE"
fi
check "wait-cluster" marsadm wait-cluster --timeout 60

if [ "$h" = bravo ]; then
	# First what alpha's log must show (it logs at most 10 complaints per 10 s).
	hello_v1 | send                                                    # a version-1 hello
	{ hello; sleep 2; bad_auth; sleep 8; } | send_slow                  # a wrong proof
	{ hello; header 13 1c000000; hex 0100000000000000000000000a000200; printf '/mars/uuidxx'; } | send
	head -c 4096 /dev/urandom | send
	printf 'GET / HTTP/1.0\r\n\r\n' | send
	header 11 ffffffff | send                      # Dents announcing 4 GiB
	header 01 00001000 | send                      # Hello announcing 1 MiB
	{ header 01 36000000; hex 01000000000000000202; } | send          # truncated Hello
	{ hello; head -c 300 /dev/urandom; } | send                        # garbage instead of the proof
	{ hello; header 20 10000000; head -c 16 /dev/zero; } | send         # a log port frame
	{ hello; header 10 09000000; hex 0101000400; printf /etc; } | send  # GetEnts of /etc, no proof
	i=0; while [ $i -lt 20 ]; do head -c 200 /dev/urandom | send & i=$((i + 1)); done; wait
	# The log port (7778): LogRead is offset (8), max_len (4), path_len (2), path.
	head -c 4096 /dev/urandom | send_log
	header 21 ffffffff | send_log                                               # LogData announcing 4 GiB
	{ hello_log; head -c 300 /dev/urandom; } | send_log                         # garbage instead of the proof
	{ hello_log; header 10 0a000000; hex 0101000500; printf /mars; } | send_log  # a metadata frame
	{ hello_log; header 20 18000000; hex 0000000000000000000001000a00; printf /mars/uuid; } | send_log
	{ hello_log; header 20 1b000000; hex 0000000000000000000001000d00; printf '/etc/shadow..'; } | send_log
	# A hello without the secret gets a challenge (MARS, v2, type 07, 32 bytes), nothing else.
	out=$({ hello_log; sleep 1; } | answer 7778)
	check "the log port answers a hello with a bare challenge" sh -c \
		'[ "${#1}" = 128 ] && echo "$1" | grep -q "^4d4152530207"' - "$out"
	out=$({ hello; header 10 0a000000; hex 0101000500; printf /mars; sleep 1; } | answer 7777)
	check "a GetEnts without the proof gets nothing but the challenge" sh -c \
		'[ "${#1}" = 128 ] && echo "$1" | grep -q "^4d4152530207"' - "$out"
	# Challenge (64 bytes), then Refuse: its payload starts with the code, AuthFailed = 7.
	out=$({ hello; sleep 2; bad_auth; sleep 8; } | answer 7777 12)
	check "a wrong proof gets a refusal (AuthFailed)" sh -c \
		'echo "$1" | grep -q "^4d4152530207.\{116\}4d41525302030000.\{48\}0700"' - "$out"
	out=$({ hello_v1; sleep 1; } | answer 7777)
	check "a version-1 hello gets a refusal (VersionMismatch)" sh -c \
		'echo "$1" | grep -q "^4d41525302030000.\{48\}0200"' - "$out"
	# A member (with the secret) asking for a directory of alpha's that is a symlink out of
	# /mars gets no entry of it; the same request of a real directory lists entries.
	check "alpha made /mars/esc -> /etc" wait_for 60 is_link /mars/userspace/esc-made
	adv() { mars-adversary --target alpha --as bravo --secret-file "$MARS_SECRET_FILE" get-ents "$@"; }
	out=$(adv /mars/esc 3); echo "# get-ents /mars/esc: $out"
	check "a GetEnts naming a symlink out of /mars lists nothing" sh -c \
		'echo "$1" | grep -q "welcome=yes.* answer=.* entries=0 " && ! echo "$1" | grep -q error=' - "$out"
	out=$(adv /mars/esc/passwd); echo "# get-ents /mars/esc/passwd: $out"
	check "nor a path through that symlink" sh -c \
		'echo "$1" | grep -q "welcome=yes.* answer=.* entries=0 " && ! echo "$1" | grep -q error=' - "$out"
	check "the symlink out of /mars did not spread to bravo" sh -c '[ ! -e /mars/esc ] && [ ! -L /mars/esc ]'
	out=$(adv /mars/userspace); echo "# get-ents /mars/userspace: $out"
	check "the same request of a real directory lists its entries, all beneath it" sh -c \
		'echo "$1" | grep -q " entries=[1-9][0-9]* outside=0"' - "$out"
	marsadm set-link done userspace/attack-done
	check "bravo still exchanges: alpha's link after the attack arrived" wait_for 60 is_link /mars/userspace/after-alpha
	marsadm set-link x userspace/after-bravo
	check "bravo's own peer connection survived (still connected or reconnected)" wait_for 30 is_link /mars/actual-alpha/time
	check "alpha's heartbeat keeps arriving" marsadm wait-cluster --timeout 60
	check "nothing from the attacks in /mars" sh -c '[ ! -e /mars/ips/ip-evil ] && [ ! -e /mars/actual-evil ]'
	sleep 8
else
	check "a symlink /mars/esc -> /etc" ln -s /etc /mars/esc
	marsadm set-link 1 userspace/esc-made
	check "the attacks are over" wait_for 200 is_link /mars/userspace/attack-done
	check "bad frames were logged and their connections closed" logged "net: closing the connection from 10.77.0.2"
	check "the oversized length was refused before its payload" logged "protocol error: .*cap"
	check "the wrong proof was refused" logged "net: refusing evil (.*): authentication failed"
	check "the version-1 hello was refused" logged "unsupported protocol version 1"
	check "a push instead of the proof closed the connection" logged "unexpected PushLink frame"
	marsadm set-link x userspace/after-alpha
	check "alpha still exchanges: bravo's link arrived" wait_for 60 is_link /mars/userspace/after-bravo
	check_eq "alpha's uuid is untouched" alpha_ "$(readlink /mars/uuid | cut -c1-6)"
	sleep 8
fi
check "rmmod" rmmod mars

ktap_end
