//! Key files: the private key as PKCS#8 PEM (mode 0600), the public key as one line.
//!
//! Public key file format (`NAME.pub`), one line of UTF-8:
//!
//! ```text
//! backchannel-ed25519 <64 lower-case hex digits of the compressed key> <name>
//! ```
//!
//! This module encodes and parses the files' text, and names why one is refused; the
//! files themselves are read and written outside the sans-IO core
//! (`backchannel_net::key_files`).

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, EncodePrivateKey as _, spki::der::pem::LineEnding,
};

use crate::identity::{KeyError, PartyName, PublicIdentity, SigningIdentity};

/// The first word of a public key line.
pub const PUBLIC_KEY_TAG: &str = "backchannel-ed25519";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Writing would replace an existing key.
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A private key readable or writable by group or others.
    #[error(
        "{path}: permissions {mode:04o} are too open for a private key; run `chmod 600 {path}`"
    )]
    PermissionsTooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a PKCS#8 PEM Ed25519 private key.
    #[error("{path}: not a PKCS#8 PEM Ed25519 private key ({reason})")]
    MalformedPrivateKey {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Not a `backchannel-ed25519 <hex> <name>` line.
    #[error("{path}: malformed public key file ({reason})")]
    MalformedPublicKey {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key or name itself was refused.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
}

/// `me`'s private key as PKCS#8 PEM text (zeroized when dropped).
///
/// The RFC 5208 (PKCS#8 v1) form, without the public key: the one every tool reads
/// (`openssl pkey`, Python's `cryptography`), where the RFC 5958 v2 form with the public
/// key is refused by some. Files in the v2 form still load ([`parse_signing_key`]).
pub fn encode_signing_key(
    me: &SigningIdentity,
) -> Result<ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String>, String> {
    let mut pair = ed25519_dalek::pkcs8::KeypairBytes::from(me.signing_key());
    pair.public_key = None;
    pair.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())
}

/// Parses PKCS#8 PEM text into a signing identity named `name`; `path` is only used in
/// error messages.
pub fn parse_signing_key(
    text: &str,
    name: PartyName,
    path: &Path,
) -> Result<SigningIdentity, KeyFileError> {
    let key = SigningKey::from_pkcs8_pem(text).map_err(|e| KeyFileError::MalformedPrivateKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(SigningIdentity::new(name, key))
}

/// The public key line for `who` (with its trailing newline).
pub fn encode_public_key(who: &PublicIdentity) -> String {
    format!(
        "{PUBLIC_KEY_TAG} {} {}\n",
        hex::encode(who.key().as_bytes()),
        who.name()
    )
}

/// Parses a public key line; `path` is only used in error messages.
pub fn parse_public_key(text: &str, path: &Path) -> Result<PublicIdentity, KeyFileError> {
    let bad = |reason: &str| KeyFileError::MalformedPublicKey {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let line = lines.next().ok_or_else(|| bad("the file is empty"))?;
    if lines.next().is_some() {
        return Err(bad("more than one line"));
    }
    let mut words = line.split_whitespace();
    if words.next() != Some(PUBLIC_KEY_TAG) {
        return Err(bad("the line must start with `backchannel-ed25519`"));
    }
    let key_hex = words.next().ok_or_else(|| bad("no key"))?;
    let name = words.next().ok_or_else(|| bad("no name after the key"))?;
    if words.next().is_some() {
        return Err(bad("unexpected words after the name"));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex, &mut key).map_err(|_| bad("the key must be 64 hex digits"))?;
    let key_err = |source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    };
    let name = PartyName::new(name).map_err(key_err)?;
    PublicIdentity::from_bytes(name, &key).map_err(key_err)
}

/// Parses a roster: one public key line per party (the `.pub` format), blank lines
/// and lines starting with `#` ignored; a name listed twice is refused.
pub fn parse_roster(text: &str, path: &Path) -> Result<Vec<PublicIdentity>, KeyFileError> {
    let mut out: Vec<PublicIdentity> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = PathBuf::from(format!("{}:{}", path.display(), i + 1));
        let id = parse_public_key(line, &at)?;
        if !names.insert(id.name().to_string()) {
            return Err(KeyFileError::MalformedPublicKey {
                path: at,
                reason: format!("{} is listed twice", id.name()),
            });
        }
        out.push(id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha() -> SigningIdentity {
        SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[3; 32])
    }

    #[cfg(unix)]
    #[test]
    fn a_private_key_is_written_in_the_v1_form_and_both_forms_load() {
        let me = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[3; 32]);
        let v1 = encode_signing_key(&me).unwrap();
        let name = || PartyName::new("alpha").unwrap();
        let p = Path::new("alpha.key");
        assert_eq!(
            parse_signing_key(&v1, name(), p).unwrap().public(),
            me.public()
        );
        // v1: the DER's version INTEGER is 0 and there is no [1] public key.
        let der = ed25519_dalek::pkcs8::KeypairBytes::from_pkcs8_pem(&v1).unwrap();
        assert!(der.public_key.is_none());
        // A key written in the v2 form (with the public key), as earlier releases did.
        let v2 = ed25519_dalek::pkcs8::KeypairBytes::from(me.signing_key())
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        assert_ne!(*v1, *v2);
        assert_eq!(
            parse_signing_key(&v2, name(), p).unwrap().public(),
            me.public()
        );
    }

    #[test]
    fn public_key_line_round_trips_and_rejects_junk() {
        let line = encode_public_key(&alpha().public());
        let p = Path::new("alpha.pub");
        assert_eq!(parse_public_key(&line, p).unwrap(), alpha().public());
        for junk in [
            "",
            "ssh-ed25519 00 alpha",
            "backchannel-ed25519 zz alpha",
            "backchannel-ed25519 0000000000000000000000000000000000000000000000000000000000000000",
            &line.replace("alpha", "Alpha"),
            &format!("{line}{line}"),
        ] {
            assert!(
                parse_public_key(junk, p).is_err(),
                "{junk:?} must be refused"
            );
        }
        // The identity point is a weak key.
        let weak = format!("{PUBLIC_KEY_TAG} 01{} mallory", "00".repeat(31));
        assert!(matches!(
            parse_public_key(&weak, p),
            Err(KeyFileError::Key {
                source: KeyError::WeakKey,
                ..
            })
        ));
    }

    #[test]
    fn a_roster_skips_comments_and_refuses_a_name_twice() {
        let alpha = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[1; 32]);
        let bravo = SigningIdentity::from_secret_bytes(PartyName::new("bravo").unwrap(), &[2; 32]);
        let text = format!(
            "# the deployment's parties\n{}\n{}",
            encode_public_key(&alpha.public()),
            encode_public_key(&bravo.public())
        );
        let roster = parse_roster(&text, Path::new("parties.pub")).unwrap();
        let names: Vec<&str> = roster.iter().map(|p| p.name().as_str()).collect();
        assert_eq!(names, ["alpha", "bravo"]);
        let twice = format!("{text}{}", encode_public_key(&alpha.public()));
        let err = parse_roster(&twice, Path::new("parties.pub")).unwrap_err();
        assert!(err.to_string().contains("alpha is listed twice"), "{err}");
        assert!(err.to_string().contains("parties.pub:5"), "{err}");
    }
}
