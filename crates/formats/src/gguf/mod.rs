//! GGUF: ggml's single-file model format (v1, v2 and v3; little- and big-endian; sharded).
//!
//! Layout (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>): magic `GGUF`, u32
//! version, tensor count, key/value count, the key/values, the tensor infos (name, dims, type
//! id, offset), then the tensor data, starting at the next multiple of `general.alignment`
//! (u32 power of two, default 32). Counts, lengths and dimensions are u64 (u32 in v1).
//!
//! Byte order is detected as ggml and gguf-py do: a version read in host (little-endian) order
//! whose low 16 bits are zero was written big-endian. Shapes are exposed row-major, i.e. ggml's
//! `ne` reversed (`ne = [4096, 11008]` is shape `[11008, 4096]`).
//!
//! Validation follows ggml's `gguf.cpp` (magic, version, no duplicate keys or tensor names, at
//! most 4 dimensions, no negative or overflowing element counts, `ne[0]` a multiple of the block
//! size, offsets aligned and in bounds) but is tolerant where ggml is needlessly strict: tensor
//! data need not be contiguous or in order (overlaps are reported through [`Model::warnings`]),
//! names may exceed 63 bytes, arrays may nest, and type ids unknown to this build (forks use
//! ids ≥ 43) are listed as [`DType::Opaque`] sized by the distance to the next tensor. Removed
//! type ids (4, 5, 31–33, 36–38) are rejected.
//!
//! A shard `name-00001-of-00003.gguf` (keys `split.no`, `split.count`, `split.tensors.count`)
//! opens the whole model; each shard becomes one [`Storage`].

pub(crate) mod metadata;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, MetaValue, Model, Property, PropertyKey, TensorInfo};
use crate::options::OpenOptions;

use metadata::{type_name, Reader};

const FORMAT: &str = "gguf";

/// `GGUF_DEFAULT_ALIGNMENT` of ggml's `gguf.h`.
const DEFAULT_ALIGNMENT: u64 = 32;

/// `GGML_MAX_DIMS` of ggml's `ggml.h`.
const MAX_DIMS: u32 = 4;

/// Type ids ggml has removed (`ggml.h`: Q4_2 = 4, Q4_3 = 5, Q4_0_4_4/4_8/8_8 = 31–33,
/// IQ4_NL_4_4/4_8/8_8 = 36–38); files using them cannot be read by any current ggml.
fn removed_type(id: u32) -> Option<&'static str> {
    Some(match id {
        4 => "Q4_2",
        5 => "Q4_3",
        31 => "Q4_0_4_4",
        32 => "Q4_0_4_8",
        33 => "Q4_0_8_8",
        36 => "IQ4_NL_4_4",
        37 => "IQ4_NL_4_8",
        38 => "IQ4_NL_8_8",
        _ => return None,
    })
}

/// One tensor as parsed from a header, before it becomes a [`TensorInfo`].
#[derive(Debug)]
struct RawTensor {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    /// Absolute byte range in the file.
    start: usize,
    len: usize,
}

/// A parsed and validated GGUF file.
#[derive(Debug)]
struct Parsed {
    version: u32,
    order: ByteOrder,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<RawTensor>,
    warnings: Vec<String>,
}

impl Parsed {
    fn meta_uint(&self, key: &str) -> Option<u64> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| match v {
                MetaValue::UInt(u) => Some(*u),
                MetaValue::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
    }
}

/// Opens a GGUF file; the first (or any) shard of a split model opens all of its shards.
pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Model> {
    open_storage(path, Storage::map(path)?, options, Siblings::Open)
}

/// Whether the other shards of a split model are looked for next to `path`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Siblings {
    /// `path` is a file: open the other shards beside it.
    Open,
    /// The bytes came from memory: there is no directory to look in.
    None,
}

/// Opens a GGUF file already held in `storage` (`path` names it in messages).
pub(crate) fn open_storage(
    path: &Path,
    storage: Storage,
    options: &OpenOptions,
    siblings: Siblings,
) -> Result<Model> {
    let _ = options;
    let first = parse(storage.bytes()).map_err(|d| Error::malformed(path, FORMAT, d))?;
    let count = first.meta_uint("split.count").unwrap_or(1);
    let mut warnings = Vec::new();
    let mut shards = Vec::new();
    if count > 1 && siblings == Siblings::None {
        warnings.push(format!(
            "the buffer is shard {} of a model split over {count} files; only it was opened",
            first
                .meta_uint("split.no")
                .map_or(0, |n| n.saturating_add(1))
        ));
        shards.push((path.to_path_buf(), storage, first));
    } else {
        open_shards(path, storage, first, count, &mut shards, &mut warnings)?;
    }
    assemble(path, shards, warnings)
}

/// One shard: where it came from, its bytes, and what they hold.
type Shard = (PathBuf, Storage, Parsed);

/// Opens every shard of a model whose shard at `path` is already parsed.
fn open_shards(
    path: &Path,
    storage: Storage,
    first: Parsed,
    count: u64,
    shards: &mut Vec<Shard>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    match (count > 1).then(|| shard_paths(path, count)) {
        Some(Some(paths)) => {
            // Reuse the file already parsed; map and parse its siblings.
            let mut given = Some((storage, first));
            for p in paths {
                let (s, f) = match given.take_if(|_| same_file(&p, path)) {
                    Some(sf) => sf,
                    None => {
                        let s = Storage::map(&p)?;
                        let f = parse(s.bytes()).map_err(|d| Error::malformed(&p, FORMAT, d))?;
                        (s, f)
                    }
                };
                shards.push((p, s, f));
            }
        }
        Some(None) => {
            warnings.push(format!(
                "file declares split.count = {count} but its name does not follow \
                 `<name>-00001-of-{count:05}.gguf`; only this file was opened"
            ));
            shards.push((path.to_path_buf(), storage, first));
        }
        None => shards.push((path.to_path_buf(), storage, first)),
    }
    Ok(())
}

/// Builds the model from its validated shards.
fn assemble(path: &Path, shards: Vec<Shard>, mut warnings: Vec<String>) -> Result<Model> {
    let n_shards = shards.len();
    if n_shards > 1 {
        check_shards(&shards)?;
    }
    let mut tensors = Vec::new();
    let mut storages = Vec::with_capacity(n_shards);
    let mut props = Vec::new();
    let mut meta = Vec::new();
    for (i, (_p, storage, parsed)) in shards.into_iter().enumerate() {
        if i == 0 {
            props = vec![
                Property::int(PropertyKey::Version, parsed.version),
                Property::text(
                    PropertyKey::ByteOrder,
                    match parsed.order {
                        ByteOrder::Big => "big-endian",
                        _ => "little-endian",
                    },
                ),
                Property::int(PropertyKey::Alignment, parsed.alignment),
                Property::int(PropertyKey::DataOffset, parsed.data_offset),
                Property::int(PropertyKey::MetadataCount, parsed.metadata.len()),
            ];
            meta = parsed.metadata;
        }
        for w in parsed.warnings {
            warnings.push(if n_shards > 1 {
                format!("shard {}: {w}", i + 1)
            } else {
                w
            });
        }
        for t in parsed.tensors {
            tensors.push(TensorInfo::new(
                t.name,
                t.dtype,
                t.shape,
                parsed.order,
                t.start as u64,
                i,
                t.start,
                t.len,
            ));
        }
        storages.push(storage);
    }
    props.push(Property::int(PropertyKey::TensorCount, tensors.len()));
    props.push(Property::int(PropertyKey::ShardCount, n_shards));
    let mut model = Model::new(
        path.to_path_buf(),
        Format::Gguf,
        tensors,
        storages,
        meta,
        props,
    )?;
    for w in warnings {
        model.warn(w);
    }
    Ok(model)
}

/// Whether two paths name the same shard file (compared by file name within one directory).
fn same_file(a: &Path, b: &Path) -> bool {
    a.file_name() == b.file_name()
}

/// The paths of all shards of a split model, from the name of any shard
/// (`<prefix>-NNNNN-of-MMMMM.gguf`, as llama.cpp's `llama_split_path` writes them).
fn shard_paths(path: &Path, count: u64) -> Option<Vec<PathBuf>> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    if stem.len() < 15 || !stem.is_char_boundary(stem.len() - 15) {
        return None;
    }
    let (prefix, tail) = stem.split_at(stem.len() - 15);
    let b = tail.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b[0] != b'-' || &tail[6..10] != "-of-" || !digits(1..6) || !digits(10..15) {
        return None;
    }
    if tail[10..15].parse::<u64>().ok()? != count || count > 99_999 {
        return None;
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    Some(
        (1..=count)
            .map(|k| dir.join(format!("{prefix}-{k:05}-of-{count:05}.gguf")))
            .collect(),
    )
}

/// Checks that shard `k` says `split.no = k` and all agree on `split.count` and the total.
fn check_shards(shards: &[Shard]) -> Result<()> {
    let n = shards.len() as u64;
    let total: usize = shards.iter().map(|s| s.2.tensors.len()).sum();
    for (k, (p, _, parsed)) in shards.iter().enumerate() {
        let no = parsed.meta_uint("split.no");
        if no != Some(k as u64) {
            return Err(Error::malformed(
                p,
                FORMAT,
                format!("shard {} of {n} has split.no = {no:?}, expected {k}", k + 1),
            ));
        }
        let c = parsed.meta_uint("split.count");
        if c != Some(n) {
            return Err(Error::malformed(
                p,
                FORMAT,
                format!("shard {} has split.count = {c:?}, expected {n}", k + 1),
            ));
        }
        if let Some(t) = parsed.meta_uint("split.tensors.count") {
            if t != total as u64 {
                return Err(Error::malformed(
                    p,
                    FORMAT,
                    format!("split.tensors.count is {t}, but the {n} shards hold {total} tensors"),
                ));
            }
        }
    }
    Ok(())
}

/// Parses and validates one GGUF file held in `bytes`. Errors are one-line details.
fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    if bytes.len() < 8 {
        return Err(format!(
            "file is {} bytes, too short for a header (truncated file)",
            bytes.len()
        ));
    }
    if &bytes[..4] != b"GGUF" {
        return Err(format!("bad magic {:02x?}, expected \"GGUF\"", &bytes[..4]));
    }
    let raw = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let (big, version) = if raw & 0xffff == 0 {
        (true, raw.swap_bytes())
    } else {
        (false, raw)
    };
    if !(1..=3).contains(&version) {
        return Err(format!(
            "unsupported version {version} (supported: 1, 2, 3)"
        ));
    }
    let mut r = Reader::new(bytes, 8, big, version == 1);
    let n_tensors = r.count("tensor count")?;
    let n_kv = r.count("metadata count")?;
    // Smallest encodings: key/value = key length + type + 1-byte value; tensor info = name
    // length + n_dims + type + u64 offset.
    let cs = r.count_size() as u64;
    let (min_kv, min_ti) = (cs + 4 + 1, cs + 4 + 4 + 8);
    let left = r.remaining() as u64;
    if n_kv > left / min_kv {
        return Err(format!(
            "metadata count {n_kv} cannot fit in the {left} bytes after the header (truncated file, or a corrupt count)"
        ));
    }
    if n_tensors > left / min_ti {
        return Err(format!(
            "tensor count {n_tensors} cannot fit in the {left} bytes after the header (truncated file, or a corrupt count)"
        ));
    }

    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut keys = HashSet::with_capacity(n_kv as usize);
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..n_kv {
        let at = r.pos();
        let key = r.name(&format!("key {i}"))?;
        if !keys.insert(key.clone()) {
            return Err(format!("duplicate metadata key `{key}` (offset {at})"));
        }
        let ty = r.u32(&format!("type of key `{key}`"))?;
        let value = r.value(ty, &key)?;
        if key == "general.alignment" {
            alignment = match (ty, &value) {
                (4, MetaValue::UInt(a)) if *a > 0 && a.is_power_of_two() => *a,
                (4, MetaValue::UInt(a)) => {
                    return Err(format!(
                        "general.alignment is {a}, which is not a power of two"
                    ))
                }
                _ => {
                    return Err(format!(
                        "general.alignment has type {}, expected u32",
                        type_name(ty)
                    ))
                }
            };
        }
        metadata.push((key, value));
    }

    struct Info {
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        nbytes: Option<u64>,
        offset: u64,
    }
    let mut infos = Vec::with_capacity(n_tensors as usize);
    let mut names = HashSet::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let at = r.pos();
        let name = r.name(&format!("name of tensor {i}"))?;
        if !names.insert(name.clone()) {
            return Err(format!("duplicate tensor name `{name}` (offset {at})"));
        }
        let n_dims = r.u32(&format!("dimension count of tensor `{name}`"))?;
        if n_dims > MAX_DIMS {
            return Err(format!(
                "tensor `{name}` has {n_dims} dimensions, ggml allows at most {MAX_DIMS}"
            ));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = r.count(&format!("dimensions of tensor `{name}`"))?;
            if d > i64::MAX as u64 {
                return Err(format!(
                    "tensor `{name}` has negative dimension {}",
                    d as i64
                ));
            }
            ne.push(d);
        }
        let elems = ne
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| format!("tensor `{name}` element count {ne:?} overflows"))?;
        let id = r.u32(&format!("type of tensor `{name}`"))?;
        let offset = r.u64(&format!("offset of tensor `{name}`"))?;
        if let Some(old) = removed_type(id) {
            return Err(format!(
                "tensor `{name}` has type id {id} ({old}), which ggml has removed"
            ));
        }
        let (dtype, nbytes) = match DType::from_gguf_id(id) {
            Some(dtype) => {
                let be = dtype.block_elems() as u64;
                let ne0 = ne.first().copied().unwrap_or(1);
                if !ne0.is_multiple_of(be) {
                    return Err(format!(
                        "tensor `{name}` has row length {ne0}, not a multiple of the {dtype} \
                         block size {be}"
                    ));
                }
                let nbytes = dtype.storage_bytes(elems).ok_or_else(|| {
                    format!("tensor `{name}` byte size overflows ({elems} elements of {dtype})")
                })?;
                (dtype, Some(nbytes))
            }
            None => (
                DType::Opaque {
                    id,
                    block_bytes: 0,
                    block_elems: 0,
                },
                None,
            ),
        };
        if !offset.is_multiple_of(alignment) {
            return Err(format!(
                "tensor `{name}` has offset {offset}, not a multiple of the alignment {alignment}"
            ));
        }
        infos.push(Info {
            name,
            dtype,
            shape: ne.into_iter().rev().collect(),
            nbytes,
            offset,
        });
    }

    let len = bytes.len() as u64;
    let header_end = r.pos() as u64;
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or("data offset overflows")?;
    let mut starts = Vec::with_capacity(infos.len());
    for t in &infos {
        let start = data_offset.checked_add(t.offset).filter(|&s| s <= len);
        let Some(start) = start else {
            return Err(format!(
                "tensor `{}` starts at data offset {} + {}, past the end of the {len}-byte file (truncated file, or a corrupt offset)",
                t.name, data_offset, t.offset
            ));
        };
        starts.push(start);
    }
    let mut sorted: Vec<u64> = starts.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let mut tensors = Vec::with_capacity(infos.len());
    for (t, &start) in infos.into_iter().zip(&starts) {
        let nbytes = match t.nbytes {
            Some(n) => n,
            None => {
                // Unknown type: its bytes run to the next tensor (or the end of the file).
                let i = sorted.partition_point(|&s| s <= start);
                sorted.get(i).copied().unwrap_or(len) - start
            }
        };
        match start.checked_add(nbytes) {
            Some(end) if end <= len => {}
            _ => {
                return Err(format!(
                    "tensor `{}` needs {nbytes} bytes at offset {start}, file has {len} (truncated file?)",
                    t.name
                ))
            }
        }
        tensors.push(RawTensor {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            start: start as usize,
            len: nbytes as usize,
        });
    }
    let warnings = overlaps(&tensors);
    Ok(Parsed {
        version,
        order: if big {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        },
        alignment,
        data_offset,
        metadata,
        tensors,
        warnings,
    })
}

/// Warnings for tensors whose bytes overlap (ggml rejects these; they can still be read).
fn overlaps(tensors: &[RawTensor]) -> Vec<String> {
    let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].len > 0).collect();
    order.sort_by_key(|&i| tensors[i].start);
    let mut warnings = Vec::new();
    let mut reach: Option<usize> = None; // index of the tensor reaching furthest so far
    for &i in &order {
        if let Some(j) = reach {
            let (a, b) = (&tensors[j], &tensors[i]);
            if a.start + a.len > b.start {
                warnings.push(format!(
                    "tensor data of `{}` (bytes {}..{}) overlaps `{}` (bytes {}..{})",
                    a.name,
                    a.start,
                    a.start + a.len,
                    b.name,
                    b.start,
                    b.start + b.len
                ));
            }
        }
        if reach
            .is_none_or(|j| tensors[i].start + tensors[i].len > tensors[j].start + tensors[j].len)
        {
            reach = Some(i);
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        let p = Path::new("/m/model-00002-of-00003.gguf");
        let v = shard_paths(p, 3).unwrap();
        assert_eq!(v[0], Path::new("/m/model-00001-of-00003.gguf"));
        assert_eq!(v[2], Path::new("/m/model-00003-of-00003.gguf"));
        assert!(shard_paths(p, 4).is_none());
        assert!(shard_paths(Path::new("model.gguf"), 3).is_none());
        assert!(shard_paths(Path::new("é-0000x-of-00003.gguf"), 3).is_none());
    }

    #[test]
    fn short_and_bad_headers() {
        assert!(parse(b"GGU").unwrap_err().contains("too short"));
        assert!(parse(b"GGML\x03\0\0\0").unwrap_err().contains("bad magic"));
        assert!(parse(b"GGUF\x09\0\0\0").unwrap_err().contains("version 9"));
        assert!(parse(b"GGUF\x03\0\0\0")
            .unwrap_err()
            .contains("tensor count"));
    }
}
