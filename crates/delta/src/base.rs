//! Checking a payload against a base model known only by its tensor names and shapes
//! ([`BaseTensors`]), and target resolution both ways: (layer id, matrix) → tensor name
//! ([`BaseTensors::resolve`]) and tensor name → (layer id, matrix) ([`parse_tensor_name`]).
//!
//! # Resolution rule
//!
//! A tensor is the target of (layer N, matrix M) when it is 2-D, its name ends in `.weight`, the
//! first segment pair `layers.N` / `layer.N` / `h.N` / `blk.N` names layer N, and the segment
//! right before `weight` (after the layer number) is M: HF `model.layers.3.self_attn.q_proj.weight`
//! is (3, `q_proj`), GGUF `blk.3.attn_q.weight` is (3, `attn_q`), GPT-2 `transformer.h.3.attn.c_attn.weight`
//! is (3, `c_attn`). No match or several matches (e.g. a vision tower and a text tower) are errors
//! naming the candidates.

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::ia3::ia3_axis;
use crate::payload::{full_target, lora_target, ttt_target, ModelDiff, Payload};

/// Name segments that introduce a layer number (`layers.N`, `layer.N`, `h.N`, `blk.N`).
pub const LAYER_MARKERS: [&str; 4] = ["layers", "layer", "h", "blk"];

/// (layer id, module name) of a module path such as `model.layers.3.self_attn.q_proj`: the first
/// layer marker followed by a number, and the last segment (which must come after the number).
pub fn parse_module_path(path: &str) -> Option<(u32, &str)> {
    let segs: Vec<&str> = path.split('.').collect();
    let at = segs.windows(2).position(|w| {
        LAYER_MARKERS.contains(&w[0])
            && !w[1].is_empty()
            && w[1].bytes().all(|b| b.is_ascii_digit())
    })?;
    let layer = segs[at + 1].parse::<u32>().ok()?;
    let module = *segs.last()?;
    (segs.len() > at + 2 && !module.is_empty()).then_some((layer, module))
}

/// (layer id, matrix) of a weight tensor name such as `model.layers.3.self_attn.q_proj.weight`
/// or `blk.3.attn_q.weight`, from its name alone (see the module docs for the rule).
pub fn parse_tensor_name(name: &str) -> Option<(u32, &str)> {
    parse_module_path(name.strip_suffix(".weight")?)
}

/// A base model as far as payload validation needs it: tensor names and row-major shapes, and
/// optionally its model digest.
#[derive(Debug, Clone, Default)]
pub struct BaseTensors {
    shapes: BTreeMap<String, Vec<u64>>,
    targets: BTreeMap<(u32, String), Vec<String>>,
    digest: Option<Digest>,
}

fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

impl BaseTensors {
    /// Describes a base model by its (name, shape) pairs.
    pub fn new<N, S>(tensors: impl IntoIterator<Item = (N, S)>) -> Self
    where
        N: Into<String>,
        S: Into<Vec<u64>>,
    {
        let shapes: BTreeMap<String, Vec<u64>> = tensors
            .into_iter()
            .map(|(n, s)| (n.into(), s.into()))
            .collect();
        let mut targets: BTreeMap<(u32, String), Vec<String>> = BTreeMap::new();
        for (name, shape) in &shapes {
            if shape.len() != 2 {
                continue;
            }
            if let Some((layer, module)) = parse_tensor_name(name) {
                targets
                    .entry((layer, module.to_owned()))
                    .or_default()
                    .push(name.clone());
            }
        }
        Self {
            shapes,
            targets,
            digest: None,
        }
    }

    /// Records the base's model digest, checked against a payload's `base_digest`.
    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    /// The recorded model digest.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Option<&[u64]> {
        self.shapes.get(name).map(Vec::as_slice)
    }

    /// Every (name, shape), by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u64])> {
        self.shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice()))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The one 2-D weight that is (layer `layer_id`, matrix `matrix`).
    pub fn resolve(&self, layer_id: u32, matrix: &str) -> Result<&str> {
        match self
            .targets
            .get(&(layer_id, matrix.to_owned()))
            .map(Vec::as_slice)
        {
            Some([one]) => Ok(one),
            Some(several) if !several.is_empty() => Err(Error::Ambiguous {
                layer_id,
                matrix: matrix.to_owned(),
                candidates: several.to_vec(),
            }),
            _ => Err(Error::Unresolved {
                layer_id,
                matrix: matrix.to_owned(),
            }),
        }
    }

    /// (layer id, matrix) of tensor `name` when it is a 2-D weight that resolves back to itself
    /// (so it can be a LoRA or IA3 target).
    pub fn target_of<'n>(&self, name: &'n str) -> Option<(u32, &'n str)> {
        let (layer, matrix) = parse_tensor_name(name)?;
        (self.resolve(layer, matrix).ok()? == name).then_some((layer, matrix))
    }

    fn dims_of(&self, layer_id: u32, matrix: &str) -> Result<(&str, u64, u64)> {
        let name = self.resolve(layer_id, matrix)?;
        let shape = &self.shapes[name];
        Ok((name, shape[0], shape[1]))
    }

    fn check_count(&self, target: impl Fn() -> String, name: &str, len: usize) -> Result<()> {
        let shape = self.shapes.get(name).ok_or_else(|| Error::UnknownTensor {
            target: target(),
            name: name.to_owned(),
        })?;
        if element_count(shape) != Some(len as u64) {
            return Err(Error::ShapeMismatch {
                target: target(),
                name: name.to_owned(),
                expected: format!("{len} elements"),
                actual: shape.clone(),
            });
        }
        Ok(())
    }
}

impl ModelDiff {
    /// Checks the part against a base: every target exists and has matching dimensions (LoRA:
    /// `[out_dim, in_dim]`; IA3: a length [`ia3_axis`] accepts; Full and TTT: the element count),
    /// after [`validate`](Self::validate).
    pub fn validate_against(&self, base: &BaseTensors) -> Result<()> {
        self.validate()?;
        match self {
            ModelDiff::Lora(l) => {
                for a in &l.adapters {
                    let target = lora_target(a.layer_id, &a.matrix);
                    let (name, rows, cols) = base.dims_of(a.layer_id, &a.matrix)?;
                    if (rows, cols) != (u64::from(a.out_dim), u64::from(a.in_dim)) {
                        return Err(Error::ShapeMismatch {
                            target,
                            name: name.to_owned(),
                            expected: format!("[{}, {}]", a.out_dim, a.in_dim),
                            actual: vec![rows, cols],
                        });
                    }
                }
            }
            ModelDiff::Ia3(i) => {
                for (&layer, matrices) in &i.scaling {
                    for (m, v) in matrices {
                        let (_, rows, cols) = base.dims_of(layer, m)?;
                        ia3_axis(layer, m, v.len(), rows, cols)?;
                    }
                }
            }
            ModelDiff::Full(f) => {
                for (p, v) in &f.params {
                    base.check_count(|| full_target(p), p, v.len())?;
                }
            }
            ModelDiff::InPlaceTtt(t) => {
                for s in &t.steps {
                    for (p, v) in &s.deltas {
                        base.check_count(|| ttt_target(s.step_id, p), p, v.len())?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Payload {
    /// Checks every part against a base ([`ModelDiff::validate_against`]) and, when both are
    /// known, that the payload's `base_digest` is the base's digest.
    pub fn validate_against(&self, base: &BaseTensors) -> Result<()> {
        if let (Some(recorded), Some(actual)) = (self.base_digest, base.digest) {
            if recorded != actual {
                return Err(Error::BaseMismatch { recorded, actual });
            }
        }
        self.parts.iter().try_for_each(|p| p.validate_against(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_layer_and_module() {
        assert_eq!(
            parse_tensor_name("model.layers.3.self_attn.q_proj.weight"),
            Some((3, "q_proj"))
        );
        assert_eq!(
            parse_tensor_name("blk.12.attn_q.weight"),
            Some((12, "attn_q"))
        );
        assert_eq!(
            parse_tensor_name("transformer.h.0.attn.c_attn.weight"),
            Some((0, "c_attn"))
        );
        assert_eq!(
            parse_tensor_name("encoder.layer.5.attention.self.query.weight"),
            Some((5, "query"))
        );
        for none in [
            "model.layers.3.self_attn.q_proj.bias",
            "model.embed_tokens.weight",
            "model.layers.3.weight",
            "model.layers.x.q_proj.weight",
            "model.layers.99999999999.q_proj.weight",
            "weight",
            "",
        ] {
            assert_eq!(parse_tensor_name(none), None, "{none}");
        }
    }

    #[test]
    fn resolution_requires_one_2d_candidate() {
        let base = BaseTensors::new([
            ("model.layers.0.self_attn.q_proj.weight", vec![8, 4]),
            ("model.layers.0.self_attn.q_proj.bias", vec![8]),
            ("model.layers.0.input_layernorm.weight", vec![4]),
            ("vision.layers.1.q_proj.weight", vec![8, 4]),
            ("text.layers.1.q_proj.weight", vec![8, 4]),
        ]);
        assert_eq!(
            base.resolve(0, "q_proj").unwrap(),
            "model.layers.0.self_attn.q_proj.weight"
        );
        assert_eq!(
            base.target_of("model.layers.0.self_attn.q_proj.weight"),
            Some((0, "q_proj"))
        );
        assert_eq!(
            base.target_of("model.layers.0.input_layernorm.weight"),
            None
        );
        let e = base.resolve(1, "q_proj").unwrap_err().to_string();
        assert_eq!(
            e,
            "layer 1 `q_proj`: ambiguous target, candidates: text.layers.1.q_proj.weight, vision.layers.1.q_proj.weight"
        );
        assert_eq!(base.target_of("text.layers.1.q_proj.weight"), None);
        let e = base.resolve(0, "input_layernorm").unwrap_err().to_string();
        assert!(e.contains("no 2-d `.weight` tensor"), "{e}");
    }
}
