//! The transcript on disk: append-only, flushed to disk in batches.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use backchannel_proto::transcript::{
    Direction, Entry, RecordedVerdict, encode_entry, parse_transcript, transcript_header,
};
use backchannel_proto::{PartyName, Timestamp};

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
}

/// An open transcript, appended to in batches.
#[derive(Debug)]
pub struct TranscriptFile {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
}

impl TranscriptFile {
    /// Opens `path` for appending, creating it with a header for `owner` if it does
    /// not exist. Refuses a file that belongs to someone else or is not a transcript.
    pub fn open(path: &Path, owner: &PartyName) -> Result<Self, TranscriptFileError> {
        let io = |source| TranscriptFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            file.write_all(&transcript_header(owner)).map_err(io)?;
            file.sync_all().map_err(io)?;
        } else {
            let mut head = vec![0u8; 9 + owner.as_str().len()];
            file.read_exact(&mut head)
                .map_err(|_| TranscriptFileError::Foreign {
                    path: path.to_owned(),
                    why: "not a backchannel transcript".into(),
                })?;
            match parse_transcript(&head) {
                Ok(t) if t.owner == owner.as_str() => {}
                Ok(t) => {
                    return Err(TranscriptFileError::Foreign {
                        path: path.to_owned(),
                        why: format!("this is {}'s transcript, not {owner}'s", t.owner),
                    });
                }
                Err(e) => {
                    return Err(TranscriptFileError::Foreign {
                        path: path.to_owned(),
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(TranscriptFile {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
        })
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
        }
    }

    /// Appends every queued record and flushes them to disk.
    pub fn sync(&mut self) -> Result<(), TranscriptFileError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let io = |source| TranscriptFileError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.pending).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.pending.clear();
        Ok(())
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
        let mut t = TranscriptFile::open(&path, &bravo).unwrap();
        t.record(
            Direction::Sent,
            Timestamp::from_millis(1),
            RecordedVerdict::Sent,
            "",
            b"frame",
        );
        t.sync().unwrap();
        drop(t);
        let mut t = TranscriptFile::open(&path, &bravo).unwrap();
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
            TranscriptFile::open(&path, &alpha),
            Err(TranscriptFileError::Foreign { .. })
        ));
    }
}
