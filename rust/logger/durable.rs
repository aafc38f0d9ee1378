// SPDX-License-Identifier: GPL-2.0
//! The running loggers by resource, so the log server (`net::logs`) can serve a logfile this
//! host writes up to the logger's in-memory durable end, instead of the position in its
//! version link (which the logger writes only every `logger_report_interval_s` seconds, and
//! which would bound a secondary's lag from below by that interval).
//!
//! The strategy adds a logger when it starts one and removes it after switching it off (the
//! final version link then covers everything durable). Process context only.

use crate::bricks::trans_logger::TransLogger;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// One logger and its resource name.
struct Entry {
    res: KVec<u8>,
    logger: Arc<TransLogger>,
}

/// The running loggers of this host.
#[pin_data]
pub(crate) struct Loggers {
    #[pin]
    list: Mutex<KVec<Entry>>,
}

impl Loggers {
    /// An empty registry.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Loggers { list <- new_mutex!(KVec::new(), "mars_loggers") }),
            GFP_KERNEL,
        )
    }

    /// Adds the logger of resource `res` (replacing an older entry of it).
    pub(crate) fn add(&self, res: &[u8], logger: Arc<TransLogger>) -> Result {
        let mut name = KVec::with_capacity(res.len(), GFP_KERNEL)?;
        name.extend_from_slice(res, GFP_KERNEL)?;
        let old = {
            let mut list = self.list.lock();
            match list.iter_mut().find(|e| e.res.as_slice() == res) {
                Some(entry) => Some(core::mem::replace(&mut entry.logger, logger)),
                None => {
                    list.push(Entry { res: name, logger }, GFP_KERNEL)?;
                    None
                }
            }
        };
        // A logger is dropped outside the lock.
        drop(old);
        Ok(())
    }

    /// Removes the logger of resource `res` (the caller still holds a reference to it).
    pub(crate) fn remove(&self, res: &[u8]) {
        let old = {
            let mut list = self.list.lock();
            let mut kept = KVec::new();
            let mut removed = KVec::new();
            for entry in core::mem::take(&mut *list) {
                let target = if entry.res.as_slice() == res {
                    &mut removed
                } else {
                    &mut kept
                };
                // `kept` never outgrows the old list's length, `removed` holds at most one
                // entry; should an allocation fail anyway, that entry is dropped here (the
                // strategy still holds its own reference, so no logger is freed under the lock).
                let _ = target.push(entry, GFP_KERNEL);
            }
            *list = kept;
            removed
        };
        drop(old);
    }

    /// The in-memory durable end of logfile `nr` of resource `res`, when its logger on this
    /// host writes it now.
    pub(crate) fn durable_end(&self, res: &[u8], nr: u32) -> Option<u64> {
        let list = self.list.lock();
        list.iter()
            .find(|e| e.res.as_slice() == res)
            .and_then(|e| e.logger.durable_end(nr))
    }
}
