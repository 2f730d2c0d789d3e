//! The published event: one JSON object per thing a node did or saw during a run, in
//! the schema of `docs/events.md`. It is a type, so a renderer reads fields, never
//! formatted text; every key is present in every event (`null` where it does not
//! apply) because each is a field serialised as is. Strings are raw (what was sent or
//! said, never Debug text or escapes meant for a terminal).

use backchannel_broker::BrokerEvent;
use backchannel_party::Activity;
use backchannel_proto::{Attestation, Body, BodyKind, ChannelMode, Envelope, Refusal, Timestamp};
use serde::{Serialize, Serializer};

use crate::happening::{Happening, Recorded};

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// When it happened (RFC 3339 UTC with milliseconds in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub time: Timestamp,
    /// Which run: `demo signed`, `<attack> <mode>`, `<scenario title> <mode>`, ...
    pub run: String,
    /// Who reports it: a party's name or `broker`.
    pub node: String,
    /// What it is.
    pub event: EventName,
    /// The sender of the envelope concerned.
    pub from: Option<String>,
    /// Its recipient.
    pub to: Option<String>,
    /// Its sequence number (`acknowledged`: up to; `notice`: the refused one).
    pub seq: Option<u64>,
    /// What kind of body it carries.
    #[serde(serialize_with = "kind_name")]
    pub kind: Option<BodyKind>,
    /// The words: text, commitment or reason; empty for receipts and heartbeats.
    pub body: Option<String>,
    /// The assurance's id, or the id a revocation withdraws.
    pub id: Option<String>,
    /// The assurance's condition (empty: unconditional).
    pub condition: Option<String>,
    /// On `received`: accepted or rejected.
    pub verdict: Option<Verdict>,
    /// The rejection code or the notice code.
    pub reason: Option<String>,
    /// What authenticated it.
    pub attestation: Option<Proof>,
    /// What the envelope's sender says it refused of the other's chain.
    pub refused: Option<RefusedList>,
    /// One more line: the broker's read line, a move's note, a rejection explained.
    pub detail: Option<String>,
}

/// What an event is, as the `event` key names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventName {
    /// A party sealed and sent an envelope (what it said).
    Sent,
    /// An envelope arrived at a party, with its verdict (what it heard).
    Received,
    /// A receipt from `from` covers the party's envelopes up to `seq`.
    Acknowledged,
    /// No receipt came in time for `seq`.
    NoReceipt,
    /// The broker refused something the party sent.
    Notice,
    /// The party connected and logged in.
    Connected,
    /// The party's connection was lost or refused.
    Disconnected,
    /// The party's clock is behind the dates of its own chain.
    ClockAhead,
    /// The broker read an envelope (and verified it, in signed mode).
    Read,
    /// An adversarial broker's move acted on an envelope.
    Move,
    /// A party logged in at the broker.
    LoggedIn,
    /// The broker refused a login.
    LoginRefused,
    /// The broker refused an envelope.
    Refused,
}

impl EventName {
    /// Every event name, in the order `docs/events.md` lists them.
    pub const ALL: [EventName; 13] = [
        EventName::Sent,
        EventName::Received,
        EventName::Acknowledged,
        EventName::NoReceipt,
        EventName::Notice,
        EventName::Connected,
        EventName::Disconnected,
        EventName::ClockAhead,
        EventName::Read,
        EventName::Move,
        EventName::LoggedIn,
        EventName::LoginRefused,
        EventName::Refused,
    ];

    /// The name as the `event` key writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::Sent => "sent",
            EventName::Received => "received",
            EventName::Acknowledged => "acknowledged",
            EventName::NoReceipt => "no-receipt",
            EventName::Notice => "notice",
            EventName::Connected => "connected",
            EventName::Disconnected => "disconnected",
            EventName::ClockAhead => "clock-ahead",
            EventName::Read => "read",
            EventName::Move => "move",
            EventName::LoggedIn => "logged-in",
            EventName::LoginRefused => "login-refused",
            EventName::Refused => "refused",
        }
    }
}

/// A received envelope's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It passed every check.
    Accepted,
    /// It failed one (`reason` names it).
    Rejected,
}

/// What authenticated an envelope, as far as the reporting node can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proof {
    /// A signature verified.
    Signature,
    /// Off-record: the MAC under the key the two parties share verified (convinces
    /// the recipient only).
    Mac,
    /// The broker's view of an off-record envelope: it lacks the key.
    UncheckedMac,
    /// Nothing: deniable mode, or rejected.
    None,
}

impl From<&Attestation> for Proof {
    fn from(a: &Attestation) -> Self {
        match a {
            Attestation::Signed(_) => Proof::Signature,
            Attestation::Mac(_) => Proof::Mac,
            Attestation::MacUnchecked => Proof::UncheckedMac,
            Attestation::Unattested => Proof::None,
        }
    }
}

/// The envelopes of the peer's chain a sender says it refused (covered by an
/// acknowledgement, never delivered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedList {
    /// Those it could list.
    pub listed: Vec<RefusedEntry>,
    /// How many more it counted but could not list.
    pub unlisted: u64,
}

/// One refused envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedEntry {
    /// Its sequence number.
    pub seq: u64,
    /// Why (`expired`, ...).
    pub code: String,
}

impl RefusedList {
    fn new(listed: impl Iterator<Item = Refusal>, count: u64) -> Self {
        let listed: Vec<RefusedEntry> = listed
            .map(|r| RefusedEntry {
                seq: r.seq,
                code: r.code.as_str().to_owned(),
            })
            .collect();
        let unlisted = count.saturating_sub(listed.len() as u64);
        RefusedList { listed, unlisted }
    }

    /// Why `seq` was refused, if it is listed.
    pub fn code_for(&self, seq: u64) -> Option<&str> {
        self.listed
            .iter()
            .find(|r| r.seq == seq)
            .map(|r| r.code.as_str())
    }
}

fn rfc3339<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

fn kind_name<S: Serializer>(k: &Option<BodyKind>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.as_str()),
        None => s.serialize_none(),
    }
}

/// A body's words exactly as sent: the text, the commitment or the reason.
pub fn raw_body(b: &Body<'_>) -> String {
    match b {
        Body::Text(t) => t.to_string(),
        Body::Assurance(a) => a.commitment.to_string(),
        Body::Revocation(r) => r.reason.to_string(),
        Body::Receipt | Body::Heartbeat => String::new(),
    }
}

impl Event {
    /// An event with every optional key absent (`null`).
    pub fn new(time: Timestamp, run: &str, node: &str, event: EventName) -> Event {
        Event {
            time,
            run: run.to_owned(),
            node: node.to_owned(),
            event,
            from: None,
            to: None,
            seq: None,
            kind: None,
            body: None,
            id: None,
            condition: None,
            verdict: None,
            reason: None,
            attestation: None,
            refused: None,
            detail: None,
        }
    }

    /// The event a recorded happening is published as, under the run label `run`.
    pub fn of(recorded: &Recorded, run: &str) -> Event {
        let at = recorded.at;
        match &recorded.happening {
            Happening::Sent {
                from,
                to,
                seq,
                body,
            } => {
                let mut e = Event::new(at, run, from, EventName::Sent);
                e.from = Some(from.clone());
                e.to = Some(to.clone());
                e.seq = Some(*seq);
                e.body_fields(body);
                e
            }
            Happening::Activity { node, activity } => Event::activity(at, run, node, activity),
            Happening::Broker(b) => Event::broker(at, run, b),
        }
    }

    fn body_fields(&mut self, body: &Body<'_>) {
        self.kind = Some(body.kind());
        self.body = Some(raw_body(body));
        match body {
            Body::Assurance(a) => {
                self.id = Some(a.id.to_string());
                self.condition = Some(a.condition.to_string());
            }
            Body::Revocation(r) => self.id = Some(r.assurance_id.to_string()),
            _ => {}
        }
    }

    fn envelope_fields(&mut self, e: &Envelope<'_>) {
        self.from = Some(e.sender.to_string());
        self.to = Some(e.recipient.to_string());
        self.seq = Some(e.seq);
        if e.refused.count > 0 {
            self.refused = Some(RefusedList::new(e.refused.listed(), e.refused.count));
        }
        self.body_fields(&e.body);
    }

    fn activity(at: Timestamp, run: &str, node: &str, a: &Activity) -> Event {
        match a {
            Activity::Connected { queued } => {
                let mut e = Event::new(at, run, node, EventName::Connected);
                e.detail = Some(format!("{queued} waiting"));
                e
            }
            Activity::Disconnected { reason } => {
                let mut e = Event::new(at, run, node, EventName::Disconnected);
                e.detail = Some(reason.clone());
                e
            }
            Activity::Received(r) => {
                let mut e = Event::new(at, run, node, EventName::Received);
                if let Some(env) = &r.envelope {
                    e.envelope_fields(env);
                }
                match &r.verdict {
                    Ok(att) => {
                        e.verdict = Some(Verdict::Accepted);
                        e.attestation = Some(Proof::from(att));
                    }
                    Err(why) => {
                        e.verdict = Some(Verdict::Rejected);
                        e.reason = Some(why.code().to_owned());
                        e.detail = Some(why.to_string());
                    }
                }
                e
            }
            Activity::Acknowledged {
                peer,
                up_to,
                attestation,
                refused,
                unlisted,
            } => {
                let mut e = Event::new(at, run, node, EventName::Acknowledged);
                e.from = Some(peer.clone());
                e.to = Some(node.to_owned());
                e.seq = Some(*up_to);
                e.attestation = Some(Proof::from(attestation));
                if !refused.is_empty() || *unlisted > 0 {
                    let count = (refused.len() as u64).saturating_add(*unlisted);
                    e.refused = Some(RefusedList::new(refused.iter().copied(), count));
                    let listed: Vec<String> = refused
                        .iter()
                        .map(|r| format!("#{} {}", r.seq, r.code.as_str()))
                        .collect();
                    let more = if *unlisted > 0 {
                        format!(" and {unlisted} unlisted")
                    } else {
                        String::new()
                    };
                    e.detail = Some(format!("refused: {}{more}", listed.join(", ")));
                }
                e
            }
            Activity::Unacknowledged { peer, seq } => {
                let mut e = Event::new(at, run, node, EventName::NoReceipt);
                e.from = Some(node.to_owned());
                e.to = Some(peer.clone());
                e.seq = Some(*seq);
                e
            }
            Activity::Notice(n) => {
                let mut e = Event::new(at, run, node, EventName::Notice);
                e.from = Some("broker".to_owned());
                e.to = Some(node.to_owned());
                e.seq = Some(n.seq);
                e.reason = Some(n.code.clone());
                e.detail = Some(n.message.clone());
                e
            }
            Activity::ClockAhead { peer, ahead } => {
                let mut e = Event::new(at, run, node, EventName::ClockAhead);
                e.to = Some(peer.clone());
                e.detail = Some(format!("{} s ahead", ahead.as_secs()));
                e
            }
        }
    }

    fn broker(at: Timestamp, run: &str, b: &BrokerEvent) -> Event {
        match b {
            BrokerEvent::Read {
                line,
                envelope,
                attested,
            } => {
                let mut e = Event::new(at, run, "broker", EventName::Read);
                e.envelope_fields(envelope);
                e.attestation = Some(if *attested {
                    Proof::Signature
                } else if envelope.mode == ChannelMode::OffRecord {
                    Proof::UncheckedMac
                } else {
                    Proof::None
                });
                e.detail = Some(line.clone());
                e
            }
            BrokerEvent::LoggedIn { party, queued } => {
                let mut e = Event::new(at, run, "broker", EventName::LoggedIn);
                e.from = Some(party.clone());
                e.detail = Some(format!("{queued} waiting"));
                e
            }
            BrokerEvent::LoginRefused { reason } => {
                let mut e = Event::new(at, run, "broker", EventName::LoginRefused);
                e.detail = Some(reason.clone());
                e
            }
            BrokerEvent::Refused { from, reason } => {
                let mut e = Event::new(at, run, "broker", EventName::Refused);
                e.from = Some(from.clone());
                e.detail = Some(reason.clone());
                e
            }
            BrokerEvent::Strategy { note } => {
                let mut e = Event::new(at, run, "broker", EventName::Move);
                e.detail = Some(note.clone());
                e
            }
        }
    }

    /// Whether `other` is the same message meeting the same verdict at the same node:
    /// a copy its sender sent again because no receipt had come, which the views
    /// count on the first rather than list again.
    pub fn same_arrival(&self, other: &Event) -> bool {
        self.node == other.node
            && self.from == other.from
            && self.seq == other.seq
            && self.kind == other.kind
            && self.body == other.body
            && self.id == other.id
            && self.condition == other.condition
            && self.verdict == other.verdict
            && self.reason == other.reason
    }

    /// Whether this is about a receipt or a heartbeat rather than content.
    pub fn is_control(&self) -> bool {
        matches!(self.kind, Some(BodyKind::Receipt | BodyKind::Heartbeat))
    }

    /// The words, empty when there are none.
    pub fn words(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    /// The party a field names, empty when absent.
    pub fn from_name(&self) -> &str {
        self.from.as_deref().unwrap_or("")
    }

    /// The recipient, empty when absent.
    pub fn to_name(&self) -> &str {
        self.to.as_deref().unwrap_or("")
    }
}
