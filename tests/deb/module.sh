#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The binary module package (make deb-check, after make deb): scripts/deb-module.sh builds
# mars-modules-<kver> with DKMS from build/deb/mars-dkms_*.deb against the cached guest
# kernel's build tree; it holds mars.ko for that kernel where DKMS installs it, runs depmod
# for it, and lintian has nothing to say. Installing it and running on it:
# tests/qemu/scenarios/systemd-trigger.sh. KTAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/ktap.sh"

echo "TAP version 13"
echo "1..4"
kbuild=$(mars_kernel_build) && [ -f "$kbuild/.config" ] || { echo "Bail out! no guest kernel build: run make"; exit 1; }
kver=$(cat "$kbuild/include/config/kernel.release")
"$top/scripts/deb-module.sh" > "$tmp/build.log" 2>&1
ok $? "deb-module.sh builds mars-modules-$kver" || tail -n 30 "$tmp/build.log"
deb=$(ls "$top"/build/deb/mars-modules-"$kver"_*_amd64.deb 2>/dev/null | head -n1)
dpkg-deb -x "$deb" "$tmp/root" 2>/dev/null
ko=$tmp/root/lib/modules/$kver/updates/dkms/mars.ko
[ -f "$ko" ] && [ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ] &&
	[ "$(dpkg-deb -f "$deb" Package)" = "mars-modules-$kver" ]
ok $? "it holds mars.ko for $kver in updates/dkms" || dpkg-deb -c "$deb"
dpkg-deb -e "$deb" "$tmp/control" 2>/dev/null
grep -qx "if \[ -d /lib/modules/$kver \]; then depmod -a $kver; fi" "$tmp/control/postinst" &&
	grep -qx "if \[ -d /lib/modules/$kver \]; then depmod -a $kver; fi" "$tmp/control/postrm"
ok $? "postinst and postrm run depmod for $kver" || cat "$tmp/control/postinst"
as_user=()
[ "$(id -u)" != 0 ] || as_user=(runuser -u nobody -- env HOME=/tmp)
"${as_user[@]}" lintian --pedantic --display-info "$deb" > "$tmp/lintian.txt" 2>&1
[ ! -s "$tmp/lintian.txt" ]
ok $? "lintian --pedantic: nothing" || cat "$tmp/lintian.txt"
[ "$bad" = 0 ]
