//! One round of the classroom: a broker whose relay strategy is the desk, and three
//! real party nodes over loopback TLS (the two players and a third power a message can
//! be redirected to), each driven by its own task that takes commands from the page.
//!
//! Everything the nodes report goes into the round's [`EventLog`] (the schema of
//! `docs/events.md`); the views are drawn from it, so the page shows exactly what the
//! nodes said, and the timeline is the one `backchannel demo --timeline` draws.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use backchannel_broker::BrokerEvent;
use backchannel_lab::Adversary;
use backchannel_lab::desk::Desk;
use backchannel_lab::scenario::Said;
use backchannel_party::{Activity, Control, Party, PartySettings, RunEnd};
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{
    BodyKind, ChannelConfig, ChannelMode, PeerPolicy, SigningIdentity, Timestamp,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::events::EventLog;
use crate::local_broker::LocalBroker;

/// Timing for people: a receipt is missed after 5 s (a student takes a while to
/// decide), heartbeats every second carry acknowledgements.
fn classroom_timing() -> ChannelConfig {
    ChannelConfig {
        ack_timeout: Duration::from_secs(5),
        heartbeat_interval: Some(Duration::from_secs(1)),
        ..ChannelConfig::default()
    }
}

/// How long a text stays valid.
const TEXT_VALID: Duration = Duration::from_secs(3600);

/// The party names in a round: the two players and the third power.
#[derive(Clone, Debug)]
pub struct Names {
    /// Plays alpha.
    pub alpha: String,
    /// Plays bravo.
    pub bravo: String,
    /// The third power: receives only (a redirect's destination).
    pub third: String,
}

impl Names {
    /// The players' names (from a scenario or `alpha`/`bravo`) and a third that
    /// differs from both.
    pub fn new(players: Option<&[String; 2]>) -> Names {
        let [alpha, bravo] = players
            .cloned()
            .unwrap_or_else(|| ["alpha".to_owned(), "bravo".to_owned()]);
        let third = ["charlie", "charlie-2", "third-power"]
            .into_iter()
            .find(|n| *n != alpha && *n != bravo)
            .unwrap_or("third-power")
            .to_owned();
        Names {
            alpha,
            bravo,
            third,
        }
    }

    /// All three, players first.
    pub fn all(&self) -> [&str; 3] {
        [&self.alpha, &self.bravo, &self.third]
    }
}

/// What the page asks a party node to do.
enum Command {
    Send {
        to: String,
        said: Said,
        ttl: Duration,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

struct Node {
    name: String,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

/// What the round recorded, shared with the node tasks.
pub struct Record {
    /// Every event, in the schema of `docs/events.md`.
    pub events: EventLog,
    /// Each party's assurance ledger, rebuilt from its transcript as it changes.
    pub ledgers: Vec<(String, Value)>,
    /// What each party knows, rebuilt with its ledger (the timeline's "what each
    /// side believes" box).
    pub knowledge: Vec<Knowledge>,
    /// Heartbeats the broker read and the parties accepted: counted, not kept (one a
    /// second per direction would swamp the log, and they change no view).
    pub heartbeats: u64,
}

fn is_heartbeat(kind: Option<BodyKind>) -> bool {
    kind == Some(BodyKind::Heartbeat)
}

/// How a round ended: what a judge can prove from each transcript, and each side's
/// ledger at the end.
#[derive(Clone, Debug)]
pub struct Ending {
    /// (owner, the judge's one-line finding).
    pub judged: Vec<(String, String)>,
}

/// A round in progress (or ended).
pub struct Round {
    /// 1, 2, ...
    pub number: u32,
    /// The channels' mode.
    pub mode: ChannelMode,
    /// Who is who.
    pub names: Names,
    /// The broker's desk.
    pub desk: Desk,
    /// The run label in the event log.
    pub label: String,
    record: Arc<Mutex<Record>>,
    /// The parties' public keys: what a judge is given.
    keys: Vec<backchannel_proto::PublicIdentity>,
    nodes: Vec<Node>,
    broker: Option<LocalBroker>,
    collector: Option<JoinHandle<()>>,
    dir: PathBuf,
    /// Set once the round ended.
    pub ending: Option<Ending>,
}

fn lock(record: &Mutex<Record>) -> MutexGuard<'_, Record> {
    record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Round {
    /// Starts round `number` in `mode`: a broker and three party nodes on loopback.
    /// `changed` is bumped whenever something new happened.
    pub async fn start(
        number: u32,
        mode: ChannelMode,
        names: Names,
        changed: watch::Sender<u64>,
    ) -> anyhow::Result<Round> {
        let dir = crate::scratch::scratch_dir(&format!("classroom-{number}"))?;
        let ids: Vec<SigningIdentity> = names
            .all()
            .iter()
            .map(|n| crate::keys::generate(n))
            .collect::<anyhow::Result<_>>()?;
        let registered: Vec<_> = ids.iter().map(SigningIdentity::public).collect();
        let (desk, desk_move) = Desk::new(names.all().iter().map(|n| (*n).to_owned()).collect());
        let strategy = Adversary::new(Box::new(desk_move), registered.clone());
        let label = format!("round {number}, {mode}");
        let record = Arc::new(Mutex::new(Record {
            events: EventLog::default(),
            ledgers: Vec::new(),
            knowledge: Vec::new(),
            heartbeats: 0,
        }));

        let (events_tx, mut events_rx) = mpsc::channel::<BrokerEvent>(4096);
        let collector = {
            let record = Arc::clone(&record);
            let changed = changed.clone();
            let label = label.clone();
            tokio::spawn(async move {
                while let Some(e) = events_rx.recv().await {
                    // The desk's own record says what it did; the router's notes on
                    // it ("withheld, delivers nothing in its place") would repeat it.
                    if matches!(e, BrokerEvent::Strategy { .. }) {
                        continue;
                    }
                    let mut r = lock(&record);
                    match &e {
                        BrokerEvent::Read { envelope, .. }
                            if is_heartbeat(Some(envelope.body.kind())) =>
                        {
                            r.heartbeats = r.heartbeats.saturating_add(1);
                        }
                        _ => r.events.broker(backchannel_party::now(), &label, &e),
                    }
                    drop(r);
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
            })
        };
        let broker =
            LocalBroker::start(registered.clone(), Box::new(strategy), Some(events_tx)).await?;
        let mut nodes = Vec::new();
        for me in &ids {
            let peers = ids
                .iter()
                .filter(|p| p.name() != me.name())
                .map(|p| PeerPolicy::new(&me.public(), p.public(), mode, "main"))
                .collect();
            let party = Party::open(PartySettings {
                me: me.clone(),
                broker: broker.addr.to_string(),
                tls: broker.client_tls.clone(),
                peers,
                channel: classroom_timing(),
                transcript: dir.join(format!("{}.transcript", me.name())),
                state: dir.join(format!("{}.state", me.name())),
            })?;
            let (commands, rx) = mpsc::channel(16);
            let task = tokio::spawn(drive(
                party,
                rx,
                Arc::clone(&record),
                changed.clone(),
                label.clone(),
            ));
            nodes.push(Node {
                name: me.name().to_string(),
                commands,
                task,
            });
        }
        Ok(Round {
            number,
            mode,
            names,
            desk,
            label,
            record,
            keys: registered,
            nodes,
            broker: Some(broker),
            collector: Some(collector),
            dir,
            ending: None,
        })
    }

    /// Every event so far, in time order.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.record).events.in_order()
    }

    /// Heartbeats the broker has read so far.
    pub fn heartbeats(&self) -> u64 {
        lock(&self.record).heartbeats
    }

    /// Each party's ledger as last rebuilt.
    pub fn ledgers(&self) -> Vec<(String, Value)> {
        lock(&self.record).ledgers.clone()
    }

    /// What each party knows, as last rebuilt from its transcript.
    pub fn knowledge(&self) -> Vec<Knowledge> {
        lock(&self.record).knowledge.clone()
    }

    /// Has `from` send `said` to `to`, valid for `ttl` (by default an assurance's own
    /// validity, else an hour); the sequence number, or why not.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        said: Said,
        ttl: Option<Duration>,
    ) -> Result<u64, String> {
        let ttl = ttl.unwrap_or(match &said {
            Said::Assurance { holds_for, .. } => *holds_for,
            _ => TEXT_VALID,
        });
        if self.ending.is_some() {
            return Err("the round has ended".to_owned());
        }
        let node = self
            .nodes
            .iter()
            .find(|n| n.name == from)
            .ok_or_else(|| format!("{from:?} is not a party in this round"))?;
        let (reply, answer) = oneshot::channel();
        node.commands
            .send(Command::Send {
                to: to.to_owned(),
                said,
                ttl,
                reply,
            })
            .await
            .map_err(|_| format!("{from}'s node has stopped"))?;
        answer
            .await
            .map_err(|_| format!("{from}'s node has stopped"))?
    }

    /// Ends the round: stops the nodes and the broker, then asks the judge about each
    /// player's transcript. Idempotent.
    pub async fn end(&mut self) {
        if self.ending.is_some() {
            return;
        }
        for node in self.nodes.drain(..) {
            let (reply, done) = oneshot::channel();
            if node.commands.send(Command::Stop { reply }).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), node.task).await;
        }
        if let Some(broker) = self.broker.take() {
            broker.stop().await;
        }
        if let Some(collector) = self.collector.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        }
        let keys = &self.keys;
        let mut judged = Vec::new();
        for owner in [&self.names.alpha, &self.names.bravo] {
            let verdict = match std::fs::read(self.dir.join(format!("{owner}.transcript"))) {
                Ok(bytes) => match backchannel_proto::judge(&bytes, keys) {
                    Ok(report) => crate::lab_run::judge_summary(&report),
                    Err(e) => format!("{owner}'s transcript cannot be judged: {e}"),
                },
                Err(e) => format!("{owner}: no transcript: {e}"),
            };
            judged.push((owner.clone(), verdict));
        }
        self.ending = Some(Ending { judged });
    }
}

impl Drop for Round {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Rebuilds `me`'s ledger from its transcript (on disk before any activity is
/// reported), keeping the last good one if the file cannot be read.
fn refresh_ledger(record: &Mutex<Record>, me: &str, transcript: &std::path::Path) {
    let Ok(bytes) = std::fs::read(transcript) else {
        return;
    };
    let Ok(parsed) = backchannel_proto::transcript::parse_transcript(&bytes) else {
        return;
    };
    let knowledge = Knowledge::build(me, parsed.entries, backchannel_party::now());
    let json = crate::assurances::ledger_json(&knowledge.ledger);
    let mut r = lock(record);
    match r.ledgers.iter_mut().find(|(n, _)| n == me) {
        Some((_, l)) => *l = json,
        None => r.ledgers.push((me.to_owned(), json)),
    }
    match r.knowledge.iter_mut().find(|k| k.owner == me) {
        Some(k) => *k = knowledge,
        None => r.knowledge.push(knowledge),
    }
}

/// Runs one party node until told to stop: between commands it connects, receives,
/// verifies, acknowledges and reports (the connection is kept across commands).
async fn drive(
    mut party: Party,
    mut commands: mpsc::Receiver<Command>,
    record: Arc<Mutex<Record>>,
    changed: watch::Sender<u64>,
    label: String,
) {
    let me = party.name().to_owned();
    let transcript = party.transcript_path().to_path_buf();
    loop {
        let far = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
        let ended = party
            .run_until_interrupted(far, commands.recv(), |a| {
                let at = backchannel_party::now();
                if matches!(a, Activity::Received(r) if r.verdict.is_ok() && is_heartbeat(r.kind()))
                {
                    return Control::Continue;
                }
                lock(&record).events.activity(at, &label, &me, a);
                // A receipt changes what the sender knows of its messages' fate.
                if matches!(a, Activity::Received(r) if !r.is_control())
                    || matches!(a, Activity::Acknowledged { .. })
                {
                    refresh_ledger(&record, &me, &transcript);
                }
                changed.send_modify(|v| *v = v.wrapping_add(1));
                Control::Continue
            })
            .await;
        match ended {
            Ok(RunEnd::Interrupted(Some(Command::Send {
                to,
                said,
                ttl,
                reply,
            }))) => {
                let at = backchannel_party::now();
                let body = said.body(at);
                let sent = party.send(&to, body.clone(), ttl);
                if let Ok(seq) = &sent {
                    lock(&record).events.sent(at, &label, &me, &to, *seq, &body);
                    refresh_ledger(&record, &me, &transcript);
                    changed.send_modify(|v| *v = v.wrapping_add(1));
                }
                let _ = reply.send(sent.map_err(|e| e.to_string()));
            }
            Ok(RunEnd::Interrupted(Some(Command::Stop { reply }))) => {
                party.close().await;
                let _ = reply.send(());
                return;
            }
            Ok(RunEnd::Interrupted(None)) => {
                party.close().await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let at = backchannel_party::now();
                let a = Activity::Disconnected {
                    reason: format!("the node stopped: {e}"),
                };
                lock(&record).events.activity(at, &label, &me, &a);
                changed.send_modify(|v| *v = v.wrapping_add(1));
                return;
            }
        }
    }
}

/// The time now, for views.
pub fn now() -> Timestamp {
    backchannel_party::now()
}
