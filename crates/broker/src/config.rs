//! The broker's configuration file (`broker.toml`, written by `backchannel init`).
//!
//! ```toml
//! listen = "0.0.0.0:7878"            # where to accept TLS connections (HOST:PORT)
//! certificate = "broker.crt"         # PEM, paths relative to this file
//! private_key = "broker.key"         # PEM, mode 0600
//! queue_limit = 10000                # envelopes held per recipient
//! store = "broker.store"             # optional: mailboxes survive a crash
//! storage_key = "broker.storage-key" # seals the store at rest; mode 0600
//!
//! [quotas]                           # optional; these are the defaults
//! mailbox_bytes = 33554432           # bytes held per recipient
//! sender_frames = 2500               # envelopes held per (sender, recipient)
//! sender_bytes = 8388608             # bytes held per (sender, recipient)
//!
//! [admission]                        # optional; these are the defaults
//! login_deadline_ms = 3000           # TLS handshake and login together
//! unauthenticated = 256              # connections not logged in yet, in all
//! unauthenticated_per_address = 32   # ... and per source address
//! sessions = 1024                    # logged-in sessions
//!
//! parties = "parties.pub"            # roster: one `NAME.pub` line per party
//!
//! [[party]]                          # and/or parties one by one
//! name = "alpha"
//! public_key = "alpha.pub"           # `backchannel-ed25519 <hex> alpha`
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use backchannel_net::config_file::{ConfigFileError, load_toml, read_named};
use backchannel_proto::PublicIdentity;
use backchannel_proto::keyfile::KeyFileError;

use crate::admission::AdmissionLimits;
use crate::mailbox::Quotas;
use serde::Deserialize;

/// The default number of envelopes held per recipient.
pub const DEFAULT_QUEUE_LIMIT: usize = 10_000;

/// `broker.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// Address to listen on, `HOST:PORT` (an address or a name of this host).
    pub listen: String,
    /// The broker's certificate (PEM).
    pub certificate: PathBuf,
    /// The certificate's private key (PEM).
    pub private_key: PathBuf,
    /// Envelopes held per recipient before senders are refused.
    #[serde(default = "default_queue_limit")]
    pub queue_limit: usize,
    /// The durable store of queued frames; without it mailboxes live in memory only.
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// The key that seals the store (required with `store`).
    #[serde(default)]
    pub storage_key: Option<PathBuf>,
    /// Bounds on what a mailbox holds.
    #[serde(default)]
    pub quotas: QuotasConfig,
    /// Who may connect before logging in, and for how long.
    #[serde(default)]
    pub admission: AdmissionConfig,
    /// A roster of the registered parties' public keys.
    #[serde(rename = "parties", default)]
    pub roster: Option<PathBuf>,
    /// The registered parties, one by one.
    #[serde(rename = "party", default)]
    pub parties: Vec<PartyEntry>,
}

/// `[quotas]` as written (see [`Quotas`]; `queue_limit` is the fourth).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// Bytes held per recipient.
    #[serde(default = "QuotasConfig::default_mailbox_bytes")]
    pub mailbox_bytes: usize,
    /// Envelopes held per (sender, recipient).
    #[serde(default = "QuotasConfig::default_sender_frames")]
    pub sender_frames: usize,
    /// Bytes held per (sender, recipient).
    #[serde(default = "QuotasConfig::default_sender_bytes")]
    pub sender_bytes: usize,
}

impl QuotasConfig {
    fn default_mailbox_bytes() -> usize {
        Quotas::default().bytes
    }
    fn default_sender_frames() -> usize {
        Quotas::default().sender_frames
    }
    fn default_sender_bytes() -> usize {
        Quotas::default().sender_bytes
    }
}

impl Default for QuotasConfig {
    fn default() -> Self {
        QuotasConfig {
            mailbox_bytes: Self::default_mailbox_bytes(),
            sender_frames: Self::default_sender_frames(),
            sender_bytes: Self::default_sender_bytes(),
        }
    }
}

/// Where the durable store and its key are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorePaths {
    /// The store file.
    pub store: PathBuf,
    /// The storage key file (0600).
    pub key: PathBuf,
    /// Whether a missing or empty store may be created (`broker --new-store`; `init`
    /// creates the store of a new deployment). Otherwise the broker refuses to start
    /// on one, rather than lose what it held without a word.
    pub create: bool,
}

/// `[admission]` as written (see [`AdmissionLimits`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Milliseconds for the TLS handshake and the login together.
    #[serde(default = "AdmissionConfig::default_deadline_ms")]
    pub login_deadline_ms: u64,
    /// Connections that have not logged in yet, in all.
    #[serde(default = "AdmissionConfig::default_unauthenticated")]
    pub unauthenticated: usize,
    /// Connections that have not logged in yet, per source address.
    #[serde(default = "AdmissionConfig::default_per_address")]
    pub unauthenticated_per_address: usize,
    /// Logged-in sessions.
    #[serde(default = "AdmissionConfig::default_sessions")]
    pub sessions: usize,
}

impl AdmissionConfig {
    fn default_deadline_ms() -> u64 {
        u64::try_from(AdmissionLimits::default().login_deadline.as_millis()).unwrap_or(3_000)
    }
    fn default_unauthenticated() -> usize {
        AdmissionLimits::default().unauthenticated
    }
    fn default_per_address() -> usize {
        AdmissionLimits::default().unauthenticated_per_address
    }
    fn default_sessions() -> usize {
        AdmissionLimits::default().sessions
    }

    fn limits(&self) -> Result<AdmissionLimits, ConfigError> {
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid(format!(
                    "[admission] {name} must be at least 1"
                )))
            } else {
                Ok(())
            }
        };
        positive("login_deadline_ms", self.login_deadline_ms)?;
        positive("unauthenticated", self.unauthenticated as u64)?;
        positive(
            "unauthenticated_per_address",
            self.unauthenticated_per_address as u64,
        )?;
        positive("sessions", self.sessions as u64)?;
        Ok(AdmissionLimits {
            login_deadline: std::time::Duration::from_millis(self.login_deadline_ms),
            unauthenticated: self.unauthenticated,
            unauthenticated_per_address: self.unauthenticated_per_address,
            sessions: self.sessions,
        })
    }
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            login_deadline_ms: Self::default_deadline_ms(),
            unauthenticated: Self::default_unauthenticated(),
            unauthenticated_per_address: Self::default_per_address(),
            sessions: Self::default_sessions(),
        }
    }
}

fn default_queue_limit() -> usize {
    DEFAULT_QUEUE_LIMIT
}

/// One registered party.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyEntry {
    /// Its name.
    pub name: String,
    /// Its public key file.
    pub public_key: PathBuf,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, or one it names, could not be read or parsed.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// A key file is unusable.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// A party's key file names a different party.
    #[error("{path}: the key belongs to {found:?}, but the configuration says {expected:?}")]
    NameMismatch {
        /// The key file.
        path: PathBuf,
        /// The name in the configuration.
        expected: String,
        /// The name in the key file.
        found: String,
    },
    /// The same party is registered twice.
    #[error("party {0:?} is registered twice")]
    Duplicate(String),
    /// The TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] backchannel_net::tls::TlsError),
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// Everything the running broker needs, loaded and checked.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// The TLS server configuration.
    pub tls: Arc<rustls_config::ServerConfig>,
    /// The registered parties and their keys.
    pub registered: Arc<Vec<PublicIdentity>>,
    /// Who may connect before logging in, and for how long.
    pub admission: AdmissionLimits,
    /// Bounds on what a mailbox holds.
    pub quotas: Quotas,
    /// The durable store, if any.
    pub store: Option<StorePaths>,
    /// The broker's certificate key, to check deniable (MAC) logins with (`nodes.md`
    /// §2); `None` accepts signed logins only.
    pub login_key: Option<ed25519_dalek::SigningKey>,
}

impl BrokerSettings {
    /// Settings with every limit at its default, for brokers built in code (the demo,
    /// the lab, tests), from the broker's certificate and key (PEM): the TLS
    /// configuration and the key deniable logins are checked with come from the same
    /// key, as when loaded from `broker.toml`. Set fields to change the limits.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        registered: Arc<Vec<PublicIdentity>>,
    ) -> Result<Self, backchannel_net::tls::TlsError> {
        Ok(BrokerSettings {
            tls: backchannel_net::tls::server_config(cert_pem, key_pem)?,
            login_key: Some(backchannel_net::tls::broker_login_key(key_pem)?),
            registered,
            admission: AdmissionLimits::default(),
            quotas: Quotas::default(),
            store: None,
        })
    }
}

/// Re-export so callers need not depend on rustls to name the type.
pub mod rustls_config {
    pub use tokio_rustls::rustls::ServerConfig;
}

impl BrokerConfig {
    fn quotas(&self) -> Result<Quotas, ConfigError> {
        let q = &self.quotas;
        for (name, v) in [
            ("[quotas] mailbox_bytes", q.mailbox_bytes),
            ("[quotas] sender_frames", q.sender_frames),
            ("[quotas] sender_bytes", q.sender_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        Ok(Quotas {
            frames: self.queue_limit,
            bytes: q.mailbox_bytes,
            sender_frames: q.sender_frames,
            sender_bytes: q.sender_bytes,
        })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(load_toml(path)?)
    }

    /// Loads the keys and certificate the configuration names; relative paths are
    /// taken from `base` (the configuration file's directory).
    pub fn settings(&self, base: &Path) -> Result<BrokerSettings, ConfigError> {
        if self.queue_limit == 0 {
            return Err(ConfigError::Invalid(
                "queue_limit must be at least 1".into(),
            ));
        }
        // The TLS key is the broker's identity to every party: same rule as theirs.
        backchannel_net::key_files::check_private_permissions(&base.join(&self.private_key))?;
        let read = |p: &Path| read_named(&base.join(p));
        let key_pem = read(&self.private_key)?;
        let tls = backchannel_net::tls::server_config(&read(&self.certificate)?, &key_pem)?;
        let login_key = Some(backchannel_net::tls::broker_login_key(&key_pem)?);
        let mut registered: Vec<PublicIdentity> = match &self.roster {
            Some(roster) => backchannel_net::key_files::read_roster(&base.join(roster))?,
            None => Vec::new(),
        };
        for p in &self.parties {
            let path = base.join(&p.public_key);
            let id = backchannel_net::key_files::read_public_key(&path)?;
            if id.name().as_str() != p.name {
                return Err(ConfigError::NameMismatch {
                    path,
                    expected: p.name.clone(),
                    found: id.name().to_string(),
                });
            }
            if registered.iter().any(|r| r.name() == id.name()) {
                return Err(ConfigError::Duplicate(p.name.clone()));
            }
            registered.push(id);
        }
        Ok(BrokerSettings {
            tls,
            login_key,
            registered: Arc::new(registered),
            admission: self.admission.limits()?,
            quotas: self.quotas()?,
            store: match (&self.store, &self.storage_key) {
                (None, None) => None,
                (Some(store), Some(key)) => Some(StorePaths {
                    store: base.join(store),
                    key: base.join(key),
                    create: false,
                }),
                _ => {
                    return Err(ConfigError::Invalid(
                        "`store` and `storage_key` go together: give both or neither".into(),
                    ));
                }
            },
        })
    }
}
