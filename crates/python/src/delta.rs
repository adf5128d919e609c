//! `modeldiff.delta.extract/apply/verify/show`: the CLI's `modeldiff delta …` over
//! `modeldiff::payloads`, each returning its JSON document as text (the report the CLI prints
//! with `--format json`; for `apply`, which the CLI reports in a sentence, the `ApplyReport`).

use std::path::{Path, PathBuf};

use modeldiff::lowrank::{LowRankOptions, RankChoice};
use modeldiff::payloads::{self, ApplyOptions, ExtractKind, ExtractOptions, OutDType};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::config::regexes;
use crate::errors::Failure;

fn open(path: &Path, what: &str) -> Result<modeldiff_formats::Model, Failure> {
    modeldiff_formats::open(path).map_err(|e| Failure::format(&format!("cannot read {what}"), e))
}

fn to_json(v: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(v).map_err(Failure::internal)
}

fn rank_choice(rank: Option<usize>, energy: Option<f64>) -> PyResult<RankChoice> {
    match (rank, energy) {
        (Some(_), Some(_)) => Err(PyValueError::new_err("give rank or energy, not both")),
        (Some(0), _) => Err(PyValueError::new_err("rank must be at least 1")),
        (Some(r), _) => Ok(RankChoice::Fixed(r)),
        (None, Some(f)) if f > 0.0 && f <= 1.0 => Ok(RankChoice::Energy(f)),
        (None, Some(f)) => Err(PyValueError::new_err(format!(
            "energy must be in (0, 1], got {f}"
        ))),
        (None, None) => Err(PyValueError::new_err(
            "kind=\"lora\" needs rank=R or energy=F",
        )),
    }
}

/// `modeldiff delta extract BASE TUNED --kind K -o OUTPUT --format json`.
#[pyfunction]
#[pyo3(signature = (
    base, tuned, *, kind, output, rank=None, energy=None, max_rank=None, seed=0,
    lora_embeddings=false, include=Vec::new(), exclude=Vec::new()
))]
#[allow(clippy::too_many_arguments)]
fn delta_extract(
    py: Python<'_>,
    base: PathBuf,
    tuned: PathBuf,
    kind: &str,
    output: PathBuf,
    rank: Option<usize>,
    energy: Option<f64>,
    max_rank: Option<usize>,
    seed: u64,
    lora_embeddings: bool,
    include: Vec<String>,
    exclude: Vec<String>,
) -> PyResult<String> {
    let filter =
        modeldiff::Filter::new(regexes("include", &include)?, regexes("exclude", &exclude)?);
    let kind = match kind {
        "full" => ExtractKind::Full,
        "ia3" => ExtractKind::Ia3,
        "lora" => {
            let mut o = LowRankOptions::new(rank_choice(rank, energy)?);
            o.max_rank = max_rank;
            o.seed = seed;
            ExtractKind::Lora(o)
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be \"full\", \"lora\" or \"ia3\", got {other:?}"
            )))
        }
    };
    if !matches!(kind, ExtractKind::Lora(_))
        && (rank.is_some() || energy.is_some() || max_rank.is_some())
    {
        return Err(PyValueError::new_err(
            "rank, energy and max_rank only apply to kind=\"lora\"",
        ));
    }
    crate::run::interruptible(py, move |_| {
        let b = open(&base, "base model")?;
        let t = open(&tuned, "tuned model")?;
        let protect = [base.as_path(), tuned.as_path()];
        let json_out = output.extension().is_some_and(|e| e == "json");
        let report = if kind == ExtractKind::Full && !json_out {
            payloads::extract_full_container(&b, &t, &filter, &output, &protect)
                .map_err(Failure::engine)?
        } else {
            let mut opts = ExtractOptions::new(kind);
            opts.filter = filter;
            opts.lora_embeddings = lora_embeddings;
            let (payload, report) = payloads::extract(&b, &t, &opts).map_err(Failure::engine)?;
            payloads::write_payload(&output, &payload, &protect).map_err(Failure::engine)?;
            report
        };
        to_json(&report)
    })
}

/// `modeldiff delta apply BASE PAYLOAD -o OUTPUT [--dtype D] [--force]`.
#[pyfunction]
#[pyo3(signature = (base, payload, *, output, dtype="keep", force=false))]
fn delta_apply(
    py: Python<'_>,
    base: PathBuf,
    payload: PathBuf,
    output: PathBuf,
    dtype: &str,
    force: bool,
) -> PyResult<String> {
    let mut opts = ApplyOptions::default();
    opts.force = force;
    opts.dtype = match dtype {
        "keep" => OutDType::Keep,
        "f32" => OutDType::F32,
        "f16" => OutDType::F16,
        "bf16" => OutDType::BF16,
        other => {
            return Err(PyValueError::new_err(format!(
                "dtype must be \"keep\", \"f32\", \"f16\" or \"bf16\", got {other:?}"
            )))
        }
    };
    crate::run::interruptible(py, move |_| {
        let b = open(&base, "base model")?;
        let p = payloads::read_payload(&payload).map_err(Failure::engine)?;
        let protect = [base.as_path(), payload.as_path()];
        let r = payloads::apply(&b, &p, &output, &protect, &opts).map_err(Failure::engine)?;
        to_json(&r)
    })
}

/// `modeldiff delta verify BASE PAYLOAD [--target T] [--max-rel-l2 X] --format json`.
#[pyfunction]
#[pyo3(signature = (base, payload, *, target=None, max_rel_l2=None))]
fn delta_verify(
    py: Python<'_>,
    base: PathBuf,
    payload: PathBuf,
    target: Option<PathBuf>,
    max_rel_l2: Option<f64>,
) -> PyResult<String> {
    if max_rel_l2.is_some() && target.is_none() {
        return Err(PyValueError::new_err("max_rel_l2 needs target"));
    }
    crate::run::interruptible(py, move |_| {
        let b = open(&base, "base model")?;
        let p = payloads::read_payload(&payload).map_err(Failure::engine)?;
        let t = target
            .as_deref()
            .map(|t| open(t, "target model"))
            .transpose()?;
        let r = payloads::verify(&b, &p, t.as_ref(), max_rel_l2).map_err(Failure::engine)?;
        to_json(&r)
    })
}

/// `modeldiff delta show PAYLOAD --format json`.
#[pyfunction]
fn delta_show(py: Python<'_>, payload: PathBuf) -> PyResult<String> {
    crate::run::interruptible(py, move |_| {
        let p = payloads::read_payload(&payload).map_err(Failure::engine)?;
        to_json(&payloads::describe_payload(&payload, &p))
    })
}

/// Adds the `delta_*` functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(delta_extract, m)?)?;
    m.add_function(wrap_pyfunction!(delta_apply, m)?)?;
    m.add_function(wrap_pyfunction!(delta_verify, m)?)?;
    m.add_function(wrap_pyfunction!(delta_show, m)?)?;
    Ok(())
}
