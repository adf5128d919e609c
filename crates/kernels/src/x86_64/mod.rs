//! x86-64 SIMD implementations; only `dispatch.rs` calls into them.

pub(crate) mod avx2;
pub(crate) mod avx512;

/// Elements per block: sums are reduced to scalars and a block's maximum is located
/// (by a scalar rescan of that block only) at block boundaries. 4096 pairs keep each `f64` lane's
/// partial sums short and the rescan cheap.
pub(crate) const BLOCK: usize = 4096;
