//! Element types of stored tensors and their byte layout.

use std::fmt;

use crate::quant::QuantType;

/// How a tensor's elements are stored.
///
/// Names follow the spelling of SafeTensors and GGUF (`F32`, `BF16`, `F8_E4M3`, `Q4_K`, ...).
/// Block types (quantized formats) encode `block_elems()` elements in `block_bytes()` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (upper half of a binary32).
    BF16,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits, no infinities (`float8_e4m3fn`).
    F8E4M3,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits, IEEE-like (`float8_e5m2`).
    F8E5M2,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// One byte per element, zero is false and anything else true.
    Bool,
    /// A ggml block-quantized type (GGUF), decoded block by block.
    Quant(QuantType),
    /// aprender's native 4-bit block quantization (APR dtype 128, legacy 8): blocks of 32 values,
    /// each an f16 scale then 16 bytes of nibbles (low nibble first); value = (nibble − 8) · scale.
    /// The last block may be partial; it is stored whole, zero-padded.
    AprQ4,
    /// aprender's native 8-bit quantization (APR dtype 129, legacy 9): one f32 scale for the
    /// whole tensor, then one i8 per element; value = q · scale.
    AprQ8,
    /// A type this crate lists but cannot decode (for example a GGUF type id from a fork):
    /// such tensors can only be compared by their raw bytes.
    Opaque {
        /// The format's own type id.
        id: u32,
        /// Bytes per block, if known (`0` when unknown).
        block_bytes: u32,
        /// Elements per block, if known (`0` when unknown).
        block_elems: u32,
    },
}

/// What the values of a dtype are, for deciding how to compare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// Real numbers (floats and quantized types): compared with float metrics.
    Float,
    /// Integers and booleans: compared exactly.
    Integer,
    /// Not decodable: compared by raw bytes only.
    Opaque,
}

/// Byte order of multi-byte fields inside stored tensor data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ByteOrder {
    /// Little-endian (every format's default).
    #[default]
    Little,
    /// Big-endian (some GGUF files).
    Big,
}

impl DType {
    /// Every dtype SafeTensors can hold that this crate decodes, for tests and docs.
    pub const SAFETENSORS: [DType; 15] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// The upper-case name as SafeTensors / GGUF spell it.
    pub fn name(self) -> String {
        let s = match self {
            DType::F64 => "F64",
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::U8 => "U8",
            DType::U16 => "U16",
            DType::U32 => "U32",
            DType::U64 => "U64",
            DType::Bool => "BOOL",
            DType::Quant(q) => q.name(),
            DType::AprQ4 => "APR_Q4",
            DType::AprQ8 => "APR_Q8",
            DType::Opaque { id, .. } => return format!("GGML_TYPE_{id}"),
        };
        s.to_string()
    }

    /// Elements per storage block (1 for plain scalar types).
    pub fn block_elems(self) -> usize {
        match self {
            DType::Quant(q) => q.block_elems(),
            DType::Opaque { block_elems, .. } => block_elems.max(1) as usize,
            DType::AprQ4 => crate::quant::apr::APR_Q4_BLOCK_ELEMS,
            _ => 1,
        }
    }

    /// Bytes per storage block (the element size for plain scalar types).
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::U8 | DType::Bool => 1,
            DType::Quant(q) => q.block_bytes(),
            DType::AprQ4 => crate::quant::apr::APR_Q4_BLOCK_BYTES,
            // The per-tensor scale header is accounted for in `storage_bytes`.
            DType::AprQ8 => 1,
            DType::Opaque { block_bytes, .. } => block_bytes as usize,
        }
    }

    /// The layout of a tensor of `elems` elements of this type when it is a plain run of
    /// self-contained blocks: `(block_elems, block_bytes)`, such that the bytes of blocks
    /// `i..j` encode elements `i·block_elems..j·block_elems` and nothing else decides their
    /// values. `None` for layouts with a shared header (`APR_Q8`'s per-tensor scale), a padded
    /// last block (`APR_Q4` when `elems` is not a multiple of 32) or an unknown block size.
    ///
    /// Equal bytes under the same dtype and byte order then mean equal values, block by block.
    pub fn plain_layout(self, elems: u64) -> Option<(usize, usize)> {
        let (be, bb) = (self.block_elems(), self.block_bytes());
        let plain = match self {
            DType::AprQ8 => false,
            DType::Opaque {
                block_bytes,
                block_elems,
                ..
            } => block_bytes > 0 && block_elems > 0,
            _ => bb > 0,
        };
        (plain && elems.is_multiple_of(be as u64)).then_some((be, bb))
    }

    /// How values of this type are compared.
    pub fn kind(self) -> ValueKind {
        match self {
            DType::F64
            | DType::F32
            | DType::F16
            | DType::BF16
            | DType::F8E4M3
            | DType::F8E5M2
            | DType::Quant(_)
            | DType::AprQ4
            | DType::AprQ8 => ValueKind::Float,
            DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64
            | DType::Bool => ValueKind::Integer,
            DType::Opaque { .. } => ValueKind::Opaque,
        }
    }

    /// The dtype of GGUF/ggml type id `id`, for every id that names a type of current ggml
    /// (`ggml_type` in `ggml.h`: F32 = 0, F16 = 1, quant types, I8 = 24 … F64 = 28, BF16 = 30).
    ///
    /// Removed ids (4, 5, 31–33, 36–38) and unknown ids give `None`; the GGUF reader rejects the
    /// former and lists the latter as [`DType::Opaque`].
    pub fn from_gguf_id(id: u32) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::F16,
            24 => DType::I8,
            25 => DType::I16,
            26 => DType::I32,
            27 => DType::I64,
            28 => DType::F64,
            30 => DType::BF16,
            _ => DType::Quant(QuantType::from_gguf_id(id)?),
        })
    }

    /// The GGUF/ggml type id of this dtype (`None` for types GGUF cannot store); inverse of
    /// [`DType::from_gguf_id`], and the stored id for [`DType::Opaque`].
    pub fn to_gguf_id(self) -> Option<u32> {
        match self {
            DType::F32 => Some(0),
            DType::F16 => Some(1),
            DType::I8 => Some(24),
            DType::I16 => Some(25),
            DType::I32 => Some(26),
            DType::I64 => Some(27),
            DType::F64 => Some(28),
            DType::BF16 => Some(30),
            DType::Quant(q) => Some(q.gguf_id()),
            DType::Opaque { id, .. } => Some(id),
            DType::F8E4M3
            | DType::F8E5M2
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64
            | DType::Bool
            | DType::AprQ4
            | DType::AprQ8 => None,
        }
    }

    /// Bytes needed to store `elems` elements, or `None` if `elems` is not a whole number of
    /// blocks, the block size is unknown, or the size overflows.
    ///
    /// Two APR types are special: `APR_Q4` stores a partial last block whole (`⌈n/32⌉ · 18`
    /// bytes), and `APR_Q8` stores a 4-byte scale before its `n` values (`4 + n` bytes; an empty
    /// tensor stores nothing at all, as aprender's `AprV2Writer::add_q8_tensor` writes it).
    pub fn storage_bytes(self, elems: u64) -> Option<u64> {
        match self {
            DType::AprQ4 => {
                let blocks = elems.div_ceil(crate::quant::apr::APR_Q4_BLOCK_ELEMS as u64);
                return blocks.checked_mul(crate::quant::apr::APR_Q4_BLOCK_BYTES as u64);
            }
            DType::AprQ8 if elems == 0 => return Some(0),
            DType::AprQ8 => {
                return elems.checked_add(crate::quant::apr::APR_Q8_HEADER_BYTES as u64)
            }
            _ => {}
        }
        let be = self.block_elems() as u64;
        let bb = self.block_bytes() as u64;
        if bb == 0 || !elems.is_multiple_of(be) {
            return None;
        }
        (elems / be).checked_mul(bb)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_bytes_checks_blocks_and_overflow() {
        assert_eq!(DType::F32.storage_bytes(3), Some(12));
        assert_eq!(DType::F64.storage_bytes(u64::MAX), None);
        let q = DType::Opaque {
            id: 99,
            block_bytes: 18,
            block_elems: 32,
        };
        assert_eq!(q.storage_bytes(64), Some(36));
        assert_eq!(q.storage_bytes(33), None);
        assert_eq!(q.name(), "GGML_TYPE_99");
    }

    #[test]
    fn gguf_ids_round_trip() {
        for id in 0..64 {
            if let Some(d) = DType::from_gguf_id(id) {
                assert_eq!(d.to_gguf_id(), Some(id), "{d}");
                let int = matches!(d, DType::I8 | DType::I16 | DType::I32 | DType::I64);
                let want = if int {
                    ValueKind::Integer
                } else {
                    ValueKind::Float
                };
                assert_eq!(d.kind(), want, "{d}");
            }
        }
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 43, 99] {
            assert_eq!(DType::from_gguf_id(id), None);
        }
        let q = DType::from_gguf_id(12).unwrap();
        assert_eq!(
            (q.name().as_str(), q.block_elems(), q.block_bytes()),
            ("Q4_K", 256, 144)
        );
        assert_eq!(DType::from_gguf_id(16).unwrap().name(), "IQ2_XXS");
        assert_eq!(DType::from_gguf_id(34).unwrap().name(), "TQ1_0");
        assert_eq!(DType::from_gguf_id(39).unwrap().name(), "MXFP4");
        assert_eq!(DType::from_gguf_id(40).unwrap().name(), "NVFP4");
        assert_eq!(DType::from_gguf_id(30), Some(DType::BF16));
        assert_eq!(DType::Bool.to_gguf_id(), None);
    }

    #[test]
    fn plain_layouts_exclude_headers_and_padding() {
        assert_eq!(DType::F16.plain_layout(3), Some((1, 2)));
        assert_eq!(
            DType::from_gguf_id(8).unwrap().plain_layout(64),
            Some((32, 34))
        );
        assert_eq!(DType::AprQ8.plain_layout(64), None);
        assert_eq!(DType::AprQ4.plain_layout(64), Some((32, 18)));
        assert_eq!(DType::AprQ4.plain_layout(33), None);
        let unknown = DType::Opaque {
            id: 99,
            block_bytes: 0,
            block_elems: 0,
        };
        assert_eq!(unknown.plain_layout(1), None);
    }

    #[test]
    fn apr_storage_sizes() {
        assert_eq!(DType::AprQ8.storage_bytes(10), Some(14));
        assert_eq!(DType::AprQ8.storage_bytes(0), Some(0));
        assert_eq!(DType::AprQ8.storage_bytes(u64::MAX), None);
        assert_eq!(DType::AprQ4.storage_bytes(64), Some(36));
        assert_eq!(DType::AprQ4.storage_bytes(33), Some(36));
        assert_eq!(DType::AprQ4.storage_bytes(0), Some(0));
        assert_eq!(DType::AprQ4.storage_bytes(u64::MAX), Some((1 << 59) * 18));
        assert_eq!(DType::AprQ4.name(), "APR_Q4");
        assert_eq!(DType::AprQ8.to_string(), "APR_Q8");
    }
}
