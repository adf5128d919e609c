//! The quantization drift report: how far a quantized model (B) moved from its source (A).
//!
//! [`drift`] reads a diff [`Report`] (with its matching, transforms and metrics) and the two
//! models, and builds a [`DriftReport`] (schema `modeldiff.drift.v1`): per tensor NMSE
//! (Σ(a − b)² / Σa², A the source), SNR in dB (−10·log10 NMSE), cosine, max |a − b| with
//! its (row, column, quant block) in A's coordinates, and a [`Verdict`]; the same numbers
//! per layer and per quant type of B (sums of squares added, so a group's NMSE is exact); and
//! the worst tensors by NMSE.

use std::collections::BTreeMap;

use modeldiff_formats::Model;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::report::{ModelSummary, Report, TensorReport};

/// Schema identifier of a drift report.
pub const DRIFT_SCHEMA: &str = "modeldiff.drift.v1";

/// A one-line verdict from a tensor's NMSE, by decade (see [`Verdict::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// NMSE < 1e-6 (SNR > 60 dB): rounding-level, e.g. F16/BF16 storage.
    EssentiallyIdentical,
    /// 1e-6 ≤ NMSE < 1e-4 (40–60 dB): typical of 8-bit quantization.
    Excellent,
    /// 1e-4 ≤ NMSE < 1e-3 (30–40 dB): typical of 5–6-bit quantization.
    Good,
    /// 1e-3 ≤ NMSE < 1e-2 (20–30 dB): typical of 4-bit and below; worth watching.
    Noticeable,
    /// 1e-2 ≤ NMSE < 1e-1 (10–20 dB): large; 2–3-bit territory or a problem.
    Poor,
    /// NMSE ≥ 1e-1 (< 10 dB), or a source of zeros against anything else: broken.
    Broken,
}

impl Verdict {
    /// Upper NMSE bounds of the bands, in order (the last band is unbounded).
    pub const BANDS: [(f64, Verdict); 5] = [
        (1e-6, Verdict::EssentiallyIdentical),
        (1e-4, Verdict::Excellent),
        (1e-3, Verdict::Good),
        (1e-2, Verdict::Noticeable),
        (1e-1, Verdict::Poor),
    ];

    /// The band of `nmse`; `None` (Σa² = 0) is identical when nothing differs, else broken.
    pub fn of(nmse: Option<f64>, identical: bool) -> Verdict {
        match nmse {
            None if identical => Verdict::EssentiallyIdentical,
            None => Verdict::Broken,
            Some(x) => Verdict::BANDS
                .iter()
                .find(|(bound, _)| x < *bound)
                .map_or(Verdict::Broken, |(_, v)| *v),
        }
    }

    /// The words of the verdict.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::EssentiallyIdentical => "essentially identical",
            Verdict::Excellent => "excellent",
            Verdict::Good => "good",
            Verdict::Noticeable => "noticeable",
            Verdict::Poor => "poor",
            Verdict::Broken => "broken",
        }
    }
}

/// Where a tensor's largest difference is: row, column, and the quant block of B's row that
/// holds it (absent for plain dtypes), in A's coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Row (0 for 1-D tensors; the flattened outer dimensions for rank > 2).
    pub row: u64,
    /// Column (the last dimension).
    pub col: u64,
    /// Index of the quant block within the row (`col / block_elems` of B's dtype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
}

/// One tensor's drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TensorDrift {
    /// A's name.
    pub name: String,
    /// B's name when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_b: Option<String>,
    /// B's stored dtype (the quant type).
    pub quant_type: String,
    /// A's stored dtype.
    pub dtype_a: String,
    /// The block (layer) the tensor belongs to: `layer N`, or `other`.
    pub layer: String,
    /// Transforms undone before comparing (as in the diff report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    /// Compared elements.
    pub elements: u64,
    /// Σ(a − b)² / Σa²; `None` when Σa² = 0.
    pub nmse: Option<f64>,
    /// −10·log10(nmse); `None` when nmse is 0 or undefined.
    pub snr_db: Option<f64>,
    /// Cosine similarity.
    pub cosine: Option<f64>,
    /// max |a − b|.
    pub max_abs: f64,
    /// Where `max_abs` is (absent when nothing differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs_at: Option<Location>,
    /// The band of `nmse`.
    pub verdict: Verdict,
    #[serde(skip)]
    sum_sq_diff: f64,
    #[serde(skip)]
    sum_sq_a: f64,
}

/// A group's drift: sums of squares over its tensors, so NMSE is exact for the group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupDrift {
    /// `layer N`, `other`, or a quant type.
    pub group: String,
    /// Tensors in the group.
    pub tensors: u64,
    /// Compared elements.
    pub elements: u64,
    /// Σ(a − b)² / Σa² over the group.
    pub nmse: Option<f64>,
    /// −10·log10(nmse).
    pub snr_db: Option<f64>,
    /// The tensor with the largest NMSE (absent when no tensor of the group moved).
    pub worst_tensor: Option<String>,
    /// The band of `nmse`.
    pub verdict: Verdict,
}

/// The drift report (`modeldiff.drift.v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftReport {
    /// Always [`DRIFT_SCHEMA`].
    pub schema: String,
    /// The source model.
    pub a: ModelSummary,
    /// The quantized model.
    pub b: ModelSummary,
    /// Every compared tensor, in A's order.
    pub tensors: Vec<TensorDrift>,
    /// Names (A's) of the worst tensors by NMSE, worst first.
    pub worst: Vec<String>,
    /// Per layer, in layer order (`other` last).
    pub by_layer: Vec<GroupDrift>,
    /// Per quant type of B, worst first.
    pub by_quant_type: Vec<GroupDrift>,
    /// The whole model as one group.
    pub overall: GroupDrift,
    /// Tensors per verdict.
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Tensors of A without a partner in B (names).
    pub only_in_a: Vec<String>,
    /// Tensors of B without a partner in A (names).
    pub only_in_b: Vec<String>,
}

/// The layer of `name`: `layer N` for `layers.N`, `layer.N`, `blk.N`, `h.N`; else `other`.
fn layer_of(name: &str) -> (Option<u64>, String) {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?:^|\.)(?:layers|layer|blk|h)\.(\d+)\.").unwrap());
    match re.captures(name).and_then(|c| c[1].parse::<u64>().ok()) {
        Some(n) => (Some(n), format!("layer {n}")),
        None => (None, "other".into()),
    }
}

fn snr(nmse: Option<f64>) -> Option<f64> {
    nmse.filter(|&x| x > 0.0).map(|x| -10.0 * x.log10())
}

fn group(name: String, members: &[&TensorDrift]) -> GroupDrift {
    let (sd, sa): (f64, f64) = members
        .iter()
        .fold((0.0, 0.0), |(d, a), t| (d + t.sum_sq_diff, a + t.sum_sq_a));
    let nmse = (sa > 0.0).then(|| sd / sa);
    let worst = members
        .iter()
        .filter(|t| t.nmse.is_some_and(|x| x > 0.0))
        .max_by(|x, y| {
            x.nmse
                .partial_cmp(&y.nmse)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|t| t.name.clone());
    GroupDrift {
        group: name,
        tensors: members.len() as u64,
        elements: members.iter().map(|t| t.elements).sum(),
        nmse,
        snr_db: snr(nmse),
        worst_tensor: worst,
        verdict: Verdict::of(nmse, sd == 0.0),
    }
}

/// One tensor's drift from its diff line; `None` when it has no float metrics.
fn tensor_drift(t: &TensorReport, b: &Model) -> Option<TensorDrift> {
    let m = t.metrics.as_ref()?;
    let name_b = t.name_b.clone().unwrap_or_else(|| t.name.clone());
    let block_elems = b
        .find(&name_b)
        .map(|i| b.tensors()[i].dtype.block_elems() as u64)
        .unwrap_or(1);
    let shape = t.shape_a.clone().unwrap_or_default();
    let max_abs_at = (m.max_abs > 0.0 && !m.max_abs_index.is_empty()).then(|| {
        let idx = &m.max_abs_index;
        let col = *idx.last().expect("non-empty");
        // Rows of a rank > 2 tensor are its flattened outer dimensions.
        let row = idx[..idx.len() - 1]
            .iter()
            .zip(&shape)
            .fold(0u64, |acc, (&i, &d)| acc * d + i);
        Location {
            row,
            col,
            block: (block_elems > 1).then(|| col / block_elems),
        }
    });
    let sum_sq_diff = m.l2 * m.l2;
    let sum_sq_a = m.norm_a * m.norm_a;
    Some(TensorDrift {
        name: t.name.clone(),
        name_b: t.name_b.clone(),
        quant_type: t.dtype_b.clone().unwrap_or_default(),
        dtype_a: t.dtype_a.clone().unwrap_or_default(),
        layer: layer_of(&t.name).1,
        transforms: t.transforms.clone(),
        elements: m.compared,
        nmse: m.nmse,
        snr_db: snr(m.nmse),
        cosine: m.cosine,
        max_abs: m.max_abs,
        max_abs_at,
        verdict: Verdict::of(m.nmse, t.identical == Some(true)),
        sum_sq_diff,
        sum_sq_a,
    })
}

/// Builds the drift report of `report` (a diff of source `a` against quantized `b`), listing
/// the `worst` tensors with the largest NMSE.
pub fn drift(report: &Report, b: &Model, worst: usize) -> DriftReport {
    let tensors: Vec<TensorDrift> = report
        .tensors
        .iter()
        .filter_map(|t| tensor_drift(t, b))
        .collect();
    let mut order: Vec<&TensorDrift> = tensors.iter().collect();
    order.sort_by(|x, y| {
        let key = |t: &TensorDrift| {
            t.nmse.unwrap_or(if t.verdict == Verdict::Broken {
                f64::INFINITY
            } else {
                0.0
            })
        };
        key(y).total_cmp(&key(x))
    });
    let worst_names = order.iter().take(worst).map(|t| t.name.clone()).collect();

    let mut layers: BTreeMap<(u64, u64), (String, Vec<&TensorDrift>)> = BTreeMap::new();
    for t in &tensors {
        let (n, label) = layer_of(&t.name);
        let key = n.map_or((1, 0), |n| (0, n));
        layers
            .entry(key)
            .or_insert_with(|| (label, Vec::new()))
            .1
            .push(t);
    }
    let by_layer = layers
        .into_values()
        .map(|(label, members)| group(label, &members))
        .collect();

    let mut types: BTreeMap<&str, Vec<&TensorDrift>> = BTreeMap::new();
    for t in &tensors {
        types.entry(t.quant_type.as_str()).or_default().push(t);
    }
    let mut by_quant_type: Vec<GroupDrift> = types
        .into_iter()
        .map(|(q, members)| group(q.to_string(), &members))
        .collect();
    by_quant_type.sort_by(|x, y| y.nmse.unwrap_or(0.0).total_cmp(&x.nmse.unwrap_or(0.0)));

    let all: Vec<&TensorDrift> = tensors.iter().collect();
    let overall = group("all".into(), &all);
    let mut verdicts = BTreeMap::new();
    for t in &tensors {
        *verdicts.entry(t.verdict).or_insert(0) += 1;
    }
    let only = |kind: crate::report::ChangeKind| {
        report
            .tensors
            .iter()
            .filter(|t| t.change == kind)
            .map(|t| t.name.clone())
            .collect()
    };
    DriftReport {
        schema: DRIFT_SCHEMA.into(),
        a: report.a.clone(),
        b: report.b.clone(),
        worst: worst_names,
        by_layer,
        by_quant_type,
        overall,
        verdicts,
        only_in_a: only(crate::report::ChangeKind::Removed),
        only_in_b: only(crate::report::ChangeKind::Added),
        tensors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::model;

    #[test]
    fn verdict_bands_by_decade() {
        let v = |x: f64| Verdict::of(Some(x), false);
        assert_eq!(v(0.0), Verdict::EssentiallyIdentical);
        assert_eq!(v(9.9e-7), Verdict::EssentiallyIdentical);
        assert_eq!(v(1e-6), Verdict::Excellent);
        assert_eq!(v(5e-4), Verdict::Good);
        assert_eq!(v(5e-3), Verdict::Noticeable);
        assert_eq!(v(5e-2), Verdict::Poor);
        assert_eq!(v(0.1), Verdict::Broken);
        assert_eq!(v(f64::NAN), Verdict::Broken);
        assert_eq!(Verdict::of(None, true), Verdict::EssentiallyIdentical);
        assert_eq!(Verdict::of(None, false), Verdict::Broken);
    }

    #[test]
    fn groups_add_sums_of_squares() {
        let a = model(&[
            ("model.layers.0.x.weight", &[1.0, 1.0]),
            ("model.layers.0.y.weight", &[2.0, 0.0]),
            ("model.layers.1.x.weight", &[1.0, 0.0]),
            ("norm.weight", &[3.0]),
        ]);
        let b = model(&[
            ("model.layers.0.x.weight", &[1.0, 0.5]),
            ("model.layers.0.y.weight", &[2.0, 0.0]),
            ("model.layers.1.x.weight", &[0.0, 0.0]),
            ("norm.weight", &[3.0]),
        ]);
        let r = crate::diff(&a, &b, &crate::Config::default()).unwrap();
        let d = drift(&r, &b, 2);
        assert_eq!(d.tensors.len(), 4);
        assert_eq!(d.tensors[0].nmse, Some(0.125));
        assert_eq!(
            d.tensors[0].max_abs_at,
            Some(Location {
                row: 0,
                col: 1,
                block: None
            })
        );
        assert_eq!(
            d.worst,
            vec!["model.layers.1.x.weight", "model.layers.0.x.weight"]
        );
        let labels: Vec<&str> = d.by_layer.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(labels, ["layer 0", "layer 1", "other"]);
        // layer 0: Σd² = 0.25, Σa² = 2 + 4.
        let close =
            |x: Option<f64>, y: f64| assert!((x.unwrap() - y).abs() < 1e-12 * y, "{x:?} {y}");
        close(d.by_layer[0].nmse, 0.25 / 6.0);
        assert_eq!(d.by_layer[1].verdict, Verdict::Broken);
        close(d.overall.nmse, 1.25 / 16.0);
        assert_eq!(d.verdicts[&Verdict::EssentiallyIdentical], 2);
        assert_eq!(d.by_quant_type.len(), 1);
        assert_eq!(d.by_quant_type[0].group, "F32");
        assert_eq!(layer_of("blk.12.attn_q.weight").1, "layer 12");
    }
}
