//! Opening a party from its configuration file.

use std::path::Path;

use anyhow::Context as _;
use backchannel_party::{Party, PartyConfig};

/// Loads the party configured in `config` (relative paths are taken from its
/// directory) and opens its transcript and state; returns its name and the party.
pub fn open_party(config: &Path) -> anyhow::Result<(String, Party)> {
    let settings =
        PartyConfig::load(config)?.settings(config.parent().unwrap_or(Path::new(".")))?;
    let name = settings.me.name().to_string();
    Ok((name, Party::open(settings)?))
}

/// The party configured in `config` and its transcript's bytes, read only: nothing is
/// created or changed (a missing transcript reads as empty: the party has said and
/// heard nothing yet). What the read-only commands (`pending`, `assurances`) read.
pub fn read_transcript(
    config: &Path,
) -> anyhow::Result<(PartyConfig, std::path::PathBuf, Vec<u8>)> {
    let party = PartyConfig::load(config)?;
    let base = config.parent().unwrap_or(Path::new("."));
    let path = base.join(&party.transcript);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    Ok((party, path, bytes))
}
