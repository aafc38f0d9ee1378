#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the toolchain from the package registries, idempotently: Debian packages for the
# Rust-enabled kernel build and the QEMU guests, and bindgen-cli from crates.io at a pinned
# version. Anything already present is skipped.
set -euo pipefail
. "$(dirname "$0")/env.sh"

DEB_PACKAGES=(
	rustc-web rust-web-src libclang-dev linux-source-6.12
	qemu-system-x86 busybox-static flex bison bc libelf-dev libssl-dev cpio
	build-essential kmod e2fsprogs fio iproute2 dmsetup drbd-utils
	rsync
)

mars_apt_install "${DEB_PACKAGES[@]}" || exit 1

if ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	log "installing bindgen-cli $BINDGEN_VERSION from crates.io"
	command -v cargo >/dev/null || die "cargo not found"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION" --root "$MARS_TOOLS"
fi

[ -f "$KERNEL_SRC/Makefile" ] || {
	log "unpacking $KERNEL_TARBALL"
	mkdir -p "$(dirname "$KERNEL_SRC")"
	tar -C "$(dirname "$KERNEL_SRC")" -xf "$KERNEL_TARBALL"
}
log "toolchain ready: $($RUSTC --version), $("$BINDGEN" --version)"
