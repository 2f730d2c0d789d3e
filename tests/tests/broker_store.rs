//! The broker's durable store: mailboxes survive `kill -9` of the broker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_message_queued_for_an_offline_recipient_survives_kill_9_of_the_broker() {
    let _serial = serial();
    let mut d = Deployment::start("store-crash", "alpha,bravo");
    // bravo is offline: the broker queues alpha's assurance (send waits 2 s for a
    // receipt that cannot come, so the broker has long committed it).
    let sent = d.send(
        "alpha",
        "bravo",
        "Our aircraft will keep clear of the corridor.",
        2,
    );
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    d.crash_and_restart_broker();
    // alpha does not run again; bravo still gets it, from the restarted broker.
    let (ok, lines, err) = finish(d.receive("bravo", 1));
    assert!(ok, "{err}");
    assert_eq!(lines[0]["verdict"], "accepted");
    assert_eq!(
        lines[0]["body"],
        "Our aircraft will keep clear of the corridor."
    );
    assert!(d.verify("bravo").status.success());

    // Delivered, then the broker dies again: whatever it had not yet forgotten is
    // delivered again and dropped by bravo as a replay, never shown twice.
    d.crash_and_restart_broker();
    let again = d.spawn_as(
        "receive",
        "bravo",
        &["--count", "1", "--timeout", "3", "--json"],
    );
    let out = wait(again);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().all(|l| l["verdict"] != "accepted"),
        "shown twice: {lines:?}"
    );
    // And alpha's next run finds bravo's receipt for #1 and goes on at #2.
    let receiver = d.receive("bravo", 1);
    let sent = d.send(
        "alpha",
        "bravo",
        "Talks can continue through this channel.",
        30,
    );
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("sent #2"), "{}", text(&sent));
    let (ok, _, err) = finish(receiver);
    assert!(ok, "{err}");
    assert!(d.verify("bravo").status.success());
    assert!(d.verify("alpha").status.success());
}

#[test]
fn the_store_on_disk_shows_no_traffic() {
    let _serial = serial();
    let mut d = Deployment::start("store-sealed", "alpha,bravo");
    let words = "No preemptive strike absent provocation";
    let sent = d.send("alpha", "bravo", words, 1);
    assert_eq!(sent.status.code(), Some(3), "{}", text(&sent));
    d.crash_and_restart_broker();
    let raw = std::fs::read(d.file("broker", "broker.store")).unwrap();
    assert!(raw.len() > 1_000);
    for needle in [words.as_bytes(), b"preemptive", b"alpha"] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "{:?} is readable in the store",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn an_offline_party_finds_one_heartbeat_per_channel_not_one_per_interval() {
    use backchannel_proto::{Body, BodyKind, ChannelConfig, Endpoint, EnvelopeIn};
    use tokio::io::AsyncWriteExt as _;

    let _serial = serial();
    let mut d = Deployment::start("store-heartbeats", "alpha,bravo");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // alpha's channel to bravo owes heartbeats while its message is unacknowledged;
    // with a 50 ms interval it sends one per wake-up below.
    let settings = d.settings("alpha");
    let config = ChannelConfig {
        heartbeat_interval: Some(Duration::from_millis(50)),
        ..settings.channel
    };
    let mut alpha = Endpoint::new(settings.me.clone(), settings.peers.clone(), config);
    let words = "Our aircraft will keep clear of the corridor.";
    let now = backchannel_party::now();
    alpha
        .send(
            now,
            "bravo",
            Body::Text(words.into()),
            Duration::from_secs(600),
        )
        .unwrap();
    let mut beat = |session: &mut RawSession, beats: usize| -> Vec<u8> {
        runtime.block_on(async {
            let mut last = Vec::new();
            for _ in 0..beats {
                tokio::time::sleep(Duration::from_millis(60)).await;
                let now = backchannel_party::now();
                alpha.handle_timeout(now);
                let mut frame = Vec::new();
                while alpha.poll_transmit(now, &mut frame).unwrap().is_some() {
                    session.write.write_all(&frame).await.unwrap();
                    last = std::mem::take(&mut frame);
                }
            }
            session.write.flush().await.unwrap();
            // Long enough for the broker to store them (bravo is offline).
            tokio::time::sleep(Duration::from_millis(500)).await;
            last
        })
    };

    let mut session = runtime.block_on(RawSession::login(&d, "alpha"));
    beat(&mut session, 5);
    drop(session);
    // The store keeps what waits across a crash; whatever it reloads is compacted too.
    d.crash_and_restart_broker();
    let mut session = runtime.block_on(RawSession::login(&d, "alpha"));
    let newest = beat(&mut session, 3);
    assert_eq!(
        EnvelopeIn::decode(&newest).unwrap().envelope().body.kind(),
        BodyKind::Heartbeat
    );

    // bravo logs in and takes everything waiting for it.
    let given: Vec<Vec<u8>> = runtime.block_on(async {
        let mut bravo = RawSession::login(&d, "bravo").await;
        let mut given = Vec::new();
        let mut batch = Vec::new();
        while let Ok(Ok(true)) = tokio::time::timeout(
            Duration::from_millis(1_500),
            bravo.read.read_batch(&mut batch, 256),
        )
        .await
        {
            given.append(&mut batch);
        }
        given
    });
    let kinds: Vec<BodyKind> = given
        .iter()
        .filter_map(|f| EnvelopeIn::decode(f).ok())
        .map(|e| e.envelope().body.kind())
        .collect();
    assert_eq!(
        kinds,
        vec![BodyKind::Text, BodyKind::Heartbeat],
        "8 heartbeats sent"
    );
    assert!(given.contains(&newest), "the one kept is the newest");
}

/// A broker whose store is gone (deleted, or emptied by a bad copy) would start with
/// nothing queued and lose its mail without a word: it refuses, says what to do, and
/// starts empty only when told to with `--new-store`. "listening" comes after the
/// store is open.
#[test]
fn a_broker_refuses_a_missing_or_empty_store_unless_told_to_start_anew() {
    let _serial = serial();
    let dir = scratch("store-missing").join("d");
    let port = free_port().to_string();
    let out = run(&["init", dir.to_str().unwrap(), "--port", &port]);
    assert!(out.status.success(), "{}", text(&out));
    let store = dir.join("broker").join("broker.store");
    assert!(store.is_file(), "init creates the store");
    let config = dir.join("broker").join("broker.toml");
    let config = config.to_str().unwrap();
    for damage in ["emptied", "deleted"] {
        if damage == "emptied" {
            std::fs::write(&store, b"").unwrap();
        } else {
            std::fs::remove_file(&store).unwrap();
        }
        let out = run(&["broker", "--config", config]);
        assert_eq!(out.status.code(), Some(1), "{damage}: {}", text(&out));
        let said = text(&out);
        assert!(said.contains("no broker store here"), "{damage}: {said}");
        assert!(said.contains("--new-store"), "{damage}: {said}");
        assert!(!said.contains("listening"), "{damage}: {said}");
    }
    // Told to, it starts with an empty store, and says it listens.
    let mut broker = spawn(&["broker", "--config", config, "--new-store"]);
    let stdout = broker.0.stdout.take().unwrap();
    let first = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .next()
        .unwrap()
        .unwrap();
    assert!(first.starts_with("broker listening on"), "{first}");
    assert!(store.is_file());
    let _ = broker.0.kill();
    let _ = broker.0.wait();
}
