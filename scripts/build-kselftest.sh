#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the mars kselftest target (tests/selftests/mars) with the kernel's own selftests
# machinery: `make -C tools/testing/selftests TARGETS=mars INSTALL_PATH=OUTDIR install`.
# Our target lives out of tree and the kernel source ($KERNEL_SRC) is a cache shared by
# several clones, so nothing is added to it: the selftests framework files the install needs
# (the selftests Makefile, lib.mk, kselftest/, run_kselftest.sh, the kselftest headers and
# scripts/subarch.include) are copied, at their paths, into a private temporary tree, our
# target next to them as tools/testing/selftests/mars, and make runs there.
# OUTDIR then holds run_kselftest.sh, kselftest/, kselftest-list.txt and mars/, as any
# kselftest install does; build-initramfs.sh puts it into the guest image as /kselftest.
# The install needs rsync on the host (scripts/setup.sh installs it).
# Usage: build-kselftest.sh OUTDIR
set -euo pipefail
. "$(dirname "$0")/env.sh"

[ $# = 1 ] || die "usage: build-kselftest.sh OUTDIR"
out=$1
ksft=tools/testing/selftests
[ -f "$KERNEL_SRC/$ksft/Makefile" ] || die "no kernel source at $KERNEL_SRC (scripts/setup.sh unpacks it)"
command -v rsync >/dev/null || die "rsync missing: the kselftest install uses it (scripts/setup.sh installs it)"
# A previous install may be replaced, any other non-empty directory is left alone.
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
	[ -f "$out/run_kselftest.sh" ] || die "$out is not empty and holds no kselftest install"
	rm -rf "$out"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
(cd "$KERNEL_SRC" && cp -a --parents scripts/subarch.include "$ksft/Makefile" "$ksft/lib.mk" \
	"$ksft/run_kselftest.sh" "$ksft/kselftest" "$ksft"/kselftest*.h "$tree/")
cp -a "$MARS_TOP/tests/selftests/mars" "$tree/$ksft/mars"

log "kselftest: installing TARGETS=mars into $out"
if ! make -s -C "$tree/$ksft" TARGETS=mars FORCE_TARGETS=1 INSTALL_PATH="$out" install \
	>"$tree/install.log" 2>&1; then
	cat "$tree/install.log" >&2
	die "kselftest install failed"
fi
grep -qx 'mars:mars_sysctl.sh' "$out/kselftest-list.txt" || {
	cat "$tree/install.log" >&2
	die "kselftest install did not list mars:mars_sysctl.sh"
}
