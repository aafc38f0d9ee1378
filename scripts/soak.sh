#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make soak: the long forms of what make check runs short. Parameters (environment):
#   SOAK_CRASH_POINTS  power failures of io-crash (default 30; make check runs 3)
#   SOAK_FIO_SECONDS   seconds of io-fio-verify passes (default 1200; make check runs 60)
#   SOAK_FUZZ_SECONDS  seconds per fuzz target (default 600; make check runs 20)
#   SOAK_SYSTEMD_ROUNDS  handovers of four resources at once in systemd-trigger (default 10;
#                      make check runs 1)
#   SOAK_PARTS         which parts to run (default "crash fio fuzz systemd")
# The parts run side by side (a guest runs on one vCPU, libFuzzer on one core). Ends
# with the figures of each part
# (crash points survived, MiB written and verified, fuzz runs, systemd handover rounds) and
# "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/env.sh"

crash_points=${SOAK_CRASH_POINTS:-30}
fio_seconds=${SOAK_FIO_SECONDS:-1200}
fuzz_seconds=${SOAK_FUZZ_SECONDS:-600}
systemd_rounds=${SOAK_SYSTEMD_ROUNDS:-10}
parts=${SOAK_PARTS:-crash fio fuzz systemd}
for v in "$crash_points" "$fio_seconds" "$fuzz_seconds" "$systemd_rounds"; do
	[[ "$v" =~ ^[1-9][0-9]{0,5}$ ]] || die "SOAK_* values are whole numbers of 1..999999, not '$v'"
done

"$MARS_TOP/scripts/build-module.sh" || die "build failed"
kbuild=$(mars_kernel_build) || exit 1
results=$MARS_CACHE/results/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$MARS_TOP/scripts/build-initramfs.sh" "$kbuild" "$results/initramfs.cpio" || die "initramfs failed"
kernel=$kbuild/arch/x86/boot/bzImage
passed=0 failed=0
pids=()
if [[ " $parts " == *" crash "* ]]; then
	log "io-crash with $crash_points power failures"
	# About 30 s a crash point on the debug kernel under TCG; generous.
	MARS_CRASH_BOOTS=$crash_points MARS_TIMEOUT=$((300 + crash_points * 150)) \
		"$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/scenarios/io-crash.sh" \
		"$kernel" "$results/initramfs.cpio" "$results" 1 > "$results/io-crash.log" 2>&1 &
	pids+=("$!:io-crash")
fi
if [[ " $parts " == *" fio "* ]]; then
	log "io-fio-verify for $fio_seconds s"
	MARS_EXTRA_APPEND="mars_fio_budget=$fio_seconds" MARS_TIMEOUT=$((fio_seconds * 2 + 600)) \
		"$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/scenarios/io-fio-verify.sh" \
		"$kernel" "$results/initramfs.cpio" "$results" 2 > "$results/io-fio-verify.log" 2>&1 &
	pids+=("$!:io-fio-verify")
fi
if [[ " $parts " == *" systemd "* ]]; then
	# About 60 s a round of four handovers on the debug kernel under TCG; generous.
	log "systemd-trigger with $systemd_rounds rounds of four resources handed over at once"
	MARS_EXTRA_APPEND="mars_systemd_rounds=$systemd_rounds" MARS_TIMEOUT=$((1500 + systemd_rounds * 300)) \
		"$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/scenarios/systemd-trigger.sh" \
		"$kernel" "$results/initramfs.cpio" "$results" 3 > "$results/systemd-trigger.log" 2>&1 &
	pids+=("$!:systemd-trigger")
fi
if [[ " $parts " == *" fuzz "* ]]; then
	# libFuzzer runs one target at a time on one core, beside the guests.
	log "fuzzing, $fuzz_seconds s per target"
	FUZZ_SECONDS=$fuzz_seconds "$MARS_TOP/scripts/fuzz.sh" > "$results/fuzz.log" 2>&1 &
	fuzz_pid=$!
fi
for p in "${pids[@]}"; do
	if wait "${p%%:*}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	grep -E '^(not )?ok ' "$results/${p#*:}.log"
done
if [[ " $parts " == *" crash "* ]]; then
	# Each boot after a power failure verifies every acknowledged write: count those checks.
	echo "# io-crash: $(cat "$results/io-crash/alpha".boot*.out "$results/io-crash/alpha.out" 2>/dev/null |
		grep -c '^ok .* every acknowledged write reads back') of $crash_points power failures recovered with every acknowledged write intact"
fi
if [[ " $parts " == *" fio "* ]]; then
	grep -h 'MiB written and verified' "$results/io-fio-verify/alpha.out" | sed 's/^/# io-fio-verify: /'
fi
if [[ " $parts " == *" systemd "* ]]; then
	echo "# systemd-trigger: $(grep -hc '^ok .* round [0-9]*: primary r1,r2,r3,r4 --parallel' "$results/systemd-trigger/"*.out 2>/dev/null |
		awk '{ n += $1 } END { print n + 0 }') of $systemd_rounds rounds of four resources handed over at once"
fi
if [[ " $parts " == *" fuzz "* ]]; then
	wait "$fuzz_pid"; rc=$?
	if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); tail -20 "$results/fuzz.log"; fi
	grep -E '^fuzz (ok|FAILED)|^Done [0-9]+ runs' "$results/fuzz.log" | sed 's/^/# /'
fi
log "results in $results"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
