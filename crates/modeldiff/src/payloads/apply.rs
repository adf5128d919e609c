//! Applying a payload to a base model, tensor by tensor, into a new SafeTensors file written
//! with the formats crate's atomic writer.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use modeldiff_delta::{
    apply_full_chunk, ia3_axis, Axis, ExactFixups, FloatDType, ModelDiff, Payload,
};
use modeldiff_formats::{ByteOrder, DType, Model, SafeTensorsWriter, TensorSpec};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::payloads::digest::{base_tensors, model_digest};

/// The dtype `apply` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutDType {
    /// Each tensor in the base's dtype (quantized and other types SafeTensors cannot hold are
    /// written as F32, with a warning).
    #[default]
    Keep,
    /// Every float tensor as F32.
    F32,
    /// Every float tensor as F16.
    F16,
    /// Every float tensor as BF16.
    BF16,
}

/// How to apply.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// The output dtype.
    pub dtype: OutDType,
    /// Apply even when the base's digest differs from the one the payload records.
    pub force: bool,
}

/// What `apply` did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ApplyReport {
    /// Tensors written.
    pub tensors: usize,
    /// Tensors changed by the payload.
    pub updated: usize,
    /// Bytes written (tensor data).
    pub bytes: u64,
    /// Things the user should know (quantized tensors written as F32, a forced base).
    pub warnings: Vec<String>,
}

/// Elements per parallel job when a tensor is decoded, updated and rounded.
const CHUNK: usize = 1 << 16;

/// One update of one tensor, in payload order.
enum Update<'p> {
    Lora {
        rank: usize,
        a: &'p [f32],
        b: &'p [f32],
    },
    Ia3 {
        axis: Axis,
        scale: &'p [f32],
    },
    Full {
        delta: &'p [f32],
        exact: Option<&'p ExactFixups>,
    },
    Ttt {
        steps: Vec<&'p [f32]>,
    },
}

/// The updates of every targeted tensor, by base tensor index.
fn updates<'p>(base: &Model, payload: &'p Payload) -> Result<HashMap<usize, Vec<Update<'p>>>> {
    let bt = base_tensors(base);
    let index = |name: &str| base.find(name).expect("validated against the base");
    let mut out: HashMap<usize, Vec<Update<'p>>> = HashMap::new();
    for part in &payload.parts {
        match part {
            ModelDiff::Lora(l) => {
                for a in &l.adapters {
                    let name = bt.resolve(a.layer_id, &a.matrix)?;
                    out.entry(index(name)).or_default().push(Update::Lora {
                        rank: a.rank as usize,
                        a: &a.a,
                        b: &a.b,
                    });
                }
            }
            ModelDiff::Ia3(ia) => {
                for (&layer, mats) in &ia.scaling {
                    for (m, v) in mats {
                        let name = bt.resolve(layer, m)?;
                        let shape = bt.shape(name).expect("resolved");
                        let axis = ia3_axis(layer, m, v.len(), shape[0], shape[1])?;
                        out.entry(index(name))
                            .or_default()
                            .push(Update::Ia3 { axis, scale: v });
                    }
                }
            }
            ModelDiff::Full(f) => {
                for (p, d) in &f.params {
                    out.entry(index(p)).or_default().push(Update::Full {
                        delta: d,
                        exact: f.exact.get(p),
                    });
                }
            }
            ModelDiff::InPlaceTtt(t) => {
                let mut per: BTreeMap<&str, Vec<&'p [f32]>> = BTreeMap::new();
                for s in t.sorted_steps() {
                    for (p, d) in &s.deltas {
                        per.entry(p.as_str()).or_default().push(d);
                    }
                }
                for (p, steps) in per {
                    out.entry(index(p)).or_default().push(Update::Ttt { steps });
                }
            }
        }
    }
    Ok(out)
}

fn float_dtype(d: DType) -> Option<FloatDType> {
    match d {
        DType::F32 => Some(FloatDType::F32),
        DType::F16 => Some(FloatDType::F16),
        DType::BF16 => Some(FloatDType::BF16),
        _ => None,
    }
}

/// The dtype tensor `t` is written as.
fn out_dtype(t: DType, want: OutDType) -> DType {
    let float = matches!(t.kind(), modeldiff_formats::ValueKind::Float);
    match want {
        OutDType::F32 if float => DType::F32,
        OutDType::F16 if float => DType::F16,
        OutDType::BF16 if float => DType::BF16,
        _ if DType::SAFETENSORS.contains(&t) => t,
        _ => DType::F32,
    }
}

/// Applies `payload` to `base`, writing every base tensor (updated or not) to `out`.
///
/// Checks first: the payload's own digest (when recorded), the base digest (when recorded,
/// unless `force`), and the payload against the base's names and shapes. Memory holds one
/// tensor at a time (as f32) plus the payload.
pub fn apply(
    base: &Model,
    payload: &Payload,
    out: &Path,
    protect: &[&Path],
    opts: &ApplyOptions,
) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    if payload.digest.is_some() {
        payload.verify_digest()?;
    }
    if let Some(want) = &payload.base_digest {
        let got = model_digest(base)?;
        if &got != want {
            if !opts.force {
                return Err(Error::BaseMismatch {
                    path: base.path().to_path_buf(),
                    expected: want.to_string(),
                    actual: got.to_string(),
                });
            }
            report.warnings.push(format!(
                "base digest {got} differs from the payload's {want}; applied anyway (--force)"
            ));
        }
    }
    payload.validate_against(&base_tensors(base))?;
    let updates = updates(base, payload)?;

    let specs: Vec<TensorSpec> = base
        .tensors()
        .iter()
        .map(|t| {
            let d = out_dtype(t.dtype, opts.dtype);
            if opts.dtype == OutDType::Keep && d != t.dtype {
                report.warnings.push(format!(
                    "tensor `{}` is {} in the base, which SafeTensors cannot hold: written as F32",
                    t.name, t.dtype
                ));
            }
            TensorSpec::new(t.name.clone(), d, &t.shape)
        })
        .collect();
    let out_types: Vec<DType> = specs.iter().map(|s| s.dtype).collect();
    let mut meta = BTreeMap::new();
    if let Some(d) = &payload.digest {
        meta.insert("modeldiff.payload".to_string(), d.to_string());
    }
    let mut w = SafeTensorsWriter::create(out, specs, meta, protect)?;
    let mut buf: Vec<f32> = Vec::new();
    let mut bits: Vec<u32> = Vec::new();
    for (i, t) in base.tensors().iter().enumerate() {
        let od = out_types[i];
        let ups = updates.get(&i);
        report.tensors += 1;
        report.bytes += od.storage_bytes(t.elements()).unwrap_or_default();
        let raw = od == t.dtype && t.byte_order == ByteOrder::Little && ups.is_none();
        if raw {
            for chunk in base.tensor_bytes(i).chunks(1 << 22) {
                w.write(chunk)?;
            }
            continue;
        }
        let n = t.elements() as usize;
        buf.clear();
        buf.resize(n, 0.0);
        // Every pass over the tensor runs on all threads, in chunks of `CHUNK` elements (a
        // multiple of every block size, so quantized bases decode chunk by chunk).
        buf.par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(k, c)| base.decode_f32(i, k * CHUNK..k * CHUNK + c.len(), c))?;
        let mut exact: Option<&ExactFixups> = None;
        if let Some(ups) = ups {
            report.updated += 1;
            let cols = t.shape.last().copied().unwrap_or(1).max(1) as usize;
            for u in ups {
                match u {
                    Update::Lora { rank, a, b } => add_lora(&mut buf, cols, *rank, a, b),
                    Update::Ia3 { axis, scale } => scale_ia3(&mut buf, cols, *axis, scale),
                    Update::Full { delta, exact: x } => {
                        buf.par_chunks_mut(CHUNK)
                            .zip(delta.par_chunks(CHUNK))
                            .for_each(|(w, d)| w.iter_mut().zip(d).for_each(|(w, d)| *w += d));
                        exact = *x;
                    }
                    Update::Ttt { steps } => {
                        buf.par_chunks_mut(CHUNK).enumerate().for_each(|(c, w)| {
                            for (j, w) in w.iter_mut().enumerate() {
                                let k = c * CHUNK + j;
                                let s: f64 = steps.iter().map(|d| d[k] as f64).sum();
                                *w += s as f32;
                            }
                        });
                    }
                }
            }
        }
        match float_dtype(od) {
            Some(fd) => {
                // Rounding and exactness fixups as `apply_full_chunk` defines them (the delta
                // is already added, so it is zero here: x + (-0.0) == x for every x, -0.0
                // included).
                bits.clear();
                bits.resize(n, 0);
                let fix = exact.filter(|x| x.dtype == fd);
                let zeros = vec![-0.0f32; n.min(CHUNK)];
                bits.par_chunks_mut(CHUNK)
                    .zip(buf.par_chunks(CHUNK))
                    .enumerate()
                    .try_for_each(|(k, (o, b))| {
                        apply_full_chunk(fd, b, &zeros[..b.len()], (k * CHUNK) as u64, fix, o)
                    })?;
                match fd {
                    FloatDType::F32 if cfg!(target_endian = "little") => {
                        for chunk in bits.chunks(1 << 20) {
                            w.write(bytemuck::cast_slice(chunk))?;
                        }
                    }
                    FloatDType::F32 => {
                        for chunk in bits.chunks(1 << 18) {
                            let le: Vec<u8> = chunk.iter().flat_map(|b| b.to_le_bytes()).collect();
                            w.write(&le)?;
                        }
                    }
                    _ => {
                        for chunk in bits.chunks(1 << 20) {
                            let le: Vec<u8> = chunk
                                .iter()
                                .flat_map(|b| (*b as u16).to_le_bytes())
                                .collect();
                            w.write(&le)?;
                        }
                    }
                }
            }
            None if od == DType::F64 => {
                w.write_f32(&buf)?;
            }
            None => {
                return Err(Error::Delta {
                    detail: format!(
                        "{}: tensor `{}` is {}: a payload cannot update it",
                        base.path().display(),
                        t.name,
                        t.dtype
                    ),
                })
            }
        }
    }
    w.finish()?;
    Ok(report)
}

/// W += B·A, with W `[out, cols]`, B `[out, rank]`, A `[rank, cols]`, rows in parallel.
fn add_lora(w: &mut [f32], cols: usize, rank: usize, a: &[f32], b: &[f32]) {
    w.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
        for r in 0..rank {
            let coef = b[i * rank + r];
            if coef != 0.0 {
                for (x, &y) in row.iter_mut().zip(&a[r * cols..(r + 1) * cols]) {
                    *x += coef * y;
                }
            }
        }
    });
}

/// Multiplies W's rows (or columns) by `scale`.
fn scale_ia3(w: &mut [f32], cols: usize, axis: Axis, scale: &[f32]) {
    for (i, x) in w.iter_mut().enumerate() {
        *x *= match axis {
            Axis::Rows => scale[i / cols],
            _ => scale[i % cols],
        };
    }
}
