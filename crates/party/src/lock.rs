//! One process owns a party: an exclusive lock on `<state>.lock`, held for the life
//! of the [`Party`](crate::Party).
//!
//! Two processes with their own copies of one party's state would each seal a
//! sequence number the other also seals: a fork of the party's chain, which the judge
//! shows as equivocation by an honest party. The lock is an advisory `flock`-style
//! lock ([`std::fs::File::try_lock`]); the kernel releases it when the process dies,
//! however it dies, so a crash never leaves a stale lock behind. The holder writes
//! its process id into the file so a second process can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "{party} is in use by another process{}: {lock} is locked (stop it, or let it do the work: \
         send and receive hand their work to a running party node)",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Held {
        /// The party.
        party: String,
        /// The lock file.
        lock: PathBuf,
        /// The holder's process id, if it wrote one.
        holder: Option<u32>,
    },
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct PartyLock {
    _file: File,
    path: PathBuf,
}

impl PartyLock {
    /// The lock file for the party whose state is kept at `state`.
    pub fn path_for(state: &Path) -> PathBuf {
        state.with_extension("lock")
    }

    /// Takes the lock at `path` for `party`, or says who holds it.
    pub fn acquire(path: &Path, party: &str) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    party: party.to_owned(),
                    lock: path.to_owned(),
                    holder: holder_pid(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(PartyLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = std::env::temp_dir().join(format!("backchannel-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bravo.lock");
        let first = PartyLock::acquire(&path, "bravo").unwrap();
        match PartyLock::acquire(&path, "bravo") {
            Err(e @ LockError::Held { .. }) => {
                let LockError::Held { holder, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(*holder, Some(std::process::id()));
                assert!(
                    e.to_string()
                        .contains("bravo is in use by another process (pid")
                );
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        PartyLock::acquire(&path, "bravo").expect("free again once dropped");
    }
}
