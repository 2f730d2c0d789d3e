//! Plugging a move into the broker.

use backchannel_proto::relay::{Delivery, Forward, Inspected, RelayStrategy};
use backchannel_proto::{
    ChannelMode, Digest, Envelope, PublicIdentity, Timestamp, seal_deniable,
    seal_with_foreign_authenticator,
};

use crate::moves::cast::Cast;
use crate::moves::vocabulary::{Move, Out};
use crate::observed::Observed;
use crate::rewriter::Rewriter;

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
    cast: std::sync::Arc<Cast>,
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
    /// [`Cast::from_names`]: Cast::from_names
    pub fn new(mv: Box<dyn Move>, registered: Vec<PublicIdentity>) -> Self {
        let names: Vec<&str> = registered.iter().map(|p| p.name().as_str()).collect();
        let cast = std::sync::Arc::new(Cast::from_names(&names));
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
