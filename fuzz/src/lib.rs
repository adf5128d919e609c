//! Checks shared by the fuzz targets: whatever a parser accepts must decode without panicking,
//! and decoding must not depend on how a range is cut.

use modeldiff_formats::{Model, ValueKind};

/// Tensors above this many elements are not decoded (the fuzzer's inputs are small, but a
/// zero-byte dtype or an opaque tensor could still declare many).
const MAX_CHECK_ELEMS: u64 = 1 << 20;

/// Piece lengths for the cut-up decode: small, odd and unaligned to every block size.
const PIECES: [usize; 7] = [1, 3, 7, 31, 33, 100, 257];

/// Elements walked in pieces at each end of a tensor (the middle is covered by the whole
/// decode; walking all of a large quantized tensor one element at a time costs a block decode
/// per piece and slowed the GGUF target tenfold).
const PIECE_SPAN: usize = 4096;

/// Where the piece walks start: the head, and the tail from an odd offset.
fn walk_starts(n: usize) -> Vec<(usize, usize)> {
    if n <= 2 * PIECE_SPAN {
        vec![(0, n)]
    } else {
        vec![(0, PIECE_SPAN), (n - PIECE_SPAN - 5, n)]
    }
}

/// Decodes every tensor of `model` whole and again in small unaligned pieces, and panics (a
/// finding) if the two differ in a single bit, if a piece fails where the whole succeeded, or
/// if the zero-copy F32 view disagrees with the decoder.
pub fn check_model(model: &Model) {
    for (i, t) in model.tensors().iter().enumerate() {
        let _ = model.tensor_bytes(i);
        let n = t.elements();
        if n > MAX_CHECK_ELEMS {
            continue;
        }
        let n = n as usize;
        if model.check_decodable(i).is_err() {
            // Must fail cleanly, never panic.
            let mut out = vec![0f32; n.min(64)];
            let _ = model.decode_f32(i, 0..n.min(64), &mut out);
            continue;
        }
        if t.dtype.kind() == ValueKind::Integer {
            let mut whole = vec![0i128; n];
            if model.decode_int(i, 0..n, &mut whole).is_ok() {
                for (mut at, stop) in walk_starts(n) {
                    for (k, len) in PIECES.iter().cycle().enumerate() {
                        if at >= stop {
                            break;
                        }
                        let end = (at + len + k % 2).min(stop);
                        let mut part = vec![0i128; end - at];
                        model
                            .decode_int(i, at..end, &mut part)
                            .expect("a piece of a decodable tensor decodes");
                        assert_eq!(part, whole[at..end], "tensor {} ints {at}..{end}", t.name);
                        at = end;
                    }
                }
            }
        }
        let mut whole = vec![0f32; n];
        if model.decode_f32(i, 0..n, &mut whole).is_err() {
            continue;
        }
        for (mut at, stop) in walk_starts(n) {
            for (k, len) in PIECES.iter().cycle().enumerate() {
                if at >= stop {
                    break;
                }
                let end = (at + len + k % 2).min(stop);
                let mut part = vec![0f32; end - at];
                model
                    .decode_f32(i, at..end, &mut part)
                    .expect("a piece of a decodable tensor decodes");
                for (j, (x, y)) in part.iter().zip(&whole[at..end]).enumerate() {
                    assert_eq!(
                        x.to_bits(),
                        y.to_bits(),
                        "tensor {} element {}: piece {at}..{end} gives {x}, whole gives {y}",
                        t.name,
                        at + j
                    );
                }
                at = end;
            }
        }
        if let Some(view) = model.f32_view(i) {
            assert_eq!(view.len(), n);
            assert!(view
                .iter()
                .zip(&whole)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
    let _ = model.check_unchanged();
}
