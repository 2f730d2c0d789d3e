//! Deployments for several machines: one bundle per node, host names for the broker,
//! adding a party later, and configuration that does not grow with every peer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::*;

fn config(dir: &Path, party: &str) -> String {
    dir.join(party)
        .join(format!("{party}.toml"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn each_bundle_holds_its_own_secrets_and_nothing_of_another_node() {
    let dir = scratch("bundles").join("d");
    let out = run(&[
        "init",
        dir.to_str().unwrap(),
        "--parties",
        "alpha,bravo,charlie",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let list = |node: &str| {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(node))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        list("broker"),
        [
            "broker.crt",
            "broker.key",
            "broker.storage-key",
            "broker.store",
            "broker.toml",
            "parties.pub"
        ]
    );
    assert_eq!(
        list("alpha"),
        ["alpha.key", "alpha.toml", "broker.crt", "parties.pub"]
    );
    // No private key of another node anywhere in a bundle.
    for node in ["broker", "alpha", "bravo", "charlie"] {
        for f in list(node) {
            let text = std::fs::read_to_string(dir.join(node).join(&f)).unwrap_or_default();
            if text.contains("PRIVATE KEY") || f.ends_with("storage-key") {
                let own = f.starts_with(node) || (node == "broker" && f.starts_with("broker"));
                assert!(own, "{node}/{f} holds another node's secret");
            }
        }
    }
}

#[test]
fn parties_reach_the_broker_by_host_name() {
    let _serial = serial();
    let dir = scratch("hostname").join("d");
    let port = free_port();
    let out = run(&[
        "init",
        dir.to_str().unwrap(),
        "--broker-addr",
        &format!("localhost:{port}"),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let alpha = std::fs::read_to_string(config(&dir, "alpha")).unwrap();
    assert!(
        alpha.contains(&format!("broker = \"localhost:{port}\"")),
        "{alpha}"
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _broker = spawn_broker(&dir, addr, &[]);
    alpha_tells_bravo(&dir, "Talks can continue through this channel.");
}

/// alpha sends `words` to bravo in the deployment at `dir` (its broker running), and
/// bravo accepts them.
fn alpha_tells_bravo(dir: &Path, words: &str) {
    let receiver = spawn(&[
        "receive",
        "--config",
        &config(dir, "bravo"),
        "--count",
        "1",
        "--timeout",
        "30",
        "--json",
    ]);
    let sent = run(&[
        "send",
        "--config",
        &config(dir, "alpha"),
        "--to",
        "bravo",
        "--timeout",
        "30",
        words,
    ]);
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    assert_eq!(lines[0]["verdict"], "accepted");
}

#[test]
fn a_malformed_broker_address_is_a_clear_error() {
    let dir = scratch("bad-addr").join("d");
    for bad in ["127.0.0.1", "host:0", ":7878", "bad host:7878"] {
        let out = run(&["init", dir.to_str().unwrap(), "--broker-addr", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", text(&out));
        assert!(
            text(&out).contains("expected HOST:PORT"),
            "{bad}: {}",
            text(&out)
        );
        assert!(!dir.exists(), "{bad}: init wrote something");
    }
}

#[test]
fn a_party_added_later_talks_to_the_others_after_a_broker_restart() {
    let _serial = serial();
    let mut d = Deployment::start("add-party", "alpha,bravo");
    let out = run(&["add-party", d.dir.to_str().unwrap(), "delta"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("restart"), "{}", text(&out));
    // Adding it twice is refused.
    let again = run(&["add-party", d.dir.to_str().unwrap(), "delta"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    // The broker learns the new key when it starts again.
    d.crash_and_restart_broker();
    let receiver = d.receive("alpha", 1);
    let sent = d.send("delta", "alpha", "A new party joins the talks.", 30);
    assert!(sent.status.success(), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    assert_eq!(lines[0]["from"], "delta");
    assert!(d.verify("alpha").status.success());
}

#[test]
fn configuration_does_not_grow_with_every_peer() {
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let small = scratch("size-2").join("d");
    let large = scratch("size-1000").join("d");
    assert!(
        run(&["init", small.to_str().unwrap(), "--parties", &names(2)])
            .status
            .success()
    );
    let out = run(&["init", large.to_str().unwrap(), "--parties", &names(1_000)]);
    assert!(out.status.success(), "{}", text(&out));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    // A party's configuration and the broker's are the same size for 2 parties as for
    // 1,000 (give or take the digits of the names); only the roster grows, a line
    // per party.
    for (file_small, file_large) in [
        (
            small.join("p1").join("p1.toml"),
            large.join("p1").join("p1.toml"),
        ),
        (
            small.join("broker").join("broker.toml"),
            large.join("broker").join("broker.toml"),
        ),
    ] {
        assert!(
            size(&file_large) <= size(&file_small) + 16,
            "{}",
            file_large.display()
        );
    }
    let roster = std::fs::read_to_string(large.join("p1").join("parties.pub")).unwrap();
    assert_eq!(roster.lines().count(), 1_000);
    assert!(size(&large.join("p1").join("parties.pub")) < 100 * 1_000);
}

/// The private key files `init` writes are PKCS#8 in the form standard tools read:
/// `openssl pkey` and Python's `cryptography` load them, and the public key they
/// derive is the one in the party's roster line.
#[test]
fn standard_tools_read_the_private_keys() {
    let dir = scratch("pkcs8").join("d");
    let out = run(&["init", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let key = dir.join("alpha").join("alpha.key");
    let roster = std::fs::read_to_string(dir.join("alpha").join("parties.pub")).unwrap();
    let public_hex = roster
        .lines()
        .find(|l| l.ends_with(" alpha"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_owned();

    match std::process::Command::new("openssl")
        .args(["pkey", "-in", key.to_str().unwrap(), "-noout", "-text_pub"])
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "openssl: {}", text(&o));
            let shown: String = String::from_utf8_lossy(&o.stdout)
                .chars()
                .filter(char::is_ascii_hexdigit)
                .collect::<String>()
                .to_lowercase();
            assert!(
                shown.contains(&public_hex),
                "openssl derived another key: {shown}"
            );
        }
        Err(_) => backchannel_system_tests::tool_missing("openssl"),
    }

    let script = "import sys\n\
        from cryptography.hazmat.primitives import serialization as s\n\
        k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
        print(k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw).hex())\n";
    match std::process::Command::new("python3")
        .args(["-c", script, key.to_str().unwrap()])
        .output()
    {
        Ok(o) if o.status.success() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), public_hex);
        }
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
            backchannel_system_tests::tool_missing("Python's cryptography");
        }
        Ok(o) => panic!("cryptography refused the key: {}", text(&o)),
        Err(_) => backchannel_system_tests::tool_missing("python3"),
    }
}

/// `init --shared`: one roster and one broker certificate for the deployment, so no
/// bundle grows with it; the parties talk, the judge finds the keys, and `add-party`
/// updates the one roster.
#[test]
fn a_shared_roster_keeps_bundles_small_and_everything_works() {
    let _serial = serial();
    let dir = scratch("shared-roster").join("d");
    let port = free_port();
    let out = run(&[
        "init",
        dir.to_str().unwrap(),
        "--shared",
        "--port",
        &port.to_string(),
        "--parties",
        "alpha,bravo",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for node in ["broker", "alpha", "bravo"] {
        assert!(
            !dir.join(node).join("parties.pub").exists(),
            "{node} has a roster"
        );
    }
    assert!(!dir.join("alpha").join("broker.crt").exists());
    assert!(dir.join("parties.pub").is_file() && dir.join("broker.crt").is_file());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _broker = spawn_broker(&dir, addr, &[]);
    alpha_tells_bravo(&dir, "No preemptive strike absent provocation.");
    let v = run(&[
        "verify",
        dir.join("bravo").join("bravo.transcript").to_str().unwrap(),
        "--keys",
        dir.to_str().unwrap(),
    ]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(
        text(&v).contains("provably written by alpha"),
        "{}",
        text(&v)
    );
    let added = run(&["add-party", dir.to_str().unwrap(), "charlie"]);
    assert!(added.status.success(), "{}", text(&added));
    let roster = std::fs::read_to_string(dir.join("parties.pub")).unwrap();
    assert_eq!(roster.lines().count(), 3, "{roster}");
    assert!(!dir.join("charlie").join("parties.pub").exists());
    let charlie = std::fs::read_to_string(config(&dir, "charlie")).unwrap();
    assert!(
        charlie.contains("parties = \"../parties.pub\""),
        "{charlie}"
    );
}
