//! Plugging a move into the broker.

use backchannel_proto::relay::{Delivery, Forward, Inspected, RelayStrategy};
use backchannel_proto::{
    ChannelMode, Digest, Envelope, PublicIdentity, Timestamp, seal_deniable,
    seal_with_foreign_authenticator,
};

use crate::observed::Observed;
use crate::rewriter::Rewriter;

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

/// A broker relay strategy that runs a [`Move`], adaptively in deniable mode.
pub struct Adversary {
    mv: Box<dyn Move>,
    rewriter: Rewriter,
    /// Deniable mode: the digest of every content envelope presented, as the move
    /// handed it over (before renumbering). A message is heard at most once: the
    /// sender's retransmissions of it, and the copies a move held and released with
    /// it, meet the same move and come out as the same envelope, which is not
    /// presented again (it would show the recipient the same words as a new
    /// message). Only [`Out::Again`] presents words a second time.
    presented: std::collections::HashSet<Digest>,
    /// Who plays which role.
    cast: std::sync::Arc<crate::moves::Cast>,
    /// (sender, recipient) -> the sequence number of the first content envelope seen:
    /// positions count from there.
    first_seen: std::collections::HashMap<(String, String), u64>,
    out: Vec<Out>,
    /// Whether the move did anything but pass the last envelope on as it came.
    moved: bool,
}

impl std::fmt::Debug for Adversary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adversary")
            .field("move", &self.mv.name())
            .finish()
    }
}

impl Adversary {
    /// An adversarial broker playing `mv` among the `registered` parties, the first
    /// three of which play alpha, bravo and charlie ([`Cast::from_names`]).
    ///
    /// [`Cast::from_names`]: crate::moves::Cast::from_names
    pub fn new(mv: Box<dyn Move>, registered: Vec<PublicIdentity>) -> Self {
        let names: Vec<&str> = registered.iter().map(|p| p.name().as_str()).collect();
        let cast = std::sync::Arc::new(crate::moves::Cast::from_names(&names));
        let claims_consumed = mv.claims_consumed();
        Adversary {
            mv,
            cast,
            first_seen: std::collections::HashMap::new(),
            rewriter: Rewriter::new(registered, claims_consumed),
            presented: std::collections::HashSet::new(),
            out: Vec::new(),
            moved: false,
        }
    }

    /// Turns what the move pushed to `self.out` into deliveries: in deniable mode each
    /// envelope made to fit the recipient's view (and content already presented is
    /// not presented again, unless it is [`Out::Again`]), else framed as it is.
    fn deliver(&mut self, now: Timestamp, extra: &mut Vec<Delivery>) {
        // Taken out and put back, so the buffer's allocation is kept between envelopes.
        let mut outs = std::mem::take(&mut self.out);
        for out in outs.drain(..) {
            let (envelope, authenticator, again) = match out {
                Out::Frame { to, frame } => {
                    extra.push(Delivery { to, frame });
                    continue;
                }
                Out::Envelope {
                    envelope,
                    authenticator,
                } => (envelope, authenticator, false),
                Out::Again {
                    envelope,
                    authenticator,
                } => (envelope, authenticator, true),
            };
            let delivery = match envelope.mode {
                ChannelMode::Deniable => {
                    if !again && !envelope.body.is_control() && !self.first_presentation(&envelope)
                    {
                        continue;
                    }
                    self.rewriter
                        .present(now, *envelope)
                        .ok()
                        .map(|(to, frame)| Delivery { to, frame })
                }
                _ => {
                    let mut frame = Vec::new();
                    seal_with_foreign_authenticator(&envelope, &authenticator, &mut frame)
                        .ok()
                        .map(|_| Delivery {
                            to: envelope.recipient.to_string(),
                            frame,
                        })
                }
            };
            extra.extend(delivery);
        }
        self.out = outs;
    }

    /// Whether `envelope` (content, as a move handed it over) is presented for the
    /// first time; notes it as presented.
    fn first_presentation(&mut self, envelope: &Envelope<'static>) -> bool {
        let mut scratch = Vec::new();
        match seal_deniable(envelope, &mut scratch) {
            Ok(digest) => self.presented.insert(digest),
            // Cannot be encoded: the rewriter will refuse it too.
            Err(_) => true,
        }
    }
}

impl RelayStrategy for Adversary {
    fn name(&self) -> &'static str {
        self.mv.name()
    }

    fn last_was_a_move(&self) -> bool {
        self.moved
    }

    fn poll_every(&self) -> Option<std::time::Duration> {
        self.mv.poll_every()
    }

    fn poll(&mut self, now: Timestamp, extra: &mut Vec<Delivery>) {
        self.out.clear();
        self.mv.poll(now, &mut self.out);
        self.deliver(now, extra);
    }

    fn relay(
        &mut self,
        now: Timestamp,
        inspected: &Inspected<'_>,
        extra: &mut Vec<Delivery>,
    ) -> Forward {
        let e = inspected.envelope.envelope();
        let position = if e.body.is_control() {
            0
        } else {
            let first = *self
                .first_seen
                .entry((e.sender.to_string(), e.recipient.to_string()))
                .or_insert(e.seq);
            e.seq.checked_sub(first).map_or(0, |d| d.saturating_add(1))
        };
        let seen = Observed::from_inspected(inspected, position, self.cast.clone());
        if seen.envelope.mode == ChannelMode::Deniable {
            self.rewriter.observe(&seen.envelope, seen.digest);
        }
        self.out.clear();
        self.mv.on_envelope(now, &seen, &mut self.out);
        self.moved = self.out.as_slice() != [Out::forward(&seen)];
        self.deliver(now, extra);
        // A move that passed the envelope on exactly as it came did nothing: say so,
        // so the broker's log names only the envelopes a move really touched.
        let original = inspected.envelope.frame();
        if let [only] = extra.as_slice()
            && only.frame == original
            && *only.to == *inspected.envelope.envelope().recipient
        {
            extra.clear();
            return Forward::Original;
        }
        Forward::Withhold
    }
}
