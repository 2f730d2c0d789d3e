//! Reading a node's TOML configuration file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a configuration file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TOML does not parse, or has unknown or missing keys.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// Reads and parses the TOML file at `path` (unknown keys are refused where the type
/// says `deny_unknown_fields`).
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    parse_toml(&read_named(path)?, path)
}

/// Parses TOML text; `path` is only used in error messages.
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigFileError> {
    toml::from_str(text).map_err(|e| ConfigFileError::Toml {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a file a configuration names, with the path in any error.
pub fn read_named(path: &Path) -> Result<String, ConfigFileError> {
    std::fs::read_to_string(path).map_err(|source| ConfigFileError::Io {
        path: path.to_owned(),
        source,
    })
}
