//! `backchannel party`: the long-running party node.
//!
//! It owns the party (its lock, files and broker connection), prints what arrives,
//! and serves the control socket (`control.rs`) so that `send`, `receive` and
//! `pending` for the same party, run while it runs, hand it their work instead of
//! failing on the lock. Sends that arrive together are sealed and put on disk with
//! one fsync ([`backchannel_party::Party::send_many`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::VecDeque;

use backchannel_party::{Activity, Control, Outgoing, Party, RunEnd};
use clap::Parser;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::control::{ClientSink, ControlSocket, Incoming, Request};
use crate::receive::{ReceiveRequest, ReceiveSession};
use crate::send::{SendRequest, SendSession};
use crate::session::{BatchedTerminal, Session, Sink, exit_code};
use backchannel_show::Outcome;
use backchannel_show::print;

/// Run the party node: keep the connection to the broker, print what arrives, and
/// do the work of `send`, `receive` and `pending` run for this party meanwhile.
///
/// Stops on Ctrl-C or SIGTERM (after saving and acknowledging what it has), or after
/// --timeout. While it runs, no other process opens the party's files: `send`,
/// `receive` and `pending` reach it through the control socket beside the party's
/// state (`<state>.sock`, mode 0600).
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel party --config deploy/bravo/bravo.toml &\n  backchannel send --config deploy/bravo/bravo.toml --to alpha \"No initiation of military action absent provocation.\"\n  backchannel pending --config deploy/bravo/bravo.toml"
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Stop after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
    /// Print what arrives as JSON lines (as `receive --json`).
    #[arg(long)]
    json: bool,
}

/// Runs `backchannel party`.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    if crate::control::connect(&args.config).await?.is_some() {
        anyhow::bail!(
            "another process already runs {} (its control socket answers): stop it first",
            args.config.display()
        );
    }
    let (me, party) = crate::open::open_party(&args.config)?;
    let own = Box::new(ReceiveSession::new(
        &me,
        ReceiveRequest {
            count: None,
            timeout: args.timeout,
            json: args.json,
        },
    ));
    serve(&args.config, me, party, own).await
}

/// Messages kept for the next `receive` at most (older ones stay in the transcript).
const MAX_UNCLAIMED: usize = 1024;

/// An accepted content envelope: what a `receive` waits for.
fn is_message(a: &Activity) -> bool {
    matches!(a, Activity::Received(r) if r.verdict.is_ok() && !r.is_control())
}

/// A client's command in progress.
struct Client {
    session: Box<dyn Session>,
    sink: ClientSink,
    done: bool,
}

/// What woke the node.
enum Wake {
    Request(Option<Incoming>),
    Shutdown,
}

/// Runs `party` as a node, serving the control socket of the party in `config`,
/// until `own` (this process's own command) has ended and no client's command is
/// still running, or a signal comes. Returns `own`'s outcome.
///
/// Every command that opens a party runs it this way, so a second command for the
/// same party, started meanwhile, is served by this process instead of failing on
/// the party's lock.
pub async fn serve(
    config: &Path,
    me: String,
    mut party: Party,
    own: Box<dyn Session>,
) -> anyhow::Result<Outcome> {
    let socket = ControlSocket::bind(&crate::control::socket_path(config)?)?;
    let socket_path: PathBuf = socket.path().to_owned();
    let (requests_tx, mut requests) = mpsc::channel::<Incoming>(256);
    let accept = tokio::spawn(socket.serve(requests_tx));
    let mut shutdown = std::pin::pin!(crate::shutdown::shutdown_signal());
    let mut own = Some(own);
    let mut own_outcome: Option<anyhow::Result<Outcome>> = None;
    let mut clients: Vec<Client> = Vec::new();
    // Messages accepted while no `receive` ran: the next one gets them first, so a
    // message is never shown only to a command that was not waiting for it.
    let mut unclaimed: VecDeque<Activity> = VecDeque::new();
    // This process's own command prints through one buffer, flushed whenever the
    // party is about to wait (it polls the interrupt first, after each batch of
    // activities) and whenever it returns: one `write` per batch, not per line.
    let terminal = std::sync::Mutex::new(BatchedTerminal::default());
    let terminal = || terminal.lock().unwrap_or_else(|p| p.into_inner());
    let result = loop {
        let far = Instant::now() + Duration::from_secs(365 * 86_400);
        let deadline = clients
            .iter()
            .map(|c| c.session.deadline())
            .chain(own.as_ref().map(|o| o.deadline()))
            .fold(far, Instant::min);
        let mut wait = Box::pin(async {
            tokio::select! {
                r = requests.recv() => Wake::Request(r),
                _ = &mut shutdown => Wake::Shutdown,
            }
        });
        let interrupt = std::future::poll_fn(move |cx| {
            terminal().flush();
            wait.as_mut().poll(cx)
        });
        let mut own_done = false;
        let end = party
            .run_until_interrupted(deadline, interrupt, |a| {
                let mut stop = false;
                let receiver = own.as_ref().is_some_and(|o| !own_done && o.receives())
                    || clients.iter().any(|c| !c.done && c.session.receives());
                if !receiver && is_message(a) && unclaimed.len() < MAX_UNCLAIMED {
                    unclaimed.push_back(a.clone());
                }
                if let Some(o) = own.as_mut()
                    && !own_done
                    && o.on(a, &mut *terminal()) == Control::Stop
                {
                    own_done = true;
                    stop = true;
                }
                for c in clients.iter_mut().filter(|c| !c.done) {
                    if c.session.on(a, &mut c.sink) == Control::Stop {
                        c.done = true;
                        stop = true;
                    }
                }
                if stop {
                    Control::Stop
                } else {
                    Control::Continue
                }
            })
            .await;
        let now = Instant::now();
        if own_done || own.as_ref().is_some_and(|o| o.deadline() <= now) {
            own_outcome = own.take().map(|o| o.finish(&mut *terminal()));
        }
        terminal().flush();
        match end {
            Err(e) => break Err(e.into()),
            Ok(RunEnd::Interrupted(Wake::Shutdown)) => break Ok(()),
            Ok(RunEnd::Interrupted(Wake::Request(Some(first)))) => {
                let mut batch = vec![first];
                while let Ok(more) = requests.try_recv() {
                    batch.push(more);
                }
                let before = clients.len();
                if let Err(e) = take_requests(&me, &mut party, batch, &mut clients) {
                    break Err(e);
                }
                for c in clients.iter_mut().skip(before) {
                    while c.session.receives() && !c.done {
                        let Some(a) = unclaimed.pop_front() else {
                            break;
                        };
                        c.done = c.session.on(&a, &mut c.sink) == Control::Stop;
                    }
                }
            }
            Ok(RunEnd::Interrupted(Wake::Request(None))) => {
                tracing::warn!("the control socket stopped; the node goes on without it");
            }
            Ok(RunEnd::Stopped | RunEnd::Deadline) => {}
        }
        for c in &mut clients {
            c.done |= c.session.deadline() <= now;
        }
        finish_done(&mut clients);
        if own.is_none() && clients.is_empty() {
            break Ok(());
        }
    };
    // No new clients; those whose request is in flight are told to try again (they
    // will open the party themselves once this process has let go of it).
    accept.abort();
    ControlSocket::remove(&socket_path);
    requests.close();
    while let Ok(late) = requests.try_recv() {
        late.sink.not_taken();
    }
    let stopping = match &result {
        Ok(()) => "the party node stopped".to_owned(),
        Err(e) => format!("the party node failed: {}", backchannel_show::one_line(e)),
    };
    for c in &mut clients {
        c.sink.err(&format!("backchannel: {stopping}"));
        c.done = true;
    }
    finish_done(&mut clients);
    party.close().await;
    result?;
    let outcome = match (own, own_outcome) {
        (Some(o), _) => o.finish(&mut *terminal()),
        (None, Some(outcome)) => outcome,
        (None, None) => Ok(Outcome::Ok),
    };
    terminal().flush();
    outcome
}

/// Starts the commands in `batch`: all its sends sealed and saved with one fsync.
fn take_requests(
    me: &str,
    party: &mut Party,
    batch: Vec<Incoming>,
    clients: &mut Vec<Client>,
) -> anyhow::Result<()> {
    let mut sends: Vec<(SendRequest, ClientSink)> = Vec::new();
    for incoming in batch {
        let Incoming { request, mut sink } = incoming;
        match request {
            Request::Send(r) => sends.push((r, sink)),
            Request::Receive(r) => clients.push(Client {
                session: Box::new(ReceiveSession::new(me, r)),
                sink,
                done: false,
            }),
            Request::Pending(r) => {
                crate::pending::report(party, &r, &mut sink);
                sink.exit(0);
            }
        }
    }
    if sends.is_empty() {
        return Ok(());
    }
    let mut outgoing = Vec::with_capacity(sends.len());
    let mut shown = Vec::with_capacity(sends.len());
    let mut refused: Vec<Option<anyhow::Error>> = Vec::with_capacity(sends.len());
    for (r, _) in &sends {
        let checked = crate::send::check_assurance_id(party, r).and_then(|()| r.body());
        match checked {
            Ok((body, ttl)) => {
                shown.push(print::body_text(&body));
                refused.push(None);
                outgoing.push(Outgoing {
                    to: r.to.clone(),
                    body,
                    ttl,
                });
            }
            Err(e) => {
                shown.push(String::new());
                refused.push(Some(e));
            }
        }
    }
    let mut results = party.send_many(outgoing)?.into_iter();
    for (((request, mut sink), shown), refused) in sends.into_iter().zip(shown).zip(refused) {
        let sealed = match refused {
            Some(e) => Err(e),
            None => results
                .next()
                .unwrap_or_else(|| Err(backchannel_proto::UnknownPeer(request.to.clone()).into()))
                .map_err(anyhow::Error::from),
        };
        match sealed {
            Ok(seq) => {
                let session = SendSession::new(me, request, seq, &shown, &mut sink);
                clients.push(Client {
                    session: Box::new(session),
                    sink,
                    done: false,
                });
            }
            Err(e) => {
                let code = exit_code(Err(e), &mut sink);
                sink.exit(code);
            }
        }
    }
    Ok(())
}

/// Ends every finished command: its last lines and exit code.
fn finish_done(clients: &mut Vec<Client>) {
    let (done, running): (Vec<Client>, Vec<Client>) =
        std::mem::take(clients).into_iter().partition(|c| c.done);
    *clients = running;
    for c in done {
        let mut sink = c.sink;
        let code = exit_code(c.session.finish(&mut sink), &mut sink);
        sink.exit(code);
    }
}
