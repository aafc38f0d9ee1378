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

"$MARS_TOP/scripts/build-module.sh" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
kbuild=$(mars_kernel_build) || { echo "0 passed, 1 failed"; exit 1; }

if [ "$host" = 1 ]; then
	log "host tests: cargo test --workspace"
	(cd "$MARS_TOP" && cargo test --workspace --release 2>&1) | tee "$results/cargo-test.log" |
		grep -E '^(test result|error|failures:|---- )' || true
	p=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$results/cargo-test.log" | paste -sd+ | bc)
	f=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$results/cargo-test.log" | paste -sd+ | bc)
	# A build error yields no result lines: count it as a failure.
	grep -q '^error' "$results/cargo-test.log" && f=$((${f:-0} + 1))
	count "${p:-0}" "${f:-0}"
	log "cargo: ${p:-0} passed, ${f:-0} failed"

	# Tests of the scripts themselves (tests/host/*.sh, KTAP; exit 0 iff every check passed).
	for t in "$MARS_TOP"/tests/host/*.sh; do
		n=$(basename "$t" .sh)
		if "$t" > "$results/host-$n.log" 2>&1; then
			log "host test $n: ok"; count 1 0
		else
			grep '^not ok' "$results/host-$n.log"; log "host test $n: FAILED"; count 0 1
		fi
	done

	if [ -x "$MARS_TOP/scripts/fuzz.sh" ]; then
		log "bounded fuzzing"
		"$MARS_TOP/scripts/fuzz.sh" > "$results/fuzz.log" 2>&1
		rc=$?
		ok=$(grep -c '^fuzz ok' "$results/fuzz.log"); bad=$(grep -c '^fuzz FAILED' "$results/fuzz.log")
		# A script failure with no target reported (e.g. cargo-fuzz did not build) is a failure too.
		[ "$rc" != 0 ] && [ "$bad" = 0 ] && bad=1
		[ "$bad" != 0 ] && tail -20 "$results/fuzz.log"
		grep -E '^fuzz (ok|FAILED)' "$results/fuzz.log"
		count "$ok" "$bad"
	fi
fi

if [ "$guest" = 1 ]; then
	initrd=$results/initramfs.cpio
	"$MARS_TOP/scripts/build-initramfs.sh" "$kbuild" "$initrd" || { count 0 1; echo "$passed passed, $failed failed"; exit 1; }
	scenarios=()
	for s in "$MARS_TOP"/tests/qemu/scenarios/*.sh; do
		n=$(basename "$s" .sh)
		if [ -n "${SCENARIOS:-}" ] && ! grep -qw "$n" <<<"$SCENARIOS"; then continue; fi
		scenarios+=("$s")
	done
	# The harness must fail a scenario whose guest kernel printed a report, even when every
	# check passed: prove it before trusting any other result.
	log "harness self-test: a kernel backtrace must fail a scenario"
	if "$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/selftest/harness-detects-splat.sh" \
		"$kbuild/arch/x86/boot/bzImage" "$initrd" "$results" 0 > "$results/selftest.log" 2>&1; then
		echo "harness self-test: a guest backtrace went unnoticed"; count 0 1
	elif grep -q 'kernel report in console/dmesg' "$results/selftest.log" &&
	     ! grep -q 'failed checks\|no exit line' "$results/selftest.log"; then
		count 1 0
	else
		cat "$results/selftest.log"; echo "harness self-test: failed for the wrong reason"; count 0 1
	fi
	echo "TAP version 13"
	echo "1..${#scenarios[@]}"
	i=0
	for s in "${scenarios[@]}"; do
		i=$((i + 1))
		log "scenario $(basename "$s" .sh)"
		if "$MARS_TOP/scripts/run-scenario.sh" "$s" "$kbuild/arch/x86/boot/bzImage" "$initrd" "$results" "$i"; then
			count 1 0
		else
			count 0 1
		fi
	done
fi

log "results in $results"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
