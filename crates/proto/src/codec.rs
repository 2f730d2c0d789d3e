//! The one module that touches bincode.
//!
//! Everything the protocol encodes with bincode (envelope contents, transcript records)
//! goes through the functions here, with one fixed configuration:
//!
//! * big-endian, fixed-width integers (`u16` is 2 bytes, `u64` is 8), so every value
//!   has exactly one encoding and `encode(decode(b)) == b` for every accepted `b`;
//! * strings and byte strings: a `u64` length, then the bytes (strings must be UTF-8);
//! * fixed-size arrays: the bytes, no length; enums: a `u32` variant index;
//! * a decode limit of [`MAX_BODY_LEN`] bytes, and no trailing bytes allowed.
//!
//! The wire structs below mirror the domain types field for field; they are the byte
//! layout of `proto-spec/protocol.md` §5.2 and §9, and the rest of the crate never
//! sees them. bincode is pinned to 2.x: 3.0.0 is an empty crate that does not build.

use std::borrow::Cow;

use bincode::config::{BigEndian, Configuration, Fixint, Limit};
use bincode::error::DecodeError;
use bincode::{BorrowDecode, Encode};

use crate::body::{Assurance, Body, Revocation};
use crate::channel_id::ChannelId;
use crate::digest::Digest;
use crate::envelope::{Ack, Envelope, REFUSALS_LISTED, Refusal, RefusalCode, Refusals};
use crate::frame::MAX_BODY_LEN;
use crate::identity::is_valid_name;
use crate::mode::ChannelMode;
use crate::rejection::Rejection;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

type Config = Configuration<BigEndian, Fixint, Limit<MAX_BODY_LEN>>;

const CONFIG: Config = bincode::config::standard()
    .with_big_endian()
    .with_fixed_int_encoding()
    .with_limit::<MAX_BODY_LEN>();

/// The byte layout of an envelope's content.
#[derive(Encode, BorrowDecode)]
struct WireContent<'a> {
    version: u16,
    mode: u8,
    channel: [u8; 16],
    sender: &'a str,
    recipient: &'a str,
    seq: u64,
    prev: [u8; 32],
    ack_seq: u64,
    ack_head: [u8; 32],
    refused_count: u64,
    refused: [WireRefusal; REFUSALS_LISTED],
    sent_at: u64,
    expires_at: u64,
    body: WireBody<'a>,
}

/// One refusal slot: `(seq u64, code u8)`.
#[derive(Encode, BorrowDecode, Clone, Copy)]
struct WireRefusal {
    seq: u64,
    code: u8,
}

/// The byte layout of a body; the variant index is the body tag of the spec.
#[derive(Encode, BorrowDecode)]
enum WireBody<'a> {
    Text {
        text: &'a str,
    },
    Assurance {
        id: &'a str,
        commitment: &'a str,
        condition: &'a str,
        valid_until: u64,
    },
    Revocation {
        assurance_id: &'a str,
        reason: &'a str,
    },
    Receipt,
    Heartbeat,
}

impl<'a> WireBody<'a> {
    fn from_body(body: &'a Body<'_>) -> Self {
        match body {
            Body::Text(text) => WireBody::Text { text },
            Body::Assurance(a) => WireBody::Assurance {
                id: &a.id,
                commitment: &a.commitment,
                condition: &a.condition,
                valid_until: a.valid_until.as_millis(),
            },
            Body::Revocation(r) => WireBody::Revocation {
                assurance_id: &r.assurance_id,
                reason: &r.reason,
            },
            Body::Receipt => WireBody::Receipt,
            Body::Heartbeat => WireBody::Heartbeat,
        }
    }

    fn into_body(self) -> Body<'a> {
        match self {
            WireBody::Text { text } => Body::Text(Cow::Borrowed(text)),
            WireBody::Assurance {
                id,
                commitment,
                condition,
                valid_until,
            } => Body::Assurance(Assurance {
                id: Cow::Borrowed(id),
                commitment: Cow::Borrowed(commitment),
                condition: Cow::Borrowed(condition),
                valid_until: Timestamp::from_millis(valid_until),
            }),
            WireBody::Revocation {
                assurance_id,
                reason,
            } => Body::Revocation(Revocation {
                assurance_id: Cow::Borrowed(assurance_id),
                reason: Cow::Borrowed(reason),
            }),
            WireBody::Receipt => Body::Receipt,
            WireBody::Heartbeat => Body::Heartbeat,
        }
    }
}

/// Why content could not be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The encoded content would not fit in a frame.
    #[error("the envelope is too large: it must fit in {MAX_BODY_LEN} bytes")]
    TooLarge,
}

/// Appends the canonical content encoding of `env` to `out`.
pub(crate) fn encode_content(env: &Envelope<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let wire = WireContent {
        version: env.version.to_u16(),
        mode: env.mode.to_u8(),
        channel: env.channel.0,
        sender: &env.sender,
        recipient: &env.recipient,
        seq: env.seq,
        prev: env.prev.0,
        ack_seq: env.ack.seq,
        ack_head: env.ack.head.0,
        refused_count: env.refused.count,
        refused: env.refused.recent.map(|r| WireRefusal {
            seq: r.seq,
            code: r.code.to_u8(),
        }),
        sent_at: env.sent_at.as_millis(),
        expires_at: env.expires_at.as_millis(),
        body: WireBody::from_body(&env.body),
    };
    let start = out.len();
    bincode::encode_into_std_write(wire, out, CONFIG).map_err(|_| EncodeError::TooLarge)?;
    if out.len() - start > MAX_BODY_LEN {
        out.truncate(start);
        return Err(EncodeError::TooLarge);
    }
    Ok(())
}

/// The version field of a content, read before anything else so that a newer
/// layout is reported as unsupported rather than malformed.
pub(crate) fn peek_version(content: &[u8]) -> Result<ProtocolVersion, Rejection> {
    match content.get(..2) {
        Some(&[a, b]) => Ok(ProtocolVersion::from_u16(u16::from_be_bytes([a, b]))),
        _ => Err(Rejection::Malformed("truncated content")),
    }
}

/// Decodes content bytes into an envelope that borrows its text from `content`.
///
/// Checks, in order: version, the bincode layout (no trailing bytes), names, and the
/// field invariants of `proto-spec/protocol.md` §5.2.
pub(crate) fn decode_content(content: &[u8]) -> Result<Envelope<'_>, Rejection> {
    let version = peek_version(content)?;
    if version != ProtocolVersion::CURRENT {
        return Err(Rejection::UnsupportedVersion {
            version: version.to_u16(),
        });
    }
    let (wire, used): (WireContent<'_>, usize) =
        bincode::borrow_decode_from_slice(content, CONFIG).map_err(malformed)?;
    if used != content.len() {
        return Err(Rejection::Malformed("trailing bytes after content"));
    }
    if !is_valid_name(wire.sender) {
        return Err(Rejection::Malformed("sender is not a valid party name"));
    }
    if !is_valid_name(wire.recipient) {
        return Err(Rejection::Malformed("recipient is not a valid party name"));
    }
    let control = matches!(wire.body, WireBody::Receipt | WireBody::Heartbeat);
    if wire.seq == 0 && !control {
        return Err(Rejection::Malformed("sequence numbers start at 1"));
    }
    if wire.seq == 0 && wire.prev != [0; 32] {
        return Err(Rejection::Malformed("an empty chain has no head digest"));
    }
    if wire.ack_seq == 0 && wire.ack_head != [0; 32] {
        return Err(Rejection::Malformed(
            "acknowledges nothing but names a head",
        ));
    }
    if wire.expires_at < wire.sent_at {
        return Err(Rejection::Malformed("expires before it was sent"));
    }
    let id = match &wire.body {
        WireBody::Assurance { id, .. } => Some(*id),
        WireBody::Revocation { assurance_id, .. } => Some(*assurance_id),
        _ => None,
    };
    if id.is_some_and(|id| !crate::text::is_valid_assurance_id(id)) {
        return Err(Rejection::Malformed(
            "an assurance id must be 1 to 64 of A-Z a-z 0-9 . _ : -",
        ));
    }
    let refused = Refusals {
        count: wire.refused_count,
        recent: wire.refused.map(|r| Refusal {
            seq: r.seq,
            code: RefusalCode::from_u8(r.code),
        }),
    };
    if !refused.is_well_formed(wire.ack_seq) {
        return Err(Rejection::Malformed(
            "refusal list out of order, beyond the acknowledgement or over its count",
        ));
    }
    Ok(Envelope {
        version,
        mode: ChannelMode::from_u8(wire.mode),
        channel: ChannelId(wire.channel),
        sender: Cow::Borrowed(wire.sender),
        recipient: Cow::Borrowed(wire.recipient),
        seq: wire.seq,
        prev: Digest(wire.prev),
        ack: Ack {
            seq: wire.ack_seq,
            head: Digest(wire.ack_head),
        },
        refused,
        sent_at: Timestamp::from_millis(wire.sent_at),
        expires_at: Timestamp::from_millis(wire.expires_at),
        body: wire.body.into_body(),
    })
}

fn malformed(e: DecodeError) -> Rejection {
    Rejection::Malformed(match e {
        DecodeError::UnexpectedEnd { .. } => "truncated content",
        DecodeError::LimitExceeded => "content exceeds the size limit",
        DecodeError::Utf8 { .. } => "text is not UTF-8",
        DecodeError::UnexpectedVariant { .. } => "unknown body kind",
        _ => "undecodable content",
    })
}

/// One transcript record as stored (`proto-spec/protocol.md` §9).
#[derive(Encode, BorrowDecode)]
struct WireRecord<'a> {
    direction: u8,
    recorded_at: u64,
    verdict: &'a str,
    reason: &'a str,
    frame: &'a [u8],
}

/// A transcript record, borrowed from the bytes it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordParts<'a> {
    pub direction: u8,
    pub recorded_at: u64,
    pub verdict: &'a str,
    pub reason: &'a str,
    pub frame: &'a [u8],
}

/// Appends the encoding of one transcript record to `out`.
pub(crate) fn encode_record(parts: RecordParts<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let wire = WireRecord {
        direction: parts.direction,
        recorded_at: parts.recorded_at,
        verdict: parts.verdict,
        reason: parts.reason,
        frame: parts.frame,
    };
    bincode::encode_into_std_write(wire, out, CONFIG)
        .map(|_| ())
        .map_err(|_| EncodeError::TooLarge)
}

/// Decodes one transcript record that must fill `bytes` exactly.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<RecordParts<'_>, &'static str> {
    let (wire, used): (WireRecord<'_>, usize) = bincode::borrow_decode_from_slice(bytes, CONFIG)
        .map_err(|e| match malformed(e) {
            Rejection::Malformed(why) => why,
            _ => "undecodable record",
        })?;
    if used != bytes.len() {
        return Err("trailing bytes after record");
    }
    Ok(RecordParts {
        direction: wire.direction,
        recorded_at: wire.recorded_at,
        verdict: wire.verdict,
        reason: wire.reason,
        frame: wire.frame,
    })
}

/// The body of a login frame.
#[derive(Encode, BorrowDecode)]
struct WireLogin<'a> {
    name: &'a str,
    signature: [u8; 64],
}

/// The body of a MAC login frame.
#[derive(Encode, BorrowDecode)]
struct WireMacLogin<'a> {
    name: &'a str,
    tag: [u8; 32],
}

/// The body of a welcome frame.
#[derive(Encode, BorrowDecode)]
struct WireWelcome<'a> {
    name: &'a str,
    queued: u64,
}

/// The body of a notice frame.
#[derive(Encode, BorrowDecode)]
struct WireNotice<'a> {
    code: &'a str,
    message: &'a str,
    peer: &'a str,
    seq: u64,
}

/// Appends a login body.
pub(crate) fn encode_login(
    name: &str,
    signature: &[u8; 64],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode(
        WireLogin {
            name,
            signature: *signature,
        },
        out,
    )
}

/// Decodes a login body: (name, signature).
pub(crate) fn decode_login(body: &[u8]) -> Result<(&str, [u8; 64]), Rejection> {
    let w: WireLogin<'_> = decode_exact(body)?;
    Ok((w.name, w.signature))
}

/// Appends a MAC login body.
pub(crate) fn encode_mac_login(
    name: &str,
    tag: &[u8; 32],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode(WireMacLogin { name, tag: *tag }, out)
}

/// Decodes a MAC login body: (name, tag).
pub(crate) fn decode_mac_login(body: &[u8]) -> Result<(&str, [u8; 32]), Rejection> {
    let w: WireMacLogin<'_> = decode_exact(body)?;
    Ok((w.name, w.tag))
}

/// Appends a welcome body.
pub(crate) fn encode_welcome(
    name: &str,
    queued: u64,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode(WireWelcome { name, queued }, out)
}

/// Decodes a welcome body: (name, queued).
pub(crate) fn decode_welcome(body: &[u8]) -> Result<(&str, u64), Rejection> {
    let w: WireWelcome<'_> = decode_exact(body)?;
    Ok((w.name, w.queued))
}

/// Appends a notice body.
pub(crate) fn encode_notice(
    code: &str,
    message: &str,
    peer: &str,
    seq: u64,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode(
        WireNotice {
            code,
            message,
            peer,
            seq,
        },
        out,
    )
}

/// Decodes a notice body: (code, message, peer, seq).
pub(crate) fn decode_notice(body: &[u8]) -> Result<(&str, &str, &str, u64), Rejection> {
    let w: WireNotice<'_> = decode_exact(body)?;
    Ok((w.code, w.message, w.peer, w.seq))
}

fn encode<E: Encode>(value: E, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = bincode::encode_into_std_write(value, out, CONFIG);
    if result.is_err() || out.len() - start > MAX_BODY_LEN {
        out.truncate(start);
        return Err(EncodeError::TooLarge);
    }
    Ok(())
}

fn decode_exact<'a, D: BorrowDecode<'a, ()>>(bytes: &'a [u8]) -> Result<D, Rejection> {
    let (value, used): (D, usize) =
        bincode::borrow_decode_from_slice(bytes, CONFIG).map_err(malformed)?;
    if used != bytes.len() {
        return Err(Rejection::Malformed("trailing bytes after body"));
    }
    Ok(value)
}

/// One channel's persisted state.
#[derive(Encode, BorrowDecode)]
struct WireChannelState<'a> {
    peer: &'a str,
    sent_seq: u64,
    sent_head: [u8; 32],
    last_sent_at: u64,
    acked_seq: u64,
    acked_head: [u8; 32],
    unacked: Vec<WireOutstanding<'a>>,
    received_seq: u64,
    received_head: [u8; 32],
    last_received_at: u64,
    refused_count: u64,
    refused: [WireRefusal; REFUSALS_LISTED],
    peer_refusals_seen: u64,
}

#[derive(Encode, BorrowDecode)]
struct WireOutstanding<'a> {
    seq: u64,
    digest: [u8; 32],
    sent_at: u64,
    reported: bool,
    frame: &'a [u8],
}

/// The decode limit for state files: many unacknowledged frames.
const STATE_CONFIG: Configuration<BigEndian, Fixint, Limit<{ 1 << 30 }>> =
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<{ 1 << 30 }>();

/// Appends the encoding of persisted channel states.
pub(crate) fn encode_states(
    channels: &[(&str, &crate::channel_state::ChannelState)],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let wire: Vec<WireChannelState<'_>> = channels
        .iter()
        .map(|(peer, s)| WireChannelState {
            peer,
            sent_seq: s.sent.seq,
            sent_head: s.sent.head.0,
            last_sent_at: s.last_sent_at.as_millis(),
            acked_seq: s.acked.seq,
            acked_head: s.acked.head.0,
            unacked: s
                .unacked
                .iter()
                .map(|o| WireOutstanding {
                    seq: o.seq,
                    digest: o.digest.0,
                    sent_at: o.sent_at.as_millis(),
                    reported: o.reported,
                    frame: &o.frame,
                })
                .collect(),
            received_seq: s.received.seq,
            received_head: s.received.head.0,
            last_received_at: s.last_received_at.as_millis(),
            refused_count: s.refusals.count,
            refused: s.refusals.recent.map(|r| WireRefusal {
                seq: r.seq,
                code: r.code.to_u8(),
            }),
            peer_refusals_seen: s.peer_refusals_seen,
        })
        .collect();
    bincode::encode_into_std_write(wire, out, STATE_CONFIG)
        .map(|_| ())
        .map_err(|_| EncodeError::TooLarge)
}

/// Decodes persisted channel states.
pub(crate) fn decode_states(
    bytes: &[u8],
) -> Result<Vec<(String, crate::channel_state::ChannelState)>, &'static str> {
    let (wire, used): (Vec<WireChannelState<'_>>, usize) =
        bincode::borrow_decode_from_slice(bytes, STATE_CONFIG).map_err(|e| match malformed(e) {
            Rejection::Malformed(why) => why,
            _ => "undecodable state",
        })?;
    if used != bytes.len() {
        return Err("trailing bytes after state");
    }
    Ok(wire
        .into_iter()
        .map(|w| {
            let state = crate::channel_state::ChannelState {
                sent: Ack {
                    seq: w.sent_seq,
                    head: Digest(w.sent_head),
                },
                last_sent_at: Timestamp::from_millis(w.last_sent_at),
                acked: Ack {
                    seq: w.acked_seq,
                    head: Digest(w.acked_head),
                },
                unacked: w
                    .unacked
                    .into_iter()
                    .map(|o| crate::channel_state::Outstanding {
                        seq: o.seq,
                        digest: Digest(o.digest),
                        sent_at: Timestamp::from_millis(o.sent_at),
                        reported: o.reported,
                        frame: o.frame.to_vec(),
                    })
                    .collect(),
                received: Ack {
                    seq: w.received_seq,
                    head: Digest(w.received_head),
                },
                last_received_at: Timestamp::from_millis(w.last_received_at),
                refusals: Refusals {
                    count: w.refused_count,
                    recent: w.refused.map(|r| Refusal {
                        seq: r.seq,
                        code: RefusalCode::from_u8(r.code),
                    }),
                },
                peer_refusals_seen: w.peer_refusals_seen,
            };
            (w.peer.to_owned(), state)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope<'static> {
        Envelope {
            version: ProtocolVersion::CURRENT,
            mode: ChannelMode::Signed,
            channel: ChannelId([9; 16]),
            sender: "alpha".into(),
            recipient: "bravo".into(),
            seq: 1,
            prev: Digest::ZERO,
            ack: Ack::default(),
            refused: Refusals::default(),
            sent_at: Timestamp::from_millis(1000),
            expires_at: Timestamp::from_millis(2000),
            body: Body::Text("hello".into()),
        }
    }

    #[test]
    fn content_round_trips_and_borrows() {
        let mut buf = Vec::new();
        encode_content(&sample(), &mut buf).unwrap();
        let back = decode_content(&buf).unwrap();
        assert_eq!(back, sample());
        assert!(matches!(back.sender, Cow::Borrowed(_)));
        // Fixed-width layout: version, mode, channel, then sender's u64 length.
        assert_eq!(&buf[..3], &[0, 2, 1]);
        assert_eq!(&buf[19..27], &5u64.to_be_bytes());
    }

    #[test]
    fn rejects_trailing_and_truncated_content() {
        let mut buf = Vec::new();
        encode_content(&sample(), &mut buf).unwrap();
        let mut long = buf.clone();
        long.push(0);
        assert!(matches!(
            decode_content(&long),
            Err(Rejection::Malformed(_))
        ));
        for cut in 0..buf.len() {
            assert!(decode_content(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_version_is_reported_before_layout() {
        let mut buf = Vec::new();
        encode_content(&sample(), &mut buf).unwrap();
        buf[1] = 7;
        buf.truncate(5);
        assert_eq!(
            decode_content(&buf),
            Err(Rejection::UnsupportedVersion { version: 7 })
        );
    }

    #[test]
    fn rejects_invalid_field_values() {
        let mut e = sample();
        e.seq = 0;
        let mut buf = Vec::new();
        encode_content(&e, &mut buf).unwrap();
        assert!(matches!(decode_content(&buf), Err(Rejection::Malformed(_))));

        let mut e = sample();
        e.sender = "Not A Name".into();
        buf.clear();
        encode_content(&e, &mut buf).unwrap();
        assert!(matches!(decode_content(&buf), Err(Rejection::Malformed(_))));

        let mut e = sample();
        e.expires_at = Timestamp::from_millis(10);
        buf.clear();
        encode_content(&e, &mut buf).unwrap();
        assert!(matches!(decode_content(&buf), Err(Rejection::Malformed(_))));
    }

    #[test]
    fn refuses_to_encode_beyond_the_limit() {
        let mut e = sample();
        e.body = Body::Text("x".repeat(MAX_BODY_LEN).into());
        let mut buf = vec![1, 2, 3];
        assert_eq!(encode_content(&e, &mut buf), Err(EncodeError::TooLarge));
        assert_eq!(buf, vec![1, 2, 3], "nothing is left behind on failure");
    }
}
