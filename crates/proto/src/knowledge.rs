//! What a party knows, from its own transcript alone.
//!
//! The [ledger](crate::ledger) says what the owner believes is in force. This says
//! what the owner can *tell* about each side, which is what a class must be shown:
//!
//! * for each message it sent: whether the peer acknowledged it, refused it (and
//!   why: a receipt lists what it refused), or has not answered;
//! * for each message it received: accepted, or refused and why, once per message
//!   however many copies arrived;
//! * for each assurance it gave or accepted: where it stands for the owner, and
//!   where it stands for the other side *as far as the owner can know*: "I withdrew
//!   N-1; south refused the withdrawal as expired, so N-1 stands for south".
//!
//! Like the judge and the ledger it reads only the transcript and takes the time as an
//! argument; unlike the judge it trusts the owner's own verdicts (it is the owner's
//! view, not a finding). An acknowledgement counts as far as the mode lets the owner
//! trust it: [`Acknowledgement::on_the_brokers_word`] marks a deniable receipt.

use crate::body::Body;
use crate::envelope::RefusalCode;
use crate::journal::rejection_code;
use crate::ledger::{Ledger, Status};
use crate::mode::ChannelMode;
use crate::time::Timestamp;
use crate::transcript::{Direction, Entry, RecordedVerdict};
use crate::verify::EnvelopeIn;

/// What became of a message the owner sent, as far as the owner knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The peer's acknowledgement covers it and lists no refusal of it.
    Acknowledged(Acknowledgement),
    /// The peer's receipt says it was refused (covered, not delivered).
    Refused {
        /// Why (`expired`).
        code: RefusalCode,
    },
    /// No acknowledgement covers it (yet): dropped, held, or not answered.
    Unanswered,
}

/// How far an acknowledgement can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// Deniable mode: the receipt is the broker's word, not the peer's.
    pub on_the_brokers_word: bool,
    /// The peer has refused envelopes that its receipts no longer list: this
    /// acknowledgement might cover one of them.
    pub refusals_unlisted: bool,
}

impl Fate {
    /// `acknowledged`, `refused` or `unanswered`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fate::Acknowledged(_) => "acknowledged",
            Fate::Refused { .. } => "refused",
            Fate::Unanswered => "unanswered",
        }
    }
}

/// A message the owner sent (receipts and heartbeats are not messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// To whom.
    pub to: String,
    /// Its sequence number.
    pub seq: u64,
    /// When it was sent (the envelope's `sent_at`).
    pub sent_at: Timestamp,
    /// What it said.
    pub body: Body<'static>,
    /// What became of it.
    pub fate: Fate,
}

/// A message that reached the owner, once however many copies arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Its named sender.
    pub from: String,
    /// Its sequence number as it arrived.
    pub seq: u64,
    /// What it said (undecodable frames are not listed).
    pub body: Body<'static>,
    /// `None`: accepted. Otherwise the rejection code (`expired`, `bad-signature`).
    pub refused: Option<String>,
    /// How many copies arrived with this verdict (a sender resends what it has no
    /// receipt for).
    pub copies: u32,
}

/// Where an assurance stands for one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// In force for that side.
    InForce,
    /// Withdrawn by the giver's envelope `seq`, and that side has (or, for the
    /// owner, is) the withdrawal.
    Withdrawn {
        /// The withdrawal's sequence number.
        seq: u64,
    },
    /// Its validity ended.
    Expired,
    /// The giver withdrew it by `seq`, but the withdrawal was refused (`code`) by
    /// the recipient: for the recipient it still stands.
    WithdrawalRefused {
        /// The withdrawal's sequence number.
        seq: u64,
        /// Why it was refused.
        code: String,
    },
    /// The giver withdrew it by `seq`; the owner cannot tell whether the recipient
    /// has the withdrawal (no receipt covers it yet).
    WithdrawalUnanswered {
        /// The withdrawal's sequence number.
        seq: u64,
    },
    /// The recipient refused the assurance itself (`code`): it never stood there.
    NeverHeld {
        /// Why it was refused, when the owner knows (`None`: never acknowledged).
        code: Option<String>,
    },
    /// The owner cannot tell whether the recipient holds it: no receipt covers it.
    Unknown,
    /// The giver withdrew it by `seq`, but the withdrawal reached the owner (its
    /// recipient) too late and the owner refused it (`code`): the giver believes it
    /// withdrawn, while for the owner it stands.
    WithdrawnTooLate {
        /// The withdrawal's sequence number.
        seq: u64,
        /// Why the owner refused it.
        code: String,
    },
}

impl Standing {
    /// Whether the assurance binds for that side (as far as the owner knows).
    pub fn in_force(&self) -> bool {
        matches!(self, Standing::InForce | Standing::WithdrawalRefused { .. })
    }
}

/// One assurance as the owner knows it, for both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssuranceKnowledge {
    /// The ledger's entry: who gave it to whom, its words, its own status for the
    /// owner.
    pub given: crate::ledger::LedgerEntry,
    /// Where it stands for the owner.
    pub for_owner: Standing,
    /// The other side: the recipient when the owner gave it, the giver when the
    /// owner received it.
    pub other: String,
    /// Where it stands for the other side, as far as the owner can know.
    pub for_other: Standing,
}

/// Everything one party knows, from its transcript.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knowledge {
    /// Whose transcript.
    pub owner: String,
    /// The messages it sent, in order.
    pub sent: Vec<SentMessage>,
    /// The messages that reached it, in order of first arrival.
    pub received: Vec<ReceivedMessage>,
    /// Each assurance it gave or accepted.
    pub assurances: Vec<AssuranceKnowledge>,
    /// The ledger's flags (revocations of unknown ids, reused ids).
    pub ledger: Ledger,
}

/// What one peer has told the owner about the owner's chain, through every envelope
/// from it that the owner accepted.
#[derive(Default)]
struct PeerAnswers {
    acked: u64,
    refused: Vec<(u64, RefusalCode)>,
    refusal_count: u64,
    deniable: bool,
}

impl PeerAnswers {
    fn fate(&self, seq: u64) -> Fate {
        if let Some((_, code)) = self.refused.iter().find(|(s, _)| *s == seq) {
            return Fate::Refused { code: *code };
        }
        if seq <= self.acked {
            return Fate::Acknowledged(Acknowledgement {
                on_the_brokers_word: self.deniable,
                refusals_unlisted: self.refusal_count > self.refused.len() as u64,
            });
        }
        Fate::Unanswered
    }
}

impl Knowledge {
    /// What `owner` knows from its transcript `entries`, at time `now`.
    pub fn build<'a>(
        owner: &str,
        entries: impl IntoIterator<Item = Entry<'a>> + Clone,
        now: Timestamp,
    ) -> Knowledge {
        let mut answers: Vec<(String, PeerAnswers)> = Vec::new();
        let mut sent = Vec::new();
        let mut received: Vec<ReceivedMessage> = Vec::new();
        for entry in entries.clone() {
            let Ok(decoded) = EnvelopeIn::decode(entry.frame) else {
                continue;
            };
            let e = decoded.envelope();
            match (entry.direction, entry.verdict) {
                (Direction::Sent, _) => {
                    if !e.body.is_control() {
                        sent.push((
                            e.recipient.to_string(),
                            e.seq,
                            e.sent_at,
                            e.body.clone().into_owned(),
                        ));
                    }
                }
                (Direction::Received, verdict) => {
                    let refused = (verdict == RecordedVerdict::Rejected)
                        .then(|| rejection_code(entry.reason).to_owned());
                    if refused.is_none() {
                        let peer = e.sender.to_string();
                        let a = match answers.iter_mut().position(|(p, _)| *p == peer) {
                            Some(i) => answers.get_mut(i).map(|(_, a)| a),
                            None => {
                                answers.push((peer, PeerAnswers::default()));
                                answers.last_mut().map(|(_, a)| a)
                            }
                        };
                        if let Some(a) = a {
                            a.acked = a.acked.max(e.ack.seq);
                            a.deniable = e.mode == ChannelMode::Deniable;
                            a.refusal_count = a.refusal_count.max(e.refused.count);
                            for r in e.refused.listed() {
                                if !a.refused.iter().any(|(s, _)| *s == r.seq) {
                                    a.refused.push((r.seq, r.code));
                                }
                            }
                        }
                    }
                    if e.body.is_control() {
                        continue;
                    }
                    let body = e.body.clone().into_owned();
                    let same = received.iter_mut().find(|m| {
                        m.from == *e.sender
                            && m.seq == e.seq
                            && m.body == body
                            && m.refused == refused
                    });
                    match same {
                        Some(m) => m.copies = m.copies.saturating_add(1),
                        None => received.push(ReceivedMessage {
                            from: e.sender.to_string(),
                            seq: e.seq,
                            body,
                            refused,
                            copies: 1,
                        }),
                    }
                }
            }
        }
        let fate_of = |to: &str, seq: u64| {
            answers
                .iter()
                .find(|(p, _)| p == to)
                .map_or(Fate::Unanswered, |(_, a)| a.fate(seq))
        };
        let sent: Vec<SentMessage> = sent
            .into_iter()
            .map(|(to, seq, sent_at, body)| SentMessage {
                fate: fate_of(&to, seq),
                to,
                seq,
                sent_at,
                body,
            })
            .collect();
        let ledger = Ledger::build(entries, now);
        let assurances = ledger
            .entries
            .iter()
            .map(|given| {
                let i_gave = given.giver == owner;
                let for_owner = own_standing(&given.status);
                let for_other = if i_gave {
                    recipients_standing(given, &sent, now)
                } else {
                    givers_standing(given, &received)
                };
                AssuranceKnowledge {
                    other: if i_gave {
                        given.recipient.clone()
                    } else {
                        given.giver.clone()
                    },
                    given: given.clone(),
                    for_owner,
                    for_other,
                }
            })
            .collect();
        Knowledge {
            owner: owner.to_owned(),
            sent,
            received,
            assurances,
            ledger,
        }
    }
}

fn own_standing(status: &Status) -> Standing {
    match status {
        Status::InForce => Standing::InForce,
        Status::Revoked { seq, .. } => Standing::Withdrawn { seq: *seq },
        Status::Expired => Standing::Expired,
    }
}

/// The owner gave `given`: where it stands for the recipient, from the fates of the
/// assurance and of any withdrawal of it the owner sent.
fn recipients_standing(
    given: &crate::ledger::LedgerEntry,
    sent: &[SentMessage],
    now: Timestamp,
) -> Standing {
    let assurance = sent
        .iter()
        .find(|m| m.to == given.recipient && m.seq == given.seq);
    match assurance.map(|m| &m.fate) {
        Some(Fate::Refused { code }) => {
            return Standing::NeverHeld {
                code: Some(code.as_str().to_owned()),
            };
        }
        Some(Fate::Unanswered) | None => return Standing::Unknown,
        Some(Fate::Acknowledged(_)) => {}
    }
    let withdrawal = sent.iter().find(|m| {
        m.to == given.recipient
            && matches!(&m.body, Body::Revocation(r) if r.assurance_id == given.id)
    });
    let expired = given.valid_until <= now;
    match withdrawal {
        Some(w) => match &w.fate {
            Fate::Acknowledged(_) => Standing::Withdrawn { seq: w.seq },
            Fate::Refused { code } if !expired => Standing::WithdrawalRefused {
                seq: w.seq,
                code: code.as_str().to_owned(),
            },
            Fate::Unanswered if !expired => Standing::WithdrawalUnanswered { seq: w.seq },
            _ => Standing::Expired,
        },
        None if expired => Standing::Expired,
        None => Standing::InForce,
    }
}

/// The owner accepted `given`: where it stands for its giver, from the withdrawals
/// of it that reached the owner (accepted, or refused because they came too late).
fn givers_standing(given: &crate::ledger::LedgerEntry, received: &[ReceivedMessage]) -> Standing {
    let withdrawal = |accepted: bool| {
        received.iter().find(|m| {
            m.from == given.giver
                && m.refused.is_none() == accepted
                && matches!(&m.body, Body::Revocation(r) if r.assurance_id == given.id)
        })
    };
    if let Some(w) = withdrawal(true) {
        return Standing::Withdrawn { seq: w.seq };
    }
    // A withdrawal that arrived too late was the giver's own (only authenticated
    // envelopes are refused as expired): the giver believes it withdrawn.
    if let Some(w) = withdrawal(false)
        && let Some(code) = w.refused.as_deref()
        && code == RefusalCode::Expired.as_str()
    {
        return Standing::WithdrawnTooLate {
            seq: w.seq,
            code: code.to_owned(),
        };
    }
    match own_standing(&given.status) {
        Standing::Expired => Standing::Expired,
        _ => Standing::InForce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_transcript_knows_nothing() {
        let k = Knowledge::build("alpha", Vec::<Entry<'_>>::new(), Timestamp::from_millis(0));
        assert!(k.sent.is_empty() && k.received.is_empty() && k.assurances.is_empty());
    }

    #[test]
    fn fates_follow_acknowledgements_and_listed_refusals() {
        let a = PeerAnswers {
            acked: 3,
            refused: vec![(2, RefusalCode::Expired)],
            refusal_count: 1,
            deniable: false,
        };
        assert!(matches!(a.fate(1), Fate::Acknowledged(k) if !k.refusals_unlisted));
        assert_eq!(
            a.fate(2),
            Fate::Refused {
                code: RefusalCode::Expired
            }
        );
        assert_eq!(a.fate(4), Fate::Unanswered);
        let unlisted = PeerAnswers {
            refusal_count: 5,
            ..a
        };
        assert!(matches!(unlisted.fate(1), Fate::Acknowledged(k) if k.refusals_unlisted));
    }
}
