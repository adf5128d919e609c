//! `modeldiff delta …` (extract, apply, verify, show, collapse, import-peft, export-peft) and
//! `modeldiff digest`: argument structs and the thin calls into `modeldiff::payloads`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use modeldiff::lowrank::{LowRankOptions, RankChoice};
use modeldiff::payloads::{self, ApplyOptions, ExtractKind, ExtractOptions, OutDType};
use modeldiff_delta::{peft, ModelDiff, Payload};
use regex::Regex;

/// `modeldiff delta`: payloads you can store, ship, apply and verify.
#[derive(Debug, Args)]
pub(crate) struct DeltaArgs {
    #[command(subcommand)]
    command: DeltaCommand,
}

#[derive(Debug, Subcommand)]
enum DeltaCommand {
    /// Extract a payload that turns BASE into TUNED (`-o x.json` writes JSON, any other name a
    /// SafeTensors container).
    Extract(ExtractArgs),
    /// Apply a payload to BASE and write the result as SafeTensors.
    Apply(ApplyArgs),
    /// Check a payload: digests, fit to BASE, and (with --target) that apply reproduces TUNED.
    Verify(VerifyArgs),
    /// Describe a payload: parts, entries, ranks, sizes, digests.
    Show(ShowArgs),
    /// Collapse the in-place TTT traces of a payload into Full deltas (or LoRA, with --base).
    Collapse(CollapseArgs),
    /// Read a PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    ImportPeft(ImportPeftArgs),
    /// Write a LoRA or IA3 payload as a PEFT adapter directory.
    ExportPeft(ExportPeftArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    Full,
    Lora,
    Ia3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct ExtractArgs {
    /// The base model.
    base: PathBuf,
    /// The tuned model.
    tuned: PathBuf,
    /// Payload kind.
    #[arg(long, value_enum)]
    kind: Kind,
    /// LoRA rank (fixed).
    #[arg(long, conflicts_with = "energy")]
    rank: Option<usize>,
    /// LoRA rank by energy: the smallest rank keeping this fraction of ‖ΔW‖² (0..1].
    #[arg(long)]
    energy: Option<f64>,
    /// Upper bound on the LoRA rank.
    #[arg(long)]
    max_rank: Option<usize>,
    /// Seed of the randomized SVD.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Decompose embeddings with LoRA too (by default they go into the Full part).
    #[arg(long)]
    lora_embeddings: bool,
    /// Only tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    include: Vec<String>,
    /// Skip tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    exclude: Vec<String>,
    /// Output payload (`.json`: JSON; anything else: SafeTensors container).
    #[arg(short, long)]
    output: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DTypeArg {
    Keep,
    F32,
    F16,
    Bf16,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// The base model (any readable format).
    base: PathBuf,
    /// The payload (JSON or container).
    payload: PathBuf,
    /// Output SafeTensors file.
    #[arg(short, long)]
    output: PathBuf,
    /// Output dtype.
    #[arg(long, value_enum, default_value_t = DTypeArg::Keep)]
    dtype: DTypeArg,
    /// Apply even if the base's digest differs from the payload's.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The base model.
    base: PathBuf,
    /// The payload.
    payload: PathBuf,
    /// The model the payload should reproduce.
    #[arg(long)]
    target: Option<PathBuf>,
    /// With --target: fail when a tensor's relative L2 distance to the target exceeds this
    /// (for approximate payloads such as LoRA).
    #[arg(long, requires = "target")]
    max_rel_l2: Option<f64>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The payload.
    payload: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

#[derive(Debug, Args)]
struct CollapseArgs {
    /// The payload holding in-place TTT traces.
    trace: PathBuf,
    /// Output payload.
    #[arg(short, long)]
    output: PathBuf,
    /// A base model: with --rank or --energy, collapsed 2-D deltas become LoRA adapters.
    #[arg(long)]
    base: Option<PathBuf>,
    /// LoRA rank (with --base).
    #[arg(long, requires = "base", conflicts_with = "energy")]
    rank: Option<usize>,
    /// LoRA rank by energy fraction (with --base).
    #[arg(long, requires = "base")]
    energy: Option<f64>,
}

#[derive(Debug, Args)]
struct ImportPeftArgs {
    /// The adapter directory.
    adapter_dir: PathBuf,
    /// Output payload.
    #[arg(short, long)]
    output: PathBuf,
    /// The base model, needed when the adapter replaces whole modules (`modules_to_save`).
    #[arg(long)]
    base: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ExportPeftArgs {
    /// The payload (LoRA or IA3 parts only).
    payload: PathBuf,
    /// Output adapter directory (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// A base model to name modules after (else `model.layers.N.<matrix>`).
    #[arg(long)]
    base: Option<PathBuf>,
}

/// `modeldiff digest FILE`.
#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    /// Model files (any readable format).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn open(path: &Path, what: &str) -> anyhow::Result<modeldiff_formats::Model> {
    modeldiff_formats::open(path).with_context(|| format!("cannot read {what}"))
}

fn regexes(flag: &str, pats: &[String]) -> anyhow::Result<Vec<Regex>> {
    pats.iter()
        .map(|p| {
            Regex::new(p).map_err(|e| {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                anyhow::anyhow!("invalid --{flag} regex `{p}`: {first}")
            })
        })
        .collect()
}

/// Writes a payload: JSON when the name ends in `.json`, else a SafeTensors container.
fn write_payload(path: &Path, payload: &Payload, protect: &[&Path]) -> anyhow::Result<()> {
    Ok(payloads::write_payload(path, payload, protect)?)
}

fn stdout_json(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub(crate) fn digest(args: DigestArgs) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    for f in &args.files {
        let m = open(f, "model")?;
        let d = payloads::model_digest(&m)?;
        writeln!(out, "{d}  {}", f.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: DeltaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DeltaCommand::Extract(a) => extract(a),
        DeltaCommand::Apply(a) => apply(a),
        DeltaCommand::Verify(a) => verify(a),
        DeltaCommand::Show(a) => show(a),
        DeltaCommand::Collapse(a) => collapse(a),
        DeltaCommand::ImportPeft(a) => import_peft(a),
        DeltaCommand::ExportPeft(a) => export_peft(a),
    }
}

fn rank_choice(rank: Option<usize>, energy: Option<f64>) -> anyhow::Result<RankChoice> {
    match (rank, energy) {
        (Some(0), _) => bail!("--rank must be at least 1"),
        (Some(r), _) => Ok(RankChoice::Fixed(r)),
        (None, Some(f)) if f > 0.0 && f <= 1.0 => Ok(RankChoice::Energy(f)),
        (None, Some(f)) => bail!("--energy must be in (0, 1], got {f}"),
        (None, None) => bail!("--kind lora needs --rank R or --energy F"),
    }
}

fn extract(a: ExtractArgs) -> anyhow::Result<ExitCode> {
    let filter = modeldiff::Filter::new(
        regexes("include", &a.include)?,
        regexes("exclude", &a.exclude)?,
    );
    let kind = match a.kind {
        Kind::Full => ExtractKind::Full,
        Kind::Ia3 => ExtractKind::Ia3,
        Kind::Lora => {
            let mut o = LowRankOptions::new(rank_choice(a.rank, a.energy)?);
            o.max_rank = a.max_rank;
            o.seed = a.seed;
            ExtractKind::Lora(o)
        }
    };
    if a.kind != Kind::Lora && (a.rank.is_some() || a.energy.is_some() || a.max_rank.is_some()) {
        bail!("--rank, --energy and --max-rank only apply to --kind lora");
    }
    let base = open(&a.base, "base model")?;
    let tuned = open(&a.tuned, "tuned model")?;
    let protect = [a.base.as_path(), a.tuned.as_path()];
    let json_out = a.output.extension().is_some_and(|e| e == "json");
    let report = if kind == ExtractKind::Full && !json_out {
        payloads::extract_full_container(&base, &tuned, &filter, &a.output, &protect)?
    } else {
        let mut opts = ExtractOptions::new(kind);
        opts.filter = filter;
        opts.lora_embeddings = a.lora_embeddings;
        let (payload, report) = payloads::extract(&base, &tuned, &opts)?;
        write_payload(&a.output, &payload, &protect)?;
        report
    };
    match a.format {
        ReportFormat::Json => stdout_json(&serde_json::to_value(&report)?)?,
        ReportFormat::Table => {
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{:<48} {:>5} {:>6} {:>10} {:>11} {:>8}",
                "tensor", "kind", "rank", "energy", "rel error", "fixups"
            )?;
            for e in &report.entries {
                let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4e}"));
                writeln!(
                    out,
                    "{:<48} {:>5} {:>6} {:>10} {:>11} {:>8}",
                    e.tensor,
                    e.kind,
                    e.rank.map_or("-".into(), |r| r.to_string()),
                    f(e.energy),
                    f(e.rel_error),
                    e.fixups.map_or("-".into(), |r| r.to_string()),
                )?;
            }
            for s in &report.skipped {
                writeln!(out, "skipped: {s}")?;
            }
            writeln!(
                out,
                "payload: {} ({})",
                a.output.display(),
                report.payload_digest
            )?;
            writeln!(out, "base: {}", report.base_digest)?;
            match &report.target_digest {
                Some(t) => writeln!(out, "exact: apply reproduces the tuned model ({t})")?,
                None => writeln!(out, "exact: no (apply approximates the tuned model)")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn apply(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let base = open(&a.base, "base model")?;
    let payload = payloads::read_payload(&a.payload)?;
    let mut opts = ApplyOptions::default();
    opts.force = a.force;
    opts.dtype = match a.dtype {
        DTypeArg::Keep => OutDType::Keep,
        DTypeArg::F32 => OutDType::F32,
        DTypeArg::F16 => OutDType::F16,
        DTypeArg::Bf16 => OutDType::BF16,
    };
    let protect = [a.base.as_path(), a.payload.as_path()];
    let r = payloads::apply(&base, &payload, &a.output, &protect, &opts)?;
    for w in &r.warnings {
        eprintln!("modeldiff: warning: {w}");
    }
    println!(
        "wrote {} ({} tensors, {} updated, {} bytes)",
        a.output.display(),
        r.tensors,
        r.updated,
        r.bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let base = open(&a.base, "base model")?;
    let payload = payloads::read_payload(&a.payload)?;
    let target = a
        .target
        .as_deref()
        .map(|t| open(t, "target model"))
        .transpose()?;
    let r = payloads::verify(&base, &payload, target.as_ref(), a.max_rel_l2)?;
    match a.format {
        ReportFormat::Json => stdout_json(&serde_json::to_value(&r)?)?,
        ReportFormat::Table => {
            let mut out = io::stdout().lock();
            for c in &r.checks {
                writeln!(
                    out,
                    "{:<4} {}: {}",
                    if c.ok { "ok" } else { "FAIL" },
                    c.name,
                    c.detail
                )?;
            }
            writeln!(
                out,
                "verdict: {}",
                if r.ok {
                    "verified"
                } else {
                    "verification failed"
                }
            )?;
        }
    }
    Ok(if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let p = payloads::read_payload(&a.payload)?;
    let doc = payloads::describe_payload(&a.payload, &p);
    let bytes = doc["bytes"].as_u64().unwrap_or(0);
    let digest_ok = doc["digest_ok"].as_bool();
    match a.format {
        ReportFormat::Json => stdout_json(&doc)?,
        ReportFormat::Table => {
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{} ({}, {} bytes)",
                doc["path"].as_str().unwrap_or_default(),
                doc["encoding"].as_str().unwrap_or_default(),
                bytes
            )?;
            let s = |k: &str| doc[k].as_str().unwrap_or("-").to_string();
            writeln!(
                out,
                "digest: {}{}",
                s("digest"),
                match digest_ok {
                    Some(true) => " (ok)",
                    Some(false) => " (MISMATCH)",
                    None => "",
                }
            )?;
            writeln!(out, "base: {}", s("base_digest"))?;
            writeln!(out, "target: {}", s("target_digest"))?;
            for (i, part) in p.parts.iter().enumerate() {
                match part {
                    ModelDiff::Lora(l) => {
                        writeln!(out, "part {i}: lora, {} adapters", l.adapters.len())?;
                        for x in l.sorted_adapters() {
                            writeln!(
                                out,
                                "  layer {:>3} {:<24} rank {:>4}  [{} x {}]",
                                x.layer_id, x.matrix, x.rank, x.out_dim, x.in_dim
                            )?;
                        }
                    }
                    ModelDiff::Ia3(ia) => {
                        writeln!(out, "part {i}: ia3, {} layers", ia.scaling.len())?;
                        for (l, m) in &ia.scaling {
                            for (k, v) in m {
                                writeln!(out, "  layer {l:>3} {k:<24} {} values", v.len())?;
                            }
                        }
                    }
                    ModelDiff::Full(f) => {
                        writeln!(out, "part {i}: full, {} params", f.params.len())?;
                        for (k, v) in &f.params {
                            let fx = f.exact.get(k).map_or(0, |x| x.len());
                            writeln!(out, "  {k:<48} {} values, {fx} fixups", v.len())?;
                        }
                    }
                    ModelDiff::InPlaceTtt(t) => {
                        writeln!(out, "part {i}: in-place-ttt, {} steps", t.steps.len())?;
                        for st in t.sorted_steps() {
                            writeln!(out, "  step {:>5}: {} params", st.step_id, st.deltas.len())?;
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn collapse(a: CollapseArgs) -> anyhow::Result<ExitCode> {
    let p = payloads::read_payload(&a.trace)?;
    let mut parts = Vec::new();
    let mut collapsed = 0;
    for part in p.parts {
        match part {
            ModelDiff::InPlaceTtt(t) => {
                parts.push(ModelDiff::Full(modeldiff_delta::collapse(&t)?));
                collapsed += 1;
            }
            other => parts.push(other),
        }
    }
    if collapsed == 0 {
        bail!("{}: no in-place-ttt part to collapse", a.trace.display());
    }
    let mut out = Payload::new(parts);
    out.base_digest = p.base_digest;
    let mut protect = vec![a.trace.as_path()];
    if let Some(base_path) = &a.base {
        let choice = rank_choice(a.rank, a.energy)?;
        let base = open(base_path, "base model")?;
        out = payloads::full_to_lora(&base, out, &LowRankOptions::new(choice))?;
        protect.push(base_path.as_path());
    }
    out.validate_and_canonicalize()?;
    let base_digest = out.base_digest;
    out.seal(base_digest, None)?;
    write_payload(&a.output, &out, &protect)?;
    println!(
        "wrote {} ({} trace part(s) collapsed)",
        a.output.display(),
        collapsed
    );
    Ok(ExitCode::SUCCESS)
}

fn import_peft(a: ImportPeftArgs) -> anyhow::Result<ExitCode> {
    let read = |name: &str| -> anyhow::Result<Vec<u8>> {
        let p = a.adapter_dir.join(name);
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let cfg = read("adapter_config.json")?;
    let weights = read("adapter_model.safetensors")?;
    let imported = peft::import(&cfg, &weights)
        .with_context(|| format!("{}: not a readable PEFT adapter", a.adapter_dir.display()))?;
    let mut payload = imported.payload;
    let mut protect: Vec<&Path> = vec![a.adapter_dir.as_path()];
    if !imported.saved.is_empty() {
        let Some(base_path) = &a.base else {
            bail!(
                "{}: the adapter replaces {} whole tensor(s) (modules_to_save, e.g. `{}`); pass --base to turn them into Full deltas",
                a.adapter_dir.display(),
                imported.saved.len(),
                imported.saved.keys().next().cloned().unwrap_or_default()
            );
        };
        let base = open(base_path, "base model")?;
        payload = payloads::saved_to_full(&base, payload, &imported.saved)?;
        protect.push(base_path.as_path());
    }
    payload.validate_and_canonicalize()?;
    payload.seal(None, None)?;
    write_payload(&a.output, &payload, &protect)?;
    println!(
        "wrote {} ({} part(s))",
        a.output.display(),
        payload.parts.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn export_peft(a: ExportPeftArgs) -> anyhow::Result<ExitCode> {
    let payload = payloads::read_payload(&a.payload)?;
    let base = a
        .base
        .as_deref()
        .map(|b| open(b, "base model"))
        .transpose()?;
    let bt = base.as_ref().map(payloads::base_tensors);
    let opts = peft::ExportOptions {
        base: bt.as_ref(),
        ..Default::default()
    };
    let (config, weights) = peft::export(&payload, &opts)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("cannot create {}", a.output.display()))?;
    let protect = [a.payload.as_path()];
    modeldiff_formats::write_atomic(
        &a.output.join("adapter_model.safetensors"),
        &weights,
        &protect,
    )?;
    modeldiff_formats::write_atomic(
        &a.output.join("adapter_config.json"),
        config.as_bytes(),
        &protect,
    )?;
    println!(
        "wrote {}/adapter_config.json and adapter_model.safetensors",
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
