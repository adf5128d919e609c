//! Metadata differences (GGUF key/values, SafeTensors `__metadata__`, APR JSON) and the JSON
//! rendering of metadata values, with long arrays and strings summarized.

use modeldiff_formats::MetaValue;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Arrays longer than this are summarized (length, digest, first items) instead of listed.
pub const MAX_INLINE_ITEMS: usize = 16;
/// Strings longer than this (bytes) are summarized (length, digest, prefix).
pub const MAX_INLINE_STRING: usize = 256;

/// How a metadata key changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both with different values.
    Changed,
}

/// One metadata key that differs between A and B.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaChange {
    /// The key.
    pub key: String,
    /// Added, removed or changed.
    pub change: MetaChangeKind,
    /// A's value (summarized when long), `null` if added.
    pub a: Option<Value>,
    /// B's value (summarized when long), `null` if removed.
    pub b: Option<Value>,
    /// For changed arrays and strings: the first index (element or byte) where they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<u64>,
}

/// The full JSON form of a metadata value.
pub fn to_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::UInt(x) => json!(x),
        MetaValue::Int(x) => json!(x),
        MetaValue::Float(x) => json!(x),
        MetaValue::Bool(x) => json!(x),
        MetaValue::Str(s) => json!(s),
        MetaValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        MetaValue::Json(j) => j.clone(),
        other => json!(format!("{other:?}")),
    }
}

fn digest(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    format!("blake3:{}", &blake3::hash(&bytes).to_hex()[..32])
}

/// The display form of a value: as is, or for long arrays and strings a summary object
/// `{"len", "digest", "first"/"prefix"}` (the digest is BLAKE3 of the value's compact JSON).
pub fn summarize(v: &MetaValue) -> Value {
    let full = to_json(v);
    match &full {
        Value::Array(items) if items.len() > MAX_INLINE_ITEMS => json!({
            "len": items.len(),
            "digest": digest(&full),
            "first": items[..3].to_vec(),
        }),
        Value::String(s) if s.len() > MAX_INLINE_STRING => {
            let mut end = 64;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            json!({ "len": s.len(), "digest": digest(&full), "prefix": &s[..end] })
        }
        _ => full,
    }
}

fn first_difference(a: &Value, b: &Value) -> Option<u64> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => Some(
            x.iter()
                .zip(y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len())) as u64,
        ),
        (Value::String(x), Value::String(y)) => Some(
            x.bytes()
                .zip(y.bytes())
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len())) as u64,
        ),
        _ => None,
    }
}

/// Keys added, removed or changed from `a` to `b`, in A's order then B-only keys in B's order.
pub fn diff_metadata(a: &[(String, MetaValue)], b: &[(String, MetaValue)]) -> Vec<MetaChange> {
    let bmap: std::collections::HashMap<&str, &MetaValue> =
        b.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let amap: std::collections::HashSet<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
    let mut out = Vec::new();
    for (k, va) in a {
        match bmap.get(k.as_str()) {
            None => out.push(MetaChange {
                key: k.clone(),
                change: MetaChangeKind::Removed,
                a: Some(summarize(va)),
                b: None,
                first_difference: None,
            }),
            Some(vb) if *vb != va => {
                let (ja, jb) = (to_json(va), to_json(vb));
                out.push(MetaChange {
                    key: k.clone(),
                    change: MetaChangeKind::Changed,
                    a: Some(summarize(va)),
                    b: Some(summarize(vb)),
                    first_difference: first_difference(&ja, &jb),
                })
            }
            Some(_) => {}
        }
    }
    for (k, vb) in b {
        if !amap.contains(k.as_str()) {
            out.push(MetaChange {
                key: k.clone(),
                change: MetaChangeKind::Added,
                a: None,
                b: Some(summarize(vb)),
                first_difference: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(n: usize, f: impl Fn(usize) -> String) -> MetaValue {
        MetaValue::Array((0..n).map(|i| MetaValue::Str(f(i))).collect())
    }

    #[test]
    fn long_arrays_are_summarized_with_first_difference() {
        let a = vec![
            ("tok".to_string(), arr(1000, |i| format!("t{i}"))),
            ("n".into(), MetaValue::UInt(3)),
        ];
        let b = vec![
            (
                "tok".to_string(),
                arr(1000, |i| {
                    if i == 417 {
                        "x".into()
                    } else {
                        format!("t{i}")
                    }
                }),
            ),
            ("m".into(), MetaValue::Bool(true)),
        ];
        let d = diff_metadata(&a, &b);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].key, "tok");
        assert_eq!(d[0].change, MetaChangeKind::Changed);
        assert_eq!(d[0].first_difference, Some(417));
        assert_eq!(d[0].a.as_ref().unwrap()["len"], 1000);
        assert_ne!(
            d[0].a.as_ref().unwrap()["digest"],
            d[0].b.as_ref().unwrap()["digest"]
        );
        assert_eq!(
            (d[1].key.as_str(), d[1].change),
            ("n", MetaChangeKind::Removed)
        );
        assert_eq!(
            (d[2].key.as_str(), d[2].change),
            ("m", MetaChangeKind::Added)
        );
        assert!(diff_metadata(&a, &a).is_empty());
    }

    #[test]
    fn short_values_are_inline_and_long_strings_summarized() {
        assert_eq!(summarize(&MetaValue::Float(0.5)), json!(0.5));
        let long = MetaValue::Str("é".repeat(300));
        let s = summarize(&long);
        assert_eq!(s["len"], 600);
        assert!(s["prefix"].as_str().unwrap().len() <= 64);
    }
}
