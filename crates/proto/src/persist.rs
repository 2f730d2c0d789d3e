//! A party's channel state on disk, so that separate runs continue one chain.
//!
//! ```text
//! "BKSTATE1"   8 bytes, magic and format version
//! channels     codec encoding of a list of (peer name, channel state), §7 of the spec
//! ```
//!
//! The file holds the exact frames of unacknowledged envelopes, so a party that
//! crashed after reporting an envelope as sent can send it again after a restart.
//! Writing it atomically (write, fsync, rename) is the driver's job.

use crate::channel_state::ChannelState;
use crate::codec;

/// The first 8 bytes of a state file.
pub const STATE_MAGIC: [u8; 8] = *b"BKSTATE1";

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
}

/// Encodes the state of each channel, keyed by peer name.
pub fn encode_party_state(channels: &[(&str, &ChannelState)]) -> Result<Vec<u8>, StateError> {
    let mut out = STATE_MAGIC.to_vec();
    codec::encode_states(channels, &mut out).map_err(|_| StateError::TooLarge)?;
    Ok(out)
}

/// Decodes what [`encode_party_state`] wrote, checking that each channel's state is
/// self-consistent (unacknowledged envelopes consecutive, after the acknowledged
/// prefix and up to the last sent).
pub fn decode_party_state(bytes: &[u8]) -> Result<Vec<(String, ChannelState)>, StateError> {
    let body = bytes
        .strip_prefix(&STATE_MAGIC)
        .ok_or(StateError::NotAStateFile)?;
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
    Ok(channels)
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
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let bytes = encode_party_state(&[("bravo", &s)]).unwrap();
        assert_eq!(
            decode_party_state(&bytes),
            Ok(vec![("bravo".to_owned(), s)])
        );
    }

    #[test]
    fn refuses_damaged_or_inconsistent_files() {
        let bytes = encode_party_state(&[("bravo", &sample())]).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_party_state(&bytes[..cut]).is_err());
        }
        let mut s = sample();
        s.unacked.remove(0);
        let bytes = encode_party_state(&[("bravo", &s)]).unwrap();
        assert!(matches!(
            decode_party_state(&bytes),
            Err(StateError::Damaged(_))
        ));
    }
}
