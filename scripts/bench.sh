#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark, each reporting ratios against a baseline measured in the same
# run (memcpy, the raw device, plain TCP, DRBD), never absolute thresholds.
set -euo pipefail
. "$(dirname "$0")/env.sh"
"$MARS_TOP/scripts/bench-core.sh"
