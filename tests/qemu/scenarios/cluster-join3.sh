#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 420
#
# Promise: the promise of cluster-join with three hosts: alpha creates the cluster, bravo and
# charlie join through alpha and learn of each other through it; every link written anywhere
# reaches both other hosts with its value and mtime; charlie leaves, comes back with a cluster
# of its own and is refused by alpha; alpha and bravo keep exchanging and unload promptly.
. /mars-tests/cluster-join.sh
