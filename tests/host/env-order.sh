#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# scripts/env.sh computes nothing from installed tools when sourced: on a fresh machine it is
# sourced before scripts/setup.sh has installed linux-source-6.12 and rustc-web, and a kernel
# path derived then (once "unknown-<hash>-") was kept for the whole run. Checks, with a fake
# dpkg-query and rustc: sourcing yields no kernel path; mars_kernel_build fails naming the
# missing package; with both present it yields the path keyed by their versions. KTAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
n=0 bad=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; bad=$((bad + 1)); fi; }

# fake_tools PKG RUSTC: dpkg-query prints PKG's version or fails; rustc prints RUSTC or fails.
fake_tools() {
	if [ -n "$1" ]; then printf '#!/bin/sh\necho -n %s\n' "$1"; else printf '#!/bin/sh\nexit 1\n'; fi > "$tmp/bin/dpkg-query"
	if [ -n "$2" ]; then printf '#!/bin/sh\necho "%s"\n' "$2"; else printf '#!/bin/sh\nexit 127\n'; fi > "$tmp/bin/rustc"
	chmod +x "$tmp/bin/dpkg-query" "$tmp/bin/rustc"
}
# in_env CMD: sources env.sh in a clean shell with the fakes first in PATH, runs CMD.
in_env() {
	env -i HOME="$tmp/home" PATH="$tmp/bin:/usr/bin:/bin" MARS_CACHE="$tmp/cache" \
		MARS_RUSTC="$tmp/bin/rustc" KERNEL_BUILD="$tmp/stale" \
		bash -c ". '$top/scripts/env.sh'; $1"
}

echo "TAP version 13"
echo "1..6"
fake_tools "" ""
out=$(in_env 'set' 2>&1)
! grep -q "unknown" <<<"$out"; ok $? "sourcing env.sh without the packages derives no placeholder"
! grep -q "$tmp/cache/kernel" <<<"$out"; ok $? "sourcing env.sh computes no kernel path"
out=$(in_env 'mars_kernel_build' 2>"$tmp/err"); rc=$?
[ "$rc" != 0 ] && [ -z "$out" ] && grep -q 'linux-source-6.12 is not installed' "$tmp/err"
ok $? "mars_kernel_build without linux-source-6.12 fails, naming the package"
fake_tools "6.12.118-1" ""
out=$(in_env 'mars_kernel_build' 2>"$tmp/err"); rc=$?
[ "$rc" != 0 ] && [ -z "$out" ] && grep -q 'rustc-web' "$tmp/err"
ok $? "mars_kernel_build without rustc fails, naming rustc-web"
fake_tools "6.12.118-1" "rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)"
out=$(in_env 'mars_kernel_build' 2>"$tmp/err")
frag=$(cat "$top/tests/kconfig/guest.config" "$top/tests/kconfig/debug.config" | sha256sum | cut -c1-12)
[ "$out" = "$tmp/cache/kernel/6.12.118-1-$frag-rustc1.85.04d91de4e42025" ]
ok $? "with both installed the path is keyed by their versions, not by a stale KERNEL_BUILD ($out)"
# The scripts take the kernel path only from mars_kernel_build, after build-module.sh (setup).
grep -n 'KERNEL_BUILD=\|kbuild=' "$top"/scripts/*.sh | grep -v 'mars_kernel_build\|build-kernel.sh")\|kbuild=\$1' > "$tmp/assign"
[ ! -s "$tmp/assign" ] || cat "$tmp/assign" >&2
[ ! -s "$tmp/assign" ]; ok $? "scripts take the kernel path from mars_kernel_build only"
[ "$bad" = 0 ]
