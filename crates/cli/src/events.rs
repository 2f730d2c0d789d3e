//! The event stream: one JSON object per thing a node did or saw during a run, in the
//! schema of `docs/events.md`. Every key is present in every event (null where it does
//! not apply); strings are raw (what was sent or said, never Debug text or escapes
//! meant for a terminal), so a program can draw a timeline or check a run.

use std::path::Path;

use anyhow::Context as _;
use backchannel_broker::BrokerEvent;
use backchannel_party::Activity;
use backchannel_proto::{Attestation, Body, ChannelMode, Envelope, Refusal, Timestamp};
use serde_json::{Map, Value, json};

use crate::print::raw_body;

/// Events of one or more runs, in the order they were recorded.
#[derive(Default)]
pub struct EventLog {
    events: Vec<(Timestamp, Value)>,
}

fn base(at: Timestamp, run: &str, node: &str, event: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("time".into(), json!(at.to_string()));
    m.insert("run".into(), json!(run));
    m.insert("node".into(), json!(node));
    m.insert("event".into(), json!(event));
    for key in [
        "from",
        "to",
        "seq",
        "kind",
        "body",
        "id",
        "condition",
        "verdict",
        "reason",
        "attestation",
        "refused",
        "detail",
    ] {
        m.insert(key.into(), Value::Null);
    }
    m
}

fn envelope_fields(m: &mut Map<String, Value>, e: &Envelope<'_>) {
    m.insert("from".into(), json!(e.sender));
    m.insert("to".into(), json!(e.recipient));
    m.insert("seq".into(), json!(e.seq));
    if e.refused.count > 0 {
        m.insert(
            "refused".into(),
            refused_json(e.refused.listed(), e.refused.count),
        );
    }
    body_fields(m, &e.body);
}

/// The envelopes of the peer's chain a receipt says were refused (covered by the
/// acknowledgement, never delivered): `{"listed": [{"seq", "code"}], "unlisted": n}`.
fn refused_json(listed: impl Iterator<Item = Refusal>, count: u64) -> Value {
    let listed: Vec<Value> = listed
        .map(|r| json!({ "seq": r.seq, "code": r.code.as_str() }))
        .collect();
    let unlisted = count.saturating_sub(listed.len() as u64);
    json!({ "listed": listed, "unlisted": unlisted })
}

/// `kind`, `body` and, for assurances and revocations, `id` and `condition`.
fn body_fields(m: &mut Map<String, Value>, body: &Body<'_>) {
    m.insert("kind".into(), json!(body.kind().as_str()));
    m.insert("body".into(), json!(raw_body(body)));
    match body {
        Body::Assurance(a) => {
            m.insert("id".into(), json!(a.id));
            m.insert("condition".into(), json!(a.condition));
        }
        Body::Revocation(r) => {
            m.insert("id".into(), json!(r.assurance_id));
        }
        _ => {}
    }
}

fn attestation(a: &Attestation) -> &'static str {
    a.kind()
}

impl EventLog {
    /// Everything one lab run recorded, under the run label `run`.
    pub fn lab_run(&mut self, run: &str, timeline: &[(Timestamp, crate::lab_run::Happening)]) {
        use crate::lab_run::Happening;
        for (at, h) in timeline {
            match h {
                Happening::Sent { to, seq, body } => self.sent(*at, run, "alpha", to, *seq, body),
                Happening::Activity { node, activity } => self.activity(*at, run, node, activity),
                Happening::Broker(e) => self.broker(*at, run, e),
            }
        }
    }

    /// `node` sealed and sent `seq` to `to`.
    pub fn sent(
        &mut self,
        at: Timestamp,
        run: &str,
        node: &str,
        to: &str,
        seq: u64,
        body: &Body<'_>,
    ) {
        let mut m = base(at, run, node, "sent");
        m.insert("from".into(), json!(node));
        m.insert("to".into(), json!(to));
        m.insert("seq".into(), json!(seq));
        body_fields(&mut m, body);
        self.events.push((at, Value::Object(m)));
    }

    /// What `node` reported while it ran.
    pub fn activity(&mut self, at: Timestamp, run: &str, node: &str, a: &Activity) {
        let m = match a {
            Activity::Connected { queued } => {
                let mut m = base(at, run, node, "connected");
                m.insert("detail".into(), json!(format!("{queued} waiting")));
                m
            }
            Activity::Disconnected { reason } => {
                let mut m = base(at, run, node, "disconnected");
                m.insert("detail".into(), json!(reason));
                m
            }
            Activity::Received(r) => {
                let mut m = base(at, run, node, "received");
                if let Some(e) = &r.envelope {
                    envelope_fields(&mut m, e);
                }
                match &r.verdict {
                    Ok(att) => {
                        m.insert("verdict".into(), json!("accepted"));
                        m.insert("attestation".into(), json!(attestation(att)));
                    }
                    Err(why) => {
                        m.insert("verdict".into(), json!("rejected"));
                        m.insert("reason".into(), json!(why.code()));
                        m.insert("detail".into(), json!(why.to_string()));
                    }
                }
                m
            }
            Activity::Acknowledged {
                peer,
                up_to,
                attestation: att,
                refused,
                unlisted,
            } => {
                let mut m = base(at, run, node, "acknowledged");
                m.insert("from".into(), json!(peer));
                m.insert("to".into(), json!(node));
                m.insert("seq".into(), json!(up_to));
                m.insert("attestation".into(), json!(attestation(att)));
                if !refused.is_empty() || *unlisted > 0 {
                    m.insert(
                        "refused".into(),
                        refused_json(
                            refused.iter().copied(),
                            (refused.len() as u64).saturating_add(*unlisted),
                        ),
                    );
                    let listed: Vec<String> = refused
                        .iter()
                        .map(|r| format!("#{} {}", r.seq, r.code.as_str()))
                        .collect();
                    m.insert(
                        "detail".into(),
                        json!(format!(
                            "refused: {}{}",
                            listed.join(", "),
                            if *unlisted > 0 {
                                format!(" and {unlisted} unlisted")
                            } else {
                                String::new()
                            }
                        )),
                    );
                }
                m
            }
            Activity::Unacknowledged { peer, seq } => {
                let mut m = base(at, run, node, "no-receipt");
                m.insert("from".into(), json!(node));
                m.insert("to".into(), json!(peer));
                m.insert("seq".into(), json!(seq));
                m
            }
            Activity::Notice(n) => {
                let mut m = base(at, run, node, "notice");
                m.insert("from".into(), json!("broker"));
                m.insert("to".into(), json!(node));
                m.insert("seq".into(), json!(n.seq));
                m.insert("reason".into(), json!(n.code));
                m.insert("detail".into(), json!(n.message));
                m
            }
            Activity::ClockAhead { peer, ahead } => {
                let mut m = base(at, run, node, "clock-ahead");
                m.insert("to".into(), json!(peer));
                m.insert(
                    "detail".into(),
                    json!(format!("{} s ahead", ahead.as_secs())),
                );
                m
            }
        };
        self.events.push((at, Value::Object(m)));
    }

    /// What the broker did.
    pub fn broker(&mut self, at: Timestamp, run: &str, e: &BrokerEvent) {
        if let BrokerEvent::Read {
            line,
            envelope,
            attested,
        } = e
        {
            let mut m = base(at, run, "broker", "read");
            envelope_fields(&mut m, envelope);
            let seen = if *attested {
                "signature"
            } else if envelope.mode == ChannelMode::OffRecord {
                "unchecked-mac"
            } else {
                "none"
            };
            m.insert("attestation".into(), json!(seen));
            m.insert("detail".into(), json!(line));
            self.events.push((at, Value::Object(m)));
            return;
        }
        let (event, from, detail) = match e {
            BrokerEvent::LoggedIn { party, queued } => (
                "logged-in",
                Some(party.as_str()),
                format!("{queued} waiting"),
            ),
            BrokerEvent::LoginRefused { reason } => ("login-refused", None, reason.clone()),
            BrokerEvent::Read { line, .. } => ("read", None, line.clone()),
            BrokerEvent::Refused { from, reason } => {
                ("refused", Some(from.as_str()), reason.clone())
            }
            BrokerEvent::Strategy { note } => ("move", None, note.clone()),
        };
        let mut m = base(at, run, "broker", event);
        if let Some(from) = from {
            m.insert("from".into(), json!(from));
        }
        m.insert("detail".into(), json!(detail));
        self.events.push((at, Value::Object(m)));
    }

    /// The events in time order (events of one time in the order they were recorded).
    pub fn in_order(&self) -> Vec<Value> {
        let mut events: Vec<&(Timestamp, Value)> = self.events.iter().collect();
        events.sort_by_key(|(at, _)| *at);
        events.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// Writes the events as JSON lines to `path`, in time order.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = String::new();
        for e in self.in_order() {
            text.push_str(&e.to_string());
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
    }
}
