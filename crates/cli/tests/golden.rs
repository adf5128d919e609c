//! Golden-file tests: the exact bytes `modeldiff` prints as table, Markdown, CSV and JSON.
//!
//! Each case runs the built binary and compares its stdout with a file under
//! `crates/cli/tests/golden/`, byte for byte. `UPDATE_GOLDEN=1 cargo test -p modeldiff-cli
//! --test golden` rewrites the files; review the diff before committing it.
//!
//! Determinism: committed fixtures run with the workspace root as the current directory and
//! files written at test time run inside their temporary directory, so every printed path is
//! relative. The kernels are pinned to `MODELDIFF_FORCE_ISA=scalar` because the SIMD kernels sum
//! in a different order, which changes the last digits CSV and JSON print; the `isa` field of
//! JSON reports is normalised as well.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs `modeldiff args` in `dir` with the scalar kernels and asserts exit status 0.
///
/// Width and colour come only from the arguments: `COLUMNS` is unset (stdout is a pipe, so
/// tables are not fitted) and so are the colour variables.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    run_env(dir, args, &[])
}

/// [`run_in`] with extra environment variables (`COLUMNS`).
fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .current_dir(dir)
        .env("MODELDIFF_FORCE_ISA", "scalar")
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .envs(env.iter().copied())
        .output()
        .expect("run modeldiff");
    assert_eq!(
        o.status.code(),
        Some(0),
        "modeldiff {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Replaces the value of the CPU-dependent top-level `"isa"` field of a pretty JSON report.
fn normalise_isa(json: &str) -> String {
    json.split_inclusive('\n')
        .map(|line| {
            if line.starts_with("  \"isa\": ") {
                let end = if line.ends_with(",\n") { ",\n" } else { "\n" };
                format!("  \"isa\": \"<isa>\"{end}")
            } else {
                line.to_string()
            }
        })
        .collect()
}

/// Compares `got` with the golden file `name`, or rewrites it when `UPDATE_GOLDEN` is set.
fn check(name: &str, got: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if want != got {
        let (w, g) = (String::from_utf8_lossy(&want), String::from_utf8_lossy(got));
        let line = w
            .lines()
            .zip(g.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(w.lines().count().min(g.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  want: {:?}\n  got:  {:?}\n\
             full output:\n{g}",
            line + 1,
            w.lines().nth(line).unwrap_or("<end>"),
            g.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

/// `diff A B` in `dir` in every text format, checked against `{stem}.{table.txt,md,csv}`.
fn check_diff_formats(dir: &Path, stem: &str, a: &str, b: &str) {
    for (format, ext) in [("table", "table.txt"), ("markdown", "md"), ("csv", "csv")] {
        let o = run_in(dir, &["diff", a, b, "--format", format]);
        check(&format!("{stem}.{ext}"), &o.stdout);
    }
}

fn check_json(dir: &Path, name: &str, args: &[&str]) -> serde_json::Value {
    let o = run_in(dir, args);
    let text = String::from_utf8(o.stdout).unwrap();
    check(name, normalise_isa(&text).as_bytes());
    serde_json::from_str(&text).unwrap()
}

#[test]
fn samples() {
    let a = "samples/base.safetensors";
    let b = "samples/finetuned.safetensors";
    check_diff_formats(&workspace(), "samples", a, b);
    check_json(
        &workspace(),
        "samples.json",
        &["diff", a, b, "--format", "json"],
    );
}

/// The table fitted to 80 and 120 columns (`COLUMNS`), and once in colour.
#[test]
fn samples_at_terminal_widths_and_in_colour() {
    let (a, b) = ("samples/base.safetensors", "samples/finetuned.safetensors");
    for width in ["80", "120"] {
        let o = run_env(&workspace(), &["diff", a, b], &[("COLUMNS", width)]);
        check(&format!("samples.{width}.table.txt"), &o.stdout);
        // Markdown and CSV are not fitted to a width: the same bytes at every width.
        for (format, golden) in [("markdown", "samples.md"), ("csv", "samples.csv")] {
            let args = ["diff", a, b, "--format", format];
            check(
                golden,
                &run_env(&workspace(), &args, &[("COLUMNS", width)]).stdout,
            );
        }
        let widest = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap();
        // Tables fit; only the summary's prose may run longer.
        let o = run_env(&workspace(), &["diff", a, b], &[("COLUMNS", width)]);
        let text = String::from_utf8(o.stdout).unwrap();
        let tables = text.split("\nSummary\n").next().unwrap();
        assert!(
            tables
                .lines()
                .all(|l| l.chars().count() <= width.parse().unwrap()),
            "{width}: widest line {widest}\n{tables}"
        );
    }
    let o = run_env(
        &workspace(),
        &["diff", a, b, "--color", "always"],
        &[("COLUMNS", "120")],
    );
    check("samples.120.color.table.txt", &o.stdout);
    // NO_COLOR does not override an explicit --color always; it does switch off auto (a pipe
    // is never coloured under auto anyway).
    let o = run_env(
        &workspace(),
        &["diff", a, b],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(!o.stdout.contains(&0x1b));
}

/// Views: every tensor, per layer, per module, per dtype, sorted, cut, as bars.
#[test]
fn samples_views() {
    let (a, b) = ("samples/base.safetensors", "samples/finetuned.safetensors");
    for (name, extra) in [
        ("samples.all.table.txt", &["--all"][..]),
        ("samples.by-layer.table.txt", &["--by", "layer"][..]),
        (
            "samples.by-module.md",
            &["--by", "module", "--format", "markdown"][..],
        ),
        (
            "samples.by-dtype.csv",
            &["--by", "dtype", "--format", "csv", "--all"][..],
        ),
        (
            "samples.sorted.table.txt",
            &["--sort", "rel_l2", "--top", "3"][..],
        ),
        ("samples.stat.txt", &["--stat"][..]),
        (
            "samples.by-layer.stat.txt",
            &["--stat", "--by", "layer", "--sort", "max_abs"][..],
        ),
    ] {
        let mut args = vec!["diff", a, b];
        args.extend_from_slice(extra);
        check(name, &run_in(&workspace(), &args).stdout);
    }
}

#[test]
fn same_file() {
    let a = "samples/base.safetensors";
    check_diff_formats(&workspace(), "same-file", a, a);
    let o = run_in(&workspace(), &["diff", a, a, "--all"]);
    check("same-file.all.table.txt", &o.stdout);
}

#[test]
fn apr_against_safetensors() {
    check_diff_formats(
        &workspace(),
        "apr-vs-safetensors",
        "tests/fixtures/apr/none/base-model.apr",
        "tests/fixtures/apr/finetuned-model.safetensors",
    );
}

/// Two GGUF files with different tensors and metadata (added, removed and changed keys).
#[test]
fn gguf_metadata_differences() {
    check_diff_formats(
        &workspace(),
        "gguf-types-vs-align64",
        "tests/fixtures/gguf/types-le.gguf",
        "tests/fixtures/gguf/align64.gguf",
    );
    check_diff_formats(
        &workspace(),
        "gguf-align64-vs-align8",
        "tests/fixtures/gguf/align64.gguf",
        "tests/fixtures/gguf/align8.gguf",
    );
}

#[test]
fn inspect_tables() {
    for (name, file) in [
        (
            "inspect-gguf-be.table.txt",
            "tests/fixtures/gguf/types-be.gguf",
        ),
        (
            "inspect-sharded.table.txt",
            "tests/fixtures/safetensors/sharded/model.safetensors.index.json",
        ),
        (
            "inspect-apr.table.txt",
            "tests/fixtures/apr/none/base-model.apr",
        ),
    ] {
        check(name, &run_in(&workspace(), &["inspect", file]).stdout);
    }
}

/// GGUF value type ids of the metadata this test writes.
const GGUF_U32: u32 = 4;
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;
/// GGUF tensor type ids: F32 and an id no ggml release defines (read as opaque bytes).
const GGML_F32: u32 = 0;
const GGML_UNKNOWN: u32 = 99;

/// A GGUF v3 file written by hand (little-endian, 32-byte alignment).
#[derive(Default)]
struct Gguf {
    kv: Vec<u8>,
    n_kv: u64,
    info: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

fn gguf_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Gguf {
    fn new() -> Gguf {
        Gguf::default().u32("general.alignment", 32)
    }
    fn key(mut self, key: &str, ty: u32, value: &[u8]) -> Gguf {
        gguf_string(key, &mut self.kv);
        self.kv.extend_from_slice(&ty.to_le_bytes());
        self.kv.extend_from_slice(value);
        self.n_kv += 1;
        self
    }
    fn u32(self, key: &str, v: u32) -> Gguf {
        self.key(key, GGUF_U32, &v.to_le_bytes())
    }
    fn string(self, key: &str, v: &str) -> Gguf {
        let mut b = Vec::new();
        gguf_string(v, &mut b);
        self.key(key, GGUF_STRING, &b)
    }
    fn strings(self, key: &str, items: &[String]) -> Gguf {
        let mut b = GGUF_STRING.to_le_bytes().to_vec();
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            gguf_string(s, &mut b);
        }
        self.key(key, GGUF_ARRAY, &b)
    }
    /// One 1-D tensor whose data follows the previous tensor's (offsets are kept aligned).
    fn tensor(mut self, name: &str, elems: u64, ty: u32, data: &[u8]) -> Gguf {
        gguf_string(name, &mut self.info);
        self.info.extend_from_slice(&1u32.to_le_bytes());
        self.info.extend_from_slice(&elems.to_le_bytes());
        self.info.extend_from_slice(&ty.to_le_bytes());
        self.info
            .extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.data.extend_from_slice(data);
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        self.n_tensors += 1;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&self.n_tensors.to_le_bytes());
        b.extend_from_slice(&self.n_kv.to_le_bytes());
        b.extend_from_slice(&self.kv);
        b.extend_from_slice(&self.info);
        while !b.len().is_multiple_of(32) {
            b.push(0);
        }
        b.extend_from_slice(&self.data);
        b
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Tensors of an unknown ggml type id are compared by their raw bytes only: `identical` says
/// whether the bytes are equal, and there are no float metrics.
#[test]
fn unknown_gguf_type_is_compared_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..64u8).collect();
    let mut changed = data.clone();
    changed[40] ^= 1;
    for (name, bytes) in [
        ("a.gguf", &data),
        ("same.gguf", &data),
        ("b.gguf", &changed),
    ] {
        let file = Gguf::new().tensor("x", 64, GGML_UNKNOWN, bytes).bytes();
        std::fs::write(dir.path().join(name), file).unwrap();
    }
    for (b, identical, detail) in [("same.gguf", true, "[64]"), ("b.gguf", false, "[64]")] {
        let o = run_in(dir.path(), &["diff", "a.gguf", b, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let x = &v["tensors"][0];
        assert_eq!(x["name"], "x");
        assert_eq!(x["dtype_a"], "GGML_TYPE_99");
        assert_eq!(x["identical"], identical, "{b}: {x}");
        assert!(x["metrics"].is_null(), "{b}: {x}");
        assert_eq!(v["summary"]["differs"], !identical);
        let o = run_in(dir.path(), &["diff", "a.gguf", b]);
        let table = String::from_utf8(o.stdout).unwrap();
        if identical {
            assert!(
                table.starts_with("identical: a.gguf and same.gguf"),
                "{table}"
            );
        } else {
            let line = table.lines().find(|l| l.starts_with("x ")).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[..3], ["x", "modified", detail], "{table}");
        }
    }
    check_diff_formats(dir.path(), "gguf-unknown-type", "a.gguf", "b.gguf");
}

/// Metadata long enough to be summarized (a 20-item array and a 300-byte string), a value
/// shortened to 60 characters, control characters and a `|` that Markdown must escape.
#[test]
fn summarized_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = |changed: usize| -> Vec<String> {
        (0..20)
            .map(|i| {
                if i == changed {
                    "<changed>".to_string()
                } else {
                    format!("tok{i}")
                }
            })
            .collect()
    };
    let long_text = |c: char| format!("{}{c}{}", "a".repeat(100), "z".repeat(199));
    let a = Gguf::new()
        .strings("tokenizer.ggml.tokens", &tokens(usize::MAX))
        .string("general.description", &long_text('b'))
        .string(
            "general.notes",
            "line one\nline two\twith a tab and | a pipe, long enough to be shortened",
        )
        .u32("block_count", 2)
        .string("general.removed", "gone")
        .tensor("w", 4, GGML_F32, &f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let b = Gguf::new()
        .strings("tokenizer.ggml.tokens", &tokens(5))
        .string("general.description", &long_text('c'))
        .string("general.notes", "short | piped")
        .u32("block_count", 3)
        .strings("general.tags", &tokens(usize::MAX))
        .tensor("w", 4, GGML_F32, &f32_bytes(&[1.0, 2.0, 3.0, 4.5]));
    std::fs::write(dir.path().join("a.gguf"), a.bytes()).unwrap();
    std::fs::write(dir.path().join("b.gguf"), b.bytes()).unwrap();
    check_diff_formats(dir.path(), "gguf-summarized-metadata", "a.gguf", "b.gguf");
    let v = check_json(
        dir.path(),
        "gguf-summarized-metadata.json",
        &["diff", "a.gguf", "b.gguf", "--format", "json"],
    );
    let tokens = &v["metadata"][0];
    assert_eq!(tokens["key"], "tokenizer.ggml.tokens");
    assert_eq!(tokens["first_difference"], 5);
    assert_eq!(tokens["a"]["len"], 20);
    check(
        "inspect-gguf-summarized-metadata.table.txt",
        &run_in(dir.path(), &["inspect", "a.gguf"]).stdout,
    );
    check(
        "inspect-gguf-no-tensors.table.txt",
        &run_in(dir.path(), &["inspect", "a.gguf", "--no-tensors"]).stdout,
    );
    check_json(
        dir.path(),
        "inspect-gguf-summarized-metadata.json",
        &["inspect", "a.gguf", "--format", "json"],
    );
}
