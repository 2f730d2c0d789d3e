//! Channel modes: what authenticates an envelope, and so what a recipient and a judge
//! can know about its author.

use std::fmt;
use std::str::FromStr;

/// How envelopes on a channel are authenticated (`proto-spec/protocol.md` §3).
///
/// The set is open: unknown wire values decode to [`ChannelMode::Other`] and are
/// refused by policy, not by the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelMode {
    /// Every envelope carries the sender's Ed25519 signature. Models a signed cable:
    /// the broker cannot forge, and a judge can prove who said what.
    Signed,
    /// No signature: the envelope rests on the broker's word. Models a verbal message
    /// passed on by the intermediary: the broker can forge, and nobody can prove
    /// authorship to a third party.
    Deniable,
    /// A MAC under a key only the two parties share, whose epoch keys are published
    /// once acknowledged ([`off_record`](crate::off_record)). Models a conversation in
    /// a closed room: the recipient is sure who spoke and the broker cannot forge, yet
    /// nobody can prove anything to a third party.
    OffRecord,
    /// A mode this implementation does not know.
    Other(u8),
}

impl ChannelMode {
    /// The wire value: 1 signed, 2 deniable, 3 off-record.
    pub const fn to_u8(self) -> u8 {
        match self {
            ChannelMode::Signed => 1,
            ChannelMode::Deniable => 2,
            ChannelMode::OffRecord => 3,
            ChannelMode::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => ChannelMode::Signed,
            2 => ChannelMode::Deniable,
            3 => ChannelMode::OffRecord,
            other => ChannelMode::Other(other),
        }
    }

    /// Every mode this implementation speaks, in the order tables show them.
    pub const ALL: [ChannelMode; 3] = [
        ChannelMode::Signed,
        ChannelMode::Deniable,
        ChannelMode::OffRecord,
    ];

    /// Whether the recipient can tell the sender's envelopes from the broker's: the
    /// broker cannot forge or alter (signed and off-record).
    pub const fn recipient_authenticates(self) -> bool {
        matches!(self, ChannelMode::Signed | ChannelMode::OffRecord)
    }

    /// Whether a judge holding the transcript can prove who wrote an envelope (signed
    /// only).
    pub const fn provable(self) -> bool {
        matches!(self, ChannelMode::Signed)
    }

    /// What authenticates an envelope, as `receive --json` names it: `signature`,
    /// `mac` or `none`.
    pub const fn attestation_name(self) -> &'static str {
        match self {
            ChannelMode::Signed => "signature",
            ChannelMode::OffRecord => "mac",
            ChannelMode::Deniable | ChannelMode::Other(_) => "none",
        }
    }
}

impl fmt::Display for ChannelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelMode::Signed => f.write_str("signed"),
            ChannelMode::Deniable => f.write_str("deniable"),
            ChannelMode::OffRecord => f.write_str("off-record"),
            ChannelMode::Other(v) => write!(f, "unknown mode {v}"),
        }
    }
}

/// The text was not `signed`, `deniable` or `off-record`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown channel mode {0:?}: expected `signed`, `deniable` or `off-record`")]
pub struct UnknownMode(pub String);

impl FromStr for ChannelMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "signed" => Ok(ChannelMode::Signed),
            "deniable" => Ok(ChannelMode::Deniable),
            "off-record" => Ok(ChannelMode::OffRecord),
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
        assert_eq!("off-record".parse(), Ok(ChannelMode::OffRecord));
        for mode in ChannelMode::ALL {
            assert_eq!(mode.to_string().parse(), Ok(mode));
        }
        assert!("mac".parse::<ChannelMode>().is_err());
    }
}
