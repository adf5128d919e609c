//! Dequantization of ggml's block-quantized tensor types to `f32`.
//!
//! One file per quant family: [`legacy`] (`Q4_0` … `Q8_1`, `Q1_0`, `Q2_0`), [`k`] (`Q2_K` …
//! `Q8_K`), [`iq`] (`IQ*`, with the lookup tables in `grids`), [`ternary`] (`TQ1_0`, `TQ2_0`)
//! and [`fp4`] (`MXFP4`, `NVFP4`). Every block layout is a `#[repr(C)]` struct whose size is
//! asserted at compile time against `ggml-common.h`; blocks are read with `chunks_exact` and
//! `from_le_bytes`, never by casting pointers.
//!
//! The arithmetic replicates `gguf.quants.dequantize` of gguf-py 0.19.0 operation by operation
//! (float32 throughout, f16 scales converted to f32 first, the same multiplication order), so
//! results are bit-identical to it; the tests in `tests/gguf.rs` check this for every type.
//!
//! Layouts: <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>.

pub(crate) mod apr;
pub mod fp4;
#[rustfmt::skip]
mod grids;
pub mod iq;
pub mod k;
pub mod legacy;
pub mod ternary;

use std::fmt;
use std::ops::Range;

use modeldiff_kernels::Isa;

use crate::dtype::ByteOrder;
use crate::error::DecodeError;

/// A block layout: `BLOCK_ELEMS` values stored in `BLOCK_BYTES` bytes.
pub trait BlockFormat {
    /// Values per block.
    const BLOCK_ELEMS: usize;
    /// Bytes per block (the size of the layout struct).
    const BLOCK_BYTES: usize;
    /// Decodes whole little-endian blocks: `src` holds `n * BLOCK_BYTES` bytes and `dst` has room
    /// for `n * BLOCK_ELEMS` values (extra bytes or values are left alone).
    fn dequantize(src: &[u8], dst: &mut [f32]);
}

/// ggml's `ggml_fp16_to_fp32` for one IEEE binary16 (bit-exact, NaN payloads kept, like numpy).
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 if man == 0 => f32::from_bits(sign),
        0 => {
            // Subnormal: man * 2^-24, exact in binary32.
            let v = man as f32 * f32::from_bits(0x3380_0000);
            if sign != 0 {
                -v
            } else {
                v
            }
        }
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

/// Reads a little-endian `u16` at `at`.
#[inline(always)]
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Copies `N` bytes starting at `at` into an array.
#[inline(always)]
pub(crate) fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// How far ahead (bytes) of the block being decoded [`for_blocks`] asks for the source bytes.
/// Mapped files come from the page cache in 4 KiB pages, and the hardware prefetchers stop at
/// page boundaries; asking one page ahead keeps the next page in flight (measured with
/// `cargo xtask bench`: Q8_0 pairs take about a quarter less CPU time).
const PREFETCH_AHEAD: usize = 4096;

/// Decodes every block of `src` into `dst` with layout `B` (helper for the `BlockFormat` impls).
#[inline(always)]
pub(crate) fn for_blocks<const BB: usize, const BE: usize>(
    src: &[u8],
    dst: &mut [f32],
    mut f: impl FnMut(&[u8; BB], &mut [f32; BE]),
) {
    for (s, d) in src.chunks_exact(BB).zip(dst.chunks_exact_mut(BE)) {
        for line in 0..BB.div_ceil(64) {
            modeldiff_kernels::prefetch(s, PREFETCH_AHEAD + 64 * line);
        }
        let s: &[u8; BB] = s.try_into().expect("chunks_exact");
        let d: &mut [f32; BE] = d.try_into().expect("chunks_exact_mut");
        f(s, d);
    }
}

/// The largest block of any type (`Q8_K`, 292 bytes) and the most values per block (256).
const MAX_BLOCK_BYTES: usize = 292;
const MAX_BLOCK_ELEMS: usize = 256;

macro_rules! quant_types {
    ($( $(#[$doc:meta])* $v:ident = $id:literal => $blk:ty, be: $be:expr ;)*) => {
        /// A ggml block-quantized type; the variant names are ggml's spelling.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[non_exhaustive]
        pub enum QuantType {
            $( $(#[$doc])* $v, )*
        }

        impl QuantType {
            /// Every quant type, in ggml id order.
            pub const ALL: &'static [QuantType] = &[$(QuantType::$v),*];

            /// ggml's upper-case name (`Q4_K`, `IQ2_XXS`, `MXFP4`, ...).
            pub fn name(self) -> &'static str {
                match self { $(QuantType::$v => stringify!($v),)* }
            }

            /// The `ggml_type` id stored in GGUF files.
            pub fn gguf_id(self) -> u32 {
                match self { $(QuantType::$v => $id,)* }
            }

            /// The quant type with `ggml_type` id `id`, if it is one.
            pub fn from_gguf_id(id: u32) -> Option<QuantType> {
                match id { $($id => Some(QuantType::$v),)* _ => None }
            }

            /// Values per block.
            pub fn block_elems(self) -> usize {
                match self { $(QuantType::$v => <$blk as BlockFormat>::BLOCK_ELEMS,)* }
            }

            /// Bytes per block.
            pub fn block_bytes(self) -> usize {
                match self { $(QuantType::$v => <$blk as BlockFormat>::BLOCK_BYTES,)* }
            }

            /// Whether blocks of this type can be read from a big-endian GGUF file (the types
            /// gguf-py's `gguf_convert_endian.py` knows how to byte-swap).
            pub fn big_endian_supported(self) -> bool {
                match self { $(QuantType::$v => $be,)* }
            }

            #[inline(always)]
            fn dequantize_blocks(self, src: &[u8], dst: &mut [f32]) {
                match self { $(QuantType::$v => <$blk as BlockFormat>::dequantize(src, dst),)* }
            }
        }
    };
}

quant_types! {
    /// 4-bit, scale only (`block_q4_0`).
    Q4_0 = 2 => legacy::BlockQ4_0, be: true;
    /// 4-bit, scale and min (`block_q4_1`).
    Q4_1 = 3 => legacy::BlockQ4_1, be: false;
    /// 5-bit, scale only (`block_q5_0`).
    Q5_0 = 6 => legacy::BlockQ5_0, be: false;
    /// 5-bit, scale and min (`block_q5_1`).
    Q5_1 = 7 => legacy::BlockQ5_1, be: false;
    /// 8-bit, scale only (`block_q8_0`).
    Q8_0 = 8 => legacy::BlockQ8_0, be: true;
    /// 8-bit with f16 scale and f16 sum (`block_q8_1`).
    Q8_1 = 9 => legacy::BlockQ8_1, be: false;
    /// 2-bit k-quant (`block_q2_K`).
    Q2_K = 10 => k::BlockQ2K, be: false;
    /// 3-bit k-quant (`block_q3_K`).
    Q3_K = 11 => k::BlockQ3K, be: false;
    /// 4-bit k-quant (`block_q4_K`).
    Q4_K = 12 => k::BlockQ4K, be: true;
    /// 5-bit k-quant (`block_q5_K`).
    Q5_K = 13 => k::BlockQ5K, be: false;
    /// 6-bit k-quant (`block_q6_K`).
    Q6_K = 14 => k::BlockQ6K, be: true;
    /// 8-bit k-quant with f32 scale (`block_q8_K`).
    Q8_K = 15 => k::BlockQ8K, be: false;
    /// 2.06 bpw i-quant (`block_iq2_xxs`).
    IQ2_XXS = 16 => iq::BlockIq2Xxs, be: false;
    /// 2.31 bpw i-quant (`block_iq2_xs`).
    IQ2_XS = 17 => iq::BlockIq2Xs, be: false;
    /// 3.06 bpw i-quant (`block_iq3_xxs`).
    IQ3_XXS = 18 => iq::BlockIq3Xxs, be: false;
    /// 1.56 bpw i-quant (`block_iq1_s`).
    IQ1_S = 19 => iq::BlockIq1S, be: false;
    /// 4-bit non-linear (`block_iq4_nl`).
    IQ4_NL = 20 => iq::BlockIq4Nl, be: false;
    /// 3.44 bpw i-quant (`block_iq3_s`).
    IQ3_S = 21 => iq::BlockIq3S, be: false;
    /// 2.56 bpw i-quant (`block_iq2_s`).
    IQ2_S = 22 => iq::BlockIq2S, be: false;
    /// 4.25 bpw non-linear (`block_iq4_xs`).
    IQ4_XS = 23 => iq::BlockIq4Xs, be: false;
    /// 1.75 bpw i-quant (`block_iq1_m`).
    IQ1_M = 29 => iq::BlockIq1M, be: false;
    /// Ternary, base-3 packed (`block_tq1_0`).
    TQ1_0 = 34 => ternary::BlockTq1_0, be: false;
    /// Ternary, 2 bits per value (`block_tq2_0`).
    TQ2_0 = 35 => ternary::BlockTq2_0, be: false;
    /// OCP microscaling FP4 with an E8M0 scale (`block_mxfp4`).
    MXFP4 = 39 => fp4::BlockMxfp4, be: true;
    /// NVIDIA FP4 with four UE4M3 scales (`block_nvfp4`).
    NVFP4 = 40 => fp4::BlockNvfp4, be: true;
    /// 1-bit sign with f16 scale (`block_q1_0`).
    Q1_0 = 41 => legacy::BlockQ1_0, be: false;
    /// 2-bit `(q - 1) * d` with f16 scale (`block_q2_0`).
    Q2_0 = 42 => legacy::BlockQ2_0, be: false;
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Rewrites one block of a big-endian file in place into the little-endian layout, by swapping
/// its multi-byte fields as gguf-py's `gguf_convert_endian.py` does. Returns `false` for types
/// whose big-endian layout is not defined.
fn block_to_le(q: QuantType, block: &mut [u8]) -> bool {
    match q {
        // f16 `d` first.
        QuantType::Q4_0 | QuantType::Q8_0 => block.swap(0, 1),
        // f16 `d`, f16 `dmin`.
        QuantType::Q4_K => {
            block.swap(0, 1);
            block.swap(2, 3);
        }
        // f16 `d` after ql[128], qh[64], scales[16].
        QuantType::Q6_K => block.swap(208, 209),
        // Single bytes only.
        QuantType::MXFP4 | QuantType::NVFP4 => {}
        _ => return false,
    }
    true
}

/// Decodes elements `range` of a tensor of type `q` stored as `bytes` into `out`
/// (`out.len() == range.len()`, checked by the caller).
///
/// Blocks cut by the range ends are decoded through a small stack buffer.
pub fn dequantize_range(
    q: QuantType,
    order: ByteOrder,
    bytes: &[u8],
    range: Range<usize>,
    out: &mut [f32],
) -> Result<(), DecodeError> {
    let (be, bb) = (q.block_elems(), q.block_bytes());
    let n_elems = (bytes.len() / bb) * be;
    if range.end > n_elems || range.start > range.end {
        return Err(DecodeError::OutOfRange {
            start: range.start as u64,
            end: range.end as u64,
            len: n_elems as u64,
        });
    }
    if order == ByteOrder::Big && !q.big_endian_supported() {
        return Err(DecodeError::BigEndianLayout {
            dtype: q.name().to_string(),
        });
    }
    if range.is_empty() {
        return Ok(());
    }
    let mut tmp = [0f32; MAX_BLOCK_ELEMS];
    let mut pos = range.start;
    let mut written = 0;
    while pos < range.end {
        let block = pos / be;
        let within = pos % be;
        let src = &bytes[block * bb..];
        if within == 0 && range.end - pos >= be {
            // A run of whole blocks straight into `out`.
            let n = (range.end - pos) / be;
            let dst = &mut out[written..written + n * be];
            decode_blocks(q, order, &src[..n * bb], dst);
            pos += n * be;
            written += n * be;
        } else {
            decode_blocks(q, order, &src[..bb], &mut tmp[..be]);
            let take = (be - within).min(range.end - pos);
            out[written..written + take].copy_from_slice(&tmp[within..within + take]);
            pos += take;
            written += take;
        }
    }
    Ok(())
}

/// Decodes whole little-endian blocks with the implementation the kernels selected.
fn dequantize_le(q: QuantType, src: &[u8], dst: &mut [f32]) {
    dequantize_with(Isa::selected(), q, src, dst)
}

/// Decodes whole little-endian blocks with the vector unit of `isa`.
///
/// The block decoders are plain Rust marked `#[inline(always)]`; [`Isa::vectorize`] runs this
/// loop (with every decoder inlined) in a function compiled for `isa`'s target features,
/// because a portable build (no `-C target-cpu`) would otherwise only auto-vectorize to SSE2.
/// Rust never contracts `a * b + c` into an FMA on its own, so every ISA stays bit-identical to
/// gguf-py, and `MODELDIFF_FORCE_ISA` governs dequantization as it governs the kernels.
///
/// # Panics
/// If `isa` is not available on this CPU.
pub(crate) fn dequantize_with(isa: Isa, q: QuantType, src: &[u8], dst: &mut [f32]) {
    isa.vectorize(
        #[inline(always)]
        || q.dequantize_blocks(src, dst),
    )
}

/// Decodes whole blocks, byte-swapping them first for big-endian files.
fn decode_blocks(q: QuantType, order: ByteOrder, src: &[u8], dst: &mut [f32]) {
    match order {
        ByteOrder::Little => dequantize_le(q, src, dst),
        ByteOrder::Big => {
            let (be, bb) = (q.block_elems(), q.block_bytes());
            let mut buf = [0u8; MAX_BLOCK_BYTES];
            for (s, d) in src.chunks_exact(bb).zip(dst.chunks_exact_mut(be)) {
                buf[..bb].copy_from_slice(s);
                let ok = block_to_le(q, &mut buf[..bb]);
                debug_assert!(ok, "checked by dequantize_range");
                q.dequantize_blocks(&buf[..bb], d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sizes_fit_buffers() {
        for &q in QuantType::ALL {
            assert_eq!(QuantType::from_gguf_id(q.gguf_id()), Some(q));
            assert!(q.block_bytes() <= MAX_BLOCK_BYTES, "{q}");
            assert!(q.block_elems() <= MAX_BLOCK_ELEMS, "{q}");
        }
        assert_eq!(QuantType::Q8_K.block_bytes(), MAX_BLOCK_BYTES);
    }

    #[test]
    fn f16_matches_half() {
        for h in 0..=u16::MAX {
            let a = f16_to_f32(h);
            let b = half::f16::from_bits(h).to_f32();
            if b.is_nan() {
                assert!(a.is_nan());
            } else {
                assert_eq!(a.to_bits(), b.to_bits(), "{h:#x}");
            }
        }
    }

    #[test]
    fn unaligned_ranges_match_whole_decode() {
        let q = QuantType::Q4_0;
        let mut bytes = vec![0u8; 18 * 3];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8;
        }
        for blk in bytes.chunks_exact_mut(18) {
            blk[0] = 0x00;
            blk[1] = 0x3c; // d = 1.0
        }
        let mut all = vec![0f32; 96];
        dequantize_range(q, ByteOrder::Little, &bytes, 0..96, &mut all).unwrap();
        for (s, e) in [(0, 1), (5, 40), (31, 33), (33, 96), (95, 96), (7, 7)] {
            let mut part = vec![0f32; e - s];
            dequantize_range(q, ByteOrder::Little, &bytes, s..e, &mut part).unwrap();
            assert_eq!(part, all[s..e]);
        }
        let mut one = [0f32; 1];
        assert!(dequantize_range(q, ByteOrder::Little, &bytes, 96..97, &mut one).is_err());
        assert!(dequantize_range(q, ByteOrder::Big, &bytes, 0..1, &mut one).is_ok());
        let q5 = QuantType::Q5_0;
        assert!(dequantize_range(q5, ByteOrder::Big, &bytes[..22], 0..1, &mut one).is_err());
    }

    /// Every ISA decodes every type exactly as the scalar build does, on random blocks (random
    /// scales included, so some are NaN, inf or subnormal).
    #[test]
    fn every_isa_dequantizes_bit_identically_to_scalar() {
        // SplitMix64, so the buffer is the same on every run.
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        // Odd, so vector loops over blocks have tails.
        const BLOCKS: usize = 37;
        for &q in QuantType::ALL {
            let src: Vec<u8> = (0..BLOCKS * q.block_bytes())
                .map(|_| next() as u8)
                .collect();
            let mut want = vec![0f32; BLOCKS * q.block_elems()];
            dequantize_with(Isa::Scalar, q, &src, &mut want);
            for isa in Isa::available() {
                let mut got = vec![f32::NAN; want.len()];
                dequantize_with(isa, q, &src, &mut got);
                // Bits, so NaN payloads must match too.
                let diff = got
                    .iter()
                    .zip(&want)
                    .position(|(g, w)| g.to_bits() != w.to_bits());
                assert_eq!(diff, None, "{q} with {isa}");
            }
        }
    }
}
