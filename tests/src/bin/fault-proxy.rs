//! A TCP proxy that injects faults, for the whole-system tests.
//!
//! `fault-proxy LISTEN TARGET CONTROL` forwards every connection accepted on LISTEN to
//! TARGET, applying the mode written in the file CONTROL (re-read every 50 ms):
//!
//! | mode | effect |
//! | --- | --- |
//! | `pass` | forward |
//! | `delay MS` | forward each chunk MS milliseconds late |
//! | `stall` | hold every byte until the mode changes |
//! | `blackhole` | discard every byte |
//! | `reset N` | close every connection opened before this line appeared (N: any new number), then forward |
//!
//! The kernel on the test machines has no `netem`, so faults are made here, in user
//! space, between a party and the broker.

#![forbid(unsafe_code)]

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    Delay(Duration),
    Stall,
    Blackhole,
    Reset(u64),
}

fn parse(text: &str) -> Mode {
    let mut words = text.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|w| w.parse::<u64>().ok()),
    ) {
        (Some("delay"), Some(ms)) => Mode::Delay(Duration::from_millis(ms)),
        (Some("stall"), _) => Mode::Stall,
        (Some("blackhole"), _) => Mode::Blackhole,
        (Some("reset"), Some(n)) => Mode::Reset(n),
        _ => Mode::Pass,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, target, control] = args.as_slice() else {
        eprintln!("usage: fault-proxy LISTEN TARGET CONTROL");
        std::process::exit(2);
    };
    let listener = match TcpListener::bind(listen.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fault-proxy: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    let (tx, rx) = watch::channel(Mode::Pass);
    let control = control.clone();
    tokio::spawn(async move {
        loop {
            let mode = std::fs::read_to_string(&control)
                .map(|t| parse(&t))
                .unwrap_or(Mode::Pass);
            tx.send_if_modified(|m| {
                let changed = *m != mode;
                *m = mode;
                changed
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        let rx = rx.clone();
        tokio::spawn(async move {
            let epoch = match *rx.borrow() {
                Mode::Reset(n) => n,
                _ => 0,
            };
            let Ok(upstream) = TcpStream::connect(target.as_str()).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (ur, uw) = upstream.into_split();
            tokio::select! {
                _ = pipe(cr, uw, rx.clone(), epoch) => {}
                _ = pipe(ur, cw, rx.clone(), epoch) => {}
            }
        });
    }
}

/// Copies `from` to `to` under the current mode until either side closes or a reset
/// newer than `epoch` arrives.
async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
    epoch: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.changed() => {
                if matches!(*mode.borrow(), Mode::Reset(n) if n > epoch) {
                    return;
                }
                continue;
            }
        };
        loop {
            let current = mode.borrow().clone();
            match current {
                Mode::Pass => break,
                Mode::Reset(n) if n > epoch => return,
                Mode::Reset(_) => break,
                Mode::Delay(d) => {
                    tokio::time::sleep(d).await;
                    break;
                }
                Mode::Blackhole => break,
                Mode::Stall => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if *mode.borrow() == Mode::Blackhole {
            continue;
        }
        if to
            .write_all(buf.get(..n).unwrap_or_default())
            .await
            .is_err()
        {
            return;
        }
    }
}
