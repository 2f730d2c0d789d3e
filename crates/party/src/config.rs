//! A party's configuration file (`alpha.toml`, written by `backchannel init`).
//!
//! ```toml
//! name = "alpha"
//! private_key = "alpha.key"           # PKCS#8 PEM, mode 0600; paths relative to this file
//! broker = "broker.example.org:7878"  # HOST:PORT; a name is resolved on each connection
//! broker_certificate = "broker.crt"   # the pinned broker certificate
//! transcript = "alpha.transcript"
//! state = "alpha.state"
//! parties = "parties.pub"             # roster: one public key line per party
//! mode = "signed"                     # or "deniable" or "off-record": fixed by local policy
//!
//! [[peer]]                            # and/or peers one by one (a roster entry of the
//! name = "bravo"                      # same name is replaced)
//! public_key = "bravo.pub"
//! mode = "signed"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backchannel_net::config_file::{ConfigFileError, load_toml, read_named};
use backchannel_proto::keyfile::KeyFileError;
use backchannel_proto::{
    ChannelConfig, ChannelMode, KeyError, PartyName, PeerPolicy, PublicIdentity, SigningIdentity,
};
use serde::Deserialize;
use tokio_rustls::rustls::ClientConfig;

/// `<party>.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyConfig {
    /// This party's name.
    pub name: String,
    /// Its private key file.
    pub private_key: PathBuf,
    /// The broker's address, `HOST:PORT` (a name or an IP address).
    pub broker: String,
    /// The broker's pinned certificate.
    pub broker_certificate: PathBuf,
    /// Where the transcript is appended.
    pub transcript: PathBuf,
    /// Where the channel state is kept (default: the transcript path with `.state`).
    #[serde(default)]
    pub state: Option<PathBuf>,
    /// A roster of every party's public key (`NAME.pub` lines); every party in it
    /// other than this one is a peer, in [`PartyConfig::mode`].
    #[serde(default)]
    pub parties: Option<PathBuf>,
    /// The mode used with the roster's parties (`signed`, `deniable` or `off-record`).
    #[serde(default)]
    pub mode: Option<String>,
    /// Peers one by one, each with its mode (overrides a roster entry of that name).
    #[serde(rename = "peer", default)]
    pub peers: Vec<PeerEntry>,
    /// Timing.
    #[serde(default)]
    pub timing: Timing,
}

/// One pinned peer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's name.
    pub name: String,
    /// Its public key file.
    pub public_key: PathBuf,
    /// `signed`, `deniable` or `off-record`.
    pub mode: String,
    /// The channel's label (default `main`).
    #[serde(default = "default_label")]
    pub channel: String,
}

fn default_label() -> String {
    "main".to_owned()
}

/// Timing settings, in seconds (`proto-spec/protocol.md` §7.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Report (and resend) envelopes without a receipt after this long.
    pub ack_timeout_secs: u64,
    /// Send a heartbeat after this long without sending, on a channel where something
    /// is owed (`protocol.md` §5.3); 0 disables.
    pub heartbeat_secs: u64,
    /// How far ahead a peer's clock may run.
    pub max_clock_skew_secs: u64,
}

impl Default for Timing {
    fn default() -> Self {
        let c = ChannelConfig::default();
        Timing {
            ack_timeout_secs: c.ack_timeout.as_secs(),
            heartbeat_secs: c.heartbeat_interval.map_or(0, |d| d.as_secs()),
            max_clock_skew_secs: c.max_clock_skew.as_secs(),
        }
    }
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
    /// A name is invalid.
    #[error(transparent)]
    Name(#[from] KeyError),
    /// A setting is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The pinned broker certificate is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] backchannel_net::tls::TlsError),
}

/// Everything a running party needs, loaded and checked.
#[derive(Clone)]
pub struct PartySettings {
    /// Who we are.
    pub me: SigningIdentity,
    /// The broker's address, `HOST:PORT`.
    pub broker: String,
    /// TLS configuration pinning the broker's certificate.
    pub tls: Arc<ClientConfig>,
    /// One policy per peer.
    pub peers: Vec<PeerPolicy>,
    /// Channel timing.
    pub channel: ChannelConfig,
    /// Transcript file.
    pub transcript: PathBuf,
    /// State file.
    pub state: PathBuf,
}

impl std::fmt::Debug for PartySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartySettings")
            .field("me", &self.me)
            .field("broker", &self.broker)
            .field("peers", &self.peers)
            .field("transcript", &self.transcript)
            .field("state", &self.state)
            .finish()
    }
}

impl PartyConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(load_toml(path)?)
    }

    /// Where the party's state snapshot is kept; its lock (`.lock`) and a running
    /// node's control socket (`.sock`) sit beside it.
    pub fn state_path(&self, base: &Path) -> PathBuf {
        match &self.state {
            Some(s) => base.join(s),
            None => base.join(&self.transcript).with_extension("state"),
        }
    }

    /// Loads keys and the pinned certificate; relative paths are taken from `base`.
    pub fn settings(&self, base: &Path) -> Result<PartySettings, ConfigError> {
        let name = PartyName::new(&self.name)?;
        let me = backchannel_net::key_files::read_signing_key(&base.join(&self.private_key), name)?;
        let cert = read_named(&base.join(&self.broker_certificate))?;
        let tls = backchannel_net::tls::client_config(&cert)?;
        check_address(&self.broker)?;
        let mut peers: Vec<PeerPolicy> = Vec::new();
        let mut add = |id: PublicIdentity, mode: &str, label: &str| {
            if id.name() == me.name() {
                return Ok(());
            }
            let mode: ChannelMode = mode
                .parse()
                .map_err(|e: backchannel_proto::UnknownMode| ConfigError::Invalid(e.to_string()))?;
            peers.retain(|q: &PeerPolicy| q.identity.name() != id.name());
            peers.push(PeerPolicy::new(&me.public(), id, mode, label));
            Ok::<(), ConfigError>(())
        };
        match (&self.parties, &self.mode) {
            (Some(roster), Some(mode)) => {
                for id in backchannel_net::key_files::read_roster(&base.join(roster))? {
                    add(id, mode, "main")?;
                }
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::Invalid(
                    "`parties` (a roster) and `mode` go together".into(),
                ));
            }
        }
        let mut listed: Vec<&str> = Vec::new();
        for p in &self.peers {
            let path = base.join(&p.public_key);
            let id = backchannel_net::key_files::read_public_key(&path)?;
            if id.name().as_str() != p.name {
                return Err(ConfigError::Invalid(format!(
                    "{}: the key belongs to {:?}, but the peer is named {:?}",
                    path.display(),
                    id.name().as_str(),
                    p.name
                )));
            }
            if listed.contains(&p.name.as_str()) || id.name() == me.name() {
                return Err(ConfigError::Invalid(format!(
                    "peer {:?} is listed twice or is this party",
                    p.name
                )));
            }
            listed.push(&p.name);
            add(id, &p.mode, &p.channel)?;
        }
        if peers.is_empty() {
            return Err(ConfigError::Invalid("no [[peer]] configured".into()));
        }
        if self.timing.ack_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "timing.ack_timeout_secs must be at least 1".into(),
            ));
        }
        let transcript = base.join(&self.transcript);
        let state = self.state_path(base);
        let channel = ChannelConfig {
            ack_timeout: Duration::from_secs(self.timing.ack_timeout_secs),
            heartbeat_interval: (self.timing.heartbeat_secs > 0)
                .then(|| Duration::from_secs(self.timing.heartbeat_secs)),
            max_clock_skew: Duration::from_secs(self.timing.max_clock_skew_secs),
            ..ChannelConfig::default()
        };
        Ok(PartySettings {
            me,
            broker: self.broker.clone(),
            tls,
            peers,
            channel,
            transcript,
            state,
        })
    }
}

/// Checks that `addr` is `HOST:PORT` (a name, an IPv4 address, or `[IPv6]`) without
/// resolving it: names are resolved on each connection, so a broker that moves is
/// found again.
pub fn check_address(addr: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        ConfigError::Invalid(format!(
            "broker address {:?}: {why} (expected HOST:PORT, e.g. broker.example.org:7878 or 10.0.0.1:7878)",
            backchannel_proto::text::plain(addr)
        ))
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port must be 1 to 65535"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let is_name = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !is_ip && !is_name {
        return Err(bad("not a host name or an IP address"));
    }
    Ok(())
}
