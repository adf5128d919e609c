//! The render model: a report or inspection becomes a [`Document`] of sections once
//! ([`diff_document`], [`inspect_document`]), and each output format walks that document.
//!
//! A [`view::View`] decides what a diff shows: which rows (changed tensors, or all), grouped
//! how (`--by tensor|layer|module|dtype`, aggregated from the per-tensor sums), in which order
//! and how many. Text ([`text`]) and Markdown ([`markdown`]) render the same sections; CSV
//! ([`csv`]) writes one flat [`Table`] of raw numbers per row ([`diff_records`]); `--stat`
//! ([`stat`]) draws one bar per row; HTML ([`html`]) is a self-contained page with a
//! layer × module heatmap; JSON serializes the engine's value types directly ([`json`]).
//! Formatting numbers and wording belongs to the document builders in [`build`]; layout
//! (alignment, fitting to a width, colour, escaping, list markers) belongs to the renderers.

mod build;
pub(crate) mod csv;
pub(crate) mod drift;
pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod num;
pub(crate) mod stat;
pub(crate) mod text;
pub(crate) mod view;

use std::io::{self, Write};

pub(crate) use build::{diff_document, diff_records, inspect_document};

/// A whole output: a title and its sections in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Document {
    /// Markdown shows it as the top heading (none when empty); the text rendering has none.
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

/// A column header, with what a renderer of limited width may do to it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Column {
    pub(crate) title: String,
    pub(crate) align: Align,
    /// How long the column stays when the table is too wide: columns of lower `keep` are
    /// dropped first; [`KEEP_ALWAYS`] is never dropped.
    pub(crate) keep: u8,
    /// Cells may be shortened in the middle with `…` (names) down to this many characters.
    pub(crate) shrink_to: Option<usize>,
}

/// A column that is never dropped to fit a width.
pub(crate) const KEEP_ALWAYS: u8 = u8::MAX;

impl Column {
    pub(crate) fn left(title: &str) -> Column {
        Column {
            title: title.to_string(),
            align: Align::Left,
            keep: KEEP_ALWAYS,
            shrink_to: None,
        }
    }

    pub(crate) fn right(title: &str) -> Column {
        Column {
            align: Align::Right,
            ..Column::left(title)
        }
    }

    /// Dropped before columns of higher `keep` when the table is too wide.
    pub(crate) fn keep(mut self, keep: u8) -> Column {
        self.keep = keep;
        self
    }

    /// Names: shortened in the middle, down to `min` characters, when the table is too wide.
    pub(crate) fn shrink(mut self, min: usize) -> Column {
        self.shrink_to = Some(min);
        self
    }
}

/// Horizontal alignment of a column's header and cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    /// For numbers.
    Right,
}

/// One table cell: its text, whether it is a name from a model file, and its tone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cell {
    text: String,
    /// A name taken from a model file (tensor names): Markdown shows it as code.
    pub(crate) code: bool,
    /// How the text renderer colours it (when colour is on).
    pub(crate) tone: Tone,
}

impl Cell {
    /// Prose or a formatted number.
    pub(crate) fn plain(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            code: false,
            tone: Tone::Plain,
        }
    }

    /// A name taken from a model file.
    pub(crate) fn code(s: impl Into<String>) -> Cell {
        Cell {
            code: true,
            ..Cell::plain(s)
        }
    }

    /// The same cell in `tone`.
    pub(crate) fn tone(mut self, tone: Tone) -> Cell {
        self.tone = tone;
        self
    }

    /// The cell's content, without any markup.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// Severity colours: what a cell's value means to a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Tone {
    /// No colour.
    #[default]
    Plain,
    /// Nothing to see (identical): dim.
    Dim,
    /// Something new (added): green.
    New,
    /// Small drift: yellow.
    Warn,
    /// Large change, removal: red.
    Bad,
    /// NaN/Inf: bold red.
    Alert,
}

impl Tone {
    /// The terminal style of the tone.
    pub(crate) fn style(self) -> anstyle::Style {
        use anstyle::{AnsiColor, Style};
        let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
        match self {
            Tone::Plain => Style::new(),
            Tone::Dim => Style::new().dimmed(),
            Tone::New => fg(AnsiColor::Green),
            Tone::Warn => fg(AnsiColor::Yellow),
            Tone::Bad => fg(AnsiColor::Red),
            Tone::Alert => fg(AnsiColor::Red).bold(),
        }
    }
}

/// A report or inspection as pretty-printed JSON with one trailing newline.
///
/// The serializer makes a call per token (a 10 000-tensor report is millions of them), so it
/// writes into a buffer of its own whose type it knows, where each call is an inlined copy,
/// rather than through `out`'s virtual `write_all`.
pub(crate) fn json<T: serde::Serialize>(out: &mut dyn Write, r: &T) -> io::Result<()> {
    let mut buf = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut buf, r)?;
    writeln!(buf)?;
    buf.flush()
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
                                vec![Cell::code("a|b"), Cell::plain("1")],
                                vec![Cell::code("long name"), Cell::plain("100").tone(Tone::Bad)],
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
