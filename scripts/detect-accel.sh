#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Print the QEMU accelerator to use: $MARS_ACCEL if set; else kvm when /dev/kvm exists and a
# probe guest actually boots under it (on some machines /dev/kvm opens but guests never run);
# else tcg. The probe result is cached beside the kernel image.
# Usage: detect-accel.sh BZIMAGE INITRAMFS
set -uo pipefail
. "$(dirname "$0")/env.sh"

if [ -n "${MARS_ACCEL:-}" ]; then echo "$MARS_ACCEL"; exit 0; fi
cache=$(dirname "$1")/.mars-accel
if [ -f "$cache" ]; then cat "$cache"; exit 0; fi
accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	dir=$(mktemp -d)
	timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -no-reboot \
		-kernel "$1" -initrd "$2" -serial null -serial "file:$dir/out" \
		-append "console=ttyS0 panic=-1 rdinit=/init mars_scenario=none" >/dev/null 2>&1
	grep -q '^MARS-GUEST-EXIT' "$dir/out" 2>/dev/null && accel=kvm
	rm -rf "$dir"
	log "KVM probe: using $accel"
fi
echo "$accel" > "$cache"
echo "$accel"
