//! One bounded mailbox per registered party, and the hand-over of a mailbox from one
//! session of a party to the next.
//!
//! A mailbox is bounded four ways ([`Quotas`]): envelopes and bytes in all, and
//! envelopes and bytes per sender, so no registered party can fill another's mailbox
//! and crowd out everyone else (`proto-spec/nodes.md` §3.2). Space is reserved by the
//! router before a frame is stored and released only once the frame was written to
//! the recipient's connection, so what the broker holds in memory for a mailbox never
//! exceeds its byte budget. A batch a session took but could not write is put back at
//! the front, so a session that closes loses nothing.
//!
//! A heartbeat only announces its sender's chain head and acknowledgement, which the
//! next heartbeat on the same channel states again, later; so a mailbox keeps at most
//! one queued heartbeat per (sender, channel), the newest (`proto-spec/nodes.md`
//! §3.2). A party that stays offline collects one heartbeat per channel, not one per
//! interval.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use backchannel_proto::relay::{QueueLimit, Refusal};
use backchannel_proto::{BodyKind, ChannelId, Envelope, EnvelopeIn, PublicIdentity};
use tokio::sync::{Notify, OwnedMutexGuard, watch};

/// The limits of every mailbox (`[quotas]` and `queue_limit` in `broker.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Envelopes waiting per recipient.
    pub frames: usize,
    /// Bytes waiting per recipient.
    pub bytes: usize,
    /// Envelopes waiting per (sender, recipient).
    pub sender_frames: usize,
    /// Bytes waiting per (sender, recipient).
    pub sender_bytes: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            frames: 10_000,
            bytes: 32 << 20,
            sender_frames: 2_500,
            sender_bytes: 8 << 20,
        }
    }
}

/// A frame's bytes, shared by its mailbox and the store thread (which writes it only
/// if it is still waiting when its turn comes): relaying a frame copies it nowhere.
pub(crate) type SharedFrame = Arc<Vec<u8>>;

/// A frame waiting for its recipient.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The durable store's group it is part of (0 when it is not stored).
    pub(crate) group: u64,
    /// Whose envelope it is, for the per-sender quota.
    pub(crate) from: Arc<str>,
    /// The bytes to deliver.
    pub(crate) frame: SharedFrame,
    /// For a heartbeat, its channel: the next heartbeat from the same sender on it
    /// replaces this one while both wait.
    pub(crate) heartbeat: Option<ChannelId>,
}

/// The channel of a heartbeat, `None` for any other envelope.
pub(crate) fn heartbeat_channel(envelope: &Envelope<'_>) -> Option<ChannelId> {
    (envelope.body.kind() == BodyKind::Heartbeat).then_some(envelope.channel)
}

/// [`heartbeat_channel`] of a frame not decoded yet (`None` if it does not decode).
pub(crate) fn heartbeat_channel_of(frame: &[u8]) -> Option<ChannelId> {
    EnvelopeIn::decode(frame)
        .ok()
        .and_then(|e| heartbeat_channel(e.envelope()))
}

#[derive(Debug, Default)]
struct Usage {
    frames: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Queued>,
    /// Reserved and held: queued, or taken by a session and not yet written.
    total: Usage,
    per_sender: HashMap<Arc<str>, Usage>,
}

/// Frames waiting for one party, whether or not it is connected.
#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    ready: Notify,
    quotas: Quotas,
    /// Held by the session that reads the mailbox: one at a time.
    reader: Arc<tokio::sync::Mutex<()>>,
    /// The id of the session that owns the mailbox; a session stops when it changes.
    owner: watch::Sender<u64>,
}

impl Mailbox {
    fn new(quotas: Quotas) -> Self {
        Mailbox {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            quotas,
            reader: Arc::new(tokio::sync::Mutex::new(())),
            owner: watch::Sender::new(0),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Every method leaves the queue consistent before anything could panic.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves room for a `len`-byte frame from `from`, or says which limit it
    /// would pass. Follow with [`Mailbox::push`], or [`Mailbox::release`] if the frame
    /// is not queued after all.
    pub(crate) fn reserve(
        &self,
        recipient: &str,
        from: &Arc<str>,
        len: usize,
    ) -> Result<(), Refusal> {
        let q = self.quotas;
        let mut queue = self.queue();
        let full = |limit| Refusal::QueueFull {
            recipient: recipient.to_owned(),
            limit,
        };
        if queue.total.frames >= q.frames {
            return Err(full(QueueLimit::Frames(q.frames)));
        }
        if queue.total.bytes.saturating_add(len) > q.bytes {
            return Err(full(QueueLimit::Bytes(q.bytes)));
        }
        let mine = queue.per_sender.entry(Arc::clone(from)).or_default();
        if mine.frames >= q.sender_frames {
            return Err(full(QueueLimit::SenderFrames(q.sender_frames)));
        }
        if mine.bytes.saturating_add(len) > q.sender_bytes {
            return Err(full(QueueLimit::SenderBytes(q.sender_bytes)));
        }
        mine.frames += 1;
        mine.bytes += len;
        queue.total.frames += 1;
        queue.total.bytes += len;
        Ok(())
    }

    /// Takes room for a frame the broker already accepted (reloaded from its store
    /// after a restart with smaller quotas), whatever the limits say.
    pub(crate) fn force_reserve(&self, from: &Arc<str>, len: usize) {
        let mut queue = self.queue();
        let mine = queue.per_sender.entry(Arc::clone(from)).or_default();
        mine.frames += 1;
        mine.bytes += len;
        queue.total.frames += 1;
        queue.total.bytes += len;
    }

    /// Gives back what [`Mailbox::reserve`] took for a frame of `len` bytes.
    pub(crate) fn release(&self, from: &Arc<str>, len: usize) {
        let mut queue = self.queue();
        queue.total.frames = queue.total.frames.saturating_sub(1);
        queue.total.bytes = queue.total.bytes.saturating_sub(len);
        if let Some(mine) = queue.per_sender.get_mut(from) {
            mine.frames = mine.frames.saturating_sub(1);
            mine.bytes = mine.bytes.saturating_sub(len);
            if mine.frames == 0 {
                queue.per_sender.remove(from);
            }
        }
    }

    /// Queues a frame whose room was reserved, and wakes the reader. A heartbeat
    /// replaces an older one from the same sender on the same channel that is still
    /// queued: that one is returned, its room already released (its store group must
    /// be told it no longer waits).
    pub(crate) fn push(&self, frame: Queued) -> Option<Queued> {
        let mut queue = self.queue();
        let superseded = frame.heartbeat.and_then(|channel| {
            let older = queue
                .frames
                .iter()
                .position(|q| q.heartbeat == Some(channel) && q.from == frame.from)?;
            queue.frames.remove(older)
        });
        queue.frames.push_back(frame);
        drop(queue);
        if let Some(old) = &superseded {
            self.release(&old.from, old.frame.len());
        }
        self.ready.notify_one();
        superseded
    }

    /// Moves up to `max` frames into `out`, waiting until there is at least one.
    pub(crate) async fn take(&self, max: usize, out: &mut Vec<Queued>) {
        loop {
            {
                let mut queue = self.queue();
                let n = queue.frames.len().min(max);
                out.extend(queue.frames.drain(..n));
            }
            if !out.is_empty() {
                return;
            }
            self.ready.notified().await;
        }
    }

    /// Frames that were taken but not written go back to the front, in order.
    pub(crate) fn put_back(&self, frames: &mut Vec<Queued>) {
        if frames.is_empty() {
            return;
        }
        let mut queue = self.queue();
        for f in frames.drain(..).rev() {
            queue.frames.push_front(f);
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// Frames written to the recipient's connection: their room is free again.
    pub(crate) fn delivered(&self, frames: &[Queued]) {
        for f in frames {
            self.release(&f.from, f.frame.len());
        }
    }

    /// Whether a session is reading this mailbox now (its party is connected).
    pub(crate) fn is_being_read(&self) -> bool {
        self.reader.try_lock().is_err()
    }

    /// Envelopes waiting (not counting a batch a session holds).
    pub(crate) fn len(&self) -> usize {
        self.queue().frames.len()
    }

    /// Makes session `id` the owner: any older session sees the change and stops.
    /// Returns a receiver of ownership changes for the new session to watch.
    pub(crate) fn take_over(&self, id: u64) -> watch::Receiver<u64> {
        self.owner.send_replace(id);
        self.owner.subscribe()
    }

    /// Waits until the previous owner let go, then holds the mailbox.
    pub(crate) async fn lock(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.reader).lock_owned().await
    }
}

/// All mailboxes, fixed at start-up (the set of registered parties does not change).
pub(crate) type Mailboxes = Arc<HashMap<String, Mailbox>>;

pub(crate) fn mailboxes(registered: &[PublicIdentity], quotas: Quotas) -> Mailboxes {
    Arc::new(
        registered
            .iter()
            .map(|p| (p.name().to_string(), Mailbox::new(quotas)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn quotas() -> Quotas {
        Quotas {
            frames: 5,
            bytes: 1_000,
            sender_frames: 3,
            sender_bytes: 500,
        }
    }

    fn queued(from: &Arc<str>, len: usize) -> Queued {
        Queued {
            group: 0,
            from: Arc::clone(from),
            frame: Arc::new(vec![0; len]),
            heartbeat: None,
        }
    }

    fn heartbeat(from: &Arc<str>, channel: u8, group: u64, len: usize) -> Queued {
        Queued {
            group,
            heartbeat: Some(ChannelId([channel; 16])),
            ..queued(from, len)
        }
    }

    #[tokio::test]
    async fn only_the_newest_heartbeat_per_sender_and_channel_waits() {
        let m = Mailbox::new(Quotas::default());
        let (a, c): (Arc<str>, Arc<str>) = ("alpha".into(), "charlie".into());
        let push = |q: Queued| {
            m.reserve("bravo", &q.from, q.frame.len()).unwrap();
            m.push(q)
        };
        assert!(push(heartbeat(&a, 1, 10, 11)).is_none());
        assert!(push(queued(&a, 50)).is_none(), "content is never replaced");
        assert!(push(heartbeat(&c, 1, 11, 12)).is_none(), "another sender");
        assert!(push(heartbeat(&a, 2, 12, 13)).is_none(), "another channel");
        let old = push(heartbeat(&a, 1, 13, 14)).unwrap();
        assert_eq!((old.group, old.frame.len()), (10, 11));
        // Its room is free again: four frames and their bytes are counted.
        {
            let queue = m.queue();
            assert_eq!(
                (queue.total.frames, queue.total.bytes),
                (4, 50 + 12 + 13 + 14)
            );
        }
        let mut batch = Vec::new();
        m.take(10, &mut batch).await;
        let order: Vec<(usize, u64)> = batch.iter().map(|q| (q.frame.len(), q.group)).collect();
        // In arrival order, the newer heartbeat at its own place (after the content).
        assert_eq!(order, vec![(50, 0), (12, 11), (13, 12), (14, 13)]);
    }

    #[test]
    fn one_sender_cannot_crowd_out_another() {
        let m = Mailbox::new(quotas());
        let (charlie, alpha): (Arc<str>, Arc<str>) = ("charlie".into(), "alpha".into());
        for _ in 0..3 {
            m.reserve("bravo", &charlie, 10).unwrap();
        }
        let refused = m.reserve("bravo", &charlie, 10).unwrap_err();
        assert_eq!(
            refused,
            Refusal::QueueFull {
                recipient: "bravo".into(),
                limit: QueueLimit::SenderFrames(3)
            }
        );
        // alpha still gets in.
        m.reserve("bravo", &alpha, 10).unwrap();
    }

    #[test]
    fn bytes_are_bounded_per_sender_and_in_all() {
        let m = Mailbox::new(quotas());
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        assert!(matches!(
            m.reserve("bravo", &a, 501),
            Err(Refusal::QueueFull {
                limit: QueueLimit::SenderBytes(500),
                ..
            })
        ));
        m.reserve("bravo", &a, 500).unwrap();
        m.reserve("bravo", &b, 450).unwrap();
        assert!(matches!(
            m.reserve("bravo", &c, 100),
            Err(Refusal::QueueFull {
                limit: QueueLimit::Bytes(1_000),
                ..
            })
        ));
        m.release(&a, 500);
        m.reserve("bravo", &c, 100).unwrap();
    }

    #[tokio::test]
    async fn room_is_freed_only_when_written_and_untaken_frames_go_back_in_order() {
        let m = Mailbox::new(quotas());
        let a: Arc<str> = "a".into();
        for len in [1, 2, 3] {
            m.reserve("bravo", &a, len).unwrap();
            m.push(queued(&a, len));
        }
        let mut batch = Vec::new();
        m.take(2, &mut batch).await;
        assert_eq!(batch.len(), 2);
        // Taken but not written: still counted, so a fourth from `a` is refused.
        assert!(m.reserve("bravo", &a, 1).is_err());
        m.put_back(&mut batch);
        m.take(10, &mut batch).await;
        let lens: Vec<usize> = batch.iter().map(|f| f.frame.len()).collect();
        assert_eq!(lens, vec![1, 2, 3]);
        m.delivered(&batch);
        m.reserve("bravo", &a, 1).unwrap();
    }
}
