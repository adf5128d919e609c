//! SafeTensors: single files, and sharded checkpoints described by a `*.safetensors.index.json`
//! (the same index logic opens `pytorch_model.bin.index.json`, whose shards are PyTorch files).
//!
//! A file's header is read in one typed pass (`header.rs`) that applies the `safetensors`
//! crate's rules (header length bound of 100 MB, UTF-8 JSON, offsets contiguous from zero with
//! no gaps or overlaps, byte sizes equal to shape × dtype size, the data section exactly
//! covered) and declines duplicate names. It never reports an error itself: a header it does not
//! accept goes through the crate's `SafeTensors::read_metadata` and our duplicate check again,
//! which give the messages (`parse_slow`), and `fast_path_disagreement` holds the two paths to
//! the same answers for tests and the fuzzer. Shard indexes are validated here: every shard
//! path stays inside the index's directory, and every indexed tensor exists in its shard.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use ::safetensors::tensor::{Dtype, SafeTensorError, SafeTensors};

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, MetaValue, Model, Property, PropertyKey, TensorInfo};

mod header;
#[cfg(test)]
mod tests;

const FORMAT: &str = "safetensors";

/// Largest shard index accepted (`*.safetensors.index.json`); real ones are well under 1 MB.
const MAX_INDEX_BYTES: u64 = 64 << 20;

fn dtype_of(path: &Path, name: &str, d: Dtype) -> Result<DType> {
    Ok(match d {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::F8_E5M2 => DType::F8E5M2,
        Dtype::F8_E4M3 => DType::F8E4M3,
        Dtype::I16 => DType::I16,
        Dtype::U16 => DType::U16,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::U64 => DType::U64,
        other => {
            return Err(Error::Unsupported {
                path: path.into(),
                detail: format!(
                    "tensor `{name}` has dtype {other:?}, which modeldiff cannot decode"
                ),
            })
        }
    })
}

/// A parsed file: its tensors, its `__metadata__`, and the header length.
type Parsed = (Vec<TensorInfo>, Option<HashMap<String, String>>, usize);

/// A file that ends before its header or its declared tensor data: `Some("truncated: …")`.
///
/// The `safetensors` crate reports these as "invalid header length" or "incomplete metadata";
/// a user needs to hear that the file is cut short (an interrupted download or copy).
fn truncation(bytes: &[u8]) -> Option<String> {
    let len = bytes.len() as u64;
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header_end = 8u64.checked_add(n);
    if header_end.is_none_or(|end| end > len) {
        return Some(format!(
            "truncated: the header of {n} bytes runs past the end of the file ({len} bytes)"
        ));
    }
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n as usize]).ok()?;
    let data_end = header
        .as_object()?
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()?;
    let need = (8 + n).checked_add(data_end);
    need.is_none_or(|need| need > len).then(|| {
        format!(
            "truncated: tensor data ends at byte {}, the file has {len} bytes",
            need.map_or_else(|| "past 2^64".to_string(), |x| x.to_string())
        )
    })
}

/// Parses and validates one SafeTensors file held in `storages[storage]`: in one pass when the
/// header is acceptable (`header.rs`), else through `parse_slow`, which names what is wrong.
fn parse(path: &Path, bytes: &[u8], storage: usize) -> Result<Parsed> {
    match header::parse(bytes, storage) {
        Ok(parsed) => Ok(parsed),
        Err(_) => parse_slow(path, bytes, storage),
    }
}

/// What [`parse`] did before the fast path, and still does for every header the fast path
/// declines: our duplicate check, then the `safetensors` crate, then our messages for its errors.
fn parse_slow(path: &Path, bytes: &[u8], storage: usize) -> Result<Parsed> {
    if let Some(name) = duplicate_name(bytes) {
        return Err(Error::malformed(
            path,
            FORMAT,
            format!("tensor name `{name}` appears twice in the header"),
        ));
    }
    // A file cut short fails in the crate too, with a vaguer message; asking first also keeps
    // offsets near 2^64 away from the crate's unchecked `offset + 8 + n` (a panic in builds
    // with overflow checks).
    if let Some(detail) = truncation(bytes) {
        return Err(Error::malformed(path, FORMAT, detail));
    }
    let (n, md) = SafeTensors::read_metadata(bytes).map_err(|e| {
        let detail = truncation(bytes).unwrap_or_else(|| explain(bytes, e));
        Error::malformed(path, FORMAT, detail)
    })?;
    let data_start = 8 + n;
    let mut tensors = Vec::new();
    for name in md.offset_keys() {
        let info = md.info(&name).expect("offset_keys lists known tensors");
        let dtype = dtype_of(path, &name, info.dtype)?;
        let (s, e) = info.data_offsets;
        let shape = info.shape.iter().map(|&d| d as u64).collect();
        // `read_metadata` proved data_start + e == bytes.len() for the last tensor and that
        // offsets are contiguous, so every range is in bounds.
        tensors.push(TensorInfo::new(
            name,
            dtype,
            shape,
            ByteOrder::Little,
            (data_start + s) as u64,
            storage,
            data_start + s,
            e - s,
        ));
    }
    Ok((tensors, md.metadata().clone(), n))
}

/// The first name that appears twice among the header's top-level keys (JSON readers keep one
/// of them silently, and which one differs between readers), if the header is a JSON object.
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct FirstDuplicate(Option<String>);
    impl<'de> Deserialize<'de> for FirstDuplicate {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = FirstDuplicate;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<FirstDuplicate, A::Error> {
                    let mut seen = std::collections::HashSet::new();
                    let mut first = None;
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        if first.is_none() && !seen.insert(k.clone()) {
                            first = Some(k);
                        }
                    }
                    // Read to the end of the object even after a duplicate: the parser refuses
                    // an object left open, which would hide the duplicate.
                    Ok(FirstDuplicate(first))
                }
            }
            d.deserialize_map(V)
        }
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(n.checked_add(8)?).ok()?;
    serde_json::from_slice::<FirstDuplicate>(bytes.get(8..end)?)
        .ok()?
        .0
}

/// A clearer message than the `safetensors` crate's for the errors a truncated or inconsistent
/// file gives: what is short, by how much, and which tensor.
fn explain(bytes: &[u8], e: SafeTensorError) -> String {
    let len = bytes.len() as u64;
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let data = n.and_then(|n| n.checked_add(8)).filter(|&end| end <= len);
    // The header's tensors as (start, end, name, dtype, shape), where it parses as JSON.
    type Entry = (u64, u64, String, Option<Dtype>, Vec<u64>);
    let entries = || -> Vec<Entry> {
        let Some(end) = data else { return Vec::new() };
        let Ok(serde_json::Value::Object(map)) =
            serde_json::from_slice::<serde_json::Value>(&bytes[8..end as usize])
        else {
            return Vec::new();
        };
        let mut v: Vec<_> = map
            .into_iter()
            .filter(|(k, _)| k != "__metadata__")
            .filter_map(|(k, t)| {
                let off = t.get("data_offsets")?.as_array()?;
                let (s, e) = (off.first()?.as_u64()?, off.get(1)?.as_u64()?);
                let dtype = t
                    .get("dtype")
                    .and_then(|d| serde_json::from_value::<Dtype>(d.clone()).ok());
                let shape = t
                    .get("shape")?
                    .as_array()?
                    .iter()
                    .map(|d| d.as_u64().unwrap_or(u64::MAX))
                    .collect();
                Some((s, e, k, dtype, shape))
            })
            .collect();
        v.sort();
        v
    };
    match e {
        SafeTensorError::HeaderTooLarge => format!(
            "header length {} is above the 100 MB the format allows",
            n.unwrap_or_default()
        ),
        SafeTensorError::HeaderTooSmall => {
            format!("file is truncated: {len} bytes, shorter than the 8-byte header length")
        }
        SafeTensorError::InvalidHeaderLength => match n {
            Some(n) => format!(
                "file is truncated: the header length says {n} bytes of JSON, but only {} follow",
                len.saturating_sub(8)
            ),
            None => e.to_string(),
        },
        SafeTensorError::MetadataIncompleteBuffer => {
            let need = entries().iter().map(|t| t.1).max().unwrap_or(0);
            let have = data.map_or(0, |d| len - d);
            if have < need {
                format!(
                    "file is truncated: the header's tensors need {need} bytes of data, the file holds {have}"
                )
            } else {
                format!(
                    "{} bytes after the last tensor's data are not covered by the header",
                    have - need
                )
            }
        }
        SafeTensorError::InvalidOffset(ref name) => {
            let list = entries();
            let Some(i) = list.iter().position(|t| &t.2 == name) else {
                return format!("{e} (data_offsets are not contiguous)");
            };
            let (s, end) = (list[i].0, list[i].1);
            let prev = i.checked_sub(1).map(|p| (&list[p].2, list[p].1));
            match prev {
                _ if end < s => {
                    format!("tensor `{name}` has data_offsets [{s}, {end}], which end before they start")
                }
                Some((p, pe)) if s < pe => format!(
                    "tensor `{name}` (data_offsets [{s}, {end}]) overlaps tensor `{p}`, which ends at {pe}"
                ),
                Some((p, pe)) if s > pe => format!(
                    "tensor `{name}` starts at {s}, leaving a gap of {} bytes after tensor `{p}`",
                    s - pe
                ),
                None if s > 0 => format!(
                    "the first tensor `{name}` starts at {s}, not 0, leaving a gap"
                ),
                _ => format!("{e} (data_offsets [{s}, {end}])"),
            }
        }
        SafeTensorError::TensorInvalidInfo => {
            let bad = entries().into_iter().find_map(|(s, end, name, dtype, shape)| {
                let dtype = dtype?;
                let need = shape
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(d))
                    .and_then(|n| n.checked_mul(dtype.bitsize() as u64))
                    .map(|bits| bits.div_ceil(8));
                (need != end.checked_sub(s)).then(|| {
                    format!(
                        "tensor `{name}` ({dtype:?}, shape {shape:?}) needs {} bytes, its data_offsets [{s}, {end}] hold {}",
                        need.map_or_else(|| "an overflowing number of".into(), |n| n.to_string()),
                        end.saturating_sub(s)
                    )
                })
            });
            bad.unwrap_or_else(|| e.to_string())
        }
        other => other.to_string(),
    }
}

/// Where the one-pass header reader (`header.rs`) and [`parse_slow`] disagree on `bytes` read
/// as a SafeTensors file, described for a test or fuzz target to fail with; `None` when they
/// agree. They agree when the fast path accepts only files the old path accepts, with the same
/// tensors in the same order (names, dtypes, shapes, offsets), metadata and header length, and
/// declines only files the old path rejects. Zero-sized tensors sharing an offset are compared
/// as a set, since the old path orders them as a hash map iterates.
#[doc(hidden)]
pub fn fast_path_disagreement(bytes: &[u8]) -> Option<String> {
    let slow = parse_slow(Path::new("oracle.safetensors"), bytes, 0);
    match (header::parse(bytes, 0), slow) {
        (Ok(fast), Ok(slow)) => {
            let (f, s) = (describe(&fast), describe(&slow));
            (f != s).then(|| format!("the paths differ:\nfast {f}\nold  {s}"))
        }
        (Ok(fast), Err(e)) => Some(format!(
            "the fast path accepts {}, the old path rejects it: {e}",
            describe(&fast)
        )),
        (Err(_), Ok(slow)) => Some(format!(
            "the fast path declines, the old path accepts {}",
            describe(&slow)
        )),
        (Err(_), Err(_)) => None,
    }
}

/// A parsed file as text, for [`fast_path_disagreement`]: tensors in the order given when that
/// order is by offsets (else a note saying it is not), with ties put in name order.
fn describe((tensors, meta, n): &Parsed) -> String {
    let key = |t: &TensorInfo| (t.start, t.len);
    let by_offsets = tensors.windows(2).all(|w| key(&w[0]) <= key(&w[1]));
    let mut sorted: Vec<&TensorInfo> = tensors.iter().collect();
    sorted.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
    let meta: Option<BTreeMap<&String, &String>> = meta.as_ref().map(|m| m.iter().collect());
    format!("{{ by_offsets: {by_offsets}, tensors: {sorted:?}, metadata: {meta:?}, header: {n} }}")
}

fn sorted_meta(m: Option<HashMap<String, String>>) -> Vec<(String, MetaValue)> {
    let sorted: BTreeMap<_, _> = m.unwrap_or_default().into_iter().collect();
    sorted
        .into_iter()
        .map(|(k, v)| (k, MetaValue::Str(v)))
        .collect()
}

/// Opens a single `.safetensors` file.
pub(crate) fn open_file(path: &Path) -> Result<Model> {
    open_storage(path, Storage::map(path)?)
}

/// Opens a single SafeTensors file already held in `storage` (`path` names it in messages).
pub(crate) fn open_storage(path: &Path, storage: Storage) -> Result<Model> {
    let (tensors, meta, header) = parse(path, storage.bytes(), 0)?;
    let props = vec![Property::int(PropertyKey::HeaderBytes, header)];
    Model::new(
        path.into(),
        Format::SafeTensors,
        tensors,
        vec![storage],
        sorted_meta(meta),
        props,
    )
}

/// `(PREFIX, k, n)` of a shard's file name `PREFIX-0000k-of-0000n.safetensors`.
pub(crate) fn shard_name(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file.strip_suffix(".safetensors")?;
    let tail = stem.get(stem.len().checked_sub(15)?..)?;
    let b = tail.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(b[0] == b'-' && digits(1..6) && &tail[6..10] == "-of-" && digits(10..15)) {
        return None;
    }
    Some((&stem[..stem.len() - 15], &tail[1..6], &tail[10..15]))
}

/// The shard index beside `path` when `path` is one shard of a sharded checkpoint
/// (`PREFIX-00001-of-00003.safetensors`): `model.safetensors.index.json` or
/// `PREFIX.safetensors.index.json` in the same directory. `Some(Ok(index))` when an index
/// lists the shard; `Some(Err(why))` when an index is there but cannot be read or does not list
/// it (the shard then opens alone, with `why` as a warning); `None` when the name is not a
/// shard's or no index is beside it.
pub(crate) fn index_beside_shard(path: &Path) -> Option<std::result::Result<PathBuf, String>> {
    let file = path.file_name()?.to_str()?;
    let (prefix, _, _) = shard_name(file)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let candidates: Vec<PathBuf> = [
        "model.safetensors.index.json".to_string(),
        format!("{prefix}.safetensors.index.json"),
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .filter(|c| std::fs::metadata(c).is_ok_and(|m| m.is_file()))
    .collect();
    let mut why = None;
    for c in &candidates {
        let listed = std::fs::read(c)
            .map_err(|e| e.to_string())
            .and_then(|bytes| parse_shard_index(c, &bytes).map_err(|e| e.to_string()))
            .map(|idx| {
                idx.shards
                    .iter()
                    .any(|s| Path::new(s).file_name().and_then(|f| f.to_str()) == Some(file))
            });
        match listed {
            Ok(true) => return Some(Ok(c.clone())),
            Ok(false) => {
                why.get_or_insert(format!(
                    "{} does not list this shard; only the shard was opened",
                    c.display()
                ));
            }
            Err(e) => {
                why.get_or_insert(format!(
                    "the shard index beside this shard cannot be used ({e}); only the shard was opened"
                ));
            }
        }
    }
    why.map(Err)
}

/// Opens a directory holding one `*.safetensors.index.json`, or else exactly one `.safetensors`.
pub(crate) fn open_dir(dir: &Path) -> Result<Model> {
    let mut indexes = Vec::new();
    let mut singles = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".safetensors.index.json") || name == "pytorch_model.bin.index.json" {
            indexes.push(p);
        } else if name.ends_with(".safetensors") {
            singles.push(p);
        }
    }
    match (indexes.len(), singles.len()) {
        (1, _) => open_index(&indexes[0], None),
        (0, 1) => open_file(&singles[0]),
        (0, 0) => Err(Error::UnknownFormat {
            path: dir.into(),
            detail: "directory holds no *.safetensors.index.json and no .safetensors file".into(),
        }),
        (0, n) => Err(Error::Unsupported {
            path: dir.into(),
            detail: format!("directory holds {n} .safetensors files but no index; name one file"),
        }),
        (n, _) => Err(Error::Unsupported {
            path: dir.into(),
            detail: format!("directory holds {n} *.safetensors.index.json files; name one"),
        }),
    }
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    weight_map: BTreeMap<String, String>,
}

/// A SafeTensors shard index (`*.safetensors.index.json`), parsed and checked without touching
/// the filesystem: what [`parse_shard_index`] returns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ShardIndex {
    /// Tensor name → shard file, relative to the index's directory, in name order.
    pub weight_map: BTreeMap<String, String>,
    /// The shard files, sorted, each once.
    pub shards: Vec<String>,
    /// The index's `metadata` object, key by key.
    pub metadata: Vec<(String, MetaValue)>,
}

/// Parses and validates a shard index from its bytes (`name` stands in for the path in
/// messages): at most 64 MiB of JSON with a `weight_map` of tensor names to shard paths, each
/// a plain relative path (no root, no `..`, ending in a file name). Opening the index by path
/// ([`crate::open`]) does this first, then checks that every shard resolves inside the index's
/// directory and holds the tensors listed for it.
pub fn parse_shard_index(name: impl AsRef<Path>, bytes: &[u8]) -> Result<ShardIndex> {
    let index = name.as_ref();
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(Error::malformed(
            index,
            FORMAT,
            format!(
                "index is {} bytes, more than the {MAX_INDEX_BYTES} accepted",
                bytes.len()
            ),
        ));
    }
    let idx: Index = serde_json::from_slice(bytes)
        .map_err(|e| Error::malformed(index, FORMAT, format!("shard index is not valid: {e}")))?;
    let mut shards: Vec<String> = idx.weight_map.values().cloned().collect();
    shards.sort();
    shards.dedup();
    for rel in &shards {
        check_relative(index, rel)?;
    }
    let metadata = idx
        .metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, MetaValue::Json(v)))
        .collect();
    Ok(ShardIndex {
        weight_map: idx.weight_map,
        shards,
        metadata,
    })
}

/// Checks that `rel` is a plain relative path: no root, no `..`, and a file name at the end.
fn check_relative(index: &Path, rel: &str) -> Result<()> {
    let p = Path::new(rel);
    let plain = !rel.is_empty()
        && !rel.contains('\0')
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && matches!(p.components().next_back(), Some(Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(Error::malformed(
            index,
            FORMAT,
            format!("shard path `{rel}` must be relative and stay inside the index's directory"),
        ))
    }
}

/// Resolves the plain relative shard path `rel` against `dir` and checks it stays inside
/// `root` after following links (the index's directory, or the model's folder of a Hugging
/// Face cache, whose snapshot files link into `blobs/`).
fn shard_path(index: &Path, dir: &Path, root: &Path, rel: &str) -> Result<PathBuf> {
    check_relative(index, rel)?;
    let full = dir.join(rel);
    let canon = full.canonicalize().map_err(|e| {
        Error::malformed(
            index,
            FORMAT,
            format!("shard `{rel}` cannot be opened: {e}"),
        )
    })?;
    let canon_dir = root.canonicalize().map_err(|e| Error::io(root, e))?;
    if !canon.starts_with(&canon_dir) {
        return Err(Error::malformed(
            index,
            FORMAT,
            format!("shard path `{rel}` resolves outside the index's directory"),
        ));
    }
    Ok(full)
}

/// Opens a sharded checkpoint from its shard index (`*.safetensors.index.json`, or
/// `pytorch_model.bin.index.json` whose shards are PyTorch checkpoints). Every shard must
/// resolve inside `root` (default: the index's directory).
pub(crate) fn open_index(index: &Path, root: Option<&Path>) -> Result<Model> {
    let len = std::fs::metadata(index)
        .map_err(|e| Error::io(index, e))?
        .len();
    if len > MAX_INDEX_BYTES {
        return Err(Error::malformed(
            index,
            FORMAT,
            format!("index is {len} bytes, more than the {MAX_INDEX_BYTES} accepted"),
        ));
    }
    let text = std::fs::read(index).map_err(|e| Error::io(index, e))?;
    let idx = parse_shard_index(index, &text)?;
    let dir = index
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));

    // Shards in name order; each is mapped and validated once.
    let mut storages = Vec::with_capacity(idx.shards.len());
    let mut by_shard: HashMap<&str, HashMap<String, TensorInfo>> = HashMap::new();
    let mut format = None;
    let mut shard_warnings: Vec<String> = Vec::new();
    for (si, rel) in idx.shards.iter().enumerate() {
        let p = shard_path(index, dir, root.unwrap_or(dir), rel)?;
        let shard = crate::open_shard(&p)?;
        if *format.get_or_insert(shard.format) != shard.format {
            return Err(Error::malformed(
                index,
                FORMAT,
                format!("shard `{rel}` is {}, earlier shards are not", shard.format),
            ));
        }
        let base = storages.len();
        let tensors = shard.tensors.into_iter().map(|mut t| {
            t.storage += base;
            t.shard = si;
            (t.name.clone(), t)
        });
        by_shard.insert(rel.as_str(), tensors.collect());
        storages.extend(shard.storages);
        for w in shard.warnings {
            if !shard_warnings.contains(&w) {
                shard_warnings.push(w);
            }
        }
    }
    let mut tensors = Vec::with_capacity(idx.weight_map.len());
    for (name, rel) in &idx.weight_map {
        let t = by_shard
            .get_mut(rel.as_str())
            .and_then(|m| m.remove(name))
            .ok_or_else(|| {
                Error::malformed(
                    index,
                    FORMAT,
                    format!("tensor `{name}` is listed in shard `{rel}` but is not in it"),
                )
            })?;
        tensors.push(t);
    }
    tensors.sort_by_key(|t| (t.storage, t.start));
    let meta = idx.metadata;
    let mut unlisted: Vec<String> = by_shard.into_values().flat_map(|m| m.into_keys()).collect();
    unlisted.sort();
    let props = vec![Property::int(PropertyKey::ShardCount, idx.shards.len())];
    let mut model = Model::new(
        index.into(),
        format.unwrap_or(Format::SafeTensors),
        tensors,
        storages,
        meta,
        props,
    )?;
    for w in shard_warnings {
        model.warn(w);
    }
    if let Some(first) = unlisted.first() {
        model.warn(format!(
            "{} tensor(s) stored in shards are not in the index's weight_map and are ignored (first: `{first}`)",
            unlisted.len()
        ));
    }
    Ok(model)
}

#[cfg(test)]
mod truncation_tests {
    use super::truncation;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header.as_bytes());
        f.resize(f.len() + data, 0);
        f
    }

    #[test]
    fn files_cut_short_are_called_truncated() {
        let h = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        assert_eq!(truncation(&file(h, 16)), None);
        // Trailing data is malformed, not truncated.
        assert_eq!(truncation(&file(h, 20)), None);
        let short = truncation(&file(h, 10)).unwrap();
        assert!(
            short.starts_with("truncated: tensor data ends at byte"),
            "{short}"
        );
        let whole = file(h, 16);
        let cut = truncation(&whole[..20]).unwrap();
        assert!(cut.starts_with("truncated: the header of"), "{cut}");
        let mut huge = whole.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(truncation(&huge).unwrap().starts_with("truncated:"));
    }
}
