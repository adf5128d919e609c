//! aprender's APR v2 container (`APR\0`, and `APR2` before GH-438 renamed the magic).
//!
//! Layout (aprender `crates/aprender-core/src/format/v2/{mod.rs, header_impl.rs,
//! tensor_index_impl.rs, writer.rs}`), all little-endian:
//!
//! ```text
//! 0   magic           4   version u8.u8     6  flags u16
//! 8   tensor_count u32                      12 metadata_offset u64
//! 20  metadata_size u32                     24 tensor_index_offset u64
//! 32  data_offset u64                       40 header crc32 over bytes 0..40 ++ 44..64
//! 44  reserved (zero) to 64
//! JSON metadata, padded to 64 bytes
//! index, sorted by name: u16 name_len, name, u8 dtype, u8 ndim, ndim × u64 dims
//!        (outermost first, as given to the writer), u64 offset (from data_offset), u64 size
//! tensor data, each tensor starting 64-byte aligned and padded to 64 bytes
//! optional crc32 footer over every preceding byte (some real files have none)
//! ```
//!
//! aprender's writer sets the LZ4 flag without compressing anything, and no aprender reader
//! decompresses. When a compression flag is set and the byte after the header is not the start
//! of the JSON metadata, we read everything after the header as one compressed blob (LZ4: a
//! 4-byte little-endian size then one raw block; Zstd: one frame, with its content size or, as
//! apr-format's `zstd::encode_all` writes it, without, then bounded by the sizes the header and
//! index declare), and header offsets then address the image `header ++ decompressed`.

use std::ops::Range;
use std::path::Path;

use super::compress::{self, Codec};
use super::{json_metadata, read_shape, Cursor, Entry, Parts, FORMAT, HEADER_BYTES};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::{Property, PropertyKey};
use crate::options::OpenOptions;

/// Flag: payload compressed with LZ4 (`AprV2Flags::LZ4_COMPRESSED`).
pub(crate) const FLAG_LZ4: u16 = 0x0001;
/// Flag: payload compressed with Zstd (`AprV2Flags::ZSTD_COMPRESSED`).
pub(crate) const FLAG_ZSTD: u16 = 0x0002;
/// Flag: payload encrypted (`AprV2Flags::ENCRYPTED`); refused.
pub(crate) const FLAG_ENCRYPTED: u16 = 0x0004;
/// Flag: tensors are column-major (`AprV2Flags::LAYOUT_COLUMN_MAJOR`); aprender refuses such
/// "dirty" files, and so do we.
pub(crate) const FLAG_COLUMN_MAJOR: u16 = 0x0800;

/// Names of all flag bits, for the `flags` property.
const FLAG_NAMES: [(u16, &str); 12] = [
    (0x0001, "lz4"),
    (0x0002, "zstd"),
    (0x0004, "encrypted"),
    (0x0008, "signed"),
    (0x0010, "sharded"),
    (0x0020, "quantized"),
    (0x0040, "filterbank"),
    (0x0080, "model-card"),
    (0x0100, "streaming"),
    (0x0200, "vocab"),
    // `AprV2Flags::LAYOUT_ROW_MAJOR` (LAYOUT-002): the default, nothing to do.
    (0x0400, "row-major"),
    (0x0800, "column-major"),
];

/// Smallest index entry: u16 name_len, u8 dtype, u8 ndim, u64 offset, u64 size
/// (`MIN_INDEX_ENTRY_BYTES` in apr-format).
const MIN_ENTRY_BYTES: u64 = 20;

/// Largest JSON metadata section accepted (256 MiB). aprender's `MAX_METADATA_SIZE` is 16 MiB
/// but its reader does not enforce it; we allow tokenizer-heavy metadata while bounding the
/// JSON parser's work.
pub(crate) const MAX_METADATA_BYTES: u64 = 256 << 20;

/// Tensor data alignment (`ALIGNMENT`).
const ALIGN: u64 = 64;

/// Which dtype id table applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ids {
    /// `APR\0` (GH-438 ids: BF16 = 30, APR_Q4 = 128, APR_Q8 = 129; legacy 8/9 still accepted).
    V2,
    /// `APR2` aprender files (BF16 = 2, Q4 = 8, Q8 = 9).
    Legacy,
}

/// The stored and the computed header CRC32.
pub(crate) fn header_crc(h: &[u8; HEADER_BYTES]) -> (u32, u32) {
    let stored = u32::from_le_bytes([h[40], h[41], h[42], h[43]]);
    let mut c = crc32fast::Hasher::new();
    c.update(&h[..40]);
    c.update(&h[44..]);
    (stored, c.finalize())
}

/// The dtype of a Q4_K / Q6_K tensor, stored as raw ggml blocks: APR reuses ggml's type ids
/// (12 = Q4_K, 14 = Q6_K), so these decode with the GGUF dequantizers.
fn ggml_block_dtype(id: u8) -> Option<DType> {
    match id {
        12 | 14 => DType::from_gguf_id(id as u32),
        _ => None,
    }
}

/// `TensorDType::from_u8` of aprender, per id table.
fn dtype_of(ids: Ids, id: u8) -> Option<DType> {
    Some(match (ids, id) {
        (_, 0) => DType::F32,
        (_, 1) => DType::F16,
        (Ids::V2, 30) | (Ids::Legacy, 2) => DType::BF16,
        (_, 3) => DType::F64,
        (_, 4) => DType::I32,
        (_, 5) => DType::I64,
        (_, 6) => DType::I8,
        (_, 7) => DType::U8,
        (Ids::V2, 128) | (_, 8) => DType::AprQ4,
        (Ids::V2, 129) | (_, 9) => DType::AprQ8,
        (_, 12 | 14) => return ggml_block_dtype(id),
        _ => return None,
    })
}

fn u64_at(h: &[u8; HEADER_BYTES], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(h: &[u8; HEADER_BYTES], at: usize) -> u32 {
    u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

/// The logical image the header's offsets address: the file, or `header ++ decompressed`.
struct Image<'a> {
    body: &'a [u8],
    /// Logical offset of `body[0]` (0, or 64 after decompression).
    base: u64,
}

impl Image<'_> {
    fn len(&self) -> u64 {
        self.base + self.body.len() as u64
    }

    /// The body range of logical bytes `off..off + len`, if they lie in the body.
    fn range(&self, off: u64, len: u64, what: &str) -> Result<Range<usize>, String> {
        let end = off.checked_add(len);
        match end {
            Some(end) if off >= self.base && end <= self.len() => {
                Ok((off - self.base) as usize..(end - self.base) as usize)
            }
            _ => Err(format!(
                "{what} ({len} bytes at offset {off}) is outside the {} bytes of {}",
                self.len(),
                if self.base == 0 {
                    "the file (truncated file, or a corrupt offset)"
                } else {
                    "the decompressed image"
                }
            )),
        }
    }
}

pub(super) fn parse(
    path: &Path,
    file: &[u8],
    h: &[u8; HEADER_BYTES],
    ids: Ids,
    options: &OpenOptions,
) -> Result<Parts> {
    let mal = |d: String| Error::malformed(path, FORMAT, d);
    let mut props: Vec<Property> = Vec::new();
    let mut warnings = Vec::new();
    let variant = match ids {
        Ids::V2 => "aprender v2 (`APR\\0`)",
        Ids::Legacy => "aprender v2, legacy `APR2` magic and dtype ids",
    };
    props.push(Property::text(PropertyKey::Variant, variant));
    props.push(Property::text(
        PropertyKey::Version,
        format!("{}.{}", h[4], h[5]),
    ));

    let (stored, computed) = header_crc(h);
    if !options.verify_checksums {
        props.push(Property::text(PropertyKey::HeaderCrc32, "not verified"));
    } else if stored != computed {
        return Err(Error::Checksum {
            path: path.into(),
            what: "apr header crc32",
            stored,
            computed,
        });
    } else {
        props.push(Property::text(PropertyKey::HeaderCrc32, "ok"));
    }
    if h[4] != 2 {
        warnings.push(format!("APR version {}.{} (expected 2.x)", h[4], h[5]));
    }
    if h[44..].iter().any(|&b| b != 0) {
        warnings.push("reserved header bytes 44..64 are not zero".into());
    }

    let flags = u16::from_le_bytes([h[6], h[7]]);
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    props.push(Property::text(
        PropertyKey::Flags,
        format!("{flags:#06x} [{}]", names.join(", ")),
    ));
    if flags & FLAG_COLUMN_MAJOR != 0 {
        return Err(Error::Unsupported {
            path: path.into(),
            detail: format!("APR flags {flags:#06x} mark the tensors column-major (0x0800, LAYOUT-002); aprender refuses such files and so does modeldiff"),
        });
    }
    if flags & FLAG_ENCRYPTED != 0 {
        return Err(Error::Unsupported {
            path: path.into(),
            detail: "APR payload is encrypted (flag 0x0004)".into(),
        });
    }
    let codec = match (flags & FLAG_LZ4 != 0, flags & FLAG_ZSTD != 0) {
        (false, false) => None,
        (true, false) => Some(Codec::Lz4),
        (false, true) => Some(Codec::Zstd),
        (true, true) => return Err(mal(format!("flags {flags:#06x} ask for both lz4 and zstd"))),
    };

    let tensor_count = u32_at(h, 8);
    let metadata_offset = u64_at(h, 12);
    let metadata_size = u32_at(h, 20) as u64;
    let index_offset = u64_at(h, 24);
    let data_offset = u64_at(h, 32);
    for (what, off) in [
        ("metadata offset", metadata_offset),
        ("tensor index offset", index_offset),
        ("data offset", data_offset),
    ] {
        if off < HEADER_BYTES as u64 {
            return Err(mal(format!("{what} {off} points into the 64-byte header")));
        }
    }

    // Decompress when asked to, unless the JSON metadata is plainly there uncompressed.
    let plain = file.get(HEADER_BYTES) == Some(&b'{') && metadata_offset == HEADER_BYTES as u64;
    let payload = match codec {
        None => {
            props.push(Property::text(PropertyKey::Compression, "none"));
            None
        }
        Some(c) if plain => {
            props.push(Property::text(PropertyKey::Compression, "none"));
            warnings.push(format!(
                "{} flag is set but the payload is stored uncompressed (as aprender's writer does)",
                c.name()
            ));
            None
        }
        Some(c) => {
            props.push(Property::text(PropertyKey::Compression, c.name()));
            let layout = Layout {
                tensor_count,
                metadata_end: metadata_offset.saturating_add(metadata_size),
                index_offset,
                data_offset,
            };
            Some(decompress(&file[HEADER_BYTES..], c, &layout).map_err(mal)?)
        }
    };
    let image = match &payload {
        Some(p) => Image {
            body: p,
            base: HEADER_BYTES as u64,
        },
        None => Image {
            body: file,
            base: 0,
        },
    };

    // Metadata.
    if metadata_size > MAX_METADATA_BYTES {
        return Err(mal(format!(
            "metadata of {metadata_size} bytes is above the limit of {MAX_METADATA_BYTES}"
        )));
    }
    let mrange = image
        .range(metadata_offset, metadata_size, "metadata")
        .map_err(mal)?;
    let metadata = if metadata_size == 0 {
        Vec::new()
    } else {
        let v: serde_json::Value = serde_json::from_slice(&image.body[mrange])
            .map_err(|e| mal(format!("metadata is not valid JSON ({e})")))?;
        json_metadata(v)
    };

    // Index.
    let index_end = if data_offset > index_offset {
        data_offset.min(image.len())
    } else {
        image.len()
    };
    let irange = image
        .range(
            index_offset,
            index_end.saturating_sub(index_offset),
            "tensor index",
        )
        .map_err(mal)?;
    let index_len = irange.len() as u64;
    if u64::from(tensor_count) > index_len / MIN_ENTRY_BYTES {
        return Err(mal(format!(
            "header declares {tensor_count} tensors, but the {index_len}-byte index at offset {index_offset} holds at most {} (truncated file, or a corrupt count)",
            index_len / MIN_ENTRY_BYTES
        )));
    }
    if data_offset > image.len() {
        return Err(mal(format!(
            "data offset {data_offset} is past the end ({} bytes)",
            image.len()
        )));
    }
    let mut c = Cursor::new(&image.body[irange], index_offset, "tensor index");
    let mut entries: Vec<Entry> = Vec::with_capacity(tensor_count as usize);
    let (mut unpadded_end, mut padded_end) = (data_offset, data_offset);
    let mut misaligned = 0usize;
    for i in 0..tensor_count as usize {
        let name_len = c.u16(&format!("entry {i}: name length")).map_err(mal)?;
        let name = c.name(name_len.into(), i).map_err(mal)?;
        let id = c.u8(&format!("tensor `{name}`: dtype")).map_err(mal)?;
        let ndim = c.u8(&format!("tensor `{name}`: ndim")).map_err(mal)?;
        let (shape, elems) = read_shape(&mut c, ndim.into(), &name).map_err(mal)?;
        let offset = c.u64(&format!("tensor `{name}`: offset")).map_err(mal)?;
        let size = c.u64(&format!("tensor `{name}`: size")).map_err(mal)?;
        if let Some(prev) = entries.last() {
            if prev.name == name {
                return Err(mal(format!("duplicate tensor name `{name}` in the index")));
            }
            if name < prev.name {
                return Err(mal(format!(
                    "tensor index is not sorted by name: `{name}` follows `{}`",
                    prev.name
                )));
            }
        }
        let dtype = dtype_of(ids, id).ok_or_else(|| Error::Unsupported {
            path: path.into(),
            detail: format!("tensor `{name}` has APR dtype id {id}, which modeldiff does not know"),
        })?;
        match dtype.storage_bytes(elems) {
            Some(need) if need == size => {}
            need => {
                return Err(mal(format!(
                "tensor `{name}` ({dtype}, shape {shape:?}) needs {} bytes, the index says {size}",
                need.map_or_else(|| "an impossible number of".into(), |n| n.to_string())
            )))
            }
        }
        let abs = data_offset.checked_add(offset);
        let range = abs
            .ok_or_else(|| format!("tensor `{name}`: offset {offset} overflows"))
            .and_then(|abs| image.range(abs, size, &format!("tensor `{name}`")))
            .map_err(mal)?;
        let abs = abs.unwrap_or_default();
        let end = abs + size;
        unpadded_end = unpadded_end.max(end);
        padded_end = padded_end.max(end.checked_next_multiple_of(ALIGN).unwrap_or(u64::MAX));
        if abs % ALIGN != 0 {
            misaligned += 1;
        }
        entries.push(Entry {
            name,
            dtype,
            shape,
            file_offset: if payload.is_some() {
                range.start as u64
            } else {
                abs
            },
            start: range.start,
            len: range.len(),
        });
    }
    if misaligned > 0 {
        warnings.push(format!(
            "{misaligned} tensor(s) do not start on a 64-byte boundary"
        ));
    }

    // Footer.
    let footer = footer(h, &image, unpadded_end, padded_end, options, &mut warnings).map_err(
        |(stored, computed)| Error::Checksum {
            path: path.into(),
            what: "apr footer crc32",
            stored,
            computed,
        },
    )?;
    props.push(Property::text(PropertyKey::FooterCrc32, footer));
    props.push(Property::int(PropertyKey::TensorCount, tensor_count));

    Ok(Parts {
        entries,
        payload,
        metadata,
        properties: props,
        warnings,
    })
}

/// The header fields that bound a compressed payload whose size is not declared.
struct Layout {
    tensor_count: u32,
    /// Logical end of the JSON metadata.
    metadata_end: u64,
    index_offset: u64,
    data_offset: u64,
}

fn decompress(blob: &[u8], codec: Codec, layout: &Layout) -> Result<Vec<u8>, String> {
    match codec {
        Codec::Lz4 => {
            let (size, block) = match blob {
                [a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]), rest),
                _ => return Err("lz4 payload is shorter than its 4-byte size prefix".into()),
            };
            let n = compress::check_declared(codec, size.into(), block.len() as u64)?;
            compress::decompress(codec, block, n)
        }
        Codec::Zstd => match zstd::zstd_safe::get_frame_content_size(blob) {
            Ok(Some(size)) => {
                let n = compress::check_declared(codec, size, blob.len() as u64)?;
                compress::decompress(codec, blob, n)
            }
            Ok(None) => zstd_undeclared(blob, layout),
            Err(_) => Err("payload after the header is not a zstd frame".into()),
        },
    }
}

/// Decodes a Zstd frame that does not declare its content size (apr-format's
/// `zstd::encode_all` writes such frames) in two bounded stages: first the metadata and index,
/// whose extent the header declares, then the tensor data up to the end the index declares
/// (padded to 64 bytes, plus a 4-byte footer). Output past that end is an error, and every
/// stage's size is checked against the cap and the codec's maximum expansion first.
fn zstd_undeclared(blob: &[u8], layout: &Layout) -> Result<Vec<u8>, String> {
    let codec = Codec::Zstd;
    let base = HEADER_BYTES as u64;
    let prefix_end = layout.metadata_end.max(layout.data_offset);
    let prefix = compress::check_declared(codec, prefix_end - base, blob.len() as u64)?;
    let mut stream = compress::ZstdStream::new(blob)?;
    stream.fill_to(prefix)?;
    let data_end = declared_data_end(stream.decoded(), layout);
    let total = data_end
        .checked_next_multiple_of(ALIGN)
        .and_then(|e| e.checked_add(4))
        .ok_or_else(|| "tensor data end overflows".to_string())?
        .max(prefix_end);
    let total = compress::check_declared(codec, total - base, blob.len() as u64)?;
    stream.finish(total)
}

/// The logical end of the tensor data the index declares (the largest `data_offset + offset +
/// size`), read leniently from the decoded index: a malformed entry ends the scan, and the full
/// parse that follows reports it.
fn declared_data_end(decoded: &[u8], layout: &Layout) -> u64 {
    let base = HEADER_BYTES as u64;
    let start = layout.index_offset.saturating_sub(base);
    let end = if layout.data_offset > layout.index_offset {
        layout.data_offset - base
    } else {
        decoded.len() as u64
    };
    let (start, end) = (
        start.min(decoded.len() as u64),
        end.min(decoded.len() as u64),
    );
    let mut c = Cursor::new(
        &decoded[start as usize..end.max(start) as usize],
        layout.index_offset,
        "tensor index",
    );
    let mut data_end = layout.data_offset;
    for _ in 0..layout.tensor_count {
        let entry = (|| -> Result<u64, String> {
            let name_len = c.u16("name length")?;
            c.take(name_len.into(), "name")?;
            c.u8("dtype")?;
            let ndim = c.u8("ndim")?;
            c.take(u64::from(ndim) * 8, "dims")?;
            let offset = c.u64("offset")?;
            let size = c.u64("size")?;
            layout
                .data_offset
                .checked_add(offset)
                .and_then(|e| e.checked_add(size))
                .ok_or_else(|| "overflow".to_string())
        })();
        match entry {
            Ok(e) => data_end = data_end.max(e),
            Err(_) => break,
        }
    }
    data_end
}

/// Finds and checks the optional CRC32 footer; `Err((stored, computed))` on a mismatch.
fn footer(
    h: &[u8; HEADER_BYTES],
    image: &Image<'_>,
    unpadded_end: u64,
    padded_end: u64,
    options: &OpenOptions,
    warnings: &mut Vec<String>,
) -> Result<&'static str, (u32, u32)> {
    let len = image.len();
    let expected = len == padded_end.saturating_add(4);
    if len < unpadded_end.saturating_add(4) {
        // The file ends with the tensor data (some real files have no footer).
        return Ok("absent");
    }
    if !options.verify_checksums {
        return Ok(if expected {
            "present, not verified"
        } else {
            "not verified"
        });
    }
    let body_end = (len - 4 - image.base) as usize;
    let tail = &image.body[body_end..];
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let mut c = crc32fast::Hasher::new();
    if image.base > 0 {
        c.update(h);
    }
    c.update(&image.body[..body_end]);
    let computed = c.finalize();
    if stored == computed {
        Ok("ok")
    } else if expected {
        Err((stored, computed))
    } else if len <= padded_end {
        // Padding after the last tensor, and no footer.
        Ok("absent")
    } else {
        warnings.push(format!(
            "{} bytes follow the tensor data and are not a crc32 footer",
            len - padded_end
        ));
        Ok("absent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_tables() {
        assert_eq!(dtype_of(Ids::V2, 30), Some(DType::BF16));
        assert_eq!(dtype_of(Ids::V2, 2), None);
        assert_eq!(dtype_of(Ids::Legacy, 2), Some(DType::BF16));
        assert_eq!(dtype_of(Ids::Legacy, 30), None);
        assert_eq!(dtype_of(Ids::V2, 128), Some(DType::AprQ4));
        assert_eq!(dtype_of(Ids::V2, 8), Some(DType::AprQ4));
        assert_eq!(dtype_of(Ids::Legacy, 9), Some(DType::AprQ8));
        assert_eq!(dtype_of(Ids::Legacy, 129), None);
        assert_eq!(dtype_of(Ids::V2, 12).unwrap().storage_bytes(512), Some(288));
        assert_eq!(dtype_of(Ids::V2, 14).unwrap().storage_bytes(256), Some(210));
        assert_eq!(dtype_of(Ids::V2, 13), None);
    }

    #[test]
    fn header_crc_matches_zlib_crc32() {
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"APR\0");
        let (_, c) = header_crc(&h);
        let mut data = h[..40].to_vec();
        data.extend_from_slice(&h[44..]);
        assert_eq!(c, crc32fast::hash(&data));
        // CRC-32/ISO-HDLC check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    }
}
