//! Dequantization throughput (elements per second) of the hot GGUF types on ~4M-element
//! tensors, decoded in 64k-element chunks as the engine streams them; and, for the block types
//! the fused kernels read (`Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`,
//! `Q4_K`, `IQ4_XS`, `IQ4_NL`), a diff of two such tensors fused (blocks
//! decoded in registers) against decode-into-buffers then the `f32` kernel, and the same for
//! 8-bit floats (`F8_E4M3`, `F8_E5M2`).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use modeldiff_formats::decode::decode_f32;
use modeldiff_formats::{ByteOrder, DType, QuantType};
use modeldiff_kernels::{DiffStats, Elements};

/// Elements per tensor (a multiple of every block size).
const ELEMS: usize = 1 << 22;
/// Elements per decode call.
const CHUNK: usize = 1 << 16;

/// Deterministic pseudo-random bytes (xorshift64*).
fn bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// A tensor of `dtype` with random quants and finite, normal f16 scales at `scale_offsets`.
fn tensor(dtype: DType, scale_offsets: &[usize]) -> Vec<u8> {
    let bb = dtype.block_bytes();
    let mut b = bytes(ELEMS / dtype.block_elems() * bb, 0x9e37_79b9_7f4a_7c15);
    for blk in b.chunks_exact_mut(bb) {
        for &o in scale_offsets {
            blk[o..o + 2].copy_from_slice(&0x2e66u16.to_le_bytes()); // f16 0.1
        }
    }
    if dtype == DType::F16 {
        for h in b.chunks_exact_mut(2) {
            h[1] = (h[1] & 0x83) | 0x38; // exponent in a normal range
        }
    }
    b
}

fn dequant(c: &mut Criterion) {
    let cases = [
        (DType::Quant(QuantType::Q4_K), vec![0, 2]),
        (DType::Quant(QuantType::Q6_K), vec![208]),
        (DType::Quant(QuantType::Q8_0), vec![0]),
        (DType::Quant(QuantType::IQ4_XS), vec![0]),
        (DType::Quant(QuantType::Q4_1), vec![0, 2]),
        (DType::Quant(QuantType::Q5_0), vec![0]),
        (DType::F16, vec![]),
    ];
    let mut g = c.benchmark_group("dequant");
    g.throughput(Throughput::Elements(ELEMS as u64));
    let mut out = vec![0f32; CHUNK];
    for (dtype, scales) in cases {
        let data = tensor(dtype, &scales);
        g.bench_with_input(BenchmarkId::from_parameter(dtype), &data, |b, data| {
            b.iter(|| {
                for s in (0..ELEMS).step_by(CHUNK) {
                    decode_f32(dtype, ByteOrder::Little, data, s..s + CHUNK, &mut out).unwrap();
                }
                black_box(&out);
            })
        });
    }
    g.finish();
}

/// Stored blocks as the fused kernels' side.
type Side = fn(&[u8]) -> Elements<'_>;

fn diff_blocks(c: &mut Criterion) {
    let cases: [(QuantType, Side, Vec<usize>); 8] = [
        (QuantType::Q8_0, |b| Elements::Q8_0(b), vec![0]),
        (QuantType::Q4_0, |b| Elements::Q4_0(b), vec![0]),
        (QuantType::Q4_1, |b| Elements::Q4_1(b), vec![0, 2]),
        (QuantType::Q5_0, |b| Elements::Q5_0(b), vec![0]),
        (QuantType::Q5_1, |b| Elements::Q5_1(b), vec![0, 2]),
        (QuantType::Q4_K, |b| Elements::Q4_K(b), vec![0, 2]),
        (QuantType::IQ4_XS, |b| Elements::IQ4_XS(b), vec![0]),
        (QuantType::IQ4_NL, |b| Elements::IQ4_NL(b), vec![0]),
    ];
    let mut g = c.benchmark_group("diff_blocks");
    g.throughput(Throughput::Elements(ELEMS as u64));
    for (q, wrap, scales) in cases {
        let dtype = DType::Quant(q);
        let a = tensor(dtype, &scales);
        // B: A with every 7th byte but the scales changed.
        let mut b = a.clone();
        let bb = dtype.block_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            if i % 7 == 3 && !scales.iter().any(|&o| (o..o + 2).contains(&(i % bb))) {
                *x ^= 0x11;
            }
        }
        fused_vs_two_pass(&mut g, dtype, wrap, &a, &b);
    }
    g.finish();
}

/// The same for 8-bit floats (one byte per element): random finite bytes (exponent's top bit
/// clear), B with every 7th byte changed.
fn diff_f8(c: &mut Criterion) {
    let cases: [(DType, Side); 2] = [
        (DType::F8E4M3, |b| Elements::F8E4M3(b)),
        (DType::F8E5M2, |b| Elements::F8E5M2(b)),
    ];
    let mut g = c.benchmark_group("diff_f8");
    g.throughput(Throughput::Elements(ELEMS as u64));
    for (dtype, wrap) in cases {
        let a: Vec<u8> = bytes(ELEMS, 0x9e37_79b9_7f4a_7c15)
            .into_iter()
            .map(|x| x & 0xbf)
            .collect();
        let mut b = a.clone();
        b.iter_mut().step_by(7).for_each(|x| *x ^= 0x11);
        fused_vs_two_pass(&mut g, dtype, wrap, &a, &b);
    }
    g.finish();
}

/// Benchmarks `fused` (the stored pair read by the fused kernels, chunk by chunk) against
/// `two_pass` (each chunk decoded into `f32` buffers, then the `f32` kernel).
fn fused_vs_two_pass(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    dtype: DType,
    wrap: Side,
    a: &[u8],
    b: &[u8],
) {
    let (mut fa, mut fb) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
    let chunk_bytes = CHUNK / dtype.block_elems() * dtype.block_bytes();
    let name = dtype.to_string();
    g.bench_with_input(BenchmarkId::new("fused", &name), &(), |bch, _| {
        bch.iter(|| {
            let mut st = DiffStats::default();
            for (x, y) in a.chunks(chunk_bytes).zip(b.chunks(chunk_bytes)) {
                st.update_elements(wrap(black_box(x)), wrap(black_box(y)), 0);
            }
            st
        })
    });
    g.bench_with_input(BenchmarkId::new("two_pass", &name), &(), |bch, _| {
        bch.iter(|| {
            let mut st = DiffStats::default();
            for s in (0..ELEMS).step_by(CHUNK) {
                let r = s..s + CHUNK;
                decode_f32(dtype, ByteOrder::Little, a, r.clone(), &mut fa).unwrap();
                decode_f32(dtype, ByteOrder::Little, b, r, &mut fb).unwrap();
                st.update(&fa, &fb, 0);
            }
            st
        })
    });
}

criterion_group!(benches, dequant, diff_blocks, diff_f8);
criterion_main!(benches);
