#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Every script the guests run through scripts/run-scenario.sh (scenarios, benchmarks, the demo,
# the profile) either ends its KTAP output with a plan (calls lib.sh's ktap_end, itself or in
# the scenario it sources) or declares "# output: text" (prose, judged by its exit code):
# run-scenario fails a KTAP boot without a plan, and `make demo` once failed that way while
# printing a perfect demo. KTAP output.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0 bad=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; bad=$((bad + 1)); fi; }
# ends_with_plan SCRIPT: it calls ktap_end, or sources a guest script (/mars-tests/X.sh) that does.
ends_with_plan() {
	grep -q '^[^#]*ktap_end' "$1" && return 0
	local sourced
	sourced=$(sed -n 's|^\. /mars-tests/\([a-z0-9-]*\.sh\).*|\1|p' "$1" | grep -v '^lib\.sh$' | head -1)
	[ -n "$sourced" ] && [ -f "$top/tests/qemu/scenarios/$sourced" ] &&
		grep -q '^[^#]*ktap_end' "$top/tests/qemu/scenarios/$sourced"
}
echo "TAP version 13"
scripts=$(ls "$top"/tests/qemu/{scenarios,bench,demo,profile}/*.sh 2>/dev/null)
echo "1..$(echo "$scripts" | wc -l)"
for s in $scripts; do
	rel=${s#"$top"/}
	if grep -q '^# output: text$' "$s"; then
		ok 0 "$rel: prose (# output: text)"
	else
		ends_with_plan "$s"
		ok $? "$rel: KTAP with a plan (ktap_end)"
	fi
done
[ "$bad" = 0 ]
