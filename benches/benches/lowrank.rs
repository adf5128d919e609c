//! LoRA extraction time: `lowrank::truncated_svd` with a fixed rank plus `LowRank::to_lora`, on
//! a `4096×4096` and a `4096×11008` f32 ΔW (the attention and MLP shapes of a 7B model) at
//! ranks 64 and 128, with the default oversampling and power iterations on all cores.
//!
//! ΔW is random low-rank-plus-noise, built once outside the timed loop: a rank-192 product of
//! uniform factors with singular values decaying like `0.98^k`, plus uniform noise (no gap at
//! the extracted rank, so the sketch does its full work). Targets on the 2-core machine:
//! under 1 s for `4096×4096`, under 2 s for `4096×11008`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use modeldiff::lowrank::{truncated_svd, LowRankOptions, MatrixView, RankChoice};

/// Rank of the planted part of ΔW.
const PLANTED_RANK: usize = 192;

/// A `rows×cols` row-major ΔW: `G₁·diag(0.98^k)·G₂` with uniform factors in `[-0.5, 0.5)` plus
/// uniform noise in `[-0.01, 0.01)`.
fn delta(rows: usize, cols: usize) -> Vec<f32> {
    let mut s = 0x1234_5678u32;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s >> 8) as f32 / (1 << 24) as f32 - 0.5
    };
    let g1: Vec<f32> = (0..rows * PLANTED_RANK).map(|_| next()).collect();
    let g2: Vec<f32> = (0..PLANTED_RANK * cols).map(|_| next()).collect();
    let mut m: Vec<f32> = (0..rows * cols).map(|_| next() * 0.02).collect();
    let scaled = Mat::<f32>::from_fn(rows, PLANTED_RANK, |i, k| {
        g1[i * PLANTED_RANK + k] * 0.98f32.powi(k as i32)
    });
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut m, rows, cols),
        Accum::Add,
        scaled.as_ref(),
        MatRef::from_row_major_slice(&g2, PLANTED_RANK, cols),
        1.0,
        Par::rayon(0),
    );
    m
}

fn lora_extract(c: &mut Criterion) {
    for (rows, cols) in [(4096usize, 4096usize), (4096, 11008)] {
        let m = delta(rows, cols);
        let view = MatrixView::new(rows, cols, &m).unwrap();
        let mut g = c.benchmark_group(format!("lora_extract/{rows}x{cols}"));
        // One extraction per sample: each takes most of a second.
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(20));
        for rank in [64usize, 128] {
            let opts = LowRankOptions::new(RankChoice::Fixed(rank));
            g.bench_with_input(BenchmarkId::new("rank", rank), &opts, |b, opts| {
                b.iter(|| truncated_svd(view, opts).unwrap().to_lora())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, lora_extract);
criterion_main!(benches);
