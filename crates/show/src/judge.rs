//! What a judge can prove from a transcript, for people and for programs: the full
//! report (`verify`) and its one-line summary (runs, the lab, the classroom).

use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::{BodyKind, ChannelMode, Rejection};
use serde_json::{Value, json};

/// The report as text.
pub fn report_text(report: &JudgeReport, key_count: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge: transcript of {} ({} entries; {} public keys; the owner's own verdicts are not trusted)",
        report.owner,
        report.entries.len(),
        key_count
    );
    for e in &report.entries {
        let what = match &e.summary {
            Some(s) if matches!(s.kind, BodyKind::Receipt | BodyKind::Heartbeat) => {
                format!(
                    "{} -> {} {} ({} at #{})",
                    s.sender, s.recipient, s.kind, s.sender, s.seq
                )
            }
            Some(s) => format!("{} -> {} #{} {}", s.sender, s.recipient, s.seq, s.kind),
            None if matches!(e.finding, Finding::Omitted) => "(summary)".to_owned(),
            None => "(undecodable)".to_owned(),
        };
        let recorded = if e.recorded_reason.is_empty() {
            e.recorded.as_str().to_owned()
        } else {
            format!(
                "{} ({})",
                e.recorded.as_str(),
                backchannel_proto::text::plain(&e.recorded_reason)
            )
        };
        let mark = if matches!(e.finding, Finding::Invalid(_)) {
            "!!"
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "{mark} [{:>3}] {:<8} {what}: {}\n          owner recorded: {recorded}",
            e.index,
            e.direction.as_str(),
            e.finding
        );
    }
    for c in &report.chains {
        let refused: Vec<String> = c
            .refused
            .iter()
            .map(|(seq, why)| format!("#{seq} ({why})"))
            .collect();
        let ack = if c.acknowledged_up_to == 0 {
            "nothing acknowledged".to_owned()
        } else if !refused.is_empty() {
            format!(
                "{} acknowledged up to #{} ({}) but REFUSED {}: those were not delivered",
                c.recipient,
                c.acknowledged_up_to,
                if c.acknowledgement_provable {
                    "signed"
                } else {
                    "unsigned: proves nothing"
                },
                refused.join(", ")
            )
        } else if c.acknowledgement_provable {
            format!(
                "{} acknowledged up to #{} (signed: proof of delivery)",
                c.recipient, c.acknowledged_up_to
            )
        } else {
            format!(
                "{} acknowledged up to #{} (unsigned: proves nothing)",
                c.recipient, c.acknowledged_up_to
            )
        };
        let state = if c.complete {
            "complete".to_owned()
        } else {
            format!("INCOMPLETE: {}", c.problems.join("; "))
        };
        let span = if c.last_seq == 0 {
            "no messages,".to_owned()
        } else {
            format!("#1..#{}", c.last_seq)
        };
        let _ = writeln!(
            out,
            "chain {} -> {} ({}, channel {}): {span} {state}; {ack}",
            c.sender, c.recipient, c.mode, c.channel
        );
    }
    if report
        .chains
        .iter()
        .any(|c| c.mode == ChannelMode::Deniable)
    {
        let _ = writeln!(
            out,
            "note: in deniable mode nothing in this transcript proves who wrote what; the owner or the broker could have written any entry."
        );
    }
    if let Some(d) = &report.damage {
        let _ = writeln!(out, "!! the file is {d}");
    }
    if keys_do_not_fit(report) {
        let _ = writeln!(
            out,
            "!! no entry verifies under these keys: is --keys the right deployment (the roster of the deployment this transcript comes from)?"
        );
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        if report.is_clean() {
            "clean: every entry valid, every chain complete"
        } else {
            "NOT CLEAN"
        }
    );
    out
}

/// Whether every signed entry fails for want of the right key (an unknown sender or a
/// bad signature) and none verifies: most likely the judge was given another
/// deployment's keys, not a transcript of forgeries.
fn keys_do_not_fit(report: &JudgeReport) -> bool {
    let key_failures = report
        .entries
        .iter()
        .filter(|e| {
            matches!(
                &e.finding,
                Finding::Invalid(Rejection::BadSignature | Rejection::UnknownSender { .. })
            )
        })
        .count();
    let verified = report
        .entries
        .iter()
        .any(|e| matches!(e.finding, Finding::ProvablyWrittenBy { .. }));
    key_failures > 0 && !verified
}

/// The report as JSON.
pub fn report_json(report: &JudgeReport) -> Value {
    let entries: Vec<Value> = report
        .entries
        .iter()
        .map(|e| {
            let (finding, detail, signer) = match &e.finding {
                Finding::ProvablyWrittenBy { name, fingerprint } => (
                    "provably-written",
                    Value::Null,
                    json!({"name": name, "fingerprint": fingerprint.to_string()}),
                ),
                Finding::Unattributable => ("unattributable", Value::Null, Value::Null),
                Finding::EitherPartyCouldHaveWritten { checked } => (
                    "either-party",
                    json!({ "tag_checked": checked }),
                    Value::Null,
                ),
                Finding::AnyoneCouldHaveWritten { revealed_in } => (
                    "anyone",
                    json!({ "key_published_in_entry": revealed_in }),
                    Value::Null,
                ),
                Finding::Invalid(why) => ("invalid", json!(why.to_string()), Value::Null),
                Finding::Omitted => ("omitted", Value::Null, Value::Null),
            };
            let mut entry = json!({
                "index": e.index,
                "direction": e.direction.as_str(),
                "recorded": e.recorded.as_str(),
                "recorded_reason": e.recorded_reason,
                "sender": e.summary.as_ref().map(|s| s.sender.clone()),
                "recipient": e.summary.as_ref().map(|s| s.recipient.clone()),
                "seq": e.summary.as_ref().map(|s| s.seq),
                "kind": e.summary.as_ref().map(|s| s.kind.as_str()),
                // Raw words, as `receive --json` gives them; the text report escapes.
                "body": e.summary.as_ref().map(|s| backchannel_stage::raw_body(&s.decoded)),
                "finding": finding,
                "detail": detail,
                "signer": signer,
            });
            if let (Some(s), Some(map)) = (&e.summary, entry.as_object_mut()) {
                crate::print::body_details(&s.decoded, map);
            }
            entry
        })
        .collect();
    let chains: Vec<Value> = report
        .chains
        .iter()
        .map(|c| {
            json!({
                "sender": c.sender,
                "recipient": c.recipient,
                "mode": c.mode.to_string(),
                "last_seq": c.last_seq,
                "complete": c.complete,
                "problems": c.problems,
                "acknowledged_up_to": c.acknowledged_up_to,
                "acknowledgement_provable": c.acknowledgement_provable,
                "refused": c.refused.iter().map(|(seq, why)| json!({"seq": seq, "reason": why})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "owner": report.owner,
        "clean": report.is_clean(),
        "all_entries_valid": report.all_entries_valid(),
        "chains_complete": report.chains_complete(),
        "damage": report.damage,
        "entries": entries,
        "chains": chains,
    })
}

/// What a judge can prove from a transcript (usually bravo's), in one line: per
/// finding, how many messages, receipts and heartbeats, never one count of frames.
pub fn judge_summary(report: &JudgeReport) -> String {
    use backchannel_proto::BodyKind;
    /// Messages, receipts and heartbeats, counted apart.
    #[derive(Default)]
    struct Counts([usize; 3]);
    impl Counts {
        fn add(&mut self, kind: Option<BodyKind>) {
            let slot = match kind {
                Some(BodyKind::Receipt) => 1,
                Some(BodyKind::Heartbeat) => 2,
                _ => 0,
            };
            if let Some(n) = self.0.get_mut(slot) {
                *n += 1;
            }
        }
        fn text(&self) -> String {
            let [messages, receipts, heartbeats] = self.0;
            let mut parts = Vec::new();
            for (n, one, many) in [
                (messages, "message", "messages"),
                (receipts, "receipt", "receipts"),
                (heartbeats, "heartbeat", "heartbeats"),
            ] {
                match n {
                    0 => {}
                    1 => parts.push(format!("1 {one}")),
                    n => parts.push(format!("{n} {many}")),
                }
            }
            parts.join(", ")
        }
    }
    let mut provable: Vec<(String, Counts)> = Vec::new();
    let (mut unattributable, mut either_party, mut anyone) =
        (Counts::default(), Counts::default(), Counts::default());
    let mut invalid = Vec::new();
    for e in &report.entries {
        let kind = e.summary.as_ref().map(|s| s.kind);
        match &e.finding {
            Finding::ProvablyWrittenBy { name, .. } => {
                match provable.iter_mut().find(|(n, _)| n == name) {
                    Some((_, k)) => k.add(kind),
                    None => {
                        let mut k = Counts::default();
                        k.add(kind);
                        provable.push((name.clone(), k));
                    }
                }
            }
            Finding::Unattributable => unattributable.add(kind),
            Finding::EitherPartyCouldHaveWritten { .. } => either_party.add(kind),
            Finding::AnyoneCouldHaveWritten { .. } => anyone.add(kind),
            Finding::Invalid(why) => invalid.push(why.code()),
            // The owner's count of rejections it did not keep: no envelope to judge.
            Finding::Omitted => {}
        }
    }
    let mut parts = Vec::new();
    for (name, k) in provable {
        parts.push(format!("provably by {name}: {}", k.text()));
    }
    if !unattributable.text().is_empty() {
        parts.push(format!(
            "unattributable (nothing provable): {}",
            unattributable.text()
        ));
    }
    if !either_party.text().is_empty() {
        parts.push(format!(
            "MAC'd, either party could have written them (nothing provable): {}",
            either_party.text()
        ));
    }
    if !anyone.text().is_empty() {
        parts.push(format!(
            "under published keys, anyone could have written them: {}",
            anyone.text()
        ));
    }
    if !invalid.is_empty() {
        parts.push(format!(
            "{} invalid ({})",
            invalid.len(),
            invalid.join(", ")
        ));
    }
    let incomplete: Vec<String> = report
        .chains
        .iter()
        .filter(|c| !c.complete)
        .map(|c| {
            format!(
                "{}->{} incomplete ({})",
                c.sender,
                c.recipient,
                c.problems.join("; ")
            )
        })
        .collect();
    if incomplete.is_empty() {
        parts.push("all chains complete".into());
    } else {
        parts.extend(incomplete);
    }
    format!(
        "{}'s transcript: {}",
        backchannel_proto::text::plain(&report.owner),
        parts.join("; ")
    )
}
