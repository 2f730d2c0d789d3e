//! The thread that owns the durable store and commits for everyone (group commit).
//!
//! A commit waits for the disk (an fsync, ~0.5 ms here) and costs the store some CPU,
//! which must not stall the async runtime, so the store lives on its own thread.
//! Requests that arrive while a commit runs are gathered into the next one.
//!
//! Each batch the router accepts is one **group**, with an id taken from
//! [`StoreWriter::next_group`] before it is stored. The thread counts, per group, the
//! frames not yet written to their recipient (sessions report deliveries, possibly
//! before the group's append arrives: counts may go below zero for a while). A group
//! whose frames were all written before its turn to be committed is never written at
//! all: frames for a recipient that is online and reading cost the store nothing.
//! A group whose count reaches zero after it was committed is removed with a later
//! commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::store::{NewGroup, Store};

/// A frame to append: (recipient, from, frame).
pub(crate) type Append = (String, Arc<str>, Vec<u8>);

/// The frames handed to [`StoreWriter::append`], back, once committed (or why the
/// commit failed).
pub(crate) type Committed = (Vec<Append>, Result<(), String>);

enum Request {
    Append {
        group: u64,
        frames: Vec<Append>,
        done: Option<oneshot::Sender<Committed>>,
    },
    Delivered(Vec<u64>),
}

/// Most requests gathered into one commit.
const GATHER: usize = 256;

/// How long frames whose recipient is reading may wait for their delivery before
/// they are stored (`proto-spec/nodes.md` §3.1: what a crash can lose).
const WRITE_BEHIND_GRACE: Duration = Duration::from_millis(10);

/// The handle the router and the sessions use; the thread ends when every handle is
/// dropped.
#[derive(Clone, Debug)]
pub(crate) struct StoreWriter {
    tx: std_mpsc::Sender<Request>,
    next_group: Arc<AtomicU64>,
}

impl StoreWriter {
    /// Starts the thread that owns `store`; `waiting` counts, per group, the frames
    /// reloaded from it that are still to be delivered.
    pub(crate) fn start(store: Store, waiting: HashMap<u64, usize>) -> std::io::Result<Self> {
        let (tx, rx) = std_mpsc::channel();
        let next_group = Arc::new(AtomicU64::new(store.next_id()));
        let waiting = waiting
            .into_iter()
            .map(|(g, n)| (g, i64::try_from(n).unwrap_or(i64::MAX)))
            .collect();
        std::thread::Builder::new()
            .name("broker-store".into())
            .spawn(move || run(store, waiting, rx))?;
        Ok(StoreWriter { tx, next_group })
    }

    /// The id of a new group (ids only grow).
    pub(crate) fn next_group(&self) -> u64 {
        self.next_group.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores `frames` as `group`; returns them once the group is durable (or was
    /// delivered before it had to be), or why the commit failed. (If the store thread
    /// is gone the frames are gone with it; their senders still hold them.)
    pub(crate) async fn append(&self, group: u64, frames: Vec<Append>) -> Committed {
        let (done, wait) = oneshot::channel();
        let stopped = "the store thread stopped".to_owned();
        if let Err(std_mpsc::SendError(Request::Append { frames, .. })) =
            self.tx.send(Request::Append {
                group,
                frames,
                done: Some(done),
            })
        {
            return (frames, Err(stopped));
        }
        wait.await.unwrap_or((Vec::new(), Err(stopped)))
    }

    /// Stores `frames` as `group` without waiting (their recipient is reading: they
    /// are usually delivered, and then never written, before the commit).
    pub(crate) fn append_later(&self, group: u64, frames: Vec<Append>) {
        let _ = self.tx.send(Request::Append {
            group,
            frames,
            done: None,
        });
    }

    /// Frames of these groups (one id per frame) were written to their recipient, or
    /// replaced in their mailbox by a newer heartbeat: they no longer wait.
    pub(crate) fn delivered(&self, groups: Vec<u64>) {
        if !groups.is_empty() {
            let _ = self.tx.send(Request::Delivered(groups));
        }
    }
}

type Pending = (u64, Vec<Append>, Option<oneshot::Sender<Committed>>);

fn run(mut store: Store, mut waiting: HashMap<u64, i64>, rx: std_mpsc::Receiver<Request>) {
    // Groups reloaded with nothing left to deliver go with the first commit.
    let mut finished: Vec<u64> = waiting
        .iter()
        .filter(|(_, n)| **n <= 0)
        .map(|(g, _)| *g)
        .collect();
    waiting.retain(|_, n| *n > 0);
    // Groups in the store (the others are counted but not written yet).
    let mut stored: std::collections::HashSet<u64> = waiting.keys().copied().collect();
    while let Ok(first) = rx.recv() {
        let mut requests = vec![first];
        // Frames stored behind their delivery get a short grace to be delivered
        // first (then they are never written); a group the router waits for does not.
        let grace_ends = Instant::now() + WRITE_BEHIND_GRACE;
        while requests.len() < GATHER {
            let urgent = requests
                .iter()
                .any(|r| matches!(r, Request::Append { done: Some(_), .. }));
            let behind = requests
                .iter()
                .any(|r| matches!(r, Request::Append { done: None, .. }));
            let wait = grace_ends.saturating_duration_since(Instant::now());
            let next = if urgent || !behind || wait.is_zero() {
                rx.try_recv().ok()
            } else {
                rx.recv_timeout(wait).ok()
            };
            match next {
                Some(r) => requests.push(r),
                None => break,
            }
        }
        let mut pending: Vec<Pending> = Vec::new();
        for r in requests {
            match r {
                Request::Append {
                    group,
                    frames,
                    done,
                } => {
                    *waiting.entry(group).or_insert(0) +=
                        i64::try_from(frames.len()).unwrap_or(i64::MAX);
                    pending.push((group, frames, done));
                }
                Request::Delivered(groups) => {
                    for g in groups {
                        *waiting.entry(g).or_insert(0) -= 1;
                    }
                }
            }
        }
        // Whatever is fully delivered needs no writing, or can go.
        let done: Vec<u64> = waiting
            .iter()
            .filter(|(g, n)| **n <= 0 && !pending.iter().any(|p| p.0 == **g))
            .map(|(g, _)| *g)
            .collect();
        for g in done {
            waiting.remove(&g);
            if stored.remove(&g) {
                finished.push(g);
            }
        }
        let (write, skip): (Vec<Pending>, Vec<Pending>) = pending
            .into_iter()
            .partition(|p| waiting.get(&p.0).is_some_and(|n| *n > 0));
        for (g, frames, done) in skip {
            waiting.remove(&g);
            if let Some(done) = done {
                let _ = done.send((frames, Ok(())));
            }
        }
        if write.is_empty() && finished.is_empty() {
            continue;
        }
        let groups: Vec<NewGroup<'_>> = write
            .iter()
            .map(|(id, frames, _)| NewGroup {
                id: *id,
                frames: frames
                    .iter()
                    .map(|(to, from, frame)| (to.as_str(), &**from, frame.as_slice()))
                    .collect(),
            })
            .collect();
        let result = store.commit(&groups, finished.iter().copied());
        drop(groups);
        match result {
            Ok(()) => {
                finished.clear();
                for (g, frames, done) in write {
                    stored.insert(g);
                    if let Some(done) = done {
                        let _ = done.send((frames, Ok(())));
                    }
                }
            }
            Err(e) => {
                // The finished groups stay listed and are removed with a later commit;
                // the frames stay in memory (their senders hold them too).
                tracing::error!(target: "broker", "store commit failed: {e}");
                for (g, frames, done) in write {
                    waiting.remove(&g);
                    if let Some(done) = done {
                        let _ = done.send((frames, Err(e.to_string())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use std::path::{Path, PathBuf};

    use super::*;
    use crate::store::Recovered;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "backchannel-store-writer-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("broker.store")
    }

    /// Reopens the store once the writer's thread has let go of it.
    fn reopen(path: &Path) -> Recovered {
        let started = Instant::now();
        loop {
            match Store::open(path, &[9; 32]) {
                Ok((_, found)) => return found,
                Err(e) if started.elapsed() > Duration::from_secs(5) => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn frames(n: usize) -> Vec<Append> {
        (0..n)
            .map(|i| ("bravo".to_owned(), Arc::from("alpha"), vec![i as u8; 10]))
            .collect()
    }

    #[tokio::test]
    async fn a_group_the_router_waits_for_is_durable_and_goes_once_delivered() {
        let path = scratch("durable");
        let (store, _) = Store::open(&path, &[9; 32]).unwrap();
        let writer = StoreWriter::start(store, HashMap::new()).unwrap();
        let g = writer.next_group();
        let (back, committed) = writer.append(g, frames(3)).await;
        committed.unwrap();
        assert_eq!(back.len(), 3);
        drop(writer);
        let found = reopen(&path);
        assert_eq!(found.frames.len(), 3);

        // Reloaded with 3 waiting; once all 3 are delivered, the group is removed.
        let (store, _) = Store::open(&path, &[9; 32]).unwrap();
        let writer = StoreWriter::start(store, HashMap::from([(g, 3)])).unwrap();
        writer.delivered(vec![g, g]);
        let g2 = writer.next_group();
        assert!(g2 > g);
        writer.append(g2, frames(1)).await.1.unwrap();
        writer.delivered(vec![g]);
        // One more durable commit carries the removal.
        let g3 = writer.next_group();
        writer.append(g3, frames(1)).await.1.unwrap();
        drop(writer);
        let found = reopen(&path);
        let groups: Vec<u64> = found.frames.iter().map(|f| f.group).collect();
        assert_eq!(groups, vec![g2, g3]);
    }

    #[tokio::test]
    async fn frames_delivered_within_the_grace_are_never_written() {
        let path = scratch("behind");
        let (store, _) = Store::open(&path, &[9; 32]).unwrap();
        let writer = StoreWriter::start(store, HashMap::new()).unwrap();
        let delivered = writer.next_group();
        writer.append_later(delivered, frames(2));
        writer.delivered(vec![delivered, delivered]);
        // Not delivered within the grace: written.
        let kept = writer.next_group();
        writer.append_later(kept, frames(1));
        tokio::time::sleep(WRITE_BEHIND_GRACE * 5).await;
        // A durable commit after both, so the state on disk is settled.
        let last = writer.next_group();
        writer.append(last, frames(1)).await.1.unwrap();
        drop(writer);
        let found = reopen(&path);
        let groups: Vec<u64> = found.frames.iter().map(|f| f.group).collect();
        assert_eq!(groups, vec![kept, last]);
    }
}
