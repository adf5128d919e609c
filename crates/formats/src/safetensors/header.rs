//! The fast path for a SafeTensors header: one typed pass of `serde_json` over the header JSON
//! straight into our own entries, then the `safetensors` crate's validation rules, redone here.
//!
//! The crate's `SafeTensors::read_metadata` buffers every tensor entry in serde's `Content`
//! first (its header struct uses `#[serde(flatten)]`) and our duplicate-name check parsed the
//! JSON a second time; on headers of many small tensors that was most of the time spent opening
//! a file. This module accepts exactly the headers that path accepts (and that our dtype mapping
//! and duplicate check let through) and builds the same [`Parsed`] value. It never builds an
//! error: whenever it meets anything it does not accept, it returns [`Declined`] and the caller
//! runs the old path, which produces today's messages. `tests.rs` beside this file and the
//! `safetensors` fuzz target hold the two paths to agreeing.
//!
//! What "exactly" means, read from the `safetensors` 0.6 source (`tensor.rs`) and serde's:
//! - the length prefix is a little-endian `u64` that must fit `usize`, be at most 100 000 000,
//!   and leave room for the header in the buffer; the header must be UTF-8 (there is no check
//!   that it starts with `{`: leading JSON whitespace is fine) and hold one JSON value followed
//!   only by JSON whitespace;
//! - the value is an object; `__metadata__` is `null` or an object of strings (read with the
//!   same type the crate uses); every other key is a tensor;
//! - a tensor is an object with `dtype`, `shape` and `data_offsets` (each once, unknown fields
//!   ignored, whatever JSON they hold) or an array of exactly those three; a dtype is one of the
//!   crate's names as a string, or an object with that name as its only key and `null` as its
//!   value (serde's enum form, as the crate reads it through `Content`); shape elements and
//!   offsets are JSON integers that fit `usize`; an offset pair is an array of exactly two;
//! - every value, ignored ones included, is read through `deserialize_any` or a typed call of
//!   the same nesting, so serde_json's recursion limit of 128 applies at the same depths as when
//!   the crate buffers it (`IgnoredAny` would skip without a limit and accept more);
//! - tensors sorted by `data_offsets` start at 0 and follow each other with no gap or overlap,
//!   each spans `elements × bits / 8` bytes (checked arithmetic in `usize`, elements times bits
//!   before the division, as the crate does), and the last one ends at the end of the buffer.
//!
//! Declined as the old path refuses it: a name that appears twice (the crate alone would keep
//! the last entry; our duplicate check names it). Tensors at the same offsets (only zero-sized
//! ones can share them) keep their order in the file here; the old path leaves them in hash-map
//! order.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Parsed;
use crate::dtype::{ByteOrder, DType};
use crate::model::TensorInfo;

/// Largest header the `safetensors` crate reads (`MAX_HEADER_SIZE` in its `tensor.rs`).
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Why the fast path gave up; the caller falls back to the old path either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Declined {
    /// A tensor name appears twice (the old path names it).
    Duplicate,
    /// Anything else; the old path rejects the file too.
    Other,
}

/// Parses and validates the SafeTensors file `bytes` held in `storages[storage]` in one pass, or
/// declines it (see the module docs).
pub(crate) fn parse(bytes: &[u8], storage: usize) -> Result<Parsed, Declined> {
    let prefix: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(Declined::Other)?;
    let n = usize::try_from(u64::from_le_bytes(prefix)).map_err(|_| Declined::Other)?;
    if n > MAX_HEADER_BYTES {
        return Err(Declined::Other);
    }
    let data_start = n.checked_add(8).ok_or(Declined::Other)?;
    let json = bytes.get(8..data_start).ok_or(Declined::Other)?;
    let json = std::str::from_utf8(json).map_err(|_| Declined::Other)?;
    let Header {
        metadata,
        mut tensors,
    } = serde_json::from_str(json).map_err(|_| Declined::Other)?;

    let mut names: Vec<&str> = tensors.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(Declined::Duplicate);
    }

    // The crate's `Metadata::validate`, over entries sorted by offsets (a stable sort: equal
    // offsets keep file order).
    tensors.sort_by_key(|(_, t)| t.offsets);
    let mut end = 0usize;
    for (_, t) in &tensors {
        let (s, e) = t.offsets;
        if s != end || e < s {
            return Err(Declined::Other);
        }
        end = e;
        let bits = t
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
            .and_then(|elements| elements.checked_mul(t.bits))
            .ok_or(Declined::Other)?;
        if bits % 8 != 0 || e - s != bits / 8 {
            return Err(Declined::Other);
        }
    }
    if data_start.checked_add(end) != Some(bytes.len()) {
        return Err(Declined::Other);
    }

    let infos = tensors
        .into_iter()
        .map(|(name, t)| {
            // The old path rejects these dtypes in `dtype_of`, naming the tensor.
            let dtype = t.dtype.ok_or(Declined::Other)?;
            let (s, e) = t.offsets;
            // In bounds: the offsets are contiguous from 0 and the last ends at `bytes.len()`.
            let start = data_start + s;
            Ok(TensorInfo::new(
                name,
                dtype,
                t.shape,
                ByteOrder::Little,
                start as u64,
                storage,
                start,
                e - s,
            ))
        })
        .collect::<Result<_, _>>()?;
    Ok((infos, metadata, n))
}

/// The header object: `__metadata__` and the tensors in file order.
struct Header {
    metadata: Option<HashMap<String, String>>,
    tensors: Vec<(String, Entry)>,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SafeTensors header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                let mut metadata = None;
                let mut tensors = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        if metadata.is_some() {
                            return Err(de::Error::duplicate_field("__metadata__"));
                        }
                        // The crate's own field type, read the same way (not through `Content`).
                        metadata = Some(map.next_value::<Option<HashMap<String, String>>>()?);
                    } else {
                        tensors.push((key, map.next_value::<Entry>()?));
                    }
                }
                Ok(Header {
                    metadata: metadata.flatten(),
                    tensors,
                })
            }
        }
        // The crate's header struct has a flattened field, which serde reads as a map.
        d.deserialize_map(V)
    }
}

/// One tensor entry, with its dtype already mapped to ours.
struct Entry {
    /// `None` for the crate's dtypes modeldiff cannot decode.
    dtype: Option<DType>,
    /// Bits per element, as the crate's `Dtype::bitsize` gives them.
    bits: usize,
    shape: Vec<u64>,
    offsets: (usize, usize),
}

/// The fields of a tensor entry (the crate's `TensorInfo`, which ignores unknown fields).
enum Field {
    Dtype,
    Shape,
    DataOffsets,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field, E> {
                Ok(match s {
                    "dtype" => Field::Dtype,
                    "shape" => Field::Shape,
                    "data_offsets" => Field::DataOffsets,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tensor entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let (mut dtype, mut shape, mut offsets) = (None, None, None);
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Dtype if dtype.is_none() => dtype = Some(map.next_value()?),
                        Field::Shape if shape.is_none() => shape = Some(map.next_value()?),
                        Field::DataOffsets if offsets.is_none() => {
                            offsets = Some(map.next_value()?);
                        }
                        Field::Other => {
                            map.next_value::<Skip>()?;
                        }
                        _ => return Err(de::Error::custom("duplicate field")),
                    }
                }
                match (dtype, shape, offsets) {
                    (Some(dtype), Some(shape), Some(offsets)) => Ok(entry(dtype, shape, offsets)),
                    _ => Err(de::Error::custom("missing field")),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                let missing = || de::Error::custom("too few elements");
                let dtype = seq.next_element()?.ok_or_else(missing)?;
                let shape = seq.next_element()?.ok_or_else(missing)?;
                let offsets = seq.next_element()?.ok_or_else(missing)?;
                // Extra elements are rejected by serde_json when the array does not end here.
                Ok(entry(dtype, shape, offsets))
            }
        }
        // `Content` holds any JSON value; a struct is then read from its map or its array.
        d.deserialize_any(V)
    }
}

fn entry(dtype: Dtype, shape: Shape, offsets: (usize, usize)) -> Entry {
    Entry {
        dtype: dtype.0,
        bits: dtype.1,
        shape: shape.0,
        offsets,
    }
}

/// One of the `safetensors` crate's dtypes: ours, when modeldiff decodes it, and the crate's
/// `bitsize`.
struct Dtype(Option<DType>, usize);

/// The dtype the `safetensors` crate names `name` (its `Dtype` variants, spelled as serde
/// reads them). `F4`, `F6_E2M3`, `F6_E3M2` and `F8_E8M0` have no `DType` of ours: a header
/// holding them is declined after the duplicate check, as `dtype_of` rejects them.
fn dtype_named(name: &str) -> Option<Dtype> {
    let (ours, bits) = match name {
        "BOOL" => (Some(DType::Bool), 8),
        "F4" => (None, 4),
        "F6_E2M3" | "F6_E3M2" => (None, 6),
        "U8" => (Some(DType::U8), 8),
        "I8" => (Some(DType::I8), 8),
        "F8_E5M2" => (Some(DType::F8E5M2), 8),
        "F8_E4M3" => (Some(DType::F8E4M3), 8),
        "F8_E8M0" => (None, 8),
        "I16" => (Some(DType::I16), 16),
        "U16" => (Some(DType::U16), 16),
        "F16" => (Some(DType::F16), 16),
        "BF16" => (Some(DType::BF16), 16),
        "I32" => (Some(DType::I32), 32),
        "U32" => (Some(DType::U32), 32),
        "F32" => (Some(DType::F32), 32),
        "F64" => (Some(DType::F64), 64),
        "I64" => (Some(DType::I64), 64),
        "U64" => (Some(DType::U64), 64),
        _ => return None,
    };
    Some(Dtype(ours, bits))
}

impl<'de> Deserialize<'de> for Dtype {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dtype;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dtype name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dtype, E> {
                dtype_named(s).ok_or_else(|| de::Error::custom("unknown dtype"))
            }
            // serde's map form of a unit variant, `{"F32": null}`: one key, a null value.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dtype, A::Error> {
                let name = map
                    .next_key::<String>()?
                    .ok_or_else(|| de::Error::custom("empty map"))?;
                map.next_value::<Null>()?;
                if map.next_key::<Skip>()?.is_some() {
                    return Err(de::Error::custom("more than one key"));
                }
                self.visit_str(&name)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON `null` (serde's `Content::Unit`), the only value a unit variant's map form may hold.
struct Null;

impl<'de> Deserialize<'de> for Null {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Null;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Null, E> {
                Ok(Null)
            }
        }
        d.deserialize_any(V)
    }
}

/// A shape: JSON integers that fit `usize` (the crate's `Vec<usize>`), kept as `u64`.
struct Shape(Vec<u64>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a shape")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut dims = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(8));
                while let Some(d) = seq.next_element::<usize>()? {
                    dims.push(d as u64);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Any JSON value, read and dropped through `deserialize_any` (as serde buffers it in
/// `Content`, with the same recursion limit), for the fields the crate ignores.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}
