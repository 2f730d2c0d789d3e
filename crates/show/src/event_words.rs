//! What an envelope event says, in the words the pictures of a run use (the timeline's
//! lanes and its said-vs-heard table), so both draw one message the same way.

use backchannel_proto::BodyKind;
use backchannel_stage::Event;

/// The words of an envelope event, with its condition if any.
pub(crate) fn words(e: &Event) -> String {
    let body = e.words();
    let id = e.id.as_deref().unwrap_or("");
    let condition = e.condition.as_deref().unwrap_or("");
    match e.kind {
        Some(BodyKind::Assurance) if condition.is_empty() => format!("assurance ({id}): {body}"),
        Some(BodyKind::Assurance) => format!("assurance ({id}): {body}, if {condition}"),
        Some(BodyKind::Revocation) => format!("revocation of {id}: {body}"),
        _ => body.to_owned(),
    }
}

/// The rejection or notice code, empty when there is none.
pub(crate) fn reason(e: &Event) -> &str {
    e.reason.as_deref().unwrap_or("")
}

/// The event's extra line, empty when there is none.
pub(crate) fn detail(e: &Event) -> &str {
    e.detail.as_deref().unwrap_or("")
}

/// Whether `a` and `b` are about the same envelope: one sender, one recipient, one
/// number.
pub(crate) fn same_envelope(a: &Event, b: &Event) -> bool {
    a.from == b.from && a.to == b.to && a.seq == b.seq
}
