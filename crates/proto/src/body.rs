//! What an envelope says: the typed bodies drawn from the domain.
//!
//! Text fields borrow from the received frame when decoded ([`Cow::Borrowed`]), so
//! reading an envelope allocates nothing; [`Body::into_owned`] detaches it.

use std::borrow::Cow;
use std::fmt;

use crate::time::Timestamp;

/// The most text (in UTF-8 bytes, all of a body's text fields together) a sender
/// should put in one envelope: a frame is at most 64 KiB, and the envelope's other
/// fields and its authenticator need the rest (`proto-spec/protocol.md` §5.3). A
/// longer body may still fit, but this one always does.
pub const MAX_TEXT_LEN: usize = 60 * 1024;

/// The body of an envelope (`proto-spec/protocol.md` §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// Free text.
    Text(Cow<'a, str>),
    /// A narrow, conditional assurance with an end of validity.
    Assurance(Assurance<'a>),
    /// Withdraws an earlier assurance.
    Revocation(Revocation<'a>),
    /// Sent only to acknowledge. The envelope's [`Ack`](crate::Ack) header is the
    /// cumulative receipt: the highest sequence number received from the peer and the
    /// chain digest at that point, so one receipt acknowledges the whole prefix.
    ///
    /// A control body: it announces the sender's chain head (its `seq` and `prev` are
    /// the sender's last sequence number and digest) instead of extending the chain.
    Receipt,
    /// Sent when the channel is idle: the same heads as a receipt, so a withheld last
    /// message or a forked history is caught within one interval. A control body.
    Heartbeat,
}

/// "We will not launch a preemptive strike absent provocation", valid until a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assurance<'a> {
    /// The sender's name for this assurance, e.g. `A-1`; revocations refer to it.
    pub id: Cow<'a, str>,
    /// What the sender commits to.
    pub commitment: Cow<'a, str>,
    /// The condition under which the commitment holds, e.g. "absent provocation".
    pub condition: Cow<'a, str>,
    /// When the assurance lapses by itself.
    pub valid_until: Timestamp,
}

/// "Assurance A-1 is withdrawn as of now."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation<'a> {
    /// The id of the withdrawn assurance.
    pub assurance_id: Cow<'a, str>,
    /// Why, in the sender's words.
    pub reason: Cow<'a, str>,
}

/// The kind of a body, without its contents: for logs, JSON and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// [`Body::Text`]
    Text,
    /// [`Body::Assurance`]
    Assurance,
    /// [`Body::Revocation`]
    Revocation,
    /// [`Body::Receipt`]
    Receipt,
    /// [`Body::Heartbeat`]
    Heartbeat,
}

impl BodyKind {
    /// Lower-case name, as printed and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            BodyKind::Text => "text",
            BodyKind::Assurance => "assurance",
            BodyKind::Revocation => "revocation",
            BodyKind::Receipt => "receipt",
            BodyKind::Heartbeat => "heartbeat",
        }
    }
}

impl fmt::Display for BodyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> Body<'a> {
    /// The kind of this body.
    pub const fn kind(&self) -> BodyKind {
        match self {
            Body::Text(_) => BodyKind::Text,
            Body::Assurance(_) => BodyKind::Assurance,
            Body::Revocation(_) => BodyKind::Revocation,
            Body::Receipt => BodyKind::Receipt,
            Body::Heartbeat => BodyKind::Heartbeat,
        }
    }

    /// Whether this is a control body (receipt or heartbeat): one that announces the
    /// sender's chain head rather than extending the chain.
    ///
    /// Control envelopes take no sequence number, are never acknowledged or resent
    /// (the next one supersedes a lost one), and oblige no receipt, so two parties
    /// never acknowledge each other's acknowledgements.
    pub const fn is_control(&self) -> bool {
        matches!(self, Body::Receipt | Body::Heartbeat)
    }

    /// How many bytes of text the body carries (all its text fields).
    pub fn text_len(&self) -> usize {
        match self {
            Body::Text(t) => t.len(),
            Body::Assurance(a) => a.id.len() + a.commitment.len() + a.condition.len(),
            Body::Revocation(r) => r.assurance_id.len() + r.reason.len(),
            Body::Receipt | Body::Heartbeat => 0,
        }
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> Body<'static> {
        match self {
            Body::Text(t) => Body::Text(Cow::Owned(t.into_owned())),
            Body::Assurance(a) => Body::Assurance(Assurance {
                id: Cow::Owned(a.id.into_owned()),
                commitment: Cow::Owned(a.commitment.into_owned()),
                condition: Cow::Owned(a.condition.into_owned()),
                valid_until: a.valid_until,
            }),
            Body::Revocation(r) => Body::Revocation(Revocation {
                assurance_id: Cow::Owned(r.assurance_id.into_owned()),
                reason: Cow::Owned(r.reason.into_owned()),
            }),
            Body::Receipt => Body::Receipt,
            Body::Heartbeat => Body::Heartbeat,
        }
    }
}

impl fmt::Display for Body<'_> {
    /// One line a human can read, e.g. `assurance A-1: "No preemptive strike" if
    /// "absent provocation" until 2026-12-21T00:00:00.000Z`. Every text is escaped
    /// ([`crate::text`]): a body cannot steer the terminal that shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::{plain, quoted};
        match self {
            Body::Text(t) => write!(f, "text: {}", quoted(t)),
            Body::Assurance(a) => write!(
                f,
                "assurance {}: {} if {} until {}",
                plain(&a.id),
                quoted(&a.commitment),
                quoted(&a.condition),
                a.valid_until
            ),
            Body::Revocation(r) => write!(
                f,
                "revocation of {}: {}",
                plain(&r.assurance_id),
                quoted(&r.reason)
            ),
            Body::Receipt => f.write_str("receipt"),
            Body::Heartbeat => f.write_str("heartbeat"),
        }
    }
}
