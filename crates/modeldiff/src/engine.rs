//! The diff pipeline: configuration, and the stages run in order on a thread pool.

use std::sync::Arc;

use modeldiff_formats::Model;
use regex::Regex;

use crate::consume::{run_with_progress, DiffConsumer, ReportOptions};
use crate::error::{Error, Result};
use crate::matching::{match_tensors, Filter};
use crate::plan::plan;
use crate::progress::Progress;
use crate::report::Report;

/// Elements per work item by default: 64 Ki elements (256 KiB of f32 per side) keeps each
/// thread's two decode buffers in L2 and is a multiple of every block size (32, 64, 256).
pub const DEFAULT_CHUNK_ELEMS: usize = 1 << 16;

/// How a diff runs: which tensors, how many threads, how big the streamed chunks are.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Keep only tensors whose name matches one of these (all when empty).
    pub include: Vec<Regex>,
    /// Drop tensors whose name matches one of these.
    pub exclude: Vec<Regex>,
    /// Worker threads (`None`: rayon's default, one per core).
    pub threads: Option<usize>,
    /// Elements per work item (rounded up to a multiple of 256).
    pub chunk_elems: usize,
    /// Leave metadata out of the report (see [`ReportOptions::ignore_metadata`]).
    pub ignore_metadata: bool,
    /// A counter the consume stage advances after every job (stored bytes of both sides), for
    /// the caller to display; the engine never draws anything.
    pub progress: Option<Arc<Progress>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            include: Vec::new(),
            exclude: Vec::new(),
            threads: None,
            chunk_elems: DEFAULT_CHUNK_ELEMS,
            ignore_metadata: false,
            progress: None,
        }
    }
}

impl Config {
    /// The name filter of the match stage.
    pub fn filter(&self) -> Filter {
        Filter::new(self.include.clone(), self.exclude.clone())
    }
}

/// Runs `f` on a pool of `threads` workers (rayon's global pool when `None`).
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    match threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::Threads {
                threads: n,
                detail: e.to_string(),
            })?
            .install(f),
        None => f(),
    }
}

/// Compares model `a` (old) with model `b` (new).
///
/// The stages run in order: [`match_tensors`] (names, filters) → [`plan`] (compare mode,
/// region, chunked jobs) → [`run_with_progress`] with the [`DiffConsumer`] (pieces streamed
/// through the metric kernels on all cores, advancing [`Config::progress`]) →
/// [`DiffConsumer::fold`] and [`DiffConsumer::report_with`] (merged in job order, so the report
/// does not depend on the thread count).
pub fn diff(a: &Model, b: &Model, config: &Config) -> Result<Report> {
    // Surface a bad forced ISA as an error before any work, never as a silent fallback.
    modeldiff_kernels::Isa::try_selected()?;
    with_threads(config.threads, || {
        let matching = match_tensors(a, b, &config.filter(), &[]);
        let plan = plan(a, b, &matching, config.chunk_elems);
        let partials = run_with_progress(a, b, &plan, &DiffConsumer, config.progress.as_deref())?;
        let outcomes = DiffConsumer.fold(&plan, &partials);
        let options = ReportOptions {
            ignore_metadata: config.ignore_metadata,
        };
        Ok(DiffConsumer.report_with(a, b, &matching, &plan, &outcomes, &options))
    })
}
