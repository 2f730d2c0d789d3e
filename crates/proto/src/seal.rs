//! From an envelope to the bytes on the wire: encode the content once, then
//! authenticate exactly those bytes.

use crate::codec::{self, EncodeError};
use crate::digest::Digest;
use crate::domain;
use crate::envelope::Envelope;
use crate::frame::{FrameHeader, FrameKind, HEADER_LEN, MAX_BODY_LEN};
use crate::identity::SigningIdentity;
use crate::mode::ChannelMode;
use crate::off_record;

/// Why an envelope could not be sealed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The frame would exceed [`MAX_BODY_LEN`].
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The envelope's mode is not the one this sealing function produces.
    #[error("cannot seal a {got} envelope this way")]
    WrongMode {
        /// The envelope's mode.
        got: ChannelMode,
    },
    /// Signing as someone other than the envelope's sender.
    #[error("the signer {signer} is not the envelope's sender {sender}")]
    NotTheSender {
        /// The signing identity's name.
        signer: String,
        /// The envelope's sender.
        sender: String,
    },
    /// The signature primitive failed.
    #[error("signing failed")]
    Signing,
}

/// Appends a signed-mode envelope frame to `out` and returns its chain digest.
///
/// The signature covers `"backchannel/v1/envelope\0" || content`, where `content` is
/// the exact byte string placed in the frame (`proto-spec/protocol.md` §6.1).
/// On error `out` is left as it was.
pub fn seal_signed(
    env: &Envelope<'_>,
    signer: &SigningIdentity,
    out: &mut Vec<u8>,
) -> Result<Digest, SealError> {
    if env.mode != ChannelMode::Signed {
        return Err(SealError::WrongMode { got: env.mode });
    }
    if env.sender != signer.name().as_str() {
        return Err(SealError::NotTheSender {
            signer: signer.name().to_string(),
            sender: env.sender.to_string(),
        });
    }
    seal_with(env, out, |content| {
        signer
            .sign_parts(&[domain::ENVELOPE_SIGNATURE, content])
            .map(|s| s.to_bytes())
            .map_err(|_| SealError::Signing)
    })
}

/// Appends a deniable-mode envelope frame (no authenticator) to `out` and returns its
/// chain digest.
///
/// Anyone can call this with any sender name, the broker included: that is what
/// deniable mode means.
pub fn seal_deniable(env: &Envelope<'_>, out: &mut Vec<u8>) -> Result<Digest, SealError> {
    if env.mode != ChannelMode::Deniable {
        return Err(SealError::WrongMode { got: env.mode });
    }
    seal_with(env, out, |_| Ok([0u8; 0]))
}

/// Appends an off-record envelope frame to `out`, tagged with `key` (the MAC key of
/// the envelope's epoch, [`off_record::epoch_of`]) and publishing `reveal` (an earlier,
/// fully acknowledged epoch and its MAC key), and returns its chain digest.
///
/// The authenticator is `[epoch u64 || key [32]] || tag [16]`, the tag covering the
/// content and the reveal (`proto-spec/protocol.md` §6.4).
pub fn seal_off_record(
    env: &Envelope<'_>,
    key: &off_record::Secret32,
    reveal: Option<(u64, &off_record::Secret32)>,
    out: &mut Vec<u8>,
) -> Result<Digest, SealError> {
    if env.mode != ChannelMode::OffRecord {
        return Err(SealError::WrongMode { got: env.mode });
    }
    let reveal_bytes = reveal.map(|(epoch, k)| off_record::encode_reveal(epoch, k));
    let reveal_bytes: &[u8] = reveal_bytes.as_ref().map_or(&[], |r| r.as_slice());
    let nonce = off_record::nonce_for(env);
    seal_with(env, out, |content| {
        let tag = off_record::tag(key, &nonce, content, reveal_bytes);
        let mut auth = Vec::with_capacity(reveal_bytes.len() + off_record::TAG_LEN);
        auth.extend_from_slice(reveal_bytes);
        auth.extend_from_slice(&tag);
        Ok(auth)
    })
}

/// Appends a frame for `env` carrying `authenticator` as given, whatever it is, and
/// returns the chain digest.
///
/// This is what an adversary (or a hostile-message test) does to present altered
/// content under someone else's signature, or a signed-mode envelope without one. It
/// cannot make a valid signature: the result verifies only if the bytes happen to be
/// one already made over exactly this content.
pub fn seal_with_foreign_authenticator(
    env: &Envelope<'_>,
    authenticator: &[u8],
    out: &mut Vec<u8>,
) -> Result<Digest, SealError> {
    seal_with(env, out, |_| Ok(authenticator))
}

fn finish_frame(
    out: &mut [u8],
    start: usize,
    content_start: usize,
    content_len: usize,
) -> Result<(), SealError> {
    let body_len = out.len() - start - HEADER_LEN;
    if body_len > MAX_BODY_LEN {
        return Err(SealError::Encode(EncodeError::TooLarge));
    }
    let header = FrameHeader::encode(FrameKind::Envelope, body_len);
    let len = u32::try_from(content_len).map_err(|_| EncodeError::TooLarge)?;
    if let Some(slot) = out.get_mut(start..content_start) {
        let (h, l) = slot.split_at_mut(HEADER_LEN);
        h.copy_from_slice(&header);
        l.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

fn seal_with<T: AsRef<[u8]>>(
    env: &Envelope<'_>,
    out: &mut Vec<u8>,
    authenticate: impl FnOnce(&[u8]) -> Result<T, SealError>,
) -> Result<Digest, SealError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN + 4]);
    let content_start = out.len();
    let result = (|| {
        codec::encode_content(env, out)?;
        let content = out.get(content_start..).unwrap_or_default();
        let digest = Digest::of_content(content);
        let tag = authenticate(content)?;
        let content_len = content.len();
        out.extend_from_slice(tag.as_ref());
        finish_frame(out, start, content_start, content_len)?;
        Ok(digest)
    })();
    if result.is_err() {
        out.truncate(start);
    }
    result
}
