//! Stage 4, *consume*: what is made of the streamed pieces.
//!
//! A [`Consumer`] turns one [`Job`] of a pair's stream into a partial result; [`run`] runs it
//! over every job of a plan in parallel and hands back the partials in job order. The diff is
//! one consumer ([`DiffConsumer`]): it folds [`DiffStats`] (or exact mismatch counts, or a
//! raw-bytes verdict) per pair, in job order so the numbers never depend on the thread count,
//! and builds the [`Report`]. Delta extraction and apply are further consumers of the same
//! stream.

use modeldiff_formats::Model;
use modeldiff_kernels::{DiffStats, Elements, Isa};

use crate::describe::describe;
use crate::error::Result;
use crate::matching::{Entry, MatchedBy, Matching};
use crate::metadata::{MetaChange, MetaChangeKind};
use crate::plan::{CompareMode, Job, NotComparable, PairPlan, Plan, Side};
use crate::progress::{job_bytes, plan_bytes, Progress};
use crate::report::{ChangeKind, Metrics, Report, Summary, TensorReport, SCHEMA};
use crate::stream::{run_jobs, PairStream};

/// Something computed from a pair's stream, one job at a time.
pub trait Consumer: Sync {
    /// The result of one job.
    type Partial: Send;

    /// Consumes the compared elements `job.elems` of `stream`'s pair.
    fn job(&self, stream: &PairStream<'_>, job: &Job) -> Result<Self::Partial>;
}

/// Runs `consumer` over every job of `plan` in parallel; partials come back in job order.
pub fn run<C: Consumer>(
    a: &Model,
    b: &Model,
    plan: &Plan,
    consumer: &C,
) -> Result<Vec<C::Partial>> {
    run_jobs(a, b, plan, |stream, job| consumer.job(stream, job))
}

/// [`run`], advancing `progress` (when given) by each job's stored bytes as it finishes; the
/// total is set before the first job. A job that starts after [`Progress::cancel`] returns
/// [`crate::Error::Cancelled`] instead of running, which ends the run.
pub fn run_with_progress<C: Consumer>(
    a: &Model,
    b: &Model,
    plan: &Plan,
    consumer: &C,
    progress: Option<&Progress>,
) -> Result<Vec<C::Partial>> {
    let Some(progress) = progress else {
        return run(a, b, plan, consumer);
    };
    progress.start(plan_bytes(a, b, plan));
    run_jobs(a, b, plan, |stream, job| {
        if progress.is_cancelled() {
            return Err(crate::Error::Cancelled);
        }
        let partial = consumer.job(stream, job);
        progress.advance(job_bytes(a, b, plan, job));
        partial
    })
}

/// The diff's partial result for one job.
#[derive(Clone, Copy, Debug)]
pub enum DiffPartial {
    /// Float metrics of the job's elements.
    Float(DiffStats),
    /// Elements that differ, compared exactly as integers.
    Int(u64),
    /// Whether the raw bytes are equal.
    Bytes(bool),
}

/// What the diff found for one pair, all jobs merged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum PairOutcome {
    /// Float metrics.
    Float(DiffStats),
    /// Exact integer comparison: the number of differing elements.
    Int(u64),
    /// Raw-byte comparison.
    Bytes(bool),
    /// Nothing was compared.
    #[default]
    None,
}

/// The diff consumer: per-job metrics, merged in job order into a [`Report`].
///
/// Pieces that [`Piece::elements`](crate::stream::Piece::elements) hands out (F16 or BF16 on
/// at least one side) go through the fused kernels, which convert the stored bytes in
/// registers; [`DiffConsumer::two_pass`] decodes them into `f32` buffers first instead, as the
/// engine did before. Both give the same bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffConsumer {
    /// Decode half-precision pieces into `f32` buffers instead of using the fused kernels.
    two_pass: bool,
}

/// Choices about what [`DiffConsumer::report_with`] puts in the report.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct ReportOptions {
    /// Leave metadata out: no metadata changes, `summary.metadata_compared` false and
    /// `summary.metadata_ignored` true, so metadata never makes `summary.differs` true.
    pub ignore_metadata: bool,
}

impl Consumer for DiffConsumer {
    type Partial = DiffPartial;

    fn job(&self, stream: &PairStream<'_>, job: &Job) -> Result<DiffPartial> {
        let pair = stream.pair();
        match pair.mode {
            CompareMode::Float => float_job(stream, job, !self.two_pass).map(DiffPartial::Float),
            CompareMode::ExactInt => int_job(stream, job).map(DiffPartial::Int),
            CompareMode::Bytes => {
                let (a, b) = (stream.model_a(), stream.model_b());
                let eq = a.tensor_bytes(pair.pairing.a) == b.tensor_bytes(pair.pairing.b);
                Ok(DiffPartial::Bytes(eq))
            }
            // The plan makes no jobs for pairs that are not comparable.
            CompareMode::NotComparable(_) => Ok(DiffPartial::Bytes(false)),
        }
    }
}

fn float_job(stream: &PairStream<'_>, job: &Job, fused: bool) -> Result<DiffStats> {
    // The two-pass path as it was: the equal-bytes shortcut only where A has to be decoded.
    let decodes = stream.model_a().f32_view(stream.pair().pairing.a).is_none();
    let mut st = DiffStats::default();
    stream.for_each_piece(job.elems.clone(), |piece| {
        let offset = piece.offset_a();
        // Equal stored bytes under the same encoding are equal values: one side is read, by the
        // self-comparison kernel (Σx² and the counts; the differences are zero). The compare
        // stops at the first differing byte, so a changed piece costs little more than before.
        let equal_bytes = fused && piece.encoded().is_some_and(|(ea, eb)| ea == eb);
        if let Some((xa, xb)) = piece.elements().filter(|_| fused) {
            // Stored half-precision bytes, converted in registers: one pass, no copy.
            if equal_bytes {
                st.update_self(xa, offset);
            } else {
                st.update_elements(xa, xb, offset);
            }
        } else if equal_bytes {
            st.update_self(Elements::F32(piece.f32_a()?), offset);
        } else if !fused && decodes && piece.encoded().is_some_and(|(ea, eb)| ea == eb) {
            let x = piece.f32_a()?;
            st.update(x, x, offset);
        } else {
            let (xa, xb) = piece.f32()?;
            st.update(xa, xb, offset);
        }
        Ok(())
    })?;
    Ok(st)
}

fn int_job(stream: &PairStream<'_>, job: &Job) -> Result<u64> {
    let mut mismatches = 0u64;
    stream.for_each_piece(job.elems.clone(), |piece| {
        let (xa, xb) = piece.ints()?;
        mismatches += xa.iter().zip(xb).filter(|(x, y)| x != y).count() as u64;
        Ok(())
    })?;
    Ok(mismatches)
}

impl DiffConsumer {
    /// The consumer that decodes half-precision pieces into `f32` buffers before the metric
    /// kernels (two passes per piece), as the engine did before the fused kernels; kept to
    /// measure the fused path against and to cross-check it ([`crate::Config::fused_kernels`]).
    pub fn two_pass() -> DiffConsumer {
        DiffConsumer { two_pass: true }
    }

    /// Merges the partials (in job order, as [`run`] returns them) into one outcome per pair.
    pub fn fold(&self, plan: &Plan, partials: &[DiffPartial]) -> Vec<PairOutcome> {
        let mut out: Vec<PairOutcome> = plan
            .pairs
            .iter()
            .map(|p| match p.mode {
                CompareMode::Float => PairOutcome::Float(DiffStats::default()),
                CompareMode::ExactInt => PairOutcome::Int(0),
                CompareMode::Bytes => PairOutcome::Bytes(true),
                CompareMode::NotComparable(_) => PairOutcome::None,
            })
            .collect();
        for (job, part) in plan.jobs.iter().zip(partials) {
            match (&mut out[job.pair], part) {
                (PairOutcome::Float(acc), DiffPartial::Float(s)) => acc.merge(s),
                (PairOutcome::Int(acc), DiffPartial::Int(m)) => *acc += m,
                (PairOutcome::Bytes(acc), DiffPartial::Bytes(eq)) => *acc &= eq,
                _ => {}
            }
        }
        out
    }

    /// Builds the report from the stages' results.
    pub fn report(
        &self,
        a: &Model,
        b: &Model,
        matching: &Matching,
        plan: &Plan,
        outcomes: &[PairOutcome],
    ) -> Report {
        self.report_with(a, b, matching, plan, outcomes, &ReportOptions::default())
    }

    /// [`DiffConsumer::report`] with explicit [`ReportOptions`].
    pub fn report_with(
        &self,
        a: &Model,
        b: &Model,
        matching: &Matching,
        plan: &Plan,
        outcomes: &[PairOutcome],
        options: &ReportOptions,
    ) -> Report {
        let mut summary = SummaryBuilder::new(matching);
        let mut tensors = Vec::with_capacity(matching.entries.len());
        let (mut model_a, mut model_b) = (describe(a), describe(b));
        model_a.warnings.extend(matching.warnings_a.iter().cloned());
        model_b.warnings.extend(matching.warnings_b.iter().cloned());
        for (e, entry) in matching.entries.iter().enumerate() {
            let t = match entry {
                Entry::OnlyA(ia) => only_one(a, *ia, ChangeKind::Removed),
                Entry::OnlyB(ib) => only_one(b, *ib, ChangeKind::Added),
                Entry::Paired(_) => {
                    let p = plan.pair_index(e).expect("every pair is planned");
                    let (pair, outcome) = (&plan.pairs[p], outcomes.get(p).copied());
                    let outcome = outcome.unwrap_or_default();
                    if let CompareMode::NotComparable(NotComparable::Undecodable { side, reason }) =
                        &pair.mode
                    {
                        let w = format!("not compared: {reason}");
                        match side {
                            Side::A => model_a.warnings.push(w),
                            Side::B => model_b.warnings.push(w),
                        }
                    }
                    paired(a, b, pair, &outcome, &mut summary)
                }
            };
            summary.count(&t);
            tensors.push(t);
        }
        let metadata = MetadataOutcome::new(a, b, options.ignore_metadata);
        Report {
            schema: SCHEMA.to_string(),
            a: model_a,
            b: model_b,
            tensors,
            summary: summary.finish(&metadata),
            metadata: metadata.changes,
            isa: Isa::selected().name().to_string(),
        }
    }
}

/// The metadata diff, or why there is none.
struct MetadataOutcome {
    compared: bool,
    ignored: bool,
    changes: Vec<MetaChange>,
}

impl MetadataOutcome {
    fn new(a: &Model, b: &Model, ignore: bool) -> MetadataOutcome {
        // Metadata vocabularies differ between formats (GGUF key/values, SafeTensors
        // `__metadata__`, APR JSON), so keys are only compared between files of the same
        // format.
        let compared = !ignore && a.format() == b.format();
        let changes = if compared {
            crate::metadata::diff_metadata(a.metadata(), b.metadata())
        } else {
            Vec::new()
        };
        MetadataOutcome {
            compared,
            ignored: ignore,
            changes,
        }
    }
}

/// The report line of a tensor present in one model only.
fn only_one(m: &Model, index: usize, change: ChangeKind) -> TensorReport {
    let t = &m.tensors()[index];
    let (shape, dtype) = (Some(t.shape.clone()), Some(t.dtype.name()));
    let (shape_a, shape_b, dtype_a, dtype_b) = match change {
        ChangeKind::Removed => (shape, None, dtype, None),
        _ => (None, shape, None, dtype),
    };
    TensorReport {
        name: t.name.clone(),
        name_b: None,
        matched_by: None,
        transforms: Vec::new(),
        change,
        shape_a,
        shape_b,
        dtype_a,
        dtype_b,
        dtype_changed: false,
        identical: None,
        mismatches: None,
        metrics: None,
        spectral: None,
    }
}

/// The report line of a matched pair.
fn paired(
    a: &Model,
    b: &Model,
    pair: &PairPlan,
    outcome: &PairOutcome,
    summary: &mut SummaryBuilder,
) -> TensorReport {
    let (ta, tb) = (&a.tensors()[pair.pairing.a], &b.tensors()[pair.pairing.b]);
    let (mut identical, mut mismatches, mut metrics) = (None, None, None);
    match outcome {
        PairOutcome::Float(st) => {
            summary.global.merge(st);
            identical = Some(st.identical());
            mismatches = Some(st.mismatches());
            let m = metrics_of(st, &ta.shape);
            summary.compared(&ta.name, &m);
            metrics = Some(m);
        }
        PairOutcome::Int(m) => {
            identical = Some(*m == 0);
            mismatches = Some(*m);
        }
        PairOutcome::Bytes(eq) => identical = Some(*eq),
        PairOutcome::None => {}
    }
    let by = pair.pairing.matched_by;
    TensorReport {
        name: ta.name.clone(),
        name_b: (tb.name != ta.name).then(|| tb.name.clone()),
        matched_by: (by != MatchedBy::ExactName).then(|| by.as_str().to_string()),
        transforms: pair
            .pairing
            .transforms
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        change: if !pair.shapes_equal {
            ChangeKind::ShapeChanged
        } else {
            ChangeKind::Unchanged
        },
        shape_a: Some(ta.shape.clone()),
        shape_b: Some(tb.shape.clone()),
        dtype_a: Some(ta.dtype.name()),
        dtype_b: Some(tb.dtype.name()),
        dtype_changed: ta.dtype != tb.dtype,
        identical,
        mismatches,
        metrics,
        spectral: None,
    }
}

/// The summary, accumulated tensor by tensor.
#[derive(Debug)]
struct SummaryBuilder {
    summary: Summary,
    /// Every compared element of the model as one vector.
    global: DiffStats,
    l2_sum: f64,
    cos_sum: f64,
    cos_n: u64,
}

impl SummaryBuilder {
    fn new(matching: &Matching) -> SummaryBuilder {
        SummaryBuilder {
            summary: Summary {
                tensors_a: matching.selected_a,
                tensors_b: matching.selected_b,
                ..Summary::default()
            },
            global: DiffStats::default(),
            l2_sum: 0.0,
            cos_sum: 0.0,
            cos_n: 0,
        }
    }

    /// Adds tensor `name`'s float metrics.
    fn compared(&mut self, name: &str, m: &Metrics) {
        let s = &mut self.summary;
        s.compared += 1;
        self.l2_sum += m.l2;
        if let Some(c) = m.cosine {
            self.cos_sum += c;
            self.cos_n += 1;
        }
        s.nonfinite_a += m.nonfinite_a;
        s.nonfinite_b += m.nonfinite_b;
        if s.max_abs.is_none_or(|x| m.max_abs > x) {
            s.max_abs = Some(m.max_abs);
            s.max_abs_tensor = Some(name.to_string());
        }
    }

    /// Adds any tensor's structural counts.
    fn count(&mut self, t: &TensorReport) {
        let s = &mut self.summary;
        match t.change {
            ChangeKind::Added => s.added += 1,
            ChangeKind::Removed => s.removed += 1,
            ChangeKind::ShapeChanged => s.shape_changed += 1,
            ChangeKind::Unchanged => {
                s.unchanged += 1;
                s.identical += (t.identical == Some(true)) as u64;
            }
        }
        s.dtype_changed += t.dtype_changed as u64;
        s.differs |=
            t.change != ChangeKind::Unchanged || t.dtype_changed || t.identical != Some(true);
    }

    fn finish(mut self, metadata: &MetadataOutcome) -> Summary {
        let s = &mut self.summary;
        if s.compared > 0 {
            s.mean_l2 = Some(self.l2_sum / s.compared as f64);
            s.global_l2 = Some(self.global.l2());
            s.global_cosine = self.global.cosine();
        }
        s.mean_cosine = (self.cos_n > 0).then(|| self.cos_sum / self.cos_n as f64);
        s.metadata_compared = metadata.compared;
        s.metadata_ignored = metadata.ignored;
        s.metadata_changed = metadata.changes.len() as u64;
        let count = |k: MetaChangeKind| metadata.changes.iter().filter(|c| c.change == k).count();
        s.metadata_added = count(MetaChangeKind::Added) as u64;
        s.metadata_removed = count(MetaChangeKind::Removed) as u64;
        s.differs |= s.metadata_changed > 0;
        self.summary
    }
}

/// The report's metrics from a pair's merged accumulator; `shape_a` locates the maximum.
fn metrics_of(st: &DiffStats, shape_a: &[u64]) -> Metrics {
    let nmse = (st.sum_sq_a() > 0.0).then(|| st.sum_sq_diff().max(0.0) / st.sum_sq_a());
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
        nmse,
        nmse_db: nmse.filter(|&x| x > 0.0).map(|x| 10.0 * x.log10()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, Filter};
    use crate::plan::plan;
    use crate::testutil::{model, model_typed};

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(0, &[]), Vec::<u64>::new());
        assert_eq!(unravel(7, &[3, 4]), vec![1, 3]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
    }

    fn outcomes(a: &Model, b: &Model, chunk: usize) -> (Matching, Plan, Vec<PairOutcome>) {
        let m = match_tensors(a, b, &Filter::default(), &[]);
        let p = plan(a, b, &m, chunk);
        let parts = run(a, b, &p, &DiffConsumer::default()).unwrap();
        let o = DiffConsumer::default().fold(&p, &parts);
        (m, p, o)
    }

    /// Little-endian F16 or BF16 bytes of `v`.
    fn halves(dtype: &str, v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&x| match dtype {
                "F16" => half::f16::from_f32(x).to_le_bytes(),
                _ => half::bf16::from_f32(x).to_le_bytes(),
            })
            .collect()
    }

    /// Plans `a` against `b` in chunks of `chunk`, asserts that every pair takes the fused path
    /// (its piece `first` is handed to the fused kernels, so the comparison below is between two
    /// different paths) and that the fused and two-pass consumers agree; returns the plan and
    /// the fused outcomes.
    fn fused_agrees_with_two_pass(
        a: &Model,
        b: &Model,
        chunk: usize,
        first: std::ops::Range<u64>,
    ) -> (Plan, Vec<PairOutcome>) {
        let m = match_tensors(a, b, &Filter::default(), &[]);
        let p = plan(a, b, &m, chunk);
        for pair in &p.pairs {
            PairStream::new(a, b, pair)
                .for_each_piece(first.clone(), |piece| {
                    assert!(piece.elements().is_some(), "{:?}", pair.pairing);
                    Ok(())
                })
                .unwrap();
        }
        let fused = DiffConsumer::default();
        let two = DiffConsumer::two_pass();
        let of = fused.fold(&p, &run(a, b, &p, &fused).unwrap());
        let ot = two.fold(&p, &run(a, b, &p, &two).unwrap());
        assert_eq!(of, ot, "chunk {chunk}");
        (p, of)
    }

    #[test]
    fn fused_and_two_pass_consumers_agree_bit_for_bit() {
        let n = 37 * 41;
        let va: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut vb: Vec<f32> = va.iter().map(|x| x * 1.01 + 1e-3).collect();
        vb[5] = f32::NAN;
        vb[700] = f32::INFINITY;
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let a = model_typed(&[
            ("h", "F16", &[37, 41], halves("F16", &va)),
            ("bf", "BF16", &[37, 41], halves("BF16", &va)),
            ("mix", "F32", &[37, 41], f32s(&va)),
            ("same", "F16", &[37, 41], halves("F16", &va)),
            ("overlap", "BF16", &[37, 41], halves("BF16", &va)),
        ]);
        let b = model_typed(&[
            ("h", "F16", &[37, 41], halves("F16", &vb)),
            ("bf", "BF16", &[37, 41], halves("BF16", &vb)),
            ("mix", "F16", &[37, 41], halves("F16", &vb)),
            ("same", "F16", &[37, 41], halves("F16", &va)),
            ("overlap", "BF16", &[41, 37], halves("BF16", &vb)),
        ]);
        for chunk in [256, 1024, 1 << 16] {
            let (_, of) = fused_agrees_with_two_pass(&a, &b, chunk, 0..1);
            let PairOutcome::Float(h) = &of[0] else {
                panic!("float pair")
            };
            assert_eq!((h.nonfinite_b(), h.len()), (2, n as u64));
        }
    }

    /// A GGUF v3 model of `tensors` as (name, ggml type id, ne (fastest first), data).
    fn gguf_model(tensors: &[(&str, u32, &[u64], Vec<u8>)]) -> Model {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes()); // version
        f.extend((tensors.len() as u64).to_le_bytes());
        f.extend(0u64.to_le_bytes()); // key/values
        let mut offset = 0u64;
        for (name, ty, ne, data) in tensors {
            f.extend((name.len() as u64).to_le_bytes());
            f.extend(name.as_bytes());
            f.extend((ne.len() as u32).to_le_bytes());
            for d in *ne {
                f.extend(d.to_le_bytes());
            }
            f.extend(ty.to_le_bytes());
            f.extend(offset.to_le_bytes());
            offset += (data.len() as u64).div_ceil(32) * 32;
        }
        for (_, _, _, data) in tensors {
            while !f.len().is_multiple_of(32) {
                f.push(0);
            }
            f.extend_from_slice(data);
        }
        modeldiff_formats::open_bytes("t.gguf", f).unwrap()
    }

    /// `Q8_0` blocks of `n` elements (a multiple of 32): scale `scale`, bytes from `q(i)`.
    fn q8_0(n: usize, scale: f32, q: impl Fn(usize) -> i8) -> Vec<u8> {
        (0..n / 32)
            .flat_map(|blk| {
                let mut b = half::f16::from_f32(scale).to_le_bytes().to_vec();
                b.extend((0..32).map(|i| q(32 * blk + i) as u8));
                b
            })
            .collect()
    }

    /// `Q4_0` blocks of `n` elements: scale `scale`, nibble `i` from `q(i)` (0..16).
    fn q4_0(n: usize, scale: f32, q: impl Fn(usize) -> u8) -> Vec<u8> {
        (0..n / 32)
            .flat_map(|blk| {
                let mut b = half::f16::from_f32(scale).to_le_bytes().to_vec();
                let at = |i: usize| q(32 * blk + i) & 0x0f;
                b.extend((0..16).map(|i| at(i) | (at(i + 16) << 4)));
                b
            })
            .collect()
    }

    /// Block-quantized GGUF tensors (`Q8_0`, `Q4_0`, `Q4_1`, `IQ4_NL`, `Q4_K`, `IQ4_XS`) take the fused
    /// path
    /// (blocks read in registers) against each other and against F32, and give what decoding
    /// to `f32` first gives, bit for bit, for any chunk size (chunks are whole blocks).
    #[test]
    fn block_pairs_are_fused_and_agree_with_two_pass() {
        let n = 64 * 96;
        let qa = |i: usize| ((i * 7919) % 255) as i8;
        let qb = |i: usize| (((i * 7919) % 255) as i8).saturating_add((i % 3) as i8);
        let f32s = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let decoded = |scale: f32, q: &dyn Fn(usize) -> i8| {
            let d = half::f16::from_f32(scale).to_f32();
            (0..n).map(|i| q(i) as f32 * d).collect::<Vec<f32>>()
        };
        let nib = |i: usize| ((i * 31) % 16) as u8;
        // Q4_1 with the offset −8·d is Q4_0 with the same scale and nibbles.
        let q4_1 = {
            let d = half::f16::from_f32(0.25);
            let m = half::f16::from_f32(-2.0);
            q4_0(n, 0.25, nib)
                .chunks(18)
                .flat_map(|b| {
                    let mut v = d.to_le_bytes().to_vec();
                    v.extend(m.to_le_bytes());
                    v.extend(&b[2..]);
                    v
                })
                .collect::<Vec<u8>>()
        };
        // `count` blocks of the binary16 values `head` then `body` bytes from `seed`.
        let seeded = |count: usize, head: &[f32], body: usize, seed: usize| {
            (0..count)
                .flat_map(|blk| {
                    let mut b: Vec<u8> = head
                        .iter()
                        .flat_map(|&h| half::f16::from_f32(h).to_le_bytes())
                        .collect();
                    b.extend((0..body).map(|i| ((blk * body + i) * 7919 + seed) as u8));
                    b
                })
                .collect::<Vec<u8>>()
        };
        // Q4_K: d, dmin, packed scales and quants; IQ4_XS: d, scales and quants; IQ4_NL: d
        // and nibbles; Q5_0: d, fifth bits and nibbles; Q5_1: d, m, fifth bits and nibbles.
        let q4_k = |seed: usize, d: f32| seeded(n / 256, &[d, d / 4.0], 140, seed);
        let iq4_xs = |seed: usize, d: f32| seeded(n / 256, &[d], 134, seed);
        let iq4_nl = |seed: usize, d: f32| seeded(n / 32, &[d], 16, seed);
        let q5_0 = |seed: usize, d: f32| seeded(n / 32, &[d], 20, seed);
        let q5_1 = |seed: usize, d: f32| seeded(n / 32, &[d, -16.0 * d], 20, seed);
        let a = gguf_model(&[
            ("q", 8, &[64, 96], q8_0(n, 0.01, qa)),
            ("same", 8, &[64, 96], q8_0(n, 0.02, qa)),
            ("mix", 8, &[64, 96], q8_0(n, 0.01, qa)),
            ("q4", 2, &[64, 96], q4_0(n, 0.25, nib)),
            ("q4mix", 3, &[64, 96], q4_1.clone()),
            ("k", 12, &[256, 24], q4_k(1, 0.01)),
            ("kmix", 12, &[256, 24], q4_k(1, 0.01)),
            ("iq", 23, &[256, 24], iq4_xs(3, 0.01)),
            ("iqmix", 23, &[256, 24], iq4_xs(3, 0.01)),
            ("nl", 20, &[64, 96], iq4_nl(5, 0.01)),
            ("q5", 6, &[64, 96], q5_0(6, 0.01)),
            ("q5mix", 7, &[64, 96], q5_1(7, 0.01)),
        ]);
        let b = gguf_model(&[
            ("q", 8, &[64, 96], q8_0(n, 0.011, qb)),
            ("same", 8, &[64, 96], q8_0(n, 0.02, qa)),
            ("mix", 0, &[64, 96], f32s(decoded(0.011, &qb))),
            ("q4", 3, &[64, 96], q4_1),
            ("q4mix", 8, &[64, 96], q8_0(n, 0.25, |i| nib(i) as i8 - 8)),
            ("k", 12, &[256, 24], q4_k(2, 0.012)),
            ("kmix", 8, &[256, 24], q8_0(n, 0.011, qb)),
            ("iq", 23, &[256, 24], iq4_xs(4, 0.012)),
            ("iqmix", 12, &[256, 24], q4_k(2, 0.012)),
            ("nl", 8, &[64, 96], q8_0(n, 0.011, qb)),
            ("q5", 6, &[64, 96], q5_0(8, 0.012)),
            ("q5mix", 20, &[64, 96], iq4_nl(5, 0.01)),
        ]);
        for chunk in [256, 1024, 1 << 16] {
            let (p, of) = fused_agrees_with_two_pass(&a, &b, chunk, 0..256);
            let by_name = |name: &str| {
                let i = p
                    .pairs
                    .iter()
                    .position(|x| a.tensors()[x.pairing.a].name == name);
                let PairOutcome::Float(s) = of[i.expect("a pair of that name")] else {
                    panic!("float pair")
                };
                s
            };
            // The same differences whether B is Q8_0 or its decoded F32; a copy differs nowhere.
            assert_eq!(by_name("q"), by_name("mix"));
            assert!(by_name("q").max_abs() > 0.0);
            assert_eq!(
                (by_name("same").mismatches(), by_name("same").len()),
                (0, n as u64)
            );
            for name in ["k", "kmix", "iq", "iqmix", "nl", "q5", "q5mix"] {
                assert!(by_name(name).max_abs() > 0.0, "{name}");
            }
            // The same values in three encodings: Q4_0, Q4_1 and Q8_0.
            for name in ["q4", "q4mix"] {
                let s = by_name(name);
                assert_eq!((s.mismatches(), s.compared()), (0, n as u64), "{name}");
            }
        }
    }

    /// 8-bit float tensors (E4M3, E5M2) take the fused path against each other and against
    /// F32, and give what decoding to `f32` first gives, bit for bit, for any chunk size: every
    /// pair of bytes (A the low byte of a 16-bit counter, B the high byte).
    #[test]
    fn f8_pairs_are_fused_and_agree_with_two_pass() {
        let lo: Vec<u8> = (0..=u16::MAX).map(|i| i as u8).collect();
        let hi: Vec<u8> = (0..=u16::MAX).map(|i| (i >> 8) as u8).collect();
        // E4M3 by the OCP definition (bias 7, no infinities, S.1111.111 NaN).
        let e4m3 = |b: u8| {
            let (e, m) = (((b >> 3) & 0xf) as i32, (b & 7) as f32);
            let v = match e {
                15 if m == 7.0 => return f32::NAN,
                0 => m * 2f32.powi(-9),
                _ => (1.0 + m / 8.0) * 2f32.powi(e - 7),
            };
            if b & 0x80 != 0 {
                -v
            } else {
                v
            }
        };
        let f32s: Vec<u8> = hi.iter().flat_map(|&b| e4m3(b).to_le_bytes()).collect();
        let shape: &[u64] = &[256, 256];
        let a = model_typed(&[
            ("e4", "F8_E4M3", shape, lo.clone()),
            ("e5", "F8_E5M2", shape, lo.clone()),
            ("cross", "F8_E4M3", shape, lo.clone()),
            ("e4f32", "F8_E4M3", shape, lo.clone()),
            ("same", "F8_E5M2", shape, lo.clone()),
        ]);
        let b = model_typed(&[
            ("e4", "F8_E4M3", shape, hi.clone()),
            ("e5", "F8_E5M2", shape, hi.clone()),
            ("cross", "F8_E5M2", shape, hi.clone()),
            ("e4f32", "F32", shape, f32s),
            ("same", "F8_E5M2", shape, lo.clone()),
        ]);
        for chunk in [256, 1000, 1 << 16] {
            let (p, of) = fused_agrees_with_two_pass(&a, &b, chunk, 0..1);
            let by_name = |name: &str| {
                let i = p
                    .pairs
                    .iter()
                    .position(|x| a.tensors()[x.pairing.a].name == name);
                let PairOutcome::Float(s) = of[i.expect("a pair of that name")] else {
                    panic!("float pair")
                };
                s
            };
            // E4M3 against its values decoded by definition and stored as F32: the same.
            assert_eq!(by_name("e4"), by_name("e4f32"));
            // Non-finite bytes per 256: E4M3 two NaNs (0x7f, 0xff); E5M2 two infinities and
            // six NaNs (exponent all ones).
            assert_eq!(by_name("e4").nonfinite_a(), 2 * 256);
            assert_eq!(by_name("e5").nonfinite_b(), 8 * 256);
            let same = by_name("same");
            assert_eq!((same.mismatches(), same.len()), (0, 1 << 16));
            assert!(by_name("cross").max_abs() > 0.0);
        }
    }

    #[test]
    fn folding_is_the_same_for_any_chunk_size() {
        let va: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.37).sin()).collect();
        let vb: Vec<f32> = va.iter().map(|x| x + 1e-3 * x.cos()).collect();
        let (a, b) = (model(&[("w", &va)]), model(&[("w", &vb)]));
        let (_, _, small) = outcomes(&a, &b, 256);
        let (_, _, big) = outcomes(&a, &b, 1 << 20);
        let (PairOutcome::Float(s), PairOutcome::Float(g)) = (small[0], big[0]) else {
            panic!("float outcomes expected");
        };
        assert_eq!(s.max_abs(), g.max_abs());
        assert_eq!(s.max_abs_index(), g.max_abs_index());
        assert_eq!(
            (s.compared(), s.mismatches()),
            (g.compared(), g.mismatches())
        );
        assert!((s.l2() - g.l2()).abs() <= 1e-12 * g.l2());
    }

    #[test]
    fn byte_mode_compares_raw_bytes_of_undecodable_types() {
        // GGUF fork type ids are the only opaque dtypes; build two tiny GGUF files.
        let gguf = |data: &[u8]| {
            let mut f = b"GGUF".to_vec();
            f.extend(3u32.to_le_bytes()); // version
            f.extend(1u64.to_le_bytes()); // tensors
            f.extend(0u64.to_le_bytes()); // key/values
            f.extend(1u64.to_le_bytes());
            f.push(b't');
            f.extend(1u32.to_le_bytes()); // dims
            f.extend(8u64.to_le_bytes()); // ne0
            f.extend(99u32.to_le_bytes()); // type id from a fork
            f.extend(0u64.to_le_bytes()); // offset
            while !f.len().is_multiple_of(32) {
                f.push(0);
            }
            f.extend_from_slice(data);
            modeldiff_formats::open_bytes("t.gguf", f).unwrap()
        };
        let a = gguf(&[1, 2, 3, 4]);
        for (other, equal) in [([1u8, 2, 3, 4], true), ([1, 2, 3, 5], false)] {
            let b = gguf(&other);
            let (m, p, o) = outcomes(&a, &b, 256);
            assert_eq!(p.pairs[0].mode, CompareMode::Bytes);
            let r = DiffConsumer::default().report(&a, &b, &m, &p, &o);
            assert_eq!(r.tensors[0].identical, Some(equal));
            assert!(r.tensors[0].metrics.is_none() && r.tensors[0].mismatches.is_none());
            assert_eq!(r.summary.differs, !equal);
        }
    }

    #[test]
    fn integers_are_compared_exactly() {
        let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let big = 1i64 << 60;
        let a = model_typed(&[("i", "I64", &[3], i64s(&[big, 1, 2]))]);
        let b = model_typed(&[("i", "I64", &[3], i64s(&[big + 1, 1, 2]))]);
        let (m, p, o) = outcomes(&a, &b, 256);
        let r = DiffConsumer::default().report(&a, &b, &m, &p, &o);
        // As f32 both would be 2^60: exact comparison sees the difference.
        assert_eq!(r.tensors[0].mismatches, Some(1));
        assert_eq!(r.tensors[0].identical, Some(false));
    }

    #[test]
    fn summary_counts_nonfinite_values_and_names_the_max() {
        let a = model(&[("x", &[1.0, 2.0, 3.0]), ("y", &[1.0, 1.0]), ("z", &[0.0])]);
        let b = model(&[
            ("x", &[1.0, 2.0, f32::NAN]),
            ("y", &[1.0, 3.0]),
            ("z", &[f32::INFINITY]),
        ]);
        let (m, p, o) = outcomes(&a, &b, 256);
        let r = DiffConsumer::default().report(&a, &b, &m, &p, &o);
        let s = &r.summary;
        assert_eq!((s.nonfinite_a, s.nonfinite_b), (0, 2));
        assert_eq!(s.max_abs, Some(2.0));
        assert_eq!(s.max_abs_tensor.as_deref(), Some("y"));
        // A number against a NaN is a difference, even though the finite pairs are equal.
        assert_eq!(r.tensors[0].identical, Some(false));
        assert_eq!(s.identical, 0);
        let y = r.tensors[1].metrics.as_ref().unwrap();
        assert_eq!(y.nmse, Some(2.0)); // Σd² = 4, Σa² = 2
        assert!((y.nmse_db.unwrap() - 10.0 * 2f64.log10()).abs() < 1e-12);
        let x = r.tensors[0].metrics.as_ref().unwrap();
        assert_eq!((x.nmse, x.nmse_db), (Some(0.0), None));
        let z = r.tensors[2].metrics.as_ref().unwrap();
        assert_eq!((z.nmse, z.nmse_db), (None, None));
    }

    #[test]
    fn ignoring_metadata_is_recorded() {
        let a = model(&[("x", &[1.0])]);
        let (m, p, o) = outcomes(&a, &a, 256);
        let options = ReportOptions {
            ignore_metadata: true,
        };
        let r = DiffConsumer::default().report_with(&a, &a, &m, &p, &o, &options);
        assert!(!r.summary.metadata_compared && r.summary.metadata_ignored);
        assert!(!r.summary.differs);
    }
}
