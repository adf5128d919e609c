//! The `modeldiff` command: parse arguments, call the engine, print, pick the exit code.
//!
//! Two stages, as in ripgrep: clap structs ([`args`]) are turned into a validated engine
//! configuration, and only that second stage touches library types. This crate is the only one
//! that prints, picks exit codes (0 success, 1 differences with `--exit-code`, 2 error) or uses
//! `anyhow`.

mod args;
mod delta_cmd;
mod render;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use args::{Cli, Command, DiffArgs, InspectArgs, InspectFormat, OutputFormat};

/// Exit status when differences were found and `--exit-code`/`--quiet` asked for it.
const EXIT_DIFFERENCES: u8 = 1;
/// Exit status for every error: unreadable, malformed or unsupported input, bad arguments.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("modeldiff: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Diff(args) => diff(args),
        Command::Inspect(args) => inspect(args),
        Command::Delta(args) => delta_cmd::run(args),
        Command::Digest(args) => delta_cmd::digest(args),
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let model = modeldiff_formats::open_with(&args.file, &args.open_options())
        .context("cannot read model")?;
    let info = modeldiff::inspect(&model);
    let stdout = io::stdout().lock();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
    match args.format {
        InspectFormat::Table => render::text::render(&mut out, &render::inspect_document(&info))?,
        InspectFormat::Json => render::json(&mut out, &info)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.validate()?;
    // A bad `MODELDIFF_FORCE_ISA` is an error here rather than a silent fallback later.
    modeldiff_kernels::Isa::try_selected().context("cannot choose the SIMD implementation")?;
    let a = modeldiff_formats::open_with(&args.a, &cfg.open).context("cannot read model A")?;
    let b = modeldiff_formats::open_with(&args.b, &cfg.open).context("cannot read model B")?;
    let report = modeldiff::diff(&a, &b, &cfg.engine)?;
    if !args.quiet {
        let stdout = io::stdout().lock();
        let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
        match args.format {
            OutputFormat::Table => render::text::render(&mut out, &render::diff_document(&report))?,
            OutputFormat::Markdown => {
                render::markdown::render(&mut out, &render::diff_document(&report))?
            }
            OutputFormat::Csv => render::csv::render(&mut out, &render::diff_records(&report))?,
            OutputFormat::Json => render::json(&mut out, &report)?,
        }
        out.flush()?;
    }
    let want_status = args.exit_code || args.quiet;
    Ok(if want_status && report.has_differences() {
        ExitCode::from(EXIT_DIFFERENCES)
    } else {
        ExitCode::SUCCESS
    })
}
