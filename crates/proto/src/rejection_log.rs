//! How much a recipient keeps of the envelopes it rejects (`proto-spec/protocol.md`
//! §9.1).
//!
//! A transcript keeps every envelope a party accepted or sent, in full: that is the
//! evidence the judge reads. Rejected envelopes are kept too, so a party can show what
//! it was sent and why it refused it; but anyone who can reach the party (a registered
//! peer, or the broker itself) can send it rejected envelopes without end, and keeping
//! each one would let them fill the recipient's disk. So a party keeps the first
//! [`KEPT_PER_SOURCE`] rejections per (sender, reason) in full, and after that counts
//! them: the party writes a summary record with the running count instead of the frames.
//! A rejection that moves the channel (an expired envelope, which the sender will not
//! send again) is always kept, whatever the budget: restart replays it.

use std::collections::BTreeMap;

/// Rejections kept in full per (sender, reason) and per run of a party.
pub const KEPT_PER_SOURCE: u64 = 64;

/// Distinct (sender, reason) pairs tracked; beyond this, rejections are counted under
/// the sender name [`OTHER_SENDERS`] (the names in undecodable or forged frames are
/// not bounded by anything else).
pub const MAX_SOURCES: usize = 1_024;

/// The sender recorded for rejections past [`MAX_SOURCES`] distinct sources.
pub const OTHER_SENDERS: &str = "(other senders)";

/// The sender recorded for a frame that did not decode at all.
pub const UNDECODABLE: &str = "(undecodable)";

/// Counts of one run's rejections, per (sender, reason code).
#[derive(Clone, Debug, Default)]
pub struct RejectionLog {
    seen: BTreeMap<(String, String), Counts>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Rejections from this source in all.
    total: u64,
    /// Counted (not kept) since the last summary was written.
    unsummarised: bool,
}

/// A summary to write: `omitted` rejections from `sender` for `code` were counted,
/// not kept, since the party started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Omitted {
    /// The sender the rejected envelopes named.
    pub sender: String,
    /// The rejection code.
    pub code: String,
    /// How many were counted and not kept, in all, this run.
    pub omitted: u64,
}

impl Omitted {
    /// The reason text of the summary record: starts with
    /// [`OMITTED_PREFIX`](crate::transcript::OMITTED_PREFIX) so readers can tell it
    /// from a rejection of a frame.
    pub fn reason(&self) -> String {
        format!(
            "{} {} more rejected envelope(s) from {} ({}) were counted, not kept (the first {} are kept above)",
            crate::transcript::OMITTED_PREFIX,
            self.omitted,
            self.sender,
            self.code,
            KEPT_PER_SOURCE
        )
    }
}

impl RejectionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one rejection from `sender` for `code`; returns whether to keep the
    /// frame in full.
    pub fn keep(&mut self, sender: &str, code: &str) -> bool {
        let known = self
            .seen
            .contains_key(&(sender.to_owned(), code.to_owned()));
        let sender = if known || self.seen.len() < MAX_SOURCES {
            sender
        } else {
            OTHER_SENDERS
        };
        let counts = self
            .seen
            .entry((sender.to_owned(), code.to_owned()))
            .or_default();
        counts.total += 1;
        if counts.total <= KEPT_PER_SOURCE {
            return true;
        }
        counts.unsummarised = true;
        false
    }

    /// The summaries that changed since the last call (one per source that had
    /// rejections counted and not kept), with running counts.
    pub fn take_summaries(&mut self) -> Vec<Omitted> {
        self.seen
            .iter_mut()
            .filter(|(_, c)| c.unsummarised)
            .map(|((sender, code), c)| {
                c.unsummarised = false;
                Omitted {
                    sender: sender.clone(),
                    code: code.clone(),
                    omitted: c.total.saturating_sub(KEPT_PER_SOURCE),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_first_rejections_per_source_are_kept_then_counted() {
        let mut log = RejectionLog::new();
        for _ in 0..KEPT_PER_SOURCE {
            assert!(log.keep("charlie", "replay"));
        }
        assert!(log.take_summaries().is_empty());
        assert!(!log.keep("charlie", "replay"));
        assert!(!log.keep("charlie", "replay"));
        // Another reason, or another sender, has a budget of its own.
        assert!(log.keep("charlie", "gap"));
        assert!(log.keep("alpha", "replay"));
        let s = log.take_summaries();
        assert_eq!(
            s,
            vec![Omitted {
                sender: "charlie".into(),
                code: "replay".into(),
                omitted: 2
            }]
        );
        assert!(s[0].reason().starts_with("omitted: 2 more"));
        // Nothing new: nothing to write.
        assert!(log.take_summaries().is_empty());
        assert!(!log.keep("charlie", "replay"));
        assert_eq!(log.take_summaries()[0].omitted, 3);
    }

    #[test]
    fn endless_sender_names_share_one_bucket() {
        let mut log = RejectionLog::new();
        for i in 0..MAX_SOURCES {
            log.keep(&format!("s{i}"), "bad-signature");
        }
        let mut kept = 0;
        for i in 0..10_000 {
            if log.keep(&format!("new{i}"), "bad-signature") {
                kept += 1;
            }
        }
        assert_eq!(kept, KEPT_PER_SOURCE);
        assert_eq!(log.seen.len(), MAX_SOURCES + 1);
        assert_eq!(log.take_summaries()[0].sender, OTHER_SENDERS);
    }
}
