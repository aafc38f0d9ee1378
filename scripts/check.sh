#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check: build what is needed, run every test (host: cargo tests and bounded fuzzing;
# guest: every QEMU scenario), and end with one line "N passed, N failed".
# Options: --host-only, --guest-only. Environment: SCENARIOS="smoke load-unload" to run a
# subset, FUZZ_SECONDS (per fuzz target).
set -uo pipefail
. "$(dirname "$0")/env.sh"

host=1 guest=1
case "${1:-}" in
--host-only) guest=0 ;;
--guest-only) host=0 ;;
"") ;;
*) die "usage: check.sh [--host-only|--guest-only]" ;;
esac

passed=0 failed=0
results=$MARS_CACHE/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
count() { # passed failed
	passed=$((passed + $1)); failed=$((failed + $2))
}
# timing NAME SECONDS: one row of the wall-time table printed at the end.
check_t0=$SECONDS
: > "$results/timings"
timing() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >> "$results/timings"; }

# run_counted WORD LABEL SCRIPT: runs a script that prints "WORD ok <name>" or "WORD FAILED
# <name>" for each of its parts; counts those, and a failing script that named no failed part
# (it broke before: e.g. the fuzz targets did not build) as one failure.
run_counted() {
	local word=$1 label=$2 script=$3 t0=$SECONDS rc ok bad
	"$script" > "$results/$word.log" 2>&1
	rc=$?
	ok=$(grep -c "^$word ok" "$results/$word.log"); bad=$(grep -c "^$word FAILED" "$results/$word.log")
	[ "$rc" != 0 ] && [ "$bad" = 0 ] && bad=1
	[ "$bad" != 0 ] && tail -40 "$results/$word.log"
	grep -E "^$word (ok|FAILED)" "$results/$word.log"
	count "$ok" "$bad"
	timing "$label" $((SECONDS - t0))
}

t0=$SECONDS
"$MARS_TOP/scripts/build-module.sh" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
timing "setup and build (toolchain, kernel, module, marsadm)" $((SECONDS - t0))
kbuild=$(mars_kernel_build) || { echo "0 passed, 1 failed"; exit 1; }

if [ "$host" = 1 ]; then
	log "host tests: cargo test --workspace"
	t0=$SECONDS
	# (Locked: the integration tests run the shared CARGO_TARGET_DIR's marsadm.)
	(cd "$MARS_TOP" && mars_cargo_locked cargo test --workspace --release 2>&1) | tee "$results/cargo-test.log" |
		grep -E '^(test result|error|failures:|---- )' || true
	p=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$results/cargo-test.log" | paste -sd+ | bc)
	f=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$results/cargo-test.log" | paste -sd+ | bc)
	# A build error yields no result lines: count it as a failure.
	grep -q '^error' "$results/cargo-test.log" && f=$((${f:-0} + 1))
	count "${p:-0}" "${f:-0}"
	log "cargo: ${p:-0} passed, ${f:-0} failed"
	timing "cargo test --workspace" $((SECONDS - t0))

	# Lint gates (scripts/lint.sh): rustfmt on every crate, clippy -D warnings.
	run_counted lint "lint gates" "$MARS_TOP/scripts/lint.sh"

	# Tests of the scripts themselves (tests/host/*.sh, KTAP; exit 0 iff every check passed).
	t0=$SECONDS
	for t in "$MARS_TOP"/tests/host/*.sh; do
		n=$(basename "$t" .sh)
		if "$t" > "$results/host-$n.log" 2>&1; then
			log "host test $n: ok"; count 1 0
		else
			grep '^not ok' "$results/host-$n.log"; log "host test $n: FAILED"; count 0 1
		fi
	done
	timing "host script tests" $((SECONDS - t0))

	log "bounded fuzzing"
	run_counted fuzz "bounded fuzzing" "$MARS_TOP/scripts/fuzz.sh"
fi

if [ "$guest" = 1 ]; then
	initrd=$results/initramfs.cpio
	t0=$SECONDS
	"$MARS_TOP/scripts/build-initramfs.sh" "$kbuild" "$initrd" || { count 0 1; echo "$passed passed, $failed failed"; exit 1; }
	timing "guest image" $((SECONDS - t0))
	scenarios=()
	for s in "$MARS_TOP"/tests/qemu/scenarios/*.sh; do
		n=$(basename "$s" .sh)
		if [ -n "${SCENARIOS:-}" ] && ! grep -qw "$n" <<<"$SCENARIOS"; then continue; fi
		scenarios+=("$s")
	done
	# The systemd guest image (Debian's systemd from the package registry, cached after the
	# first time, and MARS's Debian packages: dpkg-buildpackage and DKMS, a minute or more),
	# when a scenario asks for it ("# image: systemd"); run-scenario.sh finds it beside the
	# base image. Built in the background, beside the harness self-test and the first
	# scenarios: it holds the image's lock (taken here, handed to the background job), and
	# run-scenario.sh waits on that lock. A failed build leaves no image: run-scenario.sh
	# tries once more and fails the scenario (build log: systemd-image.log).
	if grep -lqx '# image: systemd' "${scenarios[@]}" /dev/null; then
		sd_image=${initrd%.cpio}-systemd.cpio
		exec 8>"$sd_image.lock"
		flock 8
		(
			t0=$SECONDS
			"$MARS_TOP/scripts/build-systemd-image.sh" "$initrd" "$sd_image" > "$results/systemd-image.log" 2>&1 ||
				{ rm -f "$sd_image"; log "the systemd guest image failed (systemd-image.log)"; }
			timing "guest image (systemd, in the background)" $((SECONDS - t0))
		) &
		exec 8>&-
	fi
	# The harness must fail a scenario whose guest kernel printed a report, even when every
	# check passed: prove it before trusting any other result.
	log "harness self-test: a kernel backtrace must fail a scenario"
	t0=$SECONDS
	if "$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/selftest/harness-detects-splat.sh" \
		"$kbuild/arch/x86/boot/bzImage" "$initrd" "$results" 0 > "$results/selftest.log" 2>&1; then
		echo "harness self-test: a guest backtrace went unnoticed"; count 0 1
	elif grep -q 'kernel report in console/dmesg' "$results/selftest.log" &&
	     ! grep -q 'failed checks\|no exit line' "$results/selftest.log"; then
		count 1 0
	else
		cat "$results/selftest.log"; echo "harness self-test: failed for the wrong reason"; count 0 1
	fi
	timing "harness self-test" $((SECONDS - t0))

	# Scenarios run side by side as far as the host's cores allow. Each scenario weighs the
	# cores its guests keep busy on average (their CPU time over the wall time, from
	# tests/qemu/durations, measured in a run that packed scenarios loosely, at most two at a
	# time; a scenario missing there weighs one core per guest). Not from the last run: the
	# CPU time of a guest that waits for host cores grows (its polls run longer), so the
	# figures of a tightly packed run weigh long scenarios too heavy and leave them to run
	# alone at the end. This run's figures go to durations.new in the results, to be
	# committed when they are such a run's. One starts when its weight fits beside
	# those running into MARS_CHECK_JOBS cores (default: the host's and a quarter more: the
	# weights are averages, and a guest slowed down a little while another one is busy only
	# waits a little longer), or when none runs, and
	# at most MARS_CHECK_GUESTS guests (default 8, 1 GiB each) run at once. Longest first, so
	# that the long ones do not end up alone at the end.
	if [ -n "${MARS_CHECK_JOBS:-}" ]; then cap=$((MARS_CHECK_JOBS * 100)); else cap=$(($(nproc) * 125)); fi
	max_guests=${MARS_CHECK_GUESTS:-8}
	# known SCENARIO-NAME: "wall cpu" of its measured run, or nothing.
	known() {
		awk -v n="$1" '$1 == n && $2 > 0 { w = $2 " " $3 } END { if (w != "") print w }' "$MARS_TOP/tests/qemu/durations"
	}
	guests() { local g; g=$(sed -n 's/^# guests: *//p' "$1" | head -1); echo "${g:-1}"; }
	declare -A expect_wall=() weight=()
	for s in "${scenarios[@]}"; do
		n=$(basename "$s" .sh)
		read -r w c <<<"$(known "$n")"
		if [ -n "${w:-}" ]; then
			expect_wall[$n]=$w
			# average cores in hundredths, at least a quarter of a core
			weight[$n]=$(( c * 100 / w )); [ "${weight[$n]}" -ge 25 ] || weight[$n]=25
		else
			expect_wall[$n]=$(sed -n 's/^# timeout: *//p' "$s" | head -1)
			weight[$n]=$(( $(guests "$s") * 100 ))
		fi
	done
	mapfile -t queue < <(for s in "${scenarios[@]}"; do n=$(basename "$s" .sh); echo "${expect_wall[$n]:-300} $s"; done |
		sort -rn -k1,1 | cut -d' ' -f2-)
	echo "TAP version 13"
	echo "1..${#scenarios[@]}"
	declare -A job_scenario=() job_weight=() job_start=() job_guests=()
	load=0 nguests=0 i=0 guest_t0=$SECONDS
	: > "$results/durations.new"
	# finish PID EXIT-CODE: report one finished scenario (its KTAP result numbered in
	# finishing order) and note its wall and CPU time.
	finish() {
		local pid=$1 rc=$2 s n line
		s=${job_scenario[$pid]}; n=$(basename "$s" .sh)
		i=$((i + 1))
		sed -E "s/^(not )?ok [0-9]+ /\\1ok $i /" "$results/$n.ktap"
		if [ "$rc" = 0 ]; then count 1 0; else count 0 1; fi
		line=$(grep -E "^(not )?ok [0-9]+ $n # " "$results/$n.ktap" | tail -1)
		read -r w c <<<"$(sed -nE 's/.* # ([0-9]+)s cpu ([0-9]+)s$/\1 \2/p' <<<"$line")"
		timing "$n$([ "$rc" = 0 ] || echo ' (FAILED)')" $((SECONDS - job_start[$pid])) "${c:-}"
		[ -n "${w:-}" ] && echo "$n $w $c" >> "$results/durations.new"
		load=$((load - job_weight[$pid])); nguests=$((nguests - job_guests[$pid]))
		unset "job_scenario[$pid]" "job_weight[$pid]" "job_start[$pid]" "job_guests[$pid]"
	}
	while [ ${#queue[@]} -gt 0 ] || [ ${#job_scenario[@]} -gt 0 ]; do
		started=0
		for qi in "${!queue[@]}"; do
			s=${queue[$qi]} n=$(basename "${queue[$qi]}" .sh) g=$(guests "${queue[$qi]}")
			w=${weight[$n]}
			if [ "$load" = 0 ] || { [ $((load + w)) -le "$cap" ] && [ $((nguests + g)) -le "$max_guests" ]; }; then
				log "scenario $n (guests: $g, weight $w/100 cores; running beside it: ${#job_scenario[@]})"
				"$MARS_TOP/scripts/run-scenario.sh" "$s" "$kbuild/arch/x86/boot/bzImage" "$initrd" \
					"$results" 0 > "$results/$n.ktap" 2>&1 &
				job_scenario[$!]=$s job_weight[$!]=$w job_start[$!]=$SECONDS job_guests[$!]=$g
				load=$((load + w)); nguests=$((nguests + g))
				unset "queue[$qi]"
				queue=("${queue[@]}")
				started=1
				break
			fi
		done
		[ "$started" = 1 ] && continue
		# Nothing fits: wait for one to finish.
		done_pid=
		wait -n -p done_pid "${!job_scenario[@]}"
		rc=$?
		[ -n "$done_pid" ] && finish "$done_pid" "$rc"
	done
	timing "guest scenarios (wall)" $((SECONDS - guest_t0))
fi

echo "# wall time (s) of each part; scenarios run side by side, with the guests' CPU time (s)"
sort -t$'\t' -k2 -rn "$results/timings" | awk -F'\t' '{ printf "#   %-52s %6d %6s\n", $1, $2, $3 }'
printf '#   %-52s %6d\n' "total (make check)" $((SECONDS - check_t0))
log "results in $results"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
