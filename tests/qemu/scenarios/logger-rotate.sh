#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1800
# data-disk: 256M
# mars-disk: 512M
#
# Promise: the transaction logger switches logfiles without stopping the device. When an empty
# next logfile appears (what `marsadm log-rotate` makes), new writes go to it once the current
# one is durable; the replay link moves on only when everything of the old logfile is on the
# data device; a non-empty next logfile is refused. Both logfiles read back clean, and each
# gets a version link chained to its predecessor (MD5 over "<nr>,<host>,<end>:<previous link>").
# A crash while both logfiles are in use loses nothing: recovery replays the rest of the old
# one and all of the new one, and logging continues in a fresh logfile.
. /mars-tests/lib.sh
ktap_begin

hook=/proc/sys/mars/test_logger
name=lg
dev=/dev/mars/$name
res=/mars/resource-$name
host=$(hostname)

hook_write() { printf '%s\n' "$1" | dd of="$hook" bs=4096 2>&1; }
stat_of() { awk -v n="$name" -v k="$1" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$hook"; }
replay_link() { readlink "$res/replay-$host"; }
log_file() { echo "$res/log-$(printf %09d "$1")-$host"; }
version_link() { readlink "$res/version-$(printf %09d "$1")-$host"; }
logging_into() { [ "$(stat_of log)" = "$1" ]; }
link_is() { [ "$(replay_link)" = "$1" ]; }
same_on_data_device() {
	n=$(($(stat -c %s "$2") / 4096))
	dd if=/dev/vda of=/tmp/vda.out bs=4096 skip="$1" count="$n" iflag=direct 2>/dev/null && cmp -s /tmp/vda.out "$2"
}
abc_on_data_device() { same_on_data_device 0 /tmp/a && same_on_data_device 1024 /tmp/b && same_on_data_device 2048 /tmp/c; }
de_on_data_device() { same_on_data_device 3072 /tmp/d && same_on_data_device 4096 /tmp/e; }
link_names() { l=$(replay_link); want="$(basename "$(log_file "$1")"),"; [ "${l#"$want"}" != "$l" ]; }
clean() { [ "$(marsadm log-dump "$1" | tail -1)" = "$2 records, 0 warnings, 0 defects" ]; }
# expected_version NR END PREV: the version link of logfile NR of this host ending at END,
# chained to PREV (this host's link of logfile NR-1; ignored for NR 1).
expected_version() {
	prev=$3; [ "$1" -le 1 ] && prev=""
	digest=$(printf '%s,%s,%s:%s' "$1" "$host" "$2" "$prev" | md5sum | cut -c1-32)
	printf '%s,log-%09d-%s,%s:%s' "$digest" "$1" "$host" "$2" "${prev%%:*}"
}
record=$((4096 + 84))

check "load the MARS_TESTING build" insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars && mkdir $res"
check "create $name over /dev/vda" hook_write "$name $res /dev/vda"
for f in a b c d e; do dd if=/dev/urandom of=/tmp/$f bs=1M count=1 2>/dev/null; done

# --- log-rotate while writing ---
check "write A (1 MiB at 0)" dd if=/tmp/a of="$dev" bs=64k oflag=direct
check "pause writeback" hook_write "pause $name"
check "write B (1 MiB at 4 MiB)" dd if=/tmp/b of="$dev" bs=64k seek=64 oflag=direct
check "log-rotate: create the empty logfile 2" touch "$(log_file 2)"
check "the logger switches to logfile 2" wait_for 10 logging_into 2
check "write C (1 MiB at 8 MiB): into logfile 2" dd if=/tmp/c of="$dev" bs=64k seek=128 oflag=direct
check_eq "logfile 1 holds A and B" $((512 * record)) "$(stat -c %s "$(log_file 1)")"
# (logfile 2 is still written: zeros ahead of its records; its end is what was appended)
check_eq "logfile 2 holds C" $((256 * record)) "$(stat_of appended)"
check "logfile 2 is C and zeros written ahead" sh -c "marsadm log-dump $(log_file 2) | tail -1 | grep -qx '256 records, 0 warnings, 0 defects'"
check "the replay link still names logfile 1 (B is not written back)" link_names 1
check "resume writeback" hook_write "resume $name"
check "the replay link moves to the end of logfile 2" wait_for 20 link_is "log-000000002-$host,$((256 * record)),0"
check "the data device holds A, B and C" abc_on_data_device
check "logfile 1 reads back clean" clean "$(log_file 1)" 512
check "logfile 2 reads back clean" clean "$(log_file 2)" 256
v1=$(version_link 1)
check_eq "version link 1: logfile 1 ends at its size" "$(expected_version 1 $((512 * record)) "")" "$v1"
check_eq "version link 2 chains to version link 1" "$(expected_version 2 $((256 * record)) "$v1")" "$(version_link 2)"

# --- a non-empty next logfile is refused ---
echo garbage > "$(log_file 3)"
sleep 5
check "the logger stays with logfile 2" logging_into 2
check "it says why" sh -c "dmesg | grep -q 'log-000000003-$host is not empty'"
rm "$(log_file 3)"

# --- a crash while both logfiles are in use ---
check "pause writeback" hook_write "pause $name"
check "write D (1 MiB at 12 MiB): into logfile 2" dd if=/tmp/d of="$dev" bs=64k seek=192 oflag=direct
check "log-rotate: create the empty logfile 3" touch "$(log_file 3)"
check "the logger switches to logfile 3" wait_for 10 logging_into 3
check "write E (1 MiB at 16 MiB): into logfile 3" dd if=/tmp/e of="$dev" bs=64k seek=256 oflag=direct
check "crash (forget everything not written back)" hook_write "!$name"
echo "# replay link after the crash: $(replay_link)"
check "it names logfile 2 (D is not written back)" link_names 2
check_fails "the data device does not have D" same_on_data_device 3072 /tmp/d
check "create $name again: recovery replays logfiles 2 and 3" hook_write "$name $res /dev/vda"
echo "# $(stat_of replayed) records replayed"
check "the data device holds D and E" de_on_data_device
check_eq "logging continues in logfile 4" "log-000000004-$host,0,0" "$(replay_link)"
v2=$(version_link 2)
check_eq "version link 3 chains to version link 2" "$(expected_version 3 $((256 * record)) "$v2")" "$(version_link 3)"
check "remove $name" hook_write "-$name"
check "rmmod" rmmod mars
check "no mars.ko message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -v "is not empty: not switching" | grep -q "mars: "'

ktap_end
