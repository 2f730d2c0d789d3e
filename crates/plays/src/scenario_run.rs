//! `demo --scenario FILE.toml`: a scenario's two parties and its intermediary as real
//! TLS nodes on loopback, the script played message by message, the intermediary's
//! moves applied to the real frames, then what each side heard and believes and what
//! a judge can prove. The scenario format is in `docs/scenarios.md`.

use std::time::Duration;

use backchannel_broker::BrokerEvent;
use backchannel_lab::moves::ScriptedMove;
use backchannel_lab::scenario::{BrokerMove, Expectation, Scenario, Standing, Step};
use backchannel_party::Activity;
use backchannel_proto::ChannelMode;
use backchannel_proto::knowledge::Knowledge;
use backchannel_stage::{EventLog, Happening, Intermediary, Setup, Stage};
use serde_json::json;
use tokio::time::Instant;

use backchannel_show::print;
use backchannel_show::steps::JudgedTranscript;

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
    /// The run cut into steps a class can predict (the handout's and the classroom's
    /// step mode's questions).
    pub steps: Vec<backchannel_show::steps::Step>,
    /// What the scenario states about this mode's run, each with what the run did.
    pub expectations: Vec<Checked>,
}

/// One statement of the scenario's `[expect]`, checked against the run.
#[derive(Clone, Debug)]
pub struct Checked {
    /// What the scenario states.
    pub stated: Expectation,
    /// Where the assurance stands in the party's ledger at the end (`mixed` when the
    /// party holds several assurances of that id that stand differently).
    pub observed: String,
}

impl Checked {
    /// Whether the run went as stated.
    pub fn holds(&self) -> bool {
        self.observed == self.stated.standing.as_str()
    }

    /// One line: as stated, or not.
    pub fn line(&self) -> String {
        let s = &self.stated;
        let (party, id) = (
            backchannel_proto::text::plain(&s.party),
            backchannel_proto::text::plain(&s.id),
        );
        if self.holds() {
            format!(
                "as the scenario states: {party} holds {id}: {}",
                self.observed
            )
        } else {
            format!(
                "NOT as the scenario states: {party} holds {id}: stated {}, the run gave {}",
                s.standing.as_str(),
                self.observed
            )
        }
    }
}

/// `stated`, checked against what each party knows at the end.
fn check(stated: &Expectation, knowledge: &[Knowledge]) -> Checked {
    let mut standings: Vec<&'static str> = knowledge
        .iter()
        .filter(|k| k.owner == stated.party)
        .flat_map(|k| k.ledger.entries.iter())
        .filter(|e| e.id == stated.id)
        .map(|e| e.status.as_str())
        .collect();
    standings.sort_unstable();
    standings.dedup();
    let observed = match standings.as_slice() {
        [] => Standing::None.as_str(),
        [one] => one,
        _ => "mixed",
    };
    Checked {
        stated: stated.clone(),
        observed: observed.to_owned(),
    }
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
            out.push_str(&backchannel_show::knowledge::knowledge_text(k));
        }
        for (_, verdict) in &self.judged {
            let _ = writeln!(out, "judge: {verdict}");
        }
        for c in &self.expectations {
            let _ = writeln!(out, "{}", c.line());
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
            "assurances": self.knowledge.iter().map(|k| (k.owner.clone(), backchannel_show::ledger::ledger_json(&k.ledger))).collect::<serde_json::Map<_, _>>(),
            "knowledge": self.knowledge.iter().map(|k| (k.owner.clone(), backchannel_show::knowledge::knowledge_json(k))).collect::<serde_json::Map<_, _>>(),
            "steps": backchannel_show::steps::steps_json(&self.steps),
            "expectations": self.expectations.iter().map(|c| json!({
                "party": c.stated.party,
                "id": c.stated.id,
                "stated": c.stated.standing.as_str(),
                "observed": c.observed,
                "holds": c.holds(),
            })).collect::<Vec<_>>(),
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
    let mut stage = Stage::start(Setup {
        label: run.to_owned(),
        mode,
        parties: scenario.parties.clone(),
        // The lab's timing: fast heartbeats release held messages promptly.
        timing: crate::lab_run::lab_timing(),
        intermediary: Intermediary::Moves(Box::new(ScriptedMove::new(scenario))),
        count_heartbeats: false,
        live_knowledge: false,
        changed: None,
    })
    .await?;
    // What the script says, step by step (the broker's move beside it).
    let mut said: Vec<(usize, String)> = Vec::new();
    for (k, step) in scenario.steps.iter().enumerate() {
        if let Some(pause) = step.after {
            stage.run_until(Instant::now() + pause).await;
        }
        let body = step.said.body(backchannel_party::now());
        let mark = stage.cursor();
        let seq = stage
            .send(&step.from, &step.to, body, step.valid_for)
            .await?;
        said.push((
            k + 1,
            format!(
                "{}: {}",
                backchannel_proto::text::plain(&scenario.broker),
                describe(step)
            ),
        ));
        let (from, to) = (step.from.as_str(), step.to.as_str());
        stage
            .wait_for(mark, Instant::now() + RECEIPT_WAIT, |r| {
                matches!(r.activity_of(from), Some(Activity::Acknowledged { peer, up_to, .. }) if peer == to && *up_to >= seq)
            })
            .await;
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
    stage.run_until(Instant::now() + settle).await;
    let ending = stage.end().await.clone();
    if !ending.problems.is_empty() {
        anyhow::bail!("{}", ending.problems.join("; "));
    }
    let events = stage.events();
    let transcripts: Vec<JudgedTranscript> = ending
        .reports
        .iter()
        .map(|(_, report)| JudgedTranscript::of(report))
        .collect();
    let steps = backchannel_show::steps::steps(&events, &transcripts);
    log.extend(events);

    let mut account = Vec::new();
    let mut shown = std::collections::HashSet::new();
    let mut script = said.into_iter();
    for r in stage.recorded() {
        match &r.happening {
            Happening::Sent {
                from,
                to,
                seq,
                body,
            } => {
                let (k, how) = script.next().unwrap_or_default();
                account.push((
                    format!(
                        "[{from}] says to {to} (message {k}, #{seq}): {}\n        {how}",
                        print::body_text(body)
                    ),
                    false,
                ));
            }
            Happening::Activity { node, activity } => {
                if let Some(line) = print::activity_line(node, activity) {
                    let routine =
                        crate::lab_run::is_routine(activity) || !shown.insert(line.clone());
                    account.push((line, routine));
                }
            }
            Happening::Broker(BrokerEvent::Strategy { note }) => {
                let line = format!(
                    "[{}] {note}",
                    backchannel_proto::text::plain(&scenario.broker)
                );
                // The same move on each held heartbeat is one line, repeated.
                let routine = !shown.insert(line.clone());
                account.push((line, routine));
            }
            Happening::Broker(_) => {}
        }
    }
    let judged = transcripts
        .into_iter()
        .map(|t| (t.owner, t.summary))
        .collect();
    let expectations = scenario
        .expect
        .iter()
        .filter(|e| e.mode == mode)
        .map(|e| check(e, &ending.knowledge))
        .collect();
    Ok(ScenarioRun {
        mode,
        account,
        knowledge: ending.knowledge,
        judged,
        steps,
        expectations,
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
