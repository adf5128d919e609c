//! `--stat`: one line per changed row with a bar, like `git diff --stat`.
//!
//! ```text
//!  layers.0.attn.q_proj.weight | modified  3.412e-02 ++++++++++++++++
//!  lm_head.weight              | added
//!  6 of 17 tensors changed: 4 modified, 1 reshaped, 1 added; bars: rel L2, longest 4.329e-02
//! ```
//!
//! The bar's length is the row's value of the `--sort` metric (relative L2 by default;
//! 1 − cosine for `--sort cosine`) in proportion to the largest shown, at least one mark for
//! any nonzero value.

use std::io::{self, Write};

use modeldiff::Report;

use super::build::{identical_line, row_tone, Counts};
use super::num::{count, sci};
use super::text::{shorten_middle, TextOptions};
use super::view::{all_rows, Metric, Row, Status, View};
use super::Tone;
use crate::args::{GroupBy, SortKey};

/// Longest bar when the width is unlimited.
const MAX_BAR: usize = 40;

fn bar_metric(view: &View) -> Metric {
    view.sort.and_then(SortKey::metric).unwrap_or(Metric::RelL2)
}

fn bar_value(row: &Row<'_>, m: Metric) -> Option<f64> {
    let v = row.metric(m)?;
    Some(if m == Metric::Cosine { 1.0 - v } else { v })
}

fn status(row: &Row<'_>) -> String {
    match row.tensor {
        Some(t) => Status::of(t).label(),
        None => format!("{} of {}", row.sums.changed(), row.sums.tensors),
    }
}

/// Writes the stat view of `r`.
pub(crate) fn render(
    out: &mut dyn Write,
    r: &Report,
    view: &View,
    opts: &TextOptions,
) -> io::Result<()> {
    if !r.summary.differs && !view.all {
        return writeln!(out, "{}", identical_line(r));
    }
    let shown = view.rows(r);
    let metric = bar_metric(view);
    let statuses: Vec<String> = shown.rows.iter().map(status).collect();
    let values: Vec<Option<f64>> = shown
        .rows
        .iter()
        .map(|row| bar_value(row, metric))
        .collect();
    let numbers: Vec<String> = values
        .iter()
        .map(|v| v.map(sci).unwrap_or_default())
        .collect();
    let max = values.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    let status_w = statuses
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0);
    let number_w = numbers.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let mut name_w = shown
        .rows
        .iter()
        .map(|row| row.label.chars().count())
        .max()
        .unwrap_or(0);
    // " name | status  number bar"
    let fixed = 1 + 3 + status_w + 2 + number_w + 1;
    let mut bar_w = MAX_BAR;
    if let Some(width) = opts.width {
        let room = width.saturating_sub(fixed);
        bar_w = bar_w.min(room.saturating_sub(name_w).max(10));
        name_w = name_w.min(room.saturating_sub(bar_w).max(16));
    }
    for (i, row) in shown.rows.iter().enumerate() {
        let tone = row_tone(row, row.tensor.map(Status::of).as_ref());
        let marks = match values[i] {
            Some(v) if v > 0.0 && max > 0.0 => ((v / max * bar_w as f64).round() as usize).max(1),
            _ => 0,
        };
        let paint = |s: String, tone: Tone| {
            if opts.color && tone != Tone::Plain && !s.is_empty() {
                let st = tone.style();
                format!("{st}{s}{st:#}")
            } else {
                s
            }
        };
        let name = shorten_middle(&row.label, name_w);
        let line = format!(
            " {name:<name_w$} | {:<status_w$}  {:>number_w$} {}",
            statuses[i],
            numbers[i],
            paint("+".repeat(marks), tone)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    let c = Counts::of(r);
    let changed = r.tensors.len() as u64 - c.identical;
    let tensors = format!(
        "{changed} of {} changed",
        count(r.tensors.len() as u64, "tensor")
    );
    let mut summary = if view.by == GroupBy::Tensor {
        format!(" {tensors}")
    } else {
        let every = all_rows(r, view.by, None);
        let groups = every.len() as u64;
        let changed_groups = every.iter().filter(|g| g.changed()).count();
        let noun = match view.by {
            GroupBy::Layer => "layer",
            GroupBy::Module => "module",
            _ => "dtype",
        };
        format!(
            " {changed_groups} of {} changed; {tensors}",
            count(groups, noun)
        )
    };
    let changes = c.changes();
    if !changes.is_empty() {
        summary.push_str(&format!(": {}", changes.join(", ")));
    }
    if shown.cut > 0 {
        summary.push_str(&format!("; {} more not shown", shown.cut));
    }
    if max > 0.0 {
        let what = if metric == Metric::Cosine {
            "1 - cosine"
        } else {
            metric.name()
        };
        summary.push_str(&format!("; bars: {what}, longest {}", sci(max)));
    }
    writeln!(out, "{summary}")
}
