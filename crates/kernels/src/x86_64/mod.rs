//! x86-64 SIMD implementations; only `dispatch.rs` calls into them.
//!
//! `avx2.rs` and `avx512.rs` hold only their vector loops; both hand a block's per-lane partial
//! results to [`Partials::finish`], which reduces them and updates the accumulator, and
//! [`BestBlock`] locates the maximum the same way for every ISA (both in `crate::simd`, shared
//! with the NEON kernels).

pub(crate) mod avx2;
pub(crate) mod avx512;

use crate::elements::{
    block_bytes, iq4_xs_scale, q4_k_scale_min, Elements, IQ4_XS, Q4_K, QK_K, QK_SUB,
};
pub(crate) use crate::simd::{BestBlock, Partials, BLOCK};

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
