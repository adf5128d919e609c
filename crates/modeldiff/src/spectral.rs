//! Spectral metrics of a change (`diff --spectral`): for each changed 2-D float pair, the top
//! singular values of ΔW = B − A ([`crate::lowrank::spectrum`], the randomized SVD shared with
//! delta extraction) and what they say about its rank.
//!
//! ΔW is assembled in A's coordinates through the pair's stream (so the transforms of the
//! match stage are undone, as for every other metric); one tensor is held at a time.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::lowrank::{spectrum, MatrixView};
use crate::matching::Transform;
use crate::plan::{CompareMode, PairPlan};
use crate::stream::PairStream;
use modeldiff_formats::Model;

/// Singular values computed per tensor: enough for a fine-tune's rank (LoRA ranks are ≤ 64
/// almost always) while the randomized SVD stays cheap.
pub const SPECTRAL_K: usize = 64;

/// Seed of the randomized range finder (fixed: same bits on every run).
const SEED: u64 = 0x5eed;

/// The spectrum of one tensor's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Spectral {
    /// Singular values computed (at most [`SPECTRAL_K`]).
    pub k: usize,
    /// σ₁ of ΔW (its spectral norm).
    pub sigma1: f64,
    /// ‖ΔW‖²_F / σ₁².
    pub stable_rank: f64,
    /// exp(entropy of σ / Σσ) over the top `k` (a lower bound when they do not cover the
    /// spectrum).
    pub effective_rank: f64,
    /// Smallest r whose top σ² hold 90 % of ‖ΔW‖²_F (`null` when the top `k` do not).
    pub r90: Option<usize>,
    /// As `r90`, for 99 %.
    pub r99: Option<usize>,
}

/// The spectrum of pair `pair`'s change, when it is a float pair of equal 2-D shapes (one
/// expert's slice of a stacked tensor counts as 2-D; ΔW with a non-finite element has none).
pub fn pair_spectral(a: &Model, b: &Model, pair: &PairPlan) -> Result<Option<Spectral>> {
    let ta = &a.tensors()[pair.pairing.a];
    // A stacked experts tensor on A's side is compared one expert's slice at a time.
    let stacked_a = pair.pairing.transforms.iter().any(|t| {
        matches!(
            t,
            Transform::ExpertsSplit {
                stacked_in_b: false,
                ..
            }
        )
    });
    let shape = if stacked_a {
        &ta.shape[1..]
    } else {
        &ta.shape[..]
    };
    if pair.mode != CompareMode::Float || !pair.shapes_equal || shape.len() != 2 {
        return Ok(None);
    }
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    let mut delta = vec![0f32; rows * cols];
    let stream = PairStream::new(a, b, pair);
    stream.for_each_piece(0..pair.region.total(), |piece| {
        let at = (piece.offset_a() - pair.align.base_a) as usize;
        let (xa, xb) = piece.f32()?;
        for ((d, x), y) in delta[at..at + xa.len()].iter_mut().zip(xa).zip(xb) {
            *d = y - x;
        }
        Ok(())
    })?;
    if delta.iter().any(|x| !x.is_finite()) {
        return Ok(None);
    }
    let s = spectrum(MatrixView::new(rows, cols, &delta)?, SPECTRAL_K, SEED)?;
    Ok(Some(Spectral {
        k: s.sigma.len(),
        sigma1: s.sigma.first().copied().unwrap_or(0.0),
        stable_rank: s.stable_rank,
        effective_rank: s.effective_rank,
        r90: s.r90,
        r99: s.r99,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, Filter};
    use crate::plan::plan;
    use crate::testutil::model_typed;

    #[test]
    fn a_rank_two_change_has_rank_two() {
        let (rows, cols) = (40usize, 30usize);
        let base: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0)
            .collect();
        let u = |i: usize| (i as f32 * 0.37).sin();
        let v = |j: usize| (j as f32 * 0.11).cos();
        let w = |i: usize| (i as f32 * 1.3).cos();
        let z = |j: usize| ((j * j) as f32 * 0.05).sin();
        let changed: Vec<f32> = (0..rows * cols)
            .map(|k| {
                let (i, j) = (k / cols, k % cols);
                base[k] + 3.0 * u(i) * v(j) + 0.5 * w(i) * z(j)
            })
            .collect();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let shape = [rows as u64, cols as u64];
        let a = model_typed(&[("w", "F32", &shape, bytes(&base))]);
        let b = model_typed(&[("w", "F32", &shape, bytes(&changed))]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 256);
        let s = pair_spectral(&a, &b, &p.pairs[0]).unwrap().unwrap();
        assert_eq!(s.k, 30);
        assert_eq!(s.r99, Some(2));
        assert!(s.stable_rank > 1.0 && s.stable_rank < 2.0, "{s:?}");
        assert!(s.sigma1 > 0.0);
    }
}
