//! The engine's error type.

/// What can stop a diff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model could not be read or decoded.
    #[error(transparent)]
    Format(#[from] modeldiff_formats::Error),
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
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
