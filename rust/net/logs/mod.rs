// SPDX-License-Identifier: GPL-2.0
//! Log shipping over port 7778 (`Documentation/protocol.rst`, "Log fetch messages").
//!
//! Server side (`serve.rs`, [`serve_logs`], in a `mars_serve` thread after the handshake): answers
//! `LogRead` for logfiles of `/mars/resource-*/` with `LogData`, never beyond the *durable
//! end*: for a logfile this host writes, the running logger's in-memory durable end
//! (`logger::durable`), else the position in its own version link (the logger writes it only
//! after the data are durable, every `logger_report_interval_s` and at every switch); for a
//! logfile this host fetched from another, its local size (the fetcher syncs each range). A logfile is finished (`Eof`) once a later logfile of the resource exists
//! here and the durable end is its size.
//!
//! Client side (`fetch.rs`, [`Fetcher`], one `mars_fetch` thread per resource of a secondary
//! with `todo-<host>/connect` on, run step by step by the client session loop `net::session`): what to fetch next and up to where is
//! `mars_core::replica::fetch_step` (the function `tools/sim` checks), over a
//! `logger::facts::Snapshot` of the resource directory: from the logfile `replay-<host>`
//! names on, the first one whose local copy is shorter than its origin's durable end; the
//! range never goes beyond that end. The origin's durable end is the position in its version
//! link, raised by the `durable_end` of the origin's own recent answers. When nothing is
//! missing, the thread asks the origin of the newest logfile for its durable end every
//! 200 ms (a one-byte read). A range is read over `log_fetch_sockets` parallel connections
//! to the origin (`ips/ip-<origin>`, port + 1), chunk `i` on connection `i mod n`, and
//! appended in order; the copy is synced once per range (at most 16 MiB), then the strategy
//! is asked for a round (which lets the replay go on). `log_fetch_speed_limit_kib` paces the
//! chunks of all fetch threads together (`mars_core::pace`). After any failure it reconnects with
//! the session loop's backoff, from 1 s doubling to 30 s.

mod fetch;
mod serve;

pub(crate) use fetch::Fetcher;
pub(super) use serve::serve_logs;
