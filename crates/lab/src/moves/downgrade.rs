//! downgrade: strips the signature and presents the message as deniable.

use backchannel_proto::{ChannelMode, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary turns a signed cable into hearsay, so it can later be denied or
/// "improved": strips the signature (or the off-record MAC) from alpha's messages to
/// bravo and relabels them deniable. On a deniable channel there is nothing to strip.
pub struct Downgrade;

impl Move for Downgrade {
    fn name(&self) -> &'static str {
        "downgrade"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if seen.is_content(ALPHA, BRAVO) && seen.envelope.mode != ChannelMode::Deniable {
            let mut stripped = seen.envelope.clone();
            stripped.mode = ChannelMode::Deniable;
            out.push(Out::Envelope {
                envelope: Box::new(stripped),
                authenticator: Vec::new(),
            });
        } else {
            out.push(Out::forward(seen));
        }
    }
}
