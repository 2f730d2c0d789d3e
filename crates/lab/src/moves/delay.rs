//! delay: holds a message until after it expires.

use std::time::Duration;

use backchannel_proto::Timestamp;

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary passes a time-bound notice on too late to act on ("our aircraft
/// will keep clear of the corridor" for the next hour, delivered after it). Holds
/// everything alpha sends bravo from #2 on, heartbeats included (a broker that let
/// the heartbeats through would be caught by them at once), until #2 has expired, then
/// delivers it all in order.
#[derive(Default)]
pub struct Delay {
    held: Vec<Observed>,
    release_at: Option<Timestamp>,
    released: bool,
}

impl Move for Delay {
    fn name(&self) -> &'static str {
        "delay"
    }

    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if self.release_at.is_some_and(|t| now >= t) && !self.released {
            self.released = true;
            out.extend(self.held.drain(..).map(|h| Out::forward(&h)));
        }
        let from_alpha = seen.is_from(ALPHA, BRAVO);
        let started = self.release_at.is_some() || seen.is(ALPHA, BRAVO, 2);
        if !self.released && from_alpha && started {
            if self.release_at.is_none() {
                self.release_at = Some(
                    seen.envelope
                        .expires_at
                        .saturating_add(Duration::from_millis(500)),
                );
            }
            self.held.push(seen.clone());
        } else {
            out.push(Out::forward(seen));
        }
    }
}
