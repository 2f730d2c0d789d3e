//! drop-receipt: delivers the message but suppresses every answer.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary passes the message on but keeps the other side's acknowledgement
/// from the sender, who is left not knowing whether it was heard. Discards everything
/// bravo sends to alpha, without forging anything in its place.
pub struct DropReceipt;

impl Move for DropReceipt {
    fn name(&self) -> &'static str {
        "drop-receipt"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        let from_bravo = seen.is_from(BRAVO, ALPHA);
        if !from_bravo {
            out.push(Out::forward(seen));
        }
    }
}
