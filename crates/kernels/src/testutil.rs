//! Shared seeds for the kernel tests: lengths around every SIMD width and special values.

/// Lengths 0, 1, every vector width ±1, block boundaries ±1, and odd sizes.
pub(crate) const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1023, 4095, 4096, 4097,
    8191, 8193, 12345,
];

/// A small deterministic generator (SplitMix64) so tests need no dependency for randomness.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Values that stress the special cases: signed zeros, infinities, NaNs, denormals, extremes.
pub(crate) const SPECIALS: &[f32] = &[
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::MIN_POSITIVE,
    1e-45,
    -1e-45,
    f32::MAX,
    f32::MIN,
    1.0,
    -1.0,
];

/// A pair of slices of length `n`; with `specials`, about one value in seven is special.
pub(crate) fn pair(seed: u64, n: usize, specials: bool) -> (Vec<f32>, Vec<f32>) {
    let mut r = Rng(seed);
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for _ in 0..n {
        let x = r.unit();
        let mut y = x + r.unit() * 1e-3;
        let mut x2 = x;
        if specials && r.next_u64().is_multiple_of(7) {
            x2 = SPECIALS[(r.next_u64() % SPECIALS.len() as u64) as usize];
        }
        if specials && r.next_u64().is_multiple_of(7) {
            y = SPECIALS[(r.next_u64() % SPECIALS.len() as u64) as usize];
        }
        if r.next_u64().is_multiple_of(5) {
            y = x2; // exact equality, including equal special values
        }
        a.push(x2);
        b.push(y);
    }
    (a, b)
}
