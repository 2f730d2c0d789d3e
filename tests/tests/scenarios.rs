//! `demo --scenario`: the three shipped scenarios, each in every mode, with what each
//! side ends up believing and what a judge can prove; a broken file is refused before
//! anything runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;

fn scenario(name: &str) -> String {
    format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// Every mode's JSON object for the scenario, by mode. Each shipped scenario states
/// what each side holds at the end of each mode (`[expect]`), and the run went as
/// stated.
fn play(name: &str) -> Vec<serde_json::Value> {
    let out = run(&["demo", "--scenario", &scenario(name), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let modes: Vec<&str> = runs.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["signed", "deniable", "off-record"]);
    for r in &runs {
        let stated = r["expectations"].as_array().unwrap();
        assert!(!stated.is_empty(), "{name} states nothing of {}", r["mode"]);
        for e in stated {
            assert_eq!(e["holds"], true, "{name}: {e}");
            assert_eq!(e["stated"], e["observed"], "{name}: {e}");
        }
    }
    runs
}

/// (id, status, condition) of what `owner` believes.
fn beliefs(run: &serde_json::Value, owner: &str) -> Vec<(String, String, String)> {
    run["assurances"][owner]["assurances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
                a["condition"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn account(run: &serde_json::Value) -> String {
    run["account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_first_strike_arrives_in_every_mode_and_only_signed_is_provable() {
    let _serial = serial();
    for run in play("no-first-strike") {
        let mode = run["mode"].as_str().unwrap();
        let held = |o| {
            beliefs(&run, o)
                .into_iter()
                .map(|(id, s, _)| (id, s))
                .collect::<Vec<_>>()
        };
        let both = vec![
            ("A-1".to_owned(), "in force".to_owned()),
            ("B-1".to_owned(), "in force".to_owned()),
        ];
        assert_eq!(held("alpha"), both, "{mode}: {run}");
        assert_eq!(held("bravo"), both, "{mode}: {run}");
        let judge = run["judge"]["bravo"].as_str().unwrap();
        match mode {
            "signed" => assert!(judge.contains("provably by alpha"), "{judge}"),
            "deniable" => assert!(judge.contains("unattributable"), "{judge}"),
            _ => {
                assert!(judge.contains("either party"), "{judge}");
                assert!(!judge.contains("provably"), "{judge}");
            }
        }
    }
}

#[test]
fn a_withdrawal_sat_on_past_its_deadline_is_refused_unless_deniable() {
    let _serial = serial();
    for run in play("withdrawal-sat-on") {
        let mode = run["mode"].as_str().unwrap();
        let south = beliefs(&run, "south");
        assert_eq!(south.len(), 1, "{mode}: {run}");
        let (id, status, _) = &south[0];
        assert_eq!(id, "N-1");
        let said = account(&run);
        // However often north resends it while it is held, south hears it once.
        let heard = said
            .lines()
            .filter(|l| l.starts_with("[south] accepted") && l.contains("revocation of N-1"))
            .count();
        let standing = |owner: &str| {
            run["knowledge"][owner]["assurances"][0]["for_other"]["standing"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        if mode == "deniable" {
            // The mediator retimed it: south takes the late withdrawal as fresh.
            assert_eq!(status, "revoked", "{said}");
            assert_eq!(heard, 1, "{said}");
            assert_eq!(standing("north"), "withdrawn", "{run}");
            assert_eq!(standing("south"), "withdrawn", "{run}");
        } else {
            // South refused it as expired, and north's receipt says so.
            assert_eq!(status, "in force", "{said}");
            assert_eq!(heard, 0, "{said}");
            assert!(said.contains("expired"), "{said}");
            assert!(said.contains("REFUSED by south (expired)"), "{said}");
            // Each side knows what the other holds: north that N-1 still stands for
            // south, south that north believes it withdrawn.
            assert_eq!(standing("north"), "withdrawal-refused", "{mode}: {run}");
            assert_eq!(standing("south"), "withdrawn-too-late", "{mode}: {run}");
            let sent = &run["knowledge"]["north"]["sent"][1];
            assert_eq!(
                (sent["fate"].as_str(), sent["refused"].as_str()),
                (Some("refused"), Some("expired"))
            );
        }
    }
}

#[test]
fn the_timeline_of_a_sat_on_withdrawal_shows_the_refusal_and_nothing_never_said() {
    let _serial = serial();
    let (_, _, html, _) = draw_scenario("withdrawal-sat-on", "scenario-sat-on-timeline", &[]);
    let sections = run_sections(&html);
    assert_eq!(sections.len(), 3);
    for section in sections {
        let deniable = section.contains("data-run=\"withdrawal-sat-on deniable\"");
        assert!(!section.contains("NEVER SENT"), "{section}");
        // A receipt that carries south's refusal is drawn as the refusal.
        assert_eq!(
            section.matches("data-refused=\"true\"").count(),
            usize::from(!deniable),
            "{section}"
        );
        if !deniable {
            assert!(section.contains("STILL IN FORCE for south"), "{section}");
        }
    }
}

/// The five characters HTML gives meaning to, escaped as the pages escape them (the
/// step words here are plain text, so nothing else changes).
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `demo --scenario --handout`: per mode, a questions sheet that asks every step's
/// question (as `--json` gives the steps) without its answer, and an answers sheet
/// that ticks the answer the run gave and says what happened; the answers are the
/// mode's own (south refuses the late withdrawal unless deniable; a judge can prove
/// who wrote what south accepted in signed mode only).
#[test]
fn a_handout_asks_each_step_and_answers_it_on_its_own_sheet() {
    let _serial = serial();
    let page = scratch("scenario-handout").join("sat-on-handout.html");
    let out = run(&[
        "demo",
        "--scenario",
        &scenario("withdrawal-sat-on"),
        "--json",
        "--handout",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let runs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let handout = std::fs::read_to_string(&page).unwrap();
    // A handout is of a scenario's run: without one it is refused.
    let alone = run(&["demo", "--handout", page.to_str().unwrap()]);
    assert!(!alone.status.success());
    assert!(text(&alone).contains("--scenario"), "{}", text(&alone));
    assert!(handout.contains("@media print"));
    let sheets: Vec<&str> = handout.split("<section class=\"sheet ").skip(1).collect();
    assert_eq!(sheets.len(), 6, "a questions and an answers sheet per mode");
    for (run, pair) in runs.iter().zip(sheets.chunks(2)) {
        let mode = run["mode"].as_str().unwrap();
        let (questions, answers) = (pair[0], pair[1]);
        assert!(
            questions.starts_with(&format!("questions\" data-mode=\"{mode}\"")),
            "{questions}"
        );
        assert!(
            answers.starts_with(&format!("answers\" data-mode=\"{mode}\"")),
            "{answers}"
        );
        assert!(!questions.contains("class=\"right\""), "{questions}");
        let steps = run["steps"].as_array().unwrap();
        let asked: Vec<&serde_json::Value> =
            steps.iter().filter(|s| !s["question"].is_null()).collect();
        assert!(asked.len() >= 4, "{mode}: {steps:#?}");
        for s in steps {
            let happened = html(s["happened"].as_str().unwrap());
            assert!(answers.contains(&happened), "{mode}: {happened}");
            let q = &s["question"];
            if q.is_null() {
                // What was said is on both sheets: it is what the class predicts from.
                assert!(questions.contains(&happened), "{mode}: {happened}");
                continue;
            }
            assert!(
                !questions.contains(&happened),
                "{mode}: the questions sheet tells {happened}"
            );
            let asks = html(q["asks"].as_str().unwrap());
            assert!(
                questions.contains(&asks) && answers.contains(&asks),
                "{mode}: {asks}"
            );
            let right = right_choice(q);
            let ticked = format!(
                "<li data-key=\"{}\" class=\"right\">{}</li>",
                right["key"].as_str().unwrap(),
                html(right["words"].as_str().unwrap())
            );
            assert!(answers.contains(&ticked), "{mode}: {ticked}");
        }
        // The mode's own answers.
        let answer_to = |asks: &str| {
            asked
                .iter()
                .find(|s| s["question"]["asks"] == asks)
                .map(|s| s["question"]["answer"].as_str().unwrap().to_owned())
        };
        let withdrawal =
            answer_to("A message reaches south as north's #2. Will south's node accept it?");
        let judged = answer_to(
            "A judge is handed south's transcript. Can it prove who wrote the messages south accepted?",
        );
        assert_eq!(
            answer_to("A message reaches south as north's #1. Will south's node accept it?")
                .as_deref(),
            Some("accept")
        );
        if mode == "deniable" {
            assert_eq!(withdrawal.as_deref(), Some("accept"), "{steps:#?}");
        } else {
            assert_eq!(withdrawal.as_deref(), Some("refuse"), "{steps:#?}");
        }
        let provable = if mode == "signed" {
            "provable"
        } else {
            "not-provable"
        };
        assert_eq!(judged.as_deref(), Some(provable), "{steps:#?}");
    }
}

/// A third power in a scenario file (`scenarios/overheard.toml`): the mediator shows
/// ally a copy of north's assurance to south and delivers south's question to ally
/// instead of north. Where the mode authenticates, ally's node refuses both as
/// `wrong-recipient` (it has read them all the same) and believes nothing; in deniable
/// mode the mediator re-addresses them and ally believes north gave it N-1. In every
/// mode south gets the assurance and no receipt for its question; in signed mode a
/// judge holding ally's transcript can prove north wrote what ally was shown.
#[test]
fn a_third_power_is_shown_a_copy_and_sent_a_message_meant_for_another() {
    let _serial = serial();
    for run in play("overheard") {
        let mode = run["mode"].as_str().unwrap();
        let said = account(&run);
        assert_eq!(beliefs(&run, "south").len(), 1, "{mode}: {said}");
        let question = &run["knowledge"]["south"]["sent"][0];
        assert_eq!(question["fate"], "unanswered", "{mode}: {run:#}");
        let ally = beliefs(&run, "ally");
        let reached_ally = |from: &str| {
            run["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| {
                    s["question"]["asks"]
                        == format!(
                            "A message reaches ally as {from}'s #1. Will ally's node accept it?"
                        )
                })
                .map(|s| s["question"]["answer"].as_str().unwrap().to_owned())
        };
        // The mediator's own account of its move names what it delivered: the same
        // bytes where the mode authenticates (it cannot re-address them), a
        // re-addressed envelope in deniable mode.
        let copy = if mode == "deniable" {
            "north's assurance #1 as it came, to south, north's assurance #1 re-addressed to ally"
        } else {
            "north's assurance #1 as it came, to south, north's assurance #1 as it came, to ally"
        };
        assert!(said.contains(copy), "{mode}: {copy} missing in\n{said}");
        if mode == "deniable" {
            assert_eq!(ally.len(), 1, "{said}");
            assert_eq!(ally[0].0, "N-1");
            assert!(said.contains("[ally] accepted #1 north -> ally"), "{said}");
            assert!(said.contains("[ally] accepted #1 south -> ally"), "{said}");
            assert_eq!(reached_ally("north").as_deref(), Some("accept"));
            assert_eq!(reached_ally("south").as_deref(), Some("accept"));
        } else {
            assert!(ally.is_empty(), "{mode}: ally believes nothing: {ally:?}");
            for line in [
                "[ally] REJECTED #1 north -> south",
                "[ally] REJECTED #1 south -> north",
            ] {
                assert!(said.contains(line), "{mode}: {line} missing in\n{said}");
            }
            assert!(said.contains("wrong-recipient"), "{said}");
            assert_eq!(reached_ally("north").as_deref(), Some("refuse"));
            assert_eq!(reached_ally("south").as_deref(), Some("refuse"));
        }
        let judged = run["judge"]["ally"].as_str().unwrap();
        if mode == "signed" {
            assert!(judged.contains("provably by north: 1 message"), "{judged}");
        } else {
            assert!(!judged.contains("provably"), "{mode}: {judged}");
        }
    }
}

#[test]
fn a_softened_threat_is_caught_unless_deniable() {
    let _serial = serial();
    for run in play("for-now") {
        let mode = run["mode"].as_str().unwrap();
        let bravo = beliefs(&run, "bravo");
        let said = account(&run);
        match mode {
            "deniable" => {
                assert_eq!(
                    bravo,
                    vec![(
                        "A-2".to_owned(),
                        "in force".to_owned(),
                        "for now".to_owned()
                    )],
                    "{said}"
                );
                assert!(said.contains("viewed with concern"), "{said}");
            }
            "signed" => {
                assert!(bravo.is_empty(), "{said}");
                assert!(said.contains("bad-signature"), "{said}");
                // alpha cannot tell whether bravo holds what it gave: no receipt.
                let given = &run["knowledge"]["alpha"]["assurances"];
                assert!(
                    given
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|a| a["for_other"]["standing"] == "unknown"),
                    "{given}"
                );
            }
            _ => {
                assert!(bravo.is_empty(), "{said}");
                assert!(said.contains("bad-mac"), "{said}");
            }
        }
    }
}

/// A scenario that states what the run does not do makes `demo` fail, naming the
/// statement and what the run gave instead.
#[test]
fn a_run_that_breaks_what_its_scenario_states_fails() {
    let _serial = serial();
    let dir = scratch("scenario-expect");
    let file = dir.join("wrong.toml");
    let file_text = std::fs::read_to_string(scenario("withdrawal-sat-on")).unwrap();
    // Claims south takes the late withdrawal in signed mode, which it refuses.
    let wrong = file_text.replacen(
        "[expect.signed]\nnorth = { N-1 = \"revoked\" }\nsouth = { N-1 = \"in force\" }",
        "[expect.signed]\nnorth = { N-1 = \"revoked\" }\nsouth = { N-1 = \"revoked\" }",
        1,
    );
    assert_ne!(wrong, file_text);
    std::fs::write(&file, wrong).unwrap();
    let out = run(&[
        "demo",
        "--scenario",
        file.to_str().unwrap(),
        "--mode",
        "signed",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("the run did not go as the scenario states: signed: NOT as the scenario states: south holds N-1: stated revoked, the run gave in force"),
        "{said}"
    );
    assert!(
        said.contains("as the scenario states: north holds N-1: revoked"),
        "{said}"
    );
}

#[test]
fn a_broken_scenario_is_refused_before_anything_runs() {
    let _serial = serial();
    let dir = scratch("scenario-broken");
    let file = dir.join("broken.toml");
    std::fs::write(
        &file,
        "title = \"t\"\nparties = [\"alpha\", \"bravo\"]\n[[message]]\nfrom = \"alpha\"\ntext = \"x\"\nbroker = \"lose\"\n",
    )
    .unwrap();
    let out = run(&["demo", "--scenario", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains("message 1: broker move \"lose\""), "{err}");
    assert!(!err.contains("===="), "nothing ran: {err}");
    // Every broken rule at once; with a third party every message says whom it is to.
    std::fs::write(
        &file,
        "title = \"t\"\nparties = [\"alpha\", \"bravo\", \"charlie\"]\n[[message]]\nfrom = \"alpha\"\ntext = \"x\"\nbroker = \"lose\"\nvalid_for = \"soon\"\n",
    )
    .unwrap();
    let out = run(&["demo", "--scenario", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    for part in [
        "message 1: with more than two parties, say whom it is to",
        "message 1: valid_for",
        "message 1: broker move",
    ] {
        assert!(err.contains(part), "{part} missing: {err}");
    }
}
