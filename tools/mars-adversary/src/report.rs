// SPDX-License-Identifier: GPL-2.0
//! The one-line, machine-readable result every subcommand prints: `key=value` pairs separated
//! by single spaces, values without spaces (a scenario reads them with `sed` or `grep -o`).

use std::fmt;
use std::io;

/// The result line of one attack.
#[derive(Default)]
pub(crate) struct Report {
    fields: Vec<(&'static str, String)>,
}

impl Report {
    /// Adds `key=value`; spaces in the value become `_`.
    pub(crate) fn set(&mut self, key: &'static str, value: impl fmt::Display) -> &mut Report {
        let value = value.to_string().replace(char::is_whitespace, "_");
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => self.fields.push((key, value)),
        }
        self
    }

    /// Moves the report out (for `return report.set(..).take()`).
    pub(crate) fn take(&mut self) -> Report {
        std::mem::take(self)
    }

    /// Records an IO error under `error` (`connect`, `closed`, `timeout` or its text).
    pub(crate) fn error(&mut self, what: &str, e: &io::Error) -> &mut Report {
        let kind = match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => "closed".to_string(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timeout".to_string(),
            io::ErrorKind::ConnectionRefused => "refused_connect".to_string(),
            _ => e.to_string(),
        };
        self.set("error", format!("{what}:{kind}"))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (key, value) in &self.fields {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}
