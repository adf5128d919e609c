//! The error types of this crate: [`Error`] for opening and decoding model files, and
//! [`DecodeError`] for decoding a buffer that is not (yet) tied to a file.

use std::path::PathBuf;

/// Everything that can go wrong while opening, validating, decoding or writing a model file.
///
/// Messages are lowercase, one line, and name the file (and the tensor, where there is one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused to open, stat or map a file.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (part of the message, not a separate `source`, so that
        /// error chains print it once).
        err: std::io::Error,
    },
    /// The file's first bytes match no supported format.
    #[error("{}: unrecognised file format ({detail})", path.display())]
    UnknownFormat {
        /// The file concerned.
        path: PathBuf,
        /// What was seen instead of a known magic.
        detail: String,
    },
    /// The file is of a known format this build cannot read (yet).
    #[error("{}: {detail}", path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What is unsupported.
        detail: String,
    },
    /// The file is structurally invalid: truncated, inconsistent, or out of bounds.
    #[error("{}: malformed {format} file: {detail}", path.display())]
    Malformed {
        /// The file concerned.
        path: PathBuf,
        /// Format name (`safetensors`, `gguf`, `apr`).
        format: &'static str,
        /// What is wrong, with offsets and sizes where known.
        detail: String,
    },
    /// A stored checksum does not match the bytes it covers (skipped with `--no-verify`).
    #[error(
        "{}: {what} mismatch (stored {stored:#010x}, computed {computed:#010x}); the file is corrupt, or use --no-verify to read it anyway",
        path.display()
    )]
    Checksum {
        /// The file concerned.
        path: PathBuf,
        /// Which checksum (`apr header crc32`, `apr footer crc32`).
        what: &'static str,
        /// The value stored in the file.
        stored: u32,
        /// The value computed from the file's bytes.
        computed: u32,
    },
    /// A mapped input file shrank (was truncated or replaced in place) while it was being read;
    /// the bytes read after that are not the file's, so no result computed from them is given.
    #[error("{}: file changed while reading", path.display())]
    Changed {
        /// The file that changed.
        path: PathBuf,
    },
    /// A tensor of an opened model cannot be decoded as asked.
    #[error("{}: tensor `{tensor}`: {source}", path.display())]
    Decode {
        /// The model the tensor belongs to.
        path: PathBuf,
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        source: DecodeError,
    },
    /// A tensor declared to the SafeTensors writer cannot be written as declared (a dtype
    /// SafeTensors cannot hold, a duplicate or reserved name, a size that overflows, or a
    /// conversion the dtype does not support).
    #[error("{}: cannot write tensor `{tensor}`: {detail}", path.display())]
    WriteTensor {
        /// The output file.
        path: PathBuf,
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        detail: String,
    },
    /// A tensor was given more or fewer bytes than its dtype and shape need.
    #[error(
        "{}: tensor `{tensor}` needs {expected} bytes, got {actual}",
        path.display()
    )]
    WriteSize {
        /// The output file.
        path: PathBuf,
        /// Tensor name.
        tensor: String,
        /// Bytes the tensor's dtype and shape need.
        expected: u64,
        /// Bytes given (for too many, the total including the chunk that overflowed).
        actual: u64,
    },
    /// The output path names the same file as one of the inputs the caller protected.
    #[error(
        "{}: refusing to overwrite input {} (same file)",
        path.display(),
        input.display()
    )]
    OverwriteInput {
        /// The output file.
        path: PathBuf,
        /// The protected input it resolves to.
        input: PathBuf,
    },
    /// Writing an output file failed for a reason other than I/O or a tensor's declaration.
    #[error("{}: cannot write: {detail}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Why a buffer of stored tensor bytes cannot be decoded as asked (no file or tensor name:
/// [`Error::Decode`] adds them when the buffer belongs to a model).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The dtype has no numeric decoding (an opaque type id, or a float decode of an integer).
    #[error("dtype {dtype} cannot be decoded to {to}")]
    NotDecodable {
        /// The stored dtype's name.
        dtype: String,
        /// What was asked for (`numbers`, `integers`).
        to: &'static str,
    },
    /// The blocks of this type have no defined big-endian layout.
    #[error(
        "{dtype} blocks in a big-endian file have no defined byte order; only F32, F16, BF16, \
         F64, the integer types, Q4_0, Q8_0, Q4_K, Q6_K, MXFP4 and NVFP4 can be read"
    )]
    BigEndianLayout {
        /// The quant type's name.
        dtype: String,
    },
    /// The element range does not lie inside the tensor.
    #[error("element range {start}..{end} is past the end of the tensor ({len} elements)")]
    OutOfRange {
        /// First requested element.
        start: u64,
        /// One past the last requested element.
        end: u64,
        /// Elements the stored bytes hold.
        len: u64,
    },
    /// The output buffer's length differs from the range's, or the range is reversed.
    #[error("element range {start}..{end} does not match an output of {out} elements")]
    OutputLength {
        /// First requested element.
        start: u64,
        /// One past the last requested element.
        end: u64,
        /// Length of the output buffer.
        out: u64,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }

    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        format: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Error::Malformed {
            path: path.into(),
            format,
            detail: detail.into(),
        }
    }
}
