//! ONNX models: the main graph's initializers as tensors, with the IR version, operator sets
//! and producer as properties and `metadata_props` as metadata.
//!
//! The protobuf is decoded by `prost` into the message types of `proto.rs`, generated from the
//! vendored `onnx.proto` (ONNX 1.23.2) by `cargo xtask protos` and committed, so building needs
//! no `protoc`. prost decodes `bytes` fields into owned buffers: an initializer's `raw_data` is
//! copied once out of the mapped file and then moved, not copied again, into the model.
//! Initializers stored as external data (`data_location: EXTERNAL`) are mapped from their file
//! (zero-copy) after checking that its path is relative, stays inside the model's folder and
//! that `offset`/`length` lie inside it.
//!
//! Element types: FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT8…INT64, UINT8…UINT64, BOOL, FLOAT8E4M3FN
//! and FLOAT8E5M2, from `raw_data` (little-endian, as the spec requires) or the typed repeated
//! fields (`float_data`, `int32_data`, `int64_data`, `double_data`, `uint64_data`). STRING,
//! complex, 4-bit and the `FNUZ` float8 types are listed in a warning and skipped, as are
//! sparse initializers, segmented tensors, subgraph initializers and `Constant` nodes.

#[rustfmt::skip]
mod proto;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use prost::Message;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, MetaValue, Model, Property, PropertyKey, TensorInfo};
use proto::tensor_proto::{DataLocation, DataType};

const FORMAT: &str = "onnx";

/// Whether the first bytes look like a serialized `ModelProto`: field 1 (`ir_version`, a small
/// varint) first, then one of the fields writers put next (`producer_name`, `producer_version`,
/// `domain`, `model_version`, `doc_string`, `graph`, `opset_import`, `metadata_props`). The
/// `onnx` package, PyTorch and other exporters serialize fields in number order.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    let [0x08, v, next, ..] = head else {
        return false;
    };
    (1..=64).contains(v) && matches!(next, 0x12 | 0x1a | 0x22 | 0x28 | 0x32 | 0x3a | 0x42 | 0x72)
}

/// Where an initializer's bytes come from.
enum Source {
    /// Bytes of their own (`raw_data`, or typed fields converted to little-endian).
    Owned(Vec<u8>),
    /// `len` bytes at `offset` of an external file.
    External {
        file: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// The dtype of an ONNX `TensorProto.DataType`, or why it is not read.
fn dtype_of(t: i32) -> std::result::Result<DType, String> {
    let d = DataType::try_from(t).map_err(|_| format!("data type {t}"))?;
    Ok(match d {
        DataType::Float => DType::F32,
        DataType::Uint8 => DType::U8,
        DataType::Int8 => DType::I8,
        DataType::Uint16 => DType::U16,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        DataType::Float16 => DType::F16,
        DataType::Double => DType::F64,
        DataType::Uint32 => DType::U32,
        DataType::Uint64 => DType::U64,
        DataType::Bfloat16 => DType::BF16,
        DataType::Float8e4m3fn => DType::F8E4M3,
        DataType::Float8e5m2 => DType::F8E5M2,
        other => return Err(other.as_str_name().to_string()),
    })
}

/// Little-endian element bytes from the typed repeated field that holds `dtype` (ONNX puts
/// 8- and 16-bit types, bool and the float8 types in `int32_data`, one value per element;
/// FLOAT16/BFLOAT16 values are the raw 16 bits).
fn typed_bytes(t: &proto::TensorProto, dtype: DType) -> (usize, Vec<u8>) {
    let mut out = Vec::new();
    let n = match dtype {
        DType::F32 => {
            out.extend(t.float_data.iter().flat_map(|v| v.to_le_bytes()));
            t.float_data.len()
        }
        DType::F64 => {
            out.extend(t.double_data.iter().flat_map(|v| v.to_le_bytes()));
            t.double_data.len()
        }
        DType::I64 => {
            out.extend(t.int64_data.iter().flat_map(|v| v.to_le_bytes()));
            t.int64_data.len()
        }
        DType::U32 => {
            out.extend(t.uint64_data.iter().flat_map(|&v| (v as u32).to_le_bytes()));
            t.uint64_data.len()
        }
        DType::U64 => {
            out.extend(t.uint64_data.iter().flat_map(|v| v.to_le_bytes()));
            t.uint64_data.len()
        }
        DType::I32 => {
            out.extend(t.int32_data.iter().flat_map(|v| v.to_le_bytes()));
            t.int32_data.len()
        }
        DType::I16 | DType::U16 | DType::F16 | DType::BF16 => {
            out.extend(t.int32_data.iter().flat_map(|&v| (v as u16).to_le_bytes()));
            t.int32_data.len()
        }
        _ => {
            // I8, U8, BOOL, F8: one byte each.
            out.extend(t.int32_data.iter().map(|&v| v as u8));
            t.int32_data.len()
        }
    };
    (n, out)
}

/// Checks an external data location: relative, no `..`, resolving inside `root`.
fn external_path(path: &Path, dir: &Path, root: &Path, name: &str, loc: &str) -> Result<PathBuf> {
    let bad = |detail: String| Error::malformed(path, FORMAT, detail);
    let p = Path::new(loc);
    let plain = !loc.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(bad(format!(
            "initializer `{name}`: external data location `{loc}` must be relative and stay inside the model's folder"
        )));
    }
    let full = dir.join(p);
    let canon = full.canonicalize().map_err(|e| {
        bad(format!(
            "initializer `{name}`: external data `{loc}` cannot be opened: {e}"
        ))
    })?;
    let canon_root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    if !canon.starts_with(&canon_root) {
        return Err(bad(format!(
            "initializer `{name}`: external data `{loc}` resolves outside the model's folder"
        )));
    }
    Ok(full)
}

/// Opens an ONNX model held in `storage`. External data is looked up next to `path` and must
/// stay inside `root` (default: that folder); `from_memory` refuses it altogether.
pub(crate) fn open(
    path: &Path,
    storage: Storage,
    root: Option<&Path>,
    from_memory: bool,
) -> Result<Model> {
    let bad = |detail: String| Error::malformed(path, FORMAT, detail);
    let mut model = proto::ModelProto::decode(storage.bytes())
        .map_err(|e| bad(format!("not a valid ONNX model protobuf: {e}")))?;
    drop(storage);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = root.unwrap_or(dir);
    let mut graph = model
        .graph
        .take()
        .ok_or_else(|| bad("model has no graph".into()))?;

    let mut tensors = Vec::with_capacity(graph.initializer.len());
    let mut storages: Vec<Storage> = Vec::new();
    let mut external_files: HashMap<PathBuf, usize> = HashMap::new();
    let mut skipped: Vec<String> = Vec::new();
    for (i, mut t) in std::mem::take(&mut graph.initializer)
        .into_iter()
        .enumerate()
    {
        let name = match t.name() {
            "" => format!("initializer_{i}"),
            n => n.to_string(),
        };
        if t.segment.is_some() {
            skipped.push(format!("`{name}` (segmented)"));
            continue;
        }
        let dtype = match dtype_of(t.data_type()) {
            Ok(d) => d,
            Err(what) => {
                skipped.push(format!("`{name}` ({what})"));
                continue;
            }
        };
        let shape: Vec<u64> = t
            .dims
            .iter()
            .map(|&d| u64::try_from(d))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                bad(format!(
                    "initializer `{name}` has a negative dimension {:?}",
                    t.dims
                ))
            })?;
        let need = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| dtype.storage_bytes(n).map(|b| (n, b)));
        let Some((elems, need)) = need else {
            return Err(bad(format!(
                "initializer `{name}` shape {shape:?} overflows"
            )));
        };
        let external = t.data_location == Some(DataLocation::External as i32);
        let source = if external {
            if from_memory {
                return Err(Error::Unsupported {
                    path: path.into(),
                    detail: format!(
                        "initializer `{name}` is stored as external data, which a model opened from memory cannot reach"
                    ),
                });
            }
            let get = |k: &str| {
                t.external_data
                    .iter()
                    .find(|e| e.key() == k)
                    .map(|e| e.value().to_string())
            };
            let loc = get("location").ok_or_else(|| {
                bad(format!(
                    "initializer `{name}`: external data without a location"
                ))
            })?;
            let num = |k: &str| -> Result<Option<u64>> {
                get(k)
                    .map(|v| {
                        v.trim().parse::<u64>().map_err(|_| {
                            bad(format!(
                                "initializer `{name}`: external data {k} `{v}` is not a number"
                            ))
                        })
                    })
                    .transpose()
            };
            let offset = num("offset")?.unwrap_or(0);
            let len = num("length")?.unwrap_or(need);
            if len != need {
                return Err(bad(format!(
                    "initializer `{name}`: external data length {len}, its shape {shape:?} of {dtype} needs {need} bytes"
                )));
            }
            Source::External {
                file: external_path(path, dir, root, &name, &loc)?,
                offset,
                len,
            }
        } else if let Some(raw) = t.raw_data.take() {
            if raw.len() as u64 != need {
                return Err(bad(format!(
                    "initializer `{name}`: raw_data has {} bytes, its shape {shape:?} of {dtype} needs {need}",
                    raw.len()
                )));
            }
            Source::Owned(raw)
        } else {
            let (n, bytes) = typed_bytes(&t, dtype);
            if n as u64 != elems {
                return Err(bad(format!(
                    "initializer `{name}`: {n} values stored, its shape {shape:?} has {elems} elements"
                )));
            }
            Source::Owned(bytes)
        };
        let (si, start, len, file_offset) = match source {
            Source::Owned(bytes) => {
                let len = bytes.len();
                storages.push(Storage::Owned(bytes));
                (storages.len() - 1, 0, len, 0)
            }
            Source::External { file, offset, len } => {
                let si = match external_files.get(&file) {
                    Some(&si) => si,
                    None => {
                        storages.push(Storage::map(&file)?);
                        external_files.insert(file.clone(), storages.len() - 1);
                        storages.len() - 1
                    }
                };
                let flen = storages[si].bytes().len() as u64;
                if offset.checked_add(len).is_none_or(|e| e > flen) {
                    return Err(bad(format!(
                        "initializer `{name}`: external data needs {len} bytes at offset {offset} of {}, which has {flen}",
                        file.display()
                    )));
                }
                (si, offset as usize, len as usize, offset)
            }
        };
        let mut info = TensorInfo::new(
            name,
            dtype,
            shape,
            ByteOrder::Little,
            file_offset,
            si,
            start,
            len,
        );
        info.shard = 0;
        tensors.push(info);
    }

    let mut props = vec![Property::int(PropertyKey::IrVersion, model.ir_version())];
    let opsets: Vec<String> = model
        .opset_import
        .iter()
        .map(|o| {
            let d = match o.domain() {
                "" => "ai.onnx",
                d => d,
            };
            format!("{d}:{}", o.version())
        })
        .collect();
    if !opsets.is_empty() {
        props.push(Property::text(PropertyKey::Opset, opsets.join(", ")));
    }
    let producer = format!("{} {}", model.producer_name(), model.producer_version());
    if !producer.trim().is_empty() {
        props.push(Property::text(PropertyKey::Producer, producer.trim()));
    }
    props.push(Property::int(PropertyKey::TensorCount, tensors.len()));
    let mut meta: Vec<(String, MetaValue)> = model
        .metadata_props
        .iter()
        .map(|p| (p.key().to_string(), MetaValue::Str(p.value().to_string())))
        .collect();
    for (k, v) in [
        ("domain", model.domain()),
        ("doc_string", model.doc_string()),
        ("graph.name", graph.name()),
    ] {
        if !v.is_empty() {
            meta.push((k.to_string(), MetaValue::Str(v.to_string())));
        }
    }
    if model.model_version.is_some() {
        meta.push((
            "model_version".into(),
            MetaValue::Int(model.model_version()),
        ));
    }
    let mut m = Model::new(path.into(), Format::Onnx, tensors, storages, meta, props)?;
    if let Some(first) = skipped.first() {
        m.warn(format!(
            "{} initializer(s) of types modeldiff cannot decode are not listed (first: {first})",
            skipped.len()
        ));
    }
    if !graph.sparse_initializer.is_empty() {
        m.warn(format!(
            "{} sparse initializer(s) are not listed",
            graph.sparse_initializer.len()
        ));
    }
    let constants = graph
        .node
        .iter()
        .filter(|n| n.op_type() == "Constant" && n.domain().is_empty())
        .count();
    if constants > 0 {
        m.warn(format!(
            "{constants} `Constant` node(s) hold values that are not initializers and are not listed"
        ));
    }
    Ok(m)
}
