//! The 4-bit float types `MXFP4` (E2M1 values, one E8M0 scale per 32) and `NVFP4` (E2M1 values,
//! one UE4M3 scale per 16, four per 64-value block).
//!
//! Layouts: `block_mxfp4`, `block_nvfp4` in
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>; arithmetic as in
//! gguf-py's `gguf/quants.py` (`MXFP4.dequantize_blocks`, `NVFP4.dequantize_blocks`), which use
//! doubled E2M1 levels and a halved scale.

use std::mem::size_of;

use super::{arr, for_blocks, BlockFormat};

/// `kvalues_mxfp4` of ggml-common.h: E2M1 levels times two.
const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Half of an E8M0 scale (`ggml_e8m0_to_fp32_half`): `2^(e - 128)`, built from its bits.
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e - 1) as u32) << 23
    };
    f32::from_bits(bits)
}

/// Half of an unsigned E4M3 scale (bias 7; `0x00` and `0x7f` decode as zero), as gguf-py's
/// `NVFP4.ue4m3_to_fp32`; every step is exact in binary32.
#[inline(always)]
fn ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let exp = ((x >> 3) & 0x0f) as i32;
    let man = (x & 7) as f32;
    let raw = if exp == 0 {
        man * f32::from_bits(0x3b00_0000) // 2^-9
    } else {
        (1.0 + man / 8.0) * 2f32.powi(exp - 7)
    };
    raw * 0.5
}

/// `block_mxfp4`: E8M0 exponent, 32 nibbles (low nibbles first); `x = e8m0_half(e) * kv[q]`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockMxfp4 {
    e: u8,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockMxfp4>() == 17);

impl BlockFormat for BlockMxfp4 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<17, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockMxfp4 {
                    e: b[0],
                    qs: arr(b, 1),
                };
                let d = e8m0_half(blk.e);
                for (j, &q) in blk.qs.iter().enumerate() {
                    out[j] = d * KVALUES_FP4[(q & 0x0f) as usize] as f32;
                    out[j + 16] = d * KVALUES_FP4[(q >> 4) as usize] as f32;
                }
            },
        );
    }
}

/// `block_nvfp4`: 4 UE4M3 scales, then 4 × 8 bytes of nibbles (per 16 values: low nibbles of
/// the 8 bytes, then high nibbles); `x = ue4m3_half(d[s]) * kv[q]`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockNvfp4 {
    d: [u8; 4],
    qs: [u8; 32],
}
const _: () = assert!(size_of::<BlockNvfp4>() == 36);

impl BlockFormat for BlockNvfp4 {
    const BLOCK_ELEMS: usize = 64;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<36, 64>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockNvfp4 {
                    d: arr(b, 0),
                    qs: arr(b, 4),
                };
                for (s, o) in out.chunks_exact_mut(16).enumerate() {
                    let d = ue4m3_half(blk.d[s]);
                    for (l, &q) in blk.qs[8 * s..8 * s + 8].iter().enumerate() {
                        o[l] = d * KVALUES_FP4[(q & 0x0f) as usize] as f32;
                        o[l + 8] = d * KVALUES_FP4[(q >> 4) as usize] as f32;
                    }
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert_eq!(e8m0_half(127), 0.5);
        assert_eq!(e8m0_half(128), 1.0);
        assert_eq!(e8m0_half(0), 2f32.powi(-128));
        assert_eq!(e8m0_half(1), 2f32.powi(-127));
        assert_eq!(ue4m3_half(0x38), 0.5); // 1.0 / 2
        assert_eq!(ue4m3_half(0x7f), 0.0);
        assert_eq!(ue4m3_half(0x01), 2f32.powi(-10));
    }
}
