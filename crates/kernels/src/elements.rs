//! [`Elements`]: one side of a pair as the kernels read it, either `f32` values or stored
//! little-endian half-precision bytes that the fused kernels convert in registers.

use std::ops::Range;

/// Kind tags, used as const generic parameters so each combination of sides compiles to its
/// own loop (no branch on the kind inside it).
pub(crate) const F32: u8 = 0;
/// See [`F32`].
pub(crate) const F16: u8 = 1;
/// See [`F32`].
pub(crate) const BF16: u8 = 2;

/// One side of a pair of slices for [`crate::DiffStats::update_elements`]: `f32` values, or the
/// stored bytes of little-endian IEEE binary16 or bfloat16 values (2 bytes per element), which
/// are converted to `f32` exactly as [`crate::convert`] does, in registers, with no `f32` copy.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Elements<'a> {
    /// `f32` values.
    F32(&'a [f32]),
    /// Little-endian IEEE binary16 bytes.
    F16(&'a [u8]),
    /// Little-endian bfloat16 bytes.
    BF16(&'a [u8]),
}

impl<'a> Elements<'a> {
    /// Number of elements (whole elements only: an odd trailing byte is not one).
    pub fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F16(b) | Elements::BF16(b) => b.len() / 2,
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a byte slice has an odd trailing byte (never a valid input).
    pub(crate) fn has_odd_byte(&self) -> bool {
        match self {
            Elements::F32(_) => false,
            Elements::F16(b) | Elements::BF16(b) => b.len() % 2 != 0,
        }
    }

    /// The kind tag ([`F32`], [`F16`] or [`BF16`]).
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Elements::F32(_) => F32,
            Elements::F16(_) => F16,
            Elements::BF16(_) => BF16,
        }
    }

    /// Elements `r`.
    pub(crate) fn slice(&self, r: Range<usize>) -> Elements<'a> {
        match *self {
            Elements::F32(v) => Elements::F32(&v[r]),
            Elements::F16(b) => Elements::F16(&b[2 * r.start..2 * r.end]),
            Elements::BF16(b) => Elements::BF16(&b[2 * r.start..2 * r.end]),
        }
    }

    /// Pointer to the first element's first byte, for the SIMD loads.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        match self {
            Elements::F32(v) => v.as_ptr().cast(),
            Elements::F16(b) | Elements::BF16(b) => b.as_ptr(),
        }
    }
}
