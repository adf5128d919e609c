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
    /// The worker thread pool could not be created.
    #[error("cannot start {threads} worker threads: {detail}")]
    Threads {
        /// Requested thread count.
        threads: usize,
        /// The underlying error.
        detail: String,
    },
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
