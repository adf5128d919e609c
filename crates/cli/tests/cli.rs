//! End-to-end tests of the `modeldiff` binary: outputs, exit codes, and errors on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/safetensors")
        .join(name)
}

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).output().expect("run modeldiff")
}

fn diff(a: &Path, b: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["diff".as_ref(), a.as_os_str(), b.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn json_report_has_the_v1_schema() {
    let o = diff(
        &fixture("a.safetensors"),
        &fixture("b.safetensors"),
        &["--format", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "modeldiff.report.v1");
    for side in ["a", "b"] {
        for k in ["path", "format", "tensor_count", "parameter_count"] {
            assert!(v[side].get(k).is_some(), "{side}.{k}");
        }
        assert_eq!(v[side]["format"], "safetensors");
    }
    let tensors = v["tensors"].as_array().unwrap();
    for t in tensors {
        for k in [
            "name",
            "change",
            "shape_a",
            "shape_b",
            "dtype_a",
            "dtype_b",
            "dtype_changed",
            "identical",
            "metrics",
        ] {
            assert!(t.get(k).is_some(), "tensor field {k}");
        }
        if let Some(m) = t["metrics"].as_object() {
            for k in [
                "compared",
                "l2",
                "max_abs",
                "max_abs_index",
                "mean_abs",
                "rmse",
                "cosine",
                "rel_l2",
                "norm_a",
                "norm_b",
                "nonfinite_a",
                "nonfinite_b",
            ] {
                assert!(m.contains_key(k), "metrics field {k}");
            }
        }
    }
    let s = &v["summary"];
    for k in [
        "tensors_a",
        "tensors_b",
        "added",
        "removed",
        "shape_changed",
        "unchanged",
        "dtype_changed",
        "identical",
        "compared",
        "mean_l2",
        "mean_cosine",
        "max_abs",
        "global_l2",
        "global_cosine",
    ] {
        assert!(s.get(k).is_some(), "summary field {k}");
    }
    let change = |n: &str| tensors.iter().find(|t| t["name"] == n).unwrap()["change"].clone();
    assert_eq!(change("added_only"), "added");
    assert_eq!(change("removed_only"), "removed");
    assert_eq!(change("resized"), "shape_changed");
    // Non-finite values never reach the JSON as NaN.
    assert!(!stdout(&o).contains("NaN"));
}

#[test]
fn exit_code_reports_differences_only_when_asked() {
    let (a, b) = (sample("base.safetensors"), sample("finetuned.safetensors"));
    assert_eq!(diff(&a, &b, &[]).status.code(), Some(0));
    assert_eq!(diff(&a, &b, &["--exit-code"]).status.code(), Some(1));
    assert_eq!(diff(&a, &a, &["--exit-code"]).status.code(), Some(0));
    let q = diff(&a, &b, &["--quiet"]);
    assert_eq!(q.status.code(), Some(1));
    assert!(q.stdout.is_empty());
    let q = diff(&a, &a, &["-q"]);
    assert_eq!(q.status.code(), Some(0));
}

#[test]
fn table_csv_and_markdown_render() {
    let (a, b) = (sample("base.safetensors"), sample("finetuned.safetensors"));
    let t = stdout(&diff(&a, &b, &[]));
    assert!(
        t.contains("\nTensors\n") && t.contains("\nSummary\n"),
        "{t}"
    );
    assert!(t.contains("lm_head.weight") && t.contains("added"));
    assert!(t.contains("[256, 64]→[264, 64]"));
    // CSV lists the changed tensors, or with --all every tensor.
    let c = stdout(&diff(&a, &b, &["--format", "csv"]));
    assert_eq!(c.lines().count(), 1 + 7);
    let c = stdout(&diff(&a, &b, &["--format", "csv", "--all"]));
    let lines: Vec<&str> = c.lines().collect();
    assert!(lines[0].starts_with("name,change,"));
    assert_eq!(lines.len(), 1 + 17);
    let cols = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == cols));
    let m = stdout(&diff(&a, &b, &["--format", "markdown"]));
    assert!(m.contains("| Tensor | Status | Shape |"));
}

#[test]
fn threads_and_filters_are_accepted_and_validated() {
    let (a, b) = (fixture("a.safetensors"), fixture("b.safetensors"));
    let o = diff(
        &a,
        &b,
        &[
            "--threads",
            "1",
            "--include",
            "^len",
            "--exclude",
            "1023",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tensors"].as_array().unwrap().len(), 3);
    let bad = diff(&a, &b, &["--include", "("]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("invalid --include regex"));
    assert_eq!(diff(&a, &b, &["--threads", "0"]).status.code(), Some(2));
    assert_eq!(diff(&a, &b, &["--format", "yaml"]).status.code(), Some(2));
}

/// A SafeTensors file from a header JSON and a data section.
fn st_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

fn assert_clean_error(path: &Path, what: &str) {
    let good = fixture("a.safetensors");
    for (a, b) in [(path, good.as_path()), (good.as_path(), path)] {
        let o = diff(a, b, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(o.stdout.is_empty(), "{what}");
        assert_eq!(err.lines().count(), 1, "{what}: one line expected: {err}");
        assert!(err.starts_with("modeldiff: "), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{what}: message names the file: {err}");
    }
}

#[test]
fn malformed_safetensors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("a.safetensors")).unwrap();
    let hdr = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut huge_len = good.clone();
    huge_len[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut past_eof = good.clone();
    past_eof[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("truncated_header", good[..20].to_vec()),
        ("header_too_large", huge_len),
        ("header_past_eof", past_eof),
        (
            "bad_json",
            st_file(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]"#,
                &[0; 8],
            ),
        ),
        (
            "overlapping",
            st_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &[0; 12],
            ),
        ),
        (
            "unknown_dtype",
            st_file(
                r#"{"w":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
        ),
        (
            "size_mismatch",
            st_file(
                r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
        ),
        ("trailing_data", st_file(hdr, &[0; 12])),
        ("empty", vec![]),
        ("garbage", b"PK\x03\x04 this is a zip, not a model".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&p, bytes).unwrap();
        assert_clean_error(&p, name);
    }
    assert_clean_error(&dir.path().join("missing.safetensors"), "missing file");
}

#[test]
fn malformed_shard_indexes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("s.safetensors");
    std::fs::write(
        &shard,
        st_file(
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 8],
        ),
    )
    .unwrap();
    let cases = [
        ("escape", r#"{"weight_map":{"w":"../s.safetensors"}}"#),
        ("absolute", r#"{"weight_map":{"w":"/etc/passwd"}}"#),
        (
            "missing_tensor",
            r#"{"weight_map":{"w":"s.safetensors","v":"s.safetensors"}}"#,
        ),
        (
            "missing_shard",
            r#"{"weight_map":{"w":"nope.safetensors"}}"#,
        ),
        ("not_an_index", r#"{"hello":1}"#),
    ];
    for (name, text) in cases {
        let p = dir.path().join(format!("{name}.safetensors.index.json"));
        std::fs::write(&p, text).unwrap();
        assert_clean_error(&p, name);
    }
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(run(&["--help".as_ref()]).status.code(), Some(0));
    assert_eq!(
        run(&["diff".as_ref(), "--help".as_ref()]).status.code(),
        Some(0)
    );
    assert_eq!(run(&["--version".as_ref()]).status.code(), Some(0));
    assert_eq!(run(&["frobnicate".as_ref()]).status.code(), Some(2));
}
