//! From engine values to the render model: the wording and number formatting of every output,
//! decided once for all renderers.

use modeldiff::{
    ChangeKind, Inspection, MetaChange, MetaChangeKind, MetaSummary, MetaValueView, ModelSummary,
    Property, Report, TensorReport,
};

use super::num::{self, bytes, cosine, count, db, opt_sci, sci};
use super::view::{Metric, Row, Status, View};
use super::{Block, Cell, Column, Document, Fact, Line, Section, Table, Tone};
use crate::args::GroupBy;

fn shape(s: &[u64]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn opt_shape(s: &Option<Vec<u64>>) -> String {
    s.as_deref().map(shape).unwrap_or_else(|| "-".into())
}

/// The Shape column: the shape, both shapes when it changed, the dtype of an added or removed
/// tensor.
fn shape_cell(t: &TensorReport) -> String {
    let dt = |d: &Option<String>| d.clone().unwrap_or_default();
    match t.change {
        ChangeKind::Added => format!("{} {}", opt_shape(&t.shape_b), dt(&t.dtype_b)),
        ChangeKind::Removed => format!("{} {}", opt_shape(&t.shape_a), dt(&t.dtype_a)),
        ChangeKind::ShapeChanged => {
            let mut s = format!("{}→{}", opt_shape(&t.shape_a), opt_shape(&t.shape_b));
            if t.identical.is_none() {
                s.push_str(" (rank changed)");
            }
            if t.dtype_changed {
                s.push_str(&format!(" {}→{}", dt(&t.dtype_a), dt(&t.dtype_b)));
            }
            s
        }
        _ => opt_shape(&t.shape_a),
    }
}

/// The Tensor cell: A's name, `a → b` when B's name differs.
fn name_cell(t: &TensorReport) -> String {
    match &t.name_b {
        Some(b) => format!("{} → {b}", t.name),
        None => t.name.clone(),
    }
}

/// The Status cell: the status, with the transforms undone in parentheses.
fn status_cell(t: &TensorReport, status: &Status) -> String {
    if t.transforms.is_empty() {
        status.label()
    } else {
        format!("{} ({})", status.label(), t.transforms.join(", "))
    }
}

/// Relative L2 above which a change is large (red); below it, drift (yellow): 1 %, between
/// half-precision rounding (~1e-3) and 4-bit quantization (~1e-1).
const LARGE_REL_L2: f64 = 1e-2;

/// The tone of a row: identical dim, added green, removed red, changes yellow or red by size.
pub(crate) fn row_tone(row: &Row<'_>, status: Option<&Status>) -> Tone {
    match status {
        Some(Status::Identical) => return Tone::Dim,
        Some(Status::Added) => return Tone::New,
        Some(Status::Removed) => return Tone::Bad,
        _ => {}
    }
    if !row.changed() {
        return Tone::Dim;
    }
    match row.metric(Metric::RelL2) {
        Some(r) if r <= LARGE_REL_L2 => Tone::Warn,
        Some(_) => Tone::Bad,
        None if row.metric(Metric::L2).is_some_and(|l2| l2 > 0.0) => Tone::Bad,
        None => Tone::Warn,
    }
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
    Cell::plain(s)
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
            "{label}: {} ({}, {}, {} parameters)",
            m.path,
            m.format,
            count(m.tensor_count, "tensor"),
            m.parameter_count
        ),
        detail: (!facts.is_empty()).then(|| facts.join("; ")),
    }
}

fn warning_lines(r: &Report) -> Vec<Line> {
    let mut lines = Vec::new();
    for (label, m) in [("A", &r.a), ("B", &r.b)] {
        lines.extend(m.warnings.iter().map(|w| Line {
            text: format!("warning ({label}): {w}"),
            detail: None,
        }));
    }
    lines
}

fn opening(r: &Report) -> Section {
    let mut lines = vec![model_line("A", &r.a), model_line("B", &r.b)];
    lines.extend(warning_lines(r));
    Section {
        heading: None,
        blocks: vec![Block::Lines(lines)],
    }
}

/// How many tensors are in each [`Status`], over the whole report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) identical: u64,
    pub(crate) modified: u64,
    pub(crate) dtype: u64,
    pub(crate) reshaped: u64,
    pub(crate) added: u64,
    pub(crate) removed: u64,
    pub(crate) not_compared: u64,
}

impl Counts {
    pub(crate) fn of(r: &Report) -> Counts {
        let mut c = Counts::default();
        for t in &r.tensors {
            *match Status::of(t) {
                Status::Identical => &mut c.identical,
                Status::Modified => &mut c.modified,
                Status::Dtype(..) => &mut c.dtype,
                Status::Reshaped => &mut c.reshaped,
                Status::Added => &mut c.added,
                Status::Removed => &mut c.removed,
                Status::NotCompared => &mut c.not_compared,
            } += 1;
        }
        c
    }

    /// The changes, without the identical tensors: `5 modified, 1 added`.
    pub(crate) fn changes(&self) -> Vec<String> {
        [
            (self.modified, "modified"),
            (self.dtype, "changed dtype"),
            (self.reshaped, "reshaped"),
            (self.added, "added"),
            (self.removed, "removed"),
            (self.not_compared, "not compared"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
    }
}

/// "1 NaN/Inf value in B" / "2 NaN/Inf values in A, 1 in B", or `None` when there are none.
fn nonfinite_phrase(a: u64, b: u64) -> Option<String> {
    let values = |n: u64| if n == 1 { "value" } else { "values" };
    match (a, b) {
        (0, 0) => None,
        (a, 0) => Some(format!("{a} NaN/Inf {} in A", values(a))),
        (0, b) => Some(format!("{b} NaN/Inf {} in B", values(b))),
        (a, b) => Some(format!("{a} NaN/Inf {} in A, {b} in B", values(a))),
    }
}

fn metadata_phrase(s: &modeldiff::Summary) -> String {
    if s.metadata_ignored {
        return "ignored (--ignore-metadata)".into();
    }
    if !s.metadata_compared {
        return "not compared (different formats)".into();
    }
    if s.metadata_changed == 0 {
        return "identical".into();
    }
    let changed = s.metadata_changed - s.metadata_added - s.metadata_removed;
    let parts: Vec<String> = [
        (s.metadata_added, "added"),
        (s.metadata_removed, "removed"),
        (changed, "changed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{} {what}", count(*n, "key")))
    .collect();
    parts.join(", ")
}

/// The verdict: what differs, or that nothing does.
fn verdict(r: &Report) -> (String, Tone) {
    let s = &r.summary;
    let nonfinite = nonfinite_phrase(s.nonfinite_a, s.nonfinite_b);
    if !s.differs {
        let mut v = "models are identical".to_string();
        if let Some(n) = nonfinite {
            v.push_str(&format!(" ({n}, bit for bit the same)"));
        }
        return (v, Tone::Plain);
    }
    let mut parts = Vec::new();
    let mut changes = Counts::of(r).changes();
    if let Some(first) = changes.first_mut() {
        // "5 modified" → "5 tensors modified"
        let (n, what) = first.split_once(' ').expect("count and word");
        *first = format!("{} {what}", count(n.parse().expect("a count"), "tensor"));
        parts.push(changes.join(", "));
    }
    if s.metadata_changed > 0 {
        parts.push(format!("metadata: {}", metadata_phrase(s)));
    }
    if let Some(n) = nonfinite {
        parts.push(n);
    }
    let tone = if s.nonfinite_a + s.nonfinite_b > 0 {
        Tone::Alert
    } else {
        Tone::Bad
    };
    (format!("models differ: {}", parts.join("; ")), tone)
}

/// The NaN/Inf column: `A|B` counts, alarming when any.
fn nonfinite_cell(a: u64, b: u64) -> Cell {
    let c = text(format!("{a}|{b}"));
    if a + b > 0 {
        c.tone(Tone::Alert)
    } else {
        c
    }
}

/// The table of a tensor view.
fn tensor_table(rows: &[Row<'_>], with_nonfinite: bool) -> Table {
    let mut columns = vec![
        Column::left("Tensor").shrink(16),
        Column::left("Status"),
        Column::left("Shape").keep(30),
        Column::right("L2").keep(70),
        Column::right("Rel L2").keep(90),
        Column::right("Max Abs").keep(80),
        Column::right("Mean Abs").keep(25),
        Column::right("Cosine").keep(85),
        Column::right("1-Cos").keep(40),
        Column::right("NMSE dB").keep(60),
        Column::right("Differ").keep(20),
    ];
    if with_nonfinite {
        columns.push(Column::right("NaN/Inf A|B").keep(95));
    }
    columns.push(Column::right("Max Abs At").keep(10));
    let rows = rows
        .iter()
        .map(|row| {
            let t = row.tensor.expect("tensor rows");
            let status = Status::of(t);
            let tone = row_tone(row, Some(&status));
            let m = t.metrics.as_ref();
            let mut cells = vec![
                Cell::code(name_cell(t)).tone(if tone == Tone::Dim {
                    Tone::Dim
                } else {
                    Tone::Plain
                }),
                text(status_cell(t, &status)).tone(tone),
                text(shape_cell(t)),
                text(opt_sci(m.map(|m| m.l2))),
                text(opt_sci(m.and_then(|m| m.rel_l2))).tone(tone),
                text(opt_sci(m.map(|m| m.max_abs))),
                text(opt_sci(m.map(|m| m.mean_abs))),
                text(cosine(m.and_then(|m| m.cosine))),
                text(opt_sci(m.and_then(|m| m.one_minus_cosine))),
                text(db(m.and_then(|m| m.nmse_db))),
                text(t.mismatches.map_or("-".into(), |n| n.to_string())),
            ];
            if with_nonfinite {
                cells.push(match m {
                    Some(m) => nonfinite_cell(m.nonfinite_a, m.nonfinite_b),
                    None => text("-"),
                });
            }
            cells.push(text(m.map_or("-".into(), |m| shape(&m.max_abs_index))));
            cells
        })
        .collect();
    Table { columns, rows }
}

/// The table of a grouped view.
fn group_table(rows: &[Row<'_>], by: GroupBy, with_nonfinite: bool) -> Table {
    let title = match by {
        GroupBy::Layer => "Layer",
        GroupBy::Module => "Module",
        GroupBy::Dtype => "DType",
        GroupBy::Tensor => "Tensor",
    };
    let mut columns = vec![
        Column::left(title).shrink(16),
        Column::right("Changed"),
        Column::right("L2").keep(70),
        Column::right("Rel L2").keep(90),
        Column::right("Max Abs").keep(80),
        Column::right("Mean Abs").keep(25),
        Column::right("Cosine").keep(85),
        Column::right("1-Cos").keep(40),
        Column::right("NMSE dB").keep(60),
    ];
    if with_nonfinite {
        columns.push(Column::right("NaN/Inf A|B").keep(95));
    }
    columns.push(Column::left("Max Abs In").keep(10).shrink(16));
    let rows = rows
        .iter()
        .map(|row| {
            let s = &row.sums;
            let tone = row_tone(row, None);
            let mut cells = vec![
                Cell::code(row.label.clone()).tone(if tone == Tone::Dim {
                    Tone::Dim
                } else {
                    Tone::Plain
                }),
                text(format!("{} of {}", s.changed(), s.tensors)).tone(tone),
                text(opt_sci(s.l2())),
                text(opt_sci(s.rel_l2())).tone(tone),
                text(opt_sci(s.max_abs())),
                text(opt_sci(s.mean_abs())),
                text(cosine(s.cosine())),
                text(opt_sci(s.one_minus_cosine())),
                text(db(s.nmse_db())),
            ];
            if with_nonfinite {
                cells.push(nonfinite_cell(s.nonfinite_a, s.nonfinite_b));
            }
            cells.push(match &s.max_abs {
                Some((_, name)) => Cell::code(name.clone()),
                None => text("-"),
            });
            cells
        })
        .collect();
    Table { columns, rows }
}

fn noun(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Tensor => "tensor",
        GroupBy::Layer => "layer",
        GroupBy::Module => "module",
        GroupBy::Dtype => "dtype",
    }
}

/// The section of the view's rows, with notes on what it leaves out.
fn rows_section(r: &Report, view: &View) -> Section {
    let shown = view.rows(r);
    let heading = match view.by {
        GroupBy::Tensor => "Tensors",
        GroupBy::Layer => "Layers",
        GroupBy::Module => "Modules",
        GroupBy::Dtype => "DTypes",
    };
    let mut blocks = Vec::new();
    if !shown.rows.is_empty() {
        let with_nonfinite = shown
            .rows
            .iter()
            .any(|row| row.sums.nonfinite_a + row.sums.nonfinite_b > 0);
        blocks.push(Block::Table(match view.by {
            GroupBy::Tensor => tensor_table(&shown.rows, with_nonfinite),
            by => group_table(&shown.rows, by, with_nonfinite),
        }));
    }
    let n = noun(view.by);
    if shown.cut > 0 {
        let k = shown.cut as u64;
        blocks.push(Block::Note(format!(
            "({k} more {} not shown: --top {})",
            count(k, n).split_once(' ').expect("n noun").1,
            view.top.unwrap_or_default()
        )));
    }
    if shown.unchanged_hidden > 0 {
        let what = if view.by == GroupBy::Tensor {
            let k = shown.unchanged_hidden as u64;
            format!(
                "{k} identical {}",
                count(k, n).split_once(' ').expect("n noun").1
            )
        } else {
            format!(
                "{} of identical tensors",
                count(shown.unchanged_hidden as u64, n)
            )
        };
        let prefix = if shown.rows.is_empty() { "all " } else { "" };
        blocks.push(Block::Note(format!(
            "({prefix}{what} not listed; --all lists them)"
        )));
    }
    Section {
        heading: Some(heading.into()),
        blocks,
    }
}

/// A metadata value at its first difference: `[5] tok5` for an array item, `[101…] text…`
/// for a string; `(ends)` when the value ends there.
fn at_value(
    m: &MetaChange,
    v: Option<&serde_json::Value>,
    whole: Option<&MetaValueView>,
) -> String {
    let i = m.first_difference.unwrap_or_default();
    let is_string = matches!(
        whole,
        Some(MetaValueView::Summary(MetaSummary::String { .. }))
            | Some(MetaValueView::Plain(serde_json::Value::String(_)))
    );
    let of = match whole {
        Some(MetaValueView::Summary(s)) if is_string => format!(" (of {} bytes)", s.len()),
        Some(MetaValueView::Summary(s)) => format!(" (of {})", count(s.len(), "item")),
        _ => String::new(),
    };
    match v {
        None => format!("(ends before {i}){of}"),
        Some(v) => {
            let shown = short(Some(&MetaValueView::Plain(v.clone())));
            if is_string {
                // The engine cuts the string at AT_CHARS characters: more may follow.
                let cut = v
                    .as_str()
                    .is_some_and(|s| s.chars().count() >= modeldiff::metadata::AT_CHARS);
                let more = if cut { "…" } else { "" };
                format!("[{i}…] {shown}{more}{of}")
            } else {
                format!("[{i}] {shown}{of}")
            }
        }
    }
}

fn metadata_row(m: &MetaChange) -> Vec<Cell> {
    let mut change = m.change.as_str().to_string();
    if let Some(i) = m.first_difference {
        change.push_str(&format!(" at {i}"));
    }
    let summarized = |v: &Option<MetaValueView>| matches!(v, Some(MetaValueView::Summary(_)));
    let (a, b) = if m.first_difference.is_some() && (summarized(&m.a) || summarized(&m.b)) {
        (
            at_value(m, m.a_at.as_ref(), m.a.as_ref()),
            at_value(m, m.b_at.as_ref(), m.b.as_ref()),
        )
    } else {
        (short(m.a.as_ref()), short(m.b.as_ref()))
    };
    let tone = match m.change {
        MetaChangeKind::Added => Tone::New,
        MetaChangeKind::Removed => Tone::Bad,
        MetaChangeKind::Changed => Tone::Warn,
    };
    vec![
        Cell::code(m.key.clone()),
        text(change).tone(tone),
        text(a),
        text(b),
    ]
}

fn summary(r: &Report) -> Section {
    let s = &r.summary;
    let c = Counts::of(r);
    let one = |k: &str, v: String| vec![Fact::new(k, v)];
    let mut tensors = vec![format!("{} identical", c.identical)];
    tensors.extend(c.changes());
    let mut facts = vec![
        one(
            "tensors",
            format!(
                "{} in A, {} in B: {}",
                s.tensors_a,
                s.tensors_b,
                tensors.join(", ")
            ),
        ),
        one("metadata", metadata_phrase(s)),
    ];
    if s.compared > 0 {
        let max = match (&s.max_abs, &s.max_abs_tensor) {
            (Some(x), Some(t)) if *x > 0.0 => format!("{} in {t}", sci(*x)),
            (x, _) => opt_sci(*x),
        };
        facts.push(vec![
            Fact::new("global L2", opt_sci(s.global_l2)),
            Fact::new("global cosine", cosine(s.global_cosine)),
            Fact::new("max abs", max),
        ]);
        facts.push(vec![
            Fact::new("mean L2", opt_sci(s.mean_l2)),
            Fact::new("mean cosine", cosine(s.mean_cosine)),
            Fact::new("compared", count(s.compared, "tensor")),
        ]);
    }
    facts.push(one(
        "non-finite",
        nonfinite_phrase(s.nonfinite_a, s.nonfinite_b).unwrap_or_else(|| "none".into()),
    ));
    let (v, _) = verdict(r);
    facts.push(one("verdict", v));
    Section {
        heading: Some("Summary".into()),
        blocks: vec![Block::Facts(facts)],
    }
}

/// The one line of a diff that found nothing: what was compared.
pub(crate) fn identical_line(r: &Report) -> String {
    let s = &r.summary;
    let mut line = format!(
        "identical: {} and {} ({}, {} parameters",
        r.a.path,
        r.b.path,
        count(s.tensors_a, "tensor"),
        r.a.parameter_count
    );
    if let Some(n) = nonfinite_phrase(s.nonfinite_a, s.nonfinite_b) {
        line.push_str(&format!("; {n}, bit for bit the same"));
    }
    if s.metadata_ignored {
        line.push_str("; metadata ignored");
    } else if !s.metadata_compared {
        line.push_str("; metadata not compared");
    }
    line.push(')');
    line
}

/// A diff report as sections: the models, the view's rows, Metadata (when any key changed)
/// and Summary. Identical models are one line (and their warnings), unless `view.all`.
pub(crate) fn diff_document(r: &Report, view: &View) -> Document {
    if !r.summary.differs && !view.all {
        let mut lines = vec![Line {
            text: identical_line(r),
            detail: None,
        }];
        lines.extend(warning_lines(r));
        return Document {
            title: String::new(),
            sections: vec![Section {
                heading: None,
                blocks: vec![Block::Lines(lines)],
            }],
        };
    }
    let mut sections = vec![opening(r), rows_section(r, view)];
    if let Some(section) = spectral_section(r) {
        sections.push(section);
    }
    if !r.metadata.is_empty() {
        sections.push(Section {
            heading: Some("Metadata".into()),
            blocks: vec![Block::Table(Table {
                columns: vec![
                    Column::left("Key").shrink(16),
                    Column::left("Change"),
                    Column::left("A").shrink(12),
                    Column::left("B").shrink(12),
                ],
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

/// The spectra of the changes (`--spectral`), when any were computed.
fn spectral_section(r: &Report) -> Option<Section> {
    let rows: Vec<Vec<Cell>> = r
        .tensors
        .iter()
        .filter_map(|t| {
            let s = t.spectral.as_ref()?;
            let rank = |x: Option<usize>| x.map_or(format!(">{}", s.k), |n| n.to_string());
            Some(vec![
                Cell::code(name_cell(t)),
                text(sci(s.sigma1)),
                text(format!("{:.2}", s.stable_rank)),
                text(format!("{:.2}", s.effective_rank)),
                text(rank(s.r90)),
                text(rank(s.r99)),
            ])
        })
        .collect();
    (!rows.is_empty()).then(|| Section {
        heading: Some("Spectral (ΔW = B − A)".into()),
        blocks: vec![Block::Table(Table {
            columns: vec![
                Column::left("Tensor").shrink(16),
                Column::right("σ1"),
                Column::right("Stable Rank"),
                Column::right("Eff. Rank"),
                Column::right("r90"),
                Column::right("r99"),
            ],
            rows,
        })],
    })
}

/// The verdict line and its tone, for renderers that show it apart (HTML).
pub(crate) fn verdict_line(r: &Report) -> (String, Tone) {
    verdict(r)
}

/// One CSV record per row of the view with every number unrounded (shortest round-trip
/// text); empty cells for missing values. Tensor rows have the per-tensor fields; group rows
/// their aggregates.
pub(crate) fn diff_records(r: &Report, view: &View) -> Table {
    let shown = view.rows(r);
    if view.by != GroupBy::Tensor {
        return group_records(&shown.rows);
    }
    // Pairs whose names differ add two columns at the end (absent otherwise, so the layout of
    // same-name diffs does not change).
    let renamed = shown.rows.iter().any(|row| {
        row.tensor
            .is_some_and(|t| t.name_b.is_some() || !t.transforms.is_empty())
    });
    let mut columns = [
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
        "nmse",
        "nmse_db",
        "status",
    ]
    .map(Column::left)
    .to_vec();
    if renamed {
        columns.extend(["name_b", "transforms"].map(Column::left));
    }
    let f = |x: Option<f64>| text(num::csv(x));
    let dims = |s: &[u64]| {
        let d: Vec<String> = s.iter().map(|d| d.to_string()).collect();
        d.join("x")
    };
    let opt_dims = |s: &Option<Vec<u64>>| s.as_deref().map(dims).unwrap_or_default();
    let show = |x: Option<String>| text(x.unwrap_or_default());
    let rows = shown
        .rows
        .iter()
        .map(|row| {
            let t = row.tensor.expect("tensor rows");
            let m = t.metrics.as_ref();
            let mut cells = vec![
                Cell::code(t.name.clone()),
                text(t.change.as_str()),
                show(t.dtype_a.clone()),
                show(t.dtype_b.clone()),
                text(opt_dims(&t.shape_a)),
                text(opt_dims(&t.shape_b)),
                text(t.dtype_changed.to_string()),
                show(t.identical.map(|b| b.to_string())),
                show(t.mismatches.map(|n| n.to_string())),
                show(m.map(|m| m.compared.to_string())),
                f(m.map(|m| m.l2)),
                f(m.map(|m| m.max_abs)),
                show(m.map(|m| dims(&m.max_abs_index))),
                f(m.map(|m| m.mean_abs)),
                f(m.map(|m| m.rmse)),
                f(m.and_then(|m| m.cosine)),
                f(m.and_then(|m| m.one_minus_cosine)),
                f(m.and_then(|m| m.rel_l2)),
                f(m.map(|m| m.norm_a)),
                f(m.map(|m| m.norm_b)),
                show(m.map(|m| m.nonfinite_a.to_string())),
                show(m.map(|m| m.nonfinite_b.to_string())),
                f(m.and_then(|m| m.nmse)),
                f(m.and_then(|m| m.nmse_db)),
                text(Status::of(t).label()),
            ];
            if renamed {
                cells.push(Cell::code(t.name_b.clone().unwrap_or_default()));
                cells.push(text(t.transforms.join(" ")));
            }
            cells
        })
        .collect();
    Table { columns, rows }
}

/// CSV records of group rows.
fn group_records(rows: &[Row<'_>]) -> Table {
    let columns = [
        "group",
        "tensors",
        "changed",
        "compared",
        "l2",
        "rel_l2",
        "max_abs",
        "max_abs_tensor",
        "mean_abs",
        "rmse",
        "cosine",
        "one_minus_cosine",
        "nmse",
        "nmse_db",
        "nonfinite_a",
        "nonfinite_b",
    ]
    .map(Column::left)
    .to_vec();
    let f = |x: Option<f64>| text(num::csv(x));
    let rows = rows
        .iter()
        .map(|row| {
            let s = &row.sums;
            vec![
                Cell::code(row.label.clone()),
                text(s.tensors.to_string()),
                text(s.changed().to_string()),
                text(s.compared.to_string()),
                f(s.l2()),
                f(s.rel_l2()),
                f(s.max_abs()),
                Cell::code(
                    s.max_abs
                        .as_ref()
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                ),
                f(s.mean_abs()),
                f(s.rmse()),
                f(s.cosine()),
                f(s.one_minus_cosine()),
                f(s.nmse()),
                f(s.nmse_db()),
                text(s.nonfinite_a.to_string()),
                text(s.nonfinite_b.to_string()),
            ]
        })
        .collect();
    Table { columns, rows }
}

/// An inspection as sections: the file with its format facts and warnings, Metadata (when
/// there is any), the dtype tally and (unless `tensors` is false) Tensors, with a Shard column
/// for sharded models.
pub(crate) fn inspect_document(i: &Inspection, tensors: bool) -> Document {
    let m = &i.model;
    let total: u64 = i.tensors.iter().map(|t| t.bytes).sum();
    let mut opening = vec![Block::Lines(vec![Line {
        text: format!(
            "{}: {} ({}, {} parameters, {})",
            m.path,
            m.format,
            count(m.tensor_count, "tensor"),
            m.parameter_count,
            bytes(total)
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
                columns: vec![
                    Column::left("Key").shrink(16),
                    Column::left("Value").shrink(12),
                ],
                rows: i
                    .metadata
                    .iter()
                    .map(|m| vec![text(m.key.clone()), text(short(Some(&m.value)))])
                    .collect(),
            })],
        });
    }
    // The dtype tally, in order of first appearance.
    let mut tally: Vec<(String, u64, u64, u64)> = Vec::new();
    for t in &i.tensors {
        let params: u64 = t.shape.iter().product();
        match tally.iter_mut().find(|(d, ..)| *d == t.dtype) {
            Some((_, n, p, b)) => {
                *n += 1;
                *p += params;
                *b += t.bytes;
            }
            None => tally.push((t.dtype.clone(), 1, params, t.bytes)),
        }
    }
    if !tally.is_empty() {
        let mut rows: Vec<Vec<Cell>> = tally
            .iter()
            .map(|(d, n, p, b)| {
                vec![
                    text(d.clone()),
                    text(n.to_string()),
                    text(p.to_string()),
                    text(bytes(*b)),
                ]
            })
            .collect();
        if tally.len() > 1 {
            rows.push(vec![
                text("total"),
                text(i.tensors.len().to_string()),
                text(tally.iter().map(|t| t.2).sum::<u64>().to_string()),
                text(bytes(total)),
            ]);
        }
        sections.push(Section {
            heading: Some("DTypes".into()),
            blocks: vec![Block::Table(Table {
                columns: vec![
                    Column::left("DType"),
                    Column::right("Tensors"),
                    Column::right("Parameters"),
                    Column::right("Size"),
                ],
                rows,
            })],
        });
    }
    if tensors {
        let sharded = i.tensors.iter().any(|t| t.shard != 0);
        let mut columns = vec![
            Column::left("Name").shrink(16),
            Column::left("DType"),
            Column::left("Shape"),
            Column::right("Size"),
            Column::right("Offset").keep(20),
        ];
        if sharded {
            columns.push(Column::right("Shard").keep(30));
        }
        let rows = i
            .tensors
            .iter()
            .map(|t| {
                let mut row = vec![
                    Cell::code(t.name.clone()),
                    text(t.dtype.clone()),
                    text(shape(&t.shape)),
                    text(bytes(t.bytes)),
                    text(t.offset.to_string()),
                ];
                if sharded {
                    row.push(text((t.shard + 1).to_string()));
                }
                row
            })
            .collect();
        sections.push(Section {
            heading: Some("Tensors".into()),
            blocks: vec![Block::Table(Table { columns, rows })],
        });
    }
    Document {
        title: "modeldiff inspect".into(),
        sections,
    }
}
