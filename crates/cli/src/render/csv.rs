//! CSV rendering of a [`Table`]: a header line, then one line per row, fields quoted only when
//! they hold a comma, a quote or a newline.

use std::io::{self, Write};

use super::Table;

/// Writes `t` as CSV; alignment and cell kinds are ignored.
pub(crate) fn render(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    let header: Vec<String> = t.columns.iter().map(|c| field(&c.title)).collect();
    writeln!(out, "{}", header.join(","))?;
    for r in &t.rows {
        let cells: Vec<String> = r.iter().map(|c| field(c.text())).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cell, Column, Table};

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let t = Table {
            columns: vec![Column::left("name"), Column::right("n")],
            rows: vec![vec![Cell::code("a,\"b\""), Cell::plain("")]],
        };
        let mut out = Vec::new();
        super::render(&mut out, &t).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,n\n\"a,\"\"b\"\"\",\n"
        );
    }
}
