#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb: the Debian packages mars-dkms and marsadm, built by dpkg-buildpackage (debhelper,
# debian/) from a copy of the tree's files (git ls-files) in build/deb/src, then checked by
# lintian. Results: build/deb/*.deb, build/deb/lintian.txt. Installs what it needs first
# (Debian packages, idempotently). Documentation/install.rst.
set -euo pipefail
. "$(dirname "$0")/env.sh"

DEB_PACKAGES=(dpkg-dev debhelper dh-dkms dkms fakeroot lintian python3-docutils kmod rustc-web cargo-web)
mars_apt_install "${DEB_PACKAGES[@]}" || exit 1

out=$MARS_TOP/build/deb
version=$(cd "$MARS_TOP" && dpkg-parsechangelog -S Version)
src=$out/src/mars-$version
rm -rf "$out"
mkdir -p "$src"
# The tree's files (committed or new, not ignored), without build products.
(cd "$MARS_TOP" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
	tar -xf - -C "$src"
log "dpkg-buildpackage in $src"
# Binary packages only, unsigned; the source is the git tree. The shared cargo directory is
# locked as by every other build (env.sh, mars_cargo_locked).
(cd "$src" && mars_cargo_locked dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log" >&2; die "dpkg-buildpackage failed (log: $out/build.log)"; }
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"
log "lintian"
# As an unprivileged user when run as root (lintian warns about root); every tag shown, the
# overridden ones (O:) with the reasons from debian/*.lintian-overrides.
as_user=()
[ "$(id -u)" != 0 ] || as_user=(runuser -u nobody -- env HOME=/tmp)
(cd "$out" && "${as_user[@]}" lintian --display-info --pedantic --show-overrides ./*.changes) \
	> "$out/lintian.txt" 2>&1 || true
ls -l "$out"/*.deb >&2
log "lintian (build/deb/lintian.txt):"
cat "$out/lintian.txt" >&2
! grep -q '^[EW]:' "$out/lintian.txt" || die "lintian reports errors or warnings (build/deb/lintian.txt)"
