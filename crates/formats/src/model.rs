//! The format-independent view of an opened, validated model: [`Model`] and [`TensorInfo`].

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::decode;
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;

/// The container format of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Hugging Face SafeTensors, single file or sharded with an index.
    SafeTensors,
    /// ggml's GGUF.
    Gguf,
    /// aprender's APR (and the cookbook `APR2` bundle).
    Apr,
}

impl Format {
    /// Lower-case name used in reports (`safetensors`, `gguf`, `apr`).
    pub fn name(self) -> &'static str {
        match self {
            Format::SafeTensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Apr => "apr",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value (GGUF key/value, SafeTensors `__metadata__`, APR JSON).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetaValue {
    /// Unsigned integer (GGUF u8..u64).
    UInt(u64),
    /// Signed integer (GGUF i8..i64).
    Int(i64),
    /// Float (GGUF f32/f64).
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string (invalid UTF-8 replaced).
    Str(String),
    /// Array of values (possibly nested).
    Array(Vec<MetaValue>),
    /// A JSON value (APR metadata).
    Json(serde_json::Value),
}

/// One tensor of a model: its name, type and row-major shape, plus where its bytes live.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TensorInfo {
    /// Tensor name, unique within the model.
    pub name: String,
    /// Stored element type.
    pub dtype: DType,
    /// Row-major shape (outermost dimension first); empty for a scalar.
    pub shape: Vec<u64>,
    /// Byte order of the stored elements.
    pub byte_order: ByteOrder,
    /// Offset of the first byte in its file (for `inspect`; for compressed payloads, the offset
    /// inside the decompressed payload).
    pub file_offset: u64,
    /// Which file of a sharded model holds the tensor (0 for single files).
    pub shard: usize,
    pub(crate) storage: usize,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl TensorInfo {
    /// Builds a tensor entry; `storage`, `start` and `len` locate its bytes in the model's storages.
    ///
    /// Format parsers call this only after validating that `start + len` lies inside the storage
    /// and that `len` equals `dtype.storage_bytes(elements)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        byte_order: ByteOrder,
        file_offset: u64,
        storage: usize,
        start: usize,
        len: usize,
    ) -> TensorInfo {
        TensorInfo {
            name,
            dtype,
            shape,
            byte_order,
            file_offset,
            shard: storage,
            storage,
            start,
            len,
        }
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn elements(&self) -> u64 {
        // Parsers reject shapes whose product overflows, so this cannot wrap.
        self.shape.iter().product()
    }

    /// Number of stored bytes.
    pub fn byte_len(&self) -> usize {
        self.len
    }
}

/// An opened, fully validated model: tensors in file order, metadata, and the mapped bytes.
///
/// Every [`TensorInfo`] handed out refers to bytes that were bounds-checked when the model was
/// opened, so [`Model::tensor_bytes`] never fails.
#[derive(Debug)]
pub struct Model {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) storages: Vec<Storage>,
    pub(crate) metadata: Vec<(String, MetaValue)>,
    pub(crate) properties: Vec<(String, String)>,
    pub(crate) warnings: Vec<String>,
}

impl Model {
    /// Assembles a model, rejecting duplicate tensor names.
    pub(crate) fn new(
        path: PathBuf,
        format: Format,
        tensors: Vec<TensorInfo>,
        storages: Vec<Storage>,
        metadata: Vec<(String, MetaValue)>,
        properties: Vec<(String, String)>,
    ) -> Result<Model> {
        let mut by_name = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            debug_assert!(t.start + t.len <= storages[t.storage].bytes().len());
            if by_name.insert(t.name.clone(), i).is_some() {
                return Err(Error::malformed(
                    &path,
                    format.name(),
                    format!("duplicate tensor name `{}`", t.name),
                ));
            }
        }
        Ok(Model {
            path,
            format,
            tensors,
            by_name,
            storages,
            metadata,
            properties,
            warnings: Vec::new(),
        })
    }

    /// The path the model was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Index of the tensor called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Metadata key/value pairs in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    /// Format-specific facts for display (version, alignment, shard count, ...).
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// Things a tolerant reader accepted but a user should know (for example overlapping tensor
    /// data in a GGUF file, or an APR dtype label that disagrees with the stored size).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a warning (parsers call this while building the model).
    pub(crate) fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    /// Total number of elements over all tensors.
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.elements())
            .fold(0u64, u64::saturating_add)
    }

    /// The stored bytes of tensor `index`.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn tensor_bytes(&self, index: usize) -> &[u8] {
        let t = &self.tensors[index];
        &self.storages[t.storage].bytes()[t.start..t.start + t.len]
    }

    /// The tensor's elements as `&[f32]` without copying, when it is stored as little-endian F32
    /// at a 4-byte aligned address on a little-endian machine.
    pub fn f32_view(&self, index: usize) -> Option<&[f32]> {
        let t = &self.tensors[index];
        if t.dtype != DType::F32 || t.byte_order != ByteOrder::Little || cfg!(target_endian = "big")
        {
            return None;
        }
        bytemuck::try_cast_slice(self.tensor_bytes(index)).ok()
    }

    /// Decodes elements `range` (flat, row-major) of tensor `index` to f32 into `out`.
    pub fn decode_f32(&self, index: usize, range: Range<usize>, out: &mut [f32]) -> Result<()> {
        let t = &self.tensors[index];
        decode::decode_f32(t.dtype, t.byte_order, self.tensor_bytes(index), range, out).map_err(
            |detail| Error::Decode {
                tensor: t.name.clone(),
                detail,
            },
        )
    }

    /// Decodes elements `range` of an integer or boolean tensor exactly.
    pub fn decode_int(&self, index: usize, range: Range<usize>, out: &mut [i128]) -> Result<()> {
        let t = &self.tensors[index];
        decode::decode_int(t.dtype, t.byte_order, self.tensor_bytes(index), range, out).map_err(
            |detail| Error::Decode {
                tensor: t.name.clone(),
                detail,
            },
        )
    }
}
