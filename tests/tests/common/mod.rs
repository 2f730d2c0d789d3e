//! The harness of the end-to-end tests: a deployment made by `backchannel init`, a
//! broker process, and helpers to run party commands against it.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `backchannel` binary, beside this package's `fault-proxy` (built first if
/// this package's tests run alone).
pub fn bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        backchannel_system_tests::backchannel_binary(Path::new(env!("CARGO_BIN_EXE_fault-proxy")))
            .unwrap()
    })
}

/// The tests run one at a time: each starts real processes with timers, and the
/// attack matrix judges outcomes by timing that a machine busy with ten other tests
/// would distort.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A child process killed when the test ends, whatever happens.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh deployment with a running broker.
pub struct Deployment {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    broker_args: Vec<String>,
    _broker: Running,
}

/// Starts `backchannel broker --config DIR/broker.toml ARGS` and waits until it listens.
pub fn spawn_broker(dir: &Path, addr: SocketAddr, args: &[String]) -> Running {
    let broker = Command::new(bin())
        .args([
            "broker",
            "--config",
            dir.join("broker").join("broker.toml").to_str().unwrap(),
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let broker = Running(broker);
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the broker did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backchannel-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Deployment {
    pub fn start(tag: &str, parties: &str) -> Self {
        Self::start_with(tag, parties, |_| {})
    }

    /// Like `start`, letting the test edit broker.toml first.
    pub fn start_with(tag: &str, parties: &str, edit: impl FnOnce(&Path)) -> Self {
        Self::start_custom(tag, parties, &[], &[], edit)
    }

    /// Like `start_with`, with extra arguments for `init` and for `broker`.
    pub fn start_custom(
        tag: &str,
        parties: &str,
        init_args: &[&str],
        broker_args: &[&str],
        edit: impl FnOnce(&Path),
    ) -> Self {
        let dir = scratch(tag);
        let port = free_port();
        let port_text = port.to_string();
        let target = dir.join("d");
        let mut init = vec![
            "init",
            target.to_str().unwrap(),
            "--port",
            &port_text,
            "--parties",
            parties,
        ];
        init.extend_from_slice(init_args);
        let out = run(&init);
        assert!(out.status.success(), "{}", text(&out));
        let dir = target;
        edit(&dir.join("broker").join("broker.toml"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let broker_args: Vec<String> = broker_args.iter().map(|a| a.to_string()).collect();
        let broker = spawn_broker(&dir, addr, &broker_args);
        Deployment {
            dir,
            addr,
            broker_args,
            _broker: broker,
        }
    }

    /// The broker's process id.
    pub fn broker_pid(&self) -> u32 {
        self._broker.0.id()
    }

    /// Kills the broker with SIGKILL (no chance to flush or close anything), then
    /// starts it again from the same configuration.
    pub fn crash_and_restart_broker(&mut self) {
        self._broker.0.kill().unwrap();
        self._broker.0.wait().unwrap();
        self._broker = spawn_broker(&self.dir, self.addr, &self.broker_args);
    }

    /// `NAME` in `node`'s bundle (`broker` or a party).
    pub fn file(&self, node: &str, name: &str) -> PathBuf {
        self.dir.join(node).join(name)
    }

    pub fn config(&self, party: &str) -> String {
        self.file(party, &format!("{party}.toml"))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// `backchannel COMMAND --config <party>.toml ARGS`, run to the end.
    pub fn run_as(&self, command: &str, party: &str, args: &[&str]) -> Output {
        let config = self.config(party);
        let mut all = vec![command, "--config", config.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `backchannel COMMAND --config <party>.toml ARGS`, started with its output captured.
    pub fn spawn_as(&self, command: &str, party: &str, args: &[&str]) -> Running {
        let config = self.config(party);
        let mut all = vec![command, "--config", config.as_str()];
        all.extend_from_slice(args);
        spawn(&all)
    }

    pub fn send(&self, from: &str, to: &str, message: &str, timeout: u64) -> Output {
        run(&[
            "send",
            "--config",
            &self.config(from),
            "--to",
            to,
            "--timeout",
            &timeout.to_string(),
            message,
        ])
    }

    pub fn receive(&self, party: &str, count: u64) -> Running {
        Running(
            Command::new(bin())
                .args([
                    "receive",
                    "--config",
                    &self.config(party),
                    "--count",
                    &count.to_string(),
                    "--timeout",
                    "30",
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// The judge's view of `party`'s transcript, given the roster in its bundle.
    /// `party`'s settings, from its configuration file in the deployment.
    pub fn settings(&self, party: &str) -> backchannel_party::PartySettings {
        let config = self.file(party, &format!("{party}.toml"));
        backchannel_party::PartyConfig::load(&config)
            .unwrap()
            .settings(&self.dir.join(party))
            .unwrap()
    }

    pub fn verify(&self, party: &str) -> Output {
        run(&[
            "verify",
            self.file(party, &format!("{party}.transcript"))
                .to_str()
                .unwrap(),
            "--keys",
            self.file(party, "parties.pub").to_str().unwrap(),
        ])
    }
}

pub fn finish(mut r: Running) -> (bool, Vec<serde_json::Value>, String) {
    let child = std::mem::replace(&mut r.0, Command::new("true").spawn().unwrap());
    std::mem::forget(r);
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `backchannel ARGS` with its output captured.
pub fn spawn(args: &[&str]) -> Running {
    Running(
        Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits for a process started with [`spawn`] and returns its output.
pub fn wait(mut r: Running) -> Output {
    let child = std::mem::replace(&mut r.0, Command::new("true").spawn().unwrap());
    std::mem::forget(r);
    child.wait_with_output().unwrap()
}

/// Waits until `path` exists (a node's control socket, say).
pub fn wait_for_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The read half of a [`RawSession`]: whole frames, as the broker wrote them.
pub type RawReader = backchannel_net::FrameReader<
    tokio::io::ReadHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
>;

/// A party's own logged-in TLS session with the broker, driven by the test instead
/// of a party node: to send what a node would not, or to see every frame it is given.
pub struct RawSession {
    /// The party's settings, from its configuration in the deployment.
    pub settings: backchannel_party::PartySettings,
    pub read: RawReader,
    pub write: tokio::io::WriteHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl RawSession {
    /// Connects to the deployment's broker as `party` and logs in with its real key.
    pub async fn login(d: &Deployment, party: &str) -> RawSession {
        use tokio::io::AsyncWriteExt as _;
        let settings = d.settings(party);
        let tcp = tokio::net::TcpStream::connect(settings.broker.clone())
            .await
            .unwrap();
        let name = backchannel_net::tls::broker_server_name().unwrap();
        let stream = tokio_rustls::TlsConnector::from(settings.tls.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let exporter = backchannel_net::tls::exporter(stream.get_ref().1).unwrap();
        let login = backchannel_proto::node::login_frame(&settings.me, &exporter).unwrap();
        let (read, mut write) = tokio::io::split(stream);
        write.write_all(&login).await.unwrap();
        write.flush().await.unwrap();
        RawSession {
            settings,
            read: backchannel_net::FrameReader::new(read),
            write,
        }
    }
}

/// The choice a step's question (as `demo --scenario --json` gives it) names as its
/// answer: `{"key": ..., "words": ...}`.
pub fn right_choice(question: &serde_json::Value) -> &serde_json::Value {
    question["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == question["answer"])
        .unwrap()
}

/// The shipped scenario `name` (`scenarios/NAME.toml`) played in every mode and drawn
/// with `--timeline` into a scratch directory named by `tag`, with `extra` arguments:
/// (the directory, the timeline page, its HTML, the command's output). The run must
/// succeed.
pub fn draw_scenario(name: &str, tag: &str, extra: &[&str]) -> (PathBuf, PathBuf, String, Output) {
    let dir = scratch(tag);
    let page = dir.join(format!("{name}.html"));
    let file = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![
        "demo",
        "--scenario",
        &file,
        "--timeline",
        page.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    (dir, page, html, out)
}

/// The runs of a timeline page, one section each.
pub fn run_sections(html: &str) -> Vec<&str> {
    html.split("<section class=\"run\"").skip(1).collect()
}
