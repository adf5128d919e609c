//! Zip archives (PyTorch checkpoints, NumPy `.npz`): the entry list, validated, and bounded
//! reads of entries.
//!
//! The `zip` crate (built without any compression feature) parses the central directory and
//! each entry's local header; this module checks what it returns before anything uses it:
//! every entry name is a plain relative path (no `..`, no root, no backslash, no drive), every
//! entry's data lies inside the archive, and stored entries have equal compressed and
//! uncompressed sizes. A stored entry is then a slice of the mapped archive (zero-copy); a
//! deflated one is inflated with `flate2` into a buffer of exactly its declared size, which is
//! capped by the caller and by deflate's largest possible expansion, and checked against the
//! entry's CRC-32 — so a zip bomb costs at most the cap.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Deflate's largest expansion: 1032:1 (a 258-byte match costs at least 2 bits).
const MAX_DEFLATE_RATIO: u64 = 1032;

/// How an entry's bytes are stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// Stored as is.
    Stored,
    /// Raw deflate.
    Deflated,
    /// Any other method (as the `zip` crate names it), readable by nothing here.
    Other(String),
}

/// One validated entry of an archive.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Its path inside the archive (`/`-separated, plain relative).
    pub name: String,
    /// How its bytes are stored.
    pub method: Method,
    /// Offset of its (compressed) data in the archive.
    pub data_start: u64,
    /// Stored bytes.
    pub compressed: u64,
    /// Bytes once inflated.
    pub size: u64,
    /// CRC-32 of the inflated bytes.
    pub crc32: u32,
}

impl Entry {
    /// Byte range of the stored data in the archive (checked in bounds by [`entries`]).
    pub(crate) fn data_range(&self) -> std::ops::Range<usize> {
        self.data_start as usize..(self.data_start + self.compressed) as usize
    }
}

/// Whether `name` is a plain relative `/`-separated path: no empty, `.` or `..` component, no
/// leading `/`, no backslash and no drive letter.
pub(crate) fn is_plain_path(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.contains(':')
        && name
            .trim_end_matches('/')
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Lists and validates the entries of the zip archive `bytes` (`format` names the format in
/// messages).
pub(crate) fn entries(path: &Path, bytes: &[u8], format: &'static str) -> Result<Vec<Entry>> {
    let bad = |detail: String| Error::malformed(path, format, detail);
    // The archive starts at offset 0 (detection saw its first local header there). The crate's
    // offset detection misreads the zip64 end records PyTorch's writer emits, so it is not used.
    let config = zip::read::Config {
        archive_offset: zip::read::ArchiveOffset::Known(0),
    };
    let mut zip = zip::ZipArchive::with_config(config, Cursor::new(bytes))
        .map_err(|e| bad(format!("zip archive: {e}")))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| bad(format!("zip entry {i}: {e}")))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if !is_plain_path(&name) {
            return Err(bad(format!(
                "zip entry `{name}` is not a plain relative path (absolute, `..` or empty components)"
            )));
        }
        if f.encrypted() {
            return Err(bad(format!("zip entry `{name}` is encrypted")));
        }
        // The crate is built without decompressors: deflate is inflated here, bounded.
        let method = match f.compression() {
            m if m == zip::CompressionMethod::STORE => Method::Stored,
            m if m == zip::CompressionMethod::DEFLATE => Method::Deflated,
            other => Method::Other(format!("{other:?}")),
        };
        let data_start = f
            .data_start()
            .ok_or_else(|| bad(format!("zip entry `{name}` has no data offset")))?;
        let (compressed, size) = (f.compressed_size(), f.size());
        let end = data_start.checked_add(compressed);
        if end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(bad(format!(
                "zip entry `{name}` needs {compressed} bytes at offset {data_start}, archive has {}",
                bytes.len()
            )));
        }
        if method == Method::Stored && compressed != size {
            return Err(bad(format!(
                "stored zip entry `{name}` declares {size} bytes but stores {compressed}"
            )));
        }
        out.push(Entry {
            name,
            method,
            data_start,
            compressed,
            size,
            crc32: f.crc32(),
        });
    }
    Ok(out)
}

/// The bytes of a stored entry, borrowed from the archive; `None` if it is compressed.
pub(crate) fn stored<'a>(bytes: &'a [u8], e: &Entry) -> Option<&'a [u8]> {
    (e.method == Method::Stored).then(|| &bytes[e.data_range()])
}

/// The bytes of any readable entry: borrowed when stored, inflated when deflated. The inflated
/// size is the declared one, at most `cap` bytes and at most deflate's largest expansion of the
/// stored bytes; more or less output, or a CRC-32 mismatch, is an error.
pub(crate) fn read<'a>(
    path: &Path,
    format: &'static str,
    bytes: &'a [u8],
    e: &Entry,
    cap: u64,
) -> Result<std::borrow::Cow<'a, [u8]>> {
    let bad = |detail: String| Error::malformed(path, format, detail);
    match e.method {
        Method::Stored => Ok(bytes[e.data_range()].into()),
        Method::Deflated => {
            let limit = cap.min(e.compressed.saturating_mul(MAX_DEFLATE_RATIO));
            if e.size > limit {
                return Err(bad(format!(
                    "zip entry `{}` inflates to {} bytes, more than the {limit} accepted \
                     ({} compressed bytes, cap {cap})",
                    e.name, e.size, e.compressed
                )));
            }
            let mut out = Vec::new();
            out.try_reserve_exact(e.size as usize).map_err(|_| {
                bad(format!(
                    "zip entry `{}`: cannot allocate {} bytes",
                    e.name, e.size
                ))
            })?;
            let mut dec = flate2::read::DeflateDecoder::new(&bytes[e.data_range()]);
            // One byte more than declared, to notice a stream that is longer than it says.
            (&mut dec)
                .take(e.size + 1)
                .read_to_end(&mut out)
                .map_err(|err| bad(format!("zip entry `{}`: {err}", e.name)))?;
            if out.len() as u64 != e.size {
                return Err(bad(format!(
                    "zip entry `{}` inflates to {}{} bytes, declared {}",
                    e.name,
                    if out.len() as u64 > e.size {
                        "more than "
                    } else {
                        ""
                    },
                    out.len().min(e.size as usize),
                    e.size
                )));
            }
            let crc = crc32fast::hash(&out);
            if crc != e.crc32 {
                return Err(bad(format!(
                    "zip entry `{}` CRC-32 is {crc:#010x}, declared {:#010x}",
                    e.name, e.crc32
                )));
            }
            Ok(out.into())
        }
        Method::Other(ref m) => Err(Error::Unsupported {
            path: path.into(),
            detail: format!(
                "zip entry `{}` uses compression method {m}; only stored and deflated entries are read",
                e.name
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths() {
        for ok in ["a", "a/b.npy", "archive/data/0", "dir/"] {
            assert!(is_plain_path(ok), "{ok}");
        }
        for bad in [
            "", "/a", "../a", "a/../b", "a//b", "a/./b", "c:/x", "a\\..\\b", "..",
        ] {
            assert!(!is_plain_path(bad), "{bad}");
        }
    }
}
