//! End-to-end engine throughput: `modeldiff::diff` on a 32 Mi-parameter model (F32 vs F32 with
//! every value nudged, and F32 vs an F16 copy), by thread count, against a single-threaded naive
//! f64 loop over the same mapped bytes as the baseline; then F16 vs F16 and BF16 vs BF16 (every
//! value nudged) with the fused half-precision kernels and, in the same run, the two-pass path
//! they replaced (`Config::fused_kernels = false`).

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Tensors per model and elements per tensor: 32 × 1 Mi = 32 Mi parameters (128 MiB in F32).
const TENSORS: usize = 32;
const ELEMS: usize = 1 << 20;

fn write(path: &Path, dtype: Dtype, values: impl Fn(usize, usize) -> f32) {
    let bytes: Vec<Vec<u8>> = (0..TENSORS)
        .map(|t| match dtype {
            Dtype::F32 => (0..ELEMS)
                .flat_map(|i| values(t, i).to_le_bytes())
                .collect(),
            Dtype::BF16 => (0..ELEMS)
                .flat_map(|i| half::bf16::from_f32(values(t, i)).to_le_bytes())
                .collect(),
            _ => (0..ELEMS)
                .flat_map(|i| half::f16::from_f32(values(t, i)).to_le_bytes())
                .collect(),
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .enumerate()
        .map(|(t, b)| {
            (
                format!("layer.{t}.weight"),
                TensorView::new(dtype, vec![ELEMS / 1024, 1024], b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn value(t: usize, i: usize) -> f32 {
    let x = (i as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(t as u32 * 97);
    (x >> 8) as f32 / (1 << 24) as f32 - 0.5
}

fn engine(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, ph) = (
        dir.path().join("a.st"),
        dir.path().join("b.st"),
        dir.path().join("h.st"),
    );
    write(&pa, Dtype::F32, value);
    write(&pb, Dtype::F32, |t, i| value(t, i) + 1e-3);
    write(&ph, Dtype::F16, value);
    let a = modeldiff_formats::open(&pa).unwrap();
    let b = modeldiff_formats::open(&pb).unwrap();
    let h = modeldiff_formats::open(&ph).unwrap();
    let mut g = c.benchmark_group("engine_diff");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((TENSORS * ELEMS * 8) as u64));
    g.bench_function("naive_f64_1thread/f32_vs_f32", |bch| {
        bch.iter(|| {
            let mut dd = 0f64;
            for i in 0..a.tensors().len() {
                let (x, y) = (a.f32_view(i).unwrap(), b.f32_view(i).unwrap());
                dd += x
                    .iter()
                    .zip(y)
                    .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
                    .sum::<f64>();
            }
            dd
        })
    });
    let max_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, max_threads] {
        let mut cfg = modeldiff::Config::default();
        cfg.threads = Some(threads);
        g.bench_with_input(BenchmarkId::new("f32_vs_f32", threads), &cfg, |bch, cfg| {
            bch.iter(|| modeldiff::diff(&a, &b, cfg).unwrap())
        });
        // Throughput counts 8 bytes per pair here too: the F16 side reads half of that.
        g.bench_with_input(BenchmarkId::new("f32_vs_f16", threads), &cfg, |bch, cfg| {
            bch.iter(|| modeldiff::diff(&a, &h, cfg).unwrap())
        });
    }
    g.finish();
    drop(dir);

    // Half-precision pairs: 2 × 64 MiB each.
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    for (name, dtype) in [("f16_vs_f16", Dtype::F16), ("bf16_vs_bf16", Dtype::BF16)] {
        let (pa, pb) = (
            dir.path().join(format!("{name}.a.st")),
            dir.path().join(format!("{name}.b.st")),
        );
        write(&pa, dtype, value);
        // A relative nudge that survives rounding to 8 (bf16) or 11 (f16) significant bits.
        write(&pb, dtype, |t, i| value(t, i) * 1.02 + 1e-2);
        let a = modeldiff_formats::open(&pa).unwrap();
        let b = modeldiff_formats::open(&pb).unwrap();
        pairs.push((name, a, b));
    }
    let mut g = c.benchmark_group("engine_diff_halves");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((TENSORS * ELEMS * 4) as u64));
    for threads in [1, max_threads] {
        for (name, a, b) in &pairs {
            for fused in [true, false] {
                let mut cfg = modeldiff::Config::default();
                cfg.threads = Some(threads);
                cfg.fused_kernels = fused;
                let path = if fused { "fused" } else { "two_pass" };
                let id = BenchmarkId::new(format!("{name}/{path}"), threads);
                g.bench_with_input(id, &cfg, |bch, cfg| {
                    bch.iter(|| modeldiff::diff(a, b, cfg).unwrap())
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
