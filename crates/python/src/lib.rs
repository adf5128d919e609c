//! Python bindings of modeldiff: the native module `modeldiff._native` behind the `modeldiff`
//! Python package.
//!
//! # Overview
//!
//! The Python package (`python/modeldiff`) is thin: its functions check their arguments, call
//! this module, and turn the JSON text it returns into Python objects with `json.loads`, so a
//! `modeldiff.diff(...)` result is the same document, NaN and ±inf as `null` included, as the
//! CLI's `modeldiff diff --format json` (both serialize the engine's `modeldiff::Report` with
//! `serde_json`). What this crate adds:
//!
//! - `run::interruptible`: every call that reads models runs on a worker thread while the
//!   calling thread waits with the GIL released, waking every 50 ms to run Python's signal
//!   handlers; on `KeyboardInterrupt` it cancels the engine through its `modeldiff::Progress`
//!   counter (checked before every job) and raises once the worker has stopped.
//! - `model::Model` (`modeldiff.open`): a model kept open behind an `Arc`, whose tensors come
//!   out as numpy arrays through numpy's `__array_interface__` protocol (no numpy C API, so the
//!   module stays on the stable ABI): `model::TensorBuffer` owns either decoded `f32` values or
//!   a reference to the model, whose mapped bytes the array then views in place.
//! - `errors`: engine and format errors become the Python classes of `modeldiff._errors`
//!   (`FormatError`, `IoError`, `UnsupportedError`, `DeltaError`, all `ModeldiffError`), with
//!   the CLI's one-line message.
//!
//! The layering is the CLI's: this crate sits beside `modeldiff-cli` on top of the engine
//! (`modeldiff`), the formats crate and `modeldiff-delta`; nothing below imports it.
//!
//! ```python
//! import modeldiff
//! report = modeldiff.diff("base.safetensors", "tuned.safetensors", include=[r"layers\.0\."])
//! print(report["summary"]["max_abs"])
//! ```

#![forbid(unsafe_code)]

mod config;
mod delta;
mod errors;
mod model;
mod run;

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors::Failure;

/// The `modeldiff.report.v1` document of `a` against `b` as JSON text (see `modeldiff.diff`;
/// the options are the CLI's `diff` flags).
#[pyfunction]
#[pyo3(signature = (
    a, b, *, include=Vec::new(), exclude=Vec::new(), threads=None, ignore_metadata=false,
    map=String::from("auto"), rename=Vec::new(), no_renames=false,
    qk_unpermute=String::from("auto"), spectral=false, no_verify=false
))]
#[allow(clippy::too_many_arguments)]
fn diff_json(
    py: Python<'_>,
    a: PathBuf,
    b: PathBuf,
    include: Vec<String>,
    exclude: Vec<String>,
    threads: Option<usize>,
    ignore_metadata: bool,
    map: String,
    rename: Vec<String>,
    no_renames: bool,
    qk_unpermute: String,
    spectral: bool,
    no_verify: bool,
) -> PyResult<String> {
    let options = config::DiffOptions {
        include,
        exclude,
        threads,
        ignore_metadata,
        map,
        rename,
        no_renames,
        qk_unpermute,
        spectral,
        no_verify,
    };
    let cfg = options.validate()?;
    run::interruptible(py, move |progress| {
        let ma = cfg.open_model(&a, "cannot read model A")?;
        let mb = cfg.open_model(&b, "cannot read model B")?;
        let mut engine = cfg.engine.clone();
        engine.progress = Some(progress);
        let report = modeldiff::diff(&ma, &mb, &engine).map_err(Failure::engine)?;
        serde_json::to_string(&report).map_err(Failure::internal)
    })
}

/// The `modeldiff.inspect.v1` document of one model as JSON text (see `modeldiff.inspect`).
#[pyfunction]
#[pyo3(signature = (path, no_verify=false))]
fn inspect_json(py: Python<'_>, path: PathBuf, no_verify: bool) -> PyResult<String> {
    let open = config::open_options(no_verify);
    run::interruptible(py, move |_| {
        let model = modeldiff_formats::open_with(&path, &open)
            .map_err(|e| Failure::format("cannot read model", e))?;
        serde_json::to_string(&modeldiff::inspect(&model)).map_err(Failure::internal)
    })
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(diff_json, m)?)?;
    m.add_function(wrap_pyfunction!(inspect_json, m)?)?;
    m.add_function(wrap_pyfunction!(model::open, m)?)?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::TensorBuffer>()?;
    delta::register(m)?;
    Ok(())
}
