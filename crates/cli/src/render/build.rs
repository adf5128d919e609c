//! From engine values to the render model: the wording and number formatting of every output,
//! decided once for all renderers.

use modeldiff::{
    ChangeKind, Inspection, MetaChange, MetaSummary, MetaValueView, ModelSummary, Property, Report,
    TensorReport,
};

use super::{Block, Cell, Column, Document, Fact, Line, Section, Table};

/// A number with about six significant digits; scientific notation for very small or large.
fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:.4e}")
    } else {
        let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 9) as usize;
        format!("{x:.digits$}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_else(|| "-".into())
}

/// Cosines close to 1 carry their information in the last digits: nine decimals.
fn cosine(x: Option<f64>) -> String {
    x.map(|c| format!("{c:.9}")).unwrap_or_else(|| "-".into())
}

fn shape(s: &[u64]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn opt_shape(s: &Option<Vec<u64>>) -> String {
    s.as_deref().map(shape).unwrap_or_else(|| "-".into())
}

/// The Detail column of the structure table.
fn detail(t: &TensorReport) -> String {
    let dt = |d: &Option<String>| d.clone().unwrap_or_default();
    let mut s = match t.change {
        ChangeKind::Added => format!("{} {}", dt(&t.dtype_b), opt_shape(&t.shape_b)),
        ChangeKind::Removed => format!("{} {}", dt(&t.dtype_a), opt_shape(&t.shape_a)),
        ChangeKind::ShapeChanged => {
            let mut s = format!("{} -> {}", opt_shape(&t.shape_a), opt_shape(&t.shape_b));
            if t.identical.is_none() {
                s.push_str(" (rank changed: not compared)");
            } else {
                s.push_str(" (overlap compared)");
            }
            s
        }
        ChangeKind::Unchanged => {
            let mut s = opt_shape(&t.shape_a);
            match (t.identical, t.mismatches, &t.metrics) {
                (Some(true), ..) => s.push_str(" identical"),
                (Some(false), Some(m), Some(x)) => {
                    s.push_str(&format!(" {m} of {} differ", x.compared))
                }
                (Some(false), Some(m), None) => s.push_str(&format!(" {m} differ")),
                (Some(false), None, _) => s.push_str(" bytes differ"),
                (None, ..) => s.push_str(" not compared"),
            }
            s
        }
    };
    if t.dtype_changed {
        s.push_str(&format!(", dtype {} -> {}", dt(&t.dtype_a), dt(&t.dtype_b)));
    }
    s
}

/// A metadata value on one line of at most 60 characters: strings as they are, other values
/// as compact JSON, summaries as `<len items|bytes, digest>`.
fn short(v: Option<&MetaValueView>) -> String {
    let s = match v {
        None => return "-".into(),
        Some(MetaValueView::Plain(serde_json::Value::String(s))) => s.clone(),
        Some(MetaValueView::Plain(other)) => other.to_string(),
        Some(MetaValueView::Summary(MetaSummary::Array { len, digest, .. })) => {
            format!("<{len} items, {digest}>")
        }
        Some(MetaValueView::Summary(MetaSummary::String { len, digest, .. })) => {
            format!("<{len} bytes, {digest}>")
        }
    };
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A format fact's key, spelled as in the JSON (`byte_order`, `shard_count`).
fn fact_key(p: &Property) -> String {
    p.key.clone()
}

/// A format fact's value: strings without their JSON quotes.
fn fact_value(p: &Property) -> String {
    match &p.value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "A: path (format, N tensors, M parameters)" with the format facts under it.
fn model_line(label: &str, m: &ModelSummary) -> Line {
    let facts: Vec<String> = m
        .properties
        .iter()
        .map(|p| format!("{} {}", fact_key(p), fact_value(p)))
        .collect();
    Line {
        text: format!(
            "{label}: {} ({}, {} tensors, {} parameters)",
            m.path, m.format, m.tensor_count, m.parameter_count
        ),
        detail: (!facts.is_empty()).then(|| facts.join("; ")),
    }
}

fn opening(r: &Report) -> Section {
    let mut lines = vec![model_line("A", &r.a), model_line("B", &r.b)];
    for (label, m) in [("A", &r.a), ("B", &r.b)] {
        lines.extend(m.warnings.iter().map(|w| Line {
            text: format!("warning ({label}): {w}"),
            detail: None,
        }));
    }
    Section {
        heading: None,
        blocks: vec![Block::Lines(lines)],
    }
}

fn structure(r: &Report) -> Section {
    let rows = r
        .tensors
        .iter()
        .map(|t| {
            vec![
                Cell::Code(t.name.clone()),
                text(t.change.as_str()),
                text(detail(t)),
            ]
        })
        .collect();
    Section {
        heading: Some("Structure".into()),
        blocks: vec![Block::Table(Table {
            columns: vec![
                Column::left("Tensor"),
                Column::left("Status"),
                Column::left("Detail"),
            ],
            rows,
        })],
    }
}

/// The weight table: tensors with metrics that are not identical.
fn weights(r: &Report) -> Table {
    let mut columns = vec![Column::left("Tensor")];
    columns.extend(
        [
            "L2",
            "Max Abs",
            "Mean Abs",
            "Cosine",
            "1-Cos",
            "Rel L2",
            "Max Abs At",
            "NaN/Inf A|B",
        ]
        .map(Column::right),
    );
    let rows = r
        .tensors
        .iter()
        .filter(|t| t.identical != Some(true))
        .filter_map(|t| {
            let m = t.metrics.as_ref()?;
            Some(vec![
                Cell::Code(t.name.clone()),
                text(num(m.l2)),
                text(num(m.max_abs)),
                text(num(m.mean_abs)),
                text(cosine(m.cosine)),
                text(opt(m.one_minus_cosine)),
                text(opt(m.rel_l2)),
                text(shape(&m.max_abs_index)),
                text(format!("{}|{}", m.nonfinite_a, m.nonfinite_b)),
            ])
        })
        .collect();
    Table { columns, rows }
}

fn metadata_row(m: &MetaChange) -> Vec<Cell> {
    let mut change = m.change.as_str().to_string();
    if let Some(i) = m.first_difference {
        change.push_str(&format!(" (from index {i})"));
    }
    vec![
        text(m.key.clone()),
        text(change),
        text(short(m.a.as_ref())),
        text(short(m.b.as_ref())),
    ]
}

fn summary(r: &Report) -> Section {
    let s = &r.summary;
    let one = |k: &str, v: String| vec![Fact::new(k, v)];
    let facts = vec![
        one(
            "tensors",
            format!("{} in A, {} in B", s.tensors_a, s.tensors_b),
        ),
        one(
            "structure",
            format!(
                "{} added, {} removed, {} shape changed, {} unchanged ({} identical), {} dtype changed",
                s.added, s.removed, s.shape_changed, s.unchanged, s.identical, s.dtype_changed
            ),
        ),
        one("compared", format!("{} tensors with float metrics", s.compared)),
        one(
            "metadata",
            if s.metadata_compared {
                format!("{} keys changed", s.metadata_changed)
            } else {
                "not compared (different formats)".to_string()
            },
        ),
        vec![
            Fact::new("mean L2", opt(s.mean_l2)),
            Fact::new("max abs", opt(s.max_abs)),
            Fact::new("mean cosine", cosine(s.mean_cosine)),
        ],
        vec![
            Fact::new("global L2", opt(s.global_l2)),
            Fact::new("global cosine", cosine(s.global_cosine)),
        ],
        one(
            "verdict",
            if s.differs {
                "models differ"
            } else {
                "models are identical"
            }
            .to_string(),
        ),
    ];
    Section {
        heading: Some("Summary".into()),
        blocks: vec![Block::Facts(facts)],
    }
}

/// A diff report as sections: the models, Structure, Weight differences (when any tensor with
/// metrics differs), Metadata (when any key changed) and Summary.
pub(crate) fn diff_document(r: &Report) -> Document {
    let mut sections = vec![opening(r), structure(r)];
    let weights = weights(r);
    let with_metrics = r.tensors.iter().filter(|t| t.metrics.is_some()).count();
    let omitted = with_metrics - weights.rows.len();
    if !weights.rows.is_empty() {
        sections.push(Section {
            heading: Some("Weight differences".into()),
            blocks: vec![Block::Table(weights)],
        });
    }
    if omitted > 0 {
        // Under the weight table, or under the structure table when no row is left.
        let last = sections.last_mut().expect("the structure section is there");
        last.blocks.push(Block::Note(format!(
            "({omitted} identical tensors not listed)"
        )));
    }
    if !r.metadata.is_empty() {
        sections.push(Section {
            heading: Some("Metadata".into()),
            blocks: vec![Block::Table(Table {
                columns: ["Key", "Change", "A", "B"].map(Column::left).to_vec(),
                rows: r.metadata.iter().map(metadata_row).collect(),
            })],
        });
    }
    sections.push(summary(r));
    Document {
        title: "modeldiff".into(),
        sections,
    }
}

/// One CSV record per tensor with every number unrounded; empty cells for missing values.
pub(crate) fn diff_records(r: &Report) -> Table {
    let columns = [
        "name",
        "change",
        "dtype_a",
        "dtype_b",
        "shape_a",
        "shape_b",
        "dtype_changed",
        "identical",
        "mismatches",
        "compared",
        "l2",
        "max_abs",
        "max_abs_index",
        "mean_abs",
        "rmse",
        "cosine",
        "one_minus_cosine",
        "rel_l2",
        "norm_a",
        "norm_b",
        "nonfinite_a",
        "nonfinite_b",
    ]
    .map(Column::left)
    .to_vec();
    let f = |x: Option<f64>| x.map(|v| format!("{v:e}")).unwrap_or_default();
    let dims = |s: &[u64]| {
        let d: Vec<String> = s.iter().map(|d| d.to_string()).collect();
        d.join("x")
    };
    let opt_dims = |s: &Option<Vec<u64>>| s.as_deref().map(dims).unwrap_or_default();
    let show = |x: Option<String>| text(x.unwrap_or_default());
    let rows = r
        .tensors
        .iter()
        .map(|t| {
            let m = t.metrics.as_ref();
            vec![
                Cell::Code(t.name.clone()),
                text(t.change.as_str()),
                show(t.dtype_a.clone()),
                show(t.dtype_b.clone()),
                text(opt_dims(&t.shape_a)),
                text(opt_dims(&t.shape_b)),
                text(t.dtype_changed.to_string()),
                show(t.identical.map(|b| b.to_string())),
                show(t.mismatches.map(|n| n.to_string())),
                show(m.map(|m| m.compared.to_string())),
                text(f(m.map(|m| m.l2))),
                text(f(m.map(|m| m.max_abs))),
                show(m.map(|m| dims(&m.max_abs_index))),
                text(f(m.map(|m| m.mean_abs))),
                text(f(m.map(|m| m.rmse))),
                text(f(m.and_then(|m| m.cosine))),
                text(f(m.and_then(|m| m.one_minus_cosine))),
                text(f(m.and_then(|m| m.rel_l2))),
                text(f(m.map(|m| m.norm_a))),
                text(f(m.map(|m| m.norm_b))),
                show(m.map(|m| m.nonfinite_a.to_string())),
                show(m.map(|m| m.nonfinite_b.to_string())),
            ]
        })
        .collect();
    Table { columns, rows }
}

/// An inspection as sections: the file with its format facts and warnings, Metadata (when
/// there is any) and Tensors.
pub(crate) fn inspect_document(i: &Inspection) -> Document {
    let m = &i.model;
    let mut opening = vec![Block::Lines(vec![Line {
        text: format!(
            "{}: {} ({} tensors, {} parameters)",
            m.path, m.format, m.tensor_count, m.parameter_count
        ),
        detail: None,
    }])];
    if !m.properties.is_empty() {
        opening.push(Block::Facts(
            m.properties
                .iter()
                .map(|p| vec![Fact::new(fact_key(p), fact_value(p))])
                .collect(),
        ));
    }
    if !m.warnings.is_empty() {
        opening.push(Block::Lines(
            m.warnings
                .iter()
                .map(|w| Line {
                    text: format!("warning: {w}"),
                    detail: None,
                })
                .collect(),
        ));
    }
    let mut sections = vec![Section {
        heading: None,
        blocks: opening,
    }];
    if !i.metadata.is_empty() {
        sections.push(Section {
            heading: Some("Metadata".into()),
            blocks: vec![Block::Table(Table {
                columns: vec![Column::left("Key"), Column::left("Value")],
                rows: i
                    .metadata
                    .iter()
                    .map(|m| vec![text(m.key.clone()), text(short(Some(&m.value)))])
                    .collect(),
            })],
        });
    }
    let tensors = Table {
        columns: vec![
            Column::left("Name"),
            Column::left("DType"),
            Column::left("Shape"),
            Column::right("Bytes"),
            Column::right("Offset"),
        ],
        rows: i
            .tensors
            .iter()
            .map(|t| {
                vec![
                    Cell::Code(t.name.clone()),
                    text(t.dtype.clone()),
                    text(shape(&t.shape)),
                    text(t.bytes.to_string()),
                    text(t.offset.to_string()),
                ]
            })
            .collect(),
    };
    sections.push(Section {
        heading: Some("Tensors".into()),
        blocks: vec![Block::Table(tensors)],
    });
    Document {
        title: "modeldiff inspect".into(),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_keep_six_digits() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.0), "1.00000");
        assert_eq!(num(123.456789), "123.457");
        assert_eq!(num(1.5e-7), "1.5000e-7");
        assert_eq!(num(0.0123456), "0.0123456");
    }
}
