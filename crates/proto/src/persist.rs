//! A snapshot of a party's channel state on disk (`proto-spec/nodes.md` §4.2).
//!
//! ```text
//! "BKSTATE3"   8 bytes, magic and format version
//! covers       u64 big-endian: the transcript length (bytes) this snapshot includes
//! checksum     32 bytes: SHA-256("backchannel/v1/state-file\0" || covers || channels)
//! channels     codec encoding of a list of (peer name, channel state), §7 of the spec
//! ```
//!
//! The checksum catches what decoding alone cannot: a flipped bit that still decodes
//! (a sequence number, a digest, a timestamp) would otherwise be trusted, and the party
//! would sign receipts for numbers never sent or refuse its peer's genuine next
//! message. A snapshot that fails any check is not used: the party rebuilds its state
//! from the transcript, which it can always do.
//!
//! The transcript is the party's journal; a snapshot only saves replaying all of it.
//! After a restart the party loads the snapshot and replays the transcript records
//! from byte `covers` on ([`crate::journal::replay`]). The file holds the exact
//! frames of unacknowledged envelopes, so a party can send them again after a
//! restart. Writing it atomically (write, fsync, rename) is the driver's job.
//!
//! Files of protocol version 1 (`BKSTATE1`) are refused: their transcripts hold
//! version 1 envelopes, which this version no longer speaks. `BKSTATE2` files (no
//! checksum) are refused as [`StateError::NoChecksum`]: the party rebuilds from its
//! transcript and writes the current format.

use crate::channel_state::ChannelState;
use crate::codec;

/// The first 8 bytes of a state file.
pub const STATE_MAGIC: [u8; 8] = *b"BKSTATE3";

/// The previous format, without a checksum.
const STATE_MAGIC_V2: [u8; 8] = *b"BKSTATE2";

/// What the checksum covers first: no other hash in the protocol can be confused with
/// it.
const CHECKSUM_DOMAIN: &[u8] = b"backchannel/v1/state-file\0";

fn checksum(covers: u64, channels: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(CHECKSUM_DOMAIN);
    h.update(covers.to_be_bytes());
    h.update(channels);
    h.finalize().into()
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// How many bytes of the transcript it includes.
    pub covers: u64,
    /// The state of each channel, keyed by peer name.
    pub channels: Vec<(String, ChannelState)>,
}

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not a state file, or one of another format version.
    #[error("not a backchannel state file")]
    NotAStateFile,
    /// Damaged: it does not decode, or its contents contradict each other.
    #[error("damaged state file: {0}")]
    Damaged(&'static str),
    /// Too large to encode.
    #[error("the state is too large to encode")]
    TooLarge,
    /// Its checksum does not match its contents: damaged on disk.
    #[error("damaged state file: its checksum does not match its contents")]
    ChecksumMismatch,
    /// An older format without a checksum.
    #[error("a state file of an older format (no checksum)")]
    NoChecksum,
}

/// Encodes the state of each channel, keyed by peer name, as of transcript length
/// `covers`.
pub fn encode_party_state(
    covers: u64,
    channels: &[(&str, &ChannelState)],
) -> Result<Vec<u8>, StateError> {
    let mut body = Vec::new();
    codec::encode_states(channels, &mut body).map_err(|_| StateError::TooLarge)?;
    let mut out = STATE_MAGIC.to_vec();
    out.extend_from_slice(&covers.to_be_bytes());
    out.extend_from_slice(&checksum(covers, &body));
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes what [`encode_party_state`] wrote, checking that each channel's state is
/// self-consistent (unacknowledged envelopes consecutive, after the acknowledged
/// prefix and up to the last sent).
pub fn decode_party_state(bytes: &[u8]) -> Result<Snapshot, StateError> {
    if bytes.starts_with(&STATE_MAGIC_V2) {
        return Err(StateError::NoChecksum);
    }
    let rest = bytes
        .strip_prefix(&STATE_MAGIC)
        .ok_or(StateError::NotAStateFile)?;
    let (covers, rest) = rest
        .split_first_chunk::<8>()
        .ok_or(StateError::Damaged("truncated header"))?;
    let covers = u64::from_be_bytes(*covers);
    let (sum, body) = rest
        .split_first_chunk::<32>()
        .ok_or(StateError::Damaged("truncated header"))?;
    if *sum != checksum(covers, body) {
        return Err(StateError::ChecksumMismatch);
    }
    let channels = codec::decode_states(body).map_err(StateError::Damaged)?;
    for (_, state) in &channels {
        let mut expected = state.acked.seq.saturating_add(1);
        for o in &state.unacked {
            if o.seq != expected {
                return Err(StateError::Damaged(
                    "unacknowledged envelopes are not consecutive",
                ));
            }
            expected = expected.saturating_add(1);
        }
        if state.acked.seq > state.sent.seq
            || (!state.unacked.is_empty() && expected.saturating_sub(1) != state.sent.seq)
        {
            return Err(StateError::Damaged("acknowledged beyond what was sent"));
        }
    }
    Ok(Snapshot { covers, channels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel_state::Outstanding;
    use crate::digest::Digest;
    use crate::envelope::Ack;
    use crate::time::Timestamp;

    fn sample() -> ChannelState {
        ChannelState {
            sent: Ack {
                seq: 3,
                head: Digest([3; 32]),
            },
            last_sent_at: Timestamp::from_millis(30),
            acked: Ack {
                seq: 1,
                head: Digest([1; 32]),
            },
            unacked: [2u64, 3]
                .into_iter()
                .map(|seq| Outstanding {
                    seq,
                    digest: Digest([seq as u8; 32]),
                    sent_at: Timestamp::from_millis(seq * 10),
                    reported: seq == 2,
                    frame: vec![seq as u8; 5],
                })
                .collect(),
            received: Ack {
                seq: 7,
                head: Digest([7; 32]),
            },
            last_received_at: Timestamp::from_millis(70),
            refusals: {
                let mut r = crate::envelope::Refusals::default();
                r.push(6, crate::envelope::RefusalCode::Expired);
                r
            },
            peer_refusals_seen: 2,
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let bytes = encode_party_state(77, &[("bravo", &s)]).unwrap();
        assert_eq!(
            decode_party_state(&bytes),
            Ok(Snapshot {
                covers: 77,
                channels: vec![("bravo".to_owned(), s.clone())]
            })
        );
    }

    #[test]
    fn refuses_damaged_or_inconsistent_files() {
        let bytes = encode_party_state(9, &[("bravo", &sample())]).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_party_state(&bytes[..cut]).is_err());
        }
        // Every single flipped bit is caught, whether or not the rest still decodes.
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                assert!(decode_party_state(&flipped).is_err(), "byte {at} bit {bit}");
            }
        }
        let mut s = sample();
        s.unacked.remove(0);
        let bytes = encode_party_state(9, &[("bravo", &s)]).unwrap();
        assert!(matches!(
            decode_party_state(&bytes),
            Err(StateError::Damaged(_))
        ));
    }
}
