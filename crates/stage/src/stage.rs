//! One live run: a broker (honest, or playing the intermediary's moves) and real party
//! nodes in this process over TLS on loopback, each party driven by its own task. A
//! script says things through [`Stage::send`] and waits on what was recorded
//! ([`Stage::wait_for`]); everything the nodes and the broker report is recorded once,
//! in the order it happened, and read back as typed [`Happening`]s or published
//! [`Event`]s. `demo`, `demo --scenario`, `demo --adversary`, `attacks` and the
//! classroom all run here, so they see the same run the same way.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use backchannel_broker::{BrokerEvent, Honest, RelayStrategy};
use backchannel_lab::{Adversary, Move};
use backchannel_party::{Activity, Control, Party, PartySettings, RunEnd};
use backchannel_proto::judge::JudgeReport;
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{
    Body, BodyKind, ChannelConfig, ChannelMode, PeerPolicy, PublicIdentity, SigningIdentity,
    Timestamp,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::event::Event;
use crate::happening::{Happening, Recorded};
use crate::local_broker::LocalBroker;
use crate::scratch::ScratchDir;
use crate::{StageError, identity};

/// Who the intermediary is.
pub enum Intermediary {
    /// It relays everything as it is.
    Honest,
    /// It plays the lab's attack of this name (`backchannel attacks` lists them).
    Attack(String),
    /// It plays these moves (a scenario's script, the classroom's desk).
    Moves(Box<dyn Move>),
}

/// What to run.
pub struct Setup {
    /// The run's label in the event stream (`demo signed`, `drop deniable`, ...).
    pub label: String,
    /// Every channel's mode.
    pub mode: ChannelMode,
    /// The parties, each with a channel to every other.
    pub parties: Vec<String>,
    /// The parties' channel timing.
    pub timing: ChannelConfig,
    /// The broker's relay.
    pub intermediary: Intermediary,
    /// Count accepted heartbeats (and the broker's reads of them) instead of recording
    /// them: a run for people that lasts minutes would otherwise be mostly heartbeats.
    pub count_heartbeats: bool,
    /// Rebuild each party's knowledge from its transcript whenever it changes (for
    /// views that show it while the run goes on).
    pub live_knowledge: bool,
    /// Bumped whenever something is recorded (a view may listen to it across runs).
    pub changed: Option<watch::Sender<u64>>,
}

/// What a run recorded, shared with the node tasks.
#[derive(Default)]
struct Record {
    happenings: Vec<Recorded>,
    heartbeats: u64,
    knowledge: Vec<Knowledge>,
}

fn lock(record: &Mutex<Record>) -> MutexGuard<'_, Record> {
    record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a script asks a party node to do.
enum Command {
    Send {
        to: String,
        body: Body<'static>,
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

/// How a run ended: each party's transcript as the judge and the knowledge view read it.
#[derive(Clone, Debug)]
pub struct Ending {
    /// Each party's transcript file, in the order of [`Setup::parties`] (empty when it
    /// could not be read; `problems` says why).
    pub transcripts: Vec<(String, Vec<u8>)>,
    /// What a judge finds in each transcript, given every party's public key.
    pub reports: Vec<(String, JudgeReport)>,
    /// What each party believes and knows at the end.
    pub knowledge: Vec<Knowledge>,
    /// Transcripts that could not be read or judged, with why.
    pub problems: Vec<String>,
}

impl Ending {
    /// The judge's report on `owner`'s transcript.
    pub fn report(&self, owner: &str) -> Option<&JudgeReport> {
        self.reports
            .iter()
            .find(|(o, _)| o == owner)
            .map(|(_, r)| r)
    }

    /// `owner`'s transcript bytes.
    pub fn transcript(&self, owner: &str) -> Option<&[u8]> {
        self.transcripts
            .iter()
            .find(|(o, _)| o == owner)
            .map(|(_, b)| b.as_slice())
    }
}

/// A run in progress (or ended).
pub struct Stage {
    label: String,
    mode: ChannelMode,
    ids: Vec<SigningIdentity>,
    record: Arc<Mutex<Record>>,
    changed: watch::Sender<u64>,
    nodes: Vec<Node>,
    broker: Option<LocalBroker>,
    collector: Option<JoinHandle<()>>,
    ending: Option<Ending>,
    /// Declared last: removed after the nodes have stopped writing into it.
    dir: ScratchDir,
}

impl Stage {
    /// Starts the broker and every party, connected and running.
    pub async fn start(setup: Setup) -> Result<Stage, StageError> {
        let Setup {
            label,
            mode,
            parties,
            timing,
            intermediary,
            count_heartbeats,
            live_knowledge,
            changed,
        } = setup;
        let dir = ScratchDir::new(&format!("run-{mode}"))?;
        let ids: Vec<SigningIdentity> = parties
            .iter()
            .map(|n| identity::generate(n))
            .collect::<Result<_, _>>()?;
        let registered: Vec<PublicIdentity> = ids.iter().map(SigningIdentity::public).collect();
        let strategy: Box<dyn RelayStrategy> = match intermediary {
            Intermediary::Honest => Box::new(Honest),
            Intermediary::Attack(name) => backchannel_lab::strategy(&name, &registered)
                .ok_or_else(|| StageError::Setup(format!("no attack named {name:?}")))?,
            Intermediary::Moves(mv) => Box::new(Adversary::new(mv, registered.clone())),
        };
        let changed = changed.unwrap_or_else(|| watch::channel(0).0);
        let record = Arc::new(Mutex::new(Record::default()));

        let (events_tx, events_rx) = mpsc::channel::<BrokerEvent>(4096);
        let collector = tokio::spawn(collect(
            events_rx,
            Arc::clone(&record),
            changed.clone(),
            count_heartbeats,
        ));
        let broker = LocalBroker::start(registered.clone(), strategy, Some(events_tx)).await?;
        let mut nodes = Vec::new();
        for me in &ids {
            let peers = ids
                .iter()
                .filter(|p| p.name() != me.name())
                .map(|p| PeerPolicy::new(&me.public(), p.public(), mode, "main"))
                .collect();
            let name = me.name().to_string();
            let party = Party::open(PartySettings {
                me: me.clone(),
                broker: broker.addr.to_string(),
                tls: broker.client_tls.clone(),
                peers,
                channel: timing.clone(),
                transcript: dir.path().join(format!("{name}.transcript")),
                state: dir.path().join(format!("{name}.state")),
            })
            .map_err(|source| StageError::Party {
                party: name.clone(),
                source,
            })?;
            let (commands, rx) = mpsc::channel(16);
            let task = tokio::spawn(drive(
                party,
                rx,
                Driven {
                    record: Arc::clone(&record),
                    changed: changed.clone(),
                    count_heartbeats,
                    live_knowledge,
                },
            ));
            nodes.push(Node {
                name,
                commands,
                task,
            });
        }
        Ok(Stage {
            label,
            mode,
            ids,
            record,
            changed,
            nodes,
            broker: Some(broker),
            collector: Some(collector),
            ending: None,
            dir,
        })
    }

    /// The run's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The channels' mode.
    pub fn mode(&self) -> ChannelMode {
        self.mode
    }

    /// The parties' identities, in the order of [`Setup::parties`].
    pub fn identities(&self) -> &[SigningIdentity] {
        &self.ids
    }

    /// The parties' public keys: what a judge is given.
    pub fn keys(&self) -> Vec<PublicIdentity> {
        self.ids.iter().map(SigningIdentity::public).collect()
    }

    /// Where the parties keep their transcripts and state (removed with the stage).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Has `from` say `body` to `to`, valid for `ttl`; its sequence number.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        body: Body<'static>,
        ttl: Duration,
    ) -> Result<u64, StageError> {
        if self.ending.is_some() {
            return Err(StageError::Ended);
        }
        let node = self
            .nodes
            .iter()
            .find(|n| n.name == from)
            .ok_or_else(|| StageError::NoSuchParty(from.to_owned()))?;
        let (reply, answer) = oneshot::channel();
        let stopped = || StageError::Stopped(from.to_owned());
        node.commands
            .send(Command::Send {
                to: to.to_owned(),
                body,
                ttl,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|why| StageError::Refused {
                party: from.to_owned(),
                why,
            })
    }

    /// How many happenings are recorded so far: a mark to wait from.
    pub fn cursor(&self) -> usize {
        lock(&self.record).happenings.len()
    }

    /// Waits until a happening recorded at or after `since` satisfies `done` (true), or
    /// `deadline` passes (false). The parties keep running either way.
    pub async fn wait_for(
        &self,
        since: usize,
        deadline: Instant,
        mut done: impl FnMut(&Recorded) -> bool,
    ) -> bool {
        let mut news = self.changed.subscribe();
        let mut next = since;
        loop {
            {
                let r = lock(&self.record);
                for h in r.happenings.iter().skip(next) {
                    next = next.saturating_add(1);
                    if done(h) {
                        return true;
                    }
                }
            }
            if tokio::time::timeout_at(deadline, news.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Lets the run go on until `deadline`.
    pub async fn run_until(&self, deadline: Instant) {
        tokio::time::sleep_until(deadline).await;
    }

    /// Everything recorded so far, in the order it happened.
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.record).happenings.clone()
    }

    /// Everything recorded so far as published events.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.record)
            .happenings
            .iter()
            .map(|h| Event::of(h, &self.label))
            .collect()
    }

    /// Accepted heartbeats counted instead of recorded.
    pub fn heartbeats(&self) -> u64 {
        lock(&self.record).heartbeats
    }

    /// What each party knows: at the end, from its final transcript; before, as last
    /// rebuilt (with [`Setup::live_knowledge`]).
    pub fn knowledge(&self) -> Vec<Knowledge> {
        match &self.ending {
            Some(e) => e.knowledge.clone(),
            None => lock(&self.record).knowledge.clone(),
        }
    }

    /// How the run ended, once it has.
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// Ends the run: stops every party and the broker, then reads each transcript for
    /// the judge and the knowledge view. Idempotent.
    pub async fn end(&mut self) -> &Ending {
        let ending = match self.ending.take() {
            Some(e) => e,
            None => {
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
                // The broker's event sender is dropped when it stops; its events end
                // there.
                if let Some(collector) = self.collector.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
                }
                self.read_transcripts()
            }
        };
        self.ending.insert(ending)
    }

    fn read_transcripts(&self) -> Ending {
        let keys = self.keys();
        let mut ending = Ending {
            transcripts: Vec::new(),
            reports: Vec::new(),
            knowledge: Vec::new(),
            problems: Vec::new(),
        };
        for id in &self.ids {
            let owner = id.name().to_string();
            let path = self.dir.path().join(format!("{owner}.transcript"));
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    ending.problems.push(format!("{owner}: no transcript: {e}"));
                    ending.transcripts.push((owner, Vec::new()));
                    continue;
                }
            };
            match backchannel_proto::transcript::parse_transcript(&bytes) {
                Ok(parsed) => ending.knowledge.push(Knowledge::build(
                    &owner,
                    parsed.entries,
                    backchannel_party::now(),
                )),
                Err(e) => ending
                    .problems
                    .push(format!("{owner}'s transcript cannot be read: {e}")),
            }
            match backchannel_proto::judge(&bytes, &keys) {
                Ok(report) => ending.reports.push((owner.clone(), report)),
                Err(e) => ending
                    .problems
                    .push(format!("{owner}'s transcript cannot be judged: {e}")),
            }
            ending.transcripts.push((owner, bytes));
        }
        ending
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.task.abort();
        }
        if let Some(collector) = &self.collector {
            collector.abort();
        }
    }
}

fn is_heartbeat(kind: Option<BodyKind>) -> bool {
    kind == Some(BodyKind::Heartbeat)
}

fn record(record: &Mutex<Record>, changed: &watch::Sender<u64>, happening: Happening) {
    lock(record).happenings.push(Recorded {
        at: backchannel_party::now(),
        happening,
    });
    changed.send_modify(|v| *v = v.wrapping_add(1));
}

/// Records what the broker reports until it stops.
async fn collect(
    mut events: mpsc::Receiver<BrokerEvent>,
    rec: Arc<Mutex<Record>>,
    changed: watch::Sender<u64>,
    count_heartbeats: bool,
) {
    while let Some(e) = events.recv().await {
        if count_heartbeats
            && let BrokerEvent::Read { envelope, .. } = &e
            && is_heartbeat(Some(envelope.body.kind()))
        {
            let mut r = lock(&rec);
            r.heartbeats = r.heartbeats.saturating_add(1);
            continue;
        }
        record(&rec, &changed, Happening::Broker(e));
    }
}

/// What a party's task shares with the run.
struct Driven {
    record: Arc<Mutex<Record>>,
    changed: watch::Sender<u64>,
    count_heartbeats: bool,
    live_knowledge: bool,
}

impl Driven {
    /// Rebuilds `me`'s knowledge from its transcript (on disk before any activity is
    /// reported), keeping the last good one if the file cannot be read.
    fn refresh(&self, me: &str, transcript: &Path) {
        if !self.live_knowledge {
            return;
        }
        let Ok(bytes) = std::fs::read(transcript) else {
            return;
        };
        let Ok(parsed) = backchannel_proto::transcript::parse_transcript(&bytes) else {
            return;
        };
        let knowledge = Knowledge::build(me, parsed.entries, backchannel_party::now());
        let mut r = lock(&self.record);
        match r.knowledge.iter_mut().find(|k| k.owner == me) {
            Some(k) => *k = knowledge,
            None => r.knowledge.push(knowledge),
        }
    }
}

/// Runs one party node until told to stop: between commands it connects, receives,
/// verifies, acknowledges and reports (the connection is kept across commands).
async fn drive(mut party: Party, mut commands: mpsc::Receiver<Command>, run: Driven) {
    let me = party.name().to_owned();
    let transcript = party.transcript_path().to_path_buf();
    loop {
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let ended = party
            .run_until_interrupted(far, commands.recv(), |a| {
                if run.count_heartbeats
                    && matches!(a, Activity::Received(r) if r.verdict.is_ok() && is_heartbeat(r.kind()))
                {
                    let mut r = lock(&run.record);
                    r.heartbeats = r.heartbeats.saturating_add(1);
                    return Control::Continue;
                }
                // A receipt changes what the sender knows of its messages' fate.
                if matches!(a, Activity::Received(r) if !r.is_control())
                    || matches!(a, Activity::Acknowledged { .. })
                {
                    run.refresh(&me, &transcript);
                }
                record(
                    &run.record,
                    &run.changed,
                    Happening::Activity {
                        node: me.clone(),
                        activity: a.clone(),
                    },
                );
                Control::Continue
            })
            .await;
        match ended {
            Ok(RunEnd::Interrupted(Some(Command::Send {
                to,
                body,
                ttl,
                reply,
            }))) => {
                let copy = body.clone();
                let sent = party.send(&to, body, ttl);
                if let Ok(seq) = &sent {
                    run.refresh(&me, &transcript);
                    record(
                        &run.record,
                        &run.changed,
                        Happening::Sent {
                            from: me.clone(),
                            to,
                            seq: *seq,
                            body: copy,
                        },
                    );
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
                record(
                    &run.record,
                    &run.changed,
                    Happening::Activity {
                        node: me.clone(),
                        activity: Activity::Disconnected {
                            reason: format!("the node stopped: {e}"),
                        },
                    },
                );
                return;
            }
        }
    }
}

/// The run's clock.
pub fn now() -> Timestamp {
    backchannel_party::now()
}
