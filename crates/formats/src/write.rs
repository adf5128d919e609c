//! A streaming, atomic SafeTensors writer.
//!
//! The caller declares every tensor up front ([`TensorSpec`]: name, [`DType`], row-major shape)
//! together with the `__metadata__` strings. [`SafeTensorsWriter::create`] validates the
//! declaration, computes the header (data offsets contiguous from 0 in the declared order; the
//! JSON padded with spaces to a multiple of 8 bytes, as the `safetensors` crate pads it) and
//! writes it to a temporary file. The tensors' bytes then follow in declared order, in chunks of
//! any size ([`SafeTensorsWriter::write`] for raw little-endian bytes,
//! [`SafeTensorsWriter::write_f32`] to convert f32 values to a float dtype).
//! [`SafeTensorsWriter::finish`] puts the file in place.
//!
//! ```
//! use std::collections::BTreeMap;
//! use modeldiff_formats::{DType, SafeTensorsWriter, TensorSpec};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("out.safetensors");
//! let tensors = vec![
//!     TensorSpec::new("weight", DType::F16, &[2, 2]),
//!     TensorSpec::new("step", DType::I64, &[]),
//! ];
//! let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
//! let mut writer = SafeTensorsWriter::create(&path, tensors, metadata, &[])?;
//! writer.write_f32(&[1.0, 2.0])?; // the first row of `weight`...
//! writer.write_f32(&[3.0, 4.5])?; // ...and the second: chunks may have any size
//! writer.write(&7i64.to_le_bytes())?; // `step`, as raw little-endian bytes
//! writer.finish()?;
//!
//! let model = modeldiff_formats::open(&path)?;
//! let mut weight = [0f32; 4];
//! model.decode_f32(0, 0..4, &mut weight)?;
//! assert_eq!(weight, [1.0, 2.0, 3.0, 4.5]);
//! assert_eq!(model.tensor_bytes(1), 7i64.to_le_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! - Memory does not depend on the model's size: the header is held (its size grows with the
//!   number of tensors, not their bytes), the data passes through a fixed-size `BufWriter`, and
//!   `write_f32` converts through a fixed-size scratch buffer.
//! - The output is atomic. Bytes go to a temporary file `.{name}.tmp-XXXXXX` created in the
//!   target's directory (so the final rename never crosses file systems); `finish` flushes it,
//!   fsyncs it, renames it over the target and (on unix) fsyncs the directory. If the writer is
//!   dropped before `finish`, or any step fails, the temporary file is removed and the target is
//!   untouched. After an error the writer is spent: later calls fail.
//! - It never replaces an input. The caller names the files to protect; if the target exists and
//!   is the same file as one of them (same device and inode on unix, whatever path spelling,
//!   symbolic or hard link leads there; same canonical path elsewhere), `create` fails before
//!   anything is written, and `finish` checks again before the rename.
//! - Tensors are laid out in the declared order, with no padding between them. A caller that
//!   wants every tensor aligned to its element size (as the `safetensors` crate's own
//!   `serialize` arranges by sorting) declares larger elements first.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Largest header the `safetensors` crate reads back (`MAX_HEADER_SIZE` in its `tensor.rs`);
/// a longer one would make a file no reader accepts.
const MAX_HEADER_BYTES: usize = 100_000_000;

/// The reserved header key holding the string-to-string metadata (SafeTensors format spec).
const METADATA_KEY: &str = "__metadata__";

/// Capacity of the buffer between the writer and the file: large enough for sequential
/// throughput, small enough not to matter beside a model.
const BUFFER_BYTES: usize = 1 << 20;

/// Elements `write_f32` converts per step (64 KiB of F64 output at most).
const SCRATCH_ELEMS: usize = 8192;

/// One tensor to write: its name, element type and row-major shape (empty for a scalar).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TensorSpec {
    /// Tensor name, unique within the file and not `__metadata__`.
    pub name: String,
    /// Element type; one of [`DType::SAFETENSORS`].
    pub dtype: DType,
    /// Row-major dimensions.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// Declares a tensor.
    pub fn new(name: impl Into<String>, dtype: DType, shape: &[u64]) -> Self {
        TensorSpec {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }
}

/// Writes `bytes` to `path` atomically, with the same guarantees as [`SafeTensorsWriter`]: a
/// temporary file in the target's directory, fsynced and renamed over the target (and the
/// directory fsynced), removed on any error; a target that is the same file as one of
/// `protect` is refused before anything is written. For small outputs (JSON payloads, configs,
/// reports) held in memory.
///
/// # Errors
/// [`Error::OverwriteInput`], [`Error::Write`] (the path is a directory), [`Error::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8], protect: &[&Path]) -> Result<()> {
    let (dir, name) = split_target(path)?;
    let protect: Vec<PathBuf> = protect.iter().map(|p| p.to_path_buf()).collect();
    check_not_input(path, &protect)?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut file = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    check_not_input(path, &protect)?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(path)
}

/// A declared tensor with its byte size.
#[derive(Debug)]
struct Planned {
    spec: TensorSpec,
    bytes: u64,
}

/// Writes one SafeTensors file, streaming tensor bytes to a temporary file that [`finish`]
/// renames over the target. See the [module documentation](self) for an example.
///
/// [`finish`]: SafeTensorsWriter::finish
#[derive(Debug)]
pub struct SafeTensorsWriter {
    /// The target path.
    path: PathBuf,
    /// Inputs the target must not be (checked again before the rename).
    protect: Vec<PathBuf>,
    tensors: Vec<Planned>,
    /// Index of the tensor the next bytes belong to (`tensors.len()` once all are complete).
    current: usize,
    /// Bytes of `tensors[current]` written so far.
    written: u64,
    /// The temporary file; `None` once an error has ended the writer.
    out: Option<BufWriter<NamedTempFile>>,
    /// Conversion buffer for `write_f32`, at most `SCRATCH_ELEMS` elements of 8 bytes.
    scratch: Vec<u8>,
}

impl SafeTensorsWriter {
    /// Validates the declared tensors, refuses a target that is one of the `protect`ed inputs,
    /// creates the temporary file next to `path` and writes the header.
    ///
    /// Tensors are stored in the order given. Empty `metadata` writes no `__metadata__` entry.
    ///
    /// # Errors
    /// [`Error::WriteTensor`] for a dtype outside [`DType::SAFETENSORS`], a duplicate name, the
    /// name `__metadata__` or a size that overflows; [`Error::OverwriteInput`] when `path` is
    /// one of the `protect` files; [`Error::Write`] when `path` is a directory or the header is
    /// too large; [`Error::Io`] when a path cannot be examined or the file cannot be created.
    pub fn create(
        path: &Path,
        tensors: Vec<TensorSpec>,
        metadata: BTreeMap<String, String>,
        protect: &[&Path],
    ) -> Result<Self> {
        let tensors = plan(path, tensors)?;
        let header = header(path, &tensors, &metadata)?;
        let (dir, name) = split_target(path)?;
        let protect: Vec<PathBuf> = protect.iter().map(|p| p.to_path_buf()).collect();
        check_not_input(path, &protect)?;

        let mut builder = tempfile::Builder::new();
        let prefix = format!(".{}.tmp-", name.to_string_lossy());
        builder.prefix(&prefix);
        #[cfg(unix)]
        {
            // Like `File::create`: 0o666 less the umask, not tempfile's private 0o600.
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let file = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, file);
        let n = header.len() as u64;
        out.write_all(&n.to_le_bytes())
            .and_then(|()| out.write_all(&header))
            .map_err(|e| Error::io(path, e))?;

        let mut writer = SafeTensorsWriter {
            path: path.to_path_buf(),
            protect,
            tensors,
            current: 0,
            written: 0,
            out: Some(out),
            scratch: Vec::new(),
        };
        writer.skip_empty();
        Ok(writer)
    }

    /// The tensor the next bytes belong to, or `None` once every tensor is complete.
    pub fn current(&self) -> Option<&TensorSpec> {
        self.tensors.get(self.current).map(|t| &t.spec)
    }

    /// Bytes the current tensor still needs (0 once every tensor is complete).
    pub fn remaining(&self) -> u64 {
        self.tensors
            .get(self.current)
            .map_or(0, |t| t.bytes - self.written)
    }

    /// Appends raw little-endian bytes to the current tensor. A chunk may not extend past the
    /// current tensor's end; once a tensor is full, the next bytes go to the next tensor.
    ///
    /// # Errors
    /// [`Error::WriteSize`] when `bytes` is longer than what the current tensor still needs,
    /// [`Error::Write`] when every tensor is already complete or an earlier call failed,
    /// [`Error::Io`] when the file cannot be written. Any error removes the temporary file.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_room(bytes.len() as u64)?;
        self.append(bytes)
    }

    /// Converts `values` to the current tensor's dtype and appends them, as [`write`] does with
    /// bytes. F16 and BF16 round to nearest, ties to even (`half::f16::from_f32`,
    /// `half::bf16::from_f32`); F64 is exact.
    ///
    /// # Errors
    /// [`Error::WriteTensor`] when the current tensor's dtype is not F32, F64, F16 or BF16
    /// (integer, boolean and 8-bit float tensors take raw bytes through [`write`]), and the
    /// errors of [`write`].
    ///
    /// [`write`]: SafeTensorsWriter::write
    pub fn write_f32(&mut self, values: &[f32]) -> Result<()> {
        if values.is_empty() {
            return self.check_live();
        }
        let dtype = match self.tensors.get(self.current) {
            Some(t) => t.spec.dtype,
            None => {
                self.check_live()?;
                let err = self.past_end(format!("{} values", values.len()));
                return Err(self.fail(err));
            }
        };
        let size = match dtype {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::F16 | DType::BF16 => 2,
            other => {
                let tensor = self.tensors[self.current].spec.name.clone();
                return Err(self.fail(Error::WriteTensor {
                    path: self.path.clone(),
                    tensor,
                    detail: format!(
                        "write_f32 converts only to F32, F64, F16 and BF16, not {other}; write its raw bytes"
                    ),
                }));
            }
        };
        let needed = (values.len() as u64).saturating_mul(size);
        self.check_room(needed)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut result = Ok(());
        for chunk in values.chunks(SCRATCH_ELEMS) {
            scratch.clear();
            encode_f32(dtype, chunk, &mut scratch);
            result = self.append(&scratch);
            if result.is_err() {
                break;
            }
        }
        self.scratch = scratch;
        result
    }

    /// Checks that every tensor got all its bytes, then flushes and fsyncs the temporary file,
    /// checks again that the target is none of the protected inputs, renames the file over the
    /// target and (on unix) fsyncs the directory.
    ///
    /// # Errors
    /// [`Error::WriteSize`] when a tensor got fewer bytes than it needs (naming the first such
    /// tensor), [`Error::OverwriteInput`], [`Error::Io`]. The temporary file is removed and the
    /// target untouched on every error except a failed directory fsync, which comes after the
    /// rename.
    pub fn finish(mut self) -> Result<()> {
        self.check_live()?;
        if let Some(t) = self.tensors.get(self.current) {
            return Err(Error::WriteSize {
                path: self.path.clone(),
                tensor: t.spec.name.clone(),
                expected: t.bytes,
                actual: self.written,
            });
        }
        let out = self.out.take().expect("checked live");
        let path = self.path.clone();
        // On error the `IntoInnerError` / `PersistError` is dropped, which removes the file.
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        file.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        check_not_input(&path, &self.protect)?;
        file.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        sync_dir(&path)
    }

    /// An error if an earlier call failed (the writer is spent).
    fn check_live(&self) -> Result<()> {
        if self.out.is_some() {
            Ok(())
        } else {
            Err(Error::Write {
                path: self.path.clone(),
                detail: "an earlier error ended this writer and removed its temporary file".into(),
            })
        }
    }

    /// Checks that `len` more bytes fit in the current tensor; on failure, ends the writer.
    fn check_room(&mut self, len: u64) -> Result<()> {
        self.check_live()?;
        if len == 0 {
            return Ok(());
        }
        let err = match self.tensors.get(self.current) {
            Some(t) if len <= t.bytes - self.written => return Ok(()),
            Some(t) => Error::WriteSize {
                path: self.path.clone(),
                tensor: t.spec.name.clone(),
                expected: t.bytes,
                actual: self.written.saturating_add(len),
            },
            None => self.past_end(format!("{len} bytes")),
        };
        Err(self.fail(err))
    }

    /// The error for data given when every tensor is complete; `amount` says how much.
    fn past_end(&self, amount: String) -> Error {
        Error::Write {
            path: self.path.clone(),
            detail: match self.tensors.last() {
                Some(t) => format!(
                    "{amount} given after the last tensor `{}` was complete",
                    t.spec.name
                ),
                None => format!("{amount} given, but no tensors were declared"),
            },
        }
    }

    /// Writes bytes already checked to fit the current tensor, advancing when it is full.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("checked live");
        if let Err(e) = out.write_all(bytes) {
            let err = Error::io(&self.path, e);
            return Err(self.fail(err));
        }
        self.written += bytes.len() as u64;
        if self.tensors.get(self.current).map(|t| t.bytes) == Some(self.written) {
            self.current += 1;
            self.written = 0;
            self.skip_empty();
        }
        Ok(())
    }

    /// Moves past tensors of zero bytes, which are complete as soon as they are current.
    fn skip_empty(&mut self) {
        while self.tensors.get(self.current).is_some_and(|t| t.bytes == 0) {
            self.current += 1;
        }
    }

    /// Ends the writer: removes the temporary file and returns `err`.
    fn fail(&mut self, err: Error) -> Error {
        discard(self.out.take());
        err
    }
}

impl Drop for SafeTensorsWriter {
    fn drop(&mut self) {
        discard(self.out.take());
    }
}

/// Removes the temporary file without flushing what is still buffered.
fn discard(out: Option<BufWriter<NamedTempFile>>) {
    if let Some(out) = out {
        let (file, _unflushed) = out.into_parts();
        // Nothing useful can be done if removal fails; `NamedTempFile` would also ignore it.
        let _ = file.close();
    }
}

/// Validates the declaration and computes every tensor's byte size.
fn plan(path: &Path, tensors: Vec<TensorSpec>) -> Result<Vec<Planned>> {
    let invalid = |t: &TensorSpec, detail: String| Error::WriteTensor {
        path: path.into(),
        tensor: t.name.clone(),
        detail,
    };
    let mut names = HashSet::with_capacity(tensors.len());
    let mut total = 0u64;
    let mut planned = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !DType::SAFETENSORS.contains(&t.dtype) {
            return Err(invalid(
                &t,
                format!("dtype {} cannot be stored in SafeTensors", t.dtype),
            ));
        }
        if t.name == METADATA_KEY {
            return Err(invalid(
                &t,
                format!("the name `{METADATA_KEY}` is reserved for metadata"),
            ));
        }
        if !names.insert(t.name.clone()) {
            return Err(invalid(&t, "declared twice".into()));
        }
        // Every SafeTensors dtype has one element per block, so bytes = elements × block bytes.
        let bytes = t
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(t.dtype.block_bytes() as u64))
            .filter(|&b| usize::try_from(b).is_ok())
            .ok_or_else(|| invalid(&t, format!("shape {:?} overflows the byte size", t.shape)))?;
        total = total
            .checked_add(bytes)
            .filter(|&b| usize::try_from(b).is_ok())
            .ok_or_else(|| invalid(&t, "the data section's size overflows".into()))?;
        planned.push(Planned { spec: t, bytes });
    }
    Ok(planned)
}

/// The JSON header, padded with spaces to a multiple of 8 bytes.
///
/// Key order follows the `safetensors` crate's serializer: `__metadata__` first (its keys
/// sorted here, so output is deterministic), then tensors in data order, each as
/// `{"dtype":..,"shape":[..],"data_offsets":[begin,end]}`.
fn header(
    path: &Path,
    tensors: &[Planned],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let json = |s: &str| serde_json::to_string(s).expect("a string always serializes");
    let mut h = String::from("{");
    let mut first = true;
    let mut sep = |h: &mut String| {
        if !std::mem::take(&mut first) {
            h.push(',');
        }
    };
    if !metadata.is_empty() {
        sep(&mut h);
        h.push_str(&json(METADATA_KEY));
        h.push_str(":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                h.push(',');
            }
            h.push_str(&json(k));
            h.push(':');
            h.push_str(&json(v));
        }
        h.push('}');
    }
    let mut offset = 0u64;
    for t in tensors {
        sep(&mut h);
        let shape: Vec<String> = t.spec.shape.iter().map(u64::to_string).collect();
        let end = offset + t.bytes; // `plan` checked the sum
        h.push_str(&format!(
            "{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            json(&t.spec.name),
            json(&t.spec.dtype.name()),
            shape.join(","),
        ));
        offset = end;
    }
    h.push('}');
    let mut bytes = h.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    if bytes.len() > MAX_HEADER_BYTES {
        return Err(Error::Write {
            path: path.into(),
            detail: format!(
                "the header would be {} bytes, more than the {MAX_HEADER_BYTES} readers accept",
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// The directory the temporary file goes in and the target's file name.
fn split_target(path: &Path) -> Result<(&Path, &std::ffi::OsStr)> {
    let name = path.file_name().ok_or_else(|| Error::Write {
        path: path.into(),
        detail: "the output path does not name a file".into(),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::Write {
            path: path.into(),
            detail: "the output path is a directory".into(),
        }),
        Ok(_) => Ok((dir, name)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((dir, name)),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// What makes two paths the same file: device and inode on unix, the canonical path elsewhere.
#[derive(Debug, PartialEq, Eq)]
struct FileId(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] PathBuf);

/// The identity of the file at `path` (following symbolic links), `None` if nothing is there.
fn file_id(path: &Path) -> io::Result<Option<FileId>> {
    #[cfg(unix)]
    let id = fs::metadata(path).map(|m| {
        use std::os::unix::fs::MetadataExt;
        FileId((m.dev(), m.ino()))
    });
    #[cfg(not(unix))]
    let id = fs::canonicalize(path).map(FileId);
    match id {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fails if `path` exists and is the same file as one of `protect`.
fn check_not_input(path: &Path, protect: &[PathBuf]) -> Result<()> {
    let Some(target) = file_id(path).map_err(|e| Error::io(path, e))? else {
        return Ok(());
    };
    for input in protect {
        if file_id(input).map_err(|e| Error::io(input, e))?.as_ref() == Some(&target) {
            return Err(Error::OverwriteInput {
                path: path.into(),
                input: input.clone(),
            });
        }
    }
    Ok(())
}

/// Makes the rename durable by fsyncing the target's directory (unix; a no-op elsewhere).
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Appends `values` converted to `dtype` (F32, F64, F16 or BF16) as little-endian bytes.
fn encode_f32(dtype: DType, values: &[f32], out: &mut Vec<u8>) {
    match dtype {
        DType::F32 => out.extend(values.iter().flat_map(|v| v.to_le_bytes())),
        DType::F64 => out.extend(values.iter().flat_map(|&v| f64::from(v).to_le_bytes())),
        DType::F16 => out.extend(
            values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes()),
        ),
        DType::BF16 => out.extend(
            values
                .iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()),
        ),
        other => unreachable!("write_f32 checked the dtype, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(specs: Vec<TensorSpec>) -> Vec<Planned> {
        plan(Path::new("out.safetensors"), specs).unwrap()
    }

    #[test]
    fn header_matches_the_safetensors_layout() {
        let t = planned(vec![
            TensorSpec::new("a", DType::F32, &[2, 3]),
            TensorSpec::new("s", DType::I64, &[]),
            TensorSpec::new("e", DType::BF16, &[0, 4]),
        ]);
        let meta = BTreeMap::from([
            ("z".to_string(), "1".to_string()),
            ("a\"b".to_string(), "é\n".to_string()),
        ]);
        let h = header(Path::new("o"), &t, &meta).unwrap();
        assert_eq!(h.len() % 8, 0);
        let text = std::str::from_utf8(&h).unwrap();
        assert_eq!(
            text.trim_end_matches(' '),
            r#"{"__metadata__":{"a\"b":"é\n","z":"1"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"s":{"dtype":"I64","shape":[],"data_offsets":[24,32]},"e":{"dtype":"BF16","shape":[0,4],"data_offsets":[32,32]}}"#
        );
        assert!(text.len() - text.trim_end_matches(' ').len() < 8);
    }

    #[test]
    fn empty_declaration_is_a_padded_empty_object() {
        let h = header(Path::new("o"), &[], &BTreeMap::new()).unwrap();
        assert_eq!(h, b"{}      ");
    }

    #[test]
    fn plan_rejects_bad_declarations() {
        let p = Path::new("out.safetensors");
        let cases = [
            (
                vec![TensorSpec::new("q", DType::AprQ8, &[4])],
                "out.safetensors: cannot write tensor `q`: dtype APR_Q8 cannot be stored in SafeTensors",
            ),
            (
                vec![
                    TensorSpec::new("x", DType::F32, &[1]),
                    TensorSpec::new("x", DType::U8, &[1]),
                ],
                "out.safetensors: cannot write tensor `x`: declared twice",
            ),
            (
                vec![TensorSpec::new("__metadata__", DType::U8, &[1])],
                "out.safetensors: cannot write tensor `__metadata__`: the name `__metadata__` is reserved for metadata",
            ),
            (
                vec![TensorSpec::new("big", DType::F64, &[1 << 62])],
                "out.safetensors: cannot write tensor `big`: shape [4611686018427387904] overflows the byte size",
            ),
            (
                vec![
                    TensorSpec::new("h1", DType::U8, &[1 << 62]),
                    TensorSpec::new("h2", DType::U8, &[1 << 62]),
                    TensorSpec::new("h3", DType::U8, &[1 << 62]),
                    TensorSpec::new("h4", DType::U8, &[1 << 62]),
                ],
                "out.safetensors: cannot write tensor `h4`: the data section's size overflows",
            ),
        ];
        for (specs, want) in cases {
            assert_eq!(plan(p, specs).unwrap_err().to_string(), want);
        }
    }

    /// Round to nearest, ties to even, written from the definition rather than from `half`.
    fn bf16_reference(v: f32) -> u16 {
        let x = v.to_bits();
        if v.is_nan() {
            return ((x >> 16) as u16) | 0x0040;
        }
        let (hi, lo) = (x >> 16, x & 0xffff);
        let up = lo > 0x8000 || (lo == 0x8000 && hi & 1 == 1);
        (hi + u32::from(up)) as u16
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7f80_0001), // signalling NaN whose payload bits all round away
            f32::MAX,                    // rounds up to infinity
            f32::MIN_POSITIVE,
            f32::from_bits(1),           // smallest subnormal
            f32::from_bits(0x3f80_8000), // tie, even below: stays 1.0
            f32::from_bits(0x3f81_8000), // tie, odd below: rounds up
            f32::from_bits(0x3f80_8001), // just above the tie
        ];
        let mut x = 0x1234_5678u32;
        let pseudo_random = (0..10_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            f32::from_bits(x)
        });
        let values: Vec<f32> = specials.into_iter().chain(pseudo_random).collect();
        let mut out = Vec::new();
        encode_f32(DType::BF16, &values, &mut out);
        for (v, b) in values.iter().zip(out.chunks_exact(2)) {
            let got = u16::from_le_bytes([b[0], b[1]]);
            assert_eq!(got, bf16_reference(*v), "{v:e} ({:#010x})", v.to_bits());
        }
        assert_eq!(bf16_reference(f32::MAX), 0x7f80);
        assert_eq!(bf16_reference(f32::from_bits(0x7f80_0001)), 0x7fc0);
    }

    #[test]
    fn f16_known_roundings() {
        // (input, expected f16 bits): ties go to the even neighbour, overflow to infinity,
        // results below half the smallest subnormal to zero.
        let cases = [
            (1.0 + 2f32.powi(-11), 0x3c00),       // tie, even below: stays 1.0
            (1.0 + 3.0 * 2f32.powi(-11), 0x3c02), // tie, odd below: rounds up
            (65504.0, 0x7bff),                    // largest finite
            (65520.0, 0x7c00),                    // tie above the largest: infinity
            (2f32.powi(-24), 0x0001),             // smallest subnormal
            (2f32.powi(-25), 0x0000),             // tie with zero: even is zero
            (3.0 * 2f32.powi(-26), 0x0001),       // above the tie
            (-0.0, 0x8000),
            (f32::NEG_INFINITY, 0xfc00),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            encode_f32(DType::F16, &[v], &mut out);
            assert_eq!(u16::from_le_bytes([out[0], out[1]]), want, "{v:e}");
        }
        let mut out = Vec::new();
        encode_f32(DType::F16, &[f32::NAN], &mut out);
        assert!(half::f16::from_le_bytes([out[0], out[1]]).is_nan());
    }
}
