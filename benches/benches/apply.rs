//! Payload apply throughput: `payloads::apply` of a Full and of a rank-16 LoRA payload to a
//! 32 Mi-parameter F32 SafeTensors base (32 linear weights of 1024×1024, 128 MiB), writing a new
//! SafeTensors file. Throughput is base bytes per second. Apply also digests the base (the
//! payload records it), so `model_digest` alone is measured beside it, and `std::fs::copy` of the
//! base file (with and without an fsync, which apply does before its rename) is the baseline:
//! the fastest a tool can turn 128 MiB into a new file here.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modeldiff::lowrank::{LowRankOptions, RankChoice};
use modeldiff::payloads::{
    apply, extract, model_digest, ApplyOptions, ExtractKind, ExtractOptions,
};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const TENSORS: usize = 32;
const DIM: usize = 1024;

fn value(t: usize, i: usize) -> f32 {
    let x = (i as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(t as u32 * 97);
    (x >> 8) as f32 / (1 << 24) as f32 - 0.5
}

/// Writes the model with `values(t, i)` at element `i` of tensor `t`.
fn write(path: &Path, values: impl Fn(usize, usize) -> f32) {
    let bytes: Vec<Vec<u8>> = (0..TENSORS)
        .map(|t| {
            (0..DIM * DIM)
                .flat_map(|i| values(t, i).to_le_bytes())
                .collect()
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .enumerate()
        .map(|(t, b)| {
            (
                format!("model.layers.{t}.mlp.up_proj.weight"),
                TensorView::new(Dtype::F32, vec![DIM, DIM], b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn apply_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (pbase, ptuned, pout) = (
        dir.path().join("base.safetensors"),
        dir.path().join("tuned.safetensors"),
        dir.path().join("out.safetensors"),
    );
    write(&pbase, value);
    // Tuned = base + a rank-1 update u·vᵀ, so the rank-16 LoRA is exact and both payloads
    // touch every tensor.
    write(&ptuned, |t, i| {
        let (r, c) = (i / DIM, i % DIM);
        value(t, i) + 1e-3 * (r as f32 / DIM as f32 - 0.5) * (c as f32 / DIM as f32)
    });
    let base = modeldiff_formats::open(&pbase).unwrap();
    let tuned = modeldiff_formats::open(&ptuned).unwrap();
    let (full, _) = extract(&base, &tuned, &ExtractOptions::new(ExtractKind::Full)).unwrap();
    let lora_kind = ExtractKind::Lora(LowRankOptions::new(RankChoice::Fixed(16)));
    let (lora, _) = extract(&base, &tuned, &ExtractOptions::new(lora_kind)).unwrap();
    let bytes = std::fs::metadata(&pbase).unwrap().len();

    let mut g = c.benchmark_group("apply");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("baseline_fs_copy", |b| {
        b.iter(|| std::fs::copy(&pbase, &pout).unwrap())
    });
    // Apply fsyncs its output before the rename; so does this baseline.
    g.bench_function("baseline_fs_copy_fsync", |b| {
        b.iter(|| {
            std::fs::copy(&pbase, &pout).unwrap();
            std::fs::File::open(&pout).unwrap().sync_all().unwrap()
        })
    });
    g.bench_function("model_digest", |b| b.iter(|| model_digest(&base).unwrap()));
    let opts = ApplyOptions::default();
    g.bench_function("full", |b| {
        b.iter(|| apply(&base, &full, &pout, &[], &opts).unwrap())
    });
    g.bench_function("lora_r16", |b| {
        b.iter(|| apply(&base, &lora, &pout, &[], &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, apply_bench);
criterion_main!(benches);
