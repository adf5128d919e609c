//! Stage 2, *plan*: how each matched pair is compared, over which region, in which jobs.
//!
//! [`plan_pair`] decides a pair's [`CompareMode`] (float metrics, exact integers, raw bytes, or
//! not comparable, with the reason) and its compared [`Region`]; [`plan`] does this for every
//! pair of a [`Matching`] and cuts the comparable ones into [`Job`]s of at most `chunk_elems`
//! compared elements, the unit of parallel work.

use std::ops::Range;

use modeldiff_formats::{Model, ValueKind};

use crate::matching::{Entry, Matching, Pairing, Transform};
use crate::region::Region;

/// Which model a fact is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first ("old") model.
    A,
    /// The second ("new") model.
    B,
}

/// Why a matched pair gets no numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotComparable {
    /// The shapes have different ranks: there is no common region.
    RankChanged,
    /// A dtype without numeric decoding, paired with a different dtype, shape or byte order,
    /// so not even the raw bytes can be compared.
    OpaqueMismatch,
    /// One side's tensor cannot be decoded (the message names file, tensor and reason).
    Undecodable {
        /// The side that cannot be decoded (A when both cannot).
        side: Side,
        /// The reader's one-line explanation.
        reason: String,
    },
}

/// How a matched pair is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompareMode {
    /// Decoded to f32: float metrics ([`modeldiff_kernels::DiffStats`]).
    Float,
    /// Integer or boolean on both sides: decoded exactly, mismatches counted.
    ExactInt,
    /// An undecodable dtype, the same on both sides with the same shape and byte order:
    /// raw bytes compared for equality.
    Bytes,
    /// Nothing is compared.
    NotComparable(NotComparable),
}

/// The plan for one matched pair.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PairPlan {
    /// Index of the pair's [`Entry`] in [`Matching::entries`].
    pub entry: usize,
    /// The tensors paired.
    pub pairing: Pairing,
    /// How they are compared.
    pub mode: CompareMode,
    /// The elements compared (all of them, or the overlap of two shapes of equal rank).
    pub region: Region,
    /// Same dtype, byte order and shape: equal stored bytes prove equal values.
    pub same_encoding: bool,
    /// Whether the shapes compared are equal (after a stacked experts tensor is cut to one
    /// expert's slice): the pair's `change` is then `unchanged`.
    pub shapes_equal: bool,
    /// How B's rows and either side's values are rearranged before comparing (the
    /// pairing's transforms, undone).
    pub align: Align,
}

/// Which row of B is compared with row `r` of A: the inverse of a converter's row
/// permutation, applied by moving whole rows (so block-quantized rows stay whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowMap {
    /// The llama.cpp converter's Q/K RoPE permutation: with `hd = rows / heads` and
    /// `half = hd / 2`, HF row `h·hd + j·half + i` is GGUF row `h·hd + 2i + j`.
    QkRope {
        /// Heads of the permutation.
        heads: u64,
        /// Rows of the matrix (a multiple of `2 · heads`).
        rows: u64,
        /// Whether B holds the permuted (GGUF) order; else A does.
        permuted_in_b: bool,
    },
}

impl RowMap {
    /// The row of B compared with row `r` of A.
    pub fn b_row(&self, r: u64) -> u64 {
        match *self {
            RowMap::QkRope {
                heads,
                rows,
                permuted_in_b,
            } => {
                let hd = rows / heads;
                let half = hd / 2;
                let (h, rem) = (r / hd, r % hd);
                if permuted_in_b {
                    let (j, i) = (rem / half, rem % half);
                    h * hd + 2 * i + j
                } else {
                    let (i, j) = (rem / 2, rem % 2);
                    h * hd + j * half + i
                }
            }
        }
    }
}

/// The rearrangement of a pair before comparison: B's rows and constants added to the values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Align {
    /// The row of B for each row of A (`None`: the same row); only on equal 2-D shapes.
    pub rows: Option<RowMap>,
    /// Row length in elements when `rows` is set.
    pub cols: u64,
    /// Added to A's values before comparing (a `+1`-folded norm on B's side).
    pub add_a: f32,
    /// Added to B's values before comparing.
    pub add_b: f32,
    /// Flat element offset added to A's indices (A holds stacked experts: the expert's slice).
    pub base_a: u64,
    /// Flat element offset added to B's indices (B holds stacked experts).
    pub base_b: u64,
}

impl Align {
    /// The alignment `pairing`'s transforms call for, for tensors of shapes `sa` and `sb`;
    /// a Q/K permutation that does not fit the shapes (unequal, not 2-D, rows not a multiple
    /// of `2 · heads`) is left out.
    pub fn of(pairing: &Pairing, sa: &[u64], sb: &[u64]) -> Align {
        let mut out = Align::default();
        for t in &pairing.transforms {
            match *t {
                Transform::UnpermutedQk {
                    heads,
                    permuted_in_b,
                } => {
                    if let Some(map) = qk_map(heads, permuted_in_b, sa, sb) {
                        out.rows = Some(map);
                        out.cols = sa[1];
                    }
                }
                Transform::ExpertsSplit {
                    expert,
                    stacked_in_b,
                } => {
                    let stacked = if stacked_in_b { sb } else { sa };
                    let per: u64 = stacked.iter().skip(1).product();
                    if stacked_in_b {
                        out.base_b = expert * per;
                    } else {
                        out.base_a = expert * per;
                    }
                }
                Transform::NormPlusOne { folded_in_b } => {
                    if folded_in_b {
                        out.add_a = 1.0;
                    } else {
                        out.add_b = 1.0;
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Whether values or rows move, so equal stored bytes of a piece prove nothing about
    /// the values compared unless they are re-read row by row.
    pub fn shifts_values(&self) -> bool {
        self.add_a != 0.0 || self.add_b != 0.0
    }
}

/// The Q/K row map for shapes `sa`, `sb`, when it fits them.
pub fn qk_map(heads: u64, permuted_in_b: bool, sa: &[u64], sb: &[u64]) -> Option<RowMap> {
    let fits =
        sa == sb && sa.len() == 2 && heads > 0 && sa[0].is_multiple_of(2 * heads) && sa[0] > 0;
    fits.then_some(RowMap::QkRope {
        heads,
        rows: sa[0],
        permuted_in_b,
    })
}

/// One unit of parallel work: compared elements `elems` of pair `pair` (an index into
/// [`Plan::pairs`]). Byte-mode pairs have one job covering the whole tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Job {
    /// Index into [`Plan::pairs`].
    pub pair: usize,
    /// Indices into the pair's compared region (row-major over the region).
    pub elems: Range<u64>,
}

/// The outcome of the plan stage.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Plan {
    /// One plan per paired entry, in entry order.
    pub pairs: Vec<PairPlan>,
    /// The jobs, grouped by pair in pair order; results are merged in this order.
    pub jobs: Vec<Job>,
    pair_of_entry: Vec<Option<usize>>,
}

impl Plan {
    /// The index in [`Plan::pairs`] of entry `entry` of the matching, if it is a pair.
    pub fn pair_index(&self, entry: usize) -> Option<usize> {
        self.pair_of_entry.get(entry).copied().flatten()
    }

    /// The plan of entry `entry` of the matching, if it is a pair.
    pub fn pair_of_entry(&self, entry: usize) -> Option<&PairPlan> {
        self.pair_index(entry).map(|p| &self.pairs[p])
    }
}

/// Decides how the tensors of `pairing` are compared.
pub fn plan_pair(a: &Model, b: &Model, entry: usize, pairing: &Pairing) -> PairPlan {
    let (ta, tb) = (&a.tensors()[pairing.a], &b.tensors()[pairing.b]);
    let (sa, sb) = compared_shapes(pairing, &ta.shape, &tb.shape);
    let region = Region::new(sa, sb);
    let align = Align::of(pairing, &ta.shape, &tb.shape);
    let same_encoding = ta.dtype == tb.dtype
        && ta.byte_order == tb.byte_order
        && ta.shape == tb.shape
        && !align.shifts_values();
    let undecodable = || {
        let (side, err) = match (a.check_decodable(pairing.a), b.check_decodable(pairing.b)) {
            (Err(e), _) => (Side::A, e),
            (_, Err(e)) => (Side::B, e),
            _ => return None,
        };
        Some(NotComparable::Undecodable {
            side,
            reason: err.to_string(),
        })
    };
    let mode = if !region.is_comparable() {
        CompareMode::NotComparable(NotComparable::RankChanged)
    } else if ta.dtype.kind() == ValueKind::Opaque || tb.dtype.kind() == ValueKind::Opaque {
        if same_encoding {
            CompareMode::Bytes
        } else {
            CompareMode::NotComparable(NotComparable::OpaqueMismatch)
        }
    } else if let Some(why) = undecodable() {
        CompareMode::NotComparable(why)
    } else if ta.dtype.kind() == ValueKind::Integer && tb.dtype.kind() == ValueKind::Integer {
        CompareMode::ExactInt
    } else {
        CompareMode::Float
    };
    PairPlan {
        entry,
        pairing: pairing.clone(),
        mode,
        region,
        same_encoding,
        shapes_equal: sa == sb,
        align,
    }
}

/// The shapes compared: a stacked experts tensor (`[experts, rows, cols]`) counts as one
/// expert's `[rows, cols]` when the pair splits it and the expert is in range.
fn compared_shapes<'s>(pairing: &Pairing, sa: &'s [u64], sb: &'s [u64]) -> (&'s [u64], &'s [u64]) {
    for t in &pairing.transforms {
        if let Transform::ExpertsSplit {
            expert,
            stacked_in_b,
        } = *t
        {
            let stacked = if stacked_in_b { sb } else { sa };
            if stacked.len() >= 2 && expert < stacked[0] {
                return if stacked_in_b {
                    (sa, &sb[1..])
                } else {
                    (&sa[1..], sb)
                };
            }
        }
    }
    (sa, sb)
}

/// Cuts `total` compared elements into jobs of at most `chunk` elements.
fn chunk_jobs(pair: usize, total: u64, chunk: u64, jobs: &mut Vec<Job>) {
    let mut s = 0;
    while s < total {
        let e = (s + chunk).min(total);
        jobs.push(Job { pair, elems: s..e });
        s = e;
    }
}

/// Runs the plan stage over every pair of `matching`. `chunk_elems` is rounded up to a
/// multiple of 256 (every block size divides it, so chunks start on block boundaries).
pub fn plan(a: &Model, b: &Model, matching: &Matching, chunk_elems: usize) -> Plan {
    let chunk = (chunk_elems.max(1).div_ceil(256) * 256) as u64;
    let mut out = Plan {
        pair_of_entry: vec![None; matching.entries.len()],
        ..Plan::default()
    };
    for (e, entry) in matching.entries.iter().enumerate() {
        let Entry::Paired(pairing) = entry else {
            continue;
        };
        let p = out.pairs.len();
        let pair = plan_pair(a, b, e, pairing);
        match pair.mode {
            CompareMode::Float | CompareMode::ExactInt => {
                chunk_jobs(p, pair.region.total(), chunk, &mut out.jobs)
            }
            CompareMode::Bytes => out.jobs.push(Job {
                pair: p,
                elems: 0..0,
            }),
            CompareMode::NotComparable(_) => {}
        }
        out.pair_of_entry[e] = Some(p);
        out.pairs.push(pair);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, Filter};
    use crate::testutil::{model, model_typed};

    #[test]
    fn modes_follow_dtypes_and_ranks() {
        let f32s = |n: usize| vec![0u8; 4 * n];
        let a = model_typed(&[
            ("f", "F32", &[4], f32s(4)),
            ("i", "I32", &[4], f32s(4)),
            ("mixed", "I32", &[4], f32s(4)),
            ("rank", "F32", &[4], f32s(4)),
        ]);
        let b = model_typed(&[
            ("f", "F16", &[4], vec![0; 8]),
            ("i", "I64", &[4], vec![0; 32]),
            ("mixed", "F32", &[4], f32s(4)),
            ("rank", "F32", &[2, 2], f32s(4)),
        ]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 1);
        let modes: Vec<_> = p.pairs.iter().map(|x| x.mode.clone()).collect();
        assert_eq!(
            modes,
            vec![
                CompareMode::Float,
                CompareMode::ExactInt,
                CompareMode::Float,
                CompareMode::NotComparable(NotComparable::RankChanged),
            ]
        );
        assert!(!p.pairs[0].same_encoding);
        // chunk 1 rounds up to 256: one job each for the three comparable pairs.
        assert_eq!(p.jobs.len(), 3);
        assert_eq!(p.pair_of_entry(3).unwrap().pairing.a, 3);
    }

    #[test]
    fn qk_row_map_is_the_converter_permutation_and_its_inverse() {
        // 2 heads of 4 rows: reshape(2, 2, 2, cols).swapaxes(1, 2) sends HF rows
        // [0 1 2 3 | 4 5 6 7] to GGUF order [0 2 1 3 | 4 6 5 7].
        let fwd = qk_map(2, true, &[8, 3], &[8, 3]).unwrap();
        let gguf_of_hf: Vec<u64> = (0..8).map(|r| fwd.b_row(r)).collect();
        assert_eq!(gguf_of_hf, vec![0, 2, 1, 3, 4, 6, 5, 7]);
        let back = qk_map(2, false, &[8, 3], &[8, 3]).unwrap();
        for r in 0..8 {
            assert_eq!(back.b_row(fwd.b_row(r)), r);
        }
        // Larger heads: HF row h·hd + j·half + i ↔ GGUF row h·hd + 2i + j.
        let m = qk_map(1, true, &[8, 1], &[8, 1]).unwrap();
        let got: Vec<u64> = (0..8).map(|r| m.b_row(r)).collect();
        assert_eq!(got, vec![0, 2, 4, 6, 1, 3, 5, 7]);
        assert!(qk_map(3, true, &[8, 3], &[8, 3]).is_none());
        assert!(qk_map(2, true, &[8, 3], &[8, 4]).is_none());
    }

    #[test]
    fn jobs_cover_the_region_in_order() {
        let a = model(&[("w", &vec![1.0; 1000]), ("v", &[0.0; 3])]);
        let b = model(&[("w", &vec![2.0; 1000]), ("v", &[0.0; 3])]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 300);
        let ranges: Vec<_> = p.jobs.iter().map(|j| (j.pair, j.elems.clone())).collect();
        assert_eq!(
            ranges,
            vec![(0, 0..512), (0, 512..1000), (1, 0..3)],
            "chunks round up to 512"
        );
        assert!(p.pairs.iter().all(|x| x.same_encoding));
    }
}
