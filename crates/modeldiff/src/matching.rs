//! Stage 1, *match*: which tensor of A goes with which tensor of B.
//!
//! [`match_tensors`] applies the name [`Filter`] to both models, pairs tensors with exact
//! names first, then offers what is left to each further [`Matcher`] in turn (the seam where
//! name maps, rename detection and other pairings plug in), and lists the result as
//! [`Entry`]s: A's tensors in file order (paired or only in A), then the tensors only in B in
//! B's order.

use std::collections::HashSet;
use std::fmt::Debug;

use modeldiff_formats::Model;
use regex::Regex;

/// Which tensor names take part in a diff.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Filter {
    /// Keeps names matching any of `include` (all names when it is empty) and none of
    /// `exclude`.
    pub fn new(include: Vec<Regex>, exclude: Vec<Regex>) -> Filter {
        Filter { include, exclude }
    }

    /// Whether tensor `name` takes part.
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

/// Compiles a name pattern for a [`Filter`]. The error is the regex crate's reason on one line
/// (its own message draws a caret under the pattern on several lines), for callers to prefix
/// with the option and the pattern.
///
/// ```
/// assert!(modeldiff::matching::compile_pattern(r"layers\.\d+").is_ok());
/// assert_eq!(modeldiff::matching::compile_pattern("(").unwrap_err(), "unclosed group");
/// ```
pub fn compile_pattern(pattern: &str) -> std::result::Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let full = e.to_string();
        full.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or_else(|| full.lines().last().unwrap_or("invalid"))
            .trim()
            .to_string()
    })
}

/// How a pair was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchedBy {
    /// Both tensors have the same name.
    ExactName,
    /// A name map (the built-in HF ↔ GGUF tables or a user's map file) pairs the names.
    NameMap,
    /// A `--rename` rule turned B's name into A's.
    RenameRule,
    /// Same dtype, shape and stored bytes: a rename detected by content (`git diff -M`).
    Content,
    /// The output head of one side paired with the (tied) token embedding of the other.
    TiedEmbeddings,
}

impl MatchedBy {
    /// The JSON spelling (`exact_name`, `name_map`, `rename_rule`, `content`, `tied_embeddings`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::ExactName => "exact_name",
            MatchedBy::NameMap => "name_map",
            MatchedBy::RenameRule => "rename_rule",
            MatchedBy::Content => "content",
            MatchedBy::TiedEmbeddings => "tied_embeddings",
        }
    }
}

/// A converter transform undone before a pair is compared (or a fact about how it paired).
///
/// Reported per tensor by [`Transform::as_str`], a fixed vocabulary: `renamed`,
/// `dims_reversed`, `unpermuted_qk`, `norm_plus_one`, `tied_embeddings`, `experts_split`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transform {
    /// Paired by content under another name.
    Renamed,
    /// One side is GGUF, whose ggml dimension order the reader reversed to row-major.
    DimsReversed,
    /// The llama.cpp converter's Q/K RoPE row permutation
    /// (`w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2)`), undone by moving whole rows.
    UnpermutedQk {
        /// Heads of the permutation (`head_count` for Q, `head_count_kv` for K).
        heads: u64,
        /// Whether B holds the permuted (GGUF) order; else A does.
        permuted_in_b: bool,
    },
    /// Gemma-style norms stored as `w + 1` on one side: the other side is compared as `w + 1`.
    NormPlusOne {
        /// Whether B holds the folded (`w + 1`) values; else A does.
        folded_in_b: bool,
    },
    /// An output head compared against the token embedding it is tied to.
    TiedEmbeddings,
    /// One expert of a MoE layer against its slice of the experts stacked in one 3-D tensor
    /// (GGUF `ffn_*_exps`).
    ExpertsSplit {
        /// The expert: index into the stacked tensor's first dimension.
        expert: u64,
        /// Whether B holds the stacked tensor; else A does.
        stacked_in_b: bool,
    },
}

impl Transform {
    /// The report's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::Renamed => "renamed",
            Transform::DimsReversed => "dims_reversed",
            Transform::UnpermutedQk { .. } => "unpermuted_qk",
            Transform::NormPlusOne { .. } => "norm_plus_one",
            Transform::TiedEmbeddings => "tied_embeddings",
            Transform::ExpertsSplit { .. } => "experts_split",
        }
    }
}

/// One tensor of A paired with one tensor of B (indices into `Model::tensors()`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pairing {
    /// Tensor index in A.
    pub a: usize,
    /// Tensor index in B.
    pub b: usize,
    /// How the pair was found.
    pub matched_by: MatchedBy,
    /// Transforms undone before comparing, in the order found.
    pub transforms: Vec<Transform>,
}

impl Pairing {
    /// A pair found by `matched_by`, with no transforms.
    pub fn new(a: usize, b: usize, matched_by: MatchedBy) -> Pairing {
        Pairing {
            a,
            b,
            matched_by,
            transforms: Vec::new(),
        }
    }

    /// The pair with `t` added to its transforms.
    pub fn with(mut self, t: Transform) -> Pairing {
        if !self.transforms.contains(&t) {
            self.transforms.push(t);
        }
        self
    }

    /// Whether a tied-embedding pair.
    pub fn is_tied(&self) -> bool {
        self.matched_by == MatchedBy::TiedEmbeddings
    }

    /// Whether the pair may reuse a tensor that is already paired: a tied embedding, or one
    /// expert's slice of a stacked experts tensor.
    pub fn may_reuse(&self) -> bool {
        self.is_tied()
            || self
                .transforms
                .iter()
                .any(|t| matches!(t, Transform::ExpertsSplit { .. }))
    }
}

/// A way of pairing the tensors of A with those of B.
///
/// Matchers run in order, each on the tensors the earlier ones left unpaired; exact names
/// always run first, so an exact match always wins.
pub trait Matcher: Debug + Send + Sync {
    /// Proposes pairs among `unpaired_a` and `unpaired_b` (tensor indices that passed the
    /// filter and are not yet paired). A proposal that reuses an index already paired is
    /// ignored.
    fn pair(
        &self,
        a: &Model,
        b: &Model,
        unpaired_a: &[usize],
        unpaired_b: &[usize],
    ) -> Vec<Pairing>;
}

/// Pairs tensors whose names are equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExactNames;

impl Matcher for ExactNames {
    fn pair(
        &self,
        a: &Model,
        b: &Model,
        unpaired_a: &[usize],
        unpaired_b: &[usize],
    ) -> Vec<Pairing> {
        let open_b: HashSet<usize> = unpaired_b.iter().copied().collect();
        unpaired_a
            .iter()
            .filter_map(|&ia| {
                let ib = b.find(&a.tensors()[ia].name)?;
                open_b
                    .contains(&ib)
                    .then(|| Pairing::new(ia, ib, MatchedBy::ExactName))
            })
            .collect()
    }
}

/// One line of the structural diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A tensor of A paired with a tensor of B.
    Paired(Pairing),
    /// A tensor only in A (removed).
    OnlyA(usize),
    /// A tensor only in B (added).
    OnlyB(usize),
}

/// The outcome of the match stage.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Matching {
    /// A's tensors in file order (paired or only in A), then those only in B in B's order.
    pub entries: Vec<Entry>,
    /// Tensors of A that passed the filter.
    pub selected_a: u64,
    /// Tensors of B that passed the filter.
    pub selected_b: u64,
    /// What the match stage decided that a reader of the report should know, about model A
    /// (reported in its `warnings`).
    pub warnings_a: Vec<String>,
    /// The same, about model B.
    pub warnings_b: Vec<String>,
}

impl Matching {
    /// The paired entries, in entry order.
    pub fn pairs(&self) -> impl Iterator<Item = &Pairing> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Paired(p) => Some(p),
            _ => None,
        })
    }
}

/// Pairs a tensor only in A with a tensor only in B when both have the same dtype, shape and
/// stored bytes (BLAKE3 content digest, [`crate::payloads::tensor_digest`]), like
/// `git diff -M`; the pair carries [`Transform::Renamed`]. Several candidates with the same
/// content pair up in file order.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContentRenames;

impl Matcher for ContentRenames {
    fn pair(
        &self,
        a: &Model,
        b: &Model,
        unpaired_a: &[usize],
        unpaired_b: &[usize],
    ) -> Vec<Pairing> {
        use rayon::prelude::*;
        type Key = (String, Vec<u64>);
        let key = |m: &Model, i: usize| -> Key {
            let t = &m.tensors()[i];
            (t.dtype.name(), t.shape.clone())
        };
        let keys_a: HashSet<Key> = unpaired_a.iter().map(|&i| key(a, i)).collect();
        let keys_b: HashSet<Key> = unpaired_b.iter().map(|&i| key(b, i)).collect();
        // Only tensors with a candidate of the same dtype and shape on the other side are hashed.
        let digests = |m: &Model, open: &[usize], other: &HashSet<Key>| {
            open.par_iter()
                .filter(|&&i| other.contains(&key(m, i)))
                .map(|&i| (i, key(m, i), crate::payloads::tensor_digest(m, i)))
                .collect::<Vec<_>>()
        };
        let da = digests(a, unpaired_a, &keys_b);
        let db = digests(b, unpaired_b, &keys_a);
        let mut pool: std::collections::HashMap<(Key, String), std::collections::VecDeque<usize>> =
            std::collections::HashMap::new();
        for (ib, k, d) in db {
            pool.entry((k, d.to_string())).or_default().push_back(ib);
        }
        da.into_iter()
            .filter_map(|(ia, k, d)| {
                let ib = pool.get_mut(&(k, d.to_string()))?.pop_front()?;
                Some(Pairing::new(ia, ib, MatchedBy::Content).with(Transform::Renamed))
            })
            .collect()
    }
}

/// Runs the match stage: filter, exact names, then `matchers` in order on what is left.
///
/// A tied-embedding or split-experts pairing ([`Pairing::may_reuse`]) may reuse a tensor
/// already paired on one side (the embedding, the stacked experts); such a pair whose A tensor
/// is already paired is listed after A's tensors, before those only in B.
pub fn match_tensors(a: &Model, b: &Model, filter: &Filter, matchers: &[&dyn Matcher]) -> Matching {
    let selected = |m: &Model| -> Vec<usize> {
        (0..m.tensors().len())
            .filter(|&i| filter.selects(&m.tensors()[i].name))
            .collect()
    };
    let (sel_a, sel_b) = (selected(a), selected(b));
    let (all_a, all_b): (HashSet<usize>, HashSet<usize>) = (
        sel_a.iter().copied().collect(),
        sel_b.iter().copied().collect(),
    );
    let mut partner_of_a: Vec<Option<Pairing>> = vec![None; a.tensors().len()];
    let mut paired_b = vec![false; b.tensors().len()];
    let mut extra: Vec<Pairing> = Vec::new();
    for matcher in std::iter::once(&ExactNames as &dyn Matcher).chain(matchers.iter().copied()) {
        let open_a: Vec<usize> = sel_a
            .iter()
            .copied()
            .filter(|&i| partner_of_a[i].is_none())
            .collect();
        let open_b: Vec<usize> = sel_b.iter().copied().filter(|&i| !paired_b[i]).collect();
        if open_a.is_empty() && open_b.is_empty() {
            break;
        }
        let (set_a, set_b): (HashSet<usize>, HashSet<usize>) = (
            open_a.iter().copied().collect(),
            open_b.iter().copied().collect(),
        );
        for p in matcher.pair(a, b, &open_a, &open_b) {
            let a_open = set_a.contains(&p.a) && partner_of_a[p.a].is_none();
            let b_open = set_b.contains(&p.b) && !paired_b[p.b];
            if a_open && (b_open || (p.may_reuse() && all_b.contains(&p.b))) {
                let ia = p.a;
                paired_b[p.b] = true;
                partner_of_a[ia] = Some(p);
            } else if b_open && p.may_reuse() && all_a.contains(&p.a) {
                paired_b[p.b] = true;
                extra.push(p);
            }
        }
    }
    let mut entries: Vec<Entry> = sel_a
        .iter()
        .map(|&ia| match partner_of_a[ia].take() {
            Some(p) => Entry::Paired(p),
            None => Entry::OnlyA(ia),
        })
        .collect();
    entries.extend(extra.into_iter().map(Entry::Paired));
    entries.extend(
        sel_b
            .iter()
            .filter(|&&ib| !paired_b[ib])
            .map(|&ib| Entry::OnlyB(ib)),
    );
    Matching {
        entries,
        selected_a: sel_a.len() as u64,
        selected_b: sel_b.len() as u64,
        ..Matching::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{model, model_typed};

    #[test]
    fn exact_names_pair_in_a_order_then_b_only() {
        let a = model(&[("x", &[1.0]), ("y", &[2.0]), ("z", &[3.0])]);
        let b = model(&[("w", &[0.0]), ("z", &[3.0]), ("x", &[1.0])]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        assert_eq!(
            m.entries,
            vec![
                Entry::Paired(Pairing::new(0, 2, MatchedBy::ExactName)),
                Entry::OnlyA(1),
                Entry::Paired(Pairing::new(2, 1, MatchedBy::ExactName)),
                Entry::OnlyB(0),
            ]
        );
        assert_eq!((m.selected_a, m.selected_b), (3, 3));
        assert_eq!(m.pairs().count(), 2);
    }

    #[test]
    fn filters_apply_to_both_sides() {
        let a = model(&[("keep.a", &[1.0]), ("drop.a", &[2.0])]);
        let b = model(&[("keep.a", &[1.0]), ("keep.b", &[2.0])]);
        let f = Filter::new(
            vec![Regex::new("^keep").unwrap(), Regex::new("drop").unwrap()],
            vec![Regex::new("drop").unwrap()],
        );
        let m = match_tensors(&a, &b, &f, &[]);
        assert_eq!(
            m.entries,
            vec![
                Entry::Paired(Pairing::new(0, 0, MatchedBy::ExactName)),
                Entry::OnlyB(1)
            ]
        );
        assert_eq!((m.selected_a, m.selected_b), (1, 2));
    }

    #[test]
    fn content_renames_pair_equal_bytes_only() {
        let a = model(&[
            ("old", &[1.0, 2.0]),
            ("gone", &[5.0, 6.0]),
            ("same", &[0.0]),
        ]);
        let b = model(&[
            ("same", &[0.0]),
            ("new", &[1.0, 2.0]),
            ("other", &[5.0, 6.5]),
        ]);
        let m = match_tensors(&a, &b, &Filter::default(), &[&ContentRenames]);
        assert_eq!(
            m.entries,
            vec![
                Entry::Paired(Pairing::new(0, 1, MatchedBy::Content).with(Transform::Renamed)),
                Entry::OnlyA(1),
                Entry::Paired(Pairing::new(2, 0, MatchedBy::ExactName)),
                Entry::OnlyB(2),
            ]
        );
        // Without the matcher: removed + added.
        let plain = match_tensors(&a, &b, &Filter::default(), &[]);
        assert_eq!(plain.pairs().count(), 1);
    }

    #[test]
    fn content_renames_need_the_same_dtype_and_shape() {
        let a = model_typed(&[("x", "F32", &[2, 2], vec![0; 16])]);
        let b = model_typed(&[
            ("y", "F32", &[4], vec![0; 16]),
            ("z", "I32", &[2, 2], vec![0; 16]),
        ]);
        let m = match_tensors(&a, &b, &Filter::default(), &[&ContentRenames]);
        assert_eq!(m.pairs().count(), 0);
    }

    /// Pairs A's `head` with B's `emb`, reusing it.
    #[derive(Debug)]
    struct Tie;

    impl Matcher for Tie {
        fn pair(&self, a: &Model, b: &Model, _: &[usize], _: &[usize]) -> Vec<Pairing> {
            match (a.find("head"), b.find("emb"), a.find("emb"), b.find("head")) {
                (Some(h), Some(e), _, _) => vec![Pairing::new(h, e, MatchedBy::TiedEmbeddings)],
                (_, _, Some(e), Some(h)) => vec![Pairing::new(e, h, MatchedBy::TiedEmbeddings)],
                _ => vec![],
            }
        }
    }

    #[test]
    fn tied_pairs_may_reuse_the_embedding_on_either_side() {
        let with_head = model(&[("emb", &[1.0]), ("head", &[1.0])]);
        let tied = model(&[("emb", &[1.0])]);
        let m = match_tensors(&with_head, &tied, &Filter::default(), &[&Tie]);
        assert_eq!(m.pairs().count(), 2);
        assert!(m.entries.iter().all(|e| matches!(e, Entry::Paired(_))));
        let m = match_tensors(&tied, &with_head, &Filter::default(), &[&Tie]);
        assert_eq!(
            m.entries,
            vec![
                Entry::Paired(Pairing::new(0, 0, MatchedBy::ExactName)),
                Entry::Paired(Pairing::new(0, 1, MatchedBy::TiedEmbeddings)),
            ]
        );
    }

    /// Pairs every unpaired A tensor with the first unpaired B tensor, even reused ones.
    #[derive(Debug)]
    struct Greedy;

    impl Matcher for Greedy {
        fn pair(&self, _: &Model, _: &Model, ua: &[usize], ub: &[usize]) -> Vec<Pairing> {
            ua.iter()
                .map(|&a| Pairing::new(a, ub[0], MatchedBy::ExactName))
                .collect()
        }
    }

    #[test]
    fn later_matchers_see_only_leftovers_and_cannot_reuse_an_index() {
        let a = model(&[("x", &[1.0]), ("p", &[2.0]), ("q", &[3.0])]);
        let b = model(&[("x", &[1.0]), ("r", &[2.0]), ("s", &[3.0])]);
        let m = match_tensors(&a, &b, &Filter::default(), &[&Greedy]);
        // x = x by name; Greedy proposes p→r and q→r: only the first is kept.
        assert_eq!(
            m.entries,
            vec![
                Entry::Paired(Pairing::new(0, 0, MatchedBy::ExactName)),
                Entry::Paired(Pairing::new(1, 1, MatchedBy::ExactName)),
                Entry::OnlyA(2),
                Entry::OnlyB(2),
            ]
        );
    }
}
