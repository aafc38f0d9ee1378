# SPDX-License-Identifier: GPL-2.0
# Helpers for guest scenarios: KTAP output and checks. Each check prints one KTAP result line;
# the scenario's exit code is non-zero if any check failed. Source it, call ktap_begin, run
# checks, end with ktap_end, which prints the plan (TAP's trailing plan: computed from the
# checks that ran, not counted by hand; a scenario that dies early has none).

KTAP_N=0
KTAP_FAILED=0

ktap_begin() {
	echo "KTAP version 1"
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
# KTAP diagnostics on failure. A check that took 5 s or more says so (with the guest's uptime
# at its end), so a scenario's output shows where its time went.
check() {
	desc=$1; shift
	read -r _ck_t0 _ < /proc/uptime
	if out=$("$@" 2>&1); then
		ktap_result ok "$desc"
	else
		echo "$out" | sed 's/^/# /'
		ktap_result fail "$desc"
	fi
	read -r _ck_t1 _ < /proc/uptime
	[ $((${_ck_t1%.*} - ${_ck_t0%.*})) -lt 5 ] || echo "# took $((${_ck_t1%.*} - ${_ck_t0%.*})) s (uptime ${_ck_t1%.*} s)"
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
	echo "1..$KTAP_N"
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

# wait_for SECONDS COMMAND...: polls until the command succeeds, for at least SECONDS of
# waiting. The one waiting helper of every scenario: no fixed sleeps where an event can be
# waited for. The pause between polls starts at 0.1 s and doubles up to 1 s: under TCG a
# poll costs a fork and exec under lockdep (0.03 s of CPU for `test`, 0.2 s for marsadm, a
# second or more for an md5sum of a device), and a guest polling every 0.1 s for minutes
# kept a host core busy that the other scenarios of make check need. On a timeout the
# command runs once more and what it prints is kept as KTAP diagnostics.
wait_for() {
	_wf_left=$(($1 * 10)) _wf_pause=1; shift
	while ! "$@" >/dev/null 2>&1; do
		if [ "$_wf_left" -le 0 ]; then
			_wf_out=$("$@" 2>&1) && return 0
			_wf_rc=$?
			[ -n "$_wf_out" ] && printf '%s\n' "$_wf_out" | sed 's/^/# /'
			return "$_wf_rc"
		fi
		[ "$_wf_pause" -le "$_wf_left" ] || _wf_pause=$_wf_left
		sleep "$((_wf_pause / 10)).$((_wf_pause % 10))"
		_wf_left=$((_wf_left - _wf_pause))
		_wf_pause=$((_wf_pause * 2)); [ "$_wf_pause" -le 10 ] || _wf_pause=10
	done
}

# --- A cluster of the guests (alpha creates it, the others join through alpha) ---

# The cluster secret of this run: scripts/run-scenario.sh passes one per run on the kernel
# command line (mars_secret=<64 hex digits>); every guest's create-cluster and join-cluster
# take it from this file (mode 0600), so that the guests of a run form one cluster.
MARS_SECRET_FILE=/run/mars-secret
if [ -n "${mars_secret:-}" ]; then
	(umask 077 && printf '%s\n' "$mars_secret" > "$MARS_SECRET_FILE")
fi

# is_link PATH: PATH is a symlink and no tombstone.
is_link() { [ -L "$1" ] && [ "$(readlink "$1")" != .deleted ]; }

# mars_cluster_up: a fresh /mars on /dev/vdb, the module, and the cluster: create-cluster on
# alpha, join-cluster alpha on the others, then every guest's address is known here.
# Four KTAP checks.
mars_cluster_up() {
	check "mkfs.ext4 and mount /mars" sh -c "mkfs.ext4 -q -F /dev/vdb && mkdir -p /mars && mount -t ext4 /dev/vdb /mars"
	check "modprobe mars" modprobe mars
	if [ "$mars_host" = alpha ]; then
		check "create-cluster" marsadm create-cluster --secret-file="$MARS_SECRET_FILE"
	else
		wait_reachable alpha 60
		# Refused (nothing changed) until alpha's module listens: try again.
		check "join-cluster alpha" wait_for 120 marsadm join-cluster alpha --timeout 120 \
			--secret-file="$MARS_SECRET_FILE"
	fi
	check "every member is known" wait_for 120 mars_all_members_known
}

# mars_all_members_known: ips/ip-<host> of every guest of the scenario is here.
mars_all_members_known() {
	for _x in $(echo alpha bravo charlie delta | cut -d' ' -f1-"$mars_nguests"); do
		is_link "/mars/ips/ip-$_x" || return 1
	done
}

# device_md5 DEV BYTES: checksum of the first BYTES (whole MiB) of DEV, read past the page
# cache (a secondary's data device is written by the kernel underneath it).
device_md5() {
	dd if="$1" bs=1M count=$(($2 / 1048576)) iflag=direct 2>/dev/null | md5sum | cut -c1-32
}

# --- A logged device: /dev/mars/NAME on a transaction logger over a data device ---
# Through the TEST-ONLY hook /proc/sys/mars/test_logger of mars-testing.ko
# (rust/testing_logger.rs), logging into /mars/resource-NAME, which must be on a mounted
# /mars. Scenarios that can use the production path (modprobe mars, marsadm create-cluster,
# create-resource, down) do: io-filesystem, io-fio-verify, primary-device. The hook stays for
# what only it offers: io-crash pauses writeback (acknowledged data then exist only in the
# log) and reads the logger's counters; io-bad-input checks the hook's own refusals (the
# production refusals are marsadm-create's); logger-* need pause, abandon (a simulated crash)
# and the counters.

# mars_logged_device_load: loads the module variant the device needs.
mars_logged_device_load() {
	insmod "/lib/modules/$(uname -r)/extra/mars-testing.ko"
}

# mars_logged_device_up NAME DATADEV [force]: makes /dev/mars/NAME (recovering its log
# first, if there is one) and waits for the device node; fails, with the kernel's error on
# stderr, if it could not.
mars_logged_device_up() {
	mkdir -p "/mars/resource-$1" &&
		mars_logged_device_ctl "$1 /mars/resource-$1 $2${3:+ $3}" &&
		wait_for 10 test -b "/dev/mars/$1"
}

# mars_logged_device_down NAME: switches /dev/mars/NAME off cleanly (everything written
# back, the final replay position published). Fails while the device is open.
mars_logged_device_down() {
	mars_logged_device_ctl "-$1"
}

# mars_logged_device_crash NAME: switches it off as a crash would: whatever is not yet
# written back is forgotten, only the log keeps it.
mars_logged_device_crash() {
	mars_logged_device_ctl "!$1"
}

# mars_logged_device_ctl COMMAND: any other command of the hook (pause NAME, resume NAME).
mars_logged_device_ctl() {
	printf '%s\n' "$1" | dd of=/proc/sys/mars/test_logger bs=4096 2>/tmp/.mars-ctl.err ||
		{ grep -v 'records\|copied' /tmp/.mars-ctl.err >&2; return 1; }
}

# mars_logger_stat NAME KEY: one of the logger's counters (log, appended, durable, min_pos,
# max_pos, pending, batches, records, writebacks, replayed).
mars_logger_stat() {
	awk -v n="$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' \
		/proc/sys/mars/test_logger
}

# mars_written_back NAME: everything acknowledged so far is on the data device.
mars_written_back() {
	[ "$(mars_logger_stat "$1" min_pos)" = "$(mars_logger_stat "$1" appended)" ] &&
		[ "$(mars_logger_stat "$1" pending)" = 0 ]
}

# Plain TCP baseline of the benchmarks (fio's net engine, port 5001).
# tcp_listen MIB: starts a listener in the background (call it directly, not inside check:
# the caller's `wait` waits for it) that ends at the sender's close, and returns once it
# listens (0x1389 = 5001, state 0A). fio's listener counts each receive as a whole block, so
# with short receives (common in guests) it stops after far fewer bytes than its size, and
# the sender then dies of SIGPIPE with a bandwidth of 0: its size is 64 times what is sent.
tcp_listen() {
	fio --name=tcp --ioengine=net --listen --port=5001 --protocol=tcp --rw=read --bs=256k \
		--size=$(($1 * 64))M --eta=never > /tmp/tcp-listen.log 2>&1 &
	wait_for 60 grep -q ':1389 00000000:0000 0A' /proc/net/tcp
}
# tcp_send_kib HOST MIB: sends MIB MiB to HOST's listener, prints the bandwidth in KiB/s (0,
# with fio's output as comments, when fio failed).
tcp_send_kib() {
	fio --name=tcp --ioengine=net --hostname="$1" --port=5001 --protocol=tcp --rw=write --bs=256k \
		--size="$2"M --output-format=terse --terse-version=3 --eta=never > /tmp/tcp.terse 2>&1
	# Terse version 3: field 5 is the error, field 48 the write bandwidth in KiB/s.
	kib=$(awk -F';' '$1 == 3 && $5 == 0 { print $48 }' /tmp/tcp.terse | tail -1)
	case "$kib" in ''|0|*[!0-9]*) sed 's/^/# fio: /' /tmp/tcp.terse | cut -c1-200 >&2; kib=0 ;; esac
	echo "$kib"
}

# cpu_snapshot FILE: CPU ticks (user + system) per thread name (digits and anything after a
# '/' dropped, so kworker/0:1H counts as kworker), plus a line "= BUSY TOTAL" of /proc/stat
# (TOTAL: every CPU's time, idle, iowait and stolen included). Tick-based: shares are rough.
cpu_snapshot() {
	{
		for s in /proc/[0-9]*/task/[0-9]*/stat; do cat "$s" 2>/dev/null; done |
			awk '{ n = $0; sub(/^[^(]*\(/, "", n); c = n; sub(/\).*$/, "", c); sub(/^.*\) /, "", n)
				split(n, f, " "); sub(/\/.*$/, "", c); gsub(/[0-9]+$/, "", c); t[c] += f[12] + f[13] }
				END { for (c in t) print c, t[c] }'
		awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8; print "=", busy, busy + $5 + $6 + $9 }' /proc/stat
	} > "$1"
}
# cpu_report BEFORE AFTER: prints the share of the guest's CPU time each thread name used
# between two snapshots (the busiest eight), and how busy the CPUs were.
cpu_report() {
	awk 'FNR == NR { b[$1] = $2; bt[$1] = $3; next }
		$1 == "=" { busy = $2 - b["="]; total = $3 - bt["="]; next }
		{ d[$1] = $2 - b[$1] }
		END { if (total <= 0) exit
			printf "# cpu: %.0f%% busy;", 100 * busy / total
			for (i = 0; i < 8; i++) { m = ""; for (c in d) if (m == "" || d[c] > d[m]) m = c
				if (m == "" || d[m] <= 0) break; printf " %s %.0f%%", m, 100 * d[m] / total; delete d[m] }
			print "" }' "$1" "$2"
}

# --- DRBD 8.4 (built into the guest kernel): the benchmarks' DRBD baselines ---
# drbd-utils' 8.4 tools without a configuration file: resource "bench", minor 0 (/dev/drbd0),
# external metadata (flex-external: the whole META device). Resync at a fixed maximal rate
# (c-plan-ahead 0, resync-rate 4 GiB/s: the dynamic controller and the 250 KiB/s default would
# throttle it); everything else at DRBD's defaults (disk flushes, al-extents 1237, buffers).
DRBDSETUP=/lib/drbd/drbdsetup-84

# drbd_attach DEV META: fresh metadata on META, /dev/drbd0 over DEV (StandAlone, Secondary,
# Inconsistent). META's first 4 MiB are zeroed first: drbdmeta refuses (even with --force)
# to write over what looks like a filesystem, e.g. a /mars of an earlier part. The metadata
# remember a peer that took 1 MiB requests, as on any DRBD that was ever connected: with a
# fresh metadata's 0, DRBD 8.4 splits every write into 4 KiB requests until a peer connects.
drbd_attach() {
	grep -q '^version: 8\.4\.' /proc/drbd &&
		dd if=/dev/zero of="$2" bs=1M count=4 oflag=direct 2>/dev/null &&
		$DRBDSETUP new-resource bench && $DRBDSETUP new-minor bench 0 0 &&
		drbdmeta --force 0 v08 "$2" flex-external create-md --peer-max-bio-size=1M &&
		$DRBDSETUP attach 0 "$1" "$2" flexible --c-plan-ahead=0 --resync-rate=4194304 &&
		wait_for 10 test -b /dev/drbd0
}

# drbd_up_single DEV META: /dev/drbd0 over DEV alone, Primary (--force: no peer, nothing to
# sync; writes are tracked in the bitmap for a peer that never comes, as DRBD does whenever
# its peer is away).
drbd_up_single() {
	drbd_attach "$1" "$2" && $DRBDSETUP primary 0 --force &&
		[ "$($DRBDSETUP dstate 0)" = UpToDate/DUnknown ]
}

# drbd_up_pair DEV META PEER-INDEX [PROTOCOL]: /dev/drbd0 over DEV, connected to the guest
# 10.77.0.PEER-INDEX (port 7789) with PROTOCOL (default A, asynchronous like MARS); both
# sides Secondary and Inconsistent: `$DRBDSETUP primary 0 --force` on one side starts the
# full initial resync from it. Waits up to 120 s for the connection.
drbd_up_pair() {
	drbd_attach "$1" "$2" &&
		$DRBDSETUP connect bench "ipv4:10.77.0.$mars_index:7789" "ipv4:10.77.0.$3:7789" \
			--protocol="${4:-A}" &&
		wait_for 120 drbd_connected
}

# drbd_connected: /dev/drbd0 is connected to its peer (also while syncing).
drbd_connected() { case "$($DRBDSETUP cstate 0)" in Connected|Sync*) ;; *) return 1 ;; esac; }

# drbd_disconnected: /dev/drbd0 lost its peer (e.g. the peer switched off) or never had one.
drbd_disconnected() { ! drbd_connected; }

# drbd_in_sync: both sides UpToDate (the resync, if any, is over).
drbd_in_sync() { [ "$($DRBDSETUP dstate 0)" = UpToDate/UpToDate ]; }

# drbd_down: /dev/drbd0 and the resource gone (disconnected, detached).
drbd_down() { $DRBDSETUP down bench && ! grep -q '^ *0: cs:' /proc/drbd; }

# --- marsadm events: the stream recorded during a scenario ---
# A scenario records `marsadm events --json` in the background while it acts (handover,
# network cut, sync, emergency) and checks at the end that the stream carried the expected
# changes in their order. Only `change`/`create` lines count as steps (the initial `exists`
# lines tell nothing about what happened afterwards): a stream that stops delivering fails.

# events_start NAME [ARGS...]: `marsadm events --json ARGS` into /tmp/events-NAME.json
# (stderr into .err) in the background; returns once the initial state is out (`exists -`).
# One KTAP check. The recorder runs until events_stop NAME.
events_start() {
	_en=$1; shift
	marsadm events --json "$@" > "/tmp/events-$_en.json" 2> "/tmp/events-$_en.err" &
	echo $! > "/tmp/events-$_en.pid"
	check "events $_en: marsadm events --json${*:+ $*} started" \
		wait_for 60 grep -q '^{"event":"exists","type":"-"}$' "/tmp/events-$_en.json"
}

# events_ended PID: the process is gone or a zombie (ended, not yet waited for).
events_ended() { [ ! -e "/proc/$1/stat" ] || awk '{ exit $3 != "Z" }' "/proc/$1/stat" 2>/dev/null; }

# events_stop NAME: Ctrl-C (SIGINT) ends the recorder within 30 s, with exit status 0 and
# nothing on stderr. One KTAP check.
events_stop() {
	_ep=$(cat "/tmp/events-$1.pid")
	kill -INT "$_ep"
	if wait_for 30 events_ended "$_ep"; then
		wait "$_ep"; _erc=$?
	else
		kill -KILL "$_ep"; wait "$_ep"; _erc=timeout
	fi
	echo "# events $1: $(grep -c '"event":"change"' "/tmp/events-$1.json") change lines, $(wc -l < "/tmp/events-$1.json") in all"
	check "events $1: SIGINT ends the stream cleanly (exit $_erc, nothing on stderr)" \
		sh -c "[ '$_erc' = 0 ] && ! [ -s /tmp/events-$1.err ] || { cat /tmp/events-$1.err; exit 1; }"
}

# events_in_order FILE STEP...: each STEP matches a `change` or `create` line of FILE at or
# after the line of the step before (steps met by one line are simultaneous as far as the
# stream can tell). A STEP is space-separated conditions on the line's fields: key=value
# (equal), key=* (present, not "-": a removed field), key~ERE (value matches). On failure it
# prints the first step not met and the stream's change lines (the last 40).
events_in_order() {
	_ef=$1; shift
	printf '%s\n' "$@" > "$_ef.steps"
	awk 'function value(line, key,   at, rest) {
			at = index(line, "\"" key "\":\"")
			if (at == 0) return "\001"
			rest = substr(line, at + length(key) + 4)
			return substr(rest, 1, index(rest, "\"") - 1)
		}
		function matches(line, step,   nc, c, ci, k, v, op, want) {
			nc = split(step, c, " ")
			for (ci = 1; ci <= nc; ci++) {
				if (match(c[ci], /[=~]/) == 0) return 0
				k = substr(c[ci], 1, RSTART - 1); op = substr(c[ci], RSTART, 1); want = substr(c[ci], RSTART + 1)
				v = value(line, k)
				if (v == "\001") return 0
				if (op == "~") { if (v !~ want) return 0 }
				else if (want == "*") { if (v == "-") return 0 }
				else if (v != want) return 0
			}
			return 1
		}
		FNR == NR { steps[++nsteps] = $0; next }
		{ ev = value($0, "event") }
		ev != "change" && ev != "create" { next }
		{ while (met < nsteps && matches($0, steps[met + 1])) { met++; print "# step " met " met by line " FNR ": " $0 } }
		END {
			if (met == nsteps) exit 0
			print "# step " met + 1 " not met: " steps[met + 1]
			exit 1
		}' "$_ef.steps" "$_ef" || {
		echo "# the change lines of $_ef (the last 40):"
		grep -v '"event":"exists"' "$_ef" | tail -n 40 | sed 's/^/#   /'
		return 1
	}
}

# events_expect NAME DESCRIPTION STEP...: a KTAP check of events_in_order on the recording.
events_expect() {
	_en=$1 _ed=$2; shift 2
	check "events $_en: $_ed" events_in_order "/tmp/events-$_en.json" "$@"
}

# events_wait NAME SECONDS DESCRIPTION STEP...: as events_expect while the recorder runs, waiting
# up to SECONDS for the steps to arrive.
events_wait() {
	_en=$1 _es=$2 _ed=$3; shift 3
	check "events $_en: $_ed" wait_for "$_es" events_in_order "/tmp/events-$_en.json" "$@"
}

# events_sigpipe: `marsadm events | head -n 1` returns within 60 s (the stream notices that
# its reader went away and ends), and marsadm exits 0. One KTAP check.
events_pipe_ends() {
	rm -f /tmp/events-pipe.rc
	timeout 60 sh -c '{ marsadm events; echo $? > /tmp/events-pipe.rc; } | head -n 1' > /dev/null ||
		{ echo "it did not end within 60 s"; return 1; }
	[ "$(cat /tmp/events-pipe.rc 2>/dev/null)" = 0 ] || { echo "marsadm events exited with '$(cat /tmp/events-pipe.rc 2>/dev/null)'"; return 1; }
}
events_sigpipe() {
	check "marsadm events | head -n 1 ends, marsadm exit 0" events_pipe_ends
}
