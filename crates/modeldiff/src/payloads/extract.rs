//! Extracting a `model.diff.v1` payload from BASE → TUNED over the engine's stages: the match
//! and plan stages pick the pairs, the diff consumer finds the ones that changed, and each
//! changed pair becomes a Full delta, a LoRA adapter (truncated SVD of ΔW) or an IA3 scaling.

use std::collections::BTreeMap;
use std::path::Path;

use modeldiff_delta::container::{ContainerDType, ManifestBuilder};
use modeldiff_delta::{
    BaseTensors, Digest, ExactFixups, FloatDType, Full, FullParamBuilder, Ia3, Lora, LoraAdapter,
    ModelDiff, Payload, PayloadHasher, FEEDFORWARD_INPUT_MODULES,
};
use modeldiff_formats::{ByteOrder, DType, Model, SafeTensorsWriter, TensorSpec};
use serde::Serialize;

use crate::consume::{run, DiffConsumer, PairOutcome};
use crate::error::{Error, Result};
use crate::lowrank::{truncated_svd, LowRankOptions, MatrixView};
use crate::matching::{match_tensors, Entry, Filter};
use crate::payloads::digest::{base_tensors, model_digest};
use crate::plan::{plan, CompareMode};

/// Elements streamed per step when computing a Full delta.
const CHUNK: usize = 1 << 16;

/// What kind of payload to extract.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ExtractKind {
    /// Dense deltas of every changed tensor (bit-exact on apply for F32/F16/BF16 models).
    Full,
    /// Low-rank adapters of changed 2-D linear weights; other changed tensors go into a Full
    /// part.
    Lora(LowRankOptions),
    /// Least-squares row (or column) scalings of changed 2-D linear weights; other changed
    /// tensors go into a Full part.
    Ia3,
}

/// How to extract.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// The kind of payload.
    pub kind: ExtractKind,
    /// Which tensors take part.
    pub filter: Filter,
    /// Decompose embeddings too (LoRA); by default they go into the Full part.
    pub lora_embeddings: bool,
}

impl ExtractOptions {
    /// Options for `kind` over every tensor.
    pub fn new(kind: ExtractKind) -> ExtractOptions {
        ExtractOptions {
            kind,
            filter: Filter::default(),
            lora_embeddings: false,
        }
    }
}

/// How one tensor went into the payload.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExtractEntry {
    /// The tensor (base name).
    pub tensor: String,
    /// `full`, `lora` or `ia3`.
    pub kind: &'static str,
    /// LoRA rank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    /// Fraction of ‖ΔW‖² the adapter captures (LoRA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy: Option<f64>,
    /// Relative Frobenius error ‖ΔW − B·A‖/‖ΔW‖ (LoRA), or the fraction of the change the IA3
    /// scaling leaves unexplained ‖W' − S·W‖/‖W' − W‖ (IA3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_error: Option<f64>,
    /// Elements stored as exact target bits (Full).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixups: Option<usize>,
}

/// The outcome of an extraction.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ExtractReport {
    /// One entry per tensor in the payload.
    pub entries: Vec<ExtractEntry>,
    /// Tensors that changed but cannot be expressed (added, removed, reshaped, undecodable),
    /// with the reason.
    pub skipped: Vec<String>,
    /// Whether applying the payload to BASE reproduces TUNED bit for bit (then the payload
    /// records TUNED's digest).
    pub exact: bool,
    /// Digest of BASE.
    pub base_digest: String,
    /// Digest of TUNED, when the payload reproduces it exactly.
    pub target_digest: Option<String>,
    /// The payload's own digest.
    pub payload_digest: String,
}

/// A changed pair to extract.
struct Changed {
    a: usize,
    b: usize,
}

/// The pairs that changed, and what cannot be expressed; `complete` when nothing was filtered
/// out or skipped and every pair is comparable.
struct Selection {
    changed: Vec<Changed>,
    skipped: Vec<String>,
    complete: bool,
}

fn select(base: &Model, tuned: &Model, filter: &Filter) -> Result<Selection> {
    let matching = match_tensors(base, tuned, filter, &[]);
    let plan = plan(base, tuned, &matching, crate::DEFAULT_CHUNK_ELEMS);
    let partials = run(base, tuned, &plan, &DiffConsumer::default())?;
    let outcomes = DiffConsumer::default().fold(&plan, &partials);
    let mut sel = Selection {
        changed: Vec::new(),
        skipped: Vec::new(),
        complete: matching.selected_a == base.tensors().len() as u64
            && matching.selected_b == tuned.tensors().len() as u64,
    };
    for (e, entry) in matching.entries.iter().enumerate() {
        match entry {
            Entry::OnlyA(i) => sel.skipped.push(format!(
                "`{}` is only in the base: a delta cannot remove a tensor",
                base.tensors()[*i].name
            )),
            Entry::OnlyB(i) => sel.skipped.push(format!(
                "`{}` is only in the tuned model: a delta cannot add a tensor",
                tuned.tensors()[*i].name
            )),
            Entry::Paired(p) => {
                let pi = plan.pair_index(e).expect("pairs are planned");
                let pair = &plan.pairs[pi];
                let (ta, tb) = (&base.tensors()[p.a], &tuned.tensors()[p.b]);
                let changed = match (&pair.mode, outcomes[pi]) {
                    _ if ta.shape != tb.shape => {
                        sel.skipped.push(format!(
                            "`{}` changed shape {:?} → {:?}: a delta cannot reshape",
                            ta.name, ta.shape, tb.shape
                        ));
                        continue;
                    }
                    (CompareMode::NotComparable(why), _) => {
                        sel.skipped
                            .push(format!("`{}` cannot be compared: {why:?}", ta.name));
                        continue;
                    }
                    (_, PairOutcome::Float(st)) => !st.identical(),
                    (_, PairOutcome::Int(m)) => {
                        if m > 0 {
                            sel.skipped.push(format!(
                                "`{}` is an integer tensor that changed: deltas are float",
                                ta.name
                            ));
                        }
                        continue;
                    }
                    (_, PairOutcome::Bytes(eq)) => {
                        if !eq {
                            sel.skipped.push(format!(
                                "`{}` has an undecodable dtype and changed",
                                ta.name
                            ));
                        }
                        continue;
                    }
                    (_, PairOutcome::None) => continue,
                };
                if changed || ta.dtype != tb.dtype {
                    sel.changed.push(Changed { a: p.a, b: p.b });
                }
            }
        }
    }
    sel.complete &= sel.skipped.is_empty();
    Ok(sel)
}

/// The exactness dtype of a changed pair: both sides stored little-endian as the same F32,
/// F16 or BF16, so the target's bits can be recorded and apply (which keeps the base dtype)
/// reproduces them.
fn exact_dtype(base: &Model, tuned: &Model, c: &Changed) -> Option<FloatDType> {
    let (ta, tb) = (&base.tensors()[c.a], &tuned.tensors()[c.b]);
    if ta.dtype != tb.dtype || ta.byte_order != ByteOrder::Little || tb.byte_order != ta.byte_order
    {
        return None;
    }
    match ta.dtype {
        DType::F32 => Some(FloatDType::F32),
        DType::F16 => Some(FloatDType::F16),
        DType::BF16 => Some(FloatDType::BF16),
        _ => None,
    }
}

/// Streams the Full delta of a changed pair chunk by chunk into `sink(offset, delta)`, and
/// returns its fixups (exact pairs) or `None` (inexact pairs: the delta is tuned − base in f32).
fn stream_full(
    base: &Model,
    tuned: &Model,
    c: &Changed,
    mut sink: impl FnMut(u64, &[f32]) -> Result<()>,
) -> Result<(Option<ExactFixups>, bool)> {
    let n = base.tensors()[c.a].elements() as usize;
    let exact = exact_dtype(base, tuned, c);
    let mut builder = exact.map(|d| FullParamBuilder::new(d, n as u64));
    let (mut xa, mut xb, mut delta) = (vec![0f32; CHUNK], vec![0f32; CHUNK], vec![0f32; CHUNK]);
    let mut bits = vec![0u32; CHUNK];
    let tbytes = tuned.tensor_bytes(c.b);
    let mut s = 0;
    while s < n {
        let e = (s + CHUNK).min(n);
        let k = e - s;
        base.decode_f32(c.a, s..e, &mut xa[..k])?;
        match (&mut builder, exact) {
            (Some(b), Some(dt)) => {
                match dt {
                    FloatDType::F32 => {
                        for (o, w) in bits[..k]
                            .iter_mut()
                            .zip(tbytes[4 * s..4 * e].chunks_exact(4))
                        {
                            *o = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                        }
                    }
                    _ => {
                        for (o, w) in bits[..k]
                            .iter_mut()
                            .zip(tbytes[2 * s..2 * e].chunks_exact(2))
                        {
                            *o = u16::from_le_bytes([w[0], w[1]]) as u32;
                        }
                    }
                }
                b.push(s as u64, &xa[..k], &bits[..k], &mut delta[..k])?;
            }
            _ => {
                tuned.decode_f32(c.b, s..e, &mut xb[..k])?;
                for ((d, &x), &y) in delta[..k].iter_mut().zip(&xa[..k]).zip(&xb[..k]) {
                    let v = y - x;
                    *d = if v.is_finite() { v } else { 0.0 };
                }
            }
        }
        sink(s as u64, &delta[..k])?;
        s = e;
    }
    Ok(match builder {
        Some(b) => (b.finish()?, true),
        None => (None, false),
    })
}

/// The whole ΔW = tuned − base of a changed pair, row-major f32.
fn dense_delta(base: &Model, tuned: &Model, c: &Changed) -> Result<Vec<f32>> {
    let n = base.tensors()[c.a].elements() as usize;
    let mut a = vec![0f32; n];
    let mut b = vec![0f32; n];
    base.decode_f32(c.a, 0..n, &mut a)?;
    tuned.decode_f32(c.b, 0..n, &mut b)?;
    for (x, y) in a.iter_mut().zip(&b) {
        let v = y - *x;
        *x = if v.is_finite() { v } else { 0.0 };
    }
    Ok(a)
}

/// Whether `name` looks like an embedding table (LoRA leaves those to the Full part unless
/// asked).
fn is_embedding(name: &str) -> bool {
    [
        "embed",
        "wte",
        "wpe",
        "token_embd",
        "tok_embeddings",
        "lm_head",
        "output.weight",
    ]
    .iter()
    .any(|k| name.contains(k))
}

/// A 2-D weight that LoRA or IA3 can address: its (layer, matrix) and (rows, cols).
fn linear_target<'n>(
    bt: &BaseTensors,
    name: &'n str,
    shape: &[u64],
) -> Option<(u32, &'n str, usize, usize)> {
    let (layer, matrix) = bt.target_of(name)?;
    match shape {
        [r, c] if *r > 0 && *c > 0 => Some((layer, matrix, *r as usize, *c as usize)),
        _ => None,
    }
}

/// Extracts a payload from `base` → `tuned`, in memory, sealed with the base digest (and the
/// target digest when it reproduces `tuned` exactly).
pub fn extract(
    base: &Model,
    tuned: &Model,
    opts: &ExtractOptions,
) -> Result<(Payload, ExtractReport)> {
    let sel = select(base, tuned, &opts.filter)?;
    let bt = base_tensors(base);
    let mut full = Full::default();
    let mut lora = Lora::default();
    let mut ia3 = Ia3::default();
    let mut entries = Vec::new();
    let mut exact = sel.complete && matches!(opts.kind, ExtractKind::Full);
    for c in &sel.changed {
        let t = &base.tensors()[c.a];
        let target = linear_target(&bt, &t.name, &t.shape);
        match (&opts.kind, target) {
            (ExtractKind::Lora(lr), Some((layer, matrix, rows, cols)))
                if opts.lora_embeddings || !is_embedding(&t.name) =>
            {
                let delta = dense_delta(base, tuned, c)?;
                let view = MatrixView::new(rows, cols, &delta)?;
                let low = truncated_svd(view, lr)?;
                let f = low.to_lora();
                if f.rank == 0 {
                    // Nothing decomposable (the change is in non-finite values only).
                    add_full(base, tuned, c, &mut full, &mut entries, &mut exact)?;
                    continue;
                }
                entries.push(ExtractEntry {
                    tensor: t.name.clone(),
                    kind: "lora",
                    rank: Some(f.rank),
                    energy: Some(low.energy_captured),
                    rel_error: Some(low.rel_frobenius_error),
                    fixups: None,
                });
                lora.adapters.push(LoraAdapter {
                    layer_id: layer,
                    matrix: matrix.to_string(),
                    rank: f.rank as u32,
                    in_dim: cols as u32,
                    out_dim: rows as u32,
                    a: f.a,
                    b: f.b,
                });
            }
            (ExtractKind::Ia3, Some((layer, matrix, rows, cols))) => {
                let (v, rel) = ia3_fit(base, tuned, c, matrix, rows, cols)?;
                entries.push(ExtractEntry {
                    tensor: t.name.clone(),
                    kind: "ia3",
                    rank: None,
                    energy: None,
                    rel_error: Some(rel),
                    fixups: None,
                });
                ia3.scaling
                    .entry(layer)
                    .or_default()
                    .insert(matrix.to_string(), v);
            }
            _ => add_full(base, tuned, c, &mut full, &mut entries, &mut exact)?,
        }
    }
    let mut parts = Vec::new();
    if !lora.adapters.is_empty() {
        parts.push(ModelDiff::Lora(lora));
    }
    if !ia3.scaling.is_empty() {
        parts.push(ModelDiff::Ia3(ia3));
    }
    if !full.params.is_empty() || parts.is_empty() {
        parts.push(ModelDiff::Full(full));
    }
    let mut payload = Payload::new(parts);
    payload.validate_and_canonicalize()?;
    let base_digest = model_digest(base)?;
    let target_digest = if exact {
        Some(model_digest(tuned)?)
    } else {
        None
    };
    let digest = payload.seal(Some(base_digest), target_digest)?;
    let report = ExtractReport {
        entries,
        skipped: sel.skipped,
        exact,
        base_digest: base_digest.to_string(),
        target_digest: target_digest.map(|d| d.to_string()),
        payload_digest: digest.to_string(),
    };
    Ok((payload, report))
}

fn add_full(
    base: &Model,
    tuned: &Model,
    c: &Changed,
    full: &mut Full,
    entries: &mut Vec<ExtractEntry>,
    exact: &mut bool,
) -> Result<()> {
    let name = base.tensors()[c.a].name.clone();
    let mut values = Vec::with_capacity(base.tensors()[c.a].elements() as usize);
    let (fixups, is_exact) = stream_full(base, tuned, c, |_, d| {
        values.extend_from_slice(d);
        Ok(())
    })?;
    *exact &= is_exact;
    entries.push(ExtractEntry {
        tensor: name.clone(),
        kind: "full",
        rank: None,
        energy: None,
        rel_error: None,
        fixups: Some(fixups.as_ref().map_or(0, |f| f.len())),
    });
    if let Some(f) = fixups {
        full.exact.insert(name.clone(), f);
    }
    full.params.insert(name, values);
    Ok(())
}

/// Least-squares IA3 scaling of a changed weight: per row s_i = ⟨w_i, w'_i⟩ / ⟨w_i, w_i⟩ (per
/// column for feed-forward input-side modules, as PEFT scales them), 1 where the base row is
/// zero. Returns the vector and ‖W' − S·W‖ / ‖W' − W‖.
fn ia3_fit(
    base: &Model,
    tuned: &Model,
    c: &Changed,
    matrix: &str,
    rows: usize,
    cols: usize,
) -> Result<(Vec<f32>, f64)> {
    let n = rows * cols;
    let mut w = vec![0f32; n];
    let mut w2 = vec![0f32; n];
    base.decode_f32(c.a, 0..n, &mut w)?;
    tuned.decode_f32(c.b, 0..n, &mut w2)?;
    let by_column = FEEDFORWARD_INPUT_MODULES.contains(&matrix);
    let len = if by_column { cols } else { rows };
    let (mut num, mut den) = (vec![0f64; len], vec![0f64; len]);
    for (i, (x, y)) in w.iter().zip(&w2).enumerate() {
        let k = if by_column { i % cols } else { i / cols };
        num[k] += *x as f64 * *y as f64;
        den[k] += *x as f64 * *x as f64;
    }
    let s: Vec<f32> = num
        .iter()
        .zip(&den)
        .map(|(n, d)| if *d > 0.0 { (n / d) as f32 } else { 1.0 })
        .collect();
    let (mut res, mut change) = (0f64, 0f64);
    for (i, (x, y)) in w.iter().zip(&w2).enumerate() {
        let k = if by_column { i % cols } else { i / cols };
        let fit = *x as f64 * s[k] as f64;
        res += (*y as f64 - fit).powi(2);
        change += (*y as f64 - *x as f64).powi(2);
    }
    let rel = if change > 0.0 {
        (res / change).sqrt()
    } else {
        0.0
    };
    if s.iter().any(|v| !v.is_finite()) {
        return Err(Error::Delta {
            detail: format!(
                "{}: tensor `{}`: the IA3 scaling is not finite",
                base.path().display(),
                base.tensors()[c.a].name
            ),
        });
    }
    Ok((s, rel))
}

/// Extracts a Full payload straight into a SafeTensors container at `out`, streaming: memory
/// holds one chunk of each tensor and the fixups, whatever the model size. Two passes over the
/// changed tensors: the first computes fixups and the payload digest (the container's manifest
/// is written first), the second writes the deltas.
pub fn extract_full_container(
    base: &Model,
    tuned: &Model,
    filter: &Filter,
    out: &Path,
    protect: &[&Path],
) -> Result<ExtractReport> {
    let sel = select(base, tuned, filter)?;
    // Canonical order: parameters by name.
    let mut changed: Vec<&Changed> = sel.changed.iter().collect();
    changed.sort_by(|x, y| base.tensors()[x.a].name.cmp(&base.tensors()[y.a].name));
    let base_digest = model_digest(base)?;

    // Pass 1: fixups and exactness.
    let mut fixups: BTreeMap<String, ExactFixups> = BTreeMap::new();
    let mut exact = sel.complete;
    let mut entries = Vec::new();
    for c in &changed {
        let name = &base.tensors()[c.a].name;
        let (f, is_exact) = stream_full(base, tuned, c, |_, _| Ok(()))?;
        exact &= is_exact;
        entries.push(ExtractEntry {
            tensor: name.clone(),
            kind: "full",
            rank: None,
            energy: None,
            rel_error: None,
            fixups: Some(f.as_ref().map_or(0, |f| f.len())),
        });
        if let Some(f) = f {
            fixups.insert(name.clone(), f);
        }
    }
    let target_digest: Option<Digest> = if exact {
        Some(model_digest(tuned)?)
    } else {
        None
    };

    // The digest, streamed over the same deltas (pass 1b: recomputed, not stored).
    let mut hasher = PayloadHasher::new(Some(&base_digest), target_digest.as_ref(), 1);
    {
        let mut part = hasher.full_part(changed.len() as u64)?;
        for c in &changed {
            let t = &base.tensors()[c.a];
            part.param(&t.name, t.elements())?;
            stream_full(base, tuned, c, |_, d| Ok(part.values(d)?))?;
        }
        part.finish(&fixups)?;
    }
    let digest = hasher.finish()?;

    let mut mb = ManifestBuilder::new(Some(base_digest), target_digest);
    let p = mb.begin_full();
    for c in &changed {
        let t = &base.tensors()[c.a];
        mb.add_full_param(p, &t.name, t.elements())?;
        if let Some(f) = fixups.get(&t.name) {
            mb.add_full_exact(p, &t.name, f.dtype, f.len() as u64)?;
        }
    }
    mb.set_digest(digest);
    let (manifest, tensors) = mb.finish();
    let specs = tensors
        .iter()
        .map(|e| {
            let dtype = match e.dtype {
                ContainerDType::F32 => DType::F32,
                ContainerDType::U64 => DType::U64,
                ContainerDType::U32 => DType::U32,
            };
            TensorSpec::new(e.name.clone(), dtype, &e.shape)
        })
        .collect();
    let metadata: BTreeMap<String, String> = manifest.to_metadata();

    // Pass 2: write, in the manifest's tensor order (each param, then its fixups).
    let mut w = SafeTensorsWriter::create(out, specs, metadata, protect)?;
    for c in &changed {
        let name = &base.tensors()[c.a].name;
        stream_full(base, tuned, c, |_, d| Ok(w.write_f32(d)?))?;
        if let Some(f) = fixups.get(name) {
            let idx: Vec<u8> = f.index.iter().flat_map(|i| i.to_le_bytes()).collect();
            let bits: Vec<u8> = f.bits.iter().flat_map(|b| b.to_le_bytes()).collect();
            w.write(&idx)?;
            w.write(&bits)?;
        }
    }
    w.finish()?;
    Ok(ExtractReport {
        entries,
        skipped: sel.skipped,
        exact,
        base_digest: base_digest.to_string(),
        target_digest: target_digest.map(|d| d.to_string()),
        payload_digest: digest.to_string(),
    })
}

/// Turns the Full deltas of 2-D linear weights in `payload` into LoRA adapters (truncated SVD
/// per `opts`); everything else stays. Used to make a LoRA from a collapsed TTT trace.
pub fn full_to_lora(base: &Model, payload: Payload, opts: &LowRankOptions) -> Result<Payload> {
    let bt = base_tensors(base);
    let mut lora = Lora::default();
    let mut parts = Vec::new();
    for part in payload.parts {
        let ModelDiff::Full(mut f) = part else {
            parts.push(part);
            continue;
        };
        let names: Vec<String> = f.params.keys().cloned().collect();
        for name in names {
            let Some(i) = base.find(&name) else { continue };
            let t = &base.tensors()[i];
            let Some((layer, matrix, rows, cols)) = linear_target(&bt, &name, &t.shape) else {
                continue;
            };
            if is_embedding(&name) || f.exact.contains_key(&name) {
                continue;
            }
            let delta = &f.params[&name];
            if delta.len() != rows * cols {
                continue;
            }
            let low = truncated_svd(MatrixView::new(rows, cols, delta)?, opts)?;
            let fac = low.to_lora();
            if fac.rank == 0 {
                continue;
            }
            lora.adapters.push(LoraAdapter {
                layer_id: layer,
                matrix: matrix.to_string(),
                rank: fac.rank as u32,
                in_dim: cols as u32,
                out_dim: rows as u32,
                a: fac.a,
                b: fac.b,
            });
            f.params.remove(&name);
        }
        if !f.params.is_empty() {
            parts.push(ModelDiff::Full(f));
        }
    }
    if !lora.adapters.is_empty() {
        parts.insert(0, ModelDiff::Lora(lora));
    }
    let mut out = Payload::new(parts);
    out.base_digest = payload.base_digest;
    Ok(out)
}

/// Adds a Full part turning `saved` replacement tensors (PEFT `modules_to_save`) into deltas
/// against `base`.
pub fn saved_to_full(
    base: &Model,
    mut payload: Payload,
    saved: &BTreeMap<String, modeldiff_delta::peft::SavedTensor>,
) -> Result<Payload> {
    let mut full = Full::default();
    for (name, t) in saved {
        let i = base.find(name).ok_or_else(|| Error::Delta {
            detail: format!(
                "{}: the adapter replaces `{name}`, which the base does not have",
                base.path().display()
            ),
        })?;
        let bt = &base.tensors()[i];
        if bt.shape != t.shape {
            return Err(Error::Delta {
                detail: format!(
                    "{}: `{name}` has shape {:?} in the base, {:?} in the adapter",
                    base.path().display(),
                    bt.shape,
                    t.shape
                ),
            });
        }
        let mut v = vec![0f32; t.values.len()];
        base.decode_f32(i, 0..v.len(), &mut v)?;
        for (x, y) in v.iter_mut().zip(&t.values) {
            let d = y - *x;
            *x = if d.is_finite() { d } else { 0.0 };
        }
        full.params.insert(name.clone(), v);
    }
    if !full.params.is_empty() {
        payload.parts.push(ModelDiff::Full(full));
    }
    Ok(payload)
}
