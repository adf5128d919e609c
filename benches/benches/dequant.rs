//! Dequantization throughput (elements per second) of the hot GGUF types on ~4M-element
//! tensors, decoded in 64k-element chunks as the engine streams them.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use modeldiff_formats::decode::decode_f32;
use modeldiff_formats::{ByteOrder, DType, QuantType};

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

criterion_group!(benches, dequant);
criterion_main!(benches);
