//! `backchannel broker`.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_broker::{BrokerConfig, Honest, run_when_ready as run_broker};
use backchannel_proto::relay::RelayStrategy;
use backchannel_proto::text::plain;
use clap::Parser;
use clap::builder::PossibleValuesParser;

use backchannel_show::Outcome;

/// Run the broker until Ctrl-C or SIGTERM. It logs a line for every envelope it reads.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel broker --config deploy/broker/broker.toml\n  backchannel broker --config deploy/broker/broker.toml --adversary drop"
)]
pub struct Args {
    /// The broker's configuration file (written by `backchannel init`).
    #[arg(long)]
    config: PathBuf,
    /// Replace honest forwarding with an attack from the lab (`backchannel attacks`
    /// shows what each does). The moves aim at the lab's cast: alpha's envelopes to
    /// bravo (and charlie as the third party). For teaching only.
    #[arg(long, value_name = "NAME", value_parser = PossibleValuesParser::new(backchannel_lab::moves::ALL))]
    adversary: Option<String>,
    /// Start with an empty store when the configured one is missing or empty. Without
    /// it the broker refuses to start on such a store: the messages it held would be
    /// lost without a word (`init` creates the store of a new deployment).
    #[arg(long)]
    new_store: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let config = BrokerConfig::load(&args.config)?;
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    let mut settings = config.settings(base)?;
    if let Some(paths) = settings.store.as_mut() {
        paths.create = args.new_store;
    }
    // A name is resolved here (the first address it has that can be bound).
    let listener = tokio::net::TcpListener::bind(config.listen.as_str())
        .await
        .with_context(|| format!("cannot listen on {}", plain(&config.listen)))?;
    let strategy: Box<dyn RelayStrategy> = match &args.adversary {
        None => Box::new(Honest),
        Some(name) => {
            let Some(strategy) = backchannel_lab::strategy(name, &settings.registered) else {
                anyhow::bail!("no attack named {name:?}");
            };
            println!(
                "ADVERSARY: this broker plays {name:?} instead of relaying honestly (the lab's move; for teaching only)"
            );
            let names: Vec<&str> = settings
                .registered
                .iter()
                .map(|p| p.name().as_str())
                .collect();
            let cast = backchannel_lab::moves::Cast::from_names(&names);
            let role = |r| plain(cast.name(r));
            println!(
                "the move aims at {}'s envelopes to {} ({} is the third party): the first three parties of the roster; it fires on the next envelope it applies to",
                role(backchannel_lab::moves::ALPHA),
                role(backchannel_lab::moves::BRAVO),
                role(backchannel_lab::moves::CHARLIE)
            );
            strategy
        }
    };
    // Said once the store is open and loaded: "listening" means it really is.
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let names = settings
        .registered
        .iter()
        .map(|p| p.name().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let count = settings.registered.len();
    let kept = match &settings.store {
        Some(paths) => format!(
            "queued envelopes are kept in {} (sealed); they survive a crash",
            plain(&paths.store.display().to_string())
        ),
        None => format!(
            "note: no `store` in {}: queued envelopes live in memory only and a crash loses them (proto-spec/nodes.md 3.1)",
            plain(&args.config.display().to_string())
        ),
    };
    let ready = move || {
        println!(
            "broker listening on {addr} for {names} ({count} registered parties); stop with Ctrl-C"
        );
        println!("{kept}");
    };
    run_broker(
        settings,
        listener,
        strategy,
        None,
        backchannel_node::shutdown::shutdown_signal(),
        ready,
    )
    .await?;
    println!("broker stopped");
    Ok(Outcome::Ok)
}
