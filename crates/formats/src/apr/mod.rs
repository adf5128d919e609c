//! APR model files: aprender's v2 container (`APR\0`, and its older `APR2` spelling) and the
//! apr-cookbook `ModelBundleV2` (also `APR2`).
//!
//! # Variants and how they are told apart
//!
//! - `APR\0`: aprender APR v2 ([`aprender`]). 64-byte header with a CRC32 over its other 60
//!   bytes, JSON metadata, a name-sorted binary index, 64-byte aligned tensor data, and usually a
//!   CRC32 footer over everything before it.
//! - `APR2` whose header CRC32 (bytes 40..44 over bytes 0..40 and 44..64) holds: the same
//!   aprender layout from before the magic became `APR\0`, with legacy dtype ids (BF16 = 2,
//!   Q4 = 8, Q8 = 9).
//! - `APR2` otherwise, with the cookbook header shape (a compression byte ≤ 2, a quantization
//!   label ≤ 3, a signature byte ≤ 1, bytes 25..64 zero): the cookbook bundle ([`cookbook`]).
//!   An aprender header can never look like this, because its data offset (bytes 32..40) is at
//!   least 64.
//! - `APRN`: APR v1 (MessagePack metadata and a bincode payload) holds no tensor index, so it is
//!   refused with [`Error::Unsupported`].
//!
//! # Memory
//!
//! Uncompressed files are memory-mapped and tensors are zero-copy views into the map. A
//! compressed payload is decompressed once, into a buffer of exactly its declared size (bounded
//! as [`compress`] documents), and the map is released; nothing else is copied.

pub(crate) mod aprender;
pub(crate) mod compress;
pub(crate) mod cookbook;

use std::path::Path;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, MetaValue, Model, Property, TensorInfo};
use crate::options::OpenOptions;

const FORMAT: &str = "apr";

/// Size of every APR v2 header, aprender and cookbook alike.
pub(crate) const HEADER_BYTES: usize = 64;

/// Most dimensions accepted for one tensor: aprender's `TensorIndexEntry::to_bytes` writes at
/// most 8, and no cookbook model comes near.
pub(crate) const MAX_NDIM: usize = 8;

/// A tensor found while parsing, located in the model's single storage.
struct Entry {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    /// Offset shown to users: in the file, or in the decompressed payload.
    file_offset: u64,
    start: usize,
    len: usize,
}

/// What a parser hands back: tensors located in either the file itself or a decompressed
/// payload.
struct Parts {
    entries: Vec<Entry>,
    /// `Some` when the tensors live in a decompressed payload rather than in the file.
    payload: Option<Vec<u8>>,
    metadata: Vec<(String, MetaValue)>,
    properties: Vec<Property>,
    warnings: Vec<String>,
}

/// Opens an APR file of any supported variant.
pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Model> {
    open_storage(path, Storage::map(path)?, options)
}

/// Opens an APR file already held in `file` (`path` names it in messages).
pub(crate) fn open_storage(path: &Path, file: Storage, options: &OpenOptions) -> Result<Model> {
    let parts = parse(path, file.bytes(), options)?;
    let storage = match parts.payload {
        // The map is dropped here: only the decompressed copy stays alive.
        Some(payload) => Storage::Owned(payload),
        None => file,
    };
    let tensors = parts
        .entries
        .into_iter()
        .map(|e| {
            TensorInfo::new(
                e.name,
                e.dtype,
                e.shape,
                ByteOrder::Little,
                e.file_offset,
                0,
                e.start,
                e.len,
            )
        })
        .collect();
    let mut model = Model::new(
        path.into(),
        Format::Apr,
        tensors,
        vec![storage],
        parts.metadata,
        parts.properties,
    )?;
    for w in parts.warnings {
        model.warn(w);
    }
    Ok(model)
}

fn parse(path: &Path, file: &[u8], options: &OpenOptions) -> Result<Parts> {
    let magic = file.get(..4).unwrap_or(file);
    match magic {
        b"APRN" => Err(Error::Unsupported {
            path: path.into(),
            detail: "APR v1 (`APRN`: MessagePack metadata and a bincode payload) is not a tensor container; re-save the model as APR v2".into(),
        }),
        b"APR\0" => {
            let header = header(path, file)?;
            aprender::parse(path, file, header, aprender::Ids::V2, options)
        }
        b"APR2" => {
            let header = header(path, file)?;
            let (stored, computed) = aprender::header_crc(header);
            if stored == computed {
                aprender::parse(path, file, header, aprender::Ids::Legacy, options)
            } else if cookbook::looks_like(header) {
                cookbook::parse(path, file, header)
            } else if !options.verify_checksums {
                let mut parts =
                    aprender::parse(path, file, header, aprender::Ids::Legacy, options)?;
                parts.warnings.push(format!(
                    "`APR2` header is neither a cookbook bundle nor an aprender header with a valid crc32 (stored {stored:#010x}, computed {computed:#010x}); read as the aprender layout because checksums are not verified"
                ));
                Ok(parts)
            } else {
                Err(Error::malformed(
                    path,
                    FORMAT,
                    format!(
                        "`APR2` header matches neither layout: not an aprender header (crc32 stored {stored:#010x}, computed {computed:#010x}) nor a cookbook bundle header (bytes 6, 7, 24 out of range or bytes 25..64 not zero)"
                    ),
                ))
            }
        }
        _ => Err(Error::UnknownFormat {
            path: path.into(),
            detail: "not an APR magic (`APR\\0`, `APR2`, `APRN`)".into(),
        }),
    }
}

fn header<'a>(path: &Path, file: &'a [u8]) -> Result<&'a [u8; HEADER_BYTES]> {
    file.get(..HEADER_BYTES)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            Error::malformed(
                path,
                FORMAT,
                format!(
                    "file is {} bytes, shorter than the {HEADER_BYTES}-byte header (truncated file)",
                    file.len()
                ),
            )
        })
}

/// Reads little-endian fields from a bounded region, reporting absolute offsets in errors.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset (in the file or logical image) of `buf[0]`.
    base: u64,
    /// What the region is, for messages (`tensor index`).
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], base: u64, what: &'static str) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn take(&mut self, n: u64, field: &str) -> Result<&'a [u8], String> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                let s = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(format!(
                "{field} ({n} bytes at offset {}) runs past the end of the {} (offset {})",
                self.offset(),
                self.what,
                self.base + self.buf.len() as u64
            )),
        }
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], String> {
        let s = self.take(N as u64, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, field: &str) -> Result<u8, String> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, String> {
        self.array(field).map(u16::from_le_bytes)
    }

    fn u32(&mut self, field: &str) -> Result<u32, String> {
        self.array(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &str) -> Result<u64, String> {
        self.array(field).map(u64::from_le_bytes)
    }

    fn name(&mut self, len: u64, i: usize) -> Result<String, String> {
        let at = self.offset();
        let bytes = self.take(len, &format!("entry {i}: name"))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("entry {i}: tensor name at offset {at} is not valid UTF-8"))
    }
}

/// Reads `ndim` u64 dimensions and returns them with their product (checked).
fn read_shape(c: &mut Cursor<'_>, ndim: u64, name: &str) -> Result<(Vec<u64>, u64), String> {
    if ndim > MAX_NDIM as u64 {
        return Err(format!(
            "tensor `{name}` has {ndim} dimensions, more than the {MAX_NDIM} APR writers produce"
        ));
    }
    let mut shape = Vec::with_capacity(ndim as usize);
    let mut elems = 1u64;
    for _ in 0..ndim {
        let d = c.u64(&format!("tensor `{name}`: dimension"))?;
        elems = elems.checked_mul(d).ok_or_else(|| {
            format!("tensor `{name}`: element count of shape {shape:?}×{d} overflows")
        })?;
        shape.push(d);
    }
    Ok((shape, elems))
}

/// Metadata pairs from a JSON document: one pair per top-level key of an object.
fn json_metadata(value: serde_json::Value) -> Vec<(String, MetaValue)> {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, MetaValue::Json(v)))
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("metadata".into(), MetaValue::Json(other))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reports_offsets_and_never_overruns() {
        let buf = [1u8, 0, 2, 0, 0, 0];
        let mut c = Cursor::new(&buf, 100, "tensor index");
        assert_eq!(c.u16("a").unwrap(), 1);
        assert_eq!(c.u32("b").unwrap(), 2);
        let e = c.u8("c").unwrap_err();
        assert!(e.contains("offset 106"), "{e}");
        assert!(c.take(u64::MAX, "huge").is_err());
    }
}
