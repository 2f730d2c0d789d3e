//! substitute-key: presents a different key as alpha's.

use backchannel_proto::off_record::{self, KeyChain};
use backchannel_proto::{
    ChannelMode, PartyName, SigningIdentity, Timestamp, seal_off_record, seal_signed,
};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary claims one side "has a new key" and signs in its name with a key
/// of its own making. Replaces alpha's #2 to bravo with its own words, signed by the
/// broker's key under alpha's name. Keys are pinned by local policy, never learned
/// from the broker, so the substitute signs nothing bravo will attribute to alpha.
#[derive(Default)]
pub struct SubstituteKey;

impl SubstituteKey {
    /// The move.
    pub fn new() -> Self {
        SubstituteKey
    }
}

/// The broker's own key in `name`'s name (a fixed, public seed: this key is the
/// broker's, and nobody pins it).
fn fake(name: &str) -> Option<SigningIdentity> {
    PartyName::new(name)
        .ok()
        .map(|n| SigningIdentity::from_secret_bytes(n, &[0x5b; 32]))
}

impl Move for SubstituteKey {
    fn name(&self) -> &'static str {
        "substitute-key"
    }

    fn on_envelope(&mut self, _now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if !seen.is(ALPHA, BRAVO, 2) {
            out.push(Out::forward(seen));
            return;
        }
        let mut env = seen.envelope.clone();
        env.body = backchannel_proto::Body::Text(
            "Our aircraft will use the corridor as they see fit.".into(),
        );
        let fake_alpha = fake(seen.name(ALPHA));
        match (env.mode, &fake_alpha) {
            (ChannelMode::Signed, Some(fake)) => {
                let mut frame = Vec::new();
                if seal_signed(&env, fake, &mut frame).is_ok() {
                    out.push(Out::Frame {
                        to: seen.name(BRAVO).to_owned(),
                        frame,
                    });
                }
            }
            // Off-record: a MAC under a key the broker derives from its substitute key
            // (paired with itself: it has no pair secret with bravo that bravo would
            // derive from alpha's pinned key).
            (ChannelMode::OffRecord, Some(fake)) => {
                let Ok(secret) = off_record::pair_secret(fake.signing_key(), fake.public().key())
                else {
                    return;
                };
                let root = off_record::chain_root(
                    &secret,
                    env.version,
                    env.channel,
                    seen.name(ALPHA),
                    seen.name(BRAVO),
                );
                let epoch = off_record::epoch_of(&env);
                let chain = KeyChain::new(root, epoch);
                let mut frame = Vec::new();
                if let Some(key) = chain.kept_key(epoch)
                    && seal_off_record(&env, key, None, &mut frame).is_ok()
                {
                    out.push(Out::Frame {
                        to: seen.name(BRAVO).to_owned(),
                        frame,
                    });
                }
            }
            _ => out.push(Out::altered(seen, env)),
        }
    }
}
