//! One party's side of the protocol: its identity and its channels, one per peer.

use std::time::Duration;

use crate::body::Body;
use crate::channel::{Accepted, Channel, SendError, Transmitted};
use crate::config::ChannelConfig;
use crate::event::Event;
use crate::identity::{PartyName, SigningIdentity};
use crate::mode::ChannelMode;
use crate::rejection::Rejection;
use crate::sign_job::SignJob;
use crate::time::Timestamp;
use crate::verify::{EnvelopeIn, PeerPolicy, authenticate_batch};

/// A party's protocol state: routes each received frame to the channel of the peer
/// it claims to come from, and collects what the channels want to send.
///
/// Sans-IO: the driver feeds frames in with [`Endpoint::handle_frame`] and takes
/// frames out with [`Endpoint::poll_transmit`] (see [`Channel`] for the call order).
#[derive(Debug)]
pub struct Endpoint {
    me: SigningIdentity,
    channels: Vec<Channel>,
}

/// The named peer is not one of this endpoint's channels.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no channel with {0:?}: it is not a configured peer")]
pub struct UnknownPeer(pub String);

impl Endpoint {
    /// An endpoint for `me` with a fresh channel to each of `peers`.
    pub fn new(me: SigningIdentity, peers: Vec<PeerPolicy>, config: ChannelConfig) -> Self {
        let channels = peers
            .into_iter()
            .map(|p| Channel::new(me.name().clone(), p, config.clone()))
            .collect();
        Self::with_channels(me, channels)
    }

    /// An endpoint over channels built by the caller (for example restored from disk).
    pub fn with_channels(me: SigningIdentity, channels: Vec<Channel>) -> Self {
        Endpoint { me, channels }
    }

    /// The local party.
    pub fn me(&self) -> &SigningIdentity {
        &self.me
    }

    /// The channels, in configuration order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The channel with `peer`.
    pub fn channel(&self, peer: &str) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.peer().identity.name().as_str() == peer)
    }

    fn channel_index(&self, peer: &str) -> Option<usize> {
        self.channels
            .iter()
            .position(|c| c.peer().identity.name().as_str() == peer)
    }

    /// Sends `body` to `peer`, valid for `ttl`; returns its sequence number.
    pub fn send(
        &mut self,
        now: Timestamp,
        peer: &str,
        body: Body<'_>,
        ttl: Duration,
    ) -> Result<u64, EndpointSendError> {
        let i = self
            .channel_index(peer)
            .ok_or_else(|| UnknownPeer(peer.to_owned()))?;
        let channel = self
            .channels
            .get_mut(i)
            .ok_or_else(|| UnknownPeer(peer.to_owned()))?;
        Ok(channel.send(&self.me, now, body, ttl)?)
    }

    /// Sends each item as [`Endpoint::send`] would, in order, with the same results,
    /// but has the signatures of signed-mode envelopes made by [`SignJob`]s that
    /// `schedule` runs, on whatever threads the driver chooses (see
    /// [`crate::sign_job`]). Any job `schedule` leaves is run here, so every frame is
    /// signed when this returns.
    pub fn send_batch<'b>(
        &mut self,
        now: Timestamp,
        items: impl IntoIterator<Item = (&'b str, Body<'b>, Duration)>,
        schedule: impl FnOnce(&mut [SignJob<'_>]),
    ) -> Vec<Result<u64, EndpointSendError>> {
        let mut results = Vec::new();
        let mut deferred = Vec::new();
        for (peer, body, ttl) in items {
            let me = &self.me;
            let Some((i, channel)) = self
                .channel_index(peer)
                .and_then(|i| self.channels.get_mut(i).map(|c| (i, c)))
            else {
                results.push(Err(UnknownPeer(peer.to_owned()).into()));
                continue;
            };
            let result = channel.send_with(me, now, body, ttl, true);
            results.push(match result {
                Ok((seq, later)) => {
                    if later {
                        deferred.push((i, seq));
                    }
                    Ok(seq)
                }
                Err(e) => Err(e.into()),
            });
        }
        if deferred.is_empty() {
            return results;
        }
        let (me, channels) = (&self.me, &mut self.channels);
        let mut jobs: Vec<SignJob<'_>> = deferred
            .iter()
            .filter_map(|&(i, seq)| {
                let content = channels.get(i)?.unsigned_content(seq)?.to_vec();
                Some(SignJob::new(me, content, (i, seq)))
            })
            .collect();
        schedule(&mut jobs);
        for job in &mut jobs {
            job.run();
            let (i, seq) = job.target;
            // Signing with an in-memory Ed25519 key does not fail; if it ever did,
            // the frame would keep zeros and its recipient refuse it as a bad
            // signature (the sender sees no receipt), never accept it.
            if let (Some(signature), Some(channel)) = (job.signature(), channels.get_mut(i)) {
                channel.fill_signature(seq, signature);
            }
        }
        results
    }

    /// The verdict on one received frame (`proto-spec/protocol.md` §7): decode, then
    /// recipient, sender, mode, channel, authenticator, then the channel's own checks.
    pub fn handle_frame<'a>(
        &mut self,
        now: Timestamp,
        frame: &'a [u8],
    ) -> Result<Accepted<'a>, Rejection> {
        let env = EnvelopeIn::decode(frame)?;
        if env.envelope().recipient != self.me.name().as_str() {
            return Err(Rejection::WrongRecipient {
                recipient: env.envelope().recipient.to_string(),
            });
        }
        let sender = env.envelope().sender.as_ref();
        let channel = self
            .channels
            .iter_mut()
            .find(|c| c.peer().identity.name().as_str() == sender)
            .ok_or_else(|| Rejection::UnknownSender {
                sender: sender.to_owned(),
            })?;
        let verified = if env.envelope().mode == ChannelMode::OffRecord {
            env.check_policy(self.me.name(), channel.peer())?;
            let attestation = channel.authenticate_off_record(&self.me, &env)?;
            env.into_verified(attestation)
        } else {
            env.verify(self.me.name(), channel.peer())?
        };
        channel.handle_verified(now, verified)
    }

    /// The verdicts on a batch of frames, in order, exactly as [`Endpoint::handle_frame`]
    /// on each in turn would give them, with every signature of the batch checked in
    /// one batch verification under the same rule (`protocol.md` §8): the recipient's
    /// share of the crypto cost drops to that of a batch.
    pub fn handle_frames<'a>(
        &mut self,
        now: Timestamp,
        frames: &[&'a [u8]],
    ) -> Vec<Result<Accepted<'a>, Rejection>> {
        // Decode and check policy; remember each envelope's channel.
        let mut checked: Vec<Result<(EnvelopeIn<'a>, usize), Rejection>> = frames
            .iter()
            .map(|frame| {
                let env = EnvelopeIn::decode(frame)?;
                if env.envelope().recipient != self.me.name().as_str() {
                    return Err(Rejection::WrongRecipient {
                        recipient: env.envelope().recipient.to_string(),
                    });
                }
                let sender = env.envelope().sender.as_ref();
                let index = self
                    .channel_index(sender)
                    .ok_or_else(|| Rejection::UnknownSender {
                        sender: sender.to_owned(),
                    })?;
                let peer = self.channels.get(index).map(Channel::peer).ok_or_else(|| {
                    Rejection::UnknownSender {
                        sender: sender.to_owned(),
                    }
                })?;
                env.check_policy(self.me.name(), peer)?;
                Ok((env, index))
            })
            .collect();
        // One batch for every authenticator.
        let attestations = {
            let items: Vec<(&EnvelopeIn<'a>, &crate::identity::PublicIdentity)> = checked
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .filter_map(|(env, i)| self.channels.get(*i).map(|c| (env, &c.peer().identity)))
                .collect();
            authenticate_batch(&items)
        };
        let mut attestations = attestations.into_iter();
        // The channels' own checks, in order.
        checked
            .drain(..)
            .map(|c| {
                let (env, index) = c?;
                let attestation = attestations
                    .next()
                    .unwrap_or(Err(Rejection::BadSignature))?;
                let channel =
                    self.channels
                        .get_mut(index)
                        .ok_or_else(|| Rejection::UnknownSender {
                            sender: env.envelope().sender.to_string(),
                        })?;
                // Off-record tags need the pair's keys, which only the channel holds.
                let attestation = if env.envelope().mode == ChannelMode::OffRecord {
                    channel.authenticate_off_record(&self.me, &env)?
                } else {
                    attestation
                };
                channel.handle_verified(now, env.into_verified(attestation))
            })
            .collect()
    }

    /// Runs every channel's timers.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        for c in &mut self.channels {
            c.handle_timeout(now);
        }
    }

    /// The earliest time any channel needs [`Endpoint::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.channels.iter().filter_map(Channel::poll_timeout).min()
    }

    /// Appends the next frame to send to `out`; returns the peer it is for and what
    /// it is, or `None` when no channel has anything to send.
    pub fn poll_transmit(
        &mut self,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<Option<(PartyName, Transmitted)>, SendError> {
        for c in &mut self.channels {
            if let Some(what) = c.poll_transmit(&self.me, now, out)? {
                return Ok(Some((c.peer().identity.name().clone(), what)));
            }
        }
        Ok(None)
    }

    /// The next event from any channel, with the peer it concerns.
    pub fn poll_event(&mut self) -> Option<(PartyName, Event)> {
        self.channels.iter_mut().find_map(|c| {
            c.poll_event()
                .map(|e| (c.peer().identity.name().clone(), e))
        })
    }

    /// Tells every channel the transport was re-established at `now`.
    pub fn on_reconnect(&mut self, now: Timestamp) {
        for c in &mut self.channels {
            c.on_reconnect(now);
        }
    }

    /// The channels whose last envelope is dated too far ahead of `now` for the peer
    /// to accept ([`Channel::clock_ahead`]), with how far.
    pub fn clock_ahead(&self, now: Timestamp) -> Vec<(PartyName, Duration)> {
        self.channels
            .iter()
            .filter_map(|c| {
                c.clock_ahead(now)
                    .map(|d| (c.peer().identity.name().clone(), d))
            })
            .collect()
    }
}

/// Why [`Endpoint::send`] failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointSendError {
    /// No channel with that peer.
    #[error(transparent)]
    UnknownPeer(#[from] UnknownPeer),
    /// The channel refused.
    #[error(transparent)]
    Send(#[from] SendError),
}
