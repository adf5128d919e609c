//! End-to-end tests of the `modeldiff` binary on GGUF and APR inputs and across formats.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(sub)
}

fn modeldiff(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .output()
        .expect("run modeldiff")
}

/// Runs modeldiff with `args`, asserts exit 0, and parses stdout as JSON.
fn run_json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let o = modeldiff(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn json_diff(a: &Path, b: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "diff".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_json(&args)
}

fn unravel(mut i: u64, shape: &[u64]) -> Vec<u64> {
    let mut idx = vec![0; shape.len()];
    for (slot, &d) in idx.iter_mut().zip(shape).rev() {
        *slot = i % d;
        i /= d;
    }
    idx
}

/// The seed recipe: `modeldiff diff base-model.apr finetuned-model.apr` on cookbook `APR2`
/// bundles, uncompressed, LZ4 and Zstd, against the numpy float64 oracle of
/// `tests/fixtures/apr/gen_fixtures.py`.
#[test]
fn cookbook_seed_demo_matches_oracle_in_every_compression_mode() {
    let oracle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures("apr/oracle.json")).unwrap()).unwrap();
    let close = |g: f64, w: f64| (g - w).abs() <= 1e-6 * w.abs() + 1e-300;
    for mode in ["none", "lz4", "zstd"] {
        let dir = fixtures("apr").join(mode);
        let r = json_diff(
            &dir.join("base-model.apr"),
            &dir.join("finetuned-model.apr"),
            &[],
        );
        assert_eq!(r["a"]["format"], "apr");
        let tensors = r["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), 3, "{mode}");
        for t in tensors {
            let name = t["name"].as_str().unwrap();
            let w = &oracle["tensors"][name];
            let m = &t["metrics"];
            assert_eq!(t["change"], "unchanged");
            assert_eq!(m["compared"], w["elements"], "{mode} {name}");
            for k in ["l2", "max_abs", "mean_abs", "rmse", "norm_a", "norm_b"] {
                let (g, wv) = (m[k].as_f64().unwrap(), w[k].as_f64().unwrap());
                assert!(close(g, wv), "{mode} {name} {k}: {g} vs {wv}");
            }
            let (g, wc) = (m["cosine"].as_f64().unwrap(), w["cosine"].as_f64().unwrap());
            assert!(
                (g - wc).abs() <= 1e-12 + 1e-4 * (1.0 - wc),
                "{mode} {name} cosine"
            );
            let shape: Vec<u64> = t["shape_a"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            let idx: Vec<u64> = m["max_abs_index"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(
                idx,
                unravel(w["max_abs_index"].as_u64().unwrap(), &shape),
                "{mode} {name}"
            );
        }
        let s = &r["summary"];
        assert!(close(
            s["global_l2"].as_f64().unwrap(),
            oracle["global"]["l2"].as_f64().unwrap()
        ));
        // The table output reproduces the recipe's report shape.
        let o = modeldiff(&[
            "diff".as_ref(),
            dir.join("base-model.apr").as_os_str(),
            dir.join("finetuned-model.apr").as_os_str(),
        ]);
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains("encoder.weight") && text.contains("Weight differences"),
            "{text}"
        );
    }
}

#[test]
fn apr_bundles_equal_their_safetensors_twins_across_formats() {
    for mode in [
        "none",
        "lz4",
        "zstd",
        "signed/none",
        "signed/lz4",
        "signed/zstd",
    ] {
        let apr = fixtures("apr").join(mode).join("base-model.apr");
        let r = json_diff(&apr, &fixtures("apr/base-model.safetensors"), &[]);
        assert_eq!(r["b"]["format"], "safetensors");
        for t in r["tensors"].as_array().unwrap() {
            assert_eq!(t["identical"], true, "{mode} {}", t["name"]);
            assert_eq!(t["metrics"]["l2"], 0.0);
        }
    }
}

#[test]
fn aprender_file_checksums_are_verified_unless_no_verify() {
    use apr_format::v2::{AprV2Metadata, AprV2Writer};
    let mut w = AprV2Writer::new(AprV2Metadata::new("cli-test"));
    w.add_f32_tensor("w", vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let bytes = w.write().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.apr");
    std::fs::write(&good, &bytes).unwrap();
    let mut bad_bytes = bytes.clone();
    bad_bytes[40] ^= 0xff; // the header CRC32
    let bad = dir.path().join("bad-crc.apr");
    std::fs::write(&bad, &bad_bytes).unwrap();

    let r = json_diff(&good, &good, &[]);
    assert_eq!(r["tensors"][0]["shape_a"], serde_json::json!([2, 3]));
    let o = modeldiff(&["diff".as_ref(), bad.as_os_str(), good.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("bad-crc.apr") && err.lines().count() == 1,
        "{err}"
    );
    let r = json_diff(&bad, &good, &["--no-verify"]);
    assert_eq!(r["tensors"][0]["identical"], true);
}

#[test]
fn inspect_lists_every_format() {
    for (file, format) in [
        (fixtures("gguf/types-le.gguf"), "gguf"),
        (fixtures("apr/zstd/base-model.apr"), "apr"),
        (fixtures("safetensors/a.safetensors"), "safetensors"),
        (fixtures("safetensors/sharded"), "safetensors"),
    ] {
        let v = run_json(&[
            "inspect".as_ref(),
            file.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(v["schema"], "modeldiff.inspect.v1");
        assert_eq!(v["format"], format);
        let tensors = v["tensors"].as_array().unwrap();
        assert_eq!(tensors.len() as u64, v["tensor_count"].as_u64().unwrap());
        for t in tensors {
            for k in ["name", "dtype", "shape", "bytes", "offset"] {
                assert!(t.get(k).is_some(), "{format}: {k}");
            }
        }
        let o = modeldiff(&["inspect".as_ref(), file.as_os_str()]);
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8(o.stdout).unwrap().contains("Tensors"));
    }
    let bad = modeldiff(&[
        "inspect".as_ref(),
        fixtures("gguf/gen_fixtures.py").as_os_str(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

/// GGUF metadata differences appear in the report, long arrays summarized.
#[test]
fn gguf_metadata_differences_are_reported() {
    let (a, b) = (
        fixtures("gguf/types-le.gguf"),
        fixtures("gguf/align64.gguf"),
    );
    let r = json_diff(&a, &b, &[]);
    let md = r["metadata"].as_array().unwrap();
    assert!(!md.is_empty());
    for m in md {
        assert!(["added", "removed", "changed"].contains(&m["change"].as_str().unwrap()));
        assert!(m.get("a").is_some() && m.get("b").is_some() && m.get("key").is_some());
    }
    assert_eq!(
        r["summary"]["metadata_changed"].as_u64().unwrap(),
        md.len() as u64
    );
}

/// `APR\0` files written by the published `apr-format` crate diff against SafeTensors files
/// holding the same values with zero difference for every lossless dtype.
#[test]
fn apr_format_files_round_trip_against_safetensors() {
    use apr_format::v2::{AprV2Metadata, AprV2Writer, TensorDType};
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;

    let vals = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i as f32) * 0.37 + k).sin() * 3.0)
            .collect::<Vec<f32>>()
    };
    let (f32s, f16s, bf16s) = (vals(96, 0.1), vals(42, 0.2), vals(40, 0.3));
    let i32s: Vec<i32> = (0..10).map(|i| i * 1000 - 4000).collect();
    let f16_bytes: Vec<u8> = f16s
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let bf16_bytes: Vec<u8> = bf16s
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    let f32_bytes: Vec<u8> = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
    let i32_bytes: Vec<u8> = i32s.iter().flat_map(|v| v.to_le_bytes()).collect();

    let mut w = AprV2Writer::new(AprV2Metadata::new("round-trip"));
    w.add_f32_tensor("a.f32", vec![8, 12], &f32s);
    w.add_f16_tensor("b.f16", vec![6, 7], &f16s);
    w.add_tensor("c.bf16", TensorDType::BF16, vec![5, 8], bf16_bytes.clone());
    w.add_tensor("d.i32", TensorDType::I32, vec![10], i32_bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let apr = dir.path().join("model.apr");
    std::fs::write(&apr, w.write().unwrap()).unwrap();

    let st = dir.path().join("model.safetensors");
    let views = vec![
        (
            "a.f32",
            TensorView::new(Dtype::F32, vec![8, 12], &f32_bytes).unwrap(),
        ),
        (
            "b.f16",
            TensorView::new(Dtype::F16, vec![6, 7], &f16_bytes).unwrap(),
        ),
        (
            "c.bf16",
            TensorView::new(Dtype::BF16, vec![5, 8], &bf16_bytes).unwrap(),
        ),
        (
            "d.i32",
            TensorView::new(Dtype::I32, vec![10], &i32_bytes).unwrap(),
        ),
    ];
    safetensors::serialize_to_file(views, None, &st).unwrap();

    // Cross-format: metadata is not compared, so --exit-code sees only the tensors.
    let r = json_diff(&apr, &st, &["--exit-code"]);
    assert_eq!(r["summary"]["metadata_compared"], false);
    let tensors = r["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 4);
    for t in tensors {
        assert_eq!(t["change"], "unchanged", "{}", t["name"]);
        assert_eq!(t["dtype_changed"], false, "{}", t["name"]);
        assert_eq!(t["identical"], true, "{}", t["name"]);
        if t["name"] != "d.i32" {
            assert_eq!(t["metrics"]["l2"], 0.0);
            assert_eq!(t["metrics"]["cosine"], 1.0);
        }
    }
}

#[test]
fn malformed_gguf_and_apr_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = std::fs::read(fixtures("gguf/types-le.gguf")).unwrap();
    let apr = std::fs::read(fixtures("apr/zstd/base-model.apr")).unwrap();
    let mut huge = gguf.clone();
    huge[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes()); // tensor count
    let mut bad_version = gguf.clone();
    bad_version[4..8].copy_from_slice(&99u32.to_le_bytes());
    let mut bomb = apr.clone();
    bomb[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // declared uncompressed size
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.gguf", gguf[..gguf.len() / 3].to_vec()),
        ("header-only.gguf", gguf[..20].to_vec()),
        ("huge-count.gguf", huge),
        ("bad-version.gguf", bad_version),
        ("truncated.apr", apr[..apr.len() / 2].to_vec()),
        ("bomb.apr", bomb),
        (
            "v1.apr",
            b"APRN\x01\x00\x00\x00 messagepack follows".to_vec(),
        ),
    ];
    let good = fixtures("gguf/types-le.gguf");
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        for cmd in [
            vec!["diff".as_ref(), p.as_os_str(), good.as_os_str()],
            vec!["inspect".as_ref(), p.as_os_str()],
        ] {
            let o = modeldiff(&cmd);
            let err = String::from_utf8(o.stderr).unwrap();
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(o.stdout.is_empty(), "{name}");
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(
                err.starts_with("modeldiff: ") && err.contains(name) && !err.contains("panicked"),
                "{name}: {err}"
            );
        }
    }
}

/// APR_Q8 stores a 4-byte scale before its values: equal raw bytes at the wrong offsets must not
/// pass for equal values (the engine's equal-bytes shortcut only applies to plain block layouts).
#[test]
fn apr_q8_tensors_differing_only_at_the_end_are_not_identical() {
    use apr_format::v2::{AprV2Metadata, AprV2Writer};
    let base: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
    let mut tail = base.clone();
    for v in &mut tail[60..] {
        *v = -*v * 0.5;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, vals) in [("a.apr", &base), ("b.apr", &tail)] {
        let mut w = AprV2Writer::new(AprV2Metadata::new("q8"));
        w.add_q8_tensor("w", vec![64], vals);
        let p = dir.path().join(name);
        std::fs::write(&p, w.write().unwrap()).unwrap();
        paths.push(p);
    }
    let r = json_diff(&paths[0], &paths[1], &[]);
    let t = &r["tensors"][0];
    assert_eq!(t["dtype_a"], "APR_Q8");
    assert_eq!(t["identical"], false);
    assert_eq!(t["mismatches"], 4);
    assert!(t["metrics"]["l2"].as_f64().unwrap() > 0.0);
}

/// A big-endian GGUF holds a type with no defined big-endian layout (Q5_0): the diff lists it as
/// not compared, with a warning naming the file, the tensor and why, and compares everything
/// else instead of aborting.
#[test]
fn undecodable_tensors_are_warnings_not_errors() {
    let (le, be) = (
        fixtures("gguf/types-le.gguf"),
        fixtures("gguf/types-be.gguf"),
    );
    let r = json_diff(&le, &be, &[]);
    let warnings: Vec<&str> = r["b"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let skipped: Vec<&serde_json::Value> = r["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["change"] == "unchanged" && t["identical"].is_null())
        .collect();
    assert!(!skipped.is_empty());
    for t in &skipped {
        let name = t["name"].as_str().unwrap();
        let w = warnings
            .iter()
            .find(|w| w.contains(&format!("tensor `{name}`")))
            .unwrap_or_else(|| panic!("no warning for {name}: {warnings:?}"));
        assert!(
            w.starts_with("not compared: ") && w.contains("types-be.gguf"),
            "{w}"
        );
        assert!(w.contains("big-endian"), "{w}");
    }
    assert_eq!(warnings.len(), skipped.len());
    let q5 = skipped.iter().any(|t| t["name"] == "t.q5_0");
    assert!(q5, "Q5_0 has no big-endian layout");
    assert_eq!(r["summary"]["unchanged"].as_u64().unwrap(), 12);
    assert_eq!(
        r["summary"]["compared"].as_u64().unwrap(),
        10,
        "all but Q5_0 and I32"
    );
}
