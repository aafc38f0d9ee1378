#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The lint gates: formatting of every crate (the userspace workspace, fuzz/, and the kernel
# crate under rust/ with the kernel's .rustfmt.toml) and clippy with warnings as errors on the
# workspace and on fuzz/ (stable suffices to check it; core's own deny list is in
# core/src/lib.rs). Prints "lint ok <gate>" or
# "lint FAILED <gate>" per gate, runs them all, exits non-zero if any failed. clippy builds
# in the shared target directory, so it holds its lock (env.sh: mars_cargo_locked).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$MARS_TOP"

failed=0
gate() { # name command...
	local name=$1
	shift
	if "$@"; then
		echo "lint ok $name"
	else
		echo "lint FAILED $name"
		failed=1
	fi
}

# The kernel crate, without the generated bindings (bindgen output, not ours to format).
kernel_fmt() {
	local files=()
	mapfile -t files < <(find rust -name '*.rs' ! -path rust/kapi/bindings_generated.rs | sort)
	[ ${#files[@]} -gt 0 ] || { echo "error: no rust/**/*.rs found" >&2; return 1; }
	rustfmt --check --edition 2021 --config-path .rustfmt.toml "${files[@]}"
}

gate "fmt-workspace" cargo fmt --all --check
gate "fmt-fuzz" bash -c 'cd fuzz && cargo fmt --check'
gate "fmt-kernel" kernel_fmt
gate "clippy" mars_cargo_locked cargo clippy --workspace --all-targets -- -D warnings
gate "clippy-fuzz" mars_cargo_locked bash -c 'cd fuzz && cargo clippy --all-targets -- -D warnings'

[ "$failed" = 0 ] || die "lint failed"
