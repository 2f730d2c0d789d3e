//! The party node's control socket: how `send`, `receive` and `pending` hand their
//! work to a running node of the same party instead of opening its files themselves
//! (only one process may own a party).
//!
//! A Unix socket `<state>.sock` beside the party's state, mode 0600, that accepts
//! connections only from the node's own user. One request per connection, one JSON
//! line: `{"send": {...}}`, `{"receive": {...}}` or `{"pending": {...}}`. The node
//! answers with JSON lines `{"out": "..."}` and `{"err": "..."}` (exactly the lines
//! the command would print alone) and ends with `{"exit": code}`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use backchannel_party::PartyConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::pending::PendingRequest;
use crate::receive::ReceiveRequest;
use crate::send::SendRequest;
use crate::session::Sink;
use backchannel_show::Outcome;

/// Longest request line accepted (a message is at most 60 KiB, escaped in JSON).
const MAX_REQUEST: usize = 512 * 1024;
/// Lines buffered for a client that reads slowly before it is cut off.
const CLIENT_BUFFER: usize = 4096;

/// What a client asks the node to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Request {
    /// `backchannel send`.
    Send(SendRequest),
    /// `backchannel receive`.
    Receive(ReceiveRequest),
    /// `backchannel pending`.
    Pending(PendingRequest),
}

/// One line of the node's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// A line of standard output.
    Out(String),
    /// A line of standard error.
    Err(String),
    /// The command's exit code; the last line.
    Exit(u8),
    /// The node is stopping and did not take the request; the only line.
    #[serde(rename = "not-taken")]
    NotTaken,
}

/// The control socket of the party configured in `config`.
pub fn socket_path(config: &Path) -> anyhow::Result<PathBuf> {
    let base = config.parent().unwrap_or(Path::new("."));
    let state = PartyConfig::load(config)?.state_path(base);
    Ok(state.with_extension("sock"))
}

/// A connection to a running node.
pub struct NodeClient {
    stream: UnixStream,
}

/// Connects to the node of the party in `config`, if one is running. A socket file
/// that nobody answers on is a node that died: `None`, and the caller works alone
/// (it will take the party's lock, which a dead process does not hold).
pub async fn connect(config: &Path) -> anyhow::Result<Option<NodeClient>> {
    let path = socket_path(config)?;
    match UnixStream::connect(&path).await {
        Ok(stream) => Ok(Some(NodeClient { stream })),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => {
            Err(e).with_context(|| format!("{}: cannot reach the party node", path.display()))
        }
    }
}

/// Who did, or will do, the work of a command for the party in `config`.
pub enum Owner {
    /// A running node did it; its lines are printed.
    Delegated(Outcome),
    /// This process will: the party's name and the party, opened (its lock taken).
    Me(String, Box<backchannel_party::Party>),
}

/// Hands `request` to a running node if there is one, or opens the party. If the
/// lock is held but no node answers (it is starting, or stopping), tries again for a
/// little while before giving up with the lock error, which names the holder's pid.
pub async fn delegate_or_open(config: &Path, request: &Request) -> anyhow::Result<Owner> {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    let started = tokio::time::Instant::now();
    loop {
        if let Some(node) = connect(config).await? {
            match node.run(request.clone()).await? {
                Some(outcome) => return Ok(Owner::Delegated(outcome)),
                // The node was stopping and did not take it: try again.
                None => continue,
            }
        }
        match crate::open::open_party(config) {
            Ok((me, party)) => return Ok(Owner::Me(me, Box::new(party))),
            Err(e) if is_lock_held(&e) && started.elapsed() < WAIT => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_lock_held(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<backchannel_party::PartyError>(),
            Some(backchannel_party::PartyError::Locked(
                backchannel_party::lock::LockError::Held { .. }
            ))
        )
    })
}

impl NodeClient {
    /// Hands `request` to the node and prints what it answers, as the command would.
    /// `None`: the node is stopping and did not take the request.
    async fn run(self, request: Request) -> anyhow::Result<Option<Outcome>> {
        let (read, mut write) = self.stream.into_split();
        let mut line = serde_json::to_string(&request)?;
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .context("the party node did not take the request")?;
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines
            .next_line()
            .await
            .context("reading from the party node")?
        {
            match serde_json::from_str::<Reply>(&line) {
                Ok(Reply::Out(text)) => println!("{text}"),
                Ok(Reply::Err(text)) => eprintln!("{text}"),
                Ok(Reply::Exit(code)) => return Ok(Some(Outcome::Exit(code))),
                Ok(Reply::NotTaken) => return Ok(None),
                Err(e) => anyhow::bail!("the party node answered something unreadable: {e}"),
            }
        }
        anyhow::bail!(
            "the party node stopped before it finished; what it sealed is in its transcript (see `backchannel pending`)"
        )
    }
}

/// A client's end of the node: lines go to its connection.
pub struct ClientSink {
    tx: mpsc::Sender<Reply>,
}

impl ClientSink {
    fn send(&mut self, reply: Reply) {
        // A client that stopped reading loses its output, never the node's progress.
        let _ = self.tx.try_send(reply);
    }

    /// The last line: the exit code.
    pub fn exit(mut self, code: u8) {
        self.send(Reply::Exit(code));
    }

    /// The only line: the node is stopping, the client should try again.
    pub fn not_taken(mut self) {
        self.send(Reply::NotTaken);
    }
}

impl Sink for ClientSink {
    fn out(&mut self, line: &str) {
        self.send(Reply::Out(line.to_owned()));
    }

    fn err(&mut self, line: &str) {
        self.send(Reply::Err(line.to_owned()));
    }
}

/// A request that reached the node, with where its answer goes.
pub struct Incoming {
    /// What the client asked.
    pub request: Request,
    /// Its output.
    pub sink: ClientSink,
}

/// The node's socket: bound at `path` (a stale file from a dead node is replaced;
/// the caller holds the party's lock, so no live node owns it), mode 0600.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the socket.
    pub fn bind(path: &Path) -> anyhow::Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot replace", path.display())),
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("{}: cannot create the control socket", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("{}: cannot restrict to its owner", path.display()))?;
        }
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    /// Accepts clients until `requests` closes, passing each one's request on.
    pub async fn serve(self, requests: mpsc::Sender<Incoming>) {
        let me = owner_uid(&self.path);
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("control socket: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            // The file mode already keeps others out; this also refuses a socket
            // reached some other way (a copied descriptor, a laxer umask race).
            if let (Ok(cred), Some(me)) = (stream.peer_cred(), me)
                && cred.uid() != me
            {
                tracing::warn!("control socket: refused a client of uid {}", cred.uid());
                continue;
            }
            let requests = requests.clone();
            tokio::spawn(serve_client(stream, requests));
        }
    }

    /// Removes the socket file (the node is stopping).
    pub fn remove(path: &Path) {
        let _ = std::fs::remove_file(path);
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The uid that owns the socket file: the node's own.
fn owner_uid(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

async fn serve_client(stream: UnixStream, requests: mpsc::Sender<Incoming>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let read = tokio::io::AsyncReadExt::take(&mut reader, MAX_REQUEST as u64)
        .read_until(b'\n', &mut line)
        .await;
    let (tx, mut rx) = mpsc::channel(CLIENT_BUFFER);
    match read.map(|_| serde_json::from_slice::<Request>(&line)) {
        Ok(Ok(request)) => {
            let sink = ClientSink { tx };
            if let Err(refused) = requests.send(Incoming { request, sink }).await {
                refused.0.sink.not_taken();
            }
        }
        Ok(Err(e)) => {
            let mut sink = ClientSink { tx };
            sink.err(&format!(
                "backchannel: the party node cannot read the request: {e}"
            ));
            sink.exit(2);
        }
        Err(_) => return,
    }
    while let Some(reply) = rx.recv().await {
        let Ok(mut text) = serde_json::to_string(&reply) else {
            continue;
        };
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            return;
        }
        if matches!(reply, Reply::Exit(_) | Reply::NotTaken) {
            let _ = write.shutdown().await;
            return;
        }
    }
}
