//! Real-model test: SmolLM2-135M in GGUF (Q4_1, Q8_0 and F32 tensors), checked against the
//! oracle files that `tests/real/gguf_oracle.py MODELS_DIR` writes next to the model.
//!
//! The models are not committed. They are looked up in `$MODELDIFF_TEST_MODELS`, falling back
//! to `<workspace>/target/test-models`; when the model or its oracles are absent the test prints
//! a note and passes, unless `MODELDIFF_REQUIRE_MODELS=1` (set by `.ci/run`): then it fails.

use std::path::PathBuf;

use modeldiff_formats::{open, Model};

fn models_dir() -> PathBuf {
    std::env::var_os("MODELDIFF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-models")
        })
}

fn present(paths: &[&PathBuf]) -> bool {
    for p in paths {
        if !p.exists() {
            let msg = format!(
                "{} not found (run `cargo xtask models`: it fetches the test models and runs tests/real/gguf_oracle.py)",
                p.display()
            );
            assert!(
                std::env::var_os("MODELDIFF_REQUIRE_MODELS").is_none_or(|v| v != "1"),
                "MODELDIFF_REQUIRE_MODELS=1 but {msg}"
            );
            eprintln!("skipping: {msg}");
            return false;
        }
    }
    true
}

fn decode_all(m: &Model, i: usize) -> Vec<f32> {
    let n = m.tensors()[i].elements() as usize;
    let mut out = vec![0f32; n];
    // Stream in 64k-element chunks (a multiple of every block size), as the engine does.
    for s in (0..n).step_by(1 << 16) {
        let e = (s + (1 << 16)).min(n);
        m.decode_f32(i, s..e, &mut out[s..e]).unwrap();
    }
    out
}

#[test]
fn smollm2_q4_1_matches_gguf_py() {
    let dir = models_dir();
    let model_path = dir.join("smollm2-135m-q4_1.gguf");
    let listing = dir.join("smollm2-135m-q4_1.oracle.json");
    let values = dir.join("smollm2-135m-q4_1.oracle.safetensors");
    if !present(&[&model_path, &listing, &values]) {
        return;
    }
    let m = open(&model_path).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&listing).unwrap()).unwrap();
    let tensors = want["tensors"].as_array().unwrap();
    assert_eq!(
        m.tensors().len() as u64,
        want["tensor_count"].as_u64().unwrap()
    );
    for (t, w) in m.tensors().iter().zip(tensors) {
        assert_eq!(t.name, w["name"].as_str().unwrap());
        assert_eq!(t.dtype.name(), w["dtype"].as_str().unwrap(), "{}", t.name);
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.shape, shape, "{}", t.name);
    }
    let oracle = open(&values).unwrap();
    let mut dtypes = Vec::new();
    for (j, ot) in oracle.tensors().iter().enumerate() {
        let i = m.find(&ot.name).unwrap();
        dtypes.push(m.tensors()[i].dtype.name());
        assert_eq!(m.tensors()[i].shape, ot.shape, "{}", ot.name);
        let got = decode_all(&m, i);
        let exp = decode_all(&oracle, j);
        assert_eq!(got.len(), exp.len());
        for (k, (g, e)) in got.iter().zip(&exp).enumerate() {
            assert_eq!(g.to_bits(), e.to_bits(), "{}[{k}]: {g} vs {e}", ot.name);
        }
    }
    dtypes.sort();
    assert_eq!(dtypes, ["F32", "Q4_1", "Q8_0"]);
}

#[test]
fn smollm2_q8_0_requantization_opens() {
    let dir = models_dir();
    let a_path = dir.join("smollm2-135m-q4_1.gguf");
    let b_path = dir.join("smollm2-135m-q8_0.gguf");
    let oracle = dir.join("smollm2-q4_1-vs-q8_0.oracle.json");
    if !present(&[&a_path, &b_path, &oracle]) {
        return;
    }
    let (a, b) = (open(&a_path).unwrap(), open(&b_path).unwrap());
    assert_eq!(a.tensors().len(), b.tensors().len());
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&oracle).unwrap()).unwrap();
    for t in b.tensors() {
        assert!(
            ["Q8_0", "F32"].contains(&t.dtype.name().as_str()),
            "{}",
            t.name
        );
    }
    // Spot-check the recorded norms of a few tensors (float64 sums; numpy sums in another order).
    for name in [
        "blk.0.attn_q.weight",
        "blk.29.ffn_down.weight",
        "output_norm.weight",
    ] {
        let (ia, ib) = (a.find(name).unwrap(), b.find(name).unwrap());
        let norm = |v: Vec<f32>| v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let (na, nb) = (norm(decode_all(&a, ia)), norm(decode_all(&b, ib)));
        let w = &want["tensors"][name];
        let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(1e-300);
        assert!(
            rel(na, w["norm_a"].as_f64().unwrap()) < 1e-9,
            "{name} norm_a"
        );
        assert!(
            rel(nb, w["norm_b"].as_f64().unwrap()) < 1e-9,
            "{name} norm_b"
        );
    }
}
