# SPDX-License-Identifier: GPL-2.0
# Sourced by the KTAP test scripts (tests/host, tests/deb): $top, scripts/env.sh, a $tmp
# removed at exit, and ok STATUS TEXT, which prints the numbered result, counts failures
# in $bad (end a script with `[ "$bad" = 0 ]`) and returns non-zero for a failure (so that
# `ok $? TEXT || cat LOG` shows why).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; bad=$((bad + 1)); return 1; fi; }
