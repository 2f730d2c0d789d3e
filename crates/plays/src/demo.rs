//! `backchannel demo`: broker, alpha and bravo in one process over real TLS on
//! loopback, playing a short exchange of assurances in each mode.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use backchannel_show::Outcome;
use backchannel_show::timeline::RunEnding;
use backchannel_stage::EventLog;
use clap::Parser;
use serde_json::json;

use crate::attacks::Which;
use crate::exchange::play;
use crate::summary::{ModeSummary, summary_table};

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
    /// does, in each mode asked for. What the file states each side holds at the end
    /// (`[expect.MODE]`) is checked: exit 1 if the run went otherwise.
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
    /// With --scenario: also write a handout for a class to predict on paper: per
    /// mode played, a questions sheet (each step of the run with the question the
    /// classroom's step mode asks before it) and an answers sheet (what happened),
    /// one printed page each.
    #[arg(long, value_name = "FILE.html", requires = "scenario")]
    handout: Option<PathBuf>,
}

/// Runs `backchannel demo`.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut log = EventLog::default();
    let mut endings: Vec<RunEnding> = Vec::new();
    if let Some(path) = &args.scenario {
        let scenario = read_scenario(path)?;
        let mut runs = Vec::new();
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
            runs.push(run);
        }
        let broken: Vec<String> = runs
            .iter()
            .flat_map(|r| {
                r.expectations
                    .iter()
                    .filter(|c| !c.holds())
                    .map(move |c| format!("{}: {}", r.mode, c.line()))
            })
            .collect();
        if let Some(out) = &args.handout {
            let sheets: Vec<backchannel_show::handout::Sheet<'_>> = runs
                .iter()
                .map(|r| backchannel_show::handout::Sheet {
                    mode: r.mode.to_string(),
                    steps: &r.steps,
                })
                .collect();
            let page = backchannel_show::handout::page(&scenario.title, &scenario.about, &sheets);
            std::fs::write(out, page)
                .with_context(|| format!("cannot write the handout {}", out.display()))?;
        }
        save(
            &args,
            &log,
            &endings,
            &format!("backchannel demo --scenario {}", path.display()),
        )?;
        if !broken.is_empty() {
            anyhow::bail!(
                "the run did not go as the scenario states: {}",
                broken.join("; ")
            );
        }
        return Ok(Outcome::Ok);
    }
    if args.verbose && args.adversary.is_none() {
        anyhow::bail!("--verbose goes with --adversary or --scenario");
    }
    if let Some(name) = &args.adversary {
        let result = crate::adversary_run::under_attack(
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
