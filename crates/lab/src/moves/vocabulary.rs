//! What every move is made of: [`Move`], the intermediary's decision on each envelope it
//! relays, and [`Out`], what it hands the broker to deliver. The lab's attacks, a
//! scenario's script ([`ScriptedMove`](crate::moves::ScriptedMove)) and the
//! classroom's desk ([`DeskMove`](crate::desk::DeskMove)) are all moves;
//! [`Adversary`](crate::Adversary) plugs any of them into the broker.

use backchannel_proto::{Ack, ChannelMode, Envelope, Timestamp};

use crate::observed::Observed;

/// What a move wants delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Deliver this envelope to its recipient. In signed mode it is framed with
    /// `authenticator` as is (any change to the fields breaks the signature); in
    /// deniable mode the [`Rewriter`] first makes it fit the recipient's view.
    Envelope {
        /// The fields, possibly changed.
        envelope: Box<Envelope<'static>>,
        /// The authenticator to frame it with (ignored in deniable mode).
        authenticator: Vec<u8>,
    },
    /// Deliver this envelope once more, on purpose (a replay): unlike
    /// [`Out::Envelope`], in deniable mode it is presented as a new message even when
    /// the recipient already heard these words. Framed as is in the other modes.
    Again {
        /// The fields.
        envelope: Box<Envelope<'static>>,
        /// The authenticator to frame it with (ignored in deniable mode).
        authenticator: Vec<u8>,
    },
    /// Deliver exactly these bytes to `to`.
    Frame {
        /// The party.
        to: String,
        /// The bytes.
        frame: Vec<u8>,
    },
}

impl Out {
    /// Deliver `seen` as it came.
    pub fn forward(seen: &Observed) -> Self {
        Out::Envelope {
            envelope: Box::new(seen.envelope.clone()),
            authenticator: seen.authenticator.clone(),
        }
    }

    /// Deliver `seen` once more, on purpose: see [`Out::Again`].
    pub fn again(seen: &Observed) -> Self {
        Out::Again {
            envelope: Box::new(seen.envelope.clone()),
            authenticator: seen.authenticator.clone(),
        }
    }

    /// `seen` delivered to `other`: in deniable mode re-addressed and made to fit
    /// `other`'s view; otherwise as it is, naming its real recipient (the broker
    /// cannot re-address what is authenticated, so `other` refuses it as
    /// `wrong-recipient`, having read it).
    pub fn readdressed(seen: &Observed, other: &str) -> Self {
        if seen.envelope.mode == ChannelMode::Deniable {
            let mut moved = seen.envelope.clone();
            moved.recipient = other.to_owned().into();
            // Its acknowledgement is of its real recipient's chain; of `other`'s it
            // acknowledges nothing, so the rewriter shows `other` no more than it
            // showed it before in the sender's name (never an acknowledgement of
            // envelopes `other` did not send, which `other` would refuse).
            moved.ack = Ack::default();
            Out::altered(seen, moved)
        } else {
            Out::Frame {
                to: other.to_owned(),
                frame: seen.frame.clone(),
            }
        }
    }

    /// Deliver `envelope` (derived from `seen`) under `seen`'s authenticator.
    pub fn altered(seen: &Observed, envelope: Envelope<'static>) -> Self {
        Out::Envelope {
            envelope: Box::new(envelope),
            authenticator: seen.authenticator.clone(),
        }
    }
}

/// One attack: decides, for each envelope the broker relays, what to deliver instead.
pub trait Move: Send {
    /// The attack's name, e.g. `drop`.
    fn name(&self) -> &'static str;

    /// Called for every envelope the broker relays, in order, with the broker's clock.
    /// Whatever is pushed to `out` is delivered; nothing else is (the original too must
    /// be pushed, usually with [`Out::forward`]).
    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>);

    /// How often the move wants [`Move::poll`] called: for a move whose decisions come
    /// later than the envelope (the broker's desk). `None`, the default: never.
    fn poll_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// What the move decided since it was last asked, with no envelope arriving.
    fn poll(&mut self, _now: Timestamp, _out: &mut Vec<Out>) {}

    /// Deniable mode: whether the sender is told that everything the broker took in
    /// was delivered as soon as the recipient is up to date with what it was shown.
    /// `true`, the default, is the lab's adversary, which lies as well as the mode
    /// allows (a dropped or withheld last message still gets its receipt). A move
    /// that invents no receipt (a scenario's script, a person at the desk) says
    /// `false`: the sender then hears only what the recipient really acknowledged,
    /// translated back, which covers a held or dropped envelope once a later one of
    /// the same sender was passed on, and a held one that is released once it is.
    fn claims_consumed(&self) -> bool {
        true
    }
}
