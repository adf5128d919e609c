//! Views of a diff: which rows a table shows, grouped how, in which order, and how many.
//!
//! A row is one tensor (`--by tensor`) or a group of tensors (`--by layer|module|dtype`).
//! A group's numbers are computed from its tensors' sums, never by averaging their metrics:
//! with Σd² = Σ l2ᵢ², Σa² = Σ norm_aᵢ², Σb² = Σ norm_bᵢ² and Σ|d| = Σ mean_absᵢ · comparedᵢ,
//! the group's L2 is √Σd², its relative L2 √(Σd²/Σa²), its NMSE Σd²/Σa², its RMSE and mean
//! absolute difference divide by the compared elements, its max abs is the largest (and names
//! its tensor), and its cosine is that of the group's tensors laid end to end, computed as
//! 1 − cos = (Σd² − (‖A‖ − ‖B‖)²) / (2‖A‖‖B‖) with ‖A‖ − ‖B‖ = Σ(norm_aᵢ² − norm_bᵢ²)/(‖A‖ + ‖B‖),
//! the engine's cancellation-free form.

use std::cmp::Ordering;

use modeldiff::{ChangeKind, Report, TensorReport};

use crate::args::{GroupBy, SortKey};

/// What a diff's table, CSV, Markdown, `--stat` and HTML show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    /// List identical tensors (and groups) too.
    pub(crate) all: bool,
    /// One row per tensor, or per group.
    pub(crate) by: GroupBy,
    /// Worst first by a metric, or natural name order; `None`: report order for tensors,
    /// natural name order for groups.
    pub(crate) sort: Option<SortKey>,
    /// At most this many rows.
    pub(crate) top: Option<usize>,
}

/// What happened to a tensor, in the words a person uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Same shape and dtype, every value equal.
    Identical,
    /// Same shape and dtype, values differ (a NaN against a number included).
    Modified,
    /// Same shape, another dtype (values may or may not differ).
    Dtype(String, String),
    /// Another shape.
    Reshaped,
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// Present in both but not comparable (an undecodable dtype).
    NotCompared,
}

impl Status {
    pub(crate) fn of(t: &TensorReport) -> Status {
        match t.change {
            ChangeKind::Added => Status::Added,
            ChangeKind::Removed => Status::Removed,
            ChangeKind::ShapeChanged => Status::Reshaped,
            _ if t.dtype_changed => Status::Dtype(
                t.dtype_a.clone().unwrap_or_default(),
                t.dtype_b.clone().unwrap_or_default(),
            ),
            _ => match t.identical {
                Some(true) => Status::Identical,
                Some(false) => Status::Modified,
                None => Status::NotCompared,
            },
        }
    }

    /// The table's wording: `identical`, `modified`, `dtype F32→Q8_0`, `reshaped`, ...
    pub(crate) fn label(&self) -> String {
        match self {
            Status::Identical => "identical".into(),
            Status::Modified => "modified".into(),
            Status::Dtype(a, b) => format!("dtype {a}→{b}"),
            Status::Reshaped => "reshaped".into(),
            Status::Added => "added".into(),
            Status::Removed => "removed".into(),
            Status::NotCompared => "not compared".into(),
        }
    }
}

/// A metric a row can be sorted, gated or drawn by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metric {
    L2,
    RelL2,
    Cosine,
    MaxAbs,
    Nmse,
}

impl Metric {
    /// Whether a larger value is a larger difference (cosine: smaller is worse).
    fn larger_is_worse(self) -> bool {
        self != Metric::Cosine
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Metric::L2 => "L2",
            Metric::RelL2 => "rel L2",
            Metric::Cosine => "cosine",
            Metric::MaxAbs => "max abs",
            Metric::Nmse => "NMSE",
        }
    }
}

/// The sums a group's numbers are computed from (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sums {
    /// Tensors in the row.
    pub(crate) tensors: u64,
    /// Tensors whose status is [`Status::Identical`].
    pub(crate) identical: u64,
    /// Tensors with float metrics.
    pub(crate) with_metrics: u64,
    /// Tensors with float metrics that are not identical.
    differing: u64,
    /// Element pairs compared (both finite).
    pub(crate) compared: u64,
    /// Σ(a − b)².
    pub(crate) sq_diff: f64,
    /// Σa².
    pub(crate) sq_a: f64,
    /// Σb².
    pub(crate) sq_b: f64,
    /// Σ|a − b|.
    abs_diff: f64,
    /// Σ(norm_aᵢ² − norm_bᵢ²), each term as (norm_aᵢ − norm_bᵢ)(norm_aᵢ + norm_bᵢ).
    sq_gap: f64,
    /// Largest max |a − b| and the tensor holding it (the first on a tie).
    pub(crate) max_abs: Option<(f64, String)>,
    /// Elements that differ.
    pub(crate) mismatches: u64,
    /// NaN/±inf values in A.
    pub(crate) nonfinite_a: u64,
    /// NaN/±inf values in B.
    pub(crate) nonfinite_b: u64,
}

impl Sums {
    /// Adds one tensor.
    pub(crate) fn add(&mut self, t: &TensorReport) {
        self.tensors += 1;
        self.identical += (Status::of(t) == Status::Identical) as u64;
        self.mismatches += t.mismatches.unwrap_or(0);
        let Some(m) = &t.metrics else { return };
        self.with_metrics += 1;
        self.differing += (t.identical != Some(true)) as u64;
        self.compared += m.compared;
        self.sq_diff += m.l2 * m.l2;
        self.sq_a += m.norm_a * m.norm_a;
        self.sq_b += m.norm_b * m.norm_b;
        self.abs_diff += m.mean_abs * m.compared as f64;
        self.sq_gap += (m.norm_a - m.norm_b) * (m.norm_a + m.norm_b);
        if self.max_abs.as_ref().is_none_or(|(x, _)| m.max_abs > *x) {
            self.max_abs = Some((m.max_abs, t.name.clone()));
        }
        self.nonfinite_a += m.nonfinite_a;
        self.nonfinite_b += m.nonfinite_b;
    }

    /// Tensors that are not identical.
    pub(crate) fn changed(&self) -> u64 {
        self.tensors - self.identical
    }

    fn metrics(&self) -> bool {
        self.with_metrics > 0
    }

    pub(crate) fn l2(&self) -> Option<f64> {
        self.metrics().then(|| self.sq_diff.max(0.0).sqrt())
    }

    pub(crate) fn rel_l2(&self) -> Option<f64> {
        (self.metrics() && self.sq_a > 0.0).then(|| (self.sq_diff.max(0.0) / self.sq_a).sqrt())
    }

    pub(crate) fn nmse(&self) -> Option<f64> {
        (self.metrics() && self.sq_a > 0.0).then(|| self.sq_diff.max(0.0) / self.sq_a)
    }

    pub(crate) fn nmse_db(&self) -> Option<f64> {
        self.nmse().filter(|&x| x > 0.0).map(|x| 10.0 * x.log10())
    }

    pub(crate) fn mean_abs(&self) -> Option<f64> {
        (self.metrics()).then(|| {
            if self.compared == 0 {
                0.0
            } else {
                self.abs_diff / self.compared as f64
            }
        })
    }

    pub(crate) fn rmse(&self) -> Option<f64> {
        (self.metrics()).then(|| {
            if self.compared == 0 {
                0.0
            } else {
                (self.sq_diff.max(0.0) / self.compared as f64).sqrt()
            }
        })
    }

    pub(crate) fn one_minus_cosine(&self) -> Option<f64> {
        if !self.metrics() {
            return None;
        }
        if self.differing == 0 {
            return Some(0.0);
        }
        let (na, nb) = (self.sq_a.max(0.0).sqrt(), self.sq_b.max(0.0).sqrt());
        match (na > 0.0, nb > 0.0) {
            (true, true) => {
                let dn = self.sq_gap / (na + nb);
                Some(((self.sq_diff - dn * dn) / (2.0 * na * nb)).clamp(0.0, 2.0))
            }
            (false, false) => None,
            _ => Some(1.0),
        }
    }

    pub(crate) fn cosine(&self) -> Option<f64> {
        self.one_minus_cosine().map(|v| 1.0 - v)
    }

    pub(crate) fn max_abs(&self) -> Option<f64> {
        self.max_abs.as_ref().map(|(x, _)| *x)
    }
}

/// One row of a view: a tensor, or a group of tensors.
#[derive(Clone, Debug)]
pub(crate) struct Row<'r> {
    /// Tensor name, or group label.
    pub(crate) label: String,
    /// The tensor, for a tensor row.
    pub(crate) tensor: Option<&'r TensorReport>,
    /// The tensors of the row.
    pub(crate) members: Vec<&'r TensorReport>,
    /// Their sums.
    pub(crate) sums: Sums,
}

impl Row<'_> {
    /// A tensor row's numbers are the engine's own; a group's come from its sums.
    pub(crate) fn metric(&self, m: Metric) -> Option<f64> {
        if let Some(t) = self.tensor {
            let x = t.metrics.as_ref()?;
            return match m {
                Metric::L2 => Some(x.l2),
                Metric::RelL2 => x.rel_l2,
                Metric::Cosine => x.cosine,
                Metric::MaxAbs => Some(x.max_abs),
                Metric::Nmse => x.nmse,
            };
        }
        match m {
            Metric::L2 => self.sums.l2(),
            Metric::RelL2 => self.sums.rel_l2(),
            Metric::Cosine => self.sums.cosine(),
            Metric::MaxAbs => self.sums.max_abs(),
            Metric::Nmse => self.sums.nmse(),
        }
    }

    /// The value a worst-first sort orders by: an undefined relative error over a nonzero
    /// difference (A all zeros) is the worst of all; rows without numbers come last.
    fn badness(&self, m: Metric) -> Option<f64> {
        match self.metric(m) {
            Some(v) if m.larger_is_worse() => Some(v),
            Some(v) => Some(-v),
            None if matches!(m, Metric::RelL2 | Metric::Nmse)
                && self.metric(Metric::L2).is_some_and(|l2| l2 > 0.0) =>
            {
                Some(f64::INFINITY)
            }
            None => None,
        }
    }

    /// Whether the row shows a change: a tensor that is not identical, a group with one.
    pub(crate) fn changed(&self) -> bool {
        self.sums.changed() > 0
    }
}

/// The rows a view shows, and what it leaves out.
#[derive(Clone, Debug)]
pub(crate) struct Rows<'r> {
    pub(crate) rows: Vec<Row<'r>>,
    /// Rows left out because nothing in them changed (without `--all`).
    pub(crate) unchanged_hidden: usize,
    /// Rows left out by `--top`.
    pub(crate) cut: usize,
}

/// Where a tensor sits in a transformer: its block (`layers.3`, `blk.3`, `h.3`, `layer.3`,
/// `blocks.3`) and its module within the block (`self_attn.q_proj`, `attn_q`, `mlp.down_proj`);
/// `.weight`/`.bias` are left out of the module, so a module's weight and bias go together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place<'n> {
    /// The name up to and including the block index (`model.layers.3`), if there is one.
    pub(crate) layer: Option<&'n str>,
    /// The module: the rest of the name (the whole name outside blocks).
    pub(crate) module: &'n str,
}

/// Path segments that are followed by a block index.
const LAYER_WORDS: [&str; 6] = ["layers", "layer", "h", "blk", "blocks", "block"];

pub(crate) fn place(name: &str) -> Place<'_> {
    let strip = |s: &'_ str| -> usize {
        for suffix in [".weight", ".bias"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                if !rest.is_empty() {
                    return rest.len();
                }
            }
        }
        s.len()
    };
    let mut start = 0;
    let bytes: Vec<(usize, &str)> = name
        .split('.')
        .map(|seg| {
            let at = start;
            start += seg.len() + 1;
            (at, seg)
        })
        .collect();
    for w in bytes.windows(3) {
        let [(_, word), (at, index), (rest, _)] = [w[0], w[1], w[2]];
        if LAYER_WORDS.contains(&word)
            && !index.is_empty()
            && index.bytes().all(|b| b.is_ascii_digit())
        {
            let module = &name[rest..];
            return Place {
                layer: Some(&name[..at + index.len()]),
                module: &module[..strip(module)],
            };
        }
    }
    Place {
        layer: None,
        module: &name[..strip(name)],
    }
}

/// Compares names in natural order: runs of digits by their value (`blk.2` before `blk.10`).
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (n, m) = (run(x), run(y));
                let trim = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
                let (dx, dy) = (&x[..n], &y[..m]);
                let (dx, dy) = (&dx[trim(dx).min(n - 1)..], &dy[trim(dy).min(m - 1)..]);
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// The group a tensor belongs to under `by` (`None` for `--by tensor`).
fn group_key(by: GroupBy, t: &TensorReport) -> Option<String> {
    match by {
        GroupBy::Tensor => None,
        GroupBy::Layer => {
            let p = place(&t.name);
            Some(p.layer.unwrap_or(p.module).to_string())
        }
        GroupBy::Module => Some(place(&t.name).module.to_string()),
        GroupBy::Dtype => Some(match (&t.dtype_a, &t.dtype_b) {
            (Some(a), Some(b)) if a != b => format!("{a}→{b}"),
            (Some(a), _) | (None, Some(a)) => a.clone(),
            (None, None) => "-".into(),
        }),
    }
}

/// Every row of the view, grouped and sorted, before hiding and `--top`.
pub(crate) fn all_rows<'r>(report: &'r Report, by: GroupBy, sort: Option<SortKey>) -> Vec<Row<'r>> {
    let mut rows: Vec<Row<'r>> = Vec::new();
    if by == GroupBy::Tensor {
        for t in &report.tensors {
            let mut sums = Sums::default();
            sums.add(t);
            rows.push(Row {
                label: t.name.clone(),
                tensor: Some(t),
                members: vec![t],
                sums,
            });
        }
    } else {
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for t in &report.tensors {
            let key = group_key(by, t).expect("grouped views have keys");
            let i = *index.entry(key.clone()).or_insert_with(|| {
                rows.push(Row {
                    label: key,
                    tensor: None,
                    members: Vec::new(),
                    sums: Sums::default(),
                });
                rows.len() - 1
            });
            rows[i].members.push(t);
            rows[i].sums.add(t);
        }
        rows.sort_by(|a, b| natural_cmp(&a.label, &b.label));
    }
    match sort.and_then(SortKey::metric) {
        Some(m) => rows.sort_by(|a, b| match (a.badness(m), b.badness(m)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }),
        None if sort == Some(SortKey::Name) => rows.sort_by(|a, b| natural_cmp(&a.label, &b.label)),
        None => {}
    }
    rows
}

impl View {
    /// The rows this view shows.
    pub(crate) fn rows<'r>(&self, report: &'r Report) -> Rows<'r> {
        let mut rows = all_rows(report, self.by, self.sort);
        let before = rows.len();
        if !self.all {
            rows.retain(Row::changed);
        }
        let unchanged_hidden = before - rows.len();
        let mut cut = 0;
        if let Some(n) = self.top {
            cut = rows.len().saturating_sub(n);
            rows.truncate(n);
        }
        Rows {
            rows,
            unchanged_hidden,
            cut,
        }
    }
}

impl SortKey {
    /// The metric of a worst-first sort (`None` for `name`).
    pub(crate) fn metric(self) -> Option<Metric> {
        match self {
            SortKey::Name => None,
            SortKey::L2 => Some(Metric::L2),
            SortKey::RelL2 => Some(Metric::RelL2),
            SortKey::Cosine => Some(Metric::Cosine),
            SortKey::MaxAbs => Some(Metric::MaxAbs),
            SortKey::Nmse => Some(Metric::Nmse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_of_common_names() {
        let p = place("model.layers.12.self_attn.q_proj.weight");
        assert_eq!(p.layer, Some("model.layers.12"));
        assert_eq!(p.module, "self_attn.q_proj");
        let p = place("blk.3.attn_q.weight");
        assert_eq!((p.layer, p.module), (Some("blk.3"), "attn_q"));
        let p = place("encoder.layer.0.attention.self.query.bias");
        assert_eq!(
            (p.layer, p.module),
            (Some("encoder.layer.0"), "attention.self.query")
        );
        let p = place("transformer.h.1.mlp.c_fc.weight");
        assert_eq!((p.layer, p.module), (Some("transformer.h.1"), "mlp.c_fc"));
        assert_eq!(
            place("token_embd.weight"),
            Place {
                layer: None,
                module: "token_embd"
            }
        );
        assert_eq!(
            place("weight"),
            Place {
                layer: None,
                module: "weight"
            }
        );
        // A block index must be followed by a module.
        assert_eq!(place("layers.3").layer, None);
        assert_eq!(place("blk.x.attn").layer, None);
    }

    #[test]
    fn natural_order() {
        let mut v = vec![
            "blk.10.a", "blk.2.a", "blk.1.b", "blk.1.a", "a", "blk.02.a", "b1x",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["a", "b1x", "blk.1.a", "blk.1.b", "blk.02.a", "blk.2.a", "blk.10.a"]
        );
        assert_eq!(
            natural_cmp("x99999999999999999999999", "x100000000000000000000000"),
            Ordering::Less
        );
    }
}
