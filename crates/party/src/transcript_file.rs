//! The transcript on disk: append-only, the party's journal (`proto-spec/nodes.md`
//! §4.2), flushed to disk once per batch.
//!
//! Guarantees: [`TranscriptFile::sync`] returns `Ok` only once every record queued
//! before it is on disk (written and fsynced). A record that could not be written
//! whole is cut off again, so the file never holds garbage followed by good records.
//! On opening, a torn record at the end (a crash while appending) is detected and
//! dropped, never trusted.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, header_len, parse_records, parse_transcript,
    transcript_header,
};
use backchannel_proto::{PartyName, Timestamp};

use crate::crash::{Crash, CrashPoints};

/// Why the transcript could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptFileError {
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file exists but is not this party's transcript.
    #[error("{path}: {why}")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A test stopped the party here.
    #[error(transparent)]
    Crashed(#[from] Crash),
}

/// An open transcript, appended to in batches.
#[derive(Debug)]
pub struct TranscriptFile {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    /// Records queued and not yet written.
    pending_records: usize,
    /// How many bytes of the file are known to be on disk.
    durable_len: u64,
    crash: CrashPoints,
}

impl TranscriptFile {
    /// Opens `path` for appending, creating it (mode 0600) with a header for `owner`
    /// if it does not exist. Refuses a file that belongs to someone else or is not a
    /// transcript.
    ///
    /// Returns the file and the bytes of the records from offset `replay_from` on
    /// (`None`: from the end, that is nothing), for the caller to replay. A damaged
    /// record in that range and everything after it are cut off the file (with a
    /// warning): they were never synced, so nothing was acknowledged on their account.
    pub fn open(
        path: &Path,
        owner: &PartyName,
        replay_from: Option<u64>,
        crash: CrashPoints,
    ) -> Result<(Self, Vec<u8>), TranscriptFileError> {
        let io = |source| TranscriptFileError::Io {
            path: path.to_owned(),
            source,
        };
        let foreign = |why: String| TranscriptFileError::Foreign {
            path: path.to_owned(),
            why,
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        let mut len = file.metadata().map_err(io)?.len();
        let header = header_len(owner) as u64;
        if len == 0 {
            file.write_all(&transcript_header(owner)).map_err(io)?;
            file.sync_all().map_err(io)?;
            len = header;
        } else {
            let mut head = vec![0u8; 9 + owner.as_str().len()];
            file.read_exact(&mut head)
                .map_err(|_| foreign("not a backchannel transcript".into()))?;
            match parse_transcript(&head) {
                Ok(t) if t.owner == owner.as_str() => {}
                Ok(t) => {
                    return Err(foreign(format!(
                        "this is {}'s transcript, not {owner}'s",
                        t.owner
                    )));
                }
                Err(e) => return Err(foreign(e.to_string())),
            }
        }
        let from = replay_from.unwrap_or(len).max(header);
        if from > len {
            return Err(foreign(format!(
                "the state snapshot covers {from} bytes of the transcript, but it has only {len}: \
                 the transcript was truncated or replaced"
            )));
        }
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        file.read_to_end(&mut tail).map_err(io)?;
        let (_, damage) = parse_records(&tail, usize::try_from(from).unwrap_or(usize::MAX));
        if let Some(d) = damage {
            tracing::warn!(
                "{}: dropping a torn record at the end ({d}); it was never synced, so nothing \
                 acknowledged it",
                path.display()
            );
            let good = d.offset as u64;
            file.set_len(good).map_err(io)?;
            file.sync_all().map_err(io)?;
            tail.truncate(usize::try_from(good - from).unwrap_or(0));
            len = good;
        }
        Ok((
            TranscriptFile {
                path: path.to_owned(),
                file,
                pending: Vec::new(),
                pending_records: 0,
                durable_len: len,
                crash,
            },
            tail,
        ))
    }

    /// How many bytes of the transcript are on disk.
    pub fn durable_len(&self) -> u64 {
        self.durable_len
    }

    /// Whether records are queued that [`TranscriptFile::sync`] has not written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Queues a record; written by the next [`TranscriptFile::sync`].
    pub fn record(
        &mut self,
        direction: Direction,
        at: Timestamp,
        verdict: RecordedVerdict,
        reason: &str,
        frame: &[u8],
    ) {
        let entry = Entry {
            direction,
            recorded_at: at,
            verdict,
            reason,
            frame,
        };
        if encode_entry(&entry, &mut self.pending).is_err() {
            tracing::warn!("transcript: a record too large to store was skipped");
        } else {
            self.pending_records += 1;
        }
    }

    /// Appends every queued record and flushes them to disk with one fsync; returns
    /// how many records it wrote.
    pub fn sync(&mut self) -> Result<usize, TranscriptFileError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        self.crash.check("transcript.write")?;
        let written = self.write_pending();
        let result = written.and_then(|()| {
            if let Err(crash) = self.crash.check("transcript.fsync") {
                return Err(crash.into());
            }
            self.file
                .sync_data()
                .map_err(|source| TranscriptFileError::Io {
                    path: self.path.clone(),
                    source,
                })
        });
        if let Err(e) = result {
            // After a power loss what was not synced is gone; a killed process leaves
            // it in the page cache, and so on disk.
            let killed =
                matches!(e, TranscriptFileError::Crashed(_)) && !self.crash.loses_unsynced();
            if !killed {
                self.cut_back();
            }
            return Err(e);
        }
        self.durable_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(std::mem::take(&mut self.pending_records))
    }

    fn write_pending(&mut self) -> Result<(), TranscriptFileError> {
        self.file
            .write_all(&self.pending)
            .map_err(|source| TranscriptFileError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Best effort after a failed write: cut the file back to what is on disk, so a
    /// partial record never sits in front of later ones.
    fn cut_back(&mut self) {
        if let Err(e) = self.file.set_len(self.durable_len) {
            tracing::error!(
                "{}: could not cut back a failed append: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_refuses_someone_elses_transcript() {
        let dir = std::env::temp_dir().join(format!("backchannel-tfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bravo.transcript");
        let bravo = PartyName::new("bravo").unwrap();
        let (mut t, _) = TranscriptFile::open(&path, &bravo, None, CrashPoints::default()).unwrap();
        t.record(
            Direction::Sent,
            Timestamp::from_millis(1),
            RecordedVerdict::Sent,
            "",
            b"frame",
        );
        t.sync().unwrap();
        drop(t);
        let (mut t, _) = TranscriptFile::open(&path, &bravo, None, CrashPoints::default()).unwrap();
        t.record(
            Direction::Received,
            Timestamp::from_millis(2),
            RecordedVerdict::Rejected,
            "gap: x",
            b"f2",
        );
        t.sync().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let parsed = parse_transcript(&bytes).unwrap();
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.damage, None);
        let alpha = PartyName::new("alpha").unwrap();
        assert!(matches!(
            TranscriptFile::open(&path, &alpha, None, CrashPoints::default()),
            Err(TranscriptFileError::Foreign { .. })
        ));
    }
}
