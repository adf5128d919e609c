//! AVX2 + FMA (+ F16C for conversion) kernels, 8 `f32` pairs per step, widened to two 4-lane
//! `f64` halves.

use core::arch::x86_64::*;

use super::{by_kinds, prefetch_line, BestBlock, Partials, SubScales, BLOCK};
use crate::convert::Kind;
use crate::elements::{
    block_bytes, Elements, BF16, F16, F32, F8_E4M3, F8_E5M2, IQ4NL, IQ4_NL, IQ4_XS, Q4_0, Q4_1,
    Q4_K, Q5_0, Q5_1, Q8_0, QBLOCK_ELEMS, QK_K, QK_SUB,
};
use crate::scalar;
use crate::stats::DiffStats;

/// AVX2 twin of [`scalar::accumulate`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn accumulate(a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    run::<F32, F32>(Elements::F32(a), Elements::F32(b), offset, st)
}

/// AVX2 twin of [`scalar::accumulate_elements`]: half-precision sides are converted in
/// registers (F16C `vcvtph2ps`; bfloat16 by widening and shifting left 16), block sides decoded
/// there (scale broadcast, quant bytes widened and scaled), and feed the same loop as `f32`
/// values.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn accumulate_elements(
    a: Elements,
    b: Elements,
    offset: u64,
    st: &mut DiffStats,
) {
    by_kinds!(run, a, b, offset, st)
}

/// The blocks of `a` and `b`, whose kinds are `KA` and `KB`, then the scalar tail.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn run<const KA: u8, const KB: u8>(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = a.len().min(b.len());
    let vec_end = n - n % 8;
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
    best.locate(a, b, offset, st, |a, b, m| find::<KA, KB>(a, b, m));
    scalar::accumulate_elements(
        a.slice(vec_end..n),
        b.slice(vec_end..n),
        offset + vec_end as u64,
        st,
    );
}

/// Eight elements of kind `K` from element `j` of the storage at `p`, as `f32`; for `Q4_K`,
/// `t` holds the sub-block factors of the side that starts at `p` ([`SubScales::of`]).
///
/// # Safety
/// `p` points at elements of kind `K` of which at least `j + 8` are readable; for the block
/// kinds, `j` is a multiple of 8 (sides hold whole blocks).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
unsafe fn load<const K: u8>(p: *const u8, j: usize, t: &SubScales) -> __m256 {
    // SAFETY: the caller guarantees elements j..j + 8 of kind K are readable at p; the loads
    // are unaligned.
    unsafe {
        match K {
            F32 => _mm256_loadu_ps(p.add(4 * j).cast()),
            F16 => _mm256_cvtph_ps(_mm_loadu_si128(p.add(2 * j).cast())),
            BF16 => {
                let h = _mm_loadu_si128(p.add(2 * j).cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
            Q8_0 => {
                // `j` is a multiple of 8: one quarter of a block's 32 bytes.
                let blk = p.add(block_bytes(Q8_0) * (j / QBLOCK_ELEMS));
                let q = _mm_loadl_epi64(blk.add(2 + j % QBLOCK_ELEMS).cast());
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), half_at(blk))
            }
            F8_E4M3 => {
                // As the AVX-512 twin: sign and magnitude bits placed in a binary16, scaled.
                let q = _mm_loadl_epi64(p.add(j).cast());
                let w = _mm_slli_epi16::<7>(_mm_cvtepi8_epi16(q));
                let h = _mm_and_si128(w, _mm_set1_epi16(0xbf80_u16 as i16));
                let x = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0));
                let mag = _mm_set1_epi16(0x3f80);
                let nan = _mm256_cvtepi16_epi32(_mm_cmpeq_epi16(_mm_and_si128(h, mag), mag));
                _mm256_blendv_ps(x, _mm256_set1_ps(f32::NAN), _mm256_castsi256_ps(nan))
            }
            F8_E5M2 => {
                // Each byte becomes the high byte of a binary16.
                let q = _mm_loadl_epi64(p.add(j).cast());
                _mm256_cvtph_ps(_mm_unpacklo_epi8(_mm_setzero_si128(), q))
            }
            Q4_K => {
                // `j` is a multiple of 8: a quarter of sub-block s = j / 32, whose factors `t`
                // holds; its quants are the low (s even) or high nibbles of 8 bytes.
                let (e, s) = (j % QK_K, j / QK_SUB);
                let blk = p.add(block_bytes(Q4_K) * (j / QK_K));
                let qs = blk.add(16 + 32 * (e / 64) + e % 32);
                let w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(qs.cast()));
                let nib = if s.is_multiple_of(2) {
                    _mm256_and_si256(w, _mm256_set1_epi32(0x0f))
                } else {
                    _mm256_srli_epi32::<4>(w)
                };
                let x = _mm256_mul_ps(_mm256_cvtepi32_ps(nib), _mm256_set1_ps(t.d[s]));
                _mm256_sub_ps(x, _mm256_set1_ps(t.m[s]))
            }
            IQ4_XS => {
                // `j` is a multiple of 8: a quarter of sub-block s = j / 32, as in the
                // AVX-512 twin, from 8 bytes' low (r < 16) or high nibbles.
                let (e, s) = (j % QK_K, j / QK_SUB);
                let r = e % 32;
                let blk = p.add(block_bytes(IQ4_XS) * (j / QK_K));
                let q = _mm_loadl_epi64(blk.add(8 + 16 * (e / 32) + r % 16).cast());
                let x = iq4_levels(q, r >= 16);
                _mm256_mul_ps(_mm256_set1_ps(t.d[s]), x)
            }
            IQ4_NL => {
                // As `Q4_0` (elements r = j % 32 .. r + 8 from bytes r % 16 ..), the levels
                // looked up with a byte shuffle.
                let blk = p.add(block_bytes(IQ4_NL) * (j / QBLOCK_ELEMS));
                let r = j % QBLOCK_ELEMS;
                let q = _mm_loadl_epi64(blk.add(2 + r % 16).cast());
                let x = iq4_levels(q, r >= 16);
                _mm256_mul_ps(half_at(blk), x)
            }
            _ => {
                // Q4_0, Q4_1, Q5_0 or Q5_1: elements r = j % 32 .. r + 8 are the low nibbles
                // of nibble bytes r % 16 .. r % 16 + 8 when r < 16, else their high nibbles;
                // for Q5_*, bits r .. r + 8 of the `u32` before the nibbles are their fifth
                // bits (lane k's shifted right k, to bit 4).
                let blk = p.add(block_bytes(K) * (j / QBLOCK_ELEMS));
                let r = j % QBLOCK_ELEMS;
                let head = match K {
                    Q4_0 => 2,
                    Q4_1 => 4,
                    Q5_0 => 6,
                    _ => 8,
                };
                let w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(head + r % 16).cast()));
                let mut q = if r < 16 {
                    _mm256_and_si256(w, _mm256_set1_epi32(0x0f))
                } else {
                    _mm256_srli_epi32::<4>(w)
                };
                if K == Q5_0 || K == Q5_1 {
                    let qh = blk.add(head - 4).cast::<u32>().read_unaligned();
                    let bits = _mm256_set1_epi32(((qh >> r) << 4) as i32);
                    let each = _mm256_srlv_epi32(bits, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                    q = _mm256_or_si256(q, _mm256_and_si256(each, _mm256_set1_epi32(0x10)));
                }
                if K == Q4_0 || K == Q5_0 {
                    let zero = if K == Q4_0 { 8 } else { 16 };
                    let x = _mm256_cvtepi32_ps(_mm256_sub_epi32(q, _mm256_set1_epi32(zero)));
                    _mm256_mul_ps(x, half_at(blk))
                } else {
                    let x = _mm256_mul_ps(_mm256_cvtepi32_ps(q), half_at(blk));
                    _mm256_add_ps(x, half_at(blk.add(2)))
                }
            }
        }
    }
}

/// ggml's `IQ4_NL` level of each of the low 8 bytes of `q`'s low nibbles (or, with `high`,
/// high nibbles), as `f32`: the levels are looked up with one byte shuffle.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn iq4_levels(q: __m128i, high: bool) -> __m256 {
    let q = if high { _mm_srli_epi16::<4>(q) } else { q };
    let nib = _mm_and_si128(q, _mm_set1_epi8(0x0f));
    // SAFETY: `IQ4NL` is 16 bytes.
    let kv = unsafe { _mm_loadu_si128(IQ4NL.as_ptr().cast()) };
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_shuffle_epi8(kv, nib)))
}

/// The little-endian binary16 at `p`, as `f32` in every lane.
///
/// # Safety
/// Two bytes at `p` are readable.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
unsafe fn half_at(p: *const u8) -> __m256 {
    // SAFETY: the caller guarantees the two bytes; the read is unaligned.
    _mm256_cvtph_ps(_mm_set1_epi16(unsafe { p.cast::<i16>().read_unaligned() }))
}

/// The four `f64` lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn f64_lanes(v: __m256d) -> [f64; 4] {
    // SAFETY: `__m256d` and `[f64; 4]` have the same size, and every bit pattern is an `f64`.
    unsafe { core::mem::transmute::<__m256d, [f64; 4]>(v) }
}

/// The eight 32-bit lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn u32_lanes(v: __m256i) -> [u32; 8] {
    // SAFETY: `__m256i` and `[u32; 8]` have the same size, and every bit pattern is a `u32`.
    unsafe { core::mem::transmute::<__m256i, [u32; 8]>(v) }
}

/// One block whose length is a multiple of 8; `a` and `b` have the kinds `KA` and `KB`.
/// Returns the block's maximum |a−b| as [`Partials::finish`] does.
///
/// Swept optimistically first, then carefully when a value was not finite, as the AVX-512
/// twin does.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn block<const KA: u8, const KB: u8>(a: Elements, b: Elements, st: &mut DiffStats) -> Option<f64> {
    let n = a.len();
    match sweep::<KA, KB, true>(a, b) {
        Some(p) => p.finish(n, st),
        None => sweep::<KA, KB, false>(a, b)
            .expect("a careful sweep always returns")
            .finish(n, st),
    }
}

/// One sweep of a block for [`block`]; with `OPTIMISTIC`, `None` when the block held a
/// non-finite value (see the AVX-512 twin).
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) fn sweep<const KA: u8, const KB: u8, const OPTIMISTIC: bool>(
    a: Elements,
    b: Elements,
) -> Option<Partials<8, 4>> {
    let n = a.len();
    assert!(a.kind() == KA && b.kind() == KB && b.len() == n);
    debug_assert!(n.is_multiple_of(8));
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (ta, tb) = (SubScales::of::<KA>(a), SubScales::of::<KB>(b));
    let abs32 = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let abs64 = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fff_ffff_ffff_ffff));
    let inf = _mm256_set1_ps(f32::INFINITY);
    let all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    let z = _mm256_setzero_pd();
    let (mut dd0, mut dd1, mut ds0, mut ds1) = (z, z, z, z);
    let (mut aa0, mut aa1, mut bb0, mut bb1) = (z, z, z, z);
    let (mut sa0, mut sa1, mut mx0, mut mx1) = (z, z, z, z);
    // Per-lane i32 counters of finite-a, finite-b, equal and compared lanes: subtracting a
    // compare mask (all ones = -1) adds one. At most 4096 / 8 = 512 steps per block.
    let zi = _mm256_setzero_si256();
    let (mut cfa, mut cfb, mut ceq, mut ck) = (zi, zi, zi, zi);
    // Lanes of the steps where every pair was finite (their finite and compared counts).
    let mut all_finite = 0u32;
    let mut j = 0;
    while j < n {
        // SAFETY: j + 8 <= n = a.len() = b.len(), and the kinds were asserted, so both loads
        // are in bounds.
        let (va, vb) = unsafe { (load::<KA>(pa, j, &ta), load::<KB>(pb, j, &tb)) };
        prefetch_line::<KA>(pa, j);
        prefetch_line::<KB>(pb, j);
        let (fa, fb) = if OPTIMISTIC {
            (all, all)
        } else {
            (
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(va, abs32), inf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(vb, abs32), inf),
            )
        };
        let k = _mm256_and_ps(fa, fb);
        let (xa, xb) = if OPTIMISTIC || _mm256_movemask_ps(k) == 0xff {
            // Every pair finite (the common case): no lane to zero, equal bits are equal
            // values, and the finite and compared counts are the lanes, counted once per block.
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(va, vb);
            ceq = _mm256_sub_epi32(ceq, _mm256_castps_si256(eq));
            all_finite += 8;
            (va, vb)
        } else {
            let same_bits = _mm256_cmpeq_epi32(_mm256_castps_si256(va), _mm256_castps_si256(vb));
            let eq = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_EQ_OQ>(va, vb),
                _mm256_castsi256_ps(same_bits),
            );
            cfa = _mm256_sub_epi32(cfa, _mm256_castps_si256(fa));
            cfb = _mm256_sub_epi32(cfb, _mm256_castps_si256(fb));
            ceq = _mm256_sub_epi32(ceq, _mm256_castps_si256(eq));
            ck = _mm256_sub_epi32(ck, _mm256_castps_si256(k));
            (_mm256_and_ps(va, k), _mm256_and_ps(vb, k))
        };
        let a0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xa));
        let a1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xa));
        let b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xb));
        let b1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xb));
        let (d0, d1) = (_mm256_sub_pd(a0, b0), _mm256_sub_pd(a1, b1));
        let (s0, s1) = (_mm256_add_pd(a0, b0), _mm256_add_pd(a1, b1));
        dd0 = _mm256_fmadd_pd(d0, d0, dd0);
        dd1 = _mm256_fmadd_pd(d1, d1, dd1);
        ds0 = _mm256_fmadd_pd(d0, s0, ds0);
        ds1 = _mm256_fmadd_pd(d1, s1, ds1);
        aa0 = _mm256_fmadd_pd(a0, a0, aa0);
        aa1 = _mm256_fmadd_pd(a1, a1, aa1);
        bb0 = _mm256_fmadd_pd(b0, b0, bb0);
        bb1 = _mm256_fmadd_pd(b1, b1, bb1);
        let (e0, e1) = (_mm256_and_pd(d0, abs64), _mm256_and_pd(d1, abs64));
        sa0 = _mm256_add_pd(sa0, e0);
        sa1 = _mm256_add_pd(sa1, e1);
        mx0 = _mm256_max_pd(mx0, e0);
        mx1 = _mm256_max_pd(mx1, e1);
        j += 8;
    }
    if OPTIMISTIC {
        let squares = _mm256_add_pd(_mm256_add_pd(aa0, aa1), _mm256_add_pd(bb0, bb1));
        let finite = _mm256_cmp_pd::<_CMP_LT_OQ>(
            _mm256_and_pd(squares, abs64),
            _mm256_set1_pd(f64::INFINITY),
        );
        if _mm256_movemask_pd(finite) != 0xf {
            return None;
        }
    }
    let with_all_finite = |v: __m256i| {
        let mut l = u32_lanes(v);
        l[0] += all_finite;
        l
    };
    Some(Partials {
        finite_a: with_all_finite(cfa),
        finite_b: with_all_finite(cfb),
        equal: u32_lanes(ceq),
        compared: with_all_finite(ck),
        sum_sq_diff: f64_lanes(_mm256_add_pd(dd0, dd1)),
        sum_diff_sum: f64_lanes(_mm256_add_pd(ds0, ds1)),
        sum_sq_a: f64_lanes(_mm256_add_pd(aa0, aa1)),
        sum_sq_b: f64_lanes(_mm256_add_pd(bb0, bb1)),
        sum_abs_diff: f64_lanes(_mm256_add_pd(sa0, sa1)),
        max_abs: f64_lanes(_mm256_max_pd(mx0, mx1)),
    })
}

/// AVX2 twin of [`scalar::accumulate_self`]: a side against itself, the same result bit for
/// bit as [`accumulate_elements`] with `x` on both sides, for a third of the work.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn accumulate_self(x: Elements, offset: u64, st: &mut DiffStats) {
    match x.kind() {
        F32 => run_self::<F32>(x, offset, st),
        F16 => run_self::<F16>(x, offset, st),
        BF16 => run_self::<BF16>(x, offset, st),
        Q8_0 => run_self::<Q8_0>(x, offset, st),
        Q4_0 => run_self::<Q4_0>(x, offset, st),
        Q4_1 => run_self::<Q4_1>(x, offset, st),
        F8_E4M3 => run_self::<F8_E4M3>(x, offset, st),
        F8_E5M2 => run_self::<F8_E5M2>(x, offset, st),
        Q4_K => run_self::<Q4_K>(x, offset, st),
        IQ4_XS => run_self::<IQ4_XS>(x, offset, st),
        Q5_0 => run_self::<Q5_0>(x, offset, st),
        Q5_1 => run_self::<Q5_1>(x, offset, st),
        _ => run_self::<IQ4_NL>(x, offset, st),
    }
}

/// The blocks of `x` (of kind `K`) against themselves, then the scalar tail.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn run_self<const K: u8>(x: Elements, offset: u64, st: &mut DiffStats) {
    let n = x.len();
    let vec_end = n - n % 8;
    let mut best = BestBlock::default();
    let mut i = 0;
    while i < vec_end {
        let end = (i + BLOCK).min(vec_end);
        best.offer(self_block::<K>(x.slice(i..end), st), i..end);
        i = end;
    }
    best.locate(x, x, offset, st, |a, b, m| find::<K, K>(a, b, m));
    let tail = x.slice(vec_end..n);
    scalar::accumulate_self(tail, offset + vec_end as u64, st);
}

/// One block of `x` (a multiple of 8 long) against itself: what [`block`] computes when both
/// sides are `x`, lane for lane in the same order.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn self_block<const K: u8>(x: Elements, st: &mut DiffStats) -> Option<f64> {
    let n = x.len();
    assert!(x.kind() == K);
    debug_assert!(n.is_multiple_of(8));
    let p = x.as_ptr();
    let t = SubScales::of::<K>(x);
    let abs32 = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let inf = _mm256_set1_ps(f32::INFINITY);
    let (mut aa0, mut aa1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut cf = _mm256_setzero_si256();
    let mut j = 0;
    while j < n {
        // SAFETY: j + 8 <= n = x.len(), and the kind was asserted.
        let v = unsafe { load::<K>(p, j, &t) };
        prefetch_line::<K>(p, j);
        let f = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(v, abs32), inf);
        cf = _mm256_sub_epi32(cf, _mm256_castps_si256(f));
        let xv = _mm256_and_ps(v, f);
        let a0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xv));
        let a1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(xv));
        aa0 = _mm256_fmadd_pd(a0, a0, aa0);
        aa1 = _mm256_fmadd_pd(a1, a1, aa1);
        j += 8;
    }
    let finite = u32_lanes(cf);
    let sq = f64_lanes(_mm256_add_pd(aa0, aa1));
    let mut equal = [0u32; 8];
    equal[0] = n as u32;
    Partials {
        finite_a: finite,
        finite_b: finite,
        equal,
        compared: finite,
        sum_sq_diff: [0.0; 4],
        sum_diff_sum: [0.0; 4],
        sum_sq_a: sq,
        sum_sq_b: sq,
        sum_abs_diff: [0.0; 4],
        max_abs: [0.0; 4],
    }
    .finish(n, st)
}

/// AVX2 search for a block's maximum, for sides of kinds `KA` and `KB` whose length
/// is a multiple of 8: the index of the first finite pair whose |a−b| (in `f64`, as the block
/// loop computes it) equals `target`.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn find<const KA: u8, const KB: u8>(a: Elements, b: Elements, target: f64) -> Option<usize> {
    let n = a.len();
    assert!(a.kind() == KA && b.kind() == KB && b.len() == n);
    debug_assert!(n.is_multiple_of(8));
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (ta, tb) = (SubScales::of::<KA>(a), SubScales::of::<KB>(b));
    let abs32 = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let abs64 = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fff_ffff_ffff_ffff));
    let inf = _mm256_set1_ps(f32::INFINITY);
    let t = _mm256_set1_pd(target);
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 <= n = a.len() = b.len(), and the kinds were asserted.
        let (va, vb) = unsafe { (load::<KA>(pa, j, &ta), load::<KB>(pb, j, &tb)) };
        let k = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(va, abs32), inf),
            _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(vb, abs32), inf),
        );
        let lo = |v: __m256| _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        let hi = |v: __m256| _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v));
        let d0 = _mm256_and_pd(_mm256_sub_pd(lo(va), lo(vb)), abs64);
        let d1 = _mm256_and_pd(_mm256_sub_pd(hi(va), hi(vb)), abs64);
        let h0 = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(d0, t)) as u32;
        let h1 = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(d1, t)) as u32;
        let hits = (h0 | (h1 << 4)) & _mm256_movemask_ps(k) as u32;
        if hits != 0 {
            return Some(j + hits.trailing_zeros() as usize);
        }
        j += 8;
    }
    None
}

/// AVX2/F16C twin of [`crate::convert::scalar`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `src.len() == 2 * dst.len()`.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn convert(kind: Kind, src: &[u8], dst: &mut [f32]) {
    let n = dst.len().min(src.len() / 2);
    let v = n - n % 8;
    let mut i = 0;
    while i < v {
        // SAFETY: i + 8 <= n, so 16 source bytes at 2*i and 8 outputs at i are in bounds.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(2 * i) as *const __m128i);
            let f = match kind {
                Kind::F16 => _mm256_cvtph_ps(h),
                Kind::BF16 => {
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
                }
            };
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), f);
        }
        i += 8;
    }
    crate::convert::scalar(kind, &src[2 * v..2 * n], &mut dst[v..n]);
}
