//! `backchannel bench`: throughput and latency of a real deployment on this machine,
//! with its baselines measured in the same run.
//!
//! The broker, bravo (a party node) and alpha (`bench-send`) run as separate
//! processes over TLS on loopback, so each one's CPU time is visible. Alpha streams
//! texts to bravo; bravo's receipts come back. In the same run the benchmark measures
//! a plain TLS relay (same rustls stack, no protocol work) and the crypto limit (sign
//! plus two batch verifications per message on this machine's cores) and reports the
//! deployment's rate as ratios of both. Figures go to stdout; progress to stderr.

mod crypto;
mod idle;
mod proc_stat;
mod relay;
pub mod sender;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use backchannel_proto::ChannelMode;
use clap::Parser;
use serde_json::json;

use backchannel_show::Outcome;
use sender::SenderReport;

/// A crypto limit that moved more than this between before and after a run gets a
/// warning: the ratio against it is then uncertain by more than the code's effect on
/// it usually is.
const DRIFT_WARNING: f64 = 0.10;

/// Measure throughput and latency of broker + two parties over TLS on loopback, with
/// a plain TLS relay and the crypto limit measured in the same run.
///
/// Latency is from each message's scheduled send time to the receipt that covers it
/// coming back to the sender (a full round trip through the broker and a recipient
/// that saved it first), so a stall is never hidden (no coordinated omission). With
/// --rate the sender keeps a schedule (open loop); without, it keeps --window
/// messages in flight (closed loop; --window 1 is one at a time).
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel bench --mode all --seconds 10\n  backchannel bench --mode signed --window 1 --seconds 5\n  backchannel bench --mode deniable --rate 20000 --files /dev/shm/bench --json\n  backchannel bench --mode signed --idle-parties 1000 --seconds 30"
)]
pub struct Args {
    /// Which mode to measure.
    #[arg(long, default_value = "all", value_parser = ["signed", "deniable", "off-record", "all"])]
    mode: String,
    /// Body size in bytes.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// How long to stream, per mode (and per baseline).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Messages in flight at most (closed loop without --rate).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Messages per second to schedule (open loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Where the parties' keys, state and transcripts go (a directory on the disk to
    /// measure; /dev/shm for tmpfs). Default: a fresh directory under the system's
    /// temporary directory.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Instead of streaming: start this many parties (each pinning every other),
    /// connect them all and let them sit idle for --seconds; report the broker's
    /// memory and CPU and the envelopes the parties received meanwhile.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=idle::MAX_PARTIES as i64))]
    idle_parties: Option<u16>,
    /// One JSON object per mode on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// A child process killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn progress(line: &str) {
    eprintln!("bench: {line}");
}

pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.size == 0 || args.size > backchannel_proto::MAX_TEXT_LEN {
        anyhow::bail!("--size must be 1 to {}", backchannel_proto::MAX_TEXT_LEN);
    }
    if args.window == 0 || args.window > 4096 {
        anyhow::bail!(
            "--window must be 1 to 4096 (the channel's limit of unacknowledged envelopes)"
        );
    }
    if !args.seconds.is_finite() || args.seconds <= 0.0 {
        anyhow::bail!("--seconds must be positive");
    }
    let seconds = Duration::from_secs_f64(args.seconds);
    if let Some(parties) = args.idle_parties {
        return run_idle(&args, usize::from(parties), seconds).await;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    progress(&format!("plain TLS relay for {:.1} s", args.seconds));
    let relay = relay::measure(args.size, seconds).await?;
    let base = files_base(&args)?;
    // The crypto costs are measured right before and right after each mode's run and
    // averaged: this machine's speed drifts over minutes, and a limit measured long
    // before a run would make its ratio say more about the drift than the code.
    let bracket = seconds.min(Duration::from_secs(2));
    let mut results = Vec::new();
    let mut costs = Vec::new();
    for mode in modes(&args) {
        progress(&format!("crypto costs for {}-byte bodies", args.size));
        let before = crypto::measure(args.size, bracket)?;
        let dir = base.join(format!("{mode}-{}", std::process::id()));
        progress(&format!("{mode} mode in {}", dir.display()));
        let result = run_mode(&args, mode, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        let (report, broker) = result?;
        progress("crypto costs again");
        let after = crypto::measure(args.size, bracket)?;
        let crypto = crypto::CryptoCosts::mean(&before, &after);
        let drift = crypto::CryptoCosts::drift(&before, &after, cores);
        if drift > DRIFT_WARNING {
            progress(&format!(
                "warning: the crypto limit moved {:.0} % between before and after the {mode} run \
                 (this machine's speed drifted): its ratio is uncertain by about as much",
                drift * 100.0
            ));
        }
        let mut result = summarise(&args, mode, &report, &broker, relay, &crypto, cores);
        if let Some(fields) = result.as_object_mut() {
            fields.insert("crypto_limit_drift".into(), json!(drift));
        }
        results.push(result);
        costs.push((before, after));
    }
    if args.json {
        for (r, (before, after)) in results.iter_mut().zip(&costs) {
            if let Some(fields) = r.as_object_mut() {
                fields.insert("crypto_us_before".into(), before.to_json());
                fields.insert("crypto_us_after".into(), after.to_json());
            }
            println!("{r}");
        }
    } else {
        print_table(&args, &results, relay, cores);
    }
    Ok(Outcome::Ok)
}

fn modes(args: &Args) -> Vec<ChannelMode> {
    match args.mode.as_str() {
        "signed" => vec![ChannelMode::Signed],
        "deniable" => vec![ChannelMode::Deniable],
        "off-record" => vec![ChannelMode::OffRecord],
        _ => ChannelMode::ALL.to_vec(),
    }
}

fn files_base(args: &Args) -> anyhow::Result<PathBuf> {
    match &args.files {
        Some(dir) => Ok(dir.clone()),
        None => Ok(backchannel_stage::ScratchDir::new("bench")?.keep()),
    }
}

/// `--idle-parties N`: one idle measurement per mode.
async fn run_idle(args: &Args, parties: usize, hold: Duration) -> anyhow::Result<Outcome> {
    let base = files_base(args)?;
    for mode in modes(args) {
        let dir = base.join(format!("idle-{mode}-{}", std::process::id()));
        progress(&format!(
            "{mode} mode, {parties} idle parties, in {}",
            dir.display()
        ));
        let result = idle::measure(mode, parties, hold, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        let result = result?;
        if args.json {
            println!("{result}");
        } else {
            idle::print(&result);
        }
    }
    Ok(Outcome::Ok)
}

/// Writes a deployment of `parties` in `mode` into `dir` (as `init` does) with its
/// broker on a free port of 127.0.0.1; returns the port.
fn write_deployment(dir: &Path, mode: ChannelMode, parties: &[&str]) -> anyhow::Result<u16> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let init = crate::init::Args::try_parse_from([
        "init",
        dir.to_str().context("non-UTF-8 path")?,
        "--port",
        &port.to_string(),
        "--mode",
        &mode.to_string(),
        "--parties",
        &parties.join(","),
    ])?;
    crate::init::run_quietly(init)?;
    Ok(port)
}

/// Starts the broker of the deployment in `dir` as its own process, quiet, and waits
/// until it listens on `port`.
async fn spawn_broker(dir: &Path, port: u16) -> anyhow::Result<Node> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["broker", "--config"])
        .arg(crate::init::broker_config(dir));
    quiet(&mut cmd);
    let broker = Node(cmd.spawn()?);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            anyhow::bail!("the broker did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(broker)
}

/// A node's output is not the benchmark's: warnings only, and not shown.
fn quiet(cmd: &mut Command) {
    cmd.env("BACKCHANNEL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
}

/// What was read off the broker and bravo processes.
struct NodeCosts {
    broker_cpu_us: u64,
    broker_peak_rss_kib: u64,
    bravo_cpu_us: u64,
}

async fn run_mode(
    args: &Args,
    mode: ChannelMode,
    dir: &Path,
) -> anyhow::Result<(SenderReport, NodeCosts)> {
    let port = write_deployment(dir, mode, &["alpha", "bravo"])?;
    let exe = std::env::current_exe()?;
    let broker = spawn_broker(dir, port).await?;
    let started = std::time::Instant::now();
    let mut bravo_cmd = Command::new(&exe);
    bravo_cmd
        .args(["party", "--config"])
        .arg(crate::init::party_config(dir, "bravo"));
    quiet(&mut bravo_cmd);
    let bravo = Node(bravo_cmd.spawn()?);
    while !dir.join("bravo").join("bravo.sock").exists() {
        if started.elapsed() > Duration::from_secs(20) {
            anyhow::bail!("bravo's node did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut send = Command::new(&exe);
    send.args(["bench-send", "--config"])
        .arg(crate::init::party_config(dir, "alpha"))
        .args(["--to", "bravo", "--size", &args.size.to_string()])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--window", &args.window.to_string()]);
    if let Some(rate) = args.rate {
        send.args(["--rate", &rate.to_string()]);
    }
    send.env("BACKCHANNEL_LOG", "warn").stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || send.output()).await??;
    let costs = NodeCosts {
        broker_cpu_us: proc_stat::cpu_us(broker.0.id()).unwrap_or(0),
        broker_peak_rss_kib: proc_stat::peak_rss_kib(broker.0.id()).unwrap_or(0),
        bravo_cpu_us: proc_stat::cpu_us(bravo.0.id()).unwrap_or(0),
    };
    drop(bravo);
    drop(broker);
    if !out.status.success() {
        anyhow::bail!(
            "the sender failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report: SenderReport = serde_json::from_slice(&out.stdout)
        .with_context(|| "the sender's report is unreadable".to_owned())?;
    Ok((report, costs))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(0)
}

fn summarise(
    args: &Args,
    mode: ChannelMode,
    r: &SenderReport,
    n: &NodeCosts,
    relay: f64,
    crypto: &crypto::CryptoCosts,
    cores: usize,
) -> serde_json::Value {
    let rate = if r.elapsed_s > 0.0 {
        r.delivered as f64 / r.elapsed_s
    } else {
        0.0
    };
    let per = |us: u64| {
        if r.delivered == 0 {
            0.0
        } else {
            us as f64 / r.delivered as f64
        }
    };
    let limit = crypto.limit(cores);
    // The share of the cores the three nodes kept busy from the first send to the last
    // receipt (their whole CPU time, start-up included, so a little over the truth):
    // the ratio to the crypto limit is about this times the crypto's share of their
    // CPU, so it says which of the two a shortfall comes from.
    let node_cpu_s = (r.cpu_us + n.broker_cpu_us + n.bravo_cpu_us) as f64 / 1e6;
    let cores_busy = if r.elapsed_s > 0.0 {
        node_cpu_s / (cores as f64 * r.elapsed_s)
    } else {
        0.0
    };
    let l = &r.latencies_us;
    json!({
        "mode": mode.to_string(),
        "size": args.size,
        "window": args.window,
        "rate": args.rate,
        "files": args.files.as_ref().map(|p| p.display().to_string()),
        "delivered": r.delivered,
        "msgs_per_s": rate,
        "mb_per_s": rate * args.size as f64 / 1e6,
        "p50_us": percentile(l, 50.0),
        "p90_us": percentile(l, 90.0),
        "p99_us": percentile(l, 99.0),
        "p999_us": percentile(l, 99.9),
        "max_us": l.last().copied().unwrap_or(0),
        "tls_relay_msgs_per_s": relay,
        "crypto_limit_msgs_per_s": limit,
        "ratio_tls_relay": rate / relay.max(1.0),
        "ratio_crypto_limit": rate / limit.max(1.0),
        "broker_peak_rss_kib": n.broker_peak_rss_kib,
        "cpu_us_per_msg": {
            "alpha": per(r.cpu_us),
            "broker": per(n.broker_cpu_us),
            "bravo": per(n.bravo_cpu_us),
        },
        "crypto_us": crypto.to_json(),
        "cores": cores,
        "cores_busy": cores_busy,
    })
}

/// The number at JSON pointer `path` in a result, 0 if there is none.
fn number_at(r: &serde_json::Value, path: &str) -> f64 {
    r.pointer(path)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

fn print_table(args: &Args, results: &[serde_json::Value], relay: f64, cores: usize) {
    println!(
        "backchannel bench: {} B bodies, {}, {} core(s), files in {}",
        args.size,
        match args.rate {
            Some(r) => format!("open loop at {r} msg/s (window {})", args.window),
            None => format!("closed loop, window {}", args.window),
        },
        cores,
        args.files
            .as_ref()
            .map_or("a temporary directory".to_owned(), |p| p
                .display()
                .to_string())
    );
    for r in results {
        let c = |k: &str| number_at(r, &format!("/crypto_us/{k}"));
        println!(
            "{}: crypto per message around its run: sign {:.1} us, verify {:.1} us (verify_strict {:.1} us), batch verify {:.1} us; limit {:.0} msg/s (moved {:.0} % from before the run to after it)",
            r.get("mode").and_then(|v| v.as_str()).unwrap_or(""),
            c("sign"),
            c("verify"),
            c("verify_strict"),
            c("batch_verify"),
            number_at(r, "/crypto_limit_msgs_per_s"),
            number_at(r, "/crypto_limit_drift") * 100.0
        );
    }
    println!("plain TLS relay: {relay:.0} msg/s");
    println!(
        "{:<9} {:>10} {:>7} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "mode",
        "msg/s",
        "MB/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "vs relay",
        "vs crypto",
        "busy",
        "alpha us",
        "broker us",
        "bravo us",
        "broker KiB"
    );
    for r in results {
        let f = |k: &str| r.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let u = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let cpu = |k: &str| number_at(r, &format!("/cpu_us_per_msg/{k}"));
        println!(
            "{:<9} {:>10.0} {:>7.2} {:>8} {:>8} {:>8} {:>9} {:>8.3} {:>9.3} {:>6.2} {:>9.1} {:>9.1} {:>9.1} {:>9}",
            r.get("mode").and_then(|v| v.as_str()).unwrap_or(""),
            f("msgs_per_s"),
            f("mb_per_s"),
            u("p50_us"),
            u("p99_us"),
            u("p999_us"),
            u("max_us"),
            f("ratio_tls_relay"),
            f("ratio_crypto_limit"),
            f("cores_busy"),
            cpu("alpha"),
            cpu("broker"),
            cpu("bravo"),
            u("broker_peak_rss_kib")
        );
    }
    println!(
        "(latency: scheduled send to the covering receipt back at the sender; busy: the share of the cores the three nodes used; CPU: per delivered message)"
    );
}
