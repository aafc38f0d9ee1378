#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the guests of one scenario, run it in each, collect KTAP output, console logs and dmesg,
# enforce the timeout and always tear the guests down. Prints one KTAP result line for the
# scenario (and the guests' subtests, indented); exit 0 iff it passed.
#
# Usage: run-scenario.sh SCENARIO.sh BZIMAGE INITRAMFS RESULTS_DIR [TEST_NUMBER]
# The scenario's header says "# guests: N" and "# timeout: SECONDS"; optional
# "# data-disk: SIZE", "# mars-disk: SIZE", "# memory: MiB", "# crash-boots: N",
# "# extra-disk: SIZE" (a third disk, /dev/vdc, e.g. for a test's own records that must not
# share a filesystem with /mars).
# Crash boots: a guest that prints MARS-KILL-ME on its output is killed with SIGKILL (a power
# failure: nothing it did not write to its disks survives) and booted again on the same disks,
# up to N times; the boot number reaches the scenario as $mars_boot (1, 2, ...). The outputs
# of killed boots are kept as <host>.boot<N>.{out,console}; their checks count too.
# "# crash-hosts: bravo ..." limits the crash boots to those guests (default: every guest).
# "# output: text": the script prints prose, not KTAP (the demo); only its exit code counts.
# "# image: systemd": the guests boot Debian's systemd as PID 1 (scripts/build-systemd-image.sh
# makes that image from INITRAMFS, as INITRAMFS with -systemd before .cpio, once per run) and
# run the scenario as a service.
# "# tools: fio": the guests boot INITRAMFS with fio added (scripts/build-initramfs.sh makes it
# as INITRAMFS with -fio before .cpio; where there is none, INITRAMFS is taken to have fio).
# The base image has no fio: its 65 libraries cost every guest about 5 s of CPU at boot.
# Environment: MARS_ACCEL (default: kvm where a probe guest boots under it, else tcg),
# MARS_SMP (2), MARS_TIMEOUT (overrides the header's timeout, for long runs), MARS_CRASH_BOOTS
# (overrides the header's crash-boots; the guests see it as $mars_crash_boots), MARS_EXTRA_APPEND
# (more kernel command line: name=value pairs reach the scenario as environment variables,
# e.g. mars_fio_budget=1800 for a long io-fio-verify run).
set -uo pipefail
. "$(dirname "$0")/env.sh"

scenario=$1 kernel=$2 initrd=$3 results=$4 number=${5:-1}
name=$(basename "$scenario" .sh)
header() { sed -n "s/^# $1: *//p" "$scenario" | head -1; }
nguests=$(header guests); nguests=${nguests:-1}
timeout=${MARS_TIMEOUT:-$(header timeout)}; timeout=${timeout:-300}
data_size=$(header data-disk); data_size=${data_size:-256M}
mars_size=$(header mars-disk); mars_size=${mars_size:-512M}
memory=$(header memory); memory=${memory:-1024}
crash_boots=${MARS_CRASH_BOOTS:-$(header crash-boots)}; crash_boots=${crash_boots:-0}
crash_hosts=$(header crash-hosts)
output=$(header output)
image=$(header image)
tools=$(header tools)
if [[ " $tools " == *" fio "* ]]; then
	[ "$image" = systemd ] && die "$scenario: the systemd image has no fio"
	[ -f "${initrd%.cpio}-fio.cpio" ] && initrd=${initrd%.cpio}-fio.cpio
fi
# The guest's PID 1 and the kernel command line that selects it.
init_append="rdinit=/init"
if [ "$image" = systemd ]; then
	sd_initrd=${initrd%.cpio}-systemd.cpio
	# Once per run (check.sh builds it up front; several scenarios may start together).
	(flock 9; [ -f "$sd_initrd" ] || "$(dirname "$0")/build-systemd-image.sh" "$initrd" "$sd_initrd") \
		9>"$sd_initrd.lock" >&2 || die "the systemd guest image failed"
	initrd=$sd_initrd
	# net.ifnames=0: udev keeps the kernel's eth<N> names, which the guest init configures.
	init_append="rdinit=/lib/systemd/systemd net.ifnames=0"
elif [ -n "$image" ]; then
	die "$scenario: unknown image '$image'"
fi
# host_crash_boots HOST: the crash boots of that guest.
host_crash_boots() {
	if [ -z "$crash_hosts" ] || [[ " $crash_hosts " == *" $1 "* ]]; then echo "$crash_boots"; else echo 0; fi
}
extra_size=$(header extra-disk)
accel=$("$(dirname "$0")/detect-accel.sh" "$kernel" "$initrd")
smp=${MARS_SMP:-2}
# Guest clocks under TCG: QEMU gives the guest the host's TSC, and the test kernel has no HPET
# or ACPI PM timer to calibrate it against; on a loaded host the PIT calibration, the APIC
# timer check and the clocksource watchdog can fail and leave a guest whose clock runs several
# times too fast (11 of 166 multi-guest runs of 6-7 Dec 2026). So the guest is told the TSC
# frequency, measured on the host, and that the TSC is reliable (no watchdog against jiffies).
clock_append=""
if [ "$accel" = tcg ] && [ "$(uname -m)" = x86_64 ]; then
	tsc_khz=$(mars_host_tsc_khz)
	[ -n "$tsc_khz" ] && clock_append=" tsc_early_khz=$tsc_khz tsc=reliable"
fi
# Boot-time work no test needs, each a few seconds of a TCG guest's CPU under lockdep and
# kmemleak: pty.legacy_count=0, no BSD ptys (512 device nodes; everything uses /dev/ptmx);
# drbd.minor_count=1 where the script does not use DRBD (DRBD, built in for the benchmarks'
# baselines, preallocates 256 pages per minor of its default 32; the benchmarks keep that).
# Together 2.3 s of the 9.4 s of CPU a guest took to boot to its init (7 Dec 2026).
boot_append="pty.legacy_count=0"
grep -qi drbd "$scenario" || boot_append+=" drbd.minor_count=1"
names=(alpha bravo charlie delta)

dir=$results/$name
rm -rf "$dir"; mkdir -p "$dir"
# UDP ports on 127.0.0.1 for the point-to-point links: guest i's end of link i-j.
base=$((20000 + (RANDOM % 4000) * 10))
port() { echo $((base + 10 * $1 + $2)); }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -f "$dir"/*.img
}
trap cleanup EXIT

# One cluster secret per run, for every guest and boot (guests see it as $mars_secret;
# tests/qemu/guest/lib.sh writes it to $MARS_SECRET_FILE for create-cluster/join-cluster).
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

# Boots guest $1 for the $2-th time; its serial outputs go to <host>[.boot<N>].{console,out}.
launch() {
	local i=$1 b=$2 host=${names[$(($1 - 1))]} suffix=""
	[ "$2" -le "$(host_crash_boots "$host")" ] && suffix=".boot$2"
	local net=() j
	for j in $(seq 1 "$nguests"); do
		[ "$i" = "$j" ] && continue
		net+=(-netdev "socket,id=n$j,udp=127.0.0.1:$(port "$j" "$i"),localaddr=127.0.0.1:$(port "$i" "$j")"
		      -device "virtio-net-pci,netdev=n$j,mac=52:54:00:77:0$i:0$j")
	done
	# TCG: qemu64 plus SSE4.2 and PCLMULQDQ, so that the guest's crc32c (the log records'
	# digest) uses the crc32 instruction (crc32c-intel), which TCG runs as one helper call per
	# 8 bytes instead of emulating the table loop. Not "max": its fast-string flags (ERMS,
	# FSRM) make the kernel's memcpy a "rep movsb", which QEMU 7 emulates byte by byte.
	# MARS_QEMU_CPU overrides the model (make bench: e.g. without sse4.2, the guest's crc32c
	# is the kernel's table code, which TCG translates instead of calling a helper).
	local cpu=(-cpu qemu64,+ssse3,+sse4.1,+sse4.2,+pclmulqdq); [ "$accel" = kvm ] && cpu=(-cpu host)
	[ -n "${MARS_QEMU_CPU:-}" ] && cpu=(-cpu "$MARS_QEMU_CPU")
	local extra=()
	[ -n "$extra_size" ] && extra=(-drive "file=$dir/$host-extra.img,if=virtio,format=raw,cache=none,aio=threads")
	# no_timer_check: on a loaded host a TCG guest can fail the IO-APIC timer check at boot
	# and panic ("IO-APIC + timer doesn't work"); crash scenarios boot many times.
	# rcu_cpu_stall_timeout=60 (default 21 s): a TCG vCPU starved by a loaded host reported
	# RCU stalls of 26 and 33 s at boot, in the kernel's own initcalls (drbd_init, devtmpfs;
	# cold run of 7 Dec 2026 at load 5 on 2 cores). A stall in MARS code still reports after 60 s.
	qemu-system-x86_64 -accel "$accel" "${cpu[@]}" -m "$memory" -smp "$smp" -display none -no-reboot \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 loglevel=6 panic=-1 oops=panic no_timer_check rcupdate.rcu_cpu_stall_timeout=60 $boot_append $init_append$([ "$image" = systemd ] && printf ' systemd.hostname=%s systemd.machine_id=%032x' "$host" "$i") mars_host=$host mars_index=$i mars_nguests=$nguests mars_scenario=$name mars_boot=$b mars_crash_boots=$crash_boots mars_secret=$secret$clock_append${MARS_EXTRA_APPEND:+ $MARS_EXTRA_APPEND}" \
		-serial "file:$dir/$host$suffix.console" -serial "file:$dir/$host$suffix.out" \
		-monitor "unix:$dir/$host.monitor,server,nowait" \
		-drive "file=$dir/$host-data.img,if=virtio,format=raw,cache=none,aio=threads" \
		-drive "file=$dir/$host-mars.img,if=virtio,format=raw,cache=none,aio=threads" \
		"${extra[@]}" "${net[@]}" >>"$dir/$host.qemu" 2>&1 &
	pids[$((i - 1))]=$!
}

boots=()
for i in $(seq 1 "$nguests"); do
	host=${names[$((i - 1))]}
	truncate -s "$data_size" "$dir/$host-data.img"
	truncate -s "$mars_size" "$dir/$host-mars.img"
	[ -n "$extra_size" ] && truncate -s "$extra_size" "$dir/$host-extra.img"
	boots[$((i - 1))]=1
	launch "$i" 1
done

# Wait until every guest has printed its exit line or powered off, or the timeout passes.
start=$SECONDS timed_out=0
while :; do
	for i in $(seq 1 "$nguests"); do
		b=${boots[$((i - 1))]} host=${names[$((i - 1))]}
		if [ "$b" -le "$(host_crash_boots "$host")" ] && grep -q '^MARS-KILL-ME' "$dir/$host.boot$b.out" 2>/dev/null; then
			kill -9 "${pids[$((i - 1))]}" 2>/dev/null; wait "${pids[$((i - 1))]}" 2>/dev/null
			boots[$((i - 1))]=$((b + 1))
			launch "$i" $((b + 1))
		fi
	done
	running=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
	[ "$running" = 0 ] && break
	if [ $((SECONDS - start)) -ge "$timeout" ]; then timed_out=1; break; fi
	sleep 1
done
elapsed=$((SECONDS - start))
cleanup; trap - EXIT
wait 2>/dev/null
# The CPU time the guests used (QEMU processes are our children; every one is reaped now):
# with the wall time, what make check schedules by (scripts/check.sh).
times > "$dir/times"   # (not in $(...): a subshell's times are its own)
cpu=$(tail -1 "$dir/times" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } } END { printf "%d", t }')

# Kernel reports that fail a scenario wherever they appear.
splat='WARNING:|BUG:|Oops|kernel BUG|general protection fault|possible recursive locking|possible circular locking|inconsistent lock state|DEBUG_LOCKS_WARN_ON|KFENCE:|suspected memory leak|UBSAN:|Call Trace:|INFO: task .* blocked|ODEBUG:|list_(add|del) corruption|Kernel panic|self-detected stall|unreferenced object'
failed=0 reasons=()
for i in $(seq 1 "$nguests"); do
	host=${names[$((i - 1))]}
	out=$dir/$host.out
	touch "$out"
	rc=$(sed -n 's/^MARS-GUEST-EXIT \([0-9]*\).*/\1/p' "$out" | tail -1)
	if [ -z "$rc" ]; then
		failed=1; reasons+=("$host: no exit line$([ "$timed_out" = 1 ] && echo " (timeout ${timeout}s)")")
	elif [ "$rc" != 0 ]; then
		failed=1; reasons+=("$host: scenario exit $rc")
	fi
	if [ "${boots[$((i - 1))]}" -le "$(host_crash_boots "$host")" ]; then
		failed=1; reasons+=("$host: asked to be killed $((${boots[$((i - 1))]} - 1)) of $(host_crash_boots "$host") times")
	fi
	# Each boot's KTAP output ends with its plan (lib.sh's ktap_end: the number of checks that
	# ran): a boot without one, or with fewer results than it, stopped early. A script with
	# the header "# output: text" (the demo) prints prose and is judged by its exit code.
	for o in "$dir/$host".boot*.out "$out"; do
		[ -f "$o" ] || continue
		[ "$output" = text ] && continue
		[ -n "$rc" ] || [ "$o" != "$out" ] || continue
		plan=$(sed -n '/^=== dmesg ===/q;s/^1\.\.\([0-9][0-9]*\)\r*$/\1/p' "$o" | tail -1)   # (serial lines end in CR LF)
		nres=$(sed -n '/^=== dmesg ===/q;p' "$o" | grep -cE '^(not )?ok [0-9]+ ')
		if [ -z "$plan" ]; then
			failed=1; reasons+=("$host: $(basename "$o"): no KTAP plan (the scenario stopped early)")
		elif [ "$plan" != "$nres" ]; then
			failed=1; reasons+=("$host: $(basename "$o"): plan 1..$plan but $nres results")
		fi
	done
	logs=("$dir/$host".boot*.out "$dir/$host".boot*.console "$dir/$host.console" "$out")
	logs=($(ls "${logs[@]}" 2>/dev/null))
	if grep -Eq '^not ok' "${logs[@]}"; then failed=1; reasons+=("$host: failed checks"); fi
	if grep -Eq "$splat" "${logs[@]}"; then
		failed=1; reasons+=("$host: kernel report in console/dmesg")
		grep -Eh -m5 "$splat" "${logs[@]}" | sed "s/^/#   $host: /"
	fi
done

# Subtests of every guest, indented as KTAP nested results.
for i in $(seq 1 "$nguests"); do
	host=${names[$((i - 1))]}
	for b in $(seq 1 "$(host_crash_boots "$host")"); do
		[ -f "$dir/$host.boot$b.out" ] &&
			grep -E '^(ok|not ok|#)' "$dir/$host.boot$b.out" | sed "s/^/    # $host boot $b: /"
	done
	sed -n '/^=== dmesg ===/q;p' "$dir/$host.out" | grep -E '^(ok|not ok|#)' | sed "s/^/    # $host: /"
done
if [ "$failed" = 0 ]; then
	echo "ok $number $name # ${elapsed}s cpu ${cpu}s"
else
	for r in "${reasons[@]}"; do echo "# $name: $r"; done
	echo "# logs: $dir"
	echo "not ok $number $name # ${elapsed}s cpu ${cpu}s"
fi
exit "$failed"
