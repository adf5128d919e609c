//! aarch64 SIMD implementations; only `dispatch.rs` calls into them.
//!
//! `neon.rs` holds the NEON vector loops for `f32`, F16 and BF16 sides (other kinds run the
//! scalar code); like the x86-64 loops they hand each block's per-lane partial results to
//! `crate::simd::Partials::finish` and locate the maximum with `crate::simd::BestBlock`.

pub(crate) mod neon;
