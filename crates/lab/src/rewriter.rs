//! The adaptive deniable-mode adversary: makes whatever it delivers fit.

use std::collections::HashMap;
use std::time::Duration;

use backchannel_proto::{
    Ack, ChannelId, ChannelMode, Digest, Envelope, PublicIdentity, SealError, Timestamp,
    seal_deniable,
};

/// What one direction of a channel looks like to its recipient.
#[derive(Default, Debug)]
struct View {
    /// The head the recipient holds: what the next envelope must link to.
    head: Ack,
    /// The latest sent-at the recipient has seen.
    last_sent_at: Timestamp,
    /// For each view sequence number, the real head of the sender's chain it stands
    /// for (used to translate the recipient's acknowledgements back).
    real_at: Vec<(u64, Ack)>,
}

/// Rewrites deniable-mode envelopes so that each recipient sees a consistent chain
/// (sequence numbers, links, send times, channel ids, acknowledgements) whatever the
/// broker inserted, dropped, reordered or redirected.
///
/// It lies in both directions: envelopes to the recipient are renumbered into the
/// recipient's view, and the recipient's acknowledgements are translated back into the
/// sender's numbering, claiming the envelopes the broker consumed (delivered, dropped
/// or held) before the one acknowledged as delivered, and, for the lab's adversary,
/// everything consumed once the recipient is up to date. Nothing in deniable mode can
/// catch this: no field is authenticated by anyone but the broker.
#[derive(Debug)]
pub struct Rewriter {
    registered: Vec<PublicIdentity>,
    /// (sender, recipient) -> the real head of the sender's chain the broker consumed.
    consumed: HashMap<(String, String), Ack>,
    /// (sender, recipient) -> the recipient's view of that direction.
    views: HashMap<(String, String), View>,
    /// (sender, recipient) -> the last acknowledgement presented to the recipient in
    /// the sender's name; never presented going backwards.
    acks: HashMap<(String, String), Ack>,
    /// Whether an up-to-date recipient's acknowledgement claims everything consumed
    /// ([`Move::claims_consumed`](crate::Move::claims_consumed)).
    claims_consumed: bool,
}

/// How long a delayed deniable envelope is made valid for, from the moment it is
/// delivered.
const FRESH_VALIDITY: Duration = Duration::from_secs(3600);

impl Rewriter {
    /// A rewriter that knows the registered parties' public keys (for channel ids).
    /// With `claims_consumed`, an acknowledgement of everything the recipient was
    /// shown claims every envelope the broker consumed as delivered; without, it
    /// claims what was consumed when the last envelope it acknowledges was presented.
    pub fn new(registered: Vec<PublicIdentity>, claims_consumed: bool) -> Self {
        Rewriter {
            registered,
            claims_consumed,
            consumed: HashMap::new(),
            views: HashMap::new(),
            acks: HashMap::new(),
        }
    }

    /// Notes an envelope the broker received: from now on it is "consumed", and the
    /// sender will be told it was delivered.
    pub fn observe(&mut self, env: &Envelope<'_>, digest: Digest) {
        if env.body.is_control() {
            return;
        }
        let key = (env.sender.to_string(), env.recipient.to_string());
        let c = self.consumed.entry(key).or_default();
        if env.seq > c.seq {
            *c = Ack {
                seq: env.seq,
                head: digest,
            };
        }
    }

    /// Makes `env` fit its recipient's view and seals it (deniable mode). Returns the
    /// recipient and the frame.
    pub fn present(
        &mut self,
        now: Timestamp,
        mut env: Envelope<'static>,
    ) -> Result<(String, Vec<u8>), SealError> {
        let sender = env.sender.to_string();
        let recipient = env.recipient.to_string();
        let key = |name: &str| self.registered.iter().find(|p| p.name().as_str() == name);
        if let (Some(a), Some(b)) = (key(&sender), key(&recipient)) {
            env.channel = ChannelId::derive(a.key(), b.key(), ChannelMode::Deniable, "main");
        }
        env.mode = ChannelMode::Deniable;
        // In the recipient's numbering, and never behind what it was shown before in
        // the sender's name (an invented or relabelled envelope carries someone
        // else's acknowledgement).
        let translated = self.translate_ack(&recipient, &sender, env.ack);
        let shown = self
            .acks
            .entry((sender.clone(), recipient.clone()))
            .or_default();
        if translated.seq >= shown.seq {
            *shown = translated;
        }
        env.ack = *shown;
        let real = self
            .consumed
            .get(&(sender.clone(), recipient.clone()))
            .copied()
            .unwrap_or_default();
        let view = self.views.entry((sender, recipient.clone())).or_default();
        let control = env.body.is_control();
        if control {
            env.seq = view.head.seq;
            env.sent_at = env
                .sent_at
                .max(view.last_sent_at.saturating_add(Duration::from_millis(1)));
        } else {
            env.seq = view.head.seq.saturating_add(1);
            env.sent_at = env.sent_at.max(view.last_sent_at);
        }
        env.prev = view.head.head;
        if env.expires_at < now.saturating_add(Duration::from_secs(5)) {
            env.expires_at = now.saturating_add(FRESH_VALIDITY);
        }
        env.expires_at = env.expires_at.max(env.sent_at);
        let mut frame = Vec::new();
        let digest = seal_deniable(&env, &mut frame)?;
        view.last_sent_at = env.sent_at;
        if !control {
            view.head = Ack {
                seq: env.seq,
                head: digest,
            };
            view.real_at.push((env.seq, real));
        }
        Ok((recipient, frame))
    }

    /// `ack` is what `from` acknowledges of `to`'s chain, in the numbering of the view
    /// the broker showed `from`; returns it in `to`'s real numbering.
    fn translate_ack(&self, to: &str, from: &str, ack: Ack) -> Ack {
        if ack.seq == 0 {
            return Ack::default();
        }
        let key = (to.to_owned(), from.to_owned());
        let Some(view) = self.views.get(&key) else {
            return ack;
        };
        if self.claims_consumed && ack.seq >= view.head.seq {
            // Up to date with what it was shown: claim everything consumed.
            return self.consumed.get(&key).copied().unwrap_or_default();
        }
        view.real_at
            .iter()
            .find(|(v, _)| *v == ack.seq)
            .map(|(_, real)| *real)
            .unwrap_or_default()
    }
}
