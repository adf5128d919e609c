//! APR reading throughput: open a cookbook bundle and decode every tensor to f32.
//!
//! The bundles are generated at bench time into a temporary directory: 256 MiB of f32 values
//! (16 tensors of 4 Mi elements), once uncompressed (memory-mapped, zero-copy) and once as a
//! single Zstd frame (decompressed once at open). Throughput is in uncompressed payload bytes.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const TENSORS: usize = 16;
const ELEMS: usize = 4 << 20;
const CHUNK: usize = 64 << 10;

/// Weight-like values (a sum of two uniforms, scaled), deterministic.
fn payload() -> Vec<u8> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut out = Vec::with_capacity(TENSORS * ELEMS * 4);
    for _ in 0..TENSORS * ELEMS {
        let v = (next() + next() - 1.0) * 0.05;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A cookbook `APR2` bundle (paiml/apr-cookbook `ModelBundleV2` layout).
fn bundle(payload: &[u8], zstd: bool) -> Vec<u8> {
    let mut index = Vec::new();
    for t in 0..TENSORS {
        let name = format!("layers.{t:02}.weight");
        index.extend_from_slice(&(name.len() as u32).to_le_bytes());
        index.extend_from_slice(name.as_bytes());
        index.extend_from_slice(&2u32.to_le_bytes());
        index.extend_from_slice(&((ELEMS / 1024) as u64).to_le_bytes());
        index.extend_from_slice(&1024u64.to_le_bytes());
        index.extend_from_slice(&((t * ELEMS * 4) as u64).to_le_bytes());
        index.extend_from_slice(&((ELEMS * 4) as u64).to_le_bytes());
        index.push(0);
    }
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"APR2");
    b[4] = 2;
    b[6] = if zstd { 2 } else { 0 };
    b[8..12].copy_from_slice(&(TENSORS as u32).to_le_bytes());
    b[12..16].copy_from_slice(&64u32.to_le_bytes());
    b[16..20].copy_from_slice(&(64 + index.len() as u32).to_le_bytes());
    b[20..24].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(&index);
    if zstd {
        b.extend_from_slice(&zstd::bulk::compress(payload, 1).expect("zstd"));
    } else {
        b.extend_from_slice(payload);
    }
    b
}

fn open_and_decode(path: &Path, buf: &mut [f32]) -> f32 {
    let model = modeldiff_formats::open(path).expect("open");
    let mut acc = 0f32;
    for (i, t) in model.tensors().iter().enumerate() {
        let n = t.elements() as usize;
        let mut at = 0;
        while at < n {
            let m = CHUNK.min(n - at);
            model
                .decode_f32(i, at..at + m, &mut buf[..m])
                .expect("decode");
            acc += buf[m - 1];
            at += m;
        }
    }
    acc
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = payload();
    let files: Vec<(&str, PathBuf)> = [("none", false), ("zstd", true)]
        .into_iter()
        .map(|(name, z)| {
            let p = dir.path().join(format!("{name}.apr"));
            std::fs::write(&p, bundle(&payload, z)).expect("write");
            (name, p)
        })
        .collect();
    let mut g = c.benchmark_group("apr_open_decode_f32");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    drop(payload);
    let mut buf = vec![0f32; CHUNK];
    for (name, p) in &files {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(open_and_decode(p, &mut buf)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
