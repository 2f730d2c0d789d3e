//! From bytes to a verified envelope: decoding, the policy checks, and signatures.
//!
//! The types carry the rule (openmls `KeyPackageIn` → `KeyPackage`): bytes decode into
//! an [`EnvelopeIn`], which proves nothing; the only way to a [`VerifiedEnvelope`] is
//! [`EnvelopeIn::verify`], and the channel state machine accepts nothing else.

use std::fmt;

use ed25519_dalek::Signature;

use crate::channel_id::ChannelId;
use crate::codec;
use crate::digest::Digest;
use crate::domain;
use crate::envelope::Envelope;
use crate::frame::{FrameKind, split_frame};
use crate::identity::{Fingerprint, PartyName, PublicIdentity};
use crate::mode::ChannelMode;
use crate::off_record;
use crate::rejection::Rejection;
use crate::signature_rule;

/// What local policy pins for one peer: who it is, the channel, and its mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerPolicy {
    /// The peer's name and pinned key.
    pub identity: PublicIdentity,
    /// The mode every envelope from and to this peer must use.
    pub mode: ChannelMode,
    /// The channel with this peer.
    pub channel: ChannelId,
}

impl PeerPolicy {
    /// The policy for talking to `peer` from `me` in `mode` on the channel named `label`.
    pub fn new(me: &PublicIdentity, peer: PublicIdentity, mode: ChannelMode, label: &str) -> Self {
        let channel = ChannelId::derive(me.key(), peer.key(), mode, label);
        PeerPolicy {
            identity: peer,
            mode,
            channel,
        }
    }
}

/// On what grounds a recipient attributes an envelope to its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attestation {
    /// A signature by the sender's pinned key verified (the one rule, `protocol.md` §8): the broker
    /// could not have forged it, and a judge can check it.
    Signed(Fingerprint),
    /// Off-record: a MAC under the key this party shares with the pinned sender (whose
    /// key has this fingerprint) verified. The broker could not have made it; but this
    /// party could have, so it convinces the recipient and nobody else.
    Mac(Fingerprint),
    /// Off-record, seen by someone without the pair's key (the broker): a MAC only the
    /// two parties can check. Nothing verified here.
    MacUnchecked,
    /// No signature: attribution rests on the broker's word alone.
    Unattested,
}

impl Attestation {
    /// Whether the recipient knows the named sender wrote it (a signature or a MAC by
    /// the pinned peer verified): the broker could not have forged it.
    pub const fn is_attested(self) -> bool {
        matches!(self, Attestation::Signed(_) | Attestation::Mac(_))
    }

    /// Whether a third party could be convinced too (a signature only).
    pub const fn is_provable(self) -> bool {
        matches!(self, Attestation::Signed(_))
    }

    /// `signature`, `mac`, `unchecked-mac` (the broker's view of an off-record
    /// envelope) or `none`: what authenticated it, as `--json` outputs name it.
    pub const fn kind(self) -> &'static str {
        match self {
            Attestation::Signed(_) => "signature",
            Attestation::Mac(_) => "mac",
            Attestation::MacUnchecked => "unchecked-mac",
            Attestation::Unattested => "none",
        }
    }
}

impl fmt::Display for Attestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attestation::Signed(fp) => write!(f, "attested: signature by key {fp} verified"),
            Attestation::Mac(fp) => write!(
                f,
                "attested to us: MAC under the key shared with {fp} verified (provable to nobody)"
            ),
            Attestation::MacUnchecked => {
                f.write_str("off-record: a MAC only the two parties can check")
            }
            Attestation::Unattested => f.write_str("UNATTESTED: rests on the broker's word"),
        }
    }
}

/// An envelope decoded from a frame and not yet checked against anything.
///
/// It keeps the exact bytes it came from: signatures and digests are computed over
/// them, never over a re-encoding.
#[derive(Clone, Debug)]
pub struct EnvelopeIn<'a> {
    frame: &'a [u8],
    content: &'a [u8],
    authenticator: &'a [u8],
    envelope: Envelope<'a>,
}

impl<'a> EnvelopeIn<'a> {
    /// Decodes one complete envelope frame (`proto-spec/protocol.md` §5.1):
    /// frame header, content length, content, authenticator.
    pub fn decode(frame: &'a [u8]) -> Result<Self, Rejection> {
        let (header, body) = split_frame(frame)?;
        if header.kind != FrameKind::Envelope {
            return Err(Rejection::Malformed("not an envelope frame"));
        }
        let (len, rest) = body
            .split_first_chunk::<4>()
            .ok_or(Rejection::Malformed("truncated content length"))?;
        let content_len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        let (content, authenticator) = rest
            .split_at_checked(content_len)
            .ok_or(Rejection::Malformed("content length exceeds the frame"))?;
        let envelope = codec::decode_content(content)?;
        Ok(EnvelopeIn {
            frame,
            content,
            authenticator,
            envelope,
        })
    }

    /// The decoded fields. Nothing about them is verified yet.
    pub fn envelope(&self) -> &Envelope<'a> {
        &self.envelope
    }

    /// The whole frame, as received.
    pub fn frame(&self) -> &'a [u8] {
        self.frame
    }

    /// The content bytes the authenticator covers.
    pub fn content(&self) -> &'a [u8] {
        self.content
    }

    /// The chain digest of the content, computed on each call (a SHA-256 of the
    /// content): only a recipient's channel, the journal and the judge need it, so a
    /// decode (the broker's, a sender's look at its own frame) does not pay for it.
    pub fn digest(&self) -> Digest {
        Digest::of_content(self.content)
    }

    /// The authenticator bytes as received (a signature in signed mode, empty in
    /// deniable mode).
    pub fn authenticator(&self) -> &'a [u8] {
        self.authenticator
    }

    /// Checks this envelope against local policy for the peer it claims to come from,
    /// in the order of `proto-spec/protocol.md` §7: recipient, sender, mode, channel,
    /// authenticator. An off-record envelope is only [`Attestation::MacUnchecked`]
    /// here; a party verifies its tag through the channel, which holds the keys
    /// ([`Endpoint::handle_frame`](crate::Endpoint::handle_frame)).
    pub fn verify(
        self,
        me: &PartyName,
        peer: &PeerPolicy,
    ) -> Result<VerifiedEnvelope<'a>, Rejection> {
        self.check_policy(me, peer)?;
        let attestation = self.authenticate(&peer.identity)?;
        Ok(self.into_verified(attestation))
    }

    /// The checks of [`EnvelopeIn::verify`] that need no cryptography: recipient,
    /// sender, mode, channel, in that order.
    pub fn check_policy(&self, me: &PartyName, peer: &PeerPolicy) -> Result<(), Rejection> {
        let env = &self.envelope;
        if env.recipient != me.as_str() {
            return Err(Rejection::WrongRecipient {
                recipient: env.recipient.to_string(),
            });
        }
        if env.sender != peer.identity.name().as_str() {
            return Err(Rejection::UnknownSender {
                sender: env.sender.to_string(),
            });
        }
        if env.mode != peer.mode {
            return Err(Rejection::ModeMismatch {
                expected: peer.mode,
                got: env.mode,
            });
        }
        if env.channel != peer.channel {
            return Err(Rejection::WrongChannel {
                expected: peer.channel,
                got: env.channel,
            });
        }
        Ok(())
    }

    /// Wraps an envelope whose policy checks passed and whose authenticator was
    /// checked (alone or in a batch) with this result.
    pub(crate) fn into_verified(self, attestation: Attestation) -> VerifiedEnvelope<'a> {
        VerifiedEnvelope {
            inner: self,
            attestation,
        }
    }

    /// Checks only authorship: that `sender` is the named sender and, in signed mode,
    /// that its key signed the content under the one verification rule
    /// ([`signature_rule`](crate::signature_rule), `protocol.md` §8). What a broker
    /// can check without channel state. In off-record mode only the layout is checked
    /// ([`Attestation::MacUnchecked`]): the tag needs the pair's key, which
    /// [`Endpoint`](crate::Endpoint) checks through the channel.
    pub fn authenticate(&self, sender: &PublicIdentity) -> Result<Attestation, Rejection> {
        if self.envelope.sender != sender.name().as_str() {
            return Err(Rejection::UnknownSender {
                sender: self.envelope.sender.to_string(),
            });
        }
        match self.envelope.mode {
            ChannelMode::Signed => {
                let signature = self.signature()?;
                if !signature_rule::verify(
                    sender.key(),
                    &[domain::ENVELOPE_SIGNATURE, self.content],
                    &signature,
                ) {
                    return Err(Rejection::BadSignature);
                }
                Ok(Attestation::Signed(sender.fingerprint()))
            }
            ChannelMode::Deniable => self.check_deniable().map(|()| Attestation::Unattested),
            // Only the two parties hold the key: see `Channel::authenticate_off_record`.
            ChannelMode::OffRecord => off_record::OffRecordAuth::parse(self.authenticator)
                .map(|_| Attestation::MacUnchecked),
            ChannelMode::Other(_) => Err(Rejection::Malformed("unknown channel mode")),
        }
    }

    /// A deniable envelope has an empty authenticator; that is all there is to check.
    pub(crate) fn check_deniable(&self) -> Result<(), Rejection> {
        if self.authenticator.is_empty() {
            Ok(())
        } else {
            Err(Rejection::Malformed(
                "a deniable envelope carries an authenticator",
            ))
        }
    }

    fn signature(&self) -> Result<Signature, Rejection> {
        let bytes: &[u8; 64] = self
            .authenticator
            .try_into()
            .map_err(|_| Rejection::BadSignature)?;
        Ok(Signature::from_bytes(bytes))
    }
}

/// An envelope whose recipient, sender, mode, channel and authenticator were checked
/// against local policy. Its place in the channel's history is checked by
/// [`Channel::handle_verified`](crate::Channel::handle_verified).
#[derive(Clone, Debug)]
pub struct VerifiedEnvelope<'a> {
    inner: EnvelopeIn<'a>,
    attestation: Attestation,
}

impl<'a> VerifiedEnvelope<'a> {
    /// The fields.
    pub fn envelope(&self) -> &Envelope<'a> {
        &self.inner.envelope
    }

    /// On what grounds it is attributed to its sender.
    pub fn attestation(&self) -> Attestation {
        self.attestation
    }

    /// The chain digest of its content (computed on each call).
    pub fn digest(&self) -> Digest {
        self.inner.digest()
    }

    /// The frame as received.
    pub fn frame(&self) -> &'a [u8] {
        self.inner.frame
    }

    /// The fields, detached from the checks.
    pub fn into_envelope(self) -> Envelope<'a> {
        self.inner.envelope
    }
}

/// Authenticates many envelopes at once with one batch verification under the same
/// rule as [`EnvelopeIn::authenticate`] ([`signature_rule`](crate::signature_rule)),
/// falling back to one verification per envelope when the batch fails, so each
/// envelope gets its own verdict. Results are in input order, and each is exactly what
/// `authenticate` would say (except with probability about 2^-128).
pub fn authenticate_batch(
    items: &[(&EnvelopeIn<'_>, &PublicIdentity)],
) -> Vec<Result<Attestation, Rejection>> {
    let mut results: Vec<Option<Result<Attestation, Rejection>>> = vec![None; items.len()];
    let mut batch: Vec<(usize, Signature)> = Vec::new();
    for (i, (env, sender)) in items.iter().enumerate() {
        let candidate = env.envelope.mode == ChannelMode::Signed
            && env.envelope.sender == sender.name().as_str();
        match env.signature().ok().filter(|_| candidate) {
            Some(sig) => batch.push((i, sig)),
            None => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(env.authenticate(sender));
                }
            }
        }
    }
    let checks: Vec<signature_rule::BatchItem<'_>> = batch
        .iter()
        .filter_map(|(i, sig)| {
            items.get(*i).map(|(env, who)| signature_rule::BatchItem {
                key: who.key(),
                message: [domain::ENVELOPE_SIGNATURE, env.content],
                signature: sig,
            })
        })
        .collect();
    let all_good = !checks.is_empty() && signature_rule::verify_batch(&checks);
    for (i, _) in &batch {
        if let (Some(slot), Some((env, sender))) = (results.get_mut(*i), items.get(*i)) {
            *slot = Some(if all_good {
                Ok(Attestation::Signed(sender.fingerprint()))
            } else {
                env.authenticate(sender)
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Rejection::BadSignature)))
        .collect()
}
