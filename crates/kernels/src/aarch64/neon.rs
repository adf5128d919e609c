//! NEON kernels, 4 `f32` pairs per step, widened to two 2-lane `f64` halves. F16 sides are
//! converted in registers (`fcvtl`), BF16 sides by a 16-bit shift; sides of the other kinds
//! (8-bit floats, ggml blocks) are decoded into stack buffers a block at a time and then run
//! the `f32` loop, and the tail that does not fill a step runs the scalar code. NEON is part of
//! every aarch64 CPU, so nothing here is chosen at run time beyond [`crate::Isa::Neon`].

use core::arch::aarch64::*;

use crate::elements::{Elements, BF16, F16, F32};
use crate::scalar;
use crate::simd::{BestBlock, Partials, BLOCK};
use crate::stats::DiffStats;

/// NEON twin of [`scalar::accumulate`].
///
/// # Safety
/// The CPU must support NEON (every aarch64 CPU does), and `a.len() == b.len()`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn accumulate(a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    run::<F32, F32>(Elements::F32(a), Elements::F32(b), offset, st)
}

/// NEON twin of [`scalar::accumulate_elements`]: sides of `f32`, F16 and BF16 values in
/// registers, other kinds through [`decoded`].
///
/// # Safety
/// The CPU must support NEON, and `a.len() == b.len()`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn accumulate_elements(
    a: Elements,
    b: Elements,
    offset: u64,
    st: &mut DiffStats,
) {
    match (a.kind(), b.kind()) {
        (F32, F32) => run::<F32, F32>(a, b, offset, st),
        (F32, F16) => run::<F32, F16>(a, b, offset, st),
        (F32, BF16) => run::<F32, BF16>(a, b, offset, st),
        (F16, F32) => run::<F16, F32>(a, b, offset, st),
        (F16, F16) => run::<F16, F16>(a, b, offset, st),
        (F16, BF16) => run::<F16, BF16>(a, b, offset, st),
        (BF16, F32) => run::<BF16, F32>(a, b, offset, st),
        (BF16, F16) => run::<BF16, F16>(a, b, offset, st),
        (BF16, BF16) => run::<BF16, BF16>(a, b, offset, st),
        _ => decoded(a, b, offset, st),
    }
}

/// NEON twin of [`scalar::accumulate_self`]: the pair kernel with `x` on both sides, so the
/// result is bit for bit that of [`accumulate_elements`] with `x` twice.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn accumulate_self(x: Elements, offset: u64, st: &mut DiffStats) {
    match x.kind() {
        F32 => run::<F32, F32>(x, x, offset, st),
        F16 => run::<F16, F16>(x, x, offset, st),
        BF16 => run::<BF16, BF16>(x, x, offset, st),
        _ => decoded(x, x, offset, st),
    }
}

/// Sides of any kinds, decoded by the scalar code's exact decoders into two stack buffers
/// [`BLOCK`] elements at a time, each piece then run through the `f32` loop: the result is bit
/// for bit that of decoding both sides whole and calling [`accumulate`] once, because the loop
/// reduces its sums per block of [`BLOCK`] pairs and a later call takes the maximum only when
/// it is larger (the first largest wins, as within one call).
#[target_feature(enable = "neon")]
fn decoded(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = a.len().min(b.len());
    let (mut xa, mut xb) = ([0f32; BLOCK], [0f32; BLOCK]);
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        let (va, vb) = (&mut xa[..end - i], &mut xb[..end - i]);
        scalar::values(a.slice(i..end), va);
        scalar::values(b.slice(i..end), vb);
        run::<F32, F32>(Elements::F32(va), Elements::F32(vb), offset + i as u64, st);
        i = end;
    }
}

/// The blocks of `a` and `b`, whose kinds are `KA` and `KB`, then the scalar tail.
#[target_feature(enable = "neon")]
fn run<const KA: u8, const KB: u8>(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = a.len().min(b.len());
    let vec_end = n - n % 4;
    let mut best = BestBlock::default();
    let mut i = 0;
    while i < vec_end {
        let end = (i + BLOCK).min(vec_end);
        best.offer(
            block::<KA, KB>(a.slice(i..end), b.slice(i..end), st),
            i..end,
        );
        i = end;
    }
    // Before the tail, so that an equal maximum in the tail does not win over an earlier one.
    best.locate(a, b, offset, st, find);
    scalar::accumulate_elements(
        a.slice(vec_end..n),
        b.slice(vec_end..n),
        offset + vec_end as u64,
        st,
    );
}

/// Four elements of kind `K` (`F32`, `F16` or `BF16`) from element `j` of the storage at `p`.
///
/// # Safety
/// `p` points at elements of kind `K` of which at least `j + 4` are readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load<const K: u8>(p: *const u8, j: usize) -> float32x4_t {
    // SAFETY: the caller guarantees elements j..j + 4 are readable; `vld1` loads need no
    // alignment beyond the element's.
    unsafe {
        match K {
            F32 => vld1q_f32(p.add(4 * j).cast()),
            BF16 => vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(p.add(2 * j).cast()))),
            _ => f16_to_f32(vld1_u16(p.add(2 * j).cast())),
        }
    }
}

/// Four binary16 values (bits) as `f32`, exactly (`fcvtl`: subnormals kept, a signalling NaN
/// quieted, as F16C's `vcvtph2ps` and the `half` crate convert them).
#[inline]
#[target_feature(enable = "neon")]
fn f16_to_f32(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` (Armv8-A floating point, part of every aarch64 CPU) reads and writes
    // only the two registers named, no memory, no flags.
    unsafe {
        core::arch::asm!(
            "fcvtl {0:v}.4s, {1:v}.4h",
            out(vreg) out,
            in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// One block of at most [`BLOCK`] pairs (a multiple of 4); `a` and `b` have the kinds `KA`
/// and `KB`. Returns the block's maximum |a−b| as [`Partials::finish`] does. Every step tests
/// finiteness (the x86-64 loops first try a sweep without the tests).
#[target_feature(enable = "neon")]
fn block<const KA: u8, const KB: u8>(a: Elements, b: Elements, st: &mut DiffStats) -> Option<f64> {
    let n = a.len();
    assert!(a.kind() == KA && b.kind() == KB && b.len() == n && n.is_multiple_of(4));
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let inf = vdupq_n_f32(f32::INFINITY);
    let z = vdupq_n_f64(0.0);
    let (mut dd0, mut dd1, mut ds0, mut ds1) = (z, z, z, z);
    let (mut aa0, mut aa1, mut bb0, mut bb1) = (z, z, z, z);
    let (mut sa0, mut sa1, mut mx0, mut mx1) = (z, z, z, z);
    // Per-lane counters of finite-a, finite-b, equal and compared lanes (at most 4096 / 4 per
    // block): a true comparison lane is all ones, so subtracting it counts one.
    let zi = vdupq_n_u32(0);
    let (mut cfa, mut cfb, mut ceq, mut ck) = (zi, zi, zi, zi);
    let mut j = 0;
    while j < n {
        // SAFETY: j + 4 <= n = a.len() = b.len(), and the kinds were asserted.
        let (va, vb) = unsafe { (load::<KA>(pa, j), load::<KB>(pb, j)) };
        let fa = vcltq_f32(vabsq_f32(va), inf);
        let fb = vcltq_f32(vabsq_f32(vb), inf);
        let k = vandq_u32(fa, fb);
        let (ua, ub) = (vreinterpretq_u32_f32(va), vreinterpretq_u32_f32(vb));
        let eq = vorrq_u32(vceqq_f32(va, vb), vceqq_u32(ua, ub));
        cfa = vsubq_u32(cfa, fa);
        cfb = vsubq_u32(cfb, fb);
        ceq = vsubq_u32(ceq, eq);
        ck = vsubq_u32(ck, k);
        // Pairs not compared become (0, 0).
        let xa = vreinterpretq_f32_u32(vandq_u32(ua, k));
        let xb = vreinterpretq_f32_u32(vandq_u32(ub, k));
        let (a0, a1) = (vcvt_f64_f32(vget_low_f32(xa)), vcvt_high_f64_f32(xa));
        let (b0, b1) = (vcvt_f64_f32(vget_low_f32(xb)), vcvt_high_f64_f32(xb));
        let (d0, d1) = (vsubq_f64(a0, b0), vsubq_f64(a1, b1));
        let (s0, s1) = (vaddq_f64(a0, b0), vaddq_f64(a1, b1));
        // vfmaq_f64(acc, x, y) = acc + x·y, rounded once.
        dd0 = vfmaq_f64(dd0, d0, d0);
        dd1 = vfmaq_f64(dd1, d1, d1);
        ds0 = vfmaq_f64(ds0, d0, s0);
        ds1 = vfmaq_f64(ds1, d1, s1);
        aa0 = vfmaq_f64(aa0, a0, a0);
        aa1 = vfmaq_f64(aa1, a1, a1);
        bb0 = vfmaq_f64(bb0, b0, b0);
        bb1 = vfmaq_f64(bb1, b1, b1);
        let (e0, e1) = (vabsq_f64(d0), vabsq_f64(d1));
        sa0 = vaddq_f64(sa0, e0);
        sa1 = vaddq_f64(sa1, e1);
        mx0 = vmaxq_f64(mx0, e0);
        mx1 = vmaxq_f64(mx1, e1);
        j += 4;
    }
    Partials::<4, 2> {
        finite_a: u32_lanes(cfa),
        finite_b: u32_lanes(cfb),
        equal: u32_lanes(ceq),
        compared: u32_lanes(ck),
        sum_sq_diff: f64_lanes(vaddq_f64(dd0, dd1)),
        sum_diff_sum: f64_lanes(vaddq_f64(ds0, ds1)),
        sum_sq_a: f64_lanes(vaddq_f64(aa0, aa1)),
        sum_sq_b: f64_lanes(vaddq_f64(bb0, bb1)),
        sum_abs_diff: f64_lanes(vaddq_f64(sa0, sa1)),
        max_abs: f64_lanes(vmaxq_f64(mx0, mx1)),
    }
    .finish(n, st)
}

/// The first pair of `a`, `b` (one block) whose values are both finite and whose |a−b| in `f64`
/// is `target`: a scalar search, run once per call on the block that held the maximum.
fn find(a: Elements, b: Elements, target: f64) -> Option<usize> {
    (0..a.len()).find(|&i| {
        let (x, y) = (scalar::value(a, i), scalar::value(b, i));
        x.is_finite() && y.is_finite() && (x as f64 - y as f64).abs() == target
    })
}

/// The four 32-bit lanes of `v`.
#[inline]
#[target_feature(enable = "neon")]
fn u32_lanes(v: uint32x4_t) -> [u32; 4] {
    let mut out = [0u32; 4];
    // SAFETY: `out` has room for the four lanes.
    unsafe { vst1q_u32(out.as_mut_ptr(), v) };
    out
}

/// The two `f64` lanes of `v`.
#[inline]
#[target_feature(enable = "neon")]
fn f64_lanes(v: float64x2_t) -> [f64; 2] {
    let mut out = [0f64; 2];
    // SAFETY: `out` has room for the two lanes.
    unsafe { vst1q_f64(out.as_mut_ptr(), v) };
    out
}
