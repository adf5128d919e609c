//! Keyword arguments checked into the engine's `Config`, as the CLI's `args.rs` does for flags.
//!
//! The defaults are the CLI's (`Config::default()`, the `auto` name map, renames by content,
//! checksums verified), so `modeldiff.diff(a, b)` and `modeldiff diff a b` compute the same
//! report. A bad argument raises `ValueError` naming the keyword, before any file is opened.

use std::path::Path;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex::Regex;

use crate::errors::Failure;

/// The keyword arguments of `modeldiff.diff`.
#[derive(Debug)]
pub(crate) struct DiffOptions {
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) threads: Option<usize>,
    pub(crate) ignore_metadata: bool,
    pub(crate) map: String,
    pub(crate) rename: Vec<String>,
    pub(crate) no_renames: bool,
    pub(crate) qk_unpermute: String,
    pub(crate) spectral: bool,
    pub(crate) no_verify: bool,
}

/// What a diff runs with.
#[derive(Debug)]
pub(crate) struct DiffSettings {
    pub(crate) engine: modeldiff::Config,
    pub(crate) open: modeldiff_formats::OpenOptions,
}

impl DiffSettings {
    /// Opens one side; `context` is the CLI's wording (`cannot read model A`).
    pub(crate) fn open_model(
        &self,
        path: &Path,
        context: &str,
    ) -> Result<modeldiff_formats::Model, Failure> {
        modeldiff_formats::open_with(path, &self.open).map_err(|e| Failure::format(context, e))
    }
}

/// Open options: checksums verified unless `no_verify`.
pub(crate) fn open_options(no_verify: bool) -> modeldiff_formats::OpenOptions {
    let mut open = modeldiff_formats::OpenOptions::default();
    open.verify_checksums = !no_verify;
    open
}

/// Compiles `include`/`exclude` patterns; an error names the keyword and the pattern.
pub(crate) fn regexes(keyword: &str, pats: &[String]) -> PyResult<Vec<Regex>> {
    pats.iter()
        .map(|p| {
            modeldiff::matching::compile_pattern(p).map_err(|why| {
                PyValueError::new_err(format!("invalid {keyword} regex `{p}`: {why}"))
            })
        })
        .collect()
}

impl DiffOptions {
    /// The engine configuration, or `ValueError`.
    pub(crate) fn validate(self) -> PyResult<DiffSettings> {
        let mut engine = modeldiff::Config::default();
        engine.include = regexes("include", &self.include)?;
        engine.exclude = regexes("exclude", &self.exclude)?;
        if self.threads == Some(0) {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        engine.threads = self.threads;
        engine.ignore_metadata = self.ignore_metadata;
        engine.name_map = name_map(&self.map)?;
        engine.rename = modeldiff::RenameRules::parse(&self.rename)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        engine.detect_renames = !self.no_renames;
        engine.qk_unpermute = match self.qk_unpermute.as_str() {
            "auto" => modeldiff::QkUnpermute::Auto,
            "on" => modeldiff::QkUnpermute::On,
            "off" => modeldiff::QkUnpermute::Off,
            other => {
                return Err(PyValueError::new_err(format!(
                    "qk_unpermute must be \"auto\", \"on\" or \"off\", got {other:?}"
                )))
            }
        };
        engine.spectral = self.spectral;
        Ok(DiffSettings {
            engine,
            open: open_options(self.no_verify),
        })
    }
}

/// `map="auto"|"none"|FILE`: a FILE ending in `.toml` is read as TOML, any other as JSON.
fn name_map(choice: &str) -> PyResult<Option<modeldiff::NameMap>> {
    Ok(match choice {
        "auto" => Some(modeldiff::NameMap::Auto(None)),
        "none" => None,
        file => {
            let path = Path::new(file);
            let text = std::fs::read_to_string(path)
                .map_err(|e| PyValueError::new_err(format!("cannot read map {file}: {e}")))?;
            let toml = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
            Some(
                modeldiff::NameMap::parse(file, &text, toml)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?,
            )
        }
    })
}
