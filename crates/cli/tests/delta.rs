//! End-to-end tests of `modeldiff delta …` and `modeldiff digest`: extract → apply → digest
//! round trips on generated models (F32, F16, BF16 with hostile values), planted low-rank and
//! scaling deltas, PEFT adapters written by `tests/fixtures/peft/gen_peft.py` (numpy oracles),
//! TTT traces, hostile payloads, and the real MiniLM when present.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::Value;

fn modeldiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .output()
        .expect("run modeldiff")
}

/// Runs modeldiff, asserting exit code `code`; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = modeldiff(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tensor to write: name, dtype, shape, f32 values (converted to the dtype).
struct T<'a>(&'a str, Dtype, Vec<usize>, Vec<f32>);

fn write(path: &Path, tensors: &[T]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|T(_, d, _, v)| match d {
            Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Dtype::F16 => v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect(),
            Dtype::BF16 => v
                .iter()
                .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                .collect(),
            _ => unreachable!(),
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(T(n, d, sh, _), b)| (n.to_string(), TensorView::new(*d, sh.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn digest(p: &Path) -> String {
    ok(&["digest", s(p)])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn read_f32(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = match t.dtype() {
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F16 => t
            .data()
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32())
            .collect(),
        d => panic!("{name}: {d:?}"),
    };
    (t.shape().to_vec(), v)
}

/// ‖x − y‖ / ‖y‖ in f64.
fn rel(x: &[f32], y: &[f32]) -> f64 {
    let num: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    let den: f64 = y.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// Values that make `base + (tuned − base)` round wrongly, or not be finite.
fn hostile_pair(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let base = values(n, seed);
    let mut tuned: Vec<f32> = base.iter().map(|x| x + 1e-3 * x.sin()).collect();
    let specials = [
        (1e30f32, 1e-30f32),
        (65504.0, 5.96e-8),
        (f32::NAN, 1.0),
        (1.0, f32::NAN),
        (f32::INFINITY, 2.0),
        (3.0, f32::NEG_INFINITY),
        (0.0, -0.0),
        (-0.0, 0.0),
        (1e-40, 1e-42),
        (1.0, 1.0 + f32::EPSILON),
        (-3.0e38, 3.0e38),
    ];
    let mut base = base;
    for (i, (b, t)) in specials.iter().enumerate() {
        base[i * 7] = *b;
        tuned[i * 7] = *t;
    }
    (base, tuned)
}

#[test]
fn full_payloads_reproduce_the_target_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for (dt, tag) in [
        (Dtype::F32, "f32"),
        (Dtype::F16, "f16"),
        (Dtype::BF16, "bf16"),
    ] {
        let (b1, t1) = hostile_pair(4099, 1);
        let b2 = values(64, 2);
        let base = dir.path().join(format!("base-{tag}.safetensors"));
        let tuned = dir.path().join(format!("tuned-{tag}.safetensors"));
        write(
            &base,
            &[
                T("w", dt, vec![4099], b1),
                T("same", dt, vec![8, 8], b2.clone()),
            ],
        );
        write(
            &tuned,
            &[T("w", dt, vec![4099], t1), T("same", dt, vec![8, 8], b2)],
        );
        let mut payload_digests = Vec::new();
        for ext in ["json", "safetensors"] {
            let payload = dir.path().join(format!("p-{tag}.{ext}"));
            let out = dir.path().join(format!("out-{tag}-{ext}.safetensors"));
            let rep: Value = serde_json::from_str(&ok(&[
                "delta",
                "extract",
                s(&base),
                s(&tuned),
                "--kind",
                "full",
                "-o",
                s(&payload),
                "--format",
                "json",
            ]))
            .unwrap();
            assert_eq!(rep["exact"], true, "{tag} {ext}: {rep}");
            assert_eq!(
                rep["entries"].as_array().unwrap().len(),
                1,
                "identical tensors omitted"
            );
            assert!(
                rep["entries"][0]["fixups"].as_u64().unwrap() > 0,
                "{tag}: {rep}"
            );
            payload_digests.push(rep["payload_digest"].as_str().unwrap().to_string());
            ok(&["delta", "apply", s(&base), s(&payload), "-o", s(&out)]);
            assert_eq!(digest(&out), digest(&tuned), "{tag} via {ext}");
            ok(&[
                "delta",
                "verify",
                s(&base),
                s(&payload),
                "--target",
                s(&tuned),
            ]);
            let show: Value =
                serde_json::from_str(&ok(&["delta", "show", s(&payload), "--format", "json"]))
                    .unwrap();
            assert_eq!(show["digest_ok"], true);
            assert_eq!(show["target_digest"].as_str().unwrap(), digest(&tuned));
        }
        assert_eq!(
            payload_digests[0], payload_digests[1],
            "JSON and container digests"
        );
    }
}

/// A planted rank-8 update of an attention weight plus a changed norm: `--rank 8` recovers
/// the weight to 1e-5 and the norm goes into a Full part; `--energy 0.99` picks rank 8.
#[test]
fn lora_recovers_a_planted_rank() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, r) = (192usize, 160usize, 8usize);
    let w = values(rows * cols, 3);
    let b = values(rows * r, 4);
    let a = values(r * cols, 5);
    let noise = values(rows * cols, 6);
    let mut dw = vec![0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let v: f64 = (0..r)
                .map(|k| b[i * r + k] as f64 * a[k * cols + j] as f64)
                .sum();
            dw[i * cols + j] = (0.05 * v) as f32;
        }
    }
    let norm = values(cols, 7);
    let tuned_norm: Vec<f32> = norm.iter().map(|x| x + 0.01).collect();
    let base = dir.path().join("base.safetensors");
    write(
        &base,
        &[
            T(
                "model.layers.0.self_attn.q_proj.weight",
                Dtype::F32,
                vec![rows, cols],
                w.clone(),
            ),
            T(
                "model.layers.0.input_layernorm.weight",
                Dtype::F32,
                vec![cols],
                norm,
            ),
        ],
    );
    for (noisy, args) in [
        (false, vec!["--rank", "8"]),
        (true, vec!["--energy", "0.99"]),
    ] {
        let tw: Vec<f32> = w
            .iter()
            .zip(&dw)
            .zip(&noise)
            .map(|((x, d), n)| x + d + if noisy { 1e-6 * n } else { 0.0 })
            .collect();
        let tuned = dir.path().join(format!("tuned-{noisy}.safetensors"));
        write(
            &tuned,
            &[
                T(
                    "model.layers.0.self_attn.q_proj.weight",
                    Dtype::F32,
                    vec![rows, cols],
                    tw.clone(),
                ),
                T(
                    "model.layers.0.input_layernorm.weight",
                    Dtype::F32,
                    vec![cols],
                    tuned_norm.clone(),
                ),
            ],
        );
        let payload = dir.path().join(format!("lora-{noisy}.safetensors"));
        let mut cmd = vec![
            "delta",
            "extract",
            s(&base),
            s(&tuned),
            "--kind",
            "lora",
            "-o",
            s(&payload),
            "--format",
            "json",
        ];
        cmd.extend(args.iter().copied());
        let rep: Value = serde_json::from_str(&ok(&cmd)).unwrap();
        let entries = rep["entries"].as_array().unwrap();
        let q = entries.iter().find(|e| e["kind"] == "lora").unwrap();
        assert_eq!(q["rank"], 8, "{rep}");
        assert!(
            entries
                .iter()
                .any(|e| e["kind"] == "full"
                    && e["tensor"] == "model.layers.0.input_layernorm.weight")
        );
        let out = dir.path().join(format!("out-{noisy}.safetensors"));
        ok(&["delta", "apply", s(&base), s(&payload), "-o", s(&out)]);
        let (_, got) = read_f32(&out, "model.layers.0.self_attn.q_proj.weight");
        // The reconstruction error relative to the planted update, computed here in f64.
        let err: Vec<f32> = got.iter().zip(&w).map(|(g, x)| g - x).collect();
        let want: Vec<f32> = tw.iter().zip(&w).map(|(t, x)| t - x).collect();
        let e = rel(&err, &want);
        assert!(e < if noisy { 1e-3 } else { 1e-5 }, "relative error {e}");
        let (_, n) = read_f32(&out, "model.layers.0.input_layernorm.weight");
        assert_eq!(n, tuned_norm);
        // An approximate payload verifies when within the asked tolerance.
        ok(&[
            "delta",
            "verify",
            s(&base),
            s(&payload),
            "--target",
            s(&tuned),
            "--max-rel-l2",
            "1e-3",
        ]);
    }
}

#[test]
fn ia3_recovers_row_and_column_scalings() {
    let dir = tempfile::tempdir().unwrap();
    let (o, i) = (48usize, 32usize);
    let q = values(o * i, 8);
    let down = values(i * o, 9);
    let sq: Vec<f32> = values(o, 10).iter().map(|x| 1.0 + 0.3 * x).collect();
    let sd: Vec<f32> = values(o, 11).iter().map(|x| 1.0 + 0.3 * x).collect();
    let q2: Vec<f32> = q.iter().enumerate().map(|(k, x)| x * sq[k / i]).collect();
    // down_proj [i, o]: PEFT scales its input side, the columns.
    let d2: Vec<f32> = down
        .iter()
        .enumerate()
        .map(|(k, x)| x * sd[k % o])
        .collect();
    let base = dir.path().join("base.safetensors");
    let tuned = dir.path().join("tuned.safetensors");
    write(
        &base,
        &[
            T(
                "model.layers.1.self_attn.q_proj.weight",
                Dtype::F32,
                vec![o, i],
                q,
            ),
            T(
                "model.layers.1.mlp.down_proj.weight",
                Dtype::F32,
                vec![i, o],
                down,
            ),
        ],
    );
    write(
        &tuned,
        &[
            T(
                "model.layers.1.self_attn.q_proj.weight",
                Dtype::F32,
                vec![o, i],
                q2.clone(),
            ),
            T(
                "model.layers.1.mlp.down_proj.weight",
                Dtype::F32,
                vec![i, o],
                d2.clone(),
            ),
        ],
    );
    let payload = dir.path().join("ia3.json");
    let rep: Value = serde_json::from_str(&ok(&[
        "delta",
        "extract",
        s(&base),
        s(&tuned),
        "--kind",
        "ia3",
        "-o",
        s(&payload),
        "--format",
        "json",
    ]))
    .unwrap();
    for e in rep["entries"].as_array().unwrap() {
        assert_eq!(e["kind"], "ia3");
        assert!(e["rel_error"].as_f64().unwrap() < 1e-5, "{e}");
    }
    let p: Value = serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
    let scaling = &p["parts"][0]["scaling"]["1"];
    assert_eq!(scaling["q_proj"].as_array().unwrap().len(), o);
    assert_eq!(scaling["down_proj"].as_array().unwrap().len(), o);
    let out = dir.path().join("out.safetensors");
    ok(&["delta", "apply", s(&base), s(&payload), "-o", s(&out)]);
    let (_, gq) = read_f32(&out, "model.layers.1.self_attn.q_proj.weight");
    let (_, gd) = read_f32(&out, "model.layers.1.mlp.down_proj.weight");
    assert!(rel(&gq, &q2) < 1e-6 && rel(&gd, &d2) < 1e-6);
}

fn peft_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/peft")
        .join(name)
}

/// Writes a base model for a PEFT fixture: `tensors` (name → shape, values) as F32.
fn write_owned(path: &Path, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) {
    let t: Vec<T> = tensors
        .iter()
        .map(|(n, sh, v)| T(n, Dtype::F32, sh.clone(), v.clone()))
        .collect();
    write(path, &t);
}

/// PEFT's merge, computed by numpy in `gen_peft.py`, equals import-peft + apply: LoRA updates
/// (rslora, rank/alpha patterns, f16, fan_in_fan_out) onto a zero base give ΔW itself;
/// `modules_to_save` replace whole tensors; IA3 scales the base as PEFT merges.
#[test]
fn peft_adapters_apply_like_peft_merges() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in ["lora", "fan_in_fan_out"] {
        let expected = peft_fixture(fixture).join("expected.safetensors");
        let bytes = std::fs::read(&expected).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        let base = dir.path().join(format!("{fixture}-base.safetensors"));
        write_owned(
            &base,
            names
                .iter()
                .map(|n| {
                    let shape = st.tensor(n).unwrap().shape().to_vec();
                    let len = shape.iter().product();
                    (n.clone(), shape, vec![0f32; len])
                })
                .collect(),
        );
        let payload = dir.path().join(format!("{fixture}.json"));
        ok(&[
            "delta",
            "import-peft",
            s(&peft_fixture(fixture)),
            "-o",
            s(&payload),
            "--base",
            s(&base),
        ]);
        let out = dir.path().join(format!("{fixture}-out.safetensors"));
        ok(&["delta", "apply", s(&base), s(&payload), "-o", s(&out)]);
        for n in &names {
            let (_, want) = read_f32(&expected, n);
            let (_, got) = read_f32(&out, n);
            let e = rel(&got, &want);
            assert!(e < 1e-5, "{fixture} {n}: relative error {e}");
        }
    }
    // IA3: expected holds `base.<name>` and `merged.<name>`.
    let expected = peft_fixture("ia3").join("expected.safetensors");
    let bytes = std::fs::read(&expected).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let bases: Vec<String> = st
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix("base.").map(str::to_string))
        .collect();
    let base = dir.path().join("ia3-base.safetensors");
    write_owned(
        &base,
        bases
            .iter()
            .map(|n| {
                let (shape, v) = read_f32(&expected, &format!("base.{n}"));
                (n.clone(), shape, v)
            })
            .collect(),
    );
    let payload = dir.path().join("ia3.safetensors");
    ok(&[
        "delta",
        "import-peft",
        s(&peft_fixture("ia3")),
        "-o",
        s(&payload),
    ]);
    let out = dir.path().join("ia3-out.safetensors");
    ok(&["delta", "apply", s(&base), s(&payload), "-o", s(&out)]);
    for n in &bases {
        let (_, want) = read_f32(&expected, &format!("merged.{n}"));
        let (_, got) = read_f32(&out, n);
        assert_eq!(got, want, "ia3 {n}: PEFT merges in f32, as apply does");
    }
}

/// export-peft then import-peft gives back the same adapters (alpha = r: scaling 1).
#[test]
fn peft_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("p.json");
    std::fs::write(
        &payload,
        serde_json::json!({"kind":"lora","adapters":[{"layer_id":2,"matrix":"q_proj","rank":2,
            "in_dim":3,"out_dim":2,"a":[0.5,-1.0,0.25,2.0,0.0,1.5],"b":[1.0,0.5,-2.0,0.75]}]})
        .to_string(),
    )
    .unwrap();
    let adapter = dir.path().join("adapter");
    ok(&["delta", "export-peft", s(&payload), "-o", s(&adapter)]);
    assert!(adapter.join("adapter_config.json").exists());
    let back = dir.path().join("back.json");
    ok(&["delta", "import-peft", s(&adapter), "-o", s(&back)]);
    let p: Value = serde_json::from_slice(&std::fs::read(&back).unwrap()).unwrap();
    let ad = &p["parts"][0]["adapters"][0];
    assert_eq!(ad["a"], serde_json::json!([0.5, -1.0, 0.25, 2.0, 0.0, 1.5]));
    assert_eq!(ad["b"], serde_json::json!([1.0, 0.5, -2.0, 0.75]));
}

#[test]
fn ttt_traces_collapse_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.safetensors");
    write(&base, &[T("w", Dtype::F32, vec![3], vec![1.0, 2.0, 3.0])]);
    let trace = dir.path().join("trace.json");
    std::fs::write(
        &trace,
        r#"{"kind":"in-place-ttt","steps":[{"step_id":2,"deltas":{"w":[0.5,0.0,-1.0]}},
           {"step_id":1,"deltas":{"w":[0.25,0.25,0.25]}}]}"#,
    )
    .unwrap();
    let full = dir.path().join("full.json");
    ok(&["delta", "collapse", s(&trace), "-o", s(&full)]);
    let p: Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    assert_eq!(p["parts"][0]["kind"], "full");
    assert_eq!(
        p["parts"][0]["params"]["w"],
        serde_json::json!([0.75, 0.25, -0.75])
    );
    for payload in [&trace, &full] {
        let out = dir.path().join("out.safetensors");
        ok(&["delta", "apply", s(&base), s(payload), "-o", s(&out)]);
        assert_eq!(read_f32(&out, "w").1, vec![1.75, 2.25, 2.25]);
        std::fs::remove_file(&out).unwrap();
    }
}

/// Hostile payloads: a clear one-line error, exit 2, and no output file.
#[test]
fn hostile_payloads_are_refused_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.safetensors");
    write(
        &base,
        &[T(
            "model.layers.0.self_attn.q_proj.weight",
            Dtype::F32,
            vec![2, 3],
            vec![0.0; 6],
        )],
    );
    let lora = |a: &str| {
        format!(
            r#"{{"kind":"lora","adapters":[{{"layer_id":0,"matrix":"q_proj","rank":1,"in_dim":3,"out_dim":2,"a":{a},"b":[1,1]}}]}}"#
        )
    };
    // A payload whose recorded digest does not match its content.
    let mut p: Value = serde_json::from_str(&lora("[1,2,3]")).unwrap();
    p = serde_json::json!({"schema":"model.diff.v1","parts":[p],
        "digest":"blake3:0000000000000000000000000000000000000000000000000000000000000000"});
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong-dims.json", lora("[1,2]"), "expected 3"),
        ("unknown-target.json", lora("[1,2,3]").replace("q_proj", "k_proj"), "k_proj"),
        (
            "duplicate-step.json",
            r#"{"kind":"in-place-ttt","steps":[{"step_id":1,"deltas":{}},{"step_id":1,"deltas":{}}]}"#
                .into(),
            "step",
        ),
        ("digest-mismatch.json", p.to_string(), "digest mismatch"),
        ("not-json.json", "{\"kind\":".into(), "payload"),
    ];
    for (name, text, needle) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        check_refused(&base, &path, needle);
    }
    // NaN in a container, and a truncated container.
    let container = dir.path().join("c.safetensors");
    // Build a container through `collapse` of a trace (a path that writes containers).
    let trace = dir.path().join("t.json");
    std::fs::write(
        &trace,
        r#"{"kind":"in-place-ttt","steps":[{"step_id":1,"deltas":{"model.layers.0.self_attn.q_proj.weight":[1,2,3,4,5,6]}}]}"#,
    )
    .unwrap();
    ok(&["delta", "collapse", s(&trace), "-o", s(&container)]);
    let bytes = std::fs::read(&container).unwrap();
    let cut = dir.path().join("truncated.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    check_refused(&base, &cut, "");
    let mut nan = bytes.clone();
    let at = nan.len() - 4;
    nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan_path = dir.path().join("nan.safetensors");
    std::fs::write(&nan_path, &nan).unwrap();
    check_refused(&base, &nan_path, "");
}

fn check_refused(base: &Path, payload: &Path, needle: &str) {
    let out = payload.with_extension("out.safetensors");
    let o = modeldiff(&["delta", "apply", s(base), s(payload), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}: {err}", payload.display());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(needle),
        "{}: {err:?} lacks {needle:?}",
        payload.display()
    );
    assert!(!out.exists(), "{}: output left behind", payload.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

/// `apply` refuses to write over its inputs, whatever the path spelling.
#[test]
fn apply_never_writes_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.safetensors");
    write(&base, &[T("w", Dtype::F32, vec![2], vec![1.0, 2.0])]);
    let payload = dir.path().join("p.json");
    std::fs::write(&payload, r#"{"kind":"full","params":{"w":[1,1]}}"#).unwrap();
    let before = std::fs::read(&base).unwrap();
    let alias = dir.path().join(".").join("base.safetensors");
    for target in [&base, &alias, &payload] {
        let o = modeldiff(&["delta", "apply", s(&base), s(&payload), "-o", s(target)]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite input"));
    }
    assert_eq!(std::fs::read(&base).unwrap(), before);
}

fn models_dir() -> PathBuf {
    std::env::var_os("MODELDIFF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-models")
        })
}

/// The real MiniLM: a nudged copy's Full payload reproduces it bit for bit.
#[test]
fn minilm_full_round_trip_is_digest_exact() {
    let p = models_dir().join("minilm-l6-v2.safetensors");
    if !p.exists() {
        assert!(
            std::env::var_os("MODELDIFF_REQUIRE_MODELS").is_none_or(|v| v != "1"),
            "MODELDIFF_REQUIRE_MODELS=1 but {} not found",
            p.display()
        );
        eprintln!("skipping: {} not found", p.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // Every tenth F32 tensor nudged; everything else (the I64 position ids) as stored.
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, (name, t)) in st.tensors().into_iter().enumerate() {
        let mut data = t.data().to_vec();
        if t.dtype() == Dtype::F32 && k % 10 == 0 {
            data = data
                .chunks_exact(4)
                .enumerate()
                .flat_map(|(i, c)| {
                    let x = f32::from_le_bytes(c.try_into().unwrap());
                    (x + 1e-3 * ((i % 7) as f32 - 3.0)).to_le_bytes()
                })
                .collect();
        }
        owned.push((name, t.dtype(), t.shape().to_vec(), data));
    }
    let tuned = dir.path().join("tuned.safetensors");
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, sh, b)| (n.clone(), TensorView::new(*d, sh.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &tuned).unwrap();
    let payload = dir.path().join("p.safetensors");
    let out = dir.path().join("out.safetensors");
    ok(&[
        "delta",
        "extract",
        s(&p),
        s(&tuned),
        "--kind",
        "full",
        "-o",
        s(&payload),
    ]);
    ok(&["delta", "apply", s(&p), s(&payload), "-o", s(&out)]);
    assert_eq!(digest(&out), digest(&tuned));
}
