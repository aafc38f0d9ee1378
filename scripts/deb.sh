#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb: the Debian packages mars-dkms and marsadm, built by dpkg-buildpackage (debhelper,
# debian/) from a copy of the tree's files (git ls-files) in build/deb/src, then checked by
# lintian. Results: build/deb/*.deb, build/deb/lintian.txt. Installs what it needs first
# (Debian packages, idempotently). Documentation/install.rst.
# Usage: deb.sh [--marsadm BIN] [--no-lintian]
#   --marsadm BIN  package BIN (build/marsadm of `make`, the same sources and release
#                  profile) instead of building marsadm once more (debian/rules,
#                  MARSADM_PREBUILT); make check's systemd guest image does so
#   --no-lintian   skip lintian (make check; make deb runs it)
set -euo pipefail
. "$(dirname "$0")/env.sh"

prebuilt='' lintian=1
while [ $# -gt 0 ]; do
	case $1 in
	--marsadm) [ -x "${2:-}" ] || die "--marsadm: no executable '${2:-}'"; prebuilt=$(realpath "$2"); shift 2 ;;
	--no-lintian) lintian=0; shift ;;
	*) die "usage: deb.sh [--marsadm BIN] [--no-lintian]" ;;
	esac
done

DEB_PACKAGES=(dpkg-dev debhelper dh-dkms dkms fakeroot lintian python3-docutils kmod rustc-web cargo-web)
[ "$lintian" = 1 ] || DEB_PACKAGES=("${DEB_PACKAGES[@]/lintian/}")
mars_apt_install ${DEB_PACKAGES[*]} || exit 1

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
if [ -n "$prebuilt" ]; then
	cp "$prebuilt" "$out/marsadm.prebuilt"
	(cd "$src" && MARSADM_PREBUILT=$out/marsadm.prebuilt dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1
else
	(cd "$src" && mars_cargo_locked dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1
fi ||
	{ tail -n 40 "$out/build.log" >&2; die "dpkg-buildpackage failed (log: $out/build.log)"; }
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src" "$out/marsadm.prebuilt"
if [ "$lintian" = 0 ]; then
	ls -l "$out"/*.deb >&2
	exit 0
fi
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
