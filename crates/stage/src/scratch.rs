//! The temporary directory a run keeps its parties' transcripts and state in, removed
//! when the run is dropped.

use std::path::{Path, PathBuf};

use crate::StageError;

/// A fresh, empty directory under the system's temporary directory, unique to this
/// process and moment; removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates it; `tag` says what it is for.
    pub fn new(tag: &str) -> Result<ScratchDir, StageError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("backchannel-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| StageError::Io {
            what: dir.display().to_string(),
            source,
        })?;
        Ok(ScratchDir(dir))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Keeps the directory past the drop (whoever asked for it removes it) and says
    /// where it is.
    pub fn keep(self) -> PathBuf {
        let mut me = self;
        std::mem::take(&mut me.0)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Empty once kept.
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
