//! Verifying a payload: its digest, its base, its fit to the base, and (given the target) that
//! applying it reproduces the target.

use std::path::Path;

use modeldiff_delta::Payload;
use modeldiff_formats::Model;
use serde::Serialize;

use crate::engine::{diff, Config};
use crate::error::Result;
use crate::payloads::apply::{apply, ApplyOptions};
use crate::payloads::digest::{base_tensors, model_digest};

/// One check and its outcome.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Passed.
    pub ok: bool,
    /// Numbers or the reason.
    pub detail: String,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Every check run, in order.
    pub checks: Vec<Check>,
    /// All passed.
    pub ok: bool,
}

fn check(checks: &mut Vec<Check>, name: &'static str, ok: bool, detail: String) {
    checks.push(Check { name, ok, detail });
}

/// Runs every check that applies: the payload digest (when recorded), the base digest (when
/// recorded), validation against the base, and with `target`: apply into a temporary
/// directory, then the applied model's digest against the target's (required when the payload
/// records a target digest, i.e. claims exactness), and a diff of the two: no tensor may be
/// added, removed or reshaped, and with `max_rel_l2` every tensor's relative L2 distance must
/// be at most that.
pub fn verify(
    base: &Model,
    payload: &Payload,
    target: Option<&Model>,
    max_rel_l2: Option<f64>,
) -> Result<VerifyReport> {
    let max_rel = max_rel_l2;
    let mut checks = Vec::new();
    match &payload.digest {
        Some(d) => match payload.verify_digest() {
            Ok(_) => check(&mut checks, "payload digest", true, d.to_string()),
            Err(e) => check(&mut checks, "payload digest", false, e.to_string()),
        },
        None => check(&mut checks, "payload digest", true, "not recorded".into()),
    }
    let base_digest = model_digest(base)?;
    match &payload.base_digest {
        Some(want) => check(
            &mut checks,
            "base digest",
            want == &base_digest,
            format!("payload {want}, base {base_digest}"),
        ),
        None => check(
            &mut checks,
            "base digest",
            true,
            format!("not recorded; base {base_digest}"),
        ),
    }
    let fits = payload.validate_against(&base_tensors(base));
    check(
        &mut checks,
        "fits the base",
        fits.is_ok(),
        fits.err()
            .map_or("every target exists with matching dims".into(), |e| {
                e.to_string()
            }),
    );
    if let Some(target) = target {
        if checks.iter().all(|c| c.ok) {
            let dir = tempfile::tempdir().map_err(|e| modeldiff_formats::Error::Io {
                path: std::env::temp_dir(),
                err: e,
            })?;
            let out = dir.path().join("applied.safetensors");
            let opts = ApplyOptions {
                force: true,
                ..ApplyOptions::default()
            };
            apply(base, payload, &out, &[], &opts)?;
            let applied = modeldiff_formats::open(&out)?;
            let got = model_digest(&applied)?;
            let want = model_digest(target)?;
            // Bit-exactness is required only of a payload that claims it (records the target's
            // digest); for an approximation (LoRA, IA3, a skipped tensor) it is a fact to show.
            let claims_exact = payload.target_digest.is_some();
            check(
                &mut checks,
                "apply reproduces the target digest",
                got == want || !claims_exact,
                format!(
                    "applied {got}, target {want}{}",
                    match (got == want, claims_exact) {
                        (true, _) => "",
                        (false, true) => " (the payload claims an exact reconstruction)",
                        (false, false) => " (approximate payload: not required)",
                    }
                ),
            );
            if let Some(rec) = &payload.target_digest {
                check(
                    &mut checks,
                    "recorded target digest",
                    rec == &want,
                    format!("payload {rec}, target {want}"),
                );
            }
            let r = diff(&applied, target, &Config::default())?;
            let s = &r.summary;
            let structural = s.added + s.removed + s.shape_changed;
            check(
                &mut checks,
                "apply matches the target",
                structural == 0 && max_rel.is_none_or(|m| worst_rel_l2(&r) <= m),
                format!(
                    "{structural} structural differences; {} tensors compared, {} identical; worst rel L2 {:.3e}; global L2 {}; global cosine {}; max abs {}",
                    s.compared,
                    s.identical,
                    worst_rel_l2(&r),
                    s.global_l2.map_or("-".into(), |v| format!("{v:.6e}")),
                    s.global_cosine.map_or("-".into(), |v| format!("{v:.9}")),
                    s.max_abs.map_or("-".into(), |v| format!("{v:.6e}")),
                ),
            );
        } else {
            check(
                &mut checks,
                "apply matches the target",
                false,
                "skipped: an earlier check failed".into(),
            );
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    Ok(VerifyReport { checks, ok })
}

/// The largest per-tensor relative L2 distance of a report (0 when nothing was compared).
fn worst_rel_l2(r: &crate::Report) -> f64 {
    r.tensors
        .iter()
        .filter_map(|t| t.metrics.as_ref()?.rel_l2)
        .fold(0.0, f64::max)
}

/// Reads a payload file (JSON or SafeTensors container, detected from the content).
pub fn read_payload(path: &Path) -> Result<Payload> {
    let bytes = std::fs::read(path).map_err(|e| modeldiff_formats::Error::Io {
        path: path.to_path_buf(),
        err: e,
    })?;
    Payload::from_bytes(&bytes).map_err(|e| crate::Error::Delta {
        detail: format!("{}: {e}", path.display()),
    })
}
