//! AVX-512F kernels, 16 `f32` pairs per step (tails by masked loads), widened to two 8-lane
//! `f64` halves.

use core::arch::x86_64::*;

use super::{by_kinds, prefetch_line, BestBlock, Partials, SubScales, BLOCK};
use crate::convert::Kind;
use crate::elements::{
    block_bytes, Elements, BF16, F16, F32, F8_E4M3, F8_E5M2, IQ4NL, IQ4_NL, IQ4_XS, Q4_0, Q4_1,
    Q4_K, Q5_0, Q5_1, Q8_0, QBLOCK_ELEMS, QK_K, QK_SUB,
};
use crate::stats::DiffStats;

/// AVX-512 twin of [`crate::scalar::accumulate`].
///
/// # Safety
/// The CPU must support AVX-512F, BW and VL, AVX2, FMA and F16C, and `a.len() == b.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn accumulate(a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    run::<F32, F32>(Elements::F32(a), Elements::F32(b), offset, st)
}

/// AVX-512 twin of [`crate::scalar::accumulate_elements`]: half-precision sides are converted
/// in registers (`vcvtph2ps` on 16 lanes; bfloat16 by widening and shifting left 16), block
/// sides decoded there (scale broadcast, quant bytes widened and scaled), and feed the same
/// loop as [`accumulate`]; tails use masked loads.
///
/// # Safety
/// The CPU must support AVX-512F, BW and VL, AVX2, FMA and F16C, and `a.len() == b.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn accumulate_elements(
    a: Elements,
    b: Elements,
    offset: u64,
    st: &mut DiffStats,
) {
    by_kinds!(run, a, b, offset, st)
}

/// The blocks of `a` and `b`, whose kinds are `KA` and `KB`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn run<const KA: u8, const KB: u8>(a: Elements, b: Elements, offset: u64, st: &mut DiffStats) {
    let n = a.len().min(b.len());
    let mut best = BestBlock::default();
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        best.offer(
            block::<KA, KB>(a.slice(i..end), b.slice(i..end), st),
            i..end,
        );
        i = end;
    }
    best.locate(a, b, offset, st, |a, b, m| find::<KA, KB>(a, b, m));
}

/// The elements of kind `K` in `lanes` from element `j` of the storage at `p`, as `f32`
/// (masked-off lanes are 0); for `Q4_K`, `t` holds the sub-block factors of the side that
/// starts at `p` ([`SubScales::of`]).
///
/// # Safety
/// `p` points at elements of kind `K`, and every lane set in `lanes` is a readable element
/// (element `j + lane`); for the block kinds, `j` is a multiple of 16 and the whole block
/// holding element `j` is readable (sides hold whole blocks).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
unsafe fn load<const K: u8>(lanes: __mmask16, p: *const u8, j: usize, t: &SubScales) -> __m512 {
    // SAFETY: the caller guarantees the selected lanes are readable; masked-off lanes are not
    // accessed and cannot fault.
    unsafe {
        match K {
            F32 => _mm512_maskz_loadu_ps(lanes, p.add(4 * j).cast()),
            F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, p.add(2 * j).cast())),
            BF16 => {
                let h = _mm256_maskz_loadu_epi16(lanes, p.add(2 * j).cast());
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
            Q8_0 => {
                // `j` is a multiple of 16: the first or second half of a block's 32 bytes.
                let blk = p.add(block_bytes(Q8_0) * (j / QBLOCK_ELEMS));
                let d = half_at(blk);
                let q = _mm_maskz_loadu_epi8(lanes, blk.add(2 + j % QBLOCK_ELEMS).cast());
                _mm512_maskz_mul_ps(lanes, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d)
            }
            F8_E4M3 => {
                // Sign-extended to 16 bits and shifted left 7, the byte's magnitude bits are a
                // binary16's exponent and top mantissa bits (its value / 256, subnormals too,
                // which `vcvtph2ps` converts at full speed) and its sign the binary16's; the
                // bits in between are cleared.
                let q = _mm_maskz_loadu_epi8(lanes, p.add(j).cast());
                let w = _mm256_slli_epi16::<7>(_mm256_cvtepi8_epi16(q));
                let h = _mm256_and_si256(w, _mm256_set1_epi16(0xbf80_u16 as i16));
                let x = _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(256.0));
                let mag = _mm256_set1_epi16(0x3f80);
                let nan = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, mag), mag);
                _mm512_mask_mov_ps(x, nan, _mm512_set1_ps(f32::NAN))
            }
            F8_E5M2 => {
                let q = _mm_maskz_loadu_epi8(lanes, p.add(j).cast());
                _mm512_cvtph_ps(_mm256_slli_epi16::<8>(_mm256_cvtepu8_epi16(q)))
            }
            Q4_K => {
                // `j` is a multiple of 16: half of sub-block s = j / 32, whose factors `t`
                // holds; its quants are the low (s even) or high nibbles of 16 bytes.
                let (e, s) = (j % QK_K, j / QK_SUB);
                let blk = p.add(block_bytes(Q4_K) * (j / QK_K));
                let qs = blk.add(16 + 32 * (e / 64) + e % 32);
                let w = _mm512_cvtepu8_epi32(_mm_loadu_si128(qs.cast()));
                let nib = if s.is_multiple_of(2) {
                    _mm512_and_si512(w, _mm512_set1_epi32(0x0f))
                } else {
                    _mm512_srli_epi32::<4>(w)
                };
                let x = _mm512_mul_ps(_mm512_cvtepi32_ps(nib), _mm512_set1_ps(t.d[s]));
                _mm512_maskz_sub_ps(lanes, x, _mm512_set1_ps(t.m[s]))
            }
            IQ4_XS => {
                // `j` is a multiple of 16: half of sub-block s = j / 32, whose factor `t`
                // holds; its nibbles (the low or high halves of 16 bytes) pick ggml's levels
                // with a byte shuffle.
                let (e, s) = (j % QK_K, j / QK_SUB);
                let blk = p.add(block_bytes(IQ4_XS) * (j / QK_K));
                let q = _mm_loadu_si128(blk.add(8 + 16 * (e / 32)).cast());
                let x = iq4_levels(q, !e.is_multiple_of(32));
                _mm512_maskz_mul_ps(lanes, _mm512_set1_ps(t.d[s]), x)
            }
            IQ4_NL => {
                // As `Q4_0` (j a multiple of 16: the low or high nibbles of the 16 bytes),
                // the levels looked up with a byte shuffle.
                let blk = p.add(block_bytes(IQ4_NL) * (j / QBLOCK_ELEMS));
                let q = _mm_loadu_si128(blk.add(2).cast());
                let x = iq4_levels(q, !j.is_multiple_of(QBLOCK_ELEMS));
                _mm512_maskz_mul_ps(lanes, half_at(blk), x)
            }
            _ => {
                // Q4_0, Q4_1, Q5_0 or Q5_1: the 16 nibble bytes hold elements 0..16 in their
                // low nibbles (j a multiple of 32) and 16..32 in their high nibbles; the block
                // is whole. For Q5_*, bits j % 32 .. + 16 of the `u32` before the nibbles
                // are the lanes' fifth bits: a lane mask as they stand. The quants are
                // assembled as bytes (16 lanes per 128-bit op), then widened once.
                let blk = p.add(block_bytes(K) * (j / QBLOCK_ELEMS));
                let head = match K {
                    Q4_0 => 2,
                    Q4_1 => 4,
                    Q5_0 => 6,
                    _ => 8,
                };
                let qs = _mm_loadu_si128(blk.add(head).cast());
                let qs = if j.is_multiple_of(QBLOCK_ELEMS) {
                    qs
                } else {
                    _mm_srli_epi16::<4>(qs)
                };
                let mut q = _mm_and_si128(qs, _mm_set1_epi8(0x0f));
                if K == Q5_0 || K == Q5_1 {
                    let qh = blk.add(head - 4).cast::<u32>().read_unaligned();
                    let fifth = (qh >> (j % QBLOCK_ELEMS)) as __mmask16;
                    q = _mm_mask_add_epi8(q, fifth, q, _mm_set1_epi8(0x10));
                }
                let d = half_at(blk);
                if K == Q4_0 || K == Q5_0 {
                    let zero = if K == Q4_0 { 8 } else { 16 };
                    let q = _mm_sub_epi8(q, _mm_set1_epi8(zero));
                    let x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
                    _mm512_maskz_mul_ps(lanes, x, d)
                } else {
                    let x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q)), d);
                    _mm512_maskz_add_ps(lanes, x, half_at(blk.add(2)))
                }
            }
        }
    }
}

/// ggml's `IQ4_NL` level of each of the 16 bytes of `q`'s low nibbles (or, with `high`, high
/// nibbles), as `f32`: the levels are looked up with one byte shuffle.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn iq4_levels(q: __m128i, high: bool) -> __m512 {
    let q = if high { _mm_srli_epi16::<4>(q) } else { q };
    let nib = _mm_and_si128(q, _mm_set1_epi8(0x0f));
    // SAFETY: `IQ4NL` is 16 bytes.
    let kv = unsafe { _mm_loadu_si128(IQ4NL.as_ptr().cast()) };
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_shuffle_epi8(kv, nib)))
}

/// The little-endian binary16 at `p`, as `f32` in every lane.
///
/// # Safety
/// Two bytes at `p` are readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
unsafe fn half_at(p: *const u8) -> __m512 {
    // SAFETY: the caller guarantees the two bytes; the read is unaligned.
    _mm512_cvtph_ps(_mm256_set1_epi16(unsafe {
        p.cast::<i16>().read_unaligned()
    }))
}

#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c,popcnt")]
fn lo_pd(v: __m512) -> __m512d {
    _mm512_cvtps_pd(_mm512_castps512_ps256(v))
}

#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c,popcnt")]
fn hi_pd(v: __m512) -> __m512d {
    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
        _mm512_castps_pd(v),
    )))
}

/// The eight `f64` lanes of `v`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c,popcnt")]
fn f64_lanes(v: __m512d) -> [f64; 8] {
    // SAFETY: `__m512d` and `[f64; 8]` have the same size, and every bit pattern is an `f64`.
    unsafe { core::mem::transmute::<__m512d, [f64; 8]>(v) }
}

/// The sixteen 32-bit lanes of `v`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c,popcnt")]
fn u32_lanes(v: __m512i) -> [u32; 16] {
    // SAFETY: `__m512i` and `[u32; 16]` have the same size, and every bit pattern is a `u32`.
    unsafe { core::mem::transmute::<__m512i, [u32; 16]>(v) }
}

/// One block of at most [`BLOCK`] pairs; `a` and `b` have the kinds `KA` and `KB`. Returns the
/// block's maximum |a−b| as [`Partials::finish`] does.
///
/// The block is first swept assuming every value is finite (no per-step finiteness tests);
/// when its Σa² + Σb² comes out non-finite, some value was not, and the block is swept again
/// with the tests. The sums are the same, bit for bit, either way.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn block<const KA: u8, const KB: u8>(a: Elements, b: Elements, st: &mut DiffStats) -> Option<f64> {
    let n = a.len();
    match sweep::<KA, KB, true>(a, b) {
        Some(p) => p.finish(n, st),
        None => sweep::<KA, KB, false>(a, b)
            .expect("a careful sweep always returns")
            .finish(n, st),
    }
}

/// One sweep of a block for [`block`]. With `OPTIMISTIC`, finiteness is not tested per step
/// and `None` is returned when the block held a non-finite value (Σa² + Σb² is finite exactly
/// when every value was: a finite `f32` squared is below 2²⁵⁶, and a block has 4096 terms).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
pub(crate) fn sweep<const KA: u8, const KB: u8, const OPTIMISTIC: bool>(
    a: Elements,
    b: Elements,
) -> Option<Partials<16, 8>> {
    let n = a.len();
    assert!(a.kind() == KA && b.kind() == KB && b.len() == n);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (ta, tb) = (SubScales::of::<KA>(a), SubScales::of::<KB>(b));
    let inf = _mm512_set1_ps(f32::INFINITY);
    let z = _mm512_setzero_pd();
    let (mut dd0, mut dd1, mut ds0, mut ds1) = (z, z, z, z);
    let (mut aa0, mut aa1, mut bb0, mut bb1) = (z, z, z, z);
    let (mut sa0, mut sa1, mut mx0, mut mx1) = (z, z, z, z);
    // Per-lane i32 counters of finite-a, finite-b, equal and compared lanes (a block has at most
    // 4096 / 16 = 256 steps, far below i32::MAX), reduced once per block.
    let zi = _mm512_setzero_si512();
    let one = _mm512_set1_epi32(1);
    let (mut cfa, mut cfb, mut ceq, mut ck) = (zi, zi, zi, zi);
    // Lanes of the steps where every pair was finite (their finite and compared counts).
    let mut all_finite = 0u32;
    let mut j = 0;
    while j < n {
        let rem = n - j;
        let lanes: __mmask16 = if rem >= 16 {
            0xffff
        } else {
            ((1u32 << rem) - 1) as u16
        };
        // SAFETY: only lanes below `rem` are loaded, j + rem = n = a.len() = b.len(), and the
        // kinds were asserted.
        let (va, vb) = unsafe { (load::<KA>(lanes, pa, j, &ta), load::<KB>(lanes, pb, j, &tb)) };
        prefetch_line::<KA>(pa, j);
        prefetch_line::<KB>(pb, j);
        let (fa, fb) = if OPTIMISTIC {
            (lanes, lanes)
        } else {
            (
                _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(lanes, _mm512_abs_ps(va), inf),
                _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(lanes, _mm512_abs_ps(vb), inf),
            )
        };
        let k = fa & fb;
        let (xa, xb) = if k == lanes {
            // Every pair finite (the common case): no lane to zero, equal bits are equal
            // values, and the finite and compared counts are the lanes, counted once per block.
            let eq = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(lanes, va, vb);
            ceq = _mm512_mask_add_epi32(ceq, eq, ceq, one);
            all_finite += lanes.count_ones();
            (va, vb)
        } else {
            let eq = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(lanes, va, vb)
                | _mm512_mask_cmpeq_epi32_mask(
                    lanes,
                    _mm512_castps_si512(va),
                    _mm512_castps_si512(vb),
                );
            cfa = _mm512_mask_add_epi32(cfa, fa, cfa, one);
            cfb = _mm512_mask_add_epi32(cfb, fb, cfb, one);
            ceq = _mm512_mask_add_epi32(ceq, eq, ceq, one);
            ck = _mm512_mask_add_epi32(ck, k, ck, one);
            (_mm512_maskz_mov_ps(k, va), _mm512_maskz_mov_ps(k, vb))
        };
        let (a0, a1, b0, b1) = (lo_pd(xa), hi_pd(xa), lo_pd(xb), hi_pd(xb));
        let (d0, d1) = (_mm512_sub_pd(a0, b0), _mm512_sub_pd(a1, b1));
        let (s0, s1) = (_mm512_add_pd(a0, b0), _mm512_add_pd(a1, b1));
        dd0 = _mm512_fmadd_pd(d0, d0, dd0);
        dd1 = _mm512_fmadd_pd(d1, d1, dd1);
        ds0 = _mm512_fmadd_pd(d0, s0, ds0);
        ds1 = _mm512_fmadd_pd(d1, s1, ds1);
        aa0 = _mm512_fmadd_pd(a0, a0, aa0);
        aa1 = _mm512_fmadd_pd(a1, a1, aa1);
        bb0 = _mm512_fmadd_pd(b0, b0, bb0);
        bb1 = _mm512_fmadd_pd(b1, b1, bb1);
        let (e0, e1) = (_mm512_abs_pd(d0), _mm512_abs_pd(d1));
        sa0 = _mm512_add_pd(sa0, e0);
        sa1 = _mm512_add_pd(sa1, e1);
        mx0 = _mm512_max_pd(mx0, e0);
        mx1 = _mm512_max_pd(mx1, e1);
        j += 16;
    }
    if OPTIMISTIC {
        let squares = _mm512_add_pd(_mm512_add_pd(aa0, aa1), _mm512_add_pd(bb0, bb1));
        let finite =
            _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(squares), _mm512_set1_pd(f64::INFINITY));
        if finite != 0xff {
            return None;
        }
    }
    let with_all_finite = |v: __m512i| {
        let mut l = u32_lanes(v);
        l[0] += all_finite;
        l
    };
    Some(Partials {
        finite_a: with_all_finite(cfa),
        finite_b: with_all_finite(cfb),
        equal: u32_lanes(ceq),
        compared: with_all_finite(ck),
        sum_sq_diff: f64_lanes(_mm512_add_pd(dd0, dd1)),
        sum_diff_sum: f64_lanes(_mm512_add_pd(ds0, ds1)),
        sum_sq_a: f64_lanes(_mm512_add_pd(aa0, aa1)),
        sum_sq_b: f64_lanes(_mm512_add_pd(bb0, bb1)),
        sum_abs_diff: f64_lanes(_mm512_add_pd(sa0, sa1)),
        max_abs: f64_lanes(_mm512_max_pd(mx0, mx1)),
    })
}

/// AVX-512 twin of [`crate::scalar::accumulate_self`]: a side against itself, the same result
/// bit for bit as [`accumulate_elements`] with `x` on both sides, for a third of the work (the
/// differences are zero, so only Σx² and the counts are computed).
///
/// # Safety
/// The CPU must support AVX-512F, BW and VL, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
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

/// The blocks of `x` (of kind `K`) against themselves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn run_self<const K: u8>(x: Elements, offset: u64, st: &mut DiffStats) {
    let n = x.len();
    let mut best = BestBlock::default();
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        best.offer(self_block::<K>(x.slice(i..end), st), i..end);
        i = end;
    }
    best.locate(x, x, offset, st, |a, b, m| find::<K, K>(a, b, m));
}

/// One block of `x` against itself: what [`block`] computes when both sides are `x` (zero
/// differences, every pair equal, Σa² = Σb²), lane for lane in the same order.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn self_block<const K: u8>(x: Elements, st: &mut DiffStats) -> Option<f64> {
    let n = x.len();
    assert!(x.kind() == K);
    let p = x.as_ptr();
    let t = SubScales::of::<K>(x);
    let inf = _mm512_set1_ps(f32::INFINITY);
    let (mut aa0, mut aa1) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let one = _mm512_set1_epi32(1);
    let mut cf = _mm512_setzero_si512();
    let mut j = 0;
    while j < n {
        let rem = n - j;
        let lanes: __mmask16 = if rem >= 16 {
            0xffff
        } else {
            ((1u32 << rem) - 1) as u16
        };
        // SAFETY: only lanes below `rem` are loaded, and the kind was asserted.
        let v = unsafe { load::<K>(lanes, p, j, &t) };
        prefetch_line::<K>(p, j);
        let f = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(lanes, _mm512_abs_ps(v), inf);
        cf = _mm512_mask_add_epi32(cf, f, cf, one);
        let xv = _mm512_maskz_mov_ps(f, v);
        let (a0, a1) = (lo_pd(xv), hi_pd(xv));
        aa0 = _mm512_fmadd_pd(a0, a0, aa0);
        aa1 = _mm512_fmadd_pd(a1, a1, aa1);
        j += 16;
    }
    let finite = u32_lanes(cf);
    let sq = f64_lanes(_mm512_add_pd(aa0, aa1));
    let mut equal = [0u32; 16];
    equal[0] = n as u32;
    Partials {
        finite_a: finite,
        finite_b: finite,
        equal,
        compared: finite,
        sum_sq_diff: [0.0; 8],
        sum_diff_sum: [0.0; 8],
        sum_sq_a: sq,
        sum_sq_b: sq,
        sum_abs_diff: [0.0; 8],
        max_abs: [0.0; 8],
    }
    .finish(n, st)
}

/// AVX-512 search for a block's maximum, for sides of kinds `KA` and `KB`: the
/// index of the first finite pair whose |a−b| (in `f64`, as the block loop computes it) equals
/// `target`, 16 pairs per step.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")]
fn find<const KA: u8, const KB: u8>(a: Elements, b: Elements, target: f64) -> Option<usize> {
    let n = a.len();
    assert!(a.kind() == KA && b.kind() == KB && b.len() == n);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (ta, tb) = (SubScales::of::<KA>(a), SubScales::of::<KB>(b));
    let inf = _mm512_set1_ps(f32::INFINITY);
    let t = _mm512_set1_pd(target);
    let mut j = 0;
    while j < n {
        let rem = n - j;
        let lanes: __mmask16 = if rem >= 16 {
            0xffff
        } else {
            ((1u32 << rem) - 1) as u16
        };
        // SAFETY: only lanes below `rem` are loaded, and the kinds were asserted.
        let (va, vb) = unsafe { (load::<KA>(lanes, pa, j, &ta), load::<KB>(lanes, pb, j, &tb)) };
        let k = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(lanes, _mm512_abs_ps(va), inf)
            & _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(lanes, _mm512_abs_ps(vb), inf);
        let d0 = _mm512_sub_pd(lo_pd(va), lo_pd(vb));
        let d1 = _mm512_sub_pd(hi_pd(va), hi_pd(vb));
        let h0 = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(_mm512_abs_pd(d0), t) as u16;
        let h1 = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(_mm512_abs_pd(d1), t) as u16;
        let hits = (h0 | (h1 << 8)) & k;
        if hits != 0 {
            return Some(j + hits.trailing_zeros() as usize);
        }
        j += 16;
    }
    None
}

/// AVX-512 twin of [`crate::convert::scalar`].
///
/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C, and `src.len() == 2 * dst.len()`.
#[target_feature(enable = "avx512f,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn convert(kind: Kind, src: &[u8], dst: &mut [f32]) {
    let n = dst.len().min(src.len() / 2);
    let v = n - n % 16;
    let mut i = 0;
    while i < v {
        // SAFETY: i + 16 <= n, so 32 source bytes at 2*i and 16 outputs at i are in bounds.
        unsafe {
            let h = _mm256_loadu_si256(src.as_ptr().add(2 * i) as *const __m256i);
            let f = match kind {
                Kind::F16 => _mm512_cvtph_ps(h),
                Kind::BF16 => {
                    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
                }
            };
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), f);
        }
        i += 16;
    }
    // SAFETY: the caller's guarantees cover AVX2 as well; the tail is shorter than 16.
    unsafe { super::avx2::convert(kind, &src[2 * v..2 * n], &mut dst[v..n]) };
}
