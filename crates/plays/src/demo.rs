//! `backchannel demo`: broker, alpha and bravo in one process over real TLS on
//! loopback, playing a short exchange of assurances in each mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use backchannel_broker::BrokerEvent;
use backchannel_party::Activity;
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::knowledge::Knowledge;
use backchannel_proto::{Assurance, Body, ChannelConfig, ChannelMode, Revocation};
use backchannel_stage::{Event, EventLog, Happening, Intermediary, Setup, Stage};
use clap::Parser;
use serde_json::json;
use tokio::time::Instant;

use crate::attacks::Which;
use backchannel_show::Outcome;
use backchannel_show::judge as verify;
use backchannel_show::knowledge as knowledge_view;
use backchannel_show::print;
use backchannel_show::timeline::RunEnding;

/// Start a broker, alpha and bravo in this process on real TLS sockets on loopback
/// (fresh keys, certificate and ports), play an exchange of assurances, and show what
/// each node saw and what a judge can prove. Exit 0 when everything went as the spec
/// says.
#[derive(Parser)]
#[command(after_help = "Examples:\n  backchannel demo\n  backchannel demo --mode off-record")]
pub struct Args {
    /// Which mode to play.
    #[arg(long, value_enum, default_value_t = Which::All)]
    mode: Which,
    /// Print one JSON object per mode instead of the account.
    #[arg(long)]
    json: bool,
    /// Play the lab scenario with a broker that attacks (a name from `backchannel
    /// attacks`, e.g. drop, forge, downgrade) and show who caught what.
    #[arg(long, value_name = "NAME")]
    adversary: Option<String>,
    /// Play a scenario file instead (scenarios/*.toml; format in docs/scenarios.md):
    /// its parties, its script with timing, and per message what the intermediary
    /// does, in each mode asked for.
    #[arg(long, value_name = "FILE.toml", conflicts_with = "adversary")]
    scenario: Option<PathBuf>,
    /// With --adversary or --scenario: also show heartbeats and retransmissions that met
    /// the same fate as before (hidden by default, and counted).
    #[arg(long)]
    verbose: bool,
    /// Also write every event of the run(s) to FILE as JSON lines, in the schema of
    /// docs/events.md: what each node sent, saw and decided, in time order.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Also draw the run(s) as one self-contained HTML page: a lane per node, an arrow
    /// per envelope with its verdict, said vs heard, what each side believes, and what
    /// a judge can prove.
    #[arg(long, value_name = "FILE.html")]
    timeline: Option<PathBuf>,
}

const DAY: Duration = Duration::from_secs(86_400);
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `backchannel demo`.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut log = EventLog::default();
    let mut endings: Vec<RunEnding> = Vec::new();
    if let Some(path) = &args.scenario {
        let scenario = read_scenario(path)?;
        for mode in args.mode.modes() {
            let label = format!("{} {mode}", scenario.title);
            let run = crate::scenario_run::play(&scenario, mode, &label, &mut log).await?;
            if args.json {
                println!("{}", run.json(&scenario));
            } else {
                print!("{}", run.text(&scenario, args.verbose));
            }
            let verdicts: Vec<String> = run.judged.iter().map(|(_, v)| v.clone()).collect();
            endings.push(RunEnding {
                run: label,
                judge: verdicts.join("; "),
                knowledge: run.knowledge.clone(),
            });
        }
        save(
            &args,
            &log,
            &endings,
            &format!("backchannel demo --scenario {}", path.display()),
        )?;
        return Ok(Outcome::Ok);
    }
    if args.verbose && args.adversary.is_none() {
        anyhow::bail!("--verbose goes with --adversary or --scenario");
    }
    if let Some(name) = &args.adversary {
        let result = under_attack(
            name,
            args.mode,
            args.json,
            args.verbose,
            &mut log,
            &mut endings,
        )
        .await;
        save(
            &args,
            &log,
            &endings,
            &format!("backchannel demo --adversary {name}"),
        )?;
        return result;
    }
    let modes = args.mode.modes();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for mode in modes {
        let (account, events) = play(mode).await?;
        log.extend(events);
        if args.json {
            println!("{}", account.json());
        } else {
            print!("{}", account.text());
        }
        failures.extend(account.failures.iter().map(|f| format!("{mode}: {f}")));
        summary.push(ModeSummary::of(&account));
        endings.push(RunEnding {
            run: format!("demo {mode}"),
            judge: account
                .judged
                .iter()
                .find(|(o, _)| o == "bravo")
                .map(|(_, report)| backchannel_show::judge::judge_summary(report))
                .unwrap_or_default(),
            knowledge: account.knowledge.clone(),
        });
    }
    if summary.len() > 1 {
        if args.json {
            println!(
                "{}",
                json!({ "summary": summary.iter().map(ModeSummary::json).collect::<Vec<_>>() })
            );
        } else {
            print!("{}", summary_table(&summary));
        }
    }
    save(&args, &log, &endings, "backchannel demo")?;
    if failures.is_empty() {
        Ok(Outcome::Ok)
    } else {
        anyhow::bail!(
            "the scenario did not run as the spec says: {}",
            failures.join("; ")
        )
    }
}

/// The most a scenario file may hold.
const MAX_SCENARIO_BYTES: u64 = 256 * 1024;

/// Reads and checks a scenario file.
pub fn read_scenario(path: &Path) -> anyhow::Result<backchannel_lab::scenario::Scenario> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{}: cannot read as text", path.display()))?;
    if text.len() as u64 > MAX_SCENARIO_BYTES {
        anyhow::bail!("{}: larger than {MAX_SCENARIO_BYTES} bytes", path.display());
    }
    backchannel_lab::scenario::Scenario::parse(&text).with_context(|| format!("{}", path.display()))
}

/// Writes the event stream and the timeline, if asked for.
fn save(args: &Args, log: &EventLog, endings: &[RunEnding], title: &str) -> anyhow::Result<()> {
    if let Some(path) = &args.events {
        log.write(path)?;
    }
    if let Some(path) = &args.timeline {
        let html = backchannel_show::timeline::page(title, &log.in_order(), endings);
        std::fs::write(path, html).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// One column of the closing side-by-side table: what the run of one mode showed.
struct ModeSummary {
    mode: ChannelMode,
    /// Every message was accepted as authenticated by its named sender: the recipient
    /// knows who wrote it.
    recipient_convinced: bool,
    /// Entries of bravo's transcript a judge attributes provably.
    provable: usize,
    /// Entries the judge found attributable to either party, or to anyone after a reveal.
    either_party: usize,
    anyone: usize,
    /// How the parties proved themselves to the broker in this mode.
    login: &'static str,
}

impl ModeSummary {
    fn of(account: &Account) -> Self {
        let bravo = account.judged.iter().find(|(o, _)| o == "bravo");
        let count = |f: fn(&Finding) -> bool| {
            bravo.map_or(0, |(_, r)| {
                r.entries.iter().filter(|e| f(&e.finding)).count()
            })
        };
        ModeSummary {
            mode: account.mode,
            recipient_convinced: account.mode.recipient_authenticates()
                && account.failures.is_empty(),
            provable: count(|f| matches!(f, Finding::ProvablyWrittenBy { .. })),
            either_party: count(|f| matches!(f, Finding::EitherPartyCouldHaveWritten { .. })),
            anyone: count(|f| matches!(f, Finding::AnyoneCouldHaveWritten { .. })),
            login: backchannel_proto::node::LoginKind::for_modes([account.mode]).as_str(),
        }
    }

    /// Who can write an envelope bravo accepts as alpha's, by the mode's construction
    /// (the attack lab shows each case live).
    fn who_can_forge(&self) -> &'static str {
        if self.mode.recipient_authenticates() {
            "only the sender"
        } else {
            "the broker (or anyone it lets in)"
        }
    }

    fn judge_can_prove(&self) -> String {
        if self.provable > 0 {
            format!("who said what ({} entries provable)", self.provable)
        } else if self.either_party + self.anyone > 0 {
            format!(
                "nothing ({} either party's, {} anyone's after a reveal)",
                self.either_party, self.anyone
            )
        } else {
            "nothing".to_owned()
        }
    }

    fn contact_deniable(&self) -> bool {
        self.login == "mac"
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "mode": self.mode.to_string(),
            "who_can_forge": self.who_can_forge(),
            "recipient_convinced": self.recipient_convinced,
            "judge_can_prove": self.judge_can_prove(),
            "provable_entries": self.provable,
            "contact_deniable": self.contact_deniable(),
            "login": self.login,
        })
    }
}

/// The side-by-side table the demo ends with.
fn summary_table(modes: &[ModeSummary]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let rows: Vec<(&str, Vec<String>)> = vec![
        ("", modes.iter().map(|m| m.mode.to_string()).collect()),
        (
            "who can forge live",
            modes.iter().map(|m| m.who_can_forge().to_owned()).collect(),
        ),
        (
            "does the recipient know",
            modes
                .iter()
                .map(|m| yes_no(m.recipient_convinced))
                .collect(),
        ),
        (
            "what a judge can prove",
            modes.iter().map(ModeSummary::judge_can_prove).collect(),
        ),
        (
            "is contact deniable",
            modes
                .iter()
                .map(|m| {
                    if m.contact_deniable() {
                        "yes (login by MAC)".to_owned()
                    } else {
                        "no (login signed)".to_owned()
                    }
                })
                .collect(),
        ),
    ];
    let widths: Vec<usize> = (0..modes.len())
        .map(|i| {
            rows.iter()
                .filter_map(|(_, cells)| cells.get(i).map(String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from("\n==== the modes side by side ====\n");
    for (label, cells) in &rows {
        let mut line = format!("{label:<24}");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!(" | {cell:<width$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What happened in one mode.
struct Account {
    mode: ChannelMode,
    alpha: Vec<String>,
    broker: Vec<String>,
    bravo: Vec<String>,
    judged: Vec<(String, JudgeReport)>,
    /// What each party believes and knows at the end, from its transcript.
    knowledge: Vec<Knowledge>,
    failures: Vec<String>,
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

    fn text(&self) -> String {
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

    fn json(&self) -> serde_json::Value {
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

async fn play(mode: ChannelMode) -> anyhow::Result<(Account, Vec<Event>)> {
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

/// `demo --adversary NAME`: the lab scenario under one attack, with every node's account.
async fn under_attack(
    name: &str,
    which: Which,
    json_out: bool,
    verbose: bool,
    log: &mut EventLog,
    endings: &mut Vec<RunEnding>,
) -> anyhow::Result<Outcome> {
    let attacks = crate::attacks::select(Some(name))?;
    let modes = which.modes();
    let mut differ = Vec::new();
    for attack in &attacks {
        for mode in &modes {
            let run = crate::lab_run::run_one(attack, *mode).await?;
            let label = format!("{} {mode}", attack.name);
            endings.push(RunEnding {
                run: label.clone(),
                judge: run.judge.clone(),
                knowledge: run.knowledge.clone(),
            });
            log.extend(run.events.iter().cloned());
            let want = crate::attacks::expectation(attack, *mode);
            let ok = crate::attacks::matches(&run, want);
            if !ok {
                differ.push(format!("{} in {mode} mode", attack.name));
            }
            if json_out {
                println!(
                    "{}",
                    json!({
                        "attack": attack.name,
                        "mode": mode.to_string(),
                        "outcome": run.outcome.as_str(),
                        "reason": run.reason,
                        "expected": { "outcome": want.outcome.as_str(), "reason": want.reason },
                        "matches": ok,
                        "account": run.account.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
                        "narrative": run.narrative,
                        "judge": run.judge,
                    })
                );
                continue;
            }
            println!("\n==== {} against the {mode} channel ====", attack.name);
            println!("the move: {} ({})", attack.what, attack.analogy);
            println!(
                "alpha sends charlie one message, then bravo assurance A-1, a time-bound corridor notice, and the withdrawal of A-1\n"
            );
            let mut hidden = 0usize;
            for line in &run.account {
                if line.routine && !verbose {
                    hidden += 1;
                } else {
                    println!("{}", line.text);
                }
            }
            if hidden > 0 {
                println!(
                    "({hidden} heartbeat and repeated line(s) hidden: retransmissions that met the same fate; --verbose shows them)"
                );
            }
            println!(
                "\nwhat happened: {}",
                if run.narrative.is_empty() {
                    "nothing"
                } else {
                    &run.narrative
                }
            );
            println!("what each side believes:");
            for k in &run.knowledge {
                print!("{}", knowledge_view::knowledge_text(k));
            }
            println!("judge: {}", run.judge);
            println!(
                "outcome: {}{} (the spec expects {}{})",
                run.outcome.as_str(),
                if run.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", run.reason)
                },
                want.outcome.as_str(),
                if want.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", want.reason)
                },
            );
            println!("why: {}", attack.mechanism);
        }
    }
    if differ.is_empty() {
        Ok(Outcome::Ok)
    } else {
        anyhow::bail!(
            "outcome differs from proto-spec/attacks.toml: {}",
            differ.join(", ")
        )
    }
}
