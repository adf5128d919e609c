//! Validated, memory-mapped readers for SafeTensors, GGUF and APR model files.
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
//! - Files are memory-mapped in one place (`mmap.rs`); nothing is read whole. The usual
//!   mmap caveat applies: another process truncating an input while it is open can fault.
//! - Validation happens before a [`Model`] exists: offsets, sizes and counts use checked
//!   arithmetic, and every tensor's byte range is proven in bounds, so later accessors cannot fail.
//! - APR payloads compressed with LZ4 or Zstd are decompressed once, into a buffer of exactly
//!   the declared size, after that size has been checked against a hard cap and against the
//!   codec's largest possible expansion (`apr/compress.rs`); a stream producing more or less is
//!   an error, so a decompression bomb costs at most the declared size.
//! - Decoding is a pure function of (dtype, byte order, tensor bytes, element range); block types
//!   decode whole blocks, so callers should align ranges to [`DType::block_elems`].
#![deny(missing_docs)]

mod apr;
pub mod decode;
mod dtype;
mod error;
mod gguf;
mod mmap;
mod model;
mod options;
mod quant;
mod safetensors;
pub mod write;

use std::path::{Path, PathBuf};

pub use dtype::{ByteOrder, DType, ValueKind};
pub use error::{DecodeError, Error, Result};
pub use model::{Format, MetaValue, Model, Property, PropertyKey, PropertyValue, TensorInfo};
pub use options::OpenOptions;
pub use quant::QuantType;
pub use write::{write_atomic, SafeTensorsWriter, TensorSpec};

use mmap::Storage;

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detected {
    /// A single SafeTensors file.
    SafeTensors,
    /// A SafeTensors shard index (`*.safetensors.index.json`).
    SafeTensorsIndex,
    /// GGUF (`GGUF` magic).
    Gguf,
    /// APR (`APR\0`, `APR2` or `APRN` magic).
    Apr,
}

/// Identifies a file's format from its first bytes.
pub fn detect(head: &[u8]) -> Option<Detected> {
    match head {
        [b'G', b'G', b'U', b'F', ..] => return Some(Detected::Gguf),
        [b'A', b'P', b'R', b'\0' | b'2' | b'N', ..] => return Some(Detected::Apr),
        _ => {}
    }
    if head.len() >= 9 && head[8] == b'{' {
        let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if n >= 2 {
            return Some(Detected::SafeTensors);
        }
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Some(Detected::SafeTensorsIndex);
    }
    None
}

/// Opens a model file (or a directory holding a sharded SafeTensors checkpoint) with default
/// options.
pub fn open(path: &Path) -> Result<Model> {
    open_with(path, &OpenOptions::default())
}

/// Opens a model with explicit options.
pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Model> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return safetensors::open_dir(path);
    }
    let head = read_head(path)?;
    match detect(&head) {
        Some(Detected::SafeTensors) => safetensors::open_file(path),
        Some(Detected::SafeTensorsIndex) => safetensors::open_index(path),
        Some(Detected::Gguf) => gguf::open(path, options),
        Some(Detected::Apr) => apr::open(path, options),
        None => Err(Error::UnknownFormat {
            path: path.into(),
            detail: describe_head(&head),
        }),
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
    let head = &bytes[..bytes.len().min(64)];
    match detect(head) {
        Some(Detected::SafeTensors) => safetensors::open_storage(&path, Storage::Owned(bytes)),
        Some(Detected::Gguf) => {
            gguf::open_storage(&path, Storage::Owned(bytes), options, gguf::Siblings::None)
        }
        Some(Detected::Apr) => apr::open_storage(&path, Storage::Owned(bytes), options),
        Some(Detected::SafeTensorsIndex) => Err(Error::Unsupported {
            path,
            detail: "a shard index names other files; open it by path, not from memory".into(),
        }),
        None => Err(Error::UnknownFormat {
            detail: describe_head(head),
            path,
        }),
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(64);
    f.by_ref()
        .take(64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok(head)
}

fn describe_head(head: &[u8]) -> String {
    if head.is_empty() {
        return "empty file".into();
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
        assert_eq!(detect(b"PK\x03\x04"), None);
        assert_eq!(detect(b""), None);
    }
}
