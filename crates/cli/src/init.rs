//! `backchannel init` and `backchannel add-party`: a deployment as one bundle per node.
//!
//! ```text
//! DIR/deployment.toml        public: where parties dial the broker, the mode (for add-party)
//! DIR/broker/                the broker's host: broker.toml, broker.key, broker.crt,
//!                            broker.storage-key, broker.store (empty), parties.pub
//! DIR/<party>/               that party's host: <party>.toml, <party>.key, broker.crt,
//!                            parties.pub
//! ```
//!
//! Each bundle holds its own node's secrets and nothing of any other node's: copy
//! `DIR/broker/` to the broker's machine and `DIR/alpha/` to alpha's. The roster
//! `parties.pub` (one public key line per party) is the same file in every bundle, so
//! every configuration file has the same size whatever the number of parties; only
//! the roster grows, one line (about 90 bytes) per party.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use backchannel_proto::keyfile::encode_public_key;
use backchannel_proto::text::plain;
use backchannel_proto::{ChannelMode, SigningIdentity};
use clap::Parser;
use serde::Deserialize;

use crate::keys;
use backchannel_show::Outcome;

/// Write a deployment: the broker's key, certificate and storage key, one identity per
/// party, and one bundle per node (DIR/broker/, DIR/<party>/), each holding only what
/// that node needs: its own keys, the broker's certificate, every party's public key
/// and its configuration.
#[derive(Parser)]
#[command(after_help = "Examples:\n  \
    backchannel init deploy --parties alpha,bravo,charlie --mode signed\n  \
    backchannel init deploy --broker-addr broker.example.org:7878     # three machines\n  \
    backchannel init deploy --broker-addr 10.0.0.1:7878 --listen 10.0.0.1:7878\n\n\
    Copy DIR/broker/ to the broker's machine and DIR/<party>/ to each party's.")]
pub struct Args {
    /// The directory to write into (created if missing; must not hold a deployment).
    dir: PathBuf,
    /// The port the broker listens on, on 127.0.0.1 (without --broker-addr).
    #[arg(long, default_value_t = 7878)]
    port: u16,
    /// Where the parties reach the broker, HOST:PORT (a host name or an address).
    /// Without it: 127.0.0.1 and --port, everything on this machine.
    #[arg(long, value_name = "HOST:PORT")]
    broker_addr: Option<String>,
    /// Where the broker listens, ADDR:PORT (default: 127.0.0.1:PORT without
    /// --broker-addr, else 0.0.0.0 and the port of --broker-addr).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// The mode every pair of parties uses: signed, deniable or off-record.
    #[arg(long, default_value = "signed")]
    mode: ChannelMode,
    /// The parties, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "alpha,bravo")]
    parties: Vec<String>,
    /// One roster and one copy of the broker's certificate for the whole deployment
    /// (DIR/parties.pub, DIR/broker.crt), which every bundle's configuration names as
    /// ../parties.pub and ../broker.crt, instead of a copy in every bundle: a bundle no
    /// longer grows with the deployment (3,000 parties take about 40 MB on disk, not
    /// 830 MB). Copy those two files beside each bundle you copy to another machine.
    #[arg(long)]
    shared: bool,
}

/// Add a party to an existing deployment: its bundle, and its public key in every
/// bundle's roster.
#[derive(Parser)]
#[command(after_help = "Examples:\n  backchannel add-party deploy delta\n\n\
    Then copy DIR/delta/ to delta's machine, and the updated parties.pub to the\n\
    broker (restart it) and to every other party.")]
pub struct AddPartyArgs {
    /// The deployment directory `init` wrote.
    dir: PathBuf,
    /// The new party's name.
    name: String,
}

/// `DIR/deployment.toml`: what `add-party` needs to know (nothing secret).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deployment {
    broker_addr: String,
    mode: String,
    /// Written with `--shared`: one roster and certificate for every bundle.
    #[serde(default)]
    shared: bool,
}

/// Where a bundle's configuration finds the roster and the broker's certificate: its
/// own copies, or the deployment's shared ones one directory up.
#[derive(Clone, Copy)]
struct Layout {
    shared: bool,
}

impl Layout {
    fn roster(self) -> &'static str {
        if self.shared {
            "../parties.pub"
        } else {
            ROSTER
        }
    }

    fn certificate(self) -> &'static str {
        if self.shared {
            "../broker.crt"
        } else {
            "broker.crt"
        }
    }
}

const ROSTER: &str = "parties.pub";
const BROKER_DIR: &str = "broker";
/// The broker's durable store of queued frames, and the key that seals it.
const STORE: &str = "broker.store";
const STORAGE_KEY: &str = "broker.storage-key";

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    println!("{}", write(&args)?);
    Ok(Outcome::Ok)
}

/// Writes the deployment without printing (for `bench`).
pub fn run_quietly(args: Args) -> anyhow::Result<()> {
    write(&args).map(|_| ())
}

/// The configuration file of `party` in the deployment at `dir`.
pub fn party_config(dir: &Path, party: &str) -> PathBuf {
    dir.join(party).join(format!("{party}.toml"))
}

/// The broker's configuration file in the deployment at `dir`.
pub fn broker_config(dir: &Path) -> PathBuf {
    dir.join(BROKER_DIR).join("broker.toml")
}

/// Writes the deployment; returns the summary.
fn write(args: &Args) -> anyhow::Result<String> {
    let dir = &args.dir;
    if args.parties.len() < 2 {
        anyhow::bail!("at least two parties are needed");
    }
    let mut names = args.parties.clone();
    names.sort();
    names.dedup();
    if names.len() != args.parties.len() {
        anyhow::bail!("a party is listed twice");
    }
    if args.parties.iter().any(|p| p == BROKER_DIR) {
        anyhow::bail!("`broker` is the intermediary's name, not a party's");
    }
    let broker_addr = match &args.broker_addr {
        Some(a) => a.clone(),
        None => format!("127.0.0.1:{}", args.port),
    };
    backchannel_party::config::check_address(&broker_addr)?;
    let listen = match (&args.listen, &args.broker_addr) {
        (Some(l), _) => l.clone(),
        (None, Some(a)) => {
            let port = a.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
            format!("0.0.0.0:{port}")
        }
        (None, None) => format!("127.0.0.1:{}", args.port),
    };
    backchannel_party::config::check_address(&listen)
        .map_err(|e| anyhow::anyhow!("--listen: {e}"))?;

    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut existing = vec![dir.join("deployment.toml"), dir.join(BROKER_DIR)];
    existing.extend(args.parties.iter().map(|p| dir.join(p)));
    if let Some(found) = existing.iter().find(|f| f.exists()) {
        anyhow::bail!(
            "{}: already exists; refusing to overwrite a deployment (use an empty directory)",
            found.display()
        );
    }
    let identities = args
        .parties
        .iter()
        .map(|p| keys::generate(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let roster: String = identities
        .iter()
        .map(|id| encode_public_key(&id.public()))
        .collect();
    let cert = backchannel_net::tls::generate_broker_certificate()?;

    let broker_dir = dir.join(BROKER_DIR);
    create_dir(&broker_dir)?;
    write_new(
        &broker_dir.join("broker.crt"),
        cert.cert_pem.as_bytes(),
        0o644,
    )?;
    write_new(
        &broker_dir.join("broker.key"),
        cert.key_pem.as_bytes(),
        0o600,
    )?;
    backchannel_broker::store::create_storage_key(&broker_dir.join(STORAGE_KEY))?;
    // The store of a new deployment, created here so that a broker that finds none
    // later knows something was lost (it refuses to start without --new-store).
    let key = backchannel_broker::store::read_storage_key(&broker_dir.join(STORAGE_KEY))?;
    drop(backchannel_broker::store::Store::open(
        &broker_dir.join(STORE),
        &key,
    )?);
    let layout = Layout {
        shared: args.shared,
    };
    if layout.shared {
        write_new(&dir.join(ROSTER), roster.as_bytes(), 0o644)?;
        write_new(&dir.join("broker.crt"), cert.cert_pem.as_bytes(), 0o644)?;
    } else {
        write_new(&broker_dir.join(ROSTER), roster.as_bytes(), 0o644)?;
    }
    write_new(
        &broker_dir.join("broker.toml"),
        broker_toml(&listen, layout).as_bytes(),
        0o644,
    )?;
    for id in &identities {
        write_bundle(
            dir,
            id,
            &cert.cert_pem,
            &roster,
            &broker_addr,
            args.mode,
            layout,
        )?;
    }
    write_new(
        &dir.join("deployment.toml"),
        format!(
            "# Written by `backchannel init`; read by `backchannel add-party`. Nothing secret.\n\
             broker_addr = \"{broker_addr}\"\nmode = \"{}\"\nshared = {}\n",
            args.mode, args.shared
        )
        .as_bytes(),
        0o644,
    )?;
    Ok(format!(
        "wrote a {} deployment in {}: {BROKER_DIR}/ (listens on {}), {} (dial {}); copy each directory to its node's machine{}",
        args.mode,
        plain(&dir.display().to_string()),
        plain(&listen),
        identities
            .iter()
            .map(|i| format!("{}/ [{}]", i.name(), i.public().fingerprint()))
            .collect::<Vec<_>>()
            .join(", "),
        plain(&broker_addr),
        if args.shared {
            format!(", with {ROSTER} and broker.crt beside it (one copy per machine)")
        } else {
            String::new()
        },
    ))
}

/// `backchannel add-party DIR NAME`.
pub fn add_party(args: AddPartyArgs) -> anyhow::Result<Outcome> {
    let dir = &args.dir;
    let deployment_path = dir.join("deployment.toml");
    let deployment: Deployment = backchannel_net::config_file::load_toml(&deployment_path)
        .with_context(|| "not a deployment written by `backchannel init`".to_owned())?;
    let mode: ChannelMode = deployment
        .mode
        .parse()
        .with_context(|| format!("{}: mode", deployment_path.display()))?;
    if args.name == BROKER_DIR {
        anyhow::bail!("`broker` is the intermediary's name, not a party's");
    }
    let layout = Layout {
        shared: deployment.shared,
    };
    let broker_roster = if layout.shared {
        dir.join(ROSTER)
    } else {
        dir.join(BROKER_DIR).join(ROSTER)
    };
    let registered = backchannel_net::key_files::read_roster(&broker_roster)?;
    if registered.iter().any(|p| p.name().as_str() == args.name) {
        anyhow::bail!("{} is already a party of this deployment", args.name);
    }
    if dir.join(&args.name).exists() {
        anyhow::bail!(
            "{}: already exists; refusing to overwrite",
            dir.join(&args.name).display()
        );
    }
    let me = keys::generate(&args.name)?;
    let cert = std::fs::read_to_string(dir.join(BROKER_DIR).join("broker.crt"))
        .context("the broker's certificate")?;
    let line = encode_public_key(&me.public());
    let roster: String = registered
        .iter()
        .map(encode_public_key)
        .chain(std::iter::once(line.clone()))
        .collect();
    write_bundle(
        dir,
        &me,
        &cert,
        &roster,
        &deployment.broker_addr,
        mode,
        layout,
    )?;
    // Every roster this machine holds learns the new key (with --shared, the one).
    let mut updated = vec![broker_roster];
    if !layout.shared {
        updated.extend(
            registered
                .iter()
                .map(|p| dir.join(p.name().as_str()).join(ROSTER))
                .filter(|p| p.exists()),
        );
    }
    for path in &updated {
        append(path, &line)?;
    }
    println!(
        "added {} [{}] as {}/: copy it to {}'s machine; copy the updated {ROSTER} to the broker (then restart it) and to every other party ({} rosters updated here)",
        me.name(),
        me.public().fingerprint(),
        plain(&dir.join(me.name().as_str()).display().to_string()),
        me.name(),
        updated.len()
    );
    Ok(Outcome::Ok)
}

fn broker_toml(listen: &str, layout: Layout) -> String {
    let roster = layout.roster();
    format!(
        "# backchannel broker, written by `backchannel init`.\n\
         # Paths are relative to this file. Run: backchannel broker --config broker.toml\n\n\
         # Where to accept TLS 1.3 connections (HOST:PORT).\n\
         listen = \"{listen}\"\n\
         # The broker's self-signed certificate (pinned by every party) and its key.\n\
         certificate = \"broker.crt\"\n\
         private_key = \"broker.key\"\n\
         # The registered parties: one public key per line. Each must prove\n\
         # possession of its key on every connection.\n\
         parties = \"{roster}\"\n\
         # Envelopes held per recipient while it is offline or slow; when full,\n\
         # senders are told and nothing is discarded.\n\
         queue_limit = 10000\n\
         # Queued envelopes are kept here, sealed under the storage key (0600), so a\n\
         # crash of the broker loses none of them (proto-spec/nodes.md 3.1).\n\
         store = \"{STORE}\"\n\
         storage_key = \"{STORAGE_KEY}\"\n\n\
         # What one mailbox holds at most: bytes from everyone, and envelopes and\n\
         # bytes from any one sender (proto-spec/nodes.md 3.2). Beyond them the\n\
         # sender is told to try later and keeps the envelope.\n\
         [quotas]\n\
         mailbox_bytes = 33554432\n\
         sender_frames = 2500\n\
         sender_bytes = 8388608\n\n\
         # Connections that have not logged in yet (proto-spec/nodes.md 2.1): a deadline\n\
         # for TLS and login together, and how many may wait, in all and per source\n\
         # address (when full, the oldest waiting one is closed); logged-in sessions\n\
         # have their own limit.\n\
         [admission]\n\
         login_deadline_ms = 3000\n\
         unauthenticated = 256\n\
         unauthenticated_per_address = 32\n\
         sessions = 1024\n"
    )
}

/// Writes `DIR/<name>/`: the party's key, configuration, and (unless the layout shares
/// them) the broker's certificate and the roster.
fn write_bundle(
    dir: &Path,
    me: &SigningIdentity,
    cert_pem: &str,
    roster: &str,
    broker_addr: &str,
    mode: ChannelMode,
    layout: Layout,
) -> anyhow::Result<()> {
    let name = me.name().to_string();
    let bundle = dir.join(&name);
    create_dir(&bundle)?;
    backchannel_net::key_files::write_signing_key(&bundle.join(format!("{name}.key")), me)?;
    if !layout.shared {
        write_new(&bundle.join("broker.crt"), cert_pem.as_bytes(), 0o644)?;
        write_new(&bundle.join(ROSTER), roster.as_bytes(), 0o644)?;
    }
    let (roster_path, cert_path) = (layout.roster(), layout.certificate());
    let cfg = format!(
        "# backchannel party {name}, written by `backchannel init`.\n\
         # Paths are relative to this file.\n\n\
         name = \"{name}\"\n\
         # Private key (PKCS#8 PEM, mode 0600), fingerprint {fp}.\n\
         private_key = \"{name}.key\"\n\
         # The broker (HOST:PORT; a name is resolved on each connection), and its\n\
         # certificate: the only one this party trusts.\n\
         broker = \"{broker_addr}\"\n\
         broker_certificate = \"{cert_path}\"\n\
         # Every envelope sent or received, with its verdict (give it to the judge:\n\
         # backchannel verify {name}.transcript --keys {roster_path}).\n\
         transcript = \"{name}.transcript\"\n\
         # Sequence numbers, chain heads and unacknowledged envelopes between runs.\n\
         state = \"{name}.state\"\n\
         # Every other party in the roster is a peer, its key pinned; the mode is local\n\
         # policy: an envelope in another mode is refused, so the broker cannot\n\
         # downgrade the channel. ([[peer]] entries may add or override peers.)\n\
         parties = \"{roster_path}\"\n\
         mode = \"{mode}\"\n",
        fp = me.public().fingerprint(),
    );
    write_new(&bundle.join(format!("{name}.toml")), cfg.as_bytes(), 0o644)
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(path)
        .with_context(|| format!("{}: cannot create (already exists?)", path.display()))
}

fn append(path: &Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options
        .open(path)
        .with_context(|| format!("{}: cannot create (already exists?)", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
}
