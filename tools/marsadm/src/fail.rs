// SPDX-License-Identifier: GPL-2.0
//! Why a command did not succeed, and its exit code.
//!
//! Exit codes of the tree commands:
//!
//! * 0: done;
//! * 1: refused or failed; the tree is as it was before the command;
//! * 2: bad usage (from the argument parser);
//! * 3: the links were written, but the kernel did not confirm the change within `--timeout`
//!   (it may still do so later: MARS is asynchronous).

use std::process::ExitCode;

/// Exit code: refused or failed, nothing changed.
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit code: written, but not yet confirmed by the kernel.
pub(crate) const EXIT_NOT_CONFIRMED: u8 = 3;

/// A failed command: the exit code and the lines that explain it (the first is the reason,
/// the others hints).
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: u8,
    pub(crate) lines: Vec<String>,
}

impl Fail {
    /// The command refused to act or failed and changed nothing.
    pub(crate) fn refused(reason: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_REFUSED,
            lines: vec![reason.into()],
        }
    }

    /// The links are written, the kernel has not yet acted on them.
    pub(crate) fn not_confirmed(reason: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_NOT_CONFIRMED,
            lines: vec![reason.into()],
        }
    }

    /// Adds an explanation or a hint.
    pub(crate) fn line(mut self, text: impl Into<String>) -> Fail {
        self.lines.push(text.into());
        self
    }

    /// Prints the reason to stderr and returns the exit code.
    pub(crate) fn report(&self, command: &str) -> ExitCode {
        let mut lines = self.lines.iter();
        if let Some(first) = lines.next() {
            eprintln!("marsadm {command}: {first}");
        }
        for line in lines {
            eprintln!("  {line}");
        }
        ExitCode::from(self.code)
    }
}

/// The result of a command.
pub(crate) type CmdResult = Result<(), Fail>;
