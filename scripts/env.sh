# SPDX-License-Identifier: GPL-2.0
# Common paths and toolchain variables, sourced by every script and by the Makefile
# (through `scripts/env.sh --print`). Caches live outside the repository.

MARS_TOP=${MARS_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MARS_CACHE=${MARS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mars}
MARS_TOOLS=$MARS_CACHE/tools
BINDGEN_VERSION=0.73.2
BINDGEN=$MARS_TOOLS/bin/bindgen
# Debian's rustc-web (MARS_RUSTC/MARS_RUSTDOC only for tests of these scripts).
RUSTC=${MARS_RUSTC:-/usr/bin/rustc}
RUSTDOC=${MARS_RUSTDOC:-/usr/bin/rustdoc}
KERNEL_TARBALL=/usr/src/linux-source-6.12.tar.xz
KERNEL_SRC=$MARS_CACHE/src/linux-source-6.12
# Two guest kernel flavours, selected by MARS_KERNEL_FLAVOUR (default test):
# - test (make check, make demo): tests/kconfig/guest.config + debug.config (lockdep, KFENCE,
#   kmemleak, debug objects: every test run is a debug run);
# - bench (make bench, make profile): guest.config + bench.config (ACPI, so guests use all their
#   vCPUs), without the debug options, as a production kernel is configured: their per-lock and
#   per-allocation costs would distort the ratios.
MARS_KERNEL_FLAVOUR=${MARS_KERNEL_FLAVOUR:-test}
case "$MARS_KERNEL_FLAVOUR" in
test) KCONFIG_FRAGMENTS="$MARS_TOP/tests/kconfig/guest.config $MARS_TOP/tests/kconfig/debug.config" ;;
bench) KCONFIG_FRAGMENTS="$MARS_TOP/tests/kconfig/guest.config $MARS_TOP/tests/kconfig/bench.config" ;;
*) echo "error: MARS_KERNEL_FLAVOUR must be test or bench" >&2; exit 1 ;;
esac

# The kernel build is keyed by what determines it: kernel version, fragments, compiler (the
# test flavour's key is the hash of its fragments concatenated; the bench flavour's is marked).
# The key needs the installed linux-source-6.12 and Debian's rustc, so nothing computes it when
# this file is sourced: a script calls mars_kernel_build after scripts/setup.sh has run, and a
# missing package is an error naming it, never a placeholder in a path.
mars_kernel_key() {
	local ver frag rc prefix=
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) && [ -n "$ver" ] || {
		echo "error: the Debian package linux-source-6.12 is not installed (scripts/setup.sh installs it)" >&2
		return 1
	}
	rc=$("$RUSTC" --version 2>/dev/null | tr -dc 'a-z0-9.' | cut -c1-24) && [ -n "$rc" ] || {
		echo "error: $RUSTC does not run: install Debian's rustc-web (scripts/setup.sh installs it)" >&2
		return 1
	}
	# shellcheck disable=SC2086
	frag=$(cat $KCONFIG_FRAGMENTS | sha256sum | cut -c1-12)
	[ "$MARS_KERNEL_FLAVOUR" = test ] || prefix=$MARS_KERNEL_FLAVOUR-
	echo "${prefix}${ver}-${frag}-${rc}"
}
# mars_kernel_build: prints the flavour's kernel build directory (built or not), or fails.
mars_kernel_build() {
	local key
	key=$(mars_kernel_key) || return 1
	echo "$MARS_CACHE/kernel/$key"
}
# Where mars.ko and mars-testing.ko for the flavour's kernel are (build-module.sh puts them there).
if [ "$MARS_KERNEL_FLAVOUR" = test ]; then MARS_MODULE_DIR=$MARS_TOP; else MARS_MODULE_DIR=$MARS_TOP/build/$MARS_KERNEL_FLAVOUR; fi

# Cargo builds into the cache as well, one directory for every clone on this machine: a fresh
# clone (CI's) reuses the compiled dependencies instead of spending minutes on them. Binaries
# with a fixed name there (marsadm, the fuzz targets, what `cargo test` runs as marsadm) may
# be another clone's, so the scripts build and copy them out, or test with them, holding
# the directory's lock (mars_cargo_locked).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$MARS_CACHE/cargo-target}
# mars_cargo_locked CMD...: runs CMD holding the lock of CARGO_TARGET_DIR. When another clone
# used the directory last, the fingerprints of the workspace's own crates go first: cargo
# names a path crate's artifacts by its path relative to the workspace, so every clone shares
# them, and judges them fresh by file times, so a clone whose sources are older than another
# clone's build would link that clone's code. The dependencies stay.
mars_cargo_locked() {
	mkdir -p "$CARGO_TARGET_DIR"
	MARS_TOP=$MARS_TOP flock "$CARGO_TARGET_DIR/.mars-lock" bash -c '
		mark=$CARGO_TARGET_DIR/.mars-clone
		if [ "$(cat "$mark" 2>/dev/null)" != "$MARS_TOP" ]; then
			find "$CARGO_TARGET_DIR" -path "*/.fingerprint/*" -prune -type d \
				\( -name "mars-*" -o -name "marsadm-*" \) -exec rm -rf {} +
			echo "$MARS_TOP" > "$mark"
		fi
		exec "$@"' mars_cargo_locked "$@"
}

# mars_host_tsc_khz: the host's TSC frequency in kHz (scripts/host/tsc-khz.c, built once
# into $MARS_TOOLS keyed by its source), or nothing on a host without an invariant TSC.
mars_host_tsc_khz() {
	grep -qw constant_tsc /proc/cpuinfo && grep -qw nonstop_tsc /proc/cpuinfo || return 0
	local src=$MARS_TOP/scripts/host/tsc-khz.c bin
	bin=$MARS_TOOLS/bin/tsc-khz-$(sha256sum "$src" | cut -c1-12)
	if [ ! -x "$bin" ]; then
		mkdir -p "$MARS_TOOLS/bin"
		cc -O2 -o "$bin.tmp.$$" "$src" && mv "$bin.tmp.$$" "$bin" || { rm -f "$bin.tmp.$$"; return 0; }
	fi
	"$bin" || true
}

# mars_apt_install PKG...: installs those of the Debian packages that are not installed yet
# (apt-get, as root; a non-root caller gets an error naming them). Idempotent.
mars_apt_install() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	log "installing Debian packages: ${missing[*]}"
	[ "$(id -u)" = 0 ] || { echo "error: need root to install packages (missing: ${missing[*]})" >&2; return 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Every kernel and module make gets Debian's rustc/rustdoc and our bindgen.
KMAKE_VARS="RUSTC=$RUSTC HOSTRUSTC=$RUSTC RUSTDOC=$RUSTDOC BINDGEN=$BINDGEN"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
