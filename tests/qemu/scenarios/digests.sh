#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 200
#
# Promise: mars.ko computes the same log digests as userspace and reads and writes the same
# records. At every load the module checks its kernel-side digests (lib crc32c and crc32_le,
# crypto md5 and sha1) and LZO, LZ4 and zlib (compression and decompression) against core/testdata/digest_vectors.txt, the file the
# userspace tests check mars-host against, with the same checker; it refuses to load on any
# mismatch and reports the count when all agree. The counts here follow the vector file
# (tools/mars-host/tests/vector_checker.rs asserts them on the host side).
. /mars-tests/lib.sh
ktap_begin

expected='mars: self-test: 47 digest vectors and records agree with userspace$'

uptime_cs() { read -r up _ < /proc/uptime; echo "${up%.*}${up#*.}"; }
t0=$(uptime_cs)
check "modprobe mars" modprobe mars
t1=$(uptime_cs)
echo "# modprobe mars took about $(( (t1 - t0) * 10 )) ms"
dmesg | grep 'mars: self-test' | sed 's/^/# /'

check_eq "self-test checked every vector" 1 "$(dmesg | grep -c "$expected")"
check_fails "every digest algorithm is available" sh -c 'dmesg | grep -Eq "mars: digest .* unavailable|skipped \(algorithm unavailable\)"'
check_fails "no self-test error" sh -c 'dmesg | grep -q "mars: self-test: .*line [0-9]*:"'
check "rmmod mars" rmmod mars
modprobe mars
check_eq "the self-test runs at every load" 2 "$(dmesg | grep -c "$expected")"
rmmod mars

ktap_end
