// SPDX-License-Identifier: GPL-2.0
//! The parts of the transaction logger (`bricks::trans_logger`) that are not the brick
//! itself: the log writer, shadows and their index, the logger's own requests, recovery at
//! start-up and the /mars links it maintains. The decisions are in `mars_core::logger`,
//! `mars_core::replay_position` and `mars_core::log_recovery`.

pub(crate) mod durable;
pub(crate) mod facts;
pub(crate) mod links;
pub(crate) mod log_writer;
pub(crate) mod own_io;
pub(crate) mod recovery;
pub(crate) mod replayer;
pub(crate) mod ring;
pub(crate) mod shadow;
