//! The frame: a fixed 12-byte header checked before a single body byte is read.
//!
//! ```text
//! offset size field
//!      0    4 magic "BKCH" (42 4b 43 48)
//!      4    2 protocol version, u16 big-endian (2)
//!      6    1 kind: 1 envelope, 2 login, 3 welcome, 4 notice
//!      7    1 flags: must be 0
//!      8    4 body length L, u32 big-endian, at most MAX_BODY_LEN
//!     12    L body
//! ```
//!
//! See `proto-spec/protocol.md` §4. The header is hand-written, not bincode, so that a
//! stream reader can validate it from exactly [`HEADER_LEN`] bytes.

use crate::rejection::Rejection;
use crate::version::ProtocolVersion;

/// The four magic bytes that open every frame.
pub const MAGIC: [u8; 4] = *b"BKCH";
/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// The largest body a frame may announce (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// The largest whole frame.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An envelope (`proto-spec/protocol.md` §5).
    Envelope,
    /// A party proves its key to the broker (`proto-spec/nodes.md` §2).
    Login,
    /// The broker accepted a login.
    Welcome,
    /// The broker tells a party it refused something, and why.
    Notice,
    /// A party's login proved by a MAC under a key it shares with the broker
    /// (deniable contact, `nodes.md` §2).
    MacLogin,
    /// Unknown.
    Other(u8),
}

impl FrameKind {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            FrameKind::Envelope => 1,
            FrameKind::Login => 2,
            FrameKind::Welcome => 3,
            FrameKind::Notice => 4,
            FrameKind::MacLogin => 5,
            FrameKind::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => FrameKind::Envelope,
            2 => FrameKind::Login,
            3 => FrameKind::Welcome,
            4 => FrameKind::Notice,
            5 => FrameKind::MacLogin,
            other => FrameKind::Other(other),
        }
    }
}

/// A parsed, checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame's kind.
    pub kind: FrameKind,
    /// How many body bytes follow the header (at most [`MAX_BODY_LEN`]).
    pub body_len: usize,
}

impl FrameHeader {
    /// Checks the first [`HEADER_LEN`] bytes of `bytes`, in this order: length of the
    /// input, magic, version, flags, announced body length.
    pub fn parse(bytes: &[u8]) -> Result<FrameHeader, Rejection> {
        let header: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(Rejection::Malformed("truncated frame header"))?;
        let [m0, m1, m2, m3, v0, v1, kind, flags, l0, l1, l2, l3] = *header;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(Rejection::Malformed("bad magic: not a backchannel frame"));
        }
        let version = u16::from_be_bytes([v0, v1]);
        if ProtocolVersion::from_u16(version) != ProtocolVersion::CURRENT {
            return Err(Rejection::UnsupportedVersion { version });
        }
        if flags != 0 {
            return Err(Rejection::Malformed("reserved flags are set"));
        }
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        let body_len = usize::try_from(len).unwrap_or(usize::MAX);
        if body_len > MAX_BODY_LEN {
            return Err(Rejection::Oversize {
                len: u64::from(len),
                limit: MAX_BODY_LEN as u64,
            });
        }
        Ok(FrameHeader {
            kind: FrameKind::from_u8(kind),
            body_len,
        })
    }

    /// The 12 header bytes for a frame of `kind` with a body of `body_len` bytes.
    ///
    /// The caller guarantees `body_len <= MAX_BODY_LEN`.
    pub fn encode(kind: FrameKind, body_len: usize) -> [u8; HEADER_LEN] {
        let [v0, v1] = ProtocolVersion::CURRENT.to_u16().to_be_bytes();
        let [l0, l1, l2, l3] = u32::try_from(body_len).unwrap_or(u32::MAX).to_be_bytes();
        let [m0, m1, m2, m3] = MAGIC;
        [m0, m1, m2, m3, v0, v1, kind.to_u8(), 0, l0, l1, l2, l3]
    }
}

/// Splits a complete frame into its header and body; the input must be exactly one
/// frame, with no byte missing or left over.
pub fn split_frame(frame: &[u8]) -> Result<(FrameHeader, &[u8]), Rejection> {
    let header = FrameHeader::parse(frame)?;
    let body = frame
        .get(HEADER_LEN..)
        .ok_or(Rejection::Malformed("truncated frame header"))?;
    match body.len().cmp(&header.body_len) {
        std::cmp::Ordering::Less => Err(Rejection::Malformed("truncated frame body")),
        std::cmp::Ordering::Greater => Err(Rejection::Malformed("trailing bytes after frame")),
        std::cmp::Ordering::Equal => Ok((header, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = FrameHeader::encode(FrameKind::Envelope, 300);
        assert_eq!(&h[..4], b"BKCH");
        assert_eq!(
            FrameHeader::parse(&h),
            Ok(FrameHeader {
                kind: FrameKind::Envelope,
                body_len: 300
            })
        );
    }

    #[test]
    fn rejects_bad_headers_with_named_reasons() {
        let good = FrameHeader::encode(FrameKind::Envelope, 10);
        let mut bad_magic = good;
        bad_magic[0] = b'X';
        assert!(matches!(
            FrameHeader::parse(&bad_magic),
            Err(Rejection::Malformed(_))
        ));
        let mut v1 = good;
        v1[5] = 1;
        assert_eq!(
            FrameHeader::parse(&v1),
            Err(Rejection::UnsupportedVersion { version: 1 })
        );
        let mut flags = good;
        flags[7] = 1;
        assert!(matches!(
            FrameHeader::parse(&flags),
            Err(Rejection::Malformed(_))
        ));
        let mut huge = good;
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            FrameHeader::parse(&huge),
            Err(Rejection::Oversize {
                len: u64::from(u32::MAX),
                limit: MAX_BODY_LEN as u64
            })
        );
        assert!(matches!(
            FrameHeader::parse(&good[..11]),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn split_requires_exactly_one_frame() {
        let mut frame = FrameHeader::encode(FrameKind::Other(9), 3).to_vec();
        frame.extend_from_slice(b"abc");
        assert_eq!(split_frame(&frame).map(|(_, b)| b), Ok(&b"abc"[..]));
        assert!(split_frame(&frame[..14]).is_err());
        frame.push(0);
        assert!(split_frame(&frame).is_err());
    }
}
