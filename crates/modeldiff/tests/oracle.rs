//! The engine against the numpy float64 oracle written by
//! `tests/fixtures/safetensors/gen_fixtures.py` (`expected.json`).

use std::path::PathBuf;

use modeldiff::{ChangeKind, Config, Report};
use serde_json::Value;

mod common;
use common::{close, cos_ok};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/safetensors")
}

fn open(name: &str) -> modeldiff_formats::Model {
    modeldiff_formats::open(&fixtures().join(name)).unwrap()
}

fn run(a: &str, b: &str, cfg: &Config) -> Report {
    modeldiff::diff(&open(a), &open(b), cfg).unwrap()
}

fn check_against_oracle(report: &Report, expected: &Value) {
    let want_t = expected["tensors"].as_object().unwrap();
    assert_eq!(report.tensors.len(), want_t.len());
    for t in &report.tensors {
        let w = &want_t[&t.name];
        let ctx = &t.name;
        assert_eq!(t.change.as_str(), w["change"].as_str().unwrap(), "{ctx}");
        assert_eq!(
            t.dtype_changed,
            w["dtype_changed"].as_bool().unwrap(),
            "{ctx}"
        );
        assert_eq!(t.dtype_a.as_deref(), w["dtype_a"].as_str(), "{ctx}");
        assert_eq!(t.dtype_b.as_deref(), w["dtype_b"].as_str(), "{ctx}");
        assert_eq!(t.identical, w["identical"].as_bool(), "{ctx}");
        assert_eq!(t.mismatches, w["mismatches"].as_u64(), "{ctx}");
        match (&t.metrics, w["metrics"].as_object()) {
            (None, None) => {}
            (Some(m), Some(wm)) => {
                let f = |k: &str| wm[k].as_f64().unwrap();
                let u = |k: &str| wm[k].as_u64().unwrap();
                assert_eq!(m.compared, u("compared"), "{ctx} compared");
                assert_eq!(m.nonfinite_a, u("nonfinite_a"), "{ctx}");
                assert_eq!(m.nonfinite_b, u("nonfinite_b"), "{ctx}");
                for (k, got) in [
                    ("l2", m.l2),
                    ("max_abs", m.max_abs),
                    ("mean_abs", m.mean_abs),
                    ("rmse", m.rmse),
                    ("norm_a", m.norm_a),
                    ("norm_b", m.norm_b),
                ] {
                    assert!(close(got, f(k)), "{ctx} {k}: {got} vs {}", f(k));
                }
                let idx: Vec<u64> = wm["max_abs_index"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(m.max_abs_index, idx, "{ctx} max_abs_index");
                match (m.rel_l2, wm["rel_l2"].as_f64()) {
                    (None, None) => {}
                    (Some(g), Some(w)) => assert!(close(g, w), "{ctx} rel_l2 {g} vs {w}"),
                    other => panic!("{ctx} rel_l2 {other:?}"),
                }
                match (m.cosine, wm["cosine"].as_f64()) {
                    (None, None) => {}
                    (Some(g), Some(w)) => assert!(cos_ok(g, w), "{ctx} cosine {g} vs {w}"),
                    other => panic!("{ctx} cosine {other:?}"),
                }
            }
            other => panic!("{ctx}: metrics presence differs: {other:?}"),
        }
    }
    let s = &report.summary;
    let ws = &expected["summary"];
    for (k, got) in [
        ("tensors_a", s.tensors_a),
        ("tensors_b", s.tensors_b),
        ("added", s.added),
        ("removed", s.removed),
        ("shape_changed", s.shape_changed),
        ("unchanged", s.unchanged),
        ("dtype_changed", s.dtype_changed),
        ("identical", s.identical),
        ("compared", s.compared),
    ] {
        assert_eq!(got, ws[k].as_u64().unwrap(), "summary {k}");
    }
    assert!(close(
        s.global_l2.unwrap(),
        ws["global_l2"].as_f64().unwrap()
    ));
    assert!(cos_ok(
        s.global_cosine.unwrap(),
        ws["global_cosine"].as_f64().unwrap()
    ));
    assert!(s.differs);
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap()
}

#[test]
fn matches_numpy_float64_oracle() {
    check_against_oracle(
        &run("a.safetensors", "b.safetensors", &Config::default()),
        &expected(),
    );
}

#[test]
fn chunking_and_threads_do_not_change_the_contract() {
    // Tiny chunks split every tensor (and the shape-changed runs) across many work items.
    let mut cfg = Config::default();
    cfg.chunk_elems = 256;
    cfg.threads = Some(3);
    let small = run("a.safetensors", "b.safetensors", &cfg);
    check_against_oracle(&small, &expected());
    // Thread count alone never changes a number: merging is in a fixed order.
    let mut one = Config::default();
    one.threads = Some(1);
    assert_eq!(
        run("a.safetensors", "b.safetensors", &one),
        run("a.safetensors", "b.safetensors", &Config::default())
    );
}

#[test]
fn self_diff_is_exactly_zero() {
    let r = run("a.safetensors", "a.safetensors", &Config::default());
    assert!(!r.summary.differs);
    for t in &r.tensors {
        assert_eq!(t.change, ChangeKind::Unchanged);
        assert_eq!(t.identical, Some(true), "{}", t.name);
        if let Some(m) = &t.metrics {
            assert_eq!((m.l2, m.max_abs, m.mean_abs), (0.0, 0.0, 0.0), "{}", t.name);
            assert_eq!(m.cosine, Some(1.0), "{}", t.name);
        }
    }
    assert_eq!(r.summary.global_l2, Some(0.0));
    assert_eq!(r.summary.global_cosine, Some(1.0));
}

#[test]
fn diff_is_symmetric() {
    let ab = run("a.safetensors", "b.safetensors", &Config::default());
    let ba = run("b.safetensors", "a.safetensors", &Config::default());
    for t in ab
        .tensors
        .iter()
        .filter(|t| t.change == ChangeKind::Unchanged)
    {
        let u = ba.tensors.iter().find(|u| u.name == t.name).unwrap();
        assert_eq!(t.identical, u.identical);
        assert_eq!(t.mismatches, u.mismatches);
        if let (Some(m), Some(n)) = (&t.metrics, &u.metrics) {
            assert_eq!(
                (m.l2, m.max_abs, m.max_abs_index.clone()),
                (n.l2, n.max_abs, n.max_abs_index.clone())
            );
            assert_eq!((m.norm_a, m.norm_b), (n.norm_b, n.norm_a));
            assert_eq!(m.cosine, n.cosine);
        }
    }
    assert_eq!(ab.summary.added, ba.summary.removed);
}

#[test]
fn sharded_checkpoint_equals_single_file() {
    for sharded in ["sharded", "sharded/model.safetensors.index.json"] {
        let r = run("a.safetensors", sharded, &Config::default());
        // The tensors are the same; the metadata is not (the shards carry none, the index
        // carries `total_size`), and that is reported.
        assert!(
            r.tensors
                .iter()
                .all(|t| t.identical == Some(true) && !t.dtype_changed),
            "{sharded}"
        );
        assert!(r.metadata.iter().any(|m| m.key == "total_size"));
        assert_eq!(r.summary.identical, r.summary.tensors_a);
        assert_eq!(r.b.tensor_count, r.a.tensor_count);
        assert_eq!(r.b.parameter_count, r.a.parameter_count);
    }
}

#[test]
fn include_and_exclude_filter_names() {
    let mut cfg = Config::default();
    cfg.include = vec![
        regex::Regex::new("^len").unwrap(),
        regex::Regex::new("^to_").unwrap(),
    ];
    cfg.exclude = vec![regex::Regex::new("100003").unwrap()];
    let r = run("a.safetensors", "b.safetensors", &cfg);
    let mut names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    let want = [
        "len1",
        "len1023",
        "len7",
        "to_bf16",
        "to_f16",
        "to_f8_e4m3",
        "to_f8_e5m2",
    ];
    assert_eq!(names, want);
    assert_eq!(r.summary.tensors_a, 7);
}
