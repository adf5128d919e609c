//! The scalar reference implementation: the semantics every SIMD routine must reproduce.

use crate::elements::{
    block_bytes, iq4_xs_scale, q4_k_scale_min, Elements, E4M3_SCALE, IQ4NL, IQ4_NL, IQ4_XS, Q4_0,
    Q4_1, Q4_K, Q5_0, Q5_1, Q8_0, QBLOCK_ELEMS, QK_K, QK_SUB,
};
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
    if [a.kind(), b.kind()]
        .iter()
        .any(|&k| k == Q4_K || k == IQ4_XS)
    {
        return by_super_blocks(a, b, offset, st);
    }
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
        Elements::IQ4_NL(x) => with_b(|i| iq4_nl(x, i), b, offset, st),
        Elements::Q5_0(x) => with_b(|i| q5_0(x, i), b, offset, st),
        Elements::Q5_1(x) => with_b(|i| q5_1(x, i), b, offset, st),
        Elements::F8E4M3(x) => with_b(|i| e4m3(x[i]), b, offset, st),
        Elements::F8E5M2(x) => with_b(|i| e5m2(x[i]), b, offset, st),
        Elements::Q4_K(_) | Elements::IQ4_XS(_) => unreachable!("handled by super-block above"),
    }
}

/// Sides of which one holds `Q4_K` or `IQ4_XS` super-blocks: super-block by super-block, both
/// sides' values decoded into buffers (such a side by its definition, once per sub-block's
/// scale), then summed in order, so the sums are those of decoding both sides whole first.
fn by_super_blocks(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = a.len();
    let mut sums = Sums::default();
    let (mut xa, mut xb) = ([0f32; QK_K], [0f32; QK_K]);
    let mut s = 0;
    while s < n {
        let e = (s + QK_K).min(n);
        let (va, vb) = (&mut xa[..e - s], &mut xb[..e - s]);
        values(a.slice(s..e), va);
        values(b.slice(s..e), vb);
        sum_by(e - s, |i| va[i], |i| vb[i], offset + s as u64, &mut sums);
        s = e;
    }
    sums.add_to(st);
}

/// The values of `x` (`out.len()` of them) as `f32`.
pub(crate) fn values(x: Elements, out: &mut [f32]) {
    match x {
        Elements::Q4_K(v) => {
            for (blk, o) in v
                .chunks_exact(block_bytes(Q4_K))
                .zip(out.chunks_exact_mut(QK_K))
            {
                q4_k_block(blk, o);
            }
        }
        Elements::IQ4_XS(v) => {
            for (blk, o) in v
                .chunks_exact(block_bytes(IQ4_XS))
                .zip(out.chunks_exact_mut(QK_K))
            {
                iq4_xs_block(blk, o);
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = value(x, i);
            }
        }
    }
}

/// Element `i` of `x` (any kind but `Q4_K` and `IQ4_XS`).
pub(crate) fn value(x: Elements, i: usize) -> f32 {
    match x {
        Elements::F32(v) => v[i],
        Elements::F16(v) => h(v, i),
        Elements::BF16(v) => bf(v, i),
        Elements::Q8_0(v) => q8_0(v, i),
        Elements::Q4_0(v) => q4_0(v, i),
        Elements::Q4_1(v) => q4_1(v, i),
        Elements::IQ4_NL(v) => iq4_nl(v, i),
        Elements::Q5_0(v) => q5_0(v, i),
        Elements::Q5_1(v) => q5_1(v, i),
        Elements::F8E4M3(v) => e4m3(v[i]),
        Elements::F8E5M2(v) => e5m2(v[i]),
        Elements::Q4_K(_) | Elements::IQ4_XS(_) => {
            unreachable!("super-block sides are decoded by super-block")
        }
    }
}

/// One `Q4_K` super-block's 256 values: sub-block `s`'s element `r` is
/// `(d * sc) * nibble - dmin * m`, its nibble the low (`s` even) or high half of byte
/// `32 (s / 2) + r` of the quants.
fn q4_k_block(blk: &[u8], out: &mut [f32]) {
    let (d, dmin) = (half_at(blk, 0), half_at(blk, 2));
    for s in 0..QK_K / QK_SUB {
        let (sc, m) = q4_k_scale_min(&blk[4..16], s);
        let (d1, m1) = (d * sc as f32, dmin * m as f32);
        let qs = &blk[16 + 32 * (s / 2)..][..QK_SUB];
        for (o, &q) in out[QK_SUB * s..][..QK_SUB].iter_mut().zip(qs) {
            let nib = if s % 2 == 0 { q & 0x0f } else { q >> 4 };
            *o = d1 * nib as f32 - m1;
        }
    }
}

/// One `IQ4_XS` super-block's 256 values: sub-block `s`'s element `r` is
/// `(d * (sc - 32)) * kv[nibble]`, its nibble the low (`r < 16`) or high half of byte
/// `16s + r % 16` of the quants.
fn iq4_xs_block(blk: &[u8], out: &mut [f32]) {
    let d = half_at(blk, 0);
    for s in 0..QK_K / QK_SUB {
        let dl = d * iq4_xs_scale(blk, s) as f32;
        let qs = &blk[8 + 16 * s..][..16];
        for (r, o) in out[QK_SUB * s..][..QK_SUB].iter_mut().enumerate() {
            let q = qs[r % 16];
            let nib = if r < 16 { q & 0x0f } else { q >> 4 };
            *o = dl * IQ4NL[nib as usize] as f32;
        }
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
        Elements::IQ4_NL(y) => accumulate_by(n, a, |i| iq4_nl(y, i), offset, st),
        Elements::Q5_0(y) => accumulate_by(n, a, |i| q5_0(y, i), offset, st),
        Elements::Q5_1(y) => accumulate_by(n, a, |i| q5_1(y, i), offset, st),
        Elements::F8E4M3(y) => accumulate_by(n, a, |i| e4m3(y[i]), offset, st),
        Elements::F8E5M2(y) => accumulate_by(n, a, |i| e5m2(y[i]), offset, st),
        Elements::Q4_K(_) | Elements::IQ4_XS(_) => {
            unreachable!("handled by super-block in `accumulate_elements`")
        }
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

/// The 5-bit value `r` (0..32) of a `Q5_0` / `Q5_1` block's fifth bits `qh` (4 bytes) and
/// nibble bytes `qs`: nibble `r` with bit `r` of `qh` above it.
#[inline(always)]
fn five_bits(qh: &[u8], qs: &[u8], r: usize) -> u8 {
    let hi = (u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]) >> r) & 1;
    nibble(qs, r) | (hi as u8) << 4
}

/// Element `i` of `Q5_0` blocks: `d * (q - 16) as f32`, `q` the 5-bit value.
#[inline(always)]
fn q5_0(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<Q5_0>(v, i);
    half_at(blk, 0) * (five_bits(&blk[2..], &blk[6..], r) as i8 - 16) as f32
}

/// Element `i` of `Q5_1` blocks: `d * q as f32 + m`, `q` the 5-bit value.
#[inline(always)]
fn q5_1(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<Q5_1>(v, i);
    half_at(blk, 0) * five_bits(&blk[4..], &blk[8..], r) as f32 + half_at(blk, 2)
}

/// Element `i` of `IQ4_NL` blocks: `d * kv[nibble] as f32`.
#[inline(always)]
fn iq4_nl(v: &[u8], i: usize) -> f32 {
    let (blk, r) = block::<IQ4_NL>(v, i);
    half_at(blk, 0) * IQ4NL[nibble(&blk[2..], r) as usize] as f32
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

/// The running sums and counts of [`accumulate_by`], so that a side decoded piece by piece
/// sums in the same order as one decoded whole.
#[derive(Clone, Copy, Default)]
struct Sums {
    len: u64,
    dd: f64,
    ds: f64,
    aa: f64,
    bb: f64,
    sad: f64,
    nfa: u64,
    nfb: u64,
    mism: u64,
    cmp: u64,
    best: Option<(f64, u64)>,
}

impl Sums {
    /// Adds the sums to `st`.
    fn add_to(self, st: &mut DiffStats) {
        st.len += self.len;
        st.compared += self.cmp;
        st.nonfinite_a += self.nfa;
        st.nonfinite_b += self.nfb;
        st.mismatches += self.mism;
        st.sum_sq_diff += self.dd;
        st.sum_diff_sum += self.ds;
        st.sum_sq_a += self.aa;
        st.sum_sq_b += self.bb;
        st.sum_abs_diff += self.sad;
        if let Some((m, i)) = self.best {
            st.take_max(m, Some(i));
        }
    }
}

/// The definition: `n` pairs `(a(i), b(i))` added to `st`.
#[inline(always)]
fn accumulate_by(
    n: usize,
    a: impl Fn(usize) -> f32,
    b: impl Fn(usize) -> f32,
    offset: u64,
    st: &mut DiffStats,
) {
    let mut s = Sums::default();
    sum_by(n, a, b, offset, &mut s);
    s.add_to(st);
}

/// `n` pairs `(a(i), b(i))` (the first at flat index `offset`) added to the running sums.
#[inline(always)]
fn sum_by(
    n: usize,
    a: impl Fn(usize) -> f32,
    b: impl Fn(usize) -> f32,
    offset: u64,
    sums: &mut Sums,
) {
    // A local copy, so that the sums live in registers through the loop.
    let mut r = *sums;
    for i in 0..n {
        let (x, y) = (a(i), b(i));
        let (fx, fy) = (x.is_finite(), y.is_finite());
        r.nfa += !fx as u64;
        r.nfb += !fy as u64;
        r.mism += !(x == y || x.to_bits() == y.to_bits()) as u64;
        if fx && fy {
            r.cmp += 1;
            let (x, y) = (x as f64, y as f64);
            let (d, s) = (x - y, x + y);
            r.dd += d * d;
            r.ds += d * s;
            r.aa += x * x;
            r.bb += y * y;
            let ad = d.abs();
            r.sad += ad;
            if r.best.is_none_or(|(m, _)| ad > m) {
                r.best = Some((ad, offset + i as u64));
            }
        }
    }
    r.len += n as u64;
    *sums = r;
}
