//! The thread that owns the durable store and commits for everyone (group commit).
//!
//! A commit waits for the disk (an fsync, ~0.5 ms here), which must not stall the
//! async runtime, so the store lives on its own thread. Requests that arrive while a
//! commit runs are gathered into the next one: appends from the router (which waits
//! for its commit before a frame becomes deliverable; all of them become one group)
//! and deliveries reported by sessions (no one waits for those). The thread counts,
//! per group, the frames not yet written to their recipient, and removes the group
//! with the commit after its count reaches zero.

use std::collections::HashMap;

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
    Delivered(Vec<u64>),
}

/// The frames handed to [`StoreWriter::append`], back, with their group's id once
/// committed (0: they were empty) or why the commit failed.
pub(crate) type Committed = (Vec<Append>, Result<u64, String>);

/// Most requests gathered into one commit.
const GATHER: usize = 256;

/// The handle the router and the sessions use; the thread ends when every handle is
/// dropped.
#[derive(Clone, Debug)]
pub(crate) struct StoreWriter {
    tx: std_mpsc::Sender<Request>,
}

impl StoreWriter {
    /// Starts the thread that owns `store`; `waiting` counts, per group, the frames
    /// reloaded from it that are still to be delivered.
    pub(crate) fn start(store: Store, waiting: HashMap<u64, usize>) -> std::io::Result<Self> {
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("broker-store".into())
            .spawn(move || run(store, waiting, rx))?;
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

    /// Frames of these groups (one id per frame) were written to their recipient. A
    /// group is removed with the commit after its last frame is (a crash before that
    /// delivers its frames again, which their recipients drop as replays).
    pub(crate) fn delivered(&self, groups: Vec<u64>) {
        if !groups.is_empty() {
            let _ = self.tx.send(Request::Delivered(groups));
        }
    }
}

fn run(mut store: Store, mut waiting: HashMap<u64, usize>, rx: std_mpsc::Receiver<Request>) {
    // Groups reloaded with nothing left to deliver go with the first commit.
    let mut finished: Vec<u64> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(g, _)| *g)
        .collect();
    waiting.retain(|_, n| *n > 0);
    while let Ok(first) = rx.recv() {
        let mut requests = vec![first];
        while requests.len() < GATHER {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        let mut appends: Vec<(Vec<Append>, oneshot::Sender<Committed>)> = Vec::new();
        for r in requests {
            match r {
                Request::Append { frames, done } => appends.push((frames, done)),
                Request::Delivered(groups) => {
                    for g in groups {
                        if let Some(n) = waiting.get_mut(&g) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                waiting.remove(&g);
                                finished.push(g);
                            }
                        }
                    }
                }
            }
        }
        if appends.is_empty() && finished.is_empty() {
            continue;
        }
        let all = appends
            .iter()
            .flat_map(|(frames, _)| frames.iter())
            .map(|(to, from, frame)| (to.as_str(), &**from, frame.as_slice()));
        let count: usize = appends.iter().map(|(f, _)| f.len()).sum();
        match store.commit(all, finished.iter().copied()) {
            Ok(group) => {
                finished.clear();
                let group = group.unwrap_or(0);
                if count > 0 {
                    waiting.insert(group, count);
                }
                for (frames, done) in appends {
                    let _ = done.send((frames, Ok(group)));
                }
            }
            Err(e) => {
                // The finished groups stay listed and are removed with a later commit.
                tracing::error!(target: "broker", "store commit failed: {e}");
                for (frames, done) in appends {
                    let _ = done.send((frames, Err(e.to_string())));
                }
            }
        }
    }
}
