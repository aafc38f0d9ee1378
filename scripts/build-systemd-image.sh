#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the systemd guest image: the busybox initramfs of build-initramfs.sh (mars.ko in
# /lib/modules/<version>/extra, /usr/sbin/marsadm, the scenarios), the units and templates of
# systemd/ (make install-systemd), plus Debian's systemd booting
# as PID 1 (the harness passes rdinit=/lib/systemd/systemd for a scenario with the header
# "# image: systemd"), which runs the scenario as mars-scenario.service.
#
# systemd, udev, util-linux's mount and the libraries their programs link come from Debian's
# package registry (apt-get download, unpacked with dpkg-deb -x; nothing is installed on this
# machine), pruned of documentation, the hardware database and what needs libraries we do not
# ship, and cached in $MARS_CACHE/systemd/<key>/root; a later build only adds the guest's
# configuration (tests/qemu/guest/systemd/). The image is the base archive followed by a second
# cpio archive: the kernel unpacks them in order, a later file replaces an earlier one. The
# second archive leaves out whatever the base has as a regular file or directory (the base's
# libraries, copied from this machine, are the ones its programs were built against) and
# replaces its busybox applets (symlinks) with the real programs of the same name.
#
# The image is also a Debian system to install MARS's packages in: dpkg (with a status file
# naming the packages the image holds: those unpacked here, and libc6 and libgcc-s1, whose
# libraries the base copied from this machine) and Debian's tar (dpkg-deb calls it with options
# busybox's lacks), perl-base and init-system-helpers (which the
# maintainer scripts of debhelper call to enable units), kmod (depmod, modprobe), and in
# /var/cache/mars/debs the packages of this tree: marsadm and mars-dkms (scripts/deb.sh, with
# build/marsadm instead of building marsadm once more, no lintian) and mars-modules-<kver>
# (scripts/deb-module.sh: DKMS builds mars.ko from mars-dkms against the guest kernel's build
# tree). tests/qemu/scenarios/systemd-trigger.sh installs them with dpkg.
#
# Usage: build-systemd-image.sh BASE.cpio OUTPUT.cpio
set -euo pipefail
. "$(dirname "$0")/env.sh"

base=$1 out=$2

# Debian 12 (bookworm) packages: systemd (PID 1, systemctl, journald), udev (device units, so
# that a mount unit on /dev/mars/<res> works), mount (systemd calls util-linux's mount and
# umount with options busybox lacks), and the libraries of what we keep (checked below: every
# library an ELF file of the image needs must be in the image). libc6 and the libraries the
# base image already copied from this machine are not replaced.
SYSTEMD_PACKAGES=(
	systemd libsystemd-shared udev mount
	libacl1 libapparmor1 libaudit1 libblkid1 libcap2 libcap-ng0 libcrypt1 libgcrypt20
	libgpg-error0 libip4tc2 libkmod2 liblz4-1 liblzma5 libmount1 libpam0g libpcre2-8-0
	libseccomp2 libselinux1 libssl3 libzstd1 libsmartcols1 zlib1g libudev1 libsystemd0
	libp11-kit0 libffi8
	dpkg tar libbz2-1.0 libmd0 perl-base init-system-helpers kmod
)
# What is pruned from the unpacked packages (paths relative to the root).
SYSTEMD_PRUNE=(
	usr/share/doc usr/share/man usr/share/locale usr/share/bash-completion usr/share/zsh
	usr/share/lintian usr/share/bug usr/share/polkit-1 usr/share/info
	lib/udev/hwdb.d usr/lib/udev/hwdb.d usr/lib/x86_64-linux-gnu/cryptsetup
)
# Bump when the way the root is made changes (part of the cache key).
SYSTEMD_ROOT_REV=2
key=$(printf '%s\n' "$SYSTEMD_ROOT_REV" "${SYSTEMD_PACKAGES[@]}" "${SYSTEMD_PRUNE[@]}" | sha256sum | cut -c1-12)
cache=$MARS_CACHE/systemd/$key
sysroot=$cache/root

# The libraries of libc6: the base image has them from this machine (what its own programs
# were built against, the same glibc 2.36 of Debian 12), so the package is not downloaded; those
# the systemd programs need beyond the base's are copied from this machine the same way.
GLIBC_LIBRARIES=" ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 libanl.so.1 libutil.so.1 libmvec.so.1 libnsl.so.1 "

# needed_libraries ROOT: "file library" for every library (DT_NEEDED) of every ELF file in
# ROOT that is nowhere in ROOT's library directories or the file's RUNPATH, and not glibc's;
# and "glibc library" for each of glibc's libraries needed.
needed_libraries() {
	local root=$1 f lib dirs d found dyn
	(cd "$root" && find . -type f -size +1k | sed 's|^\./||') | while read -r f; do
		dyn=$(readelf -d "$root/$f" 2>/dev/null) || continue
		# (systemd's private libraries load each other through the programs' RUNPATH.)
		dirs="/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /lib /usr/lib /usr/lib/x86_64-linux-gnu/systemd"
		dirs="$dirs $(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p;s/.*(RPATH).*\[\(.*\)\]/\1/p' <<<"$dyn" | tr ':' ' ')"
		for lib in $(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn"); do
			if [[ "$GLIBC_LIBRARIES" == *" $lib "* ]]; then echo "glibc $lib"; continue; fi
			found=0
			for d in $dirs; do [ -e "$root$d/$lib" ] && { found=1; break; }; done
			[ "$found" = 1 ] || echo "$f $lib"
		done
	done
}

make_sysroot() {
	local t0=$SECONDS debs=$cache/debs
	log "downloading Debian's systemd for the systemd guest image (once; cached in $cache)"
	rm -rf "$debs" "$sysroot"
	mkdir -p "$debs" "$sysroot"
	# (apt's sandbox user could not write into the cache of root: download as root then.)
	local apt=(apt-get download -q)
	[ "$(id -u)" = 0 ] && apt+=(-o APT::Sandbox::User=root)
	if ! (cd "$debs" && "${apt[@]}" "${SYSTEMD_PACKAGES[@]}" >/dev/null); then
		# A machine whose package lists are missing or stale: fetch them once and try again.
		[ "$(id -u)" = 0 ] || die "apt-get download of systemd failed (and updating the package lists needs root)"
		apt-get update -q >/dev/null
		(cd "$debs" && "${apt[@]}" "${SYSTEMD_PACKAGES[@]}" >/dev/null) ||
			die "apt-get download ${SYSTEMD_PACKAGES[*]} failed"
	fi
	for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
	# dpkg's database: every package unpacked here as installed (its control fields, its
	# files list), and libc6 and libgcc-s1 as on this machine.
	local db=$cache/dpkg name
	rm -rf "$db"
	mkdir -p "$db/info"
	for deb in "$debs"/*.deb; do
		name=$(dpkg-deb -f "$deb" Package)
		[ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ] && name=$name:$(dpkg-deb -f "$deb" Architecture)
		dpkg-deb -f "$deb" | sed '1a Status: install ok installed'
		echo
		dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); print (p == "" ? "/." : p) }' \
			> "$db/info/$name.list"
	done > "$db/status"
	for name in libc6 libgcc-s1; do
		dpkg-query -s "$name:amd64" >> "$db/status" && echo >> "$db/status" ||
			die "$name is not installed here"
		cp "/var/lib/dpkg/info/$name:amd64.list" "$db/info/"
	done
	local p
	for p in "${SYSTEMD_PRUNE[@]}"; do rm -rf "${sysroot:?}/$p"; done
	# Programs that need libraries we do not ship (cryptsetup, fdisk, ...): nothing a test
	# guest uses. A library that needs one is an error in the package list.
	local f lib
	needed_libraries "$sysroot" | LC_ALL=C sort -u > "$cache/needed"
	while read -r f lib; do
		[ "$f" = glibc ] && continue
		case "$f" in
		*.so | *.so.*) die "library $f needs $lib, which the systemd image lacks: add its package" ;;
		esac
		log "systemd image: leaving out $f (needs $lib)"
		rm -f "$sysroot/$f"
	done < "$cache/needed"
	sed -n 's/^glibc //p' "$cache/needed" | LC_ALL=C sort -u > "$cache/glibc-needed"
	du -sh "$debs" | sed 's/^/downloaded: /' >&2
	rm -rf "$debs"
	touch "$cache/.done"
	log "systemd root ready in $((SECONDS - t0)) s: $(du -sh "$sysroot" | cut -f1)"
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
[ -f "$cache/.done" ] || make_sysroot
flock -u 9

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
guest=$MARS_TOP/tests/qemu/guest/systemd

# The guest's configuration.
etc=$stage/extra/etc
mkdir -p "$etc/systemd/system/multi-user.target.wants" "$etc/systemd/system.conf.d"
cp "$guest/mars-scenario.service" "$etc/systemd/system/"
ln -s ../mars-scenario.service "$etc/systemd/system/multi-user.target.wants/mars-scenario.service"
ln -s /lib/systemd/system/multi-user.target "$etc/systemd/system/default.target"
cp "$guest/mars-test.conf" "$etc/systemd/system.conf.d/"
# Units that cannot work or only cost time here: no getty (the consoles belong to the
# harness), no logind (no D-Bus), no first-boot questions, no rebuild of databases under
# /etc and /var that the image does not have.
for unit in getty@.service serial-getty@.service console-getty.service container-getty@.service \
	getty.target systemd-logind.service systemd-firstboot.service systemd-hwdb-update.service \
	ldconfig.service systemd-journal-catalog-update.service systemd-update-done.service \
	systemd-networkd-wait-online.service; do
	ln -s /dev/null "$etc/systemd/system/$unit"
done
printf 'PRETTY_NAME="MARS test guest (Debian 12 systemd)"\nNAME="MARS test guest"\nID=debian\nVERSION_ID="12"\n' \
	> "$etc/os-release"
# No generators: a test guest has no fstab, gettys, SysV scripts, encrypted or GPT-discovered
# disks, and systemd runs every generator at boot and again at every daemon-reload (which
# marsadm's trigger does after it generated units), each a process to start under TCG.
mkdir -p "$etc/systemd/system-generators"
for g in "$sysroot"/lib/systemd/system-generators/* "$sysroot"/usr/lib/systemd/system-generators/*; do
	if [ -e "$g" ]; then ln -sf /dev/null "$etc/systemd/system-generators/${g##*/}"; fi
done
# The harness passes each guest its own id (systemd.machine_id=); this one makes the image
# look installed, so that systemd does not treat every boot as a first boot.
echo 6d617273746573746775657374000001 > "$etc/machine-id"
# systemd/ as a package installs it (make install-systemd): mars.service, mars-trigger.path and
# .service in /usr/lib/systemd/system, the templates in /usr/lib/marsadm/systemd-templates.
# Nothing is enabled: a scenario starts what it needs once its /mars is mounted.
make --no-print-directory -s -C "$MARS_TOP" install-systemd DESTDIR="$stage/extra" ||
	die "make install-systemd failed"
# dpkg's database, the programs dpkg wants in PATH that no package here brings (ldconfig, a
# static program of this machine's libc-bin), and this tree's packages.
mkdir -p "$stage/extra/var/lib/dpkg/updates" "$stage/extra/var/lib/dpkg/triggers" "$stage/extra/var/log" \
	"$stage/extra/var/cache/mars/debs" "$stage/extra/sbin"
cp -a "$cache/dpkg/." "$stage/extra/var/lib/dpkg/"
: > "$stage/extra/var/lib/dpkg/available"
cp -L /sbin/ldconfig "$stage/extra/sbin/ldconfig"
"$MARS_TOP/scripts/deb.sh" --marsadm "$MARS_TOP/build/marsadm" --no-lintian || die "make deb failed"
"$MARS_TOP/scripts/deb-module.sh" || die "the module package failed"
cp "$MARS_TOP"/build/deb/marsadm_*.deb "$MARS_TOP"/build/deb/mars-modules-*.deb \
	"$stage/extra/var/cache/mars/debs/"

# Names of the base archive: regular files and directories stay the base's.
export LC_ALL=C
cpio -itv --quiet < "$base" 2>/dev/null |
	awk '$1 !~ /^l/ { n = $NF; sub(/^\.\//, "", n); print n }' | sort -u > "$stage/base-kept"
(cd "$sysroot" && find . -mindepth 1 | sed 's|^\./||' | sort) > "$stage/sysroot-all"
comm -23 "$stage/sysroot-all" "$stage/base-kept" > "$stage/sysroot-new"
# glibc's libraries that systemd needs and the base lacks: from this machine, as the base's.
mkdir -p "$stage/extra/lib/x86_64-linux-gnu"
while read -r lib; do
	grep -qx "lib/x86_64-linux-gnu/$lib\|lib64/$lib" "$stage/base-kept" && continue
	cp -L "/lib/x86_64-linux-gnu/$lib" "$stage/extra/lib/x86_64-linux-gnu/$lib" ||
		die "$lib (glibc) missing on this machine"
done < "$cache/glibc-needed"
{
	(cd "$sysroot" && cpio -o -H newc --quiet < "$stage/sysroot-new")
	(cd "$stage/extra" && find . -mindepth 1 | sed 's|^\./||' | cpio -o -H newc --quiet)
} > "$stage/overlay.cpio"
cat "$base" "$stage/overlay.cpio" > "$out.tmp"
mv "$out.tmp" "$out"
log "systemd image $(du -h "$out" | cut -f1) at $out ($(du -h "$stage/overlay.cpio" | cut -f1) over the base)"
