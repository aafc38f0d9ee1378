// SPDX-License-Identifier: GPL-2.0
//! marsadm: the operator's tool for MARS.
//!
//! marsadm never talks to the kernel directly except through the `/mars` symlink tree and
//! `/proc/sys/mars`: it writes links (temporary name, Lamport mtime, rename, trigger) and reads
//! the kernel's indicators back. Each command group lives in its own file.

mod cmd_log_dump;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Administration tool for MARS replicated block devices.
#[derive(Parser)]
#[command(name = "marsadm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the versions of marsadm and of the formats it speaks.
    Version,
    /// List the records of a transaction logfile and report its first defect.
    LogDump(cmd_log_dump::LogDumpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "marsadm {} (tree {}, log format {})",
                env!("CARGO_PKG_VERSION"),
                mars_core::version::SYMLINK_TREE_VERSION,
                mars_core::version::LOG_FORMAT_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::LogDump(args) => cmd_log_dump::run(&args),
    }
}
