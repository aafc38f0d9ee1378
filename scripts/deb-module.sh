#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb-module: a binary module package for one kernel, built by DKMS on this machine from
# the mars-dkms package (build/deb/mars-dkms_*.deb, make deb) against that kernel's build
# tree: `dkms build --kernelsourcedir KDIR` in a private DKMS tree (nothing of the system's
# DKMS changes), then mars.ko packaged as mars-modules-<kver> (the name DKMS's old mkbmdeb
# gave such packages; Debian's dkms 3.0 no longer has mkbmdeb) with dpkg-deb. For machines
# without a compiler and the kernel's Rust toolchain, e.g. the systemd test guests
# (tests/qemu/scenarios/systemd-trigger.sh). Installs the module where DKMS would
# (/lib/modules/<kver>/updates/dkms/mars.ko) and runs depmod for that kernel.
# Usage: deb-module.sh [KDIR]   (default: the cached guest kernel's build tree)
# Result: build/deb/mars-modules-<kver>_<version>_amd64.deb. Documentation/install.rst.
set -euo pipefail
. "$(dirname "$0")/env.sh"

mars_apt_install dkms dpkg-dev kmod || exit 1
kdir=${1:-$(mars_kernel_build)}
[ -f "$kdir/include/config/kernel.release" ] || die "no kernel build tree at $kdir"
kver=$(cat "$kdir/include/config/kernel.release")
out=$MARS_TOP/build/deb
dkms_deb=$(ls "$out"/mars-dkms_*_all.deb 2>/dev/null | head -n1)
[ -n "$dkms_deb" ] || die "no $out/mars-dkms_*_all.deb: run make deb first"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$dkms_deb" "$work/src"
version=$(ls "$work/src/usr/src" | sed -n 's/^mars-//p')
[ -n "$version" ] || die "$dkms_deb holds no /usr/src/mars-<version>"
dkms() {
	command dkms "$@" --dkmstree "$work/dkms" --sourcetree "$work/src/usr/src" --installtree "$work/install"
}
mkdir -p "$work/dkms" "$work/install"
log "dkms build mars/$version for $kver against $kdir"
{ dkms add -m mars -v "$version" && RUSTC=$RUSTC BINDGEN=$BINDGEN dkms build -m mars -v "$version" -k "$kver" \
	--kernelsourcedir "$kdir"; } > "$work/dkms.log" 2>&1 ||
	{ tail -n 40 "$work/dkms.log" >&2; die "dkms build failed"; }
ko=$(find "$work/dkms/mars/$version/$kver" -name mars.ko | head -n1)
[ -n "$ko" ] || die "dkms build left no mars.ko"
[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ] || die "$ko is not built for $kver"

pkg=mars-modules-$kver
root=$work/pkg
install -D -m 0644 "$ko" "$root/lib/modules/$kver/updates/dkms/mars.ko"
install -d "$root/DEBIAN" "$root/usr/share/doc/$pkg"
install -m 0644 "$MARS_TOP/debian/copyright" "$root/usr/share/doc/$pkg/copyright"
gzip -9n < "$MARS_TOP/debian/changelog" > "$root/usr/share/doc/$pkg/changelog.gz"
chmod 0644 "$root/usr/share/doc/$pkg/changelog.gz"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: $pkg
Source: mars
Version: $version
Architecture: amd64
Maintainer: $(sed -n 's/^Maintainer: //p' "$MARS_TOP/debian/control")
Installed-Size: $size
Depends: kmod
Provides: mars-modules
Recommends: marsadm
Section: kernel
Priority: optional
Homepage: https://github.com/schoebel/mars
Description: MARS replicated block devices: kernel module for Linux $kver
 MARS (Multiversion Asynchronous Replicated Storage) replicates block devices
 asynchronously over long distances.
 .
 This package holds mars.ko for the kernel $kver, built by DKMS from the
 mars-dkms package $version against that kernel's build tree, for machines
 that cannot build it themselves (no compiler or no Rust toolchain).
EOF
# depmod for that kernel after install and removal.
for script in postinst postrm; do
	printf '#!/bin/sh\nset -e\nif [ -d /lib/modules/%s ]; then depmod -a %s; fi\n' "$kver" "$kver" > "$root/DEBIAN/$script"
	chmod 0755 "$root/DEBIAN/$script"
done
(cd "$root" && find lib usr -type f -exec md5sum {} + | sort -k2) > "$root/DEBIAN/md5sums"
deb=$out/${pkg}_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null
log "$(basename "$deb") ($(du -h "$deb" | cut -f1)): mars.ko for $kver by DKMS"
