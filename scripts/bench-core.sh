#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Single-core throughput of the log record path (4 KiB payloads, CRC32C): encode+checksum and
# scan+verify next to memcpy of the same bytes, measured in the same run. BENCH_SECONDS
# (default 1) is the time per row, BENCH_RUNS (default 3) how many times the table is
# measured (the last line gives the spread of the ratios), BENCH_ONLY=<row> runs one row alone
# for a profiler (tools/mars-host/benches/log_record.rs). Pinned to one CPU (BENCH_CPU,
# default 0) when taskset is available.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MARS_TOP"
export BENCH_RUNS=${BENCH_RUNS:-3}
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${BENCH_CPU:-0}")
# Built on every CPU, measured on one; both under the target directory's lock, which another
# clone may share (env.sh: mars_cargo_locked).
mars_cargo_locked bash -c 'cargo build --quiet --release -p mars-host --benches &&
	exec "$@" cargo bench --quiet -p mars-host --bench log_record' bench-core "${pin[@]}"
