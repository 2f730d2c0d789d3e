//! Connecting to the broker: TCP, TLS 1.3 against the pinned certificate, login.

use std::time::Duration;

use backchannel_net::{FrameIoError, FrameReader, tls};
use backchannel_proto::node::{
    LoginKind, NodeFrame, Notice, login_frame, mac_login_frame, parse_node_frame,
};
use tokio::io::{AsyncWriteExt as _, BufWriter, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::PartySettings;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Stream = TlsStream<TcpStream>;

/// A logged-in connection to the broker.
pub(crate) struct Connection {
    pub(crate) reader: FrameReader<ReadHalf<Stream>>,
    pub(crate) writer: BufWriter<WriteHalf<Stream>>,
    pub(crate) queued: u64,
}

/// Why connecting or logging in failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The broker could not be reached (or its name not resolved).
    #[error("cannot reach the broker at {addr}: {source}")]
    Unreachable {
        /// The address, as configured.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// TLS failed (for example: the broker's certificate is not the pinned one).
    #[error("TLS handshake with the broker failed: {0}")]
    Tls(String),
    /// The connection broke during the TLS handshake (closed, reset or cut by the
    /// network), which trying again can cure, unlike a refused certificate.
    #[error("the connection to the broker broke during the TLS handshake: {0}")]
    Interrupted(String),
    /// The broker refused the login.
    #[error("the broker refused the login: {0}")]
    Refused(Notice),
    /// The broker answered something unexpected, or nothing in time.
    #[error("login failed: {0}")]
    Protocol(String),
}

impl ConnectError {
    /// Whether trying again later could help (the broker is down or restarting),
    /// as opposed to a refusal that will not change by itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Unreachable { .. }
                | ConnectError::Interrupted(_)
                | ConnectError::Protocol(_)
        )
    }
}

pub(crate) async fn connect(settings: &PartySettings) -> Result<Connection, ConnectError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(settings))
        .await
        .unwrap_or_else(|_| Err(ConnectError::Protocol("no answer within 10 s".into())))
}

async fn connect_inner(settings: &PartySettings) -> Result<Connection, ConnectError> {
    // A host name is resolved here, on every connection (the broker may move).
    let tcp = TcpStream::connect(settings.broker.as_str())
        .await
        .map_err(|source| ConnectError::Unreachable {
            addr: backchannel_proto::text::plain(&settings.broker),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let server_name = tls::broker_server_name().map_err(|e| ConnectError::Tls(e.to_string()))?;
    let stream = TlsConnector::from(settings.tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| match e.kind() {
            // rustls reports what it refused (a certificate that is not the pinned
            // one, a protocol error) as invalid data; anything else is the network.
            std::io::ErrorKind::InvalidData => ConnectError::Tls(e.to_string()),
            _ => ConnectError::Interrupted(e.to_string()),
        })?;
    let exporter =
        tls::exporter(stream.get_ref().1).map_err(|e| ConnectError::Tls(e.to_string()))?;
    let login = match LoginKind::for_modes(settings.peers.iter().map(|p| p.mode)) {
        LoginKind::Signature => login_frame(&settings.me, &exporter),
        LoginKind::Mac => {
            // The key of the certificate the handshake just checked against the pin.
            let broker = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| tls::broker_public_key(c.as_ref()))
                .ok_or_else(|| {
                    ConnectError::Tls("the broker's certificate holds no Ed25519 key".into())
                })?;
            mac_login_frame(&settings.me, &broker, &exporter)
        }
    }
    .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let (read, write) = tokio::io::split(stream);
    let mut writer = BufWriter::new(write);
    let mut reader = FrameReader::new(read);
    let io = |e: std::io::Error| ConnectError::Protocol(e.to_string());
    writer.write_all(&login).await.map_err(io)?;
    writer.flush().await.map_err(io)?;
    let mut first = Vec::with_capacity(1);
    match reader.read_batch(&mut first, 1).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(ConnectError::Protocol(
                "the broker closed the connection".into(),
            ));
        }
        Err(FrameIoError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(ConnectError::Tls(e.to_string()));
        }
        Err(FrameIoError::Io(e)) => return Err(ConnectError::Interrupted(e.to_string())),
        Err(e) => return Err(ConnectError::Protocol(e.to_string())),
    }
    let frame = first.pop().unwrap_or_default();
    match parse_node_frame(&frame) {
        Ok(NodeFrame::Welcome { queued, .. }) => Ok(Connection {
            reader,
            writer,
            queued,
        }),
        Ok(NodeFrame::Notice(n)) => Err(ConnectError::Refused(n)),
        Ok(_) => Err(ConnectError::Protocol("expected a welcome".into())),
        Err(e) => Err(ConnectError::Protocol(e.to_string())),
    }
}
