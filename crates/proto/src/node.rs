//! The node protocol around envelopes: how a party logs in to the broker, and how the
//! broker answers (`proto-spec/nodes.md`).
//!
//! A login proves possession of the party's registered Ed25519 key **bound to one TLS
//! session**: the party signs the session's TLS exporter value (RFC 8446 §7.5, label
//! [`domain::TLS_EXPORTER_LABEL`]), which differs on every session, so a captured login
//! is worthless on any other connection.
//!
//! In deniable and off-record mode the proof is a **MAC** instead ([`LoginKind::Mac`]):
//! a key from X25519 between the party's identity key and the broker's certificate
//! key, over the same exporter value. The broker is convinced (only the party and the
//! broker can compute it), but it could have computed the tag itself, so it holds
//! nothing that shows a third party the party ever logged in.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::codec::{self, EncodeError};
use crate::domain;
use crate::frame::{FrameHeader, FrameKind, split_frame};
use crate::identity::{PartyName, PublicIdentity, SigningIdentity, is_valid_name};
use crate::mode::ChannelMode;
use crate::rejection::Rejection;

/// Length of the TLS exporter value a login signs.
pub const EXPORTER_LEN: usize = 32;

/// A frame of the node protocol, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeFrame<'a> {
    /// An envelope; the whole frame, to be decoded by [`EnvelopeIn`](crate::EnvelopeIn).
    Envelope(&'a [u8]),
    /// A party's login.
    Login {
        /// The name it logs in as.
        name: &'a str,
        /// Its signature over the login signing input.
        signature: [u8; 64],
    },
    /// A party's deniable login.
    MacLogin {
        /// The name it logs in as.
        name: &'a str,
        /// Its MAC over the login input.
        tag: [u8; 32],
    },
    /// The broker accepted the login.
    Welcome {
        /// The name the broker knows the party by.
        name: &'a str,
        /// How many envelopes were waiting for it.
        queued: u64,
    },
    /// The broker refused something.
    Notice(Notice),
}

/// The notice code telling a party that another login of its own replaced this
/// session; the party should wait before logging in again.
pub const DISPLACED: &str = "displaced";

/// The broker's word to a party about something it refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// A stable kebab-case code, e.g. `queue-full`.
    pub code: String,
    /// One line for a human.
    pub message: String,
    /// The peer concerned, if any (the recipient of a refused envelope).
    pub peer: String,
    /// The sequence number of the refused envelope, or 0.
    pub seq: u64,
}

impl std::fmt::Display for Notice {
    /// The broker's words, escaped: a notice cannot steer the party's terminal.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text::plain;
        write!(f, "{}: {}", plain(&self.code), plain(&self.message))
    }
}

/// Parses one complete frame of any kind.
pub fn parse_node_frame(frame: &[u8]) -> Result<NodeFrame<'_>, Rejection> {
    let (header, body) = split_frame(frame)?;
    match header.kind {
        FrameKind::Envelope => Ok(NodeFrame::Envelope(frame)),
        FrameKind::Login => {
            let (name, signature) = codec::decode_login(body)?;
            if !is_valid_name(name) {
                return Err(Rejection::Malformed("login name is not a valid party name"));
            }
            Ok(NodeFrame::Login { name, signature })
        }
        FrameKind::MacLogin => {
            let (name, tag) = codec::decode_mac_login(body)?;
            if !is_valid_name(name) {
                return Err(Rejection::Malformed("login name is not a valid party name"));
            }
            Ok(NodeFrame::MacLogin { name, tag })
        }
        FrameKind::Welcome => {
            let (name, queued) = codec::decode_welcome(body)?;
            Ok(NodeFrame::Welcome { name, queued })
        }
        FrameKind::Notice => {
            let (code, message, peer, seq) = codec::decode_notice(body)?;
            Ok(NodeFrame::Notice(Notice {
                code: code.to_owned(),
                message: message.to_owned(),
                peer: peer.to_owned(),
                seq,
            }))
        }
        FrameKind::Other(_) => Err(Rejection::Malformed("unknown frame kind")),
    }
}

/// `"backchannel/v1/login\0" || exporter || u8(len(name)) || name`.
fn login_signing_input(exporter: &[u8; EXPORTER_LEN], name: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(domain::LOGIN_SIGNATURE.len() + EXPORTER_LEN + 33);
    input.extend_from_slice(domain::LOGIN_SIGNATURE);
    input.extend_from_slice(exporter);
    input.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    input.extend_from_slice(name.as_bytes());
    input
}

/// The login frame `me` sends on a TLS session whose exporter value is `exporter`.
pub fn login_frame(
    me: &SigningIdentity,
    exporter: &[u8; EXPORTER_LEN],
) -> Result<Vec<u8>, EncodeError> {
    let input = login_signing_input(exporter, me.name().as_str());
    let signature = me
        .sign_parts(&[&input])
        .map_err(|_| EncodeError::TooLarge)?
        .to_bytes();
    with_header(FrameKind::Login, |out| {
        codec::encode_login(me.name().as_str(), &signature, out)
    })
}

/// How a party proves itself to the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    /// An Ed25519 signature: transferable evidence that the party logged in.
    Signature,
    /// A MAC the broker could have made itself: deniable contact.
    Mac,
}

impl LoginKind {
    /// The login a party uses with channels in `modes`: signed if any channel is
    /// signed (contact is then provable anyway), a MAC otherwise.
    pub fn for_modes(modes: impl IntoIterator<Item = ChannelMode>) -> Self {
        if modes.into_iter().any(|m| m == ChannelMode::Signed) {
            LoginKind::Signature
        } else {
            LoginKind::Mac
        }
    }

    /// `signature` or `mac`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LoginKind::Signature => "signature",
            LoginKind::Mac => "mac",
        }
    }
}

/// The 32-byte login MAC of `name` on the session with exporter value `exporter`,
/// under the X25519 secret the party and the broker share.
fn login_tag(shared: &[u8; 32], exporter: &[u8; EXPORTER_LEN], name: &str) -> [u8; 32] {
    let mut info = Vec::with_capacity(EXPORTER_LEN + 1 + name.len());
    info.extend_from_slice(exporter);
    info.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(name.as_bytes());
    let mut tag = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit: this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(domain::LOGIN_MAC), shared).expand(&info, &mut tag);
    tag
}

/// The deniable login frame `me` sends to the broker whose certificate key is `broker`
/// on a TLS session whose exporter value is `exporter`.
pub fn mac_login_frame(
    me: &SigningIdentity,
    broker: &VerifyingKey,
    exporter: &[u8; EXPORTER_LEN],
) -> Result<Vec<u8>, EncodeError> {
    let shared = crate::off_record::pair_secret(me.signing_key(), broker)
        .map_err(|_| EncodeError::TooLarge)?;
    let tag = login_tag(shared.as_bytes(), exporter, me.name().as_str());
    with_header(FrameKind::MacLogin, |out| {
        codec::encode_mac_login(me.name().as_str(), &tag, out)
    })
}

/// The broker's welcome.
pub fn welcome_frame(name: &PartyName, queued: u64) -> Result<Vec<u8>, EncodeError> {
    with_header(FrameKind::Welcome, |out| {
        codec::encode_welcome(name.as_str(), queued, out)
    })
}

/// A notice frame.
pub fn notice_frame(notice: &Notice) -> Result<Vec<u8>, EncodeError> {
    with_header(FrameKind::Notice, |out| {
        codec::encode_notice(&notice.code, &notice.message, &notice.peer, notice.seq, out)
    })
}

fn with_header(
    kind: FrameKind,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0u8; crate::frame::HEADER_LEN];
    body(&mut out)?;
    let header = FrameHeader::encode(kind, out.len() - crate::frame::HEADER_LEN);
    if let Some(slot) = out.get_mut(..crate::frame::HEADER_LEN) {
        slot.copy_from_slice(&header);
    }
    Ok(out)
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// No party of that name is registered with the broker.
    #[error("{0:?} is not a registered party")]
    UnknownParty(String),
    /// The signature (or MAC) does not verify under the registered key for this
    /// session: an impostor, or a login captured on another session and replayed.
    #[error(
        "login proof for {0:?} does not verify for this TLS session (impostor or replayed login)"
    )]
    BadSignature(String),
    /// The first frame was not a well-formed login.
    #[error("expected a login frame: {0}")]
    NotALogin(Rejection),
}

impl LoginError {
    /// A stable kebab-case code for notices and logs.
    pub const fn code(&self) -> &'static str {
        match self {
            LoginError::UnknownParty(_) => "unknown-party",
            LoginError::BadSignature(_) => "bad-login",
            LoginError::NotALogin(_) => "not-a-login",
        }
    }
}

/// Checks a login frame received on a TLS session whose exporter value is `exporter`
/// against the broker's registered parties; returns the party it proves. A MAC login
/// needs `broker_key`, the broker's certificate key; without it one is refused.
pub fn verify_login(
    frame: &[u8],
    exporter: &[u8; EXPORTER_LEN],
    registered: &[PublicIdentity],
    broker_key: Option<&SigningKey>,
) -> Result<PublicIdentity, LoginError> {
    let find = |name: &str| {
        registered
            .iter()
            .find(|p| p.name().as_str() == name)
            .ok_or_else(|| LoginError::UnknownParty(name.to_owned()))
    };
    match parse_node_frame(frame).map_err(LoginError::NotALogin)? {
        NodeFrame::Login { name, signature } => {
            let party = find(name)?;
            let input = login_signing_input(exporter, name);
            if !crate::signature_rule::verify(
                party.key(),
                &[&input],
                &Signature::from_bytes(&signature),
            ) {
                return Err(LoginError::BadSignature(name.to_owned()));
            }
            Ok(party.clone())
        }
        NodeFrame::MacLogin { name, tag } => {
            let party = find(name)?;
            let refused = || LoginError::BadSignature(name.to_owned());
            let key = broker_key.ok_or_else(refused)?;
            let shared = crate::off_record::pair_secret(key, party.key()).map_err(|_| refused())?;
            let expected = login_tag(shared.as_bytes(), exporter, name);
            if bool::from(expected.ct_eq(&tag)) {
                Ok(party.clone())
            } else {
                Err(refused())
            }
        }
        _ => Err(LoginError::NotALogin(Rejection::Malformed(
            "the first frame must be a login",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha() -> SigningIdentity {
        SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[1; 32])
    }

    #[test]
    fn a_login_verifies_only_on_its_own_session() {
        let session = [7u8; 32];
        let frame = login_frame(&alpha(), &session).unwrap();
        let registered = vec![alpha().public()];
        assert_eq!(
            verify_login(&frame, &session, &registered, None),
            Ok(alpha().public())
        );
        // Replayed on another session.
        assert_eq!(
            verify_login(&frame, &[8u8; 32], &registered, None),
            Err(LoginError::BadSignature("alpha".into()))
        );
        // An impostor with another key under the same name.
        let impostor =
            SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[2; 32]);
        let forged = login_frame(&impostor, &session).unwrap();
        assert!(matches!(
            verify_login(&forged, &session, &registered, None),
            Err(LoginError::BadSignature(_))
        ));
        // Unregistered.
        assert_eq!(
            verify_login(&frame, &session, &[], None),
            Err(LoginError::UnknownParty("alpha".into()))
        );
        assert!(matches!(
            verify_login(b"junk", &session, &registered, None),
            Err(LoginError::NotALogin(_))
        ));
    }

    #[test]
    fn a_mac_login_convinces_the_broker_on_its_own_session_only() {
        let broker = SigningKey::from_bytes(&[9; 32]);
        let session = [7u8; 32];
        let registered = vec![alpha().public()];
        let frame = mac_login_frame(&alpha(), &broker.verifying_key(), &session).unwrap();
        assert_eq!(
            verify_login(&frame, &session, &registered, Some(&broker)),
            Ok(alpha().public())
        );
        // Replayed on another session, or to a broker with another key.
        assert!(matches!(
            verify_login(&frame, &[8u8; 32], &registered, Some(&broker)),
            Err(LoginError::BadSignature(_))
        ));
        let other = SigningKey::from_bytes(&[10; 32]);
        assert!(matches!(
            verify_login(&frame, &session, &registered, Some(&other)),
            Err(LoginError::BadSignature(_))
        ));
        // A broker that cannot check MACs refuses them.
        assert!(matches!(
            verify_login(&frame, &session, &registered, None),
            Err(LoginError::BadSignature(_))
        ));
        // An impostor's key under alpha's name.
        let impostor =
            SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[2; 32]);
        let forged = mac_login_frame(&impostor, &broker.verifying_key(), &session).unwrap();
        assert!(matches!(
            verify_login(&forged, &session, &registered, Some(&broker)),
            Err(LoginError::BadSignature(_))
        ));
        // Deniable: the broker computes the very same frame from its own key, so the
        // frame proves nothing about alpha to anyone else.
        let shared = crate::off_record::pair_secret(&broker, alpha().public().key()).unwrap();
        let tag = login_tag(shared.as_bytes(), &session, "alpha");
        let by_broker = with_header(FrameKind::MacLogin, |out| {
            codec::encode_mac_login("alpha", &tag, out)
        })
        .unwrap();
        assert_eq!(by_broker, frame);
    }

    #[test]
    fn the_login_kind_follows_the_modes() {
        assert_eq!(
            LoginKind::for_modes([ChannelMode::Signed]),
            LoginKind::Signature
        );
        assert_eq!(
            LoginKind::for_modes([ChannelMode::Deniable, ChannelMode::OffRecord]),
            LoginKind::Mac
        );
        assert_eq!(
            LoginKind::for_modes([ChannelMode::OffRecord, ChannelMode::Signed]),
            LoginKind::Signature
        );
    }

    #[test]
    fn node_frames_round_trip() {
        let name = PartyName::new("bravo").unwrap();
        let w = welcome_frame(&name, 3).unwrap();
        assert_eq!(
            parse_node_frame(&w),
            Ok(NodeFrame::Welcome {
                name: "bravo",
                queued: 3
            })
        );
        let notice = Notice {
            code: "queue-full".into(),
            message: "bravo has 10000 envelopes waiting".into(),
            peer: "bravo".into(),
            seq: 9,
        };
        let n = notice_frame(&notice).unwrap();
        assert_eq!(parse_node_frame(&n), Ok(NodeFrame::Notice(notice)));
        let mut bad = n.clone();
        bad.push(0);
        assert!(parse_node_frame(&bad).is_err());
    }
}
