//! The ternary types `TQ1_0` (base-3 packing, 1.69 bpw) and `TQ2_0` (2 bits per value).
//!
//! Layouts: `block_tq1_0`, `block_tq2_0` in
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>; arithmetic as in
//! gguf-py's `gguf/quants.py` (`TQ1_0.dequantize_blocks`, `TQ2_0.dequantize_blocks`).

use std::mem::size_of;

use super::{arr, f16_to_f32, for_blocks, le16, BlockFormat};

/// Powers of three used to extract base-3 digits (`byte * 3^k` wraps in u8, then
/// `(v * 3) >> 8` is the digit), as in ggml `dequantize_row_tq1_0`.
const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// One ternary digit in -1..=1 from a packed byte and a power of three.
#[inline(always)]
fn trit(byte: u8, pow: u8) -> f32 {
    let v = byte.wrapping_mul(pow) as u16;
    (((v * 3) >> 8) as i8 - 1) as f32
}

/// `block_tq1_0`: 48 bytes of 5 digits each, 4 bytes of 4 digits each, f16 `d`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockTq1_0 {
    qs: [u8; 48],
    qh: [u8; 4],
    d: u16,
}
const _: () = assert!(size_of::<BlockTq1_0>() == 54);

impl BlockFormat for BlockTq1_0 {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<54, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockTq1_0 {
                    qs: arr(b, 0),
                    qh: arr(b, 48),
                    d: le16(b, 52),
                };
                let d = f16_to_f32(blk.d);
                // Elements 0..160: digit k of qs[l] (l < 32) at 32k + l; 160..240: digit k of
                // qs[32 + l] (l < 16) at 160 + 16k + l; 240..256: digit k of qh[l] at 240 + 4k + l.
                for (k, &p) in POW3.iter().enumerate() {
                    for l in 0..32 {
                        out[32 * k + l] = d * trit(blk.qs[l], p);
                    }
                    for l in 0..16 {
                        out[160 + 16 * k + l] = d * trit(blk.qs[32 + l], p);
                    }
                }
                for (k, &p) in POW3[..4].iter().enumerate() {
                    for l in 0..4 {
                        out[240 + 4 * k + l] = d * trit(blk.qh[l], p);
                    }
                }
            },
        );
    }
}

/// `block_tq2_0`: 64 bytes of four 2-bit values (`q - 1`), f16 `d`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockTq2_0 {
    qs: [u8; 64],
    d: u16,
}
const _: () = assert!(size_of::<BlockTq2_0>() == 66);

impl BlockFormat for BlockTq2_0 {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<66, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockTq2_0 {
                    qs: arr(b, 0),
                    d: le16(b, 64),
                };
                let d = f16_to_f32(blk.d);
                for (e, o) in out.iter_mut().enumerate() {
                    let (h, s, l) = (e / 128, (e % 128) / 32, e % 32);
                    let q = (blk.qs[32 * h + l] >> (2 * s)) & 3;
                    *o = d * (q as i8 - 1) as f32;
                }
            },
        );
    }
}
