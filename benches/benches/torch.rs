//! PyTorch zip checkpoint against its SafeTensors twin: `open` + `modeldiff::diff` of two
//! checkpoints (every value nudged) per input byte, F32 (read in place from the mapped zip) and
//! BF16 (decoded), about 1 GiB per F32 model by default.
//!
//! `MODELDIFF_BENCH_TORCH_MB` sets the F32 model size in MiB (the BF16 models are half that).
//! Files are generated once per run in a temporary directory.

#[path = "../../crates/formats/tests/common/torchfile.rs"]
mod torchfile;

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Elements per tensor: 4 Mi (16 MiB in F32), laid out as [2048, 2048].
const ELEMS: usize = 1 << 22;

fn value(t: usize, i: usize, nudge: f32) -> f32 {
    let x = (i as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(t as u32 * 97);
    (x >> 8) as f32 / (1 << 24) as f32 - 0.5 + nudge
}

/// Writes the twins (`.pt`, `.safetensors`) of one model of `tensors` tensors.
fn write_pair(
    dir: &Path,
    stem: &str,
    bf16: bool,
    tensors: usize,
    nudge: f32,
) -> (PathBuf, PathBuf) {
    let data: Vec<Vec<u8>> = (0..tensors)
        .map(|t| {
            (0..ELEMS)
                .flat_map(|i| {
                    let v = value(t, i, nudge);
                    if bf16 {
                        half::bf16::from_f32(v).to_le_bytes().to_vec()
                    } else {
                        v.to_le_bytes().to_vec()
                    }
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..tensors).map(|t| format!("layer.{t}.weight")).collect();
    let shape: &[i32] = &[2048, 2048];
    let entries: Vec<(&str, i32, &[i32])> = names
        .iter()
        .map(|n| (n.as_str(), ELEMS as i32, shape))
        .collect();
    let class = if bf16 {
        "BFloat16Storage"
    } else {
        "FloatStorage"
    };
    let pickle = torchfile::state_dict_of(class, &entries);
    let keys: Vec<String> = (0..tensors).map(|t| t.to_string()).collect();
    let storages: Vec<(&str, Vec<u8>)> = keys
        .iter()
        .zip(&data)
        .map(|(k, d)| (k.as_str(), d.clone()))
        .collect();
    let pt = dir.join(format!("{stem}.pt"));
    std::fs::write(&pt, torchfile::checkpoint(&pickle, &storages)).unwrap();
    drop(storages);
    let dtype = if bf16 { Dtype::BF16 } else { Dtype::F32 };
    let views: Vec<(String, TensorView)> = names
        .iter()
        .zip(&data)
        .map(|(n, d)| {
            (
                n.clone(),
                TensorView::new(dtype, vec![2048, 2048], d).unwrap(),
            )
        })
        .collect();
    let st = dir.join(format!("{stem}.safetensors"));
    safetensors::serialize_to_file(views, None, &st).unwrap();
    (pt, st)
}

fn torch_vs_safetensors(c: &mut Criterion) {
    let mb: usize = std::env::var("MODELDIFF_BENCH_TORCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let cfg = modeldiff::Config::default();
    let mut g = c.benchmark_group("torch_vs_safetensors");
    g.sample_size(10);
    for (label, bf16) in [("f32", false), ("bf16", true)] {
        // The same tensors in both dtypes: 16 MiB each in F32, 8 MiB in BF16.
        let tensors = ((mb << 20) / (ELEMS * 4)).max(1);
        let bytes_per_tensor = ELEMS * if bf16 { 2 } else { 4 };
        let (pa, sa) = write_pair(dir.path(), &format!("{label}-a"), bf16, tensors, 0.0);
        let (pb, sb) = write_pair(dir.path(), &format!("{label}-b"), bf16, tensors, 1e-3);
        let total = 2 * tensors * bytes_per_tensor;
        g.throughput(Throughput::Bytes(total as u64));
        for (format, a, b) in [("pytorch", &pa, &pb), ("safetensors", &sa, &sb)] {
            g.bench_function(format!("{label}/{format}"), |bench| {
                bench.iter(|| {
                    let a = modeldiff_formats::open(a).unwrap();
                    let b = modeldiff_formats::open(b).unwrap();
                    let r = modeldiff::diff(&a, &b, &cfg).unwrap();
                    assert_eq!(r.summary.compared, tensors as u64);
                    r
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, torch_vs_safetensors);
criterion_main!(benches);
