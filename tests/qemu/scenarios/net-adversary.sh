#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 900
# data-disk: 64M
# mars-disk: 256M
#
# Promise: a hostile host on the network, first a stranger and then a member whose secret was
# stolen, cannot take over, read or break a cluster. alpha (primary of r0) and bravo
# (secondary, replicating) are members; charlie attacks with mars-adversary
# (tools/mars-adversary, Documentation/testing.rst):
# * as a stranger (no secret, no module): its `(any)` Hello is not welcomed (nothing about
#   the cluster is revealed); it cannot push a tombstone or another address for alpha's
#   ips/ip-alpha to bravo, nor make bravo pull from it as "alpha"; it reads 0 bytes of
#   alpha's logfile (port 7778) or device (port 7779), even naming itself bravo; a frame
#   stamped 29 days ahead does not move a member's Lamport clock; a Notify flood is refused;
#   64 connections trickling a byte a second do not keep a host from joining.
# * as a member that joined with the secret: a sync checksum request (port 7779) with a
#   digest its handshake did not agree on is refused (`Unsupported`) and digests nothing.
# * as a compromised member (it joined with the secret, then its module was replaced by the
#   tool's server on its port 7777, which alpha and bravo pull from): a tree with
#   /mars/resource-x -> /etc and resource-x/mars-canary changed does not touch
#   /etc/mars-canary; a reply of 200 000 entries is cut at the merge's cap of 20 000 per
#   reply (the entries are tombstones of keys the members lack, cheap to decide, so
#   that the cut and not the merge speed is measured); 1 000 ips/ links are cut at the cap
#   of 64 members; a member's own keys (data-, replay-, ips/ip-) are not changed by another
#   host.
# Afterwards on alpha and bravo: the canary file outside /mars is intact, no link under /mars
# points outside /mars and /dev, ips/ip-alpha is alpha's address, the Lamport clock is within
# an hour of real time, and a new write on the primary still reaches bravo's device.
# Against a tree without authentication and confinement most checks fail (testing.rst).
. /mars-tests/lib.sh

h=$mars_host
res=/mars/resource-r0
adv=mars-adversary
# The caps the merge promises (rust/net: entries per pull, ips/ links): what a flood may leave.
cap_entries=20000
cap_ips=64
ktap_begin

# --- A side channel between the guests, independent of MARS: flags served by busybox httpd.
mkdir -p /tmp/flags
httpd -p 8080 -h /tmp/flags
say() { : > "/tmp/flags/$1"; }
said() { wget -q -O /dev/null "http://$1:8080/$2" 2>/dev/null; }
await() { wait_for "${3:-300}" said "$1" "$2"; }

# field KEY LINE: the value of KEY=... in a result line of mars-adversary.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# attack VAR ARGS...: runs mars-adversary, keeps its result line in VAR and shows it.
attack() {
	_var=$1; shift
	_line=$($adv "$@" 2>&1)
	echo "# $adv $*: $_line"
	eval "$_var=\$_line"
}
# secret_opt: the option that gives marsadm and mars-adversary the cluster secret of this run
# (lib.sh writes what run-scenario.sh passes), if this build authenticates. charlie uses it
# only once it plays a compromised member.
secret_opt() {
	if [ -s "${MARS_SECRET_FILE:-}" ]; then
		echo "--secret-file $MARS_SECRET_FILE"
	fi
}

echo canary > /etc/mars-canary
canary_intact() { [ -f /etc/mars-canary ] && [ ! -L /etc/mars-canary ] && [ "$(cat /etc/mars-canary)" = canary ]; }
# no_link_leaves_mars: every absolute link value under /mars is under /mars/ or /dev/ (one
# ls per batch of links, not a readlink per link: a flood may have left thousands).
no_link_leaves_mars() {
	_bad=$(find /mars -type l -exec ls -l {} + | awk -F' -> ' '$2 ~ /^\// && $2 !~ /^\/(mars|dev)\// { n = split($1, f, " "); print f[n] " -> " $2 }')
	[ -z "$_bad" ] || { echo "$_bad" | head -5; return 1; }
}
# clock_sane: the Lamport clock is less than an hour ahead of real time.
clock_sane() {
	_real=$(sed -n 's/^CURRENT_TIME=\([0-9]*\).*/\1/p' /proc/sys/mars/lamport_clock)
	_lamport=$(sed -n 's/^lamport_now=\([0-9]*\).*/\1/p' /proc/sys/mars/lamport_clock)
	echo "real $_real lamport $_lamport"
	[ -n "$_real" ] && [ -n "$_lamport" ] && [ $((_lamport - _real)) -lt 3600 ]
}
is() { [ "$(readlink "$1")" = "$2" ]; }
count_links() { find "$1" -maxdepth 1 -type l -name "$2" 2>/dev/null | wc -l; }
# alpha_conns_at_least N: N connections to alpha's port 7777 (0x1E61) are established here.
alpha_conns_at_least() { [ "$(awk '$3 == "01004D0A:1E61" && $4 == "01"' /proc/net/tcp | wc -l)" -ge "$1" ]; }
synced() { [ "$(readlink $res/syncstatus-bravo)" = "$(readlink $res/size)" ]; }
region_md5() { device_md5 "$1" 8388608; }

mars_up() {
	check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
	check "modprobe mars" modprobe mars
}

case $h in
alpha)
	mars_up
	# shellcheck disable=SC2046
	check "create-cluster" marsadm create-cluster $(secret_opt)
	check "bravo joined" wait_for 120 is_link /mars/ips/ip-bravo
	check "create-resource r0 /dev/vda" marsadm create-resource r0 /dev/vda
	check "/dev/mars/r0 appears" wait_for 30 test -b /dev/mars/r0
	check "bravo's full sync finished" wait_for 120 synced
	check "write 1 MiB into logfile 1" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=1 oflag=direct
	say ready

	await charlie slowloris-on 200
	check "during the slowloris, bravo's link arrives within 15 s" wait_for 15 is_link /mars/userspace/during-slowloris
	await charlie attacks-done 400
	;;
bravo)
	wait_reachable alpha 60
	mars_up
	# shellcheck disable=SC2046
	check "join-cluster alpha" wait_for 120 marsadm join-cluster alpha --timeout 120 $(secret_opt)
	check "resource r0 arrived" wait_for 120 is $res/primary alpha
	check "join-resource r0 /dev/vda" marsadm join-resource r0 /dev/vda
	check "the full sync finished" wait_for 120 synced
	await charlie slowloris-on 300
	marsadm set-link 1 userspace/during-slowloris
	await charlie attacks-done 400
	;;
charlie)
	wait_reachable alpha 60
	await alpha ready 300

	# --- A stranger: no secret, no module.
	attack r --target alpha hello-any
	check "a stranger's (any) Hello is not welcomed, no uuid revealed" \
		sh -c '[ "$1" = no ] && [ -z "$2" ]' - "$(field welcome "$r")" "$(field uuid "$r")"
	attack r --target bravo --as alpha push-ip-tombstone
	# Had bravo taken the tombstone, the strategy round the push's Notify asked for stops its
	# session with alpha (a new address is used only by a new session): give it that round.
	sleep 2
	attack r --target bravo --as alpha push-ip --to 10.77.0.3
	check "a stranger's push of ips/ip-alpha is not read (no Welcome, no Pong)" sh -c '[ "$1" != yes ]' - "$(field pong "$r")"
	# Had bravo taken the address, it would pull from here, believing this is alpha.
	attack r --as alpha --peers 1 --seconds 10 serve-escape
	check "no member pulls from a stranger" sh -c '[ "$1" = 0 ]' - "$(field handshakes "$r")"
	attack r --target alpha --as bravo read-log r0 log-000000001-alpha
	check_eq "0 bytes of alpha's logfile reach a stranger (port 7778)" 0 "$(field bytes_received "$r")"
	attack r --target alpha --as bravo read-sync r0
	check_eq "0 bytes of alpha's device reach a stranger (port 7779)" 0 "$(field bytes_received "$r")"
	attack r --target alpha future-stamp
	attack r --target alpha notify-flood 10000
	check_eq "a stranger's Notify flood is not taken (no frame sent after a Welcome)" 0 "$(field sent "$r")"

	# --- 64 slow connections for 25 s while charlie joins (the module is loaded first: mkfs
	# and the load are not what is timed).
	mars_up
	$adv --target alpha --seconds 25 slowloris 64 > /tmp/slowloris 2>&1 &
	slow=$!
	wait_for 10 alpha_conns_at_least 16
	echo "# $(awk '$3 == "01004D0A:1E61" && $4 == "01"' /proc/net/tcp | wc -l) connections to alpha:7777"
	say slowloris-on
	t0=$(date +%s)
	# shellcheck disable=SC2046
	check "64 slow connections do not keep charlie from joining within 25 s" \
		wait_for 25 marsadm join-cluster alpha --timeout 10 $(secret_opt)
	echo "# join took $(($(date +%s) - t0)) s"
	wait $slow
	echo "# $adv slowloris 64: $(cat /tmp/slowloris)"
	check "charlie knows every member" wait_for 60 mars_all_members_known
	# As a member (with the secret): digests its Hello did not offer are not computed for it.
	# shellcheck disable=SC2046
	attack r --as charlie $(secret_opt) sums-not-agreed r0
	check "a SyncSumsRead with a digest not agreed (SHA1, MD5) is refused, nothing digested, the connection stays usable" \
		sh -c '[ "$1" = 2 ] && [ "$2" = 0 ] && [ "$3" = yes ]' - "$(field unsupported "$r")" "$(field digests "$r")" "$(field usable "$r")"

	# --- A compromised member: charlie's module is replaced by the tool's server.
	check "rmmod mars" rmmod mars
	as_member="--as charlie $(secret_opt) --notify alpha,bravo --peers 2"
	# shellcheck disable=SC2086
	attack r $as_member --seconds 120 serve-escape
	check "alpha and bravo pulled the escape tree from the compromised member" \
		sh -c '[ "$1" = alpha,bravo ]' - "$(field served "$r")"
	# shellcheck disable=SC2086
	attack r $as_member --seconds 240 serve-flood 200000
	# The members close the connection at their cap: the tool's writes fail ("cut").
	check "alpha and bravo cut the flood of 200000 entries" \
		sh -c '[ "$1" = alpha,bravo ] && [ "$2" -ge 2 ]' - "$(field served "$r")" "$(field cut "$r")"
	# shellcheck disable=SC2086
	attack r $as_member --seconds 150 serve-ips 1000
	check "alpha and bravo pulled the ips/ flood" sh -c '[ "$1" = alpha,bravo ]' - "$(field served "$r")"
	# shellcheck disable=SC2086
	attack r $as_member --seconds 120 serve-own-keys alpha,bravo
	check "alpha and bravo pulled the own-keys tree" sh -c '[ "$1" = alpha,bravo ]' - "$(field served "$r")"
	say attacks-done
	await alpha finished 300
	await bravo finished 300
	ktap_end
	exit
	;;
esac

# --- alpha and bravo: what the attacks left.
check "the canary file outside /mars is intact" canary_intact
check "no link under /mars points outside /mars and /dev" no_link_leaves_mars
check "ips/ip-alpha is alpha's address" is /mars/ips/ip-alpha 10.77.0.1
check "the Lamport clock is less than an hour ahead of real time" clock_sane
n=$(count_links /mars/userspace 'flood-*')
check "the flood left at most $cap_entries entries (found $n)" test "$n" -le "$cap_entries"
n=$(count_links /mars/ips 'ip-*')
check "the ips/ flood left at most $cap_ips links (found $n)" test "$n" -le "$cap_ips"
check "the refusals were counted (net_refused_entries, net_refused_connections)" sh -c \
	'[ "$(cat /proc/sys/mars/net_refused_entries)" -gt 0 ] && [ "$(cat /proc/sys/mars/net_refused_connections)" -gt 0 ]'
echo "# net_refused_entries $(cat /proc/sys/mars/net_refused_entries), net_refused_connections $(cat /proc/sys/mars/net_refused_connections)"
check "data-$h is still this host's device" is $res/data-$h /dev/vda
check "ips/ip-$h is still this host's address" is /mars/ips/ip-$h "10.77.0.$mars_index"
check "replay-$h was not set by another host" sh -c "[ \"\$(readlink $res/replay-$h)\" != log-000000001-$h,0,0 ]"

if [ "$h" = alpha ]; then
	check "write 1 MiB more on the primary" dd if=/dev/urandom of=/dev/mars/r0 bs=1M count=1 seek=4 oflag=direct
	check "publish the checksum" marsadm set-link "$(region_md5 /dev/mars/r0)" userspace/md5-after
	check "bravo's device has the new write" wait_for 90 is_link /mars/userspace/same-bravo
else
	check "alpha's checksum arrived" wait_for 90 is_link /mars/userspace/md5-after
	want=$(readlink /mars/userspace/md5-after)
	same() { [ "$(region_md5 /dev/vda)" = "$want" ]; }
	check "a write on the primary after the attacks reaches bravo's device" wait_for 90 same
	marsadm set-link 1 userspace/same-bravo
	wait_for 30 said alpha finished
fi
say finished
check "rmmod mars" wait_for 30 rmmod mars
ktap_end
