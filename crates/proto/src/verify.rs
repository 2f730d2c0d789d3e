//! From bytes to a verified envelope: decoding, the policy checks, and signatures.
//!
//! The types carry the rule (openmls `KeyPackageIn` → `KeyPackage`): bytes decode into
//! an [`EnvelopeIn`], which proves nothing; the only way to a [`VerifiedEnvelope`] is
//! [`EnvelopeIn::verify`], and the channel state machine accepts nothing else.

use std::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::Signature;

use crate::channel_id::ChannelId;
use crate::codec;
use crate::digest::Digest;
use crate::domain;
use crate::envelope::Envelope;
use crate::frame::{FrameKind, split_frame};
use crate::identity::{Fingerprint, PartyName, PublicIdentity};
use crate::mode::ChannelMode;
use crate::rejection::Rejection;

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
    /// A signature by the sender's pinned key verified (`verify_strict`): the broker
    /// could not have forged it, and a judge can check it.
    Signed(Fingerprint),
    /// No signature: attribution rests on the broker's word alone.
    Unattested,
}

impl Attestation {
    /// Whether a signature by the named sender verified.
    pub const fn is_attested(self) -> bool {
        matches!(self, Attestation::Signed(_))
    }
}

impl fmt::Display for Attestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attestation::Signed(fp) => write!(f, "attested: signature by key {fp} verified"),
            Attestation::Unattested => f.write_str("UNATTESTED: rests on the broker's word"),
        }
    }
}

/// A reusable buffer for the signing input `"backchannel/v1/envelope\0" || content`,
/// so that verifying many envelopes allocates once.
#[derive(Default, Debug)]
pub struct SigningInput(Vec<u8>);

impl SigningInput {
    fn of(&mut self, content: &[u8]) -> &[u8] {
        self.0.clear();
        self.0.extend_from_slice(domain::ENVELOPE_SIGNATURE);
        self.0.extend_from_slice(content);
        &self.0
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
    digest: Digest,
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
            digest: Digest::of_content(content),
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

    /// The chain digest of the content.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The authenticator bytes as received (a signature in signed mode, empty in
    /// deniable mode).
    pub fn authenticator(&self) -> &'a [u8] {
        self.authenticator
    }

    /// Checks this envelope against local policy for the peer it claims to come from,
    /// in the order of `proto-spec/protocol.md` §7: recipient, sender, mode, channel,
    /// authenticator.
    pub fn verify(
        self,
        me: &PartyName,
        peer: &PeerPolicy,
        scratch: &mut SigningInput,
    ) -> Result<VerifiedEnvelope<'a>, Rejection> {
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
        let attestation = self.authenticate(&peer.identity, scratch)?;
        Ok(VerifiedEnvelope {
            inner: self,
            attestation,
        })
    }

    /// Checks only authorship: that `sender` is the named sender and, in signed mode,
    /// that its key signed the content (`verify_strict`). What a broker can check
    /// without channel state.
    pub fn authenticate(
        &self,
        sender: &PublicIdentity,
        scratch: &mut SigningInput,
    ) -> Result<Attestation, Rejection> {
        if self.envelope.sender != sender.name().as_str() {
            return Err(Rejection::UnknownSender {
                sender: self.envelope.sender.to_string(),
            });
        }
        match self.envelope.mode {
            ChannelMode::Signed => {
                let signature = self.signature()?;
                sender
                    .key()
                    .verify_strict(scratch.of(self.content), &signature)
                    .map_err(|_| Rejection::BadSignature)?;
                Ok(Attestation::Signed(sender.fingerprint()))
            }
            ChannelMode::Deniable => self.check_deniable().map(|()| Attestation::Unattested),
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

    /// The chain digest of its content.
    pub fn digest(&self) -> Digest {
        self.inner.digest
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

/// Authenticates many envelopes at once with Ed25519 batch verification, falling
/// back to one `verify_strict` per envelope when the batch fails, so each envelope
/// gets its own verdict. Results are in input order.
///
/// Batch verification alone is weaker than `verify_strict`; before batching, every
/// signature's `R` is required to be a canonical encoding of a point that is not of
/// small order, and keys are never weak ([`PublicIdentity`] refuses them). With those
/// checks a batch accepts only signatures that `verify_strict` accepts (except with
/// probability about 2^-128); `proto-spec/protocol.md` §8 gives the argument.
pub fn authenticate_batch(
    items: &[(&EnvelopeIn<'_>, &PublicIdentity)],
) -> Vec<Result<Attestation, Rejection>> {
    let mut results: Vec<Option<Result<Attestation, Rejection>>> = vec![None; items.len()];
    let mut inputs: Vec<u8> = Vec::new();
    let mut batch: Vec<(usize, std::ops::Range<usize>, Signature)> = Vec::new();
    let mut scratch = SigningInput::default();
    for (i, (env, sender)) in items.iter().enumerate() {
        let slot = results.get_mut(i);
        let candidate = env.envelope.mode == ChannelMode::Signed
            && env.envelope.sender == sender.name().as_str();
        let sig = if candidate {
            env.signature().ok()
        } else {
            None
        };
        match sig {
            Some(sig) if r_is_strict(&sig) => {
                let start = inputs.len();
                inputs.extend_from_slice(domain::ENVELOPE_SIGNATURE);
                inputs.extend_from_slice(env.content);
                batch.push((i, start..inputs.len(), sig));
            }
            _ => {
                if let Some(slot) = slot {
                    *slot = Some(env.authenticate(sender, &mut scratch));
                }
            }
        }
    }
    let messages: Vec<&[u8]> = batch
        .iter()
        .map(|(_, range, _)| inputs.get(range.clone()).unwrap_or_default())
        .collect();
    let signatures: Vec<Signature> = batch.iter().map(|(_, _, sig)| *sig).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = batch
        .iter()
        .filter_map(|(i, _, _)| items.get(*i).map(|(_, who)| *who.key()))
        .collect();
    let all_good =
        !batch.is_empty() && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    for (i, _, _) in &batch {
        if let (Some(slot), Some((env, sender))) = (results.get_mut(*i), items.get(*i)) {
            *slot = Some(if all_good {
                Ok(Attestation::Signed(sender.fingerprint()))
            } else {
                env.authenticate(sender, &mut scratch)
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Rejection::BadSignature)))
        .collect()
}

/// Whether a signature's `R` passes the checks `verify_strict` makes on it and batch
/// verification does not: a canonical encoding of a point not of small order.
fn r_is_strict(sig: &Signature) -> bool {
    let r = CompressedEdwardsY(*sig.r_bytes());
    match r.decompress() {
        Some(point) => !point.is_small_order() && point.compress() == r,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_and_noncanonical_r_are_not_batched() {
        // R = identity (small order).
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        assert!(!r_is_strict(&Signature::from_bytes(&bytes)));
        // y = p (non-canonical encoding of y = 0... if on the curve) or off-curve: refused.
        let mut p = [0xffu8; 64];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!r_is_strict(&Signature::from_bytes(&p)));
    }
}
