//! The modeldiff engine: match the tensors of two models, stream them through the metric
//! kernels on all cores, and build a [`Report`].
//!
//! # Overview
//!
//! [`diff`] takes two [`modeldiff_formats::Model`]s (opened with [`modeldiff_formats::open`])
//! and a [`Config`] (name filters, threads, chunk size). Tensors are matched by name and
//! classified ([`ChangeKind`]: added, removed, shape-changed, unchanged; a dtype change is a
//! separate flag). Every pair of equal rank is compared over its common region: float-like
//! dtypes (including quantized ones) are decoded to f32 chunks and fed to
//! [`modeldiff_kernels::DiffStats`]; integer and boolean pairs are compared exactly; undecodable
//! dtypes by raw bytes. Metadata (GGUF key/values, SafeTensors `__metadata__`, APR JSON) is
//! diffed key by key ([`MetaChange`]). The [`Report`] is a plain serde value (schema
//! `modeldiff.report.v1`); [`inspect`] describes a single model ([`Inspection`]).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let write = |name: &str, v: &[f32]| {
//! #     let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
//! #     let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![v.len()], &bytes).unwrap();
//! #     let p = dir.path().join(name);
//! #     safetensors::serialize_to_file([("w", view)], None, &p).unwrap();
//! #     p
//! # };
//! let a = modeldiff_formats::open(&write("a.safetensors", &[1.0, 2.0, 3.0]))?;
//! let b = modeldiff_formats::open(&write("b.safetensors", &[1.0, 2.0, 3.5]))?;
//! let report = modeldiff::diff(&a, &b, &modeldiff::Config::default())?;
//! let w = &report.tensors[0];
//! assert_eq!(w.identical, Some(false));
//! assert_eq!(w.metrics.as_ref().unwrap().max_abs, 0.5);
//! assert_eq!(w.metrics.as_ref().unwrap().max_abs_index, vec![2]);
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! - **Bounded memory.** Work items are chunks of at most [`DEFAULT_CHUNK_ELEMS`] compared
//!   elements; each worker thread decodes into two reusable thread-local buffers, and F32
//!   tensors are read straight from the memory map. Memory use does not grow with model size.
//! - **Determinism.** Chunk results are merged in a fixed order, so the numbers do not depend on
//!   the thread count.
//! - **Shortcuts.** Chunks whose raw bytes are equal under the same encoding are decoded once
//!   and compared against themselves.
//! - The engine knows nothing about terminals or exit codes: that is `modeldiff-cli`.
#![deny(missing_docs)]

pub mod consume;
mod describe;
mod engine;
mod error;
pub mod inspect;
pub mod matching;
pub mod metadata;
pub mod plan;
mod region;
pub mod report;
pub mod stream;
#[cfg(test)]
mod testutil;

pub use consume::{Consumer, DiffConsumer};
pub use describe::{describe, Property};
pub use engine::{diff, with_threads, Config, DEFAULT_CHUNK_ELEMS};
pub use error::{Error, Result};
pub use inspect::{inspect, Inspection, INSPECT_SCHEMA};
pub use matching::{match_tensors, Filter, Matcher, Matching};
pub use metadata::{MetaChange, MetaChangeKind, MetaSummary, MetaValueView};
pub use plan::{plan, CompareMode, Plan};
pub use region::Region;
pub use report::{ChangeKind, Metrics, ModelSummary, Report, Summary, TensorReport, SCHEMA};
pub use stream::{PairStream, Piece};
