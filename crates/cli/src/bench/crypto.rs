//! The crypto limit, measured in the same run: what signing and verifying one envelope
//! of the benchmark's size costs on this machine, with the protocol's own functions.

use std::time::{Duration, Instant};

use backchannel_proto::signature_rule::{self, BatchItem};
use backchannel_proto::{
    Ack, Body, ChannelId, ChannelMode, Envelope, EnvelopeIn, PartyName, ProtocolVersion, Refusals,
    SigningIdentity, Timestamp, domain, seal_signed,
};
use ed25519_dalek::Signature;

/// Microseconds per operation.
#[derive(Clone, Copy, Debug)]
pub struct CryptoCosts {
    /// Sealing one signed envelope (encode + Ed25519 sign).
    pub sign_us: f64,
    /// Verifying one alone under the protocol's rule.
    pub verify_us: f64,
    /// Per envelope, in batches of 64.
    pub batch_verify_us: f64,
    /// ed25519-dalek's `verify_strict`, for comparison with the rule's cost.
    pub verify_strict_us: f64,
}

impl CryptoCosts {
    /// The costs as the benchmark's JSON names them.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "sign": self.sign_us,
            "verify": self.verify_us,
            "batch_verify": self.batch_verify_us,
            "verify_strict": self.verify_strict_us,
        })
    }

    /// The mean of two measurements (taken before and after a run).
    pub fn mean(a: &CryptoCosts, b: &CryptoCosts) -> CryptoCosts {
        let m = |x: f64, y: f64| (x + y) / 2.0;
        CryptoCosts {
            sign_us: m(a.sign_us, b.sign_us),
            verify_us: m(a.verify_us, b.verify_us),
            batch_verify_us: m(a.batch_verify_us, b.batch_verify_us),
            verify_strict_us: m(a.verify_strict_us, b.verify_strict_us),
        }
    }

    /// How far the crypto limit moved between a measurement `before` a run and one
    /// `after` it, as a fraction of their mean: the machine's speed drifts, and a ratio
    /// against the limit is uncertain by about this much. 0 when either is unusable.
    pub fn drift(before: &CryptoCosts, after: &CryptoCosts, cores: usize) -> f64 {
        let (b, a) = (before.limit(cores), after.limit(cores));
        let mean = (a + b) / 2.0;
        if mean.is_finite() && mean > 0.0 {
            (a - b).abs() / mean
        } else {
            0.0
        }
    }

    /// Messages per second the machine's cores could carry if signing once and
    /// verifying twice, both in batches (the broker per read, the recipient per read),
    /// were all there is.
    pub fn limit(&self, cores: usize) -> f64 {
        let per_message = self.sign_us + 2.0 * self.batch_verify_us;
        cores as f64 * 1e6 / per_message
    }
}

fn time_per(op_count: usize, budget: Duration, mut op: impl FnMut()) -> f64 {
    // Warm up, then run until the budget is spent.
    for _ in 0..op_count.min(50) {
        op();
    }
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget || n < op_count {
        op();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Measures the costs for bodies of `size` bytes, spending about `budget` in all.
pub fn measure(size: usize, budget: Duration) -> anyhow::Result<CryptoCosts> {
    let alpha = SigningIdentity::from_secret_bytes(PartyName::new("alpha")?, &[0xa1; 32]);
    let text = "x".repeat(size);
    let env = Envelope {
        version: ProtocolVersion::CURRENT,
        mode: ChannelMode::Signed,
        channel: ChannelId([7; 16]),
        sender: "alpha".into(),
        recipient: "bravo".into(),
        seq: 1,
        prev: backchannel_proto::Digest::ZERO,
        ack: Ack::default(),
        refused: Refusals::default(),
        sent_at: Timestamp::from_millis(1),
        expires_at: Timestamp::from_millis(2),
        body: Body::Text(text.as_str().into()),
    };
    let mut frame = Vec::with_capacity(size + 256);
    let quarter = budget / 4;
    let sign_us = time_per(200, quarter, || {
        frame.clear();
        let _ = seal_signed(&env, &alpha, &mut frame);
    });
    let decoded = EnvelopeIn::decode(&frame).map_err(|e| anyhow::anyhow!("{e}"))?;
    let content = decoded.content();
    let sig_bytes: [u8; 64] = decoded
        .authenticator()
        .try_into()
        .map_err(|_| anyhow::anyhow!("no signature"))?;
    let sig = Signature::from_bytes(&sig_bytes);
    let public = alpha.public();
    let key = public.key();
    let message: [&[u8]; 2] = [domain::ENVELOPE_SIGNATURE, content];
    let verify_us = time_per(200, quarter, || {
        let _ = std::hint::black_box(signature_rule::verify(key, &message, &sig));
    });
    let items: Vec<BatchItem<'_>> = (0..64)
        .map(|_| BatchItem {
            key,
            message,
            signature: &sig,
        })
        .collect();
    let batch_us = time_per(4, quarter, || {
        let _ = std::hint::black_box(signature_rule::verify_batch(&items));
    }) / 64.0;
    let mut whole = domain::ENVELOPE_SIGNATURE.to_vec();
    whole.extend_from_slice(content);
    let strict_us = time_per(200, quarter, || {
        let _ = std::hint::black_box(key.verify_strict(&whole, &sig));
    });
    Ok(CryptoCosts {
        sign_us,
        verify_us,
        batch_verify_us: batch_us,
        verify_strict_us: strict_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(sign_us: f64, batch_verify_us: f64) -> CryptoCosts {
        CryptoCosts {
            sign_us,
            verify_us: 50.0,
            batch_verify_us,
            verify_strict_us: 55.0,
        }
    }

    #[test]
    fn drift_is_the_change_of_the_limit_against_its_mean() {
        let a = costs(20.0, 15.0);
        assert_eq!(CryptoCosts::drift(&a, &a, 2), 0.0);
        // 50 us per message, then 40: limits 40k and 50k msg/s on two cores.
        let b = costs(20.0, 10.0);
        let drift = CryptoCosts::drift(&a, &b, 2);
        assert!((drift - 10_000.0 / 45_000.0).abs() < 1e-9, "{drift}");
        assert_eq!(drift, CryptoCosts::drift(&b, &a, 2), "either order");
        // A measurement that produced nothing usable does not pose as a drift.
        assert_eq!(CryptoCosts::drift(&costs(0.0, 0.0), &a, 2), 0.0);
    }
}
