//! The one Ed25519 verification rule (`proto-spec/protocol.md` §8), applied by every
//! verifier: the recipient, the broker (in batches), the judge and the login check.
//!
//! A signature `(R, S)` by key `A` on message `M` is valid iff
//!
//! 1. `S` is canonical (`S < ℓ`);
//! 2. `A` is a canonical encoding of a point that is not of small order (checked once,
//!    when a key is pinned: [`key_is_acceptable`]);
//! 3. `R` is a canonical encoding of a point that is not of small order;
//! 4. `[8]([S]B − [k]A − R)` is the identity, with `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! Rule 4 is the *cofactored* equation (as in ZIP-215). ed25519-dalek's `verify_strict`
//! uses the cofactorless one and its `verify_batch` a cofactorless random combination,
//! and the two disagree on signatures whose `R` or `A` has a small-order component:
//! a signer could make an assurance that a batching recipient accepts and a judge
//! rejects. With the cofactor, single and batch verification accept exactly the same
//! inputs: a batch checks `[8] Σ zᵢ([Sᵢ]B − [kᵢ]Aᵢ − Rᵢ) = 0` with 128-bit coefficients
//! `zᵢ`, and since each `[8](…)` lies in the prime-order subgroup, the sum vanishes
//! for all but a 2^-128 fraction of coefficients unless every term does. The cost is
//! that of `verify_strict` (one double-base scalar multiplication) plus three
//! doublings, less one field inversion (canonical encodings are checked on the bytes,
//! not by re-compressing); no torsion check (a full scalar multiplication) is needed.
//!
//! Honest signers (any RFC 8032 implementation) produce signatures that satisfy the
//! rule; only a signer who crafts a mixed-order `R` on purpose gets one that
//! `verify_strict` would refuse and this rule accepts, consistently in every path, so
//! it cannot later deny it before the judge.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity as _, IsIdentity as _, VartimeMultiscalarMul as _};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha512};

/// Whether `key` may be pinned: a canonical encoding of a point not of small order
/// (rule 2).
pub fn key_is_acceptable(key: &VerifyingKey) -> bool {
    decode_canonical(key.as_bytes()).is_some_and(|point| !point.is_small_order())
}

/// What rules 1 and 3 leave of a signature: the decoded `R` and `S`.
struct Parsed {
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
}

fn parse(sig: &Signature) -> Option<Parsed> {
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes()))?;
    let r_bytes = *sig.r_bytes();
    let r = decode_canonical(&r_bytes)?;
    if r.is_small_order() {
        return None;
    }
    Some(Parsed { r_bytes, r, s })
}

/// Decodes a point, refusing any encoding but the canonical one, without the field
/// inversion a re-compression would cost: an encoding is canonical iff `y < p` and it
/// does not set the sign bit of `x = 0` (the two ways a decoder can accept a second
/// encoding of the same point).
fn decode_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !y_is_reduced(bytes) {
        return None;
    }
    let mut y = *bytes;
    y[31] &= 0x7f;
    let sign_set = bytes[31] & 0x80 != 0;
    // x = 0 exactly when y = 1 or y = −1; a set sign bit there names the same point.
    if sign_set && (y == Y_ONE || y == Y_MINUS_ONE) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// y = 1, little-endian.
const Y_ONE: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// y = p − 1 = 2^255 − 20, little-endian.
const Y_MINUS_ONE: [u8; 32] = {
    let mut b = [0xffu8; 32];
    b[0] = 0xec;
    b[31] = 0x7f;
    b
};

/// Whether the 255-bit little-endian `y` (the sign bit cleared) is below
/// p = 2^255 − 19.
fn y_is_reduced(bytes: &[u8; 32]) -> bool {
    // y >= p only if every bit from 255 down to 5 is set and the low byte is >= 0xed.
    let top = bytes[31] & 0x7f;
    let middle_all_ones = bytes[1..31].iter().all(|b| *b == 0xff);
    !(top == 0x7f && middle_all_ones && bytes[0] >= 0xed)
}

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`, with `M` given in parts (domain label, content).
fn challenge(r_bytes: &[u8; 32], key: &VerifyingKey, message: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.as_bytes());
    for part in message {
        h.update(part);
    }
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Verifies one signature under the rule. `key` must satisfy rule 2 (it was pinned).
pub fn verify(key: &VerifyingKey, message: &[&[u8]], sig: &Signature) -> bool {
    let Some(p) = parse(sig) else {
        return false;
    };
    let k = challenge(&p.r_bytes, key, message);
    let minus_a = -key.to_edwards();
    let r_prime = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &minus_a, &p.s);
    (r_prime - p.r).mul_by_cofactor().is_identity()
}

/// One signature of a batch.
pub struct BatchItem<'a> {
    /// The signer's pinned key.
    pub key: &'a VerifyingKey,
    /// The signed message, in parts.
    pub message: [&'a [u8]; 2],
    /// The signature.
    pub signature: &'a Signature,
}

/// Verifies every signature in `items` at once under the rule: `true` only if each
/// one would pass [`verify`] (except with probability about 2^-128). On `false` the
/// caller verifies them one by one to find the bad ones.
pub fn verify_batch(items: &[BatchItem<'_>]) -> bool {
    // A batch of one costs more than the single check (the basepoint is then an
    // ordinary term, without the single check's precomputed table): same rule, so
    // take the cheaper path.
    if let [item] = items {
        return verify(item.key, &item.message, item.signature);
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match parse(item.signature) {
            Some(p) => parsed.push(p),
            None => return false,
        }
    }
    // The coefficients come from a hash of the whole batch (as in ed25519-dalek's
    // batch): fixed once the signatures are, so a signer cannot aim at them.
    let mut transcript = Sha512::new();
    transcript.update(b"backchannel/v2/batch-coefficients\0");
    for (item, p) in items.iter().zip(&parsed) {
        transcript.update(item.key.as_bytes());
        transcript.update(p.r_bytes);
        transcript.update(p.s.as_bytes());
        for part in item.message {
            transcript.update((part.len() as u64).to_be_bytes());
            transcript.update(part);
        }
    }
    let seed: [u8; 64] = transcript.finalize().into();
    let mut b_coefficient = Scalar::ZERO;
    // Signatures by one key share its point: Σ zᵢkᵢ·A is one term, not one per
    // signature (a batch is usually one sender's). The sum is the same point, so the
    // verdict is too; the multiscalar multiplication has n + keys + 1 terms, not 2n + 1.
    let mut keys: Vec<(&[u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    let mut scalars = Vec::with_capacity(items.len() + 2);
    let mut points = Vec::with_capacity(items.len() + 2);
    let mut coefficients = Coefficients::new(seed);
    for (item, p) in items.iter().zip(&parsed) {
        let z = coefficients.next();
        let k = challenge(&p.r_bytes, item.key, &item.message);
        b_coefficient += z * p.s;
        let zk = z * k;
        match keys
            .iter_mut()
            .find(|(bytes, ..)| *bytes == item.key.as_bytes())
        {
            Some((_, _, sum)) => *sum -= zk,
            None => keys.push((item.key.as_bytes(), item.key.to_edwards(), -zk)),
        }
        scalars.push(-z);
        points.push(p.r);
    }
    for (_, point, sum) in keys {
        scalars.push(sum);
        points.push(point);
    }
    scalars.push(b_coefficient);
    points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
    let sum = EdwardsPoint::vartime_multiscalar_mul(scalars.iter(), points.iter());
    sum.mul_by_cofactor() == EdwardsPoint::identity()
}

/// The batch coefficients: 128 bits each, four from each `SHA-512(seed ‖ block)`.
struct Coefficients {
    seed: [u8; 64],
    block: u64,
    out: [u8; 64],
    used: usize,
}

impl Coefficients {
    fn new(seed: [u8; 64]) -> Self {
        Coefficients {
            seed,
            block: 0,
            out: [0; 64],
            used: 4,
        }
    }

    fn next(&mut self) -> Scalar {
        if self.used == 4 {
            let mut h = Sha512::new();
            h.update(self.seed);
            h.update(self.block.to_be_bytes());
            self.out = h.finalize().into();
            self.block += 1;
            self.used = 0;
        }
        let mut bytes = [0u8; 32];
        let at = self.used * 16;
        if let (Some(dst), Some(src)) = (bytes.get_mut(..16), self.out.get(at..at + 16)) {
            dst.copy_from_slice(src);
        }
        self.used += 1;
        Scalar::from_bytes_mod_order(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_check_agrees_with_recompression_on_every_edge_encoding() {
        let mut encodings = vec![Y_ONE, Y_MINUS_ONE, [0u8; 32], [0xff; 32]];
        // Around p: p - 1, p, p + 1 ... p + 18 (all non-canonical when >= p).
        for low in 0xeb..=0xffu8 {
            let mut b = [0xffu8; 32];
            b[0] = low;
            b[31] = 0x7f;
            encodings.push(b);
        }
        for e in encodings.clone() {
            let mut signed = e;
            signed[31] |= 0x80;
            encodings.push(signed);
        }
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            encodings.push(point.compress().to_bytes());
        }
        encodings.push(curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED.to_bytes());
        for bytes in encodings {
            let by_recompression = CompressedEdwardsY(bytes)
                .decompress()
                .filter(|p| p.compress().to_bytes() == bytes);
            assert_eq!(
                decode_canonical(&bytes).map(|p| p.compress()),
                by_recompression.map(|p| p.compress()),
                "{bytes:02x?}"
            );
        }
    }
}
