//! `bench --idle-parties N`: what a broker costs while N parties are connected and say
//! nothing.
//!
//! The deployment is `init --parties p0,...` (every party pins every other: N - 1
//! channels each), the broker its own process, and the N parties real [`Party`] nodes
//! in this process, each logged in over its own TLS connection and only running. Once
//! all are connected (or the connection wait ends), the benchmark holds for
//! `--seconds` and reads the broker's CPU time over the hold, its resident and peak
//! memory, and how many envelopes reached the parties meanwhile: an idle deployment
//! should send none (`proto-spec/protocol.md` §5.3: a settled channel is silent).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use backchannel_party::{Activity, Control, Party, PartyConfig};
use backchannel_proto::ChannelMode;
use serde_json::json;
use tokio::sync::watch;

use super::{Node, proc_stat, progress, spawn_broker, write_deployment};

/// The most parties a run may start (each pins every other: N² pins in all).
pub const MAX_PARTIES: usize = 2_000;

/// How long the parties get to connect before the hold starts anyway.
const CONNECT_WAIT: Duration = Duration::from_secs(300);

/// What parties in this process observed, shared by their tasks.
#[derive(Default)]
struct Tally {
    connected: AtomicUsize,
    /// Envelopes the parties received (content or control).
    received: AtomicU64,
}

/// Runs the idle measurement in `mode` with `parties` parties under `dir`; returns one
/// JSON object.
pub async fn measure(
    mode: ChannelMode,
    parties: usize,
    hold: Duration,
    dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    let names: Vec<String> = (0..parties).map(|i| format!("p{i}")).collect();
    progress(&format!(
        "writing a deployment of {parties} parties ({} channels each)",
        parties - 1
    ));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let port = write_deployment(dir, mode, &refs)?;
    let broker = spawn_broker(dir, port).await?;
    let broker_pid = broker.0.id();
    let rss_before_kib = proc_stat::rss_kib(broker_pid).unwrap_or(0);

    // From the first party's start: each connects as soon as it is open.
    let started = Instant::now();
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for name in &names {
        let config = crate::init::party_config(dir, name);
        let settings = PartyConfig::load(&config)
            .and_then(|c| c.settings(&dir.join(name)))
            .with_context(|| format!("{}", config.display()))?;
        let mut party = Party::open(settings).with_context(|| format!("opening {name}"))?;
        let tally = Arc::clone(&tally);
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            let mut counted = false;
            let deadline = tokio::time::Instant::now() + CONNECT_WAIT + Duration::from_secs(86_400);
            let result = party
                .run_until_interrupted(deadline, stopped.changed(), |a| {
                    match a {
                        Activity::Connected { .. } if !counted => {
                            counted = true;
                            tally.connected.fetch_add(1, Ordering::Relaxed);
                        }
                        Activity::Received(_) => {
                            tally.received.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    Control::Continue
                })
                .await;
            party.close().await;
            result.map(|_| ()).map_err(|e| e.to_string())
        });
    }

    let mut last_report = Instant::now();
    loop {
        let connected = tally.connected.load(Ordering::Relaxed);
        if connected == parties || started.elapsed() >= CONNECT_WAIT {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            progress(&format!(
                "{connected}/{parties} connected after {:.0} s; broker {} KiB",
                started.elapsed().as_secs_f64(),
                proc_stat::rss_kib(broker_pid).unwrap_or(0)
            ));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let connected = tally.connected.load(Ordering::Relaxed);
    progress(&format!(
        "{connected}/{parties} connected in {connect_s:.1} s; holding {:.1} s",
        hold.as_secs_f64()
    ));

    let cpu_before = proc_stat::cpu_us(broker_pid).unwrap_or(0);
    let received_before = tally.received.load(Ordering::Relaxed);
    tokio::time::sleep(hold).await;
    let cpu_during = proc_stat::cpu_us(broker_pid)
        .unwrap_or(0)
        .saturating_sub(cpu_before);
    let received_during = tally
        .received
        .load(Ordering::Relaxed)
        .saturating_sub(received_before);
    let rss_kib = proc_stat::rss_kib(broker_pid).unwrap_or(0);
    let peak_kib = proc_stat::peak_rss_kib(broker_pid).unwrap_or(0);

    let _ = stop.send(true);
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let broker_alive = is_running(&broker);
    drop(broker);
    if let Some(first) = failed.first() {
        anyhow::bail!(
            "{} of {parties} parties failed; first: {first}",
            failed.len()
        );
    }
    if !broker_alive {
        anyhow::bail!("the broker exited during the run");
    }
    let secs = hold.as_secs_f64().max(f64::EPSILON);
    Ok(json!({
        "mode": mode.to_string(),
        "idle_parties": parties,
        "channels_per_party": parties - 1,
        "connected": connected,
        "connect_s": connect_s,
        "hold_s": hold.as_secs_f64(),
        "broker_rss_before_kib": rss_before_kib,
        "broker_rss_kib": rss_kib,
        "broker_peak_rss_kib": peak_kib,
        "broker_cpu_ms_per_s": cpu_during as f64 / 1_000.0 / secs,
        "envelopes_received_per_s": received_during as f64 / secs,
    }))
}

fn is_running(node: &Node) -> bool {
    proc_stat::rss_kib(node.0.id()).is_some()
}

/// Prints one run's figures as a short paragraph.
pub fn print(r: &serde_json::Value) {
    let u = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let f = |k: &str| r.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    println!(
        "{} mode: {} of {} idle parties connected ({} channels each) within {:.1} s of the first start",
        r.get("mode").and_then(|v| v.as_str()).unwrap_or(""),
        u("connected"),
        u("idle_parties"),
        u("channels_per_party"),
        f("connect_s"),
    );
    println!(
        "  broker memory: {} KiB before any party, {} KiB after the hold, peak {} KiB",
        u("broker_rss_before_kib"),
        u("broker_rss_kib"),
        u("broker_peak_rss_kib"),
    );
    println!(
        "  over a {:.1} s hold: broker CPU {:.1} ms/s, envelopes received by the parties {:.1}/s",
        f("hold_s"),
        f("broker_cpu_ms_per_s"),
        f("envelopes_received_per_s"),
    );
}
