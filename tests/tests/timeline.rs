//! The picture of a run (`demo --timeline`), checked as HTML and in a real headless
//! Chromium (Debian's `chromium`; CI installs it; without it the browser part says so
//! and is skipped, except in CI, where it fails).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn browser(bin: &str, args: &[&str], page: &Path) -> std::process::Output {
    Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

#[test]
fn an_altered_deniable_run_is_drawn_self_contained_and_renders_in_chromium() {
    let _serial = serial();
    let dir = scratch("timeline");
    let page = dir.join("alter.html");
    let out = run(&[
        "demo",
        "--adversary",
        "alter",
        "--timeline",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    for part in [
        "class=\"lanes timeline\"",
        "Said vs heard",
        "What each side believes",
        "What a judge can prove",
        "data-mark=\"altered\"",
        "<mark>for</mark> <mark>now</mark>",
        "alter signed",
        "alter deniable",
        "REJECTED (bad-signature)",
    ] {
        assert!(html.contains(part), "{part} missing");
    }
    // Nothing is fetched: no scripts, styles or images from anywhere.
    for outside in ["src=", "<link", "@import", "https://"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }

    let Some(bin) = chromium() else {
        backchannel_system_tests::tool_missing("chromium (for the browser part)");
        return;
    };
    let dom = browser(bin, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-event=\"received\""), "{dom}");
    assert!(dom.contains("data-mark=\"altered\""), "{dom}");
    assert!(dom.contains("Said vs heard"), "{dom}");
    assert_not_blank(bin, &page, &dir.join("alter.png"));
}

/// Takes a screenshot of `page` into `shot` and checks it is a PNG with content.
fn assert_not_blank(bin: &str, page: &Path, shot: &Path) {
    let out = browser(
        bin,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
        ],
        page,
    );
    assert!(shot.exists(), "{}", text(&out));
    let png = std::fs::read(shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // A blank page compresses to a few KB; lanes, arrows and text do not.
    assert!(
        png.len() > 30_000,
        "screenshot of {} bytes: blank?",
        png.len()
    );
}

#[test]
fn the_attack_matrix_is_drawn_as_a_coloured_table() {
    let _serial = serial();
    let dir = scratch("matrix-html");
    let page = dir.join("matrix.html");
    let out = run(&[
        "attacks",
        "--only",
        "forge",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(
            "data-attack=\"forge\" data-mode=\"signed\" data-outcome=\"caught-by-recipient\""
        ),
        "{html}"
    );
    assert!(
        html.contains("data-attack=\"forge\" data-mode=\"deniable\" data-outcome=\"undetected\""),
        "{html}"
    );
    assert!(
        html.contains(
            "data-attack=\"forge\" data-mode=\"off-record\" data-outcome=\"caught-by-recipient\""
        ),
        "{html}"
    );
    assert!(!html.contains("mismatch\""), "a cell differs from the spec");
    for outside in ["src=", "<link", "@import", "https://"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    let Some(bin) = chromium() else {
        backchannel_system_tests::tool_missing("chromium (for the browser part)");
        return;
    };
    let dom = browser(bin, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("class=\"matrix\""), "{dom}");
    assert!(dom.contains("We will strike first."), "{dom}");
}

#[test]
fn a_scenario_is_drawn_in_every_mode_and_renders_in_chromium() {
    let _serial = serial();
    let (dir, page, html, out) = draw_scenario("for-now", "timeline-scenario", &[]);
    for part in [
        "data-run=\"for-now signed\"",
        "data-run=\"for-now deniable\"",
        "data-run=\"for-now off-record\"",
        "Said vs heard",
        "<mark>for</mark> <mark>now</mark>",
        "REJECTED (bad-signature)",
        "REJECTED (bad-mac)",
    ] {
        // On a miss, the account of every mode: what the run really did.
        assert!(
            html.contains(part),
            "{part} missing; the run said:\n{}",
            text(&out)
        );
    }
    let Some(bin) = chromium() else {
        backchannel_system_tests::tool_missing("chromium (for the browser part)");
        return;
    };
    let dom = browser(bin, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-run=\"for-now off-record\""), "{dom}");
    assert_not_blank(bin, &page, &dir.join("for-now.png"));
}

/// A scenario with a third power (`overheard`), drawn and rendered: ally has its own
/// lane after the recipient's, and said-vs-heard never takes what ally was shown for
/// the addressee's delivery: south's question "never arrived" at north, in every mode;
/// where the mode authenticates it "also reached" ally (refused), and in deniable mode
/// what ally accepted is listed as words north and south never said to it.
#[test]
fn a_third_power_gets_a_lane_and_is_never_taken_for_the_addressee() {
    let _serial = serial();
    let (dir, page, html, _) = draw_scenario("overheard", "timeline-overheard", &[]);
    let sections = run_sections(&html);
    assert_eq!(sections.len(), 3);
    for section in sections {
        let heads: Vec<&str> = ["north", "broker", "south", "ally"]
            .into_iter()
            .filter(|n| section.contains(&format!(">{n}</")))
            .collect();
        assert_eq!(heads.len(), 4, "a lane each: {section}");
        let north = section.find(">north</").unwrap();
        let south = section.find(">south</").unwrap();
        let ally = section.find(">ally</").unwrap();
        assert!(
            north < south && south < ally,
            "sender, recipient, then the third power"
        );
        if section.starts_with(" data-run=\"overheard deniable\"") {
            // Re-addressed, the copies are envelopes north and south never sent ally.
            assert!(
                section.contains(
                    "<td>north &rarr; ally #1</td><td><span class=\"flag\">never said</span>"
                ),
                "{section}"
            );
            assert!(section.contains("never arrived</span></td>"), "{section}");
        } else {
            assert!(
                section.contains(
                    "never arrived</span><br><span class=\"flag\">also reached</span> ally: refused (wrong-recipient)"
                ),
                "{section}"
            );
        }
    }
    let Some(bin) = chromium() else {
        backchannel_system_tests::tool_missing("chromium (for the browser part)");
        return;
    };
    let dom = browser(bin, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-run=\"overheard deniable\""), "{dom}");
    assert_not_blank(bin, &page, &dir.join("overheard.png"));
}

/// The picture read from the back of a room: on a 1024x768 projector the page of a
/// scenario run never scrolls sideways and no word of it is smaller than 18 px.
#[test]
fn a_timeline_reads_on_a_1024_by_768_projector() {
    let _serial = serial();
    // The handout goes beside the page (the scratch directory is made by the helper).
    let handout = std::env::temp_dir().join(format!(
        "backchannel-e2e-projector-handout-{}.html",
        std::process::id()
    ));
    let (dir, page, _, _) = draw_scenario(
        "withdrawal-sat-on",
        "timeline-projector",
        &["--handout", handout.to_str().unwrap()],
    );
    let Some((driver, chromium)) = backchannel_system_tests::webdriver::available() else {
        backchannel_system_tests::tool_missing("chromium and chromium-driver");
        return;
    };
    let b = backchannel_system_tests::webdriver::Browser::start(
        &driver,
        &chromium,
        free_port(),
        (1024, 768),
    )
    .unwrap();
    b.open(&format!("file://{}", page.display())).unwrap();
    b.wait_for(".lanes .label", std::time::Duration::from_secs(10))
        .unwrap();
    let measured = b
        .run(
            "const words = [...document.querySelectorAll('.lanes .label, .lanes .head, .legend span, .said-heard td, .said-heard th, .beliefs li, .judge')];\
             const sizes = words.map((e) => parseFloat(getComputedStyle(e).fontSize));\
             const d = document.documentElement;\
             return { count: words.length, smallest: Math.min(...sizes), scroll: d.scrollWidth, client: d.clientWidth, rows: document.querySelectorAll('.lanes .row').length };",
            &[],
        )
        .unwrap();
    assert!(measured["count"].as_u64().unwrap() > 20, "{measured}");
    assert!(measured["rows"].as_u64().unwrap() > 5, "{measured}");
    assert!(
        measured["smallest"].as_f64().unwrap() >= 18.0,
        "a label under 18 px: {measured}"
    );
    assert!(
        measured["scroll"].as_u64().unwrap() <= measured["client"].as_u64().unwrap(),
        "the page scrolls sideways at 1024x768: {measured}"
    );
    let png = b.screenshot().unwrap();
    std::fs::write(dir.join("sat-on-1024x768.png"), png).unwrap();

    // The handout of the same run reads on the same screen: six sheets, every
    // question and answer at 18 px or more, nothing sideways.
    b.open(&format!("file://{}", handout.display())).unwrap();
    b.wait_for("section.sheet.answers", std::time::Duration::from_secs(10))
        .unwrap();
    let measured = b
        .run(
            "const words = [...document.querySelectorAll('.sheet h1, .sheet h2, .sheet p, .steps li')];\
             const sizes = words.map((e) => parseFloat(getComputedStyle(e).fontSize));\
             const d = document.documentElement;\
             return { count: words.length, smallest: Math.min(...sizes), scroll: d.scrollWidth, client: d.clientWidth, sheets: document.querySelectorAll('section.sheet').length };",
            &[],
        )
        .unwrap();
    assert_eq!(measured["sheets"], 6, "{measured}");
    assert!(measured["count"].as_u64().unwrap() > 40, "{measured}");
    assert!(
        measured["smallest"].as_f64().unwrap() >= 18.0,
        "a handout word under 18 px: {measured}"
    );
    assert!(
        measured["scroll"].as_u64().unwrap() <= measured["client"].as_u64().unwrap(),
        "the handout scrolls sideways at 1024x768: {measured}"
    );
}
