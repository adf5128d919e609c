//! Command-line arguments (clap) and their validation into library configuration.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use regex::Regex;

/// Tells exactly how two ML model weight files differ.
#[derive(Debug, Parser)]
#[command(name = "modeldiff", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
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
    /// Print the model digest of each file (BLAKE3 over its tensors; any readable format).
    Digest(crate::delta_cmd::DigestArgs),
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
}

/// Validated configuration for the libraries.
pub(crate) struct DiffConfig {
    pub(crate) engine: modeldiff::Config,
    pub(crate) open: modeldiff_formats::OpenOptions,
}

fn regexes(flag: &str, pats: &[String]) -> anyhow::Result<Vec<Regex>> {
    pats.iter()
        .map(|p| Regex::new(p).with_context(|| format!("invalid --{flag} regex `{p}`")))
        .collect()
}

impl DiffArgs {
    pub(crate) fn validate(&self) -> anyhow::Result<DiffConfig> {
        let mut engine = modeldiff::Config::default();
        engine.include = regexes("include", &self.include)?;
        engine.exclude = regexes("exclude", &self.exclude)?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        engine.threads = self.threads;
        let mut open = modeldiff_formats::OpenOptions::default();
        open.verify_checksums = !self.no_verify;
        Ok(DiffConfig { engine, open })
    }
}
