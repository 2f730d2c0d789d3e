//! The broker, alpha and bravo on three hosts (network namespaces), through delay,
//! stalls, connection resets, a partition that heals, and `kill -9` of the broker and
//! of each party in the middle of a stream. Checked at the end: nothing alpha reported
//! as sent is lost, nothing is shown to bravo twice, both transcripts judge clean, and
//! the broker's memory stayed bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use backchannel_system_tests::{BROKER_ADDR, Hosts, Running, backchannel_binary};

const PROXY: &str = env!("CARGO_BIN_EXE_fault-proxy");
/// Where alpha's proxy listens, inside alpha's namespace.
const ALPHA_PROXY: &str = "127.0.0.1:7000";

struct World {
    hosts: Hosts,
    bin: PathBuf,
    dir: PathBuf,
    control: PathBuf,
    broker: Option<Running>,
    /// bravo's node, and what each of its past runs printed.
    bravo: Option<Running>,
    bravo_runs: Vec<Output>,
    /// Seqs alpha reported as sent.
    sent: Vec<u64>,
    _proxy: Running,
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl World {
    fn config(&self, node: &str) -> PathBuf {
        self.dir.join(node).join(format!("{node}.toml"))
    }

    fn start_broker(&mut self) {
        let mut c = self.hosts.command(&self.hosts.broker, &self.bin);
        c.args(["broker", "--config"]).arg(self.config("broker"));
        self.broker = Some(Running::spawn(&mut c).unwrap());
        std::thread::sleep(Duration::from_millis(500));
    }

    fn start_bravo(&mut self) {
        let mut c = self.hosts.command(&self.hosts.bravo, &self.bin);
        c.args(["party", "--json", "--timeout", "300", "--config"])
            .arg(self.config("bravo"));
        self.bravo = Some(Running::spawn(&mut c).unwrap());
    }

    fn kill_bravo(&mut self) {
        if let Some(out) = self.bravo.take().and_then(Running::kill) {
            self.bravo_runs.push(out);
        }
    }

    fn fault(&self, mode: &str) {
        std::fs::write(&self.control, mode).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// alpha sends `text` (through the proxy); records the seq if alpha said it sent it.
    fn send(&mut self, text_: &str, timeout: u64) -> Output {
        let mut c = self.hosts.command(&self.hosts.alpha, &self.bin);
        c.args([
            "send",
            "--to",
            "bravo",
            "--timeout",
            &timeout.to_string(),
            "--config",
        ])
        .arg(self.config("alpha"))
        .arg(text_);
        let out = Running::spawn(&mut c).unwrap().wait().unwrap();
        self.note_sent(&out);
        out
    }

    fn note_sent(&mut self, out: &Output) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(rest) = line.split("sent #").nth(1) {
                let seq: u64 = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                if !self.sent.contains(&seq) {
                    self.sent.push(seq);
                }
            }
        }
    }

    /// What bravo was shown, over all its runs so far: accepted seqs from alpha, with
    /// how many times each.
    fn shown(&self) -> BTreeMap<u64, usize> {
        let mut shown = BTreeMap::new();
        for out in &self.bravo_runs {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if v["from"] == "alpha" && v["verdict"] == "accepted" && v["kind"] == "text" {
                    *shown.entry(v["seq"].as_u64().unwrap()).or_insert(0) += 1;
                }
            }
        }
        shown
    }

    fn verify(&self, party: &str) -> Output {
        let mut c = std::process::Command::new(&self.bin);
        c.arg("verify")
            .arg(self.dir.join(party).join(format!("{party}.transcript")))
            .arg("--keys")
            .arg(self.dir.join(party).join("parties.pub"));
        c.output().unwrap()
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn setup() -> Option<World> {
    let hosts = match Hosts::create() {
        Ok(h) => h,
        Err(why) => {
            backchannel_system_tests::tool_missing(&format!(
                "network namespaces (root and `ip`) for three hosts: {why}"
            ));
            return None;
        }
    };
    let bin = backchannel_binary(Path::new(PROXY)).unwrap();
    let dir = std::env::temp_dir().join(format!("backchannel-three-hosts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let deploy = dir.join("d");
    let out = std::process::Command::new(&bin)
        .args(["init"])
        .arg(&deploy)
        .args(["--broker-addr", BROKER_ADDR, "--listen", BROKER_ADDR])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // alpha reaches the broker through the fault proxy in its own namespace; faster
    // retransmission keeps the test short.
    let alpha = deploy.join("alpha").join("alpha.toml");
    let cfg = std::fs::read_to_string(&alpha).unwrap().replace(
        &format!("broker = \"{BROKER_ADDR}\""),
        &format!("broker = \"{ALPHA_PROXY}\""),
    );
    std::fs::write(&alpha, format!("{cfg}\n[timing]\nack_timeout_secs = 2\n")).unwrap();
    let control = dir.join("proxy-mode");
    std::fs::write(&control, "pass").unwrap();
    let mut c = hosts.command(&hosts.alpha, Path::new(PROXY));
    c.args([ALPHA_PROXY, BROKER_ADDR]).arg(&control);
    let proxy = Running::spawn(&mut c).unwrap();
    let mut w = World {
        hosts,
        bin,
        dir: deploy,
        control,
        broker: None,
        bravo: None,
        bravo_runs: Vec::new(),
        sent: Vec::new(),
        _proxy: proxy,
    };
    w.start_broker();
    Some(w)
}

#[test]
fn nothing_sent_is_lost_or_shown_twice_across_faults_on_three_hosts() {
    let Some(mut w) = setup() else { return };
    let started = Instant::now();
    w.start_bravo();
    let mut peak = 0;

    // Plain, then 300 ms of delay each way: slower, nothing else changes.
    let o = w.send("Talks can continue through this channel.", 20);
    assert!(o.status.success(), "{}", text(&o));
    w.fault("delay 300");
    let o = w.send("Our aircraft will keep clear of the agreed corridor.", 20);
    assert!(o.status.success(), "{}", text(&o));

    // A stall: nothing passes for 3 s, then everything does.
    w.fault("stall");
    let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
    c.args(["send", "--to", "bravo", "--timeout", "20", "--config"])
        .arg(w.config("alpha"))
        .arg("No preemptive strike absent provocation.");
    let stalled = Running::spawn(&mut c).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    w.fault("pass");
    let o = stalled.wait().unwrap();
    w.note_sent(&o);
    assert!(o.status.success(), "{}", text(&o));

    // A connection reset in the middle of a send: the party reconnects and resends.
    let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
    c.args(["send", "--to", "bravo", "--timeout", "20", "--config"])
        .arg(w.config("alpha"))
        .arg("The exercise near the border is postponed.");
    w.fault("stall");
    let reset = Running::spawn(&mut c).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    w.fault("reset 1");
    let o = reset.wait().unwrap();
    w.note_sent(&o);
    assert!(o.status.success(), "{}", text(&o));

    // A partition: bravo is cut off while alpha sends; it heals and bravo gets it.
    w.hosts.partition_bravo(true).unwrap();
    let o = w.send("Prisoner exchange proposed for next week.", 3);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    std::thread::sleep(Duration::from_secs(2));
    w.hosts.partition_bravo(false).unwrap();

    // kill -9 of bravo in the middle of a stream, then of the broker, then of alpha.
    let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
    c.args(["send", "--to", "bravo", "--timeout", "3", "--config"])
        .arg(w.config("alpha"))
        .arg("Ceasefire talks at the usual place.");
    let sending = Running::spawn(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    w.kill_bravo();
    let o = sending.wait().unwrap();
    w.note_sent(&o);
    let o = w.send("Hotline test: please confirm.", 2);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(3),
        "{}",
        text(&o)
    );
    if let Some(pid) = w.broker.as_ref().map(Running::id) {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
    }
    w.broker.take().and_then(Running::kill);
    w.start_broker();
    w.start_bravo();
    let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
    c.args(["send", "--to", "bravo", "--timeout", "20", "--config"])
        .arg(w.config("alpha"))
        .arg("Final message of the round.");
    let last = Running::spawn(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    if let Some(o) = last.kill() {
        w.note_sent(&o);
    }

    // alpha runs again until every envelope it sent is acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
        c.args(["party", "--timeout", "4", "--config"])
            .arg(w.config("alpha"));
        let _ = Running::spawn(&mut c).unwrap().wait();
        let mut c = w.hosts.command(&w.hosts.alpha, &w.bin);
        c.args(["pending", "--config"]).arg(w.config("alpha"));
        let pending = Running::spawn(&mut c).unwrap().wait().unwrap();
        if text(&pending).contains("] 0 message(s) await a receipt") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still pending: {}",
            text(&pending)
        );
    }
    if let Some(pid) = w.broker.as_ref().map(Running::id) {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
    }
    w.kill_bravo();

    let shown = w.shown();
    w.sent.sort_unstable();
    for seq in &w.sent {
        assert!(
            shown.contains_key(seq),
            "#{seq} was reported sent but never shown to bravo: {shown:?}"
        );
    }
    for (seq, times) in &shown {
        assert_eq!(*times, 1, "#{seq} was shown to bravo {times} times");
    }
    assert!(w.sent.len() >= 7, "only {:?} reported sent", w.sent);
    for party in ["alpha", "bravo"] {
        let v = w.verify(party);
        assert!(v.status.success(), "{party}: {}", text(&v));
    }
    assert!(peak < 64 * 1024, "broker peak RSS {peak} KiB");
    eprintln!(
        "three hosts: {} messages through delay, stall, reset, partition and kill -9 of every node in {:.1} s; broker peak RSS {peak} KiB",
        w.sent.len(),
        started.elapsed().as_secs_f64()
    );
}
