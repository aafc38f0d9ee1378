#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The mars-dkms package (make deb-check; not part of make check: it builds the module once
# more). With a private DKMS tree (--dkmstree, --sourcetree, --installtree: nothing of the
# system's DKMS changes) and the package's files extracted from build/deb/mars-dkms_*.deb:
#   - dkms build for the cached guest kernel's build tree (--kernelsourcedir) builds a
#     mars.ko whose vermagic is that kernel's;
#   - a kernel without CONFIG_RUST is skipped by DKMS (exit 77, the BUILD_EXCLUSIVE message);
#   - scripts/dkms-build.sh refuses a build tree without CONFIG_RUST, one without the Rust
#     artifacts, and a rustc or bindgen that is not the kernel's, each with its message (exit 1).
# KTAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/ktap.sh"

echo "TAP version 13"
echo "1..8"
deb=$(ls "$top"/build/deb/mars-dkms_*_all.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "Bail out! no build/deb/mars-dkms_*.deb: run make deb"; exit 1; }
kbuild=$(mars_kernel_build) && [ -f "$kbuild/.config" ] || { echo "Bail out! no guest kernel build: run make"; exit 1; }
kver=$(cat "$kbuild/include/config/kernel.release")
dpkg-deb -x "$deb" "$tmp/root"
ver=$(ls "$tmp/root/usr/src" | sed -n 's/^mars-//p')
dkms() {
	command dkms "$@" --dkmstree "$tmp/dkms" --sourcetree "$tmp/root/usr/src" --installtree "$tmp/install"
}
mkdir -p "$tmp/dkms" "$tmp/install"
dkms add -m mars -v "$ver" > "$tmp/add.log" 2>&1
ok $? "dkms add mars/$ver from the package's /usr/src" || cat "$tmp/add.log"

RUSTC=$RUSTC BINDGEN=$BINDGEN dkms build -m mars -v "$ver" -k "$kver" --kernelsourcedir "$kbuild" > "$tmp/build.log" 2>&1
ok $? "dkms build for $kver against its build tree" || tail -n 30 "$tmp/build.log"
ko=$(find "$tmp/dkms/mars/$ver/$kver" -name 'mars.ko*' | head -n1)
[ -n "$ko" ] && [ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ]
ok $? "the built mars.ko has the kernel's vermagic ($kver)"

# A kernel build tree without Rust: .config without CONFIG_RUST.
mkdir -p "$tmp/norust"
grep -v '^CONFIG_RUST' "$kbuild/.config" > "$tmp/norust/.config"
cp "$kbuild/Makefile" "$tmp/norust/Makefile"
dkms build -m mars -v "$ver" -k 6.1.0-norust --kernelsourcedir "$tmp/norust" > "$tmp/norust.log" 2>&1
rc=$?
[ "$rc" = 77 ] && grep -q "BUILD_EXCLUSIVE" "$tmp/norust.log"
ok $? "DKMS skips a kernel without CONFIG_RUST (exit $rc, BUILD_EXCLUSIVE)" || cat "$tmp/norust.log"

src=$tmp/root/usr/src/mars-$ver
build() { (cd "$src" && RUSTC=${1:-$RUSTC} BINDGEN=${2:-$BINDGEN} bash scripts/dkms-build.sh "$kver" "$3") > "$tmp/out" 2>&1; }
build "" "" "$tmp/norust"
[ $? = 1 ] && grep -q "built without Rust support (CONFIG_RUST is not set" "$tmp/out"
ok $? "dkms-build.sh refuses a kernel without CONFIG_RUST, saying so" || cat "$tmp/out"

mkdir -p "$tmp/noartifacts"
cp "$kbuild/.config" "$kbuild/Makefile" "$tmp/noartifacts/"
build "" "" "$tmp/noartifacts"
[ $? = 1 ] && grep -q "lacks the kernel's Rust artifacts" "$tmp/out"
ok $? "dkms-build.sh refuses a build tree without the Rust artifacts" || cat "$tmp/out"

printf '#!/bin/sh\necho "rustc 1.63.0 (4b91a6ea7 2022-08-08)"\n' > "$tmp/rustc-old"
printf '#!/bin/sh\necho "bindgen 0.60.1"\n' > "$tmp/bindgen-old"
chmod +x "$tmp/rustc-old" "$tmp/bindgen-old"
build "$tmp/rustc-old" "" "$kbuild"
[ $? = 1 ] && grep -q "was built with 'rustc .*' but .*rustc-old is 'rustc 1.63.0" "$tmp/out"
ok $? "dkms-build.sh refuses a rustc that is not the kernel's" || cat "$tmp/out"
build "" "$tmp/bindgen-old" "$kbuild"
[ $? = 1 ] && grep -q "was built with 'bindgen .*' but .*bindgen-old is 'bindgen 0.60.1'" "$tmp/out"
ok $? "dkms-build.sh refuses a bindgen that is not the kernel's" || cat "$tmp/out"
[ "$bad" = 0 ]
