//! Opening a party from its configuration file.

use std::path::Path;

use backchannel_party::{Party, PartyConfig};

/// Loads the party configured in `config` (relative paths are taken from its
/// directory) and opens its transcript and state; returns its name and the party.
pub fn open_party(config: &Path) -> anyhow::Result<(String, Party)> {
    let settings =
        PartyConfig::load(config)?.settings(config.parent().unwrap_or(Path::new(".")))?;
    let name = settings.me.name().to_string();
    Ok((name, Party::open(settings)?))
}
