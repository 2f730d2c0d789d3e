//! A real broker over TLS on loopback in this process, and the parties' settings for
//! it: shared by the party crate's integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backchannel_broker::{BrokerSettings, Honest};
use backchannel_party::crash::CrashPoints;
use backchannel_party::{Activity, Party, PartySettings};
use backchannel_proto::{
    Body, ChannelConfig, ChannelMode, PartyName, PeerPolicy, PublicIdentity, SigningIdentity,
};
use tokio::sync::oneshot;
use tokio_rustls::rustls::ClientConfig;

pub fn identity(name: &str, seed: u8) -> SigningIdentity {
    SigningIdentity::from_secret_bytes(PartyName::new(name).unwrap(), &[seed; 32])
}

pub struct World {
    pub dir: PathBuf,
    pub addr: std::net::SocketAddr,
    pub tls: Arc<ClientConfig>,
    pub alpha: SigningIdentity,
    pub bravo: SigningIdentity,
    pub mode: ChannelMode,
    stop: Option<oneshot::Sender<()>>,
}

impl World {
    pub async fn start(tag: &str, mode: ChannelMode) -> World {
        Self::start_reporting(tag, mode, None).await
    }

    /// A world whose broker reports what it does to `events`.
    pub async fn start_reporting(
        tag: &str,
        mode: ChannelMode,
        events: Option<tokio::sync::mpsc::Sender<backchannel_broker::BrokerEvent>>,
    ) -> World {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "backchannel-crash-{tag}-{}-{run}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (alpha, bravo) = (identity("alpha", 1), identity("bravo", 2));
        let cert = backchannel_net::tls::generate_broker_certificate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = BrokerSettings::from_pem(
            &cert.cert_pem,
            &cert.key_pem,
            Arc::new(vec![alpha.public(), bravo.public()]),
        )
        .unwrap();
        settings.quotas.frames = 1000;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(backchannel_broker::run(
            settings,
            listener,
            Box::new(Honest),
            events,
            async {
                let _ = stopped.await;
            },
        ));
        World {
            dir,
            addr,
            tls: backchannel_net::tls::client_config(&cert.cert_pem).unwrap(),
            alpha,
            bravo,
            mode,
            stop: Some(stop),
        }
    }

    pub fn settings(&self, me: &SigningIdentity, peer: &SigningIdentity) -> PartySettings {
        PartySettings {
            me: me.clone(),
            broker: self.addr.to_string(),
            tls: self.tls.clone(),
            peers: vec![PeerPolicy::new(
                &me.public(),
                peer.public(),
                self.mode,
                "main",
            )],
            channel: ChannelConfig {
                ack_timeout: Duration::from_millis(300),
                heartbeat_interval: None,
                ..ChannelConfig::default()
            },
            transcript: self.dir.join(format!("{}.transcript", me.name())),
            state: self.dir.join(format!("{}.state", me.name())),
        }
    }

    pub fn open(&self, me: &SigningIdentity, peer: &SigningIdentity, crash: CrashPoints) -> Party {
        let mut party =
            Party::open_with_crash_points_for_testing_only(self.settings(me, peer), crash)
                .unwrap_or_else(|e| panic!("{} does not open after a crash: {e}", me.name()));
        // Snapshots every few records, so the crash points inside them are reached.
        party.set_snapshot_interval(3);
        party
    }

    pub fn keys(&self) -> Vec<PublicIdentity> {
        vec![self.alpha.public(), self.bravo.public()]
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The words of `a`, if it is an accepted text.
pub fn accepted_text(a: &Activity) -> Option<String> {
    match a {
        Activity::Received(r) if r.verdict.is_ok() => match r.body() {
            Some(Body::Text(t)) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}
