//! The broker under hostile load, as separate processes over TLS on loopback.
//!
//! The attacker runs from 127.0.0.2 and the honest parties from 127.0.0.1: on a real
//! network they have different addresses, and the broker's per-address cap is what
//! keeps one source from filling the pool of connections that have not logged in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncReadExt as _;

/// Sockets the attacker keeps open (reopening each one the broker closes).
const ATTACK_SOCKETS: usize = 2_000;

struct Flood {
    stop: Arc<AtomicBool>,
    /// Connections the attacker opened in all.
    opened: Arc<AtomicUsize>,
    runtime: tokio::runtime::Runtime,
}

/// Opens `count` plain TCP connections from 127.0.0.2 that never start TLS, and
/// reopens each as soon as the broker closes it, until stopped.
fn flood(addr: SocketAddr, count: usize) -> Flood {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        let (stop, opened) = (stop.clone(), opened.clone());
        runtime.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                let Ok(mut stream) = socket.connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                // Hold it, saying nothing, until the broker closes it.
                let mut byte = [0u8; 1];
                let _ = stream.read(&mut byte).await;
            }
        });
    }
    Flood {
        stop,
        opened,
        runtime,
    }
}

#[test]
fn an_honest_login_succeeds_within_3_s_while_2000_unauthenticated_sockets_are_held() {
    let _serial = serial();
    let d = Deployment::start("admission", "alpha,bravo");
    let f = flood(d.addr, ATTACK_SOCKETS);
    // Let the flood reach its size before the honest parties arrive.
    let started = Instant::now();
    while f.opened.load(Ordering::Relaxed) < ATTACK_SOCKETS {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the attacker could not open its sockets"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // bravo logs in under the flood; alpha's send must log in, deliver and get bravo's
    // receipt back, all within 3 s (the bound; `--timeout` only bounds the wait
    // for the receipt, so the whole command is timed).
    let receiver = d.receive("bravo", 1);
    let began = Instant::now();
    let sent = d.send(
        "alpha",
        "bravo",
        "Talks can continue through this channel.",
        3,
    );
    let took = began.elapsed();
    let churn = f.opened.load(Ordering::Relaxed);
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(
        took < Duration::from_secs(3),
        "the honest send took {took:?}"
    );
    assert!(text(&sent).contains("proof of delivery"), "{}", text(&sent));
    let (ok, lines, err) = finish(receiver);
    assert!(ok, "{err}");
    assert_eq!(lines[0]["verdict"], "accepted");
    // The attack was real: the broker kept closing the attacker's sockets and the
    // attacker kept reopening them.
    assert!(
        churn > ATTACK_SOCKETS,
        "the attacker opened only {churn} sockets"
    );
    // Once it stops reopening, nothing it holds survives the login deadline (3 s) on
    // the broker's side. (Counted from the kernel's table of the broker's sockets: the
    // attacker's own view also counts connections the kernel dropped from a full
    // accept queue, which the broker never held.)
    f.stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    while attacker_sockets_at(d.addr.port()) > 0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "{} unauthenticated sockets outlived the login deadline",
            attacker_sockets_at(d.addr.port())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    f.runtime.shutdown_timeout(Duration::from_secs(1));
}

/// Established connections on the broker's side of `port` from 127.0.0.2 (accepted,
/// or waiting in the accept queue), from /proc/net/tcp.
fn attacker_sockets_at(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[1] == local
                && fields[2].starts_with("0200007F:")
                && fields[3] == "01"
        })
        .count()
}

/// Whether the broker closed `stream` within `within` (it sends nothing before a login).
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read as _;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the broker said something before a login"),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn connect_from(last: u8, addr: SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, last], 0)))
            .unwrap();
        let stream = socket.connect(addr).await.unwrap().into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

#[test]
fn each_admission_setting_in_broker_toml_takes_effect() {
    let _serial = serial();
    let d = Deployment::start_with("admission-settings", "alpha,bravo", |toml| {
        let text = std::fs::read_to_string(toml)
            .unwrap()
            .replace("login_deadline_ms = 3000", "login_deadline_ms = 400")
            .replace("unauthenticated = 256", "unauthenticated = 3")
            .replace(
                "unauthenticated_per_address = 32",
                "unauthenticated_per_address = 2",
            )
            .replace("sessions = 1024", "sessions = 1");
        std::fs::write(toml, text).unwrap();
    });
    // login_deadline_ms: a silent connection is closed after 0.4 s, well before 3 s.
    let mut silent = connect_from(1, d.addr);
    let began = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
    let took = began.elapsed();
    assert!(took < Duration::from_millis(2_500), "closed after {took:?}");

    // unauthenticated_per_address = 2: a third socket from 127.0.0.3 closes its first.
    let mut first = connect_from(3, d.addr);
    std::thread::sleep(Duration::from_millis(50));
    let mut second = connect_from(3, d.addr);
    std::thread::sleep(Duration::from_millis(50));
    let _third = connect_from(3, d.addr);
    assert!(closed_within(&mut first, Duration::from_millis(300)));
    assert!(!closed_within(&mut second, Duration::from_millis(100)));

    // unauthenticated = 3: with 127.0.0.3's two waiting, two from elsewhere close the
    // oldest of all (127.0.0.3's second), whoever it belongs to.
    std::thread::sleep(Duration::from_millis(400)); // let the deadline clear the pool
    let mut a = connect_from(4, d.addr);
    std::thread::sleep(Duration::from_millis(50));
    let mut b = connect_from(5, d.addr);
    std::thread::sleep(Duration::from_millis(50));
    let mut c = connect_from(6, d.addr);
    std::thread::sleep(Duration::from_millis(50));
    let _d4 = connect_from(7, d.addr);
    assert!(closed_within(&mut a, Duration::from_millis(300)));
    assert!(!closed_within(&mut b, Duration::from_millis(50)));
    assert!(!closed_within(&mut c, Duration::from_millis(50)));

    // sessions = 1: while bravo is logged in, alpha is refused with broker-full.
    let receiver = d.spawn_as("receive", "bravo", &["--count", "1", "--timeout", "5"]);
    std::thread::sleep(Duration::from_millis(800));
    let sent = d.send("alpha", "bravo", "Talks can continue.", 2);
    assert_ne!(sent.status.code(), Some(0), "{}", text(&sent));
    assert!(
        text(&sent).contains("maximum of 1 sessions"),
        "{}",
        text(&sent)
    );
    drop(receiver);
}
