//! A broker started inside this process on a loopback port, with a fresh certificate.
//! The only place anything in this workspace starts an in-process broker: every run
//! ([`Stage`](crate::Stage)) and the lab's outsider rows connect to one of these.

use std::sync::Arc;
use std::time::Duration;

use backchannel_broker::{BrokerEvent, BrokerSettings, RelayStrategy};
use backchannel_proto::PublicIdentity;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ClientConfig;

use crate::StageError;

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

fn setup(what: &str) -> impl FnOnce(String) -> StageError + '_ {
    move |e| StageError::Setup(format!("the broker's {what}: {e}"))
}

impl LocalBroker {
    /// Starts a broker for `registered` that relays through `strategy`, reporting to
    /// `events` if given.
    pub async fn start(
        registered: Vec<PublicIdentity>,
        strategy: Box<dyn RelayStrategy>,
        events: Option<mpsc::Sender<BrokerEvent>>,
    ) -> Result<Self, StageError> {
        let cert = backchannel_net::tls::generate_broker_certificate()
            .map_err(|e| setup("certificate")(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| StageError::Io {
                what: "a loopback port for the broker".to_owned(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StageError::Io {
            what: "the broker's address".to_owned(),
            source,
        })?;
        let mut settings =
            BrokerSettings::from_pem(&cert.cert_pem, &cert.key_pem, Arc::new(registered))
                .map_err(|e| setup("settings")(e.to_string()))?;
        settings.quotas.frames = 1000;
        let client_tls = backchannel_net::tls::client_config(&cert.cert_pem)
            .map_err(|e| setup("client configuration")(e.to_string()))?;
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
            client_tls,
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
