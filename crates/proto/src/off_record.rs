//! Off-record mode (wire value 3): a MAC only the two parties can make, whose keys are
//! published once they no longer matter (`proto-spec/protocol.md` §6.4).
//!
//! What each step buys, and what it does not:
//!
//! * **A pair secret** from X25519 between the two parties' *identity* keys (each
//!   Ed25519 key used in its Montgomery form, RFC 7748), so no new key is pinned. The
//!   broker lacks it, so it cannot forge or alter; but either party can compute it, so
//!   a tag proves nothing to a third party, even one handed a party's private key.
//!   It is static: anyone who steals an identity key can compute every tag ever made
//!   with it (there is no forward secrecy; OTR adds ephemeral Diffie-Hellman for that).
//! * **Per direction, per channel keys**: HKDF-SHA256 over the protocol version, the
//!   channel id, both names in order and the direction, so a tag from one direction,
//!   channel or version never verifies in another.
//! * **A hash chain of epochs** (every [`EPOCH_LEN`] content envelopes): the chain key
//!   of epoch `e + 1` is derived from that of `e`, and each epoch's MAC key from its
//!   chain key. Publishing one epoch's MAC key says nothing about any other epoch's.
//! * **Reveals** (OTR's trick): once the peer has acknowledged every envelope of an
//!   epoch, the sender publishes that epoch's MAC key in its later envelopes. From then
//!   on anyone, the broker included, could have produced those old envelopes, so a
//!   transcript is worthless as evidence even before anyone steals a key. A recipient
//!   refuses anything under a revealed key ([`Rejection::RevealedKey`]).
//!
//! Tags are ChaCha20-Poly1305 (RFC 8439) over an empty plaintext with the
//! domain-separated content as associated data, under a nonce made from the direction,
//! the envelope kind and its sequence number (content) or its strictly increasing
//! `sent_at` (receipts and heartbeats): never reused under one key. They are checked in
//! constant time by the AEAD's own decryption.

use std::collections::VecDeque;
use std::fmt;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::channel_id::ChannelId;
use crate::domain;
use crate::envelope::Envelope;
use crate::rejection::Rejection;
use crate::version::ProtocolVersion;

/// Content envelopes per epoch: once the peer acknowledges an epoch's envelopes, their
/// key is revealed. One, so that every acknowledged envelope becomes deniable by
/// anyone at the sender's next envelope; it costs two HKDF-Expands per envelope.
pub const EPOCH_LEN: u64 = 1;
/// Bytes of a tag.
pub const TAG_LEN: usize = 16;
/// Bytes of a reveal: `epoch u64 || MAC key [32]`.
pub const REVEAL_LEN: usize = 8 + 32;
/// How many epochs a receiver keeps keys for behind the newest it authenticated: older
/// envelopes (only duplicates of what it already has) are refused as stale.
pub const KEPT_EPOCHS: u64 = 64;
/// How far ahead of the newest authenticated epoch a receiver derives keys: the bound
/// on the work an unauthenticated envelope can cause. An honest sender is never more
/// than its unacknowledged window (`max_unacked / EPOCH_LEN`) ahead.
pub const MAX_EPOCHS_AHEAD: u64 = 4096;

/// The epoch an envelope's tag is made in: content `seq` s is in epoch `(s - 1) /
/// EPOCH_LEN`; a receipt or heartbeat announcing head h is in the epoch of the next
/// content, `h / EPOCH_LEN`. So a control envelope is never in an epoch that was
/// revealed: the sender reveals only fully acknowledged epochs, which lie behind `h`.
pub fn epoch_of(env: &Envelope<'_>) -> u64 {
    if env.body.is_control() {
        env.seq / EPOCH_LEN
    } else {
        env.seq.saturating_sub(1) / EPOCH_LEN
    }
}

/// The newest epoch a sender may reveal once the peer acknowledged up to `acked_seq`:
/// every content envelope of it is acknowledged.
pub fn revealable_epoch(acked_seq: u64) -> Option<u64> {
    (acked_seq / EPOCH_LEN).checked_sub(1)
}

/// The 12-byte nonce: `direction u8 || kind u8 (0 content, 1 control) || 0u16 ||
/// counter u64`, counter = `seq` for content, `sent_at` in ms for control (strictly
/// increasing along a sender's chain). Direction 0 is the lower name sending.
pub fn nonce_for(env: &Envelope<'_>) -> [u8; 12] {
    let direction = u8::from(env.sender > env.recipient);
    let (kind, counter) = if env.body.is_control() {
        (1u8, env.sent_at.as_millis())
    } else {
        (0u8, env.seq)
    };
    let c = counter.to_be_bytes();
    let mut n = [direction, kind, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (slot, byte) in n.iter_mut().skip(4).zip(c) {
        *slot = byte;
    }
    n
}

/// A 32-byte secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// The bytes (for test vectors and for publishing a revealed key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Secret32(bytes)
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32(..)")
    }
}

/// The X25519 secret two parties share, from one's identity key and the other's public
/// key. Either party computes the same value.
pub fn pair_secret(mine: &SigningKey, theirs: &VerifyingKey) -> Result<Secret32, Rejection> {
    let shared = theirs.to_montgomery().mul_clamped(mine.to_scalar_bytes());
    let bytes = shared.to_bytes();
    // An all-zero result means a small-order peer key, which pinning already refuses.
    if bytes == [0u8; 32] {
        return Err(Rejection::Malformed(
            "small-order key in an off-record channel",
        ));
    }
    Ok(Secret32(bytes))
}

/// The chain key of epoch 0 of the direction `sender` -> `recipient`:
/// `HKDF-SHA256(salt = "backchannel/v1/off-record/root\0", ikm = pair secret, info =
/// version u16 || channel [16] || u8 len || lower name || u8 len || higher name ||
/// direction u8)`, direction 0 when the lower name sends.
pub fn chain_root(
    secret: &Secret32,
    version: ProtocolVersion,
    channel: ChannelId,
    sender: &str,
    recipient: &str,
) -> Secret32 {
    let (lo, hi) = if sender <= recipient {
        (sender, recipient)
    } else {
        (recipient, sender)
    };
    let mut info = Vec::with_capacity(2 + 16 + 2 + lo.len() + hi.len() + 1);
    info.extend_from_slice(&version.to_u16().to_be_bytes());
    info.extend_from_slice(&channel.0);
    for name in [lo, hi] {
        info.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        info.extend_from_slice(name.as_bytes());
    }
    info.push(u8::from(sender > recipient));
    let hk = Hkdf::<Sha256>::new(Some(domain::OFF_RECORD_ROOT), &secret.0);
    Secret32(expand(&hk, &info))
}

fn expand(hk: &Hkdf<Sha256>, info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 8160: this cannot fail.
    let _ = hk.expand(info, &mut out);
    out
}

fn from_chain(chain: &Secret32, label: &[u8]) -> Secret32 {
    // A 32-byte PRK is exactly HKDF-SHA256's hash length: accepted.
    match Hkdf::<Sha256>::from_prk(&chain.0) {
        Ok(hk) => Secret32(expand(&hk, label)),
        Err(_) => Secret32([0u8; 32]),
    }
}

/// The chain key of the next epoch: `HKDF-Expand(chain, "backchannel/v1/off-record/next\0")`.
pub fn next_chain(chain: &Secret32) -> Secret32 {
    from_chain(chain, domain::OFF_RECORD_NEXT)
}

/// The MAC key of an epoch: `HKDF-Expand(chain, "backchannel/v1/off-record/mac\0")`.
pub fn mac_key(chain: &Secret32) -> Secret32 {
    from_chain(chain, domain::OFF_RECORD_MAC)
}

/// ChaCha20-Poly1305 (RFC 8439) encryption of `buf` in place, returning the tag: the one
/// AEAD call every off-record tag goes through (the RFC's own vectors are checked
/// through it).
pub fn aead_seal_detached(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    match cipher.encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into()) {
        Ok(t) => t.into(),
        // Only a plaintext beyond 2^38 bytes fails; envelopes are 64 KiB at most.
        Err(_) => [0u8; TAG_LEN],
    }
}

/// The tag over `"backchannel/v1/off-record/tag\0" || u32 len(content) || content ||
/// reveal` (the length keeps content and reveal apart), with an empty plaintext.
pub fn tag(key: &Secret32, nonce: &[u8; 12], content: &[u8], reveal: &[u8]) -> [u8; TAG_LEN] {
    aead_seal_detached(&key.0, nonce, &associated_data(content, reveal), &mut [])
}

/// Whether `tag` is the tag of [`tag`], compared in constant time (the AEAD's own
/// decryption check).
pub fn tag_verifies(
    key: &Secret32,
    nonce: &[u8; 12],
    content: &[u8],
    reveal: &[u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    let cipher = ChaCha20Poly1305::new(&key.0.into());
    let aad = associated_data(content, reveal);
    let mut empty: [u8; 0] = [];
    cipher
        .decrypt_inout_detached(
            &Nonce::from(*nonce),
            &aad,
            (&mut empty[..]).into(),
            &Tag::from(*tag),
        )
        .is_ok()
}

/// The associated data a tag covers (public for test vectors).
pub fn associated_data(content: &[u8], reveal: &[u8]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(domain::OFF_RECORD_TAG.len() + 4 + content.len() + reveal.len());
    aad.extend_from_slice(domain::OFF_RECORD_TAG);
    aad.extend_from_slice(
        &u32::try_from(content.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    aad.extend_from_slice(content);
    aad.extend_from_slice(reveal);
    aad
}

/// An off-record authenticator taken apart: `[reveal (epoch u64 || key [32])] || tag [16]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffRecordAuth<'a> {
    /// The reveal bytes as sent (empty or [`REVEAL_LEN`] bytes): the tag covers them.
    pub reveal_bytes: &'a [u8],
    /// The revealed epoch and its MAC key, if any.
    pub reveal: Option<(u64, Secret32)>,
    /// The tag.
    pub tag: [u8; TAG_LEN],
}

impl<'a> OffRecordAuth<'a> {
    /// Parses an authenticator of 16 (tag only) or 56 bytes (reveal, then tag).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Rejection> {
        let (reveal_bytes, tag) = bytes
            .split_last_chunk::<TAG_LEN>()
            .ok_or(Rejection::Malformed("off-record authenticator too short"))?;
        let reveal = match reveal_bytes.len() {
            0 => None,
            REVEAL_LEN => {
                let (epoch, key) = reveal_bytes
                    .split_first_chunk::<8>()
                    .ok_or(Rejection::Malformed("off-record reveal truncated"))?;
                let key: [u8; 32] = key
                    .try_into()
                    .map_err(|_| Rejection::Malformed("off-record reveal truncated"))?;
                Some((u64::from_be_bytes(*epoch), Secret32(key)))
            }
            _ => {
                return Err(Rejection::Malformed(
                    "off-record authenticator is neither 16 nor 56 bytes",
                ));
            }
        };
        Ok(OffRecordAuth {
            reveal_bytes,
            reveal,
            tag: *tag,
        })
    }
}

/// The reveal bytes for `(epoch, key)`.
pub fn encode_reveal(epoch: u64, key: &Secret32) -> [u8; REVEAL_LEN] {
    let mut out = [0u8; REVEAL_LEN];
    for (slot, byte) in out
        .iter_mut()
        .zip(epoch.to_be_bytes().into_iter().chain(key.0))
    {
        *slot = byte;
    }
    out
}

/// One direction's chain of epoch keys, as one side walks it: the newest epoch
/// reached (the cursor) and the MAC keys of the [`KEPT_EPOCHS`] epochs up to it.
///
/// The cursor only moves forward, and on the receiving side only once an envelope of
/// the new epoch authenticated ([`KeyChain::look_up`] computes without moving it), so
/// forged envelopes cost at most [`MAX_EPOCHS_AHEAD`] derivations each and change
/// nothing.
#[derive(Clone, Debug)]
pub struct KeyChain {
    cursor_epoch: u64,
    cursor: Secret32,
    /// `(epoch, MAC key)`, oldest first, ending at the cursor.
    kept: VecDeque<(u64, Secret32)>,
    /// Epochs at or below this were revealed and are no longer accepted.
    revealed: Option<u64>,
}

/// A key the chain would have to move forward to: apply with [`KeyChain::advance`]
/// once the envelope authenticated.
#[derive(Clone, Debug)]
pub struct Advance {
    epoch: u64,
    chain: Secret32,
    macs: Vec<(u64, Secret32)>,
}

impl KeyChain {
    /// A chain starting at its root (epoch 0), with its cursor walked to `start`.
    /// Walking costs one derivation per epoch: done once per process for a restored
    /// channel.
    pub fn new(root: Secret32, start: u64) -> Self {
        let mut chain = KeyChain {
            cursor_epoch: 0,
            kept: VecDeque::from([(0, mac_key(&root))]),
            cursor: root,
            revealed: None,
        };
        let mut epoch = 0;
        while epoch < start {
            let next = next_chain(&chain.cursor);
            epoch += 1;
            chain.push(epoch, next);
        }
        chain
    }

    fn push(&mut self, epoch: u64, chain_key: Secret32) {
        let mac = mac_key(&chain_key);
        self.cursor = chain_key;
        self.cursor_epoch = epoch;
        self.kept.push_back((epoch, mac));
        while self.kept.len() as u64 > KEPT_EPOCHS {
            self.kept.pop_front();
        }
    }

    /// The newest epoch reached.
    pub fn cursor(&self) -> u64 {
        self.cursor_epoch
    }

    /// The newest epoch the peer revealed (receiving side) or this side revealed.
    pub fn revealed(&self) -> Option<u64> {
        self.revealed
    }

    /// Records that epochs up to `epoch` are revealed and drops their keys.
    pub fn mark_revealed(&mut self, epoch: u64) {
        if self.revealed.is_none_or(|r| epoch > r) {
            self.revealed = Some(epoch);
        }
        while self.kept.front().is_some_and(|(e, _)| *e <= epoch) && self.kept.len() > 1 {
            self.kept.pop_front();
        }
    }

    /// The MAC key of `epoch` if it is kept (at or behind the cursor).
    pub fn kept_key(&self, epoch: u64) -> Option<&Secret32> {
        self.kept.iter().find(|(e, _)| *e == epoch).map(|(_, k)| k)
    }

    /// The MAC key of `epoch`, and the move forward it needs if it is ahead of the
    /// cursor; refuses revealed, stale and too-far epochs by name.
    pub fn look_up(&self, epoch: u64) -> Result<(Secret32, Option<Advance>), Rejection> {
        if self.revealed.is_some_and(|r| epoch <= r) {
            return Err(Rejection::RevealedKey { epoch });
        }
        if epoch <= self.cursor_epoch {
            return self
                .kept_key(epoch)
                .map(|k| (k.clone(), None))
                .ok_or(Rejection::StaleEpoch {
                    epoch,
                    oldest: self.kept.front().map_or(self.cursor_epoch, |(e, _)| *e),
                });
        }
        if epoch - self.cursor_epoch > MAX_EPOCHS_AHEAD {
            return Err(Rejection::StaleEpoch {
                epoch,
                oldest: self.kept.front().map_or(self.cursor_epoch, |(e, _)| *e),
            });
        }
        let mut chain = self.cursor.clone();
        let mut macs = Vec::new();
        let keep_from = epoch.saturating_sub(KEPT_EPOCHS - 1);
        for e in self.cursor_epoch + 1..=epoch {
            chain = next_chain(&chain);
            if e >= keep_from {
                macs.push((e, mac_key(&chain)));
            }
        }
        let key = macs
            .last()
            .map(|(_, k)| k.clone())
            .unwrap_or_else(|| mac_key(&chain));
        Ok((key, Some(Advance { epoch, chain, macs })))
    }

    /// Moves the cursor forward as computed by [`KeyChain::look_up`].
    pub fn advance(&mut self, advance: Advance) {
        if advance.epoch <= self.cursor_epoch {
            return;
        }
        for (e, mac) in advance.macs {
            self.kept.push_back((e, mac));
        }
        while self.kept.len() as u64 > KEPT_EPOCHS {
            self.kept.pop_front();
        }
        self.cursor = advance.chain;
        self.cursor_epoch = advance.epoch;
    }

    /// The MAC key of `epoch`, moving the cursor forward to it if needed (the sending
    /// side, whose epochs only grow).
    pub fn key_moving(&mut self, epoch: u64) -> Result<Secret32, Rejection> {
        let (key, advance) = self.look_up(epoch)?;
        if let Some(a) = advance {
            self.advance(a);
        }
        Ok(key)
    }
}

/// Both directions of one off-record channel, as one party holds them.
#[derive(Clone, Debug)]
pub struct ChannelKeys {
    /// Keys of what this party sends, at the epoch it sends in.
    pub send: KeyChain,
    /// The same chain, at the newest epoch it may reveal (behind `send`).
    pub reveal: KeyChain,
    /// Keys of what this party receives.
    pub receive: KeyChain,
}

impl ChannelKeys {
    /// Derives both chains for `me` talking to `peer` on `channel`, starting the
    /// sending chain where a reveal may be needed (`acked_seq`) and the receiving
    /// chain at the epoch of the next envelope expected (`received_seq + 1`).
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        mine: &SigningKey,
        me: &str,
        theirs: &VerifyingKey,
        peer: &str,
        channel: ChannelId,
        version: ProtocolVersion,
        acked_seq: u64,
        received_seq: u64,
    ) -> Result<Self, Rejection> {
        let secret = pair_secret(mine, theirs)?;
        let send_root = chain_root(&secret, version, channel, me, peer);
        let receive_root = chain_root(&secret, version, channel, peer, me);
        let send_start = revealable_epoch(acked_seq).unwrap_or(0);
        let receive_start = received_seq / EPOCH_LEN;
        let reveal = KeyChain::new(send_root, send_start);
        Ok(ChannelKeys {
            send: reveal.clone(),
            reveal,
            receive: KeyChain::new(receive_root, receive_start),
        })
    }
}

/// The outcome of checking an off-record envelope's authenticator with a MAC key.
pub fn check_tag(
    env: &Envelope<'_>,
    content: &[u8],
    auth: &OffRecordAuth<'_>,
    key: &Secret32,
) -> Result<(), Rejection> {
    if tag_verifies(key, &nonce_for(env), content, auth.reveal_bytes, &auth.tag) {
        Ok(())
    } else {
        Err(Rejection::BadMac)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn revealable_epochs_follow_acknowledgements() {
        assert_eq!(revealable_epoch(0), None);
        for acked in 1..10 {
            assert_eq!(revealable_epoch(acked), Some(acked / EPOCH_LEN - 1));
        }
    }

    #[test]
    fn chain_walks_agree_however_they_are_cut() {
        let root = Secret32([7; 32]);
        let whole = KeyChain::new(root.clone(), 10);
        let mut stepwise = KeyChain::new(root, 0);
        for e in 1..=10 {
            let (_, adv) = stepwise.look_up(e).unwrap();
            stepwise.advance(adv.unwrap());
        }
        assert_eq!(whole.cursor(), 10);
        for e in 0..=10 {
            assert_eq!(whole.kept_key(e), stepwise.kept_key(e));
        }
        let (k, adv) = whole.look_up(25).unwrap();
        let mut far = KeyChain::new(Secret32([7; 32]), 25);
        assert_eq!(Some(&k), far.kept_key(25));
        assert_eq!(adv.unwrap().epoch, 25);
        assert_eq!(far.key_moving(25).unwrap(), k);
    }

    #[test]
    fn revealed_stale_and_far_epochs_are_refused_by_name() {
        let mut chain = KeyChain::new(Secret32([1; 32]), KEPT_EPOCHS + 10);
        assert!(matches!(
            chain.look_up(0),
            Err(Rejection::StaleEpoch { epoch: 0, .. })
        ));
        assert!(matches!(
            chain.look_up(chain.cursor() + MAX_EPOCHS_AHEAD + 1),
            Err(Rejection::StaleEpoch { .. })
        ));
        chain.mark_revealed(KEPT_EPOCHS + 5);
        assert_eq!(
            chain.look_up(KEPT_EPOCHS + 5).unwrap_err(),
            Rejection::RevealedKey {
                epoch: KEPT_EPOCHS + 5
            }
        );
        assert!(chain.look_up(KEPT_EPOCHS + 6).is_ok());
    }

    #[test]
    fn authenticators_parse_strictly() {
        assert!(OffRecordAuth::parse(&[0; 15]).is_err());
        assert!(OffRecordAuth::parse(&[0; 17]).is_err());
        assert!(OffRecordAuth::parse(&[0; 16]).unwrap().reveal.is_none());
        let mut bytes = encode_reveal(3, &Secret32([9; 32])).to_vec();
        bytes.extend_from_slice(&[5; 16]);
        let auth = OffRecordAuth::parse(&bytes).unwrap();
        assert_eq!(auth.reveal, Some((3, Secret32([9; 32]))));
        assert_eq!(auth.tag, [5; 16]);
    }

    #[test]
    fn a_tag_fails_under_any_other_key_nonce_content_or_reveal() {
        let k = Secret32([3; 32]);
        let n = [1; 12];
        let t = tag(&k, &n, b"content", b"");
        assert!(tag_verifies(&k, &n, b"content", b"", &t));
        assert!(!tag_verifies(&Secret32([4; 32]), &n, b"content", b"", &t));
        assert!(!tag_verifies(&k, &[2; 12], b"content", b"", &t));
        assert!(!tag_verifies(&k, &n, b"Content", b"", &t));
        assert!(!tag_verifies(&k, &n, b"content", b"x", &t));
        assert!(!tag_verifies(&k, &n, b"conten", b"t", &t));
    }
}
