//! End-to-end tests of the `modeldiff` binary on PyTorch, NumPy and ONNX files, `hf://`
//! references, and hostile checkpoints (exit 2, one line, nothing run).

#[path = "../../formats/tests/common/torchfile.rs"]
mod torchfile;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use torchfile::{checkpoint, f32_bytes, state_dict, zip, Pickle, ZipEntry};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/torch")
        .join(name)
}

fn modeldiff(args: &[&OsStr], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modeldiff"));
    c.args(args)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HOME");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run modeldiff")
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn inspect_reads_every_new_format() {
    for (file, format, tensors) in [
        ("checkpoint.pt", "pytorch", 19),
        ("legacy.pt", "pytorch", 19),
        ("le.npy", "numpy", 1),
        ("deflated.npz", "numpy", 3),
        ("model.onnx", "onnx", 11),
        ("external/model.onnx", "onnx", 2),
    ] {
        let p = fixture(file);
        let v = json(&modeldiff(
            &[
                "inspect".as_ref(),
                p.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
            ],
            &[],
        ));
        assert_eq!(v["format"], format, "{file}");
        assert_eq!(v["tensors"].as_array().unwrap().len(), tensors, "{file}");
        let o = modeldiff(&["inspect".as_ref(), p.as_os_str()], &[]);
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8(o.stdout).unwrap().contains("Tensors"));
    }
    // The dropped prefix and the kept metadata are visible.
    let o = modeldiff(
        &["inspect".as_ref(), fixture("checkpoint.pt").as_os_str()],
        &[],
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("state_prefix: state_dict"), "{text}");
    assert!(text.contains("`state_dict.` prefix is dropped"), "{text}");
    assert!(text.contains("config.name"), "{text}");
}

#[test]
fn a_checkpoint_diffs_cleanly_against_its_safetensors_twin() {
    for file in ["checkpoint.pt", "checkpoint-be.pt", "legacy.pt", "plain.pt"] {
        let (a, b) = (fixture(file), fixture("twin.safetensors"));
        let v = json(&modeldiff(
            &[
                "diff".as_ref(),
                a.as_os_str(),
                b.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
                "--exit-code".as_ref(),
            ],
            &[],
        ));
        assert_eq!(v["a"]["format"], "pytorch");
        assert_eq!(v["summary"]["identical"], 19, "{file}");
        assert_eq!(v["summary"]["differs"], false, "{file}");
    }
}

/// Writes `bytes` to a temporary file and checks the CLI refuses it with one line naming it.
fn assert_refused(bytes: Vec<u8>, name: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    let twin = fixture("twin.safetensors");
    for args in [
        vec!["inspect".as_ref(), p.as_os_str()],
        vec!["diff".as_ref(), p.as_os_str(), twin.as_os_str()],
    ] {
        let o = modeldiff(&args, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.starts_with("modeldiff: ") && err.contains(name),
            "{err}"
        );
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn hostile_checkpoints_exit_2_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("created-by-payload");
    let cmd = format!("touch {}", marker.display());
    for (module, name) in [
        ("os", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
    ] {
        let mut p = Pickle::new();
        p.global(module, name).str(&cmd).op(b"\x85").reduce();
        assert_refused(
            checkpoint(&p.stop(), &[]),
            "payload.pt",
            &format!("calling `{module}.{name}`, which modeldiff never runs"),
        );
        // A `__reduce__` of something else, nested among real tensors: opens, reported, inert.
        let mut p = Pickle::new();
        p.empty_dict().mark();
        p.str("w").tensor("FloatStorage", "0", 1, 0, &[1], &[1]);
        p.str("x")
            .global(module, name)
            .str(&cmd)
            .op(b"\x85")
            .reduce();
        let dir2 = tempfile::tempdir().unwrap();
        let f = dir2.path().join("nested.pt");
        std::fs::write(
            &f,
            checkpoint(&p.setitems().stop(), &[("0", f32_bytes(&[1.0]))]),
        )
        .unwrap();
        let o = modeldiff(&["inspect".as_ref(), f.as_os_str()], &[]);
        assert_eq!(o.status.code(), Some(0));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("were not run"), "{out}");
    }
    assert!(!marker.exists(), "a pickle payload ran");

    let sd = state_dict(&[("w", 4, &[4])]);
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let mut p = Pickle::new();
    p.empty_dict()
        .str("w")
        .tensor("FloatStorage", "../x", 4, 0, &[4], &[1])
        .op(b"s");
    assert_refused(
        checkpoint(&p.stop(), &[("0", data.clone())]),
        "escape.pt",
        "not a plain entry name",
    );
    assert_refused(
        checkpoint(&sd, &[("0", data[..8].to_vec())]),
        "count.pt",
        "declares 4 elements",
    );
    let dots = zip(&[
        ZipEntry::stored("archive/data.pkl", sd.clone()),
        ZipEntry::stored("archive/../../evil", data.clone()),
    ]);
    assert_refused(dots, "dots.pt", "not a plain relative path");
    let bomb = zip(&[
        ZipEntry::stored("archive/data.pkl", sd.clone()),
        ZipEntry {
            name: "archive/data/0",
            data: vec![0x03, 0x00],
            deflated: Some((0xffff_0000, 0)),
        },
    ]);
    assert_refused(bomb, "bomb.pt", "more than the");
    let mut legacy = std::fs::read(fixture("legacy.pt")).unwrap();
    legacy.truncate(legacy.len() - 3);
    assert_refused(legacy, "cut.pt", "needs 12 bytes at offset");
}

#[test]
fn onnx_external_data_leaving_the_folder_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read(fixture("external/model.onnx")).unwrap();
    // `weights.bin` → `/etc/passwd` (same length, so the protobuf stays well-formed).
    let at = src.windows(11).position(|w| w == b"weights.bin").unwrap();
    let mut evil = src.clone();
    evil[at..at + 11].copy_from_slice(b"/etc/passwd");
    let p = dir.path().join("evil.onnx");
    std::fs::write(&p, evil).unwrap();
    let o = modeldiff(&["inspect".as_ref(), p.as_os_str()], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains("must be relative and stay inside the model's folder"),
        "{err}"
    );
}

#[test]
fn hf_references_diff_two_cached_revisions() {
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--org--name");
    for (rev, commit, value) in [("main", "a", 1.0f32), ("rev2", "b", 1.5)] {
        let commit = commit.repeat(40);
        let snap = repo.join("snapshots").join(&commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join(rev), &commit).unwrap();
        let bytes = checkpoint(
            &state_dict(&[("w", 2, &[2])]),
            &[("0", f32_bytes(&[value, 2.0]))],
        );
        std::fs::write(snap.join("pytorch_model.bin"), bytes).unwrap();
    }
    let env = [("HF_HUB_CACHE", cache.path())];
    let o = modeldiff(
        &[
            "diff".as_ref(),
            "hf://org/name".as_ref(),
            "hf://org/name@rev2".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
        ],
        &env,
    );
    let v = json(&o);
    assert_eq!(v["a"]["format"], "pytorch");
    assert_eq!(v["summary"]["differs"], true);
    assert_eq!(v["tensors"][0]["metrics"]["max_abs"], 0.5);
    let props = v["b"]["properties"].to_string();
    assert!(props.contains("hf://org/name@rev2"), "{props}");
    // Not in the cache: exit 2, saying where it looked, and nothing fetched.
    let o = modeldiff(&["inspect".as_ref(), "hf://org/absent".as_ref()], &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("not in the Hugging Face cache"), "{err}");
    assert!(err.contains("models--org--absent"), "{err}");
}
