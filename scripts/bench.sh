#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark, each reporting ratios against a baseline measured in the same
# run (memcpy, the raw device, plain TCP, DRBD), never absolute thresholds.
#   1. bench-core.sh: the log record path on the host, against memcpy;
#   2. the guest benchmarks in tests/qemu/bench/ (run like scenarios by run-scenario.sh, but
#      not part of make check), e.g. io.sh: /dev/mars/<res> against the raw data device.
# BENCH="io" runs a subset of the guest benchmarks; BENCH_GUEST=0 skips them. The guests run
# the bench kernel flavour (env.sh: no lockdep, KFENCE, kmemleak; built once, like the test
# kernel); MARS_KERNEL_FLAVOUR=test benchmarks on the debug kernel of make check instead.
# The io benchmark runs twice: on the guest CPU model of run-scenario.sh, and again on
# BENCH_ISOLATED_CPU (default qemu64: no SSE4.2, so the guest's crc32c is crc32c-generic, table
# code that TCG translates, instead of crc32c-intel, whose crc32 instruction TCG runs as a
# helper call per 8 bytes: that isolates the emulation's cost of the log digest); its lines
# are marked "bench[qemu64]:". BENCH_ISOLATED_CPU= (empty) skips the second run; under KVM it
# is skipped (the guest's CPU is the host's: no emulation artifact to isolate), and so it is when
# MARS_QEMU_CPU chooses the one model for every run.
set -euo pipefail
export MARS_KERNEL_FLAVOUR=${MARS_KERNEL_FLAVOUR:-bench}
. "$(dirname "$0")/env.sh"
"$MARS_TOP/scripts/bench-core.sh"
[ "${BENCH_GUEST:-1}" = 0 ] && exit 0

"$MARS_TOP/scripts/build-module.sh"
KERNEL_BUILD=$(mars_kernel_build) || exit 1
results=$MARS_CACHE/results/bench-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$MARS_TOP/scripts/build-initramfs.sh" "$KERNEL_BUILD" "$results/initramfs.cpio"
isolated=${BENCH_ISOLATED_CPU-qemu64}
accel=$("$MARS_TOP/scripts/detect-accel.sh" "$KERNEL_BUILD/arch/x86/boot/bzImage" "$results/initramfs.cpio")
[ "$accel" = tcg ] && [ -z "${MARS_QEMU_CPU:-}" ] || isolated=""
rc=0 i=0
for b in "$MARS_TOP"/tests/qemu/bench/*.sh; do
	n=$(basename "$b" .sh)
	if [ -n "${BENCH:-}" ] && ! grep -qw "$n" <<<"$BENCH"; then continue; fi
	i=$((i + 1))
	log "guest benchmark $n ($MARS_KERNEL_FLAVOUR kernel)"
	"$MARS_TOP/scripts/run-scenario.sh" "$b" "$KERNEL_BUILD/arch/x86/boot/bzImage" \
		"$results/initramfs.cpio" "$results" "$i" > "$results/$n.log" || rc=1
	grep -E '# bench:|^(not )?ok ' "$results/$n.log" | sed 's/^ *# [a-z]*: # bench: /bench: /'
	if [ "$n" = io ] && [ -n "$isolated" ]; then
		i=$((i + 1))
		log "guest benchmark $n again on CPU model $isolated (the TCG CRC32C artifact isolated)"
		mkdir -p "$results/$isolated"
		MARS_QEMU_CPU=$isolated "$MARS_TOP/scripts/run-scenario.sh" "$b" "$KERNEL_BUILD/arch/x86/boot/bzImage" \
			"$results/initramfs.cpio" "$results/$isolated" "$i" > "$results/$n-$isolated.log" || rc=1
		grep -E '# bench:|^(not )?ok ' "$results/$n-$isolated.log" |
			sed "s/^ *# [a-z]*: # bench: /bench[$isolated]: /; s/^\(\(not \)\?ok [0-9]* [a-z]*\)/\1[$isolated]/"
	fi
done
log "results in $results"
exit "$rc"
