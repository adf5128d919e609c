//! The mergeable accumulator [`DiffStats`] and the metrics derived from it.

use crate::dispatch::{self, Isa};
use crate::elements::Elements;

/// One-pass, mergeable sums over pairs of `f32` values.
///
/// All sums cover only pairs where both values are finite. Partial results over disjoint
/// chunks combine with [`DiffStats::merge`]; the result does not depend on the order of merging
/// beyond floating-point rounding of the `f64` sums (and ties of the maximum go to the lower
/// index, so the index is fully order-independent).
///
/// The fields are read through accessor methods of the same names.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiffStats {
    /// Pairs seen.
    pub(crate) len: u64,
    /// Pairs where both values are finite (the pairs the sums cover).
    pub(crate) compared: u64,
    /// Non-finite values (NaN, ±inf) in `a`.
    pub(crate) nonfinite_a: u64,
    /// Non-finite values in `b`.
    pub(crate) nonfinite_b: u64,
    /// Pairs that are not equal: neither `a == b` nor identical bits.
    pub(crate) mismatches: u64,
    /// Σ(a−b)².
    pub(crate) sum_sq_diff: f64,
    /// Σ(a−b)(a+b), which equals Σa² − Σb² but keeps its relative accuracy.
    pub(crate) sum_diff_sum: f64,
    /// Σa².
    pub(crate) sum_sq_a: f64,
    /// Σb².
    pub(crate) sum_sq_b: f64,
    /// Σ|a−b|.
    pub(crate) sum_abs_diff: f64,
    /// max |a−b| (0 when nothing was compared).
    pub(crate) max_abs: f64,
    /// Flat index (chunk offset + position) of the first pair reaching `max_abs`.
    pub(crate) max_abs_index: Option<u64>,
}

impl DiffStats {
    /// Pairs seen.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Pairs where both values are finite (the pairs the sums cover).
    #[inline]
    pub fn compared(&self) -> u64 {
        self.compared
    }

    /// Non-finite values (NaN, ±inf) in `a`.
    #[inline]
    pub fn nonfinite_a(&self) -> u64 {
        self.nonfinite_a
    }

    /// Non-finite values (NaN, ±inf) in `b`.
    #[inline]
    pub fn nonfinite_b(&self) -> u64 {
        self.nonfinite_b
    }

    /// Pairs that are not equal: neither `a == b` nor identical bits.
    #[inline]
    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }

    /// Σ(a−b)² over compared pairs.
    #[inline]
    pub fn sum_sq_diff(&self) -> f64 {
        self.sum_sq_diff
    }

    /// Σ(a−b)(a+b) over compared pairs, which equals Σa² − Σb² but keeps its relative accuracy.
    #[inline]
    pub fn sum_diff_sum(&self) -> f64 {
        self.sum_diff_sum
    }

    /// Σa² over compared pairs.
    #[inline]
    pub fn sum_sq_a(&self) -> f64 {
        self.sum_sq_a
    }

    /// Σb² over compared pairs.
    #[inline]
    pub fn sum_sq_b(&self) -> f64 {
        self.sum_sq_b
    }

    /// Σ|a−b| over compared pairs.
    #[inline]
    pub fn sum_abs_diff(&self) -> f64 {
        self.sum_abs_diff
    }

    /// max |a−b| over compared pairs (0 when nothing was compared).
    #[inline]
    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }

    /// Flat index (chunk offset + position) of the first pair reaching [`DiffStats::max_abs()`]; `None` when nothing was compared.
    #[inline]
    pub fn max_abs_index(&self) -> Option<u64> {
        self.max_abs_index
    }

    /// Whether no pairs were seen.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the pairs `(a[i], b[i])`; `offset` is the flat index of `a[0]` (used for
    /// `max_abs_index`). Uses the implementation chosen for this CPU.
    ///
    /// # Panics
    /// If the slices have different lengths.
    pub fn update(&mut self, a: &[f32], b: &[f32], offset: u64) {
        self.update_with(Isa::selected(), a, b, offset)
    }

    /// Like [`DiffStats::update`] with an explicit implementation.
    ///
    /// # Panics
    /// If the slices have different lengths or `isa` is not available on this CPU.
    pub fn update_with(&mut self, isa: Isa, a: &[f32], b: &[f32], offset: u64) {
        assert_eq!(
            a.len(),
            b.len(),
            "DiffStats::update: slices must have equal length"
        );
        assert!(
            isa.is_available(),
            "DiffStats::update_with: {isa:?} is not available on this CPU"
        );
        dispatch::accumulate(isa, a, b, offset, self);
    }

    /// Adds the pairs `(a[i], b[i])` of two [`Elements`] sides, decoding stored half-precision
    /// values, 8-bit floats and ggml blocks in registers (one pass over the stored bytes, no
    /// `f32` copy). The result is the same, bit for bit, as decoding both sides to `f32` first
    /// (halves with [`crate::convert`]) and calling [`DiffStats::update`] with the same
    /// implementation.
    ///
    /// ```
    /// use modeldiff_kernels::{DiffStats, Elements};
    ///
    /// let a: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_bits().to_le_bytes()[2..].to_vec()).collect();
    /// let b = [1.0f32, 2.0, 3.5];
    /// let mut st = DiffStats::default();
    /// st.update_elements(Elements::BF16(&a), Elements::F32(&b), 0);
    /// assert_eq!((st.max_abs(), st.max_abs_index()), (0.5, Some(2)));
    /// ```
    ///
    /// # Panics
    /// If the sides have different lengths or a byte side ends in a partial element (an odd
    /// byte of halves, a partial ggml block).
    pub fn update_elements(&mut self, a: Elements, b: Elements, offset: u64) {
        self.update_elements_with(Isa::selected(), a, b, offset)
    }

    /// Like [`DiffStats::update_elements`] with an explicit implementation.
    ///
    /// # Panics
    /// If the sides have different lengths, a byte side ends in a partial element, or `isa` is
    /// not available on this CPU.
    pub fn update_elements_with(&mut self, isa: Isa, a: Elements, b: Elements, offset: u64) {
        assert!(
            a.len() == b.len() && !a.has_partial_element() && !b.has_partial_element(),
            "DiffStats::update_elements: sides must have equal length in whole elements (2 bytes \
             per half, 34 per Q8_0 block)"
        );
        assert!(
            isa.is_available(),
            "DiffStats::update_elements_with: {isa:?} is not available on this CPU"
        );
        dispatch::accumulate_elements(isa, a, b, offset, self);
    }

    /// Adds the pairs `(x[i], x[i])`: a side compared with itself, as when two stored chunks
    /// are bitwise identical. The result is the same, bit for bit, as
    /// [`DiffStats::update_elements`] with `x` on both sides, for about a third of the work (the
    /// differences are zero; only Σx², the counts and the first compared position are left).
    ///
    /// ```
    /// use modeldiff_kernels::{DiffStats, Elements};
    ///
    /// let x = [f32::NAN, 3.0, 4.0];
    /// let (mut s, mut r) = (DiffStats::default(), DiffStats::default());
    /// s.update_self(Elements::F32(&x), 0);
    /// r.update_elements(Elements::F32(&x), Elements::F32(&x), 0);
    /// assert_eq!(s, r);
    /// assert_eq!((s.max_abs(), s.max_abs_index()), (0.0, Some(1)));
    /// ```
    pub fn update_self(&mut self, x: Elements, offset: u64) {
        self.update_self_with(Isa::selected(), x, offset)
    }

    /// Like [`DiffStats::update_self`] with an explicit implementation.
    ///
    /// # Panics
    /// If a byte side ends in a partial element, or `isa` is not available on this CPU.
    pub fn update_self_with(&mut self, isa: Isa, x: Elements, offset: u64) {
        assert!(
            !x.has_partial_element(),
            "DiffStats::update_self: whole elements only (2 bytes per half, 34 per Q8_0 block)"
        );
        assert!(
            isa.is_available(),
            "DiffStats::update_self_with: {isa:?} is not available on this CPU"
        );
        dispatch::accumulate_self(isa, x, offset, self);
    }

    /// Adds another accumulator's pairs (over a disjoint set of indices).
    pub fn merge(&mut self, o: &DiffStats) {
        self.len += o.len;
        self.compared += o.compared;
        self.nonfinite_a += o.nonfinite_a;
        self.nonfinite_b += o.nonfinite_b;
        self.mismatches += o.mismatches;
        self.sum_sq_diff += o.sum_sq_diff;
        self.sum_diff_sum += o.sum_diff_sum;
        self.sum_sq_a += o.sum_sq_a;
        self.sum_sq_b += o.sum_sq_b;
        self.sum_abs_diff += o.sum_abs_diff;
        self.take_max(o.max_abs, o.max_abs_index);
    }

    /// Offers a candidate maximum; larger wins, ties go to the lower index.
    pub(crate) fn take_max(&mut self, value: f64, index: Option<u64>) {
        let Some(i) = index else { return };
        match self.max_abs_index {
            None => {
                self.max_abs = value;
                self.max_abs_index = Some(i);
            }
            Some(j) => {
                if value > self.max_abs || (value == self.max_abs && i < j) {
                    self.max_abs = value;
                    self.max_abs_index = Some(i);
                }
            }
        }
    }

    /// Whether every pair is equal (`mismatches == 0`).
    pub fn identical(&self) -> bool {
        self.mismatches == 0
    }

    /// ‖a − b‖₂.
    pub fn l2(&self) -> f64 {
        self.sum_sq_diff.max(0.0).sqrt()
    }

    /// ‖a‖₂ over compared pairs.
    pub fn norm_a(&self) -> f64 {
        self.sum_sq_a.max(0.0).sqrt()
    }

    /// ‖b‖₂ over compared pairs.
    pub fn norm_b(&self) -> f64 {
        self.sum_sq_b.max(0.0).sqrt()
    }

    /// Root mean square of a − b (`None` when nothing was compared).
    pub fn rmse(&self) -> Option<f64> {
        (self.compared > 0).then(|| (self.sum_sq_diff.max(0.0) / self.compared as f64).sqrt())
    }

    /// Mean |a − b| (`None` when nothing was compared).
    pub fn mean_abs(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.sum_abs_diff / self.compared as f64)
    }

    /// ‖a − b‖ / ‖a‖ (`None` when ‖a‖ = 0).
    pub fn rel_l2(&self) -> Option<f64> {
        let na = self.norm_a();
        (na > 0.0).then(|| self.l2() / na)
    }

    /// `1 − cos(a, b)`, accurate to relative precision near 0 (see the crate docs).
    ///
    /// 0 for identical slices, 1 when exactly one norm is zero, `None` when both norms are
    /// zero but the slices differ.
    pub fn one_minus_cosine(&self) -> Option<f64> {
        if self.identical() {
            return Some(0.0);
        }
        let (na, nb) = (self.norm_a(), self.norm_b());
        match (na > 0.0, nb > 0.0) {
            (true, true) => {
                let dn = self.sum_diff_sum / (na + nb); // ‖a‖ − ‖b‖
                let v = (self.sum_sq_diff - dn * dn) / (2.0 * na * nb);
                Some(v.clamp(0.0, 2.0))
            }
            (false, false) => None,
            _ => Some(1.0),
        }
    }

    /// Cosine similarity (see [`DiffStats::one_minus_cosine`]).
    pub fn cosine(&self) -> Option<f64> {
        self.one_minus_cosine().map(|v| 1.0 - v)
    }
}
