//! The `modeldiff` command: parse arguments, call the engine, print, pick the exit code.
//!
//! Two stages, as in ripgrep: clap structs ([`args`]) are turned into a validated engine
//! configuration, and only that second stage touches library types. This crate is the only one
//! that prints, picks exit codes (0 success; 1 differences with `--exit-code`, or a failed
//! `--fail-on` gate; 2 error) or uses `anyhow`. Every error is one line on stderr.

#![forbid(unsafe_code)]

mod args;
mod batch;
mod delta_cmd;
mod gate;
mod progress;
mod render;

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser};

use args::{
    Cli, ColorChoice, Command, DiffArgs, DriftArgs, DriftFormat, InspectArgs, InspectFormat,
    OutputFormat,
};
use render::text::TextOptions;
use render::view::View;

/// Exit status when differences were found and `--exit-code`/`--quiet` asked for it, or a
/// `--fail-on` gate failed.
pub(crate) const EXIT_DIFFERENCES: u8 = 1;
/// Exit status for every error: unreadable, malformed or unsupported input, bad arguments.
pub(crate) const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return argument_error(&err),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("modeldiff: {}", modeldiff::one_line(&format!("{err:#}")));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Help and version go to stdout as clap prints them; an argument error is one line.
fn argument_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(err.exit_code() as u8)
        }
        _ => {
            let text = err.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let msg = first.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("modeldiff: {msg} (see --help)");
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
    let text = TextOptions {
        width: terminal_width(),
        color: color_enabled(cli.color),
    };
    match cli.command {
        Command::Diff(args) => diff(args, &text),
        Command::Inspect(args) => inspect(args, &text),
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "modeldiff", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Delta(args) => delta_cmd::run(args),
        Command::Drift(args) => drift(args, &text),
        Command::Digest(args) => delta_cmd::digest(args),
        Command::Batch(args) => batch::run(args),
    }
}

/// Whether to colour stdout: `auto` asks anstream (a terminal, NO_COLOR unset, or
/// CLICOLOR_FORCE set).
fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// The width tables are fitted to: `COLUMNS` when set, else the terminal's, else unlimited
/// (stdout piped or redirected).
fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(c);
    }
    if !io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
}

fn inspect(args: InspectArgs, text: &TextOptions) -> anyhow::Result<ExitCode> {
    let model = modeldiff_formats::open_with(&args.file, &args.open_options())
        .context("cannot read model")?;
    let info = modeldiff::inspect(&model);
    let stdout = io::stdout().lock();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
    match args.format {
        InspectFormat::Table => {
            let doc = render::inspect_document(&info, !args.no_tensors);
            render::text::render(&mut out, &doc, text)?
        }
        InspectFormat::Json => render::json(&mut out, &info)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Opens two models at once, B on a thread of its own: parsing a header of many tensors is
/// serial work, and the two files are independent.
fn open_both(
    a: &std::path::Path,
    b: &std::path::Path,
    opts: &modeldiff_formats::OpenOptions,
) -> (
    modeldiff_formats::Result<modeldiff_formats::Model>,
    modeldiff_formats::Result<modeldiff_formats::Model>,
) {
    std::thread::scope(|s| {
        let second = s.spawn(|| modeldiff_formats::open_with(b, opts));
        let first = modeldiff_formats::open_with(a, opts);
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    })
}

fn diff(args: DiffArgs, text: &TextOptions) -> anyhow::Result<ExitCode> {
    let mut cfg = args.validate()?;
    let gates = gate::parse_all(&args.fail_on)?;
    // A bad `MODELDIFF_FORCE_ISA` is an error here rather than a silent fallback later.
    modeldiff_kernels::Isa::try_selected().context("cannot choose the SIMD implementation")?;
    let (a, b) = open_both(&args.a, &args.b, &cfg.open);
    let a = a.context("cannot read model A")?;
    let b = b.context("cannot read model B")?;
    let counter = Arc::new(modeldiff::Progress::new());
    cfg.engine.progress = Some(Arc::clone(&counter));
    let bar = progress::start(args.progress, counter);
    let report = modeldiff::diff(&a, &b, &cfg.engine);
    if let Some(bar) = bar {
        bar.finish();
    }
    let report = report?;
    if args.drift {
        let d = modeldiff::drift(&report, &b, args.top.unwrap_or(DEFAULT_WORST));
        let json = args.format == OutputFormat::Json;
        if !args.quiet {
            print_drift(&d, json, args.all, text)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let view = View {
        all: args.all,
        by: args.by,
        sort: args.sort,
        top: args.top,
    };
    if let Some(path) = &args.report {
        write_html(path, &report, &view)?;
    }
    if !args.quiet {
        let stdout = io::stdout().lock();
        let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
        match args.format {
            OutputFormat::Table if args.stat => {
                render::stat::render(&mut out, &report, &view, text)?
            }
            OutputFormat::Table => {
                render::text::render(&mut out, &render::diff_document(&report, &view), text)?
            }
            OutputFormat::Markdown => {
                render::markdown::render(&mut out, &render::diff_document(&report, &view))?
            }
            OutputFormat::Csv => {
                render::csv::render(&mut out, &render::diff_records(&report, &view))?
            }
            OutputFormat::Json => render::json(&mut out, &report)?,
        }
        out.flush()?;
    }
    let violations = gate::check_all(&gates, &report);
    for v in &violations {
        eprintln!("modeldiff: {v}");
    }
    let want_status = args.exit_code || args.quiet;
    Ok(
        if !violations.is_empty() || (want_status && report.has_differences()) {
            ExitCode::from(EXIT_DIFFERENCES)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Tensors the drift report lists by default.
const DEFAULT_WORST: usize = 10;

fn drift(args: DriftArgs, text: &TextOptions) -> anyhow::Result<ExitCode> {
    let mut cfg = args.validate()?;
    modeldiff_kernels::Isa::try_selected().context("cannot choose the SIMD implementation")?;
    let open = modeldiff_formats::OpenOptions::default();
    let (a, b) = open_both(&args.source, &args.quantized, &open);
    let a = a.context("cannot read the source model")?;
    let b = b.context("cannot read the quantized model")?;
    let counter = Arc::new(modeldiff::Progress::new());
    cfg.progress = Some(Arc::clone(&counter));
    let bar = progress::start(args::ProgressChoice::Auto, counter);
    let report = modeldiff::diff(&a, &b, &cfg);
    if let Some(bar) = bar {
        bar.finish();
    }
    let d = modeldiff::drift(&report?, &b, args.top);
    print_drift(&d, args.format == DriftFormat::Json, args.all, text)?;
    Ok(ExitCode::SUCCESS)
}

fn print_drift(
    d: &modeldiff::DriftReport,
    json: bool,
    all: bool,
    text: &TextOptions,
) -> anyhow::Result<()> {
    let stdout = io::stdout().lock();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
    if json {
        render::json(&mut out, d)?;
    } else {
        render::text::render(&mut out, &render::drift::drift_document(d, all), text)?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the HTML report whole or not at all: a temporary file in the target's directory,
/// renamed over the target.
fn write_html(path: &Path, report: &modeldiff::Report, view: &View) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = || format!("cannot write the HTML report {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".modeldiff-report-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(fail)?;
    {
        let mut out = io::BufWriter::new(tmp.as_file_mut());
        render::html::render(&mut out, report, view).with_context(fail)?;
        out.flush().with_context(fail)?;
    }
    // A report is for reading: the usual permissions, not the temporary file's owner-only ones.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(tmp.path(), perms).with_context(fail)?;
    }
    tmp.persist(path).map_err(|e| e.error).with_context(fail)?;
    Ok(())
}
