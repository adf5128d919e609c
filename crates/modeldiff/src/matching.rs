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

/// How a pair was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchedBy {
    /// Both tensors have the same name.
    ExactName,
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
}

impl Pairing {
    /// A pair found by `matched_by`.
    pub fn new(a: usize, b: usize, matched_by: MatchedBy) -> Pairing {
        Pairing { a, b, matched_by }
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

/// Runs the match stage: filter, exact names, then `matchers` in order on what is left.
pub fn match_tensors(a: &Model, b: &Model, filter: &Filter, matchers: &[&dyn Matcher]) -> Matching {
    let selected = |m: &Model| -> Vec<usize> {
        (0..m.tensors().len())
            .filter(|&i| filter.selects(&m.tensors()[i].name))
            .collect()
    };
    let (sel_a, sel_b) = (selected(a), selected(b));
    let mut partner_of_a: Vec<Option<Pairing>> = vec![None; a.tensors().len()];
    let mut paired_b = vec![false; b.tensors().len()];
    for matcher in std::iter::once(&ExactNames as &dyn Matcher).chain(matchers.iter().copied()) {
        let open_a: Vec<usize> = sel_a
            .iter()
            .copied()
            .filter(|&i| partner_of_a[i].is_none())
            .collect();
        let open_b: Vec<usize> = sel_b.iter().copied().filter(|&i| !paired_b[i]).collect();
        if open_a.is_empty() || open_b.is_empty() {
            break;
        }
        let (set_a, set_b): (HashSet<usize>, HashSet<usize>) = (
            open_a.iter().copied().collect(),
            open_b.iter().copied().collect(),
        );
        for p in matcher.pair(a, b, &open_a, &open_b) {
            let fresh = set_a.contains(&p.a)
                && set_b.contains(&p.b)
                && partner_of_a[p.a].is_none()
                && !paired_b[p.b];
            if fresh {
                let ia = p.a;
                paired_b[p.b] = true;
                partner_of_a[ia] = Some(p);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::model;

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
