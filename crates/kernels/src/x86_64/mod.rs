//! x86-64 SIMD implementations; only `dispatch.rs` calls into them.
//!
//! `avx2.rs` and `avx512.rs` hold only their vector loops; both hand a block's per-lane partial
//! results to [`Partials::finish`], which reduces them and updates the accumulator, and
//! [`BestBlock`] locates the maximum the same way for every ISA.

pub(crate) mod avx2;
pub(crate) mod avx512;

use std::ops::Range;

use crate::elements::{
    block_bytes, iq4_xs_scale, q4_k_scale_min, Elements, IQ4_XS, Q4_K, QK_K, QK_SUB,
};
use crate::stats::DiffStats;

/// Elements per block: sums are reduced to scalars at block boundaries, and the block holding
/// the maximum of a call is rescanned (by the ISA's vector search) for its position. 4096
/// pairs keep each `f64` lane's partial sums short and the rescan cheap.
pub(crate) const BLOCK: usize = 4096;

/// How far ahead (bytes) of the elements being compared the vector loops ask for the next
/// stored bytes. Files are mapped from the page cache in 4 KiB pages, and the hardware
/// prefetchers stop at page boundaries; asking one page ahead keeps the next page in flight.
pub(crate) const PREFETCH_AHEAD: usize = 4096;

/// Asks for the stored bytes [`PREFETCH_AHEAD`] past element `j` of kind `K` at `p`, once per
/// 64-byte line (when `j` starts one; for the legacy block kinds, once per 32-element block,
/// for `Q4_K` and `IQ4_XS` once per 64 elements, 36 or 34 bytes); the vector loops call it
/// every step.
#[inline(always)]
pub(crate) fn prefetch_line<const K: u8>(p: *const u8, j: usize) {
    use crate::elements::{block_bytes, block_elems, elem_bytes};
    let (bb, be) = (block_bytes(K), block_elems(K));
    if bb != 0 {
        let every = if be == 32 { 32 } else { 64 };
        if j.is_multiple_of(every) {
            let at = bb * (j / be) + bb * (j % be) / be + PREFETCH_AHEAD;
            crate::prefetch_at(p.wrapping_add(at));
        }
        return;
    }
    let size = elem_bytes(K);
    if (size * j).is_multiple_of(64) {
        crate::prefetch_at(p.wrapping_add(size * j + PREFETCH_AHEAD));
    }
}

/// The factors of each 32-element sub-block of a `Q4_K` or `IQ4_XS` side in one kernel block
/// (at most [`BLOCK`] / 32 = 128 sub-blocks), in `f32` as the decoder computes them: `Q4_K`
/// `d · sc` and `dmin · m`, `IQ4_XS` `d · (sc − 32)`. Filled once per block so that the vector
/// loops only multiply (and subtract) per step; left at zero for other kinds (whose loops never
/// read it).
pub(crate) struct SubScales {
    /// `d · sc` per sub-block.
    pub(crate) d: [f32; BLOCK / QK_SUB],
    /// `dmin · m` per sub-block.
    pub(crate) m: [f32; BLOCK / QK_SUB],
}

impl SubScales {
    /// The factors of `x` (of kind `K`, at most [`BLOCK`] elements).
    #[inline(always)]
    pub(crate) fn of<const K: u8>(x: Elements) -> SubScales {
        let mut t = SubScales {
            d: [0.0; BLOCK / QK_SUB],
            m: [0.0; BLOCK / QK_SUB],
        };
        let half = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        if let (IQ4_XS, Elements::IQ4_XS(v)) = (K, x) {
            let per = QK_K / QK_SUB;
            for (i, blk) in v.chunks_exact(block_bytes(IQ4_XS)).enumerate() {
                let d = half(blk);
                for s in 0..per {
                    t.d[per * i + s] = d * iq4_xs_scale(blk, s) as f32;
                }
            }
        }
        if let (Q4_K, Elements::Q4_K(v)) = (K, x) {
            let per = QK_K / QK_SUB;
            for (i, blk) in v.chunks_exact(block_bytes(Q4_K)).enumerate() {
                let (d, dmin) = (half(&blk[0..]), half(&blk[2..]));
                for s in 0..per {
                    let (sc, m) = q4_k_scale_min(&blk[4..16], s);
                    t.d[per * i + s] = d * sc as f32;
                    t.m[per * i + s] = dmin * m as f32;
                }
            }
        }
        t
    }
}

/// One block's partial results as the vector loop leaves them: `W` per-`f32`-lane counters
/// (at most `BLOCK / W` each, so `u32` cannot overflow) and `L` per-`f64`-lane sums.
pub(crate) struct Partials<const W: usize, const L: usize> {
    /// Lanes whose `a` value was finite.
    pub(crate) finite_a: [u32; W],
    /// Lanes whose `b` value was finite.
    pub(crate) finite_b: [u32; W],
    /// Lanes whose pair was equal (`a == b` or identical bits).
    pub(crate) equal: [u32; W],
    /// Lanes whose pair was compared (both finite).
    pub(crate) compared: [u32; W],
    /// Σ(a−b)² per lane.
    pub(crate) sum_sq_diff: [f64; L],
    /// Σ(a−b)(a+b) per lane.
    pub(crate) sum_diff_sum: [f64; L],
    /// Σa² per lane.
    pub(crate) sum_sq_a: [f64; L],
    /// Σb² per lane.
    pub(crate) sum_sq_b: [f64; L],
    /// Σ|a−b| per lane.
    pub(crate) sum_abs_diff: [f64; L],
    /// max |a−b| per lane (0 for lanes that compared nothing).
    pub(crate) max_abs: [f64; L],
}

impl<const W: usize, const L: usize> Partials<W, L> {
    /// Adds a block of `n` pairs to `st` (everything but the position of the maximum) and
    /// returns the block's maximum |a−b| when it compared any pair, for [`BestBlock::offer`].
    pub(crate) fn finish(self, n: usize, st: &mut DiffStats) -> Option<f64> {
        let n = n as u64;
        let count = |v: [u32; W]| v.iter().map(|&c| c as u64).sum::<u64>();
        let cmp = count(self.compared);
        st.len += n;
        st.compared += cmp;
        st.nonfinite_a += n - count(self.finite_a);
        st.nonfinite_b += n - count(self.finite_b);
        st.mismatches += n - count(self.equal);
        st.sum_sq_diff += hsum(self.sum_sq_diff);
        st.sum_diff_sum += hsum(self.sum_diff_sum);
        st.sum_sq_a += hsum(self.sum_sq_a);
        st.sum_sq_b += hsum(self.sum_sq_b);
        st.sum_abs_diff += hsum(self.sum_abs_diff);
        (cmp > 0).then(|| self.max_abs.iter().fold(0f64, |m, &x| m.max(x)))
    }
}

/// The block with the largest maximum |a−b| in one call of a vector loop (the first such block
/// on ties), so that only that block is rescanned for the position, once per call instead of
/// once per block that raised the running maximum.
#[derive(Default)]
pub(crate) struct BestBlock {
    best: Option<(f64, Range<usize>)>,
}

impl BestBlock {
    /// Records a block's maximum (`None`: it compared nothing) and its element range.
    pub(crate) fn offer(&mut self, max: Option<f64>, range: Range<usize>) {
        if let Some(m) = max {
            if self.best.as_ref().is_none_or(|(b, _)| m > *b) {
                self.best = Some((m, range));
            }
        }
    }

    /// Locates the best block's maximum in `a`, `b` (the whole sides of the call, whose first
    /// pair has flat index `offset`) with `find` (the ISA's search for
    /// the first finite pair whose |a−b| equals the maximum) and hands it to `st` when it could become `st`'s maximum.
    #[inline]
    pub(crate) fn locate(
        self,
        a: Elements,
        b: Elements,
        offset: u64,
        st: &mut DiffStats,
        find: impl FnOnce(Elements, Elements, f64) -> Option<usize>,
    ) {
        let Some((m, r)) = self.best else { return };
        if st.max_abs_index.is_none() || m > st.max_abs {
            let start = r.start;
            if let Some(p) = find(a.slice(r.clone()), b.slice(r), m) {
                st.take_max(m, Some(offset + (start + p) as u64));
            }
        }
    }
}

/// Sum of the lanes by halving (`L` a power of two): lane `i` + lane `i + L/2`, and so on, the
/// order of the usual in-register reduction.
fn hsum<const L: usize>(mut v: [f64; L]) -> f64 {
    let mut w = L;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            v[i] += v[i + w];
        }
    }
    v[0]
}

/// Calls `$run::<KA, KB>($a, $b, $($arg),*)` with the kind tags of the [`Elements`] `$a` and
/// `$b`, so every combination of sides gets its own monomorphized loop.
macro_rules! by_kinds {
    ($run:ident, $a:expr, $b:expr $(, $arg:expr)*) => {{
        use $crate::elements::{
            BF16, F16, F32, F8_E4M3, F8_E5M2, IQ4_NL, IQ4_XS, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q8_0,
        };
        let (a, b) = ($a, $b);
        match a.kind() {
            F32 => $crate::x86_64::by_kind_b!($run, F32, a, b $(, $arg)*),
            F16 => $crate::x86_64::by_kind_b!($run, F16, a, b $(, $arg)*),
            BF16 => $crate::x86_64::by_kind_b!($run, BF16, a, b $(, $arg)*),
            Q8_0 => $crate::x86_64::by_kind_b!($run, Q8_0, a, b $(, $arg)*),
            Q4_0 => $crate::x86_64::by_kind_b!($run, Q4_0, a, b $(, $arg)*),
            Q4_1 => $crate::x86_64::by_kind_b!($run, Q4_1, a, b $(, $arg)*),
            F8_E4M3 => $crate::x86_64::by_kind_b!($run, F8_E4M3, a, b $(, $arg)*),
            F8_E5M2 => $crate::x86_64::by_kind_b!($run, F8_E5M2, a, b $(, $arg)*),
            Q4_K => $crate::x86_64::by_kind_b!($run, Q4_K, a, b $(, $arg)*),
            IQ4_XS => $crate::x86_64::by_kind_b!($run, IQ4_XS, a, b $(, $arg)*),
            Q5_0 => $crate::x86_64::by_kind_b!($run, Q5_0, a, b $(, $arg)*),
            Q5_1 => $crate::x86_64::by_kind_b!($run, Q5_1, a, b $(, $arg)*),
            _ => $crate::x86_64::by_kind_b!($run, IQ4_NL, a, b $(, $arg)*),
        }
    }};
}

/// [`by_kinds`]' inner match, on the kind of `$b` with A's kind `$ka` fixed.
macro_rules! by_kind_b {
    ($run:ident, $ka:ident, $a:expr, $b:expr $(, $arg:expr)*) => {
        match $b.kind() {
            F32 => $run::<$ka, F32>($a, $b $(, $arg)*),
            F16 => $run::<$ka, F16>($a, $b $(, $arg)*),
            BF16 => $run::<$ka, BF16>($a, $b $(, $arg)*),
            Q8_0 => $run::<$ka, Q8_0>($a, $b $(, $arg)*),
            Q4_0 => $run::<$ka, Q4_0>($a, $b $(, $arg)*),
            Q4_1 => $run::<$ka, Q4_1>($a, $b $(, $arg)*),
            F8_E4M3 => $run::<$ka, F8_E4M3>($a, $b $(, $arg)*),
            F8_E5M2 => $run::<$ka, F8_E5M2>($a, $b $(, $arg)*),
            Q4_K => $run::<$ka, Q4_K>($a, $b $(, $arg)*),
            IQ4_XS => $run::<$ka, IQ4_XS>($a, $b $(, $arg)*),
            Q5_0 => $run::<$ka, Q5_0>($a, $b $(, $arg)*),
            Q5_1 => $run::<$ka, Q5_1>($a, $b $(, $arg)*),
            _ => $run::<$ka, IQ4_NL>($a, $b $(, $arg)*),
        }
    };
}
pub(crate) use by_kind_b;
pub(crate) use by_kinds;
