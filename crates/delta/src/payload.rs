//! The `model.diff.v1` types: [`Payload`] (parts plus digests) and its [`ModelDiff`] parts
//! ([`Lora`], [`Ia3`], [`Full`], [`InPlaceTtt`]), with validation, canonical order, the payload
//! digest and the JSON encoding.
//!
//! Serialization always writes the canonical form (adapters by layer then matrix, steps by id,
//! maps by key), so two payloads with the same contents give the same JSON bytes. Reading goes
//! through `wire.rs`, which parses every f32 from its decimal text and rejects duplicate keys.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, PayloadHasher};
use crate::error::{Error, Result};
use crate::exact::ExactFixups;

/// The kind of a payload part: the JSON `"kind"` discriminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffKind {
    /// Low-rank adapters, ΔW = B·A (`"lora"`).
    Lora,
    /// Element-wise scaling vectors (`"ia3"`).
    Ia3,
    /// Dense per-parameter deltas (`"full"`).
    Full,
    /// A trace of per-step dense deltas (`"in-place-ttt"`).
    InPlaceTtt,
}

impl DiffKind {
    /// The JSON tag (`lora`, `ia3`, `full`, `in-place-ttt`), also used in digests.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lora => "lora",
            Self::Ia3 => "ia3",
            Self::Full => "full",
            Self::InPlaceTtt => "in-place-ttt",
        }
    }
}

/// One low-rank adapter: ΔW = B·A (`out_dim × in_dim`), added to the weight of `matrix` in layer
/// `layer_id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoraAdapter {
    /// The transformer layer (block) index.
    pub layer_id: u32,
    /// The module name of the target weight, e.g. `q_proj` or `attn_q`.
    pub matrix: String,
    /// The rank r.
    pub rank: u32,
    /// Columns of the target weight.
    pub in_dim: u32,
    /// Rows of the target weight.
    pub out_dim: u32,
    /// A, row-major `[rank, in_dim]`.
    pub a: Vec<f32>,
    /// B, row-major `[out_dim, rank]`.
    pub b: Vec<f32>,
}

/// A LoRA part: adapters for any number of (layer, matrix) targets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lora {
    /// The adapters; canonical order is by `(layer_id, matrix)`.
    pub adapters: Vec<LoraAdapter>,
}

impl Lora {
    /// The adapters in canonical order, without reordering `self`.
    pub fn sorted_adapters(&self) -> Vec<&LoraAdapter> {
        let mut v: Vec<&LoraAdapter> = self.adapters.iter().collect();
        v.sort_by(|x, y| (x.layer_id, &x.matrix).cmp(&(y.layer_id, &y.matrix)));
        v
    }
}

impl Serialize for Lora {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Lora", 1)?;
        st.serialize_field("adapters", &self.sorted_adapters())?;
        st.end()
    }
}

/// An IA3 part: per layer and matrix, a vector that scales the weight's rows or columns (see
/// [`ia3_axis`](crate::ia3_axis)).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ia3 {
    /// layer id → matrix → scaling vector (JSON keys are the layer ids in base 10).
    pub scaling: BTreeMap<u32, BTreeMap<String, Vec<f32>>>,
}

/// A Full part: dense deltas added to whole parameters, with optional exactness fixups.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Full {
    /// parameter name → delta (element count of the parameter, row-major).
    pub params: BTreeMap<String, Vec<f32>>,
    /// parameter name → elements that `base + delta` does not reproduce bit for bit (see
    /// [`exact`](crate::exact)). Omitted from JSON when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, ExactFixups>,
}

/// One step of an in-place test-time-training trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TttStep {
    /// The step's id; steps apply in ascending id order.
    pub step_id: u32,
    /// parameter name → delta of this step.
    pub deltas: BTreeMap<String, Vec<f32>>,
}

/// An in-place TTT part: a trace of dense per-step deltas (see [`collapse`](crate::collapse)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InPlaceTtt {
    /// The steps; canonical order is by `step_id`, which must be unique.
    pub steps: Vec<TttStep>,
}

impl InPlaceTtt {
    /// The steps in canonical order, without reordering `self`.
    pub fn sorted_steps(&self) -> Vec<&TttStep> {
        let mut v: Vec<&TttStep> = self.steps.iter().collect();
        v.sort_by_key(|s| s.step_id);
        v
    }
}

impl Serialize for InPlaceTtt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("InPlaceTtt", 1)?;
        st.serialize_field("steps", &self.sorted_steps())?;
        st.end()
    }
}

/// One part of a payload, tagged by `"kind"` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelDiff {
    /// `{"kind":"lora","adapters":[…]}`
    Lora(Lora),
    /// `{"kind":"ia3","scaling":{…}}`
    Ia3(Ia3),
    /// `{"kind":"full","params":{…},"exact":{…}?}`
    Full(Full),
    /// `{"kind":"in-place-ttt","steps":[…]}`
    InPlaceTtt(InPlaceTtt),
}

pub(crate) fn lora_target(layer_id: u32, matrix: &str) -> String {
    format!("lora layer {layer_id} `{matrix}`")
}

pub(crate) fn ia3_target(layer_id: u32, matrix: &str) -> String {
    format!("ia3 layer {layer_id} `{matrix}`")
}

pub(crate) fn full_target(param: &str) -> String {
    format!("full `{param}`")
}

pub(crate) fn ttt_target(step_id: u32, param: &str) -> String {
    format!("in-place-ttt step {step_id} `{param}`")
}

fn check_finite(values: &[f32], target: impl FnOnce() -> String) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            target: target(),
            index,
            value: values[index],
        }),
    }
}

fn check_name(name: &str, what: &'static str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::EmptyName { what });
    }
    Ok(())
}

impl LoraAdapter {
    /// Checks rank and dimensions, factor lengths and finiteness.
    pub fn validate(&self) -> Result<()> {
        let (l, m) = (self.layer_id, &self.matrix);
        check_name(m, "matrix")?;
        for (field, v) in [
            ("rank", self.rank),
            ("in_dim", self.in_dim),
            ("out_dim", self.out_dim),
        ] {
            if v == 0 {
                return Err(Error::LoraZero {
                    layer_id: l,
                    matrix: m.clone(),
                    field,
                });
            }
        }
        let expected_a = u64::from(self.rank) * u64::from(self.in_dim);
        let expected_b = u64::from(self.out_dim) * u64::from(self.rank);
        for (factor, expected, values) in [("a", expected_a, &self.a), ("b", expected_b, &self.b)] {
            if values.len() as u64 != expected {
                return Err(Error::LoraLength {
                    layer_id: l,
                    matrix: m.clone(),
                    factor,
                    expected,
                    actual: values.len(),
                });
            }
            check_finite(values, || format!("{} {factor}", lora_target(l, m)))?;
        }
        Ok(())
    }
}

impl Lora {
    pub(crate) fn validate(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for a in &self.adapters {
            a.validate()?;
            if !seen.insert((a.layer_id, a.matrix.as_str())) {
                return Err(Error::DuplicateAdapter {
                    layer_id: a.layer_id,
                    matrix: a.matrix.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Ia3 {
    pub(crate) fn validate(&self) -> Result<()> {
        for (&layer, matrices) in &self.scaling {
            if matrices.is_empty() {
                return Err(Error::EmptyValues {
                    target: format!("ia3 layer {layer}"),
                });
            }
            for (m, v) in matrices {
                check_name(m, "matrix")?;
                if v.is_empty() {
                    return Err(Error::EmptyValues {
                        target: ia3_target(layer, m),
                    });
                }
                check_finite(v, || ia3_target(layer, m))?;
            }
        }
        Ok(())
    }
}

impl Full {
    pub(crate) fn validate(&self) -> Result<()> {
        for (p, v) in &self.params {
            check_name(p, "parameter")?;
            check_finite(v, || full_target(p))?;
        }
        for (p, f) in &self.exact {
            let len = self
                .params
                .get(p)
                .ok_or_else(|| Error::InvalidFixups {
                    param: p.clone(),
                    detail: "no delta for this parameter in the part".into(),
                })?
                .len();
            f.check(p, len)?;
        }
        Ok(())
    }
}

impl InPlaceTtt {
    pub(crate) fn validate(&self) -> Result<()> {
        let mut ids = BTreeSet::new();
        for s in &self.steps {
            if !ids.insert(s.step_id) {
                return Err(Error::DuplicateStep { step_id: s.step_id });
            }
        }
        let mut lens: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.sorted_steps() {
            for (p, v) in &s.deltas {
                check_name(p, "parameter")?;
                check_finite(v, || ttt_target(s.step_id, p))?;
                let expected = *lens.entry(p).or_insert(v.len());
                if expected != v.len() {
                    return Err(Error::TttLength {
                        step_id: s.step_id,
                        param: p.clone(),
                        expected,
                        actual: v.len(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl ModelDiff {
    /// The part's kind.
    pub fn kind(&self) -> DiffKind {
        match self {
            Self::Lora(_) => DiffKind::Lora,
            Self::Ia3(_) => DiffKind::Ia3,
            Self::Full(_) => DiffKind::Full,
            Self::InPlaceTtt(_) => DiffKind::InPlaceTtt,
        }
    }

    /// Checks the part without changing it: factor lengths, finite values, no duplicate adapters
    /// or step ids, consistent TTT lengths, well-formed fixups.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Lora(l) => l.validate(),
            Self::Ia3(i) => i.validate(),
            Self::Full(f) => f.validate(),
            Self::InPlaceTtt(t) => t.validate(),
        }
    }

    /// Puts the part in canonical order (adapters by layer then matrix, steps by id).
    pub fn canonicalize(&mut self) {
        match self {
            Self::Lora(l) => {
                l.adapters
                    .sort_by(|x, y| (x.layer_id, &x.matrix).cmp(&(y.layer_id, &y.matrix)));
            }
            Self::InPlaceTtt(t) => t.steps.sort_by_key(|s| s.step_id),
            Self::Ia3(_) | Self::Full(_) => {}
        }
    }

    /// [`validate`](Self::validate), then [`canonicalize`](Self::canonicalize).
    pub fn validate_and_canonicalize(&mut self) -> Result<()> {
        self.validate()?;
        self.canonicalize();
        Ok(())
    }
}

/// A `model.diff.v1` payload: one or more parts, applied in order, with optional digests of the
/// base and target models and of the payload itself.
///
/// JSON: `{"schema":"model.diff.v1","parts":[…],"base_digest":…,"target_digest":…,"digest":…}`
/// (absent digests are omitted). The order of `parts` is part of the payload (and its digest);
/// within a part, order is canonical.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Payload {
    /// The parts, applied in order.
    pub parts: Vec<ModelDiff>,
    /// Model digest of the base the payload applies to.
    pub base_digest: Option<Digest>,
    /// Model digest of the target the payload reproduces.
    pub target_digest: Option<Digest>,
    /// The payload digest recorded by [`seal`](Self::seal).
    pub digest: Option<Digest>,
}

impl Payload {
    /// A payload of `parts` without digests.
    pub fn new(parts: Vec<ModelDiff>) -> Self {
        Self {
            parts,
            ..Self::default()
        }
    }

    /// Validates every part without changing anything.
    pub fn validate(&self) -> Result<()> {
        self.parts.iter().try_for_each(ModelDiff::validate)
    }

    /// Validates every part and puts each in canonical order.
    pub fn validate_and_canonicalize(&mut self) -> Result<()> {
        self.parts
            .iter_mut()
            .try_for_each(ModelDiff::validate_and_canonicalize)
    }

    /// The payload digest of the current contents (base and target digests included, the
    /// recorded `digest` excluded), after validating them.
    pub fn digest(&self) -> Result<Digest> {
        self.validate()?;
        let mut h = PayloadHasher::new(
            self.base_digest.as_ref(),
            self.target_digest.as_ref(),
            self.parts.len() as u64,
        );
        for p in &self.parts {
            h.part(p)?;
        }
        h.finish()
    }

    /// Records the base and target model digests, canonicalizes, and records (and returns) the
    /// payload digest.
    pub fn seal(
        &mut self,
        base_digest: Option<Digest>,
        target_digest: Option<Digest>,
    ) -> Result<Digest> {
        self.validate_and_canonicalize()?;
        self.base_digest = base_digest;
        self.target_digest = target_digest;
        let d = self.digest()?;
        self.digest = Some(d);
        Ok(d)
    }

    /// Recomputes the payload digest and compares it with the recorded one.
    pub fn verify_digest(&self) -> Result<Digest> {
        let recorded = self.digest.ok_or(Error::MissingDigest)?;
        let computed = self.digest()?;
        if recorded != computed {
            return Err(Error::DigestMismatch { recorded, computed });
        }
        Ok(computed)
    }

    /// The canonical JSON encoding (compact, f32 values in shortest round-trip form).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        self.validate()?;
        Ok(serde_json::to_vec(self)?)
    }

    /// Like [`to_json`](Self::to_json), indented for people.
    pub fn to_json_pretty(&self) -> Result<Vec<u8>> {
        self.validate()?;
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// Reads payload JSON (or a bare part object, as a one-part payload without digests),
    /// validates and canonicalizes it. The recorded digest is not checked: call
    /// [`verify_digest`](Self::verify_digest).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut p = crate::wire::payload_from_json(bytes)?;
        p.validate_and_canonicalize()?;
        Ok(p)
    }

    /// Reads a payload in either encoding, chosen from its first bytes: a SafeTensors container
    /// (8-byte little-endian header length, then `{`), else JSON (`{` after optional
    /// whitespace).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if crate::container::looks_like_container(bytes) {
            return crate::container::decode(bytes);
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Self::from_json(bytes),
            Some(_) => Err(Error::UnknownEncoding {
                detail: "neither a json object nor a safetensors container".into(),
            }),
            None => Err(Error::UnknownEncoding {
                detail: "empty input".into(),
            }),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = 2
            + usize::from(self.base_digest.is_some())
            + usize::from(self.target_digest.is_some())
            + usize::from(self.digest.is_some());
        let mut st = s.serialize_struct("Payload", n)?;
        st.serialize_field("schema", crate::SCHEMA)?;
        st.serialize_field("parts", &self.parts)?;
        for (name, d) in [
            ("base_digest", &self.base_digest),
            ("target_digest", &self.target_digest),
            ("digest", &self.digest),
        ] {
            match d {
                Some(d) => st.serialize_field(name, d)?,
                None => st.skip_field(name)?,
            }
        }
        st.end()
    }
}

#[cfg(test)]
mod tests;
