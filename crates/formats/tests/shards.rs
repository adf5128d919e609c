//! One shard of a sharded SafeTensors checkpoint opens the whole checkpoint, with a warning.

use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn write_st(path: &Path, name: &str, v: &[f32]) {
    let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![v.len()], &b).unwrap();
    safetensors::serialize_to_file(vec![(name, view)], None, path).unwrap();
}

#[test]
fn a_single_shard_opens_the_whole_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_st(
        &d.join("model-00001-of-00002.safetensors"),
        "w",
        &[1.0, 2.0],
    );
    write_st(&d.join("model-00002-of-00002.safetensors"), "b", &[3.0]);
    let first = d.join("model-00001-of-00002.safetensors");

    // Without an index the shard opens alone.
    let alone = modeldiff_formats::open(&first).unwrap();
    assert_eq!(alone.tensors().len(), 1);
    assert!(alone.warnings().is_empty());

    let index = r#"{"weight_map": {"w": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;
    std::fs::write(d.join("model.safetensors.index.json"), index).unwrap();
    for shard in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        let m = modeldiff_formats::open(&d.join(shard)).unwrap();
        assert_eq!(m.tensors().len(), 2, "{shard}");
        assert!(m.path().ends_with("model.safetensors.index.json"));
        assert_eq!(m.warnings().len(), 1);
        assert!(
            m.warnings()[0].contains("one shard of a sharded checkpoint"),
            "{:?}",
            m.warnings()
        );
    }

    // A file named like a shard that the index does not list opens alone.
    write_st(&d.join("other-00001-of-00001.safetensors"), "x", &[0.0]);
    let other = modeldiff_formats::open(&d.join("other-00001-of-00001.safetensors")).unwrap();
    assert_eq!(other.tensors().len(), 1);

    // A broken index leaves the shard to open alone, and says so.
    std::fs::write(d.join("model.safetensors.index.json"), "{not json").unwrap();
    let m = modeldiff_formats::open(&first).unwrap();
    assert_eq!(m.tensors().len(), 1);
    assert!(
        m.warnings()[0].contains("only the shard was opened"),
        "{:?}",
        m.warnings()
    );
}
