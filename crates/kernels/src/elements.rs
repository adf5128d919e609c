//! [`Elements`]: one side of a pair as the kernels read it, either `f32` values or stored
//! bytes (little-endian half precision, 8-bit floats, ggml blocks) that the fused kernels
//! decode in registers.

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
/// See [`F32`].
pub(crate) const Q4_0: u8 = 4;
/// See [`F32`].
pub(crate) const Q4_1: u8 = 5;
/// See [`F32`].
pub(crate) const F8_E4M3: u8 = 6;
/// See [`F32`].
pub(crate) const F8_E5M2: u8 = 7;
/// See [`F32`].
pub(crate) const Q4_K: u8 = 8;
/// See [`F32`].
pub(crate) const IQ4_XS: u8 = 9;
/// See [`F32`].
pub(crate) const IQ4_NL: u8 = 10;
/// See [`F32`].
pub(crate) const Q5_0: u8 = 11;
/// See [`F32`].
pub(crate) const Q5_1: u8 = 12;

/// 2¹²⁰: an `f32` whose bits are a `float8_e4m3fn` magnitude shifted left 20, times this, is
/// that magnitude's value (subnormals included, exactly; the scalar decoder's table).
pub(crate) const E4M3_SCALE: f32 = f32::from_bits(0x7b80_0000);

/// Bytes per element of the kinds that are not blocks.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // the x86-64 prefetches
pub(crate) const fn elem_bytes(k: u8) -> usize {
    match k {
        F32 => 4,
        F16 | BF16 => 2,
        _ => 1,
    }
}

/// Elements per block of the ggml 32-element block kinds ([`Q8_0`], [`Q4_0`], [`Q4_1`],
/// [`IQ4_NL`], [`Q5_0`], [`Q5_1`]).
pub(crate) const QBLOCK_ELEMS: usize = 32;

/// Elements per super-block of the ggml kinds [`Q4_K`] and [`IQ4_XS`], and per sub-block (one
/// scale each).
pub(crate) const QK_K: usize = 256;
/// See [`QK_K`].
pub(crate) const QK_SUB: usize = 32;

/// Elements per block of kind `k` (1 for kinds that are not blocks).
pub(crate) const fn block_elems(k: u8) -> usize {
    match k {
        Q8_0 | Q4_0 | Q4_1 | IQ4_NL | Q5_0 | Q5_1 => QBLOCK_ELEMS,
        Q4_K | IQ4_XS => QK_K,
        _ => 1,
    }
}

/// Bytes per block of kind `k` (0 for kinds that are not blocks):
/// - `Q8_0`, 34: a little-endian binary16 scale `d`, then 32 signed bytes `q`; element `i` is
///   `q[i] as f32 * d`;
/// - `Q4_0`, 18: `d`, then 16 bytes whose low nibbles are elements 0..16 and high nibbles
///   16..32; an element is `d * (nibble − 8) as f32`;
/// - `Q4_1`, 20: `d`, a binary16 offset `m`, then the nibbles as for `Q4_0`; an element is
///   `d * nibble as f32 + m` (a product, then a sum: two roundings, as ggml decodes it);
/// - `IQ4_NL`, 18: `d`, then nibbles as for `Q4_0`; an element is `d * IQ4NL[nibble] as f32`;
/// - `Q5_0`, 22: `d`, a little-endian `u32` `qh` whose bit `i` is element `i`'s fifth (high)
///   bit, then nibbles as for `Q4_0`; an element is `d * ((nibble | bit << 4) − 16) as f32`;
/// - `Q5_1`, 24: `d`, a binary16 offset `m`, `qh` and the nibbles as for `Q5_0`; an element is
///   `d * (nibble | bit << 4) as f32 + m`;
/// - `Q4_K`, 144 per 256 elements: binary16 `d` and `dmin`, 12 bytes packing eight 6-bit scales
///   `sc` and mins `m` (ggml `get_scale_min_k4`), then 128 nibble bytes: bytes `32c..32c + 32`
///   hold sub-block `2c` (32 elements) in their low nibbles and `2c + 1` in their high ones; an
///   element of sub-block `s` is `(d * sc[s] as f32) * nibble as f32 - dmin * m[s] as f32`;
/// - `IQ4_XS`, 136 per 256 elements: binary16 `d`, a little-endian `u16` of 2-bit scale high
///   parts (sub-block `s` at bits `2s`), 4 bytes of 4-bit scale low parts (sub-block `s` in
///   nibble `s % 2` of byte `s / 2`), then 128 nibble bytes: bytes `16s..16s + 16` hold
///   sub-block `s`'s elements 0..16 in their low nibbles and 16..32 in their high ones; an
///   element is `(d * (sc - 32) as f32) * IQ4NL[nibble] as f32`.
pub(crate) const fn block_bytes(k: u8) -> usize {
    match k {
        Q8_0 => 34,
        Q4_0 => 18,
        Q4_1 => 20,
        Q4_K => 144,
        IQ4_XS => 136,
        IQ4_NL => 18,
        Q5_0 => 22,
        Q5_1 => 24,
        _ => 0,
    }
}

/// `kvalues_iq4nl` of ggml: the 16 levels a nibble of `IQ4_NL` / `IQ4_XS` stands for.
pub(crate) const IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Sub-block `s` (0..8)'s signed factor `sc - 32` from an `IQ4_XS` block `b` (whole block).
#[inline(always)]
pub(crate) fn iq4_xs_scale(b: &[u8], s: usize) -> i8 {
    let lo = (b[4 + s / 2] >> (4 * (s % 2))) & 0x0f;
    let hi = ((u16::from_le_bytes([b[2], b[3]]) >> (2 * s)) & 3) as u8;
    (lo | (hi << 4)) as i8 - 32
}

/// Sub-block `s` (0..8)'s 6-bit scale and min from a `Q4_K` block's 12 packed bytes `p`
/// (ggml `get_scale_min_k4`): for `s < 4` the low six bits of bytes `s` and `s + 4`; else a
/// nibble of byte `s + 4` with the top two bits of byte `s - 4` (scale) or `s` (min) above it.
#[inline(always)]
pub(crate) fn q4_k_scale_min(p: &[u8], s: usize) -> (u8, u8) {
    if s < 4 {
        (p[s] & 0x3f, p[s + 4] & 0x3f)
    } else {
        (
            (p[s + 4] & 0x0f) | ((p[s - 4] >> 6) << 4),
            (p[s + 4] >> 4) | ((p[s] >> 6) << 4),
        )
    }
}

/// One side of a pair of slices for [`crate::DiffStats::update_elements`]: `f32` values, or
/// stored bytes decoded to `f32` in registers, with no `f32` copy: little-endian IEEE binary16
/// or bfloat16 values (2 bytes per element, converted exactly as [`crate::convert`] does), or
/// ggml blocks of 32 elements, decoded with ggml's formulas in `f32` (so exactly as
/// `modeldiff-formats` and gguf-py decode them):
/// - `Q8_0` (34 bytes): a little-endian binary16 scale `d`, then 32 signed bytes `q`;
///   element `i` is `q[i] as f32 * d`;
/// - `Q4_0` (18 bytes): `d`, then 16 bytes whose low nibbles are elements 0..16 and high
///   nibbles 16..32; an element is `d * (nibble − 8) as f32`;
/// - `Q4_1` (20 bytes): `d`, a binary16 offset `m`, then nibbles as in `Q4_0`; an element is
///   `d * nibble as f32 + m`;
/// - `Q4_K` (144 bytes per 256 elements): binary16 `d` and `dmin`, eight 6-bit scales `sc`
///   and mins `m` packed in 12 bytes, then 4-bit quants; an element of sub-block `s` (32
///   elements) is `(d * sc[s] as f32) * q as f32 - dmin * m[s] as f32`;
/// - `IQ4_XS` (136 bytes per 256 elements): binary16 `d`, a 6-bit scale `sc` per 32 elements,
///   and nibbles indexing ggml's 16 non-linear levels `kv`; an element is
///   `(d * (sc - 32) as f32) * kv[q] as f32`;
/// - `IQ4_NL` (18 bytes per 32 elements): `d`, then nibbles as in `Q4_0` indexing `kv`; an
///   element is `d * kv[q] as f32`;
/// - `Q5_0` (22 bytes): `d`, a little-endian `u32` of fifth bits (bit `i` for element `i`),
///   then nibbles as in `Q4_0`; an element is `d * (q − 16) as f32`, `q` the 5-bit value;
/// - `Q5_1` (24 bytes): `d`, a binary16 offset `m`, the fifth bits and nibbles as in `Q5_0`;
///   an element is `d * q as f32 + m`;
///
/// or 8-bit floats (one byte per element, decoded exactly):
/// - `F8E4M3` (`float8_e4m3fn` of the OCP 8-bit floating point specification): sign, 4 exponent
///   bits (bias 7), 3 mantissa bits, no infinities; `S.1111.111` is NaN, read as `f32::NAN`
///   whatever the sign (as `modeldiff-formats` decodes it);
/// - `F8E5M2`: the high byte of an IEEE binary16 (`x << 8`), converted as `F16` is.
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
    /// ggml `Q4_0` blocks (whole blocks only).
    Q4_0(&'a [u8]),
    /// ggml `Q4_1` blocks (whole blocks only).
    Q4_1(&'a [u8]),
    /// `float8_e4m3fn` bytes.
    F8E4M3(&'a [u8]),
    /// `float8_e5m2` bytes.
    F8E5M2(&'a [u8]),
    /// ggml `Q4_K` super-blocks (whole super-blocks only).
    #[allow(non_camel_case_types)] // ggml's name, as `Q8_0`
    Q4_K(&'a [u8]),
    /// ggml `IQ4_XS` super-blocks (whole super-blocks only).
    #[allow(non_camel_case_types)]
    IQ4_XS(&'a [u8]),
    /// ggml `IQ4_NL` blocks (whole blocks only).
    #[allow(non_camel_case_types)]
    IQ4_NL(&'a [u8]),
    /// ggml `Q5_0` blocks (whole blocks only).
    Q5_0(&'a [u8]),
    /// ggml `Q5_1` blocks (whole blocks only).
    Q5_1(&'a [u8]),
}

impl<'a> Elements<'a> {
    /// Number of elements (whole elements only: an odd trailing byte, or the bytes of a partial
    /// block, are none).
    pub fn len(&self) -> usize {
        match self.blocks() {
            Some((b, bb)) => b.len() / bb * block_elems(self.kind()),
            None => match self {
                Elements::F32(v) => v.len(),
                Elements::F16(b) | Elements::BF16(b) => b.len() / 2,
                Elements::F8E4M3(b) | Elements::F8E5M2(b) => b.len(),
                _ => unreachable!("block kinds answer `blocks`"),
            },
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes and the bytes per block of a block kind; `None` for the others.
    fn blocks(&self) -> Option<(&'a [u8], usize)> {
        match *self {
            Elements::Q8_0(b)
            | Elements::Q4_0(b)
            | Elements::Q4_1(b)
            | Elements::Q4_K(b)
            | Elements::IQ4_XS(b)
            | Elements::IQ4_NL(b)
            | Elements::Q5_0(b)
            | Elements::Q5_1(b) => Some((b, block_bytes(self.kind()))),
            _ => None,
        }
    }

    /// Whether a byte slice ends in a partial element (an odd trailing byte, a partial block):
    /// never a valid input.
    pub(crate) fn has_partial_element(&self) -> bool {
        match (self.blocks(), self) {
            (Some((b, bb)), _) => b.len() % bb != 0,
            (None, Elements::F16(b) | Elements::BF16(b)) => b.len() % 2 != 0,
            _ => false,
        }
    }

    /// The kind tag ([`F32`], [`F16`], [`BF16`], [`Q8_0`], [`Q4_0`], [`Q4_1`], [`F8_E4M3`],
    /// [`F8_E5M2`], [`Q4_K`], [`IQ4_XS`], [`IQ4_NL`], [`Q5_0`] or [`Q5_1`]).
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Elements::F32(_) => F32,
            Elements::F16(_) => F16,
            Elements::BF16(_) => BF16,
            Elements::Q8_0(_) => Q8_0,
            Elements::Q4_0(_) => Q4_0,
            Elements::Q4_1(_) => Q4_1,
            Elements::F8E4M3(_) => F8_E4M3,
            Elements::F8E5M2(_) => F8_E5M2,
            Elements::Q4_K(_) => Q4_K,
            Elements::IQ4_XS(_) => IQ4_XS,
            Elements::IQ4_NL(_) => IQ4_NL,
            Elements::Q5_0(_) => Q5_0,
            Elements::Q5_1(_) => Q5_1,
        }
    }

    /// Elements `r`.
    ///
    /// # Panics
    /// If `r` is out of bounds, or (block kinds) does not start and end at block boundaries;
    /// the kernels slice at multiples of their 4096-pair block and at the end.
    pub(crate) fn slice(&self, r: Range<usize>) -> Elements<'a> {
        let (bb, be) = (block_bytes(self.kind()), block_elems(self.kind()));
        let blocks = |b: &'a [u8]| {
            assert!(
                r.start.is_multiple_of(be) && r.end.is_multiple_of(be),
                "block elements are sliced at block boundaries"
            );
            &b[r.start / be * bb..r.end / be * bb]
        };
        match *self {
            Elements::F32(v) => Elements::F32(&v[r.clone()]),
            Elements::F16(b) => Elements::F16(&b[2 * r.start..2 * r.end]),
            Elements::BF16(b) => Elements::BF16(&b[2 * r.start..2 * r.end]),
            Elements::Q8_0(b) => Elements::Q8_0(blocks(b)),
            Elements::Q4_0(b) => Elements::Q4_0(blocks(b)),
            Elements::Q4_1(b) => Elements::Q4_1(blocks(b)),
            Elements::F8E4M3(b) => Elements::F8E4M3(&b[r]),
            Elements::F8E5M2(b) => Elements::F8E5M2(&b[r]),
            Elements::Q4_K(b) => Elements::Q4_K(blocks(b)),
            Elements::IQ4_XS(b) => Elements::IQ4_XS(blocks(b)),
            Elements::IQ4_NL(b) => Elements::IQ4_NL(blocks(b)),
            Elements::Q5_0(b) => Elements::Q5_0(blocks(b)),
            Elements::Q5_1(b) => Elements::Q5_1(blocks(b)),
        }
    }

    /// Pointer to the first element's first byte, for the SIMD loads.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        match self {
            Elements::F32(v) => v.as_ptr().cast(),
            Elements::F16(b)
            | Elements::BF16(b)
            | Elements::Q8_0(b)
            | Elements::Q4_0(b)
            | Elements::Q4_1(b)
            | Elements::F8E4M3(b)
            | Elements::F8E5M2(b)
            | Elements::Q4_K(b)
            | Elements::IQ4_XS(b)
            | Elements::IQ4_NL(b)
            | Elements::Q5_0(b)
            | Elements::Q5_1(b) => b.as_ptr(),
        }
    }
}
