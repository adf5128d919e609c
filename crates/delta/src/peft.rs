//! PEFT adapters in and out, in memory: [`import`] reads `adapter_config.json` and
//! `adapter_model.safetensors` into a payload, [`export`] writes them back.
//!
//! # Mapping
//!
//! PEFT stores a module's tensors as `base_model.model.<module path>.<suffix>`; the module path
//! (e.g. `model.layers.3.self_attn.q_proj`) maps to (layer 3, matrix `q_proj`) by the resolution
//! rule of [`parse_module_path`]: the first `layers.N`/`layer.N`/`h.N`/`blk.N` and the last
//! segment.
//!
//! - **LoRA** (`lora_A.weight` `[r, in]`, `lora_B.weight` `[out, r]`): PEFT merges
//!   `W + s·B·A` with `s = lora_alpha / r`, or `lora_alpha / √r` with `use_rslora`, where `r` and
//!   `lora_alpha` come from `rank_pattern` / `alpha_pattern` when a key matches the module path
//!   (PEFT's rule: the key equals the path or is a suffix of it at a `.` boundary; keys are
//!   matched literally, and keys with regular-expression syntax are rejected), else from `r` /
//!   `lora_alpha`. The import folds `s` into B (`b = s·B`, computed in f64 and rounded once) so the
//!   payload's ΔW = b·a is PEFT's update. The pattern's rank must equal the tensors' rank.
//! - **`fan_in_fan_out`** (GPT-2 `Conv1D`, weights stored `[in, out]`): PEFT's update is
//!   `(B·A)ᵀ·s`, so the adapter is transposed: `a = Bᵀ` `[r, out]`, `b = s·Aᵀ` `[in, r]`, and
//!   out_dim/in_dim are the stored weight's rows/columns.
//! - **Embeddings** (`lora_embedding_A` `[r, num_embeddings]`, `lora_embedding_B`
//!   `[embedding_dim, r]`): PEFT's update of the `[num_embeddings, embedding_dim]` table is
//!   `(B·A)ᵀ·s`, mapped like `fan_in_fan_out`: `a = Bᵀ`, `b = s·Aᵀ`.
//! - A LoRA module with no layer segment (`model.embed_tokens`, `lm_head`) cannot be addressed as
//!   (layer, matrix) in `model.diff.v1`: its update is densified into a Full part delta of
//!   `<module path>.weight` (ΔW accumulated in f64, rounded once).
//! - **IA3** (`ia3_l`): an `(out, 1)` vector scales rows, a `(1, in)` vector (modules in
//!   `feedforward_modules`) scales columns; the payload keeps the vector and apply recovers the
//!   axis from its length with [`ia3_axis`]. A module without a layer segment is
//!   an error (a multiplicative update cannot be densified without the base).
//! - **`modules_to_save`** (and biases trained with `bias: "all"|"lora_only"`): the adapter file
//!   holds *replacement* tensors, not deltas, and a delta needs the base. They are returned
//!   beside the payload in [`PeftImport::saved`], keyed by base parameter name
//!   (`score.weight`), for the caller to turn into Full deltas against the base.
//! - DoRA (`use_dora`, `lora_magnitude_vector`) and other PEFT types are rejected.
//!
//! [`export`] writes `peft_type: "LORA"` with `lora_alpha = r` (scaling 1, so the tensors are
//! the payload's `a` and `b`), `r` the most common rank and `rank_pattern` / `alpha_pattern`
//! (keyed by full module path) for the others, `target_modules` the matrix names; or
//! `peft_type: "IA3"` with `target_modules` and `feedforward_modules` as full module paths.
//! Module paths come from [`ExportOptions`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;

use crate::base::{parse_module_path, BaseTensors};
use crate::error::{Error, Result};
use crate::ia3::{ia3_axis, Axis, FEEDFORWARD_INPUT_MODULES};
use crate::payload::{Full, Ia3, Lora, LoraAdapter, ModelDiff, Payload};

/// The prefix PEFT puts before module paths in adapter files.
pub const ADAPTER_PREFIX: &str = "base_model.model.";

/// A replacement tensor from an adapter file (`modules_to_save`, trained biases).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedTensor {
    /// Row-major shape.
    pub shape: Vec<u64>,
    /// Values, converted to f32.
    pub values: Vec<f32>,
}

/// The result of [`import`]: the payload, and the replacement tensors it cannot hold.
#[derive(Clone, Debug, PartialEq)]
pub struct PeftImport {
    /// The adapter as a validated, canonical payload (no digests).
    pub payload: Payload,
    /// Base parameter name → replacement tensor (`modules_to_save`, trained biases); empty for
    /// most adapters.
    pub saved: BTreeMap<String, SavedTensor>,
}

/// A JSON object read as (key, value) pairs in file order (PEFT matches patterns in order).
struct Ordered<V>(Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_any(Vis(std::marker::PhantomData))
    }
}

/// A list of module names, or PEFT's single string (a regular expression, or `all-linear`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Modules {
    List(Vec<String>),
    One(String),
}

#[derive(Deserialize)]
struct Config {
    peft_type: String,
    #[serde(default)]
    r: Option<u32>,
    #[serde(default)]
    lora_alpha: Option<f64>,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    rank_pattern: Option<Ordered<u32>>,
    #[serde(default)]
    alpha_pattern: Option<Ordered<f64>>,
    #[serde(default)]
    modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    feedforward_modules: Option<Modules>,
    #[serde(default)]
    bias: Option<String>,
}

/// PEFT's defaults for `r` and `lora_alpha`.
const DEFAULT_R: u32 = 8;
const DEFAULT_ALPHA: f64 = 8.0;

fn config_err(detail: impl Into<String>) -> Error {
    Error::PeftConfig {
        detail: detail.into(),
    }
}

fn tensor_err(name: &str, detail: impl Into<String>) -> Error {
    Error::PeftTensor {
        name: name.to_owned(),
        detail: detail.into(),
    }
}

/// Does `key` name `path` by PEFT's rule `(.*\.)?key$` (with `key` taken literally)?
fn key_matches(key: &str, path: &str) -> bool {
    path.strip_suffix(key)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

fn check_literal_keys<V>(what: &str, p: &Ordered<V>) -> Result<()> {
    const META: &[char] = &[
        '\\', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|',
    ];
    match p.0.iter().find(|(k, _)| k.contains(META) || k.is_empty()) {
        Some((k, _)) => Err(config_err(format!(
            "{what} key `{k}` is a regular expression; only module names and path suffixes are supported"
        ))),
        None => Ok(()),
    }
}

/// The pattern value for `path`: an exact key first, then the first matching key in file order.
fn pattern_lookup<V: Copy>(p: &Ordered<V>, path: &str) -> Option<V> {
    p.0.iter()
        .find(|(k, _)| k == path)
        .or_else(|| p.0.iter().find(|(k, _)| key_matches(k, path)))
        .map(|(_, v)| *v)
}

/// A tensor of the adapter file as f32 with its shape.
fn read_tensor(view: &TensorView<'_>, name: &str) -> Result<SavedTensor> {
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b) as f32
            })
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| {
                crate::exact::to_f32(
                    crate::FloatDType::F16,
                    u32::from(u16::from_le_bytes([c[0], c[1]])),
                )
            })
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| {
                crate::exact::to_f32(
                    crate::FloatDType::BF16,
                    u32::from(u16::from_le_bytes([c[0], c[1]])),
                )
            })
            .collect(),
        other => {
            return Err(tensor_err(
                name,
                format!("dtype {other:?} is not a float type"),
            ))
        }
    };
    Ok(SavedTensor {
        shape: view.shape().iter().map(|&d| d as u64).collect(),
        values,
    })
}

fn dims2(t: &SavedTensor, name: &str) -> Result<(u32, u32)> {
    match t.shape[..] {
        [r, c] => match (u32::try_from(r), u32::try_from(c)) {
            (Ok(r), Ok(c)) if r > 0 && c > 0 => Ok((r, c)),
            _ => Err(tensor_err(
                name,
                format!("shape {:?} out of range", t.shape),
            )),
        },
        _ => Err(tensor_err(
            name,
            format!("shape {:?}, expected 2 dimensions", t.shape),
        )),
    }
}

/// Row-major transpose of an `rows × cols` matrix, each value multiplied by `scale` in f64.
fn transpose_scaled(v: &[f32], rows: usize, cols: usize, scale: f64) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = (f64::from(v[i * cols + j]) * scale) as f32;
        }
    }
    out
}

fn scaled(v: &[f32], scale: f64) -> Vec<f32> {
    v.iter().map(|&x| (f64::from(x) * scale) as f32).collect()
}

/// The largest update [`import`] densifies (2^30 elements, 4 GiB of f32: a 128k × 4096
/// embedding fits); a hostile pair of thin factors could otherwise ask for far more.
const MAX_DENSE_ELEMENTS: u64 = 1 << 30;

/// b·a as a dense `out × in` matrix, accumulated in f64.
fn densify(a: &LoraAdapter, module: &str) -> Result<Vec<f32>> {
    let (r, n, m) = (a.rank as usize, a.in_dim as usize, a.out_dim as usize);
    let count = u64::from(a.out_dim) * u64::from(a.in_dim);
    if count > MAX_DENSE_ELEMENTS {
        return Err(tensor_err(
            module,
            format!(
                "densifying {}x{} exceeds {MAX_DENSE_ELEMENTS} elements",
                a.out_dim, a.in_dim
            ),
        ));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(m * n)
        .map_err(|_| Error::OutOfRange {
            what: format!("dense update of `{module}` ({m}x{n})"),
        })?;
    out.resize(m * n, 0f32);
    let mut row = vec![0f64; n];
    for i in 0..m {
        row.iter_mut().for_each(|x| *x = 0.0);
        for k in 0..r {
            let bik = f64::from(a.b[i * r + k]);
            for (x, &akj) in row.iter_mut().zip(&a.a[k * n..(k + 1) * n]) {
                *x += bik * f64::from(akj);
            }
        }
        for (o, x) in out[i * n..(i + 1) * n].iter_mut().zip(&row) {
            *o = *x as f32;
        }
    }
    Ok(out)
}

/// One module's LoRA tensors as found in the file.
#[derive(Default)]
struct LoraPair {
    a: Option<(String, SavedTensor)>,
    b: Option<(String, SavedTensor)>,
    embedding: bool,
}

/// Reads a PEFT LoRA or IA3 adapter (see the module docs for the mapping).
pub fn import(adapter_config_json: &[u8], adapter_safetensors: &[u8]) -> Result<PeftImport> {
    let cfg: Config = serde_json::from_slice(adapter_config_json)
        .map_err(|e| config_err(format!("invalid json: {e}")))?;
    let st = SafeTensors::deserialize(adapter_safetensors)?;
    if cfg.use_dora {
        return Err(config_err("DoRA adapters (use_dora) are not supported"));
    }
    let mut pairs: BTreeMap<String, LoraPair> = BTreeMap::new();
    let mut ia3: BTreeMap<String, (String, SavedTensor)> = BTreeMap::new();
    let mut saved = BTreeMap::new();
    let to_save = cfg.modules_to_save.clone().unwrap_or_default();
    let trains_bias = cfg.bias.as_deref().is_some_and(|b| b != "none");
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    for name in names {
        let view = st.tensor(name)?;
        let rest = name
            .strip_prefix(ADAPTER_PREFIX)
            .ok_or_else(|| tensor_err(name, format!("does not start with `{ADAPTER_PREFIX}`")))?;
        let t = read_tensor(&view, name)?;
        let entry = |suffix: &str| rest.strip_suffix(suffix).map(str::to_owned);
        if let Some(m) = entry(".lora_A.weight") {
            pairs.entry(m).or_default().a = Some((name.to_owned(), t));
        } else if let Some(m) = entry(".lora_B.weight") {
            pairs.entry(m).or_default().b = Some((name.to_owned(), t));
        } else if let Some(m) = entry(".lora_embedding_A") {
            let p = pairs.entry(m).or_default();
            p.a = Some((name.to_owned(), t));
            p.embedding = true;
        } else if let Some(m) = entry(".lora_embedding_B") {
            let p = pairs.entry(m).or_default();
            p.b = Some((name.to_owned(), t));
            p.embedding = true;
        } else if let Some(m) = entry(".ia3_l") {
            ia3.insert(m, (name.to_owned(), t));
        } else if rest.contains("lora_magnitude_vector") {
            return Err(tensor_err(name, "DoRA magnitude vectors are not supported"));
        } else {
            // A replacement tensor: `<module>.<param>` or `<module>.modules_to_save.<param>`.
            let param_path = rest.replace(".modules_to_save.", ".");
            let module = param_path.rsplit_once('.').map_or("", |(m, _)| m);
            let listed = to_save.iter().any(|k| key_matches(k, module));
            if listed || (trains_bias && param_path.ends_with(".bias")) {
                saved.insert(param_path, t);
            } else {
                return Err(tensor_err(
                    name,
                    "neither a lora/ia3 tensor nor part of modules_to_save",
                ));
            }
        }
    }
    let mut parts = Vec::new();
    match cfg.peft_type.as_str() {
        "LORA" => {
            if !ia3.is_empty() {
                return Err(config_err(
                    "peft_type LORA but the file holds ia3_l tensors",
                ));
            }
            let (lora, full) = import_lora(&cfg, pairs)?;
            if !lora.adapters.is_empty() {
                parts.push(ModelDiff::Lora(lora));
            }
            if !full.params.is_empty() {
                parts.push(ModelDiff::Full(full));
            }
        }
        "IA3" => {
            if !pairs.is_empty() {
                return Err(config_err("peft_type IA3 but the file holds lora tensors"));
            }
            parts.push(ModelDiff::Ia3(import_ia3(&cfg, ia3)?));
        }
        other => return Err(config_err(format!("unsupported peft_type `{other}`"))),
    }
    let mut payload = Payload::new(parts);
    payload.validate_and_canonicalize()?;
    Ok(PeftImport { payload, saved })
}

fn import_lora(cfg: &Config, pairs: BTreeMap<String, LoraPair>) -> Result<(Lora, Full)> {
    let empty = Ordered(Vec::new());
    let rank_pattern = cfg.rank_pattern.as_ref().unwrap_or(&empty);
    let empty_alpha = Ordered(Vec::new());
    let alpha_pattern = cfg.alpha_pattern.as_ref().unwrap_or(&empty_alpha);
    check_literal_keys("rank_pattern", rank_pattern)?;
    check_literal_keys("alpha_pattern", alpha_pattern)?;
    let mut lora = Lora::default();
    let mut full = Full::default();
    for (module, pair) in pairs {
        let (Some((an, a)), Some((bn, b))) = (pair.a, pair.b) else {
            return Err(tensor_err(&module, "lora A and B must both be present"));
        };
        let (a_rows, a_cols) = dims2(&a, &an)?;
        let (b_rows, b_cols) = dims2(&b, &bn)?;
        // A is [r, in] (embeddings: [r, num_embeddings]); B is [out, r] ([embedding_dim, r]).
        let rank = a_rows;
        if b_cols != rank {
            return Err(tensor_err(
                &bn,
                format!("has {b_cols} columns, lora_A has rank {rank}"),
            ));
        }
        let r_cfg = pattern_lookup(rank_pattern, &module).unwrap_or(cfg.r.unwrap_or(DEFAULT_R));
        if r_cfg != rank {
            return Err(tensor_err(
                &an,
                format!("rank {rank}, but the config gives r = {r_cfg}"),
            ));
        }
        let alpha = pattern_lookup(alpha_pattern, &module)
            .unwrap_or(cfg.lora_alpha.unwrap_or(DEFAULT_ALPHA));
        let r = f64::from(rank);
        let scale = if cfg.use_rslora {
            alpha / r.sqrt()
        } else {
            alpha / r
        };
        let transposed = pair.embedding || cfg.fan_in_fan_out;
        let (a_vals, b_vals, out_dim, in_dim) = if transposed {
            // ΔW = s·(B·A)ᵀ = (s·Aᵀ)·Bᵀ: a = Bᵀ [r, b_rows], b = s·Aᵀ [a_cols, r].
            (
                transpose_scaled(&b.values, b_rows as usize, rank as usize, 1.0),
                transpose_scaled(&a.values, rank as usize, a_cols as usize, scale),
                a_cols,
                b_rows,
            )
        } else {
            (a.values, scaled(&b.values, scale), b_rows, a_cols)
        };
        let mut adapter = LoraAdapter {
            layer_id: 0,
            matrix: String::new(),
            rank,
            in_dim,
            out_dim,
            a: a_vals,
            b: b_vals,
        };
        match parse_module_path(&module) {
            Some((layer, matrix)) => {
                adapter.layer_id = layer;
                adapter.matrix = matrix.to_owned();
                lora.adapters.push(adapter);
            }
            None => {
                full.params
                    .insert(format!("{module}.weight"), densify(&adapter, &module)?);
            }
        }
    }
    Ok((lora, full))
}

fn import_ia3(cfg: &Config, vectors: BTreeMap<String, (String, SavedTensor)>) -> Result<Ia3> {
    let mut out = Ia3::default();
    for (module, (name, t)) in vectors {
        let (rows, cols) = dims2(&t, &name)?;
        if rows != 1 && cols != 1 {
            return Err(tensor_err(
                &name,
                format!("shape {:?}, expected (out, 1) or (1, in)", t.shape),
            ));
        }
        let ff = match &cfg.feedforward_modules {
            Some(Modules::List(l)) => l.iter().any(|k| key_matches(k, &module)),
            // A regular expression; only its literal reading is evaluated.
            Some(Modules::One(k)) => key_matches(k, &module),
            None => false,
        };
        if rows == 1
            && cols == 1
            && ff
                != FEEDFORWARD_INPUT_MODULES
                    .iter()
                    .any(|k| key_matches(k, &module))
        {
            return Err(tensor_err(
                &name,
                "a 1-element vector whose axis the payload cannot express for this module name",
            ));
        }
        let (layer, matrix) = parse_module_path(&module).ok_or_else(|| {
            tensor_err(
                &name,
                "module has no layer segment (layers.N, layer.N, h.N, blk.N)",
            )
        })?;
        out.scaling
            .entry(layer)
            .or_default()
            .insert(matrix.to_owned(), t.values);
    }
    Ok(out)
}

/// Maps (layer id, matrix) to a module path such as `model.layers.3.self_attn.q_proj`.
pub type ModulePathFn = dyn Fn(u32, &str) -> String;

/// How [`export`] names modules.
#[derive(Default)]
pub struct ExportOptions<'a> {
    /// Module path of (layer id, matrix), e.g. `model.layers.3.self_attn.q_proj`. Takes
    /// precedence over `base`.
    pub module_path: Option<&'a ModulePathFn>,
    /// A base to resolve module paths from (the resolved tensor name without `.weight`) and to
    /// give IA3 vectors their axis. Without either, paths are `model.layers.{layer}.{matrix}`
    /// and IA3 vectors of [`FEEDFORWARD_INPUT_MODULES`] scale columns, others rows.
    pub base: Option<&'a BaseTensors>,
}

impl fmt::Debug for ExportOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportOptions")
            .field("module_path", &self.module_path.map(|_| "<fn>"))
            .field("base", &self.base.map(|b| b.len()))
            .finish()
    }
}

impl ExportOptions<'_> {
    fn path(&self, layer: u32, matrix: &str) -> Result<String> {
        if let Some(f) = self.module_path {
            return Ok(f(layer, matrix));
        }
        if let Some(base) = self.base {
            let name = base.resolve(layer, matrix)?;
            return Ok(name.strip_suffix(".weight").unwrap_or(name).to_owned());
        }
        Ok(format!("model.layers.{layer}.{matrix}"))
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write_safetensors(tensors: Vec<(String, Vec<usize>, Vec<u8>)>) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, None)?)
}

fn export_err(detail: impl Into<String>) -> Error {
    Error::PeftExport {
        detail: detail.into(),
    }
}

/// Writes a payload of LoRA parts only, or IA3 parts only, as a PEFT adapter:
/// (`adapter_config.json` text, `adapter_model.safetensors` bytes). See the module docs.
pub fn export(payload: &Payload, options: &ExportOptions<'_>) -> Result<(String, Vec<u8>)> {
    payload.validate()?;
    let kinds: BTreeSet<&str> = payload.parts.iter().map(|p| p.kind().as_str()).collect();
    match kinds.iter().copied().collect::<Vec<_>>()[..] {
        ["lora"] => export_lora(payload, options),
        ["ia3"] => export_ia3(payload, options),
        [] => Err(export_err("the payload has no parts")),
        _ => Err(export_err(format!(
            "a peft adapter holds lora parts only or ia3 parts only; this payload has {}",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn export_lora(payload: &Payload, options: &ExportOptions<'_>) -> Result<(String, Vec<u8>)> {
    let mut adapters: BTreeMap<(u32, &str), &LoraAdapter> = BTreeMap::new();
    for p in &payload.parts {
        if let ModelDiff::Lora(l) = p {
            for a in &l.adapters {
                if adapters.insert((a.layer_id, &a.matrix), a).is_some() {
                    return Err(export_err(format!(
                        "layer {} `{}` has adapters in two parts",
                        a.layer_id, a.matrix
                    )));
                }
            }
        }
    }
    // The most common rank (the smallest on ties) is `r`; the others go to rank_pattern.
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for a in adapters.values() {
        *counts.entry(a.rank).or_default() += 1;
    }
    let r = counts
        .iter()
        .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
        .map_or(DEFAULT_R, |(&r, _)| r);
    let mut rank_pattern = serde_json::Map::new();
    let mut targets = BTreeSet::new();
    let mut tensors = Vec::new();
    let mut paths = BTreeSet::new();
    for a in adapters.values() {
        let path = options.path(a.layer_id, &a.matrix)?;
        if !paths.insert(path.clone()) {
            return Err(export_err(format!("two adapters map to module `{path}`")));
        }
        targets.insert(a.matrix.clone());
        if a.rank != r {
            rank_pattern.insert(path.clone(), a.rank.into());
        }
        let (rk, n, m) = (a.rank as usize, a.in_dim as usize, a.out_dim as usize);
        tensors.push((
            format!("{ADAPTER_PREFIX}{path}.lora_A.weight"),
            vec![rk, n],
            f32_bytes(&a.a),
        ));
        tensors.push((
            format!("{ADAPTER_PREFIX}{path}.lora_B.weight"),
            vec![m, rk],
            f32_bytes(&a.b),
        ));
    }
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": null,
        "r": r,
        "lora_alpha": r,
        "rank_pattern": rank_pattern.clone(),
        "alpha_pattern": rank_pattern,
        "use_rslora": false,
        "use_dora": false,
        "fan_in_fan_out": false,
        "bias": "none",
        "lora_dropout": 0.0,
        "target_modules": targets.into_iter().collect::<Vec<_>>(),
        "modules_to_save": null,
        "base_model_name_or_path": null,
        "inference_mode": true,
    });
    Ok((
        serde_json::to_string_pretty(&config)?,
        write_safetensors(tensors)?,
    ))
}

fn export_ia3(payload: &Payload, options: &ExportOptions<'_>) -> Result<(String, Vec<u8>)> {
    let mut targets = BTreeSet::new();
    let mut feedforward = BTreeSet::new();
    let mut tensors = Vec::new();
    for p in &payload.parts {
        let ModelDiff::Ia3(ia) = p else { continue };
        for (&layer, matrices) in &ia.scaling {
            for (m, v) in matrices {
                let path = options.path(layer, m)?;
                let axis = match options.base.filter(|_| options.module_path.is_none()) {
                    Some(base) => {
                        let name = base.resolve(layer, m)?;
                        let shape = base.shape(name).unwrap_or_default();
                        ia3_axis(layer, m, v.len(), shape[0], shape[1])?
                    }
                    None if FEEDFORWARD_INPUT_MODULES.contains(&m.as_str()) => Axis::Columns,
                    None => Axis::Rows,
                };
                if !targets.insert(path.clone()) {
                    return Err(export_err(format!(
                        "two ia3 vectors map to module `{path}`"
                    )));
                }
                let shape = match axis {
                    Axis::Rows => vec![v.len(), 1],
                    Axis::Columns => {
                        feedforward.insert(path.clone());
                        vec![1, v.len()]
                    }
                };
                tensors.push((format!("{ADAPTER_PREFIX}{path}.ia3_l"), shape, f32_bytes(v)));
            }
        }
    }
    let config = serde_json::json!({
        "peft_type": "IA3",
        "task_type": null,
        "target_modules": targets.into_iter().collect::<Vec<_>>(),
        "feedforward_modules": feedforward.into_iter().collect::<Vec<_>>(),
        "fan_in_fan_out": false,
        "init_ia3_weights": true,
        "modules_to_save": null,
        "base_model_name_or_path": null,
        "inference_mode": true,
    });
    Ok((
        serde_json::to_string_pretty(&config)?,
        write_safetensors(tensors)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_keys_match_at_segment_boundaries() {
        assert!(key_matches("q_proj", "model.layers.0.self_attn.q_proj"));
        assert!(key_matches(
            "layers.0.self_attn.q_proj",
            "model.layers.0.self_attn.q_proj"
        ));
        assert!(key_matches(
            "model.layers.0.self_attn.q_proj",
            "model.layers.0.self_attn.q_proj"
        ));
        assert!(!key_matches("proj", "model.layers.0.self_attn.q_proj"));
        let p = Ordered(vec![
            ("q_proj".to_owned(), 4),
            ("layers.1.self_attn.q_proj".to_owned(), 2),
        ]);
        // An exact key wins; otherwise the first match in file order.
        assert_eq!(
            pattern_lookup(&p, "model.layers.1.self_attn.q_proj"),
            Some(4)
        );
        assert_eq!(pattern_lookup(&p, "layers.1.self_attn.q_proj"), Some(2));
        assert_eq!(pattern_lookup(&p, "model.layers.1.self_attn.k_proj"), None);
        let regex = Ordered(vec![("layers\\.1\\..*".to_owned(), 2)]);
        assert!(check_literal_keys("rank_pattern", &regex).is_err());
    }

    #[test]
    fn densify_is_b_times_a() {
        let a = LoraAdapter {
            layer_id: 0,
            matrix: "m".into(),
            rank: 2,
            in_dim: 3,
            out_dim: 2,
            a: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            b: vec![1.0, 0.0, 0.5, -1.0],
        };
        assert_eq!(
            densify(&a, "m").unwrap(),
            vec![1.0, 2.0, 3.0, -3.5, -4.0, -4.5]
        );
        assert_eq!(
            transpose_scaled(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3, 2.0),
            vec![2.0, 8.0, 4.0, 10.0, 6.0, 12.0]
        );
    }
}
