#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make install (scripts/install.sh): installs exactly the expected files below DESTDIR, the
# module under the kernel version of its vermagic, a marsadm that runs, man pages, a bash
# completion that completes marsadm's commands; PREFIX moves the tools; a missing module
# fails with a clear error and installs nothing. Needs what `make` built (make check builds
# it first). KTAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/ktap.sh"

echo "TAP version 13"
echo "1..11"
ko=$MARS_MODULE_DIR/mars.ko
[ -f "$ko" ] && [ -x "$top/build/marsadm" ] || { echo "Bail out! run make first: no $ko or build/marsadm"; exit 1; }
kver=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)

make -s -C "$top" install DESTDIR="$tmp/root" > "$tmp/log" 2>&1
ok $? "make install DESTDIR=... succeeds" || cat "$tmp/log"
(cd "$tmp/root" && find . \( -type f -o -type l \) | sort) > "$tmp/files"
cat > "$tmp/want" <<LIST
./lib/modules/$kver/extra/mars.ko
./usr/lib/marsadm/systemd-templates/mars-@escvar{res}-trigger.path
./usr/lib/marsadm/systemd-templates/mars-@escvar{res}-trigger.service
./usr/lib/marsadm/systemd-templates/mnt-mars-@escvar{res}.mount
./usr/lib/systemd/system/mars-cron.service
./usr/lib/systemd/system/mars-cron.timer
./usr/lib/systemd/system/mars-trigger.path
./usr/lib/systemd/system/mars-trigger.service
./usr/lib/systemd/system/mars.service
./usr/lib/udev/rules.d/60-mars.rules
./usr/sbin/marsadm
./usr/share/bash-completion/completions/marsadm
./usr/share/doc/marsadm/admin-guide.rst
./usr/share/doc/marsadm/install.rst
./usr/share/doc/marsadm/knobs.rst
./usr/share/doc/marsadm/systemd.rst
./usr/share/doc/marsadm/tree.rst
./usr/share/man/man7/mars-knobs.7
./usr/share/man/man8/marsadm.8
LIST
diff -u "$tmp/want" "$tmp/files"
ok $? "the installed files are exactly the expected list"
cmp -s "$ko" "$tmp/root/lib/modules/$kver/extra/mars.ko"
ok $? "mars.ko is the built module, under its vermagic's kernel version ($kver)"
"$tmp/root/usr/sbin/marsadm" version | grep -q '^marsadm '
ok $? "the installed marsadm runs"
grep -q '^\.TH "\?MARSADM"\? "\?8"\?' "$tmp/root/usr/share/man/man8/marsadm.8" &&
	grep -q '^\.TH "\?MARS-KNOBS"\? "\?7"\?' "$tmp/root/usr/share/man/man7/mars-knobs.7"
ok $? "the man pages are roff with their names and sections"
out=$(MANWIDTH=80 man -l "$tmp/root/usr/share/man/man7/mars-knobs.7" 2>/dev/null)
grep -q 'lamport_clock' <<<"$out" && grep -q '^NAME' <<<"$out"
ok $? "mars-knobs(7) renders, with the knobs of Documentation/knobs.rst"
# Complete "marsadm log-" as bash would.
words=$(bash -c '. "$1"; COMP_WORDS=(marsadm log-); COMP_CWORD=1; _marsadm marsadm log- marsadm; printf "%s\n" "${COMPREPLY[@]}"' _ \
	"$tmp/root/usr/share/bash-completion/completions/marsadm" | sort | tr '\n' ' ')
[ "$words" = "log-delete log-delete-one log-dump log-purge-all log-rotate " ]
ok $? "the bash completion completes 'marsadm log-' to the log commands (got: $words)"
rm -rf "$tmp/root"
make -s -C "$top" install DESTDIR="$tmp/root" PREFIX=/usr/local > "$tmp/log" 2>&1 &&
	[ -x "$tmp/root/usr/local/sbin/marsadm" ] && [ -f "$tmp/root/usr/local/lib/systemd/system/mars-cron.timer" ] &&
	[ -f "$tmp/root/usr/local/share/man/man8/marsadm.8" ] && [ ! -e "$tmp/root/usr/sbin" ]
ok $? "PREFIX=/usr/local moves marsadm, units and man pages"
rm -rf "$tmp/root"
make -s -C "$top" install-tools DESTDIR="$tmp/root" > "$tmp/log" 2>&1 && [ ! -e "$tmp/root/lib/modules" ] &&
	[ -x "$tmp/root/usr/sbin/marsadm" ]
ok $? "make install-tools installs no module"
rm -rf "$tmp/root"
make -s -C "$top" install DESTDIR="$tmp/root" MARS_KO=/nonexistent/mars.ko > "$tmp/log" 2>&1
[ $? != 0 ] && grep -q "/nonexistent/mars.ko not found" "$tmp/log"
ok $? "a missing mars.ko fails naming it"
[ ! -e "$tmp/root" ]
ok $? "... and installs nothing"
[ "$bad" = 0 ]
