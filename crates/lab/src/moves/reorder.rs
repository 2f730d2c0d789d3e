//! reorder: swaps two messages.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary changes the order of what it passes on: in the lab, the
/// withdrawal of A-1 (#3) arrives before the corridor notice (#2) that was sent ahead
/// of it. Holds alpha's #2 to bravo and delivers it after #3.
#[derive(Default)]
pub struct Reorder {
    held: Option<Observed>,
    done: bool,
}

impl Move for Reorder {
    fn name(&self) -> &'static str {
        "reorder"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if !self.done && seen.is(ALPHA, BRAVO, 2) {
            self.held = Some(seen.clone());
            return;
        }
        out.push(Out::forward(seen));
        if seen.is(ALPHA, BRAVO, 3)
            && let Some(held) = self.held.take()
        {
            self.done = true;
            out.push(Out::forward(&held));
        }
    }
}
