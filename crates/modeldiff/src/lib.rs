//! The modeldiff engine: match the tensors of two models, stream them through the metric
//! kernels on all cores, and build a [`Report`].
//!
//! # Overview
//!
//! [`diff`] takes two [`modeldiff_formats::Model`]s (opened with [`modeldiff_formats::open`]
//! or [`modeldiff_formats::open_bytes`]) and a [`Config`] (name filters, threads, chunk size),
//! and runs four stages, each a public module usable on its own:
//!
//! 1. **match** ([`matching`]): the [`Filter`] picks tensor names, exact names pair up, and
//!    further [`Matcher`]s may pair what is left; the result is a [`Matching`] of entries
//!    (paired, only in A, only in B).
//! 2. **plan** ([`plan`](mod@plan)): each pair gets a [`CompareMode`] (f32 metrics, exact
//!    integers, raw bytes, or not comparable with the reason), the compared [`Region`] (the
//!    overlap of two shapes of equal rank) and chunked jobs.
//! 3. **stream** ([`stream`]): a [`PairStream`] walks a job as [`Piece`]s, contiguous runs that
//!    hand out the stored bytes of both sides or their `f32` values (decoded into thread-local
//!    buffers, zero-copy for F32).
//! 4. **consume** ([`consume`]): a [`Consumer`] turns each job into a partial result, run on
//!    all cores and returned in job order. The diff is the [`DiffConsumer`], which folds
//!    [`modeldiff_kernels::DiffStats`] per pair and builds the [`Report`] (schema
//!    `modeldiff.report.v1`), including the metadata diff ([`MetaChange`]).
//!
//! Cross-format diffs plug into the match stage ([`crossformat`]: HF ↔ GGUF name tables,
//! `--rename` rules, renames by content, tied embeddings, and the converter [`Transform`]s that
//! the plan undoes, such as the Q/K RoPE row permutation); [`drift()`] turns a report into the
//! quantization drift report, and [`spectral`] adds the spectrum of a change.
//!
//! [`inspect()`] describes a single model ([`Inspection`]); [`describe`] is the part about one
//! model that a report and an inspection share.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A one-tensor SafeTensors file in memory.
//! let file = |v: &[f32]| {
//!     let header = format!(r#"{{"w":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{}]}}}}"#, v.len(), 4 * v.len());
//!     let mut f = (header.len() as u64).to_le_bytes().to_vec();
//!     f.extend(header.as_bytes());
//!     f.extend(v.iter().flat_map(|x| x.to_le_bytes()));
//!     f
//! };
//! let a = modeldiff_formats::open_bytes("a.safetensors", file(&[1.0, 2.0, 3.0]))?;
//! let b = modeldiff_formats::open_bytes("b.safetensors", file(&[1.0, 2.0, 3.5]))?;
//! let report = modeldiff::diff(&a, &b, &modeldiff::Config::default())?;
//! let w = &report.tensors[0];
//! assert_eq!(w.identical, Some(false));
//! assert_eq!(w.metrics.as_ref().unwrap().max_abs, 0.5);
//! assert_eq!(w.metrics.as_ref().unwrap().max_abs_index, vec![2]);
//! # Ok(()) }
//! ```
//!
//! `examples/stages.rs` runs the stages by hand with a consumer of its own.
//!
//! # Design
//!
//! - **Stages, not one function.** Delta extraction and apply, cross-format matching and
//!   fused kernels each need one stage and reuse the others: a new matcher plugs into
//!   [`match_tensors`], a new consumer into [`consume::run`].
//! - **Bounded memory.** Work items are chunks of at most [`DEFAULT_CHUNK_ELEMS`] compared
//!   elements; each worker thread decodes into two reusable thread-local buffers, and F32
//!   tensors are read straight from the memory map. Memory use does not grow with model size.
//! - **Determinism.** Chunk results are merged in job order, so the numbers do not depend on
//!   the thread count.
//! - **Shortcuts.** Pieces whose stored bytes are equal under the same encoding (asked of the
//!   formats crate, which alone knows where a layout's bytes are) are decoded once and
//!   compared against themselves.
//! - **Undecodable tensors** (known when the file is opened: a fork's type id against another
//!   type, quant blocks without a big-endian layout) are listed as not compared, with a
//!   warning naming file, tensor and reason; the rest of the diff completes.
//! - The engine knows nothing about terminals or exit codes: that is `modeldiff-cli`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod consume;
pub mod crossformat;
mod describe;
pub mod drift;
mod engine;
mod error;
pub mod inspect;
pub mod lowrank;
pub mod matching;
pub mod metadata;
pub mod payloads;
pub mod plan;
pub mod progress;
mod region;
pub mod report;
pub mod spectral;
pub mod stream;
#[cfg(test)]
mod testutil;

pub use consume::{Consumer, DiffConsumer, ReportOptions};
pub use crossformat::{ModelFacts, NameMap, QkUnpermute, RenameRules};
pub use describe::{describe, Property};
pub use drift::{drift, DriftReport, Verdict, DRIFT_SCHEMA};
pub use engine::{diff, with_threads, Config, DEFAULT_CHUNK_ELEMS};
pub use error::{one_line, Error, Result};
pub use inspect::{inspect, Inspection, INSPECT_SCHEMA};
pub use matching::{match_tensors, Filter, MatchedBy, Matcher, Matching, Transform};
pub use metadata::{MetaChange, MetaChangeKind, MetaSummary, MetaValueView};
pub use plan::{plan, CompareMode, Plan};
pub use progress::Progress;
pub use region::Region;
pub use report::{ChangeKind, Metrics, ModelSummary, Report, Summary, TensorReport, SCHEMA};
pub use stream::{PairStream, Piece};
