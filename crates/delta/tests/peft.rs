//! PEFT import and export against adapters in PEFT's on-disk layout written by
//! `tests/fixtures/peft/gen_peft.py`, checked against its numpy float64 oracles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use modeldiff_delta::peft::{self, ExportOptions};
use modeldiff_delta::{ia3_axis, Axis, BaseTensors, LoraAdapter, ModelDiff, Payload};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

fn fixture(dir: &str, file: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../tests/fixtures/peft",
        dir,
        file,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The oracle tensors: name → (shape, f32 values).
fn expected(dir: &str) -> BTreeMap<String, (Vec<u64>, Vec<f32>)> {
    let bytes = fixture(dir, "expected.safetensors");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            assert_eq!(v.dtype(), Dtype::F32);
            let values = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (
                name,
                (v.shape().iter().map(|&d| d as u64).collect(), values),
            )
        })
        .collect()
}

fn import(dir: &str) -> peft::PeftImport {
    peft::import(
        &fixture(dir, "adapter_config.json"),
        &fixture(dir, "adapter_model.safetensors"),
    )
    .unwrap()
}

/// B·A in f64.
fn delta(a: &LoraAdapter) -> Vec<f64> {
    let (r, n, m) = (a.rank as usize, a.in_dim as usize, a.out_dim as usize);
    let mut out = vec![0f64; m * n];
    for i in 0..m {
        for k in 0..r {
            for j in 0..n {
                out[i * n + j] += f64::from(a.b[i * r + k]) * f64::from(a.a[k * n + j]);
            }
        }
    }
    out
}

/// Folding the scaling into B rounds B once more than the oracle does; the products stay within
/// a few f32 ulps of the largest value.
fn assert_close(name: &str, got: &[f64], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}");
    let scale = want.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - f64::from(w)).abs();
        assert!(err <= 1e-6 * scale, "{name}[{i}]: {g} vs {w}");
    }
}

/// Checks every LoRA adapter and Full delta of `payload` against the oracle; returns how many.
fn check_lora(dir: &str, payload: &Payload) -> usize {
    let want = expected(dir);
    let base = BaseTensors::new(want.iter().map(|(n, (s, _))| (n.clone(), s.clone())));
    payload.validate_against(&base).unwrap();
    let mut checked = 0;
    for part in &payload.parts {
        match part {
            ModelDiff::Lora(l) => {
                for a in &l.adapters {
                    let name = base.resolve(a.layer_id, &a.matrix).unwrap();
                    assert_close(name, &delta(a), &want[name].1);
                    checked += 1;
                }
            }
            ModelDiff::Full(f) => {
                for (name, v) in &f.params {
                    let got: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
                    assert_close(name, &got, &want[name].1);
                    checked += 1;
                }
            }
            other => panic!("unexpected part {:?}", other.kind()),
        }
    }
    checked
}

#[test]
fn lora_with_rslora_patterns_embedding_and_saved_modules() {
    let imported = import("lora");
    // 6 layered adapters (one of them stored as float16), the embedding densified into a Full
    // part because it has no layer.
    assert_eq!(check_lora("lora", &imported.payload), 7);
    let ModelDiff::Lora(l) = &imported.payload.parts[0] else {
        panic!("first part is not lora")
    };
    let ranks: Vec<(u32, &str, u32)> = l
        .adapters
        .iter()
        .map(|a| (a.layer_id, a.matrix.as_str(), a.rank))
        .collect();
    assert_eq!(
        ranks,
        [
            (0, "down_proj", 4),
            (0, "q_proj", 4),
            (0, "v_proj", 2),
            (1, "down_proj", 4),
            (1, "q_proj", 4),
            (1, "v_proj", 2)
        ]
    );
    // modules_to_save come back beside the payload, by base parameter name.
    let want = expected("lora");
    assert_eq!(imported.saved.len(), 1);
    let score = &imported.saved["score.weight"];
    assert_eq!(
        (&score.shape, &score.values),
        (&want["score.weight"].0, &want["score.weight"].1)
    );
}

#[test]
fn lora_fan_in_fan_out_is_transposed() {
    let imported = import("fan_in_fan_out");
    assert_eq!(check_lora("fan_in_fan_out", &imported.payload), 2);
    let ModelDiff::Lora(l) = &imported.payload.parts[0] else {
        panic!("not lora")
    };
    // Dimensions are the stored [in, out] weight's rows and columns.
    assert_eq!((l.adapters[0].out_dim, l.adapters[0].in_dim), (6, 18));
    assert_eq!(l.adapters[0].matrix, "c_attn");
    assert!(imported.saved.is_empty());
}

#[test]
fn ia3_scales_rows_and_columns_like_peft_merges() {
    let imported = import("ia3");
    let want = expected("ia3");
    let base = BaseTensors::new(
        want.iter()
            .filter_map(|(n, (s, _))| Some((n.strip_prefix("base.")?.to_owned(), s.clone()))),
    );
    imported.payload.validate_against(&base).unwrap();
    let ModelDiff::Ia3(ia3) = &imported.payload.parts[0] else {
        panic!("not ia3")
    };
    let mut axes = Vec::new();
    for (&layer, matrices) in &ia3.scaling {
        for (m, v) in matrices {
            let name = base.resolve(layer, m).unwrap();
            let (shape, w) = &want[&format!("base.{name}")];
            let (rows, cols) = (shape[0] as usize, shape[1] as usize);
            let axis = ia3_axis(layer, m, v.len(), shape[0], shape[1]).unwrap();
            axes.push(axis);
            let merged: Vec<f32> = (0..rows * cols)
                .map(|k| match axis {
                    Axis::Rows => w[k] * v[k / cols],
                    Axis::Columns => w[k] * v[k % cols],
                })
                .collect();
            assert_eq!(merged, want[&format!("merged.{name}")].1, "{name}");
        }
    }
    assert_eq!(axes, [Axis::Columns, Axis::Rows, Axis::Columns, Axis::Rows]);
}

#[test]
fn export_then_import_round_trips_bit_for_bit() {
    let imported = import("lora");
    // The densified embedding (a Full part) has no PEFT form; the LoRA part alone does.
    let e = peft::export(&imported.payload, &ExportOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("lora parts only or ia3 parts only"),
        "{e}"
    );
    let lora_only = Payload::new(vec![imported.payload.parts[0].clone()]);
    let (config, tensors) = peft::export(&lora_only, &ExportOptions::default()).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(
        (cfg["r"].as_u64(), cfg["lora_alpha"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(cfg["rank_pattern"]["model.layers.0.v_proj"], 2);
    assert_eq!(cfg["alpha_pattern"]["model.layers.0.v_proj"], 2);
    let st = SafeTensors::deserialize(&tensors).unwrap();
    assert!(st
        .names()
        .contains(&"base_model.model.model.layers.1.down_proj.lora_B.weight"));
    let back = peft::import(config.as_bytes(), &tensors).unwrap();
    assert_eq!(back.payload, lora_only);

    // With a base, module paths are the base's own.
    let want = expected("lora");
    let base = BaseTensors::new(want.iter().map(|(n, (s, _))| (n.clone(), s.clone())));
    let opts = ExportOptions {
        base: Some(&base),
        ..ExportOptions::default()
    };
    let (_, tensors) = peft::export(&lora_only, &opts).unwrap();
    let st = SafeTensors::deserialize(&tensors).unwrap();
    assert!(st
        .names()
        .contains(&"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    let path = |layer: u32, m: &str| format!("blk.{layer}.{m}");
    let opts = ExportOptions {
        module_path: Some(&path),
        ..ExportOptions::default()
    };
    let (config, tensors) = peft::export(&lora_only, &opts).unwrap();
    assert_eq!(
        peft::import(config.as_bytes(), &tensors).unwrap().payload,
        lora_only
    );

    // IA3, with the base deciding each vector's axis.
    let imported = import("ia3");
    let want = expected("ia3");
    let base = BaseTensors::new(
        want.iter()
            .filter_map(|(n, (s, _))| Some((n.strip_prefix("base.")?.to_owned(), s.clone()))),
    );
    let opts = ExportOptions {
        base: Some(&base),
        ..ExportOptions::default()
    };
    let (config, tensors) = peft::export(&imported.payload, &opts).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(cfg["peft_type"], "IA3");
    assert_eq!(
        cfg["feedforward_modules"][0],
        "model.layers.0.mlp.down_proj"
    );
    let st = SafeTensors::deserialize(&tensors).unwrap();
    let v = st
        .tensor("base_model.model.model.layers.0.self_attn.k_proj.ia3_l")
        .unwrap();
    assert_eq!(v.shape(), &[4, 1]);
    assert_eq!(
        peft::import(config.as_bytes(), &tensors).unwrap().payload,
        imported.payload
    );
}

#[test]
fn unsupported_or_broken_adapters_are_errors() {
    let config = fixture("lora", "adapter_config.json");
    let tensors = fixture("lora", "adapter_model.safetensors");
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut cfg: serde_json::Value = serde_json::from_slice(&config).unwrap();
        edit(&mut cfg);
        peft::import(cfg.to_string().as_bytes(), &tensors)
            .unwrap_err()
            .to_string()
    };
    let e = with(&|c| c["use_dora"] = true.into());
    assert!(e.contains("DoRA"), "{e}");
    let e = with(&|c| c["rank_pattern"] = serde_json::json!({"layers\\.0\\..*": 2}));
    assert!(e.contains("regular expression"), "{e}");
    let e = with(&|c| c["rank_pattern"] = serde_json::json!({}));
    assert!(e.contains("rank 2, but the config gives r = 4"), "{e}");
    let e = with(&|c| c["modules_to_save"] = serde_json::Value::Null);
    assert!(
        e.contains("`base_model.model.score.weight`: neither a lora/ia3 tensor"),
        "{e}"
    );
    let e = with(&|c| c["peft_type"] = "PREFIX_TUNING".into());
    assert!(e.contains("unsupported peft_type `PREFIX_TUNING`"), "{e}");
    let e = peft::import(b"{", &tensors).unwrap_err().to_string();
    assert!(e.starts_with("peft adapter config: invalid json"), "{e}");
    let e = peft::import(&config, &tensors[..tensors.len() - 3])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid payload container"), "{e}");
    // An IA3 config over a LoRA file.
    let e = peft::import(
        &fixture("ia3", "adapter_config.json"),
        &fixture("fan_in_fan_out", "adapter_model.safetensors"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("peft_type IA3 but the file holds lora tensors"),
        "{e}"
    );
    // Thin factors of a layerless module whose dense update would not fit are refused.
    let n = 40_000usize;
    let zeros = vec![0u8; n * 4];
    let views = vec![
        (
            "base_model.model.lm_head.lora_A.weight",
            TensorView::new(Dtype::F32, vec![1, n], &zeros).unwrap(),
        ),
        (
            "base_model.model.lm_head.lora_B.weight",
            TensorView::new(Dtype::F32, vec![n, 1], &zeros).unwrap(),
        ),
    ];
    let file = safetensors::serialize(views, None).unwrap();
    let e = peft::import(br#"{"peft_type":"LORA","r":1,"lora_alpha":1}"#, &file)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`lm_head`: densifying 40000x40000 exceeds"),
        "{e}"
    );
}
