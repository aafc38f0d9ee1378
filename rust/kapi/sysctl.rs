// SPDX-License-Identifier: GPL-2.0
//! /proc/sys registration. Each entry is a Rust object that shows itself as text and parses
//! text written to it; this file owns the `ctl_table` plumbing and the one C callback.
//!
//! Writes are all or nothing: a write must arrive in one piece at offset 0, and an entry that
//! rejects the text keeps its old value (the caller sees the entry's error, EINVAL for bad
//! values).

use core::fmt;
use core::ptr::NonNull;

use crate::mars_core::text::FixedBuf;
use kernel::bindings;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::prelude::*;
use kernel::str::CStr;

/// The largest text an entry may show (including the trailing newline).
const SHOW_CAPACITY: usize = 512;

/// One file under /proc/sys.
pub(crate) trait SysctlEntry: Sync {
    /// The file name.
    fn name(&self) -> &'static CStr;
    /// Permission bits, e.g. 0o644.
    fn mode(&self) -> u16;
    /// Called once per read from the start of the file, before [`SysctlEntry::show`]; a read
    /// that continues at an offset, or the empty read at end of file, does not call it.
    fn read_started(&self) {}
    /// Writes the current text, without trailing newline.
    fn show(&self, out: &mut dyn fmt::Write) -> fmt::Result;
    /// Parses `input` (the bytes written, possibly with a trailing newline) and applies it.
    /// On error nothing may have changed.
    fn store(&self, input: &[u8]) -> Result;
}

/// Where a table entry's `data` points: a thin pointer to the (fat) entry reference.
struct Slot {
    entry: &'static dyn SysctlEntry,
}

/// A registered /proc/sys directory; unregistered on drop.
///
/// # Invariants
/// `header` came from a successful `register_sysctl_sz` over `table`, whose entries' `data`
/// point into `slots`; neither vector is modified while registered, so both heap buffers stay
/// where the sysctl core saw them.
pub(crate) struct Registration {
    header: NonNull<bindings::ctl_table_header>,
    _table: KVec<bindings::ctl_table>,
    _slots: KVec<Slot>,
}

// SAFETY: the registration is only a handle; the sysctl core synchronises its own use of the
// header, and the entries it calls into are `Sync`.
unsafe impl Send for Registration {}
// SAFETY: as above; `&Registration` gives no access to anything.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `entries` as files of the directory `/proc/sys/<path>`.
    pub(crate) fn register(
        path: &'static CStr,
        entries: &[&'static dyn SysctlEntry],
    ) -> Result<Self> {
        let mut slots = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
        for entry in entries {
            slots.push(Slot { entry: *entry }, GFP_KERNEL)?;
        }
        let mut table = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
        for slot in slots.iter() {
            let entry = bindings::ctl_table {
                procname: slot.entry.name().as_char_ptr(),
                data: (slot as *const Slot).cast_mut().cast(),
                maxlen: 0,
                mode: slot.entry.mode(),
                proc_handler: Some(proc_handler),
                ..Default::default()
            };
            table.push(entry, GFP_KERNEL)?;
        }
        // SAFETY: `path` is NUL-terminated and static; `table` holds `table.len()` initialised
        // entries whose names are static and whose data point into `slots`; both vectors are
        // moved into the returned value unchanged, which unregisters before dropping them.
        let header = unsafe {
            bindings::register_sysctl_sz(path.as_char_ptr(), table.as_mut_ptr(), table.len())
        };
        let header = NonNull::new(header).ok_or(ENOMEM)?;
        // INVARIANT: registered over `table`, whose data point into `slots`.
        Ok(Registration {
            header,
            _table: table,
            _slots: slots,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `header` is a live registration; after this call the
        // sysctl core no longer uses `table` or `slots` (it waits for running handlers).
        unsafe { bindings::unregister_sysctl_table(self.header.as_ptr()) };
    }
}

/// The one `proc_handler` of every entry: dispatches to the entry's show/store.
///
/// # Safety
/// Called by the sysctl core only, with `ctl` one of the entries registered by
/// [`Registration::register`], `buffer` a kernel buffer of `*lenp` bytes (6.12 copies user
/// data in and out itself), and `lenp`/`ppos` valid.
unsafe extern "C" fn proc_handler(
    ctl: *const bindings::ctl_table,
    write: kernel::ffi::c_int,
    buffer: *mut kernel::ffi::c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> kernel::ffi::c_int {
    // SAFETY: per the function contract `ctl` is our entry and its data points to a `Slot`
    // owned by the registration, which outlives every call of this handler.
    let slot = unsafe { &*(*ctl).data.cast::<Slot>() };
    // SAFETY: `lenp` and `ppos` are valid per the function contract.
    let (len, pos) = unsafe { (*lenp, *ppos) };
    if write != 0 {
        if pos != 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: `buffer` holds `len` readable bytes per the function contract.
        let input = unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), len) };
        match slot.entry.store(input) {
            Ok(()) => {
                // SAFETY: `ppos` is valid; `len` bytes were consumed.
                unsafe { *ppos = pos.saturating_add(i64::try_from(len).unwrap_or(i64::MAX)) };
                0
            }
            Err(e) => e.to_errno(),
        }
    } else {
        if pos == 0 {
            slot.entry.read_started();
        }
        let mut text = FixedBuf::<SHOW_CAPACITY>::new();
        if slot.entry.show(&mut text).is_err() || fmt::Write::write_str(&mut text, "\n").is_err() {
            return EINVAL.to_errno();
        }
        let bytes = text.as_bytes();
        let start = usize::try_from(pos).unwrap_or(usize::MAX);
        let rest = bytes.get(start..).unwrap_or(&[]);
        let n = core::cmp::min(len, rest.len());
        // SAFETY: `buffer` has room for `len >= n` bytes; `rest` has `n` readable bytes; the
        // two do not overlap (ours is on the stack).
        unsafe { core::ptr::copy_nonoverlapping(rest.as_ptr(), buffer.cast::<u8>(), n) };
        // SAFETY: `lenp` and `ppos` are valid per the function contract.
        unsafe {
            *lenp = n;
            *ppos = pos.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
        }
        0
    }
}
