//! The apr-cookbook `ModelBundleV2` (`APR2`), as built by `src/bundle/v2.rs` of paiml/apr-cookbook.
//!
//! ```text
//! 0  "APR2"   4 version 2, 0   6 compression u8 (0 none, 1 LZ4, 2 Zstd)
//! 7  quantization label u8 (0 FP32, 1 FP16, 2 Int8, 3 Int4)
//! 8  tensor_count u32   12 index_offset u32 (64, or 160 when signed)
//! 16 payload_offset u32 20 payload_size u32 = the uncompressed payload length
//! 24 has-signature u8   25..64 zero
//! 64 optional 96-byte Ed25519 block (signature, public key) when signed
//! index, in insertion order: u32 name_len, name, u32 ndim, ndim × u64 dims,
//!        u64 offset (in the payload), u64 length, u8 dtype label
//! payload from payload_offset to the end of the file: raw, one LZ4 block with a 4-byte
//!        little-endian size prefix, or one Zstd frame
//! ```
//!
//! The bundle has no checksum, and we do not verify the signature (the property says so). The
//! dtype byte is only a label (the seed recipes store f32 bytes labelled Int8), so the element
//! type is inferred from `length / elements` (4 → F32, 2 → F16, 1 → I8) and a disagreeing
//! label becomes a warning.

use std::path::Path;

use super::compress::{self, Codec};
use super::{read_shape, Cursor, Entry, Parts, FORMAT, HEADER_BYTES};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::{Property, PropertyKey};

/// Size of the optional signature block (64-byte Ed25519 signature + 32-byte public key).
pub(crate) const SIGNATURE_BYTES: usize = 96;

/// Smallest index entry: u32 name_len, u32 ndim, u64 offset, u64 length, u8 dtype.
const MIN_ENTRY_BYTES: u64 = 25;

const LABELS: [&str; 4] = ["FP32", "FP16", "Int8", "Int4"];

/// Whether a 64-byte `APR2` header has the cookbook's shape.
pub(crate) fn looks_like(h: &[u8; HEADER_BYTES]) -> bool {
    h[6] <= 2 && h[7] <= 3 && h[24] <= 1 && h[25..].iter().all(|&b| b == 0)
}

fn u32_at(h: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

fn label(b: u8) -> &'static str {
    LABELS.get(b as usize).copied().unwrap_or("unknown")
}

/// The element type a label promises, if any.
fn label_dtype(b: u8) -> Option<DType> {
    match b {
        0 => Some(DType::F32),
        1 => Some(DType::F16),
        2 => Some(DType::I8),
        _ => None,
    }
}

pub(super) fn parse(path: &Path, file: &[u8], h: &[u8; HEADER_BYTES]) -> Result<Parts> {
    let mal = |d: String| Error::malformed(path, FORMAT, d);
    let mut warnings = Vec::new();
    let signed = h[24] == 1;
    let codec = match h[6] {
        1 => Some(Codec::Lz4),
        2 => Some(Codec::Zstd),
        _ => None,
    };
    let tensor_count = u32_at(h, 8);
    let index_offset = u32_at(h, 12) as u64;
    let payload_offset = u32_at(h, 16) as u64;
    let payload_size = u32_at(h, 20) as u64;
    let file_len = file.len() as u64;
    let properties = vec![
        Property::text(PropertyKey::Variant, "apr-cookbook bundle v2 (`APR2`)"),
        Property::text(PropertyKey::Version, format!("{}.{}", h[4], h[5])),
        Property::text(PropertyKey::Compression, codec.map_or("none", Codec::name)),
        Property::text(PropertyKey::Quantization, label(h[7])),
        Property::text(
            PropertyKey::Signature,
            if signed {
                "present (Ed25519, not verified)"
            } else {
                "absent"
            },
        ),
        Property::text(PropertyKey::Checksum, "none (the bundle has no checksum)"),
        Property::int(PropertyKey::PayloadBytes, payload_size),
        Property::int(PropertyKey::TensorCount, tensor_count),
    ];
    if (h[4], h[5]) != (2, 0) {
        warnings.push(format!("bundle version {}.{} (expected 2.0)", h[4], h[5]));
    }
    let min_index = HEADER_BYTES as u64 + if signed { SIGNATURE_BYTES as u64 } else { 0 };
    if index_offset < min_index {
        return Err(mal(format!(
            "index offset {index_offset} overlaps the header{}",
            if signed { " and signature block" } else { "" }
        )));
    }
    if index_offset != min_index {
        warnings.push(format!(
            "index starts at {index_offset}, not at {min_index} as the cookbook writes it"
        ));
    }
    if payload_offset < index_offset || payload_offset > file_len {
        return Err(mal(format!(
            "payload offset {payload_offset} is not between the index offset {index_offset} and the end of the file ({file_len} bytes; truncated file, or a corrupt offset)"
        )));
    }

    // Index.
    let index = &file[index_offset as usize..payload_offset as usize];
    let index_len = index.len() as u64;
    if u64::from(tensor_count) > index_len / MIN_ENTRY_BYTES {
        return Err(mal(format!(
            "header declares {tensor_count} tensors, but the {index_len}-byte index at offset {index_offset} holds at most {}",
            index_len / MIN_ENTRY_BYTES
        )));
    }
    let mut c = Cursor::new(index, index_offset, "tensor index");
    let mut raw = Vec::with_capacity(tensor_count as usize);
    for i in 0..tensor_count as usize {
        let name_len = c.u32(&format!("entry {i}: name length")).map_err(mal)?;
        let name = c.name(name_len.into(), i).map_err(mal)?;
        let ndim = c.u32(&format!("tensor `{name}`: ndim")).map_err(mal)?;
        let (shape, elems) = read_shape(&mut c, ndim.into(), &name).map_err(mal)?;
        let offset = c.u64(&format!("tensor `{name}`: offset")).map_err(mal)?;
        let length = c.u64(&format!("tensor `{name}`: length")).map_err(mal)?;
        let lab = c.u8(&format!("tensor `{name}`: dtype")).map_err(mal)?;
        raw.push((name, shape, elems, offset, length, lab));
    }
    if c.remaining() > 0 {
        warnings.push(format!(
            "{} bytes between the index and the payload are unused",
            c.remaining()
        ));
    }

    // Payload: the file itself, or one decompressed buffer of exactly `payload_size` bytes.
    let blob = &file[payload_offset as usize..];
    let payload = match codec {
        None => {
            if payload_size > blob.len() as u64 {
                return Err(mal(format!(
                    "payload of {payload_size} bytes at offset {payload_offset} runs past the end of the file ({file_len} bytes)"
                )));
            }
            if payload_size < blob.len() as u64 {
                warnings.push(format!(
                    "{} bytes follow the payload",
                    blob.len() as u64 - payload_size
                ));
            }
            None
        }
        Some(Codec::Lz4) => {
            let (prefix, block) = match blob {
                [a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]), rest),
                _ => {
                    return Err(mal(
                        "lz4 payload is shorter than its 4-byte size prefix".into()
                    ))
                }
            };
            if u64::from(prefix) != payload_size {
                return Err(mal(format!(
                    "lz4 size prefix says {prefix} bytes, the header says {payload_size}"
                )));
            }
            let n = compress::check_declared(Codec::Lz4, payload_size, block.len() as u64)
                .map_err(mal)?;
            Some(compress::decompress(Codec::Lz4, block, n).map_err(mal)?)
        }
        Some(Codec::Zstd) => {
            let n = compress::check_declared(Codec::Zstd, payload_size, blob.len() as u64)
                .map_err(mal)?;
            Some(compress::decompress(Codec::Zstd, blob, n).map_err(mal)?)
        }
    };

    let mut entries = Vec::with_capacity(raw.len());
    for (name, shape, elems, offset, length, lab) in raw {
        let end = offset.checked_add(length).filter(|&e| e <= payload_size);
        if end.is_none() {
            return Err(mal(format!(
                "tensor `{name}` ({length} bytes at payload offset {offset}) runs past the {payload_size}-byte payload"
            )));
        }
        let dtype = match (length.checked_div(elems), length.checked_rem(elems)) {
            // No elements: nothing to infer from, so trust the label.
            (None, _) if length == 0 => label_dtype(lab).unwrap_or(DType::F32),
            (None, _) => {
                return Err(mal(format!(
                    "tensor `{name}` has no elements but {length} bytes"
                )))
            }
            (Some(4), Some(0)) => DType::F32,
            (Some(2), Some(0)) => DType::F16,
            (Some(1), Some(0)) => DType::I8,
            _ => {
                return Err(Error::Unsupported {
                    path: path.into(),
                    detail: format!(
                        "tensor `{name}`: {length} bytes for {elems} elements match no element size (4 f32, 2 f16, 1 i8); label {}",
                        label(lab)
                    ),
                })
            }
        };
        if label_dtype(lab) != Some(dtype) && elems != 0 {
            warnings.push(format!(
                "tensor `{name}` is labelled {} but holds {} bytes per element; read as {dtype}",
                label(lab),
                length / elems
            ));
        }
        let (start, file_offset) = match payload {
            Some(_) => (offset, offset),
            None => (payload_offset + offset, payload_offset + offset),
        };
        entries.push(Entry {
            name,
            dtype,
            shape,
            file_offset,
            start: start as usize,
            len: length as usize,
        });
    }

    Ok(Parts {
        entries,
        payload,
        metadata: Vec::new(),
        properties,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookbook_header_shape() {
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"APR2");
        h[4] = 2;
        h[6] = 2;
        h[7] = 2;
        h[12] = 64;
        h[24] = 1;
        assert!(looks_like(&h));
        h[33] = 1; // an aprender data offset
        assert!(!looks_like(&h));
        h[33] = 0;
        h[6] = 3;
        assert!(!looks_like(&h));
    }
}
