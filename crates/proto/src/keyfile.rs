//! Key files: the private key as PKCS#8 PEM (mode 0600), the public key as one line.
//!
//! Public key file format (`NAME.pub`), one line of UTF-8:
//!
//! ```text
//! backchannel-ed25519 <64 lower-case hex digits of the compressed key> <name>
//! ```
//!
//! This module reads and writes files with `std::fs`: key files are configuration,
//! not protocol traffic, and involve no clock, socket or randomness.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, EncodePrivateKey as _, spki::der::pem::LineEnding,
};

use crate::identity::{KeyError, PartyName, PublicIdentity, SigningIdentity};

/// The first word of a public key line.
pub const PUBLIC_KEY_TAG: &str = "backchannel-ed25519";

/// Key files are tiny; anything larger is not one of ours.
const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `me`'s private key to `path` as PKCS#8 PEM, created with mode 0600.
///
/// Refuses to overwrite an existing file; the data is flushed to disk before return.
pub fn write_signing_key(path: &Path, me: &SigningIdentity) -> Result<(), KeyFileError> {
    let pem = me.signing_key().to_pkcs8_pem(LineEnding::LF).map_err(|e| {
        KeyFileError::MalformedPrivateKey {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let mut file = create_new(path, 0o600)?;
    file.write_all(pem.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// `me`'s private key as PKCS#8 PEM text (zeroized when dropped).
pub fn encode_signing_key(
    me: &SigningIdentity,
) -> Result<ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String>, String> {
    me.signing_key()
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())
}

/// Reads a private key written by [`write_signing_key`] and names it `name`.
///
/// On Unix, refuses a file that group or others may read or write.
pub fn read_signing_key(path: &Path, name: PartyName) -> Result<SigningIdentity, KeyFileError> {
    check_private_permissions(path)?;
    parse_signing_key(&read_small(path)?, name, path)
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

/// Writes `who`'s public key line to `path` (mode 0644), refusing to overwrite.
pub fn write_public_key(path: &Path, who: &PublicIdentity) -> Result<(), KeyFileError> {
    let mut file = create_new(path, 0o644)?;
    file.write_all(encode_public_key(who).as_bytes())
        .map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<PublicIdentity, KeyFileError> {
    parse_public_key(&read_small(path)?, path)
}

/// The largest roster file read (about 180,000 parties).
const MAX_ROSTER_LEN: u64 = 16 * 1024 * 1024;

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

/// Reads a roster file ([`parse_roster`]).
pub fn read_roster(path: &Path) -> Result<Vec<PublicIdentity>, KeyFileError> {
    parse_roster(&read_limited(path, MAX_ROSTER_LEN, "roster")?, path)
}

/// The public keys at `path`: every `*.pub` file if it is a directory, else the
/// roster (or single key) it holds. What a judge is given with `--keys`.
pub fn read_public_keys(path: &Path) -> Result<Vec<PublicIdentity>, KeyFileError> {
    if path.is_dir() {
        read_public_key_dir(path)
    } else {
        read_roster(path)
    }
}

/// Reads every `*.pub` file in `dir`, sorted by name: what a judge is given.
pub fn read_public_key_dir(dir: &Path) -> Result<Vec<PublicIdentity>, KeyFileError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_public_key(p)).collect()
}

fn create_new(path: &Path, mode: u32) -> Result<fs::File, KeyFileError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyFileError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })
}

fn read_small(path: &Path) -> Result<String, KeyFileError> {
    read_limited(path, MAX_KEY_FILE_LEN, "key file")
}

/// Reads at most `limit` bytes of UTF-8 text; a longer file is refused, not truncated.
fn read_limited(path: &Path, limit: u64, what: &str) -> Result<String, KeyFileError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(io_err(path))?;
    if text.len() as u64 > limit {
        return Err(KeyFileError::MalformedPublicKey {
            path: path.to_owned(),
            reason: format!("larger than any {what}"),
        });
    }
    Ok(text)
}

/// Refuses a private key file (any kind: a party's key, the broker's TLS key) that
/// other users could read or write.
#[cfg(unix)]
pub fn check_private_permissions(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::PermissionsTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Refuses a private key file that other users could read (nothing to check here).
#[cfg(not(unix))]
pub fn check_private_permissions(_path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("backchannel-keyfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn alpha() -> SigningIdentity {
        SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[3; 32])
    }

    #[test]
    fn private_key_round_trips_with_mode_0600() {
        let dir = tmp_dir("roundtrip");
        let path = dir.join("alpha.key");
        write_signing_key(&path, &alpha()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let back = read_signing_key(&path, PartyName::new("alpha").unwrap()).unwrap();
        assert_eq!(back.public(), alpha().public());
        assert!(matches!(
            write_signing_key(&path, &alpha()),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn rejects_private_key_readable_by_others() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tmp_dir("perms");
        let path = dir.join("alpha.key");
        write_signing_key(&path, &alpha()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_signing_key(&path, PartyName::new("alpha").unwrap()).unwrap_err();
        assert!(matches!(
            err,
            KeyFileError::PermissionsTooOpen { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn rejects_malformed_private_key() {
        let dir = tmp_dir("malformed");
        let path = dir.join("alpha.key");
        let mut f = create_new(&path, 0o600).unwrap();
        f.write_all(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
            .unwrap();
        assert!(matches!(
            read_signing_key(&path, PartyName::new("alpha").unwrap()),
            Err(KeyFileError::MalformedPrivateKey { .. })
        ));
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
    fn reads_a_directory_of_public_keys() {
        let dir = tmp_dir("dir");
        write_public_key(&dir.join("alpha.pub"), &alpha().public()).unwrap();
        fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let keys = read_public_key_dir(&dir).unwrap();
        assert_eq!(keys, vec![alpha().public()]);
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
