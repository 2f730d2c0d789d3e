//! What each party knows ([`Knowledge`]), for people and for programs: each
//! assurance with where it stands for the owner and, as far as the owner can tell,
//! for the other side; and what became of each message the owner sent.

use backchannel_proto::knowledge::{Fate, Knowledge, Standing};
use serde_json::{Value, json};

use crate::ledger::{entry_json, entry_text, flags_text};

/// Where an assurance stands for `side`, in words, escaped.
fn standing_text(s: &Standing, side: &str) -> String {
    match s {
        Standing::InForce => format!("in force for {side}"),
        Standing::Withdrawn { seq } => format!("withdrawn for {side} (#{seq})"),
        Standing::Expired => format!("expired for {side}"),
        Standing::WithdrawalRefused { seq, code } => {
            format!("STILL IN FORCE for {side}: {side} refused the withdrawal #{seq} ({code})")
        }
        Standing::WithdrawalUnanswered { seq } => format!(
            "unknown whether {side} has the withdrawal #{seq} (no receipt for it yet): for {side} it may still stand"
        ),
        Standing::NeverHeld { code: Some(code) } => {
            format!("never held by {side}: {side} refused it ({code})")
        }
        Standing::NeverHeld { code: None } => format!("never held by {side}"),
        Standing::Unknown => {
            format!("unknown whether {side} holds it (no receipt for it yet)")
        }
        Standing::WithdrawnTooLate { seq, code } => format!(
            "{side} withdrew it by #{seq}, which arrived too late and was refused ({code}): {side} believes it withdrawn"
        ),
    }
}

fn standing_json(s: &Standing) -> Value {
    let (standing, seq, code) = match s {
        Standing::InForce => ("in-force", None, None),
        Standing::Withdrawn { seq } => ("withdrawn", Some(*seq), None),
        Standing::Expired => ("expired", None, None),
        Standing::WithdrawalRefused { seq, code } => {
            ("withdrawal-refused", Some(*seq), Some(code.as_str()))
        }
        Standing::WithdrawalUnanswered { seq } => ("withdrawal-unanswered", Some(*seq), None),
        Standing::NeverHeld { code } => ("never-held", None, code.as_deref()),
        Standing::Unknown => ("unknown", None, None),
        Standing::WithdrawnTooLate { seq, code } => {
            ("withdrawn-too-late", Some(*seq), Some(code.as_str()))
        }
    };
    json!({ "standing": standing, "in_force": s.in_force(), "seq": seq, "code": code })
}

fn fate_text(f: &Fate, to: &str) -> String {
    match f {
        Fate::Acknowledged(a) => {
            let mut t = format!("acknowledged by {to}");
            if a.on_the_brokers_word {
                t.push_str(" (on the broker's word)");
            }
            if a.refusals_unlisted {
                t.push_str(", unless among refusals its receipts no longer list");
            }
            t
        }
        Fate::Refused { code } => {
            format!("REFUSED by {to} ({}): not delivered", code.as_str())
        }
        Fate::Unanswered => format!("no receipt from {to}"),
    }
}

/// What `k`'s owner knows: its assurances for both sides, then the fate of each
/// message it sent that was not plainly acknowledged; every text escaped.
pub fn knowledge_text(k: &Knowledge) -> String {
    let me = backchannel_proto::text::plain(&k.owner);
    let mut out = String::new();
    if k.assurances.is_empty() {
        out.push_str(&format!("[{me}] no assurances given or accepted\n"));
    }
    for a in &k.assurances {
        let other = backchannel_proto::text::plain(&a.other);
        out.push_str(&format!(
            "[{me}] {}; {}\n",
            entry_text(&a.given),
            standing_text(&a.for_other, &other)
        ));
    }
    out.push_str(&flags_text(&me, &k.ledger));
    for m in &k.sent {
        if matches!(&m.fate, Fate::Acknowledged(a) if !a.refusals_unlisted) {
            continue;
        }
        out.push_str(&format!(
            "[{me}] its #{} to {} ({}): {}\n",
            m.seq,
            backchannel_proto::text::plain(&m.to),
            m.body.kind(),
            fate_text(&m.fate, &backchannel_proto::text::plain(&m.to))
        ));
    }
    out
}

/// `k` as one JSON object with raw strings.
pub fn knowledge_json(k: &Knowledge) -> Value {
    json!({
        "owner": k.owner,
        "assurances": k.assurances.iter().map(|a| {
            let mut v = entry_json(&a.given);
            if let Some(o) = v.as_object_mut() {
                o.insert("for_owner".into(), standing_json(&a.for_owner));
                o.insert("other".into(), json!(a.other));
                o.insert("for_other".into(), standing_json(&a.for_other));
            }
            v
        }).collect::<Vec<_>>(),
        "sent": k.sent.iter().map(|m| json!({
            "to": m.to,
            "seq": m.seq,
            "kind": m.body.kind().as_str(),
            "body": backchannel_stage::raw_body(&m.body),
            "fate": m.fate.as_str(),
            "refused": match &m.fate { Fate::Refused { code } => Some(code.as_str()), _ => None },
            "on_the_brokers_word": matches!(&m.fate, Fate::Acknowledged(a) if a.on_the_brokers_word),
        })).collect::<Vec<_>>(),
        "received": k.received.iter().map(|m| json!({
            "from": m.from,
            "seq": m.seq,
            "kind": m.body.kind().as_str(),
            "body": backchannel_stage::raw_body(&m.body),
            "verdict": if m.refused.is_some() { "rejected" } else { "accepted" },
            "reason": m.refused,
            "copies": m.copies,
        })).collect::<Vec<_>>(),
    })
}
