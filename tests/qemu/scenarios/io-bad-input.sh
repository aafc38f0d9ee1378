#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 420
# data-disk: 64M
# mars-disk: 512M
#
# Promise: bad input changes nothing. Every writable knob in /proc/sys/mars refuses a value
# that is not one decimal integer in its range (non-numeric, empty, hexadecimal, two numbers,
# below or above the range, negative, too big for 64 bits) with EINVAL and keeps its value,
# while the bounds themselves are accepted. Making a logged device on a device that does not
# exist, on something that is not a block device, on a device that is in use (mounted, opened
# exclusively by a device-mapper target or by another MARS device), in a resource directory
# that does not exist, or under a bad or too long name fails with a clear error and leaves
# nothing behind: no /dev/mars/<name>, no new file in the resource directory, no device in
# the hook's list, and the data device still usable.
. /mars-tests/lib.sh

# Every writable knob with its range (Documentation/knobs.rst). A knob missing here fails the
# first check, so a new knob cannot go untested.
knobs="max_lamport_future 1 315360000
scan_interval_sec 1 300
logger_completion_semantics 0 3
aio_sync_mode 0 2
mem_limit_percent 0 70
mem_limit_gb 1 1048576
logger_report_interval_s 1 3600
logrot_auto_gb 0 1048576
log_fetch_sockets 1 8
log_fetch_speed_limit_kib 0 1073741824
network_io_timeout 0 86400
do_fast_fullsync 0 1
sync_speed_limit_kib 0 1073741824
sync_parallel 1 16
sync_sockets 1 8
required_free_space_1_mb 0 1048576
required_free_space_2_mb 0 1048576
required_free_space_3_mb 0 1048576
required_free_space_4_mb 0 1048576
required_free_space_1_gb 0 1024
required_free_space_2_gb 0 1024
required_free_space_3_gb 0 1024
required_free_space_4_gb 0 1024
logger_allow_compress 0 1
zlib_compress_level 1 9
logger_resume 0 1
tcp_tuning_0_meta_traffic/ip_tos 0 255
tcp_tuning_0_meta_traffic/tcp_keepidle 1 32767
tcp_tuning_0_meta_traffic/tcp_keepintvl 1 32767
tcp_tuning_0_meta_traffic/tcp_keepcnt 1 127
tcp_tuning_1_replication_traffic/ip_tos 0 255
tcp_tuning_1_replication_traffic/tcp_keepidle 1 32767
tcp_tuning_1_replication_traffic/tcp_keepintvl 1 32767
tcp_tuning_1_replication_traffic/tcp_keepcnt 1 127
tcp_tuning_2_sync_traffic/ip_tos 0 255
tcp_tuning_2_sync_traffic/tcp_keepidle 1 32767
tcp_tuning_2_sync_traffic/tcp_keepintvl 1 32767
tcp_tuning_2_sync_traffic/tcp_keepcnt 1 127"
ktap_begin

check "load the module" mars_logged_device_load
# Subdirectories too (tcp_tuning_<n>_<role>_traffic/ as the original).
writable=$(cd /proc/sys/mars && find . -type f -perm -200 | sed 's|^\./||' | while read -r f; do
	case "$f" in test_*|trigger) continue ;; esac   # TEST-ONLY hooks, write-only trigger: below
	echo "$f"
done | sort | tr '\n' ' ')
check_eq "the table lists every writable knob" "$writable" "$(echo "$knobs" | cut -d' ' -f1 | sort | tr '\n' ' ')"

# refused_perm KNOB VALUE: writing fails (a read-only entry).
refused_perm() { ! printf '%s\n' "$2" > "/proc/sys/mars/$1" 2>/dev/null; }
# refused KNOB VALUE: writing the value and a newline, as `echo` does, fails with EINVAL.
# (dd, not the shell's printf, whose exit status does not always report a failed write.)
refused() {
	err=$(printf '%s\n' "$2" | dd of="/proc/sys/mars/$1" bs=4096 2>&1) && { echo "accepted: $err"; return 1; }
	case "$err" in *"Invalid argument"*) return 0 ;; *) echo "$err"; return 1 ;; esac
}
while read -r knob min max; do
	before=$(cat "/proc/sys/mars/$knob")
	for bad in abc "" " " 0x10 1e3 "5 6" "1,5" "+-1" "--1" "$min-" $((min - 1)) $((max + 1)) -9223372036854775809 \
		18446744073709551616 99999999999999999999999999; do
		check "$knob: '$bad' is refused with EINVAL" refused "$knob" "$bad"
	done
	check_eq "$knob: still $before" "$before" "$(cat "/proc/sys/mars/$knob")"
	check "$knob: its bounds $min and $max are accepted" sh -c \
		"printf '%s\n' $min > /proc/sys/mars/$knob && printf '%s\n' $max > /proc/sys/mars/$knob"
	check "$knob: back to $before" write_knob "$knob" "$before"
done <<EOF_KNOBS
$knobs
EOF_KNOBS

# The original's names: required_free_space_<i>_gb sets the _mb knob in GiB, mars_emergency_mode
# reads as emergency_mode (Documentation/knobs.rst, "The original's names").
check "required_free_space_2_gb 3 sets required_free_space_2_mb to 3072" sh -c \
	"echo 3 > /proc/sys/mars/required_free_space_2_gb && [ \$(cat /proc/sys/mars/required_free_space_2_mb) = 3072 ]"
check "required_free_space_2_mb 5000 reads as 4 GiB" sh -c \
	"echo 5000 > /proc/sys/mars/required_free_space_2_mb && [ \$(cat /proc/sys/mars/required_free_space_2_gb) = 4 ]"
check "back to 2048" write_knob required_free_space_2_mb 2048
check_eq "mars_emergency_mode reads as emergency_mode" "$(cat /proc/sys/mars/emergency_mode)" "$(cat /proc/sys/mars/mars_emergency_mode)"
check "mars_emergency_mode is read-only" refused_perm mars_emergency_mode 1

# The write-only trigger takes a bit mask from 1 to 31.
for bad in 0 32 -1 abc; do
	check "trigger: '$bad' is refused with EINVAL" refused trigger "$bad"
done
check "trigger: 1 is accepted" write_knob trigger 1

# --- devices ---
check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
mkdir -p /mars/resource-bad /mnt/vda
# refused_with ERROR HOOK-COMMAND: the hook refuses the command with that error (strerror).
refused_with() {
	! mars_logged_device_ctl "$2" 2>/dev/null && grep -q "$1" /tmp/.mars-ctl.err
}
# refused_device NAME WHY ERROR HOOK-COMMAND: the hook refuses the command with the error,
# and nothing is left.
refused_device() {
	name=$1 why=$2 error=$3 command=$4
	before=$(ls -A /mars/resource-bad | tr '\n' ' ')
	check "$why: refused ($error)" refused_with "$error" "$command"
	echo "# $why: $(grep -v 'records\|copied' /tmp/.mars-ctl.err)"
	check_fails "$why: no /dev/mars/$name" test -e "/dev/mars/$name"
	check_eq "$why: no new file in the resource directory" "$before" "$(ls -A /mars/resource-bad | tr '\n' ' ')"
	check_eq "$why: the hook lists no such device" 0 "$(grep -c "^$name " /proc/sys/mars/test_logger)"
}
long=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
refused_device bad "a missing device" "No such file" "bad /mars/resource-bad /dev/nonexistent"
refused_device bad "not a block device" "Block device required" "bad /mars/resource-bad /mars/resource-bad"
refused_device bad "a missing resource directory" "No such file" "bad /mars/resource-missing /dev/vda"
refused_device "a/b" "a bad name" "Invalid argument" "a/b /mars/resource-bad /dev/vda"
refused_device "$long" "a name too long for a device" "File name too long" "$long /mars/resource-bad /dev/vda"
mkfs.ext4 -q -F /dev/vda && mount -t ext4 /dev/vda /mnt/vda
refused_device bad "a mounted device" "Device or resource busy" "bad /mars/resource-bad /dev/vda"
umount /mnt/vda
dmsetup create hold --table "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0"
refused_device bad "a device held by device-mapper" "Device or resource busy" "bad /mars/resource-bad /dev/vda"
dmsetup remove hold
check "a device on /dev/vda works" mars_logged_device_up good /dev/vda
refused_device bad "a device under another MARS device" "Device or resource busy" "bad /mars/resource-bad /dev/vda"
check "a second device of the same name is refused (File exists)" refused_with "File exists" "good /mars/resource-bad /dev/vdb"
check_fails "a device in use is not switched off" sh -c "exec 3</dev/mars/good; printf '%s\n' -good > /proc/sys/mars/test_logger"
check "it still works" dd if=/dev/zero of=/dev/mars/good bs=4k count=16 oflag=direct
check "switch it off" mars_logged_device_down good
check "nothing holds /dev/vda any more (mkfs opens it exclusively)" mkfs.ext4 -q -F /dev/vda
check "unload the module" rmmod mars
check "no mars message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'
ktap_end
