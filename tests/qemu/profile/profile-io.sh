#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 1500
# tools: fio
# data-disk: 1G
# mars-disk: 16G
#
# Profile (make profile, neither a test nor a benchmark): where the guest's CPU time goes while
# fio writes to /dev/mars/<res> (log on /dev/vdb, data on /dev/vda), as perf's software
# cpu-clock samples of every CPU with call graphs. PROFILE_JOB (passed as mars_profile_job on
# the kernel command line by scripts/profile.sh) is seq (1 MiB sequential writes, QD 8, the
# default), qd1 or qd32 (4 KiB random writes); PROFILE_KNOBS (mars_profile_knobs) sets knobs
# first. Prints the flat profile by symbol, the share of each thread, and the callers of the
# hottest symbols.
. /mars-tests/lib.sh
ktap_begin

name=prof
dev=/dev/mars/$name
job=${mars_profile_job:-seq}
case "$job" in
qd1) args="--rw=randwrite --bs=4k --iodepth=1" ;;
qd32) args="--rw=randwrite --bs=4k --iodepth=32" ;;
*) job=seq args="--rw=write --bs=1M --iodepth=8" ;;
esac
check "load the module" mars_logged_device_load
check "make and mount /mars on its own disk" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
# PROFILE_KNOBS="name=value,..." (mars_profile_knobs): knobs set before the device is made,
# e.g. aio_sync_mode=0 to see what the log writer's flushes cost.
for kv in $(echo "${mars_profile_knobs:-}" | tr ',' ' '); do
	check "knob ${kv%%=*} = ${kv#*=}" write_knob "${kv%%=*}" "${kv#*=}"
done
check "switch $dev on over /dev/vda" mars_logged_device_up "$name" /dev/vda
# shellcheck disable=SC2086
fio --name=prof --filename="$dev" --direct=1 --ioengine=libaio --size=900M --time_based --runtime=30 \
	--output-format=terse --terse-version=3 --eta=never $args > /tmp/prof.terse 2>&1 &
fio_pid=$!
sleep 10
check "perf records 15 s of $job writes" perf record -q -e cpu-clock -F 250 -a -g -o /tmp/perf.data -- sleep 15
wait $fio_pid
# A full /mars (about 10 GiB of log in 30 s at the logger's best) would put the logger into
# emergency mode, which bypasses the log: then the profile is not the logger's.
check "the logger logged all along (no emergency mode)" sh -c "! dmesg | grep -q 'EMERGENCY MODE'"
echo "# fio $job: $(awk -F';' '{ printf "%d KiB/s, %d IOPS, mean latency %d us", $48, $49, $81 }' /tmp/prof.terse)"
echo "# --- by thread ---"
perf report -i /tmp/perf.data --stdio --no-children -g none --sort comm --percent-limit 1 2>/dev/null |
	grep -v '^#' | grep -v '^$' | sed 's/^/# /'
echo "# --- by symbol ---"
perf report -i /tmp/perf.data --stdio --no-children -g none --sort sym --percent-limit 0.4 2>/dev/null |
	grep -v '^#' | grep -v '^$' | head -70 | sed 's/^/# /'
echo "# --- callers of the hottest symbols ---"
perf report -i /tmp/perf.data --stdio --no-children -G --sort sym --percent-limit 4 2>/dev/null |
	grep -v '^$' | head -150 | sed 's/^/# /'
check "the logger writes everything back" wait_for 300 mars_written_back "$name"
check "switch $dev off" mars_logged_device_down "$name"
ktap_end
