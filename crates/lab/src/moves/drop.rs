//! drop: silently discards one message and forwards the ones after it.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary never passes one message on and says nothing. Discards alpha's #2
/// to bravo, every time it is sent.
pub struct Drop;

impl Move for Drop {
    fn name(&self) -> &'static str {
        "drop"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if !seen.is(ALPHA, BRAVO, 2) {
            out.push(Out::forward(seen));
        }
    }
}
