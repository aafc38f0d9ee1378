#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build mars.ko out of tree against the cached guest kernel, and marsadm (release).
# Also builds the test-only variant mars-testing.ko (MARS_TESTING=1: hooks that let QEMU
# scenarios create bricks directly, rust/testing.rs). Kbuild builds in the source directory,
# so the variant is built from a copy of the module sources in build/testing/. For the bench
# kernel flavour (env.sh) both variants are built from copies under build/bench/.
# Installs and builds whatever is missing first (idempotent).
set -euo pipefail
. "$(dirname "$0")/env.sh"

"$MARS_TOP/scripts/setup.sh"
kbuild=$("$MARS_TOP/scripts/build-kernel.sh")

# sources: the module's source files, relative to the current directory.
sources() {
	find rust include core/src -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' \) \
		! -path rust/kapi/bindings_generated.rs
}

# build_copy DIR [MAKE-ARGS...]: builds the module from a copy of its sources in DIR (Kbuild
# builds in the source directory, so every variant but the test flavour's mars.ko has its own).
build_copy() {
	local dir=$1 stage
	shift
	mkdir -p "$dir"
	# Refresh the copy; unchanged files keep their mtimes, so make rebuilds only what changed.
	stage=$(mktemp -d)
	# core/testdata/digest_vectors.txt is compiled in by the load-time self-test (rust/selftest.rs).
	# Sources only: no objects, .cmd files or generated bindings of another build.
	(cd "$MARS_TOP" && { echo Kbuild; echo core/testdata/digest_vectors.txt; sources; } | tar cf - -T -) | tar xf - -C "$stage"
	(cd "$stage" && find . -type f) | while read -r f; do
		cmp -s "$stage/$f" "$dir/$f" 2>/dev/null || { mkdir -p "$(dirname "$dir/$f")"; cp "$stage/$f" "$dir/$f"; }
	done
	rm -rf "$stage"
	(cd "$dir" && sources) | while read -r f; do [ -e "$MARS_TOP/$f" ] || rm -f "$dir/$f"; done
	make -s -C "$kbuild" M="$dir" $KMAKE_VARS -j"$(nproc)" "$@" modules
}

if [ "$MARS_KERNEL_FLAVOUR" = test ]; then
	log "building mars.ko against $kbuild"
	make -s -C "$kbuild" M="$MARS_TOP" $KMAKE_VARS -j"$(nproc)" modules
	log "building mars-testing.ko (MARS_TESTING=1)"
	build_copy "$MARS_TOP/build/testing" MARS_TESTING=1
	cp "$MARS_TOP/build/testing/mars.ko" "$MARS_TOP/mars-testing.ko"
else
	# Another flavour's modules go to $MARS_MODULE_DIR (build-initramfs.sh takes them there).
	log "building mars.ko and mars-testing.ko against $kbuild into $MARS_MODULE_DIR"
	build_copy "$MARS_MODULE_DIR/prod"
	build_copy "$MARS_MODULE_DIR/testing" MARS_TESTING=1
	cp "$MARS_MODULE_DIR/prod/mars.ko" "$MARS_MODULE_DIR/mars.ko"
	cp "$MARS_MODULE_DIR/testing/mars.ko" "$MARS_MODULE_DIR/mars-testing.ko"
fi
log "building marsadm and mars-adversary (the test-only hostile peer of net-adversary)"
mkdir -p "$MARS_TOP/build"
# (CARGO_TARGET_DIR is shared by the clones on this machine: build and copy out ours at once.)
(cd "$MARS_TOP" && mars_cargo_locked sh -c 'cargo build --quiet --release -p marsadm -p mars-adversary &&
	for bin in marsadm mars-adversary; do
		cp "$CARGO_TARGET_DIR/release/$bin" build/$bin.new && mv build/$bin.new build/$bin || exit 1
	done')
ls -l "$MARS_MODULE_DIR/mars.ko" "$MARS_MODULE_DIR/mars-testing.ko" "$MARS_TOP/build/marsadm" \
	"$MARS_TOP/build/mars-adversary" >&2
