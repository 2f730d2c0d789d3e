//! End-to-end: the built `backchannel` binary as separate broker and party processes
//! over TLS on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::*;

#[test]
fn a_message_is_delivered_with_a_signed_receipt_and_transcripts_verify() {
    let _serial = serial();
    let d = Deployment::start("deliver", "alpha,bravo");
    let receiver = d.receive("bravo", 1);
    let sent = d.send(
        "alpha",
        "bravo",
        "No preemptive strike absent provocation.",
        30,
    );
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("proof of delivery"), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    let m = &lines[0];
    assert_eq!(m["from"], "alpha");
    assert_eq!(m["to"], "bravo");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["kind"], "text");
    assert_eq!(m["verdict"], "accepted");
    assert_eq!(m["attested"], true);
    for party in ["alpha", "bravo"] {
        let v = d.verify(party);
        assert!(v.status.success(), "{}", text(&v));
        assert!(text(&v).contains("provably written by alpha"));
        assert!(!text(&v).contains("no entry verifies"), "{}", text(&v));
    }
    // Given the deployment directory (bundles, no .pub files), the judge uses the
    // bundles' roster: never an empty key set that would call honest entries invalid.
    let v = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        d.dir.to_str().unwrap(),
    ]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(
        text(&v).contains("provably written by alpha"),
        "{}",
        text(&v)
    );
    let empty = scratch("deliver-no-keys");
    let v = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(text(&v).contains("no public keys there"), "{}", text(&v));
    // The judge given another deployment's keys is told so, rather than left to read
    // the transcript as forgeries.
    let other = scratch("deliver-other-keys").join("d");
    assert!(run(&["init", other.to_str().unwrap()]).status.success());
    let v = run(&[
        "verify",
        d.file("bravo", "bravo.transcript").to_str().unwrap(),
        "--keys",
        other.join("bravo").join("parties.pub").to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(4), "{}", text(&v));
    assert!(
        text(&v).contains("no entry verifies under these keys: is --keys the right deployment"),
        "{}",
        text(&v)
    );
}

/// Every file in `dir` with its bytes: what a read-only command must leave as it was.
fn files_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn read_only_commands_create_and_change_nothing() {
    let _serial = serial();
    let d = Deployment::start("read-only", "alpha,bravo");
    let alpha_dir = d.file("alpha", "");
    // Nothing sent yet: no transcript, and `pending` makes none.
    let before = files_of(&alpha_dir);
    let out = d.run_as("pending", "alpha", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("0 message(s) await a receipt"),
        "{}",
        text(&out)
    );
    let out = d.run_as("assurances", "alpha", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        files_of(&alpha_dir),
        before,
        "a read-only command wrote a file"
    );

    // One message sent to an offline bravo: `pending` lists it and changes nothing.
    let sent = d.send("alpha", "bravo", "No preemptive strike.", 1);
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    let before = files_of(&alpha_dir);
    let out = d.run_as("pending", "alpha", &["--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["seq"], 1, "{line}");
    assert_eq!(line["to"], "bravo");
    assert_eq!(line["text"], "No preemptive strike.");
    let transcript = d.file("alpha", "alpha.transcript");
    let v = run(&[
        "verify",
        transcript.to_str().unwrap(),
        "--keys",
        d.file("alpha", "parties.pub").to_str().unwrap(),
    ]);
    assert!(v.status.success(), "{}", text(&v));
    assert_eq!(
        files_of(&alpha_dir),
        before,
        "a read-only command changed a file"
    );

    // A transcript with only its header: nothing to judge, said with its own code.
    let received = d.run_as("receive", "bravo", &["--count", "1", "--timeout", "1"]);
    assert_eq!(received.status.code(), Some(0), "{}", text(&received));
    let header_only = scratch("read-only-header").join("empty.transcript");
    let bytes = std::fs::read(d.file("bravo", "bravo.transcript")).unwrap();
    // bravo received alpha's message: its transcript has entries; a copy cut to the
    // header has none.
    // The header: the 8-byte magic, a length byte and the owner's name (protocol.md).
    let header_len = 8 + 1 + "bravo".len();
    std::fs::write(&header_only, &bytes[..header_len]).unwrap();
    let v = run(&[
        "verify",
        header_only.to_str().unwrap(),
        "--keys",
        d.file("bravo", "parties.pub").to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(5), "{}", text(&v));
    assert!(text(&v).contains("nothing to judge"), "{}", text(&v));
}

#[test]
fn an_offline_recipient_gets_queued_messages_when_it_connects() {
    let _serial = serial();
    let d = Deployment::start("offline", "alpha,bravo");
    // bravo is offline: no receipt can come, so send exits 3.
    let sent = d.send(
        "alpha",
        "bravo",
        "Our aircraft will keep clear of the agreed corridor.",
        2,
    );
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    assert!(text(&sent).contains("may have dropped it"));
    // bravo connects later and gets it.
    let (ok, lines, err) = finish(d.receive("bravo", 1));
    assert!(ok, "{err}");
    assert_eq!(
        lines[0]["body"],
        "Our aircraft will keep clear of the agreed corridor."
    );
    // alpha's next run picks up bravo's receipt for #1 and continues the chain at #2.
    let receiver = d.receive("bravo", 1);
    let sent = d.send(
        "alpha",
        "bravo",
        "Assurance A-1 is withdrawn as of now.",
        30,
    );
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("sent #2"), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    // alpha may have sent #1 again before it saw the receipt: bravo drops the duplicate.
    let new: Vec<_> = lines.iter().filter(|l| l["reason"] != "replay").collect();
    assert_eq!(new.len(), 1, "{lines:?}");
    assert_eq!(new[0]["seq"], 2);
    assert!(d.verify("bravo").status.success());
}

#[test]
fn an_impostor_is_refused_while_the_real_party_still_works() {
    let _serial = serial();
    let d = Deployment::start("impostor", "alpha,bravo");
    // mallory has its own key but claims to be alpha.
    let mallory = d.file("alpha", "mallory");
    let out = run(&["keygen", "alpha", "--out", mallory.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let cfg = std::fs::read_to_string(d.config("alpha"))
        .unwrap()
        .replace(
            "private_key = \"alpha.key\"",
            "private_key = \"mallory/alpha.key\"",
        )
        .replace("alpha.transcript", "mallory/alpha.transcript")
        .replace("alpha.state", "mallory/alpha.state");
    let impostor = d.file("alpha", "impostor.toml");
    std::fs::write(&impostor, cfg).unwrap();
    let receiver = d.receive("bravo", 1);
    let forged = run(&[
        "send",
        "--config",
        impostor.to_str().unwrap(),
        "--to",
        "bravo",
        "--timeout",
        "5",
        "We will strike first.",
    ]);
    assert_eq!(forged.status.code(), Some(1), "{}", text(&forged));
    assert!(
        text(&forged).contains("refused the login"),
        "{}",
        text(&forged)
    );
    let sent = d.send(
        "alpha",
        "bravo",
        "No preemptive strike absent provocation.",
        30,
    );
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["body"], "No preemptive strike absent provocation.");
}

#[test]
fn garbage_and_oversized_frames_are_refused_and_the_broker_keeps_serving() {
    let _serial = serial();
    use std::io::{Read as _, Write as _};
    let d = Deployment::start("garbage", "alpha,bravo");
    // Not TLS at all.
    let mut raw = TcpStream::connect(d.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = raw.read(&mut buf); // closed (or an alert), never a hang
    // TLS with the pinned certificate, then an oversize frame header instead of a login.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cert = std::fs::read_to_string(d.file("broker", "broker.crt")).unwrap();
        let config = backchannel_net::tls::client_config(&cert).unwrap();
        for payload in [
            {
                let mut h = backchannel_proto::frame::FrameHeader::encode(
                    backchannel_proto::frame::FrameKind::Envelope,
                    10,
                )
                .to_vec();
                h[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
                h
            },
            vec![0x42; 4096],
        ] {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let tcp = tokio::net::TcpStream::connect(d.addr).await.unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(backchannel_net::tls::broker_server_name().unwrap(), tcp)
                .await
                .unwrap();
            tls.write_all(&payload).await.unwrap();
            tls.flush().await.unwrap();
            let mut sink = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut sink)).await;
            assert!(closed.is_ok(), "the broker must close the connection");
        }
    });
    // Still serving.
    let receiver = d.receive("bravo", 1);
    let sent = d.send("alpha", "bravo", "Still listening.", 30);
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, _, err) = finish(receiver);
    assert!(ok, "{err}");
}

#[test]
fn init_refuses_to_overwrite_keys_and_errors_are_one_line() {
    let _serial = serial();
    let dir = scratch("init");
    let target = dir.join("d");
    let first = run(&["init", target.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first));
    let again = run(&["init", target.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("refusing to overwrite"));
    assert_eq!(String::from_utf8_lossy(&again.stderr).lines().count(), 1);
    // A damaged transcript is reported, not panicked on.
    let t = target.join("bravo").join("x.transcript");
    std::fs::write(&t, b"BKTRANS1\x05bravo\x00\x00\x10\x00junk").unwrap();
    let roster = target.join("bravo").join("parties.pub");
    let v = run(&[
        "verify",
        t.to_str().unwrap(),
        "--keys",
        roster.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(4), "{}", text(&v));
    assert!(text(&v).contains("damaged"), "{}", text(&v));
    let not = run(&[
        "verify",
        roster.to_str().unwrap(),
        "--keys",
        roster.to_str().unwrap(),
    ]);
    assert_eq!(not.status.code(), Some(1));
    assert!(!text(&not).contains("panicked"));
}

#[test]
fn the_broker_refuses_a_tls_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("broker-key-mode");
    let target = dir.join("d");
    assert!(run(&["init", target.to_str().unwrap()]).status.success());
    let key = target.join("broker").join("broker.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(&[
        "broker",
        "--config",
        target.join("broker").join("broker.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("too open"), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
}

#[test]
fn a_full_mailbox_refuses_the_sender_instead_of_dropping() {
    let _serial = serial();
    let d = Deployment::start_with("queue-full", "alpha,bravo", |toml| {
        let text = std::fs::read_to_string(toml).unwrap();
        std::fs::write(toml, text.replace("queue_limit = 10000", "queue_limit = 1")).unwrap();
    });
    // bravo is offline; its mailbox holds one envelope.
    let first = d.send("alpha", "bravo", "one", 1);
    assert_eq!(first.status.code(), Some(3), "{}", text(&first));
    // The second does not fit: alpha is told so, and keeps it to send again.
    let second = d.send("alpha", "bravo", "two", 3);
    assert_eq!(second.status.code(), Some(3), "{}", text(&second));
    assert!(text(&second).contains("queue is full"), "{}", text(&second));
    assert!(text(&second).contains("sent again"), "{}", text(&second));
    let state = std::fs::read(d.file("alpha", "alpha.state")).unwrap();
    let saved = backchannel_proto::persist::decode_party_state(&state).unwrap();
    assert_eq!(
        saved.channels[0]
            .1
            .unacked
            .iter()
            .map(|o| o.seq)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    // bravo gets what the mailbox held.
    let (ok, lines, err) = finish(d.receive("bravo", 1));
    assert!(ok, "{err}");
    assert_eq!(lines[0]["seq"], 1);
}

#[test]
fn the_demo_plays_all_three_modes_as_the_spec_says() {
    let _serial = serial();
    let out = run(&["demo", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut modes: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The closing side-by-side summary comes last.
    let summary = modes.pop().unwrap();
    assert_eq!(modes.len(), 3);
    assert_eq!(modes[0]["mode"], "signed");
    assert_eq!(modes[1]["mode"], "deniable");
    assert_eq!(modes[2]["mode"], "off-record");
    let columns = summary["summary"].as_array().unwrap();
    let column = |mode: &str| columns.iter().find(|c| c["mode"] == mode).unwrap();
    assert_eq!(column("signed")["recipient_convinced"], true);
    assert_eq!(column("signed")["contact_deniable"], false);
    assert!(column("signed")["provable_entries"].as_u64().unwrap() > 0);
    assert_eq!(column("deniable")["recipient_convinced"], false);
    assert_eq!(column("deniable")["contact_deniable"], true);
    assert_eq!(column("off-record")["recipient_convinced"], true);
    assert_eq!(column("off-record")["provable_entries"], 0);
    assert_eq!(column("off-record")["contact_deniable"], true);
    assert_eq!(column("off-record")["login"], "mac");
    for m in &modes {
        assert_eq!(m["as_expected"], true, "{m}");
        assert!(
            m["broker"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("No preemptive strike"))
        );
        assert_eq!(m["judge"]["bravo"]["clean"], true);
        // What each side believes at the end: A-1 withdrawn, B-1 in force, on both sides.
        for side in ["alpha", "bravo"] {
            let status: Vec<(&str, &str)> = m["assurances"][side]["assurances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["id"].as_str().unwrap(), a["status"].as_str().unwrap()))
                .collect();
            assert_eq!(
                status,
                vec![("A-1", "revoked"), ("B-1", "in force")],
                "{side}: {m}"
            );
        }
    }
    let signed_entries = modes[0]["judge"]["bravo"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        signed_entries
            .iter()
            .all(|e| e["finding"] == "provably-written")
    );
    let deniable_entries = modes[1]["judge"]["bravo"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        deniable_entries
            .iter()
            .all(|e| e["finding"] == "unattributable")
    );
    // Off-record: nothing provable; what was acknowledged before the last envelopes is
    // under a published key, so anyone could have written it.
    let off_record = modes[2]["judge"]["bravo"]["entries"].as_array().unwrap();
    assert!(
        off_record
            .iter()
            .all(|e| e["finding"] == "either-party" || e["finding"] == "anyone")
    );
    assert!(off_record.iter().any(|e| e["finding"] == "anyone"));
    // The broker reads every word in off-record mode too, and says it cannot check them.
    assert!(
        modes[2]["broker"].as_array().unwrap().iter().any(|l| l
            .as_str()
            .unwrap()
            .contains("[off-record: a MAC only alpha and bravo can check]")),
        "{}",
        modes[2]["broker"]
    );
}

#[test]
fn a_replayed_login_is_refused_and_the_logged_in_session_is_undisturbed() {
    let _serial = serial();
    let d = Deployment::start("replay-login", "alpha,bravo");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let cert = std::fs::read_to_string(d.file("broker", "broker.crt")).unwrap();
        let config = backchannel_net::tls::client_config(&cert).unwrap();
        let alpha = backchannel_net::key_files::read_signing_key(
            &d.file("alpha", "alpha.key"),
            backchannel_proto::PartyName::new("alpha").unwrap(),
        )
        .unwrap();
        let connect = || async {
            let tcp = tokio::net::TcpStream::connect(d.addr).await.unwrap();
            tokio_rustls::TlsConnector::from(config.clone())
                .connect(backchannel_net::tls::broker_server_name().unwrap(), tcp)
                .await
                .unwrap()
        };
        // A genuine login on session 1, captured by an eavesdropper ...
        let mut first = connect().await;
        let exporter = backchannel_net::tls::exporter(first.get_ref().1).unwrap();
        let login = backchannel_proto::node::login_frame(&alpha, &exporter).unwrap();
        first.write_all(&login).await.unwrap();
        let mut reader = backchannel_net::FrameReader::new(&mut first);
        let mut frames = Vec::new();
        reader.read_batch(&mut frames, 1).await.unwrap();
        assert!(matches!(
            backchannel_proto::node::parse_node_frame(&frames[0]),
            Ok(backchannel_proto::node::NodeFrame::Welcome { .. })
        ));
        // ... and replayed on session 2: refused with a notice.
        let mut second = connect().await;
        second.write_all(&login).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), second.read_to_end(&mut answer))
            .await
            .unwrap()
            .ok();
        match backchannel_proto::node::parse_node_frame(&answer) {
            Ok(backchannel_proto::node::NodeFrame::Notice(n)) => {
                assert_eq!(n.code, "login-refused")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // On the logged-in session, a second login is a protocol violation: the broker
        // says so, then closes.
        reader.get_mut().write_all(&login).await.unwrap();
        let mut frames = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(15), reader.read_batch(&mut frames, 4)).await;
        assert!(matches!(read, Ok(Ok(true))), "{read:?}");
        match backchannel_proto::node::parse_node_frame(&frames[0]) {
            Ok(backchannel_proto::node::NodeFrame::Notice(n)) => assert_eq!(n.code, "protocol"),
            other => panic!("expected a protocol notice, got {other:?}"),
        }
    });
    // The real alpha still works.
    let receiver = d.receive("bravo", 1);
    let sent = d.send("alpha", "bravo", "Still listening.", 30);
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(finish(receiver).0);
}

#[test]
fn the_attack_matrix_matches_the_spec_in_all_three_modes() {
    let _serial = serial();
    let out = run(&["attacks", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let table: toml_rows::Table = toml_rows::load();
    assert_eq!(
        rows.len(),
        table.len() * 3,
        "every attack in all three modes"
    );
    for row in &rows {
        assert_eq!(row["matches"], true, "{row}");
        assert_eq!(row["outcome"], row["expected"]["outcome"], "{row}");
    }
    let judge_row = |r: &&serde_json::Value| {
        ["leak", "post-reveal-forgery"].contains(&r["attack"].as_str().unwrap())
    };
    // Signed and off-record mode catch every broker attack but the honest control row:
    // the recipient authenticates in both.
    for row in rows
        .iter()
        .filter(|r| r["mode"] != "deniable" && r["attack"] != "honest" && !judge_row(r))
    {
        assert_ne!(row["outcome"], "undetected", "{row}");
    }
    // Deniable mode: a broker that reads and rewrites gets everything past the parties
    // except a suppressed receipt; outsiders are still stopped at the door.
    for row in rows
        .iter()
        .filter(|r| r["mode"] == "deniable" && !judge_row(r))
    {
        let a = row["attack"].as_str().unwrap();
        if a.starts_with("outsider-") || a == "drop-receipt" {
            assert_ne!(row["outcome"], "undetected", "{row}");
        } else {
            assert_eq!(row["outcome"], "undetected", "{row}");
        }
    }
    // The judge rows tell signed mode from off-record mode.
    let cell = |attack: &str, mode: &str| {
        rows.iter()
            .find(|r| r["attack"] == attack && r["mode"] == mode)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(cell("leak", "signed"), "proved-to-judge");
    assert_eq!(cell("leak", "off-record"), "nothing-proved");
    assert_eq!(cell("post-reveal-forgery", "signed"), "forgery-detected");
    assert_eq!(
        cell("post-reveal-forgery", "off-record"),
        "indistinguishable"
    );
}

mod toml_rows {
    pub type Table = Vec<String>;

    /// The attack names in proto-spec/attacks.toml.
    pub fn load() -> Table {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto-spec/attacks.toml"
        ))
        .unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|l| l.trim_end_matches('"').to_owned())
            .collect()
    }
}
