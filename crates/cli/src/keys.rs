//! `backchannel keygen` and key generation for `init` and the demo.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use backchannel_proto::{PartyName, SigningIdentity};
use clap::Parser;

use backchannel_show::Outcome;

/// Create one party identity: NAME.key (private, mode 0600) and NAME.pub.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel keygen charlie --out keys/\n\nTo add a party to a deployment `init` wrote, use `backchannel add-party DIR NAME`."
)]
pub struct KeygenArgs {
    /// The party's name (a-z, 0-9, '-', '_'; at most 32).
    name: String,
    /// The directory to write the two files in.
    #[arg(long)]
    out: PathBuf,
}

/// 32 bytes from the operating system's CSPRNG.
pub fn secret_bytes() -> anyhow::Result<[u8; 32]> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(secret)
}

/// A fresh identity for `name`.
pub fn generate(name: &str) -> anyhow::Result<SigningIdentity> {
    let name = PartyName::new(name)?;
    Ok(SigningIdentity::from_secret_bytes(name, &secret_bytes()?))
}

/// Writes `<dir>/<name>.key` and `<dir>/<name>.pub`; refuses to overwrite either.
pub fn write_identity(dir: &Path, me: &SigningIdentity) -> anyhow::Result<()> {
    let key = dir.join(format!("{}.key", me.name()));
    let public = dir.join(format!("{}.pub", me.name()));
    for p in [&key, &public] {
        if p.exists() {
            anyhow::bail!(
                "{}: already exists; refusing to overwrite a key",
                p.display()
            );
        }
    }
    backchannel_net::key_files::write_signing_key(&key, me)?;
    backchannel_net::key_files::write_public_key(&public, &me.public())?;
    Ok(())
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the directory", args.out.display()))?;
    let me = generate(&args.name)?;
    write_identity(&args.out, &me)?;
    println!(
        "{}: wrote {}.key (private, mode 0600) and {}.pub, fingerprint {}",
        me.name(),
        args.out.join(me.name().as_str()).display(),
        args.out.join(me.name().as_str()).display(),
        me.public().fingerprint()
    );
    Ok(Outcome::Ok)
}
