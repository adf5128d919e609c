//! Matching tensors by name and streaming matched pairs through the kernels on all cores.

use std::cell::RefCell;
use std::collections::HashSet;

use modeldiff_formats::{Model, TensorInfo, ValueKind};
use modeldiff_kernels::{DiffStats, Isa};
use rayon::prelude::*;
use regex::Regex;

use crate::error::{Error, Result};
use crate::region::Region;
use crate::report::{ChangeKind, Metrics, ModelSummary, Report, Summary, TensorReport, SCHEMA};

/// Elements per work item by default: 64 Ki elements (256 KiB of f32 per side) keeps each
/// thread's two decode buffers in L2 and is a multiple of every block size (32, 64, 256).
pub const DEFAULT_CHUNK_ELEMS: usize = 1 << 16;

/// How a diff runs: which tensors, how many threads, how big the streamed chunks are.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Keep only tensors whose name matches one of these (all when empty).
    pub include: Vec<Regex>,
    /// Drop tensors whose name matches one of these.
    pub exclude: Vec<Regex>,
    /// Worker threads (`None`: rayon's default, one per core).
    pub threads: Option<usize>,
    /// Elements per work item (rounded up to a multiple of 256).
    pub chunk_elems: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            include: Vec::new(),
            exclude: Vec::new(),
            threads: None,
            chunk_elems: DEFAULT_CHUNK_ELEMS,
        }
    }
}

impl Config {
    fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

/// How a matched pair is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Decoded to f32, float metrics.
    Float,
    /// Decoded exactly to integers, mismatch count.
    Int,
    /// Raw bytes only (undecodable dtypes with the same id and shape).
    Bytes,
    /// Nothing comparable (rank change, undecodable dtype against another dtype).
    None,
}

struct Pair {
    ia: usize,
    ib: usize,
    mode: Mode,
    region: Region,
    /// Same dtype, byte order and shape: equal raw bytes prove equal values.
    same_encoding: bool,
}

/// One unit of parallel work: compared elements `start..end` of pair `pair`.
struct Job {
    pair: usize,
    start: u64,
    end: u64,
}

enum Partial {
    Float(DiffStats),
    Int(u64),
    Bytes(bool),
}

thread_local! {
    static F32_BUFS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    static INT_BUFS: RefCell<(Vec<i128>, Vec<i128>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Compares model `a` (old) with model `b` (new).
///
/// Tensors are matched by name; each matched pair is split into chunks of compared elements
/// that run in parallel, each decoding into thread-local buffers (memory stays bounded by
/// threads × 2 × chunk whatever the model size), and the per-chunk accumulators are merged in
/// a fixed order, so the report is deterministic for a given thread-independent chunk size.
pub fn diff(a: &Model, b: &Model, config: &Config) -> Result<Report> {
    match config.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::Threads {
                    threads: n,
                    detail: e.to_string(),
                })?;
            pool.install(|| diff_in_pool(a, b, config))
        }
        None => diff_in_pool(a, b, config),
    }
}

fn compare_mode(ta: &TensorInfo, tb: &TensorInfo, region: &Region) -> Mode {
    if region.is_none() {
        return Mode::None;
    }
    match (ta.dtype.kind(), tb.dtype.kind()) {
        (ValueKind::Opaque, _) | (_, ValueKind::Opaque) => {
            if ta.dtype == tb.dtype && ta.shape == tb.shape && ta.byte_order == tb.byte_order {
                Mode::Bytes
            } else {
                Mode::None
            }
        }
        (ValueKind::Integer, ValueKind::Integer) => Mode::Int,
        _ => Mode::Float,
    }
}

fn diff_in_pool(a: &Model, b: &Model, config: &Config) -> Result<Report> {
    let chunk = config.chunk_elems.max(1).div_ceil(256) * 256;
    let names_a: Vec<usize> = (0..a.tensors().len())
        .filter(|&i| config.selects(&a.tensors()[i].name))
        .collect();
    let names_b: Vec<usize> = (0..b.tensors().len())
        .filter(|&i| config.selects(&b.tensors()[i].name))
        .collect();

    // Structural matching, in A's order then B-only tensors in B's order.
    let mut entries: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    let mut seen_b = HashSet::new();
    for &ia in &names_a {
        let ib = b
            .find(&a.tensors()[ia].name)
            .filter(|&ib| config.selects(&b.tensors()[ib].name));
        if let Some(ib) = ib {
            seen_b.insert(ib);
        }
        entries.push((Some(ia), ib));
    }
    for &ib in &names_b {
        if !seen_b.contains(&ib) {
            entries.push((None, Some(ib)));
        }
    }

    let mut pairs: Vec<Pair> = Vec::new();
    let mut pair_of_entry: Vec<Option<usize>> = Vec::with_capacity(entries.len());
    for &(ia, ib) in &entries {
        if let (Some(ia), Some(ib)) = (ia, ib) {
            let (ta, tb) = (&a.tensors()[ia], &b.tensors()[ib]);
            let region = Region::new(&ta.shape, &tb.shape);
            let mode = compare_mode(ta, tb, &region);
            let same_encoding =
                ta.dtype == tb.dtype && ta.byte_order == tb.byte_order && ta.shape == tb.shape;
            pair_of_entry.push(Some(pairs.len()));
            pairs.push(Pair {
                ia,
                ib,
                mode,
                region,
                same_encoding,
            });
        } else {
            pair_of_entry.push(None);
        }
    }

    let mut jobs = Vec::new();
    for (p, pair) in pairs.iter().enumerate() {
        match pair.mode {
            Mode::Float | Mode::Int => {
                let total = pair.region.total();
                let mut s = 0;
                while s < total {
                    let e = (s + chunk as u64).min(total);
                    jobs.push(Job {
                        pair: p,
                        start: s,
                        end: e,
                    });
                    s = e;
                }
            }
            Mode::Bytes => jobs.push(Job {
                pair: p,
                start: 0,
                end: 0,
            }),
            Mode::None => {}
        }
    }

    let partials: Vec<Partial> = jobs
        .par_iter()
        .map(|job| run_job(a, b, &pairs[job.pair], job))
        .collect::<Result<_>>()?;

    // Merge in job order: deterministic whatever the thread count.
    let mut float: Vec<Option<DiffStats>> = pairs
        .iter()
        .map(|p| (p.mode == Mode::Float).then(DiffStats::default))
        .collect();
    let mut ints: Vec<u64> = vec![0; pairs.len()];
    let mut bytes_equal: Vec<bool> = vec![true; pairs.len()];
    for (job, part) in jobs.iter().zip(&partials) {
        match part {
            Partial::Float(s) => float[job.pair]
                .get_or_insert_with(DiffStats::default)
                .merge(s),
            Partial::Int(m) => ints[job.pair] += m,
            Partial::Bytes(eq) => bytes_equal[job.pair] &= eq,
        }
    }

    let mut global = DiffStats::default();
    let mut tensors = Vec::with_capacity(entries.len());
    let mut summary = Summary {
        tensors_a: names_a.len() as u64,
        tensors_b: names_b.len() as u64,
        ..Summary::default()
    };
    let (mut l2_sum, mut cos_sum, mut cos_n) = (0f64, 0f64, 0u64);
    let mut max_abs: Option<f64> = None;
    for (e, &(ia, ib)) in entries.iter().enumerate() {
        let ta = ia.map(|i| &a.tensors()[i]);
        let tb = ib.map(|i| &b.tensors()[i]);
        let change = match (ta, tb) {
            (Some(_), None) => ChangeKind::Removed,
            (None, Some(_)) => ChangeKind::Added,
            (Some(x), Some(y)) if x.shape != y.shape => ChangeKind::ShapeChanged,
            _ => ChangeKind::Unchanged,
        };
        let dtype_changed = matches!((ta, tb), (Some(x), Some(y)) if x.dtype != y.dtype);
        let (mut identical, mut mismatches, mut metrics) = (None, None, None);
        if let Some(p) = pair_of_entry[e] {
            match pairs[p].mode {
                Mode::Float => {
                    let st = float[p].unwrap_or_default();
                    global.merge(&st);
                    identical = Some(st.identical());
                    mismatches = Some(st.mismatches());
                    let m = metrics_of(&st, &ta.expect("paired").shape);
                    l2_sum += m.l2;
                    if let Some(c) = m.cosine {
                        cos_sum += c;
                        cos_n += 1;
                    }
                    max_abs = Some(max_abs.map_or(m.max_abs, |x: f64| x.max(m.max_abs)));
                    summary.compared += 1;
                    metrics = Some(m);
                }
                Mode::Int => {
                    identical = Some(ints[p] == 0);
                    mismatches = Some(ints[p]);
                }
                Mode::Bytes => identical = Some(bytes_equal[p]),
                Mode::None => {}
            }
        }
        match change {
            ChangeKind::Added => summary.added += 1,
            ChangeKind::Removed => summary.removed += 1,
            ChangeKind::ShapeChanged => summary.shape_changed += 1,
            ChangeKind::Unchanged => {
                summary.unchanged += 1;
                summary.identical += (identical == Some(true)) as u64;
            }
        }
        summary.dtype_changed += dtype_changed as u64;
        summary.differs |=
            change != ChangeKind::Unchanged || dtype_changed || identical != Some(true);
        tensors.push(TensorReport {
            name: ta.or(tb).expect("one side exists").name.clone(),
            change,
            shape_a: ta.map(|t| t.shape.clone()),
            shape_b: tb.map(|t| t.shape.clone()),
            dtype_a: ta.map(|t| t.dtype.name()),
            dtype_b: tb.map(|t| t.dtype.name()),
            dtype_changed,
            identical,
            mismatches,
            metrics,
        });
    }
    if summary.compared > 0 {
        summary.mean_l2 = Some(l2_sum / summary.compared as f64);
        summary.global_l2 = Some(global.l2());
        summary.global_cosine = global.cosine();
    }
    summary.mean_cosine = (cos_n > 0).then(|| cos_sum / cos_n as f64);
    summary.max_abs = max_abs;
    // Metadata vocabularies differ between formats (GGUF key/values, SafeTensors
    // `__metadata__`, APR JSON), so keys are only compared between files of the same format.
    summary.metadata_compared = a.format() == b.format();
    let metadata = if summary.metadata_compared {
        crate::metadata::diff_metadata(a.metadata(), b.metadata())
    } else {
        Vec::new()
    };
    summary.metadata_changed = metadata.len() as u64;
    summary.differs |= !metadata.is_empty();

    Ok(Report {
        schema: SCHEMA.to_string(),
        a: model_summary(a),
        b: model_summary(b),
        tensors,
        metadata,
        summary,
        isa: Isa::selected().name().to_string(),
    })
}

fn model_summary(m: &Model) -> ModelSummary {
    ModelSummary {
        path: m.path().display().to_string(),
        format: m.format(),
        tensor_count: m.tensors().len() as u64,
        parameter_count: m.parameter_count(),
        properties: crate::inspect::properties(m),
        warnings: m.warnings().to_vec(),
    }
}

fn metrics_of(st: &DiffStats, shape_a: &[u64]) -> Metrics {
    Metrics {
        compared: st.compared(),
        l2: st.l2(),
        max_abs: st.max_abs(),
        max_abs_index: st
            .max_abs_index()
            .map(|i| unravel(i, shape_a))
            .unwrap_or_default(),
        mean_abs: st.mean_abs().unwrap_or(0.0),
        rmse: st.rmse().unwrap_or(0.0),
        cosine: st.cosine(),
        one_minus_cosine: st.one_minus_cosine(),
        rel_l2: st.rel_l2(),
        norm_a: st.norm_a(),
        norm_b: st.norm_b(),
        nonfinite_a: st.nonfinite_a(),
        nonfinite_b: st.nonfinite_b(),
    }
}

/// Row-major multi-index of flat index `i` in `shape`.
fn unravel(mut i: u64, shape: &[u64]) -> Vec<u64> {
    let mut idx = vec![0; shape.len()];
    for (slot, &d) in idx.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    idx
}

fn run_job(a: &Model, b: &Model, pair: &Pair, job: &Job) -> Result<Partial> {
    match pair.mode {
        Mode::Float => float_job(a, b, pair, job).map(Partial::Float),
        Mode::Int => int_job(a, b, pair, job).map(Partial::Int),
        Mode::Bytes => Ok(Partial::Bytes(
            a.tensor_bytes(pair.ia) == b.tensor_bytes(pair.ib),
        )),
        Mode::None => unreachable!("no jobs are made for uncomparable pairs"),
    }
}

/// Byte range of elements `s..e` of tensor `t`, when the tensor is stored as plain blocks (no
/// header, no padded last block, as `APR_Q8`'s scale or `APR_Q4`'s partial block would be) and
/// both ends fall on block boundaries.
fn byte_range(t: &TensorInfo, s: u64, e: u64) -> Option<std::ops::Range<usize>> {
    let be = t.dtype.block_elems() as u64;
    let bb = t.dtype.block_bytes() as u64;
    let plain_blocks =
        bb > 0 && t.elements().is_multiple_of(be) && t.byte_len() as u64 == t.elements() / be * bb;
    (plain_blocks && s.is_multiple_of(be) && e.is_multiple_of(be))
        .then(|| ((s / be * bb) as usize)..((e / be * bb) as usize))
}

fn float_job(a: &Model, b: &Model, pair: &Pair, job: &Job) -> Result<DiffStats> {
    let ta = &a.tensors()[pair.ia];
    let (va, vb) = (a.f32_view(pair.ia), b.f32_view(pair.ib));
    let mut st = DiffStats::default();
    F32_BUFS.with_borrow_mut(|(ba, bb)| -> Result<()> {
        for (a_off, b_off, len) in pair.region.pieces(job.start, job.end) {
            let n = len as usize;
            let (ra, rb) = (
                a_off as usize..(a_off + len) as usize,
                b_off as usize..(b_off + len) as usize,
            );
            // Equal bytes under the same encoding are equal values: decode one side only.
            if pair.same_encoding && va.is_none() {
                if let Some(br) = byte_range(ta, a_off, a_off + len) {
                    if a.tensor_bytes(pair.ia)[br.clone()] == b.tensor_bytes(pair.ib)[br] {
                        grow(ba, n);
                        a.decode_f32(pair.ia, ra, &mut ba[..n])?;
                        st.update(&ba[..n], &ba[..n], a_off);
                        continue;
                    }
                }
            }
            let xa: &[f32] = match va {
                Some(v) => &v[ra],
                None => {
                    grow(ba, n);
                    a.decode_f32(pair.ia, ra, &mut ba[..n])?;
                    &ba[..n]
                }
            };
            let xb: &[f32] = match vb {
                Some(v) => &v[rb],
                None => {
                    grow(bb, n);
                    b.decode_f32(pair.ib, rb, &mut bb[..n])?;
                    &bb[..n]
                }
            };
            st.update(xa, xb, a_off);
        }
        Ok(())
    })?;
    Ok(st)
}

fn int_job(a: &Model, b: &Model, pair: &Pair, job: &Job) -> Result<u64> {
    let mut mismatches = 0u64;
    INT_BUFS.with_borrow_mut(|(ba, bb)| -> Result<()> {
        for (a_off, b_off, len) in pair.region.pieces(job.start, job.end) {
            let n = len as usize;
            grow(ba, n);
            grow(bb, n);
            a.decode_int(
                pair.ia,
                a_off as usize..(a_off + len) as usize,
                &mut ba[..n],
            )?;
            b.decode_int(
                pair.ib,
                b_off as usize..(b_off + len) as usize,
                &mut bb[..n],
            )?;
            mismatches += ba[..n].iter().zip(&bb[..n]).filter(|(x, y)| x != y).count() as u64;
        }
        Ok(())
    })?;
    Ok(mismatches)
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

#[cfg(test)]
mod tests {
    use super::unravel;

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(0, &[]), Vec::<u64>::new());
        assert_eq!(unravel(7, &[3, 4]), vec![1, 3]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
    }
}
