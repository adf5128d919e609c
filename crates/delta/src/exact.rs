//! Bit-exact Full deltas: [`round_to`] (f32 → F32/F16/BF16 bits, round-to-nearest-even),
//! [`ExactFixups`] (the elements `base + delta` cannot reproduce), [`delta_chunk`] and
//! [`FullParamBuilder`] for streaming extraction, and [`apply_full_chunk`] for apply.
//!
//! A Full delta is `target − base` computed in f32. Applying it computes
//! `round_to(dtype, base + delta)` in f32; wherever that would not give the target's stored bits
//! (cancellation, NaN or infinite values, ±0), the payload records the target bits in
//! [`ExactFixups`] and apply overwrites those elements. With the fixups, apply reproduces the
//! target bit for bit. Where `target − base` is not finite the stored delta is `0.0` (payload
//! deltas are always finite) and the element is a fixup.
//!
//! The conversions are written out here rather than delegated, so they are identical on every
//! machine (no hardware conversion instructions whose NaN handling could differ): NaN keeps its
//! sign and top mantissa bits and gets the quiet bit; overflow gives ±infinity; underflow gives
//! subnormals or ±0.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A float element type a Full parameter's target can be stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FloatDType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (the top half of a binary32).
    BF16,
}

impl FloatDType {
    /// The name used in payloads and digests (`F32`, `F16`, `BF16`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(Self::F32),
            "F16" => Some(Self::F16),
            "BF16" => Some(Self::BF16),
            _ => None,
        }
    }

    /// The largest valid bit pattern (`u32::MAX` for F32, `0xFFFF` for the 16-bit types).
    pub const fn max_bits(self) -> u32 {
        match self {
            Self::F32 => u32::MAX,
            Self::F16 | Self::BF16 => 0xFFFF,
        }
    }
}

/// Rounds `v` to `dtype` (round-to-nearest-even) and returns the stored bits (in the low 16 bits
/// for F16 and BF16).
///
/// ```
/// use modeldiff_delta::{round_to, FloatDType};
/// assert_eq!(round_to(FloatDType::F32, 1.5), 1.5f32.to_bits());
/// assert_eq!(round_to(FloatDType::F16, 1.0), 0x3C00);
/// assert_eq!(round_to(FloatDType::BF16, -2.0), 0xC000);
/// ```
pub fn round_to(dtype: FloatDType, v: f32) -> u32 {
    match dtype {
        FloatDType::F32 => v.to_bits(),
        FloatDType::F16 => u32::from(f32_to_f16(v)),
        FloatDType::BF16 => u32::from(f32_to_bf16(v)),
    }
}

/// The value of stored `bits` of `dtype` as f32 (exact: every F16 and BF16 value is an f32).
/// Bits above [`FloatDType::max_bits`] are ignored.
pub fn to_f32(dtype: FloatDType, bits: u32) -> f32 {
    match dtype {
        FloatDType::F32 => f32::from_bits(bits),
        FloatDType::F16 => f16_to_f32(bits as u16),
        FloatDType::BF16 => f32::from_bits((bits & 0xFFFF) << 16),
    }
}

fn f32_to_bf16(v: f32) -> u16 {
    let x = v.to_bits();
    if v.is_nan() {
        return ((x >> 16) as u16) | 0x0040;
    }
    // Add just under half an ulp of bf16, plus one when the kept part is odd (ties to even);
    // a carry into the exponent is the correct result, up to infinity.
    let odd = (x >> 16) & 1;
    ((x + 0x7FFF + odd) >> 16) as u16
}

fn f32_to_f16(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xFF) as i32;
    let man = x & 0x007F_FFFF;
    if exp == 0xFF {
        return if man == 0 {
            sign | 0x7C00
        } else {
            sign | 0x7E00 | (man >> 13) as u16
        };
    }
    // The f16 biased exponent this value would have.
    let e = exp - 127 + 15;
    if e >= 0x1F {
        return sign | 0x7C00;
    }
    // 24-bit significand (no implicit bit for f32 subnormals, which round to zero below).
    let sig = if exp == 0 { man } else { man | 0x0080_0000 };
    // Keep 11 bits for a normal f16, fewer for a subnormal one.
    let shift = if e >= 1 { 13 } else { 14 - e };
    if shift > 24 {
        return sign;
    }
    let shift = shift as u32;
    let mut kept = sig >> shift;
    let rem = sig & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && kept & 1 == 1) {
        kept += 1;
    }
    let mag = if e >= 1 {
        // `kept` includes the implicit bit (0x400): adding it to (e-1)<<10 sets exponent e, and a
        // rounding carry moves to the next exponent (up to infinity).
        (((e - 1) as u32) << 10) + kept
    } else {
        kept
    };
    sign | mag as u16
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1F);
    let man = u32::from(h & 0x03FF);
    match exp {
        0 => {
            // man × 2^-24, exact in f32.
            let v = man as f32 * f32::from_bits(0x3380_0000);
            if sign != 0 {
                -v
            } else {
                v
            }
        }
        0x1F => f32::from_bits(sign | 0x7F80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

/// The elements of one Full parameter that `round_to(dtype, base + delta)` does not reproduce,
/// with the target's stored bits: `index` ascends strictly, `bits[i]` belongs to `index[i]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactFixups {
    /// The target's element type (the output dtype of apply).
    pub dtype: FloatDType,
    /// Element indices, strictly ascending.
    pub index: Vec<u64>,
    /// The target's stored bits at those indices.
    pub bits: Vec<u32>,
}

impl ExactFixups {
    /// No fixups yet.
    pub fn new(dtype: FloatDType) -> Self {
        Self {
            dtype,
            index: Vec::new(),
            bits: Vec::new(),
        }
    }

    /// Number of fixed-up elements.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Appends fixups that follow these (merging chunks computed in parallel, in order).
    pub fn append(&mut self, other: &ExactFixups) -> Result<()> {
        if other.dtype != self.dtype {
            return Err(Error::InvalidFixups {
                param: String::new(),
                detail: format!(
                    "cannot append {} fixups to {} fixups",
                    other.dtype.as_str(),
                    self.dtype.as_str()
                ),
            });
        }
        if let (Some(&last), Some(&first)) = (self.index.last(), other.index.first()) {
            if first <= last {
                return Err(Error::Stream {
                    what: "appended fixup index (must follow the last one)".into(),
                    expected: last + 1,
                    actual: first,
                });
            }
        }
        self.index.extend_from_slice(&other.index);
        self.bits.extend_from_slice(&other.bits);
        Ok(())
    }

    /// The fixups whose index lies in `start..end`.
    pub fn range(&self, start: u64, end: u64) -> (&[u64], &[u32]) {
        let lo = self.index.partition_point(|&i| i < start);
        let hi = self.index.partition_point(|&i| i < end);
        (&self.index[lo..hi], &self.bits[lo..hi])
    }

    /// Checks the invariants for a parameter of `len` elements.
    pub(crate) fn check(&self, param: &str, len: usize) -> Result<()> {
        let bad = |detail: String| Error::InvalidFixups {
            param: param.to_owned(),
            detail,
        };
        if self.index.len() != self.bits.len() {
            return Err(bad(format!(
                "{} indices but {} bit patterns",
                self.index.len(),
                self.bits.len()
            )));
        }
        if self.index.is_empty() {
            return Err(bad("no elements (omit the entry instead)".into()));
        }
        if let Some(w) = self.index.windows(2).find(|w| w[0] >= w[1]) {
            return Err(bad(format!(
                "indices must ascend strictly, found {} then {}",
                w[0], w[1]
            )));
        }
        if let Some(&last) = self.index.last() {
            if last >= len as u64 {
                return Err(bad(format!("index {last} out of range for {len} elements")));
            }
        }
        let max = self.dtype.max_bits();
        if let Some(b) = self.bits.iter().find(|&&b| b > max) {
            return Err(bad(format!(
                "bit pattern {b:#x} does not fit {}",
                self.dtype.as_str()
            )));
        }
        Ok(())
    }
}

fn check_len(what: &str, expected: usize, actual: usize) -> Result<()> {
    if expected != actual {
        return Err(Error::Stream {
            what: what.to_owned(),
            expected: expected as u64,
            actual: actual as u64,
        });
    }
    Ok(())
}

/// Computes one chunk of a Full delta: `delta_out[i] = target[i] − base[i]` in f32 (`0.0` where
/// that is not finite), and appends to `fixups` every element (at `offset + i`) where
/// `round_to(dtype, base[i] + delta_out[i])` differs from `target_bits[i]`.
///
/// `base` is the base tensor decoded to f32; `target_bits` are the target's stored bits of
/// `dtype` (low 16 bits for F16/BF16). Chunks may be computed independently (in parallel) and
/// their fixups merged in order with [`ExactFixups::append`].
pub fn delta_chunk(
    dtype: FloatDType,
    offset: u64,
    base: &[f32],
    target_bits: &[u32],
    delta_out: &mut [f32],
    fixups: &mut ExactFixups,
) -> Result<()> {
    check_len("delta chunk target length", base.len(), target_bits.len())?;
    check_len("delta chunk output length", base.len(), delta_out.len())?;
    if fixups.dtype != dtype {
        return Err(Error::InvalidFixups {
            param: String::new(),
            detail: format!(
                "chunk of {} collected into {} fixups",
                dtype.as_str(),
                fixups.dtype.as_str()
            ),
        });
    }
    let max = dtype.max_bits();
    for (i, ((&b, &t), d)) in base.iter().zip(target_bits).zip(delta_out).enumerate() {
        if t > max {
            return Err(Error::OutOfRange {
                what: format!("target bits {t:#x} for {}", dtype.as_str()),
            });
        }
        let mut delta = to_f32(dtype, t) - b;
        if !delta.is_finite() {
            delta = 0.0;
        }
        *d = delta;
        if round_to(dtype, b + delta) != t {
            if let Some(&last) = fixups.index.last() {
                if last >= offset + i as u64 {
                    return Err(Error::Stream {
                        what: "delta chunk offset (must follow earlier fixups)".into(),
                        expected: last + 1,
                        actual: offset + i as u64,
                    });
                }
            }
            fixups.index.push(offset + i as u64);
            fixups.bits.push(t);
        }
    }
    Ok(())
}

/// Builds one Full parameter's delta chunk by chunk, in element order, collecting its fixups.
///
/// ```
/// use modeldiff_delta::{apply_full_chunk, round_to, FloatDType, FullParamBuilder};
///
/// let base = [1.0f32, f32::NAN, 1e30];
/// let target = [1.5f32, 2.0, -0.0];
/// let bits: Vec<u32> = target.iter().map(|&t| round_to(FloatDType::F32, t)).collect();
///
/// let mut b = FullParamBuilder::new(FloatDType::F32, 3);
/// let mut delta = [0.0f32; 3];
/// b.push(0, &base[..2], &bits[..2], &mut delta[..2])?;
/// b.push(2, &base[2..], &bits[2..], &mut delta[2..])?;
/// let fixups = b.finish()?; // NaN base and 1e30 − 1e30 cancellation need fixups
///
/// let mut out = [0u32; 3];
/// apply_full_chunk(FloatDType::F32, &base, &delta, 0, fixups.as_ref(), &mut out)?;
/// assert_eq!(out.to_vec(), bits);
/// # Ok::<(), modeldiff_delta::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FullParamBuilder {
    len: u64,
    next: u64,
    fixups: ExactFixups,
}

impl FullParamBuilder {
    /// A parameter of `len` elements whose target is stored as `dtype`.
    pub fn new(dtype: FloatDType, len: u64) -> Self {
        Self {
            len,
            next: 0,
            fixups: ExactFixups::new(dtype),
        }
    }

    /// Computes the next chunk (see [`delta_chunk`]); `offset` must continue the previous chunk.
    pub fn push(
        &mut self,
        offset: u64,
        base: &[f32],
        target_bits: &[u32],
        delta_out: &mut [f32],
    ) -> Result<()> {
        if offset != self.next {
            return Err(Error::Stream {
                what: "full delta chunk offset".into(),
                expected: self.next,
                actual: offset,
            });
        }
        let end = offset + base.len() as u64;
        if end > self.len {
            return Err(Error::Stream {
                what: "full delta chunk end".into(),
                expected: self.len,
                actual: end,
            });
        }
        let dtype = self.fixups.dtype;
        delta_chunk(
            dtype,
            offset,
            base,
            target_bits,
            delta_out,
            &mut self.fixups,
        )?;
        self.next = end;
        Ok(())
    }

    /// Fixups collected so far.
    pub fn fixups(&self) -> &ExactFixups {
        &self.fixups
    }

    /// The fixups of the whole parameter (`None` when there are none); every element must have
    /// been pushed.
    pub fn finish(self) -> Result<Option<ExactFixups>> {
        if self.next != self.len {
            return Err(Error::Stream {
                what: "full delta elements pushed".into(),
                expected: self.len,
                actual: self.next,
            });
        }
        Ok((!self.fixups.is_empty()).then_some(self.fixups))
    }
}

/// Applies one chunk of a Full delta: `out_bits[i] = round_to(dtype, base[i] + delta[i])`, then
/// overwrites the elements `offset + i` listed in `fixups` with their recorded bits.
///
/// `dtype` is the output's element type and must equal the fixups' dtype when there are any.
pub fn apply_full_chunk(
    dtype: FloatDType,
    base: &[f32],
    delta: &[f32],
    offset: u64,
    fixups: Option<&ExactFixups>,
    out_bits: &mut [u32],
) -> Result<()> {
    check_len("apply chunk delta length", base.len(), delta.len())?;
    check_len("apply chunk output length", base.len(), out_bits.len())?;
    for ((o, &b), &d) in out_bits.iter_mut().zip(base).zip(delta) {
        *o = round_to(dtype, b + d);
    }
    if let Some(f) = fixups {
        if f.dtype != dtype {
            return Err(Error::InvalidFixups {
                param: String::new(),
                detail: format!(
                    "fixups are {} but the output is {}",
                    f.dtype.as_str(),
                    dtype.as_str()
                ),
            });
        }
        let (index, bits) = f.range(offset, offset + base.len() as u64);
        for (&i, &b) in index.iter().zip(bits) {
            // In range by construction of `range`.
            out_bits[(i - offset) as usize] = b;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// A deterministic generator (xorshift) so the test needs no extra dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn conversions_match_the_half_crate() {
        // Every f16/bf16 pattern decodes like `half` and re-encodes to itself. NaNs only agree
        // in NaN-ness and sign: `half` may use F16C, which quiets signalling NaNs, while this
        // crate keeps their bits.
        let same = |a: f32, b: f32| {
            if a.is_nan() {
                b.is_nan() && a.is_sign_negative() == b.is_sign_negative()
            } else {
                a.to_bits() == b.to_bits()
            }
        };
        for h in 0..=u16::MAX {
            let a = f16_to_f32(h);
            assert!(same(a, f16::from_bits(h).to_f32()), "f16 {h:#x}");
            if !a.is_nan() || h & 0x0200 != 0 {
                assert_eq!(f32_to_f16(a), h, "f16 {h:#x} round trip");
            }
            let b = to_f32(FloatDType::BF16, u32::from(h));
            assert!(same(b, bf16::from_bits(h).to_f32()), "bf16 {h:#x}");
            if !b.is_nan() || h & 0x0040 != 0 {
                assert_eq!(f32_to_bf16(b), h, "bf16 {h:#x} round trip");
            }
        }
        // Rounding agrees with `half` on special values and a sweep of random bit patterns.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            65504.0,
            65519.0,
            65520.0,
            1e-8,
            2.9e-8,
            3e-8,
            6e-8,
            5.96e-8,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let randoms = (0..200_000).map(|_| f32::from_bits(rng.next() as u32));
        for v in specials.into_iter().chain(randoms) {
            assert_eq!(
                f32_to_f16(v),
                f16::from_f32(v).to_bits(),
                "f16 of {v:e} ({:#x})",
                v.to_bits()
            );
            assert_eq!(f32_to_bf16(v), bf16::from_f32(v).to_bits(), "bf16 of {v:e}");
        }
    }

    fn random_value(rng: &mut Rng) -> f32 {
        match rng.next() % 10 {
            0 => f32::from_bits(rng.next() as u32), // anything, incl. NaN payloads and inf
            1 => f32::from_bits((rng.next() as u32) & 0x807F_FFFF), // subnormals and ±0
            2 => [
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                f32::MAX,
                -f32::MAX,
            ][(rng.next() % 7) as usize],
            3 => ((rng.next() % 2000) as f32 - 1000.0) * 1e30,
            4 => ((rng.next() % 2000) as f32 - 1000.0) * 1e-30,
            5 => f32::from_bits((rng.next() as u32) & 0x387F_FFFF), // tiny for f16
            _ => ((rng.next() % 20001) as f32 - 10000.0) / 997.0,
        }
    }

    #[test]
    fn base_plus_delta_plus_fixups_reproduces_the_target_bits() {
        for dtype in [FloatDType::F32, FloatDType::F16, FloatDType::BF16] {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ dtype as u64);
            let n = 50_000;
            let base: Vec<f32> = (0..n).map(|_| random_value(&mut rng)).collect();
            let target_bits: Vec<u32> = (0..n)
                .map(|i| {
                    let v = match rng.next() % 4 {
                        0 => base[i], // unchanged element
                        1 => base[i] + random_value(&mut rng) * 1e-3,
                        _ => random_value(&mut rng),
                    };
                    let bits = round_to(dtype, v);
                    // Random raw patterns too (signalling NaNs for the 16-bit types).
                    if rng.next().is_multiple_of(50) {
                        (rng.next() as u32) & dtype.max_bits()
                    } else {
                        bits
                    }
                })
                .collect();
            let mut builder = FullParamBuilder::new(dtype, n as u64);
            let mut delta = vec![0f32; n];
            let mut at = 0;
            for len in [1usize, 7, 4096, 10_000].into_iter().cycle() {
                if at == n {
                    break;
                }
                let end = (at + len).min(n);
                builder
                    .push(
                        at as u64,
                        &base[at..end],
                        &target_bits[at..end],
                        &mut delta[at..end],
                    )
                    .unwrap();
                at = end;
            }
            let fixups = builder.finish().unwrap();
            assert!(delta.iter().all(|d| d.is_finite()));
            if let Some(f) = &fixups {
                f.check("p", n).unwrap();
                // Fixups are the exception, not the rule.
                assert!(f.len() < n / 2, "{} fixups of {n}", f.len());
            }
            // Apply in chunks that do not line up with the extraction's.
            let mut out = vec![0u32; n];
            for start in (0..n).step_by(3001) {
                let end = (start + 3001).min(n);
                apply_full_chunk(
                    dtype,
                    &base[start..end],
                    &delta[start..end],
                    start as u64,
                    fixups.as_ref(),
                    &mut out[start..end],
                )
                .unwrap();
            }
            assert_eq!(out, target_bits, "{dtype:?}");
        }
    }

    #[test]
    fn builder_rejects_gaps_and_short_streams() {
        let mut b = FullParamBuilder::new(FloatDType::F32, 4);
        let mut d = [0f32; 2];
        assert!(b.push(1, &[0.0; 2], &[0; 2], &mut d).is_err());
        b.push(0, &[0.0; 2], &[0; 2], &mut d).unwrap();
        assert!(b.push(2, &[0.0; 3], &[0; 3], &mut [0f32; 3]).is_err());
        assert!(b.clone().finish().is_err());
        assert!(b.push(2, &[0.0; 2], &[0; 1], &mut d).is_err());
        let mut h = FullParamBuilder::new(FloatDType::F16, 1);
        assert!(h.push(0, &[0.0], &[0x1_0000], &mut [0.0]).is_err());
    }

    #[test]
    fn fixup_checks_name_the_problem() {
        let f = ExactFixups {
            dtype: FloatDType::F16,
            index: vec![3, 1],
            bits: vec![0, 0],
        };
        let e = f.check("w", 10).unwrap_err().to_string();
        assert_eq!(
            e,
            "full `w` exact fixups: indices must ascend strictly, found 3 then 1"
        );
        let f = ExactFixups {
            dtype: FloatDType::F16,
            index: vec![10],
            bits: vec![0x1_0000],
        };
        assert!(f
            .check("w", 10)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let f = ExactFixups {
            dtype: FloatDType::BF16,
            index: vec![1],
            bits: vec![0x1_0000],
        };
        assert!(f
            .check("w", 10)
            .unwrap_err()
            .to_string()
            .contains("does not fit BF16"));
    }
}
