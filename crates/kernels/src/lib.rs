//! Accurate difference metrics over pairs of `f32` slices, dispatched at run time to the best
//! SIMD implementation the CPU has (AVX-512, AVX2+FMA, or portable scalar code).
//!
//! # Overview
//!
//! [`DiffStats`] is a one-pass, mergeable accumulator: feed it chunk pairs with
//! [`DiffStats::update`] (from any number of threads, one accumulator each) and combine the
//! partial results with [`DiffStats::merge`]. From the sums it derives L2, RMSE, mean/max
//! absolute difference (with the flat index of the maximum), both norms, relative L2 and cosine
//! similarity. The convenience functions [`cosine_similarity`], [`l2_distance`],
//! [`max_abs_diff`] and [`mean_abs_diff`] wrap it for whole slices. [`convert`] turns stored
//! half-precision bytes into `f32`; `modeldiff-formats` uses it for decoding.
//! [`DiffStats::update_elements`] takes the stored bytes ([`Elements`]: F16, BF16, F8 E4M3 and
//! E5M2, ggml `Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `IQ4_NL` blocks, `Q4_K` and `IQ4_XS` super-blocks)
//! instead and decodes them in registers, so the
//! engine diffs such pairs in one pass with no `f32` copy.
//!
//! ```
//! use modeldiff_kernels::{cosine_similarity, DiffStats};
//!
//! let a = [1.0f32, 2.0, 3.0];
//! let b = [1.0f32, 2.0, 3.5];
//! let mut stats = DiffStats::default();
//! stats.update(&a, &b, 0);
//! assert_eq!(stats.max_abs(), 0.5);
//! assert_eq!(stats.max_abs_index(), Some(2));
//! assert!((stats.l2() - 0.5).abs() < 1e-12);
//! assert!(cosine_similarity(&a, &b) < 1.0);
//! ```
//!
//! # Design
//!
//! - **Accuracy.** Every element pair is widened to `f64`, and the accumulator keeps
//!   Σ(a−b)², Σ(a−b)(a+b), Σa², Σb² and Σ|a−b| in `f64` lanes. Cosine is derived as
//!   `1 − (Σ(a−b)² − (‖a‖−‖b‖)²) / (2‖a‖‖b‖)` with `‖a‖−‖b‖ = Σ(a−b)(a+b) / (‖a‖+‖b‖)`, so
//!   `1 − cos` keeps its relative accuracy even at 1e-9 (quantization drift), where
//!   `dot / (‖a‖‖b‖)` computed naively would be all rounding noise.
//! - **Non-finite values.** Metrics cover the pairs where both values are finite; NaN and ±inf
//!   are counted per side. A pair is *equal* when `a == b` or their bits are equal, so NaNs with
//!   identical bits do not count as a mismatch.
//! - **One dispatcher.** The implementation ([`Isa`]) is chosen once per process from
//!   `is_x86_feature_detected!`, never from compile-time `target-cpu`, so one binary runs
//!   everywhere at full speed, and it is read on hot paths with one relaxed atomic load.
//!   [`Isa::force`] or `MODELDIFF_FORCE_ISA=scalar|avx2|avx512|neon` pins a choice; an unknown or
//!   unavailable one is an [`IsaError`] from [`Isa::try_selected`], never a silent fallback.
//!   The same choice drives code outside this crate through [`Isa::vectorize`], which runs a
//!   closure compiled with the implementation's target features: the GGUF dequantizers of
//!   `modeldiff-formats` use it, so a forced `scalar` really runs scalar code everywhere and the
//!   report's ISA is the one that ran. Every SIMD routine has a scalar twin it is tested
//!   against. On aarch64, [`Isa::Neon`] reads `f32`, F16 and BF16 sides in registers and
//!   decodes the other kinds into stack buffers first.
#![deny(missing_docs)]

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod convert;
mod dispatch;
mod elements;
mod error;
pub(crate) mod scalar;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod simd;
mod stats;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use dispatch::Isa;
pub use elements::Elements;
pub use error::IsaError;
pub use stats::DiffStats;

/// Asks the CPU to bring the cache line `ahead` bytes past the start of `bytes` into its
/// caches (`prefetcht0` on x86-64; nothing elsewhere). Readers of mapped files call it one page
/// ahead of what they decode: the hardware prefetchers stop at 4 KiB page boundaries. A hint
/// only: the address may lie past the end of `bytes`; it is never read and cannot fault.
#[inline(always)]
pub fn prefetch(bytes: &[u8], ahead: usize) {
    prefetch_at(bytes.as_ptr().wrapping_add(ahead))
}

/// [`prefetch`] of the line at `p` (any address).
#[inline(always)]
pub(crate) fn prefetch_at(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` (SSE, part of every x86-64 CPU) reads nothing architecturally and
    // cannot fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn stats_of(a: &[f32], b: &[f32]) -> DiffStats {
    assert_eq!(
        a.len(),
        b.len(),
        "modeldiff-kernels: slices must have equal length"
    );
    let mut s = DiffStats::default();
    s.update(a, b, 0);
    s
}

/// Cosine similarity of `a` and `b` over the pairs where both values are finite.
///
/// Equal slices (including all-zero and empty ones) give 1; if exactly one side has zero norm,
/// 0; NaN when both norms are zero but the slices differ (only possible with non-finite values).
///
/// # Panics
/// If the slices have different lengths.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    stats_of(a, b).cosine().unwrap_or(f64::NAN)
}

/// Euclidean distance ‖a − b‖₂ over the pairs where both values are finite.
///
/// # Panics
/// If the slices have different lengths.
pub fn l2_distance(a: &[f32], b: &[f32]) -> f64 {
    stats_of(a, b).l2()
}

/// Largest |a − b| over the pairs where both values are finite (0 for empty slices).
///
/// # Panics
/// If the slices have different lengths.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    stats_of(a, b).max_abs()
}

/// Mean |a − b| over the pairs where both values are finite (0 when there are none).
///
/// # Panics
/// If the slices have different lengths.
pub fn mean_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    stats_of(a, b).mean_abs().unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
