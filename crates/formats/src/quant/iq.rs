//! The i-quants: lattice-codebook types (`IQ2_XXS`, `IQ2_XS`, `IQ2_S`, `IQ3_XXS`, `IQ3_S`,
//! `IQ1_S`, `IQ1_M`) and the non-linear 4-bit types (`IQ4_NL`, `IQ4_XS`).
//!
//! Layouts: `block_iq2_xxs` … `block_iq4_xs` in
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>; arithmetic as in
//! gguf-py's `gguf/quants.py`. The codebooks live in the generated `grids` module.

use std::mem::size_of;

use super::grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS};
use super::{arr, f16_to_f32, for_blocks, le16, le32, BlockFormat};

/// `kvalues_iq4nl` of ggml-common.h: the 16 levels of `IQ4_NL` and `IQ4_XS`.
const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// `IQ1S_DELTA` of ggml-quants.c: the grid shift of `IQ1_S` and `IQ1_M`.
const IQ1_DELTA: f32 = 0.125;

/// Applies sign bit `l` of `signs` to `v` (gguf-py multiplies by ±1, which is exact negation).
#[inline(always)]
fn signed(v: f32, signs: u8, l: usize) -> f32 {
    if (signs >> l) & 1 != 0 {
        -v
    } else {
        v
    }
}

/// `block_iq2_xxs`: f16 `d`, then 8 × (4 grid bytes, u32 of 4 × 7 sign bits + 4-bit scale).
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq2Xxs {
    d: u16,
    qs: [u8; 64],
}
const _: () = assert!(size_of::<BlockIq2Xxs>() == 66);

impl BlockFormat for BlockIq2Xxs {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<66, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq2Xxs {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                for (g, o) in out.chunks_exact_mut(32).enumerate() {
                    let aux = le32(&blk.qs, 8 * g + 4);
                    let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
                    for (k, o8) in o.chunks_exact_mut(8).enumerate() {
                        let grid = &IQ2XXS_GRID[blk.qs[8 * g + k] as usize];
                        let signs = KSIGNS[((aux >> (7 * k)) & 0x7f) as usize];
                        for (l, v) in o8.iter_mut().enumerate() {
                            *v = signed(db * grid[l] as f32, signs, l);
                        }
                    }
                }
            },
        );
    }
}

/// `block_iq2_xs`: f16 `d`, 32 × u16 (9-bit grid index, 7 sign bits), 16 packed 4-bit scales.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq2Xs {
    d: u16,
    qs: [u8; 64],
    scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq2Xs>() == 74);

impl BlockFormat for BlockIq2Xs {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<74, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq2Xs {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                    scales: arr(b, 66),
                };
                let d = f16_to_f32(blk.d);
                for (i, o) in out.chunks_exact_mut(16).enumerate() {
                    let s = (blk.scales[i / 2] >> (4 * (i % 2))) & 0x0f;
                    let db = d * (0.5 + s as f32) * 0.25;
                    for (k, o8) in o.chunks_exact_mut(8).enumerate() {
                        let q = le16(&blk.qs, 2 * (2 * i + k));
                        let grid = &IQ2XS_GRID[(q & 511) as usize];
                        let signs = KSIGNS[(q >> 9) as usize];
                        for (l, v) in o8.iter_mut().enumerate() {
                            *v = signed(db * grid[l] as f32, signs, l);
                        }
                    }
                }
            },
        );
    }
}

/// `block_iq2_s`: f16 `d`, 32 grid bytes, 32 sign bytes, 2 high index bits each, 16 scales.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq2S {
    d: u16,
    qs: [u8; 32],
    signs: [u8; 32],
    qh: [u8; 8],
    scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq2S>() == 82);

impl BlockFormat for BlockIq2S {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<82, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq2S {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                    signs: arr(b, 34),
                    qh: arr(b, 66),
                    scales: arr(b, 74),
                };
                let d = f16_to_f32(blk.d);
                for (i, o8) in out.chunks_exact_mut(8).enumerate() {
                    let s = (blk.scales[i / 4] >> (4 * ((i / 2) % 2))) & 0x0f;
                    let db = d * (0.5 + s as f32) * 0.25;
                    let hi = ((blk.qh[i / 4] >> (2 * (i % 4))) & 3) as usize;
                    let grid = &IQ2S_GRID[blk.qs[i] as usize | (hi << 8)];
                    let signs = blk.signs[i];
                    for (l, v) in o8.iter_mut().enumerate() {
                        *v = signed(db * grid[l] as f32, signs, l);
                    }
                }
            },
        );
    }
}

/// `block_iq3_xxs`: f16 `d`, 64 grid bytes, 8 × u32 (4 × 7 sign bits + 4-bit scale).
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq3Xxs {
    d: u16,
    qs: [u8; 64],
    scales: [u8; 32],
}
const _: () = assert!(size_of::<BlockIq3Xxs>() == 98);

impl BlockFormat for BlockIq3Xxs {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<98, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq3Xxs {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                    scales: arr(b, 66),
                };
                let d = f16_to_f32(blk.d);
                for (g, o) in out.chunks_exact_mut(32).enumerate() {
                    let aux = le32(&blk.scales, 4 * g);
                    let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
                    for (k, o8) in o.chunks_exact_mut(8).enumerate() {
                        let signs = KSIGNS[((aux >> (7 * k)) & 0x7f) as usize];
                        let g0 = &IQ3XXS_GRID[blk.qs[8 * g + 2 * k] as usize];
                        let g1 = &IQ3XXS_GRID[blk.qs[8 * g + 2 * k + 1] as usize];
                        for (l, v) in o8.iter_mut().enumerate() {
                            let gv = if l < 4 { g0[l] } else { g1[l - 4] };
                            *v = signed(db * gv as f32, signs, l);
                        }
                    }
                }
            },
        );
    }
}

/// `block_iq3_s`: f16 `d`, 64 grid bytes, 64 ninth index bits, 256 sign bits, 8 scales.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq3S {
    d: u16,
    qs: [u8; 64],
    qh: [u8; 8],
    signs: [u8; 32],
    scales: [u8; 4],
}
const _: () = assert!(size_of::<BlockIq3S>() == 110);

impl BlockFormat for BlockIq3S {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<110, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq3S {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                    qh: arr(b, 66),
                    signs: arr(b, 74),
                    scales: arr(b, 106),
                };
                let d = f16_to_f32(blk.d);
                for (i, o8) in out.chunks_exact_mut(8).enumerate() {
                    let j = i / 4; // 32-value sub-block
                    let s = (blk.scales[j / 2] >> (4 * (j % 2))) & 0x0f;
                    let db = d * (1 + 2 * s) as f32;
                    let signs = blk.signs[i];
                    for half in 0..2 {
                        let gi = 2 * i + half;
                        let hi = ((blk.qh[gi / 8] >> (gi % 8)) & 1) as usize;
                        let grid = &IQ3S_GRID[blk.qs[gi] as usize | (hi << 8)];
                        for (c, &gv) in grid.iter().enumerate() {
                            let l = 4 * half + c;
                            o8[l] = signed(db * gv as f32, signs, l);
                        }
                    }
                }
            },
        );
    }
}

/// `block_iq1_s`: f16 `d`, 32 grid bytes, 8 × u16 (4 × 3 high index bits, 3-bit scale, sign of
/// the delta); `x = (d * (2s + 1)) * (grid ± 0.125)`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq1S {
    d: u16,
    qs: [u8; 32],
    qh: [u8; 16],
}
const _: () = assert!(size_of::<BlockIq1S>() == 50);

impl BlockFormat for BlockIq1S {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<50, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq1S {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                    qh: arr(b, 34),
                };
                let d = f16_to_f32(blk.d);
                for (g, o) in out.chunks_exact_mut(32).enumerate() {
                    let h = le16(&blk.qh, 2 * g);
                    let dl = d * (2 * ((h >> 12) & 7) + 1) as f32;
                    let delta = if h & 0x8000 == 0 {
                        IQ1_DELTA
                    } else {
                        -IQ1_DELTA
                    };
                    for (k, o8) in o.chunks_exact_mut(8).enumerate() {
                        let idx =
                            blk.qs[4 * g + k] as usize | ((((h >> (3 * k)) & 7) as usize) << 8);
                        let grid = &IQ1S_GRID[idx];
                        for (v, &gv) in o8.iter_mut().zip(grid) {
                            *v = dl * (gv as f32 + delta);
                        }
                    }
                }
            },
        );
    }
}

/// `block_iq1_m`: 32 grid bytes, 16 bytes of (3 high index bits, delta sign) nibbles, and 8
/// bytes holding 16 three-bit scales plus the f16 super-scale in the top nibbles.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq1M {
    qs: [u8; 32],
    qh: [u8; 16],
    scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq1M>() == 56);

impl BlockFormat for BlockIq1M {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<56, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq1M {
                    qs: arr(b, 0),
                    qh: arr(b, 32),
                    scales: arr(b, 48),
                };
                let sc = [
                    le16(&blk.scales, 0),
                    le16(&blk.scales, 2),
                    le16(&blk.scales, 4),
                    le16(&blk.scales, 6),
                ];
                // `iq1m_scale_t`: the f16 scale is the top nibble of each of the four u16.
                let d16 = (sc[0] >> 12)
                    | ((sc[1] & 0xf000) >> 8)
                    | ((sc[2] & 0xf000) >> 4)
                    | (sc[3] & 0xf000);
                let d = f16_to_f32(d16);
                for (i, o8) in out.chunks_exact_mut(8).enumerate() {
                    let si = i / 2; // 16-value scale group
                    let s = (sc[si / 4] >> (3 * (si % 4))) & 7;
                    let dl = d * (2 * s + 1) as f32;
                    let nib = blk.qh[i / 2] >> (4 * (i % 2));
                    let idx = blk.qs[i] as usize | (((nib & 7) as usize) << 8);
                    let delta = if nib & 8 == 0 { IQ1_DELTA } else { -IQ1_DELTA };
                    for (v, &gv) in o8.iter_mut().zip(&IQ1S_GRID[idx]) {
                        *v = dl * (gv as f32 + delta);
                    }
                }
            },
        );
    }
}

/// `block_iq4_nl`: f16 `d`, 32 nibbles indexing `kvalues_iq4nl`; `x = d * kv[q]`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq4Nl {
    d: u16,
    qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockIq4Nl>() == 18);

impl BlockFormat for BlockIq4Nl {
    const BLOCK_ELEMS: usize = 32;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        for_blocks::<18, 32>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq4Nl {
                    d: le16(b, 0),
                    qs: arr(b, 2),
                };
                let d = f16_to_f32(blk.d);
                for (j, &q) in blk.qs.iter().enumerate() {
                    out[j] = d * KVALUES_IQ4NL[(q & 0x0f) as usize] as f32;
                    out[j + 16] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
                }
            },
        );
    }
}

/// `block_iq4_xs`: f16 `d`, 8 six-bit scales (high 2 bits in `scales_h`, low 4 in `scales_l`),
/// 256 nibbles indexing `kvalues_iq4nl`; `x = (d * (sc - 32)) * kv[q]`.
#[derive(Debug)]
#[repr(C)]
pub struct BlockIq4Xs {
    d: u16,
    scales_h: u16,
    scales_l: [u8; 4],
    qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockIq4Xs>() == 136);

impl BlockFormat for BlockIq4Xs {
    const BLOCK_ELEMS: usize = 256;
    const BLOCK_BYTES: usize = size_of::<Self>();
    #[inline(always)]
    fn dequantize(src: &[u8], dst: &mut [f32]) {
        let mut kv = [0f32; 16];
        for (v, &k) in kv.iter_mut().zip(&KVALUES_IQ4NL) {
            *v = k as f32;
        }
        for_blocks::<136, 256>(
            src,
            dst,
            #[inline(always)]
            |b, out| {
                let blk = BlockIq4Xs {
                    d: le16(b, 0),
                    scales_h: le16(b, 2),
                    scales_l: arr(b, 4),
                    qs: arr(b, 8),
                };
                let d = f16_to_f32(blk.d);
                for (j, o) in out.chunks_exact_mut(32).enumerate() {
                    let lo = (blk.scales_l[j / 2] >> (4 * (j % 2))) & 0x0f;
                    let hi = ((blk.scales_h >> (2 * j)) & 3) as u8;
                    let dl = d * ((lo | (hi << 4)) as i8 - 32) as f32;
                    let qs = &blk.qs[16 * j..16 * j + 16];
                    let (a, c) = o.split_at_mut(16);
                    for ((&q, x), y) in qs.iter().zip(a).zip(c) {
                        *x = dl * kv[(q & 0x0f) as usize];
                        *y = dl * kv[(q >> 4) as usize];
                    }
                }
            },
        );
    }
}
