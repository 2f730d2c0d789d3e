//! The party node end to end: one process owns a party; `send`, `receive` and
//! `pending` run meanwhile hand their work to it; two processes for one party never
//! fork its chain.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn concurrent_processes_for_one_party_never_fork_its_chain() {
    let _serial = serial();
    let d = Deployment::start("nofork", "alpha,bravo");
    // A frame the broker hands to a session that is closing is lost (the broker
    // keeps no delivery receipts yet); the sender's retransmission heals it. Short
    // timers keep that within the test's waits.
    for party in ["alpha", "bravo"] {
        let path = d.file(party, &format!("{party}.toml"));
        let mut toml = std::fs::read_to_string(&path).unwrap();
        toml.push_str("\n[timing]\nack_timeout_secs = 1\n");
        std::fs::write(&path, toml).unwrap();
    }
    // alpha is a node for the whole test: it acknowledges whatever bravo sends.
    let alpha = d.spawn_as("party", "alpha", &["--json"]);
    wait_for_file(&d.file("alpha", "alpha.sock"));
    let mut shown_to_bravo = String::new();
    for round in 0..8 {
        // bravo: a receive and a send start at the same moment, each opening bravo;
        // whichever wins the lock serves the other through the control socket. And
        // a send from alpha goes through alpha's node.
        let receiving = d.spawn_as("receive", "bravo", &["--timeout", "2"]);
        let from_bravo = d.spawn_as(
            "send",
            "bravo",
            &[
                "--to",
                "alpha",
                "--timeout",
                "30",
                &format!("bravo {round}"),
            ],
        );
        let from_alpha = d.spawn_as(
            "send",
            "alpha",
            &[
                "--to",
                "bravo",
                "--timeout",
                "30",
                &format!("alpha {round}"),
            ],
        );
        for (what, p) in [
            ("receive", receiving),
            ("bravo's send", from_bravo),
            ("alpha's send", from_alpha),
        ] {
            let o = wait(p);
            assert!(o.status.success(), "round {round}: {what}: {}", text(&o));
            if what != "alpha's send" {
                shown_to_bravo.push_str(&out(&o));
            }
        }
    }
    drop(alpha);
    // Every message alpha sent was shown to bravo's user by one of bravo's commands
    // (the one that owned bravo when it came, or a receive it served).
    for round in 0..8 {
        assert!(
            shown_to_bravo.contains(&format!("alpha -> bravo: \"alpha {round}\"")),
            "alpha {round} never shown: {shown_to_bravo}"
        );
    }
    for party in ["alpha", "bravo"] {
        let v = d.verify(party);
        assert!(v.status.success(), "{party}: {}", text(&v));
        assert!(!text(&v).contains("fork"), "{}", text(&v));
    }
    // bravo's chain, as alpha received it, is complete: one envelope per number.
    let v = run(&[
        "verify",
        d.file("alpha", "alpha.transcript").to_str().unwrap(),
        "--keys",
        d.file("alpha", "parties.pub").to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let chains = report["chains"].as_array().unwrap();
    let from_bravo = chains
        .iter()
        .find(|c| c["sender"] == "bravo")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(from_bravo["complete"], true, "{report}");
}

#[test]
fn a_running_node_prints_each_message_as_it_arrives() {
    // The node writes its lines once per batch (`BatchedTerminal`): each batch must
    // still be out before the node waits for the next, not held until it stops.
    let _serial = serial();
    let d = Deployment::start("nodeprint", "alpha,bravo");
    let mut node = spawn(&["party", "--config", &d.config("bravo")]);
    wait_for_file(&d.file("bravo", "bravo.sock"));
    let stdout = node.0.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    for said in [
        "Our aircraft will keep clear of the agreed corridor.",
        "The exercise ends at dawn.",
    ] {
        let sent = d.run_as("send", "alpha", &["--to", "bravo", "--timeout", "30", said]);
        assert!(sent.status.success(), "{}", text(&sent));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = printed
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the running node did not print {said:?}"));
            if line.contains(said) {
                break;
            }
        }
    }
    drop(node);
}

#[test]
fn a_node_does_the_work_of_send_receive_and_pending_with_the_same_output() {
    let _serial = serial();
    let d = Deployment::start("node", "alpha,bravo");
    let node = spawn(&["party", "--config", &d.config("bravo")]);
    wait_for_file(&d.file("bravo", "bravo.sock"));
    // alpha is offline: bravo's send, handed to the node, times out exactly as alone.
    let sent = d.run_as(
        "send",
        "bravo",
        &[
            "--to",
            "alpha",
            "--timeout",
            "1",
            "--json",
            "No initiation of military action absent provocation.",
        ],
    );
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    let object: serde_json::Value = serde_json::from_str(out(&sent).trim()).unwrap();
    assert_eq!(object["seq"], 1);
    assert_eq!(object["delivered"], false);
    assert!(text(&sent).contains("no receipt for #1"), "{}", text(&sent));
    // What awaits a receipt, from the node's live state, with the text as it is.
    let pending = d.run_as("pending", "bravo", &["--json"]);
    assert!(pending.status.success(), "{}", text(&pending));
    let lines: Vec<serde_json::Value> = out(&pending)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out(&pending));
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(
        lines[0]["text"],
        "No initiation of military action absent provocation."
    );
    // A second node for the same party is refused in one line.
    let second = d.run_as("party", "bravo", &["--timeout", "1"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(text(&second).contains("already runs"), "{}", text(&second));
    // alpha comes online: the node's resend gets through and alpha's receipt ends
    // the pending list; a receive handed to the node sees alpha's next message.
    let receiving = d.spawn_as(
        "receive",
        "bravo",
        &["--count", "1", "--timeout", "30", "--json"],
    );
    let from_alpha = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--timeout",
            "30",
            "Our aircraft will keep clear of the agreed corridor.",
        ],
    );
    assert!(from_alpha.status.success(), "{}", text(&from_alpha));
    let got = wait(receiving);
    assert!(got.status.success(), "{}", text(&got));
    let first: serde_json::Value = serde_json::from_str(out(&got).lines().next().unwrap()).unwrap();
    assert_eq!(first["from"], "alpha");
    assert_eq!(first["verdict"], "accepted");
    drop(node);
}

#[test]
fn a_message_comes_from_stdin_or_a_file_and_an_oversized_one_is_refused_before_sealing() {
    let _serial = serial();
    let d = Deployment::start("input", "alpha,bravo");
    let mut child = Command::new(bin())
        .args([
            "send",
            "--config",
            &d.config("alpha"),
            "--to",
            "bravo",
            "--timeout",
            "1",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("No preemptive strike absent provocation.\n".as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        out(&o).contains("sent #1 to bravo: \"No preemptive strike absent provocation.\""),
        "{}",
        text(&o)
    );
    let file = d.file("alpha", "statement.txt");
    std::fs::write(
        &file,
        "Any strike on energy infrastructure will be treated as an attack on the state.",
    )
    .unwrap();
    let o = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--timeout",
            "1",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out(&o).contains("sent #2 to bravo: \"Any strike on energy"),
        "{}",
        text(&o)
    );
    std::fs::write(&file, "x".repeat(61_441)).unwrap();
    let o = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--timeout",
            "1",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("at most 61440"), "{}", text(&o));
    let pending = run(&["pending", "--config", &d.config("alpha")]);
    assert!(
        out(&pending).contains("2 message(s) await a receipt"),
        "{}",
        text(&pending)
    );
    // The transcript and the state are for the party's eyes only.
    #[cfg(unix)]
    for f in ["alpha.transcript", "alpha.lock"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.file("alpha", f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
    }
}

#[test]
fn an_envelope_that_arrives_expired_is_reported_refused_not_delivered() {
    let _serial = serial();
    let d = Deployment::start("refused", "alpha,bravo");
    let receiving = d.spawn_as("receive", "bravo", &["--timeout", "6", "--json"]);
    // Valid for no time at all: it expires before bravo can read it.
    let sent = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--timeout",
            "20",
            "--assurance",
            "A-1",
            "--valid-days",
            "0",
            "No preemptive strike",
        ],
    );
    assert_eq!(sent.status.code(), Some(1), "{}", text(&sent));
    assert!(
        text(&sent).contains("bravo refused #1: expired"),
        "{}",
        text(&sent)
    );
    assert!(
        text(&sent).contains("REFUSED by bravo (expired): not delivered"),
        "{}",
        text(&sent)
    );
    assert!(
        !text(&sent).contains("proof of delivery"),
        "{}",
        text(&sent)
    );
    let got = wait(receiving);
    assert!(
        out(&got).contains("\"reason\":\"expired\""),
        "{}",
        text(&got)
    );
    // The judge shows it too, and still finds the transcript clean.
    let v = d.verify("alpha");
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("REFUSED #1 (expired)"), "{}", text(&v));
}

#[test]
fn two_holders_of_one_key_back_off_instead_of_taking_turns_without_end() {
    let _serial = serial();
    let d = Deployment::start("displace", "alpha,bravo");
    // A second copy of bravo's files elsewhere (another host, say): its own lock, the
    // same key. Each login displaces the other at the broker.
    let other = d.dir.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["bravo.toml", "bravo.key", "parties.pub", "broker.crt"] {
        std::fs::copy(d.file("bravo", f), other.join(f)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            other.join("bravo.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let first = d.spawn_as("party", "bravo", &["--timeout", "4"]);
    wait_for_file(&d.file("bravo", "bravo.sock"));
    let second = spawn(&[
        "party",
        "--config",
        other.join("bravo.toml").to_str().unwrap(),
        "--timeout",
        "4",
    ]);
    let (a, b) = (wait(first), wait(second));
    let both = format!("{}{}", text(&a), text(&b));
    let displaced = both.matches("logged in again elsewhere").count();
    let logins = both.matches("connected to the broker").count();
    assert!(displaced >= 1, "{both}");
    // Backing off 5 s after a displacement: a handful of logins in 4 s, not hundreds.
    assert!(logins <= 4, "{logins} logins in 4 s: {both}");
}

#[test]
fn hostile_text_never_reaches_a_terminal_raw_and_json_keeps_it_exact() {
    let _serial = serial();
    let d = Deployment::start("hostile", "alpha,bravo");
    // A line that, printed raw, would forge an acceptance and hide the rest.
    let hostile =
        "ok\n[bravo] accepted #9 charlie -> bravo: \"fake\"\r\u{1b}[8m\u{202e}txet\u{200b}";
    let text_mode = d.spawn_as("receive", "bravo", &["--count", "1", "--timeout", "30"]);
    let sent = d.run_as(
        "send",
        "alpha",
        &["--to", "bravo", "--timeout", "30", hostile],
    );
    assert!(sent.status.success(), "{}", text(&sent));
    let got = wait(text_mode);
    assert!(got.status.success(), "{}", text(&got));
    for (who, o) in [("alpha", &sent), ("bravo", &got)] {
        let shown = text(o);
        for c in ['\u{1b}', '\r', '\u{202e}', '\u{200b}'] {
            assert!(!shown.contains(c), "{who} printed {c:?} raw: {shown:?}");
        }
        assert!(
            !shown.lines().any(|l| l.starts_with("[bravo] accepted #9")),
            "{who}: a forged line: {shown}"
        );
        assert!(shown.contains("\\u{1b}[8m"), "{who}: {shown}");
    }
    // The judge's view is escaped too; JSON keeps the exact text.
    let v = d.verify("bravo");
    assert!(!text(&v).contains('\u{1b}'), "{}", text(&v));
    let vj = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        d.file("bravo", "parties.pub").to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&vj.stdout).unwrap();
    assert!(
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"] == hostile),
        "verify --json does not carry the raw words: {report}"
    );
    // An assurance id outside the safe characters is refused before sealing.
    let bad_id = d.run_as(
        "send",
        "alpha",
        &[
            "--to",
            "bravo",
            "--timeout",
            "1",
            "--assurance",
            "A-1\u{1b}[8m",
            "--valid-days",
            "1",
            "No preemptive strike",
        ],
    );
    assert_eq!(bad_id.status.code(), Some(1), "{}", text(&bad_id));
    assert!(
        text(&bad_id).contains("is not 1 to 64 of"),
        "{}",
        text(&bad_id)
    );
    assert!(!text(&bad_id).contains('\u{1b}'));
    let json_mode = d.spawn_as(
        "receive",
        "bravo",
        &["--count", "1", "--timeout", "30", "--json"],
    );
    let again = d.run_as(
        "send",
        "alpha",
        &["--to", "bravo", "--timeout", "30", hostile],
    );
    assert!(again.status.success(), "{}", text(&again));
    let json = wait(json_mode);
    assert!(json.status.success(), "{}", text(&json));
    let line: serde_json::Value = serde_json::from_str(out(&json).lines().next().unwrap()).unwrap();
    assert_eq!(line["body"], hostile);
}
