//! Who is who: party names, public identities, signing identities and fingerprints.

use std::fmt;

use ed25519_dalek::ed25519::signature::MultipartSigner as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::domain;

/// The longest party name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Why a name or a key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    /// The name is empty, too long, or has a character outside `[a-z0-9_-]`.
    #[error("invalid party name {0:?}: use 1 to 32 characters from a-z, 0-9, '-' and '_'")]
    BadName(String),
    /// The 32 bytes are not a point on the curve.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// A small-order ("weak") public key: signatures under it prove nothing, and plain
    /// verification would let its owner deny what it signed.
    #[error("weak (small-order) Ed25519 public key refused")]
    WeakKey,
}

/// A party's name: 1 to 32 bytes of `[a-z0-9_-]`, e.g. `alpha`.
///
/// Names are what humans read in logs and transcripts; keys are what is checked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyName(String);

impl PartyName {
    /// Checks `name` against the naming rule.
    pub fn new(name: &str) -> Result<Self, KeyError> {
        if is_valid_name(name) {
            Ok(PartyName(name.to_owned()))
        } else {
            Err(KeyError::BadName(name.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `name` follows the naming rule (used on decoded envelopes too).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl fmt::Display for PartyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PartyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A short, human-comparable fingerprint of a public key:
/// `SHA-256("backchannel/v1/fingerprint\0" || key)[..8]`, shown as `xxxx:xxxx:xxxx:xxxx`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 8]);

impl Fingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        let mut h = Sha256::new();
        h.update(domain::KEY_FINGERPRINT);
        h.update(key.as_bytes());
        let full: [u8; 32] = h.finalize().into();
        let mut out = [0u8; 8];
        out.copy_from_slice(full.get(..8).unwrap_or(&[0; 8]));
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            for b in pair {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A party as others know it: a name and an Ed25519 public key that is not weak.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    name: PartyName,
    key: VerifyingKey,
}

impl PublicIdentity {
    /// Pins `key` to `name`, refusing weak (small-order) keys and non-canonical
    /// encodings (`protocol.md` §8, rule 2).
    pub fn new(name: PartyName, key: VerifyingKey) -> Result<Self, KeyError> {
        if !crate::signature_rule::key_is_acceptable(&key) {
            return Err(KeyError::WeakKey);
        }
        Ok(PublicIdentity { name, key })
    }

    /// Like [`PublicIdentity::new`] from the 32-byte compressed key.
    pub fn from_bytes(name: PartyName, key: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(key).map_err(|_| KeyError::InvalidPublicKey)?;
        Self::new(name, key)
    }

    /// The party's name.
    pub fn name(&self) -> &PartyName {
        &self.name
    }

    /// The party's public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key's short fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.key)
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.name, self.fingerprint())
    }
}

/// A party as it knows itself: its name and its Ed25519 signing key.
///
/// The key is zeroized on drop (ed25519-dalek's `zeroize` feature) and never printed.
#[derive(Clone)]
pub struct SigningIdentity {
    name: PartyName,
    key: SigningKey,
}

impl SigningIdentity {
    /// Wraps an existing signing key.
    pub fn new(name: PartyName, key: SigningKey) -> Self {
        SigningIdentity { name, key }
    }

    /// Derives the key from 32 secret bytes that the caller drew from a CSPRNG.
    ///
    /// The core has no randomness of its own: the driver supplies it.
    pub fn from_secret_bytes(name: PartyName, secret: &[u8; 32]) -> Self {
        SigningIdentity {
            name,
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The party's name.
    pub fn name(&self) -> &PartyName {
        &self.name
    }

    /// The signing key (for writing key files).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public half, as peers pin it.
    ///
    /// A key derived from 32 secret bytes is never weak (its point is the base point
    /// times a clamped scalar), so this cannot fail.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs the concatenation of `parts` (the caller puts the domain prefix first).
    pub(crate) fn sign_parts(
        &self,
        parts: &[&[u8]],
    ) -> Result<Signature, ed25519_dalek::SignatureError> {
        self.key.try_multipart_sign(parts)
    }
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningIdentity({} [{}], secret key redacted)",
            self.name,
            Fingerprint::of(&self.key.verifying_key())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert!(PartyName::new("alpha").is_ok());
        assert!(PartyName::new("charlie-2_x").is_ok());
        for bad in ["", "Alpha", "al pha", "alpha\n", &"a".repeat(33), "ålpha"] {
            assert!(PartyName::new(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn rejects_weak_public_keys() {
        // The identity point (y = 1) has order 1: a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let name = PartyName::new("mallory").unwrap();
        assert_eq!(
            PublicIdentity::from_bytes(name, &identity),
            Err(KeyError::WeakKey)
        );
    }

    #[test]
    fn debug_never_prints_secret_key() {
        let secret = [7u8; 32];
        let me = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &secret);
        let shown = format!("{me:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode(secret)));
    }

    #[test]
    fn fingerprint_is_grouped_hex() {
        let me = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[1; 32]);
        let fp = me.public().fingerprint().to_string();
        assert_eq!(fp.len(), 19);
        assert_eq!(fp.matches(':').count(), 3);
    }
}
