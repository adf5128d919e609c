//! aprender's native quantized tensor layouts (APR files only), `APR_Q4` and `APR_Q8`, decoded to `f32`.
//!
//! Both come from aprender `crates/aprender-core/src/format/v2` (`AprV2Writer::add_q4_tensor`,
//! `add_q8_tensor`, and the reader's `dequantize_q4` / `get_tensor_as_f32`), GH-438 for the ids.

use std::mem::size_of;
use std::ops::Range;

use crate::error::DecodeError;

/// Elements per `APR_Q4` block (`BLOCK_SIZE` in `AprV2Writer::add_q4_tensor`).
pub(crate) const APR_Q4_BLOCK_ELEMS: usize = 32;
/// Bytes per `APR_Q4` block: an f16 scale plus 16 bytes of nibbles.
pub(crate) const APR_Q4_BLOCK_BYTES: usize = size_of::<AprQ4Block>();
/// Bytes of the whole-tensor f32 scale in front of `APR_Q8` values.
pub(crate) const APR_Q8_HEADER_BYTES: usize = 4;
/// Smallest normal f16 (2⁻¹⁴). aprender's `dequantize_q4` replaces NaN, infinite and subnormal
/// block scales by zero (GH-186, `F16_MIN_NORMAL` in `format/f16_safety.rs`); we do the same so
/// values match what aprender computes.
const F16_MIN_NORMAL: f32 = 6.103_515_6e-5;

/// One `APR_Q4` block: value `i` is `(nibble(i) − 8) · scale`, with even `i` in the low nibble
/// of byte `i / 2` and odd `i` in the high nibble.
struct AprQ4Block {
    /// Little-endian IEEE binary16 scale.
    scale: [u8; 2],
    /// 32 packed 4-bit values.
    qs: [u8; 16],
}

const _: () = assert!(size_of::<AprQ4Block>() == 18);

impl AprQ4Block {
    fn from_bytes(b: &[u8]) -> AprQ4Block {
        let mut qs = [0u8; 16];
        qs.copy_from_slice(&b[2..18]);
        AprQ4Block {
            scale: [b[0], b[1]],
            qs,
        }
    }

    fn dequantize(&self, out: &mut [f32; APR_Q4_BLOCK_ELEMS]) {
        let s = half::f16::from_le_bytes(self.scale).to_f32();
        let s = if s.is_finite() && s.abs() >= F16_MIN_NORMAL {
            s
        } else {
            0.0
        };
        for (pair, &q) in out.chunks_exact_mut(2).zip(&self.qs) {
            pair[0] = ((q & 0x0f) as i32 - 8) as f32 * s;
            pair[1] = ((q >> 4) as i32 - 8) as f32 * s;
        }
    }
}

/// Decodes elements `range` of an `APR_Q4` tensor (any range; partial blocks are sliced).
pub(crate) fn decode_q4(
    bytes: &[u8],
    range: Range<usize>,
    out: &mut [f32],
) -> Result<(), DecodeError> {
    let blocks = bytes.len() / APR_Q4_BLOCK_BYTES;
    let capacity = blocks * APR_Q4_BLOCK_ELEMS;
    if range.end > capacity {
        return Err(DecodeError::OutOfRange {
            start: range.start as u64,
            end: range.end as u64,
            len: capacity as u64,
        });
    }
    if range.is_empty() {
        return Ok(());
    }
    let first = range.start / APR_Q4_BLOCK_ELEMS;
    let last = (range.end - 1) / APR_Q4_BLOCK_ELEMS;
    let src = &bytes[first * APR_Q4_BLOCK_BYTES..(last + 1) * APR_Q4_BLOCK_BYTES];
    let mut tmp = [0f32; APR_Q4_BLOCK_ELEMS];
    let mut written = 0;
    for (b, chunk) in (first..).zip(src.chunks_exact(APR_Q4_BLOCK_BYTES)) {
        AprQ4Block::from_bytes(chunk).dequantize(&mut tmp);
        let block_start = b * APR_Q4_BLOCK_ELEMS;
        let lo = range.start.max(block_start) - block_start;
        let hi = range.end.min(block_start + APR_Q4_BLOCK_ELEMS) - block_start;
        out[written..written + hi - lo].copy_from_slice(&tmp[lo..hi]);
        written += hi - lo;
    }
    Ok(())
}

/// Decodes elements `range` of an `APR_Q8` tensor: `q as i8 as f32 * scale`.
pub(crate) fn decode_q8(
    bytes: &[u8],
    range: Range<usize>,
    out: &mut [f32],
) -> Result<(), DecodeError> {
    let n = bytes.len().saturating_sub(APR_Q8_HEADER_BYTES);
    if range.end > n {
        return Err(DecodeError::OutOfRange {
            start: range.start as u64,
            end: range.end as u64,
            len: n as u64,
        });
    }
    if range.is_empty() {
        return Ok(());
    }
    let scale = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let q = &bytes[APR_Q8_HEADER_BYTES + range.start..APR_Q8_HEADER_BYTES + range.end];
    for (o, &b) in out.iter_mut().zip(q) {
        *o = (b as i8) as f32 * scale;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q4_block(scale: f32, nibbles: [u8; 32]) -> Vec<u8> {
        let mut v = half::f16::from_f32(scale).to_le_bytes().to_vec();
        v.extend(nibbles.chunks_exact(2).map(|p| p[0] | (p[1] << 4)));
        v
    }

    #[test]
    fn q4_nibble_order_and_unaligned_ranges() {
        let mut nib = [0u8; 32];
        for (i, n) in nib.iter_mut().enumerate() {
            *n = (i % 16) as u8;
        }
        let mut bytes = q4_block(0.5, nib);
        bytes.extend(q4_block(2.0, [9; 32]));
        let mut all = [0f32; 64];
        decode_q4(&bytes, 0..64, &mut all).unwrap();
        for i in 0..32 {
            assert_eq!(all[i], ((i % 16) as f32 - 8.0) * 0.5, "element {i}");
            assert_eq!(all[32 + i], 2.0);
        }
        for start in 0..64 {
            for end in start..=64 {
                let mut part = vec![0f32; end - start];
                decode_q4(&bytes, start..end, &mut part).unwrap();
                assert_eq!(part, all[start..end], "{start}..{end}");
            }
        }
        assert!(decode_q4(&bytes, 60..65, &mut [0f32; 5]).is_err());
    }

    #[test]
    fn q4_bad_scales_are_zero() {
        for s in [f32::NAN, f32::INFINITY, 1e-6] {
            let bytes = q4_block(s, [3; 32]);
            let mut out = [1f32; 32];
            decode_q4(&bytes, 0..32, &mut out).unwrap();
            assert!(out.iter().all(|&v| v == 0.0), "{s}");
        }
    }

    #[test]
    fn q8_scale_then_values() {
        let mut bytes = 0.25f32.to_le_bytes().to_vec();
        bytes.extend([0u8, 1, 127, 0x81, 0xff]);
        let mut out = [0f32; 5];
        decode_q8(&bytes, 0..5, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.25, 31.75, -31.75, -0.25]);
        let mut out = [0f32; 2];
        decode_q8(&bytes, 2..4, &mut out).unwrap();
        assert_eq!(out, [31.75, -31.75]);
        assert!(decode_q8(&bytes, 4..6, &mut out).is_err());
        assert!(decode_q8(&[], 0..0, &mut []).is_ok());
        assert!(decode_q8(&[1, 2], 0..1, &mut [0f32]).is_err());
    }
}
