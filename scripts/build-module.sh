#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build mars.ko out of tree against the cached guest kernel, and marsadm (release).
# Also builds the test-only variant mars-testing.ko (MARS_TESTING=1: hooks that let QEMU
# scenarios create bricks directly, rust/testing.rs). Kbuild builds in the source directory,
# so the variant is built from a copy of the module sources in build/testing/.
# Installs and builds whatever is missing first (idempotent).
set -euo pipefail
. "$(dirname "$0")/env.sh"

"$MARS_TOP/scripts/setup.sh"
. "$(dirname "$0")/env.sh"   # the kernel key depends on the installed rustc
kbuild=$("$MARS_TOP/scripts/build-kernel.sh")

log "building mars.ko against $kbuild"
make -s -C "$kbuild" M="$MARS_TOP" $KMAKE_VARS -j"$(nproc)" modules

log "building mars-testing.ko (MARS_TESTING=1)"
testing=$MARS_TOP/build/testing
mkdir -p "$testing"
# Refresh the copy; unchanged files keep their mtimes, so make rebuilds only what changed.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# core/testdata/digest_vectors.txt is compiled in by the load-time self-test (rust/selftest.rs).
(cd "$MARS_TOP" && tar cf - Kbuild rust include core/src core/testdata/digest_vectors.txt) | tar xf - -C "$stage"
(cd "$stage" && find . -type f) | while read -r f; do
	cmp -s "$stage/$f" "$testing/$f" 2>/dev/null || { mkdir -p "$(dirname "$testing/$f")"; cp "$stage/$f" "$testing/$f"; }
done
(cd "$testing" && find Kbuild rust include core/src -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name Kbuild \)) |
	while read -r f; do [ -e "$MARS_TOP/$f" ] || rm -f "$testing/$f"; done
make -s -C "$kbuild" M="$testing" $KMAKE_VARS MARS_TESTING=1 -j"$(nproc)" modules
cp "$testing/mars.ko" "$MARS_TOP/mars-testing.ko"
log "building marsadm"
(cd "$MARS_TOP" && cargo build --quiet --release -p marsadm)
ls -l "$MARS_TOP/mars.ko" "$MARS_TOP/mars-testing.ko" "$MARS_TOP/target/release/marsadm" >&2
