//! The k-quants: super-blocks of 256 values with 6- or 8-bit sub-block scales
//! (`Q2_K`, `Q3_K`, `Q4_K`, `Q5_K`, `Q6_K`) and the f32-scaled `Q8_K`.
//!
//! Layouts: `block_q2_K` … `block_q8_K` in
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>; arithmetic as in
//! gguf-py's `gguf/quants.py` (`Q2_K.dequantize_blocks`, ...). Sub-block scales are computed once
//! per block (`d * sc` first, then `* q`), which is also gguf-py's operation order.

use std::mem::size_of;

use super::{arr, f16_to_f32, for_blocks, le16, BlockFormat};

/// `QK_K`: values per super-block.
const QK_K: usize = 256;

/// `block_q2_K`: 16 × (4-bit scale, 4-bit min), 2-bit quants, f16 `d` and `dmin`;
/// `x = (d * sc) * q - (dmin * m)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ2K {
    scales: [u8; 16],
    qs: [u8; 64],
    d: u16,
    dmin: u16,
}
const _: () = assert!(size_of::<BlockQ2K>() == 84);

impl BlockFormat for BlockQ2K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<84, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ2K {
                    scales: arr(b, 0),
                    qs: arr(b, 16),
                    d: le16(b, 80),
                    dmin: le16(b, 82),
                };
                let (d, dmin) = (f16_to_f32(blk.d), f16_to_f32(blk.dmin));
                // Element e = 128h + 32s + l holds bits 2s..2s+2 of qs[32h + l]; its scale is e / 16.
                for (e, o) in out.iter_mut().enumerate() {
                    let (h, s, l) = (e / 128, (e % 128) / 32, e % 32);
                    let q = (blk.qs[32 * h + l] >> (2 * s)) & 3;
                    let sc = blk.scales[e / 16];
                    let dl = d * (sc & 0x0f) as f32;
                    let ml = dmin * (sc >> 4) as f32;
                    *o = dl * q as f32 - ml;
                }
            },
        );
    }
}

/// `block_q3_K`: high-bit mask, 2-bit quants, 16 packed 6-bit scales, f16 `d`;
/// `x = (d * (sc - 32)) * (q - 4 * !hbit)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ3K {
    hmask: [u8; 32],
    qs: [u8; 64],
    scales: [u8; 12],
    d: u16,
}
const _: () = assert!(size_of::<BlockQ3K>() == 110);

impl BlockFormat for BlockQ3K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<110, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ3K {
                    hmask: arr(b, 0),
                    qs: arr(b, 32),
                    scales: arr(b, 96),
                    d: le16(b, 108),
                };
                let d = f16_to_f32(blk.d);
                // Scale i: low 4 bits from scales[i % 8] (nibble i / 8), high 2 bits from
                // scales[8 + i % 4] (bits 2 * (i / 4)).
                let mut dl = [0f32; 16];
                for (i, v) in dl.iter_mut().enumerate() {
                    let lo = (blk.scales[i % 8] >> (4 * (i / 8))) & 0x0f;
                    let hi = (blk.scales[8 + i % 4] >> (2 * (i / 4))) & 0x03;
                    *v = d * ((lo | (hi << 4)) as i8 - 32) as f32;
                }
                for (e, o) in out.iter_mut().enumerate() {
                    let (h, s, l) = (e / 128, (e % 128) / 32, e % 32);
                    let ql = ((blk.qs[32 * h + l] >> (2 * s)) & 3) as i8;
                    let hbit = (blk.hmask[l] >> (e / 32)) & 1;
                    let q = ql - (((hbit ^ 1) << 2) as i8);
                    *o = dl[e / 16] * q as f32;
                }
            },
        );
    }
}

/// Unpacks the 8 six-bit scales and mins of `Q4_K`/`Q5_K` (ggml `get_scale_min_k4`).
#[inline(always)]
fn scale_min_k4(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for i in 0..4 {
        sc[i] = s[i] & 0x3f;
        mn[i] = s[4 + i] & 0x3f;
        sc[4 + i] = (s[8 + i] & 0x0f) | ((s[i] >> 2) & 0x30);
        mn[4 + i] = (s[8 + i] >> 4) | ((s[4 + i] >> 2) & 0x30);
    }
    (sc, mn)
}

/// `block_q4_K`: f16 `d` and `dmin`, 8 packed 6-bit scales and mins, 4-bit quants;
/// `x = (d * sc) * q - (dmin * m)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ4K {
    d: u16,
    dmin: u16,
    scales: [u8; 12],
    qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockQ4K>() == 144);

impl BlockFormat for BlockQ4K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<144, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ4K {
                    d: le16(b, 0),
                    dmin: le16(b, 2),
                    scales: arr(b, 4),
                    qs: arr(b, 16),
                };
                let (d, dmin) = (f16_to_f32(blk.d), f16_to_f32(blk.dmin));
                let (sc, mn) = scale_min_k4(&blk.scales);
                // 32-byte chunk c holds sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles).
                for (c, (qs, o)) in blk
                    .qs
                    .chunks_exact(32)
                    .zip(out.chunks_exact_mut(64))
                    .enumerate()
                {
                    let (d0, m0) = (d * sc[2 * c] as f32, dmin * mn[2 * c] as f32);
                    let (d1, m1) = (d * sc[2 * c + 1] as f32, dmin * mn[2 * c + 1] as f32);
                    let (lo, hi) = o.split_at_mut(32);
                    for ((&q, a), b) in qs.iter().zip(lo).zip(hi) {
                        *a = d0 * (q & 0x0f) as f32 - m0;
                        *b = d1 * (q >> 4) as f32 - m1;
                    }
                }
            },
        );
    }
}

/// `block_q5_K`: like `Q4_K` plus a fifth bit per value in `qh`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ5K {
    d: u16,
    dmin: u16,
    scales: [u8; 12],
    qh: [u8; 32],
    qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockQ5K>() == 176);

impl BlockFormat for BlockQ5K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<176, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ5K {
                    d: le16(b, 0),
                    dmin: le16(b, 2),
                    scales: arr(b, 4),
                    qh: arr(b, 16),
                    qs: arr(b, 48),
                };
                let (d, dmin) = (f16_to_f32(blk.d), f16_to_f32(blk.dmin));
                let (sc, mn) = scale_min_k4(&blk.scales);
                for (j, o) in out.chunks_exact_mut(32).enumerate() {
                    let (dj, mj) = (d * sc[j] as f32, dmin * mn[j] as f32);
                    let shift = 4 * (j % 2);
                    let qs = &blk.qs[32 * (j / 2)..32 * (j / 2) + 32];
                    for (l, v) in o.iter_mut().enumerate() {
                        let q = ((qs[l] >> shift) & 0x0f) | (((blk.qh[l] >> j) & 1) << 4);
                        *v = dj * q as f32 - mj;
                    }
                }
            },
        );
    }
}

/// `block_q6_K`: 4 low bits, 2 high bits, 16 signed 8-bit scales, f16 `d`;
/// `x = (d * sc) * (q - 32)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ6K {
    ql: [u8; 128],
    qh: [u8; 64],
    scales: [u8; 16],
    d: u16,
}
const _: () = assert!(size_of::<BlockQ6K>() == 210);

impl BlockFormat for BlockQ6K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<210, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ6K {
                    ql: arr(b, 0),
                    qh: arr(b, 128),
                    scales: arr(b, 192),
                    d: le16(b, 208),
                };
                let d = f16_to_f32(blk.d);
                let mut ds = [0f32; 16];
                for (v, &s) in ds.iter_mut().zip(&blk.scales) {
                    *v = d * s as i8 as f32;
                }
                // Element e = 128h + 32s + l: low nibble (s < 2) or high nibble (s >= 2) of
                // ql[64h + 32(s % 2) + l], high bits 2s..2s+2 of qh[32h + l].
                for h in 0..2 {
                    for s in 0..4 {
                        let base = 128 * h + 32 * s;
                        let ql = &blk.ql[64 * h + 32 * (s % 2)..][..32];
                        let qh = &blk.qh[32 * h..][..32];
                        let (nshift, hshift) = (4 * (s / 2), 2 * s);
                        let (d0, d1) = (ds[base / 16], ds[base / 16 + 1]);
                        let o = &mut out[base..base + 32];
                        for l in 0..32 {
                            let q = ((ql[l] >> nshift) & 0x0f) | (((qh[l] >> hshift) & 3) << 4);
                            let dl = if l < 16 { d0 } else { d1 };
                            o[l] = dl * (q as i8 - 32) as f32;
                        }
                    }
                }
            },
        );
    }
}

/// `block_q8_K`: f32 `d`, 256 signed bytes, 16 group sums (unused here); `x = d * q`
/// (ggml `dequantize_row_q8_K`).
#[derive(Debug)]
#[repr(C)]
pub struct BlockQ8K {
    d: f32,
    qs: [u8; 256],
    bsums: [u8; 32],
}
const _: () = assert!(size_of::<BlockQ8K>() == 292);

impl BlockFormat for BlockQ8K {
    const BLOCK_ELEMS: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<292, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockQ8K {
                    d: f32::from_le_bytes(arr(b, 0)),
                    qs: arr(b, 4),
                    bsums: arr(b, 260),
                };
                let _ = blk.bsums;
                for (o, &q) in out.iter_mut().zip(&blk.qs) {
                    *o = blk.d * q as i8 as f32;
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_k_hand_computed() {
        let mut b = vec![0u8; 292];
        b[..4].copy_from_slice(&0.5f32.to_le_bytes());
        b[4] = 0xfe; // -2
        b[5] = 3;
        b[259] = 0x7f;
        b[260..262].copy_from_slice(&1234i16.to_le_bytes());
        let mut out = [9f32; 256];
        BlockQ8K::dequantize(&b, &mut out);
        assert_eq!(&out[..3], &[-1.0, 1.5, 0.0]);
        assert_eq!(out[255], 63.5);
    }
}
