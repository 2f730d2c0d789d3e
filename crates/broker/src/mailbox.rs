//! One bounded mailbox per registered party, and the hand-over of a mailbox from one
//! session of a party to the next.

use std::collections::HashMap;
use std::sync::Arc;

use backchannel_proto::PublicIdentity;
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, watch};

/// Frames waiting for one party, whether or not it is connected.
///
/// The queue is a bounded channel created once per party: delivery is a `try_send`
/// (no lock), and a full queue is reported to the sender instead of growing. The
/// receiving end is held by the party's current session; a new session first asks
/// the old one to stop ([`Mailbox::take_over`]) and then takes the receiver.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) tx: mpsc::Sender<Vec<u8>>,
    rx: Arc<Mutex<mpsc::Receiver<Vec<u8>>>>,
    /// The id of the session that owns the mailbox; a session stops when it changes.
    owner: watch::Sender<u64>,
}

impl Mailbox {
    fn new(limit: usize) -> Self {
        let (tx, rx) = mpsc::channel(limit);
        Mailbox {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            owner: watch::Sender::new(0),
        }
    }

    /// Makes session `id` the owner: any older session sees the change and stops.
    /// Returns a receiver of ownership changes for the new session to watch.
    pub(crate) fn take_over(&self, id: u64) -> watch::Receiver<u64> {
        self.owner.send_replace(id);
        self.owner.subscribe()
    }

    /// Waits until the previous owner released the queue, then holds it.
    pub(crate) async fn lock(&self) -> OwnedMutexGuard<mpsc::Receiver<Vec<u8>>> {
        Arc::clone(&self.rx).lock_owned().await
    }
}

/// All mailboxes, fixed at start-up (the set of registered parties does not change).
pub(crate) type Mailboxes = Arc<HashMap<String, Mailbox>>;

pub(crate) fn mailboxes(registered: &[PublicIdentity], limit: usize) -> Mailboxes {
    Arc::new(
        registered
            .iter()
            .map(|p| (p.name().to_string(), Mailbox::new(limit)))
            .collect(),
    )
}
