//! What the vector kernels of every architecture share: the block size, a block's per-lane
//! partial results ([`Partials::finish`] reduces them and updates the accumulator), and
//! [`BestBlock`], which locates the maximum the same way for every ISA.

use std::ops::Range;

use crate::elements::Elements;
use crate::stats::DiffStats;

/// Elements per block: sums are reduced to scalars at block boundaries, and the block holding
/// the maximum of a call is rescanned (by the ISA's vector search) for its position. 4096
/// pairs keep each `f64` lane's partial sums short and the rescan cheap.
pub(crate) const BLOCK: usize = 4096;

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
