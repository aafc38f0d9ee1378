#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The scenarios' check of `marsadm events --json` (tests/qemu/guest/lib.sh: events_in_order,
# events_ended) against the real stream of build/marsadm on a tree made here: a recorded
# handover passes, the same steps in the wrong order fail, and a stream that stops delivering
# (the recorder stopped with SIGSTOP while the tree changes, or a recording cut after its
# initial state) fails; a background recorder (SIGINT ignored, as for any background job of a
# script) ends on SIGINT with exit 0. The helpers run with busybox's awk, as in the guests.
# KTAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/ktap.sh"

echo "TAP version 13"
echo "1..10"
marsadm=$top/build/marsadm
[ -x "$marsadm" ] || { echo "Bail out! run make first: no build/marsadm"; exit 1; }
# The guests' awk is busybox's.
mkdir -p "$tmp/bin"
ln -s "$(command -v busybox)" "$tmp/bin/awk" || { echo "Bail out! no busybox"; exit 1; }
PATH=$tmp/bin:$PATH
# The guest library's helpers (its KTAP functions are not used here).
# shellcheck source=../qemu/guest/lib.sh
. "$top/tests/qemu/guest/lib.sh"

export MARS_ROOT=$tmp/mars MARS_PROC=$tmp/proc MARS_HOST=alpha
mkdir -p "$MARS_ROOT" "$MARS_PROC"
chmod 700 "$MARS_ROOT"
now=$(date +%s)
printf 'CURRENT_TIME=%s.0\nlamport_now=%s.0\nCALLS=1\n' "$now" "$now" > "$MARS_PROC/lamport_clock"
: > "$MARS_PROC/trigger"
put() {
	mkdir -p "$(dirname "$MARS_ROOT/$1")"
	ln -sfn "$2" "$MARS_ROOT/$1.tmp" && mv -T "$MARS_ROOT/$1.tmp" "$MARS_ROOT/$1"
}
truncate -s 1M "$tmp/disk0.img"
{ "$marsadm" create-cluster --ip=10.0.0.1 && "$marsadm" create-resource r0 "$tmp/disk0.img"; } > "$tmp/setup.log" 2>&1 ||
	{ cat "$tmp/setup.log"; echo "Bail out! cannot make the tree"; exit 1; }
put ips/ip-bravo 10.0.0.2
put resource-r0/data-bravo /dev/vda
put resource-r0/actual-alpha/is-attached 1
put resource-r0/actual-alpha/is-primary 1

# The recorder, started as the scenarios start it: a background job of a script.
rec=$tmp/events.json
"$marsadm" events --json r0 > "$rec" 2> "$tmp/events.err" &
pid=$!
wait_for 30 grep -q '^{"event":"exists","type":"-"}$' "$rec"
ok $? "the recorder put out the initial state" || cat "$tmp/events.err"

# A handover away from alpha, as alpha sees it: the designation first, then the kernel steps
# down.
put resource-r0/primary bravo
wait_for 30 grep -q '"primary":"bravo"' "$rec"
put resource-r0/actual-alpha/is-primary 0
handover=("type=resource name=r0 primary=bravo" "type=resource name=r0 role=Secondary")
wait_for 30 events_in_order "$rec" "${handover[@]}" > "$tmp/out"
ok $? "the handover is recorded in its order" || cat "$tmp/out"
events_in_order "$rec" "${handover[1]}" "${handover[0]}" > "$tmp/out"
[ $? = 1 ] && grep -q "step 2 not met" "$tmp/out"
ok $? "the same steps in the wrong order fail" || cat "$tmp/out"
events_in_order "$rec" "type=resource name=r0 role~^(Primary|NotYet)" > /dev/null
[ $? = 1 ]
ok $? "a change that did not happen fails (key~ERE)"
# The initial state alone (a stream that stopped after `exists -`) meets no step.
sed '/"type":"-"/q' "$rec" > "$tmp/initial.json"
events_in_order "$tmp/initial.json" "${handover[0]}" > /dev/null
[ $? = 1 ]
ok $? "a recording cut after its initial state fails"

# The stream stops delivering: the recorder frozen while the tree changes back.
kill -STOP "$pid"
put resource-r0/primary alpha
put resource-r0/actual-alpha/is-primary 1
back=("${handover[@]}" "type=resource name=r0 primary=alpha" "type=resource name=r0 role=Primary")
sleep 2
events_in_order "$rec" "${back[@]}" > "$tmp/out"
[ $? = 1 ] && grep -q "step 3 not met" "$tmp/out"
ok $? "while the recorder is stopped, the handover back fails" || cat "$tmp/out"
kill -CONT "$pid"
wait_for 30 events_in_order "$rec" "${back[@]}" > "$tmp/out"
ok $? "once it runs again, it is recorded" || cat "$tmp/out"

# key=* does not take a removed field ("-").
printf '%s\n' '{"event":"change","rate":"-","resource":"r0","type":"sync"}' > "$tmp/removed.json"
events_in_order "$tmp/removed.json" "type=sync rate=*" > /dev/null
[ $? = 1 ]
ok $? "key=* does not match a removed field"

# Keys come sorted: "emergency" and "emergency-level" before "event".
cat > "$tmp/emergency.json" <<'EOF'
{"event":"exists","type":"-"}
{"emergency-level":"2","event":"change","name":"alpha","type":"host"}
{"emergency":"logging-stopped","event":"change","name":"r0","repl":"EmergencyMode","type":"resource"}
{"emergency":"no","event":"change","name":"r0","type":"resource"}
{"emergency-level":"0","event":"change","name":"alpha","type":"host"}
EOF
events_in_order "$tmp/emergency.json" "type=host name=alpha emergency-level~^[1-4]\$" \
	"type=resource name=r0 emergency=logging-stopped" "type=resource name=r0 emergency=no" \
	"type=host name=alpha emergency-level=0" > "$tmp/out"
ok $? "fields before \"event\" are found (an emergency)" || cat "$tmp/out"

kill -INT "$pid"
wait_for 30 events_ended "$pid"
ended=$?
wait "$pid"
rc=$?
[ "$ended" = 0 ] && [ "$rc" = 0 ] && ! [ -s "$tmp/events.err" ]
ok $? "SIGINT ends the background recorder with exit 0 (ended: $ended, exit $rc)" || cat "$tmp/events.err"
[ "$bad" = 0 ]
