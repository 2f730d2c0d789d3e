//! Admission: who may hold a connection before logging in, and for how long.
//!
//! A connection costs the broker a socket and, once TLS starts, a TLS state; until it
//! has logged in it is anyone's. So connections that have not logged in live in their
//! own bounded pool, apart from the logged-in sessions (a flood of strangers cannot
//! take a registered party's place), with a cap per source address. When the pool or
//! an address's share of it is full, the **oldest** connection that has not logged in
//! is closed to make room: an honest client logs in within milliseconds, so it is
//! never the oldest for long, while a socket held open to occupy a slot always ends up
//! being the oldest. Every connection also has a short deadline for TLS and login
//! together ([`AdmissionLimits::login_deadline`]).
//!
//! [`AdmissionTable`] is the policy alone, without I/O or clocks, so it is tested
//! directly; the server attaches a wake-up handle to each entry.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// The limits of the admission policy (`[admission]` in `broker.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Time for the TLS handshake and the login together.
    pub login_deadline: Duration,
    /// Connections that have not logged in yet, in all.
    pub unauthenticated: usize,
    /// Connections that have not logged in yet, per source address.
    pub unauthenticated_per_address: usize,
    /// Logged-in sessions.
    pub sessions: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            login_deadline: Duration::from_millis(3_000),
            unauthenticated: 256,
            unauthenticated_per_address: 32,
            sessions: 1_024,
        }
    }
}

/// Connections that have not logged in, oldest first, and the logged-in count.
#[derive(Debug)]
pub struct AdmissionTable<H> {
    limits: AdmissionLimits,
    /// By connection id; ids grow with arrival, so the first entry is the oldest.
    pending: BTreeMap<u64, (IpAddr, H)>,
    per_address: HashMap<IpAddr, usize>,
    sessions: usize,
}

/// Why a login could not become a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the broker holds its maximum of {0} sessions")]
pub struct SessionsFull(pub usize);

impl<H> AdmissionTable<H> {
    /// An empty table with these limits.
    pub fn new(limits: AdmissionLimits) -> Self {
        AdmissionTable {
            limits,
            pending: BTreeMap::new(),
            per_address: HashMap::new(),
            sessions: 0,
        }
    }

    /// Admits connection `id` (larger than every id before it) from `addr`, and
    /// returns the handles of the connections closed to make room for it: first the
    /// oldest of `addr`'s own if that address is at its cap, then the oldest of all if
    /// the pool is full.
    pub fn admit(&mut self, id: u64, addr: IpAddr, handle: H) -> Vec<H> {
        let mut evicted = Vec::new();
        let limit = self.limits.unauthenticated_per_address.max(1);
        if self.per_address.get(&addr).copied().unwrap_or(0) >= limit {
            let oldest = self
                .pending
                .iter()
                .find(|(_, (a, _))| *a == addr)
                .map(|(id, _)| *id);
            evicted.extend(oldest.and_then(|old| self.remove(old)));
        }
        if self.pending.len() >= self.limits.unauthenticated.max(1) {
            let oldest = self.pending.keys().next().copied();
            evicted.extend(oldest.and_then(|old| self.remove(old)));
        }
        self.pending.insert(id, (addr, handle));
        *self.per_address.entry(addr).or_insert(0) += 1;
        evicted
    }

    /// Forgets connection `id` (it logged in, failed or was evicted); returns its
    /// handle if it was still waiting.
    pub fn remove(&mut self, id: u64) -> Option<H> {
        let (addr, handle) = self.pending.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&addr);
            }
        }
        Some(handle)
    }

    /// Connection `id` logged in: it leaves the pool and takes a session slot, if one
    /// is free. Release the slot with [`AdmissionTable::end_session`].
    pub fn promote(&mut self, id: u64) -> Result<(), SessionsFull> {
        self.remove(id);
        if self.sessions >= self.limits.sessions {
            return Err(SessionsFull(self.limits.sessions));
        }
        self.sessions += 1;
        Ok(())
    }

    /// A session that [`AdmissionTable::promote`] admitted has ended.
    pub fn end_session(&mut self) {
        self.sessions = self.sessions.saturating_sub(1);
    }

    /// Connections waiting to log in.
    pub fn unauthenticated(&self) -> usize {
        self.pending.len()
    }

    /// Logged-in sessions.
    pub fn sessions(&self) -> usize {
        self.sessions
    }
}

/// The table shared by the accept loop and the connections, each entry with the
/// handle that closes its connection.
#[derive(Debug)]
pub(crate) struct Gate {
    table: Mutex<AdmissionTable<Arc<Notify>>>,
}

impl Gate {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        Gate {
            table: Mutex::new(AdmissionTable::new(limits)),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, AdmissionTable<Arc<Notify>>> {
        // The table stays consistent whatever a panicking holder did: every method
        // leaves it valid before it could panic.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a new connection; the returned ticket's `evicted` completes if the
    /// connection must make room for newer ones before it logs in. Dropping the ticket
    /// removes the entry.
    pub(crate) fn admit(self: &Arc<Self>, id: u64, addr: IpAddr) -> Ticket {
        let evict = Arc::new(Notify::new());
        let evicted = self.table().admit(id, addr, Arc::clone(&evict));
        for other in evicted {
            other.notify_one();
        }
        Ticket {
            gate: Arc::clone(self),
            id,
            evict,
        }
    }
}

/// A connection's place in the pool of those not logged in yet.
#[derive(Debug)]
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    id: u64,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Completes when the connection is closed to make room for newer ones.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// The connection logged in: it becomes a session if a slot is free.
    pub(crate) fn promote(self) -> Result<SessionSlot, SessionsFull> {
        self.gate.table().promote(self.id)?;
        Ok(SessionSlot {
            gate: Arc::clone(&self.gate),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.table().remove(self.id);
    }
}

/// A logged-in session's slot, released when dropped.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    gate: Arc<Gate>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.gate.table().end_session();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn limits(total: usize, per_address: usize, sessions: usize) -> AdmissionLimits {
        AdmissionLimits {
            login_deadline: Duration::from_secs(3),
            unauthenticated: total,
            unauthenticated_per_address: per_address,
            sessions,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_at_its_cap_loses_its_own_oldest_connection() {
        let mut t = AdmissionTable::new(limits(100, 3, 10));
        for id in 1..=3 {
            assert!(t.admit(id, ip(2), id).is_empty());
        }
        assert!(t.admit(4, ip(1), 4).is_empty());
        // ip(2) is at its cap: its oldest (1) goes, not ip(1)'s connection.
        assert_eq!(t.admit(5, ip(2), 5), vec![1]);
        assert_eq!(t.admit(6, ip(2), 6), vec![2]);
        assert_eq!(t.unauthenticated(), 4);
        assert_eq!(t.remove(4), Some(4));
    }

    #[test]
    fn a_full_pool_loses_the_oldest_connection_of_all() {
        let mut t = AdmissionTable::new(limits(3, 3, 10));
        for id in 1..=3 {
            assert!(t.admit(id, ip(id as u8), id).is_empty());
        }
        assert_eq!(t.admit(4, ip(9), 4), vec![1]);
        assert_eq!(t.unauthenticated(), 3);
        // The honest client that just arrived survives as many newcomers as the pool
        // holds, less one.
        assert_eq!(t.admit(5, ip(8), 5), vec![2]);
        assert_eq!(t.admit(6, ip(7), 6), vec![3]);
        assert_eq!(t.admit(7, ip(6), 7), vec![4]);
    }

    #[test]
    fn a_flood_from_one_address_never_evicts_another_address() {
        let mut t = AdmissionTable::new(limits(256, 32, 10));
        assert!(t.admit(1, ip(1), 1).is_empty());
        for id in 2..5_000 {
            let evicted = t.admit(id, ip(2), id);
            assert!(!evicted.contains(&1), "the honest connection was evicted");
        }
        assert_eq!(t.unauthenticated(), 33);
        t.promote(1).unwrap();
        assert_eq!(t.sessions(), 1);
    }

    #[test]
    fn sessions_have_their_own_bound() {
        let mut t = AdmissionTable::new(limits(10, 10, 2));
        for id in 1..=3 {
            t.admit(id, ip(1), id);
        }
        t.promote(1).unwrap();
        t.promote(2).unwrap();
        assert_eq!(t.promote(3), Err(SessionsFull(2)));
        // The refused login left the pool all the same.
        assert_eq!(t.unauthenticated(), 0);
        t.end_session();
        t.admit(4, ip(1), 4);
        t.promote(4).unwrap();
        assert_eq!(t.sessions(), 2);
    }
}
