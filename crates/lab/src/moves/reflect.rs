//! reflect: sends alpha's message back to alpha.

use backchannel_proto::{ChannelMode, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary hands one side its own words back as if they were the other
/// side's answer: alpha hears "our aircraft will keep clear of the corridor" and takes
/// it for bravo's promise. Sends alpha's #2 back to alpha (in deniable mode, as bravo's).
pub struct Reflect;

impl Move for Reflect {
    fn name(&self) -> &'static str {
        "reflect"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if !seen.is(ALPHA, BRAVO, 2) {
            out.push(Out::forward(seen));
        } else if seen.envelope.mode == ChannelMode::Deniable {
            let mut back = seen.envelope.clone();
            back.sender = seen.name(BRAVO).to_owned().into();
            back.recipient = seen.name(ALPHA).to_owned().into();
            out.push(Out::altered(seen, back));
        } else {
            out.push(Out::Frame {
                to: seen.name(ALPHA).to_owned(),
                frame: seen.frame.clone(),
            });
        }
    }
}
