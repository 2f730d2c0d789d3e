//! `backchannel broker`.

use std::path::PathBuf;

use anyhow::Context as _;
use backchannel_broker::{BrokerConfig, Honest, run as run_broker};
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
}

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let config = BrokerConfig::load(&args.config)?;
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    let settings = config.settings(base)?;
    // A name is resolved here (the first address it has that can be bound).
    let listener = tokio::net::TcpListener::bind(config.listen.as_str())
        .await
        .with_context(|| format!("cannot listen on {}", plain(&config.listen)))?;
    println!(
        "broker listening on {} for {} ({} registered parties); stop with Ctrl-C",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        settings
            .registered
            .iter()
            .map(|p| p.name().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        settings.registered.len()
    );
    match &settings.store {
        Some(paths) => println!(
            "queued envelopes are kept in {} (sealed); they survive a crash",
            plain(&paths.store.display().to_string())
        ),
        None => println!(
            "note: no `store` in {}: queued envelopes live in memory only and a crash loses them (proto-spec/nodes.md 3.1)",
            plain(&args.config.display().to_string())
        ),
    }
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
    run_broker(
        settings,
        listener,
        strategy,
        None,
        backchannel_node::shutdown::shutdown_signal(),
    )
    .await?;
    println!("broker stopped");
    Ok(Outcome::Ok)
}
