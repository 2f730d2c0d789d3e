//! `demo --adversary NAME`: the lab's scenario under one attack, with every node's
//! account, what each side knows, what a judge can prove, and the outcome the spec
//! expects.

use backchannel_show::Outcome;
use backchannel_show::knowledge as knowledge_view;
use backchannel_show::timeline::RunEnding;
use backchannel_stage::EventLog;
use serde_json::json;

use crate::attacks::Which;

/// `demo --adversary NAME`: the lab scenario under one attack, with every node's account.
pub(crate) async fn under_attack(
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
