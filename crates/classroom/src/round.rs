//! One round of the classroom: a live run ([`Stage`]) whose intermediary is the desk,
//! with three real party nodes over loopback TLS (the two players and a third power a
//! message can be redirected to).
//!
//! Everything the nodes report is recorded once by the run and published as typed
//! events (the schema of `docs/events.md`); the views are drawn from those, so the page
//! shows exactly what the nodes said, and the timeline is the one `backchannel demo
//! --timeline` draws.

use std::time::Duration;

use backchannel_lab::desk::Desk;
use backchannel_lab::scenario::Said;
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{ChannelConfig, ChannelMode, Timestamp};
use backchannel_show::steps::{JudgedTranscript, Step};
use backchannel_stage::{Event, EventName, Intermediary, Setup, Stage};
use tokio::sync::watch;

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
    /// The names a scenario casts (`alpha`/`bravo` without one): its first two play
    /// alpha and bravo, and its third, if any, is the third power; else the third
    /// power is named so that it differs from both players.
    pub fn new(cast: Option<&[String]>) -> Names {
        let (alpha, bravo) = match cast {
            Some([a, b, ..]) => (a.clone(), b.clone()),
            _ => ("alpha".to_owned(), "bravo".to_owned()),
        };
        let third = match cast {
            Some([_, _, third, ..]) => third.clone(),
            _ => ["charlie", "charlie-2", "third-power"]
                .into_iter()
                .find(|n| *n != alpha && *n != bravo)
                .unwrap_or("third-power")
                .to_owned(),
        };
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

/// How a round ended: what a judge can prove from each player's transcript.
#[derive(Clone, Debug)]
pub struct Ending {
    /// What the judge concluded from each player's transcript.
    pub judged: Vec<JudgedTranscript>,
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
    stage: Stage,
    /// Set once the round ended.
    pub ending: Option<Ending>,
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
        let parties: Vec<String> = names.all().iter().map(|n| (*n).to_owned()).collect();
        let (desk, desk_move) = Desk::new(parties.clone());
        let label = format!("round {number}, {mode}");
        let stage = Stage::start(Setup {
            label: label.clone(),
            mode,
            parties,
            timing: classroom_timing(),
            intermediary: Intermediary::Moves(Box::new(desk_move)),
            // Heartbeats every second per direction would swamp the log, and they
            // change no view: counted, not kept.
            count_heartbeats: true,
            live_knowledge: true,
            changed: Some(changed),
        })
        .await?;
        Ok(Round {
            number,
            mode,
            names,
            desk,
            label,
            stage,
            ending: None,
        })
    }

    /// Every event so far, in time order. The desk's own record says what it did; the
    /// router's notes on it ("withheld, delivers nothing in its place") would repeat
    /// it, so they are left out.
    pub fn events(&self) -> Vec<Event> {
        self.stage
            .events()
            .into_iter()
            .filter(|e| e.event != EventName::Move)
            .collect()
    }

    /// The round cut into steps so far (the judge's at the end, once it ended).
    pub fn steps(&self, events: &[Event]) -> Vec<Step> {
        let judged = self
            .ending
            .as_ref()
            .map_or(&[][..], |e| e.judged.as_slice());
        backchannel_show::steps::steps(events, judged)
    }

    /// Heartbeats counted so far.
    pub fn heartbeats(&self) -> u64 {
        self.stage.heartbeats()
    }

    /// What each party knows, as last rebuilt from its transcript.
    pub fn knowledge(&self) -> Vec<Knowledge> {
        self.stage.knowledge()
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
        let body = said.body(now());
        self.stage
            .send(from, to, body, ttl)
            .await
            .map_err(|e| e.to_string())
    }

    /// Ends the round: stops the nodes and the broker, then asks the judge about each
    /// player's transcript. Idempotent.
    pub async fn end(&mut self) {
        if self.ending.is_some() {
            return;
        }
        let ended = self.stage.end().await;
        let judged = [&self.names.alpha, &self.names.bravo]
            .into_iter()
            .map(|owner| match ended.report(owner) {
                Some(report) => JudgedTranscript::of(report),
                None => JudgedTranscript {
                    owner: owner.clone(),
                    summary: format!(
                        "{owner}'s transcript cannot be judged: {}",
                        ended.problems.join("; ")
                    ),
                    provable: None,
                },
            })
            .collect();
        self.ending = Some(Ending { judged });
    }
}

/// The time now, for views.
pub fn now() -> Timestamp {
    backchannel_stage::now()
}
