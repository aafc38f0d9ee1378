#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest kernel (linux-source-6.12 + the flavour's fragments from tests/kconfig/ on
# tinyconfig, see env.sh) into a cache directory keyed by kernel version, fragment hash and
# rustc version. A finished build is marked by a stamp file, so only the first run pays.
# Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/env.sh"
KERNEL_BUILD=$(mars_kernel_build) || exit 1

stamp=$KERNEL_BUILD/.mars-build-done
if [ -f "$stamp" ]; then echo "$KERNEL_BUILD"; exit 0; fi

mkdir -p "$KERNEL_BUILD"
exec 9>"$KERNEL_BUILD/.lock"
flock 9
if [ -f "$stamp" ]; then echo "$KERNEL_BUILD"; exit 0; fi

[ -x "$BINDGEN" ] || die "bindgen missing: run scripts/setup.sh"
jobs=$(nproc)
km() { make -C "$KERNEL_SRC" O="$KERNEL_BUILD" $KMAKE_VARS "$@"; }

log "configuring guest kernel in $KERNEL_BUILD"
km -s tinyconfig >/dev/null
(cd "$KERNEL_BUILD" && "$KERNEL_SRC/scripts/kconfig/merge_config.sh" -m -O "$KERNEL_BUILD" \
	"$KERNEL_BUILD/.config" $KCONFIG_FRAGMENTS >/dev/null)
km -s olddefconfig >/dev/null

# merge_config silently drops options whose dependencies are unmet: check every one we asked for.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) opt=${line%%=*}; grep -q "^$opt=" "$KERNEL_BUILD/.config" && { echo "not off: $opt" >&2; bad=1; } ;;
	CONFIG_*=*) grep -qx "$line" "$KERNEL_BUILD/.config" || { echo "not set: $line" >&2; bad=1; } ;;
	esac
done < <(cat $KCONFIG_FRAGMENTS)
[ "$bad" = 0 ] || die "guest kernel config does not have what $KCONFIG_FRAGMENTS ask for"

log "building guest kernel with $jobs jobs (first time only; about 10-20 minutes)"
km -j"$jobs" >"$KERNEL_BUILD/build.log" 2>&1 || { tail -40 "$KERNEL_BUILD/build.log" >&2; die "kernel build failed"; }
[ -f "$KERNEL_BUILD/arch/x86/boot/bzImage" ] || die "no bzImage after build"
[ -f "$KERNEL_BUILD/Module.symvers" ] || die "no Module.symvers after build"
touch "$stamp"
log "guest kernel ready"
echo "$KERNEL_BUILD"
