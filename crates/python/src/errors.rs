//! Errors of the engine and the formats crate as Python exceptions.
//!
//! A [`Failure`] is built on the worker thread (no GIL there) and turned into a Python
//! exception on the calling thread: the classes live in `modeldiff._errors` (Python, so that
//! `IoError` can also be an `OSError`), and each message is the CLI's one line without its
//! `modeldiff: ` prefix, for example `cannot read model A: x.gguf: truncated: ...`.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// Which Python class an error becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `modeldiff.FormatError`: malformed, inconsistent or unrecognised input.
    Format,
    /// `modeldiff.IoError`: the operating system refused a read or write.
    Io,
    /// `modeldiff.UnsupportedError`: a known format or layout this build cannot read.
    Unsupported,
    /// `modeldiff.DeltaError`: a payload that is invalid or does not fit its base.
    Delta,
    /// `ValueError`: a bad argument found by a library (a name map, a thread count).
    Value,
    /// `KeyboardInterrupt` was raised while the work ran: the engine stopped.
    Cancelled,
    /// `RuntimeError`: a bug (the worker panicked, a report failed to serialize).
    Internal,
}

/// An error on its way to Python: its class and its one-line message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Kind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: modeldiff::one_line(&message.into()),
        }
    }

    /// A formats-crate error, after `context` as the CLI words it (`cannot read model A`).
    pub(crate) fn format(context: &str, e: modeldiff_formats::Error) -> Failure {
        Failure::new(format_kind(&e), format!("{context}: {e}"))
    }

    /// An engine error.
    pub(crate) fn engine(e: modeldiff::Error) -> Failure {
        use modeldiff::Error as E;
        let kind = match &e {
            E::Format(f) => format_kind(f),
            E::Isa(_) => Kind::Unsupported,
            E::Payload(_) | E::BaseMismatch { .. } | E::Delta { .. } => Kind::Delta,
            E::Threads { .. } | E::NameMap { .. } | E::LowRank { .. } => Kind::Value,
            E::Cancelled => Kind::Cancelled,
            _ => Kind::Format,
        };
        Failure::new(kind, e.to_string())
    }

    /// A bug rather than a problem with the input.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Failure {
        Failure::new(Kind::Internal, e.to_string())
    }

    /// The Python exception.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let class = match self.kind {
            Kind::Format => "FormatError",
            Kind::Io => "IoError",
            Kind::Unsupported => "UnsupportedError",
            Kind::Delta => "DeltaError",
            Kind::Value => return PyValueError::new_err(self.message),
            Kind::Internal => return PyRuntimeError::new_err(self.message),
            Kind::Cancelled => return pyo3::exceptions::PyKeyboardInterrupt::new_err(self.message),
        };
        let made = py
            .import("modeldiff._errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((self.message.clone(),)));
        match made {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        }
    }
}

/// The class of a formats-crate error.
fn format_kind(e: &modeldiff_formats::Error) -> Kind {
    use modeldiff_formats::Error as E;
    match e {
        E::Io { .. } | E::Write { .. } => Kind::Io,
        E::Unsupported { .. } => Kind::Unsupported,
        _ => Kind::Format,
    }
}
