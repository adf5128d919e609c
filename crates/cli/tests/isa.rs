//! `MODELDIFF_FORCE_ISA` end to end: an unknown or unavailable value is an error (exit 2, one
//! line naming the variable), and a valid one is the implementation the report names.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/safetensors")
        .join(name)
}

fn diff_with_isa(isa: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(["diff", "--format", "json"])
        .arg(fixture("a.safetensors"))
        .arg(fixture("b.safetensors"))
        .env("MODELDIFF_FORCE_ISA", isa)
        .output()
        .expect("run modeldiff")
}

#[test]
fn a_bad_override_exits_2_naming_the_variable() {
    let out = diff_with_isa("avx1024");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("modeldiff: "), "{err}");
    assert!(err.contains("MODELDIFF_FORCE_ISA=\"avx1024\""), "{err}");
    assert!(err.contains("scalar, avx2, avx512, neon"), "{err}");
}

#[test]
fn a_valid_override_is_the_reported_isa() {
    let out = diff_with_isa("scalar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["isa"], "scalar");
}
