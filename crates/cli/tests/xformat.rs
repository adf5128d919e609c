//! Cross-format diffs end to end: an HF checkpoint against its GGUF conversions written by
//! `tests/fixtures/xformat/make.py` (gguf-py's writer, the converter's Q/K permutation, ggml
//! dimension order, tied embeddings, gemma's `+1` norms), the Q8_0 drift against the script's
//! numpy float64 oracle, name maps, `--rename` rules and renames detected by content.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn modeldiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .output()
        .expect("run modeldiff")
}

/// Runs modeldiff expecting exit code `code`; returns stdout.
fn run(code: i32, args: &[&str]) -> String {
    let o = modeldiff(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/xformat")
        .join(rel);
    p.to_str().unwrap().to_string()
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["diff"];
    all.extend(args);
    all.extend(["--format", "json"]);
    serde_json::from_str(&run(0, &all)).unwrap()
}

fn tensors(r: &Value) -> &Vec<Value> {
    r["tensors"].as_array().unwrap()
}

fn transforms(t: &Value) -> Vec<&str> {
    t.get("transforms")
        .and_then(Value::as_array)
        .map(|v| v.iter().map(|x| x.as_str().unwrap()).collect())
        .unwrap_or_default()
}

fn find<'a>(r: &'a Value, name: &str) -> &'a Value {
    tensors(r)
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

#[test]
fn hf_against_its_f32_gguf_pairs_every_tensor_with_nothing_left_over() {
    let (hf, gg) = (
        fixture("llama/model.safetensors"),
        fixture("llama/model-f32.gguf"),
    );
    for (a, b, hf_is_a) in [(&hf, &gg, true), (&gg, &hf, false)] {
        let r = json(&[a, b]);
        let s = &r["summary"];
        assert_eq!(
            (s["added"].as_u64(), s["removed"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(s["differs"], false, "{s}");
        assert!(tensors(&r).len() >= 20);
        for t in tensors(&r) {
            assert_eq!(t["identical"], true, "{t}");
            assert_eq!(t["metrics"]["max_abs"].as_f64(), Some(0.0), "{t}");
            assert!(t["name_b"].is_string(), "{t}");
        }
        let (q, k, head) = if hf_is_a {
            (
                "model.layers.1.self_attn.q_proj.weight",
                "model.layers.0.self_attn.k_proj.weight",
                "lm_head.weight",
            )
        } else {
            (
                "blk.1.attn_q.weight",
                "blk.0.attn_k.weight",
                "token_embd.weight",
            )
        };
        assert_eq!(transforms(find(&r, q)), ["dims_reversed", "unpermuted_qk"]);
        assert_eq!(transforms(find(&r, k)), ["dims_reversed", "unpermuted_qk"]);
        let tied = tensors(&r)
            .iter()
            .find(|t| transforms(t).contains(&"tied_embeddings"))
            .expect("a tied pair");
        if hf_is_a {
            assert_eq!(tied["name"], head);
            assert_eq!(tied["name_b"], "token_embd.weight");
        } else {
            assert_eq!(tied["name"], head);
            assert_eq!(tied["name_b"], "lm_head.weight");
        }
        assert_eq!(tied["matched_by"], "tied_embeddings");
        let norm = if hf_is_a {
            "model.norm.weight"
        } else {
            "output_norm.weight"
        };
        assert!(transforms(find(&r, norm)).is_empty());
        assert_eq!(find(&r, norm)["matched_by"], "name_map");
    }
}

#[test]
fn without_unpermuting_the_attention_rows_differ() {
    let r = json(&[
        &fixture("llama/model.safetensors"),
        &fixture("llama/model-f32.gguf"),
        "--qk-unpermute",
        "off",
    ]);
    let q = find(&r, "model.layers.0.self_attn.q_proj.weight");
    assert_eq!(q["identical"], false);
    assert!(!transforms(q).contains(&"unpermuted_qk"));
    assert_eq!(
        find(&r, "model.layers.0.self_attn.v_proj.weight")["identical"],
        true
    );
}

#[test]
fn without_a_name_map_nothing_pairs() {
    let r = json(&[
        &fixture("llama/model.safetensors"),
        &fixture("llama/model-f32.gguf"),
        "--map",
        "none",
        "--no-renames",
    ]);
    let s = &r["summary"];
    assert_eq!(s["compared"], 0);
    assert!(s["added"].as_u64().unwrap() > 10 && s["removed"].as_u64().unwrap() > 10);
}

#[test]
fn gemma_norms_folded_plus_one_are_compared_as_stored() {
    let r = json(&[
        &fixture("gemma2/model.safetensors"),
        &fixture("gemma2/model-f32.gguf"),
    ]);
    assert_eq!(r["summary"]["differs"], false, "{}", r["summary"]);
    for (hf, gguf) in [
        (
            "model.layers.0.post_attention_layernorm.weight",
            "blk.0.post_attention_norm.weight",
        ),
        (
            "model.layers.1.pre_feedforward_layernorm.weight",
            "blk.1.ffn_norm.weight",
        ),
        (
            "model.layers.1.post_feedforward_layernorm.weight",
            "blk.1.post_ffw_norm.weight",
        ),
        ("model.norm.weight", "output_norm.weight"),
    ] {
        let t = find(&r, hf);
        assert_eq!(t["name_b"], gguf);
        assert_eq!(transforms(t), ["norm_plus_one"], "{t}");
        assert_eq!(t["metrics"]["max_abs"].as_f64(), Some(0.0));
    }
    // gemma does not permute Q/K.
    let q = find(&r, "model.layers.0.self_attn.q_proj.weight");
    assert_eq!(transforms(q), ["dims_reversed"]);
}

#[test]
fn q8_0_drift_matches_the_numpy_oracle() {
    let oracle: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("llama/q8_0.oracle.json")).unwrap())
            .unwrap();
    let r = json(&[
        &fixture("llama/model.safetensors"),
        &fixture("llama/model-q8_0.gguf"),
    ]);
    let want = oracle.as_object().unwrap();
    assert_eq!(tensors(&r).len(), want.len());
    let close = |got: f64, want: f64, rel: f64, what: &str, name: &str| {
        assert!(
            (got - want).abs() <= rel * want.abs().max(1e-300),
            "{name} {what}: got {got}, numpy says {want}"
        );
    };
    for (name, o) in want {
        let t = find(&r, name);
        assert_eq!(t["name_b"], o["name_b"], "{name}");
        assert_eq!(t["dtype_b"], o["dtype_b"], "{name}");
        let m = &t["metrics"];
        if o["max_abs"].as_f64() == Some(0.0) {
            assert_eq!(m["max_abs"].as_f64(), Some(0.0), "{name}");
            continue;
        }
        // Differences are taken in f32 and summed in f64: a few ulps of f32 per element.
        close(
            m["nmse"].as_f64().unwrap(),
            o["nmse"].as_f64().unwrap(),
            1e-5,
            "nmse",
            name,
        );
        let snr = -m["nmse_db"].as_f64().unwrap();
        assert!(
            (snr - o["snr_db"].as_f64().unwrap()).abs() < 1e-4,
            "{name} snr"
        );
        close(
            m["max_abs"].as_f64().unwrap(),
            o["max_abs"].as_f64().unwrap(),
            1e-6,
            "max_abs",
            name,
        );
        assert_eq!(
            m["max_abs_index"], o["max_abs_index"],
            "{name}: in A's coordinates"
        );
        assert!(
            (m["cosine"].as_f64().unwrap() - o["cosine"].as_f64().unwrap()).abs() < 1e-9,
            "{name} cosine"
        );
    }
}

#[test]
fn user_maps_and_rename_rules_pair_names() {
    let (hf, gg) = (
        fixture("llama/model.safetensors"),
        fixture("llama/model-f32.gguf"),
    );
    let r = json(&[
        &hf,
        &gg,
        "--map",
        "none",
        "--no-renames",
        "--rename",
        r"s/^blk\.(\d+)\.attn_norm\./model.layers.${1}.input_layernorm./",
    ]);
    let t = find(&r, "model.layers.1.input_layernorm.weight");
    assert_eq!(t["matched_by"], "rename_rule");
    assert_eq!(t["name_b"], "blk.1.attn_norm.weight");
    assert_eq!(t["identical"], true);
    assert_eq!(r["summary"]["compared"], 2);

    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(&map, "\"model.norm.weight\" = \"output_norm.weight\"\n").unwrap();
    let r = json(&[&hf, &gg, "--map", map.to_str().unwrap(), "--no-renames"]);
    // The mapped norm, and the head against the embedding (tied embeddings stay on with a map).
    assert_eq!(r["summary"]["compared"], 2);
    assert_eq!(find(&r, "lm_head.weight")["matched_by"], "tied_embeddings");
    assert_eq!(find(&r, "model.norm.weight")["matched_by"], "name_map");
}

#[test]
fn renames_by_content_are_one_pair_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let write = |p: &Path, names: [&str; 2]| {
        let v = [1f32, 2.0, 3.0, 4.0];
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let w = [0.5f32, 0.25];
        let wb: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        let views = vec![
            (
                names[0],
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &bytes)
                    .unwrap(),
            ),
            (
                names[1],
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &wb)
                    .unwrap(),
            ),
        ];
        safetensors::serialize_to_file(views, None, p).unwrap();
    };
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    write(&a, ["enc.w", "keep"]);
    write(&b, ["encoder.w", "keep"]);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let r = json(&[a, b]);
    let t = find(&r, "enc.w");
    assert_eq!(t["name_b"], "encoder.w");
    assert_eq!(transforms(t), ["renamed"]);
    assert_eq!(t["matched_by"], "content");
    assert_eq!(r["summary"]["differs"], false);
    let table = run(0, &["diff", a, b, "--all"]);
    assert!(table.contains("enc.w → encoder.w"), "{table}");
    assert!(table.contains("(renamed)"), "{table}");
    let r = json(&[a, b, "--no-renames"]);
    assert_eq!(
        (
            r["summary"]["added"].as_u64(),
            r["summary"]["removed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // Same-name diffs keep their JSON shape: no transforms, name_b or matched_by fields.
    assert!(find(&r, "keep").get("transforms").is_none());
    assert!(find(&r, "keep").get("name_b").is_none());
}

#[test]
fn bad_matching_options_are_one_line_errors() {
    let hf = fixture("llama/model.safetensors");
    for args in [
        vec!["--rename", "s/(/x/"],
        vec!["--rename", "y/a/b/"],
        vec!["--map", "/nonexistent/map.json"],
    ] {
        let mut all = vec!["diff", hf.as_str(), hf.as_str()];
        all.extend(args.iter().copied());
        let o = modeldiff(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("modeldiff: "), "{err}");
    }
}

fn models_dir() -> PathBuf {
    std::env::var_os("MODELDIFF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-models")
        })
}

/// The real models' paths, or `None` (skipping with a note) when one is absent, unless
/// `MODELDIFF_REQUIRE_MODELS=1`.
fn real(names: &[&str]) -> Option<Vec<String>> {
    let dir = models_dir();
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        assert!(
            std::env::var_os("MODELDIFF_REQUIRE_MODELS").is_none_or(|v| v != "1"),
            "MODELDIFF_REQUIRE_MODELS=1 but {} not found",
            missing.display()
        );
        eprintln!("skipping: {} not found", missing.display());
        return None;
    }
    Some(
        paths
            .iter()
            .map(|p| p.to_str().unwrap().to_string())
            .collect(),
    )
}

/// SmolLM2-135M: Q4_1 against its Q8_0 requantization, per layer, against the numpy oracle of
/// `tests/real/gguf_oracle.py` (NMSE = l2² / norm_a²).
#[test]
fn smollm2_q4_1_to_q8_0_drift_per_layer() {
    let Some(p) = real(&[
        "smollm2-135m-q4_1.gguf",
        "smollm2-135m-q8_0.gguf",
        "smollm2-q4_1-vs-q8_0.oracle.json",
    ]) else {
        return;
    };
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(&p[2]).unwrap()).unwrap();
    let d: Value = serde_json::from_str(&run(
        0,
        &["drift", &p[0], &p[1], "--format", "json", "--top", "5"],
    ))
    .unwrap();
    assert_eq!(d["schema"], "modeldiff.drift.v1");
    let want = oracle["tensors"].as_object().unwrap();
    let got = d["tensors"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for t in got {
        let o = &want[t["name"].as_str().unwrap()];
        let (l2, na) = (o["l2"].as_f64().unwrap(), o["norm_a"].as_f64().unwrap());
        let nmse = l2 * l2 / (na * na);
        let g = t["nmse"].as_f64().unwrap();
        assert!(
            (g - nmse).abs() <= 1e-5 * nmse,
            "{}: {g} vs {nmse}",
            t["name"]
        );
    }
    let layers = d["by_layer"].as_array().unwrap();
    assert_eq!(layers.len(), 31, "30 blocks and the rest");
    assert_eq!(layers[0]["group"], "layer 0");
    assert_eq!(layers[30]["group"], "other");
    assert_eq!(d["worst"].as_array().unwrap().len(), 5);
    let types: Vec<&str> = d["by_quant_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Q8_0") && types.contains(&"F32"),
        "{types:?}"
    );
    // Requantizing 4-bit weights to 8 bits moves them by 8-bit rounding: excellent, not broken.
    assert_eq!(d["overall"]["verdict"], "excellent", "{}", d["overall"]);
    let table = run(0, &["drift", &p[0], &p[1]]);
    assert!(
        table.contains("By layer") && table.contains("By quant type"),
        "{table}"
    );
}

/// MiniLM-L6-v2 SafeTensors against a Q8_0 GGUF named by gguf-py's own tables
/// (`tests/real/minilm_gguf.py`): every converted tensor pairs, drift matches numpy.
#[test]
fn minilm_safetensors_to_q8_0_gguf_drift_matches_numpy() {
    let Some(p) = real(&[
        "minilm-l6-v2.safetensors",
        "minilm-l6-v2-q8_0.gguf",
        "minilm-l6-v2-q8_0.oracle.json",
    ]) else {
        return;
    };
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(&p[2]).unwrap()).unwrap();
    let d: Value =
        serde_json::from_str(&run(0, &["drift", &p[0], &p[1], "--format", "json"])).unwrap();
    let want = oracle.as_object().unwrap();
    let got = d["tensors"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "every converted tensor pairs");
    assert_eq!(d["only_in_b"].as_array().unwrap().len(), 0);
    // Left out by the converter: position ids (I64) and the pooler.
    assert_eq!(
        d["only_in_a"].as_array().unwrap().len(),
        3,
        "{}",
        d["only_in_a"]
    );
    for t in got {
        let name = t["name"].as_str().unwrap();
        let o = &want[name];
        assert_eq!(t["name_b"], o["name_b"], "{name}");
        assert_eq!(t["quant_type"], o["dtype_b"], "{name}");
        match o["nmse"].as_f64() {
            Some(0.0) => assert_eq!(t["nmse"].as_f64(), Some(0.0), "{name}"),
            Some(want) => {
                let g = t["nmse"].as_f64().unwrap();
                assert!((g - want).abs() <= 1e-5 * want, "{name}: {g} vs {want}");
                let at = &t["max_abs_at"];
                let idx = o["max_abs_index"].as_array().unwrap();
                if idx.len() == 2 {
                    assert_eq!(at["row"], idx[0], "{name}");
                    assert_eq!(at["col"], idx[1], "{name}");
                    assert_eq!(at["block"].as_u64(), Some(idx[1].as_u64().unwrap() / 32));
                }
            }
            None => {}
        }
    }
    assert_eq!(d["overall"]["verdict"], "excellent");
}

#[test]
fn diff_drift_prints_the_drift_report_and_spectral_the_rank_of_the_change() {
    let (hf, q8) = (
        fixture("llama/model.safetensors"),
        fixture("llama/model-q8_0.gguf"),
    );
    let oracle: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("llama/q8_0.oracle.json")).unwrap())
            .unwrap();
    let d: Value =
        serde_json::from_str(&run(0, &["diff", &hf, &q8, "--drift", "--format", "json"])).unwrap();
    assert_eq!(d["schema"], "modeldiff.drift.v1");
    let groups = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(groups("by_layer"), ["layer 0", "layer 1", "other"]);
    assert_eq!(groups("by_quant_type"), ["Q8_0", "F32"]);
    let q = "model.layers.0.self_attn.q_proj.weight";
    let t = d["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == q)
        .unwrap();
    let at = &oracle[q]["max_abs_index"];
    assert_eq!(t["max_abs_at"]["row"], at[0]);
    assert_eq!(t["max_abs_at"]["col"], at[1]);
    assert_eq!(
        t["max_abs_at"]["block"].as_u64(),
        Some(at[1].as_u64().unwrap() / 32)
    );
    assert_eq!(t["verdict"], "excellent");
    assert_eq!(t["transforms"][1], "unpermuted_qk");
    let table = run(0, &["diff", &hf, &q8, "--drift"]);
    assert!(table.contains("Worst 10 tensors by NMSE"), "{table}");
    let o = modeldiff(&["diff", &hf, &q8, "--drift", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));

    let r = json(&[&hf, &q8, "--spectral"]);
    let s = &find(&r, q)["spectral"];
    assert_eq!(s["k"], 64);
    assert!(s["sigma1"].as_f64().unwrap() > 0.0);
    // Rounding noise spreads over every direction: nowhere near a low rank.
    assert!(s["r99"].as_u64().unwrap() >= 40, "{s}");
    assert!(s["stable_rank"].as_f64().unwrap() > 5.0, "{s}");
    // Unchanged tensors (F32 norms) get no spectrum.
    assert!(find(&r, "model.norm.weight").get("spectral").is_none());
    let table = run(0, &["diff", &hf, &q8, "--spectral"]);
    assert!(table.contains("Spectral (ΔW = B − A)"), "{table}");
}

#[test]
fn per_expert_tensors_pair_with_slices_of_the_stacked_experts() {
    let (hf, gg) = (
        fixture("mixtral/model.safetensors"),
        fixture("mixtral/model-f32.gguf"),
    );
    for (a, b, hf_is_a) in [(&hf, &gg, true), (&gg, &hf, false)] {
        let r = json(&[a, b]);
        let s = &r["summary"];
        assert_eq!(s["differs"], false, "{s}");
        assert_eq!(
            (
                s["added"].as_u64(),
                s["removed"].as_u64(),
                s["shape_changed"].as_u64()
            ),
            (Some(0), Some(0), Some(0))
        );
        let split: Vec<&Value> = tensors(&r)
            .iter()
            .filter(|t| transforms(t).contains(&"experts_split"))
            .collect();
        assert_eq!(split.len(), 12, "4 experts × w1, w2, w3");
        for t in &split {
            assert_eq!(t["change"], "unchanged");
            assert_eq!(t["metrics"]["max_abs"].as_f64(), Some(0.0));
        }
        let w2 = split
            .iter()
            .find(|t| {
                let hf_name = if hf_is_a { &t["name"] } else { &t["name_b"] };
                hf_name == "model.layers.0.block_sparse_moe.experts.2.w2.weight"
            })
            .unwrap();
        let gg_name = if hf_is_a { &w2["name_b"] } else { &w2["name"] };
        assert_eq!(gg_name, "blk.0.ffn_down_exps.weight");
        assert_eq!(
            find(
                &r,
                if hf_is_a {
                    "lm_head.weight"
                } else {
                    "output.weight"
                }
            )["identical"],
            true
        );
    }
    // A changed expert is found in its own slice, indexed in A's coordinates.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&hf).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let target = "model.layers.0.block_sparse_moe.experts.3.w3.weight";
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let mut data = t.data().to_vec();
            if n == target {
                let k = 4 * (5 * 32 + 7); // row 5, col 7
                let x = f32::from_le_bytes(data[k..k + 4].try_into().unwrap()) + 0.25;
                data[k..k + 4].copy_from_slice(&x.to_le_bytes());
            }
            (n, t.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, s, d)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap(),
            )
        })
        .collect();
    let changed = dir.path().join("model.safetensors");
    safetensors::serialize_to_file(views, None, &changed).unwrap();
    let r = json(&[&gg, changed.to_str().unwrap()]);
    let t = tensors(&r).iter().find(|t| t["name_b"] == target).unwrap();
    assert_eq!(t["name"], "blk.0.ffn_up_exps.weight");
    assert_eq!(t["identical"], false);
    assert_eq!(t["metrics"]["max_abs_index"], serde_json::json!([3, 5, 7]));
    // One changed element is a rank-1 change of that expert's slice, either way round.
    for (a, b, name) in [
        (
            gg.as_str(),
            changed.to_str().unwrap(),
            "blk.0.ffn_up_exps.weight",
        ),
        (changed.to_str().unwrap(), gg.as_str(), target),
    ] {
        let r = json(&[a, b, "--spectral"]);
        let t = tensors(&r)
            .iter()
            .find(|t| t["name"] == name && t["identical"] == false)
            .unwrap();
        assert_eq!(t["spectral"]["r99"], 1, "{t}");
        assert!(
            (t["spectral"]["sigma1"].as_f64().unwrap() - 0.25).abs() < 1e-6,
            "{t}"
        );
        let moved = tensors(&r)
            .iter()
            .filter(|t| t.get("spectral").is_some())
            .count();
        assert_eq!(moved, 1);
    }
    assert_eq!(
        r["summary"]["identical"].as_u64(),
        Some(tensors(&r).len() as u64 - 1)
    );
}

#[test]
fn an_unknown_architecture_gets_the_q_k_order_that_matches() {
    // The HF file alone (no config.json beside it) against a GGUF whose architecture has no
    // tables: both orders are compared on blk.0.attn_q and the better one is used.
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("model.safetensors");
    std::fs::copy(fixture("mixtral/model.safetensors"), &hf).unwrap();
    let gg = fixture("mixtral/model-f32-arch-x.gguf");
    let r = json(&[hf.to_str().unwrap(), &gg]);
    assert_eq!(r["summary"]["differs"], false, "{}", r["summary"]);
    let q = find(&r, "model.layers.0.self_attn.q_proj.weight");
    assert!(transforms(q).contains(&"unpermuted_qk"));
    let w = r["b"]["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("compared both orders of blk.0.attn_q.weight")
            && w.as_str().unwrap().contains("undid the RoPE permutation")),
        "{w:?}"
    );
    // Llama-style norms (around 1) are kept as stored.
    assert!(
        w.iter()
            .any(|w| w.as_str().unwrap().contains("kept the norms as stored")),
        "{w:?}"
    );
    // An explicit choice is obeyed without probing.
    let r = json(&[hf.to_str().unwrap(), &gg, "--qk-unpermute", "off"]);
    assert_eq!(
        find(&r, "model.layers.0.self_attn.q_proj.weight")["identical"],
        false
    );
    let w = r["b"]["warnings"].as_array().unwrap();
    assert!(
        !w.iter().any(|w| w.as_str().unwrap().contains("Q/K")),
        "{w:?}"
    );
}

#[test]
fn an_unknown_architecture_gets_plus_one_norms_detected() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("model.safetensors");
    std::fs::copy(fixture("mixtral/model.safetensors"), &hf).unwrap();
    let gg = fixture("mixtral/model-f32-norms-plus-one-arch-x.gguf");
    let r = json(&[hf.to_str().unwrap(), &gg]);
    assert_eq!(r["summary"]["differs"], false, "{}", r["summary"]);
    assert_eq!(transforms(find(&r, "model.norm.weight")), ["norm_plus_one"]);
    let w: Vec<&str> = r["b"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        w.iter()
            .any(|w| w.contains("compared every *norm.weight as w + 1")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.contains("undid the RoPE permutation")),
        "{w:?}"
    );
}
