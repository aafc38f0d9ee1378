# SPDX-License-Identifier: GPL-2.0
# MARS in Rust-for-Linux. Kbuild (not this file) describes mars.ko itself.
#
#   make          build mars.ko (against the cached guest kernel) and marsadm
#   make check    build everything needed and run every test; ends with "N passed, N failed"
#   make soak     the long forms of io-crash, io-fio-verify and fuzzing (SOAK_* parameters)
#   make demo     boot a cluster of QEMU guests and show MARS working
#   make bench    benchmarks, reported as ratios against baselines of the same run
#   make profile  perf profile of a guest writing to /dev/mars/<res> (PROFILE_JOB=seq|qd1|qd32)
#   make install  install what `make` built below $(DESTDIR) (PREFIX=/usr): mars.ko, marsadm,
#                 man pages, bash completion, systemd units and timer, udev rules
#                 (install-module, install-tools: the parts; Documentation/install.rst)
#   make install-systemd  install systemd/ (units and marsadm's templates) under $(DESTDIR)
#   make deb      the Debian packages mars-dkms and marsadm (dpkg-buildpackage) in build/deb/
#   make deb-check  make deb, then the packages' tests (tests/deb: DKMS builds mars.ko)
#   make deb-module  after make deb: mars-modules-<kver>, mars.ko built by DKMS for the guest
#                 kernel (KDIR=<kernel build tree> for another), as a binary package
#
# Everything installs what it needs first (scripts/setup.sh), idempotently. Caches (toolchain,
# kernel builds, guest images) live in $(MARS_CACHE) = ~/.cache/mars by default.

SHELL := /bin/bash
.PHONY: all module marsadm setup kernel check check-host check-guest soak fuzz demo bench profile clean install-systemd \
	install install-module install-tools deb deb-check deb-module

all: module

setup:
	scripts/setup.sh

kernel: setup
	scripts/build-kernel.sh

module:
	scripts/build-module.sh

marsadm:
	cargo build --release -p marsadm

check:
	scripts/check.sh

check-host:
	scripts/check.sh --host-only

check-guest:
	scripts/check.sh --guest-only

soak:
	scripts/soak.sh

fuzz:
	scripts/fuzz.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

profile:
	scripts/profile.sh

# The units (mars.service, mars-trigger.path/.service) go where systemd finds a package's
# units; the templates where marsadm looks for them (Documentation/systemd.rst).
PREFIX ?= /usr
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
MARSADM_TEMPLATE_DIR ?= $(PREFIX)/lib/marsadm/systemd-templates

install-systemd:
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(MARSADM_TEMPLATE_DIR)
	install -m 0644 systemd/units/* $(DESTDIR)$(SYSTEMD_UNIT_DIR)/
	install -m 0644 systemd/templates/* $(DESTDIR)$(MARSADM_TEMPLATE_DIR)/

INSTALL_VARS = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSTEMD_UNIT_DIR="$(SYSTEMD_UNIT_DIR)" \
	MARSADM_TEMPLATE_DIR="$(MARSADM_TEMPLATE_DIR)"

install:
	$(INSTALL_VARS) scripts/install.sh all

install-module:
	$(INSTALL_VARS) scripts/install.sh module

install-tools:
	$(INSTALL_VARS) scripts/install.sh tools

deb:
	scripts/deb.sh

# The packages' own tests (tests/deb/*.sh: DKMS builds the module from mars-dkms in a private
# DKMS tree); not part of make check, they build the module once more.
deb-module:
	scripts/deb-module.sh $(KDIR)

deb-check: deb
	@rc=0; for t in tests/deb/*.sh; do echo "# $$t"; $$t || rc=1; done; exit $$rc

clean:
	-. scripts/env.sh && kb=$$(mars_kernel_build 2>/dev/null) && [ -d "$$kb" ] && $(MAKE) -C "$$kb" M=$(CURDIR) clean
	cargo clean
