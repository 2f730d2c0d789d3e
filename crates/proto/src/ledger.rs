//! The assurance ledger: what a party believes is in force, from its own transcript.
//!
//! Built from the envelopes the owner **sent** and those it **accepted** (its own
//! verdicts: the ledger is that party's belief, not a judge's finding). Per giver,
//! recipient and assurance id it keeps the first assurance and its status:
//!
//! * **revoked** once a revocation of that id from the same giver to the same
//!   recipient was sent or accepted;
//! * **expired** once `valid_until` is past (at the `now` given: no clock here);
//! * **in force** otherwise.
//!
//! Two things are flagged rather than guessed at: a revocation of an id that was never
//! given (the revocation reached this party, the assurance did not, or never existed),
//! and an id given again **with other words or another condition** (which assurance is
//! meant?). The sender refuses to do the latter ([`Ledger::check_new`]); a recipient
//! that receives it flags it.

use crate::body::{Assurance, Body};
use crate::time::Timestamp;
use crate::transcript::{Direction, Entry, RecordedVerdict};
use crate::verify::EnvelopeIn;

/// Where an assurance stands, in the owner's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Given, not revoked, not lapsed.
    InForce,
    /// Revoked by its giver (the revocation's seq and reason).
    Revoked {
        /// The revocation's sequence number.
        seq: u64,
        /// The giver's reason.
        reason: String,
    },
    /// Its validity ended.
    Expired,
}

impl Status {
    /// `in force`, `revoked` or `expired`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::InForce => "in force",
            Status::Revoked { .. } => "revoked",
            Status::Expired => "expired",
        }
    }
}

/// One assurance as the owner knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Who gave it.
    pub giver: String,
    /// To whom.
    pub recipient: String,
    /// The giver's id for it.
    pub id: String,
    /// The words.
    pub commitment: String,
    /// The condition (empty: unconditional).
    pub condition: String,
    /// When it lapses.
    pub valid_until: Timestamp,
    /// The envelope that gave it.
    pub seq: u64,
    /// Where it stands.
    pub status: Status,
}

/// Something in the transcript the ledger cannot reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flag {
    /// A revocation of an id this party never saw given.
    UnknownRevocation {
        /// Who revoked.
        giver: String,
        /// To whom.
        recipient: String,
        /// The id revoked.
        id: String,
        /// The revocation's sequence number.
        seq: u64,
    },
    /// An id given again with other words or another condition than the first time.
    Reused {
        /// Who gave it.
        giver: String,
        /// To whom.
        recipient: String,
        /// The id.
        id: String,
        /// The later envelope.
        seq: u64,
        /// Its words.
        commitment: String,
        /// Its condition.
        condition: String,
    },
}

/// Every assurance the owner gave or accepted, and what does not add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// In the order they were given.
    pub entries: Vec<LedgerEntry>,
    /// In the order they were found.
    pub flags: Vec<Flag>,
}

/// Why a new assurance is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "assurance id {id:?} was already given to {recipient} with other words (#{seq}: {commitment:?} if {condition:?}): choose a new id (a revoked id stays taken: its words are on record)"
)]
pub struct IdReused {
    /// The recipient.
    pub recipient: String,
    /// The id.
    pub id: String,
    /// The envelope that gave it first.
    pub seq: u64,
    /// Its words.
    pub commitment: String,
    /// Its condition.
    pub condition: String,
}

impl Ledger {
    /// The ledger of the owner's transcript `entries` at time `now`.
    pub fn build<'a>(entries: impl IntoIterator<Item = Entry<'a>>, now: Timestamp) -> Ledger {
        let mut ledger = Ledger::default();
        for entry in entries {
            let counts = matches!(
                (entry.direction, entry.verdict),
                (Direction::Sent, _) | (Direction::Received, RecordedVerdict::Accepted)
            );
            if !counts {
                continue;
            }
            let Ok(env) = EnvelopeIn::decode(entry.frame) else {
                continue;
            };
            let e = env.envelope();
            let (giver, recipient): (&str, &str) = (&e.sender, &e.recipient);
            match &e.body {
                Body::Assurance(a) => ledger.give(giver, recipient, e.seq, a),
                Body::Revocation(r) => {
                    let found = ledger.entries.iter_mut().find(|x| {
                        x.giver == giver && x.recipient == recipient && x.id == r.assurance_id
                    });
                    match found {
                        Some(x) => {
                            if !matches!(x.status, Status::Revoked { .. }) {
                                x.status = Status::Revoked {
                                    seq: e.seq,
                                    reason: r.reason.to_string(),
                                };
                            }
                        }
                        None => ledger.flags.push(Flag::UnknownRevocation {
                            giver: giver.to_owned(),
                            recipient: recipient.to_owned(),
                            id: r.assurance_id.to_string(),
                            seq: e.seq,
                        }),
                    }
                }
                _ => {}
            }
        }
        for x in &mut ledger.entries {
            if x.status == Status::InForce && x.valid_until <= now {
                x.status = Status::Expired;
            }
        }
        ledger
    }

    fn give(&mut self, giver: &str, recipient: &str, seq: u64, a: &Assurance<'_>) {
        let first = self
            .entries
            .iter()
            .find(|x| x.giver == giver && x.recipient == recipient && x.id == a.id);
        match first {
            None => self.entries.push(LedgerEntry {
                giver: giver.to_owned(),
                recipient: recipient.to_owned(),
                id: a.id.to_string(),
                commitment: a.commitment.to_string(),
                condition: a.condition.to_string(),
                valid_until: a.valid_until,
                seq,
                status: Status::InForce,
            }),
            // The same words again (a renewal, or a copy) change nothing.
            Some(x) if x.commitment == a.commitment && x.condition == a.condition => {}
            Some(_) => self.flags.push(Flag::Reused {
                giver: giver.to_owned(),
                recipient: recipient.to_owned(),
                id: a.id.to_string(),
                seq,
                commitment: a.commitment.to_string(),
                condition: a.condition.to_string(),
            }),
        }
    }

    /// Whether `me` may give `a` to `recipient`: not if that id was given to them
    /// before with other words or another condition (the same words again are a
    /// renewal). A revoked id stays taken: its words are on record.
    pub fn check_new(&self, me: &str, recipient: &str, a: &Assurance<'_>) -> Result<(), IdReused> {
        match self
            .entries
            .iter()
            .find(|x| x.giver == me && x.recipient == recipient && x.id == a.id)
        {
            Some(x) if x.commitment != a.commitment || x.condition != a.condition => {
                Err(IdReused {
                    recipient: recipient.to_owned(),
                    id: x.id.clone(),
                    seq: x.seq,
                    commitment: x.commitment.clone(),
                    condition: x.condition.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}
