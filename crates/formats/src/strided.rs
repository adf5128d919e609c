//! Strided tensors: views whose elements are not one row-major run of their stored bytes
//! (PyTorch transposed, sliced or expanded views; NumPy Fortran-order arrays).
//!
//! Such a tensor keeps pointing at the bytes it spans; decoding gathers the elements of the
//! requested row-major range into a thread-local buffer and decodes that buffer with the plain
//! decoders of `decode.rs`, so every dtype and byte order behaves exactly as for contiguous
//! tensors. Contiguous tensors never come here and stay zero-copy.

use std::cell::RefCell;
use std::ops::Range;

use crate::error::DecodeError;
use crate::model::TensorInfo;

/// Whether `strides` describe the row-major contiguous layout of `shape` (dimensions of size 1
/// may have any stride; an empty tensor is contiguous).
pub(crate) fn is_contiguous(shape: &[u64], strides: &[u64]) -> bool {
    if shape.len() != strides.len() || shape.contains(&0) {
        return shape.len() == strides.len();
    }
    let mut want = 1u64;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d != 1 && s != want {
            return false;
        }
        want = want.saturating_mul(d);
    }
    true
}

/// Number of stored elements a view of `shape` with `strides` spans from its first element:
/// `1 + Σ (dᵢ − 1)·sᵢ`, 0 for an empty tensor, `None` on overflow or a rank mismatch.
pub(crate) fn span(shape: &[u64], strides: &[u64]) -> Option<u64> {
    if shape.len() != strides.len() {
        return None;
    }
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().zip(strides).try_fold(1u64, |acc, (&d, &s)| {
        (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
    })
}

thread_local! {
    static GATHERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Gathers the stored bytes of elements `range` (flat, row-major) of the strided tensor `t`
/// (whose spanned bytes are `bytes`) and calls `decode` with them and the range `0..n` they
/// now hold.
pub(crate) fn with_gathered<R>(
    t: &TensorInfo,
    strides: &[u64],
    bytes: &[u8],
    range: Range<usize>,
    decode: impl FnOnce(&[u8], Range<usize>) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    let elements = t.elements();
    if range.start > range.end || range.end as u64 > elements {
        return Err(DecodeError::OutOfRange {
            start: range.start as u64,
            end: range.end as u64,
            len: elements,
        });
    }
    let es = t.dtype.block_bytes();
    GATHERED.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        gather(bytes, es, &t.shape, strides, range.clone(), &mut buf);
        decode(&buf, 0..range.len())
    })
}

/// Appends the `es`-byte elements `range` of the view (`shape`, `strides`) of `bytes` to `out`.
///
/// The caller guarantees that the view lies inside `bytes` (the parsers check [`span`]).
fn gather(
    bytes: &[u8],
    es: usize,
    shape: &[u64],
    strides: &[u64],
    range: Range<usize>,
    out: &mut Vec<u8>,
) {
    if range.is_empty() {
        return;
    }
    out.reserve(range.len() * es);
    let rank = shape.len();
    if rank == 0 {
        out.extend_from_slice(&bytes[..es]);
        return;
    }
    // Multi-index of the first element, innermost dimension last.
    let mut idx = vec![0u64; rank];
    let mut rest = range.start as u64;
    for d in (0..rank).rev() {
        idx[d] = rest % shape[d];
        rest /= shape[d];
    }
    let inner = rank - 1;
    let (inner_len, inner_stride) = (shape[inner], strides[inner]);
    let mut left = range.len() as u64;
    while left > 0 {
        let base: u64 = idx.iter().zip(strides).map(|(&i, &s)| i * s).sum();
        // Elements left in this innermost row, starting at idx[inner].
        let run = (inner_len - idx[inner]).min(left);
        if inner_stride == 1 {
            let s = base as usize * es;
            out.extend_from_slice(&bytes[s..s + run as usize * es]);
        } else {
            for k in 0..run {
                let s = (base + k * inner_stride) as usize * es;
                out.extend_from_slice(&bytes[s..s + es]);
            }
        }
        left -= run;
        idx[inner] += run;
        // Carry into the outer dimensions.
        let mut d = inner;
        while d > 0 && idx[d] == shape[d] {
            idx[d] = 0;
            idx[d - 1] += 1;
            d -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguity_and_span() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(!is_contiguous(&[2, 3], &[1, 2]));
        assert!(is_contiguous(&[1, 3], &[99, 1]));
        assert!(is_contiguous(&[], &[]));
        assert!(is_contiguous(&[0, 3], &[7, 9]));
        assert!(!is_contiguous(&[2], &[1, 1]));
        assert_eq!(span(&[2, 3], &[1, 2]), Some(6));
        assert_eq!(span(&[2, 3], &[0, 0]), Some(1));
        assert_eq!(span(&[0, 3], &[1, 2]), Some(0));
        assert_eq!(span(&[], &[]), Some(1));
        assert_eq!(span(&[u64::MAX, 2], &[2, 1]), None);
    }

    #[test]
    fn gather_transposed_in_pieces() {
        // A 3x4 row-major matrix of bytes 0..12, viewed transposed (4x3, strides (1, 4)).
        let bytes: Vec<u8> = (0..12).collect();
        let want = [0u8, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11];
        for start in 0..12 {
            for end in start..=12 {
                let mut out = Vec::new();
                gather(&bytes, 1, &[4, 3], &[1, 4], start..end, &mut out);
                assert_eq!(out, want[start..end], "{start}..{end}");
            }
        }
        // Offset rows with a contiguous inner dimension: rows 1.. of a 3x4, then columns 1..3.
        let mut out = Vec::new();
        gather(&bytes[5..], 1, &[2, 2], &[4, 1], 0..4, &mut out);
        assert_eq!(out, [5, 6, 9, 10]);
    }
}
