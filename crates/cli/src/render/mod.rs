//! The render model: a report or inspection becomes a [`Document`] of sections once
//! ([`diff_document`], [`inspect_document`]), and each output format walks that document.
//!
//! Text ([`text`]) and Markdown ([`markdown`]) render the same sections; CSV ([`csv`]) writes
//! one flat [`Table`] of raw numbers per tensor ([`diff_records`]); JSON serializes the engine's
//! value types directly ([`json`]). Formatting numbers and wording belongs to the document
//! builders in [`build`]; layout (alignment, escaping, list markers) belongs to the renderers.

mod build;
pub(crate) mod csv;
pub(crate) mod markdown;
pub(crate) mod text;

use std::io::{self, Write};

pub(crate) use build::{diff_document, diff_records, inspect_document};

/// A whole output: a title and its sections in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Document {
    /// Markdown shows it as the top heading; the text rendering has none.
    pub(crate) title: String,
    /// Sections in reading order.
    pub(crate) sections: Vec<Section>,
}

/// A run of blocks under an optional heading.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Section {
    /// `None` for the opening section (which models, warnings).
    pub(crate) heading: Option<String>,
    /// Content in order.
    pub(crate) blocks: Vec<Block>,
}

/// One piece of a section.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Block {
    /// Statements at the top level of the output (the models compared, warnings): text prints
    /// them as they are, Markdown as list items.
    Lines(Vec<Line>),
    /// Lines of `key: value` facts (format properties, summary numbers): text indents them,
    /// Markdown makes list items. Each inner vector is one line.
    Facts(Vec<Vec<Fact>>),
    /// Columns and rows.
    Table(Table),
    /// A remark on what the section leaves out; only the text rendering shows it.
    Note(String),
}

/// One statement, with an optional second line set under it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    /// The statement.
    pub(crate) text: String,
    /// Printed on the next line, indented by three spaces.
    pub(crate) detail: Option<String>,
}

/// One `key: value` pair.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fact {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl Fact {
    pub(crate) fn new(key: impl Into<String>, value: impl Into<String>) -> Fact {
        Fact {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A table: column headers with their alignment, and rows of cells.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub(crate) columns: Vec<Column>,
    /// Every row has one cell per column.
    pub(crate) rows: Vec<Vec<Cell>>,
}

/// A column header.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Column {
    pub(crate) title: String,
    pub(crate) align: Align,
}

impl Column {
    pub(crate) fn left(title: &str) -> Column {
        Column {
            title: title.to_string(),
            align: Align::Left,
        }
    }

    pub(crate) fn right(title: &str) -> Column {
        Column {
            title: title.to_string(),
            align: Align::Right,
        }
    }
}

/// Horizontal alignment of a column's header and cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    /// For numbers.
    Right,
}

/// One table cell.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    /// Prose or a formatted number.
    Text(String),
    /// A name taken from a model file (tensor names): Markdown shows it as code.
    Code(String),
}

impl Cell {
    /// The cell's content, without any markup.
    pub(crate) fn text(&self) -> &str {
        match self {
            Cell::Text(s) | Cell::Code(s) => s,
        }
    }
}

/// A report or inspection as pretty-printed JSON with one trailing newline.
pub(crate) fn json<T: serde::Serialize>(out: &mut dyn Write, r: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r)?;
    writeln!(out)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A document with every kind of block, for the renderer tests.
    pub(crate) fn sample() -> Document {
        Document {
            title: "t".into(),
            sections: vec![
                Section {
                    heading: None,
                    blocks: vec![Block::Lines(vec![
                        Line {
                            text: "A: x".into(),
                            detail: Some("v 1".into()),
                        },
                        Line {
                            text: "warning: w".into(),
                            detail: None,
                        },
                    ])],
                },
                Section {
                    heading: Some("Numbers".into()),
                    blocks: vec![
                        Block::Table(Table {
                            columns: vec![Column::left("Name"), Column::right("N|M")],
                            rows: vec![
                                vec![Cell::Code("a|b".into()), Cell::Text("1".into())],
                                vec![Cell::Code("long name".into()), Cell::Text("100".into())],
                            ],
                        }),
                        Block::Note("(1 hidden)".into()),
                        Block::Facts(vec![vec![Fact::new("k", "v"), Fact::new("l", "w")]]),
                    ],
                },
            ],
        }
    }
}
