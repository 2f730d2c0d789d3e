//! forge: a message "from alpha" that alpha never sent.

use backchannel_proto::{Body, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary invents a message and attributes it to one side: "they told us
/// they will strike first". It follows alpha's first message to bravo with one of its
/// own, numbered and linked as alpha's next, under alpha's last signature (the best a
/// broker without alpha's key can do).
pub struct Forge;

impl Move for Forge {
    fn name(&self) -> &'static str {
        "forge"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        out.push(Out::forward(seen));
        if seen.is(ALPHA, BRAVO, 1) {
            let mut forged = seen.envelope.clone();
            forged.seq = seen.envelope.seq.saturating_add(1);
            forged.prev = seen.digest;
            forged.body = Body::Text("We will strike first.".into());
            out.push(Out::altered(seen, forged));
        }
    }
}
