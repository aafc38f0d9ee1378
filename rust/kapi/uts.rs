// SPDX-License-Identifier: GPL-2.0
//! The host's name: the node name of the initial UTS namespace (what `hostname` set at boot).

use super::bindings as helpers;

/// Room for the longest node name (`__NEW_UTS_LEN`) and its NUL.
const NODE_NAME_CAPACITY: usize = 65;

/// A copy of the node name.
pub(crate) struct NodeName {
    bytes: [u8; NODE_NAME_CAPACITY],
}

impl NodeName {
    /// The name, without NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let len = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.bytes.len());
        self.bytes.get(..len).unwrap_or(&[])
    }
}

/// Reads the node name. A concurrent `sethostname` may be seen half done: validate the result.
pub(crate) fn node_name() -> NodeName {
    let mut name = NodeName {
        bytes: [0; NODE_NAME_CAPACITY],
    };
    // SAFETY: the buffer is writable for its full length, which is what we pass; the helper
    // writes a NUL-terminated string of at most that length.
    unsafe { helpers::mars_helper_nodename(name.bytes.as_mut_ptr(), name.bytes.len()) };
    name
}
