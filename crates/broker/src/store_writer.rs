//! The thread that owns the durable store and commits for everyone (group commit).
//!
//! A commit waits for the disk (an fsync, ~0.5 ms here), which must not stall the
//! async runtime, so the store lives on its own thread. Requests that arrive while a
//! commit runs are gathered into the next one: appends from the router (which waits
//! for its commit before a frame becomes deliverable) and removals from sessions
//! (frames written to their recipient; no one waits for those).

use std::sync::mpsc as std_mpsc;

use tokio::sync::oneshot;

use crate::store::Store;

/// A frame to append: (recipient, from, frame).
pub(crate) type Append = (String, std::sync::Arc<str>, Vec<u8>);

enum Request {
    Append {
        frames: Vec<Append>,
        done: oneshot::Sender<Committed>,
    },
    Remove(Vec<(String, u64)>),
}

/// The frames handed to [`StoreWriter::append`], back, with their ids once
/// committed or why the commit failed.
pub(crate) type Committed = (Vec<Append>, Result<Vec<u64>, String>);

/// Most requests gathered into one commit.
const GATHER: usize = 256;

/// The handle the router and the sessions use; the thread ends when every handle is
/// dropped.
#[derive(Clone, Debug)]
pub(crate) struct StoreWriter {
    tx: std_mpsc::Sender<Request>,
}

impl StoreWriter {
    /// Starts the thread that owns `store`.
    pub(crate) fn start(store: Store) -> std::io::Result<Self> {
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("broker-store".into())
            .spawn(move || run(store, rx))?;
        Ok(StoreWriter { tx })
    }

    /// Appends `frames` durably; returns them with their ids once committed, or why
    /// not. (If the store thread is gone the frames are gone with it; their senders
    /// still hold them unacknowledged.)
    pub(crate) async fn append(&self, frames: Vec<Append>) -> Committed {
        let (done, wait) = oneshot::channel();
        let stopped = "the store thread stopped".to_owned();
        if let Err(std_mpsc::SendError(Request::Append { frames, .. })) =
            self.tx.send(Request::Append { frames, done })
        {
            return (frames, Err(stopped));
        }
        wait.await.unwrap_or((Vec::new(), Err(stopped)))
    }

    /// Forgets frames that were written to their recipient (committed with the next
    /// group; a crash before that delivers them again, which the recipient drops as
    /// replays).
    pub(crate) fn remove(&self, entries: Vec<(String, u64)>) {
        if !entries.is_empty() {
            let _ = self.tx.send(Request::Remove(entries));
        }
    }
}

fn run(mut store: Store, rx: std_mpsc::Receiver<Request>) {
    while let Ok(first) = rx.recv() {
        let mut requests = vec![first];
        while requests.len() < GATHER {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        let mut appends: Vec<(Vec<Append>, oneshot::Sender<_>)> = Vec::new();
        let mut removes: Vec<(String, u64)> = Vec::new();
        for r in requests {
            match r {
                Request::Append { frames, done } => appends.push((frames, done)),
                Request::Remove(entries) => removes.extend(entries),
            }
        }
        let all = appends
            .iter()
            .flat_map(|(frames, _)| frames.iter())
            .map(|(to, from, frame)| (to.as_str(), &**from, frame.as_slice()));
        let result = store.commit(all, removes.iter().map(|(to, id)| (to.as_str(), *id)));
        match result {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                for (frames, done) in appends {
                    let mine: Vec<u64> = ids.by_ref().take(frames.len()).collect();
                    let _ = done.send((frames, Ok(mine)));
                }
            }
            Err(e) => {
                tracing::error!(target: "broker", "store commit failed: {e}");
                for (frames, done) in appends {
                    let _ = done.send((frames, Err(e.to_string())));
                }
            }
        }
    }
}
