//! Truncated SVD of dense `f32` matrices: the math shared by LoRA extraction
//! (`delta extract --kind lora`) and the spectral metrics (`diff --spectral`).
//!
//! # Overview
//!
//! The caller decodes a 2-D weight difference ΔW into a row-major [`MatrixView`] and asks
//! [`truncated_svd`] for its top singular triplets under [`LowRankOptions`] (a [`RankChoice`]:
//! a fixed rank or the smallest rank reaching an energy fraction, capped by `max_rank`). The
//! [`LowRank`] result holds `U`, `σ`, `Vᵀ` and how much of the matrix they capture;
//! [`LowRank::to_lora`] splits `√σ` into both factors of a LoRA pair ([`LoraFactors`]).
//! [`spectrum`] returns only the top singular values and the metrics derived from them
//! ([`Spectrum`]: σ₁, stable rank, effective rank, energy ranks r90/r99).
//!
//! ```
//! use modeldiff::lowrank::{truncated_svd, LowRankOptions, MatrixView, RankChoice};
//! # fn main() -> Result<(), modeldiff::Error> {
//! // A rank-1 matrix: the outer product of (1, 2, 3) and (1, 0, -1, 2).
//! let (u, v) = ([1.0f32, 2.0, 3.0], [1.0f32, 0.0, -1.0, 2.0]);
//! let data: Vec<f32> = u.iter().flat_map(|a| v.iter().map(move |b| a * b)).collect();
//! let m = MatrixView::new(3, 4, &data)?;
//! let low = truncated_svd(m, &LowRankOptions::new(RankChoice::Energy(0.99)))?;
//! assert_eq!(low.rank(), 1);
//! let lora = low.to_lora();
//! assert_eq!((lora.b.len(), lora.a.len()), (3, 4)); // 3×1 and 1×4
//! assert!((lora.b[1] * lora.a[3] - 4.0).abs() < 1e-5);
//! # Ok(()) }
//! ```
//!
//! # Algorithm
//!
//! Matrices whose smaller side is at most [`EXACT_SVD_MAX_DIM`], and requests whose sketch
//! would cover the whole smaller side, get faer's exact (thin) SVD.
//! Larger ones get the randomized range finder of Halko, Martinsson and Tropp (2011,
//! algorithms 4.4 and 5.1) for `k` wanted triplets and `l = k + oversample` sketch columns:
//!
//! 1. `Y = M·Ω` with `Ω` a `cols×l` Gaussian matrix from a seeded xoshiro256++ generator;
//!    `Q = qr(Y)`.
//! 2. `power_iters` times: `Q' = qr(Mᵀ·Q)`, `Q = qr(M·Q')` (a QR between every product keeps
//!    the basis orthonormal in `f32`, so small singular values are not lost to rounding).
//! 3. `Mᵀ·Q = Q'·R`, so `Qᵀ·M = Rᵀ·Q'ᵀ`; the SVD of the small `l×l` matrix `Rᵀ = Ũ·Σ·Ṽᵀ` gives
//!    `M ≈ (Q·Ũ)·Σ·(Q'·Ṽ)ᵀ`, of which the first `k` triplets are kept.
//!
//! All products, QRs and SVDs are faer's, in `f32`, on the current rayon pool. The Frobenius
//! norm is accumulated in `f64` in a separate pass that also rejects NaN and infinities.
//!
//! **Energy ranks.** A sketch knows only its top `k` singular values, so [`RankChoice::Energy`]
//! starts at `k = min(`[`ENERGY_START_RANK`]`, cap)` and doubles `k` until the top `k` values
//! hold the wanted fraction of `‖M‖²_F` or `k` reaches the cap (`max_rank`, at most the smaller
//! side); the chosen rank is then the smallest `r ≤ k` that reaches the fraction, or the cap.
//!
//! **Accuracy.** Each kept σ is at most the true one. With two power iterations the error
//! shrinks like `(σ_{l+1}/σ_k)^5` (HMT 2011, §10.4), so a spectrum with a gap after `k` (a
//! planted low rank, a LoRA-tuned ΔW) is recovered to `f32` rounding: a planted rank-8
//! `512×384` matrix is rebuilt with a relative Frobenius error of `1e-6` and its σ match an
//! exact `f64` SVD to `3e-7` (the tests check `1e-5` and `1e-4`). Without a gap it is an
//! approximation: for σ decaying like `0.98^k` plus noise (`1024×2752`, rank 64) the error is
//! within 0.7 % of the optimal truncation's and the smallest kept σ is 2 % low (one power
//! iteration: 4 % and 5 %; three: 0.2 % and 0.6 %).
//!
//! **Cost.** `2·(power_iters + 1)` passes over `M`, each a `rows×cols×l` product
//! (`4·rows·cols·l·(power_iters + 1)` flops), plus `O((rows + cols)·l²)` for the QRs. For a
//! `4096×11008` ΔW at rank 128 that is about 75 Gflop; see `benches/benches/lowrank.rs` for
//! timings. Memory beyond `M`: a few `(rows + cols)×l` matrices.
//!
//! **Determinism.** The same input, options and seed give the same bits on the same machine
//! (same CPU features, same faer) whatever the thread count: `Ω` is drawn one column per
//! generator stream, the norm is merged in block order, the QRs and the small SVD run
//! sequentially (faer's parallel QR rounds differently on another thread count), and faer's
//! parallel products split their output, not their sums (a test compares 1 and 2 threads;
//! faer documents no such promise, so a faer upgrade must keep that test green). faer picks
//! its kernels (AVX2, AVX-512) at run time, so another CPU may round differently.
//!
//! **Conventions.** A matrix with no elements or only zeros has rank 0: an empty
//! factorization, `energy_captured = 1` and `rel_frobenius_error = 0` (nothing is left
//! unexplained). A fixed rank larger than the smaller side or `max_rank` is clamped to it.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::qr::no_pivoting::factor as qr;
use faer::linalg::svd;
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Default number of extra sketch columns beyond the wanted rank (HMT 2011, §4.2, suggest 5
/// to 10; 10 makes the failure probability negligible).
pub const DEFAULT_OVERSAMPLE: usize = 10;

/// Default number of power iterations (HMT 2011, §4.5: one or two suffice for the slowly
/// decaying spectra of real matrices; each costs two passes over the matrix).
pub const DEFAULT_POWER_ITERS: usize = 2;

/// Matrices whose smaller side is at most this get an exact SVD: at this size faer's SVD
/// costs less than the passes of a sketch and has no approximation error.
pub const EXACT_SVD_MAX_DIM: usize = 256;

/// First sketch rank tried by [`RankChoice::Energy`] before doubling (the rank most LoRA
/// adapters use; the cost of a sketch grows linearly with it).
pub const ENERGY_START_RANK: usize = 64;

/// Elements per block of the norm pass: blocks are summed in parallel and merged in order,
/// so the norm does not depend on the thread count.
const NORM_BLOCK: usize = 1 << 16;

/// A dense row-major `f32` matrix borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct MatrixView<'a> {
    rows: usize,
    cols: usize,
    data: &'a [f32],
}

impl<'a> MatrixView<'a> {
    /// Views `data` as a `rows×cols` row-major matrix; fails unless `data` has exactly
    /// `rows·cols` values.
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Result<Self> {
        match rows.checked_mul(cols) {
            Some(n) if n == data.len() => Ok(Self { rows, cols, data }),
            _ => Err(lowrank_error(
                rows,
                cols,
                format!("needs rows × cols values, got {}", data.len()),
            )),
        }
    }

    /// Number of rows (`out_features` of a linear weight).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (`in_features` of a linear weight).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    fn as_faer(&self) -> MatRef<'a, f32> {
        MatRef::from_row_major_slice(self.data, self.rows, self.cols)
    }
}

/// How the rank of a [`truncated_svd`] is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RankChoice {
    /// Exactly this rank (clamped to `max_rank` and to the smaller side of the matrix).
    Fixed(usize),
    /// The smallest rank whose singular values hold at least this fraction (in `[0, 1]`) of
    /// `‖M‖²_F`, up to `max_rank`.
    Energy(f64),
}

/// Options of [`truncated_svd`].
#[derive(Debug, Clone, PartialEq)]
pub struct LowRankOptions {
    /// How the rank is chosen.
    pub rank: RankChoice,
    /// Upper bound on the rank, whatever [`rank`](Self::rank) asks; `None` is the smaller side.
    pub max_rank: Option<usize>,
    /// Extra sketch columns beyond the wanted rank ([`DEFAULT_OVERSAMPLE`]).
    pub oversample: usize,
    /// Power iterations, each followed by a QR re-orthonormalization ([`DEFAULT_POWER_ITERS`]).
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix; the same seed gives the same result.
    pub seed: u64,
}

impl LowRankOptions {
    /// Options with the given rank choice, no rank cap, the default oversampling and power
    /// iterations, and seed 0.
    pub fn new(rank: RankChoice) -> Self {
        Self {
            rank,
            max_rank: None,
            oversample: DEFAULT_OVERSAMPLE,
            power_iters: DEFAULT_POWER_ITERS,
            seed: 0,
        }
    }
}

/// How a [`LowRank`] was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvdMethod {
    /// Nothing to decompose: the matrix is empty or all zeros.
    Trivial,
    /// faer's exact SVD of the whole matrix.
    Exact,
    /// The randomized range finder with this many sketch columns (rank + oversampling) in
    /// the last sketch.
    Randomized {
        /// Columns of the last sketch.
        sketch: usize,
    },
}

/// A truncated SVD `M ≈ U·diag(s)·Vᵀ` of a `rows×cols` matrix, all row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LowRank {
    /// Rows of the decomposed matrix.
    pub rows: usize,
    /// Columns of the decomposed matrix.
    pub cols: usize,
    /// Left singular vectors, `rows×r` row-major (orthonormal columns).
    pub u: Vec<f32>,
    /// The `r` singular values, non-increasing and non-negative.
    pub s: Vec<f32>,
    /// Right singular vectors as rows, `r×cols` row-major (orthonormal rows).
    pub vt: Vec<f32>,
    /// `‖M‖²_F`, accumulated in `f64`.
    pub frobenius_sq: f64,
    /// Fraction of `‖M‖²_F` held by the kept triplets, `Σ_{k<r} σ_k² / ‖M‖²_F`, clamped to
    /// `[0, 1]`; 1 for an empty or zero matrix.
    pub energy_captured: f64,
    /// `‖M − U·diag(s)·Vᵀ‖_F / ‖M‖_F`, computed as `√max(0, ‖M‖²_F − Σ_{k<r} σ_k²) / ‖M‖_F`
    /// with `‖M‖_F` accumulated in `f64`; 0 for an empty or zero matrix.
    ///
    /// The identity is exact for orthonormal `U`, `V` whose `σ` are those of `Uᵀ·M·V`, which
    /// the algorithm guarantees up to rounding. The `f32` rounding of the σ limits it: a true
    /// error below about `1e-3` (where `Σσ²` agrees with `‖M‖²_F` to `f32` precision) reads
    /// as rounding noise of that size or as 0. Form the product to measure smaller errors.
    pub rel_frobenius_error: f64,
    /// How the decomposition was computed.
    pub method: SvdMethod,
}

/// The two factors of a LoRA update `ΔW ≈ B·A`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraFactors {
    /// The rank `r`.
    pub rank: usize,
    /// Rows of `ΔW` (`out_features`).
    pub out_features: usize,
    /// Columns of `ΔW` (`in_features`).
    pub in_features: usize,
    /// `B = U·diag(√σ)`, `out_features×r`.
    pub b: Vec<f32>,
    /// `A = diag(√σ)·Vᵀ`, `r×in_features`.
    pub a: Vec<f32>,
}

impl LowRank {
    /// The number of kept triplets `r`.
    pub fn rank(&self) -> usize {
        self.s.len()
    }

    /// Splits `√σ` into both factors: `B = U·diag(√σ)`, `A = diag(√σ)·Vᵀ`, so `B·A = U·Σ·Vᵀ`
    /// and both factors have the same scale.
    pub fn to_lora(&self) -> LoraFactors {
        let r = self.rank();
        let roots: Vec<f32> = self.s.iter().map(|s| s.sqrt()).collect();
        let mut b = self.u.clone();
        if r > 0 {
            for row in b.chunks_exact_mut(r) {
                for (x, root) in row.iter_mut().zip(&roots) {
                    *x *= root;
                }
            }
        }
        let mut a = self.vt.clone();
        if self.cols > 0 {
            for (row, root) in a.chunks_exact_mut(self.cols).zip(&roots) {
                for x in row {
                    *x *= root;
                }
            }
        }
        LoraFactors {
            rank: r,
            out_features: self.rows,
            in_features: self.cols,
            b,
            a,
        }
    }
}

/// Computes a truncated SVD of `m` with the rank chosen by `opts` (see the module docs for
/// the algorithm, its accuracy and its cost).
///
/// Fails on a NaN or infinite value (naming its row and column), an energy fraction outside
/// `[0, 1]`, or an SVD that does not converge.
pub fn truncated_svd(m: MatrixView<'_>, opts: &LowRankOptions) -> Result<LowRank> {
    if let RankChoice::Energy(f) = opts.rank {
        if !(0.0..=1.0).contains(&f) {
            return Err(lowrank_error(
                m.rows,
                m.cols,
                format!("energy fraction {f} is not in [0, 1]"),
            ));
        }
    }
    let frobenius_sq = frobenius_sq(m)?;
    let min_dim = m.rows.min(m.cols);
    let cap = opts.max_rank.map_or(min_dim, |c| c.min(min_dim));
    if frobenius_sq == 0.0 || cap == 0 {
        return Ok(LowRank {
            rows: m.rows,
            cols: m.cols,
            u: Vec::new(),
            s: Vec::new(),
            vt: Vec::new(),
            frobenius_sq,
            energy_captured: if frobenius_sq == 0.0 { 1.0 } else { 0.0 },
            rel_frobenius_error: if frobenius_sq == 0.0 { 0.0 } else { 1.0 },
            method: if frobenius_sq == 0.0 {
                SvdMethod::Trivial
            } else {
                SvdMethod::Exact
            },
        });
    }
    let par = parallelism();
    let (triplets, r) = match opts.rank {
        RankChoice::Fixed(r) => {
            let r = r.min(cap);
            (decompose(m, r, opts, true, par)?, r)
        }
        RankChoice::Energy(f) => {
            let wanted = f * frobenius_sq;
            let mut k = ENERGY_START_RANK.min(cap);
            loop {
                let t = decompose(m, k, opts, true, par)?;
                // An exact SVD knows every value up to the cap; a sketch only its top `k`.
                let known = if t.method == SvdMethod::Exact { cap } else { k };
                match energy_rank(&t.s[..known], wanted) {
                    Some(r) => break (t, r),
                    None if known >= cap => break (t, cap),
                    None => k = (2 * k).min(cap),
                }
            }
        }
    };
    Ok(triplets.into_low_rank(m, r, frobenius_sq, par))
}

/// The top singular values of a matrix and the spectral metrics derived from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// The top `k` singular values (fewer when the smaller side is shorter), non-increasing.
    pub sigma: Vec<f64>,
    /// `‖M‖²_F`, accumulated in `f64` over every element (not only the top `k`).
    pub frobenius_sq: f64,
    /// `‖M‖²_F / σ₁²` (at least 1, at most the rank); 0 for a zero matrix.
    pub stable_rank: f64,
    /// Roy and Vetterli's (2007) effective rank `exp(−Σ p_k ln p_k)` with `p_k = σ_k / Σσ`,
    /// over the computed top `k` only: it ignores the tail, so it underestimates the effective
    /// rank of the whole matrix unless the top `k` cover the spectrum. 0 for a zero matrix.
    pub effective_rank: f64,
    /// The smallest `r` with `Σ_{k≤r} σ_k² ≥ 0.9·‖M‖²_F`, or `None` if the top `k` do not
    /// reach it; `Some(0)` for a zero matrix.
    pub r90: Option<usize>,
    /// As [`r90`](Self::r90), for 99 %.
    pub r99: Option<usize>,
}

/// Computes the top `k` singular values of `m` (exactly for small matrices, by the
/// randomized range finder with the default oversampling and power iterations otherwise)
/// and the metrics of [`Spectrum`].
///
/// Fails on a NaN or infinite value (naming its row and column) or an SVD that does not
/// converge.
pub fn spectrum(m: MatrixView<'_>, k: usize, seed: u64) -> Result<Spectrum> {
    let frobenius_sq = frobenius_sq(m)?;
    let k = k.min(m.rows.min(m.cols));
    if frobenius_sq == 0.0 || k == 0 {
        let zero = frobenius_sq == 0.0;
        return Ok(Spectrum {
            sigma: vec![0.0; k],
            frobenius_sq,
            stable_rank: 0.0,
            effective_rank: 0.0,
            r90: zero.then_some(0),
            r99: zero.then_some(0),
        });
    }
    let opts = LowRankOptions {
        seed,
        ..LowRankOptions::new(RankChoice::Fixed(k))
    };
    let t = decompose(m, k, &opts, false, parallelism())?;
    let sigma: Vec<f64> = t.s[..k].iter().map(|&s| f64::from(s)).collect();
    Ok(spectrum_of(sigma, frobenius_sq))
}

/// The metrics of [`Spectrum`] from non-increasing singular values and `‖M‖²_F > 0`.
fn spectrum_of(sigma: Vec<f64>, frobenius_sq: f64) -> Spectrum {
    let s1 = sigma.first().copied().unwrap_or(0.0);
    let stable_rank = if s1 > 0.0 {
        frobenius_sq / (s1 * s1)
    } else {
        0.0
    };
    let total: f64 = sigma.iter().sum();
    let entropy: f64 = sigma
        .iter()
        .filter(|&&s| s > 0.0)
        .map(|&s| {
            let p = s / total;
            -p * p.ln()
        })
        .sum();
    let effective_rank = if total > 0.0 { entropy.exp() } else { 0.0 };
    let energy = |fraction: f64| {
        let wanted = fraction * frobenius_sq;
        let mut acc = 0.0;
        sigma
            .iter()
            .position(|&s| {
                acc += s * s;
                acc >= wanted
            })
            .map(|i| i + 1)
    };
    Spectrum {
        r90: energy(0.9),
        r99: energy(0.99),
        sigma,
        frobenius_sq,
        stable_rank,
        effective_rank,
    }
}

/// The smallest `r` whose leading `σ²` sum to at least `wanted`, if any (0 when `wanted ≤ 0`).
fn energy_rank(s: &[f32], wanted: f64) -> Option<usize> {
    if wanted <= 0.0 {
        return Some(0);
    }
    let mut acc = 0.0f64;
    s.iter()
        .position(|&x| {
            acc += f64::from(x) * f64::from(x);
            acc >= wanted
        })
        .map(|i| i + 1)
}

fn lowrank_error(rows: usize, cols: usize, detail: String) -> Error {
    Error::LowRank { rows, cols, detail }
}

/// faer's parallelism on the current rayon pool (the engine's `with_threads` pool, if any).
fn parallelism() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// `‖M‖²_F` in `f64`, or an error naming the first non-finite value.
///
/// Blocks of [`NORM_BLOCK`] elements are summed in parallel (eight lanes each) and merged in
/// block order, so the result does not depend on the thread count. `x²` of a finite `f32`
/// cannot overflow an `f64`, so a block's sum is finite exactly when its values are.
fn frobenius_sq(m: MatrixView<'_>) -> Result<f64> {
    let partials: Vec<f64> = m
        .data
        .par_chunks(NORM_BLOCK)
        .map(|block| {
            let mut lanes = [0f64; 8];
            let mut chunks = block.chunks_exact(8);
            for c in &mut chunks {
                for (acc, &x) in lanes.iter_mut().zip(c) {
                    *acc += f64::from(x) * f64::from(x);
                }
            }
            let tail: f64 = chunks
                .remainder()
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum();
            lanes.iter().sum::<f64>() + tail
        })
        .collect();
    if let Some(b) = partials.iter().position(|p| !p.is_finite()) {
        let start = b * NORM_BLOCK;
        let (i, x) = m.data[start..]
            .iter()
            .enumerate()
            .find(|(_, x)| !x.is_finite())
            .map(|(i, &x)| (start + i, x))
            .unwrap_or((start, f32::NAN));
        return Err(lowrank_error(
            m.rows,
            m.cols,
            format!(
                "value at row {}, column {} is {x}, not finite",
                i / m.cols,
                i % m.cols
            ),
        ));
    }
    Ok(partials.iter().sum())
}

/// Whether `k` wanted triplets are computed by an exact SVD rather than a sketch.
fn is_exact(m: MatrixView<'_>, k: usize, opts: &LowRankOptions) -> bool {
    let min_dim = m.rows.min(m.cols);
    min_dim <= EXACT_SVD_MAX_DIM || k.saturating_add(opts.oversample) >= min_dim
}

/// Vectors `basis·coeffs` (or `coeffs` alone), formed only for the columns kept.
struct Factor {
    basis: Option<Mat<f32>>,
    coeffs: Mat<f32>,
}

impl Factor {
    /// Writes the first `r` vectors into `dst` (`n×r`).
    fn write(&self, r: usize, dst: MatMut<'_, f32>, par: Par) {
        let coeffs = self.coeffs.as_ref().subcols(0, r);
        match &self.basis {
            Some(basis) => matmul(dst, Accum::Replace, basis.as_ref(), coeffs, 1.0, par),
            None => {
                let mut dst = dst;
                dst.copy_from(coeffs);
            }
        }
    }
}

/// Singular triplets, non-increasing; vectors only when asked for.
struct Triplets {
    s: Vec<f32>,
    left: Option<Factor>,
    right: Option<Factor>,
    method: SvdMethod,
}

impl Triplets {
    fn into_low_rank(self, m: MatrixView<'_>, r: usize, frobenius_sq: f64, par: Par) -> LowRank {
        let (rows, cols) = (m.rows, m.cols);
        let mut u = vec![0f32; rows * r];
        let mut vt = vec![0f32; r * cols];
        if r > 0 {
            if let Some(left) = &self.left {
                left.write(r, MatMut::from_row_major_slice_mut(&mut u, rows, r), par);
            }
            // `V` (cols×r) stored column-major is `Vᵀ` (r×cols) row-major.
            if let Some(right) = &self.right {
                right.write(
                    r,
                    MatMut::from_column_major_slice_mut(&mut vt, cols, r),
                    par,
                );
            }
        }
        let s = self.s[..r].to_vec();
        let kept: f64 = s.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        LowRank {
            rows,
            cols,
            u,
            s,
            vt,
            frobenius_sq,
            energy_captured: (kept / frobenius_sq).clamp(0.0, 1.0),
            rel_frobenius_error: ((frobenius_sq - kept).max(0.0) / frobenius_sq).sqrt(),
            method: self.method,
        }
    }
}

/// The top `k ≤ min(rows, cols)` singular triplets of a finite, non-zero `m` (at least `k`
/// values; the exact path returns all of them).
fn decompose(
    m: MatrixView<'_>,
    k: usize,
    opts: &LowRankOptions,
    vectors: bool,
    par: Par,
) -> Result<Triplets> {
    let a = m.as_faer();
    if is_exact(m, k, opts) {
        let svd = small_svd(a, vectors).map_err(|e| svd_error(m, e))?;
        return Ok(Triplets {
            s: svd.s,
            left: svd.u.map(|coeffs| Factor {
                basis: None,
                coeffs,
            }),
            right: svd.v.map(|coeffs| Factor {
                basis: None,
                coeffs,
            }),
            method: SvdMethod::Exact,
        });
    }
    let l = k + opts.oversample;
    let omega = gaussian_matrix(m.cols, l, opts.seed);
    let mut q = orthonormalize(product(a, omega.as_ref(), par)).0;
    for _ in 0..opts.power_iters {
        let q_right = orthonormalize(product(a.transpose(), q.as_ref(), par)).0;
        q = orthonormalize(product(a, q_right.as_ref(), par)).0;
    }
    let (q_right, r) = orthonormalize(product(a.transpose(), q.as_ref(), par));
    // Qᵀ·M = Rᵀ·Q_rightᵀ: the SVD of the small Rᵀ finishes the decomposition.
    let core = small_svd(r.as_ref().transpose(), vectors).map_err(|e| svd_error(m, e))?;
    Ok(Triplets {
        s: core.s,
        left: core.u.map(|coeffs| Factor {
            basis: Some(q),
            coeffs,
        }),
        right: core.v.map(|coeffs| Factor {
            basis: Some(q_right),
            coeffs,
        }),
        method: SvdMethod::Randomized { sketch: l },
    })
}

fn svd_error(m: MatrixView<'_>, e: svd::SvdError) -> Error {
    lowrank_error(m.rows, m.cols, format!("svd did not converge ({e:?})"))
}

/// A `rows×cols` matrix of standard normal values, column `j` drawn from its own stream
/// `(seed, j)` so the columns fill in parallel with the same result on any thread count.
fn gaussian_matrix(rows: usize, cols: usize, seed: u64) -> Mat<f32> {
    let columns: Vec<Vec<f32>> = (0..cols)
        .into_par_iter()
        .map(|j| {
            let mut rng = Rng::with_stream(seed, j as u64);
            (0..rows).map(|_| rng.gaussian() as f32).collect()
        })
        .collect();
    Mat::from_fn(rows, cols, |i, j| columns[j][i])
}

/// `a·b` into a new column-major matrix.
fn product(a: MatRef<'_, f32>, b: MatRef<'_, f32>, par: Par) -> Mat<f32> {
    let mut dst = Mat::<f32>::zeros(a.nrows(), b.ncols());
    matmul(dst.as_mut(), Accum::Replace, a, b, 1.0, par);
    dst
}

/// Householder QR of a tall `y` (`n×l`, `n ≥ l`): the thin `Q` (`n×l`, orthonormal columns)
/// and `R` (`l×l`, upper triangular), `y = Q·R`.
///
/// Sequential: faer's parallel QR gives other bits on another thread count, and it is a
/// small part of the cost (`O(n·l²)` against the `O(rows·cols·l)` products).
fn orthonormalize(mut y: Mat<f32>) -> (Mat<f32>, Mat<f32>) {
    let par = Par::Seq;
    let par = if std::env::var_os("LR_SEQ_QR").is_some() {
        Par::Seq
    } else {
        par
    };
    let (n, l) = y.shape();
    let block = qr::recommended_block_size::<f32>(n, l);
    let mut coeff = Mat::<f32>::zeros(block, l);
    qr::qr_in_place(
        y.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(qr::qr_in_place_scratch::<f32>(
            n,
            l,
            block,
            par,
            Default::default(),
        ))),
        Default::default(),
    );
    let r = Mat::from_fn(l, l, |i, j| if i <= j { y[(i, j)] } else { 0.0 });
    let mut q = Mat::<f32>::identity(n, l);
    // The strictly lower part of `y` holds the Householder vectors (unit diagonal implied).
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        y.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f32>(
                n, block, l,
            ),
        )),
    );
    (q, r)
}

/// A thin SVD from faer: singular values, and `U`, `V` when asked for.
struct SmallSvd {
    s: Vec<f32>,
    u: Option<Mat<f32>>,
    v: Option<Mat<f32>>,
}

/// faer's thin SVD of `a` (any shape with at least one element), sequential like
/// [`orthonormalize`] so the bits do not depend on the thread count.
fn small_svd(a: MatRef<'_, f32>, vectors: bool) -> Result<SmallSvd, svd::SvdError> {
    let par = Par::Seq;
    let par = if std::env::var_os("LR_SEQ_SVD").is_some() {
        Par::Seq
    } else {
        par
    };
    let (m, n) = a.shape();
    let size = m.min(n);
    let mut s = faer::diag::Diag::<f32>::zeros(size);
    let (mut u, mut v) = if vectors {
        (Some(Mat::zeros(m, size)), Some(Mat::zeros(n, size)))
    } else {
        (None, None)
    };
    let compute = if vectors {
        svd::ComputeSvdVectors::Thin
    } else {
        svd::ComputeSvdVectors::No
    };
    svd::svd(
        a,
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        v.as_mut().map(|v| v.as_mut()),
        par,
        MemStack::new(&mut MemBuffer::new(svd::svd_scratch::<f32>(
            m,
            n,
            compute,
            compute,
            par,
            Default::default(),
        ))),
        Default::default(),
    )?;
    Ok(SmallSvd {
        s: s.column_vector().iter().copied().collect(),
        u,
        v,
    })
}

/// xoshiro256++ (Blackman and Vigna, <https://prng.di.unimi.it/xoshiro256plusplus.c>), seeded
/// through SplitMix64 as its authors recommend, with Marsaglia's polar method for normal
/// deviates: a few lines, no dependency, and the same stream on every platform (up to the
/// platform's `ln`/`sqrt`, which std takes from the system libm).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    /// A generator whose stream depends only on `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        // SplitMix64 (https://prng.di.unimi.it/splitmix64.c).
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Self {
            state: [next(), next(), next(), next()],
            spare: None,
        }
    }

    /// Generator number `stream` of a family named by `seed`, seeded with the first output
    /// of a generator seeded by `seed` mixed with the stream number.
    pub(crate) fn with_stream(seed: u64, stream: u64) -> Self {
        let mut base = Self::new(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        Self::new(base.next_u64())
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[-1, 1)` with 53 random bits.
    fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0
    }

    /// A standard normal deviate (Marsaglia's polar method, both deviates of a pair used).
    pub(crate) fn gaussian(&mut self) -> f64 {
        if let Some(x) = self.spare.take() {
            return x;
        }
        loop {
            let (u, v) = (self.symmetric(), self.symmetric());
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accuracy bound of a recovered planted low rank, relative Frobenius error computed in
    /// `f64` from the returned factors: `f32` rounding of the inputs and of the products
    /// (about `1e-6` here) with a margin.
    const PLANTED_TOL: f64 = 1e-5;
    /// Relative agreement of singular values with an exact `f64` SVD: `f32` arithmetic in
    /// the sketch (about `1e-6`) with a margin.
    const SIGMA_TOL: f64 = 1e-4;

    /// A `rows×cols` row-major matrix of independent standard normal values.
    fn gaussian(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
        (0..rows * cols).map(|_| rng.gaussian()).collect()
    }

    /// `G₁·G₂` for Gaussian `rows×rank` and `rank×cols` factors, plus Gaussian noise scaled
    /// to `noise` times the Frobenius norm of the product, rounded to `f32`.
    fn planted(rows: usize, cols: usize, rank: usize, noise: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let g1 = gaussian(rows, rank, &mut rng);
        let g2 = gaussian(rank, cols, &mut rng);
        let mut m = vec![0f64; rows * cols];
        for i in 0..rows {
            for k in 0..rank {
                let a = g1[i * rank + k];
                for j in 0..cols {
                    m[i * cols + j] += a * g2[k * cols + j];
                }
            }
        }
        if noise > 0.0 {
            let norm = m.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = noise * norm / ((rows * cols) as f64).sqrt();
            for x in &mut m {
                *x += scale * rng.gaussian();
            }
        }
        m.iter().map(|&x| x as f32).collect()
    }

    /// `‖M − B·A‖_F / ‖M‖_F` in `f64`, independent of the module's arithmetic.
    fn reconstruction_error(m: &[f32], lora: &LoraFactors) -> f64 {
        let (rows, cols, r) = (lora.out_features, lora.in_features, lora.rank);
        let (mut diff, mut norm) = (0f64, 0f64);
        for i in 0..rows {
            for j in 0..cols {
                let approx: f64 = (0..r)
                    .map(|k| f64::from(lora.b[i * r + k]) * f64::from(lora.a[k * cols + j]))
                    .sum();
                let x = f64::from(m[i * cols + j]);
                diff += (x - approx) * (x - approx);
                norm += x * x;
            }
        }
        (diff / norm).sqrt()
    }

    /// All singular values of `m`, from faer's exact SVD in `f64`.
    fn exact_sigma(rows: usize, cols: usize, m: &[f32]) -> Vec<f64> {
        Mat::<f64>::from_fn(rows, cols, |i, j| f64::from(m[i * cols + j]))
            .singular_values()
            .unwrap()
    }

    /// Largest `|UᵀU − I|` entry over the columns of a row-major `n×r` matrix.
    fn orthonormality_defect(x: &[f32], n: usize, r: usize) -> f64 {
        let mut worst = 0f64;
        for a in 0..r {
            for b in 0..r {
                let dot: f64 = (0..n)
                    .map(|i| f64::from(x[i * r + a]) * f64::from(x[i * r + b]))
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                worst = worst.max((dot - want).abs());
            }
        }
        worst
    }

    /// `Vᵀ` (r×cols, row-major) transposed to `cols×r` row-major.
    fn transpose(vt: &[f32], r: usize, cols: usize) -> Vec<f32> {
        let mut v = vec![0f32; vt.len()];
        for k in 0..r {
            for j in 0..cols {
                v[j * r + k] = vt[k * cols + j];
            }
        }
        v
    }

    fn fixed(r: usize) -> LowRankOptions {
        LowRankOptions::new(RankChoice::Fixed(r))
    }

    #[test]
    fn planted_rank_8_is_recovered() {
        let m = planted(512, 384, 8, 0.0, 1);
        let low = truncated_svd(MatrixView::new(512, 384, &m).unwrap(), &fixed(8)).unwrap();
        assert_eq!(low.method, SvdMethod::Randomized { sketch: 18 });
        assert_eq!(
            (low.rank(), low.u.len(), low.vt.len()),
            (8, 512 * 8, 8 * 384)
        );
        let err = reconstruction_error(&m, &low.to_lora());
        assert!(err < PLANTED_TOL, "relative error {err:e}");
        assert!(
            low.rel_frobenius_error < 1e-3,
            "{:e}",
            low.rel_frobenius_error
        );
        assert!(low.energy_captured > 1.0 - 1e-6, "{}", low.energy_captured);
        assert!(orthonormality_defect(&low.u, 512, 8) < 1e-5);
        assert!(orthonormality_defect(&transpose(&low.vt, 8, 384), 384, 8) < 1e-5);
    }

    #[test]
    fn sigma_match_exact_svd() {
        let m = planted(512, 384, 8, 1e-4, 2);
        let exact = exact_sigma(512, 384, &m);
        let low = truncated_svd(MatrixView::new(512, 384, &m).unwrap(), &fixed(8)).unwrap();
        for (k, (&s, &e)) in low.s.iter().zip(&exact).enumerate() {
            let rel = (f64::from(s) - e).abs() / e;
            assert!(
                rel < SIGMA_TOL,
                "σ_{k}: {s} vs exact {e} (relative {rel:e})"
            );
        }
        let spec = spectrum(MatrixView::new(512, 384, &m).unwrap(), 8, 7).unwrap();
        for (k, (&s, &e)) in spec.sigma.iter().zip(&exact).enumerate() {
            let rel = (s - e).abs() / e;
            assert!(
                rel < SIGMA_TOL,
                "σ_{k}: {s} vs exact {e} (relative {rel:e})"
            );
        }
    }

    #[test]
    fn energy_099_picks_the_planted_rank() {
        let m = planted(512, 384, 8, 1e-4, 3);
        let opts = LowRankOptions::new(RankChoice::Energy(0.99));
        let low = truncated_svd(MatrixView::new(512, 384, &m).unwrap(), &opts).unwrap();
        assert_eq!(low.rank(), 8);
        // The sketch started at rank 64: no doubling needed.
        assert_eq!(low.method, SvdMethod::Randomized { sketch: 74 });
        assert!(low.energy_captured >= 0.99);
        assert!(reconstruction_error(&m, &low.to_lora()) < 1e-3);
    }

    #[test]
    fn energy_grows_the_sketch_past_the_start_rank() {
        // Rank 100 > ENERGY_START_RANK: 64 values cannot hold 99 %, so the sketch doubles.
        let (rows, cols) = (600, 500);
        let m = planted(rows, cols, 100, 0.0, 4);
        let exact = exact_sigma(rows, cols, &m);
        let total: f64 = exact.iter().map(|s| s * s).sum();
        let mut acc = 0.0;
        let want = 1 + exact
            .iter()
            .position(|s| {
                acc += s * s;
                acc >= 0.99 * total
            })
            .unwrap();
        let opts = LowRankOptions::new(RankChoice::Energy(0.99));
        let low = truncated_svd(MatrixView::new(rows, cols, &m).unwrap(), &opts).unwrap();
        assert_eq!(low.method, SvdMethod::Randomized { sketch: 138 });
        assert_eq!(low.rank(), want);
        assert!(low.energy_captured >= 0.99);
        // The cap wins over the fraction.
        let capped = LowRankOptions {
            max_rank: Some(70),
            ..opts
        };
        let low = truncated_svd(MatrixView::new(rows, cols, &m).unwrap(), &capped).unwrap();
        assert_eq!(low.rank(), 70);
        assert!(low.energy_captured < 0.99);
    }

    #[test]
    fn small_matrices_get_an_exact_svd() {
        let m = planted(100, 80, 5, 1e-3, 5);
        let exact = exact_sigma(100, 80, &m);
        let view = MatrixView::new(100, 80, &m).unwrap();
        let low = truncated_svd(view, &fixed(5)).unwrap();
        assert_eq!(low.method, SvdMethod::Exact);
        for (&s, &e) in low.s.iter().zip(&exact) {
            assert!((f64::from(s) - e).abs() / e < SIGMA_TOL);
        }
        let err = reconstruction_error(&m, &low.to_lora());
        let want = (exact[5..].iter().map(|s| s * s).sum::<f64>()
            / exact.iter().map(|s| s * s).sum::<f64>())
        .sqrt();
        assert!(
            (err - want).abs() < 1e-4 * want.max(1e-3),
            "{err} vs {want}"
        );
        assert!((low.rel_frobenius_error - want).abs() < 1e-3, "{low:?}");
        // Energy on the exact path uses the whole spectrum.
        let e = truncated_svd(view, &LowRankOptions::new(RankChoice::Energy(0.99))).unwrap();
        assert_eq!(e.rank(), 5);
        // A rank above the smaller side is clamped to it; the whole matrix is then exact.
        let full = truncated_svd(view, &fixed(1000)).unwrap();
        assert_eq!(full.rank(), 80);
        assert!(reconstruction_error(&m, &full.to_lora()) < PLANTED_TOL);
    }

    #[test]
    fn sketch_wider_than_the_matrix_falls_back_to_exact() {
        // 300 > EXACT_SVD_MAX_DIM, but rank 295 + oversampling covers the smaller side.
        let m = planted(300, 310, 4, 0.0, 6);
        let low = truncated_svd(MatrixView::new(300, 310, &m).unwrap(), &fixed(295)).unwrap();
        assert_eq!(low.method, SvdMethod::Exact);
        assert_eq!(low.rank(), 295);
    }

    #[test]
    fn same_seed_same_bits() {
        let m = planted(400, 300, 8, 1e-2, 8);
        let view = MatrixView::new(400, 300, &m).unwrap();
        let opts = LowRankOptions {
            seed: 42,
            ..fixed(16)
        };
        let a = truncated_svd(view, &opts).unwrap();
        let b = truncated_svd(view, &opts).unwrap();
        assert_eq!(a, b);
        let c = truncated_svd(view, &LowRankOptions { seed: 43, ..opts }).unwrap();
        assert_ne!(a.u, c.u, "another seed draws another sketch");
        assert_eq!(
            spectrum(view, 16, 42).unwrap(),
            spectrum(view, 16, 42).unwrap()
        );
    }

    #[test]
    fn thread_count_does_not_change_the_bits() {
        // faer does not promise this for its products; the module docs rely on this test.
        let m = planted(700, 600, 8, 1e-2, 9);
        let view = MatrixView::new(700, 600, &m).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| truncated_svd(view, &fixed(32)).unwrap())
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn lora_factors_multiply_back_to_the_truncation() {
        let m = planted(300, 280, 3, 1e-2, 10);
        let low = truncated_svd(MatrixView::new(300, 280, &m).unwrap(), &fixed(3)).unwrap();
        let lora = low.to_lora();
        assert_eq!(
            (lora.rank, lora.out_features, lora.in_features),
            (3, 300, 280)
        );
        for (i, j) in [(0, 0), (17, 5), (299, 279)] {
            let usv: f64 = (0..3)
                .map(|k| {
                    f64::from(low.u[i * 3 + k])
                        * f64::from(low.s[k])
                        * f64::from(low.vt[k * 280 + j])
                })
                .sum();
            let ba: f64 = (0..3)
                .map(|k| f64::from(lora.b[i * 3 + k]) * f64::from(lora.a[k * 280 + j]))
                .sum();
            assert!((usv - ba).abs() < 1e-5 * usv.abs().max(1.0));
        }
        // √σ on both sides: column k of B and row k of A have the same norm.
        for k in 0..3 {
            let nb: f64 = (0..300).map(|i| f64::from(lora.b[i * 3 + k]).powi(2)).sum();
            let na: f64 = (0..280)
                .map(|j| f64::from(lora.a[k * 280 + j]).powi(2))
                .sum();
            assert!((nb - na).abs() < 1e-4 * nb, "{nb} vs {na}");
        }
    }

    /// A `rows×cols` matrix with `sigma` on its diagonal.
    fn diagonal(rows: usize, cols: usize, sigma: &[f32]) -> Vec<f32> {
        let mut m = vec![0f32; rows * cols];
        for (k, &s) in sigma.iter().enumerate() {
            m[k * cols + k] = s;
        }
        m
    }

    #[test]
    fn spectrum_of_a_diagonal_matrix() {
        // σ = 3, 2, 1: ‖M‖² = 14, stable rank 14/9, p = (1/2, 1/3, 1/6),
        // energies 9/14 ≈ 0.64, 13/14 ≈ 0.93, 14/14.
        let want_erank = (-(0.5f64 * 0.5f64.ln())
            - (1.0f64 / 3.0) * (1.0f64 / 3.0).ln()
            - (1.0f64 / 6.0) * (1.0f64 / 6.0).ln())
        .exp();
        for (rows, cols) in [(4, 3), (3, 5), (400, 300)] {
            let m = diagonal(rows, cols, &[2.0, 3.0, 1.0]);
            let spec = spectrum(MatrixView::new(rows, cols, &m).unwrap(), 3, 0).unwrap();
            assert_eq!(spec.frobenius_sq, 14.0);
            for (s, want) in spec.sigma.iter().zip([3.0, 2.0, 1.0]) {
                assert!((s - want).abs() < 1e-6 * want, "{rows}×{cols}: {spec:?}");
            }
            assert!((spec.stable_rank - 14.0 / 9.0).abs() < 1e-6, "{spec:?}");
            assert!((spec.effective_rank - want_erank).abs() < 1e-6, "{spec:?}");
            assert_eq!((spec.r90, spec.r99), (Some(2), Some(3)), "{spec:?}");
        }
        // Only the top 2 of 3: r99 is beyond them, the effective rank sees only (3, 2).
        let m = diagonal(400, 300, &[3.0, 2.0, 1.0]);
        let spec = spectrum(MatrixView::new(400, 300, &m).unwrap(), 2, 0).unwrap();
        assert_eq!((spec.r90, spec.r99), (Some(2), None));
        let p = [0.6f64, 0.4];
        let want = (-p.iter().map(|p| p * p.ln()).sum::<f64>()).exp();
        assert!((spec.effective_rank - want).abs() < 1e-6);
        assert!((spec.stable_rank - 14.0 / 9.0).abs() < 1e-6);
    }

    #[test]
    fn empty_and_zero_matrices_have_rank_zero() {
        let zeros = [0f32; 12];
        for (rows, cols, data) in [
            (0, 5, &[][..]),
            (5, 0, &[][..]),
            (0, 0, &[][..]),
            (3, 4, &zeros[..]),
        ] {
            let view = MatrixView::new(rows, cols, data).unwrap();
            for rank in [RankChoice::Fixed(4), RankChoice::Energy(0.9)] {
                let low = truncated_svd(view, &LowRankOptions::new(rank)).unwrap();
                assert_eq!(low.rank(), 0);
                assert_eq!((low.energy_captured, low.rel_frobenius_error), (1.0, 0.0));
                assert_eq!(low.method, SvdMethod::Trivial);
                let lora = low.to_lora();
                assert!(lora.a.is_empty() && lora.b.is_empty());
            }
            let spec = spectrum(view, 4, 0).unwrap();
            assert_eq!(spec.frobenius_sq, 0.0);
            assert!(spec.sigma.iter().all(|&s| s == 0.0));
            assert_eq!((spec.stable_rank, spec.effective_rank), (0.0, 0.0));
            assert_eq!((spec.r90, spec.r99), (Some(0), Some(0)));
        }
    }

    #[test]
    fn rank_zero_of_a_nonzero_matrix_explains_nothing() {
        let m = diagonal(4, 3, &[1.0, 2.0, 0.0]);
        let view = MatrixView::new(4, 3, &m).unwrap();
        let low = truncated_svd(view, &fixed(0)).unwrap();
        assert_eq!(low.rank(), 0);
        assert_eq!((low.energy_captured, low.rel_frobenius_error), (0.0, 1.0));
        let low = truncated_svd(view, &LowRankOptions::new(RankChoice::Energy(0.0))).unwrap();
        assert_eq!(low.rank(), 0);
        // A matrix of rank 2 reaches 100 % at rank 2, with the exact path.
        let low = truncated_svd(view, &LowRankOptions::new(RankChoice::Energy(1.0))).unwrap();
        assert!(
            low.rank() <= 3 && low.energy_captured >= 1.0 - 1e-7,
            "{low:?}"
        );
    }

    #[test]
    fn bad_input_is_an_error_naming_the_problem() {
        let err = MatrixView::new(2, 3, &[0.0; 5]).unwrap_err().to_string();
        assert_eq!(
            err,
            "low-rank decomposition of a 2×3 matrix: needs rows × cols values, got 5"
        );
        assert!(MatrixView::new(usize::MAX, 2, &[]).is_err());
        for (bad, shown) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ] {
            let mut m = vec![1f32; 3 * 70_000];
            m[2 * 70_000 + 11] = bad;
            let view = MatrixView::new(3, 70_000, &m).unwrap();
            let want = format!(
                "low-rank decomposition of a 3×70000 matrix: value at row 2, column 11 is {shown}, not finite"
            );
            let err = truncated_svd(view, &fixed(2)).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(spectrum(view, 2, 0).unwrap_err().to_string(), want);
        }
        let m = [1f32; 4];
        let view = MatrixView::new(2, 2, &m).unwrap();
        for f in [-0.1, 1.5, f64::NAN] {
            let err = truncated_svd(view, &LowRankOptions::new(RankChoice::Energy(f)))
                .unwrap_err()
                .to_string();
            assert!(
                err.ends_with(&format!("energy fraction {f} is not in [0, 1]")),
                "{err}"
            );
        }
    }

    #[test]
    fn rng_is_reproducible_and_standard_normal() {
        let a: Vec<f64> = {
            let mut r = Rng::new(5);
            (0..4).map(|_| r.gaussian()).collect()
        };
        let mut r = Rng::new(5);
        assert_eq!(a, (0..4).map(|_| r.gaussian()).collect::<Vec<_>>());
        let mut r = Rng::new(6);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gaussian()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors: 1/√n ≈ 0.0022 for the mean, √(2/n) ≈ 0.0032 for the variance.
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.015,
            "{mean} {var}"
        );
    }
}
