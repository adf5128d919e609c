//! Plain-text rendering of a [`Document`]: headings on their own line, tables as
//! space-aligned columns under a rule of dashes, fitted to a width and coloured by tone.
//!
//! Fitting a table to a width: names are first shortened in the middle (`layers.…q_proj`)
//! down to a comfortable length, then the columns of lowest `keep` are dropped one by one, and
//! only then are names shortened further, down to their column's minimum. A table that still
//! does not fit is printed as it is.

use std::io::{self, Write};

use super::{Align, Block, Cell, Document, Table, Tone};

/// Layout choices of the text renderer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextOptions {
    /// Fit tables to this many columns (`None`: unlimited).
    pub(crate) width: Option<usize>,
    /// Colour cells and headings with ANSI escapes.
    pub(crate) color: bool,
}

/// The order of fitting: names shortened to 40 characters, then columns of `keep` below 50
/// dropped; names to 32 (a shortened name loses its middle, often what tells two rows apart),
/// then columns below 86; names to 16, then every droppable column; then names to their
/// minimum.
const TIERS: [(usize, u8); 3] = [(40, 50), (32, 86), (16, super::KEEP_ALWAYS)];

/// Writes `doc` as plain text (the `table` output format). The title is not printed.
pub(crate) fn render(out: &mut dyn Write, doc: &Document, opts: &TextOptions) -> io::Result<()> {
    let bold = anstyle::Style::new().bold();
    for section in &doc.sections {
        if let Some(h) = &section.heading {
            if opts.color {
                writeln!(out, "\n{bold}{h}{bold:#}")?;
            } else {
                writeln!(out, "\n{h}")?;
            }
        }
        for block in &section.blocks {
            match block {
                Block::Lines(lines) => {
                    for l in lines {
                        writeln!(out, "{}", l.text)?;
                        if let Some(d) = &l.detail {
                            writeln!(out, "   {d}")?;
                        }
                    }
                }
                Block::Facts(lines) => {
                    for facts in lines {
                        let pairs: Vec<String> = facts
                            .iter()
                            .map(|f| format!("{}: {}", f.key, f.value))
                            .collect();
                        for line in wrap_facts(&pairs, opts.width) {
                            writeln!(out, "  {line}")?;
                        }
                    }
                }
                Block::Table(t) => table(out, t, opts)?,
                Block::Note(n) => writeln!(out, "{n}")?,
            }
        }
    }
    Ok(())
}

/// Facts three spaces apart on one line, or, when that is wider than `width`, on as many
/// lines as it takes (a fact is never split).
fn wrap_facts(pairs: &[String], width: Option<usize>) -> Vec<String> {
    let Some(width) = width else {
        return vec![pairs.join("   ")];
    };
    let room = width.saturating_sub(2);
    let mut lines: Vec<String> = Vec::new();
    for p in pairs {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 3 + p.chars().count() <= room => {
                l.push_str("   ");
                l.push_str(p);
            }
            _ => lines.push(p.clone()),
        }
    }
    lines
}

/// `s` shortened to `max` characters by replacing its middle with `…`.
pub(crate) fn shorten_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// The columns kept and their widths, for `t` fitted to `width`.
fn fit(t: &Table, width: Option<usize>) -> (Vec<usize>, Vec<usize>) {
    let natural: Vec<usize> = (0..t.columns.len())
        .map(|i| {
            t.rows
                .iter()
                .map(|r| r[i].text().chars().count())
                .chain([t.columns[i].title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut kept: Vec<usize> = (0..t.columns.len()).collect();
    let mut widths = natural.clone();
    let Some(width) = width else {
        return (kept, widths);
    };
    let total = |kept: &[usize], widths: &[usize]| -> usize {
        kept.iter().map(|&i| widths[i]).sum::<usize>() + 2 * kept.len().saturating_sub(1)
    };
    // Shrinks the shrinkable kept columns, widest first, toward `floor` (never below their
    // minimum or their title).
    let shrink = |kept: &[usize], widths: &mut Vec<usize>, floor: usize| {
        while total(kept, widths) > width {
            let candidate = kept
                .iter()
                .copied()
                .filter_map(|i| {
                    let min = t.columns[i]
                        .shrink_to?
                        .max(floor)
                        .max(t.columns[i].title.chars().count());
                    (widths[i] > min).then_some((widths[i], i))
                })
                .max();
            let Some((_, i)) = candidate else { break };
            widths[i] -= 1;
        }
    };
    for (floor, below) in TIERS {
        shrink(&kept, &mut widths, floor);
        while total(&kept, &widths) > width {
            let drop = kept
                .iter()
                .enumerate()
                .filter(|(_, &i)| t.columns[i].keep < below)
                .min_by_key(|(pos, &i)| (t.columns[i].keep, std::cmp::Reverse(*pos)))
                .map(|(pos, _)| pos);
            let Some(pos) = drop else { break };
            kept.remove(pos);
        }
    }
    shrink(&kept, &mut widths, 0);
    (kept, widths)
}

/// Writes a table as space-aligned columns (two spaces apart; the last column is not padded
/// and lines carry no trailing spaces), with a rule of dashes under the header.
fn table(out: &mut dyn Write, t: &Table, opts: &TextOptions) -> io::Result<()> {
    let (kept, widths) = fit(t, opts.width);
    let last = kept.len().saturating_sub(1);
    let line = |out: &mut dyn Write, cells: &[(String, Tone)]| -> io::Result<()> {
        let mut s = String::new();
        for (pos, (&i, (c, tone))) in kept.iter().zip(cells).enumerate() {
            let shown = shorten_middle(c, widths[i]);
            let pad = " ".repeat(widths[i].saturating_sub(shown.chars().count()));
            let styled = if opts.color && *tone != Tone::Plain {
                let st = tone.style();
                format!("{st}{shown}{st:#}")
            } else {
                shown
            };
            match t.columns[i].align {
                Align::Right => {
                    s.push_str(&pad);
                    s.push_str(&styled);
                }
                Align::Left => {
                    s.push_str(&styled);
                    if pos != last {
                        s.push_str(&pad);
                    }
                }
            }
            if pos != last {
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    let pick = |cells: &[Cell]| -> Vec<(String, Tone)> {
        kept.iter()
            .map(|&i| (cells[i].text().to_string(), cells[i].tone))
            .collect()
    };
    let titles: Vec<(String, Tone)> = kept
        .iter()
        .map(|&i| (t.columns[i].title.clone(), Tone::Plain))
        .collect();
    line(out, &titles)?;
    let rules: Vec<(String, Tone)> = kept
        .iter()
        .map(|&i| ("-".repeat(widths[i]), Tone::Plain))
        .collect();
    line(out, &rules)?;
    for row in &t.rows {
        line(out, &pick(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::sample;
    use super::super::{Cell, Column, Table};
    use super::*;

    fn render_with(opts: TextOptions) -> String {
        let mut out = Vec::new();
        super::render(&mut out, &sample(), &opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sections_tables_and_facts() {
        assert_eq!(
            render_with(TextOptions::default()),
            "A: x\n   v 1\nwarning: w\n\nNumbers\n\
             Name       N|M\n\
             ---------  ---\n\
             a|b          1\n\
             long name  100\n\
             (1 hidden)\n  k: v   l: w\n"
        );
    }

    #[test]
    fn colour_wraps_toned_cells_and_headings() {
        let s = render_with(TextOptions {
            width: None,
            color: true,
        });
        assert!(s.contains("\u{1b}[1mNumbers\u{1b}[0m"), "{s:?}");
        assert!(s.contains("\u{1b}[31m100\u{1b}[0m"), "{s:?}");
        // Padding stays outside the escapes, so columns still line up.
        assert!(s.contains("long name  \u{1b}[31m100"), "{s:?}");
    }

    #[test]
    fn facts_wrap_between_facts() {
        let pairs: Vec<String> = ["a: 1", "bb: 22", "ccc: 333"].map(String::from).to_vec();
        assert_eq!(wrap_facts(&pairs, None), ["a: 1   bb: 22   ccc: 333"]);
        assert_eq!(wrap_facts(&pairs, Some(17)), ["a: 1   bb: 22", "ccc: 333"]);
        assert_eq!(wrap_facts(&pairs, Some(3)), ["a: 1", "bb: 22", "ccc: 333"]);
    }

    #[test]
    fn middle_truncation() {
        assert_eq!(
            shorten_middle("layers.10.attn.q_proj.weight", 12),
            "layers…eight"
        );
        assert_eq!(shorten_middle("short", 12), "short");
        assert_eq!(shorten_middle("abcdef", 5), "ab…ef");
    }

    #[test]
    fn narrow_tables_shorten_names_then_drop_columns() {
        let t = Table {
            columns: vec![
                Column::left("Name").shrink(8),
                Column::right("Big").keep(90),
                Column::right("Small").keep(10),
            ],
            rows: vec![vec![
                Cell::plain("a_rather_long_tensor_name_that_goes_on_and_on"),
                Cell::plain("1.000e-01"),
                Cell::plain("2.000e-02"),
            ]],
        };
        let (kept, widths) = fit(&t, None);
        assert_eq!((kept.len(), widths[0]), (3, 45));
        // The name gives up 5 characters, then the low column goes.
        let (kept, widths) = fit(&t, Some(62));
        assert_eq!((kept, widths[0]), (vec![0, 1, 2], 40));
        let (kept, widths) = fit(&t, Some(60));
        assert_eq!((kept, widths[0]), (vec![0, 1], 40));
        // Name to 40, the low column dropped, the name to 32 and below.
        let (kept, widths) = fit(&t, Some(50));
        assert_eq!((kept, widths[0]), (vec![0, 1], 39));
        let (kept, widths) = fit(&t, Some(40));
        assert_eq!((kept, widths[0]), (vec![0, 1], 29));
        let (kept, widths) = fit(&t, Some(30));
        assert_eq!((kept, widths[0]), (vec![0, 1], 19));
        let (kept, widths) = fit(&t, Some(10));
        assert_eq!((kept, widths[0]), (vec![0], 10));
    }
}
