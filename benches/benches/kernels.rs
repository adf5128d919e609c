//! Kernel throughput (GB/s of input) per ISA: the diff accumulator on a cache-resident and a
//! memory-bound pair, and f16/bf16 → f32 conversion, with a naive f64 scalar loop as baseline;
//! and the fused half-precision kernels against conversion into buffers + the f32 kernel.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use modeldiff_kernels::convert::{bf16_to_f32_with, f16_to_f32_with};
use modeldiff_kernels::{DiffStats, Elements, Isa};

fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut s = 0x1234_5678u32;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s >> 8) as f32 / (1 << 24) as f32 - 0.5
    };
    let a: Vec<f32> = (0..n).map(|_| next()).collect();
    let b: Vec<f32> = a.iter().map(|&x| x + next() * 1e-3).collect();
    (a, b)
}

/// The obvious f64 loop (no SIMD dispatch, no non-finite handling): the baseline.
fn naive(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    let (mut dd, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dd += (x - y) * (x - y);
        aa += x * x;
        bb += y * y;
    }
    (dd, aa, bb)
}

fn accumulate(c: &mut Criterion) {
    // 64 Ki pairs (512 KiB, cache-resident, the engine's chunk) and 16 Mi pairs (128 MiB).
    for n in [1usize << 16, 1 << 24] {
        let (a, b) = data(n);
        let mut g = c.benchmark_group(format!("diff_stats/{n}"));
        g.throughput(Throughput::Bytes((n * 8) as u64));
        if n > 1 << 20 {
            g.sample_size(20);
        }
        g.bench_function("naive_f64", |bch| {
            bch.iter(|| naive(black_box(&a), black_box(&b)))
        });
        for isa in Isa::available() {
            g.bench_with_input(
                BenchmarkId::from_parameter(isa.name()),
                &isa,
                |bch, &isa| {
                    bch.iter(|| {
                        let mut s = DiffStats::default();
                        s.update_with(isa, black_box(&a), black_box(&b), 0);
                        s
                    })
                },
            );
        }
        g.finish();
    }
}

fn convert(c: &mut Criterion) {
    let n = 1usize << 20;
    let src: Vec<u8> = (0..n)
        .flat_map(|i| half::f16::from_f32(i as f32 * 1e-3).to_le_bytes())
        .collect();
    let mut dst = vec![0f32; n];
    let mut g = c.benchmark_group("f16_to_f32");
    g.throughput(Throughput::Bytes((n * 2) as u64));
    g.bench_function("half_crate", |bch| {
        bch.iter(|| {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        })
    });
    for isa in Isa::available() {
        g.bench_with_input(
            BenchmarkId::from_parameter(isa.name()),
            &isa,
            |bch, &isa| bch.iter(|| f16_to_f32_with(isa, black_box(&src), &mut dst)),
        );
    }
    g.finish();
    let mut g = c.benchmark_group("bf16_to_f32");
    g.throughput(Throughput::Bytes((n * 2) as u64));
    for isa in Isa::available() {
        g.bench_with_input(
            BenchmarkId::from_parameter(isa.name()),
            &isa,
            |bch, &isa| bch.iter(|| bf16_to_f32_with(isa, black_box(&src), &mut dst)),
        );
    }
    g.finish();
}

/// F16 vs F16 and BF16 vs BF16 on the engine's chunk (64 Ki pairs): the fused kernel against
/// converting both sides into `f32` buffers and running the `f32` kernel (the two-pass path).
fn halves(c: &mut Criterion) {
    let n = 1usize << 16;
    let (a, b) = data(n);
    for kind in ["f16", "bf16"] {
        let enc = |v: &[f32]| -> Vec<u8> {
            v.iter()
                .flat_map(|&x| match kind {
                    "f16" => half::f16::from_f32(x).to_le_bytes(),
                    _ => half::bf16::from_f32(x).to_le_bytes(),
                })
                .collect()
        };
        let (ha, hb) = (enc(&a), enc(&b));
        let wrap: fn(&[u8]) -> Elements = match kind {
            "f16" => |h| Elements::F16(h),
            _ => |h| Elements::BF16(h),
        };
        let (mut fa, mut fb) = (vec![0f32; n], vec![0f32; n]);
        let mut g = c.benchmark_group(format!("diff_halves/{kind}/{n}"));
        g.throughput(Throughput::Bytes((n * 4) as u64));
        for isa in Isa::available() {
            g.bench_with_input(BenchmarkId::new("fused", isa.name()), &isa, |bch, &isa| {
                bch.iter(|| {
                    let mut s = DiffStats::default();
                    s.update_elements_with(
                        isa,
                        wrap(black_box(&ha[..])),
                        wrap(black_box(&hb[..])),
                        0,
                    );
                    s
                })
            });
            g.bench_with_input(
                BenchmarkId::new("two_pass", isa.name()),
                &isa,
                |bch, &isa| {
                    bch.iter(|| {
                        let conv = if kind == "f16" {
                            f16_to_f32_with
                        } else {
                            bf16_to_f32_with
                        };
                        conv(isa, black_box(&ha), &mut fa);
                        conv(isa, black_box(&hb), &mut fb);
                        let mut s = DiffStats::default();
                        s.update_with(isa, &fa, &fb, 0);
                        s
                    })
                },
            );
        }
        g.finish();
    }
}

criterion_group!(benches, accumulate, convert, halves);
criterion_main!(benches);
