//! Reading payload JSON: private wire types that parse each f32 from its decimal text (correctly
//! rounded with `str::parse::<f32>`, never through f64, so no double rounding), reject duplicate
//! object keys and unknown fields, and dispatch on `"kind"` without buffering the part.
//!
//! serde's internally tagged enums buffer a part into an intermediate value whose numbers are
//! f64; instead each part is captured as raw JSON text, its `"kind"` read first, then the text
//! is parsed straight into the struct of that kind.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::exact::ExactFixups;
use crate::payload::{
    DiffKind, Full, Ia3, InPlaceTtt, Lora, LoraAdapter, ModelDiff, Payload, TttStep,
};

/// An f32 array read from the numbers' text.
pub(crate) struct F32s(pub(crate) Vec<f32>);

impl<'de> Deserialize<'de> for F32s {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = F32s;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<F32s, A::Error> {
                let mut out = Vec::new();
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    let text = raw.get();
                    // JSON's number grammar is a subset of what `f32::from_str` accepts, and
                    // non-numbers (strings, null, objects) fail here.
                    let v = text.parse::<f32>().map_err(|_| {
                        de::Error::custom(format_args!(
                            "expected a number, found {}",
                            text.chars().take(40).collect::<String>()
                        ))
                    })?;
                    out.push(v);
                }
                Ok(F32s(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A JSON object read into a `BTreeMap`, with a repeated key an error rather than last-wins.
pub(crate) struct UniqueMap<K, V>(pub(crate) BTreeMap<K, V>);

impl<K, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for Vis<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object without repeated keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<K>()? {
                    match out.entry(k) {
                        Entry::Occupied(e) => {
                            return Err(de::Error::custom(format_args!(
                                "duplicate key `{}`",
                                e.key()
                            )))
                        }
                        Entry::Vacant(e) => {
                            e.insert(map.next_value::<V>()?);
                        }
                    }
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

fn unwrap_map(m: UniqueMap<String, F32s>) -> BTreeMap<String, Vec<f32>> {
    m.0.into_iter().map(|(k, v)| (k, v.0)).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoraAdapterWire {
    layer_id: u32,
    matrix: String,
    rank: u32,
    in_dim: u32,
    out_dim: u32,
    a: F32s,
    b: F32s,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoraWire {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    adapters: Vec<LoraAdapterWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ia3Wire {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    scaling: UniqueMap<u32, UniqueMap<String, F32s>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullWire {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    params: UniqueMap<String, F32s>,
    #[serde(default)]
    exact: UniqueMap<String, ExactFixups>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TttStepWire {
    step_id: u32,
    deltas: UniqueMap<String, F32s>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TttWire {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    steps: Vec<TttStepWire>,
}

#[derive(Deserialize)]
struct KindProbe {
    kind: DiffKind,
}

fn part_from_str(text: &str) -> serde_json::Result<ModelDiff> {
    let KindProbe { kind } = serde_json::from_str(text)?;
    Ok(match kind {
        DiffKind::Lora => {
            let w: LoraWire = serde_json::from_str(text)?;
            ModelDiff::Lora(Lora {
                adapters: w
                    .adapters
                    .into_iter()
                    .map(|a| LoraAdapter {
                        layer_id: a.layer_id,
                        matrix: a.matrix,
                        rank: a.rank,
                        in_dim: a.in_dim,
                        out_dim: a.out_dim,
                        a: a.a.0,
                        b: a.b.0,
                    })
                    .collect(),
            })
        }
        DiffKind::Ia3 => {
            let w: Ia3Wire = serde_json::from_str(text)?;
            ModelDiff::Ia3(Ia3 {
                scaling: w
                    .scaling
                    .0
                    .into_iter()
                    .map(|(l, m)| (l, unwrap_map(m)))
                    .collect(),
            })
        }
        DiffKind::Full => {
            let w: FullWire = serde_json::from_str(text)?;
            ModelDiff::Full(Full {
                params: unwrap_map(w.params),
                exact: w.exact.0,
            })
        }
        DiffKind::InPlaceTtt => {
            let w: TttWire = serde_json::from_str(text)?;
            ModelDiff::InPlaceTtt(InPlaceTtt {
                steps: w
                    .steps
                    .into_iter()
                    .map(|s| TttStep {
                        step_id: s.step_id,
                        deltas: unwrap_map(s.deltas),
                    })
                    .collect(),
            })
        }
    })
}

/// Deserializes from serde_json's borrowing deserializers (`from_slice`, `from_str`) only: the
/// part is captured as raw text. Use [`Payload::from_json`] to also validate.
impl<'de> Deserialize<'de> for ModelDiff {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        part_from_str(raw.get()).map_err(de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadWire {
    schema: String,
    parts: Vec<ModelDiff>,
    #[serde(default)]
    base_digest: Option<Digest>,
    #[serde(default)]
    target_digest: Option<Digest>,
    #[serde(default)]
    digest: Option<Digest>,
}

#[derive(Deserialize)]
struct TopProbe {
    #[serde(default)]
    schema: Option<IgnoredAny>,
    #[serde(default)]
    kind: Option<IgnoredAny>,
}

/// Parses payload JSON or a bare part (not yet validated).
pub(crate) fn payload_from_json(bytes: &[u8]) -> Result<Payload> {
    let probe: TopProbe = serde_json::from_slice(bytes)?;
    match (probe.schema.is_some(), probe.kind.is_some()) {
        (true, false) => {
            let w: PayloadWire = serde_json::from_slice(bytes)?;
            if w.schema != crate::SCHEMA {
                return Err(Error::UnsupportedSchema { found: w.schema });
            }
            Ok(Payload {
                parts: w.parts,
                base_digest: w.base_digest,
                target_digest: w.target_digest,
                digest: w.digest,
            })
        }
        (false, true) => {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::UnknownEncoding {
                detail: format!("payload json is not utf-8: {e}"),
            })?;
            Ok(Payload::new(vec![part_from_str(text)?]))
        }
        (true, true) => Err(Error::UnknownEncoding {
            detail: "json object has both `schema` and `kind`".into(),
        }),
        (false, false) => Err(Error::UnknownEncoding {
            detail: "json object has neither `schema` (a payload) nor `kind` (a part)".into(),
        }),
    }
}
