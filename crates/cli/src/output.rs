//! Rendering a [`Report`] as a table, JSON, CSV or Markdown.

use std::io::{self, Write};

use modeldiff::{ChangeKind, Inspection, MetaSummary, MetaValueView, Report, TensorReport};

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

fn cosine(x: Option<f64>) -> String {
    x.map(|c| format!("{c:.9}")).unwrap_or_else(|| "-".into())
}

fn shape(s: &Option<Vec<u64>>) -> String {
    match s {
        Some(s) => format!(
            "[{}]",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "-".into(),
    }
}

fn detail(t: &TensorReport) -> String {
    let dt = |d: &Option<String>| d.clone().unwrap_or_default();
    let mut s = match t.change {
        ChangeKind::Added => format!("{} {}", dt(&t.dtype_b), shape(&t.shape_b)),
        ChangeKind::Removed => format!("{} {}", dt(&t.dtype_a), shape(&t.shape_a)),
        ChangeKind::ShapeChanged => {
            let mut s = format!("{} -> {}", shape(&t.shape_a), shape(&t.shape_b));
            if t.identical.is_none() {
                s.push_str(" (rank changed: not compared)");
            } else {
                s.push_str(" (overlap compared)");
            }
            s
        }
        ChangeKind::Unchanged => {
            let mut s = shape(&t.shape_a);
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

/// Writes rows as space-aligned columns (the last column is not padded).
fn aligned(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    right: &[bool],
) -> io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let mut s = String::new();
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if right[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i != last {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header.to_vec())?;
    line(
        out,
        w.iter()
            .map(|&n| "-".repeat(n))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    )?;
    for r in rows {
        line(out, r.iter().map(|s| s.as_str()).collect())?;
    }
    Ok(())
}

const WEIGHT_HEADER: [&str; 9] = [
    "Tensor",
    "L2",
    "Max Abs",
    "Mean Abs",
    "Cosine",
    "1-Cos",
    "Rel L2",
    "Max Abs At",
    "NaN/Inf A|B",
];

/// Rows of the weight table: tensors with metrics that are not identical.
fn weight_rows(r: &Report) -> Vec<Vec<String>> {
    r.tensors
        .iter()
        .filter(|t| t.identical != Some(true))
        .filter_map(|t| {
            let m = t.metrics.as_ref()?;
            Some(vec![
                t.name.clone(),
                num(m.l2),
                num(m.max_abs),
                num(m.mean_abs),
                cosine(m.cosine),
                opt(m.one_minus_cosine),
                opt(m.rel_l2),
                shape(&Some(m.max_abs_index.clone())),
                format!("{}|{}", m.nonfinite_a, m.nonfinite_b),
            ])
        })
        .collect()
}

/// A metadata value as one short line of compact JSON.
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

fn metadata_rows(r: &Report) -> Vec<Vec<String>> {
    r.metadata
        .iter()
        .map(|m| {
            let mut change = m.change.as_str().to_string();
            if let Some(i) = m.first_difference {
                change.push_str(&format!(" (from index {i})"));
            }
            vec![
                m.key.clone(),
                change,
                short(m.a.as_ref()),
                short(m.b.as_ref()),
            ]
        })
        .collect()
}

fn summary_lines(r: &Report) -> Vec<String> {
    let s = &r.summary;
    vec![
        format!("tensors: {} in A, {} in B", s.tensors_a, s.tensors_b),
        format!(
            "structure: {} added, {} removed, {} shape changed, {} unchanged ({} identical), {} dtype changed",
            s.added, s.removed, s.shape_changed, s.unchanged, s.identical, s.dtype_changed
        ),
        format!("compared: {} tensors with float metrics", s.compared),
        if s.metadata_compared {
            format!("metadata: {} keys changed", s.metadata_changed)
        } else {
            "metadata: not compared (different formats)".to_string()
        },
        format!("mean L2: {}   max abs: {}   mean cosine: {}", opt(s.mean_l2), opt(s.max_abs), cosine(s.mean_cosine)),
        format!("global L2: {}   global cosine: {}", opt(s.global_l2), cosine(s.global_cosine)),
        format!("verdict: {}", if s.differs { "models differ" } else { "models are identical" }),
    ]
}

fn model_line(label: &str, m: &modeldiff::ModelSummary) -> String {
    let mut s = format!(
        "{label}: {} ({}, {} tensors, {} parameters)",
        m.path, m.format, m.tensor_count, m.parameter_count
    );
    if !m.properties.is_empty() {
        let facts: Vec<String> = m
            .properties
            .iter()
            .map(|p| format!("{} {}", p.key, p.value))
            .collect();
        s.push_str(&format!("\n   {}", facts.join("; ")));
    }
    s
}

fn warnings(r: &Report) -> Vec<String> {
    let mut w = Vec::new();
    for (label, m) in [("A", &r.a), ("B", &r.b)] {
        w.extend(m.warnings.iter().map(|x| format!("warning ({label}): {x}")));
    }
    w
}

/// Human-readable tables: structure, weight differences, summary.
pub(crate) fn table(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(out, "{}", model_line("A", &r.a))?;
    writeln!(out, "{}", model_line("B", &r.b))?;
    for w in warnings(r) {
        writeln!(out, "{w}")?;
    }
    writeln!(out, "\nStructure")?;
    let rows: Vec<Vec<String>> = r
        .tensors
        .iter()
        .map(|t| vec![t.name.clone(), t.change.as_str().to_string(), detail(t)])
        .collect();
    aligned(
        out,
        &["Tensor", "Status", "Detail"],
        &rows,
        &[false, false, false],
    )?;
    let rows = weight_rows(r);
    let omitted = r.tensors.iter().filter(|t| t.metrics.is_some()).count() - rows.len();
    if !rows.is_empty() {
        writeln!(out, "\nWeight differences")?;
        let mut right = [true; 9];
        right[0] = false;
        aligned(out, &WEIGHT_HEADER, &rows, &right)?;
    }
    if omitted > 0 {
        writeln!(out, "({omitted} identical tensors not listed)")?;
    }
    if !r.metadata.is_empty() {
        writeln!(out, "\nMetadata")?;
        aligned(
            out,
            &["Key", "Change", "A", "B"],
            &metadata_rows(r),
            &[false; 4],
        )?;
    }
    writeln!(out, "\nSummary")?;
    for l in summary_lines(r) {
        writeln!(out, "  {l}")?;
    }
    Ok(())
}

/// A report or inspection as pretty-printed JSON with one trailing newline.
pub(crate) fn json<T: serde::Serialize>(out: &mut dyn Write, r: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r)?;
    writeln!(out)
}

/// `inspect` as tables: facts, metadata, tensors.
pub(crate) fn inspect_table(out: &mut dyn Write, i: &Inspection) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} ({} tensors, {} parameters)",
        i.path, i.format, i.tensor_count, i.parameter_count
    )?;
    for p in &i.properties {
        writeln!(out, "  {}: {}", p.key, p.value)?;
    }
    for w in &i.warnings {
        writeln!(out, "warning: {w}")?;
    }
    if !i.metadata.is_empty() {
        writeln!(out, "\nMetadata")?;
        let rows: Vec<Vec<String>> = i
            .metadata
            .iter()
            .map(|m| vec![m.key.clone(), short(Some(&m.value))])
            .collect();
        aligned(out, &["Key", "Value"], &rows, &[false, false])?;
    }
    writeln!(out, "\nTensors")?;
    let rows: Vec<Vec<String>> = i
        .tensors
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.dtype.clone(),
                shape(&Some(t.shape.clone())),
                t.bytes.to_string(),
                t.offset.to_string(),
            ]
        })
        .collect();
    aligned(
        out,
        &["Name", "DType", "Shape", "Bytes", "Offset"],
        &rows,
        &[false, false, false, true, true],
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row per tensor; empty cells for missing values.
pub(crate) fn csv(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(
        out,
        "name,change,dtype_a,dtype_b,shape_a,shape_b,dtype_changed,identical,mismatches,compared,l2,max_abs,max_abs_index,mean_abs,rmse,cosine,one_minus_cosine,rel_l2,norm_a,norm_b,nonfinite_a,nonfinite_b"
    )?;
    let f = |x: Option<f64>| x.map(|v| format!("{v:e}")).unwrap_or_default();
    let dims = |s: &Option<Vec<u64>>| {
        s.as_ref()
            .map(|s| {
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("x")
            })
            .unwrap_or_default()
    };
    for t in &r.tensors {
        let m = t.metrics.as_ref();
        let cells = [
            csv_field(&t.name),
            t.change.as_str().into(),
            t.dtype_a.clone().unwrap_or_default(),
            t.dtype_b.clone().unwrap_or_default(),
            dims(&t.shape_a),
            dims(&t.shape_b),
            t.dtype_changed.to_string(),
            t.identical.map(|b| b.to_string()).unwrap_or_default(),
            t.mismatches.map(|b| b.to_string()).unwrap_or_default(),
            m.map(|m| m.compared.to_string()).unwrap_or_default(),
            f(m.map(|m| m.l2)),
            f(m.map(|m| m.max_abs)),
            m.map(|m| dims(&Some(m.max_abs_index.clone())))
                .unwrap_or_default(),
            f(m.map(|m| m.mean_abs)),
            f(m.map(|m| m.rmse)),
            f(m.and_then(|m| m.cosine)),
            f(m.and_then(|m| m.one_minus_cosine)),
            f(m.and_then(|m| m.rel_l2)),
            f(m.map(|m| m.norm_a)),
            f(m.map(|m| m.norm_b)),
            m.map(|m| m.nonfinite_a.to_string()).unwrap_or_default(),
            m.map(|m| m.nonfinite_b.to_string()).unwrap_or_default(),
        ];
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

fn md_row(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let esc: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    writeln!(out, "| {} |", esc.join(" | "))
}

/// GitHub-flavoured Markdown: the same three sections as the table output.
pub(crate) fn markdown(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(out, "## modeldiff\n")?;
    writeln!(out, "- {}", model_line("A", &r.a))?;
    writeln!(out, "- {}", model_line("B", &r.b))?;
    for w in warnings(r) {
        writeln!(out, "- {w}")?;
    }
    writeln!(out, "\n### Structure\n")?;
    writeln!(out, "| Tensor | Status | Detail |\n|---|---|---|")?;
    for t in &r.tensors {
        md_row(
            out,
            &[format!("`{}`", t.name), t.change.as_str().into(), detail(t)],
        )?;
    }
    let rows = weight_rows(r);
    if !rows.is_empty() {
        writeln!(out, "\n### Weight differences\n")?;
        md_row(out, &WEIGHT_HEADER.map(String::from))?;
        writeln!(out, "|---|{}", "---:|".repeat(WEIGHT_HEADER.len() - 1))?;
        for mut row in rows {
            row[0] = format!("`{}`", row[0]);
            md_row(out, &row)?;
        }
    }
    if !r.metadata.is_empty() {
        writeln!(out, "\n### Metadata\n")?;
        writeln!(out, "| Key | Change | A | B |\n|---|---|---|---|")?;
        for row in metadata_rows(r) {
            md_row(out, &row)?;
        }
    }
    writeln!(out, "\n### Summary\n")?;
    for l in summary_lines(r) {
        writeln!(out, "- {l}")?;
    }
    Ok(())
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
