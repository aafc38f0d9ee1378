#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo: build what is needed, boot two QEMU guests on a private network, run the demo
# in both and show what each printed.
set -uo pipefail
. "$(dirname "$0")/env.sh"

"$MARS_TOP/scripts/build-module.sh" || die "build failed"
KERNEL_BUILD=$(mars_kernel_build) || exit 1
results=$MARS_CACHE/results/demo
mkdir -p "$results"
"$MARS_TOP/scripts/build-initramfs.sh" "$KERNEL_BUILD" "$results/initramfs.cpio" || die "initramfs failed"
log "booting two guests (QEMU, $("$MARS_TOP/scripts/detect-accel.sh" "$KERNEL_BUILD/arch/x86/boot/bzImage" "$results/initramfs.cpio")); replication and a handover take a few minutes under TCG"
"$MARS_TOP/scripts/run-scenario.sh" "$MARS_TOP/tests/qemu/demo/demo.sh" \
	"$KERNEL_BUILD/arch/x86/boot/bzImage" "$results/initramfs.cpio" "$results"
rc=$?
for host in alpha bravo; do
	echo "----- $host -----"
	sed -n '/^=== dmesg ===/q;p' "$results/demo/$host.out" | grep -v '^MARS-GUEST-EXIT'
	echo "  (kernel messages of mars:)"
	sed -n '/^=== dmesg ===/,$p' "$results/demo/$host.out" | grep -E '\] mars: ' | sed 's/^/  /'
done
exit $rc
