//! A scenario's intermediary: each message of the script meets the move the scenario
//! file gives it (`docs/scenarios.md`), on every copy its sender sends.

use std::collections::HashMap;
use std::time::Duration;

use backchannel_proto::{Body, Timestamp};

use super::vocabulary::{Move, Out};
use crate::observed::Observed;
use crate::scenario::{BrokerMove, Scenario, altered};

/// Message k from X to Y in the script is the k-th content envelope the broker sees
/// from X to Y (its position in that direction), so every copy of it meets the same
/// move: a retransmission of an
/// altered message is altered again, of a dropped one dropped, of a held one held.
/// Receipts and heartbeats pass, except that what is held holds back everything from
/// its sender to that recipient behind it (a broker that let a later envelope through
/// would be caught by it at once); what is held behind keeps its own move, so it comes
/// out altered, dropped or forged as the script says when the hold ends.
pub struct ScriptedMove {
    /// (sender, recipient, position) -> the move.
    moves: HashMap<(String, String, u64), BrokerMove>,
    /// (sender, recipient) -> when the hold ends and what it then delivers, in order.
    held: HashMap<(String, String), Held>,
    /// Forgeries already made, by (sender, seq).
    forged: Vec<(String, u64)>,
}

/// One direction held back.
struct Held {
    /// When it is let go.
    until: Timestamp,
    /// What it then delivers, each distinct delivery once.
    outs: Vec<Out>,
}

/// What the script's move does with one envelope, before any hold of its direction.
enum Decision {
    /// Deliver these now.
    Deliver(Vec<Out>),
    /// Hold it until then.
    HoldUntil(Timestamp),
}

impl ScriptedMove {
    /// The intermediary of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        let mut count: HashMap<(&str, &str), u64> = HashMap::new();
        let mut moves = HashMap::new();
        for s in &scenario.steps {
            let seq = count.entry((s.from.as_str(), s.to.as_str())).or_insert(0);
            *seq += 1;
            moves.insert((s.from.clone(), s.to.clone(), *seq), s.broker.clone());
        }
        ScriptedMove {
            moves,
            held: HashMap::new(),
            forged: Vec::new(),
        }
    }

    fn release_due(&mut self, now: Timestamp, out: &mut Vec<Out>) {
        let mut due: Vec<(String, String)> = self
            .held
            .iter()
            .filter(|(_, h)| now >= h.until)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        for k in due {
            if let Some(h) = self.held.remove(&k) {
                out.extend(h.outs);
            }
        }
    }

    /// The script's move applied to `seen`.
    fn decide(&mut self, now: Timestamp, seen: &Observed) -> Decision {
        let e = &seen.envelope;
        let mv = if e.body.is_control() {
            None
        } else {
            self.moves
                .get(&(e.sender.to_string(), e.recipient.to_string(), seen.position))
        };
        match mv.cloned().unwrap_or(BrokerMove::Forward) {
            BrokerMove::Forward => Decision::Deliver(vec![Out::forward(seen)]),
            BrokerMove::Drop => Decision::Deliver(Vec::new()),
            BrokerMove::HoldPastExpiry => {
                Decision::HoldUntil(e.expires_at.saturating_add(Duration::from_millis(500)))
            }
            BrokerMove::Delay(d) => Decision::HoldUntil(now.saturating_add(d)),
            BrokerMove::Alter(a) => {
                let mut changed = e.clone();
                changed.body = altered(&e.body, &a);
                Decision::Deliver(vec![Out::altered(seen, changed)])
            }
            BrokerMove::Copy(other) => {
                Decision::Deliver(vec![Out::forward(seen), Out::readdressed(seen, &other)])
            }
            BrokerMove::Redirect(other) => Decision::Deliver(vec![Out::readdressed(seen, &other)]),
            BrokerMove::Forge(words) => {
                let mut outs = vec![Out::forward(seen)];
                let key = (e.sender.to_string(), e.seq);
                if !self.forged.contains(&key) {
                    self.forged.push(key);
                    // Numbered and linked as the sender's next, under the sender's
                    // authenticator: the best a broker without the key can do.
                    let mut forged = e.clone();
                    forged.seq = e.seq.saturating_add(1);
                    forged.prev = seen.digest;
                    forged.body = Body::Text(words.into());
                    outs.push(Out::altered(seen, forged));
                }
                Decision::Deliver(outs)
            }
        }
    }
}

impl Move for ScriptedMove {
    fn name(&self) -> &'static str {
        "scenario"
    }

    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        self.release_due(now, out);
        let e = &seen.envelope;
        let direction = (e.sender.to_string(), e.recipient.to_string());
        let decision = self.decide(now, seen);
        match (self.held.get_mut(&direction), decision) {
            (Some(h), decision) => {
                let outs = match decision {
                    Decision::Deliver(outs) => outs,
                    Decision::HoldUntil(until) => {
                        h.until = h.until.max(until);
                        vec![Out::forward(seen)]
                    }
                };
                for o in outs {
                    if !h.outs.contains(&o) {
                        h.outs.push(o);
                    }
                }
            }
            (None, Decision::Deliver(outs)) => out.extend(outs),
            (None, Decision::HoldUntil(until)) => {
                self.held.insert(
                    direction,
                    Held {
                        until,
                        outs: vec![Out::forward(seen)],
                    },
                );
            }
        }
    }

    fn claims_consumed(&self) -> bool {
        false
    }
}
