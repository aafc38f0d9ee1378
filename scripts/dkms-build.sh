#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# DKMS's build command (dkms.conf): builds mars.ko in the current directory (the copy of the
# module sources DKMS made) for kernel KVER whose build tree is KDIR.
# Usage: dkms-build.sh KVER KDIR | dkms-build.sh --clean
# A Rust module links against the kernel crate that the kernel's own build compiled: it needs
# a kernel built with CONFIG_RUST=y, its build tree with the Rust artifacts (rust/*.rmeta),
# and exactly the rustc and bindgen that built the kernel (CONFIG_RUSTC_VERSION_TEXT,
# CONFIG_BINDGEN_VERSION_TEXT). Anything else is refused here with a message (exit 1) before
# the compiler would fail obscurely. RUSTC and BINDGEN name the tools (default: from PATH).
set -euo pipefail
fail() { printf 'mars-dkms: error: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = --clean ]; then
	rm -rf ./*.o ./*.ko ./*.mod ./*.mod.c .*.cmd Module.symvers modules.order rust/*.o rust/.*.cmd \
		include/*.o include/.*.cmd rust/kapi/bindings_generated.rs
	exit 0
fi
[ $# = 2 ] || fail "usage: dkms-build.sh KVER KDIR"
kver=$1 kdir=$2
[ -f "$kdir/.config" ] && [ -f "$kdir/Makefile" ] ||
	fail "no kernel build tree for $kver at $kdir: install its headers (linux-headers-$kver) or pass --kernelsourcedir"
config() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$kdir/.config" | head -n1; }
[ "$(config CONFIG_RUST)" = y ] ||
	fail "kernel $kver is built without Rust support (CONFIG_RUST is not set in $kdir/.config): mars.ko is written in Rust and cannot be built for it"
[ -f "$kdir/rust/libkernel.rmeta" ] ||
	fail "the build tree $kdir lacks the kernel's Rust artifacts (rust/libkernel.rmeta): a headers package without them cannot build Rust modules"
RUSTC=${RUSTC:-rustc}
BINDGEN=${BINDGEN:-bindgen}
want=$(config CONFIG_RUSTC_VERSION_TEXT)
have=$("$RUSTC" --version 2>/dev/null) || fail "$RUSTC not found: install the rustc that built kernel $kver ($want), or set RUSTC"
[ "$have" = "$want" ] ||
	fail "kernel $kver was built with '$want' but $RUSTC is '$have': a Rust module needs the very same compiler (set RUSTC to it)"
want=$(config CONFIG_BINDGEN_VERSION_TEXT)
have=$("$BINDGEN" --version 2>/dev/null) || fail "$BINDGEN not found: install the bindgen that built kernel $kver ($want), or set BINDGEN"
[ "$have" = "$want" ] ||
	fail "kernel $kver was built with '$want' but $BINDGEN is '$have' (set BINDGEN to the matching one)"
exec make -C "$kdir" M="$PWD" RUSTC="$RUSTC" HOSTRUSTC="$RUSTC" BINDGEN="$BINDGEN" -j"$(nproc)" modules
