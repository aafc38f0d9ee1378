#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 1
# timeout: 600
# data-disk: 256M
# mars-disk: 512M
#
# Promise: a filesystem made and filled through /dev/mars/<res> is on the data device once
# the device is switched off: the data device alone (mounted directly, without MARS) holds
# the same files with the same checksums, and fsck finds it clean both through the device and
# on the data device. The module then unloads cleanly. The resource is made the way an
# operator makes it (modprobe mars, create-cluster, create-resource; marsadm down).
. /mars-tests/lib.sh
ktap_begin

name=fs
dev=/dev/mars/$name

# make_tree DIR: a tree of files of many sizes (0 B to 3 MiB, unaligned ones too), nested
# directories, a symlink and a hard link.
make_tree() {
	i=0
	for size in 0 1 511 512 4095 4096 4097 65536 131071 1048576 3145728; do
		d=$1/d$((i % 4))/sub$((i % 3))
		mkdir -p "$d"
		head -c "$size" /dev/urandom > "$d/f$i"
		i=$((i + 1))
	done
	for j in $(seq 1 200); do
		mkdir -p "$1/many/$((j % 10))"
		head -c $((j * 37)) /dev/urandom > "$1/many/$((j % 10))/small$j"
	done
	cp -a /bin /lib "$1/"
	ln -s d0/sub0/f0 "$1/symlink"
	ln "$1/d1/sub1/f1" "$1/hardlink"
}
sums_of() { (cd "$1" && find . -type f -exec md5sum {} + | sort -k 2); }
listing_of() { (cd "$1" && find . | sort && find . -type l -exec readlink {} + ); }

check "make and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
check "modprobe mars" modprobe mars
check "create-cluster" marsadm create-cluster
check "create-resource $name /dev/vda" marsadm create-resource "$name" /dev/vda
check "$dev appears" wait_for 60 test -b "$dev"
check "mkfs.ext4 on $dev" mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/fs /mnt/raw
check "mount $dev" mount -t ext4 "$dev" /mnt/fs
check "write a tree of files into it" make_tree /mnt/fs
sums_of /mnt/fs > /tmp/sums
listing_of /mnt/fs > /tmp/listing
echo "# $(wc -l < /tmp/sums) files, $(du -sk /mnt/fs | cut -f1) KiB"
check "unmount" umount /mnt/fs
check "fsck -fn through $dev finds it clean" e2fsck -fn "$dev"
check "mount again: the files read back with the same checksums" sh -c \
	"mount -t ext4 $dev /mnt/fs && cd /mnt/fs && md5sum -c -s /tmp/sums && cd / && umount /mnt/fs"
echo "# logfiles: $(ls -l /mars/resource-$name/log-* | awk '{ print $5, $9 }' | tr '\n' ' ')"
check "marsadm down $name" marsadm down "$name"
check "$dev is gone" wait_for 30 test ! -e "$dev"
check "fsck -fn on the data device alone finds it clean" e2fsck -fn /dev/vda
check "mount the data device alone (read-only)" mount -t ext4 -o ro /dev/vda /mnt/raw
check "it holds the same files, links and directories" sh -c "listing_of() { (cd \$1 && find . | sort && find . -type l -exec readlink {} + ); }; listing_of /mnt/raw | cmp -s - /tmp/listing"
check "with the same checksums" sh -c 'cd /mnt/raw && md5sum -c -s /tmp/sums'
umount /mnt/raw
check "unload the module" rmmod mars
check "no mars message above warning level" sh -c '! dmesg -r | grep -E "^<[0-4]>" | grep -v "out-of-tree module taints" | grep -q "mars: "'
ktap_end
