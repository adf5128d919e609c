//! Integration tests on real models fetched by `../shared/models/fetch-models.sh` (CI runs it
//! into `target/test-models`). Each test prints a note and passes when its model is absent,
//! unless `MODELDIFF_REQUIRE_MODELS=1` (set by `.ci/run` after fetching): then it fails.

use std::path::PathBuf;

use modeldiff::{ChangeKind, Config};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

mod common;
use common::{close, cos_ok};

fn models_dir() -> PathBuf {
    std::env::var_os("MODELDIFF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-models")
        })
}

fn model(name: &str) -> Option<PathBuf> {
    let p = models_dir().join(name);
    if p.exists() {
        Some(p)
    } else {
        let msg = format!(
            "{} not found (run `cargo xtask models`, or ../shared/models/fetch-models.sh target/test-models)",
            p.display()
        );
        assert!(
            std::env::var_os("MODELDIFF_REQUIRE_MODELS").is_none_or(|v| v != "1"),
            "MODELDIFF_REQUIRE_MODELS=1 but {msg}"
        );
        eprintln!("skipping: {msg}");
        None
    }
}

#[test]
fn minilm_self_diff_is_identical() {
    let Some(p) = model("minilm-l6-v2.safetensors") else {
        return;
    };
    let m = modeldiff_formats::open(&p).unwrap();
    assert_eq!(m.tensors().len(), 104);
    let r = modeldiff::diff(&m, &m, &Config::default()).unwrap();
    assert!(!r.summary.differs);
    assert_eq!(r.summary.identical, 104);
    assert_eq!(r.summary.global_l2, Some(0.0));
    assert_eq!(r.summary.global_cosine, Some(1.0));
}

/// MiniLM F32 against an F16 copy written here: every float tensor is a dtype change, and the
/// differences are bounded by f16 rounding (half an ulp: |x|·2⁻¹¹, or 2⁻²⁵ in the subnormals).
#[test]
fn minilm_fp32_vs_fp16() {
    let Some(p) = model("minilm-l6-v2.safetensors") else {
        return;
    };
    let a = modeldiff_formats::open(&p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minilm-f16.safetensors");
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut max_abs_a = std::collections::HashMap::new();
    for (i, t) in a.tensors().iter().enumerate() {
        let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
        if t.dtype == modeldiff_formats::DType::F32 {
            let v = a.f32_view(i).unwrap();
            let bytes: Vec<u8> = v
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect();
            max_abs_a.insert(
                t.name.clone(),
                v.iter().fold(0f32, |m, x| m.max(x.abs())) as f64,
            );
            owned.push((t.name.clone(), Dtype::F16, shape, bytes));
        } else {
            owned.push((
                t.name.clone(),
                Dtype::I64,
                shape,
                a.tensor_bytes(i).to_vec(),
            ));
        }
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &out).unwrap();
    let b = modeldiff_formats::open(&out).unwrap();

    let started = std::time::Instant::now();
    let r = modeldiff::diff(&a, &b, &Config::default()).unwrap();
    eprintln!(
        "minilm fp32 vs fp16: {:?} (engine only, {} threads)",
        started.elapsed(),
        rayon::current_num_threads()
    );
    assert_eq!(r.summary.unchanged, 104);
    assert_eq!(r.summary.dtype_changed, 103);
    for t in &r.tensors {
        assert_eq!(t.change, ChangeKind::Unchanged);
        if let Some(m) = &t.metrics {
            let bound = max_abs_a[&t.name] * 2f64.powi(-11) + 2f64.powi(-25);
            assert!(m.max_abs <= bound, "{}: {} > {}", t.name, m.max_abs, bound);
            assert!(m.cosine.unwrap() > 0.99999, "{}", t.name);
            assert_eq!(m.nonfinite_b, 0);
        } else {
            assert_eq!(
                t.identical,
                Some(true),
                "integer tensor {} is unchanged",
                t.name
            );
        }
    }
    let g = r.summary.global_cosine.unwrap();
    assert!(g > 0.999_999 && g < 1.0, "{g}");
}

#[test]
fn smollm2_gguf_self_diff_is_identical() {
    let Some(p) = model("smollm2-135m-q4_1.gguf") else {
        return;
    };
    let m = modeldiff_formats::open(&p).unwrap();
    let r = modeldiff::diff(&m, &m, &Config::default()).unwrap();
    assert!(!r.summary.differs);
    assert_eq!(r.summary.identical, 272);
    assert!(r.metadata.is_empty());
    assert_eq!(r.summary.global_cosine, Some(1.0));
}

/// SmolLM2 Q4_1 against its Q8_0 requantization (written by `tests/real/gguf_oracle.py`), checked
/// against numpy float64 metrics of gguf-py's dequantized values.
#[test]
fn smollm2_q4_1_vs_q8_0_matches_numpy() {
    let (Some(pa), Some(pb), Some(po)) = (
        model("smollm2-135m-q4_1.gguf"),
        model("smollm2-135m-q8_0.gguf"),
        model("smollm2-q4_1-vs-q8_0.oracle.json"),
    ) else {
        return;
    };
    let (a, b) = (
        modeldiff_formats::open(&pa).unwrap(),
        modeldiff_formats::open(&pb).unwrap(),
    );
    let oracle: serde_json::Value = serde_json::from_slice(&std::fs::read(po).unwrap()).unwrap();
    let r = modeldiff::diff(&a, &b, &Config::default()).unwrap();
    let want = oracle["tensors"].as_object().unwrap();
    assert_eq!(r.tensors.len(), want.len());
    for t in &r.tensors {
        let w = &want[&t.name];
        let m = t.metrics.as_ref().unwrap();
        assert_eq!(m.compared, w["elements"].as_u64().unwrap(), "{}", t.name);
        for (k, g) in [
            ("l2", m.l2),
            ("max_abs", m.max_abs),
            ("mean_abs", m.mean_abs),
            ("rmse", m.rmse),
            ("norm_a", m.norm_a),
            ("norm_b", m.norm_b),
        ] {
            let wv = w[k].as_f64().unwrap();
            assert!(close(g, wv), "{} {k}: {g} vs {wv}", t.name);
        }
        if let Some(wc) = w["cosine"].as_f64() {
            assert!(
                cos_ok(m.cosine.unwrap(), wc),
                "{} cosine {:?} vs {wc}",
                t.name,
                m.cosine
            );
        }
    }
    assert!(close(
        r.summary.global_l2.unwrap(),
        oracle["global_l2"].as_f64().unwrap()
    ));
    assert!(cos_ok(
        r.summary.global_cosine.unwrap(),
        oracle["global_cosine"].as_f64().unwrap()
    ));
    // Requantizing changes the file type key and nothing else in the metadata.
    let keys: Vec<&str> = r.metadata.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["general.file_type"]);
}

#[test]
fn smollm2_inspect_summarizes_the_tokenizer() {
    let Some(p) = model("smollm2-135m-q4_1.gguf") else {
        return;
    };
    let m = modeldiff_formats::open(&p).unwrap();
    let info = modeldiff::inspect(&m);
    assert_eq!(info.model.tensor_count, 272);
    assert_eq!(info.tensors.len(), 272);
    let meta = |k: &str| &info.metadata.iter().find(|e| e.key == k).unwrap().value;
    assert_eq!(meta("general.architecture").as_plain().unwrap(), "llama");
    assert_eq!(meta("llama.block_count").as_plain().unwrap(), 30);
    // 49152 tokens are summarized, not listed.
    let tokens = meta("tokenizer.ggml.tokens").as_summary().unwrap();
    assert_eq!(tokens.len(), 49152);
    assert!(tokens.digest().starts_with("blake3:"));
    let embd = info
        .tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .unwrap();
    assert_eq!(
        (embd.dtype.as_str(), embd.shape.as_slice()),
        ("Q8_0", &[49152u64, 576][..])
    );
    assert_eq!(embd.bytes, 49152 * 576 / 32 * 34);
    assert!(info
        .model
        .properties
        .iter()
        .any(|p| p.key == "version" && p.value == 3));
}
