//! Validated, memory-mapped readers for SafeTensors, GGUF, APR, PyTorch, ONNX and NumPy model
//! files.
//!
//! # Overview
//!
//! [`open`] looks at a file's first bytes (never its extension), validates the whole file, and
//! returns a [`Model`]: a list of [`TensorInfo`] (name, [`DType`], row-major shape) plus
//! metadata. [`Model::decode_f32`] decodes any element range of any tensor into a caller's
//! `&mut [f32]`, so the engine (`modeldiff`) streams tensors of any size through small buffers;
//! [`Model::f32_view`] hands out F32 tensors without copying. Half-precision conversion uses the
//! runtime-dispatched SIMD routines of `modeldiff-kernels`.
//!
//! From memory, [`open_bytes`] does the same for a single-file model (fuzzers and language
//! bindings use it; tests need no temp files).
//!
//! ```no_run
//! let model = modeldiff_formats::open("model.safetensors".as_ref())?;
//! let mut buf = vec![0f32; 1024];
//! for (i, t) in model.tensors().iter().enumerate() {
//!     let n = (t.elements() as usize).min(buf.len());
//!     model.decode_f32(i, 0..n, &mut buf[..n])?;
//!     println!("{} {} {:?} first={:?}", t.name, t.dtype, t.shape, buf.first());
//! }
//! # Ok::<(), modeldiff_formats::Error>(())
//! ```
//!
//! # Design
//!
//! - Files are memory-mapped in one place (`mmap.rs`); nothing is read whole.
//! - A mapped file that another process truncates would kill us with `SIGBUS` on the next read
//!   past its new end. On Linux and macOS a process-wide `SIGBUS`/`SIGSEGV` handler, installed
//!   when the first file is mapped, looks the faulting address up in a lock-free table of our
//!   maps; inside one, it maps an anonymous zero page over the faulting page and marks that map
//!   changed, so the read completes on zeros; anywhere else it hands the signal to the previous
//!   handler or the default action, so unrelated crashes are untouched. Why this and not
//!   something else: reading files with `read` instead of mapping them would cost a copy of
//!   every byte (and the zero-copy F32 path), and locking the file does not bind other
//!   processes. The zeros are never reported: [`Model::check_unchanged`] turns the mark into
//!   [`Error::Changed`] ("file changed while reading"), [`open`] checks it after parsing, and
//!   the engine after every piece of work. Same-size rewrites in place raise no fault and are
//!   not detected.
//! - Validation happens before a [`Model`] exists: offsets, sizes and counts use checked
//!   arithmetic, and every tensor's byte range is proven in bounds, so later accessors cannot fail.
//! - APR payloads compressed with LZ4 or Zstd are decompressed once, into a buffer of exactly
//!   the declared size, after that size has been checked against a hard cap and against the
//!   codec's largest possible expansion (`apr/compress.rs`); a stream producing more or less is
//!   an error, so a decompression bomb costs at most the declared size.
//! - Decoding is a pure function of (dtype, byte order, tensor bytes, element range); block types
//!   decode whole blocks, so callers should align ranges to [`DType::block_elems`]. Strided
//!   views (PyTorch views, NumPy Fortran order; [`TensorInfo::strides`]) are gathered first.
//! - PyTorch checkpoints are read without running their pickle: a restricted reader evaluates
//!   only the names that rebuild tensors and containers; any other call is kept as inert data
//!   (`torch/pickle.rs`). Paths a file names (shards, zip entries, storages, ONNX external data)
//!   must stay inside the model's folder, and zip entries are inflated under a size bound.
//! - `hf://ORG/NAME[@REVISION][/FILE]` opens a model from the local Hugging Face cache; nothing
//!   in this crate touches the network.
#![deny(missing_docs)]

mod apr;
mod archive;
pub mod decode;
mod dtype;
mod error;
mod gguf;
mod hub;
mod mmap;
mod model;
mod numpy;
mod onnx;
mod options;
mod quant;
mod safetensors;
mod strided;
mod torch;
pub mod write;

use std::path::{Path, PathBuf};

pub use dtype::{ByteOrder, DType, ValueKind};
pub use error::{DecodeError, Error, Result};
pub use model::{Format, MetaValue, Model, Property, PropertyKey, PropertyValue, TensorInfo};
pub use options::OpenOptions;
pub use quant::QuantType;
/// Test and fuzzing hook: where the one-pass SafeTensors header reader and the old path
/// (the `safetensors` crate) disagree on a file's bytes, or `None`.
#[doc(hidden)]
pub use safetensors::fast_path_disagreement as safetensors_fast_path_disagreement;
pub use safetensors::{parse_shard_index, ShardIndex};
pub use write::{write_atomic, SafeTensorsWriter, TensorSpec};

use mmap::Storage;

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detected {
    /// A single SafeTensors file.
    SafeTensors,
    /// A shard index (`*.safetensors.index.json`, `pytorch_model.bin.index.json`): JSON.
    SafeTensorsIndex,
    /// GGUF (`GGUF` magic).
    Gguf,
    /// APR (`APR\0`, `APR2` or `APRN` magic).
    Apr,
    /// A zip archive (`PK\x03\x04`): a PyTorch checkpoint when it holds `<archive>/data.pkl`,
    /// NumPy `.npz` when every member is a `.npy`; its entries decide.
    Zip,
    /// A legacy PyTorch checkpoint: a pickle of the magic number `0x1950a86a20f9469cfc6c`.
    PyTorchLegacy,
    /// A NumPy `.npy` array (`\x93NUMPY`).
    Npy,
    /// An ONNX model: a protobuf starting with `ir_version` (files named `*.onnx` are tried as
    /// ONNX too).
    Onnx,
}

/// Identifies a file's format from its first bytes.
pub fn detect(head: &[u8]) -> Option<Detected> {
    match head {
        [b'G', b'G', b'U', b'F', ..] => return Some(Detected::Gguf),
        [b'A', b'P', b'R', b'\0' | b'2' | b'N', ..] => return Some(Detected::Apr),
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => return Some(Detected::Zip),
        _ if head.starts_with(numpy::MAGIC) => return Some(Detected::Npy),
        _ if torch::is_legacy(head) => return Some(Detected::PyTorchLegacy),
        _ => {}
    }
    if head.len() >= 9 && head[8] == b'{' {
        let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if n >= 2 {
            return Some(Detected::SafeTensors);
        }
    }
    if onnx::looks_like(head) {
        return Some(Detected::Onnx);
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Some(Detected::SafeTensorsIndex);
    }
    None
}

/// Opens a model file (or a directory holding a sharded SafeTensors checkpoint) with default
/// options.
///
/// A path of the form `hf://ORG/NAME[@REVISION][/FILE]` opens a model from the local Hugging
/// Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`), never from the
/// network; see the README.
pub fn open(path: &Path) -> Result<Model> {
    open_with(path, &OpenOptions::default())
}

/// Opens a model with explicit options.
///
/// A file that shrinks while it is read (another process truncating it) gives
/// [`Error::Changed`], here or later from [`Model::check_unchanged`], never a crash.
pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Model> {
    if let Some(reference) = path.to_str().filter(|s| s.starts_with(hub::SCHEME)) {
        let r = hub::resolve(reference)?;
        let opts = OpenOptions {
            root: Some(r.root.clone()),
            ..options.clone()
        };
        let mut model = open_with(&r.file, &opts)?;
        model
            .properties
            .push(Property::text(PropertyKey::Source, r.description));
        return Ok(model);
    }
    mmap::watch_maps(|| open_unwatched(path, options))
}

fn open_unwatched(path: &Path, options: &OpenOptions) -> Result<Model> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return safetensors::open_dir(path);
    }
    let head = read_head(path)?;
    match detect(&head) {
        Some(Detected::SafeTensors) => match safetensors::index_beside_shard(path) {
            // One shard of a sharded checkpoint opens the whole checkpoint, as a GGUF shard
            // does, and says so.
            Some(Ok(index)) => {
                let mut model = safetensors::open_index(&index, options.root.as_deref())?;
                model.warn(format!(
                    "{} is one shard of a sharded checkpoint: opened the whole checkpoint through {}",
                    path.display(),
                    index.display()
                ));
                Ok(model)
            }
            Some(Err(why)) => {
                let mut model = safetensors::open_file(path)?;
                model.warn(why);
                Ok(model)
            }
            None => safetensors::open_file(path),
        },
        Some(Detected::SafeTensorsIndex) => safetensors::open_index(path, options.root.as_deref()),
        Some(Detected::Gguf) => gguf::open(path, options),
        Some(Detected::Apr) => apr::open(path, options),
        Some(Detected::Zip) => open_zip(path, Storage::map(path)?),
        Some(Detected::PyTorchLegacy) => torch::open_legacy(path, Storage::map(path)?),
        Some(Detected::Npy) => numpy::open_npy(path, Storage::map(path)?),
        Some(Detected::Onnx) => {
            onnx::open(path, Storage::map(path)?, options.root.as_deref(), false)
        }
        None if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx")) =>
        {
            onnx::open(path, Storage::map(path)?, options.root.as_deref(), false)
        }
        None => Err(unknown(path, &head)),
    }
}

/// Opens one shard named by a shard index: a SafeTensors or PyTorch file.
pub(crate) fn open_shard(path: &Path) -> Result<Model> {
    let head = read_head(path)?;
    match detect(&head) {
        Some(Detected::SafeTensors) => safetensors::open_file(path),
        Some(Detected::Zip) => open_zip(path, Storage::map(path)?),
        Some(Detected::PyTorchLegacy) => torch::open_legacy(path, Storage::map(path)?),
        _ => Err(Error::Unsupported {
            path: path.into(),
            detail: "a shard of an index must be a SafeTensors or PyTorch file".into(),
        }),
    }
}

/// A zip archive: a PyTorch checkpoint or an `.npz`, as its entries say.
fn open_zip(path: &Path, storage: Storage) -> Result<Model> {
    let entries = archive::entries(path, storage.bytes(), "zip")?;
    if torch::is_torch_zip(&entries) {
        torch::open_zip(path, storage, entries)
    } else if numpy::is_npz(&entries) {
        numpy::open_npz(path, storage, entries)
    } else {
        Err(Error::UnknownFormat {
            path: path.into(),
            detail: "a zip archive holding neither a PyTorch checkpoint (`<archive>/data.pkl`) \
                     nor only .npy members"
                .into(),
        })
    }
}

fn unknown(path: &Path, head: &[u8]) -> Error {
    // A tar archive: the checkpoints of PyTorch < 0.1.10 were tar files.
    let detail = if head.len() >= 262 && &head[257..262] == b"ustar" {
        "a tar archive (PyTorch < 0.1.10 saved tar checkpoints; they are not read)".into()
    } else {
        describe_head(head)
    };
    Error::UnknownFormat {
        path: path.into(),
        detail,
    }
}

/// Opens a single-file model held in memory, with default options: the same detection and
/// validation as [`open`], with `name` standing in for the path in messages and reports.
///
/// `bytes` is anything that converts into an owned `Vec<u8>` (a `Vec<u8>`, a `Box<[u8]>`, a
/// `String`, ...). A SafeTensors shard index names other files, so it cannot be opened from
/// memory; a GGUF shard opens alone, with a warning.
///
/// ```
/// let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend(1f32.to_le_bytes().into_iter().chain(2f32.to_le_bytes()));
/// let model = modeldiff_formats::open_bytes("in-memory.safetensors", file)?;
/// let mut out = [0f32; 2];
/// model.decode_f32(0, 0..2, &mut out)?;
/// assert_eq!(out, [1.0, 2.0]);
/// # Ok::<(), modeldiff_formats::Error>(())
/// ```
pub fn open_bytes(name: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) -> Result<Model> {
    open_bytes_with(name, bytes, &OpenOptions::default())
}

/// [`open_bytes`] with explicit options.
pub fn open_bytes_with(
    name: impl Into<PathBuf>,
    bytes: impl Into<Vec<u8>>,
    options: &OpenOptions,
) -> Result<Model> {
    let path = name.into();
    let bytes = bytes.into();
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    match detect(head) {
        Some(Detected::SafeTensors) => {
            let mut model = safetensors::open_storage(&path, Storage::Owned(bytes))?;
            // As for a GGUF shard: a buffer has no siblings to open.
            let shard = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(safetensors::shard_name);
            if let Some((_, k, n)) = shard {
                model.warn(format!(
                    "the buffer is shard {k} of a checkpoint sharded over {n} files; only it was opened"
                ));
            }
            Ok(model)
        }
        Some(Detected::Gguf) => {
            gguf::open_storage(&path, Storage::Owned(bytes), options, gguf::Siblings::None)
        }
        Some(Detected::Apr) => apr::open_storage(&path, Storage::Owned(bytes), options),
        Some(Detected::Zip) => open_zip(&path, Storage::Owned(bytes)),
        Some(Detected::PyTorchLegacy) => torch::open_legacy(&path, Storage::Owned(bytes)),
        Some(Detected::Npy) => numpy::open_npy(&path, Storage::Owned(bytes)),
        Some(Detected::Onnx) => onnx::open(&path, Storage::Owned(bytes), None, true),
        Some(Detected::SafeTensorsIndex) => Err(Error::Unsupported {
            path,
            detail: "a shard index names other files; open it by path, not from memory".into(),
        }),
        None => Err(unknown(&path, head)),
    }
}

/// Bytes read for format detection (enough for a tar header's `ustar` at 257).
const HEAD_BYTES: usize = 512;

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    f.by_ref()
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

fn describe_head(head: &[u8]) -> String {
    if head.is_empty() {
        return "empty file".into();
    }
    // PyTorch checkpoints (`torch.save`) are zip archives, or pickles in the legacy format.
    let torch = match head {
        [b'P', b'K', 3, 4, ..] => Some("a zip archive"),
        [0x80, 2..=5, ..] => Some("a Python pickle"),
        _ => None,
    };
    if let Some(kind) = torch {
        return format!(
            "{kind}, as PyTorch `.pt`/`.bin` checkpoints are; modeldiff does not read those: \
             convert it to SafeTensors (`safetensors.torch.save_file(torch.load(path), out)`)"
        );
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("first bytes {}", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_magic() {
        assert_eq!(detect(b"GGUF\x03\0\0\0"), Some(Detected::Gguf));
        assert_eq!(detect(b"APR\0rest"), Some(Detected::Apr));
        assert_eq!(detect(b"APR2rest"), Some(Detected::Apr));
        assert_eq!(
            detect(b"\x10\0\0\0\0\0\0\0{\"a\":1}"),
            Some(Detected::SafeTensors)
        );
        assert_eq!(
            detect(b"  {\"weight_map\":{}}"),
            Some(Detected::SafeTensorsIndex)
        );
        assert_eq!(detect(b"PK\x03\x04"), Some(Detected::Zip));
        assert_eq!(detect(b"\x93NUMPY\x01\x00"), Some(Detected::Npy));
        let legacy = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
        assert_eq!(detect(legacy), Some(Detected::PyTorchLegacy));
        assert_eq!(detect(b"\x80\x02K\x01."), None);
        assert_eq!(detect(b"\x08\x08\x12\x07pytorch"), Some(Detected::Onnx));
        assert_eq!(detect(b""), None);
    }
}
