//! Key files on disk: the private key as PKCS#8 PEM (created mode 0600, refused when
//! others may read it), the public key as one line, a roster of such lines. The text
//! formats and the reasons a file is refused are the core's
//! ([`backchannel_proto::keyfile`]); this module does the file I/O.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use backchannel_proto::keyfile::{
    KeyFileError, encode_public_key, encode_signing_key, parse_public_key, parse_roster,
    parse_signing_key,
};
use backchannel_proto::{PartyName, PublicIdentity, SigningIdentity};

/// Key files are tiny; anything larger is not one of ours.
const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

/// The largest roster file read (about 180,000 parties).
const MAX_ROSTER_LEN: u64 = 16 * 1024 * 1024;

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
    let pem = encode_signing_key(me).map_err(|reason| KeyFileError::MalformedPrivateKey {
        path: path.to_owned(),
        reason,
    })?;
    let mut file = create_new(path, 0o600)?;
    file.write_all(pem.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Reads a private key written by [`write_signing_key`] and names it `name`.
///
/// On Unix, refuses a file that group or others may read or write.
pub fn read_signing_key(path: &Path, name: PartyName) -> Result<SigningIdentity, KeyFileError> {
    check_private_permissions(path)?;
    parse_signing_key(&read_small(path)?, name, path)
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
    #![allow(clippy::unwrap_used)]

    use super::*;
    use backchannel_proto::PartyName;

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
    fn reads_a_directory_of_public_keys() {
        let dir = tmp_dir("dir");
        write_public_key(&dir.join("alpha.pub"), &alpha().public()).unwrap();
        fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let keys = read_public_key_dir(&dir).unwrap();
        assert_eq!(keys, vec![alpha().public()]);
    }
}
