#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run every fuzz target in fuzz/fuzz_targets/ for FUZZ_SECONDS (default 20) each, or only
# the targets named as arguments. Installs cargo-fuzz from crates.io at a pinned version
# into the tool cache, idempotently. Works on the stable toolchain: cargo-fuzz needs
# unstable rustc flags only for sanitizers, so we run without one (-s none) and let
# RUSTC_BOOTSTRAP=1 accept the rest. Exits non-zero if any target finds a crash; the
# reproducer is left in fuzz/artifacts/<target>/.
set -euo pipefail
. "$(dirname "$0")/env.sh"

CARGO_FUZZ_VERSION=0.13.1
CARGO_FUZZ=$MARS_TOOLS/bin/cargo-fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

if ! "$CARGO_FUZZ" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
	log "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
	command -v cargo >/dev/null || die "cargo not found"
	cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$MARS_TOOLS"
fi
export PATH=$MARS_TOOLS/bin:$PATH
export RUSTC_BOOTSTRAP=1

cd "$MARS_TOP/fuzz"
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

failed=()
for t in "${targets[@]}"; do
	[ -f "fuzz_targets/$t.rs" ] || die "no fuzz target $t"
	corpus=corpus/$t
	mkdir -p "$corpus"
	dirs=("$corpus")
	[ -d "seeds/$t" ] && dirs+=("seeds/$t")
	log "fuzzing $t for ${FUZZ_SECONDS}s"
	if ! cargo fuzz run --sanitizer none "$t" "${dirs[@]}" -- \
		-max_total_time="$FUZZ_SECONDS" -print_final_stats=1; then
		failed+=("$t")
		echo "fuzz FAILED $t"
	else
		echo "fuzz ok $t"
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	die "fuzz targets failed: ${failed[*]} (reproducers in fuzz/artifacts/)"
fi
log "all fuzz targets ran ${FUZZ_SECONDS}s without a crash: ${targets[*]}"
