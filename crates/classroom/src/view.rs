//! What each role sees, as JSON for the page: drawn from the round's event log (what
//! the nodes really reported) and the desk's book. Strings are raw; the page puts them
//! in as text, never as markup. The one exception is the timeline, which is the
//! server-escaped HTML of `backchannel demo --timeline`.

use backchannel_lab::desk::{Card, DeskMoveMade, DeskView};
use backchannel_proto::ChannelMode;
use backchannel_proto::knowledge::Knowledge;
use backchannel_stage::{Event, EventName, Proof, Verdict};
use serde_json::{Value, json};

use super::round::Round;

/// A seat in the classroom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The first party.
    Alpha,
    /// The second party.
    Bravo,
    /// The third power: a message may be copied or redirected to it, a scenario may
    /// address it or give it lines.
    Third,
    /// The intermediary, at the desk.
    Broker,
    /// Sees everything, ends and starts rounds.
    Instructor,
}

impl Role {
    /// Every role, in the order the page offers them.
    pub const ALL: [Role; 5] = [
        Role::Alpha,
        Role::Bravo,
        Role::Third,
        Role::Broker,
        Role::Instructor,
    ];

    /// The role's name on the page and in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Alpha => "alpha",
            Role::Bravo => "bravo",
            Role::Third => "third",
            Role::Broker => "broker",
            Role::Instructor => "instructor",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One sent message with what its sender knows of its fate.
fn sent_status(events: &[Event], sent: &Event) -> (&'static str, String) {
    let (me, to, seq) = (sent.from_name(), sent.to_name(), sent.seq.unwrap_or(0));
    for e in events {
        if e.event == EventName::Acknowledged
            && e.node == me
            && e.from_name() == to
            && e.seq.unwrap_or(0) >= seq
        {
            // The receipt's refusals are data (the event's `refused` key).
            if let Some(code) = e.refused.as_ref().and_then(|r| r.code_for(seq)) {
                return (
                    "refused",
                    format!("{to} says it refused it (#{seq} {code})"),
                );
            }
            let how = match e.attestation {
                Some(Proof::Signature) => "signed",
                Some(Proof::Mac) => "MAC'd",
                _ => "unsigned: on the broker's word",
            };
            return ("delivered", format!("receipt from {to} ({how})"));
        }
    }
    let missing = events.iter().any(|e| {
        e.event == EventName::NoReceipt && e.node == me && e.to_name() == to && e.seq == Some(seq)
    });
    if missing {
        ("missing", format!("no receipt from {to} in time"))
    } else {
        ("waiting", "waiting for a receipt".to_owned())
    }
}

fn message_fields(e: &Event) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("from".into(), json!(e.from_name()));
    m.insert("to".into(), json!(e.to_name()));
    m.insert("seq".into(), json!(e.seq));
    m.insert("kind".into(), json!(e.kind.map(|k| k.as_str())));
    m.insert("body".into(), json!(e.words()));
    m.insert("id".into(), json!(e.id));
    m.insert("condition".into(), json!(e.condition));
    m
}

/// A party's view: what it sent and what became of it, what it heard with its
/// verdicts, the broker's notices, what it knows (its ledger with each assurance's
/// standing for both sides, and each message's fate), and its lines of the script.
pub fn party(round: &Round, me: &str, shown: &Shown<'_>, script: &[Value]) -> Value {
    let events = shown.events;
    let sent: Vec<Value> = events
        .iter()
        .filter(|e| e.event == EventName::Sent && e.node == me && !e.is_control())
        .map(|e| {
            let (status, words) = sent_status(events, e);
            let mut m = message_fields(e);
            m.insert("status".into(), json!(status));
            m.insert("status_words".into(), json!(words));
            Value::Object(m)
        })
        .collect();
    // One line per message and verdict: the copies a sender resends (no receipt
    // yet) are counted on it, not listed again.
    let mut heard: Vec<(&Event, u64)> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.event == EventName::Received && e.node == me && !e.is_control())
    {
        let same = heard.iter_mut().find(|(h, _)| h.same_arrival(e));
        match same {
            Some((_, copies)) => *copies = copies.saturating_add(1),
            None => heard.push((e, 1)),
        }
    }
    let heard: Vec<Value> = heard
        .into_iter()
        .map(|(e, copies)| {
            let mut m = message_fields(e);
            m.insert("verdict".into(), json!(e.verdict));
            m.insert("reason".into(), json!(e.reason));
            m.insert("detail".into(), json!(e.detail));
            m.insert("attestation".into(), json!(e.attestation));
            m.insert("copies".into(), json!(copies));
            Value::Object(m)
        })
        .collect();
    let notices: Vec<Value> = events
        .iter()
        .filter(|e| {
            e.node == me
                && matches!(
                    e.event,
                    EventName::Notice | EventName::Disconnected | EventName::NoReceipt
                )
        })
        .map(|e| {
            let detail = e.detail.as_deref().unwrap_or("");
            let what = match e.event {
                EventName::NoReceipt => format!(
                    "no receipt for #{} from {} in time: the broker or {} may have dropped it",
                    e.seq.unwrap_or(0),
                    e.to_name(),
                    e.to_name()
                ),
                EventName::Notice => {
                    format!("the broker refused #{}: {detail}", e.seq.unwrap_or(0))
                }
                _ => format!("connection: {detail}"),
            };
            json!(what)
        })
        .collect();
    let knowledge = shown.knowledge.iter().find(|k| k.owner == me);
    let ledger = knowledge.as_ref().map_or(Value::Null, |k| {
        backchannel_show::ledger::ledger_json(&k.ledger)
    });
    let knows = knowledge.as_ref().map_or(Value::Null, |k| {
        backchannel_show::knowledge::knowledge_json(k)
    });
    // The same lines the command line and the timeline show, word for word.
    let knows_lines: Vec<String> = if !shown.caught_up {
        vec!["(shown once the instructor has shown every step so far)".to_owned()]
    } else {
        knowledge
            .as_ref()
            .map(|k| {
                backchannel_show::knowledge::knowledge_text(k)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let peers: Vec<&str> = round.names.all().into_iter().filter(|p| *p != me).collect();
    json!({
        "name": me,
        "peers": peers,
        "sent": sent,
        "heard": heard,
        "notices": notices,
        "ledger": ledger,
        "knowledge": knows,
        "knows": knows_lines,
        "script": script,
        "hint": party_hint(round, me),
    })
}

/// What a player can do now and what this mode means for it, in one sentence each.
fn party_hint(round: &Round, me: &str) -> String {
    let now = if round.ending.is_some() {
        "The round has ended: wait for the next one."
    } else if me == round.names.third {
        "You are the third power: a message reaches you when the broker shows you a copy or sends you one meant for someone else, or when a player writes to you; you can send too."
    } else {
        "Send a message (or say your next line of the script) and watch what reaches the other side."
    };
    let mode = match round.mode {
        ChannelMode::Signed => {
            "Signed mode: the broker cannot change or invent what you receive without you seeing it refused, and a judge can prove who said what."
        }
        ChannelMode::OffRecord => {
            "Off-record mode: the broker cannot change or invent what you receive unnoticed, but nobody can prove to anyone else what you said."
        }
        _ => {
            "Deniable mode: what you receive rests on the broker's word: it can change, hold or invent messages and you cannot tell; nothing can be proven."
        }
    };
    format!("{now} {mode}")
}

/// What the desk can do now and what this mode lets it get away with.
fn broker_hint(round: &Round) -> String {
    let now = if round.ending.is_some() {
        "The round has ended: wait for the next one."
    } else {
        "Each message waits here for your choice: pass it on, hold it, drop it, edit it, send it elsewhere or again, or write one in a party's name."
    };
    let mode = match round.mode {
        ChannelMode::Signed => {
            "Signed mode: an edited or invented message is refused, and a judge can prove what each party said."
        }
        ChannelMode::OffRecord => {
            "Off-record mode: an edited or invented message is refused, yet no one can prove afterwards what was said."
        }
        _ => {
            "Deniable mode: edits and inventions are accepted as the party's own; only missing receipts can give you away."
        }
    };
    format!("{now} {mode}")
}

fn card_json(c: &Card) -> Value {
    let e = &c.seen.envelope;
    let mut fields = serde_json::Map::new();
    backchannel_show::print::body_details(&e.body, &mut fields);
    json!({
        "card": c.id,
        "from": e.sender, "to": e.recipient, "seq": e.seq,
        "kind": e.body.kind().as_str(),
        "body": backchannel_stage::raw_body(&e.body),
        "fields": fields,
        "reading": c.reading,
        "state": c.state.label(),
        "open": c.state.is_open(),
        "copies": c.copies,
        "arrived": c.arrived.to_string(),
        "expires_at": e.expires_at.to_string(),
        "expires_ms": e.expires_at.as_millis(),
    })
}

/// The broker's desk: every card, what the desk did, which acknowledgements it
/// withholds, and the receipts and heartbeats that passed.
pub fn broker(round: &Round, desk: &DeskView, events: &[Event]) -> Value {
    let receipts = events
        .iter()
        .filter(|e| e.event == EventName::Read && e.is_control())
        .count();
    let passed = u64::try_from(receipts)
        .unwrap_or(u64::MAX)
        .saturating_add(round.heartbeats());
    json!({
        "cards": desk.cards.iter().map(card_json).collect::<Vec<_>>(),
        "moves": desk.moves.iter().map(|m| json!({"what": m.what, "detail": m.detail, "at": m.at.to_string()})).collect::<Vec<_>>(),
        "withheld": desk.withheld_acks.iter().map(|(f, t)| json!([f, t])).collect::<Vec<_>>(),
        "overflow": desk.overflow,
        "control_passed": passed,
        "parties": round.names.all(),
        "hint": broker_hint(round),
    })
}

/// Whether `who` showed anything traceable to `m`: a refusal of the envelope it
/// produced (or, for a drop or hold, of a later one from the same sender), or a
/// missing receipt for it.
fn noticed(events: &[Event], m: &DeskMoveMade, who: &str) -> Option<String> {
    let later = matches!(m.what, "drop" | "hold");
    let refusal = |e: &&Event| {
        e.event == EventName::Received
            && e.node == who
            && e.verdict == Some(Verdict::Rejected)
            && e.from_name() == m.from
            && e.seq.is_some_and(|q| q == m.seq || (later && q > m.seq))
    };
    // A refused message says more than a refused heartbeat announcing its number.
    let refused = events
        .iter()
        .filter(refusal)
        .find(|e| !e.is_control())
        .or_else(|| events.iter().find(refusal));
    if let Some(e) = refused {
        return Some(format!(
            "refused #{}: {}",
            e.seq.unwrap_or(0),
            e.detail.as_deref().unwrap_or("")
        ));
    }
    let (sender, seq) = if m.what == "withhold-acks" {
        // The one deprived is the party the acknowledgements were for.
        (m.to.as_str(), None)
    } else {
        (m.from.as_str(), Some(m.seq))
    };
    if who == sender {
        let missing = events.iter().find(|e| {
            e.event == EventName::NoReceipt && e.node == who && seq.is_none_or(|q| e.seq == Some(q))
        });
        if let Some(e) = missing {
            return Some(format!("no receipt for #{}", e.seq.unwrap_or(0)));
        }
    }
    None
}

/// One row per move the broker made against the parties: who noticed it so far, and
/// how. In step mode, only the moves made before the last event shown.
pub fn scoreboard(desk: &DeskView, shown: &Shown<'_>) -> Value {
    let events = shown.events;
    let until = if shown.caught_up {
        None
    } else {
        Some(events.last().map(|e| e.time))
    };
    let mut rows = Vec::new();
    let mut withheld_seen: Vec<(String, String)> = Vec::new();
    for m in desk
        .moves
        .iter()
        .filter(|m| m.is_a_move() && until.is_none_or(|last| last.is_some_and(|t| m.at <= t)))
    {
        if m.what == "withhold-acks" {
            let key = (m.from.clone(), m.to.clone());
            if withheld_seen.contains(&key) {
                continue;
            }
            withheld_seen.push(key);
        }
        let mut who: Vec<&str> = vec![m.from.as_str(), m.to.as_str()];
        who.dedup();
        let checks: Vec<Value> = who
            .iter()
            .map(|w| {
                let found = noticed(events, m, w);
                json!({"party": w, "noticed": found.is_some(), "how": found.unwrap_or_default()})
            })
            .collect();
        let unnoticed = checks
            .iter()
            .all(|c| c.get("noticed") == Some(&Value::Bool(false)));
        let detail = if m.what == "withhold-acks" {
            format!("withheld {}'s acknowledgements to {}", m.from, m.to)
        } else {
            m.detail.clone()
        };
        rows.push(
            json!({"what": m.what, "detail": detail, "checks": checks, "unnoticed": unnoticed}),
        );
    }
    Value::Array(rows)
}

/// The timeline section of the round (server-escaped HTML) as far as the seats are
/// shown it, with what each side knows and the judge's findings once they are shown.
pub fn timeline(round: &Round, shown: &Shown<'_>) -> String {
    let list: Vec<&Event> = shown.events.iter().collect();
    let judge = round.ending.as_ref().filter(|_| shown.caught_up).map(|e| {
        e.judged
            .iter()
            // Each finding names its transcript's owner already.
            .map(|j| j.summary.clone())
            .collect::<Vec<_>>()
            .join("; ")
    });
    backchannel_show::timeline::section(&round.label, &list, judge.as_deref(), shown.knowledge)
}

/// What the seats are shown of the round: everything as it happens, or in step mode
/// the events before the first step not yet shown, and what each party knows (from
/// its transcript, which cannot be cut at a step) only once the class has caught up.
pub struct Shown<'a> {
    /// The events shown.
    pub events: &'a [Event],
    /// What each party knows, when the seats are shown the whole round so far.
    pub knowledge: &'a [Knowledge],
    /// Whether the seats are shown the whole round so far.
    pub caught_up: bool,
}
