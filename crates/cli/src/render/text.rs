//! Plain-text rendering of a [`Document`]: headings on their own line, tables as
//! space-aligned columns under a rule of dashes.

use std::io::{self, Write};

use super::{Align, Block, Document, Table};

/// Writes `doc` as plain text (the `table` output format). The title is not printed.
pub(crate) fn render(out: &mut dyn Write, doc: &Document) -> io::Result<()> {
    for section in &doc.sections {
        if let Some(h) = &section.heading {
            writeln!(out, "\n{h}")?;
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
                        writeln!(out, "  {}", pairs.join("   "))?;
                    }
                }
                Block::Table(t) => table(out, t)?,
                Block::Note(n) => writeln!(out, "{n}")?,
            }
        }
    }
    Ok(())
}

/// Writes a table as space-aligned columns (two spaces apart; the last column is not padded
/// and lines carry no trailing spaces), with a rule of dashes under the header.
fn table(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    let mut widths: Vec<usize> = t.columns.iter().map(|c| c.title.chars().count()).collect();
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.text().chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> io::Result<()> {
        let mut s = String::new();
        let last = cells.len() - 1;
        for (i, (c, col)) in cells.iter().zip(&t.columns).enumerate() {
            let pad = widths[i] - c.chars().count();
            match col.align {
                Align::Right => {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
                Align::Left => {
                    s.push_str(c);
                    if i != last {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            if i != last {
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    let titles: Vec<&str> = t.columns.iter().map(|c| c.title.as_str()).collect();
    line(out, &titles)?;
    let rules: Vec<String> = widths.iter().map(|&n| "-".repeat(n)).collect();
    line(out, &rules.iter().map(String::as_str).collect::<Vec<_>>())?;
    for row in &t.rows {
        line(out, &row.iter().map(|c| c.text()).collect::<Vec<_>>())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::sample;

    #[test]
    fn sections_tables_and_facts() {
        let mut out = Vec::new();
        super::render(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A: x\n   v 1\nwarning: w\n\nNumbers\n\
             Name       N|M\n\
             ---------  ---\n\
             a|b          1\n\
             long name  100\n\
             (1 hidden)\n  k: v   l: w\n"
        );
    }
}
