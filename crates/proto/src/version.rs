//! The protocol version, carried in every frame header and inside every signed content.

use std::fmt;

/// A protocol version as found on the wire (`u16`, big-endian).
///
/// Unknown values stay representable, so a newer peer's frame is reported as
/// [`Rejection::UnsupportedVersion`](crate::Rejection::UnsupportedVersion) rather than
/// as garbage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Version 1: the layout before envelopes listed refusals (no longer spoken).
    V1,
    /// Version 2, specified in `proto-spec/protocol.md`: envelopes list what their
    /// sender refused of the peer's chain.
    V2,
    /// Any other value.
    Other(u16),
}

impl ProtocolVersion {
    /// The version this implementation speaks.
    pub const CURRENT: ProtocolVersion = ProtocolVersion::V2;

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            ProtocolVersion::V1 => 1,
            ProtocolVersion::V2 => 2,
            ProtocolVersion::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            1 => ProtocolVersion::V1,
            2 => ProtocolVersion::V2,
            other => ProtocolVersion::Other(other),
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.to_u16())
    }
}
