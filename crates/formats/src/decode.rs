//! Decoding stored tensor bytes to `f32` (and to exact integers) into caller-provided chunks.
//!
//! Every function takes the bytes of one whole tensor plus an element range, so a caller can
//! stream a tensor of any size through a small buffer. Block types decode the blocks covering
//! the range; ranges aligned to [`DType::block_elems`] avoid decoding a block twice.

use std::ops::Range;
use std::sync::LazyLock;

use crate::dtype::{ByteOrder, DType, ValueKind};
use crate::error::DecodeError;

/// Decodes elements `range` of a tensor stored as `bytes` into `out` (`out.len() == range.len()`).
///
/// Errors when the dtype cannot be decoded, the range is out of bounds, or `out` has the wrong
/// length.
pub fn decode_f32(
    dtype: DType,
    order: ByteOrder,
    bytes: &[u8],
    range: Range<usize>,
    out: &mut [f32],
) -> Result<(), DecodeError> {
    check_out(&range, out.len())?;
    if let DType::Quant(q) = dtype {
        return crate::quant::dequantize_range(q, order, bytes, range, out);
    }
    // APR's own quantized layouts are little-endian only and carry their own range checks.
    match dtype {
        DType::AprQ4 => return crate::quant::apr::decode_q4(bytes, range, out),
        DType::AprQ8 => return crate::quant::apr::decode_q8(bytes, range, out),
        _ => {}
    }
    let src = element_bytes(dtype, bytes, &range)?;
    let le = order == ByteOrder::Little;
    match dtype {
        DType::F32 => {
            if le {
                modeldiff_kernels::convert::f32_from_le_bytes(src, out)
            } else {
                for (o, c) in out.iter_mut().zip(src.chunks_exact(4)) {
                    *o = f32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
        DType::F16 if le => modeldiff_kernels::convert::f16_to_f32(src, out),
        DType::BF16 if le => modeldiff_kernels::convert::bf16_to_f32(src, out),
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = half::f16::from_bits(u16::from_be_bytes([c[0], c[1]])).to_f32();
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_be_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
        DType::F64 => {
            for (o, c) in out.iter_mut().zip(src.chunks_exact(8)) {
                let a: [u8; 8] = c.try_into().expect("chunks_exact(8)");
                *o = if le {
                    f64::from_le_bytes(a)
                } else {
                    f64::from_be_bytes(a)
                } as f32;
            }
        }
        DType::F8E4M3 => {
            let t = &*F8_E4M3_TABLE;
            for (o, &b) in out.iter_mut().zip(src) {
                *o = t[b as usize];
            }
        }
        DType::F8E5M2 => {
            for (o, &b) in out.iter_mut().zip(src) {
                // E5M2 is the high byte of an IEEE binary16 (same exponent bias and layout).
                *o = half::f16::from_bits((b as u16) << 8).to_f32();
            }
        }
        _ if dtype.kind() == ValueKind::Integer => {
            for_each_int(dtype, le, src, |i, v| out[i] = v as f32);
        }
        _ => return Err(not_decodable(dtype, "numbers")),
    }
    Ok(())
}

/// Decodes elements `range` of an integer or boolean tensor exactly (booleans as 0 and 1).
pub fn decode_int(
    dtype: DType,
    order: ByteOrder,
    bytes: &[u8],
    range: Range<usize>,
    out: &mut [i128],
) -> Result<(), DecodeError> {
    check_out(&range, out.len())?;
    if dtype.kind() != ValueKind::Integer {
        return Err(not_decodable(dtype, "integers"));
    }
    let src = element_bytes(dtype, bytes, &range)?;
    for_each_int(dtype, order == ByteOrder::Little, src, |i, v| out[i] = v);
    Ok(())
}

fn not_decodable(dtype: DType, to: &'static str) -> DecodeError {
    DecodeError::NotDecodable {
        dtype: dtype.name(),
        to,
    }
}

fn check_out(range: &Range<usize>, out_len: usize) -> Result<(), DecodeError> {
    if range.start > range.end || range.len() != out_len {
        return Err(DecodeError::OutputLength {
            start: range.start as u64,
            end: range.end as u64,
            out: out_len as u64,
        });
    }
    Ok(())
}

/// The bytes of elements `range` of a scalar (non-block) dtype.
fn element_bytes<'a>(
    dtype: DType,
    bytes: &'a [u8],
    range: &Range<usize>,
) -> Result<&'a [u8], DecodeError> {
    if dtype.block_elems() != 1 || dtype.kind() == ValueKind::Opaque {
        return Err(not_decodable(dtype, "numbers"));
    }
    let es = dtype.block_bytes();
    let (start, end) = (range.start.checked_mul(es), range.end.checked_mul(es));
    match (start, end) {
        (Some(s), Some(e)) if e <= bytes.len() => Ok(&bytes[s..e]),
        _ => Err(DecodeError::OutOfRange {
            start: range.start as u64,
            end: range.end as u64,
            len: (bytes.len() / es.max(1)) as u64,
        }),
    }
}

fn for_each_int(dtype: DType, le: bool, src: &[u8], mut f: impl FnMut(usize, i128)) {
    macro_rules! ints {
        ($t:ty, $n:expr) => {
            for (i, c) in src.chunks_exact($n).enumerate() {
                let a: [u8; $n] = c.try_into().expect("chunks_exact");
                let v = if le {
                    <$t>::from_le_bytes(a)
                } else {
                    <$t>::from_be_bytes(a)
                };
                f(i, v as i128);
            }
        };
    }
    match dtype {
        DType::I8 => ints!(i8, 1),
        DType::U8 => ints!(u8, 1),
        DType::I16 => ints!(i16, 2),
        DType::U16 => ints!(u16, 2),
        DType::I32 => ints!(i32, 4),
        DType::U32 => ints!(u32, 4),
        DType::I64 => ints!(i64, 8),
        DType::U64 => ints!(u64, 8),
        DType::Bool => {
            for (i, &b) in src.iter().enumerate() {
                f(i, (b != 0) as i128);
            }
        }
        _ => unreachable!("for_each_int is only called for integer dtypes"),
    }
}

/// `float8_e4m3fn`: bias 7, no infinities, `S.1111.111` is NaN
/// (OCP 8-bit floating point specification, and `ml_dtypes.float8_e4m3fn`).
static F8_E4M3_TABLE: LazyLock<[f32; 256]> = LazyLock::new(|| {
    let mut t = [0f32; 256];
    for (b, v) in t.iter_mut().enumerate() {
        let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
        let e = ((b >> 3) & 0xf) as i32;
        let m = (b & 7) as f32;
        *v = if e == 15 && b & 7 == 7 {
            f32::NAN
        } else if e == 0 {
            sign * m * 2f32.powi(-9)
        } else {
            sign * (1.0 + m / 8.0) * 2f32.powi(e - 7)
        };
    }
    t
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_e4m3_known_values() {
        let t = &*F8_E4M3_TABLE;
        assert_eq!(t[0x00], 0.0);
        assert_eq!(t[0x38], 1.0);
        assert_eq!(t[0x7e], 448.0);
        assert_eq!(t[0x01], 2f32.powi(-9));
        assert!(t[0x7f].is_nan() && t[0xff].is_nan());
        assert_eq!(t[0xb8], -1.0);
    }

    #[test]
    fn ranges_are_checked() {
        let bytes = [0u8; 8];
        let mut out = [0f32; 3];
        assert!(decode_f32(DType::F32, ByteOrder::Little, &bytes, 0..3, &mut out).is_err());
        assert!(decode_f32(DType::F32, ByteOrder::Little, &bytes, 1..2, &mut out[..1]).is_ok());
        assert!(decode_f32(DType::F32, ByteOrder::Little, &bytes, 1..3, &mut out[..2]).is_err());
        #[allow(clippy::reversed_empty_ranges)] // a reversed range is exactly what is being tested
        let reversed = 2..1;
        assert!(decode_f32(
            DType::F32,
            ByteOrder::Little,
            &bytes,
            reversed,
            &mut out[..0]
        )
        .is_err());
    }

    #[test]
    fn big_endian_and_ints() {
        let mut out = [0f32; 2];
        let bytes = [0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0];
        decode_f32(DType::F32, ByteOrder::Big, &bytes, 0..2, &mut out).unwrap();
        assert_eq!(out, [1.0, -2.0]);
        let mut ints = [0i128; 2];
        let bytes = u64::MAX
            .to_le_bytes()
            .into_iter()
            .chain(5u64.to_le_bytes())
            .collect::<Vec<_>>();
        decode_int(DType::U64, ByteOrder::Little, &bytes, 0..2, &mut ints).unwrap();
        assert_eq!(ints, [u64::MAX as i128, 5]);
    }
}
