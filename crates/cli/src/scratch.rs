//! Temporary directories for the in-process demo and lab runs.

use std::path::PathBuf;

use anyhow::Context as _;

/// A fresh, empty directory under the system's temporary directory, unique to this
/// process and moment; `tag` says what it is for.
pub fn scratch_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("backchannel-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    Ok(dir)
}
