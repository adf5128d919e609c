//! `--fail-on EXPR`: conditions over the report that make `diff` exit 1.
//!
//! An expression is `METRIC OP NUMBER` (`cosine<0.999`, `nmse_db > -30`), with OP one of
//! `< <= > >= == !=`, or a bare count name (`added`, `nonfinite`), which means `> 0`. A
//! per-tensor metric is checked on every tensor that has it (tensors without float metrics,
//! such as added or removed ones, are skipped); a summary field is checked once. Each tensor
//! or summary field for which the condition holds is a [`Violation`].
//!
//! Undefined values: a relative error over a tensor whose A side is all zeros (`rel_l2`,
//! `nmse`, `nmse_db`) counts as 0 (or −∞ dB) when nothing differs and +∞ otherwise, so it can
//! fail a gate; an undefined cosine (both sides zero but differing in NaNs) is skipped.

use anyhow::bail;
use modeldiff::{Report, TensorReport};

use crate::render::num;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, x: f64, t: f64) -> bool {
        match self {
            Op::Lt => x < t,
            Op::Le => x <= t,
            Op::Gt => x > t,
            Op::Ge => x >= t,
            Op::Eq => x == t,
            Op::Ne => x != t,
        }
    }
}

/// Per-tensor metrics a gate can check.
const TENSOR_METRICS: [&str; 11] = [
    "cosine",
    "one_minus_cosine",
    "max_abs",
    "rel_l2",
    "nmse",
    "nmse_db",
    "nonfinite",
    "l2",
    "mean_abs",
    "rmse",
    "mismatches",
];

/// Summary fields a gate can check.
const SUMMARY_FIELDS: [&str; 11] = [
    "global_cosine",
    "global_l2",
    "added",
    "removed",
    "shape_changed",
    "dtype_changed",
    "metadata_changed",
    "metadata_added",
    "metadata_removed",
    "nonfinite_a",
    "nonfinite_b",
];

/// Names that may stand alone, meaning `> 0`.
const COUNTS: [&str; 10] = [
    "added",
    "removed",
    "shape_changed",
    "dtype_changed",
    "metadata_changed",
    "metadata_added",
    "metadata_removed",
    "nonfinite_a",
    "nonfinite_b",
    "nonfinite",
];

/// One parsed `--fail-on` expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Gate {
    /// The expression as given.
    text: String,
    metric: &'static str,
    per_tensor: bool,
    op: Op,
    threshold: f64,
}

/// A condition that held: which gate, on which tensor (or the summary), with what value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Violation {
    pub(crate) gate: String,
    pub(crate) tensor: Option<String>,
    pub(crate) metric: &'static str,
    pub(crate) value: f64,
    pub(crate) threshold: f64,
}

impl std::fmt::Display for Violation {
    /// `fail-on cosine<0.999: tensor blk.0.attn_q.weight: cosine 0.99841 (threshold 0.999)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |x: f64| {
            if x.is_infinite() {
                (if x > 0.0 { "inf" } else { "-inf" }).to_string()
            } else {
                num::csv(Some(x))
            }
        };
        write!(f, "fail-on {}: ", self.gate)?;
        match &self.tensor {
            Some(t) => write!(f, "tensor {t}: ")?,
            None => write!(f, "summary: ")?,
        }
        write!(
            f,
            "{} {} (threshold {})",
            self.metric,
            show(self.value),
            show(self.threshold)
        )
    }
}

fn known(name: &str) -> Option<(&'static str, bool)> {
    if let Some(m) = TENSOR_METRICS.iter().find(|m| **m == name) {
        return Some((m, true));
    }
    SUMMARY_FIELDS
        .iter()
        .find(|m| **m == name)
        .map(|m| (*m, false))
}

/// Parses one expression; the error names it and says what is wrong.
pub(crate) fn parse(expr: &str) -> anyhow::Result<Gate> {
    let text: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    let Some((metric, per_tensor)) = known(name) else {
        bail!(
            "invalid --fail-on `{expr}`: unknown metric `{name}` (per tensor: {}; summary: {})",
            TENSOR_METRICS.join(", "),
            SUMMARY_FIELDS.join(", ")
        );
    };
    if rest.is_empty() {
        if COUNTS.contains(&metric) {
            return Ok(Gate {
                text,
                metric,
                per_tensor,
                op: Op::Gt,
                threshold: 0.0,
            });
        }
        bail!(
            "invalid --fail-on `{expr}`: expected `{metric} OP NUMBER`, OP one of < <= > >= == !="
        );
    }
    let (op, number) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|n| (*op, n)))
    .ok_or_else(|| {
        anyhow::anyhow!(
            "invalid --fail-on `{expr}`: expected an operator after `{metric}`, one of < <= > >= == !="
        )
    })?;
    let threshold: f64 = number
        .parse()
        .ok()
        .filter(|x: &f64| !x.is_nan())
        .ok_or_else(|| anyhow::anyhow!("invalid --fail-on `{expr}`: `{number}` is not a number"))?;
    Ok(Gate {
        text,
        metric,
        per_tensor,
        op,
        threshold,
    })
}

/// Parses every `--fail-on` expression.
pub(crate) fn parse_all(exprs: &[String]) -> anyhow::Result<Vec<Gate>> {
    exprs.iter().map(|e| parse(e)).collect()
}

/// A relative error made total: 0 when nothing differs, +∞ when A is zero but B is not.
fn relative(defined: Option<f64>, l2: f64, zero: f64) -> f64 {
    defined.unwrap_or(if l2 > 0.0 { f64::INFINITY } else { zero })
}

/// A tensor's value of a per-tensor metric, `None` when it has none.
fn tensor_value(t: &TensorReport, metric: &str) -> Option<f64> {
    if metric == "mismatches" {
        return t.mismatches.map(|n| n as f64);
    }
    let m = t.metrics.as_ref()?;
    Some(match metric {
        "cosine" => m.cosine?,
        "one_minus_cosine" => m.one_minus_cosine?,
        "max_abs" => m.max_abs,
        "rel_l2" => relative(m.rel_l2, m.l2, 0.0),
        "nmse" => relative(m.nmse, m.l2, 0.0),
        "nmse_db" => match (m.nmse, m.nmse_db) {
            (_, Some(db)) => db,
            (Some(_), None) => f64::NEG_INFINITY, // nmse is 0
            (None, None) => relative(None, m.l2, f64::NEG_INFINITY),
        },
        "nonfinite" => (m.nonfinite_a + m.nonfinite_b) as f64,
        "l2" => m.l2,
        "mean_abs" => m.mean_abs,
        "rmse" => m.rmse,
        _ => return None,
    })
}

fn summary_value(r: &Report, field: &str) -> Option<f64> {
    let s = &r.summary;
    let n = |x: u64| Some(x as f64);
    match field {
        "global_cosine" => s.global_cosine,
        "global_l2" => s.global_l2,
        "added" => n(s.added),
        "removed" => n(s.removed),
        "shape_changed" => n(s.shape_changed),
        "dtype_changed" => n(s.dtype_changed),
        "metadata_changed" => n(s.metadata_changed),
        "metadata_added" => n(s.metadata_added),
        "metadata_removed" => n(s.metadata_removed),
        "nonfinite_a" => n(s.nonfinite_a),
        "nonfinite_b" => n(s.nonfinite_b),
        _ => None,
    }
}

impl Gate {
    /// The places where the condition holds.
    pub(crate) fn check(&self, r: &Report) -> Vec<Violation> {
        let violation = |tensor: Option<&str>, value: f64| Violation {
            gate: self.text.clone(),
            tensor: tensor.map(str::to_string),
            metric: self.metric,
            value,
            threshold: self.threshold,
        };
        if self.per_tensor {
            r.tensors
                .iter()
                .filter_map(|t| {
                    let v = tensor_value(t, self.metric)?;
                    self.op
                        .holds(v, self.threshold)
                        .then(|| violation(Some(&t.name), v))
                })
                .collect()
        } else {
            summary_value(r, self.metric)
                .filter(|&v| self.op.holds(v, self.threshold))
                .map(|v| violation(None, v))
                .into_iter()
                .collect()
        }
    }
}

/// Every violation of every gate, gate by gate.
pub(crate) fn check_all(gates: &[Gate], r: &Report) -> Vec<Violation> {
    gates.iter().flat_map(|g| g.check(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse() {
        let g = parse("cosine < 0.999").unwrap();
        assert_eq!(
            (g.metric, g.op, g.threshold, g.per_tensor),
            ("cosine", Op::Lt, 0.999, true)
        );
        assert_eq!(g.text, "cosine<0.999");
        assert_eq!(parse("nmse_db>-30").unwrap().threshold, -30.0);
        assert_eq!(parse("max_abs>=5e-2").unwrap().op, Op::Ge);
        assert_eq!(parse("added!=0").unwrap().op, Op::Ne);
        let bare = parse("nonfinite").unwrap();
        assert_eq!((bare.op, bare.threshold), (Op::Gt, 0.0));
        assert!(!parse("global_cosine<=0.99").unwrap().per_tensor);
    }

    #[test]
    fn malformed_expressions_name_themselves() {
        for (expr, why) in [
            ("cosin<0.9", "unknown metric `cosin`"),
            ("cosine", "expected `cosine OP NUMBER`"),
            ("cosine=<1", "expected an operator"),
            ("cosine<abc", "`abc` is not a number"),
            ("cosine<", "`` is not a number"),
            ("cosine<NaN", "is not a number"),
            ("", "unknown metric ``"),
        ] {
            let e = parse(expr).unwrap_err().to_string();
            assert!(e.contains(&format!("`{expr}`")), "{e}");
            assert!(e.contains(why), "{expr}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn operators() {
        for (op, x, t, holds) in [
            (Op::Lt, 1.0, 2.0, true),
            (Op::Le, 2.0, 2.0, true),
            (Op::Gt, 2.0, 2.0, false),
            (Op::Ge, 2.0, 2.0, true),
            (Op::Eq, 2.0, 2.0, true),
            (Op::Ne, 2.0, 2.0, false),
        ] {
            assert_eq!(op.holds(x, t), holds, "{op:?}");
        }
    }
}
