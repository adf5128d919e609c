//! The scalar reference implementation: the semantics every SIMD routine must reproduce.

use crate::elements::{block_bytes, Elements, E4M3_SCALE, Q4_0, Q4_1, Q8_0, QBLOCK_ELEMS};
use crate::stats::DiffStats;

/// Adds the pairs `(a[i], b[i])` to `st`, one at a time, in `f64`.
///
/// This is the definition of the metrics; SIMD versions differ only in summation order.
/// The caller guarantees `a.len() == b.len()`.
pub(crate) fn accumulate(a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    debug_assert_eq!(a.len(), b.len());
    let b = &b[..a.len()];
    accumulate_by(a.len(), |i| a[i], |i| b[i], offset, st)
}

/// [`accumulate`] over [`Elements`]: each stored value is decoded when it is read (halves
/// exactly as `crate::convert` converts them, blocks by ggml's formulas), so the result is the
/// same as decoding both sides first. The caller guarantees `a.len() == b.len()`.
pub(crate) fn accumulate_elements(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    debug_assert_eq!(a.len(), b.len());
    // One loop per pair of kinds (A's getter chosen here, B's in `with_b`), so no element pays
    // for a match on its kind.
    match a {
        Elements::F32(x) => match b {
            Elements::F32(y) => accumulate(x, y, offset, st),
            _ => with_b(|i| x[i], b, offset, st),
        },
        Elements::F16(x) => with_b(|i| h(x, i), b, offset, st),
        Elements::BF16(x) => with_b(|i| bf(x, i), b, offset, st),
        Elements::Q8_0(x) => with_b(|i| q8_0(x, i), b, offset, st),
        Elements::Q4_0(x) => with_b(|i| q4_0(x, i), b, offset, st),
        Elements::Q4_1(x) => with_b(|i| q4_1(x, i), b, offset, st),
        Elements::F8E4M3(x) => with_b(|i| e4m3(x[i]), b, offset, st),
        Elements::F8E5M2(x) => with_b(|i| e5m2(x[i]), b, offset, st),
    }
}

/// [`accumulate_by`] with A's getter `a` and B's chosen by its kind.
#[inline(always)]
fn with_b(a: impl Fn(usize) -> f32, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = b.len();
    match b {
        Elements::F32(y) => accumulate_by(n, a, |i| y[i], offset, st),
        Elements::F16(y) => accumulate_by(n, a, |i| h(y, i), offset, st),
        Elements::BF16(y) => accumulate_by(n, a, |i| bf(y, i), offset, st),
        Elements::Q8_0(y) => accumulate_by(n, a, |i| q8_0(y, i), offset, st),
        Elements::Q4_0(y) => accumulate_by(n, a, |i| q4_0(y, i), offset, st),
        Elements::Q4_1(y) => accumulate_by(n, a, |i| q4_1(y, i), offset, st),
        Elements::F8E4M3(y) => accumulate_by(n, a, |i| e4m3(y[i]), offset, st),
        Elements::F8E5M2(y) => accumulate_by(n, a, |i| e5m2(y[i]), offset, st),
    }
}

/// Element `i` of little-endian binary16 bytes.
#[inline(always)]
fn h(v: &[u8], i: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([v[2 * i], v[2 * i + 1]])).to_f32()
}

/// Element `i` of little-endian bfloat16 bytes.
#[inline(always)]
fn bf(v: &[u8], i: usize) -> f32 {
    f32::from_bits((u16::from_le_bytes([v[2 * i], v[2 * i + 1]]) as u32) << 16)
}

/// The block of kind `K` holding element `i` of `v`, and `i`'s place in it.
#[inline(always)]
fn block<const K: u8>(v: &[u8], i: usize) -> (&[u8], usize) {
    let bb = block_bytes(K);
    let at = bb * (i / QBLOCK_ELEMS);
    (&v[at..at + bb], i % QBLOCK_ELEMS)
}

/// The little-endian binary16 at `at` of `b`, as `f32`.
#[inline(always)]
fn half_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// The 4-bit value `r` (0..32) of the 16 nibble bytes `qs`: low nibbles first, then high.
#[inline(always)]
fn nibble(qs: &[u8], r: usize) -> u8 {
    let q = qs[r % 16];
    if r < 16 {
        q & 0x0f
    } else {
        q >> 4
    }
}

/// Element `i` of `Q8_0` blocks: `q as f32 * d`.
#[inline(always)]
fn q8_0(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<Q8_0>(v, i);
    blk[2 + r] as i8 as f32 * half_at(blk, 0)
}

/// Element `i` of `Q4_0` blocks: `d * (nibble - 8) as f32`.
#[inline(always)]
fn q4_0(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<Q4_0>(v, i);
    half_at(blk, 0) * (nibble(&blk[2..], r) as i8 - 8) as f32
}

/// Element `i` of `Q4_1` blocks: `d * nibble as f32 + m`.
#[inline(always)]
fn q4_1(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<Q4_1>(v, i);
    half_at(blk, 0) * nibble(&blk[4..], r) as f32 + half_at(blk, 2)
}

/// A `float8_e4m3fn` byte (from a table built at compile time).
#[inline(always)]
pub(crate) fn e4m3(x: u8) -> f32 {
    E4M3[x as usize]
}

/// Every `float8_e4m3fn` byte's value: the magnitude bits `m` placed as the exponent and top
/// mantissa bits of an `f32` (`m << 20`) are that value times 2⁻¹²⁰, subnormals included, so
/// one exact multiplication by 2¹²⁰ decodes every finite value; the sign is the top bit, and
/// `0x7f` / `0xff` are NaN (read as `f32::NAN`). Built at compile time: at run time a
/// subnormal operand costs a microcode assist.
static E4M3: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut x = 0;
    while x < 256 {
        let m = (x & 0x7f) as u32;
        t[x] = if m == 0x7f {
            f32::NAN
        } else {
            let v = f32::from_bits(m << 20) * E4M3_SCALE;
            f32::from_bits(v.to_bits() | ((x & 0x80) as u32) << 24)
        };
        x += 1;
    }
    t
};

/// A `float8_e5m2` byte: the high byte of a binary16.
#[inline(always)]
pub(crate) fn e5m2(x: u8) -> f32 {
    half::f16::from_bits((x as u16) << 8).to_f32()
}

/// A side against itself: by definition [`accumulate_elements`] with `x` on both sides (the
/// SIMD versions compute only what is not zero).
pub(crate) fn accumulate_self(x: Elements, offset: u64, st: &mut DiffStats) {
    accumulate_elements(x, x, offset, st)
}

/// The definition: `n` pairs `(a(i), b(i))`.
#[inline(always)]
fn accumulate_by(
    n: usize,
    a: impl Fn(usize) -> f32,
    b: impl Fn(usize) -> f32,
    offset: u64,
    st: &mut DiffStats,
) {
    let (mut dd, mut ds, mut aa, mut bb, mut sad) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let (mut nfa, mut nfb, mut mism, mut cmp) = (0u64, 0u64, 0u64, 0u64);
    let mut best: Option<(f64, u64)> = None;
    for i in 0..n {
        let (x, y) = (a(i), b(i));
        let (fx, fy) = (x.is_finite(), y.is_finite());
        nfa += !fx as u64;
        nfb += !fy as u64;
        mism += !(x == y || x.to_bits() == y.to_bits()) as u64;
        if fx && fy {
            cmp += 1;
            let (x, y) = (x as f64, y as f64);
            let (d, s) = (x - y, x + y);
            dd += d * d;
            ds += d * s;
            aa += x * x;
            bb += y * y;
            let ad = d.abs();
            sad += ad;
            if best.is_none_or(|(m, _)| ad > m) {
                best = Some((ad, offset + i as u64));
            }
        }
    }
    st.len += n as u64;
    st.compared += cmp;
    st.nonfinite_a += nfa;
    st.nonfinite_b += nfb;
    st.mismatches += mism;
    st.sum_sq_diff += dd;
    st.sum_diff_sum += ds;
    st.sum_sq_a += aa;
    st.sum_sq_b += bb;
    st.sum_abs_diff += sad;
    if let Some((m, i)) = best {
        st.take_max(m, Some(i));
    }
}
