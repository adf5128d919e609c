//! End-to-end tests of what `modeldiff diff` reports and how CI can gate on it: views
//! (`--by`, `--sort`, `--top`, `--stat`), `--fail-on` gates and their exit codes,
//! `--ignore-metadata`, NaN visibility, the summary's counts, progress on stderr only, and
//! one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn samples() -> (PathBuf, PathBuf) {
    let s = workspace().join("samples");
    (s.join("base.safetensors"), s.join("finetuned.safetensors"))
}

fn fixtures() -> (PathBuf, PathBuf) {
    let s = workspace().join("tests/fixtures/safetensors");
    (s.join("a.safetensors"), s.join("b.safetensors"))
}

/// `modeldiff diff A B extra...` with a pipe for stdout and no width or colour from outside.
fn diff(a: &Path, b: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .arg("diff")
        .arg(a)
        .arg(b)
        .args(extra)
        .env_remove("COLUMNS")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run modeldiff")
}

fn modeldiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("run modeldiff")
}

fn out(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json(a: &Path, b: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let o = diff(a, b, &args);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Writes a SafeTensors file of F32 tensors with `__metadata__`.
fn write_st(path: &Path, tensors: &[(&str, Vec<f32>)], meta: &[(&str, &str)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    if !meta.is_empty() {
        let m: serde_json::Map<String, Value> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        header.insert("__metadata__".into(), Value::Object(m));
    }
    for (name, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|x| x.to_le_bytes()));
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": [values.len()], "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::to_vec(&header).unwrap();
    let mut f = (h.len() as u64).to_le_bytes().to_vec();
    f.extend(h);
    f.extend(data);
    std::fs::write(path, f).unwrap();
}

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32) * 0.37).sin() * scale).collect()
}

/// Every gate metric passes at a loose threshold and fails at a tight one on the samples;
/// each failure is one stderr line naming the tensor (or summary), the metric, the value and
/// the threshold.
#[test]
fn gates_pass_and_fail_with_one_line_per_violation() {
    let (a, b) = samples();
    let cases: [(&str, &str, usize); 20] = [
        ("cosine<0.99", "cosine<0.9995", 4),
        ("one_minus_cosine>0.01", "one_minus_cosine>0.0009", 2),
        ("max_abs>0.05", "max_abs>0.03", 2),
        ("rel_l2>0.05", "rel_l2>0.04", 2),
        ("nmse>0.01", "nmse>0.0015", 2),
        ("nmse_db>-20", "nmse_db>-28", 2),
        ("nonfinite>0", "nonfinite>=0", 16),
        ("l2>1", "l2>0.3", 2),
        ("mean_abs>0.01", "mean_abs>=0.0039", 2),
        ("rmse>0.01", "rmse>0.005", 2),
        ("mismatches>4096", "mismatches==4096", 4),
        ("global_cosine<0.999", "global_cosine<0.9999", 1),
        ("global_l2>1", "global_l2>0.5", 1),
        ("removed>0", "added>0", 1),
        ("dtype_changed", "shape_changed", 1),
        ("metadata_removed", "metadata_changed", 1),
        ("nonfinite_a", "nonfinite_a==0", 1),
        ("nonfinite_b>0", "nonfinite_b<=0", 1),
        ("metadata_added!=0", "metadata_added!=1", 1),
        ("l2<0", "l2>=0", 16),
    ];
    for (pass, fail, n) in cases {
        let o = diff(&a, &b, &["--fail-on", pass, "-q"]);
        // -q implies --exit-code and the models differ: 1, but no violation is listed.
        assert_eq!(o.status.code(), Some(1), "{pass}");
        assert!(err(&o).is_empty(), "{pass}: {}", err(&o));
        let o = diff(&a, &b, &["--fail-on", pass]);
        assert_eq!(o.status.code(), Some(0), "{pass}: {}", err(&o));
        let o = diff(&a, &b, &["--fail-on", fail, "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{fail}");
        let e = err(&o);
        assert_eq!(e.lines().count(), n, "{fail}:\n{e}");
        for line in e.lines() {
            assert!(
                line.starts_with(&format!("modeldiff: fail-on {fail}: ")),
                "{line}"
            );
            assert!(line.contains("(threshold "), "{line}");
        }
        // The report itself is printed in full whatever the gates say.
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["schema"], "modeldiff.report.v1");
    }
    let o = diff(&a, &b, &["--fail-on", "cosine<0.9995"]);
    let first = err(&o).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        "modeldiff: fail-on cosine<0.9995: tensor layers.0.attn.q_proj.weight: cosine \
         0.9994184443044453 (threshold 0.9995)"
    );
    // Several gates: every violation of every gate.
    let o = diff(
        &a,
        &b,
        &["--fail-on", "added>0", "--fail-on", "max_abs>0.03"],
    );
    assert_eq!((o.status.code(), err(&o).lines().count()), (Some(1), 3));
}

#[test]
fn gates_and_exit_code_together() {
    let (a, b) = samples();
    // A passing gate exits 0 though the models differ; --exit-code adds the difference.
    assert_eq!(
        diff(&a, &b, &["--fail-on", "cosine<0.5"]).status.code(),
        Some(0)
    );
    assert_eq!(
        diff(&a, &b, &["--fail-on", "cosine<0.5", "--exit-code"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        diff(&a, &a, &["--fail-on", "cosine<0.5", "--exit-code"])
            .status
            .code(),
        Some(0)
    );
    // A failing gate on identical models is still a failure (l2 >= 0 holds everywhere).
    assert_eq!(diff(&a, &a, &["--fail-on", "l2>=0"]).status.code(), Some(1));
}

#[test]
fn malformed_gates_are_errors_naming_the_expression() {
    let (a, b) = samples();
    for expr in [
        "cosin<0.9",
        "cosine",
        "cosine=<1",
        "cosine<x",
        "max_abs>",
        "<3",
    ] {
        let o = diff(&a, &b, &["--fail-on", expr]);
        assert_eq!(o.status.code(), Some(2), "{expr}");
        let e = err(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(&format!("invalid --fail-on `{expr}`")), "{e}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn ignore_metadata_neither_shows_nor_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    write_st(&a, &[("w", ramp(10, 1.0))], &[("x", "1"), ("y", "2")]);
    write_st(&b, &[("w", ramp(10, 1.0))], &[("y", "3"), ("z", "4")]);
    assert_eq!(diff(&a, &b, &["--exit-code"]).status.code(), Some(1));
    let v = json(&a, &b, &[]);
    let s = &v["summary"];
    assert_eq!(
        (
            &s["metadata_changed"],
            &s["metadata_added"],
            &s["metadata_removed"]
        ),
        (&Value::from(3), &Value::from(1), &Value::from(1))
    );
    let text = out(&diff(&a, &b, &[]));
    assert!(
        text.contains("metadata: 1 key added, 1 key removed, 1 key changed"),
        "{text}"
    );
    let o = diff(&a, &b, &["--exit-code", "--ignore-metadata"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).starts_with("identical: "), "{}", out(&o));
    assert!(out(&o).contains("metadata ignored"));
    let v = json(&a, &b, &["--ignore-metadata"]);
    assert_eq!(v["summary"]["metadata_compared"], false);
    assert_eq!(v["summary"]["metadata_ignored"], true);
    assert_eq!(v["summary"]["differs"], false);
    assert_eq!(v["metadata"].as_array().unwrap().len(), 0);
    let all = out(&diff(&a, &b, &["--ignore-metadata", "--all"]));
    assert!(!all.contains("\nMetadata\n"), "{all}");
    assert!(
        all.contains("metadata: ignored (--ignore-metadata)"),
        "{all}"
    );
    assert_eq!(
        diff(
            &a,
            &b,
            &["--ignore-metadata", "--fail-on", "metadata_changed"]
        )
        .status
        .code(),
        Some(0)
    );
}

/// One NaN in B where A has a number: modified, with the count in the table, the summary
/// and the verdict, and a gate that catches it.
#[test]
fn nan_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let va = ramp(383, 1.0);
    let mut vb = va.clone();
    vb[17] = f32::NAN;
    write_st(&a, &[("w", va.clone()), ("v", va.clone())], &[]);
    write_st(&b, &[("w", vb), ("v", va)], &[]);
    let text = out(&diff(&a, &b, &[]));
    let row = text.lines().find(|l| l.starts_with("w ")).expect(&text);
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(words[1], "modified", "{text}");
    assert!(text.contains("NaN/Inf A|B"), "{text}");
    assert!(words.contains(&"0|1"), "{row}");
    assert!(text.contains("non-finite: 1 NaN/Inf value in B"), "{text}");
    assert!(
        text.contains("verdict: models differ: 1 tensor modified; 1 NaN/Inf value in B"),
        "{text}"
    );
    let v = json(&a, &b, &[]);
    assert_eq!(v["summary"]["nonfinite_b"], 1);
    assert_eq!(v["summary"]["nonfinite_a"], 0);
    assert_eq!(v["summary"]["identical"], 1);
    assert_eq!(v["tensors"][0]["identical"], false);
    let o = diff(&a, &b, &["--fail-on", "nonfinite"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("tensor w: nonfinite 1"), "{}", err(&o));
    assert_eq!(
        diff(&a, &b, &["--fail-on", "nonfinite_b>0"]).status.code(),
        Some(1)
    );
    // The coloured table makes the count bold red.
    let o = diff(&a, &b, &["--color", "always"]);
    let bold_red = anstyle::AnsiColor::Red.on_default().bold();
    assert!(
        out(&o).contains(&format!("{bold_red}0|1{bold_red:#}")),
        "{:?}",
        out(&o)
    );
}

/// The summary's counts partition the tensors, agree with the note under the table and with
/// the JSON; an overlap-identical reshaped tensor is not counted identical.
#[test]
fn summary_counts_are_consistent() {
    let (a, b) = fixtures();
    let v = json(&a, &b, &[]);
    let tensors = v["tensors"].as_array().unwrap();
    let identical = tensors
        .iter()
        .filter(|t| {
            t["change"] == "unchanged" && t["dtype_changed"] == false && t["identical"] == true
        })
        .count();
    let text = out(&diff(&a, &b, &[]));
    assert!(
        text.contains(&format!(
            "({identical} identical tensors not listed; --all lists them)"
        )),
        "{text}"
    );
    let summary = text
        .lines()
        .find(|l| l.trim_start().starts_with("tensors:"))
        .unwrap();
    assert!(
        summary.contains(&format!(": {identical} identical, ")),
        "{summary}"
    );
    // The categories add up to every tensor.
    let counted: usize = summary
        .split(": ")
        .nth(2)
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, tensors.len(), "{summary}");
    // Listed rows: every tensor that is not identical.
    let table = text.split("\nTensors\n").nth(1).unwrap();
    let rows = table
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('('))
        .count();
    assert_eq!(rows, tensors.len() - identical);
    // max abs names its tensor.
    let s = &v["summary"];
    let holder = tensors
        .iter()
        .find(|t| t["name"] == s["max_abs_tensor"])
        .unwrap();
    assert_eq!(holder["metrics"]["max_abs"], s["max_abs"]);
    let nonfinite: u64 = tensors
        .iter()
        .filter_map(|t| t["metrics"]["nonfinite_a"].as_u64())
        .sum();
    assert_eq!(s["nonfinite_a"], nonfinite);
    assert!(text.contains(&format!(
        "max abs: {}",
        // The table's scientific style.
        {
            let x = s["max_abs"].as_f64().unwrap();
            let t = format!("{x:.3e}");
            let (m, e) = t.split_once('e').unwrap();
            let e: i32 = e.parse().unwrap();
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
    )));
}

/// Group rows (`--by layer|module|dtype`, CSV with every number) against the per-tensor JSON.
#[test]
fn aggregation_matches_the_per_tensor_numbers() {
    let close = |g: f64, w: f64, tol: f64| (g - w).abs() <= tol * w.abs().max(1e-300);
    for ((a, b), by) in [
        (samples(), "layer"),
        (samples(), "module"),
        (fixtures(), "dtype"),
    ] {
        let v = json(&a, &b, &[]);
        let o = diff(&a, &b, &["--by", by, "--format", "csv", "--all"]);
        let csv = out(&o);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let mut seen = 0;
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let group = f[col("group")];
            let members: Vec<&Value> = v["tensors"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| {
                    let name = t["name"].as_str().unwrap();
                    match by {
                        "layer" => name.starts_with(&format!("{group}.")),
                        "module" => {
                            let inner = name
                                .strip_prefix("layers.")
                                .and_then(|r| r.split_once('.'))
                                .map_or(name, |(_, r)| r);
                            inner.strip_suffix(".weight").unwrap_or(inner) == group
                        }
                        _ => {
                            let (da, db) = (&t["dtype_a"], &t["dtype_b"]);
                            let key = match (da.as_str(), db.as_str()) {
                                (Some(x), Some(y)) if x != y => format!("{x}→{y}"),
                                (Some(x), _) | (None, Some(x)) => x.to_string(),
                                _ => "-".into(),
                            };
                            key == group
                        }
                    }
                })
                .collect();
            assert!(!members.is_empty(), "{by} {group}");
            seen += members.len();
            assert_eq!(f[col("tensors")], members.len().to_string(), "{by} {group}");
            let metrics: Vec<&Value> = members
                .iter()
                .map(|t| &t["metrics"])
                .filter(|m| m.is_object())
                .collect();
            if metrics.is_empty() {
                assert_eq!(f[col("l2")], "", "{by} {group}");
                continue;
            }
            let g = |k: &str| -> f64 { metrics.iter().map(|m| m[k].as_f64().unwrap()).sum() };
            let sq =
                |k: &str| -> f64 { metrics.iter().map(|m| m[k].as_f64().unwrap().powi(2)).sum() };
            let num = |k: &str| f[col(k)].parse::<f64>().unwrap();
            let l2 = sq("l2").sqrt();
            assert!(close(num("l2"), l2, 1e-12), "{by} {group} l2");
            if sq("norm_a") > 0.0 {
                assert!(
                    close(num("rel_l2"), l2 / sq("norm_a").sqrt(), 1e-12),
                    "{by} {group}"
                );
                assert!(
                    close(num("nmse"), sq("l2") / sq("norm_a"), 1e-12),
                    "{by} {group}"
                );
            }
            let max = metrics
                .iter()
                .map(|m| m["max_abs"].as_f64().unwrap())
                .fold(0.0, f64::max);
            // serde_json's default float parsing may be one ulp off.
            assert!(close(num("max_abs"), max, 1e-15), "{by} {group}");
            let compared = g("compared");
            assert_eq!(num("compared"), compared);
            let mean: f64 = metrics
                .iter()
                .map(|m| m["mean_abs"].as_f64().unwrap() * m["compared"].as_f64().unwrap())
                .sum::<f64>()
                / compared.max(1.0);
            assert!(close(num("mean_abs"), mean, 1e-12), "{by} {group} mean_abs");
            // Cosine of the group's tensors laid end to end: Σ a·b / (‖A‖‖B‖).
            let dot: f64 = metrics
                .iter()
                .map(|m| {
                    m["norm_a"].as_f64().unwrap()
                        * m["norm_b"].as_f64().unwrap()
                        * m["cosine"].as_f64().unwrap_or(0.0)
                })
                .sum();
            let (na, nb) = (sq("norm_a").sqrt(), sq("norm_b").sqrt());
            if na > 0.0 && nb > 0.0 {
                assert!(
                    (num("cosine") - dot / (na * nb)).abs() < 1e-9,
                    "{by} {group} cosine {} vs {}",
                    num("cosine"),
                    dot / (na * nb)
                );
            }
            assert_eq!(num("nonfinite_a"), g("nonfinite_a"));
            assert_eq!(num("nonfinite_b"), g("nonfinite_b"));
        }
        assert_eq!(
            seen,
            v["tensors"].as_array().unwrap().len(),
            "{by}: every tensor in one group"
        );
    }
}

#[test]
fn natural_sort_top_and_stat() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let names = ["blk.10.w", "blk.2.w", "blk.1.w", "blk.9.w"];
    let va: Vec<(&str, Vec<f32>)> = names.iter().map(|n| (*n, ramp(64, 1.0))).collect();
    // blk.9 drifts most, then blk.10, blk.2, blk.1.
    let vb: Vec<(&str, Vec<f32>)> = names
        .iter()
        .zip([0.2f32, 0.05, 0.01, 0.5])
        .map(|(n, s)| (*n, ramp(64, 1.0).iter().map(|x| x * (1.0 + s)).collect()))
        .collect();
    write_st(&a, &va, &[]);
    write_st(&b, &vb, &[]);
    let order = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("blk."))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let by_name = out(&diff(&a, &b, &["--sort", "name"]));
    assert_eq!(
        order(&by_name),
        ["blk.1.w", "blk.2.w", "blk.9.w", "blk.10.w"]
    );
    let by_layer = out(&diff(&a, &b, &["--by", "layer"]));
    assert_eq!(
        by_layer
            .lines()
            .filter(|l| l.starts_with("blk."))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect::<Vec<_>>(),
        ["blk.1", "blk.2", "blk.9", "blk.10"]
    );
    let worst = out(&diff(&a, &b, &["--sort", "rel_l2"]));
    assert_eq!(order(&worst), ["blk.9.w", "blk.10.w", "blk.2.w", "blk.1.w"]);
    let cos = out(&diff(&a, &b, &["--sort", "cosine"]));
    // A uniform scale keeps the cosine at 1: the order is stable among ties.
    assert_eq!(order(&cos).len(), 4);
    let top = out(&diff(&a, &b, &["--sort", "l2", "--top", "2"]));
    assert_eq!(order(&top), ["blk.9.w", "blk.10.w"]);
    assert!(top.contains("(2 more tensors not shown: --top 2)"), "{top}");
    let csv = out(&diff(
        &a,
        &b,
        &["--sort", "max_abs", "--top", "1", "--format", "csv"],
    ));
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.lines().nth(1).unwrap().starts_with("blk.9.w,"));
    // --stat: one line per changed tensor, the longest bar for the worst, then a summary.
    let stat = out(&diff(&a, &b, &["--stat", "--sort", "rel_l2"]));
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines.len(), 5, "{stat}");
    let bar = |l: &str| l.chars().filter(|&c| c == '+').count();
    assert!(lines[0].starts_with(" blk.9.w "), "{stat}");
    assert_eq!(bar(lines[0]), 40);
    assert!(bar(lines[0]) > bar(lines[1]) && bar(lines[1]) > bar(lines[2]));
    assert!(
        lines[4].contains("4 of 4 tensors changed: 4 modified"),
        "{stat}"
    );
    let narrow = Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(["diff", "--stat"])
        .arg(&a)
        .arg(&b)
        .env("COLUMNS", "50")
        .output()
        .unwrap();
    assert!(
        out(&narrow)
            .lines()
            .all(|l| l.chars().count() <= 50 || l.starts_with(" 4 of")),
        "{}",
        out(&narrow)
    );
    assert_eq!(
        diff(&a, &b, &["--stat", "--format", "json"]).status.code(),
        Some(2)
    );
    assert_eq!(diff(&a, &b, &["--top", "0"]).status.code(), Some(2));
    // Identical models: one line, in every view.
    for view in [
        &[][..],
        &["--stat"],
        &["--by", "layer"],
        &["--format", "markdown"],
    ] {
        let o = diff(&a, &a, view);
        assert_eq!(out(&o).lines().count(), 1, "{view:?}: {}", out(&o));
    }
}

#[test]
fn progress_never_reaches_stdout() {
    let (a, b) = samples();
    let quiet = diff(&a, &b, &["--progress", "never"]);
    let loud = diff(&a, &b, &["--progress", "always"]);
    assert_eq!(loud.status.code(), Some(0));
    assert_eq!(quiet.stdout, loud.stdout);
    assert!(!loud.stdout.contains(&b'\r') && !loud.stdout.contains(&0x1b));
    assert!(quiet.stderr.is_empty());
    // Not a terminal: auto draws nothing.
    assert!(diff(&a, &b, &[]).stderr.is_empty());
    let json_loud = diff(&a, &b, &["--progress", "always", "--format", "json"]);
    serde_json::from_slice::<Value>(&json_loud.stdout).expect("clean JSON on stdout");
}

#[test]
fn errors_are_one_line() {
    let (a, b) = samples();
    let dir = tempfile::tempdir().unwrap();
    let bad_regex = diff(&a, &b, &["--include", "["]);
    let zip = dir.path().join("model.pt");
    std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00archive/data.pkl").unwrap();
    let good = std::fs::read(&a).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &good[..good.len() - 100]).unwrap();
    let cases = [
        (
            bad_regex,
            "invalid --include regex `[`: unclosed character class",
        ),
        // PyTorch zips are read now: a broken one is a malformed zip, named as such.
        (diff(&zip, &b, &[]), "malformed zip file"),
        (diff(&a, &cut, &[]), "truncated: tensor data ends at byte"),
        (
            diff(&a, &b, &["--format", "yaml"]),
            "invalid value 'yaml' for '--format <FORMAT>'",
        ),
        (
            modeldiff(&["frobnicate"]),
            "unrecognized subcommand 'frobnicate'",
        ),
        (
            diff(&a, &b, &["--report", "/nonexistent-dir/r.html"]),
            "cannot write the HTML report",
        ),
    ];
    for (o, want) in cases {
        let e = err(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        assert!(
            e.starts_with("modeldiff: ") && e.contains(want),
            "{want}: {e}"
        );
    }
}

#[test]
fn completions_version_and_html_file() {
    let o = modeldiff(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).contains("modeldiff") && out(&o).contains("--fail-on"));
    assert_eq!(modeldiff(&["completions", "zsh"]).status.code(), Some(0));
    let v = out(&modeldiff(&["--version"]));
    assert!(
        v.starts_with(&format!("modeldiff {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    // The HTML report is written whole, next to no leftover temporary file.
    let (a, b) = samples();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let o = diff(&a, &b, &["--report", page.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // No network: the only URL is the SVG namespace.
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(
        !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file left");
}
