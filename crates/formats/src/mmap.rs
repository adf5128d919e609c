//! [`Storage`]: the bytes behind a model's tensors, and the single place where files are
//! memory-mapped.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes backing one or more tensors: a read-only memory map or an owned buffer
/// (a decompressed payload, or bytes handed to [`crate::open_bytes`]).
#[derive(Debug)]
pub(crate) enum Storage {
    /// A read-only map of a whole file.
    Mapped(memmap2::Mmap),
    /// Bytes owned in memory.
    Owned(Vec<u8>),
}

impl Storage {
    /// Maps `path` read-only.
    ///
    /// Zero-length files cannot be mapped on every platform; they become an empty owned buffer.
    pub(crate) fn map(path: &Path) -> Result<Storage> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(Storage::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and never handed out mutably. Another process truncating
        // or rewriting the file while it is mapped is outside what we can guard against (as with
        // every mmap-based reader); we document it in the crate docs and never write to inputs.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Storage::Mapped(map))
    }

    /// The stored bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}
