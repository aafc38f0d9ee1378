#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guests: 3
# timeout: 900
# data-disk: 64M
# mars-disk: 512M
#
# Promise: the promise of replicate-basic with three hosts: both secondaries fetch alpha's
# logfiles, replay them and end byte-identical to alpha's device.
. /mars-tests/replicate-basic.sh
