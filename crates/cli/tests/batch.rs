//! End-to-end tests of `modeldiff batch MANIFEST.jsonl`: order, summaries equal to `diff`'s,
//! errors per pair and for a malformed manifest, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/safetensors")
        .join(name)
        .display()
        .to_string()
}

fn manifest(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("pairs.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn line(a: &str, b: &str) -> String {
    serde_json::json!({"a": a, "b": b}).to_string()
}

fn batch(path: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("batch")
        .arg(path)
        .args(extra)
        .output()
        .expect("run modeldiff")
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn one_summary_line_per_pair_in_manifest_order_equal_to_diff() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (fixture("a.safetensors"), fixture("b.safetensors"));
    let mut pairs = Vec::new();
    for i in 0..12 {
        pairs.push(if i % 3 == 0 {
            line(&a, &a)
        } else {
            line(&a, &b)
        });
    }
    let o = batch(&manifest(dir.path(), &pairs), &["--jobs", "3"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = lines(&o);
    assert_eq!(out.len(), 12);
    let full = bin()
        .args(["diff", &a, &b, "--format", "json"])
        .output()
        .unwrap();
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    for (i, l) in out.iter().enumerate() {
        assert_eq!(l["schema"], "modeldiff.batch.v1");
        assert_eq!(l["line"], i + 1);
        assert_eq!(l["a"], a.as_str());
        if i % 3 == 0 {
            assert_eq!(l["b"], a.as_str());
            assert_eq!(l["differs"], false);
        } else {
            assert_eq!(l["b"], b.as_str());
            assert_eq!(l["differs"], true);
            assert_eq!(l["summary"], full["summary"]);
        }
    }
    let o = batch(&manifest(dir.path(), &pairs), &["--exit-code"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn an_unreadable_pair_gets_an_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (fixture("a.safetensors"), fixture("b.safetensors"));
    let missing = dir.path().join("missing.safetensors").display().to_string();
    let pairs = [line(&a, &b), line(&a, &missing), line(&b, &a)];
    let o = batch(&manifest(dir.path(), &pairs), &[]);
    assert_eq!(o.status.code(), Some(2));
    let out = lines(&o);
    assert_eq!(out.len(), 3);
    assert!(out[0]["summary"].is_object());
    let err = out[1]["error"].as_str().unwrap();
    assert!(err.starts_with("cannot read model B: "), "{err}");
    assert!(err.contains("missing.safetensors"), "{err}");
    assert!(out[2]["summary"].is_object());
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("pairs.jsonl:2: cannot read model B"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_manifest_is_one_line_and_exit_2_before_any_pair() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture("a.safetensors");
    let pairs = [line(&a, &a), "{\"a\": \"x\"}".to_string()];
    let o = batch(&manifest(dir.path(), &pairs), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pairs.jsonl:2: missing \"b\""), "{stderr}");
    let o = batch(&dir.path().join("nope.jsonl"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8(o.stderr)
        .unwrap()
        .starts_with("modeldiff: cannot read the manifest"));
}
