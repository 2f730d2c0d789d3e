//! The plain relay baseline, measured in the same run: length-prefixed frames of the
//! benchmark's size from one TLS client, through a relay, to another TLS client, over
//! the same rustls configuration as the broker, with no protocol work at all.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Frames per second the relay carried end to end.
pub async fn measure(size: usize, seconds: Duration) -> anyhow::Result<f64> {
    let cert = backchannel_net::tls::generate_broker_certificate()?;
    let server = backchannel_net::tls::server_config(&cert.cert_pem, &cert.key_pem)?;
    let client = backchannel_net::tls::client_config(&cert.cert_pem)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(server);
    // The relay: the first connection sends, the second receives; bytes are copied.
    let relay = tokio::spawn(async move {
        let (a, _) = listener.accept().await?;
        a.set_nodelay(true)?;
        let mut from = acceptor.accept(a).await?;
        let (b, _) = listener.accept().await?;
        b.set_nodelay(true)?;
        let mut to = acceptor.accept(b).await?;
        tokio::io::copy(&mut from, &mut to).await?;
        to.shutdown().await?;
        Ok::<(), std::io::Error>(())
    });
    let connector = TlsConnector::from(client);
    let name = backchannel_net::tls::broker_server_name()?;
    let tx = TcpStream::connect(addr).await?;
    tx.set_nodelay(true)?;
    let mut sender = connector.connect(name.clone(), tx).await.context("relay")?;
    let rx = TcpStream::connect(addr).await?;
    rx.set_nodelay(true)?;
    let mut receiver = connector.connect(name, rx).await.context("relay")?;
    let frame = {
        let mut f = u32::try_from(size)?.to_be_bytes().to_vec();
        f.resize(4 + size, b'x');
        f
    };
    let deadline = Instant::now() + seconds;
    let send = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(64 * 1024, &mut sender);
        while Instant::now() < deadline {
            for _ in 0..256 {
                w.write_all(&frame).await?;
            }
        }
        w.flush().await?;
        drop(w);
        sender.shutdown().await?;
        Ok::<(), std::io::Error>(())
    });
    let start = Instant::now();
    let mut count = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = 0usize; // bytes of the current frame still to come
    let mut header = Vec::with_capacity(4);
    loop {
        let n = match receiver.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // The end of the run: how the relay's connections close does not matter
            // (an unread session ticket makes a close a reset).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let mut chunk = buf.get(..n).unwrap_or_default();
        while !chunk.is_empty() {
            if pending > 0 {
                let take = pending.min(chunk.len());
                pending -= take;
                chunk = chunk.get(take..).unwrap_or_default();
                if pending == 0 {
                    count += 1;
                }
                continue;
            }
            let need = 4 - header.len();
            let take = need.min(chunk.len());
            header.extend_from_slice(chunk.get(..take).unwrap_or_default());
            chunk = chunk.get(take..).unwrap_or_default();
            if header.len() == 4 {
                let len: [u8; 4] = header.as_slice().try_into().unwrap_or([0; 4]);
                pending = u32::from_be_bytes(len) as usize;
                header.clear();
                if pending == 0 {
                    count += 1;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Only the count matters now; closing errors (resets) are not the relay's speed.
    let _ = send.await;
    let _ = relay.await;
    if count == 0 {
        anyhow::bail!("the plain relay carried nothing");
    }
    Ok(count as f64 / elapsed)
}
