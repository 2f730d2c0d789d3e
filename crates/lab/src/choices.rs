//! Where the random adversarial broker's decisions come from: a seeded generator, or
//! the bytes a fuzzer supplies.

/// A source of small decisions.
pub trait Choices {
    /// A number in `0..n` (`n > 0`; 0 when `n` is 0).
    fn below(&mut self, n: u32) -> u32;

    /// A byte.
    fn byte(&mut self) -> u8 {
        u8::try_from(self.below(256)).unwrap_or(0)
    }
}

/// SplitMix64: tiny, fast and fully determined by its seed, so a failing seed
/// reproduces exactly.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Seeded {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Seeded(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Choices for Seeded {
    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        u32::try_from(self.next() % u64::from(n)).unwrap_or(0)
    }
}

/// Decisions read from fuzzer input, one byte each; zeros (the most honest choice)
/// once the input runs out.
#[derive(Clone, Debug)]
pub struct FromBytes<'a> {
    bytes: &'a [u8],
}

impl<'a> FromBytes<'a> {
    /// Reads decisions from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        FromBytes { bytes }
    }
}

impl Choices for FromBytes<'_> {
    fn below(&mut self, n: u32) -> u32 {
        let Some((&b, rest)) = self.bytes.split_first() else {
            return 0;
        };
        self.bytes = rest;
        if n == 0 { 0 } else { u32::from(b) % n }
    }
}
