//! `inspect`: a model's format facts, metadata and tensor table as a plain serde value.

use modeldiff_formats::{Format, Model};
use serde::{Deserialize, Serialize};

use crate::metadata::summarize;

/// Schema identifier of [`Inspection`].
pub const INSPECT_SCHEMA: &str = "modeldiff.inspect.v1";

/// Everything `modeldiff inspect` shows about one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Always [`INSPECT_SCHEMA`].
    pub schema: String,
    /// The path as given.
    pub path: String,
    /// Container format.
    pub format: Format,
    /// Number of tensors.
    pub tensor_count: u64,
    /// Number of elements over all tensors.
    pub parameter_count: u64,
    /// Format facts in reader order (version, alignment, byte order, compression, ...).
    pub properties: Vec<Property>,
    /// Metadata entries in file order; long arrays and strings summarized.
    pub metadata: Vec<MetaEntry>,
    /// Every tensor in file order.
    pub tensors: Vec<TensorEntry>,
    /// Reader warnings.
    pub warnings: Vec<String>,
}

/// One format fact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Property {
    /// Name, for example `version`.
    pub key: String,
    /// Display value.
    pub value: String,
}

/// One metadata entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaEntry {
    /// Key.
    pub key: String,
    /// Value (summarized when long, see [`crate::metadata::summarize`]).
    pub value: crate::metadata::MetaValueView,
}

/// One tensor of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Name.
    pub name: String,
    /// Stored dtype.
    pub dtype: String,
    /// Row-major shape.
    pub shape: Vec<u64>,
    /// Stored bytes.
    pub bytes: u64,
    /// Offset of the first byte in its file (inside the decompressed payload for compressed
    /// files).
    pub offset: u64,
    /// Shard number for sharded models (0 otherwise).
    pub shard: usize,
}

/// The reader's format facts of `model`, in reader order.
pub fn properties(model: &Model) -> Vec<Property> {
    model
        .properties()
        .iter()
        .map(|(k, v)| Property {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// Describes `model`.
pub fn inspect(model: &Model) -> Inspection {
    Inspection {
        schema: INSPECT_SCHEMA.to_string(),
        path: model.path().display().to_string(),
        format: model.format(),
        tensor_count: model.tensors().len() as u64,
        parameter_count: model.parameter_count(),
        properties: properties(model),
        metadata: model
            .metadata()
            .iter()
            .map(|(k, v)| MetaEntry {
                key: k.clone(),
                value: summarize(v),
            })
            .collect(),
        tensors: model
            .tensors()
            .iter()
            .map(|t| TensorEntry {
                name: t.name.clone(),
                dtype: t.dtype.name(),
                shape: t.shape.clone(),
                bytes: t.byte_len() as u64,
                offset: t.file_offset,
                shard: t.shard,
            })
            .collect(),
        warnings: model.warnings().to_vec(),
    }
}
