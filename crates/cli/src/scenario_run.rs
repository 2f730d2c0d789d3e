//! `demo --scenario FILE.toml`: a scenario's two parties and its intermediary as real
//! TLS nodes on loopback, the script played message by message, the intermediary's
//! moves applied to the real frames, then what each side heard and believes and what
//! a judge can prove. The scenario format is in `docs/scenarios.md`.

use std::sync::Mutex;
use std::time::Duration;

use backchannel_broker::BrokerEvent;
use backchannel_lab::Adversary;
use backchannel_lab::scenario::{BrokerMove, Scenario, ScriptedMove, Step};
use backchannel_party::{Activity, Control, Party, PartySettings};
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{ChannelMode, PeerPolicy, SigningIdentity, Timestamp};
use serde_json::json;
use tokio::time::Instant;

use crate::events::EventLog;
use crate::local_broker::LocalBroker;
use crate::{keys, print};

/// How long a sender waits for a receipt before the script moves on.
const RECEIPT_WAIT: Duration = Duration::from_millis(800);
/// How long everyone keeps running after the last message, at least.
const SETTLE: Duration = Duration::from_millis(2500);

/// What one mode of a scenario showed.
pub struct ScenarioRun {
    /// The mode.
    pub mode: ChannelMode,
    /// Every node's lines, in time order, with whether each is routine.
    pub account: Vec<(String, bool)>,
    /// What each party believes and knows at the end, from its transcript.
    pub knowledge: Vec<Knowledge>,
    /// The judge's view of each party's transcript, one line each.
    pub judged: Vec<(String, String)>,
}

impl ScenarioRun {
    /// The account as text; routine lines only with `verbose`.
    pub fn text(&self, scenario: &Scenario, verbose: bool) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n==== scenario {:?}, {} mode (intermediary: {}) ====",
            backchannel_proto::text::plain(&scenario.title),
            self.mode,
            backchannel_proto::text::plain(&scenario.broker)
        );
        if !scenario.about.is_empty() {
            let _ = writeln!(out, "{}", backchannel_proto::text::plain(&scenario.about));
        }
        let mut hidden = 0usize;
        for (line, routine) in &self.account {
            if *routine && !verbose {
                hidden += 1;
            } else {
                let _ = writeln!(out, "{line}");
            }
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "({hidden} heartbeat and repeated line(s) hidden; --verbose shows them)"
            );
        }
        let _ = writeln!(out, "\nwhat each side believes:");
        for k in &self.knowledge {
            out.push_str(&crate::knowledge_view::knowledge_text(k));
        }
        for (_, verdict) in &self.judged {
            let _ = writeln!(out, "judge: {verdict}");
        }
        out
    }

    /// The run as one JSON object (raw words, never Debug text).
    pub fn json(&self, scenario: &Scenario) -> serde_json::Value {
        json!({
            "scenario": scenario.title,
            "mode": self.mode.to_string(),
            "broker": scenario.broker,
            "account": self.account.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
            "judge": self.judged.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "assurances": self.knowledge.iter().map(|k| (k.owner.clone(), crate::assurances::ledger_json(&k.ledger))).collect::<serde_json::Map<_, _>>(),
            "knowledge": self.knowledge.iter().map(|k| (k.owner.clone(), crate::knowledge_view::knowledge_json(k))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// Plays `scenario` in `mode`, recording every event in `log` under the run label
/// `run`.
pub async fn play(
    scenario: &Scenario,
    mode: ChannelMode,
    run: &str,
    log: &mut EventLog,
) -> anyhow::Result<ScenarioRun> {
    let dir = crate::scratch::scratch_dir(&format!("scenario-{mode}"))?;
    let result = play_in(scenario, mode, run, log, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What the nodes reported, with when, in the order it happened.
type Seen = Mutex<Vec<(Timestamp, String, Activity)>>;

async fn play_in(
    scenario: &Scenario,
    mode: ChannelMode,
    run: &str,
    log: &mut EventLog,
    dir: &std::path::Path,
) -> anyhow::Result<ScenarioRun> {
    let [first, second] = &scenario.parties;
    let ids = [keys::generate(first)?, keys::generate(second)?];
    let registered: Vec<_> = ids.iter().map(SigningIdentity::public).collect();
    let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<BrokerEvent>(4096);
    let collector = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(e) = events_rx.recv().await {
            got.push((backchannel_party::now(), e));
        }
        got
    });
    let strategy = Adversary::new(Box::new(ScriptedMove::new(scenario)), registered.clone());
    let broker =
        LocalBroker::start(registered.clone(), Box::new(strategy), Some(events_tx)).await?;
    let open = |me: &SigningIdentity, peer: &SigningIdentity| -> anyhow::Result<Party> {
        Ok(Party::open(PartySettings {
            me: me.clone(),
            broker: broker.addr.to_string(),
            tls: broker.client_tls.clone(),
            peers: vec![PeerPolicy::new(&me.public(), peer.public(), mode, "main")],
            // The lab's timing: fast heartbeats release held messages promptly.
            channel: crate::lab_run::lab_timing(),
            transcript: dir.join(format!("{}.transcript", me.name())),
            state: dir.join(format!("{}.state", me.name())),
        })?)
    };
    let [id_a, id_b] = &ids;
    let mut parties = [open(id_a, id_b)?, open(id_b, id_a)?];
    let seen: Seen = Mutex::new(Vec::new());
    let mut account: Vec<(Timestamp, String, bool)> = Vec::new();

    for (k, step) in scenario.steps.iter().enumerate() {
        if let Some(pause) = step.after {
            run_both(&mut parties, Instant::now() + pause, None, &seen).await?;
        }
        let sender = usize::from(step.from != *first);
        let now = backchannel_party::now();
        let body = step.said.body(now);
        let seq = parties
            .get_mut(sender)
            .ok_or_else(|| anyhow::anyhow!("no party {}", step.from))?
            .send(&step.to, body.clone(), step.valid_for)?;
        log.sent(now, run, &step.from, &step.to, seq, &body);
        account.push((
            now,
            format!(
                "[{}] says to {} (message {}, #{seq}): {}\n        {}: {}",
                step.from,
                step.to,
                k + 1,
                print::body_text(&body),
                backchannel_proto::text::plain(&scenario.broker),
                describe(step)
            ),
            false,
        ));
        let wait = Instant::now() + RECEIPT_WAIT;
        run_both(&mut parties, wait, Some((sender, &step.to, seq)), &seen).await?;
    }
    let settle = scenario
        .steps
        .iter()
        .map(|s| match s.broker {
            BrokerMove::HoldPastExpiry => s.valid_for + Duration::from_millis(1500),
            BrokerMove::Delay(d) => d + Duration::from_millis(1500),
            _ => SETTLE,
        })
        .max()
        .unwrap_or(SETTLE)
        .max(SETTLE);
    run_both(&mut parties, Instant::now() + settle, None, &seen).await?;
    for p in &mut parties {
        p.close().await;
    }
    broker.stop().await;

    let mut shown = std::collections::HashSet::new();
    for (at, node, a) in seen.into_inner().unwrap_or_default() {
        log.activity(at, run, &node, &a);
        if let Some(line) = print::activity_line(&node, &a) {
            let routine = crate::lab_run::is_routine(&a) || !shown.insert(line.clone());
            account.push((at, line, routine));
        }
    }
    let from_broker = tokio::time::timeout(Duration::from_secs(5), collector)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    for (at, e) in &from_broker {
        log.broker(*at, run, e);
        if let BrokerEvent::Strategy { note } = e {
            let line = format!(
                "[{}] {note}",
                backchannel_proto::text::plain(&scenario.broker)
            );
            // The same move on each held heartbeat is one line, repeated.
            let routine = !shown.insert(line.clone());
            account.push((*at, line, routine));
        }
    }
    account.sort_by_key(|(at, _, _)| *at);

    let keys = registered;
    let mut knowledge = Vec::new();
    let mut judged = Vec::new();
    for owner in &scenario.parties {
        let bytes = std::fs::read(dir.join(format!("{owner}.transcript")))?;
        knowledge.push(crate::knowledge_view::from_transcript(owner, &bytes)?);
        let report = backchannel_proto::judge(&bytes, &keys)?;
        judged.push((owner.clone(), crate::lab_run::judge_summary(&report)));
    }
    Ok(ScenarioRun {
        mode,
        account: account.into_iter().map(|(_, l, r)| (l, r)).collect(),
        knowledge,
        judged,
    })
}

/// What the intermediary does with `step`, in words.
fn describe(step: &Step) -> String {
    match &step.broker {
        BrokerMove::Alter(a) => {
            let words: Vec<String> = [
                ("text", &a.text),
                ("commitment", &a.commitment),
                ("condition", &a.condition),
                ("reason", &a.reason),
            ]
            .iter()
            .filter_map(|(field, v)| {
                v.as_ref()
                    .map(|v| format!("{field} -> {}", backchannel_proto::text::quoted(v)))
            })
            .collect();
            format!("changes its words ({})", words.join(", "))
        }
        BrokerMove::Forge(w) => format!(
            "passes it on, then adds in {}'s name: {}",
            step.from,
            backchannel_proto::text::quoted(w)
        ),
        other => other.describe(),
    }
}

/// Runs both parties until `deadline`, or until `until`'s sender has the receipt for
/// its `seq` (then the other stops too).
async fn run_both(
    parties: &mut [Party; 2],
    deadline: Instant,
    until: Option<(usize, &str, u64)>,
    seen: &Seen,
) -> anyhow::Result<()> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let [a, b] = parties;
    let names = [a.name().to_string(), b.name().to_string()];
    let watch = |index: usize| {
        let stop = &stop;
        let names = &names;
        move |act: &Activity| {
            if let Ok(mut v) = seen.lock() {
                v.push((
                    backchannel_party::now(),
                    names.get(index).cloned().unwrap_or_default(),
                    act.clone(),
                ));
            }
            if let Some((sender, to, seq)) = until
                && sender == index
                && matches!(act, Activity::Acknowledged { peer, up_to, .. } if peer == to && *up_to >= seq)
            {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    };
    let (ra, rb) = tokio::join!(
        a.run_until(deadline, watch(0)),
        b.run_until(deadline, watch(1))
    );
    ra?;
    rb?;
    Ok(())
}
