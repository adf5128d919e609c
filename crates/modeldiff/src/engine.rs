//! The diff pipeline: configuration, and the stages run in order on a thread pool.

use std::sync::Arc;

use modeldiff_formats::Model;
use regex::Regex;

use crate::consume::{run_with_progress, DiffConsumer, ReportOptions};
use crate::crossformat::{
    annotate, pair_family, probe_norm_plus_one, probe_qk, ModelFacts, NameMap, QkUnpermute,
    RenameRules, StackedExperts, TiedEmbeddings,
};
use crate::error::{Error, Result};
use crate::matching::{match_tensors, ContentRenames, Filter, Matcher, Matching};
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
    /// Pair tensors through a name map after exact names (`--map`): `Some(NameMap::Auto(None))`
    /// (the default) uses the built-in HF ↔ GGUF tables of the architecture the models name;
    /// `None` pairs by exact name only.
    pub name_map: Option<NameMap>,
    /// `--rename` rules applied to B's names (before the name map).
    pub rename: RenameRules,
    /// Detect renames by content (same dtype, shape and bytes); `--no-renames` turns it off.
    pub detect_renames: bool,
    /// When to undo the Q/K RoPE permutation of llama-family GGUF files.
    pub qk_unpermute: QkUnpermute,
    /// Add the spectrum of ΔW to changed 2-D float pairs ([`crate::spectral`]).
    pub spectral: bool,
    /// Diff F16 and BF16 data with the fused kernels, which convert the stored bytes in
    /// registers (the default); `false` decodes them into `f32` buffers first, the earlier
    /// two-pass path ([`DiffConsumer::two_pass`]), kept for benchmarks and cross-checks. The
    /// report is the same either way.
    pub fused_kernels: bool,
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
            name_map: Some(NameMap::Auto(None)),
            rename: RenameRules::default(),
            detect_renames: true,
            qk_unpermute: QkUnpermute::Auto,
            fused_kernels: true,
            spectral: false,
        }
    }
}

impl Config {
    /// The name filter of the match stage.
    pub fn filter(&self) -> Filter {
        Filter::new(self.include.clone(), self.exclude.clone())
    }

    /// The match stage as configured: filter, exact names, `--rename` rules, the name map and
    /// stacked experts, renames by content, tied embeddings; then the transforms of HF ↔ GGUF pairs
    /// ([`annotate`]).
    pub fn match_models(&self, a: &Model, b: &Model) -> Matching {
        let (fa, fb) = (ModelFacts::of(a), ModelFacts::of(b));
        let map = self.name_map.clone().map(|m| match m {
            NameMap::Auto(None) => NameMap::Auto(pair_family(&fa, &fb)),
            other => other,
        });
        let mut matchers: Vec<&dyn Matcher> = Vec::new();
        if !self.rename.is_empty() {
            matchers.push(&self.rename);
        }
        if let Some(m) = &map {
            matchers.push(m);
            matchers.push(&StackedExperts);
        }
        if self.detect_renames {
            matchers.push(&ContentRenames);
        }
        if map.is_some() {
            matchers.push(&TiedEmbeddings);
        }
        let mut matching = match_tensors(a, b, &self.filter(), &matchers);
        let mut qk = self.qk_unpermute;
        if qk == QkUnpermute::Auto {
            if let Some((undo, why)) = probe_qk(a, b, &matching, &fa, &fb) {
                qk = if undo {
                    QkUnpermute::On
                } else {
                    QkUnpermute::Off
                };
                if fb.is_gguf {
                    matching.warnings_b.push(why);
                } else {
                    matching.warnings_a.push(why);
                }
            }
        }
        let norms = probe_norm_plus_one(a, b, &matching, &fa, &fb).map(|(fold, why)| {
            if fb.is_gguf {
                matching.warnings_b.push(why);
            } else {
                matching.warnings_a.push(why);
            }
            fold
        });
        annotate(&mut matching, a, b, &fa, &fb, qk, norms);
        matching
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
/// The stages run in order: [`match_tensors`] (names, filters, the matchers of
/// [`Config::match_models`]) → [`plan`] (compare mode,
/// region, chunked jobs) → [`run_with_progress`] with the [`DiffConsumer`] (pieces streamed
/// through the metric kernels on all cores, advancing [`Config::progress`]) →
/// [`DiffConsumer::fold`] and [`DiffConsumer::report_with`] (merged in job order, so the report
/// does not depend on the thread count).
pub fn diff(a: &Model, b: &Model, config: &Config) -> Result<Report> {
    // Surface a bad forced ISA as an error before any work, never as a silent fallback.
    modeldiff_kernels::Isa::try_selected()?;
    with_threads(config.threads, || {
        let matching = config.match_models(a, b);
        let plan = plan(a, b, &matching, config.chunk_elems);
        let consumer = if config.fused_kernels {
            DiffConsumer::default()
        } else {
            DiffConsumer::two_pass()
        };
        let partials = run_with_progress(a, b, &plan, &consumer, config.progress.as_deref())?;
        let outcomes = consumer.fold(&plan, &partials);
        let options = ReportOptions {
            ignore_metadata: config.ignore_metadata,
        };
        let mut report = consumer.report_with(a, b, &matching, &plan, &outcomes, &options);
        if config.spectral {
            for pair in &plan.pairs {
                if config.progress.as_ref().is_some_and(|p| p.is_cancelled()) {
                    return Err(Error::Cancelled);
                }
                let t = &mut report.tensors[pair.entry];
                if t.identical == Some(false) {
                    t.spectral = crate::spectral::pair_spectral(a, b, pair)?;
                }
            }
        }
        Ok(report)
    })
}
