//! The assurance ledger (what a party believes is in force, from its own verdicts), for
//! people and for programs.

use backchannel_proto::ledger::{Flag, Ledger, LedgerEntry, Status};
use backchannel_proto::text::quoted;
use serde_json::{Value, json};

/// The ledger for people: one line per assurance, then the flags; every text escaped.
pub fn ledger_text(me: &str, ledger: &Ledger) -> String {
    let mut out = String::new();
    if ledger.entries.is_empty() {
        out.push_str(&format!("[{me}] no assurances given or accepted\n"));
    }
    for e in &ledger.entries {
        out.push_str(&format!("[{me}] {}\n", entry_text(e)));
    }
    out.push_str(&flags_text(me, ledger));
    out
}

/// One assurance and its status for the ledger's owner, escaped.
pub fn entry_text(e: &LedgerEntry) -> String {
    let condition = if e.condition.is_empty() {
        "unconditionally".to_owned()
    } else {
        format!("if {}", quoted(&e.condition))
    };
    let status = match &e.status {
        Status::Revoked { seq, reason } => {
            format!("REVOKED by #{seq} ({})", quoted(reason))
        }
        Status::Expired => format!("EXPIRED at {}", e.valid_until),
        Status::InForce => format!("in force until {}", e.valid_until),
    };
    format!(
        "{} -> {} {} (#{}): {} {condition}; {status}",
        e.giver,
        e.recipient,
        quoted(&e.id),
        e.seq,
        quoted(&e.commitment),
    )
}

/// The ledger's flags, one line each, escaped.
pub fn flags_text(me: &str, ledger: &Ledger) -> String {
    let mut out = String::new();
    for f in &ledger.flags {
        let line = match f {
            Flag::UnknownRevocation {
                giver,
                recipient,
                id,
                seq,
            } => format!(
                "FLAG: {giver} -> {recipient} #{seq} revokes {}, an assurance never given here",
                quoted(id)
            ),
            Flag::Reused {
                giver,
                recipient,
                id,
                seq,
                commitment,
                condition,
            } => format!(
                "FLAG: {giver} -> {recipient} #{seq} gives {} again with other words: {} if {} (the first words stand above)",
                quoted(id),
                quoted(commitment),
                quoted(condition)
            ),
        };
        out.push_str(&format!("[{me}] {line}\n"));
    }
    out
}

/// One assurance as JSON, raw strings.
pub fn entry_json(e: &LedgerEntry) -> Value {
    let (revoked_by, reason) = match &e.status {
        Status::Revoked { seq, reason } => (json!(seq), json!(reason)),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "giver": e.giver,
        "recipient": e.recipient,
        "id": e.id,
        "commitment": e.commitment,
        "condition": e.condition,
        "valid_until": e.valid_until.to_string(),
        "seq": e.seq,
        "status": e.status.as_str(),
        "revoked_by": revoked_by,
        "revocation_reason": reason,
    })
}

/// The ledger as one JSON object with raw strings.
pub fn ledger_json(ledger: &Ledger) -> Value {
    let flags: Vec<Value> = ledger
        .flags
        .iter()
        .map(|f| match f {
            Flag::UnknownRevocation {
                giver,
                recipient,
                id,
                seq,
            } => json!({"flag": "unknown-revocation", "giver": giver, "recipient": recipient, "id": id, "seq": seq}),
            Flag::Reused {
                giver,
                recipient,
                id,
                seq,
                commitment,
                condition,
            } => json!({"flag": "id-reused", "giver": giver, "recipient": recipient, "id": id, "seq": seq, "commitment": commitment, "condition": condition}),
        })
        .collect();
    json!({
        "assurances": ledger.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "flags": flags,
    })
}
