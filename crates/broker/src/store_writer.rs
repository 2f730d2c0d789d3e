//! The thread that owns the durable store and commits for everyone (group commit).
//!
//! A commit waits for the disk (an fsync, ~0.5 ms here) and costs the store some CPU,
//! which must not stall the async runtime, so the store lives on its own thread.
//! Requests that arrive while a commit runs are gathered into the next one, and only
//! an awaited append wakes the thread at once (see [`Shared`]).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::mailbox::SharedFrame;
use crate::store::{NewGroup, Store};

/// A frame to append: (recipient, from, frame). The frame's bytes are the ones its
/// mailbox holds, not a copy.
pub(crate) type Append = (Arc<str>, Arc<str>, SharedFrame);

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

/// How long frames whose recipient is reading may wait for their delivery before
/// they are stored (`proto-spec/nodes.md` §3.1: what a crash can lose).
const WRITE_BEHIND_GRACE: Duration = Duration::from_millis(10);

/// What the handles have handed over and the thread has not taken yet.
#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    /// Appends someone awaits among `requests`: the thread does not wait for them.
    urgent: usize,
    /// Write-behind appends among `requests`: the thread gives them the grace.
    behind: bool,
    /// The thread waits with nothing to do: the next request must wake it.
    idle: bool,
    /// Every handle is gone: the thread ends once the queue is empty.
    closed: bool,
    /// The thread has ended (or panicked): nothing pushed now would ever be handled.
    stopped: bool,
}

/// The queue and the condition the thread sleeps on.
///
/// Not a channel: a channel wakes the thread for every request, which in a busy
/// broker was a thread switch per batch relayed and another per batch delivered.
/// Here only an awaited append, or the first request into an idle thread's empty
/// queue, wakes it; write-behind appends and deliveries that come meanwhile are
/// picked up when its grace ends.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// How many times a request woke the thread (for the test that keeps it low).
    wakes: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic elsewhere while holding the lock leaves a queue that is still
        // consistent (every change to it is a single push or take).
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands `request` to the thread, or gives it back if the thread has stopped.
    fn push(&self, request: Request) -> Result<(), Request> {
        let mut q = self.lock();
        if q.stopped {
            return Err(request);
        }
        let urgent = matches!(request, Request::Append { done: Some(_), .. });
        if urgent {
            q.urgent += 1;
        }
        if matches!(request, Request::Append { done: None, .. }) {
            q.behind = true;
        }
        q.requests.push(request);
        if urgent || q.idle {
            q.idle = false;
            self.wakes.fetch_add(1, Ordering::Relaxed);
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Marks the queue stopped when the thread ends, however it ends, and drops what is
/// left in it: an awaited append then learns that its group will not be stored instead
/// of waiting forever.
struct StopOnExit<'a>(&'a Shared);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        let left = {
            let mut q = self.0.lock();
            q.stopped = true;
            std::mem::take(&mut q.requests)
        };
        drop(left);
    }
}

/// Closes the queue when the last [`StoreWriter`] is dropped.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// The handle the router and the sessions use; the thread ends when every handle is
/// dropped.
#[derive(Clone)]
pub(crate) struct StoreWriter {
    closer: Arc<Closer>,
    next_group: Arc<AtomicU64>,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("next_group", &self.next_group)
            .finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// Starts the thread that owns `store`; `waiting` counts, per group, the frames
    /// reloaded from it that are still to be delivered.
    pub(crate) fn start(store: Store, waiting: HashMap<u64, usize>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let next_group = Arc::new(AtomicU64::new(store.next_id()));
        let waiting = waiting
            .into_iter()
            .map(|(g, n)| (g, i64::try_from(n).unwrap_or(i64::MAX)))
            .collect();
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("broker-store".into())
            .spawn(move || run(store, waiting, &theirs))?;
        Ok(StoreWriter {
            closer: Arc::new(Closer(shared)),
            next_group,
        })
    }

    fn shared(&self) -> &Shared {
        &self.closer.0
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
        let stopped = || "the store thread stopped".to_owned();
        if let Err(Request::Append { frames, .. }) = self.shared().push(Request::Append {
            group,
            frames,
            done: Some(done),
        }) {
            return (frames, Err(stopped()));
        }
        wait.await.unwrap_or_else(|_| (Vec::new(), Err(stopped())))
    }

    /// Stores `frames` as `group` without waiting (their recipient is reading: they
    /// are usually delivered, and then never written, before the commit).
    pub(crate) fn append_later(&self, group: u64, frames: Vec<Append>) {
        // If the thread has stopped they are dropped here: their senders still hold
        // them unacknowledged.
        let _ = self.shared().push(Request::Append {
            group,
            frames,
            done: None,
        });
    }

    /// Frames of these groups (one id per frame) were written to their recipient, or
    /// replaced in their mailbox by a newer heartbeat: they no longer wait.
    pub(crate) fn delivered(&self, groups: Vec<u64>) {
        if !groups.is_empty() {
            let _ = self.shared().push(Request::Delivered(groups));
        }
    }
}

/// The requests to handle next, once there are any (waiting out the grace for
/// write-behind appends unless an awaited one comes); `None` once every handle is
/// gone and nothing is left.
fn next_requests(shared: &Shared) -> Option<Vec<Request>> {
    let mut q = shared.lock();
    while q.requests.is_empty() {
        if q.closed {
            return None;
        }
        q.idle = true;
        q = shared
            .wake
            .wait(q)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    q.idle = false;
    // Frames stored behind their delivery get a short grace to be delivered first
    // (then they are never written); a group the router waits for does not.
    let grace_ends = Instant::now() + WRITE_BEHIND_GRACE;
    while q.urgent == 0 && q.behind && !q.closed {
        let left = grace_ends.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        q = shared
            .wake
            .wait_timeout(q, left)
            .map(|(q, _)| q)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0);
    }
    q.urgent = 0;
    q.behind = false;
    Some(std::mem::take(&mut q.requests))
}

type Pending = (u64, Vec<Append>, Option<oneshot::Sender<Committed>>);

fn run(mut store: Store, mut waiting: HashMap<u64, i64>, shared: &Shared) {
    let _stop_on_exit = StopOnExit(shared);
    // Groups reloaded with nothing left to deliver go with the first commit.
    let mut finished: Vec<u64> = waiting
        .iter()
        .filter(|(_, n)| **n <= 0)
        .map(|(g, _)| *g)
        .collect();
    waiting.retain(|_, n| *n > 0);
    // Groups in the store (the others are counted but not written yet).
    let mut stored: std::collections::HashSet<u64> = waiting.keys().copied().collect();
    while let Some(requests) = next_requests(shared) {
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
                    .map(|(to, from, frame)| (&**to, &**from, frame.as_slice()))
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
            .map(|i| {
                (
                    Arc::from("bravo"),
                    Arc::from("alpha"),
                    Arc::new(vec![i as u8; 10]),
                )
            })
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
    async fn write_behind_appends_and_deliveries_do_not_wake_the_thread_each_time() {
        let path = scratch("wakes");
        let (store, _) = Store::open(&path, &[9; 32]).unwrap();
        let writer = StoreWriter::start(store, HashMap::new()).unwrap();
        // Let the thread reach its idle wait first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        for _ in 0..200 {
            let g = writer.next_group();
            writer.append_later(g, frames(1));
            writer.delivered(vec![g]);
        }
        // A relay of 200 batches woke the thread 400 times through a channel; now the
        // first request wakes it and the rest wait for the end of its grace (a machine
        // that stalls this loop for longer than a grace allows one more per grace).
        let graces = started.elapsed().as_millis() / WRITE_BEHIND_GRACE.as_millis();
        let wakes = u128::from(writer.shared().wakes.load(Ordering::Relaxed));
        assert!(
            wakes <= 2 + graces,
            "{wakes} wakes for 400 write-behind requests"
        );
        // An awaited append wakes it at once, and everything delivered was skipped.
        let last = writer.next_group();
        writer.append(last, frames(1)).await.1.unwrap();
        drop(writer);
        let found = reopen(&path);
        let stored: Vec<u64> = found.frames.iter().map(|f| f.group).collect();
        assert_eq!(stored, vec![last]);
    }

    #[tokio::test]
    async fn appends_do_not_wait_for_a_store_thread_that_stopped() {
        let shared = Arc::new(Shared::default());
        let writer = StoreWriter {
            closer: Arc::new(Closer(Arc::clone(&shared))),
            next_group: Arc::new(AtomicU64::new(1)),
        };
        // One append is queued when the thread ends (however it ends) ...
        let queued = tokio::spawn({
            let writer = writer.clone();
            async move { writer.append(writer.next_group(), frames(2)).await }
        });
        while shared.lock().requests.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(StopOnExit(&shared));
        let limit = Duration::from_secs(5);
        let (_, committed) = tokio::time::timeout(limit, queued).await.unwrap().unwrap();
        assert!(committed.unwrap_err().contains("stopped"));
        // ... and one comes after: both learn it at once, the later one with its frames.
        let (back, committed) =
            tokio::time::timeout(limit, writer.append(writer.next_group(), frames(3)))
                .await
                .unwrap();
        assert_eq!(back.len(), 3);
        assert!(committed.unwrap_err().contains("stopped"));
        // Write-behind requests are dropped without blocking.
        writer.append_later(writer.next_group(), frames(1));
        writer.delivered(vec![1]);
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
