//! `inspect`: a model's format facts, metadata and tensor table as a plain serde value.

use modeldiff_formats::Model;
use serde::{Deserialize, Serialize};

use crate::describe::describe;
use crate::metadata::summarize;
use crate::report::ModelSummary;

/// Schema identifier of [`Inspection`].
pub const INSPECT_SCHEMA: &str = "modeldiff.inspect.v1";

/// Everything `modeldiff inspect` shows about one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Inspection {
    /// Always [`INSPECT_SCHEMA`].
    pub schema: String,
    /// Path, format, counts, format facts and reader warnings: the same description a diff
    /// report gives of each model (its fields appear at the top level of the JSON).
    #[serde(flatten)]
    pub model: ModelSummary,
    /// Metadata entries in file order; long arrays and strings summarized.
    pub metadata: Vec<MetaEntry>,
    /// Every tensor in file order.
    pub tensors: Vec<TensorEntry>,
}

/// One metadata entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetaEntry {
    /// Key.
    pub key: String,
    /// Value (summarized when long, see [`crate::metadata::summarize`]).
    pub value: crate::metadata::MetaValueView,
}

/// One tensor of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

/// Describes `model`.
pub fn inspect(model: &Model) -> Inspection {
    Inspection {
        schema: INSPECT_SCHEMA.to_string(),
        model: describe(model),
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
    }
}
