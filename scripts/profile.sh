#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make profile: where a guest's CPU time goes on the primary's IO path. Boots one guest of the
# bench kernel flavour (env.sh) with perf added to its initramfs (a second cpio archive:
# Debian's linux-perf with its libraries) and runs tests/qemu/profile/profile-io.sh, which
# samples every CPU with perf while fio writes to /dev/mars/<res>. PROFILE_JOB = seq (default),
# qd1 or qd32; PROFILE_KNOBS="aio_sync_mode=0,..." sets knobs in the guest before the device
# is made. Not a test: it prints a profile, it asserts only that the run worked.
set -euo pipefail
export MARS_KERNEL_FLAVOUR=${MARS_KERNEL_FLAVOUR:-bench}
. "$(dirname "$0")/env.sh"
"$MARS_TOP/scripts/build-module.sh"
KERNEL_BUILD=$(mars_kernel_build) || exit 1
command -v perf >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q --no-install-recommends linux-perf; }
command -v perf >/dev/null || die "perf missing: install Debian's linux-perf"

results=$MARS_CACHE/results/profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
"$MARS_TOP/scripts/build-initramfs.sh" "$KERNEL_BUILD" "$results/base.cpio"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
perf=$(readlink -f "$(command -v perf)")
mkdir -p "$root/usr/bin" "$root/mars-tests"
cp "$perf" "$root/usr/bin/perf"
for lib in $(ldd "$perf" | grep -o '/[^ ]*' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
cp "$MARS_TOP/tests/qemu/profile/profile-io.sh" "$root/mars-tests/"
# A later archive's files replace an earlier one's (the kernel unpacks them in order).
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | cat "$results/base-fio.cpio" - > "$results/initramfs.cpio"
rm -f "$results/base.cpio" "$results/base-fio.cpio"
log "profiling the ${PROFILE_JOB:-seq} job"
MARS_EXTRA_APPEND="mars_profile_job=${PROFILE_JOB:-seq}${PROFILE_KNOBS:+ mars_profile_knobs=$PROFILE_KNOBS}" "$MARS_TOP/scripts/run-scenario.sh" \
	"$MARS_TOP/tests/qemu/profile/profile-io.sh" "$KERNEL_BUILD/arch/x86/boot/bzImage" \
	"$results/initramfs.cpio" "$results" 1 > "$results/profile.log" || true
sed -n 's/^ *# alpha: //p' "$results/profile.log" | grep -v '^ok ' || true
grep -h '^# \|^ok\|^not ok' "$results"/profile-io/alpha.out | head -300
log "results in $results"
