//! The engine's error type.

/// What can stop a diff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model could not be read or decoded.
    #[error(transparent)]
    Format(#[from] modeldiff_formats::Error),
    /// The kernel implementation asked for (`MODELDIFF_FORCE_ISA`, `Isa::force`) cannot run.
    #[error(transparent)]
    Isa(#[from] modeldiff_kernels::IsaError),
    /// A payload is invalid, or does not fit the model it is used with.
    #[error(transparent)]
    Payload(#[from] modeldiff_delta::Error),
    /// The base model is not the one the payload was extracted from.
    #[error("{}: base model digest {actual} differs from the payload's base {expected}; use --force to apply anyway", path.display())]
    BaseMismatch {
        /// The base model.
        path: std::path::PathBuf,
        /// The digest the payload records.
        expected: String,
        /// The base's digest.
        actual: String,
    },
    /// A delta operation cannot be carried out on these models (a tensor it cannot express or
    /// apply), with the tensor named.
    #[error("{detail}")]
    Delta {
        /// What is wrong, naming the file and tensor.
        detail: String,
    },
    /// The worker thread pool could not be created.
    #[error("cannot start {threads} worker threads: {detail}")]
    Threads {
        /// Requested thread count.
        threads: usize,
        /// The underlying error.
        detail: String,
    },
    /// A low-rank decomposition ([`crate::lowrank`]) was given a bad matrix or options, or
    /// its SVD did not converge.
    #[error("low-rank decomposition of a {rows}×{cols} matrix: {detail}")]
    LowRank {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// What went wrong, naming the value or option.
        detail: String,
    },
    /// The caller cancelled the run through its [`crate::Progress`] counter.
    #[error("cancelled")]
    Cancelled,
    /// A name map (`--map FILE`) or rename rule is malformed.
    #[error("name map {source_name}: {detail}")]
    NameMap {
        /// The map's file name (or the rule as given).
        source_name: String,
        /// What is wrong, naming the line or key.
        detail: String,
    },
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message on one line, as the CLI prints it and the Python bindings raise it: the lines of a
/// multi-line message (a library's, or an error chain formatted with `{:#}`) are trimmed, empty
/// ones dropped, and the rest joined with `; `.
///
/// ```
/// assert_eq!(modeldiff::one_line("bad header\n  at byte 8\n"), "bad header; at byte 8");
/// assert_eq!(modeldiff::one_line("fine"), "fine");
/// ```
pub fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}
