//! The baseline: relays everything unchanged.

use backchannel_proto::Timestamp;

use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// An honest intermediary, through the same machinery as the attacks: the control row
/// of the matrix, which must show nothing.
pub struct Honest;

impl Move for Honest {
    fn name(&self) -> &'static str {
        "honest"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        out.push(Out::forward(seen));
    }
}
