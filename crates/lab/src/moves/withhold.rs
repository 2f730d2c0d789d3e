//! withhold: discards the last message, so no later message reveals the gap.

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary sits on the latest word, the withdrawal of an assurance, so the
/// other side goes on relying on it. Discards alpha's content from #3 on; only
/// heartbeats and receipts can reveal it.
pub struct Withhold;

impl Move for Withhold {
    fn name(&self) -> &'static str {
        "withhold"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if !(seen.is_content(ALPHA, BRAVO) && seen.position >= 3) {
            out.push(Out::forward(seen));
        }
    }
}
