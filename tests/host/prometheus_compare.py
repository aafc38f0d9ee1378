#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compares `marsadm view --prometheus` (parsed by prometheus_client's text parser) with
`marsadm view --json` of the same tree and with the fake /proc/sys/mars of
tests/host/prometheus.sh. Usage: prometheus_compare.py VIEW.json METRICS.txt PROC_DIR.
Prints KTAP lines; exits 0 iff every check passed."""
import json
import os
import sys

from prometheus_client.parser import text_string_to_metric_families

view = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
proc = sys.argv[3]
checks = []


def ok(cond, what):
    checks.append((bool(cond), what))


try:
    families = list(text_string_to_metric_families(text))
    parsed = True
except Exception as e:  # the parser's verdict is the first check
    families, parsed = [], False
    print(f"# parse error: {e}")
ok(parsed and families, "the exposition parses with prometheus_client")

got = {}
types = {}
twice = []
for fam in families:
    for s in fam.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in got:
            twice.append(key)
        got[key] = s.value
        types[s.name] = fam.type
ok(not twice, f"no sample appears twice (twice: {twice})")

host = view["host"]
want = {}


def expect(name, value, **labels):
    if value is None:
        return
    if isinstance(value, bool):
        value = 1.0 if value else 0.0
    want[(name, tuple(sorted(labels.items())))] = float(value)


k = view["kernel"]
expect("mars_module_loaded", k["module_loaded"], host=host)
expect("mars_kernel_alive", k["alive"], host=host)
sp = view["space"]
expect("mars_emergency_level", sp["emergency_level"], host=host)
if sp["rest_space_mib"] is not None:
    expect("mars_space_free_bytes", sp["rest_space_mib"] * 1048576, host=host)
if sp["total_space_mib"] is not None:
    expect("mars_space_total_bytes", sp["total_space_mib"] * 1048576, host=host)
counters = {
    "log_fetch_bytes": "mars_log_fetched_bytes_total",
    "sync_data_bytes": "mars_sync_received_data_bytes_total",
    "sync_sum_bytes": "mars_sync_received_digest_bytes_total",
    "sync_copied_bytes": "mars_sync_copied_bytes_total",
    "sync_served_bytes": "mars_sync_served_bytes_total",
    "net_refused_entries": "mars_net_refused_entries_total",
    "net_refused_connections": "mars_net_refused_connections_total",
}
for f, name in counters.items():
    expect(name, int(open(os.path.join(proc, f)).read()), host=host)
expect("mars_sync_connections", int(open(os.path.join(proc, "sync_connections")).read()), host=host)
# The peers of the fixture: bravo's heartbeat 9.623456789 s old (recent), charlie's 10000.123456789 s.
expect("mars_peer_connected", 1, host=host, peer="bravo")
expect("mars_peer_heartbeat_age_seconds", 9.623456789, host=host, peer="bravo")
expect("mars_peer_connected", 0, host=host, peer="charlie")
expect("mars_peer_heartbeat_age_seconds", 10000.123456789, host=host, peer="charlie")

for r in view["resources"]:
    lab = {"resource": r["name"], "host": host}
    expect("mars_resource_info", 1, role=r["role"], disk_state=r["disk_state"],
           repl_state=r["repl_state"], designated_primary=r["designated_primary"], **lab)
    expect("mars_resource_member", r["member"], **lab)
    expect("mars_resource_consistent", r["consistent"], **lab)
    expect("mars_resource_size_bytes", r["size"], **lab)
    expect("mars_resource_sync_bytes", r["sync_status"], **lab)
    if r["sync_status"] is not None and r["size"]:
        expect("mars_resource_sync_ratio", min(r["sync_status"], r["size"]) / r["size"], **lab)
    logs = r["logfiles"]
    rp = r["replay"]
    if rp is not None:
        expect("mars_resource_replay_logfile_number", rp["nr"], **lab)
        expect("mars_resource_replay_position_bytes", rp["min_pos"], **lab)
        lag = sum(max(0, l["size"] - rp["min_pos"]) if l["name"] == rp["logfile"]
                  else (l["size"] if l["nr"] > rp["nr"] else 0) for l in logs)
        expect("mars_resource_replay_lag_bytes", lag, **lab)
    expect("mars_resource_logfiles", len(logs), **lab)
    expect("mars_resource_logfiles_bytes", sum(l["size"] for l in logs), **lab)
    if logs:
        expect("mars_resource_logfile_newest_number", max(l["nr"] for l in logs), **lab)
    for name, s in r["switches"].items():
        expect("mars_resource_switch_on", s["switch"], switch=name, **lab)
        expect("mars_resource_switch_kernel_on", s["indicator"], switch=name, **lab)
    e = r["emergency"]
    expect("mars_resource_emergency_logging_stopped", e["logging_stopped"], **lab)
    expect("mars_resource_emergency", e["has_emergency"], **lab)
    expect("mars_resource_emergency_primary_stopped", e["primary_stopped"] is not None, **lab)
    expect("mars_resource_emergency_limit_ratio", e["limit_percent"] / 100, **lab)
    sb = r["split_brain"]
    expect("mars_resource_split_brain", sb["detected"], **lab)
    expect("mars_resource_split_brain_suspected", sb["suspected"], **lab)
    expect("mars_resource_split_brain_here", sb["this_host_forked"], **lab)
    expect("mars_resource_messages", len(r["messages"]), **lab)
    for what, p in r["progress"].items():
        expect("mars_resource_progress_rest_bytes", p["rest_bytes"], activity=what, **lab)
        expect("mars_resource_progress_rate_bytes_per_second", p["rate_bytes_per_second"], activity=what, **lab)
        expect("mars_resource_progress_eta_seconds", p["eta_seconds"], activity=what, **lab)
    for peer, p in r["peers"].items():
        expect("mars_resource_peer_sync_bytes", p["sync_bytes"], peer=peer, **lab)
        expect("mars_resource_peer_replay_logfile_number", p["replay_logfile_number"], peer=peer, **lab)
        expect("mars_resource_peer_replay_position_bytes", p["replay_position_bytes"], peer=peer, **lab)
        expect("mars_resource_fetched_bytes_total", p["fetched_bytes"], peer=peer, **lab)
        expect("mars_resource_logged_bytes_total", p["logged_bytes"], peer=peer, **lab)
        expect("mars_resource_peer_replay_lag_seconds", p["replay_lag_seconds"], peer=peer, **lab)
        for what, rate in p["rate_bytes_per_second"].items():
            expect("mars_resource_peer_rate_bytes_per_second", rate, peer=peer, activity=what, **lab)

missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
ok(not missing, f"every value of view --json is exported (missing: {missing})")
ok(not extra, f"nothing is exported that view --json lacks (extra: {extra})")
wrong = [(key, got[key], v) for key, v in want.items()
         if key in got and abs(got[key] - v) > 1e-9 * max(1.0, abs(v))]
ok(not wrong, f"the values equal view --json's (differing: {wrong})")
ok(all(t == "counter" for n, t in types.items() if n.endswith("_total"))
   and all(types.get(n) == "counter" for n in counters.values()), "the _total metrics are counters")
ok(all(t == "gauge" for n, t in types.items() if not n.endswith("_total")), "the others are gauges")


def val(name, **labels):
    return got.get((name, tuple(sorted(labels.items()))))


# The fixture exercises what matters (so the comparison is not vacuous).
ok(val("mars_resource_replay_lag_bytes", resource="r0", host=host) == 7000,
   "r0's replay lag is the rest of logfile 1 after position 1000 plus logfile 2 (7000 bytes)")
ok(val("mars_resource_sync_ratio", resource="r1", host=host) == 0.5, "r1 is half synced")
ok(val("mars_resource_split_brain", resource="r1", host=host) == 1, "r1 shows the split brain")
ok(val("mars_resource_emergency_logging_stopped", resource="r0", host=host) == 1
   and val("mars_emergency_level", host=host) == 1, "the emergency of r0 and the level of /mars")
ok(val("mars_resource_messages", resource="r0", host=host) == 1, "r0's error message is counted")
ok(val("mars_resource_progress_rest_bytes", resource="r1", host=host, activity="sync") == 2097152
   and val("mars_resource_progress_rate_bytes_per_second", resource="r1", host=host, activity="sync") == 1048576
   and val("mars_resource_progress_eta_seconds", resource="r1", host=host, activity="sync") == 2,
   "r1's sync: 2 MiB to go at the kernel's 1024 KiB/s, 2 s")
ok(val("mars_resource_fetched_bytes_total", resource="r0", host=host, peer="bravo") == 123456789
   and val("mars_resource_peer_rate_bytes_per_second", resource="r0", host=host, peer="bravo", activity="fetch") == 300 * 1024
   and val("mars_resource_fetched_bytes_total", resource="r0", host=host, peer="alpha") == 4096
   and val("mars_resource_peer_rate_bytes_per_second", resource="r0", host=host, peer="alpha", activity="fetch") == 0,
   "r0's fetch totals and rates per member, from actual-<peer>/amount-file_bytes and amount-file_rate")
ok(val("mars_resource_peer_sync_bytes", resource="r0", host=host, peer="bravo") == 4096
   and val("mars_resource_peer_replay_logfile_number", resource="r0", host=host, peer="bravo") == 2
   and val("mars_resource_peer_replay_position_bytes", resource="r0", host=host, peer="bravo") == 1234
   and val("mars_resource_peer_rate_bytes_per_second", resource="r0", host=host, peer="bravo", activity="replay") == 20 * 1024
   and val("mars_resource_peer_rate_bytes_per_second", resource="r0", host=host, peer="bravo", activity="sync") is None,
   "bravo's sync and replay progress and its replay rate in r0; no sync rate it does not publish")
ok(val("mars_resource_logged_bytes_total", resource="r0", host=host, peer="alpha") == 8000
   and val("mars_resource_logged_bytes_total", resource="r0", host=host, peer="bravo") is None,
   "r0's bytes logged per member, from actual-<peer>/amount-log_bytes (bravo never logged)")
ok(val("mars_resource_peer_replay_lag_seconds", resource="r2", host=host, peer="charlie") == 100
   and val("mars_resource_peer_replay_lag_seconds", resource="r2", host=host, peer="alpha") is None,
   "on r2's primary alpha, charlie (behind, its newest replayed record stamped 100 s ago) lags 100 s; none for the primary")
ok(val("mars_resource_peer_replay_lag_seconds", resource="r2", host=host, peer="bravo") == 0,
   "on r2's primary alpha, bravo replayed all alpha's logger appended (not the zeros after it): lag 0")
ok(val("mars_resource_peer_replay_lag_seconds", resource="r3", host=host, peer="alpha") == 10
   and val("mars_resource_peer_replay_lag_seconds", resource="r3", host=host, peer="charlie") is None,
   "secondary alpha of r3, nothing left to fetch or replay: lag = age of bravo's heartbeat in whole seconds (10 s); none for another secondary")
ok(val("mars_resource_progress_rate_bytes_per_second", resource="r1", host=host, activity="fetch") == 50 * 1024,
   "r1's fetch rate in the progress is the kernel's amount-file_rate (50 KiB/s)")
ok(val("mars_resource_info", resource="r0", host=host, role="Primary", disk_state="UpToDate",
       repl_state="EmergencyMode", designated_primary=host) == 1, "r0's states as labels")

print(f"1..{len(checks)}")
for i, (good, what) in enumerate(checks, 1):
    print(f"{'ok' if good else 'not ok'} {i} {what}")
sys.exit(0 if all(g for g, _ in checks) else 1)
