//! The original ggml block types: `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q8_1`, plus the
//! 1- and 2-bit `Q1_0` and `Q2_0` (ggml ids 41 and 42).
//!
//! Layouts: `block_q4_0` … `block_q8_1`, `block_q1_0`, `block_q2_0` in
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>; arithmetic as in
//! gguf-py's `gguf/quants.py` (`Q4_0.dequantize_blocks`, ...) and, for the types gguf-py lacks,
//! ggml's `dequantize_row_q1_0` / `dequantize_row_q2_0` in `ggml-quants.c`.

use std::mem::size_of;

use super::{arr, f16_to_f32, for_blocks, le16, BlockFormat};

/// `block_q4_0`: f16 scale, 32 nibbles; `x = d * (q - 8)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ4_0 {
    d: u16,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ4_0>() == 18);

impl BlockFormat for BlockQ4_0 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<18, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ4_0 {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                // Low nibbles are elements 0..16, high nibbles 16..32.
                for (j, &q) in blk.qs.iter().enumerate() {
                    out[j] = d * ((q & 0x0f) as i8 - 8) as f32;
                    out[j + 16] = d * ((q >> 4) as i8 - 8) as f32;
                }
            },
        );
    }
}

/// `block_q4_1`: f16 scale and min, 32 nibbles; `x = d * q + m`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ4_1 {
    d: u16,
    m: u16,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ4_1>() == 20);

impl BlockFormat for BlockQ4_1 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<20, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ4_1 {
                    d: le16(b, 0),
                    m: le16(b, 2),
                    qs: arr(b, 4),
                };
                let (d, m) = (f16_to_f32(blk.d), f16_to_f32(blk.m));
                for (j, &q) in blk.qs.iter().enumerate() {
                    out[j] = d * (q & 0x0f) as f32 + m;
                    out[j + 16] = d * (q >> 4) as f32 + m;
                }
            },
        );
    }
}

/// `block_q5_0`: f16 scale, 32 fifth bits, 32 nibbles; `x = d * (q - 16)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ5_0 {
    d: u16,
    qh: [u8; 4],
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ5_0>() == 22);

impl BlockFormat for BlockQ5_0 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<22, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ5_0 {
                    d: le16(b, 0),
                    qh: arr(b, 2),
                    qs: arr(b, 6),
                };
                let d = f16_to_f32(blk.d);
                let qh = u32::from_le_bytes(blk.qh);
                for (j, &q) in blk.qs.iter().enumerate() {
                    let lo = (q & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
                    let hi = (q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                    out[j] = d * (lo as i8 - 16) as f32;
                    out[j + 16] = d * (hi as i8 - 16) as f32;
                }
            },
        );
    }
}

/// `block_q5_1`: f16 scale and min, 32 fifth bits, 32 nibbles; `x = d * q + m`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ5_1 {
    d: u16,
    m: u16,
    qh: [u8; 4],
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ5_1>() == 24);

impl BlockFormat for BlockQ5_1 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<24, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ5_1 {
                    d: le16(b, 0),
                    m: le16(b, 2),
                    qh: arr(b, 4),
                    qs: arr(b, 8),
                };
                let (d, m) = (f16_to_f32(blk.d), f16_to_f32(blk.m));
                let qh = u32::from_le_bytes(blk.qh);
                for (j, &q) in blk.qs.iter().enumerate() {
                    let lo = (q & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
                    let hi = (q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                    out[j] = d * lo as f32 + m;
                    out[j + 16] = d * hi as f32 + m;
                }
            },
        );
    }
}

/// `block_q8_0`: f16 scale, 32 signed bytes; `x = q * d`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ8_0 {
    d: u16,
    qs: [u8; 32],
}
const _: () = assert!(size_of::<BlockQ8_0>() == 34);

impl BlockFormat for BlockQ8_0 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<34, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ8_0 {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                for (o, &q) in out.iter_mut().zip(&blk.qs) {
                    *o = q as i8 as f32 * d;
                }
            },
        );
    }
}

/// `block_q8_1`: f16 scale, f16 `d * sum(qs)`, 32 signed bytes; `x = q * d` (the sum is only
/// used by ggml's dot products).
///
/// ggml's current layout is 36 bytes (`ggml_half2 ds`); gguf-py 0.19.0's `GGML_QUANT_SIZES`
/// still lists the old 40-byte layout with two f32, which no current ggml writes or reads.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ8_1 {
    d: u16,
    s: u16,
    qs: [u8; 32],
}
const _: () = assert!(size_of::<BlockQ8_1>() == 36);

impl BlockFormat for BlockQ8_1 {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<36, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ8_1 {
                    d: le16(b, 0),
                    s: le16(b, 2),
                    qs: arr(b, 4),
                };
                let _ = blk.s;
                let d = f16_to_f32(blk.d);
                for (o, &q) in out.iter_mut().zip(&blk.qs) {
                    *o = q as i8 as f32 * d;
                }
            },
        );
    }
}

/// `block_q1_0` (`QK1_0 = 128`): f16 scale, one sign bit per value (LSB first);
/// `x = bit ? d : -d` (ggml `dequantize_row_q1_0`).
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ1_0 {
    d: u16,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ1_0>() == 18);

impl BlockFormat for BlockQ1_0 {
    const BLOCK_ELEMS: usize = 128;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<18, 128>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ1_0 {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                for (j, o) in out.iter_mut().enumerate() {
                    *o = if (blk.qs[j / 8] >> (j % 8)) & 1 != 0 {
                        d
                    } else {
                        -d
                    };
                }
            },
        );
    }
}

/// `block_q2_0` (`QK2_0 = 64`): f16 scale, 2 bits per value (LSB first);
/// `x = (q - 1) * d` (ggml `dequantize_row_q2_0`).
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ2_0 {
    d: u16,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ2_0>() == 18);

impl BlockFormat for BlockQ2_0 {
    const BLOCK_ELEMS: usize = 64;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<18, 64>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ2_0 {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                for (j, o) in out.iter_mut().enumerate() {
                    let q = (blk.qs[j / 4] >> (2 * (j % 4))) & 3;
                    *o = (q as i32 - 1) as f32 * d;
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(d: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = d.to_le_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn q1_0_hand_computed() {
        // d = 0.5; byte 0 = 0b0000_0101 -> elements 0 and 2 positive.
        let mut qs = [0u8; 16];
        qs[0] = 0b101;
        qs[15] = 0x80; // element 127 positive
        let b = block(0x3800, &qs);
        let mut out = [0f32; 128];
        BlockQ1_0::dequantize(&b, &mut out);
        assert_eq!(&out[..4], &[0.5, -0.5, 0.5, -0.5]);
        assert_eq!(out[126], -0.5);
        assert_eq!(out[127], 0.5);
    }

    #[test]
    fn q2_0_hand_computed() {
        // d = 2.0; byte 0 = 0b11_10_01_00 -> q = 0,1,2,3 -> -2, 0, 2, 4.
        let mut qs = [0u8; 16];
        qs[0] = 0b1110_0100;
        qs[15] = 0b1000_0000; // element 63: q = 2 -> 2.0
        let b = block(0x4000, &qs);
        let mut out = [0f32; 64];
        BlockQ2_0::dequantize(&b, &mut out);
        assert_eq!(&out[..4], &[-2.0, 0.0, 2.0, 4.0]);
        assert_eq!(out[4], -2.0);
        assert_eq!(out[63], 2.0);
    }

    #[test]
    fn q8_1_hand_computed() {
        // d = 0.25, s ignored, qs = -128, 127, 0, ...
        let mut rest = vec![0u8; 34];
        rest[0] = 0x34;
        rest[1] = 0x12;
        rest[2] = 0x80;
        rest[3] = 0x7f;
        let b = block(0x3400, &rest);
        let mut out = [1f32; 32];
        BlockQ8_1::dequantize(&b, &mut out);
        assert_eq!(&out[..3], &[-32.0, 31.75, 0.0]);
    }
}
