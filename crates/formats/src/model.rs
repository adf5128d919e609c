//! The format-independent view of an opened, validated model: [`Model`] and [`TensorInfo`].

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::decode;
use crate::dtype::{ByteOrder, DType, ValueKind};
use crate::error::{DecodeError, Error, Result};
use crate::mmap::Storage;

/// The container format of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// Hugging Face SafeTensors, single file or sharded with an index.
    SafeTensors,
    /// ggml's GGUF.
    Gguf,
    /// aprender's APR (and the cookbook `APR2` bundle).
    Apr,
    /// A PyTorch checkpoint (`torch.save`: zip archive or legacy pickle sequence), read without
    /// running its pickle.
    PyTorch,
    /// An ONNX model's graph initializers.
    Onnx,
    /// NumPy `.npy` (one array) or `.npz` (one array per member).
    NumPy,
}

impl Format {
    /// Lower-case name used in reports (`safetensors`, `gguf`, `apr`, `pytorch`, `onnx`,
    /// `numpy`).
    pub fn name(self) -> &'static str {
        match self {
            Format::SafeTensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Apr => "apr",
            Format::PyTorch => "pytorch",
            Format::Onnx => "onnx",
            Format::NumPy => "numpy",
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

/// What a format fact is about; each reader reports the facts its format has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropertyKey {
    /// Which variant of the format (APR: aprender v2, legacy `APR2`, cookbook bundle).
    Variant,
    /// Format version (GGUF 1–3; APR `major.minor`).
    Version,
    /// Byte order of the stored data (`little-endian`, `big-endian`).
    ByteOrder,
    /// Alignment of tensor data in bytes (GGUF `general.alignment`).
    Alignment,
    /// Offset of the tensor data section in the file.
    DataOffset,
    /// Length of the JSON header in bytes (SafeTensors).
    HeaderBytes,
    /// Number of metadata entries.
    MetadataCount,
    /// Number of tensors declared by the file.
    TensorCount,
    /// Number of files the model is split over.
    ShardCount,
    /// Payload compression (`none`, `lz4`, `zstd`).
    Compression,
    /// The quantization a file declares for itself (APR cookbook label).
    Quantization,
    /// Whether a signature is present (APR cookbook).
    Signature,
    /// How the file's integrity is checked, when it has no CRC (APR cookbook).
    Checksum,
    /// Outcome of the header CRC32 check (`ok`, `not verified`).
    HeaderCrc32,
    /// Outcome of the footer CRC32 check.
    FooterCrc32,
    /// Declared payload size in bytes.
    PayloadBytes,
    /// Header flag bits with their names.
    Flags,
    /// Pickle protocol of a PyTorch checkpoint's object pickle.
    PickleProtocol,
    /// Number of distinct storages a PyTorch checkpoint's tensors are views of.
    StorageCount,
    /// The top-level entry a PyTorch checkpoint's tensors were taken from (`state_dict`,
    /// `model_state_dict`, `model`, `module`), dropped from their names.
    StatePrefix,
    /// ONNX IR version.
    IrVersion,
    /// ONNX operator sets (`domain:version`, comma-separated; the default domain as `ai.onnx`).
    Opset,
    /// The tool that wrote an ONNX model (`producer_name producer_version`).
    Producer,
    /// Where a model named by a `hf://` reference was found in the Hugging Face cache.
    Source,
}

impl PropertyKey {
    /// The snake_case name used in reports (`version`, `byte_order`, `shard_count`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PropertyKey::Variant => "variant",
            PropertyKey::Version => "version",
            PropertyKey::ByteOrder => "byte_order",
            PropertyKey::Alignment => "alignment",
            PropertyKey::DataOffset => "data_offset",
            PropertyKey::HeaderBytes => "header_bytes",
            PropertyKey::MetadataCount => "metadata_count",
            PropertyKey::TensorCount => "tensor_count",
            PropertyKey::ShardCount => "shard_count",
            PropertyKey::Compression => "compression",
            PropertyKey::Quantization => "quantization",
            PropertyKey::Signature => "signature",
            PropertyKey::Checksum => "checksum",
            PropertyKey::HeaderCrc32 => "header_crc32",
            PropertyKey::FooterCrc32 => "footer_crc32",
            PropertyKey::PayloadBytes => "payload_bytes",
            PropertyKey::Flags => "flags",
            PropertyKey::PickleProtocol => "pickle_protocol",
            PropertyKey::StorageCount => "storage_count",
            PropertyKey::StatePrefix => "state_prefix",
            PropertyKey::IrVersion => "ir_version",
            PropertyKey::Opset => "opset",
            PropertyKey::Producer => "producer",
            PropertyKey::Source => "source",
        }
    }
}

impl fmt::Display for PropertyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of a format fact: a number where it is one, text otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropertyValue {
    /// A count, size, offset or version number.
    Int(u64),
    /// Anything else.
    Text(String),
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Int(n) => write!(f, "{n}"),
            PropertyValue::Text(s) => f.write_str(s),
        }
    }
}

/// One format fact of an opened model.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Property {
    /// What it is about.
    pub key: PropertyKey,
    /// Its value.
    pub value: PropertyValue,
}

impl Property {
    /// A numeric fact.
    pub(crate) fn int(key: PropertyKey, value: impl TryInto<u64>) -> Property {
        Property {
            key,
            value: PropertyValue::Int(value.try_into().unwrap_or(u64::MAX)),
        }
    }

    /// A textual fact.
    pub(crate) fn text(key: PropertyKey, value: impl Into<String>) -> Property {
        Property {
            key,
            value: PropertyValue::Text(value.into()),
        }
    }
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
    /// Element strides when the elements are not one row-major run (PyTorch views, NumPy
    /// Fortran order); `start..start + len` then spans every element (see `strided.rs`).
    pub(crate) strides: Option<Box<[u64]>>,
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
            strides: None,
        }
    }

    /// Gives the tensor element `strides` (one per dimension); a row-major contiguous layout
    /// stays plain. Parsers call this only after checking with [`crate::strided::span`] that
    /// every element lies inside `start..start + len`.
    pub(crate) fn with_strides(mut self, strides: Vec<u64>) -> TensorInfo {
        if !crate::strided::is_contiguous(&self.shape, &strides) {
            self.strides = Some(strides.into_boxed_slice());
        }
        self
    }

    /// Element strides (one per dimension) when the tensor is a strided view of its stored
    /// bytes rather than one row-major run, as PyTorch transposed views and NumPy Fortran-order
    /// arrays are; `None` for the usual contiguous layout. Decoding handles both.
    pub fn strides(&self) -> Option<&[u64]> {
        self.strides.as_deref()
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn elements(&self) -> u64 {
        // Parsers reject shapes whose product overflows in file order; a zero dimension makes
        // any order's product zero, but the partial products before it may still overflow
        // (GGUF `ne` [0, 2^32, 2^32] is [2^32, 2^32, 0] row-major), so it is tested first.
        if self.shape.contains(&0) {
            return 0;
        }
        self.shape.iter().product()
    }

    /// Number of stored bytes (for a strided view, the bytes its elements span).
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
    pub(crate) properties: Vec<Property>,
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
        properties: Vec<Property>,
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

    /// Format-specific facts (version, alignment, shard count, ...), in reader order.
    pub fn properties(&self) -> &[Property] {
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

    /// Fails with [`Error::Changed`] if a file behind this model shrank while it was mapped.
    ///
    /// Reads past the new end of a truncated file return zeros instead of crashing the process
    /// (see the crate docs), so a caller that computes from tensor bytes checks this after each
    /// piece of work and before reporting anything. It costs one atomic load per mapped file.
    pub fn check_unchanged(&self) -> Result<()> {
        match self.storages.iter().find_map(Storage::changed) {
            Some(path) => Err(Error::Changed { path: path.into() }),
            None => Ok(()),
        }
    }

    /// The stored bytes of tensor `index` (for a strided view, see [`TensorInfo::strides`], the
    /// bytes its elements span, in storage order).
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
        if t.dtype != DType::F32
            || t.byte_order != ByteOrder::Little
            || t.strides.is_some()
            || cfg!(target_endian = "big")
        {
            return None;
        }
        bytemuck::try_cast_slice(self.tensor_bytes(index)).ok()
    }

    /// The stored bytes that encode exactly elements `elems` of tensor `index` and nothing
    /// else, when the tensor is a plain run of self-contained blocks and both ends of `elems`
    /// fall on block boundaries (see [`DType::plain_layout`]); `None` otherwise.
    ///
    /// Two tensors of the same dtype and byte order whose ranges return equal bytes hold equal
    /// values there, so callers can skip decoding one side.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn encoded_range(&self, index: usize, elems: Range<u64>) -> Option<&[u8]> {
        let t = &self.tensors[index];
        if t.strides.is_some() {
            return None;
        }
        let (be, bb) = t.dtype.plain_layout(t.elements())?;
        let (be, bb) = (be as u64, bb as u64);
        if elems.start > elems.end
            || elems.end > t.elements()
            || !elems.start.is_multiple_of(be)
            || !elems.end.is_multiple_of(be)
        {
            return None;
        }
        let (s, e) = (elems.start / be * bb, elems.end / be * bb);
        self.tensor_bytes(index).get(s as usize..e as usize)
    }

    /// Whether tensor `index` can be decoded to numbers ([`Model::decode_f32`], or
    /// [`Model::decode_int`] for integer types): `Err` names the file, the tensor and why not
    /// (an opaque type id, quant blocks without a big-endian layout). Known at open time, so a
    /// caller can skip such tensors up front instead of failing mid-run.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn check_decodable(&self, index: usize) -> Result<()> {
        let t = &self.tensors[index];
        let why = match t.dtype {
            DType::Opaque { .. } => Some(DecodeError::NotDecodable {
                dtype: t.dtype.name(),
                to: "numbers",
            }),
            DType::Quant(q) if t.byte_order == ByteOrder::Big && !q.big_endian_supported() => {
                Some(DecodeError::BigEndianLayout {
                    dtype: q.name().to_string(),
                })
            }
            _ => None,
        };
        match why {
            Some(source) => Err(self.decode_error(index, source)),
            None => Ok(()),
        }
    }

    fn decode_error(&self, index: usize, source: DecodeError) -> Error {
        Error::Decode {
            path: self.path.clone(),
            tensor: self.tensors[index].name.clone(),
            source,
        }
    }

    /// Decodes elements `range` (flat, row-major) of tensor `index` to f32 into `out`
    /// (`out.len() == range.len()`). Ranges aligned to [`DType::block_elems`] decode each block
    /// once.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn decode_f32(&self, index: usize, range: Range<usize>, out: &mut [f32]) -> Result<()> {
        let t = &self.tensors[index];
        let bytes = self.tensor_bytes(index);
        match &t.strides {
            None => decode::decode_f32(t.dtype, t.byte_order, bytes, range, out),
            Some(st) => crate::strided::with_gathered(t, st, bytes, range, |g, r| {
                decode::decode_f32(t.dtype, t.byte_order, g, r, out)
            }),
        }
        .map_err(|e| self.decode_error(index, e))
    }

    /// Decodes elements `range` of an integer or boolean tensor exactly (booleans as 0 and 1).
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn decode_int(&self, index: usize, range: Range<usize>, out: &mut [i128]) -> Result<()> {
        let t = &self.tensors[index];
        if t.dtype.kind() != ValueKind::Integer {
            return Err(self.decode_error(
                index,
                DecodeError::NotDecodable {
                    dtype: t.dtype.name(),
                    to: "integers",
                },
            ));
        }
        let bytes = self.tensor_bytes(index);
        match &t.strides {
            None => decode::decode_int(t.dtype, t.byte_order, bytes, range, out),
            Some(st) => crate::strided::with_gathered(t, st, bytes, range, |g, r| {
                decode::decode_int(t.dtype, t.byte_order, g, r, out)
            }),
        }
        .map_err(|e| self.decode_error(index, e))
    }
}
