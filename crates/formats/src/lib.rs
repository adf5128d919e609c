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
//! - Files are memory-mapped in one place ([`Storage::map`]); nothing is read whole. The usual
//!   mmap caveat applies: another process truncating an input while it is open can fault.
//! - Validation happens before a [`Model`] exists: offsets, sizes and counts use checked
//!   arithmetic, and every tensor's byte range is proven in bounds, so later accessors cannot fail.
//! - APR payloads compressed with LZ4 or Zstd are decompressed once, into a buffer of exactly
//!   the declared size, after that size has been checked against a hard cap and against the
//!   codec's largest possible expansion ([`apr::compress`]); a stream producing more or less is
//!   an error, so a decompression bomb costs at most the declared size.
//! - Decoding is a pure function of (dtype, byte order, tensor bytes, element range); block types
//!   decode whole blocks, so callers should align ranges to [`DType::block_elems`].
#![deny(missing_docs)]

pub mod apr;
pub mod decode;
pub mod dtype;
pub mod error;
pub mod gguf;
pub mod mmap;
pub mod model;
pub mod quant;
pub mod safetensors;
pub mod write;

use std::path::Path;

pub use dtype::{ByteOrder, DType, ValueKind};
pub use error::{Error, Result};
pub use mmap::Storage;
pub use model::{Format, MetaValue, Model, TensorInfo};
pub use quant::QuantType;
pub use write::{SafeTensorsWriter, TensorSpec};

/// Options for [`open_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Verify checksums where the format has them (APR CRC32). Default `true`.
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            verify_checksums: true,
        }
    }
}

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
