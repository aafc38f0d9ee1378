# SPDX-License-Identifier: GPL-2.0
# Common paths and toolchain variables, sourced by every script and by the Makefile
# (through `scripts/env.sh --print`). Caches live outside the repository.

MARS_TOP=${MARS_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MARS_CACHE=${MARS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mars}
MARS_TOOLS=$MARS_CACHE/tools
BINDGEN_VERSION=0.73.2
BINDGEN=$MARS_TOOLS/bin/bindgen
RUSTC=/usr/bin/rustc
RUSTDOC=/usr/bin/rustdoc
KERNEL_TARBALL=/usr/src/linux-source-6.12.tar.xz
KERNEL_SRC=$MARS_CACHE/src/linux-source-6.12
KCONFIG_FRAGMENT=$MARS_TOP/tests/kconfig/guest.config

# The kernel build is keyed by what determines it: kernel version, fragment, compiler.
mars_kernel_key() {
	local ver frag rc
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
	frag=$(sha256sum "$KCONFIG_FRAGMENT" | cut -c1-12)
	rc=$($RUSTC --version 2>/dev/null | tr -dc 'a-z0-9.' | cut -c1-24)
	echo "${ver}-${frag}-${rc}"
}
KERNEL_BUILD=${KERNEL_BUILD:-$MARS_CACHE/kernel/$(mars_kernel_key)}

# Every kernel and module make gets Debian's rustc/rustdoc and our bindgen.
KMAKE_VARS="RUSTC=$RUSTC HOSTRUSTC=$RUSTC RUSTDOC=$RUSTDOC BINDGEN=$BINDGEN"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
