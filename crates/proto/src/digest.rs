//! Chain digests: the hash that links each envelope to the one before it.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::domain;

/// A SHA-256 digest of an envelope's content (`proto-spec/protocol.md` §6.2).
///
/// The all-zero value stands for "nothing yet": the `prev` of a sender's first
/// envelope and the acknowledged head before anything was received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// "Nothing yet": the head of an empty chain.
    pub const ZERO: Digest = Digest([0; 32]);

    /// The chain digest of an envelope whose content bytes are `content`:
    /// `SHA-256("backchannel/v1/chain\0" || content)`.
    ///
    /// It covers the content only, not the authenticator, so the same history has the
    /// same digests in every mode and a judge can recompute them from a transcript.
    pub fn of_content(content: &[u8]) -> Digest {
        let mut h = Sha256::new();
        h.update(domain::CHAIN_DIGEST);
        h.update(content);
        Digest(h.finalize().into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex of all 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl fmt::Display for Digest {
    /// The first 8 bytes in hex: enough for a human to compare two heads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_domain_separated() {
        let plain: [u8; 32] = Sha256::digest(b"abc").into();
        assert_ne!(Digest::of_content(b"abc").0, plain);
        assert_ne!(Digest::of_content(b"abc"), Digest::of_content(b"abd"));
    }
}
