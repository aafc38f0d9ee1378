# SPDX-License-Identifier: GPL-2.0
# Helpers for guest scenarios: KTAP output and checks. Each check prints one KTAP result line;
# the scenario's exit code is non-zero if any check failed. Source it, call ktap_begin N,
# run checks, end with ktap_end.

KTAP_N=0
KTAP_FAILED=0

ktap_begin() {
	echo "KTAP version 1"
	echo "1..$1"
}

ktap_result() { # ok|fail description
	KTAP_N=$((KTAP_N + 1))
	if [ "$1" = ok ]; then
		echo "ok $KTAP_N $2"
	else
		echo "not ok $KTAP_N $2"
		KTAP_FAILED=$((KTAP_FAILED + 1))
	fi
}

# check DESCRIPTION COMMAND...: passes when the command succeeds; its output is kept as
# KTAP diagnostics on failure.
check() {
	desc=$1; shift
	if out=$("$@" 2>&1); then
		ktap_result ok "$desc"
	else
		echo "$out" | sed 's/^/# /'
		ktap_result fail "$desc"
	fi
}

# check_fails DESCRIPTION COMMAND...: passes when the command fails.
check_fails() {
	desc=$1; shift
	if out=$("$@" 2>&1); then
		echo "# unexpectedly succeeded: $*"; echo "$out" | sed 's/^/# /'
		ktap_result fail "$desc"
	else
		ktap_result ok "$desc"
	fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		ktap_result ok "$1"
	else
		echo "# expected: '$2'"; echo "#      got: '$3'"
		ktap_result fail "$1"
	fi
}

ktap_end() {
	echo "# $mars_host: $KTAP_N checks, $KTAP_FAILED failed"
	[ "$KTAP_FAILED" = 0 ]
}

# write_knob NAME VALUE: write like an operator does; fails like the write(2) fails.
write_knob() {
	printf '%s\n' "$2" > "/proc/sys/mars/$1"
}

# wait_reachable HOST SECONDS: ping until the peer answers.
wait_reachable() {
	n=0
	while [ "$n" -lt "$2" ]; do
		ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0
		n=$((n + 1))
	done
	return 1
}
