//! Cross-format matching: the matchers that pair tensors whose names differ, and the
//! converter transforms a pair needs undone before it is compared.
//!
//! [`ModelFacts::of`] reads what a model says about its architecture (GGUF
//! `general.architecture` and head counts, or the `config.json` next to an HF checkpoint).
//! The matchers plug into [`crate::matching::match_tensors`] after exact names:
//! [`RenameRules`] (`--rename 's/REGEX/REPL/'`, applied to B's names), [`NameMap`] (the
//! built-in HF ↔ GGUF tables of [`names`], or a user's map file), [`crate::matching::ContentRenames`]
//! and [`TiedEmbeddings`]. [`annotate`] then adds the transforms of each HF ↔ GGUF pair
//! (`dims_reversed`, `unpermuted_qk`, `norm_plus_one`), which the plan stage turns into an
//! [`crate::plan::Align`].

pub mod names;

use std::collections::HashMap;
use std::path::Path;

use modeldiff_formats::{Format, MetaValue, Model, TensorInfo};
use regex::Regex;

use crate::error::{Error, Result};
use crate::matching::{Entry, MatchedBy, Matcher, Matching, Pairing, Transform};
pub use names::Family;

/// What a model says about its architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelFacts {
    /// GGUF `general.architecture`, or `model_type` of the `config.json` beside the file.
    pub arch: Option<String>,
    /// Attention heads (`{arch}.attention.head_count`, `num_attention_heads`).
    pub head_count: Option<u64>,
    /// Key/value heads (`{arch}.attention.head_count_kv`, `num_key_value_heads`; the head
    /// count when absent).
    pub head_count_kv: Option<u64>,
    /// Whether the model is a GGUF file (ggml dimension order, converter names).
    pub is_gguf: bool,
}

impl ModelFacts {
    /// The facts of `model`: GGUF metadata, else the `config.json` in the model's directory
    /// (a missing or unreadable one gives no facts, never an error).
    pub fn of(model: &Model) -> ModelFacts {
        if model.format() == Format::Gguf {
            let get = |k: &str| {
                model
                    .metadata()
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v)
            };
            let arch = match get("general.architecture") {
                Some(MetaValue::Str(s)) => Some(s.clone()),
                _ => None,
            };
            let uint = |k: String| match get(&k) {
                Some(MetaValue::UInt(n)) => Some(*n),
                Some(MetaValue::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            let (heads, kv) = match &arch {
                Some(a) => (
                    uint(format!("{a}.attention.head_count")),
                    uint(format!("{a}.attention.head_count_kv")),
                ),
                None => (None, None),
            };
            return ModelFacts {
                arch,
                head_count: heads,
                head_count_kv: kv.or(heads),
                is_gguf: true,
            };
        }
        let dir = model.path().parent().unwrap_or(Path::new("."));
        let mut facts = config_facts(&dir.join("config.json")).unwrap_or_default();
        facts.is_gguf = false;
        facts
    }

    /// The name-table family, when the architecture is known.
    pub fn family(&self) -> Option<Family> {
        self.arch.as_deref().and_then(Family::of)
    }
}

/// Reads `model_type` and head counts from an HF `config.json` (or its `text_config`).
fn config_facts(path: &Path) -> Option<ModelFacts> {
    let meta = std::fs::metadata(path).ok()?;
    // A config.json is a few KB; anything past 4 MiB is not one.
    if !meta.is_file() || meta.len() > 4 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let text = v.get("text_config").unwrap_or(&v);
    let pick = |k: &str| text.get(k).or_else(|| v.get(k));
    let arch = pick("model_type")
        .and_then(|x| x.as_str())
        .map(str::to_string);
    let heads = pick("num_attention_heads").and_then(|x| x.as_u64());
    let kv = pick("num_key_value_heads").and_then(|x| x.as_u64());
    Some(ModelFacts {
        arch,
        head_count: heads,
        head_count_kv: kv.or(heads),
        is_gguf: false,
    })
}

/// The family both models are read with: the GGUF side's architecture, else either side's.
pub fn pair_family(a: &ModelFacts, b: &ModelFacts) -> Option<Family> {
    let (g, o) = if b.is_gguf && !a.is_gguf {
        (b, a)
    } else {
        (a, b)
    };
    g.family().or_else(|| o.family())
}

/// Pairs tensors through a name map: the built-in HF → GGUF tables (both sides spelled as
/// GGUF names, so either side may be the GGUF one), or a user's map of A names to B names.
#[derive(Clone, Debug)]
pub enum NameMap {
    /// The tables of [`names`] for a family (`None`: unknown architecture, llama's tables).
    Auto(Option<Family>),
    /// A user's map, A name → B name.
    User(HashMap<String, String>),
}

impl NameMap {
    /// Parses a user's map: a JSON object of A names to B names, or (`toml`) a flat TOML
    /// table of `"a name" = "b name"` lines (comments and blank lines allowed, no sections).
    pub fn parse(source_name: &str, text: &str, toml: bool) -> Result<NameMap> {
        let err = |detail: String| Error::NameMap {
            source_name: source_name.to_string(),
            detail,
        };
        let mut map = HashMap::new();
        if !toml {
            let v: HashMap<String, String> = serde_json::from_str(text)
                .map_err(|e| err(format!("not a JSON object of names to names: {e}")))?;
            return Ok(NameMap::User(v));
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                err(format!(
                    "line {}: expected `\"a name\" = \"b name\"`",
                    n + 1
                ))
            };
            let (k, rest) = toml_string(line).ok_or_else(bad)?;
            let rest = rest.trim_start().strip_prefix('=').ok_or_else(bad)?;
            let (v, tail) = toml_string(rest.trim_start()).ok_or_else(bad)?;
            let tail = tail.trim();
            if !(tail.is_empty() || tail.starts_with('#')) {
                return Err(bad());
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(err(format!("line {}: `{k}` is mapped twice", n + 1)));
            }
        }
        Ok(NameMap::User(map))
    }
}

/// A TOML key or basic string at the start of `s`: a bare key (`A-Za-z0-9_-`), or a quoted
/// string with JSON-compatible escapes; returns it and the rest.
fn toml_string(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    let quoted = &s[..i + 2];
                    let v: String = serde_json::from_str(quoted).ok()?;
                    return Some((v, &body[i + 1..]));
                }
                _ => escaped = false,
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// A tensor's key under the built-in tables: its GGUF spelling.
fn gguf_key(f: Option<Family>, name: &str) -> String {
    if names::is_gguf_name(name) {
        return name.to_string();
    }
    names::hf_to_gguf(f.unwrap_or(Family::Llama), name).unwrap_or_else(|| name.to_string())
}

impl Matcher for NameMap {
    fn pair(&self, a: &Model, b: &Model, ua: &[usize], ub: &[usize]) -> Vec<Pairing> {
        match self {
            NameMap::Auto(f) => {
                // Keys that occur once on each side pair up.
                let keyed = |m: &Model, open: &[usize]| {
                    let mut k: HashMap<String, Option<usize>> = HashMap::new();
                    for &i in open {
                        let key = gguf_key(*f, &m.tensors()[i].name);
                        k.entry(key)
                            .and_modify(|slot| *slot = None)
                            .or_insert(Some(i));
                    }
                    k
                };
                let kb = keyed(b, ub);
                let mut out: Vec<Pairing> = keyed(a, ua)
                    .into_iter()
                    .filter_map(|(key, ia)| {
                        let (ia, ib) = (ia?, (*kb.get(&key)?)?);
                        Some(Pairing::new(ia, ib, MatchedBy::NameMap))
                    })
                    .collect();
                out.sort_by_key(|p| p.a);
                out
            }
            NameMap::User(map) => ua
                .iter()
                .filter_map(|&ia| {
                    let target = map.get(&a.tensors()[ia].name)?;
                    let ib = b.find(target).filter(|ib| ub.contains(ib))?;
                    Some(Pairing::new(ia, ib, MatchedBy::NameMap))
                })
                .collect(),
        }
    }
}

/// `--rename 's/REGEX/REPL/'` rules, applied in order to B's names; a B tensor whose renamed
/// name is an unpaired A name pairs with it.
#[derive(Clone, Debug, Default)]
pub struct RenameRules {
    rules: Vec<(Regex, String, bool)>,
}

impl RenameRules {
    /// Parses sed-style rules `s/REGEX/REPL/` (any delimiter after `s`, a trailing `g` to
    /// replace every match; `$1` or `${name}` in REPL refer to groups).
    pub fn parse(rules: &[String]) -> Result<RenameRules> {
        let mut out = Vec::new();
        for r in rules {
            let err = |detail: &str| Error::NameMap {
                source_name: format!("--rename `{r}`"),
                detail: detail.to_string(),
            };
            let mut chars = r.chars();
            if chars.next() != Some('s') {
                return Err(err("expected s/REGEX/REPL/"));
            }
            let delim = chars.next().ok_or_else(|| err("expected s/REGEX/REPL/"))?;
            let parts: Vec<&str> = r[1 + delim.len_utf8()..].split(delim).collect();
            let (pat, repl, flags) = match parts.as_slice() {
                [p, q, f] => (*p, *q, *f),
                _ => return Err(err("expected s/REGEX/REPL/ with three delimiters")),
            };
            let global = match flags {
                "" => false,
                "g" => true,
                _ => return Err(err("the only flag is `g`")),
            };
            let re = Regex::new(pat).map_err(|e| {
                let msg = e.to_string();
                err(msg.lines().last().unwrap_or("invalid regex").trim())
            })?;
            out.push((re, repl.to_string(), global));
        }
        Ok(RenameRules { rules: out })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `name` with every rule applied in order.
    pub fn apply(&self, name: &str) -> String {
        let mut s = name.to_string();
        for (re, repl, global) in &self.rules {
            s = if *global {
                re.replace_all(&s, repl.as_str()).into_owned()
            } else {
                re.replace(&s, repl.as_str()).into_owned()
            };
        }
        s
    }
}

impl Matcher for RenameRules {
    fn pair(&self, a: &Model, b: &Model, ua: &[usize], ub: &[usize]) -> Vec<Pairing> {
        let open_a: HashMap<&str, usize> = ua
            .iter()
            .map(|&i| (a.tensors()[i].name.as_str(), i))
            .collect();
        ub.iter()
            .filter_map(|&ib| {
                let renamed = self.apply(&b.tensors()[ib].name);
                let ia = *open_a.get(renamed.as_str())?;
                Some(Pairing::new(ia, ib, MatchedBy::RenameRule))
            })
            .collect()
    }
}

/// Pairs an output head present on one side only with the token embedding of the other,
/// which has no head (tied embeddings); the embedding stays paired with its own twin too.
#[derive(Clone, Copy, Debug, Default)]
pub struct TiedEmbeddings;

impl Matcher for TiedEmbeddings {
    fn pair(&self, a: &Model, b: &Model, ua: &[usize], ub: &[usize]) -> Vec<Pairing> {
        let find = |m: &Model, list: &[&str]| list.iter().find_map(|n| m.find(n));
        let (head_a, head_b) = (find(a, names::HEADS), find(b, names::HEADS));
        let tied = |i: (usize, usize)| {
            Pairing::new(i.0, i.1, MatchedBy::TiedEmbeddings).with(Transform::TiedEmbeddings)
        };
        match (head_a, head_b) {
            (Some(h), None) if ua.contains(&h) => find(b, names::EMBEDDINGS)
                .map(|e| vec![tied((h, e))])
                .unwrap_or_default(),
            (None, Some(h)) if ub.contains(&h) => find(a, names::EMBEDDINGS)
                .map(|e| vec![tied((e, h))])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// Pairs each per-expert HF tensor (`model.layers.N.block_sparse_moe.experts.E.w1.weight`,
/// `model.layers.N.mlp.experts.E.gate_proj.weight`) with its slice of the other side's stacked
/// GGUF tensor (`blk.N.ffn_gate_exps.weight`, `[experts, rows, cols]`), with
/// [`Transform::ExpertsSplit`]; the stacked tensor is shared by all its experts.
#[derive(Clone, Copy, Debug, Default)]
pub struct StackedExperts;

impl StackedExperts {
    fn side(per: &Model, stacked: &Model, open: &[usize], per_is_a: bool) -> Vec<Pairing> {
        open.iter()
            .filter_map(|&i| {
                let t = &per.tensors()[i];
                let (name, expert) = names::expert_to_gguf(&t.name)?;
                let j = stacked.find(&name)?;
                let s = &stacked.tensors()[j].shape;
                if s.len() != t.shape.len() + 1 || expert >= s[0] || s[1..] != t.shape[..] {
                    return None;
                }
                let split = Transform::ExpertsSplit {
                    expert,
                    stacked_in_b: per_is_a,
                };
                let (a, b) = if per_is_a { (i, j) } else { (j, i) };
                Some(Pairing::new(a, b, MatchedBy::NameMap).with(split))
            })
            .collect()
    }
}

impl Matcher for StackedExperts {
    fn pair(&self, a: &Model, b: &Model, ua: &[usize], ub: &[usize]) -> Vec<Pairing> {
        let mut out = StackedExperts::side(a, b, ua, true);
        out.extend(StackedExperts::side(b, a, ub, false));
        out
    }
}

/// When to undo the Q/K RoPE permutation (`--qk-unpermute`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QkUnpermute {
    /// For a llama-family GGUF against a model that is not GGUF.
    #[default]
    Auto,
    /// For every GGUF ↔ non-GGUF `attn_q`/`attn_k` pair whose head counts are known.
    On,
    /// Never.
    Off,
}

/// Σ(a − b)² of `pairing` as the plan and stream compare it (its transforms undone); `None`
/// when it is not a float pair or cannot be read.
fn pair_sum_sq(a: &Model, b: &Model, pairing: &Pairing) -> Option<f64> {
    let plan = crate::plan::plan_pair(a, b, 0, pairing);
    if plan.mode != crate::plan::CompareMode::Float {
        return None;
    }
    let mut acc = 0f64;
    crate::stream::PairStream::new(a, b, &plan)
        .for_each_piece(0..plan.region.total(), |piece| {
            let (xa, xb) = piece.f32()?;
            acc += xa
                .iter()
                .zip(xb)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>();
            Ok(())
        })
        .ok()?;
    acc.is_finite().then_some(acc)
}

/// The first pair a probe compares: the GGUF tensor `g` (in B when `gguf_in_b`) paired with a
/// tensor `o` of the other side that is not GGUF-named, for which `want(pair, g, o)` holds; with
/// the GGUF tensor's name.
fn probe_pair<'m>(
    a: &'m Model,
    b: &'m Model,
    matching: &'m Matching,
    gguf_in_b: bool,
    want: impl Fn(&Pairing, &TensorInfo, &TensorInfo) -> bool,
) -> Option<(&'m Pairing, &'m str)> {
    matching.pairs().find_map(|p| {
        let (ta, tb) = (&a.tensors()[p.a], &b.tensors()[p.b]);
        let (g, o) = if gguf_in_b { (tb, ta) } else { (ta, tb) };
        (!names::is_gguf_name(&o.name) && want(p, g, o)).then_some((p, g.name.as_str()))
    })
}

/// For an architecture whose converter habits are unknown (neither side names a family), decides
/// whether GGUF norms are stored as `w + 1` by comparing both readings of the first GGUF ↔
/// non-GGUF `*norm.weight` pair. Returns the decision and a sentence saying what was compared;
/// `None` when there is nothing to probe (or both readings tie).
pub fn probe_norm_plus_one(
    a: &Model,
    b: &Model,
    matching: &Matching,
    fa: &ModelFacts,
    fb: &ModelFacts,
) -> Option<(bool, String)> {
    if fa.is_gguf == fb.is_gguf || pair_family(fa, fb).is_some() {
        return None;
    }
    let (p, name) = probe_pair(a, b, matching, fb.is_gguf, |p, g, _| {
        p.matched_by != MatchedBy::Content && g.name.ends_with("norm.weight")
    })?;
    let folded = p.clone().with(Transform::NormPlusOne {
        folded_in_b: fb.is_gguf,
    });
    let (plain, plus_one) = (pair_sum_sq(a, b, p)?, pair_sum_sq(a, b, &folded)?);
    if plain == plus_one {
        return None;
    }
    let fold = plus_one < plain;
    Some((
        fold,
        format!(
            "norm storage of this architecture is not known: compared {name} as stored and as w + 1 \
             (sum of squared differences {plain:.6e} and {plus_one:.6e}) and {}",
            if fold {
                "compared every *norm.weight as w + 1"
            } else {
                "kept the norms as stored"
            }
        ),
    ))
}

/// For an architecture whose converter habits are unknown (neither side names a family of
/// [`names`]), decides the Q/K row order by comparing both: the first GGUF ↔ non-GGUF
/// `blk.N.attn_q.weight` pair is compared as stored and unpermuted, and the order with the
/// smaller Σ(a − b)² wins. Returns whether the permutation is undone and a sentence saying what
/// was compared; `None` when there is nothing to probe (or both orders tie).
pub fn probe_qk(
    a: &Model,
    b: &Model,
    matching: &Matching,
    fa: &ModelFacts,
    fb: &ModelFacts,
) -> Option<(bool, String)> {
    if fa.is_gguf == fb.is_gguf || pair_family(fa, fb).is_some() {
        return None;
    }
    let heads = fa.head_count.or(fb.head_count)?;
    let (p, name) = probe_pair(a, b, matching, fb.is_gguf, |p, g, _| {
        let (ta, tb) = (&a.tensors()[p.a], &b.tensors()[p.b]);
        g.name.ends_with(".attn_q.weight")
            && g.name.starts_with("blk.")
            && crate::plan::qk_map(heads, fb.is_gguf, &ta.shape, &tb.shape).is_some()
    })?;
    let permuted = p.clone().with(Transform::UnpermutedQk {
        heads,
        permuted_in_b: fb.is_gguf,
    });
    let (plain, unpermuted) = (pair_sum_sq(a, b, p)?, pair_sum_sq(a, b, &permuted)?);
    if plain == unpermuted {
        return None;
    }
    let undo = unpermuted < plain;
    let arch = [fa, fb]
        .iter()
        .find_map(|f| f.arch.clone())
        .unwrap_or_else(|| "unknown".into());
    Some((
        undo,
        format!(
            "Q/K row order of architecture `{arch}` is not known: compared both orders of {name} \
             (sum of squared differences {plain:.6e} as stored, {unpermuted:.6e} unpermuted) and {}",
            if undo {
                "undid the RoPE permutation of every attn_q/attn_k"
            } else {
                "kept the rows as stored"
            }
        ),
    ))
}

/// Adds the transforms of each GGUF ↔ non-GGUF pair of `matching`: `dims_reversed` (rank ≥ 2),
/// `unpermuted_qk` (llama family, or `--qk-unpermute on`), `norm_plus_one` (gemma family norms,
/// or as `norm_plus_one` says when it is `Some`).
/// Pairs found by content get only `dims_reversed`, and a non-GGUF tensor already named as in
/// GGUF is taken to be in the converter's layout (no `unpermuted_qk` unless `On`, no
/// `norm_plus_one`).
pub fn annotate(
    matching: &mut Matching,
    a: &Model,
    b: &Model,
    fa: &ModelFacts,
    fb: &ModelFacts,
    qk: QkUnpermute,
    norm_plus_one: Option<bool>,
) {
    if fa.is_gguf == fb.is_gguf {
        return;
    }
    let family = pair_family(fa, fb);
    let fold_norms = norm_plus_one.unwrap_or(family.is_some_and(Family::folds_norm_plus_one));
    let gguf_facts = if fb.is_gguf { fb } else { fa };
    let other_facts = if fb.is_gguf { fa } else { fb };
    let heads = gguf_facts.head_count.or(other_facts.head_count);
    let kv = gguf_facts
        .head_count_kv
        .or(other_facts.head_count_kv)
        .or(heads);
    let permute = match qk {
        QkUnpermute::Off => false,
        QkUnpermute::On => true,
        QkUnpermute::Auto => family.is_some_and(Family::permutes_qk),
    };
    for e in &mut matching.entries {
        let Entry::Paired(p) = e else { continue };
        let (ta, tb) = (&a.tensors()[p.a], &b.tensors()[p.b]);
        let gguf_name = if fb.is_gguf { &tb.name } else { &ta.name };
        let other_name = if fb.is_gguf { &ta.name } else { &tb.name };
        if ta.shape.len() >= 2 {
            *p = p.clone().with(Transform::DimsReversed);
        }
        // Equal bytes need nothing undone; a non-GGUF file already spelled with GGUF names
        // (a dump of a GGUF) is in the converter's layout too, unless `--qk-unpermute on`.
        if p.matched_by == MatchedBy::Content {
            continue;
        }
        let converted_layout = names::is_gguf_name(other_name);
        let base = gguf_name.strip_suffix(".weight");
        let n_heads = match base.and_then(|s| s.rsplit_once('.')).map(|(_, m)| m) {
            Some("attn_q") => heads,
            Some("attn_k") => kv,
            _ => None,
        };
        let permute_here = match qk {
            QkUnpermute::On => true,
            _ => permute && !converted_layout,
        };
        if let (true, Some(h)) = (permute_here && gguf_name.starts_with("blk."), n_heads) {
            if crate::plan::qk_map(h, fb.is_gguf, &ta.shape, &tb.shape).is_some() {
                *p = p.clone().with(Transform::UnpermutedQk {
                    heads: h,
                    permuted_in_b: fb.is_gguf,
                });
            }
        }
        if fold_norms && !converted_layout && gguf_name.ends_with("norm.weight") {
            *p = p.clone().with(Transform::NormPlusOne {
                folded_in_b: fb.is_gguf,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, ContentRenames, Filter};
    use crate::testutil::model;

    #[test]
    fn auto_map_pairs_hf_with_gguf_names_either_way() {
        let hf = model(&[
            ("model.embed_tokens.weight", &[1.0]),
            ("model.layers.0.self_attn.q_proj.weight", &[2.0]),
            ("model.layers.0.mlp.weird.weight", &[3.0]),
        ]);
        let gg = model(&[
            ("blk.0.attn_q.weight", &[2.0]),
            ("token_embd.weight", &[1.0]),
        ]);
        let map = NameMap::Auto(Some(Family::Llama));
        for (a, b, flip) in [(&hf, &gg, false), (&gg, &hf, true)] {
            let m = match_tensors(a, b, &Filter::default(), &[&map]);
            let mut pairs: Vec<(usize, usize)> = m.pairs().map(|p| (p.a, p.b)).collect();
            if flip {
                pairs = pairs.into_iter().map(|(x, y)| (y, x)).collect();
            }
            pairs.sort();
            assert_eq!(pairs, vec![(0, 1), (1, 0)]);
            assert!(m.pairs().all(|p| p.matched_by == MatchedBy::NameMap));
        }
    }

    #[test]
    fn user_maps_and_rename_rules() {
        let a = model(&[("enc.w", &[1.0]), ("dec.w", &[2.0])]);
        let b = model(&[("encoder.w", &[1.0]), ("decoder.w", &[2.0])]);
        let json = NameMap::parse("m.json", r#"{"enc.w": "encoder.w"}"#, false).unwrap();
        let m = match_tensors(&a, &b, &Filter::default(), &[&json]);
        assert_eq!(m.pairs().count(), 1);
        let toml = NameMap::parse(
            "m.toml",
            "# map\n\"enc.w\" = \"encoder.w\"\ndec_w = \"x\" # none\n",
            true,
        )
        .unwrap();
        let NameMap::User(t) = &toml else {
            panic!("a user map")
        };
        assert_eq!(t.get("enc.w").map(String::as_str), Some("encoder.w"));
        assert_eq!(t.get("dec_w").map(String::as_str), Some("x"));
        assert!(NameMap::parse("m.toml", "[section]\n", true).is_err());
        assert!(NameMap::parse("m.json", "[1]", false).is_err());
        let rules = RenameRules::parse(&["s/^(enc|dec)oder\\./${1}./".into()]).unwrap();
        assert_eq!(rules.apply("decoder.w"), "dec.w");
        let m = match_tensors(&a, &b, &Filter::default(), &[&rules]);
        assert_eq!(m.pairs().count(), 2);
        assert!(m.pairs().all(|p| p.matched_by == MatchedBy::RenameRule));
        for bad in ["x/a/b/", "s/a/b", "s/(/b/", "s/a/b/q"] {
            assert!(RenameRules::parse(&[bad.into()]).is_err(), "{bad}");
        }
        let g = RenameRules::parse(&["s|\\.|_|g".into()]).unwrap();
        assert_eq!(g.apply("a.b.c"), "a_b_c");
    }

    #[test]
    fn experts_pair_with_their_slice_of_the_stacked_tensor() {
        let per = model(&[
            ("model.layers.0.mlp.experts.0.up_proj.weight", &[1.0, 2.0]),
            ("model.layers.0.mlp.experts.1.up_proj.weight", &[3.0, 4.0]),
        ]);
        let stacked = crate::testutil::model_typed(&[(
            "blk.0.ffn_up_exps.weight",
            "F32",
            &[2, 2],
            [1.0f32, 2.0, 3.0, 4.5]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        )]);
        for (a, b, per_is_a) in [(&per, &stacked, true), (&stacked, &per, false)] {
            let m = match_tensors(a, b, &Filter::default(), &[&StackedExperts]);
            assert_eq!(m.pairs().count(), 2);
            assert!(m.entries.iter().all(|e| matches!(e, Entry::Paired(_))));
            let r = crate::diff(a, b, &crate::Config::default()).unwrap();
            assert_eq!(
                r.summary.added + r.summary.removed + r.summary.shape_changed,
                0
            );
            let (e0, e1) = (&r.tensors[0], &r.tensors[1]);
            assert_eq!(e0.transforms, ["experts_split"]);
            assert_eq!(e0.identical, Some(true), "expert 0");
            assert_eq!(e1.identical, Some(false), "expert 1");
            let m1 = e1.metrics.as_ref().unwrap();
            assert_eq!(m1.max_abs, 0.5);
            // In A's coordinates: the per-expert [2] or the stacked [2, 2].
            let want: Vec<u64> = if per_is_a { vec![1] } else { vec![1, 1] };
            assert_eq!(m1.max_abs_index, want);
        }
    }

    #[test]
    fn gguf_named_dumps_are_taken_as_converted() {
        let gg =
            crate::testutil::model_typed(&[("blk.0.attn_q.weight", "F32", &[4, 2], vec![0; 32])]);
        let hf = crate::testutil::model_typed(&[(
            "model.layers.0.self_attn.q_proj.weight",
            "F32",
            &[4, 2],
            vec![0; 32],
        )]);
        let facts = |gguf| ModelFacts {
            arch: Some("llama".into()),
            head_count: Some(2),
            head_count_kv: Some(2),
            is_gguf: gguf,
        };
        let map = NameMap::Auto(Some(Family::Llama));
        for (other, qk, want) in [
            (&hf, QkUnpermute::Auto, true),
            (&hf, QkUnpermute::Off, false),
            (&gg, QkUnpermute::Auto, false),
            (&gg, QkUnpermute::On, true),
        ] {
            let mut m = match_tensors(other, &gg, &Filter::default(), &[&map]);
            annotate(&mut m, other, &gg, &facts(false), &facts(true), qk, None);
            let p = m.pairs().next().unwrap();
            let has = p.transforms.iter().any(|t| {
                matches!(
                    t,
                    Transform::UnpermutedQk {
                        heads: 2,
                        permuted_in_b: true
                    }
                )
            });
            assert_eq!(has, want, "{qk:?} {}", other.tensors()[0].name);
            assert!(p.transforms.contains(&Transform::DimsReversed));
        }
    }

    #[test]
    fn tied_heads_pair_with_the_embedding() {
        let untied = model(&[
            ("token_embd.weight", &[1.0, 2.0]),
            ("output.weight", &[1.0, 2.5]),
        ]);
        let tied = model(&[("token_embd.weight", &[1.0, 2.0])]);
        let m = match_tensors(
            &untied,
            &tied,
            &Filter::default(),
            &[&ContentRenames, &TiedEmbeddings],
        );
        assert!(m.entries.iter().all(|e| matches!(e, Entry::Paired(_))));
        let head = m.pairs().find(|p| p.a == 1).unwrap();
        assert_eq!(
            (head.b, head.transforms.clone()),
            (0, vec![Transform::TiedEmbeddings])
        );
    }
}
