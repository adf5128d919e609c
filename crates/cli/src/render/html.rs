//! HTML rendering (`--report FILE.html`): one self-contained page, no network, inline CSS and
//! JavaScript.
//!
//! The page is the same [`Document`] the text and Markdown renderers walk (built with every
//! row listed; a checkbox hides identical rows), laid out as HTML with sortable tables, plus a
//! heatmap of the model's blocks × modules: one SVG `<rect>` per (layer, module) pair, with
//! `data-layer` and `data-module` attributes, coloured by the pair's relative L2 or 1 − cosine
//! (a toggle; `#cos` in the address selects 1 − cosine), aggregated from the per-tensor sums
//! like `--by`. Both colourings are computed here; the script only swaps them, sorts tables and
//! hides rows.

use std::io::{self, Write};

use modeldiff::Report;

use super::build::{diff_document, verdict_line};
use super::num::{cosine, opt_sci};
use super::view::{natural_cmp, place, Sums, View};
use super::{Align, Block, Document, Tone};

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Dim => "dim",
        Tone::New => "new",
        Tone::Warn => "warn",
        Tone::Bad => "bad",
        Tone::Alert => "alert",
    }
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .4em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .5em; border-bottom: 1px solid #ddd; }
code, td.code { font-family: ui-monospace, monospace; font-size: 12.5px; }
.models p { margin: .1em 0; }
.models .detail { color: #777; margin-left: 1.5em; font-size: 12px; }
.verdict { font-weight: 600; padding: .4em .7em; border-radius: 4px; background: #eef6ee; display: inline-block; }
.verdict.bad, .verdict.alert { background: #fdecea; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .3em 0; }
th, td { padding: 2px 9px; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f6f6f6; cursor: pointer; user-select: none; text-align: left; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.sorted-asc::after { content: " \25B2"; font-size: 9px; }
th.sorted-desc::after { content: " \25BC"; font-size: 9px; }
tr.dim td { color: #999; }
.new { color: #17803d; } .warn { color: #a16207; } .bad { color: #c62828; }
.alert { color: #c62828; font-weight: 700; }
body.hide-identical tr.dim { display: none; }
.note { color: #666; font-style: italic; }
ul.facts { list-style: none; padding: 0; margin: 0; }
ul.facts li span.key { color: #666; }
ul.facts li span.key::after { content: ": "; }
ul.facts li span + span.key { margin-left: 1.5em; }
.controls { margin: .3em 0 .6em; }
.controls label { margin-right: 1.2em; }
svg text { font: 10px ui-monospace, monospace; fill: #444; }
svg rect.cell { stroke: #fff; stroke-width: 1; }
svg rect.cell:hover { stroke: #000; }
.legend { font-size: 12px; color: #555; }
.legend .swatch { display: inline-block; width: 14px; height: 10px; vertical-align: middle; }
"#;

const SCRIPT: &str = r#"
window.addEventListener('error', function (e) {
  document.documentElement.setAttribute('data-error', String(e.message));
});
(function () {
  function key(cell) {
    var t = cell.textContent.trim();
    var n = parseFloat(t.replace(/ of .*/, ''));
    return isNaN(n) || !/^-?[0-9]/.test(t) ? null : n;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.querySelectorAll('th');
    heads.forEach(function (th, col) {
      th.addEventListener('click', function () {
        var desc = !th.classList.contains('sorted-desc');
        heads.forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
        th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var p = key(x), q = key(y), r;
          if (p !== null && q !== null) r = p - q;
          else if (p !== null) return -1;
          else if (q !== null) return 1;
          else r = x.textContent.localeCompare(y.textContent, undefined, { numeric: true });
          return desc ? -r : r;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  var hide = document.getElementById('hide-identical');
  if (hide) {
    var apply = function () { document.body.classList.toggle('hide-identical', hide.checked); };
    hide.addEventListener('change', apply);
    apply();
  }
  function heat(which) {
    document.querySelectorAll('svg rect.cell').forEach(function (r) {
      r.setAttribute('fill', r.getAttribute('data-fill-' + which));
      r.querySelector('title').textContent = r.getAttribute('data-title-' + which);
    });
    document.querySelectorAll('.legend').forEach(function (l) {
      l.hidden = l.getAttribute('data-for') !== which;
    });
    document.querySelectorAll('input[name=heat]').forEach(function (input) {
      input.checked = input.value === which;
    });
  }
  document.querySelectorAll('input[name=heat]').forEach(function (input) {
    input.addEventListener('change', function () { heat(input.value); });
  });
  // A link to report.html#cos opens with the heatmap coloured by 1 - cosine.
  if (location.hash === '#cos') heat('cos');
  document.documentElement.setAttribute('data-ready', '1');
})();
"#;

/// A colour from light yellow (t = 0) to dark red (t = 1).
fn ramp(t: f64) -> String {
    const STOPS: [(f64, [u8; 3]); 4] = [
        (0.0, [255, 255, 204]),
        (0.35, [254, 178, 76]),
        (0.7, [240, 59, 32]),
        (1.0, [128, 0, 38]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS.iter().rposition(|(s, _)| *s <= t).unwrap_or(0).min(2);
    let ((s0, c0), (s1, c1)) = (STOPS[i], STOPS[i + 1]);
    let f = (t - s0) / (s1 - s0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(c0[0], c1[0]),
        mix(c0[1], c1[1]),
        mix(c0[2], c1[2])
    )
}

/// Fill of a cell without numbers, and of an identical one.
const NO_NUMBERS: &str = "#e4e4e4";
const IDENTICAL: &str = "#f3f8f3";

/// Colours values on a log scale between the smallest and largest positive value.
struct Scale {
    lo: f64,
    hi: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>) -> Scale {
        let logs: Vec<f64> = values.filter(|v| *v > 0.0).map(f64::log10).collect();
        let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Scale { lo, hi }
    }

    fn fill(&self, v: Option<f64>) -> String {
        match v {
            None => NO_NUMBERS.into(),
            Some(v) if v <= 0.0 => IDENTICAL.into(),
            Some(v) if self.hi > self.lo => ramp((v.log10() - self.lo) / (self.hi - self.lo)),
            Some(_) => ramp(0.6),
        }
    }

    fn legend(&self, id: &str, what: &str, hidden: bool) -> String {
        let mut s = format!(
            "<p class=\"legend\" data-for=\"{id}\"{}>{what}: ",
            if hidden { " hidden" } else { "" }
        );
        if self.lo.is_finite() {
            s.push_str(&format!(
                "{} <span class=\"swatch\" style=\"background:{}\"></span>\
                 <span class=\"swatch\" style=\"background:{}\"></span>\
                 <span class=\"swatch\" style=\"background:{}\"></span>\
                 <span class=\"swatch\" style=\"background:{}\"></span> {} (log scale); ",
                opt_sci(Some(10f64.powf(self.lo))),
                ramp(0.0),
                ramp(0.35),
                ramp(0.7),
                ramp(1.0),
                opt_sci(Some(10f64.powf(self.hi))),
            ));
        }
        s.push_str(&format!(
            "<span class=\"swatch\" style=\"background:{IDENTICAL}\"></span> identical, \
             <span class=\"swatch\" style=\"background:{NO_NUMBERS}\"></span> no numbers</p>\n"
        ));
        s
    }
}

/// One heatmap cell: a (layer, module) pair and its tensors' sums.
struct HeatCell {
    layer: String,
    module: String,
    sums: Sums,
}

/// The cells of the layer × module heatmap, with the layers and modules in order.
fn heat_cells(r: &Report) -> (Vec<String>, Vec<String>, Vec<HeatCell>) {
    let mut tensors: Vec<&modeldiff::TensorReport> = r.tensors.iter().collect();
    tensors.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let mut layers: Vec<String> = Vec::new();
    let mut modules: Vec<String> = Vec::new();
    let mut cells: Vec<HeatCell> = Vec::new();
    for t in tensors {
        let p = place(&t.name);
        let Some(layer) = p.layer else { continue };
        if !layers.iter().any(|l| l == layer) {
            layers.push(layer.to_string());
        }
        if !modules.iter().any(|m| m == p.module) {
            modules.push(p.module.to_string());
        }
        match cells
            .iter_mut()
            .find(|c| c.layer == layer && c.module == p.module)
        {
            Some(c) => c.sums.add(t),
            None => {
                let mut sums = Sums::default();
                sums.add(t);
                cells.push(HeatCell {
                    layer: layer.to_string(),
                    module: p.module.to_string(),
                    sums,
                });
            }
        }
    }
    layers.sort_by(|a, b| natural_cmp(a, b));
    (layers, modules, cells)
}

/// The heatmap section: an SVG with one `<rect>` per (layer, module), and the toggle.
fn heatmap(r: &Report) -> String {
    let (layers, modules, cells) = heat_cells(r);
    let mut s = String::from("<section id=\"heatmap\">\n<h2>Layers × modules</h2>\n");
    if cells.is_empty() {
        s.push_str(
            "<p class=\"note\">No tensor names with a block index (<code>layers.N</code>, \
             <code>layer.N</code>, <code>h.N</code>, <code>blk.N</code>): no heatmap.</p>\n</section>\n",
        );
        return s;
    }
    let rel = Scale::new(cells.iter().filter_map(|c| c.sums.rel_l2()));
    let cos = Scale::new(cells.iter().filter_map(|c| c.sums.one_minus_cosine()));
    s.push_str(
        "<div class=\"controls\">colour by: \
         <label><input type=\"radio\" name=\"heat\" value=\"rel\" checked> relative L2</label>\
         <label><input type=\"radio\" name=\"heat\" value=\"cos\"> 1 − cosine</label></div>\n",
    );
    const CW: usize = 36;
    const CH: usize = 20;
    let char_w = 6.2;
    let left =
        (layers.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * char_w) as usize + 12;
    let top = (modules.iter().map(|m| m.chars().count()).max().unwrap_or(0) as f64 * char_w * 0.75)
        as usize
        + 16;
    let width = left + modules.len() * CW + 90;
    let height = top + layers.len() * CH + 4;
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"heatmap of layers by modules\">\n"
    ));
    for (j, m) in modules.iter().enumerate() {
        let x = left + j * CW + CW / 2;
        s.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\" transform=\"rotate(-45 {x} {})\">{}</text>\n",
            top - 6,
            top - 6,
            esc(m)
        ));
    }
    for (i, l) in layers.iter().enumerate() {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            left - 6,
            top + i * CH + CH / 2 + 4,
            esc(l)
        ));
    }
    for c in &cells {
        let i = layers
            .iter()
            .position(|l| *l == c.layer)
            .expect("layer listed");
        let j = modules
            .iter()
            .position(|m| *m == c.module)
            .expect("module listed");
        let (rv, cv) = (c.sums.rel_l2(), c.sums.one_minus_cosine());
        let title = |what: &str, v: String| {
            format!(
                "{} {}: {what} {v}; {} of {} tensors changed; cosine {}",
                c.layer,
                c.module,
                c.sums.changed(),
                c.sums.tensors,
                cosine(c.sums.cosine())
            )
        };
        let (title_rel, title_cos) = (title("rel L2", opt_sci(rv)), title("1 − cos", opt_sci(cv)));
        s.push_str(&format!(
            "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{CW}\" height=\"{CH}\" fill=\"{}\" \
             data-layer=\"{}\" data-module=\"{}\" data-rel=\"{}\" data-cos=\"{}\" \
             data-fill-rel=\"{}\" data-fill-cos=\"{}\" data-title-rel=\"{}\" data-title-cos=\"{}\">\
             <title>{}</title></rect>\n",
            left + j * CW,
            top + i * CH,
            rel.fill(rv),
            esc(&c.layer),
            esc(&c.module),
            opt_sci(rv),
            opt_sci(cv),
            rel.fill(rv),
            cos.fill(cv),
            esc(&title_rel),
            esc(&title_cos),
            esc(&title_rel),
        ));
    }
    s.push_str("</svg>\n");
    s.push_str(&rel.legend("rel", "relative L2", false));
    s.push_str(&cos.legend("cos", "1 − cosine", true));
    s.push_str("</section>\n");
    s
}

/// Renders the document's blocks as HTML.
fn blocks(out: &mut String, doc: &Document) {
    for (n, section) in doc.sections.iter().enumerate() {
        let class = if n == 0 { " class=\"models\"" } else { "" };
        out.push_str(&format!("<section{class}>\n"));
        if let Some(h) = &section.heading {
            out.push_str(&format!("<h2>{}</h2>\n", esc(h)));
            if section.blocks.iter().any(|b| matches!(b, Block::Table(t) if t.rows.iter().any(|r| r.iter().any(|c| c.tone == Tone::Dim)))) {
                out.push_str(
                    "<div class=\"controls\"><label><input type=\"checkbox\" id=\"hide-identical\"> \
                     hide identical</label></div>\n",
                );
            }
        }
        for block in &section.blocks {
            match block {
                Block::Lines(lines) => {
                    for l in lines {
                        out.push_str(&format!("<p>{}</p>\n", esc(&l.text)));
                        if let Some(d) = &l.detail {
                            out.push_str(&format!("<p class=\"detail\">{}</p>\n", esc(d)));
                        }
                    }
                }
                Block::Facts(lines) => {
                    out.push_str("<ul class=\"facts\">\n");
                    for facts in lines {
                        out.push_str("<li>");
                        for f in facts {
                            out.push_str(&format!(
                                "<span class=\"key\">{}</span><span>{}</span>",
                                esc(&f.key),
                                esc(&f.value)
                            ));
                        }
                        out.push_str("</li>\n");
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table(t) => {
                    out.push_str("<div class=\"scroll\"><table class=\"sortable\">\n<thead><tr>");
                    for c in &t.columns {
                        let class = if c.align == Align::Right {
                            " class=\"num\""
                        } else {
                            ""
                        };
                        out.push_str(&format!("<th{class}>{}</th>", esc(&c.title)));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in &t.rows {
                        let dim = row.first().is_some_and(|c| c.tone == Tone::Dim);
                        out.push_str(if dim { "<tr class=\"dim\">" } else { "<tr>" });
                        for (c, col) in row.iter().zip(&t.columns) {
                            let mut classes = Vec::new();
                            if col.align == Align::Right {
                                classes.push("num");
                            }
                            if c.code {
                                classes.push("code");
                            }
                            if !dim && c.tone != Tone::Plain {
                                classes.push(tone_class(c.tone));
                            }
                            let class = if classes.is_empty() {
                                String::new()
                            } else {
                                format!(" class=\"{}\"", classes.join(" "))
                            };
                            out.push_str(&format!("<td{class}>{}</td>", esc(c.text())));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table></div>\n");
                }
                Block::Note(n) => out.push_str(&format!("<p class=\"note\">{}</p>\n", esc(n))),
            }
        }
        out.push_str("</section>\n");
        if n == 0 {
            out.push_str("@@HEATMAP@@");
        }
    }
}

/// Writes the whole page for `r` under `view`: its grouping and order, but every row (the page
/// sorts and hides them itself).
pub(crate) fn render(out: &mut dyn Write, r: &Report, view: &View) -> io::Result<()> {
    let all = View {
        all: true,
        top: None,
        ..*view
    };
    let doc = diff_document(r, &all);
    let (verdict, tone) = verdict_line(r);
    let mut body = String::new();
    blocks(&mut body, &doc);
    let body = body.replace("@@HEATMAP@@", &heatmap(r));
    let hide = if view.all { "" } else { " checked" };
    let body = body.replace(
        "id=\"hide-identical\">",
        &format!("id=\"hide-identical\"{hide}>"),
    );
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>modeldiff: {} vs {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>modeldiff</h1>\n<p class=\"verdict {}\">{}</p>\n{body}<script>{SCRIPT}</script>\n\
         </body>\n</html>\n",
        esc(&r.a.path),
        esc(&r.b.path),
        tone_class(tone),
        esc(&verdict),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_colours() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(ramp(0.0), "#ffffcc");
        assert_eq!(ramp(1.0), "#800026");
        let s = Scale::new([1e-4, 1e-2, 0.0].into_iter());
        assert_eq!(s.fill(Some(1e-4)), ramp(0.0));
        assert_eq!(s.fill(Some(1e-2)), ramp(1.0));
        assert_eq!(s.fill(Some(0.0)), IDENTICAL);
        assert_eq!(s.fill(None), NO_NUMBERS);
    }
}
