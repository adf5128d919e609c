//! The drift report (`modeldiff drift`, `diff --drift`) as a document: the worst tensors (or
//! all), per layer, per quant type, and the verdicts.

use modeldiff::drift::{DriftReport, GroupDrift, TensorDrift, Verdict};

use super::num::{cosine, count, db, opt_sci, sci};
use super::{Block, Cell, Column, Document, Fact, Line, Section, Table, Tone};

fn tone(v: Verdict) -> Tone {
    match v {
        Verdict::EssentiallyIdentical | Verdict::Excellent => Tone::Dim,
        Verdict::Good => Tone::Plain,
        Verdict::Noticeable => Tone::Warn,
        Verdict::Poor | Verdict::Broken => Tone::Bad,
    }
}

fn name(t: &TensorDrift) -> String {
    match &t.name_b {
        Some(b) => format!("{} → {b}", t.name),
        None => t.name.clone(),
    }
}

fn tensor_table(rows: &[&TensorDrift]) -> Table {
    let columns = vec![
        Column::left("Tensor").shrink(16),
        Column::left("Type"),
        Column::right("NMSE"),
        Column::right("SNR dB"),
        Column::right("Cosine").keep(80),
        Column::right("Max Abs").keep(70),
        Column::left("At (row, col, block)").keep(60),
        Column::left("Verdict"),
    ];
    let rows = rows
        .iter()
        .map(|t| {
            let at = match &t.max_abs_at {
                Some(l) => match l.block {
                    Some(b) => format!("({}, {}, {b})", l.row, l.col),
                    None => format!("({}, {})", l.row, l.col),
                },
                None => "-".into(),
            };
            vec![
                Cell::code(name(t)),
                Cell::plain(format!("{}→{}", t.dtype_a, t.quant_type)),
                Cell::plain(opt_sci(t.nmse)),
                Cell::plain(db(t.snr_db)),
                Cell::plain(cosine(t.cosine)),
                Cell::plain(sci(t.max_abs)),
                Cell::plain(at),
                Cell::plain(t.verdict.as_str()).tone(tone(t.verdict)),
            ]
        })
        .collect();
    Table { columns, rows }
}

fn group_table(title: &str, groups: &[GroupDrift]) -> Table {
    let columns = vec![
        Column::left(title),
        Column::right("Tensors"),
        Column::right("NMSE"),
        Column::right("SNR dB"),
        Column::left("Verdict"),
        Column::left("Worst Tensor").shrink(16).keep(50),
    ];
    let rows = groups
        .iter()
        .map(|g| {
            vec![
                Cell::code(g.group.clone()),
                Cell::plain(g.tensors.to_string()),
                Cell::plain(opt_sci(g.nmse)),
                Cell::plain(db(g.snr_db)),
                Cell::plain(g.verdict.as_str()).tone(tone(g.verdict)),
                Cell::code(g.worst_tensor.clone().unwrap_or_else(|| "-".into())),
            ]
        })
        .collect();
    Table { columns, rows }
}

/// The drift document: every tensor when `all`, else the worst ones.
pub(crate) fn drift_document(d: &DriftReport, all: bool) -> Document {
    let mut lines = vec![
        Line {
            text: format!("source: {} ({})", d.a.path, d.a.format),
            detail: None,
        },
        Line {
            text: format!("quantized: {} ({})", d.b.path, d.b.format),
            detail: None,
        },
    ];
    for (label, m) in [("source", &d.a), ("quantized", &d.b)] {
        lines.extend(m.warnings.iter().map(|w| Line {
            text: format!("warning ({label}): {w}"),
            detail: None,
        }));
    }
    let mut sections = vec![Section {
        heading: None,
        blocks: vec![Block::Lines(lines)],
    }];
    let rows: Vec<&TensorDrift> = if all {
        d.tensors.iter().collect()
    } else {
        d.worst
            .iter()
            .filter_map(|n| d.tensors.iter().find(|t| &t.name == n))
            .collect()
    };
    let heading = if all {
        "Tensors".to_string()
    } else {
        format!("Worst {} by NMSE", count(rows.len() as u64, "tensor"))
    };
    sections.push(Section {
        heading: Some(heading),
        blocks: vec![Block::Table(tensor_table(&rows))],
    });
    sections.push(Section {
        heading: Some("By layer".into()),
        blocks: vec![Block::Table(group_table("Layer", &d.by_layer))],
    });
    sections.push(Section {
        heading: Some("By quant type".into()),
        blocks: vec![Block::Table(group_table("Type", &d.by_quant_type))],
    });
    let verdicts: Vec<String> = d
        .verdicts
        .iter()
        .rev()
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    let mut facts = vec![
        vec![
            Fact::new("overall NMSE", opt_sci(d.overall.nmse)),
            Fact::new("SNR", format!("{} dB", db(d.overall.snr_db))),
            Fact::new("verdict", d.overall.verdict.as_str()),
        ],
        vec![Fact::new(
            "tensors",
            format!("{} compared: {}", d.tensors.len(), verdicts.join(", ")),
        )],
    ];
    if !d.only_in_a.is_empty() || !d.only_in_b.is_empty() {
        facts.push(vec![Fact::new(
            "unmatched",
            format!(
                "{} only in the source, {} only in the quantized model",
                d.only_in_a.len(),
                d.only_in_b.len()
            ),
        )]);
    }
    facts.push(vec![Fact::new(
        "bands",
        "NMSE < 1e-6 essentially identical, < 1e-4 excellent, < 1e-3 good, < 1e-2 noticeable, < 1e-1 poor, else broken",
    )]);
    sections.push(Section {
        heading: Some("Summary".into()),
        blocks: vec![Block::Facts(facts)],
    });
    Document {
        title: "modeldiff drift".into(),
        sections,
    }
}
