//! The crate's error type: why an instruction set cannot be chosen.

use std::fmt::Write as _;

use crate::Isa;

/// Why an [`Isa`] cannot be parsed, forced or selected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsaError {
    /// The name is not one of [`Isa::ALL`]'s names.
    #[error(
        "unknown instruction set `{name}`, expected one of: {}",
        names(Isa::ALL)
    )]
    Unknown {
        /// The name as given.
        name: String,
    },
    /// The CPU lacks an instruction set the implementation needs.
    #[error(
        "instruction set `{isa}` is not available on this CPU (available: {})",
        names(available)
    )]
    Unavailable {
        /// The implementation asked for.
        isa: Isa,
        /// The implementations this CPU can run.
        available: Vec<Isa>,
    },
    /// The environment variable `MODELDIFF_FORCE_ISA` names an unknown or unavailable one.
    #[error("{variable}={value:?}: {reason}")]
    Env {
        /// The variable's name, `MODELDIFF_FORCE_ISA`.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with the value ([`IsaError::Unknown`] or [`IsaError::Unavailable`]).
        reason: Box<IsaError>,
    },
}

/// `scalar, avx2, avx512, neon`.
fn names(list: &[Isa]) -> String {
    let mut s = String::new();
    for (i, isa) in list.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(s, "{sep}{isa}");
    }
    s
}
