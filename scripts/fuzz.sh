#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run every fuzz target in fuzz/fuzz_targets/ for FUZZ_SECONDS (default 20) each, FUZZ_JOBS
# (default: the host's cores) at a time, or only the targets named as arguments. Builds the targets as cargo-fuzz does without a sanitizer
# (`cargo fuzz run -s none`): libFuzzer's coverage instrumentation (sancov) as rustc codegen
# flags that stable rustc accepts, --cfg fuzzing, debug assertions and overflow checks on; so
# nothing needs installing (cargo-fuzz itself took minutes to build on a fresh machine; it
# still works on this crate, fuzz/README.md). Exits non-zero if any target finds a crash; the
# reproducer is left in fuzz/artifacts/<target>/.
set -euo pipefail
. "$(dirname "$0")/env.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
[[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]{0,6}$ ]] || die "FUZZ_SECONDS must be a whole number of seconds, not '$FUZZ_SECONDS'"
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow_checks"

cd "$MARS_TOP/fuzz"
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

for t in "${targets[@]}"; do
	[ -f "fuzz_targets/$t.rs" ] || die "no fuzz target $t"
done
log "building fuzz targets: ${targets[*]}"
# --target: the instrumentation flags must not reach build scripts and proc macros.
# Built into the shared CARGO_TARGET_DIR (env.sh) and copied out to build/fuzz/ at once.
bin=$MARS_TOP/build/fuzz
mkdir -p "$bin"
mkdir -p "$CARGO_TARGET_DIR"
exec 8>"$CARGO_TARGET_DIR/.mars-lock"
flock 8
cargo build --quiet --release --target "$triple" $(printf -- '--bin %s ' "${targets[@]}")
for t in "${targets[@]}"; do cp "$CARGO_TARGET_DIR/$triple/release/$t" "$bin/$t"; done
exec 8>&-

# The targets run side by side, FUZZ_JOBS at a time (default: the host's cores; each target
# is one process on one core), each for its FUZZ_SECONDS as before: the same fuzzing in
# less wall time (make check: 4 targets took 84 s one after the other on 2 cores).
# Each target's output goes to a log, printed whole when it ends.
jobs=${FUZZ_JOBS:-$(nproc)}
[[ "$jobs" =~ ^[1-9][0-9]{0,2}$ ]] || die "FUZZ_JOBS must be a whole number, not '$jobs'"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fuzz_one() { # TARGET: runs it, output to $logs/TARGET.log; exit status as libFuzzer's
	local t=$1 corpus=corpus/$1 dirs
	mkdir -p "$corpus" "artifacts/$t"
	dirs=("$corpus")
	[ -d "seeds/$t" ] && dirs+=("seeds/$t")
	"$bin/$t" -artifact_prefix="artifacts/$t/" "${dirs[@]}" \
		-max_total_time="$FUZZ_SECONDS" -print_final_stats=1 > "$logs/$t.log" 2>&1
}
failed=()
declare -A running=()
# reap: waits for one running target, prints its log and verdict.
reap() {
	local pid= rc t
	rc=0; wait -n -p pid "${!running[@]}" || rc=$?
	t=${running[$pid]}; unset "running[$pid]"
	cat "$logs/$t.log"
	if [ "$rc" != 0 ]; then
		failed+=("$t")
		echo "fuzz FAILED $t"
	else
		echo "fuzz ok $t"
	fi
}
for t in "${targets[@]}"; do
	[ "${#running[@]}" -lt "$jobs" ] || reap
	log "fuzzing $t for ${FUZZ_SECONDS}s"
	fuzz_one "$t" &
	running[$!]=$t
done
while [ "${#running[@]}" -gt 0 ]; do reap; done

if [ ${#failed[@]} -gt 0 ]; then
	die "fuzz targets failed: ${failed[*]} (reproducers in fuzz/artifacts/)"
fi
log "all fuzz targets ran ${FUZZ_SECONDS}s without a crash: ${targets[*]}"
