//! equivocate: shows alpha and bravo different histories of the same channel.

use backchannel_proto::{Body, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary tells each side a different story and keeps both consistent on
/// their own: alpha believes it said one thing, bravo believes it heard another.
/// Bravo gets a different #2 than alpha sent, while alpha's view stays as alpha
/// wrote it. Each acknowledgement names the digest of what its sender saw, so the two
/// histories meet there; in deniable mode the broker rewrites those too.
pub struct Equivocate;

impl Move for Equivocate {
    fn name(&self) -> &'static str {
        "equivocate"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if seen.is(ALPHA, BRAVO, 2) {
            let mut other = seen.envelope.clone();
            other.body = Body::Text("Our aircraft will enter the agreed corridor.".into());
            out.push(Out::altered(seen, other));
        } else {
            out.push(Out::forward(seen));
        }
    }
}
