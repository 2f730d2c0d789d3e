//! What each role sees, as JSON for the page: drawn from the round's event log (what
//! the nodes really reported) and the desk's book. Strings are raw; the page puts them
//! in as text, never as markup. The one exception is the timeline, which is the
//! server-escaped HTML of `backchannel demo --timeline`.

use backchannel_lab::desk::{Card, DeskMoveMade, DeskView};
use serde_json::{Value, json};

use super::round::Round;

/// A seat in the classroom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The first party.
    Alpha,
    /// The second party.
    Bravo,
    /// The intermediary, at the desk.
    Broker,
    /// Sees everything, ends and starts rounds.
    Instructor,
}

impl Role {
    /// Every role, in the order the page offers them.
    pub const ALL: [Role; 4] = [Role::Alpha, Role::Bravo, Role::Broker, Role::Instructor];

    /// The role's name on the page and in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Alpha => "alpha",
            Role::Bravo => "bravo",
            Role::Broker => "broker",
            Role::Instructor => "instructor",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

fn s<'a>(e: &'a Value, key: &str) -> &'a str {
    e.get(key).and_then(Value::as_str).unwrap_or("")
}

fn n(e: &Value, key: &str) -> Option<u64> {
    e.get(key).and_then(Value::as_u64)
}

fn is_control(e: &Value) -> bool {
    matches!(s(e, "kind"), "receipt" | "heartbeat")
}

/// One sent message with what its sender knows of its fate.
fn sent_status(events: &[Value], sent: &Value) -> (&'static str, String) {
    let (me, to, seq) = (s(sent, "from"), s(sent, "to"), n(sent, "seq").unwrap_or(0));
    for e in events {
        if s(e, "event") == "acknowledged"
            && s(e, "node") == me
            && s(e, "from") == to
            && n(e, "seq").unwrap_or(0) >= seq
        {
            // The receipt's refusals are data (the event's `refused` key).
            let refused = e
                .get("refused")
                .and_then(|r| r.get("listed"))
                .and_then(Value::as_array)
                .and_then(|listed| {
                    listed
                        .iter()
                        .find(|r| r.get("seq").and_then(Value::as_u64) == Some(seq))
                })
                .map(|r| s(r, "code").to_owned());
            if let Some(code) = refused {
                return (
                    "refused",
                    format!("{to} says it refused it (#{seq} {code})"),
                );
            }
            let how = match s(e, "attestation") {
                "signature" => "signed",
                "mac" => "MAC'd",
                _ => "unsigned: on the broker's word",
            };
            return ("delivered", format!("receipt from {to} ({how})"));
        }
    }
    let missing = events.iter().any(|e| {
        s(e, "event") == "no-receipt"
            && s(e, "node") == me
            && s(e, "to") == to
            && n(e, "seq") == Some(seq)
    });
    if missing {
        ("missing", format!("no receipt from {to} in time"))
    } else {
        ("waiting", "waiting for a receipt".to_owned())
    }
}

fn message_fields(e: &Value) -> Value {
    json!({
        "from": s(e, "from"), "to": s(e, "to"), "seq": n(e, "seq"),
        "kind": s(e, "kind"), "body": s(e, "body"),
        "id": e.get("id"), "condition": e.get("condition"),
    })
}

/// A party's view: what it sent and what became of it, what it heard with its
/// verdicts, the broker's notices, its ledger, and its lines of the script.
pub fn party(round: &Round, me: &str, events: &[Value], script: &[Value]) -> Value {
    let sent: Vec<Value> = events
        .iter()
        .filter(|e| s(e, "event") == "sent" && s(e, "node") == me && !is_control(e))
        .map(|e| {
            let (status, words) = sent_status(events, e);
            let mut v = message_fields(e);
            if let Some(m) = v.as_object_mut() {
                m.insert("status".into(), json!(status));
                m.insert("status_words".into(), json!(words));
            }
            v
        })
        .collect();
    // One line per message and verdict: the copies a sender resends (no receipt
    // yet) are counted on it, not listed again.
    let mut heard: Vec<Value> = Vec::new();
    for e in events
        .iter()
        .filter(|e| s(e, "event") == "received" && s(e, "node") == me && !is_control(e))
    {
        let mut v = message_fields(e);
        if let Some(m) = v.as_object_mut() {
            for key in ["verdict", "reason", "detail", "attestation"] {
                m.insert(key.into(), e.get(key).cloned().unwrap_or(Value::Null));
            }
        }
        let same = heard.iter_mut().find(|h| {
            [
                "from",
                "seq",
                "kind",
                "body",
                "id",
                "condition",
                "verdict",
                "reason",
            ]
            .iter()
            .all(|k| h.get(*k) == v.get(*k))
        });
        match same {
            Some(h) => {
                if let Some(m) = h.as_object_mut() {
                    let copies = m.get("copies").and_then(Value::as_u64).unwrap_or(1);
                    m.insert("copies".into(), json!(copies.saturating_add(1)));
                }
            }
            None => {
                if let Some(m) = v.as_object_mut() {
                    m.insert("copies".into(), json!(1));
                }
                heard.push(v);
            }
        }
    }
    let notices: Vec<Value> = events
        .iter()
        .filter(|e| {
            s(e, "node") == me && matches!(s(e, "event"), "notice" | "disconnected" | "no-receipt")
        })
        .map(|e| {
            let what = match s(e, "event") {
                "no-receipt" => format!(
                    "no receipt for #{} from {} in time: the broker or {} may have dropped it",
                    n(e, "seq").unwrap_or(0),
                    s(e, "to"),
                    s(e, "to")
                ),
                "notice" => format!(
                    "the broker refused #{}: {}",
                    n(e, "seq").unwrap_or(0),
                    s(e, "detail")
                ),
                _ => format!("connection: {}", s(e, "detail")),
            };
            json!(what)
        })
        .collect();
    let ledger = round
        .ledgers()
        .into_iter()
        .find(|(owner, _)| owner == me)
        .map_or(Value::Null, |(_, l)| l);
    let peers: Vec<&str> = round.names.all().into_iter().filter(|p| *p != me).collect();
    json!({
        "name": me,
        "peers": peers,
        "sent": sent,
        "heard": heard,
        "notices": notices,
        "ledger": ledger,
        "script": script,
    })
}

fn card_json(c: &Card) -> Value {
    let e = &c.seen.envelope;
    let mut fields = serde_json::Map::new();
    crate::print::body_details(&e.body, &mut fields);
    json!({
        "card": c.id,
        "from": e.sender, "to": e.recipient, "seq": e.seq,
        "kind": e.body.kind().as_str(),
        "body": crate::print::raw_body(&e.body),
        "fields": fields,
        "reading": c.reading,
        "state": c.state.label(),
        "open": c.state.is_open(),
        "copies": c.copies,
        "arrived": c.arrived.to_string(),
    })
}

/// The broker's desk: every card, what the desk did, which acknowledgements it
/// withholds, and the receipts and heartbeats that passed.
pub fn broker(round: &Round, desk: &DeskView, events: &[Value]) -> Value {
    let receipts = events
        .iter()
        .filter(|e| s(e, "event") == "read" && is_control(e))
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
    })
}

/// Whether `who` showed anything traceable to `m`: a refusal of the envelope it
/// produced (or, for a drop or hold, of a later one from the same sender), or a
/// missing receipt for it.
fn noticed(events: &[Value], m: &DeskMoveMade, who: &str) -> Option<String> {
    let later = matches!(m.what, "drop" | "hold");
    let refusal = |e: &&Value| {
        s(e, "event") == "received"
            && s(e, "node") == who
            && s(e, "verdict") == "rejected"
            && s(e, "from") == m.from
            && n(e, "seq").is_some_and(|q| q == m.seq || (later && q > m.seq))
    };
    // A refused message says more than a refused heartbeat announcing its number.
    let refused = events
        .iter()
        .filter(refusal)
        .find(|e| !is_control(e))
        .or_else(|| events.iter().find(refusal));
    if let Some(e) = refused {
        return Some(format!(
            "refused #{}: {}",
            n(e, "seq").unwrap_or(0),
            s(e, "detail")
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
            s(e, "event") == "no-receipt"
                && s(e, "node") == who
                && seq.is_none_or(|q| n(e, "seq") == Some(q))
        });
        if let Some(e) = missing {
            return Some(format!("no receipt for #{}", n(e, "seq").unwrap_or(0)));
        }
    }
    None
}

/// One row per move the broker made against the parties: who noticed it, and how.
pub fn scoreboard(desk: &DeskView, events: &[Value]) -> Value {
    let mut rows = Vec::new();
    let mut withheld_seen: Vec<(String, String)> = Vec::new();
    for m in desk.moves.iter().filter(|m| m.is_a_move()) {
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

/// The timeline section of the round (server-escaped HTML), with the judge's
/// findings once the round has ended.
pub fn timeline(round: &Round, events: &[Value]) -> String {
    let list: Vec<&Value> = events.iter().collect();
    let judge = round.ending.as_ref().map(|e| {
        e.judged
            .iter()
            // Each finding names its transcript's owner already.
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
            .join("; ")
    });
    crate::timeline::section(&round.label, &list, judge.as_deref(), &round.knowledge())
}
