//! A broker started inside this process on a loopback port, with a fresh certificate:
//! what the demo and the attack lab run their parties against.

use std::sync::Arc;
use std::time::Duration;

use backchannel_broker::{BrokerEvent, BrokerSettings, RelayStrategy};
use backchannel_proto::PublicIdentity;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ClientConfig;

/// A running in-process broker.
pub struct LocalBroker {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: std::net::SocketAddr,
    /// A client configuration that pins its certificate.
    pub client_tls: Arc<ClientConfig>,
    stop: oneshot::Sender<()>,
    /// In memory only (no store), so it cannot fail to open one.
    task: JoinHandle<Result<(), backchannel_broker::store::StoreError>>,
}

impl LocalBroker {
    /// Starts a broker for `registered` that relays through `strategy`, reporting to
    /// `events` if given.
    pub async fn start(
        registered: Vec<PublicIdentity>,
        strategy: Box<dyn RelayStrategy>,
        events: Option<mpsc::Sender<BrokerEvent>>,
    ) -> anyhow::Result<Self> {
        let cert = backchannel_net::tls::generate_broker_certificate()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut settings =
            BrokerSettings::from_pem(&cert.cert_pem, &cert.key_pem, Arc::new(registered))?;
        settings.quotas.frames = 1000;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(backchannel_broker::run(
            settings,
            listener,
            strategy,
            events,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(LocalBroker {
            addr,
            client_tls: backchannel_net::tls::client_config(&cert.cert_pem)?,
            stop,
            task,
        })
    }

    /// Stops it and waits (at most 5 s) for it to close every session.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
