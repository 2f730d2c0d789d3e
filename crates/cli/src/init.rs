//! `backchannel init`: a complete local deployment in one directory.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_proto::ChannelMode;
use clap::Parser;

use crate::Outcome;
use crate::keys;

/// Write a complete local deployment: the broker's key and certificate, one identity
/// per party, DIR/broker.toml and one DIR/<party>.toml each, every party pinned to the
/// broker's certificate and to its peers' keys and channel mode.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel init deploy --parties alpha,bravo,charlie --mode signed"
)]
pub struct Args {
    /// The directory to write into (created if missing).
    dir: PathBuf,
    /// The port the broker listens on (127.0.0.1).
    #[arg(long, default_value_t = 7878)]
    port: u16,
    /// The mode every pair of parties uses: signed or deniable.
    #[arg(long, default_value = "signed")]
    mode: ChannelMode,
    /// The parties, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "alpha,bravo")]
    parties: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    println!("{}", write(&args)?);
    Ok(Outcome::Ok)
}

/// Writes the deployment without printing (for `bench`).
pub fn run_quietly(args: Args) -> anyhow::Result<()> {
    write(&args).map(|_| ())
}

/// Writes the deployment; returns the one-line summary.
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
    if args.parties.iter().any(|p| p == "broker") {
        anyhow::bail!("`broker` is the intermediary's name, not a party's");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut existing = vec![
        "broker.key".to_owned(),
        "broker.crt".to_owned(),
        STORAGE_KEY.to_owned(),
        STORE.to_owned(),
    ];
    for p in &args.parties {
        existing.push(format!("{p}.key"));
        existing.push(format!("{p}.pub"));
    }
    if let Some(found) = existing.iter().find(|f| dir.join(f).exists()) {
        anyhow::bail!(
            "{}: already exists; refusing to overwrite keys (use an empty directory)",
            dir.join(found).display()
        );
    }
    let identities = args
        .parties
        .iter()
        .map(|p| keys::generate(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cert = backchannel_net::tls::generate_broker_certificate()?;
    write_new(&dir.join("broker.crt"), cert.cert_pem.as_bytes(), 0o644)?;
    write_new(&dir.join("broker.key"), cert.key_pem.as_bytes(), 0o600)?;
    backchannel_broker::store::create_storage_key(&dir.join(STORAGE_KEY))?;
    for id in &identities {
        keys::write_identity(dir, id)?;
    }

    let mut broker = format!(
        "# backchannel broker, written by `backchannel init`.\n\
         # Paths are relative to this file. Run: backchannel broker --config broker.toml\n\n\
         # Where to accept TLS 1.3 connections.\n\
         listen = \"127.0.0.1:{}\"\n\
         # The broker's self-signed certificate (pinned by every party) and its key.\n\
         certificate = \"broker.crt\"\n\
         private_key = \"broker.key\"\n\
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
         sessions = 1024\n",
        args.port
    );
    for id in &identities {
        let _ = write!(
            broker,
            "\n# {} must prove possession of this key on every connection.\n[[party]]\nname = \"{}\"\npublic_key = \"{}.pub\"\n",
            id.public().fingerprint(),
            id.name(),
            id.name()
        );
    }
    write_new(&dir.join("broker.toml"), broker.as_bytes(), 0o644)?;

    for id in &identities {
        let mut cfg = format!(
            "# backchannel party {name}, written by `backchannel init`.\n\
             # Paths are relative to this file.\n\n\
             name = \"{name}\"\n\
             # Private key (PKCS#8 PEM, mode 0600), fingerprint {fp}.\n\
             private_key = \"{name}.key\"\n\
             # The broker, and its certificate: the only one this party trusts.\n\
             broker = \"127.0.0.1:{port}\"\n\
             broker_certificate = \"broker.crt\"\n\
             # Every envelope sent or received, with its verdict (give it to the judge:\n\
             # backchannel verify {name}.transcript --keys .).\n\
             transcript = \"{name}.transcript\"\n\
             # Sequence numbers, chain heads and unacknowledged envelopes between runs.\n\
             state = \"{name}.state\"\n",
            name = id.name(),
            fp = id.public().fingerprint(),
            port = args.port
        );
        for peer in identities.iter().filter(|p| p.name() != id.name()) {
            let _ = write!(
                cfg,
                "\n# {peer} is pinned to key {fp}; the mode is local policy: an envelope in\n\
                 # another mode is refused, so the broker cannot downgrade the channel.\n\
                 [[peer]]\nname = \"{peer}\"\npublic_key = \"{peer}.pub\"\nmode = \"{mode}\"\n",
                peer = peer.name(),
                fp = peer.public().fingerprint(),
                mode = args.mode
            );
        }
        write_new(
            &dir.join(format!("{}.toml", id.name())),
            cfg.as_bytes(),
            0o644,
        )?;
    }
    Ok(format!(
        "wrote a {} deployment in {}: broker.toml ({}), {}",
        args.mode,
        dir.display(),
        format_args!("127.0.0.1:{}", args.port),
        identities
            .iter()
            .map(|i| format!("{}.toml [{}]", i.name(), i.public().fingerprint()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The broker's durable store of queued frames, and the key that seals it.
const STORE: &str = "broker.store";
const STORAGE_KEY: &str = "broker.storage-key";

fn write_new(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
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
