//! One live run of the threat-model lab: a broker playing one attack, alpha, bravo and
//! charlie as real TLS nodes on loopback, the scenario, and what everyone noticed.

use std::time::Duration;

use backchannel_broker::{BrokerEvent, Honest};
use backchannel_lab::expected::{Actor, Attack, Outcome};
use backchannel_party::{Activity, Control, Party, PartySettings};
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::node::{NodeFrame, login_frame, parse_node_frame};
use backchannel_proto::{
    Assurance, Body, ChannelConfig, ChannelMode, PeerPolicy, Revocation, SigningIdentity, judge,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::local_broker::LocalBroker;
use crate::{keys, print};

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
    /// Everything that happened, in time order, with when (for the event stream).
    pub timeline: Vec<(backchannel_proto::Timestamp, Happening)>,
    /// What alpha and bravo believe and know at the end, from their transcripts.
    pub knowledge: Vec<backchannel_proto::knowledge::Knowledge>,
}

/// One thing that happened during a run.
pub enum Happening {
    /// alpha sealed and sent an envelope.
    Sent {
        /// To whom.
        to: String,
        /// Its sequence number.
        seq: u64,
        /// What it said.
        body: Body<'static>,
    },
    /// A party reported something.
    Activity {
        /// Which.
        node: &'static str,
        /// What.
        activity: Activity,
    },
    /// The broker did something.
    Broker(BrokerEvent),
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

struct Node {
    name: &'static str,
    id: SigningIdentity,
}

struct Seen {
    at: Instant,
    party: &'static str,
    activity: Activity,
}

async fn broker_attack(attack: &Attack, mode: ChannelMode) -> anyhow::Result<LiveRun> {
    let dir = crate::scratch::scratch_dir(&format!("lab-{}-{mode}", attack.name))?;
    let result = broker_attack_in(&attack.name, mode, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|(run, _)| run)
}

/// A judge row: the honest scenario, then the test the row names on bravo's transcript.
async fn judge_test(attack: &Attack, mode: ChannelMode) -> anyhow::Result<LiveRun> {
    let dir = crate::scratch::scratch_dir(&format!("lab-{}-{mode}", attack.name))?;
    let result = match broker_attack_in("honest", mode, &dir).await {
        Ok((run, ids)) => crate::judge_tests::run(&attack.name, mode, &dir, &ids, run),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs the lab scenario with the broker playing `strategy`; returns the run and the
/// parties' identities (alpha, bravo, charlie), whose transcripts stay in `dir`.
async fn broker_attack_in(
    strategy: &str,
    mode: ChannelMode,
    dir: &std::path::Path,
) -> anyhow::Result<(LiveRun, Vec<SigningIdentity>)> {
    let nodes = [
        Node {
            name: "alpha",
            id: keys::generate("alpha")?,
        },
        Node {
            name: "bravo",
            id: keys::generate("bravo")?,
        },
        Node {
            name: "charlie",
            id: keys::generate("charlie")?,
        },
    ];
    let registered: Vec<_> = nodes.iter().map(|n| n.id.public()).collect();
    let strategy = backchannel_lab::strategy(strategy, &registered)
        .ok_or_else(|| anyhow::anyhow!("no strategy named {strategy}"))?;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<BrokerEvent>(4096);
    let broker_events = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(e) = events_rx.recv().await {
            got.push((Instant::now(), e));
        }
        got
    });
    let broker = LocalBroker::start(registered.clone(), strategy, Some(events_tx)).await?;
    let (addr, tls) = (broker.addr, broker.client_tls.clone());
    let mut parties = Vec::new();
    for me in &nodes {
        let peers = nodes
            .iter()
            .filter(|p| p.name != me.name)
            .map(|p| PeerPolicy::new(&me.id.public(), p.id.public(), mode, "main"))
            .collect();
        parties.push(Party::open(PartySettings {
            me: me.id.clone(),
            broker: addr.to_string(),
            tls: tls.clone(),
            peers,
            channel: lab_timing(),
            transcript: dir.join(format!("{}.transcript", me.name)),
            state: dir.join(format!("{}.state", me.name)),
        })?);
    }
    let charlie = parties.pop().ok_or_else(|| anyhow::anyhow!("no charlie"))?;
    let bravo = parties.pop().ok_or_else(|| anyhow::anyhow!("no bravo"))?;
    let mut alpha = parties.pop().ok_or_else(|| anyhow::anyhow!("no alpha"))?;

    // alpha's script takes at most four receipt waits, then everyone settles.
    let end = Instant::now() + RECEIPT_WAIT * 4 + SETTLE;
    let listen = |mut party: Party, name: &'static str| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let result = party
                .run_until(end, |a| {
                    seen.push(Seen {
                        at: Instant::now(),
                        party: name,
                        activity: a.clone(),
                    });
                    Control::Continue
                })
                .await;
            party.close().await;
            result.map(|_| seen)
        })
    };
    let bravo_task = listen(bravo, "bravo");
    let charlie_task = listen(charlie, "charlie");

    let mut seen = Vec::new();
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
    let mut sent: Vec<(Instant, Happening)> = Vec::new();
    for (to, body, ttl) in script {
        let copy = body.clone();
        let seq = alpha.send(to, body, ttl)?;
        sent.push((
            Instant::now(),
            Happening::Sent {
                to: to.to_owned(),
                seq,
                body: copy,
            },
        ));
        if to == "bravo" {
            last_to_bravo = seq;
        }
        let wait = Instant::now() + RECEIPT_WAIT;
        alpha
            .run_until(wait, |a| {
                seen.push(Seen {
                    at: Instant::now(),
                    party: "alpha",
                    activity: a.clone(),
                });
                match a {
                    Activity::Acknowledged { peer, up_to, .. } if peer == to && *up_to >= seq => {
                        Control::Stop
                    }
                    _ => Control::Continue,
                }
            })
            .await?;
    }
    alpha
        .run_until(end, |a| {
            seen.push(Seen {
                at: Instant::now(),
                party: "alpha",
                activity: a.clone(),
            });
            Control::Continue
        })
        .await?;
    alpha.close().await;
    seen.extend(bravo_task.await??);
    seen.extend(charlie_task.await??);
    broker.stop().await;
    seen.sort_by_key(|s| s.at);

    let keys: Vec<_> = registered;
    let report = judge(&std::fs::read(dir.join("bravo.transcript"))?, &keys)?;
    let mut run = classify(&seen, &sent, last_to_bravo, &report);
    for owner in ["alpha", "bravo"] {
        let bytes = std::fs::read(dir.join(format!("{owner}.transcript")))?;
        run.knowledge
            .push(crate::knowledge_view::from_transcript(owner, &bytes)?);
    }
    // The broker's sender is dropped when it stops; its events end there.
    let from_broker = tokio::time::timeout(Duration::from_secs(5), broker_events)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut timeline: Vec<(Instant, Happening)> = sent;
    timeline.extend(seen.iter().map(|s| {
        (
            s.at,
            Happening::Activity {
                node: s.party,
                activity: s.activity.clone(),
            },
        )
    }));
    timeline.extend(
        from_broker
            .into_iter()
            .map(|(at, e)| (at, Happening::Broker(e))),
    );
    timeline.sort_by_key(|(at, _)| *at);
    // Instants to wall-clock times, against one reading of both clocks.
    let (now_i, now_t) = (Instant::now(), backchannel_party::now());
    run.timeline = timeline
        .into_iter()
        .map(|(at, h)| {
            let ago = now_i.saturating_duration_since(at);
            let ms = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX);
            (
                backchannel_proto::Timestamp::from_millis(now_t.as_millis().saturating_sub(ms)),
                h,
            )
        })
        .collect();
    Ok((run, nodes.into_iter().map(|n| n.id).collect()))
}

fn classify(
    seen: &[Seen],
    sent: &[(Instant, Happening)],
    last_to_bravo: u64,
    report: &JudgeReport,
) -> LiveRun {
    let first_unacked = seen
        .iter()
        .find(|s| s.party == "alpha" && matches!(s.activity, Activity::Unacknowledged { .. }))
        .map(|s| s.at);
    let delivered = seen.iter().any(|s| {
        s.party == "alpha"
            && matches!(&s.activity, Activity::Acknowledged { peer, up_to, .. } if peer == "bravo" && *up_to >= last_to_bravo)
    });
    // Duplicates the sender caused by resending after a missing receipt are expected,
    // not a detection.
    let first_rejection = seen.iter().find_map(|s| match &s.activity {
        Activity::Received(r) => match &r.verdict {
            Err(backchannel_proto::Rejection::Replay { .. })
                if first_unacked.is_some_and(|t| s.at >= t) =>
            {
                None
            }
            Err(why) => Some((s.party, r.clone(), why.clone())),
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
    let accepted: Vec<String> = seen
        .iter()
        .filter_map(|s| match &s.activity {
            Activity::Received(r) if r.verdict.is_ok() && !r.is_control() => {
                let e = r.envelope.as_ref()?;
                Some(format!(
                    "{} accepted as {}'s: {}",
                    s.party,
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
    // A line identical to an earlier one is a retransmission meeting the same fate.
    // alpha's own words come first at the moment it sent them, so "said" can be read
    // beside "heard".
    let mut shown = std::collections::HashSet::new();
    let mut lines: Vec<(Instant, AccountLine)> = seen
        .iter()
        .filter_map(|s| {
            print::activity_line(s.party, &s.activity).map(|text| {
                (
                    s.at,
                    AccountLine {
                        routine: is_routine(&s.activity) || !shown.insert(text.clone()),
                        text,
                    },
                )
            })
        })
        .collect();
    for (at, h) in sent {
        if let Happening::Sent { to, seq, body } = h {
            lines.push((
                *at,
                AccountLine {
                    text: format!("[alpha] says to {to} (#{seq}): {}", print::body_text(body)),
                    routine: false,
                },
            ));
        }
    }
    lines.sort_by_key(|(at, _)| *at);
    let account = lines.into_iter().map(|(_, l)| l).collect();
    LiveRun {
        outcome,
        reason,
        sender_noticed,
        judge: judge_summary(report),
        narrative: narrative.join("; "),
        account,
        timeline: Vec::new(),
        knowledge: Vec::new(),
    }
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

/// Outsider attacks: a network client that is not the broker, against an honest broker.
async fn outsider_attack(attack: &Attack) -> anyhow::Result<LiveRun> {
    let alpha = keys::generate("alpha")?;
    let bravo = keys::generate("bravo")?;
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
            let impostor = keys::generate("alpha")?;
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
        timeline: Vec::new(),
        knowledge: Vec::new(),
    })
}
