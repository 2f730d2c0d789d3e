//! Transcripts: the append-only record of every envelope a party sent or received,
//! with its verdict and the exact bytes (`proto-spec/protocol.md` §9).
//!
//! File layout:
//!
//! ```text
//! "BKTRANS1"                      8 bytes, magic and format version
//! owner name length n             1 byte
//! owner name                      n bytes (a party name)
//! record*                         each: u32 big-endian length L, then L bytes
//! ```
//!
//! A record's L bytes are the codec encoding of (direction u8, recorded_at u64,
//! verdict str, reason str, frame bytes). Appending never rewrites earlier bytes, so
//! a crash can at worst truncate the last record, which the parser reports as damage.

use std::fmt;

use crate::codec::{self, EncodeError, RecordParts};
use crate::frame::MAX_FRAME_LEN;
use crate::identity::{PartyName, is_valid_name};
use crate::time::Timestamp;

/// The first 8 bytes of a transcript file.
pub const TRANSCRIPT_MAGIC: [u8; 8] = *b"BKTRANS1";

/// The largest record a transcript may hold: one frame plus its verdict text.
pub const MAX_RECORD_LEN: usize = MAX_FRAME_LEN + 4096;

/// Whether the owner sent or received the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The owner sent it.
    Sent,
    /// The owner received it.
    Received,
}

impl Direction {
    const fn to_u8(self) -> u8 {
        match self {
            Direction::Sent => 0,
            Direction::Received => 1,
        }
    }

    /// `sent` or `received`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// What the owner decided when it recorded the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordedVerdict {
    /// The owner sent it.
    Sent,
    /// The owner accepted it.
    Accepted,
    /// The owner rejected it (the reason is in [`Entry::reason`]).
    Rejected,
}

impl RecordedVerdict {
    /// `sent`, `accepted` or `rejected`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordedVerdict::Sent => "sent",
            RecordedVerdict::Accepted => "accepted",
            RecordedVerdict::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(RecordedVerdict::Sent),
            "accepted" => Some(RecordedVerdict::Accepted),
            "rejected" => Some(RecordedVerdict::Rejected),
            _ => None,
        }
    }
}

/// One transcript record, borrowed from the transcript bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Sent or received.
    pub direction: Direction,
    /// When the owner recorded it (the owner's clock).
    pub recorded_at: Timestamp,
    /// What the owner decided.
    pub verdict: RecordedVerdict,
    /// Why it was rejected (`code: explanation`), empty otherwise.
    pub reason: &'a str,
    /// The frame exactly as sent or received.
    pub frame: &'a [u8],
}

/// How the reason of an omission summary starts (`proto-spec/protocol.md` §9.1).
pub const OMITTED_PREFIX: &str = "omitted:";

impl Entry<'_> {
    /// Whether this record is an omission summary rather than an envelope: a count
    /// of rejected envelopes the owner did not keep (received, rejected, no frame,
    /// a reason starting with [`OMITTED_PREFIX`]).
    pub fn is_omission_summary(&self) -> bool {
        self.direction == Direction::Received
            && self.verdict == RecordedVerdict::Rejected
            && self.frame.is_empty()
            && self.reason.starts_with(OMITTED_PREFIX)
    }
}

/// The start of a transcript file for `owner`.
pub fn transcript_header(owner: &PartyName) -> Vec<u8> {
    let mut out = TRANSCRIPT_MAGIC.to_vec();
    let name = owner.as_str().as_bytes();
    out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name);
    out
}

/// Appends one record (length prefix included) to `out`; on error `out` is unchanged.
pub fn encode_entry(entry: &Entry<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let parts = RecordParts {
        direction: entry.direction.to_u8(),
        recorded_at: entry.recorded_at.as_millis(),
        verdict: entry.verdict.as_str(),
        reason: entry.reason,
        frame: entry.frame,
    };
    let result = codec::encode_record(parts, out).and_then(|()| {
        let len = out.len() - start - 4;
        if len > MAX_RECORD_LEN {
            return Err(EncodeError::TooLarge);
        }
        let len = u32::try_from(len).map_err(|_| EncodeError::TooLarge)?;
        if let Some(prefix) = out.get_mut(start..start + 4) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// A transcript as read back: whatever records parsed, and where parsing stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedTranscript<'a> {
    /// Whose transcript it says it is.
    pub owner: &'a str,
    /// The records before any damage, in file order.
    pub entries: Vec<Entry<'a>>,
    /// Where and why parsing stopped early, if it did.
    pub damage: Option<Damage>,
}

/// A damaged or truncated part of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the record that could not be read.
    pub offset: usize,
    /// What was wrong with it.
    pub what: &'static str,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damaged at byte {}: {}", self.offset, self.what)
    }
}

/// The file is not a transcript at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranscriptError {
    /// The magic bytes are wrong or the header is cut short.
    #[error("not a backchannel transcript (bad or truncated header)")]
    NotATranscript,
    /// The owner name in the header is not a valid party name.
    #[error("the transcript header names an invalid owner")]
    BadOwner,
}

/// Parses a transcript. Records after the first damaged one are not read: a length
/// prefix that cannot be trusted leaves no reliable way to find the next record.
pub fn parse_transcript(bytes: &[u8]) -> Result<ParsedTranscript<'_>, TranscriptError> {
    let rest = bytes
        .strip_prefix(&TRANSCRIPT_MAGIC)
        .ok_or(TranscriptError::NotATranscript)?;
    let (&name_len, rest) = rest.split_first().ok_or(TranscriptError::NotATranscript)?;
    let (name, rest) = rest
        .split_at_checked(usize::from(name_len))
        .ok_or(TranscriptError::NotATranscript)?;
    let owner = std::str::from_utf8(name).map_err(|_| TranscriptError::BadOwner)?;
    if !is_valid_name(owner) {
        return Err(TranscriptError::BadOwner);
    }
    let (entries, damage) = parse_records(rest, bytes.len() - rest.len());
    Ok(ParsedTranscript {
        owner,
        entries,
        damage,
    })
}

/// The length of the header of `owner`'s transcript: where its first record starts.
pub fn header_len(owner: &PartyName) -> usize {
    TRANSCRIPT_MAGIC.len() + 1 + owner.as_str().len()
}

/// Parses the records in `bytes`, which start at byte `base` of a transcript (so that
/// damage is reported at its offset in the file). Stops at the first record it
/// cannot read.
pub fn parse_records(bytes: &[u8], base: usize) -> (Vec<Entry<'_>>, Option<Damage>) {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = base + (bytes.len() - rest.len());
        match next_record(rest) {
            Ok((entry, after)) => {
                entries.push(entry);
                rest = after;
            }
            Err(what) => return (entries, Some(Damage { offset, what })),
        }
    }
    (entries, None)
}

fn next_record(bytes: &[u8]) -> Result<(Entry<'_>, &[u8]), &'static str> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or("truncated record length")?;
    let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
    if len > MAX_RECORD_LEN {
        return Err("record length beyond the limit");
    }
    let (record, rest) = rest.split_at_checked(len).ok_or("truncated record")?;
    let parts = codec::decode_record(record)?;
    let direction = match parts.direction {
        0 => Direction::Sent,
        1 => Direction::Received,
        _ => return Err("unknown direction"),
    };
    let verdict = RecordedVerdict::parse(parts.verdict).ok_or("unknown verdict")?;
    Ok((
        Entry {
            direction,
            recorded_at: Timestamp::from_millis(parts.recorded_at),
            verdict,
            reason: parts.reason,
            frame: parts.frame,
        },
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut t = transcript_header(&PartyName::new("bravo").unwrap());
        for (i, v) in [RecordedVerdict::Accepted, RecordedVerdict::Rejected]
            .into_iter()
            .enumerate()
        {
            encode_entry(
                &Entry {
                    direction: Direction::Received,
                    recorded_at: Timestamp::from_millis(i as u64),
                    verdict: v,
                    reason: if i == 1 { "replay: seq 1" } else { "" },
                    frame: b"frame bytes",
                },
                &mut t,
            )
            .unwrap();
        }
        t
    }

    #[test]
    fn round_trips() {
        let t = sample();
        let parsed = parse_transcript(&t).unwrap();
        assert_eq!(parsed.owner, "bravo");
        assert_eq!(parsed.damage, None);
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[1].verdict, RecordedVerdict::Rejected);
        assert_eq!(parsed.entries[1].frame, b"frame bytes");
    }

    #[test]
    fn truncation_is_reported_as_damage_after_good_records() {
        let t = sample();
        let header_len = transcript_header(&PartyName::new("bravo").unwrap()).len();
        let first_len =
            4 + u32::from_be_bytes(t[header_len..header_len + 4].try_into().unwrap()) as usize;
        let boundaries = [header_len, header_len + first_len];
        for cut in header_len..t.len() {
            let parsed = parse_transcript(&t[..cut]).unwrap();
            let whole = usize::from(cut >= header_len + first_len);
            assert_eq!(parsed.entries.len(), whole, "cut at {cut}");
            assert_eq!(
                parsed.damage.is_none(),
                boundaries.contains(&cut),
                "cut at {cut}"
            );
        }
        assert_eq!(
            parse_transcript(&t[..5]),
            Err(TranscriptError::NotATranscript)
        );
    }
}
