#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build mars.ko out of tree against the cached guest kernel, and marsadm (release).
# Installs and builds whatever is missing first (idempotent).
set -euo pipefail
. "$(dirname "$0")/env.sh"

"$MARS_TOP/scripts/setup.sh"
. "$(dirname "$0")/env.sh"   # the kernel key depends on the installed rustc
kbuild=$("$MARS_TOP/scripts/build-kernel.sh")

log "building mars.ko against $kbuild"
make -s -C "$kbuild" M="$MARS_TOP" $KMAKE_VARS -j"$(nproc)" modules
log "building marsadm"
(cd "$MARS_TOP" && cargo build --quiet --release -p marsadm)
ls -l "$MARS_TOP/mars.ko" "$MARS_TOP/target/release/marsadm" >&2
