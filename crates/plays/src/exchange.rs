//! The demo exchange (`backchannel demo`): an assurance, the reciprocal one and a
//! withdrawal, each waited for until it is heard and acknowledged, on one live run with
//! an honest broker; then what each node saw and what a judge can prove.

use std::time::Duration;

use backchannel_broker::BrokerEvent;
use backchannel_party::Activity;
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{Assurance, Body, ChannelConfig, ChannelMode, Revocation};
use backchannel_show::judge as verify;
use backchannel_show::knowledge as knowledge_view;
use backchannel_show::print;
use backchannel_stage::{Event, Happening, Intermediary, Setup, Stage};
use serde_json::json;
use tokio::time::Instant;

const DAY: Duration = Duration::from_secs(86_400);
/// How long one step may take: heard, and its receipt back.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// What happened in one mode.
pub(crate) struct Account {
    pub(crate) mode: ChannelMode,
    pub(crate) alpha: Vec<String>,
    pub(crate) broker: Vec<String>,
    pub(crate) bravo: Vec<String>,
    pub(crate) judged: Vec<(String, JudgeReport)>,
    /// What each party believes and knows at the end, from its transcript.
    pub(crate) knowledge: Vec<Knowledge>,
    pub(crate) failures: Vec<String>,
}

impl Account {
    /// Where `node`'s lines go.
    fn lines_of(&mut self, node: &str) -> &mut Vec<String> {
        if node == "alpha" {
            &mut self.alpha
        } else {
            &mut self.bravo
        }
    }

    pub(crate) fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let title = match self.mode {
            ChannelMode::Signed => {
                "SIGNED mode: a written, signed cable carried by a courier who can read it"
            }
            ChannelMode::OffRecord => {
                "OFF-RECORD mode: words in a closed room: the listener knows who spoke, nobody can prove it"
            }
            _ => "DENIABLE mode: a verbal message passed on by the intermediary",
        };
        let _ = writeln!(out, "\n==== {title} ====");
        for (name, lines) in [
            ("alpha", &self.alpha),
            ("broker (reads everything it relays)", &self.broker),
            ("bravo", &self.bravo),
        ] {
            let _ = writeln!(out, "\n--- {name} ---");
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
        let _ = writeln!(
            out,
            "\n--- what each side believes, and knows of the other (its own transcript) ---"
        );
        for k in &self.knowledge {
            out.push_str(&knowledge_view::knowledge_text(k));
        }
        for (owner, report) in &self.judged {
            let _ = writeln!(
                out,
                "\n--- what a judge can prove from {owner}'s transcript ---"
            );
            out.push_str(&verify::report_text(report, 2));
        }
        let _ = writeln!(
            out,
            "\n{} mode: {}",
            self.mode,
            if self.failures.is_empty() {
                "everything went as the spec says".to_owned()
            } else {
                format!("UNEXPECTED: {}", self.failures.join("; "))
            }
        );
        out
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "mode": self.mode.to_string(),
            "as_expected": self.failures.is_empty(),
            "failures": self.failures,
            "alpha": self.alpha,
            "broker": self.broker,
            "bravo": self.bravo,
            "judge": self.judged.iter().map(|(o, r)| (o.clone(), verify::report_json(r))).collect::<serde_json::Map<_, _>>(),
            "assurances": self.knowledge.iter().map(|k| (k.owner.clone(), backchannel_show::ledger::ledger_json(&k.ledger))).collect::<serde_json::Map<_, _>>(),
            "knowledge": self.knowledge.iter().map(|k| (k.owner.clone(), knowledge_view::knowledge_json(k))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

pub(crate) async fn play(mode: ChannelMode) -> anyhow::Result<(Account, Vec<Event>)> {
    let mut stage = Stage::start(Setup {
        label: format!("demo {mode}"),
        mode,
        parties: vec!["alpha".into(), "bravo".into()],
        timing: ChannelConfig {
            heartbeat_interval: None,
            ..ChannelConfig::default()
        },
        intermediary: Intermediary::Honest,
        count_heartbeats: false,
        live_knowledge: false,
        changed: None,
    })
    .await?;
    let mut account = Account {
        mode,
        alpha: Vec::new(),
        broker: Vec::new(),
        bravo: Vec::new(),
        judged: Vec::new(),
        knowledge: Vec::new(),
        failures: Vec::new(),
    };

    let a1 = Body::Assurance(Assurance {
        id: "A-1".into(),
        commitment: "No preemptive strike".into(),
        condition: "absent provocation".into(),
        valid_until: backchannel_party::now().saturating_add(30 * DAY),
    });
    let b1 = Body::Assurance(Assurance {
        id: "B-1".into(),
        commitment: "No initiation of military action".into(),
        condition: "absent provocation".into(),
        valid_until: backchannel_party::now().saturating_add(30 * DAY),
    });
    let revoke = Body::Revocation(Revocation {
        assurance_id: "A-1".into(),
        reason: "Assurance A-1 is withdrawn as of now.".into(),
    });
    // The situation the project models (README): an assurance, the reciprocal one, and a
    // revocation, each acknowledged by a receipt.
    let script = [
        ("alpha", "bravo", a1, 30 * DAY),
        ("bravo", "alpha", b1, 30 * DAY),
        ("alpha", "bravo", revoke, 7 * DAY),
    ];
    for (from, to, body, ttl) in script {
        step(&stage, &mut account, (from, to), body, ttl).await?;
    }
    let ending = stage.end().await.clone();
    if !ending.problems.is_empty() {
        anyhow::bail!("{}", ending.problems.join("; "));
    }
    for r in stage.recorded() {
        match &r.happening {
            Happening::Sent {
                from,
                to,
                seq,
                body,
            } => {
                let line = format!("[{from}] sends #{seq} to {to}: {}", print::body_text(body));
                account.lines_of(from).push(line);
            }
            Happening::Activity { node, activity } => {
                if let Some(line) = print::activity_line(node, activity) {
                    account.lines_of(node).push(line);
                }
            }
            Happening::Broker(e) => account.broker.push(broker_line(e)),
        }
    }
    for (owner, report) in ending.reports {
        check_judgement(&mut account.failures, mode, &owner, &report);
        account.judged.push((owner, report));
    }
    account.knowledge = ending.knowledge;
    Ok((account, stage.events()))
}

/// `from` says `body` to `to`; the run goes on until `to` has heard it and `from` has
/// the receipt that settles it (at most [`STEP_TIMEOUT`]).
async fn step(
    stage: &Stage,
    account: &mut Account,
    (from, to): (&str, &str),
    body: Body<'static>,
    ttl: Duration,
) -> anyhow::Result<()> {
    let mark = stage.cursor();
    let seq = stage.send(from, to, body, ttl).await?;
    let mut delivered = None;
    let mut received = None;
    stage
        .wait_for(mark, Instant::now() + STEP_TIMEOUT, |r| {
            if let Some(a) = r.activity_of(from)
                && let Some(settled) = a.settles(to, seq)
            {
                delivered = Some(settled);
            }
            if let Some(Activity::Received(got)) = r.activity_of(to)
                && !got.is_control()
            {
                received = Some(got.verdict.clone());
            }
            delivered.is_some() && received.is_some()
        })
        .await;
    let expected = stage.mode().recipient_authenticates();
    match received {
        Some(Ok(a)) if a.is_attested() == expected => {}
        Some(Ok(a)) => account
            .failures
            .push(format!("{to} accepted #{seq} as {a:?}")),
        Some(Err(why)) => account
            .failures
            .push(format!("{to} rejected #{seq}: {why}")),
        None => account.failures.push(format!("{to} never received #{seq}")),
    }
    match delivered {
        Some(Ok(a)) if a.is_attested() == expected => {}
        Some(Ok(a)) => account
            .failures
            .push(format!("the receipt for #{seq} was {a:?}")),
        Some(Err(why)) => account.failures.push(format!(
            "{from}'s receipt for #{seq} says {to} refused it ({why})"
        )),
        None => account
            .failures
            .push(format!("{from} got no receipt for #{seq}")),
    }
    Ok(())
}

/// The broker's account line for what it reported.
fn broker_line(e: &BrokerEvent) -> String {
    match e {
        BrokerEvent::LoggedIn { party, queued } => {
            format!(
                "[broker] {party} logged in (proved its key on this TLS session); {queued} waiting"
            )
        }
        BrokerEvent::LoginRefused { reason } => format!("[broker] refused a login: {reason}"),
        BrokerEvent::Read { line, .. } => format!("[broker] read {line}"),
        BrokerEvent::Refused { from, reason } => {
            format!("[broker] refused {from}'s envelope: {reason}")
        }
        BrokerEvent::Strategy { note } => format!("[broker] {note}"),
    }
}

fn check_judgement(
    failures: &mut Vec<String>,
    mode: ChannelMode,
    owner: &str,
    report: &JudgeReport,
) {
    if !report.is_clean() {
        failures.push(format!("{owner}'s transcript is not clean"));
    }
    let ok = report.entries.iter().all(|e| match (mode, &e.finding) {
        (ChannelMode::Signed, Finding::ProvablyWrittenBy { name, .. }) => {
            e.summary.as_ref().is_some_and(|s| &s.sender == name)
        }
        (ChannelMode::Deniable, Finding::Unattributable) => true,
        (
            ChannelMode::OffRecord,
            Finding::EitherPartyCouldHaveWritten { .. } | Finding::AnyoneCouldHaveWritten { .. },
        ) => true,
        _ => false,
    });
    if !ok {
        failures.push(format!(
            "the judge's findings on {owner}'s transcript are not what {mode} mode promises"
        ));
    }
    let proofs = report.chains.iter().all(|c| {
        c.acknowledgement_provable == (mode == ChannelMode::Signed) || c.acknowledged_up_to == 0
    });
    if !proofs {
        failures.push(format!(
            "delivery proofs in {owner}'s transcript do not match {mode} mode"
        ));
    }
}
