//! Stage 3, *stream*: a pair's compared elements as contiguous pieces, decoded on demand into
//! thread-local buffers, and the parallel run of a plan's jobs.
//!
//! [`PairStream::for_each_piece`] walks the compared region of one pair (for a range of its
//! compared elements, usually one [`Job`]) as [`Piece`]s: contiguous runs in both tensors. A
//! consumer asks each piece for what it needs: the stored bytes of both sides when they share
//! an encoding ([`Piece::encoded`], for an equal-bytes shortcut or a fused decoder), both sides
//! as the fused kernels read them ([`Piece::elements`]: stored F16/BF16 bytes, `Q8_0`, `Q4_0`
//! or `Q4_1` blocks, or F32 values, straight from the map), `f32` values ([`Piece::f32`],
//! zero-copy for little-endian F32 tensors), or exact integers ([`Piece::ints`]). Decoding
//! goes into per-thread buffers, so memory stays bounded by
//! threads × 2 × chunk whatever the model size. [`run_jobs`] runs a closure over every job of
//! a [`Plan`] on the current rayon pool and returns the results in job order.

use std::cell::RefCell;
use std::ops::Range;

use modeldiff_formats::{ByteOrder, DType, Model, QuantType};
use modeldiff_kernels::Elements;
use rayon::prelude::*;

use crate::error::Result;
use crate::plan::{Job, PairPlan, Plan};

/// Reusable decode buffers, one set per thread.
#[derive(Debug, Default)]
struct Buffers {
    fa: Vec<f32>,
    fb: Vec<f32>,
    ia: Vec<i128>,
    ib: Vec<i128>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Makes `v` at least `n` long.
fn grow<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

/// One matched pair, ready to be walked.
#[derive(Clone, Copy, Debug)]
pub struct PairStream<'m> {
    a: &'m Model,
    b: &'m Model,
    pair: &'m PairPlan,
}

impl<'m> PairStream<'m> {
    /// The stream of `pair`, a pair planned between `a` and `b`.
    pub fn new(a: &'m Model, b: &'m Model, pair: &'m PairPlan) -> PairStream<'m> {
        PairStream { a, b, pair }
    }

    /// The pair's plan.
    pub fn pair(&self) -> &'m PairPlan {
        self.pair
    }

    /// Model A.
    pub fn model_a(&self) -> &'m Model {
        self.a
    }

    /// Model B.
    pub fn model_b(&self) -> &'m Model {
        self.b
    }

    /// Calls `f` on each contiguous piece of compared elements `elems` (indices into the
    /// pair's region), in order. Pieces decode into this thread's buffers; a nested call on the
    /// same thread (from inside `f`) uses fresh buffers instead.
    ///
    /// After each piece both models are checked with
    /// [`Model::check_unchanged`]: a file truncated while it is read stops the walk with
    /// "file changed while reading" instead of handing out the zeros that stand in for its
    /// lost pages.
    pub fn for_each_piece(
        &self,
        elems: Range<u64>,
        mut f: impl FnMut(&mut Piece<'_>) -> Result<()>,
    ) -> Result<()> {
        let align = &self.pair.align;
        let mut walk = |bufs: &mut Buffers| -> Result<()> {
            for (offset_a, offset_b, len) in self.pair.region.pieces(elems.start, elems.end) {
                // A row map (only on equal shapes) cuts the run at A's row boundaries and
                // reads each row of A against its row of B.
                let mut runs: Vec<(u64, u64, u64)> = Vec::new();
                match align.rows {
                    Some(map) if align.cols > 0 => {
                        let (mut k, end) = (offset_a, offset_a + len);
                        while k < end {
                            let (row, col) = (k / align.cols, k % align.cols);
                            let n = (align.cols - col).min(end - k);
                            runs.push((k, map.b_row(row) * align.cols + col, n));
                            k += n;
                        }
                    }
                    _ => runs.push((offset_a + align.base_a, offset_b + align.base_b, len)),
                }
                for (offset_a, offset_b, len) in runs {
                    let mut piece = Piece {
                        stream: *self,
                        offset_a,
                        offset_b,
                        len: len as usize,
                        bufs: &mut *bufs,
                    };
                    f(&mut piece)?;
                    self.a.check_unchanged()?;
                    self.b.check_unchanged()?;
                }
            }
            Ok(())
        };
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => walk(&mut bufs),
            Err(_) => walk(&mut Buffers::default()),
        })
    }
}

/// A contiguous run of compared elements: `len` elements from flat index `offset_a` in A and
/// `offset_b` in B.
#[derive(Debug)]
pub struct Piece<'s> {
    stream: PairStream<'s>,
    offset_a: u64,
    offset_b: u64,
    len: usize,
    bufs: &'s mut Buffers,
}

impl Piece<'_> {
    /// Flat (row-major) index in A of the first element.
    pub fn offset_a(&self) -> u64 {
        self.offset_a
    }

    /// Flat (row-major) index in B of the first element.
    pub fn offset_b(&self) -> u64 {
        self.offset_b
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the piece is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn range_a(&self) -> Range<usize> {
        self.offset_a as usize..self.offset_a as usize + self.len
    }

    fn range_b(&self) -> Range<usize> {
        self.offset_b as usize..self.offset_b as usize + self.len
    }

    /// The stored bytes of both sides for this piece, when both tensors share an encoding
    /// (dtype, byte order, shape) and the piece is a whole number of self-contained blocks.
    /// Equal bytes then mean equal values.
    pub fn encoded(&self) -> Option<(&[u8], &[u8])> {
        if !self.stream.pair.same_encoding {
            return None;
        }
        let (s, p) = (&self.stream, &self.stream.pair.pairing);
        let ra = self.offset_a..self.offset_a + self.len as u64;
        let rb = self.offset_b..self.offset_b + self.len as u64;
        Some((s.a.encoded_range(p.a, ra)?, s.b.encoded_range(p.b, rb)?))
    }

    /// Both sides as the fused kernels of `modeldiff-kernels` read them
    /// ([`DiffStats::update_elements`](modeldiff_kernels::DiffStats::update_elements)), with no
    /// decoding and no copy: when at least one side is stored as contiguous little-endian F16,
    /// BF16, `Q8_0`, `Q4_0` or `Q4_1` (whole blocks), the other is one of those too or
    /// zero-copy F32, and the
    /// pair adds no constant to either side. `None` otherwise; [`Piece::f32`] then decodes.
    /// The values are the same as [`Piece::f32`]'s.
    pub fn elements(&self) -> Option<(Elements<'_>, Elements<'_>)> {
        let (s, p, align) = (
            &self.stream,
            &self.stream.pair.pairing,
            &self.stream.pair.align,
        );
        if align.add_a != 0.0 || align.add_b != 0.0 {
            return None;
        }
        let a = raw_elements(s.a, p.a, self.range_a())?;
        let b = raw_elements(s.b, p.b, self.range_b())?;
        match (a, b) {
            // F32 on both sides already reads straight from the map through `f32`.
            (Elements::F32(_), Elements::F32(_)) => None,
            _ => Some((a, b)),
        }
    }

    /// A's values as `f32`, decoded into this thread's buffer unless A is stored as
    /// little-endian F32 (then read straight from the map). Values are as compared: with the
    /// pair's [`crate::plan::Align::add_a`] added.
    pub fn f32_a(&mut self) -> Result<&[f32]> {
        let (model, index, range) = (self.stream.a, self.stream.pair.pairing.a, self.range_a());
        let add = self.stream.pair.align.add_a;
        decode_shifted(model, index, range, &mut self.bufs.fa, add)
    }

    /// Both sides' values as `f32` (see [`Piece::f32_a`]), as compared: B's run is the row
    /// the pair's row map names, and each side has its constant added.
    pub fn f32(&mut self) -> Result<(&[f32], &[f32])> {
        let p = &self.stream.pair.pairing;
        let align = &self.stream.pair.align;
        let (ra, rb) = (self.range_a(), self.range_b());
        let Buffers { fa, fb, .. } = &mut *self.bufs;
        let xa = decode_shifted(self.stream.a, p.a, ra, fa, align.add_a)?;
        let xb = decode_shifted(self.stream.b, p.b, rb, fb, align.add_b)?;
        Ok((xa, xb))
    }

    /// Both sides' values as exact integers (integer and boolean dtypes only).
    pub fn ints(&mut self) -> Result<(&[i128], &[i128])> {
        let p = &self.stream.pair.pairing;
        let (ra, rb, n) = (self.range_a(), self.range_b(), self.len);
        let Buffers { ia, ib, .. } = &mut *self.bufs;
        grow(ia, n);
        grow(ib, n);
        self.stream.a.decode_int(p.a, ra, &mut ia[..n])?;
        self.stream.b.decode_int(p.b, rb, &mut ib[..n])?;
        Ok((&ia[..n], &ib[..n]))
    }
}

/// Elements `range` of tensor `index` as stored, when it is contiguous little-endian F16, BF16,
/// `Q8_0`, `Q4_0`, `Q4_1`, `IQ4_NL`, `Q4_K` or `IQ4_XS`, or F8 (E4M3, E5M2) (bytes; for blocks, when `range` is
/// whole blocks) or zero-copy F32 (values).
fn raw_elements(model: &Model, index: usize, range: Range<usize>) -> Option<Elements<'_>> {
    let t = &model.tensors()[index];
    let bytes = |r: Range<usize>| model.encoded_range(index, r.start as u64..r.end as u64);
    match t.dtype {
        DType::F32 => model.f32_view(index).map(|v| Elements::F32(&v[range])),
        DType::F16 if t.byte_order == ByteOrder::Little => bytes(range).map(Elements::F16),
        DType::BF16 if t.byte_order == ByteOrder::Little => bytes(range).map(Elements::BF16),
        DType::F8E4M3 => bytes(range).map(Elements::F8E4M3),
        DType::F8E5M2 => bytes(range).map(Elements::F8E5M2),
        DType::Quant(q) if t.byte_order == ByteOrder::Little => match q {
            QuantType::Q8_0 => bytes(range).map(Elements::Q8_0),
            QuantType::Q4_0 => bytes(range).map(Elements::Q4_0),
            QuantType::Q4_1 => bytes(range).map(Elements::Q4_1),
            QuantType::Q4_K => bytes(range).map(Elements::Q4_K),
            QuantType::IQ4_XS => bytes(range).map(Elements::IQ4_XS),
            QuantType::IQ4_NL => bytes(range).map(Elements::IQ4_NL),
            QuantType::Q5_0 => bytes(range).map(Elements::Q5_0),
            QuantType::Q5_1 => bytes(range).map(Elements::Q5_1),
            _ => None,
        },
        _ => None,
    }
}

/// Elements `range` of tensor `index` as `f32`: zero-copy when stored as little-endian F32,
/// else decoded into `buf`.
fn decode_f32<'a>(
    model: &'a Model,
    index: usize,
    range: Range<usize>,
    buf: &'a mut Vec<f32>,
) -> Result<&'a [f32]> {
    if let Some(v) = model.f32_view(index) {
        return Ok(&v[range]);
    }
    let n = range.len();
    grow(buf, n);
    model.decode_f32(index, range, &mut buf[..n])?;
    Ok(&buf[..n])
}

/// [`decode_f32`], then `add` added to every value (copied into `buf` when it is not zero).
fn decode_shifted<'a>(
    model: &'a Model,
    index: usize,
    range: Range<usize>,
    buf: &'a mut Vec<f32>,
    add: f32,
) -> Result<&'a [f32]> {
    if add == 0.0 {
        return decode_f32(model, index, range, buf);
    }
    let n = range.len();
    grow(buf, n);
    match model.f32_view(index) {
        Some(v) => buf[..n].copy_from_slice(&v[range]),
        None => model.decode_f32(index, range, &mut buf[..n])?,
    }
    for x in &mut buf[..n] {
        *x += add;
    }
    Ok(&buf[..n])
}

/// Runs `f` on every job of `plan`, in parallel on the current rayon pool; results come back
/// in job order, so merging them in that order is deterministic whatever the thread count.
/// The first error stops the run.
///
/// Each job's result is kept only if neither model changed while it ran
/// ([`Model::check_unchanged`]), so jobs that read stored bytes without pieces are covered too.
pub fn run_jobs<P, F>(a: &Model, b: &Model, plan: &Plan, f: F) -> Result<Vec<P>>
where
    P: Send,
    F: Fn(&PairStream<'_>, &Job) -> Result<P> + Sync,
{
    plan.jobs
        .par_iter()
        .map(|job| {
            let partial = f(&PairStream::new(a, b, &plan.pairs[job.pair]), job);
            a.check_unchanged()?;
            b.check_unchanged()?;
            partial
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, Filter};
    use crate::plan::plan;
    use crate::testutil::{model, model_typed};

    #[test]
    fn pieces_walk_the_overlap_and_decode_on_demand() {
        // [2, 3] vs [2, 2]: two runs of 2 elements.
        let a = model_typed(&[(
            "w",
            "F16",
            &[2, 3],
            [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
        )]);
        let b = model_typed(&[(
            "w",
            "F32",
            &[2, 2],
            [10.0f32, 20.0, 40.0, 50.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        )]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 256);
        let s = PairStream::new(&a, &b, &p.pairs[0]);
        let mut seen = Vec::new();
        s.for_each_piece(0..4, |piece| {
            assert!(piece.encoded().is_none(), "different encodings");
            let (oa, ob) = (piece.offset_a(), piece.offset_b());
            let (xa, xb) = piece.f32()?;
            seen.push((oa, ob, xa.to_vec(), xb.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (0, 0, vec![1.0, 2.0], vec![10.0, 20.0]),
                (3, 2, vec![4.0, 5.0], vec![40.0, 50.0])
            ]
        );
    }

    #[test]
    fn same_encoding_exposes_the_stored_bytes() {
        let a = model(&[("w", &[1.0, 2.0, 3.0])]);
        let b = model(&[("w", &[1.0, 2.5, 3.0])]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 256);
        let s = PairStream::new(&a, &b, &p.pairs[0]);
        s.for_each_piece(1..3, |piece| {
            let (ea, eb) = piece.encoded().expect("same encoding");
            assert_eq!(ea, [2f32.to_le_bytes(), 3f32.to_le_bytes()].concat());
            assert_eq!(eb, [2.5f32.to_le_bytes(), 3f32.to_le_bytes()].concat());
            // Nested walks get their own buffers.
            s.for_each_piece(0..1, |inner| {
                assert_eq!(inner.f32_a()?, [1.0]);
                Ok(())
            })?;
            assert_eq!(piece.f32_a()?, [2.0, 3.0]);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn run_jobs_returns_results_in_job_order() {
        let a = model(&[("w", &vec![1.0; 2000]), ("v", &[0.0; 10])]);
        let b = model(&[("w", &vec![1.0; 2000]), ("v", &[0.0; 10])]);
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = plan(&a, &b, &m, 256);
        let got = run_jobs(&a, &b, &p, |_, job| Ok((job.pair, job.elems.start))).unwrap();
        let want: Vec<_> = p.jobs.iter().map(|j| (j.pair, j.elems.start)).collect();
        assert_eq!(got, want);
    }
}
