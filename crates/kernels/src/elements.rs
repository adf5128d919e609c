//! [`Elements`]: one side of a pair as the kernels read it, either `f32` values or stored
//! bytes (little-endian half precision, ggml `Q8_0` blocks) that the fused kernels decode in
//! registers.

use std::ops::Range;

/// Kind tags, used as const generic parameters so each combination of sides compiles to its
/// own loop (no branch on the kind inside it).
pub(crate) const F32: u8 = 0;
/// See [`F32`].
pub(crate) const F16: u8 = 1;
/// See [`F32`].
pub(crate) const BF16: u8 = 2;
/// See [`F32`].
pub(crate) const Q8_0: u8 = 3;

/// Elements and bytes of one ggml `Q8_0` block: a little-endian binary16 scale `d`, then 32
/// signed bytes `q`; element `i` is `q[i] as f32 * d` (one `f32` product, as ggml and
/// `modeldiff-formats` decode it).
pub(crate) const Q8_0_ELEMS: usize = 32;
/// See [`Q8_0_ELEMS`].
pub(crate) const Q8_0_BYTES: usize = 34;

/// One side of a pair of slices for [`crate::DiffStats::update_elements`]: `f32` values, or
/// stored bytes decoded to `f32` in registers, with no `f32` copy: little-endian IEEE binary16
/// or bfloat16 values (2 bytes per element, converted exactly as [`crate::convert`] does), or
/// ggml `Q8_0` blocks (34 bytes per 32 elements: a little-endian binary16 scale `d`, then 32
/// signed bytes `q`; element `i` is `q[i] as f32 * d`, one `f32` product).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Elements<'a> {
    /// `f32` values.
    F32(&'a [f32]),
    /// Little-endian IEEE binary16 bytes.
    F16(&'a [u8]),
    /// Little-endian bfloat16 bytes.
    BF16(&'a [u8]),
    /// ggml `Q8_0` blocks (whole blocks only).
    Q8_0(&'a [u8]),
}

impl<'a> Elements<'a> {
    /// Number of elements (whole elements only: an odd trailing byte, or the bytes of a partial
    /// `Q8_0` block, are none).
    pub fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F16(b) | Elements::BF16(b) => b.len() / 2,
            Elements::Q8_0(b) => b.len() / Q8_0_BYTES * Q8_0_ELEMS,
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a byte slice ends in a partial element (an odd trailing byte, a partial `Q8_0`
    /// block): never a valid input.
    pub(crate) fn has_partial_element(&self) -> bool {
        match self {
            Elements::F32(_) => false,
            Elements::F16(b) | Elements::BF16(b) => b.len() % 2 != 0,
            Elements::Q8_0(b) => b.len() % Q8_0_BYTES != 0,
        }
    }

    /// The kind tag ([`F32`], [`F16`], [`BF16`] or [`Q8_0`]).
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Elements::F32(_) => F32,
            Elements::F16(_) => F16,
            Elements::BF16(_) => BF16,
            Elements::Q8_0(_) => Q8_0,
        }
    }

    /// Elements `r`.
    ///
    /// # Panics
    /// If `r` is out of bounds, or (`Q8_0`) does not start and end at block boundaries; the
    /// kernels slice at multiples of their 4096-pair block and at the end.
    pub(crate) fn slice(&self, r: Range<usize>) -> Elements<'a> {
        match *self {
            Elements::F32(v) => Elements::F32(&v[r]),
            Elements::F16(b) => Elements::F16(&b[2 * r.start..2 * r.end]),
            Elements::BF16(b) => Elements::BF16(&b[2 * r.start..2 * r.end]),
            Elements::Q8_0(b) => {
                assert!(
                    r.start.is_multiple_of(Q8_0_ELEMS) && r.end.is_multiple_of(Q8_0_ELEMS),
                    "Q8_0 elements are sliced at block boundaries"
                );
                let (s, e) = (r.start / Q8_0_ELEMS, r.end / Q8_0_ELEMS);
                Elements::Q8_0(&b[s * Q8_0_BYTES..e * Q8_0_BYTES])
            }
        }
    }

    /// Pointer to the first element's first byte, for the SIMD loads.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        match self {
            Elements::F32(v) => v.as_ptr().cast(),
            Elements::F16(b) | Elements::BF16(b) | Elements::Q8_0(b) => b.as_ptr(),
        }
    }
}
