// SPDX-License-Identifier: GPL-2.0
//! The bricks MARS is built from, one per file (the brick model is in `crate::brick`).

pub(crate) mod bio_brick;
pub(crate) mod if_brick;
pub(crate) mod trans_logger;
