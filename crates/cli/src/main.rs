//! `backchannel`: the command-line front end of the protocol, its nodes and its judge.
//!
//! Every error is one line on stderr; exit codes are part of the contract:
//! 0 success, 1 error, 2 usage, 3 no receipt (or not enough messages) in time,
//! 4 the judge found the transcript not clean, 5 a transcript with nothing to judge.

#![forbid(unsafe_code)]

mod assurances;
mod bench;
mod broker_cmd;
mod init;
mod keys;
mod verify;

use std::process::ExitCode;

use backchannel_classroom as classroom;
use backchannel_node::{commands, node, pending, receive, send};
use backchannel_plays::{attacks, demo};
use backchannel_show::one_line;
use clap::{Parser, Subcommand};

/// A secure intermediary messaging protocol: two parties talk through a broker that
/// reads and forwards everything, but cannot forge, alter, replay, reorder or redirect
/// signed messages without being caught.
#[derive(Parser)]
#[command(name = "backchannel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(init::Args),
    AddParty(init::AddPartyArgs),
    Keygen(keys::KeygenArgs),
    Broker(broker_cmd::Args),
    Send(send::Args),
    Receive(receive::Args),
    Party(node::Args),
    Pending(pending::Args),
    Assurances(assurances::Args),
    Bench(bench::Args),
    #[command(name = "bench-send", hide = true)]
    BenchSend(bench::sender::Args),
    Demo(demo::Args),
    Verify(verify::Args),
    Attacks(attacks::Args),
    Classroom(classroom::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BACKCHANNEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log(&cli.command)));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("backchannel: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(a) => init::run(a),
            Command::AddParty(a) => init::add_party(a),
            Command::Assurances(a) => assurances::run(a),
            Command::Keygen(a) => keys::keygen(a),
            Command::Broker(a) => broker_cmd::run(a).await,
            Command::Send(a) => commands::send(a).await,
            Command::Receive(a) => commands::receive(a).await,
            Command::Party(a) => node::run(a).await,
            Command::Pending(a) => commands::pending(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::BenchSend(a) => bench::sender::run(a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Classroom(a) => classroom::run(a).await,
            Command::Verify(a) => verify::run(a),
            Command::Attacks(a) => attacks::run(a).await,
        }
    });
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("backchannel: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The broker logs what it reads; the other commands print their own account and
/// keep the log for warnings.
fn default_log(command: &Command) -> &'static str {
    match command {
        Command::Broker(_) => "info",
        // In-process brokers under attack log refusals that the account already shows.
        Command::Attacks(_) | Command::Demo(_) | Command::Classroom(_) => "error",
        _ => "warn",
    }
}
