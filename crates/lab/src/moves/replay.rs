//! replay: delivers an already-delivered message again.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary repeats an old assurance as if it were said again. Delivers
/// alpha's #1 (assurance A-1) to bravo a second time, right after #2 (the corridor
/// notice) and before #3 (its withdrawal).
#[derive(Default)]
pub struct Replay {
    first: Option<Observed>,
}

impl Move for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        out.push(Out::forward(seen));
        if seen.is(ALPHA, BRAVO, 1) && self.first.is_none() {
            self.first = Some(seen.clone());
        }
        if seen.is(ALPHA, BRAVO, 2)
            && let Some(first) = self.first.take()
        {
            out.push(Out::again(&first));
        }
    }
}
