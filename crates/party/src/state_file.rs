//! The channel state on disk, replaced atomically: write a temporary file, fsync it,
//! rename it over the old one, fsync the directory. A crash leaves either the old or
//! the new state, never a mixture.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use backchannel_proto::ChannelState;
use backchannel_proto::persist::{StateError, decode_party_state, encode_party_state};

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
}

/// Loads the saved states, or an empty list if the file does not exist yet.
pub fn load(path: &Path) -> Result<Vec<(String, ChannelState)>, StateFileError> {
    match fs::read(path) {
        Ok(bytes) => decode_party_state(&bytes).map_err(|source| StateFileError::Invalid {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(StateFileError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Saves the states atomically.
pub fn save(path: &Path, channels: &[(&str, &ChannelState)]) -> Result<(), StateFileError> {
    let bytes = encode_party_state(channels).map_err(|source| StateFileError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    let io = |source| StateFileError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("state.tmp");
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
    fs::rename(&tmp, path).map_err(io)?;
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
            load(&path).unwrap().is_empty(),
            "no file yet: fresh channels"
        );
        let state = ChannelState {
            received: Ack {
                seq: 4,
                head: Digest([4; 32]),
            },
            ..ChannelState::default()
        };
        save(&path, &[("bravo", &state)]).unwrap();
        save(&path, &[("bravo", &state)]).unwrap();
        assert_eq!(load(&path).unwrap(), vec![("bravo".to_owned(), state)]);
        assert!(!path.with_extension("state.tmp").exists());
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(StateFileError::Invalid { .. })));
    }
}
