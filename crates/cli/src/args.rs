//! Command-line arguments (clap) and their validation into library configuration.
//!
//! This file depends on nothing else in the crate, so `examples/man.rs` can include it to
//! generate the man page from the same definitions.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use regex::Regex;

/// The version `--version` prints: the package version and, when built from a git checkout,
/// the commit (`0.1.0 (3f2a9c1)`); see `build.rs`.
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("MODELDIFF_GIT_SUFFIX"));

/// Tells exactly how two ML model weight files differ.
#[derive(Debug, Parser)]
#[command(name = "modeldiff", version = VERSION, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// When to colour the output: `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set (CLICOLOR_FORCE forces it).
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressChoice {
    /// A bar on stderr when stderr is a terminal and the diff takes over a second.
    Auto,
    /// Always draw the bar on stderr.
    Always,
    /// Never.
    Never,
}

/// `--by`: what one row of the table stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum GroupBy {
    /// One row per tensor.
    #[default]
    Tensor,
    /// One row per block (`layers.N`, `layer.N`, `h.N`, `blk.N`); tensors outside blocks by
    /// module.
    Layer,
    /// One row per module (`self_attn.q_proj`, `attn_q`, ...) over all blocks.
    Module,
    /// One row per dtype (or dtype change, `F32→F16`).
    Dtype,
}

/// `--sort`: the order of the rows, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SortKey {
    /// Natural name order (`blk.2` before `blk.10`).
    Name,
    /// Largest L2 distance first.
    L2,
    /// Largest relative L2 first.
    #[value(name = "rel_l2")]
    RelL2,
    /// Lowest cosine first.
    Cosine,
    /// Largest max |a − b| first.
    #[value(name = "max_abs")]
    MaxAbs,
    /// Largest NMSE first.
    Nmse,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Compare two models tensor by tensor: structure, dtypes and numbers.
    ///
    /// A and B may be SafeTensors files, sharded SafeTensors checkpoints (an
    /// `*.safetensors.index.json` or its directory), GGUF or APR files, in any combination;
    /// the format is detected from the file's content.
    Diff(DiffArgs),
    /// Describe one model: format facts, metadata (long arrays summarized) and a tensor table
    /// (name, dtype, shape, bytes, offset), for every supported format.
    Inspect(InspectArgs),
    /// Payloads (`model.diff.v1`): extract, apply, verify, show, collapse, PEFT import/export.
    Delta(crate::delta_cmd::DeltaArgs),
    /// Quantization drift of QUANTIZED from SOURCE: per-tensor NMSE, SNR dB, cosine, max abs
    /// and where, per layer and per quant type, the worst tensors, one verdict each.
    ///
    /// Tensors pair up as in `diff` (HF ↔ GGUF names, converter transforms undone).
    Drift(DriftArgs),
    /// Diff many pairs listed in a JSON Lines manifest (one `{"a": PATH, "b": PATH}` per line),
    /// writing one summary JSON line per pair, in manifest order, as they finish.
    ///
    /// Pairs run in parallel on all cores (`--jobs`); a pair that cannot be read gets a line with
    /// an `error` and the exit status becomes 2; a malformed manifest is an error before any
    /// pair runs.
    Batch(BatchArgs),
    /// Print the model digest of each file (BLAKE3 over its tensors; any readable format).
    Digest(crate::delta_cmd::DigestArgs),
    /// Print a shell completion script (for example `modeldiff completions bash >
    /// /etc/bash_completion.d/modeldiff`).
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Output formats of `inspect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum InspectFormat {
    /// Human-readable tables.
    Table,
    /// The `modeldiff.inspect.v1` JSON document.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The model file (or sharded SafeTensors index / directory).
    pub(crate) file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = InspectFormat::Table)]
    pub(crate) format: InspectFormat,
    /// Skip checksum verification (APR CRC32).
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// Leave the tensor table out of the table output (the dtype tally stays).
    #[arg(long)]
    pub(crate) no_tensors: bool,
}

impl InspectArgs {
    pub(crate) fn open_options(&self) -> modeldiff_formats::OpenOptions {
        let mut open = modeldiff_formats::OpenOptions::default();
        open.verify_checksums = !self.no_verify;
        open
    }
}

/// Output formats of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// The `modeldiff.report.v1` JSON document.
    Json,
    /// One CSV row per tensor.
    Csv,
    /// GitHub-flavoured Markdown tables.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The first ("old", base) model.
    pub(crate) a: PathBuf,
    /// The second ("new") model.
    pub(crate) b: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,
    /// Only compare tensors whose name matches REGEX (repeatable: any may match).
    #[arg(long, value_name = "REGEX")]
    pub(crate) include: Vec<String>,
    /// Skip tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub(crate) exclude: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Exit with status 1 when anything differs (like `git diff --exit-code`).
    #[arg(long)]
    pub(crate) exit_code: bool,
    /// Print nothing; implies --exit-code (like `git diff --quiet`).
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Skip checksum verification (APR CRC32).
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// List every tensor (or group), identical ones included.
    #[arg(long, help_heading = "View")]
    pub(crate) all: bool,
    /// One row per tensor, or per layer, module or dtype (numbers aggregated exactly).
    #[arg(long, value_enum, default_value_t = GroupBy::Tensor, help_heading = "View")]
    pub(crate) by: GroupBy,
    /// Order rows worst first by a metric, or by name (natural order).
    #[arg(long, value_enum, help_heading = "View")]
    pub(crate) sort: Option<SortKey>,
    /// Show at most N rows.
    #[arg(long, value_name = "N", help_heading = "View")]
    pub(crate) top: Option<usize>,
    /// One line per changed tensor (or group) with a bar, like `git diff --stat`.
    #[arg(long, help_heading = "View")]
    pub(crate) stat: bool,
    /// Exit 1 when EXPR holds, e.g. `cosine<0.999`, `max_abs>0.05`, `added>0` (repeatable;
    /// see the README for the metrics).
    #[arg(long, value_name = "EXPR", help_heading = "Gates")]
    pub(crate) fail_on: Vec<String>,
    /// Leave metadata out: neither shown nor counted as a difference.
    #[arg(long, help_heading = "Gates")]
    pub(crate) ignore_metadata: bool,
    /// Also write a self-contained HTML report (summary, layer × module heatmap, tables).
    #[arg(long, value_name = "FILE.html")]
    pub(crate) report: Option<PathBuf>,
    /// A progress bar on stderr: `auto` when stderr is a terminal and the diff takes a while.
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto)]
    pub(crate) progress: ProgressChoice,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
    /// Print the quantization drift report (as `modeldiff drift`) instead of the diff.
    #[arg(long)]
    pub(crate) drift: bool,
    /// For changed 2-D tensors, the spectrum of ΔW: σ₁, stable rank, effective rank, r90/r99
    /// (in JSON and as a Spectral section of the table).
    #[arg(long)]
    pub(crate) spectral: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct BatchArgs {
    /// The manifest: JSON Lines, one `{"a": PATH, "b": PATH}` per line (`-` reads stdin).
    pub(crate) manifest: PathBuf,
    /// Pairs diffed at the same time (default: one per core); each shares the worker pool.
    #[arg(long, short, value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// Worker threads of each pair's own pool (default: all pairs share one pool of one thread
    /// per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Only compare tensors whose name matches REGEX (repeatable: any may match).
    #[arg(long, value_name = "REGEX")]
    pub(crate) include: Vec<String>,
    /// Skip tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub(crate) exclude: Vec<String>,
    /// Leave metadata out: neither reported nor counted as a difference.
    #[arg(long)]
    pub(crate) ignore_metadata: bool,
    /// Skip checksum verification (APR CRC32).
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// Exit with status 1 when any pair differs (2 still wins when a pair failed).
    #[arg(long)]
    pub(crate) exit_code: bool,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
}

impl BatchArgs {
    pub(crate) fn validate(&self) -> anyhow::Result<DiffConfig> {
        let mut engine = modeldiff::Config::default();
        engine.include = regexes("include", &self.include)?;
        engine.exclude = regexes("exclude", &self.exclude)?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if self.jobs == Some(0) {
            bail!("--jobs must be at least 1");
        }
        engine.threads = self.threads;
        engine.ignore_metadata = self.ignore_metadata;
        self.matching.apply(&mut engine)?;
        let mut open = modeldiff_formats::OpenOptions::default();
        open.verify_checksums = !self.no_verify;
        Ok(DiffConfig { engine, open })
    }
}

/// How tensors whose names differ are paired (shared by `diff` and `drift`).
#[derive(Debug, clap::Args)]
pub(crate) struct MatchArgs {
    /// Pair tensors whose names differ: `auto` (HF ↔ GGUF tables of the architecture), `none`,
    /// or a JSON/TOML FILE mapping A names to B names; exact names always win.
    #[arg(
        long,
        value_name = "auto|none|FILE",
        default_value = "auto",
        help_heading = "Matching"
    )]
    pub(crate) map: String,
    /// Rename B's tensors with a sed-style rule `s/REGEX/REPL/` (`g` flag, `$1` groups) before
    /// matching (repeatable, applied in order).
    #[arg(long, value_name = "s/REGEX/REPL/", help_heading = "Matching")]
    pub(crate) rename: Vec<String>,
    /// Do not pair a tensor only in A with one only in B that has the same dtype, shape and
    /// bytes (rename detection by content, like `git diff -M`).
    #[arg(long, help_heading = "Matching")]
    pub(crate) no_renames: bool,
    /// Undo the llama.cpp converter's Q/K RoPE row permutation: `auto` for a llama-family GGUF
    /// against a model that is not GGUF (unknown architectures: the order that matches better).
    #[arg(long, value_enum, default_value_t = QkChoice::Auto, help_heading = "Matching")]
    pub(crate) qk_unpermute: QkChoice,
}

/// `--qk-unpermute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum QkChoice {
    /// For a llama-family GGUF against a model that is not GGUF; for an unknown architecture,
    /// the order that matches better.
    Auto,
    /// For every GGUF ↔ non-GGUF `attn_q`/`attn_k` pair whose head counts are known.
    On,
    /// Never.
    Off,
}

/// Validated configuration for the libraries.
pub(crate) struct DiffConfig {
    pub(crate) engine: modeldiff::Config,
    pub(crate) open: modeldiff_formats::OpenOptions,
}

/// Compiles `--include`/`--exclude` patterns; an error is one line naming the flag, the
/// pattern and the problem (the regex crate's own message draws a caret under the pattern on
/// several lines).
fn regexes(flag: &str, pats: &[String]) -> anyhow::Result<Vec<Regex>> {
    pats.iter()
        .map(|p| {
            modeldiff::matching::compile_pattern(p)
                .map_err(|why| anyhow::anyhow!("invalid --{flag} regex `{p}`: {why}"))
        })
        .collect()
}

/// `--map auto|none|FILE`: a FILE ending in `.toml` is read as TOML, any other as JSON.
fn name_map(choice: &str) -> anyhow::Result<Option<modeldiff::NameMap>> {
    Ok(match choice {
        "auto" => Some(modeldiff::NameMap::Auto(None)),
        "none" => None,
        file => {
            let path = std::path::Path::new(file);
            let meta = std::fs::metadata(path)
                .map_err(|e| anyhow::anyhow!("cannot read --map {file}: {e}"))?;
            // A name map lists names, one line each: 64 MiB is far beyond any real one.
            if meta.len() > 64 << 20 {
                bail!(
                    "--map {file} is {} bytes, more than the 64 MiB accepted",
                    meta.len()
                );
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read --map {file}: {e}"))?;
            let toml = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
            Some(modeldiff::NameMap::parse(file, &text, toml)?)
        }
    })
}

impl MatchArgs {
    /// Sets the engine's matching options.
    pub(crate) fn apply(&self, engine: &mut modeldiff::Config) -> anyhow::Result<()> {
        engine.name_map = name_map(&self.map)?;
        engine.rename = modeldiff::RenameRules::parse(&self.rename)?;
        engine.detect_renames = !self.no_renames;
        engine.qk_unpermute = match self.qk_unpermute {
            QkChoice::Auto => modeldiff::QkUnpermute::Auto,
            QkChoice::On => modeldiff::QkUnpermute::On,
            QkChoice::Off => modeldiff::QkUnpermute::Off,
        };
        Ok(())
    }
}

/// Output formats of `drift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DriftFormat {
    /// Human-readable tables.
    Table,
    /// The `modeldiff.drift.v1` JSON document.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DriftArgs {
    /// The source model (A: the original weights, for example BF16 SafeTensors).
    pub(crate) source: PathBuf,
    /// The quantized model (B, for example a Q4_K_M GGUF).
    pub(crate) quantized: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Table)]
    pub(crate) format: DriftFormat,
    /// List the N tensors with the largest NMSE.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// List every tensor instead of the worst ones.
    #[arg(long)]
    pub(crate) all: bool,
    /// Only compare tensors whose name matches REGEX (repeatable: any may match).
    #[arg(long, value_name = "REGEX")]
    pub(crate) include: Vec<String>,
    /// Skip tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub(crate) exclude: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    #[command(flatten)]
    pub(crate) matching: MatchArgs,
}

impl DriftArgs {
    pub(crate) fn validate(&self) -> anyhow::Result<modeldiff::Config> {
        let mut engine = modeldiff::Config::default();
        engine.include = regexes("include", &self.include)?;
        engine.exclude = regexes("exclude", &self.exclude)?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if self.top == 0 {
            bail!("--top must be at least 1");
        }
        engine.threads = self.threads;
        // Drift is about tensors: metadata of a source and its quantization always differs.
        engine.ignore_metadata = true;
        self.matching.apply(&mut engine)?;
        Ok(engine)
    }
}

impl DiffArgs {
    pub(crate) fn validate(&self) -> anyhow::Result<DiffConfig> {
        let mut engine = modeldiff::Config::default();
        engine.include = regexes("include", &self.include)?;
        engine.exclude = regexes("exclude", &self.exclude)?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        if self.top == Some(0) {
            bail!("--top must be at least 1");
        }
        if self.stat && self.format != OutputFormat::Table {
            bail!("--stat draws text: it cannot be combined with --format json, csv or markdown");
        }
        if let Some(report) = &self.report {
            if report.file_name().is_none() {
                bail!("--report needs a file name, got `{}`", report.display());
            }
        }
        engine.threads = self.threads;
        engine.ignore_metadata = self.ignore_metadata;
        self.matching.apply(&mut engine)?;
        engine.spectral = self.spectral;
        if self.drift && matches!(self.format, OutputFormat::Csv | OutputFormat::Markdown) {
            bail!("--drift prints a table or JSON: it cannot be combined with --format csv or markdown");
        }
        let mut open = modeldiff_formats::OpenOptions::default();
        open.verify_checksums = !self.no_verify;
        Ok(DiffConfig { engine, open })
    }
}
