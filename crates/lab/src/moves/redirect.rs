//! redirect: delivers alpha's message for bravo to charlie.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO, CHARLIE};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary shows one side's message to a third power it was never meant for.
/// Sends alpha's #2 for bravo to charlie instead (as it is in signed mode; readdressed
/// and renumbered in deniable mode).
pub struct Redirect;

impl Move for Redirect {
    fn name(&self) -> &'static str {
        "redirect"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if seen.is(ALPHA, BRAVO, 2) {
            out.push(Out::readdressed(seen, seen.name(CHARLIE)));
        } else {
            out.push(Out::forward(seen));
        }
    }
}
