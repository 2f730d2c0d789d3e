//! One live run of the threat-model lab: a broker playing one attack, alpha, bravo and
//! charlie as real TLS nodes on loopback, the scenario, and what everyone noticed.

use std::time::Duration;

use backchannel_broker::Honest;
use backchannel_lab::expected::{self, Actor, Attack, Outcome};
use backchannel_party::Activity;
use backchannel_proto::judge::JudgeReport;
use backchannel_proto::node::{NodeFrame, login_frame, parse_node_frame};
use backchannel_proto::{Assurance, Body, ChannelConfig, ChannelMode, PeerPolicy, Revocation};
use backchannel_show::judge::judge_summary;
use backchannel_stage::{
    Event, Happening, Intermediary, LocalBroker, Recorded, Setup, Stage, identity,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use backchannel_show::print;

/// What one run showed.
pub struct LiveRun {
    /// Who caught it.
    pub outcome: Outcome,
    /// The first rejection code, `no-receipt`, or empty.
    pub reason: String,
    /// Whether the sender also noticed a missing receipt.
    pub sender_noticed: bool,
    /// What a judge can prove from the recipient's transcript, one line.
    pub judge: String,
    /// What happened, in the terms of the scenario.
    pub narrative: String,
    /// Every line each node printed (for `demo --adversary`).
    pub account: Vec<AccountLine>,
    /// Everything that happened, as published events (for the event stream).
    pub events: Vec<Event>,
    /// What alpha and bravo believe and know at the end, from their transcripts.
    pub knowledge: Vec<backchannel_proto::knowledge::Knowledge>,
}

/// One line of a node's account.
pub struct AccountLine {
    /// What the node printed.
    pub text: String,
    /// A heartbeat, a copy the recipient already had (dropped as a replay), or a
    /// retransmission that met the same fate as before: hidden unless `--verbose`.
    pub routine: bool,
}

/// Whether `a` is routine traffic: a heartbeat (accepted or not), or a duplicate.
pub(crate) fn is_routine(a: &Activity) -> bool {
    match a {
        Activity::Received(r) => {
            r.kind() == Some(backchannel_proto::BodyKind::Heartbeat)
                || matches!(r.verdict, Err(backchannel_proto::Rejection::Replay { .. }))
        }
        _ => false,
    }
}

/// Timing that makes every detection happen within the run.
pub(crate) fn lab_timing() -> ChannelConfig {
    ChannelConfig {
        ack_timeout: Duration::from_millis(1000),
        heartbeat_interval: Some(Duration::from_millis(300)),
        ..ChannelConfig::default()
    }
}

/// How long the parties keep running after alpha's last message.
const SETTLE: Duration = Duration::from_millis(3000);
/// How long alpha waits for each receipt before sending the next message.
const RECEIPT_WAIT: Duration = Duration::from_millis(400);
const DAY: Duration = Duration::from_secs(86_400);

/// Runs `attack` in `mode` and reports what happened.
pub async fn run_one(attack: &Attack, mode: ChannelMode) -> anyhow::Result<LiveRun> {
    match attack.actor {
        Actor::Broker => broker_attack(attack, mode).await,
        Actor::Outsider => outsider_attack(attack).await,
        Actor::Judge => judge_test(attack, mode).await,
    }
}

async fn broker_attack(attack: &Attack, mode: ChannelMode) -> anyhow::Result<LiveRun> {
    Ok(broker_attack_in(&attack.name, mode).await?.0)
}

/// A judge row: the honest scenario, then the test the row names on bravo's transcript.
async fn judge_test(attack: &Attack, mode: ChannelMode) -> anyhow::Result<LiveRun> {
    let (run, stage) = broker_attack_in("honest", mode).await?;
    crate::judge_tests::run(&attack.name, mode, stage.dir(), stage.identities(), run)
}

/// Runs the lab scenario with the broker playing `strategy`; returns the run and the
/// ended stage, whose parties' transcripts stay in its directory until it is dropped.
async fn broker_attack_in(strategy: &str, mode: ChannelMode) -> anyhow::Result<(LiveRun, Stage)> {
    let label = format!("{strategy} {mode}");
    let intermediary = if strategy == "honest" {
        Intermediary::Honest
    } else {
        Intermediary::Attack(strategy.to_owned())
    };
    let mut stage = Stage::start(Setup {
        label,
        mode,
        parties: vec!["alpha".into(), "bravo".into(), "charlie".into()],
        timing: lab_timing(),
        intermediary,
        count_heartbeats: false,
        live_knowledge: false,
        changed: None,
    })
    .await?;
    // alpha's script takes at most four receipt waits, then everyone settles.
    let end = Instant::now() + RECEIPT_WAIT * 4 + SETTLE;
    let script: [(&str, Body<'static>, Duration); 4] = [
        (
            "charlie",
            Body::Text("Talks can continue through this channel.".into()),
            DAY,
        ),
        (
            "bravo",
            Body::Assurance(Assurance {
                id: "A-1".into(),
                commitment: "No preemptive strike".into(),
                condition: "absent provocation".into(),
                valid_until: backchannel_party::now().saturating_add(30 * DAY),
            }),
            DAY,
        ),
        // Time-bound: it is only worth anything for the next moments.
        (
            "bravo",
            Body::Text("Our aircraft will keep clear of the agreed corridor.".into()),
            Duration::from_millis(1500),
        ),
        (
            "bravo",
            Body::Revocation(Revocation {
                assurance_id: "A-1".into(),
                reason: "Assurance A-1 is withdrawn as of now.".into(),
            }),
            DAY,
        ),
    ];
    let mut last_to_bravo = 0;
    for (to, body, ttl) in script {
        let mark = stage.cursor();
        let seq = stage.send("alpha", to, body, ttl).await?;
        if to == "bravo" {
            last_to_bravo = seq;
        }
        stage
            .wait_for(mark, Instant::now() + RECEIPT_WAIT, |r| {
                matches!(r.activity_of("alpha"), Some(Activity::Acknowledged { peer, up_to, .. }) if peer == to && *up_to >= seq)
            })
            .await;
    }
    stage.run_until(end).await;
    let ending = stage.end().await.clone();
    let recorded = stage.recorded();
    let report = ending
        .report("bravo")
        .ok_or_else(|| anyhow::anyhow!("bravo's transcript: {}", ending.problems.join("; ")))?;
    let mut run = classify(&recorded, last_to_bravo, report);
    run.knowledge = ending
        .knowledge
        .into_iter()
        .filter(|k| k.owner != "charlie")
        .collect();
    run.events = stage.events();
    Ok((run, stage))
}

fn classify(recorded: &[Recorded], last_to_bravo: u64, report: &JudgeReport) -> LiveRun {
    let activities: Vec<(usize, &str, &Activity)> = recorded
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.happening {
            Happening::Activity { node, activity } => Some((i, node.as_str(), activity)),
            _ => None,
        })
        .collect();
    let first_unacked = activities
        .iter()
        .find(|(_, party, a)| *party == "alpha" && matches!(a, Activity::Unacknowledged { .. }))
        .map(|(i, _, _)| *i);
    let delivered = activities.iter().any(|(_, party, a)| {
        *party == "alpha"
            && matches!(a, Activity::Acknowledged { peer, up_to, .. } if peer == "bravo" && *up_to >= last_to_bravo)
    });
    // Duplicates the sender caused by resending after a missing receipt are expected,
    // not a detection.
    let first_rejection = activities.iter().find_map(|(i, party, a)| match a {
        Activity::Received(r) => match &r.verdict {
            Err(backchannel_proto::Rejection::Replay { .. })
                if first_unacked.is_some_and(|t| *i >= t) =>
            {
                None
            }
            Err(why) => Some((*party, r.clone(), why.clone())),
            Ok(_) => None,
        },
        _ => None,
    });
    // A receipt that is merely late (a loaded machine) is not a detection; one that
    // never came by the end of the run is.
    let sender_noticed = first_unacked.is_some() || !delivered;
    let (outcome, reason) = match &first_rejection {
        Some((_, _, why)) => (Outcome::CaughtByRecipient, why.code().to_owned()),
        None if !delivered => (Outcome::CaughtBySender, "no-receipt".to_owned()),
        None => (Outcome::Undetected, String::new()),
    };
    let mut narrative = Vec::new();
    if let Some((party, r, why)) = &first_rejection {
        let what = r
            .body()
            .map(print::body_text)
            .unwrap_or_else(|| "an undecodable frame".into());
        narrative.push(format!("{party} rejected {what}: {why}"));
    }
    if outcome == Outcome::CaughtBySender {
        narrative.push(format!(
            "alpha got no valid receipt for #{last_to_bravo}: the broker or bravo may have dropped it"
        ));
    }
    let accepted: Vec<String> = activities
        .iter()
        .filter_map(|(_, party, a)| match a {
            Activity::Received(r) if r.verdict.is_ok() && !r.is_control() => {
                let e = r.envelope.as_ref()?;
                Some(format!(
                    "{party} accepted as {}'s: {}",
                    e.sender,
                    r.body().map(print::body_text).unwrap_or_default()
                ))
            }
            _ => None,
        })
        .collect();
    if outcome == Outcome::Undetected || first_rejection.is_none() {
        narrative.extend(accepted);
    }
    LiveRun {
        outcome,
        reason,
        sender_noticed,
        judge: judge_summary(report),
        narrative: narrative.join("; "),
        account: account_lines(recorded),
        events: Vec::new(),
        knowledge: Vec::new(),
    }
}

/// Every party's lines in the order they happened; alpha's own words at the moment it
/// sent them, so "said" can be read beside "heard". A line identical to an earlier one
/// is a retransmission meeting the same fate: routine.
fn account_lines(recorded: &[Recorded]) -> Vec<AccountLine> {
    let mut shown = std::collections::HashSet::new();
    recorded
        .iter()
        .filter_map(|r| match &r.happening {
            Happening::Sent {
                from,
                to,
                seq,
                body,
            } => Some(AccountLine {
                text: format!("[{from}] says to {to} (#{seq}): {}", print::body_text(body)),
                routine: false,
            }),
            Happening::Activity { node, activity } => {
                print::activity_line(node, activity).map(|text| AccountLine {
                    routine: is_routine(activity) || !shown.insert(text.clone()),
                    text,
                })
            }
            Happening::Broker(_) => None,
        })
        .collect()
}

/// Outsider attacks: a network client that is not the broker, against an honest broker.
async fn outsider_attack(attack: &Attack) -> anyhow::Result<LiveRun> {
    let alpha = identity::generate("alpha")?;
    let bravo = identity::generate("bravo")?;
    let broker =
        LocalBroker::start(vec![alpha.public(), bravo.public()], Box::new(Honest), None).await?;
    let (addr, tls) = (broker.addr, broker.client_tls.clone());
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = backchannel_net::tls::broker_server_name()?;
        Ok::<_, anyhow::Error>(
            tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await?,
        )
    };
    let (first_frame, description) = match attack.name.as_str() {
        "outsider-impersonate" => {
            let stream = connect().await?;
            let exporter = backchannel_net::tls::exporter(stream.get_ref().1)?;
            let impostor = identity::generate("alpha")?;
            (
                Some((stream, login_frame(&impostor, &exporter)?)),
                "a stranger's key, logging in as alpha",
            )
        }
        "outsider-inject" => {
            let stream = connect().await?;
            let mut a = backchannel_proto::Endpoint::new(
                alpha.clone(),
                vec![PeerPolicy::new(
                    &alpha.public(),
                    bravo.public(),
                    ChannelMode::Signed,
                    "main",
                )],
                ChannelConfig::default(),
            );
            a.send(
                backchannel_party::now(),
                "bravo",
                Body::Text("We will strike first.".into()),
                DAY,
            )?;
            let mut frame = Vec::new();
            a.poll_transmit(backchannel_party::now(), &mut frame)?;
            (
                Some((stream, frame)),
                "an envelope frame sent without logging in",
            )
        }
        _ => {
            // Capture a genuine login on one session, replay it on another.
            let mut genuine = connect().await?;
            let exporter = backchannel_net::tls::exporter(genuine.get_ref().1)?;
            let login = login_frame(&alpha, &exporter)?;
            genuine.write_all(&login).await?;
            genuine.flush().await?;
            let stream = connect().await?;
            (
                Some((stream, login)),
                "alpha's login captured on one session, replayed on another",
            )
        }
    };
    let mut answer = Vec::new();
    if let Some((mut stream, frame)) = first_frame {
        stream.write_all(&frame).await?;
        stream.flush().await?;
        let _ =
            tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer)).await;
    }
    broker.stop().await;
    let (outcome, reason, said) = match parse_node_frame(&answer) {
        Ok(NodeFrame::Notice(n)) => (Outcome::RefusedByBroker, n.code.clone(), n.to_string()),
        Ok(NodeFrame::Welcome { .. }) => (Outcome::Undetected, String::new(), "welcome".to_owned()),
        _ => (
            Outcome::RefusedByBroker,
            "closed".to_owned(),
            "closed the connection".to_owned(),
        ),
    };
    Ok(LiveRun {
        outcome,
        reason,
        sender_noticed: false,
        judge: "no transcript: nothing reached a party".to_owned(),
        narrative: format!("{description}: the broker answered {said}"),
        account: Vec::new(),
        events: Vec::new(),
        knowledge: Vec::new(),
    })
}

/// What proto-spec/attacks.toml expects of `attack` in `mode`.
pub fn expectation(attack: &Attack, mode: ChannelMode) -> &expected::Expectation {
    match mode {
        ChannelMode::Signed => &attack.signed,
        ChannelMode::OffRecord => &attack.off_record,
        _ => &attack.deniable,
    }
}

/// Whether a run showed what was expected.
pub fn matches(run: &LiveRun, want: &expected::Expectation) -> bool {
    run.outcome == want.outcome && (want.reason.is_empty() || run.reason == want.reason)
}
