// SPDX-License-Identifier: GPL-2.0
//! Error codes that `kernel::error::code` of 6.12 lacks.

use kernel::bindings;
use kernel::error::Error;

/// Builds an error from a positive errno constant of the bindings.
fn from_errno(errno: u32) -> Error {
    Error::from_errno(i32::try_from(errno).map_or(-5, |e| -e))
}

/// ENOTCONN: an input is not connected.
pub(crate) fn enotconn() -> Error {
    from_errno(bindings::ENOTCONN)
}

/// EOPNOTSUPP: an operation that is not supported (BLK_STS_NOTSUPP for block requests).
pub(crate) fn eopnotsupp() -> Error {
    from_errno(bindings::EOPNOTSUPP)
}

/// ENAMETOOLONG: a name does not fit.
pub(crate) fn enametoolong() -> Error {
    from_errno(bindings::ENAMETOOLONG)
}

/// EILSEQ: a logfile is damaged (an illegal byte sequence where a record must be).
pub(crate) fn eilseq() -> Error {
    from_errno(bindings::EILSEQ)
}
