#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest initramfs: busybox, mars.ko (installed so that `modprobe mars` works) and
# mars-testing.ko (the MARS_TESTING build), marsadm, mars-adversary (test only), the guest init and test library (with its
# C helpers), every scenario and guest benchmark, the mars kselftest installed by the kernel's
# selftests machinery (/kselftest), and the userspace tools the scenarios need (Debian binaries
# copied with their shared libraries).
# fio is not in OUTPUT.cpio: Debian's fio brings 65 shared libraries (ceph, gluster, ICU; 76 MB
# of the 94), and every guest paid about 5 s of CPU at boot to unpack them. OUTPUT-fio.cpio
# is OUTPUT.cpio with fio and its libraries as a second cpio archive on top, for the scenarios
# and benchmarks with the header "# tools: fio" (scripts/run-scenario.sh picks it).
# Usage: build-initramfs.sh KERNEL_BUILD OUTPUT.cpio
set -euo pipefail
. "$(dirname "$0")/env.sh"

kbuild=$1 out=$2
krel=$(cat "$kbuild/include/config/kernel.release")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,mars,root,var/lock,usr/bin,usr/sbin,lib64}
mkdir -p "$root/lib/modules/$krel/extra" "$root/mars-tests"

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Copy a binary and every shared library it needs, at the same paths, into DEST (default: the
# base image), leaving out libraries the base image has.
copy_bin() {
	local bin=$1 dest=${2:-$root} lib
	[ -e "$bin" ] || die "missing $bin (scripts/setup.sh installs it)"
	mkdir -p "$dest$(dirname "$bin")"
	cp -L "$bin" "$dest$bin"
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
		[ -e "$root$lib" ] || [ -e "$dest$lib" ] && continue
		mkdir -p "$dest$(dirname "$lib")"
		cp -L "$lib" "$dest$lib"
	done
}
# Real tools replace busybox applets of the same name.
for bin in /sbin/mkfs.ext4 /sbin/e2fsck /sbin/tune2fs /sbin/mke2fs /sbin/tc \
	/sbin/ip /usr/sbin/dmsetup /usr/bin/timeout; do
	rm -f "$root$bin"
	copy_bin "$bin"
done
ln -sf e2fsck "$root/sbin/fsck.ext4"
# DRBD userspace for the benchmarks' DRBD baselines (the kernel has DRBD 8.4 built in):
# drbd-utils 9's 8.4 tools, used without a configuration file (tests/qemu/guest/lib.sh).
for bin in /lib/drbd/drbdsetup-84 /sbin/drbdmeta; do
	copy_bin "$bin"
done
# Test helpers written in C, linked statically (tests/qemu/guest/*.c).
for src in "$MARS_TOP"/tests/qemu/guest/*.c; do
	gcc -O2 -Wall -Wextra -Werror -static -pthread -o "$root/usr/bin/$(basename "$src" .c)" "$src"
done
copy_bin "$MARS_TOP/build/marsadm"
mv "$root$MARS_TOP/build/marsadm" "$root/usr/sbin/marsadm"
# TEST ONLY: the hostile peer of tests/qemu/scenarios/net-adversary.sh (tools/mars-adversary).
copy_bin "$MARS_TOP/build/mars-adversary"
mv "$root$MARS_TOP/build/mars-adversary" "$root/usr/bin/mars-adversary"

cp "$MARS_MODULE_DIR/mars.ko" "$root/lib/modules/$krel/extra/mars.ko"
# The test-only build (same module name "mars"): scenarios that need its hooks insmod it by
# path instead of `modprobe mars`.
cp "$MARS_MODULE_DIR/mars-testing.ko" "$root/lib/modules/$krel/extra/mars-testing.ko"
cp "$kbuild"/modules.builtin "$kbuild"/modules.builtin.modinfo "$root/lib/modules/$krel/"
touch "$root/lib/modules/$krel/modules.order"
depmod -b "$root" "$krel"

cp "$MARS_TOP/tests/qemu/guest/init" "$root/init"
cp "$MARS_TOP/tests/qemu/guest/lib.sh" "$root/mars-tests/lib.sh"
cp "$MARS_TOP"/tests/qemu/scenarios/*.sh "$MARS_TOP"/tests/qemu/demo/*.sh "$MARS_TOP"/tests/qemu/selftest/*.sh \
	"$MARS_TOP"/tests/qemu/bench/*.sh "$root/mars-tests/"
chmod +x "$root/init" "$root"/mars-tests/*.sh
# kselftest's runner enforces a test's timeout only with /usr/bin/timeout, and calls it with
# coreutils' --foreground (busybox's applet lacks it): hence coreutils' timeout above.
"$MARS_TOP/scripts/build-kselftest.sh" "$root/kselftest"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) > "$out.tmp"

# The fio layer (after everything else: it holds only the libraries the base image lacks).
fioroot=$root.fio
mkdir -p "$fioroot"
trap 'rm -rf "$root" "$fioroot"' EXIT
copy_bin /usr/bin/fio "$fioroot"
(cd "$fioroot" && find . -mindepth 1 -print0 | cpio --null -o -H newc --quiet) | cat "$out.tmp" - > "${out%.cpio}-fio.cpio.tmp"
mv "${out%.cpio}-fio.cpio.tmp" "${out%.cpio}-fio.cpio"
mv "$out.tmp" "$out"
log "initramfs $(du -h "$out" | cut -f1) at $out; with fio $(du -h "${out%.cpio}-fio.cpio" | cut -f1)"
