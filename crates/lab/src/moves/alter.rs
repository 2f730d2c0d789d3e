//! alter: changes the words or the conditions of an assurance it relays.

use backchannel_proto::{Body, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary shades what it passes on: "no preemptive strike absent
/// provocation" arrives as "no preemptive strike, for now". Rewrites the condition of
/// alpha's first assurance to bravo (the first the broker sees, and every copy of it).
#[derive(Default)]
pub struct Alter {
    /// The position of the assurance being altered, once seen.
    target: Option<u64>,
}

impl Move for Alter {
    fn name(&self) -> &'static str {
        "alter"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if self.target.is_none()
            && seen.is_content(ALPHA, BRAVO)
            && matches!(seen.envelope.body, Body::Assurance(_))
        {
            self.target = Some(seen.position);
        }
        if self.target.is_some_and(|t| seen.is(ALPHA, BRAVO, t))
            && let Body::Assurance(a) = &seen.envelope.body
        {
            let mut altered = seen.envelope.clone();
            let mut a = a.clone();
            a.condition = "for now".into();
            altered.body = Body::Assurance(a);
            out.push(Out::altered(seen, altered));
        } else {
            out.push(Out::forward(seen));
        }
    }
}
