//! The broker's desk: a person, not a canned move, decides what the broker does.
//!
//! Every content envelope the broker reads stops here as a [`Card`] and waits. The
//! person at the desk (a student, in `backchannel classroom`) then chooses for it:
//! forward, hold, drop, edit the words, redirect to another party, show a copy to a
//! third power, replay it later;
//! and may write a new message in a party's name. Receipts and heartbeats pass on by
//! themselves unless the desk withholds one direction's acknowledgements.
//!
//! [`Desk`] is the handle the person's side holds; [`DeskMove`] is the [`Move`] the
//! broker runs. They share one book behind a mutex: the person's choices are queued
//! there, and the broker applies them when it next polls ([`Move::poll`]), so every
//! choice acts on the real frame through the same [`Adversary`](crate::Adversary)
//! seam as the attack lab's moves (adaptively, through the rewriter, in deniable
//! mode). Nothing here holds a party's signing key: an edit or a message written at
//! the desk carries the authenticator of an envelope the party really sent, which a
//! signed or off-record recipient refuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use backchannel_proto::relay::{Inspected, read_line};
use backchannel_proto::{BodyKind, Envelope, EnvelopeIn, Timestamp};

use crate::moves::vocabulary::{Move, Out};
use crate::observed::Observed;
use crate::scenario::{Alteration, Said, altered};

/// How often the broker asks the desk for what the person decided.
pub const POLL_EVERY: Duration = Duration::from_millis(50);

/// Longest words the desk accepts in an edit or a message of its own, in characters.
pub const MAX_WORDS: usize = 500;

/// Most cards a desk keeps; past it, new envelopes pass on unseen (and are counted).
pub const MAX_CARDS: usize = 2000;

/// Where a card stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardState {
    /// Waiting for the person's choice (the broker holds it meanwhile).
    Waiting,
    /// Deliberately held: still undelivered, can be released (forwarded) later.
    Held,
    /// Passed on as it came.
    Forwarded,
    /// Never to be delivered.
    Dropped,
    /// Passed on with changed words.
    Edited,
    /// Delivered to another party than the one it names.
    Redirected(String),
}

impl CardState {
    /// A short label for pages and logs.
    pub fn label(&self) -> String {
        match self {
            CardState::Waiting => "waiting".into(),
            CardState::Held => "held".into(),
            CardState::Forwarded => "forwarded".into(),
            CardState::Dropped => "dropped".into(),
            CardState::Edited => "edited".into(),
            CardState::Redirected(to) => format!("redirected to {to}"),
        }
    }

    /// Whether the card is still undelivered and can be decided.
    pub fn is_open(&self) -> bool {
        matches!(self, CardState::Waiting | CardState::Held)
    }
}

/// One envelope stopped at the desk.
#[derive(Clone, Debug)]
pub struct Card {
    /// Its number on the desk, from 1.
    pub id: u64,
    /// The envelope as the broker read it.
    pub seen: Observed,
    /// The broker's reading of it (who to whom, what it says, what was verified).
    pub reading: String,
    /// When it arrived.
    pub arrived: Timestamp,
    /// Where it stands.
    pub state: CardState,
    /// How many copies its sender sent again (retransmissions).
    pub copies: u32,
    /// What the desk's choice delivered for it: delivered again for each copy.
    pub delivered: Vec<Out>,
}

/// What the person chose for a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Pass it on as it came (also: release a held card).
    Forward,
    /// Keep holding it, marked as deliberately held.
    Hold,
    /// Never deliver it, nor its sender's copies.
    Drop,
    /// Pass it on with these words changed.
    Edit(Alteration),
    /// Deliver it to this party instead of the one it names.
    Redirect(String),
    /// Deliver it as it came, and show a copy to this party (a third power).
    Copy(String),
    /// Deliver an already delivered card again.
    Replay,
}

impl Choice {
    /// A short name, for logs and the scoreboard.
    pub fn name(&self) -> &'static str {
        match self {
            Choice::Forward => "forward",
            Choice::Hold => "hold",
            Choice::Drop => "drop",
            Choice::Edit(_) => "edit",
            Choice::Redirect(_) => "redirect",
            Choice::Copy(_) => "copy",
            Choice::Replay => "replay",
        }
    }
}

/// Why the desk refused a choice: each reaches the person as a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// No card has that number.
    #[error("there is no card #{0} on the desk")]
    NoSuchCard(u64),
    /// The card was decided already and cannot take this choice.
    #[error("card #{card} is {state}: it cannot be {choice} now")]
    Decided {
        /// The card.
        card: u64,
        /// Where it stands.
        state: String,
        /// The refused choice.
        choice: &'static str,
    },
    /// Replay needs a card that was delivered.
    #[error("card #{0} was never delivered: there is nothing to replay")]
    NotDelivered(u64),
    /// The named party is not registered at this broker.
    #[error("{0:?} is not a party at this broker")]
    UnknownParty(String),
    /// A redirect to the party the envelope already names.
    #[error("card #{0} is already addressed to {1}")]
    SameRecipient(u64, String),
    /// Words over [`MAX_WORDS`] characters.
    #[error("the words are {0} characters long; the desk takes at most {MAX_WORDS}")]
    TooLong(usize),
    /// An edit that changes nothing this kind of message has.
    #[error("card #{0} is a {1}: the edit changes none of its words")]
    NothingToEdit(u64, &'static str),
    /// A message of the desk's own needs an envelope of that direction to imitate.
    #[error("the broker has relayed nothing from {0} to {1} yet: no envelope to write into")]
    NothingToWriteInto(String, String),
}

/// Something the desk did to the real traffic, for the views and the scoreboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskMoveMade {
    /// When.
    pub at: Timestamp,
    /// The card it acted on, if any (none for a message written at the desk).
    pub card: Option<u64>,
    /// `forward`, `hold`, `drop`, `edit`, `redirect`, `replay`, `write`,
    /// `withhold-acks`.
    pub what: &'static str,
    /// The envelope's sender and sequence number as the recipient will see them
    /// (before any renumbering in deniable mode).
    pub from: String,
    /// The party the result goes to.
    pub to: String,
    /// The envelope's sequence number.
    pub seq: u64,
    /// In words.
    pub detail: String,
}

impl DeskMoveMade {
    /// Whether this is a move against the parties (anything but passing on as it
    /// came).
    pub fn is_a_move(&self) -> bool {
        self.what != "forward"
    }
}

#[derive(Debug)]
enum Queued {
    Choice(u64, Choice),
    Write {
        from: String,
        to: String,
        said: Said,
    },
}

/// The shared book: cards, queued choices and what was done.
#[derive(Debug)]
struct Book {
    parties: Vec<String>,
    cards: Vec<Card>,
    queued: Vec<Queued>,
    /// The last content envelope seen per (sender, recipient): what a message written
    /// at the desk imitates.
    last_content: HashMap<(String, String), Observed>,
    /// Directions whose receipts and heartbeats the desk withholds.
    withheld_acks: Vec<(String, String)>,
    moves: Vec<DeskMoveMade>,
    /// Envelopes passed on unseen because the desk was full.
    overflow: u64,
    /// Bumped on every change, so a view can tell it is stale.
    version: u64,
}

/// What the person at the desk sees: a copy of the book.
#[derive(Clone, Debug)]
pub struct DeskView {
    /// Every card, oldest first.
    pub cards: Vec<Card>,
    /// What the desk did, oldest first.
    pub moves: Vec<DeskMoveMade>,
    /// Directions (sender, recipient) whose acknowledgements are withheld.
    pub withheld_acks: Vec<(String, String)>,
    /// Envelopes passed on unseen because the desk was full.
    pub overflow: u64,
    /// The book's version.
    pub version: u64,
}

/// The person's side of the desk. Clone it freely; all clones share one book.
#[derive(Clone, Debug)]
pub struct Desk {
    book: Arc<Mutex<Book>>,
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    // A panic while holding the lock cannot leave the book half-changed in a way that
    // matters more than losing the desk: carry on with what is there.
    book.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check_words(words: &[&Option<String>]) -> Result<(), DeskError> {
    for w in words.iter().copied().flatten() {
        let n = w.chars().count();
        if n > MAX_WORDS {
            return Err(DeskError::TooLong(n));
        }
    }
    Ok(())
}

impl Desk {
    /// A desk for a broker whose registered parties are `parties`, and the move the
    /// broker runs for it.
    pub fn new(parties: Vec<String>) -> (Desk, DeskMove) {
        let book = Arc::new(Mutex::new(Book {
            parties,
            cards: Vec::new(),
            queued: Vec::new(),
            last_content: HashMap::new(),
            withheld_acks: Vec::new(),
            moves: Vec::new(),
            overflow: 0,
            version: 0,
        }));
        (
            Desk {
                book: Arc::clone(&book),
            },
            DeskMove { book },
        )
    }

    /// A copy of the book as it stands.
    pub fn view(&self) -> DeskView {
        let b = lock(&self.book);
        DeskView {
            cards: b.cards.clone(),
            moves: b.moves.clone(),
            withheld_acks: b.withheld_acks.clone(),
            overflow: b.overflow,
            version: b.version,
        }
    }

    /// The book's version: changes whenever anything on the desk does.
    pub fn version(&self) -> u64 {
        lock(&self.book).version
    }

    /// Chooses `choice` for card `card`; it acts on the traffic when the broker next
    /// polls (within [`POLL_EVERY`]). Checked now, so the person hears at once why a
    /// choice cannot be made.
    pub fn decide(&self, card: u64, choice: Choice) -> Result<(), DeskError> {
        let mut b = lock(&self.book);
        let found = b
            .cards
            .iter()
            .find(|c| c.id == card)
            .ok_or(DeskError::NoSuchCard(card))?;
        let state = &found.state;
        // A choice already queued for this card counts as made.
        let pending = b
            .queued
            .iter()
            .any(|q| matches!(q, Queued::Choice(id, c) if *id == card && *c != Choice::Hold));
        let refuse = || DeskError::Decided {
            card,
            state: if pending {
                "decided".to_owned()
            } else {
                state.label()
            },
            choice: choice.name(),
        };
        match &choice {
            Choice::Replay => {
                if state.is_open() || *state == CardState::Dropped {
                    return Err(DeskError::NotDelivered(card));
                }
            }
            _ if pending || !state.is_open() => return Err(refuse()),
            Choice::Edit(a) => {
                check_words(&[&a.text, &a.commitment, &a.condition, &a.reason])?;
                let kind = found.seen.envelope.body.kind();
                let changes = match kind {
                    BodyKind::Text => a.text.is_some(),
                    BodyKind::Assurance => a.commitment.is_some() || a.condition.is_some(),
                    BodyKind::Revocation => a.reason.is_some(),
                    BodyKind::Receipt | BodyKind::Heartbeat => false,
                };
                if !changes {
                    return Err(DeskError::NothingToEdit(card, kind.as_str()));
                }
            }
            Choice::Redirect(to) | Choice::Copy(to) => {
                b.check_parties(&[to])?;
                if *found.seen.envelope.recipient == **to {
                    return Err(DeskError::SameRecipient(card, to.clone()));
                }
            }
            Choice::Forward | Choice::Hold | Choice::Drop => {}
        }
        b.queued.push(Queued::Choice(card, choice));
        b.version = b.version.wrapping_add(1);
        Ok(())
    }

    /// Writes `said` in `from`'s name to `to`, imitating the last envelope `from` sent
    /// `to`: the next number, linked to it, under its authenticator.
    pub fn write(&self, from: &str, to: &str, said: Said) -> Result<(), DeskError> {
        let mut b = lock(&self.book);
        b.check_parties(&[from, to])?;
        let words: Vec<Option<String>> = match &said {
            Said::Text(t) => vec![Some(t.clone())],
            Said::Assurance {
                id,
                commitment,
                condition,
                ..
            } => vec![
                Some(id.clone()),
                Some(commitment.clone()),
                Some(condition.clone()),
            ],
            Said::Revoke { id, reason } => vec![Some(id.clone()), Some(reason.clone())],
        };
        check_words(&words.iter().collect::<Vec<_>>())?;
        if !b
            .last_content
            .contains_key(&(from.to_owned(), to.to_owned()))
        {
            return Err(DeskError::NothingToWriteInto(
                from.to_owned(),
                to.to_owned(),
            ));
        }
        b.queued.push(Queued::Write {
            from: from.to_owned(),
            to: to.to_owned(),
            said,
        });
        b.version = b.version.wrapping_add(1);
        Ok(())
    }

    /// Withholds (or, with `on` false, lets through again) every receipt and heartbeat
    /// `from` sends `to`: the sender is left not knowing whether it was heard.
    pub fn withhold_acks(&self, from: &str, to: &str, on: bool) -> Result<(), DeskError> {
        let mut b = lock(&self.book);
        b.check_parties(&[from, to])?;
        let key = (from.to_owned(), to.to_owned());
        b.withheld_acks.retain(|k| *k != key);
        if on {
            b.withheld_acks.push(key);
        }
        b.version = b.version.wrapping_add(1);
        Ok(())
    }
}

/// The broker's side of the desk: the [`Move`] that stops envelopes and applies the
/// person's choices.
#[derive(Debug)]
pub struct DeskMove {
    book: Arc<Mutex<Book>>,
}

fn reading(seen: &Observed) -> String {
    match EnvelopeIn::decode(&seen.frame) {
        Ok(envelope) => read_line(&Inspected {
            envelope,
            attestation: seen.attestation,
        }),
        Err(_) => String::new(),
    }
}

impl Book {
    fn check_parties(&self, names: &[&str]) -> Result<(), DeskError> {
        match names.iter().find(|n| !self.parties.iter().any(|p| p == *n)) {
            Some(unknown) => Err(DeskError::UnknownParty((*unknown).to_owned())),
            None => Ok(()),
        }
    }

    fn record(&mut self, m: DeskMoveMade) {
        self.moves.push(m);
        self.version = self.version.wrapping_add(1);
    }

    fn apply(&mut self, now: Timestamp, id: u64, choice: Choice, out: &mut Vec<Out>) {
        let Some(card) = self.cards.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let seen = card.seen.clone();
        let e = &seen.envelope;
        let (from, to, seq) = (e.sender.to_string(), e.recipient.to_string(), e.seq);
        let what = choice.name();
        let before = out.len();
        let detail = match &choice {
            Choice::Forward => {
                card.state = CardState::Forwarded;
                out.push(Out::forward(&seen));
                format!("passed {from}'s #{seq} on to {to} as it came")
            }
            Choice::Hold => {
                card.state = CardState::Held;
                format!("holds {from}'s #{seq} to {to}")
            }
            Choice::Drop => {
                card.state = CardState::Dropped;
                format!("dropped {from}'s #{seq} to {to}")
            }
            Choice::Edit(a) => {
                card.state = CardState::Edited;
                let mut changed = e.clone();
                changed.body = altered(&e.body, a);
                let words = changed.body.to_string();
                out.push(Out::altered(&seen, changed));
                format!("changed the words of {from}'s #{seq} to {to}: {words}")
            }
            Choice::Redirect(other) => {
                card.state = CardState::Redirected(other.clone());
                out.push(Out::readdressed(&seen, other));
                format!("delivered {from}'s #{seq} for {to} to {other} instead")
            }
            Choice::Copy(other) => {
                card.state = CardState::Forwarded;
                out.push(Out::forward(&seen));
                out.push(Out::readdressed(&seen, other));
                format!("passed {from}'s #{seq} on to {to} and showed {other} a copy")
            }
            Choice::Replay => {
                out.push(Out::again(&seen));
                format!("delivered {from}'s #{seq} to {to} again")
            }
        };
        if choice != Choice::Replay {
            card.delivered = out.get(before..).unwrap_or_default().to_vec();
        }
        // Who the move reached: for a redirect or a copy, the third power.
        let to = match choice {
            Choice::Redirect(other) | Choice::Copy(other) => other,
            _ => to,
        };
        self.record(DeskMoveMade {
            at: now,
            card: Some(id),
            what,
            from,
            to,
            seq,
            detail,
        });
    }

    fn write(&mut self, now: Timestamp, from: String, to: String, said: Said, out: &mut Vec<Out>) {
        let key = (from, to);
        let Some(template) = self.last_content.get(&key).cloned() else {
            return;
        };
        let (from, to) = key;
        let mut forged: Envelope<'static> = template.envelope.clone();
        forged.seq = template.envelope.seq.saturating_add(1);
        forged.prev = template.digest;
        forged.sent_at = now.max(template.envelope.sent_at);
        forged.body = said.body(now);
        let detail = format!(
            "wrote in {from}'s name to {to} (#{}): {}",
            forged.seq, forged.body
        );
        let seq = forged.seq;
        out.push(Out::altered(&template, forged));
        self.record(DeskMoveMade {
            at: now,
            card: None,
            what: "write",
            from,
            to,
            seq,
            detail,
        });
    }
}

impl Move for DeskMove {
    fn name(&self) -> &'static str {
        "desk"
    }

    fn poll_every(&self) -> Option<Duration> {
        Some(POLL_EVERY)
    }

    /// The desk invents no receipt: a sender hears of a held or dropped card only
    /// through what the recipient really acknowledged.
    fn claims_consumed(&self) -> bool {
        false
    }

    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        let mut b = lock(&self.book);
        let e = &seen.envelope;
        let direction = (e.sender.to_string(), e.recipient.to_string());
        if e.body.is_control() {
            if b.withheld_acks.contains(&direction) {
                let (from, to) = direction;
                let detail = format!(
                    "withheld {from}'s {} to {to} (acknowledges up to #{})",
                    e.body.kind(),
                    e.ack.seq
                );
                b.record(DeskMoveMade {
                    at: now,
                    card: None,
                    what: "withhold-acks",
                    from,
                    to,
                    seq: e.ack.seq,
                    detail,
                });
            } else {
                out.push(Out::forward(seen));
            }
            return;
        }
        // A copy its sender sent again (no receipt yet): the card stands for it, and
        // the copy meets the card's fate (the same delivery again, or none).
        if let Some(card) = b.cards.iter_mut().find(|c| c.seen.frame == seen.frame) {
            card.copies = card.copies.saturating_add(1);
            out.extend(card.delivered.iter().cloned());
            b.version = b.version.wrapping_add(1);
            return;
        }
        b.last_content.insert(direction, seen.clone());
        if b.cards.len() >= MAX_CARDS {
            b.overflow = b.overflow.saturating_add(1);
            out.push(Out::forward(seen));
            return;
        }
        let id = u64::try_from(b.cards.len()).map_or(u64::MAX, |n| n.saturating_add(1));
        b.cards.push(Card {
            id,
            reading: reading(seen),
            seen: seen.clone(),
            arrived: now,
            state: CardState::Waiting,
            copies: 0,
            delivered: Vec::new(),
        });
        b.version = b.version.wrapping_add(1);
    }

    fn poll(&mut self, now: Timestamp, out: &mut Vec<Out>) {
        let mut b = lock(&self.book);
        for q in std::mem::take(&mut b.queued) {
            match q {
                Queued::Choice(id, choice) => b.apply(now, id, choice, out),
                Queued::Write { from, to, said } => b.write(now, from, to, said, out),
            }
        }
    }
}
