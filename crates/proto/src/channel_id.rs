//! Channel ids: which conversation an envelope belongs to.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest as _, Sha256};

use crate::domain;
use crate::mode::ChannelMode;

/// 16 bytes naming one channel between two parties in one mode.
///
/// Derived, never chosen: `SHA-256("backchannel/v1/channel\0" || key_lo || key_hi ||
/// mode || u8(len(label)) || label)[..16]`, with the two public keys in byte order, so
/// both ends compute the same id and an envelope taken from any other pair, mode or
/// label is refused as [`WrongChannel`](crate::Rejection::WrongChannel).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ChannelId(pub [u8; 16]);

impl ChannelId {
    /// The id of the channel between `a` and `b` (in either order) in `mode` named
    /// `label` (at most 255 bytes are used).
    pub fn derive(a: &VerifyingKey, b: &VerifyingKey, mode: ChannelMode, label: &str) -> Self {
        let (lo, hi) = if a.as_bytes() <= b.as_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        let label = label.as_bytes();
        let label = label.get(..255).unwrap_or(label);
        let mut h = Sha256::new();
        h.update(domain::CHANNEL_ID);
        h.update(lo.as_bytes());
        h.update(hi.as_bytes());
        h.update([mode.to_u8()]);
        h.update([u8::try_from(label.len()).unwrap_or(u8::MAX)]);
        h.update(label);
        let full: [u8; 32] = h.finalize().into();
        let mut id = [0u8; 16];
        id.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
        ChannelId(id)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(6) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn both_ends_derive_the_same_id_and_inputs_separate() {
        let a = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let b = SigningKey::from_bytes(&[2; 32]).verifying_key();
        let ab = ChannelId::derive(&a, &b, ChannelMode::Signed, "main");
        assert_eq!(ab, ChannelId::derive(&b, &a, ChannelMode::Signed, "main"));
        assert_ne!(ab, ChannelId::derive(&a, &b, ChannelMode::Deniable, "main"));
        assert_ne!(ab, ChannelId::derive(&a, &b, ChannelMode::Signed, "other"));
    }
}
