//! How received envelopes and reports are shown, as text and as JSON.

use backchannel_party::{Activity, Received};
use backchannel_proto::text::{plain, quoted};
use backchannel_proto::{Attestation, Body};
use serde_json::{Value, json};

/// One line for a human: who, what, and on what grounds it was accepted or why not.
pub fn received_line(me: &str, r: &Received) -> String {
    let head = match &r.envelope {
        Some(e) if e.body.is_control() => {
            format!(
                "{} -> {} ({} at #{})",
                e.sender, e.recipient, e.sender, e.seq
            )
        }
        Some(e) => format!("#{} {} -> {}", e.seq, e.sender, e.recipient),
        None => "(undecodable frame)".to_owned(),
    };
    let body = r.body().map(body_text).unwrap_or_default();
    match &r.verdict {
        Ok(a) => format!("[{me}] accepted {head}: {body}\n        {}", grounds(*a)),
        Err(why) => format!(
            "[{me}] REJECTED {head}: {body}\n        reason: {} ({why})",
            why.code()
        ),
    }
}

/// Why an accepted envelope is believed, in words.
pub fn grounds(a: Attestation) -> String {
    match a {
        Attestation::Signed(fp) => format!("attested: the sender's signature verified (key {fp})"),
        Attestation::Mac(fp) => format!(
            "attested to us only: the MAC under the key we share with the sender verified (key {fp}); off-record, provable to nobody"
        ),
        Attestation::MacUnchecked => "off-record: a MAC only the two parties can check".to_owned(),
        Attestation::Unattested => {
            "UNATTESTED: deniable mode, attribution rests on the broker's word".to_owned()
        }
    }
}

/// A body as one readable line.
pub fn body_text(b: &Body<'_>) -> String {
    match b {
        Body::Text(t) => quoted(t),
        Body::Assurance(a) => {
            let condition = if a.condition.is_empty() {
                "unconditionally".to_owned()
            } else {
                format!("if {}", quoted(&a.condition))
            };
            format!(
                "assurance {}: {} {condition}, valid until {}",
                plain(&a.id),
                quoted(&a.commitment),
                a.valid_until
            )
        }
        Body::Revocation(r) => format!(
            "revocation of {}: {}",
            plain(&r.assurance_id),
            quoted(&r.reason)
        ),
        Body::Receipt => "receipt".to_owned(),
        Body::Heartbeat => "heartbeat".to_owned(),
    }
}

pub use backchannel_stage::raw_body;

/// The JSON object `receive --json` prints per envelope.
pub fn received_json(r: &Received) -> Value {
    let (from, to, seq, kind) = match &r.envelope {
        Some(e) => (
            json!(e.sender),
            json!(e.recipient),
            json!(e.seq),
            json!(e.body.kind().as_str()),
        ),
        None => (Value::Null, Value::Null, Value::Null, Value::Null),
    };
    let mut v = serde_json::Map::new();
    v.insert("from".into(), from);
    v.insert("to".into(), to);
    v.insert("seq".into(), seq);
    v.insert("kind".into(), kind);
    v.insert("body".into(), json!(r.body().map(raw_body)));
    let verdict = if r.verdict.is_ok() {
        "accepted"
    } else {
        "rejected"
    };
    v.insert("verdict".into(), json!(verdict));
    let attested = matches!(r.verdict, Ok(a) if a.is_attested());
    v.insert("attested".into(), json!(attested));
    // What authenticated it, and whether a third party could be convinced too: a
    // signature only. Rejected envelopes were authenticated by nothing.
    let (attestation, provable) = match r.verdict {
        Ok(a) => (a.kind(), a.is_provable()),
        Err(_) => ("none", false),
    };
    v.insert("attestation".into(), json!(attestation));
    v.insert("provable".into(), json!(provable));
    // Always present: null when accepted.
    match &r.verdict {
        Err(why) => {
            v.insert("reason".into(), json!(why.code()));
            v.insert("detail".into(), json!(why.to_string()));
        }
        Ok(_) => {
            v.insert("reason".into(), Value::Null);
        }
    }
    if let Some(b) = r.body() {
        body_details(b, &mut v);
    }
    Value::Object(v)
}

/// A line for the other things a party notices while it runs (text mode).
pub fn activity_line(me: &str, a: &Activity) -> Option<String> {
    match a {
        Activity::Connected { queued } => Some(format!(
            "[{me}] connected to the broker ({queued} envelope(s) were waiting)"
        )),
        Activity::Disconnected { reason } => {
            Some(format!("[{me}] disconnected: {}", plain(reason)))
        }
        Activity::Received(r) if r.is_control() && r.verdict.is_ok() => None,
        Activity::Received(r) => Some(received_line(me, r)),
        Activity::Acknowledged {
            peer,
            up_to,
            attestation,
            refused,
            unlisted,
        } => {
            if refused.is_empty() && *unlisted == 0 {
                let how = match attestation {
                    Attestation::Signed(_) => "signed by the recipient: proof of delivery",
                    Attestation::Mac(_) => {
                        "MAC'd by the recipient: it heard it, and can deny it to anyone else"
                    }
                    _ => "unsigned: on the broker's word",
                };
                return Some(format!(
                    "[{me}] receipt from {peer}: everything up to #{up_to} delivered ({how})"
                ));
            }
            let how = match attestation {
                Attestation::Signed(_) => "signed by the recipient",
                Attestation::Mac(_) => "MAC'd by the recipient",
                _ => "unsigned: on the broker's word",
            };
            let mut line = format!("[{me}] receipt from {peer}: received up to #{up_to} ({how})");
            for r in refused {
                line.push_str(&format!(
                    "; #{} REFUSED by {peer} ({}): not delivered",
                    r.seq,
                    r.code.as_str()
                ));
            }
            if *unlisted > 0 {
                line.push_str(&format!(
                    "; {unlisted} more REFUSED by {peer} but not listed: nothing in this range can be called delivered"
                ));
            }
            Some(line)
        }
        Activity::Unacknowledged { peer, seq } => Some(format!(
            "[{me}] no receipt for #{seq} to {peer}: the broker or the recipient may have dropped it"
        )),
        Activity::Notice(n) => Some(format!("[{me}] the broker refused: {n}")),
        Activity::ClockAhead { peer, ahead } => Some(format!(
            "[{me}] warning: envelopes to {peer} are dated {} s ahead of this clock (it jumped ahead and back; a chain never goes back in time): {peer} refuses them as from-the-future until this clock catches up, or at once if {peer} raises timing.max_clock_skew_secs above {}",
            ahead.as_secs(),
            ahead.as_secs()
        )),
    }
}

/// The structured words of an assurance or a revocation, raw, as `assurance` or
/// `revocation` keys of a JSON object (`receive --json`, `verify --json`).
pub fn body_details(b: &Body<'_>, v: &mut serde_json::Map<String, Value>) {
    match b {
        Body::Assurance(a) => {
            v.insert(
                "assurance".into(),
                json!({
                    "id": a.id,
                    "commitment": a.commitment,
                    "condition": a.condition,
                    "valid_until": a.valid_until.to_string(),
                }),
            );
        }
        Body::Revocation(rv) => {
            v.insert(
                "revocation".into(),
                json!({ "assurance_id": rv.assurance_id, "reason": rv.reason }),
            );
        }
        _ => {}
    }
}
