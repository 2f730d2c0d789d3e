//! The state snapshot on disk, replaced atomically: write a temporary file, fsync it,
//! rename it over the old one, fsync the directory. A crash leaves either the old or
//! the new snapshot, never a mixture; either is valid, because the transcript records
//! after the offset a snapshot covers are replayed on top of it (`persist.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use backchannel_proto::ChannelState;
use backchannel_proto::persist::{Snapshot, StateError, decode_party_state, encode_party_state};

use crate::crash::{Crash, CrashPoints};

/// Why the state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a valid state file.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: StateError,
    },
    /// A test stopped the party here.
    #[error(transparent)]
    Crashed(#[from] Crash),
}

/// Loads the snapshot, or `None` if there is none yet.
pub fn load(path: &Path) -> Result<Option<Snapshot>, StateFileError> {
    match fs::read(path) {
        Ok(bytes) => {
            decode_party_state(&bytes)
                .map(Some)
                .map_err(|source| StateFileError::Invalid {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateFileError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Saves a snapshot of the states as of transcript length `covers`, atomically.
pub fn save(
    path: &Path,
    covers: u64,
    channels: &[(&str, &ChannelState)],
    crash: &CrashPoints,
) -> Result<(), StateFileError> {
    let bytes = encode_party_state(covers, channels).map_err(|source| StateFileError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    let io = |source| StateFileError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("state.tmp");
    crash.check("snapshot.write")?;
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    crash.check("snapshot.rename")?;
    fs::rename(&tmp, path).map_err(io)?;
    crash.check("snapshot.dirsync")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use backchannel_proto::{Ack, Digest};

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("backchannel-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alpha.state");
        assert!(
            load(&path).unwrap().is_none(),
            "no file yet: fresh channels"
        );
        let state = ChannelState {
            received: Ack {
                seq: 4,
                head: Digest([4; 32]),
            },
            ..ChannelState::default()
        };
        let none = CrashPoints::default();
        save(&path, 10, &[("bravo", &state)], &none).unwrap();
        save(&path, 20, &[("bravo", &state)], &none).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.covers, 20);
        assert_eq!(loaded.channels, vec![("bravo".to_owned(), state)]);
        assert!(!path.with_extension("state.tmp").exists());
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(StateFileError::Invalid { .. })));
    }
}
