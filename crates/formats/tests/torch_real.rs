//! Real-model tests of the PyTorch and ONNX readers: the akiki VAD checkpoint as a zip `.pt`,
//! SafeTensors and ONNX; LPIPS v0.0/v0.1 `.pth` and facenet MTCNN `.pt` legacy checkpoints
//! against the oracle files `tests/real/torch_oracle.py MODELS_DIR` writes (an independent
//! decoder: Python's restricted unpickler, numpy and zipfile, no torch).
//!
//! Models are looked up in `$MODELDIFF_TEST_MODELS`, else `<workspace>/target/test-models`; when
//! absent the tests print a note and pass, unless `MODELDIFF_REQUIRE_MODELS=1`: then they fail.

use std::path::PathBuf;

use modeldiff_formats::{open, Format, Model};

fn models_dir() -> PathBuf {
    std::env::var_os("MODELDIFF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-models")
        })
}

fn present(rel: &str) -> Option<PathBuf> {
    let p = models_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    let msg = format!(
        "{} not found (run `cargo xtask models`: it fetches the test models and runs tests/real/torch_oracle.py)",
        p.display()
    );
    assert!(
        std::env::var_os("MODELDIFF_REQUIRE_MODELS").is_none_or(|v| v != "1"),
        "MODELDIFF_REQUIRE_MODELS=1 but {msg}"
    );
    eprintln!("skipping: {msg}");
    None
}

/// Every value of tensor `i` as f32 bits (integers through f32 too: these models hold floats).
fn bits(m: &Model, i: usize) -> Vec<u32> {
    let n = m.tensors()[i].elements() as usize;
    let mut out = vec![0f32; n];
    m.decode_f32(i, 0..n, &mut out).unwrap();
    out.into_iter().map(f32::to_bits).collect()
}

/// `a` and `b` hold the same tensors (names, dtypes, shapes) with bit-identical values.
fn assert_identical(a: &Model, b: &Model) {
    assert_eq!(a.tensors().len(), b.tensors().len());
    for (i, t) in a.tensors().iter().enumerate() {
        let j = b
            .find(&t.name)
            .unwrap_or_else(|| panic!("{} missing in {}", t.name, b.path().display()));
        let u = &b.tensors()[j];
        assert_eq!((t.dtype, &t.shape), (u.dtype, &u.shape), "{}", t.name);
        assert!(bits(a, i) == bits(b, j), "{}: values differ", t.name);
    }
}

#[test]
fn akiki_zip_checkpoint_equals_its_safetensors_twin() {
    let (Some(pt), Some(st)) = (present("akiki-vad.pt"), present("akiki-vad.safetensors")) else {
        return;
    };
    let a = open(&pt).unwrap();
    assert_eq!(a.format(), Format::PyTorch);
    assert_eq!(a.tensors().len(), 15);
    let b = open(&st).unwrap();
    assert_identical(&a, &b);
    // Stored entries are mapped: every tensor is read in place.
    for i in 0..a.tensors().len() {
        assert!(a.f32_view(i).is_some(), "{}", a.tensors()[i].name);
    }
}

#[test]
fn akiki_onnx_initializers_match_where_names_allow() {
    let (Some(onnx), Some(st)) = (
        present("akiki/akiki/models/akiki-vad.onnx"),
        present("akiki-vad.safetensors"),
    ) else {
        return;
    };
    let a = open(&onnx).unwrap();
    let b = open(&st).unwrap();
    assert_eq!(a.format(), Format::Onnx);
    assert_eq!(a.tensors().len(), 14);
    // The exporter prefixes module parameters with `model.`; the GRU weights were repacked
    // into ONNX's gate order (`onnx::GRU_*`) and `head.weight` became a MatMul operand.
    let mut matched = 0;
    for (i, t) in a.tensors().iter().enumerate() {
        let Some(j) = t.name.strip_prefix("model.").and_then(|n| b.find(n)) else {
            assert!(t.name.starts_with("onnx::"), "{}", t.name);
            continue;
        };
        assert_eq!(t.shape, b.tensors()[j].shape, "{}", t.name);
        assert!(bits(&a, i) == bits(&b, j), "{}", t.name);
        matched += 1;
    }
    assert_eq!(matched, 10);
}

#[test]
fn legacy_checkpoints_match_the_independent_oracle() {
    let Some(index) = present("torch-oracle/index.json") else {
        return;
    };
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let entries = index.as_object().unwrap();
    assert_eq!(entries.len(), 10);
    for (label, e) in entries {
        let file = present(e["file"].as_str().unwrap()).unwrap();
        let m = open(&file).unwrap();
        let oracle = open(&models_dir().join(format!("torch-oracle/{label}.safetensors"))).unwrap();
        assert_eq!(
            m.tensors().len(),
            e["tensors"].as_object().unwrap().len(),
            "{label}"
        );
        assert_identical(&m, &oracle);
    }
    // LPIPS v0.0 against v0.1: same names and shapes, retrained values.
    let (Some(a), Some(b)) = (
        present("lpips-weights/v0.0/vgg.pth"),
        present("lpips-weights/v0.1/vgg.pth"),
    ) else {
        return;
    };
    let (a, b) = (open(&a).unwrap(), open(&b).unwrap());
    assert_eq!(a.tensors().len(), b.tensors().len());
    for (i, t) in a.tensors().iter().enumerate() {
        let j = b.find(&t.name).unwrap();
        assert_eq!(t.shape, b.tensors()[j].shape);
        assert!(bits(&a, i) != bits(&b, j), "{} did not change", t.name);
    }
}
