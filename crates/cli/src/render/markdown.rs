//! GitHub-flavoured Markdown rendering of a [`Document`]: `###` headings, bullet lists, pipe
//! tables (every column: Markdown is not fitted to a width) and notes in italics.

use std::io::{self, Write};

use super::{Align, Block, Document, Fact, Table};

/// Writes `doc` as Markdown under a `##` heading with its title (none when the title is
/// empty, as for the one line of identical models).
pub(crate) fn render(out: &mut dyn Write, doc: &Document) -> io::Result<()> {
    if !doc.title.is_empty() {
        writeln!(out, "## {}\n", doc.title)?;
    }
    for section in &doc.sections {
        if let Some(h) = &section.heading {
            writeln!(out, "\n### {h}\n")?;
        }
        for block in &section.blocks {
            match block {
                Block::Lines(lines) => {
                    for l in lines {
                        writeln!(out, "- {}", l.text)?;
                        if let Some(d) = &l.detail {
                            // Indented under the list item, so it continues the item.
                            writeln!(out, "   {d}")?;
                        }
                    }
                }
                Block::Facts(lines) => {
                    for facts in lines {
                        writeln!(out, "- {}", facts_line(facts))?;
                    }
                }
                Block::Table(t) => table(out, t)?,
                Block::Note(n) => writeln!(out, "\n_{}_", n.replace('_', "\\_"))?,
            }
        }
    }
    Ok(())
}

fn facts_line(facts: &[Fact]) -> String {
    let pairs: Vec<String> = facts
        .iter()
        .map(|f| format!("{}: {}", f.key, f.value))
        .collect();
    pairs.join("   ")
}

/// One table row; `|` inside a cell is escaped.
fn row<'a>(out: &mut dyn Write, cells: impl Iterator<Item = &'a str>) -> io::Result<()> {
    let cells: Vec<String> = cells.map(|c| c.replace('|', "\\|")).collect();
    writeln!(out, "| {} |", cells.join(" | "))
}

fn table(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    row(out, t.columns.iter().map(|c| c.title.as_str()))?;
    let rule: String = t
        .columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "---|",
            Align::Right => "---:|",
        })
        .collect();
    writeln!(out, "|{rule}")?;
    for r in &t.rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| {
                if c.code {
                    format!("`{}`", c.text())
                } else {
                    c.text().to_string()
                }
            })
            .collect();
        row(out, cells.iter().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::sample;

    #[test]
    fn lists_escaped_tables_and_notes() {
        let mut out = Vec::new();
        super::render(&mut out, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "## t\n\n- A: x\n   v 1\n- warning: w\n\n### Numbers\n\n\
             | Name | N\\|M |\n\
             |---|---:|\n\
             | `a\\|b` | 1 |\n\
             | `long name` | 100 |\n\
             \n_(1 hidden)_\n\
             - k: v   l: w\n"
        );
    }
}
