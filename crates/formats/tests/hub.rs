//! `hf://` references against a Hugging Face cache tree built here (two revisions, snapshot files
//! linking into `blobs/`, a sharded revision, a GGUF-only and a PyTorch-only repository).
//!
//! One test: the cache location comes from the process environment.

use std::path::Path;

use modeldiff_formats::{open, Format, PropertyKey};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const MAIN: &str = "1111111111111111111111111111111111111111";
const V2: &str = "2222222222222222222222222222222222222222";

fn st(tensors: &[(&str, &[f32])]) -> Vec<u8> {
    let owned: Vec<(String, Vec<u8>, usize)> = tensors
        .iter()
        .map(|(n, v)| {
            let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.to_string(), b, v.len())
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, b, len)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, vec![*len], b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// Writes `bytes` as blob `hash` of `repo` and links `snapshots/<commit>/<file>` to it.
fn add(repo: &Path, commit: &str, file: &str, hash: &str, bytes: &[u8]) {
    let blobs = repo.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(hash), bytes).unwrap();
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{hash}"), snap.join(file)).unwrap();
}

fn set_ref(repo: &Path, name: &str, commit: &str) {
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join(name), commit).unwrap();
}

fn source(m: &modeldiff_formats::Model) -> String {
    m.properties()
        .iter()
        .find(|p| p.key == PropertyKey::Source)
        .unwrap()
        .value
        .to_string()
}

#[test]
fn hf_references_resolve_offline_from_the_cache() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("hub");
    let repo = cache.join("models--org--name");
    add(
        &repo,
        MAIN,
        "model.safetensors",
        "b1",
        &st(&[("w", &[1.0, 2.0])]),
    );
    add(&repo, MAIN, "config.json", "c1", b"{}");
    set_ref(&repo, "main", MAIN);
    // Revision v2: sharded, with the index preferred over any single file.
    add(
        &repo,
        V2,
        "model-00001-of-00002.safetensors",
        "s1",
        &st(&[("w", &[1.0, 3.0])]),
    );
    add(
        &repo,
        V2,
        "model-00002-of-00002.safetensors",
        "s2",
        &st(&[("b", &[5.0])]),
    );
    let index = r#"{"weight_map": {"w": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;
    add(
        &repo,
        V2,
        "model.safetensors.index.json",
        "i2",
        index.as_bytes(),
    );
    set_ref(&repo, "v2", V2);
    let gguf_repo = cache.join("models--org--quant");
    let gguf = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gguf/align8.gguf"),
    );
    let torch_repo = cache.join("models--org--torch");
    let pt = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch/legacy.pt"),
    )
    .unwrap();
    add(&torch_repo, MAIN, "pytorch_model.bin", "p1", &pt);
    set_ref(&torch_repo, "main", MAIN);
    add(&gguf_repo, MAIN, "model-q4.gguf", "g1", &gguf.unwrap());
    set_ref(&gguf_repo, "main", MAIN);

    // The cache location comes from the environment; this is the only test in this binary.
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", home.path());

    let m = open(Path::new("hf://org/name")).unwrap();
    assert_eq!(m.tensors().len(), 1);
    assert_eq!(source(&m), format!("hf://org/name@main (commit {MAIN})"));
    let by_commit = open(Path::new(&format!("hf://org/name@{MAIN}"))).unwrap();
    assert_eq!(by_commit.tensors().len(), 1);
    let named = open(Path::new("hf://org/name/model.safetensors")).unwrap();
    assert_eq!(named.tensors().len(), 1);

    let v2 = open(Path::new("hf://org/name@v2")).unwrap();
    assert_eq!(
        v2.tensors().len(),
        2,
        "sharded snapshot whose shards link into blobs/"
    );
    let mut out = [0f32; 2];
    v2.decode_f32(v2.find("w").unwrap(), 0..2, &mut out)
        .unwrap();
    assert_eq!(out, [1.0, 3.0]);

    let t = open(Path::new("hf://org/torch")).unwrap();
    assert_eq!(t.format(), Format::PyTorch);
    assert_eq!(
        open(Path::new("hf://org/quant")).unwrap().format(),
        Format::Gguf
    );

    for (reference, want) in [
        ("hf://org/missing", "not in the Hugging Face cache"),
        (
            "hf://org/name@nope",
            "revision `nope` of org/name is not in the cache",
        ),
        (
            "hf://org/name/absent.bin",
            "absent.bin is not in the cached snapshot",
        ),
        ("hf://org/name/../../x", "not a plain relative path"),
        ("hf://justname", "expected hf://ORG/NAME"),
    ] {
        let e = open(Path::new(reference))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{reference}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let e = open(Path::new("hf://org/missing"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&cache.join("models--org--missing").display().to_string()),
        "{e}"
    );

    // HF_HUB_CACHE wins over HF_HOME.
    let other = tempfile::tempdir().unwrap();
    std::env::set_var("HF_HUB_CACHE", other.path());
    let e = open(Path::new("hf://org/name"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&other.path().display().to_string()), "{e}");
    std::env::remove_var("HF_HUB_CACHE");
}
