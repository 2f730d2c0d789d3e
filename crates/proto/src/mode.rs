//! Channel modes: what authenticates an envelope, and so what a recipient and a judge
//! can know about its author.

use std::fmt;
use std::str::FromStr;

/// How envelopes on a channel are authenticated (`proto-spec/protocol.md` §3).
///
/// The set is open: a third mode (a MAC under a key the broker lacks) is planned, so
/// unknown wire values decode to [`ChannelMode::Other`] and are refused by policy, not
/// by the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelMode {
    /// Every envelope carries the sender's Ed25519 signature. Models a signed cable:
    /// the broker cannot forge, and a judge can prove who said what.
    Signed,
    /// No signature: the envelope rests on the broker's word. Models a verbal message
    /// passed on by the intermediary: the broker can forge, and nobody can prove
    /// authorship to a third party.
    Deniable,
    /// A mode this implementation does not know.
    Other(u8),
}

impl ChannelMode {
    /// The wire value: 1 signed, 2 deniable (3 is reserved for the MAC mode).
    pub const fn to_u8(self) -> u8 {
        match self {
            ChannelMode::Signed => 1,
            ChannelMode::Deniable => 2,
            ChannelMode::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => ChannelMode::Signed,
            2 => ChannelMode::Deniable,
            other => ChannelMode::Other(other),
        }
    }

    /// Length in bytes of the authenticator that follows the content in this mode, or
    /// `None` for a mode this implementation cannot check.
    pub const fn authenticator_len(self) -> Option<usize> {
        match self {
            ChannelMode::Signed => Some(ed25519_dalek::SIGNATURE_LENGTH),
            ChannelMode::Deniable => Some(0),
            ChannelMode::Other(_) => None,
        }
    }
}

impl fmt::Display for ChannelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelMode::Signed => f.write_str("signed"),
            ChannelMode::Deniable => f.write_str("deniable"),
            ChannelMode::Other(v) => write!(f, "unknown mode {v}"),
        }
    }
}

/// The text was neither `signed` nor `deniable`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown channel mode {0:?}: expected `signed` or `deniable`")]
pub struct UnknownMode(pub String);

impl FromStr for ChannelMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "signed" => Ok(ChannelMode::Signed),
            "deniable" => Ok(ChannelMode::Deniable),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for v in 0..=u8::MAX {
            assert_eq!(ChannelMode::from_u8(v).to_u8(), v);
        }
        assert_eq!("signed".parse(), Ok(ChannelMode::Signed));
        assert_eq!("deniable".parse(), Ok(ChannelMode::Deniable));
        assert!("mac".parse::<ChannelMode>().is_err());
    }
}
