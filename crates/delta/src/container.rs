//! The SafeTensors payload container: [`encode`], [`decode`], and what a streaming writer needs to
//! produce one without building a [`Payload`] in memory ([`METADATA_KEY`], the tensor-name
//! functions, [`Manifest`], [`ManifestBuilder`], [`TensorEntry`], [`read_manifest`]).
//!
//! # Layout
//!
//! An ordinary SafeTensors file. Its `__metadata__` maps [`METADATA_KEY`] (`model.diff.v1`) to the
//! *manifest*: the payload JSON with every array replaced by the name of the tensor holding it.
//! The tensors hold the arrays, little-endian:
//!
//! | array | tensor name | dtype | shape |
//! |---|---|---|---|
//! | LoRA `a` | `p{part}.lora.{layer}.{matrix}.a` | F32 | `[rank, in_dim]` |
//! | LoRA `b` | `p{part}.lora.{layer}.{matrix}.b` | F32 | `[out_dim, rank]` |
//! | IA3 vector | `p{part}.ia3.{layer}.{matrix}` | F32 | `[len]` |
//! | Full delta | `p{part}.full.{param}` | F32 | `[len]` |
//! | TTT step delta | `p{part}.ttt.{step}.{param}` | F32 | `[len]` |
//! | fixup indices | `p{part}.exact.{param}.index` | U64 | `[count]` |
//! | fixup bits | `p{part}.exact.{param}.bits` | U32 | `[count]` |
//!
//! `{part}` is the part's position in the payload (from 0). The writer uses these names; the
//! reader follows the manifest's names, whatever they are, and requires every tensor to be
//! referenced exactly once with the dtype and shape above.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::exact::{ExactFixups, FloatDType};
use crate::payload::{Full, Ia3, InPlaceTtt, Lora, LoraAdapter, ModelDiff, Payload, TttStep};

/// The `__metadata__` key holding the manifest.
pub const METADATA_KEY: &str = crate::SCHEMA;

/// Name of the tensor holding LoRA factor A of (`layer`, `matrix`) in part `part`.
pub fn lora_a_name(part: usize, layer: u32, matrix: &str) -> String {
    format!("p{part}.lora.{layer}.{matrix}.a")
}

/// Name of the tensor holding LoRA factor B of (`layer`, `matrix`) in part `part`.
pub fn lora_b_name(part: usize, layer: u32, matrix: &str) -> String {
    format!("p{part}.lora.{layer}.{matrix}.b")
}

/// Name of the tensor holding the IA3 vector of (`layer`, `matrix`) in part `part`.
pub fn ia3_name(part: usize, layer: u32, matrix: &str) -> String {
    format!("p{part}.ia3.{layer}.{matrix}")
}

/// Name of the tensor holding the Full delta of `param` in part `part`.
pub fn full_name(part: usize, param: &str) -> String {
    format!("p{part}.full.{param}")
}

/// Name of the tensor holding the delta of `param` at TTT step `step` in part `part`.
pub fn ttt_name(part: usize, step: u32, param: &str) -> String {
    format!("p{part}.ttt.{step}.{param}")
}

/// Name of the tensor holding the fixup indices of `param` in part `part`.
pub fn exact_index_name(part: usize, param: &str) -> String {
    format!("p{part}.exact.{param}.index")
}

/// Name of the tensor holding the fixup bits of `param` in part `part`.
pub fn exact_bits_name(part: usize, param: &str) -> String {
    format!("p{part}.exact.{param}.bits")
}

/// The element type of a container tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerDType {
    /// f32 values.
    F32,
    /// Fixup indices.
    U64,
    /// Fixup bit patterns.
    U32,
}

impl ContainerDType {
    /// The SafeTensors dtype name (`F32`, `U64`, `U32`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::U64 => "U64",
            Self::U32 => "U32",
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::F32 | Self::U32 => 4,
            Self::U64 => 8,
        }
    }

    fn safetensors(self) -> Dtype {
        match self {
            Self::F32 => Dtype::F32,
            Self::U64 => Dtype::U64,
            Self::U32 => Dtype::U32,
        }
    }
}

/// One tensor a container holds: what a writer declares before streaming its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    /// The tensor name.
    pub name: String,
    /// Its element type.
    pub dtype: ContainerDType,
    /// Its shape.
    pub shape: Vec<u64>,
}

/// A LoRA adapter in the manifest: dimensions, and the names of the tensors holding A and B.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLoraAdapter {
    /// The layer.
    pub layer_id: u32,
    /// The matrix (module) name.
    pub matrix: String,
    /// The rank.
    pub rank: u32,
    /// Columns of the target weight.
    pub in_dim: u32,
    /// Rows of the target weight.
    pub out_dim: u32,
    /// Tensor holding A (`[rank, in_dim]`).
    pub a: String,
    /// Tensor holding B (`[out_dim, rank]`).
    pub b: String,
}

/// Exactness fixups in the manifest: the dtype and the names of the index and bits tensors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestExact {
    /// The target's element type.
    pub dtype: FloatDType,
    /// Tensor holding the indices (U64).
    pub index: String,
    /// Tensor holding the bits (U32).
    pub bits: String,
}

/// A TTT step in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTttStep {
    /// The step id.
    pub step_id: u32,
    /// parameter → tensor holding its delta.
    pub deltas: BTreeMap<String, String>,
}

/// A part in the manifest: the payload part with tensor names in place of arrays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ManifestPart {
    /// A LoRA part.
    Lora {
        /// The adapters.
        adapters: Vec<ManifestLoraAdapter>,
    },
    /// An IA3 part.
    Ia3 {
        /// layer → matrix → tensor holding the vector.
        #[serde(deserialize_with = "layer_keys")]
        scaling: BTreeMap<u32, BTreeMap<String, String>>,
    },
    /// A Full part.
    Full {
        /// parameter → tensor holding the delta.
        params: BTreeMap<String, String>,
        /// parameter → fixup tensors.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        exact: BTreeMap<String, ManifestExact>,
    },
    /// An in-place TTT part.
    InPlaceTtt {
        /// The steps.
        steps: Vec<ManifestTttStep>,
    },
}

/// Reads an object keyed by base-10 layer ids. (serde buffers internally tagged enums, and the
/// buffered keys are strings, which `u32` keys would not accept.)
fn layer_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<u32, BTreeMap<String, String>>, D::Error> {
    let raw = BTreeMap::<String, BTreeMap<String, String>>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let layer = k
            .parse::<u32>()
            .ok()
            .filter(|l| l.to_string() == k)
            .ok_or_else(|| serde::de::Error::custom(format_args!("invalid layer id `{k}`")))?;
        out.insert(layer, v);
    }
    Ok(out)
}

/// The container manifest: the payload JSON shape with tensor names in place of arrays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `model.diff.v1`.
    pub schema: String,
    /// The parts, in payload order.
    pub parts: Vec<ManifestPart>,
    /// Model digest of the base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_digest: Option<Digest>,
    /// Model digest of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<Digest>,
    /// The payload digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

impl Manifest {
    /// The manifest and tensor list of `payload` (validated first), with its digests.
    pub fn from_payload(payload: &Payload) -> Result<(Manifest, Vec<TensorEntry>)> {
        payload.validate()?;
        let mut b = ManifestBuilder::new(payload.base_digest, payload.target_digest);
        for p in &payload.parts {
            b.add_part(p)?;
        }
        if let Some(d) = payload.digest {
            b.set_digest(d);
        }
        Ok(b.finish())
    }

    /// The manifest as JSON text (the `__metadata__` value).
    pub fn to_json(&self) -> String {
        // Serializing these plain types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `__metadata__` map of a container with this manifest (the form
    /// `modeldiff_formats::SafeTensorsWriter::create` takes).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(METADATA_KEY.to_owned(), self.to_json())])
    }

    /// Parses manifest JSON and checks its schema.
    pub fn from_json(text: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| Error::Container {
            detail: format!("bad manifest: {e}"),
        })?;
        if m.schema != crate::SCHEMA {
            return Err(Error::UnsupportedSchema { found: m.schema });
        }
        Ok(m)
    }
}

/// The manifest stored in a container's `__metadata__` (given as any map of strings).
pub fn read_manifest<K, V>(metadata: impl IntoIterator<Item = (K, V)>) -> Result<Manifest>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let text = metadata
        .into_iter()
        .find(|(k, _)| k.as_ref() == METADATA_KEY)
        .ok_or_else(|| Error::Container {
            detail: format!("no `{METADATA_KEY}` key in __metadata__"),
        })?;
    Manifest::from_json(text.1.as_ref())
}

/// Builds a manifest and its tensor list part by part, for a writer that streams tensors.
///
/// ```
/// use modeldiff_delta::container::{self, ManifestBuilder};
/// use modeldiff_delta::FloatDType;
///
/// let mut b = ManifestBuilder::new(None, None);
/// let part = b.begin_full();
/// b.add_full_param(part, "model.norm.weight", 4096)?;
/// b.add_full_exact(part, "model.norm.weight", FloatDType::BF16, 3)?;
/// let (manifest, tensors) = b.finish();
/// assert_eq!(tensors[0].name, container::full_name(0, "model.norm.weight"));
/// assert_eq!(tensors[1].shape, vec![3]);
/// assert!(manifest.to_metadata().contains_key(container::METADATA_KEY));
/// # Ok::<(), modeldiff_delta::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManifestBuilder {
    manifest: Manifest,
    tensors: Vec<TensorEntry>,
}

impl ManifestBuilder {
    /// An empty manifest with the given model digests.
    pub fn new(base_digest: Option<Digest>, target_digest: Option<Digest>) -> Self {
        Self {
            manifest: Manifest {
                schema: crate::SCHEMA.to_owned(),
                parts: Vec::new(),
                base_digest,
                target_digest,
                digest: None,
            },
            tensors: Vec::new(),
        }
    }

    fn tensor(&mut self, name: String, dtype: ContainerDType, shape: Vec<u64>) -> String {
        self.tensors.push(TensorEntry {
            name: name.clone(),
            dtype,
            shape,
        });
        name
    }

    /// Adds a whole part (its arrays' shapes; the bytes are written by the caller, in canonical
    /// order or any other).
    pub fn add_part(&mut self, part: &ModelDiff) -> Result<()> {
        let i = self.manifest.parts.len();
        let mp = match part {
            ModelDiff::Lora(l) => {
                let mut adapters = Vec::new();
                for a in l.sorted_adapters() {
                    let (r, n, m) = (u64::from(a.rank), u64::from(a.in_dim), u64::from(a.out_dim));
                    let an = self.tensor(
                        lora_a_name(i, a.layer_id, &a.matrix),
                        ContainerDType::F32,
                        vec![r, n],
                    );
                    let bn = self.tensor(
                        lora_b_name(i, a.layer_id, &a.matrix),
                        ContainerDType::F32,
                        vec![m, r],
                    );
                    adapters.push(ManifestLoraAdapter {
                        layer_id: a.layer_id,
                        matrix: a.matrix.clone(),
                        rank: a.rank,
                        in_dim: a.in_dim,
                        out_dim: a.out_dim,
                        a: an,
                        b: bn,
                    });
                }
                ManifestPart::Lora { adapters }
            }
            ModelDiff::Ia3(ia) => {
                let mut scaling = BTreeMap::new();
                for (&layer, matrices) in &ia.scaling {
                    let mut names = BTreeMap::new();
                    for (m, v) in matrices {
                        let n = self.tensor(
                            ia3_name(i, layer, m),
                            ContainerDType::F32,
                            vec![v.len() as u64],
                        );
                        names.insert(m.clone(), n);
                    }
                    scaling.insert(layer, names);
                }
                ManifestPart::Ia3 { scaling }
            }
            ModelDiff::Full(f) => {
                let part = self.begin_full();
                for (p, v) in &f.params {
                    self.add_full_param(part, p, v.len() as u64)?;
                }
                for (p, x) in &f.exact {
                    self.add_full_exact(part, p, x.dtype, x.len() as u64)?;
                }
                return Ok(());
            }
            ModelDiff::InPlaceTtt(t) => {
                let mut steps = Vec::new();
                for s in t.sorted_steps() {
                    let mut deltas = BTreeMap::new();
                    for (p, v) in &s.deltas {
                        let n = self.tensor(
                            ttt_name(i, s.step_id, p),
                            ContainerDType::F32,
                            vec![v.len() as u64],
                        );
                        deltas.insert(p.clone(), n);
                    }
                    steps.push(ManifestTttStep {
                        step_id: s.step_id,
                        deltas,
                    });
                }
                ManifestPart::InPlaceTtt { steps }
            }
        };
        self.manifest.parts.push(mp);
        Ok(())
    }

    /// Starts an empty Full part and returns its part index.
    pub fn begin_full(&mut self) -> usize {
        self.manifest.parts.push(ManifestPart::Full {
            params: BTreeMap::new(),
            exact: BTreeMap::new(),
        });
        self.manifest.parts.len() - 1
    }

    fn full_maps(&mut self, part: usize) -> Result<FullMaps<'_>> {
        match self.manifest.parts.get_mut(part) {
            Some(ManifestPart::Full { params, exact }) => Ok((params, exact)),
            _ => Err(Error::Container {
                detail: format!("part {part} is not a full part"),
            }),
        }
    }

    /// Adds parameter `name` of `len` elements to Full part `part`.
    pub fn add_full_param(&mut self, part: usize, name: &str, len: u64) -> Result<()> {
        let tensor = full_name(part, name);
        let (params, _) = self.full_maps(part)?;
        if params.contains_key(name) {
            return Err(Error::Container {
                detail: format!("full `{name}` added twice to part {part}"),
            });
        }
        params.insert(name.to_owned(), tensor.clone());
        self.tensor(tensor, ContainerDType::F32, vec![len]);
        Ok(())
    }

    /// Adds `count` exactness fixups of `dtype` for parameter `name` (already added) of Full part
    /// `part`.
    pub fn add_full_exact(
        &mut self,
        part: usize,
        name: &str,
        dtype: FloatDType,
        count: u64,
    ) -> Result<()> {
        let (index, bits) = (exact_index_name(part, name), exact_bits_name(part, name));
        let (params, exact) = self.full_maps(part)?;
        if !params.contains_key(name) || exact.contains_key(name) {
            return Err(Error::Container {
                detail: format!("full `{name}` fixups need its delta first, once"),
            });
        }
        exact.insert(
            name.to_owned(),
            ManifestExact {
                dtype,
                index: index.clone(),
                bits: bits.clone(),
            },
        );
        self.tensor(index, ContainerDType::U64, vec![count]);
        self.tensor(bits, ContainerDType::U32, vec![count]);
        Ok(())
    }

    /// Records the payload digest.
    pub fn set_digest(&mut self, digest: Digest) {
        self.manifest.digest = Some(digest);
    }

    /// The manifest and every tensor it references, in the order added.
    pub fn finish(self) -> (Manifest, Vec<TensorEntry>) {
        (self.manifest, self.tensors)
    }
}

/// The parameter and fixup maps of a manifest's Full part.
type FullMaps<'a> = (
    &'a mut BTreeMap<String, String>,
    &'a mut BTreeMap<String, ManifestExact>,
);

/// An array of the payload, borrowed for encoding.
enum Data<'a> {
    F32(&'a [f32]),
    U64(&'a [u64]),
    U32(&'a [u32]),
}

impl Data<'_> {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// The payload's arrays keyed by their tensor names (the same walk as `ManifestBuilder`).
fn arrays(payload: &Payload) -> BTreeMap<String, Data<'_>> {
    let mut out = BTreeMap::new();
    for (i, part) in payload.parts.iter().enumerate() {
        match part {
            ModelDiff::Lora(l) => {
                for a in &l.adapters {
                    out.insert(lora_a_name(i, a.layer_id, &a.matrix), Data::F32(&a.a));
                    out.insert(lora_b_name(i, a.layer_id, &a.matrix), Data::F32(&a.b));
                }
            }
            ModelDiff::Ia3(ia) => {
                for (&layer, matrices) in &ia.scaling {
                    for (m, v) in matrices {
                        out.insert(ia3_name(i, layer, m), Data::F32(v));
                    }
                }
            }
            ModelDiff::Full(f) => {
                for (p, v) in &f.params {
                    out.insert(full_name(i, p), Data::F32(v));
                }
                for (p, x) in &f.exact {
                    out.insert(exact_index_name(i, p), Data::U64(&x.index));
                    out.insert(exact_bits_name(i, p), Data::U32(&x.bits));
                }
            }
            ModelDiff::InPlaceTtt(t) => {
                for s in &t.steps {
                    for (p, v) in &s.deltas {
                        out.insert(ttt_name(i, s.step_id, p), Data::F32(v));
                    }
                }
            }
        }
    }
    out
}

fn usize_shape(entry: &TensorEntry) -> Result<Vec<usize>> {
    entry
        .shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| Error::OutOfRange {
                what: format!("tensor `{}` dimension", entry.name),
            })
        })
        .collect()
}

/// Encodes a payload (validated first) as a SafeTensors container.
pub fn encode(payload: &Payload) -> Result<Vec<u8>> {
    let (manifest, entries) = Manifest::from_payload(payload)?;
    let arrays = arrays(payload);
    let bytes: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| arrays.get(&e.name).map(Data::bytes).unwrap_or_default())
        .collect();
    let mut views = Vec::with_capacity(entries.len());
    for (e, b) in entries.iter().zip(&bytes) {
        views.push((
            e.name.clone(),
            TensorView::new(e.dtype.safetensors(), usize_shape(e)?, b)?,
        ));
    }
    let metadata: HashMap<String, String> = manifest.to_metadata().into_iter().collect();
    Ok(safetensors::serialize(views, Some(metadata))?)
}

/// True when `bytes` start like a SafeTensors file: an 8-byte little-endian header length that
/// fits in the input, then `{`.
pub fn looks_like_container(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..8) else {
        return false;
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(head);
    let n = u64::from_le_bytes(n);
    n >= 2 && n <= bytes.len() as u64 - 8 && bytes.get(8) == Some(&b'{')
}

/// Reads tensors named by a manifest, checking each is referenced once with the right dtype and
/// shape.
struct Reader<'a> {
    st: SafeTensors<'a>,
    used: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    fn view(&mut self, name: &str, dtype: Dtype, shape: Option<&[u64]>) -> Result<&'a [u8]> {
        let bad = |detail: String| Error::ContainerTensor {
            name: name.to_owned(),
            detail,
        };
        if !self.used.insert(name.to_owned()) {
            return Err(bad("referenced twice by the manifest".into()));
        }
        let view = self
            .st
            .tensor(name)
            .map_err(|_| bad("named by the manifest but absent".into()))?;
        if view.dtype() != dtype {
            return Err(bad(format!("dtype {:?}, expected {dtype:?}", view.dtype())));
        }
        let actual: Vec<u64> = view.shape().iter().map(|&d| d as u64).collect();
        match shape {
            Some(s) if s != actual.as_slice() => {
                return Err(bad(format!("shape {actual:?}, expected {s:?}")));
            }
            None if actual.len() != 1 => {
                return Err(bad(format!("shape {actual:?}, expected one dimension")));
            }
            _ => {}
        }
        Ok(view.data())
    }

    fn f32s(&mut self, name: &str, shape: Option<&[u64]>) -> Result<Vec<f32>> {
        let data = self.view(name, Dtype::F32, shape)?;
        Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn u64s(&mut self, name: &str) -> Result<Vec<u64>> {
        let data = self.view(name, Dtype::U64, None)?;
        Ok(data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect())
    }

    fn u32s(&mut self, name: &str) -> Result<Vec<u32>> {
        let data = self.view(name, Dtype::U32, None)?;
        Ok(data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn f32_map(&mut self, names: &BTreeMap<String, String>) -> Result<BTreeMap<String, Vec<f32>>> {
        names
            .iter()
            .map(|(k, n)| Ok((k.clone(), self.f32s(n, None)?)))
            .collect()
    }
}

/// Decodes a SafeTensors container into a validated, canonical payload. Truncated files, a
/// missing or malformed manifest, missing, extra or doubly referenced tensors and wrong dtypes or
/// shapes are errors. The recorded digest is not checked: call
/// [`Payload::verify_digest`].
pub fn decode(bytes: &[u8]) -> Result<Payload> {
    let st = SafeTensors::deserialize(bytes)?;
    let (_, metadata) = SafeTensors::read_metadata(bytes)?;
    let manifest = match metadata.metadata() {
        Some(map) => read_manifest(map)?,
        None => {
            return Err(Error::Container {
                detail: "no __metadata__ (not a payload container)".into(),
            })
        }
    };
    let mut r = Reader {
        st,
        used: BTreeSet::new(),
    };
    let mut parts = Vec::with_capacity(manifest.parts.len());
    for part in &manifest.parts {
        parts.push(match part {
            ManifestPart::Lora { adapters } => {
                let mut out = Vec::with_capacity(adapters.len());
                for a in adapters {
                    let (rk, n, m) = (u64::from(a.rank), u64::from(a.in_dim), u64::from(a.out_dim));
                    out.push(LoraAdapter {
                        layer_id: a.layer_id,
                        matrix: a.matrix.clone(),
                        rank: a.rank,
                        in_dim: a.in_dim,
                        out_dim: a.out_dim,
                        a: r.f32s(&a.a, Some(&[rk, n]))?,
                        b: r.f32s(&a.b, Some(&[m, rk]))?,
                    });
                }
                ModelDiff::Lora(Lora { adapters: out })
            }
            ManifestPart::Ia3 { scaling } => {
                let mut out = BTreeMap::new();
                for (&layer, names) in scaling {
                    out.insert(layer, r.f32_map(names)?);
                }
                ModelDiff::Ia3(Ia3 { scaling: out })
            }
            ManifestPart::Full { params, exact } => {
                let params = r.f32_map(params)?;
                let mut fixups = BTreeMap::new();
                for (p, x) in exact {
                    let index = r.u64s(&x.index)?;
                    let bits = r.u32s(&x.bits)?;
                    fixups.insert(
                        p.clone(),
                        ExactFixups {
                            dtype: x.dtype,
                            index,
                            bits,
                        },
                    );
                }
                ModelDiff::Full(Full {
                    params,
                    exact: fixups,
                })
            }
            ManifestPart::InPlaceTtt { steps } => {
                let mut out = Vec::with_capacity(steps.len());
                for s in steps {
                    out.push(TttStep {
                        step_id: s.step_id,
                        deltas: r.f32_map(&s.deltas)?,
                    });
                }
                ModelDiff::InPlaceTtt(InPlaceTtt { steps: out })
            }
        });
    }
    if let Some(extra) = r.st.names().into_iter().find(|n| !r.used.contains(*n)) {
        return Err(Error::ContainerTensor {
            name: extra.to_owned(),
            detail: "not referenced by the manifest".into(),
        });
    }
    let mut payload = Payload {
        parts,
        base_digest: manifest.base_digest,
        target_digest: manifest.target_digest,
        digest: manifest.digest,
    };
    payload.validate_and_canonicalize()?;
    Ok(payload)
}
