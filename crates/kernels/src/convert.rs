//! Conversion of stored little-endian half-precision bytes to `f32`, SIMD-dispatched.
//!
//! `half`'s slice conversions only use F16C when the whole program is compiled with it; these
//! routines pick F16C / AVX-512 at run time instead.

use crate::dispatch::{self, Isa};

/// Which conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    F16,
    BF16,
}

/// Converts little-endian IEEE binary16 values (`src.len() == 2 * dst.len()`) to `f32`.
///
/// # Panics
/// If the lengths do not match.
pub fn f16_to_f32(src: &[u8], dst: &mut [f32]) {
    f16_to_f32_with(Isa::selected(), src, dst)
}

/// Converts little-endian bfloat16 values (`src.len() == 2 * dst.len()`) to `f32`.
///
/// # Panics
/// If the lengths do not match.
pub fn bf16_to_f32(src: &[u8], dst: &mut [f32]) {
    bf16_to_f32_with(Isa::selected(), src, dst)
}

/// [`f16_to_f32`] with an explicit implementation.
///
/// # Panics
/// If the lengths do not match or `isa` is not available.
pub fn f16_to_f32_with(isa: Isa, src: &[u8], dst: &mut [f32]) {
    run(isa, Kind::F16, src, dst)
}

/// [`bf16_to_f32`] with an explicit implementation.
///
/// # Panics
/// If the lengths do not match or `isa` is not available.
pub fn bf16_to_f32_with(isa: Isa, src: &[u8], dst: &mut [f32]) {
    run(isa, Kind::BF16, src, dst)
}

fn run(isa: Isa, kind: Kind, src: &[u8], dst: &mut [f32]) {
    assert_eq!(
        src.len(),
        dst.len() * 2,
        "half conversion: need 2 source bytes per output"
    );
    assert!(
        isa.is_available(),
        "half conversion: {isa:?} is not available on this CPU"
    );
    dispatch::convert(isa, kind, src, dst)
}

/// Copies little-endian `f32` bytes (`src.len() == 4 * dst.len()`) into `dst`.
///
/// # Panics
/// If the lengths do not match.
pub fn f32_from_le_bytes(src: &[u8], dst: &mut [f32]) {
    assert_eq!(
        src.len(),
        dst.len() * 4,
        "f32 copy: need 4 source bytes per output"
    );
    for (o, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// The scalar reference conversion.
pub(crate) fn scalar(kind: Kind, src: &[u8], dst: &mut [f32]) {
    for (o, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
        let h = u16::from_le_bytes([c[0], c[1]]);
        *o = match kind {
            Kind::F16 => half::f16::from_bits(h).to_f32(),
            Kind::BF16 => f32::from_bits((h as u32) << 16),
        };
    }
}
