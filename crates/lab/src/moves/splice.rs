//! splice: delivers to bravo a message taken from another channel.

use backchannel_proto::{ChannelMode, Timestamp};

use super::cast::{ALPHA, BRAVO, CHARLIE};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary passes off words said in another conversation as said in this
/// one. Copies alpha's message to charlie into alpha's stream to bravo.
pub struct Splice;

impl Move for Splice {
    fn name(&self) -> &'static str {
        "splice"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        out.push(Out::forward(seen));
        if !seen.is(ALPHA, CHARLIE, 1) {
            return;
        }
        if seen.envelope.mode == ChannelMode::Deniable {
            let mut spliced = seen.envelope.clone();
            spliced.recipient = seen.name(BRAVO).to_owned().into();
            out.push(Out::altered(seen, spliced));
        } else {
            out.push(Out::Frame {
                to: seen.name(BRAVO).to_owned(),
                frame: seen.frame.clone(),
            });
        }
    }
}
