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

impl MetaChangeKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaChangeKind::Added => "added",
            MetaChangeKind::Removed => "removed",
            MetaChangeKind::Changed => "changed",
        }
    }
}

/// A metadata value as reports show it: in full, or summarized when it is a long array or string.
///
/// Serialized untagged, so the JSON is the value itself or the summary object (see
/// [`MetaSummary`]). Reading JSON back, an object with exactly a summary's keys is taken for a
/// summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetaValueView {
    /// A long array or string, by length and digest.
    Summary(MetaSummary),
    /// The value in full.
    Plain(Value),
}

impl MetaValueView {
    /// The full value, unless it was summarized.
    pub fn as_plain(&self) -> Option<&Value> {
        match self {
            MetaValueView::Plain(v) => Some(v),
            MetaValueView::Summary(_) => None,
        }
    }

    /// The summary, if the value was too long to show in full.
    pub fn as_summary(&self) -> Option<&MetaSummary> {
        match self {
            MetaValueView::Summary(s) => Some(s),
            MetaValueView::Plain(_) => None,
        }
    }
}

/// A long array or string shown by its length, a digest and its beginning.
///
/// The digest is BLAKE3 of the full value's compact JSON, written `blake3:` and 32 hex digits.
/// Fields are declared in the key order of the `modeldiff.report.v1` JSON (alphabetical).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum MetaSummary {
    /// An array of more than [`MAX_INLINE_ITEMS`] items.
    Array {
        /// Digest of the whole array.
        digest: String,
        /// The first three items.
        first: Vec<Value>,
        /// Number of items.
        len: u64,
    },
    /// A string of more than [`MAX_INLINE_STRING`] bytes.
    String {
        /// Digest of the whole string.
        digest: String,
        /// Length in bytes (UTF-8).
        len: u64,
        /// The first 64 bytes at most, cut at a character boundary.
        prefix: String,
    },
}

impl MetaSummary {
    /// Number of items (arrays) or bytes (strings).
    pub fn len(&self) -> u64 {
        match self {
            MetaSummary::Array { len, .. } | MetaSummary::String { len, .. } => *len,
        }
    }

    /// Whether the summarized value is empty (never, as only long values are summarized).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `blake3:` and the first 32 hex digits of the digest of the value's compact JSON.
    pub fn digest(&self) -> &str {
        match self {
            MetaSummary::Array { digest, .. } | MetaSummary::String { digest, .. } => digest,
        }
    }
}

/// One metadata key that differs between A and B.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaChange {
    /// The key.
    pub key: String,
    /// Added, removed or changed.
    pub change: MetaChangeKind,
    /// A's value (summarized when long), `null` if added.
    pub a: Option<MetaValueView>,
    /// B's value (summarized when long), `null` if removed.
    pub b: Option<MetaValueView>,
    /// For changed arrays and strings: the first index (element or byte) where they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<u64>,
    /// A's value at `first_difference`: the array item, or for strings up to
    /// [`AT_CHARS`] characters from there; absent when A ends there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_at: Option<Value>,
    /// B's value at `first_difference`, as `a_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_at: Option<Value>,
}

/// Characters of a string shown from its first difference (`a_at`, `b_at`).
pub const AT_CHARS: usize = 32;

/// The item of an array, or the run of a string, that starts at byte or item `at`.
fn value_at(v: &Value, at: u64) -> Option<Value> {
    let at = usize::try_from(at).ok()?;
    match v {
        Value::Array(items) => items.get(at).cloned(),
        Value::String(s) if at < s.len() => {
            let mut start = at;
            while !s.is_char_boundary(start) {
                start -= 1;
            }
            Some(Value::String(s[start..].chars().take(AT_CHARS).collect()))
        }
        _ => None,
    }
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

/// The display form of a value: in full, or for arrays of more than [`MAX_INLINE_ITEMS`] items
/// and strings of more than [`MAX_INLINE_STRING`] bytes a [`MetaSummary`].
pub fn summarize(v: &MetaValue) -> MetaValueView {
    let full = to_json(v);
    let summary = match &full {
        Value::Array(items) if items.len() > MAX_INLINE_ITEMS => MetaSummary::Array {
            digest: digest(&full),
            first: items[..3].to_vec(),
            len: items.len() as u64,
        },
        Value::String(s) if s.len() > MAX_INLINE_STRING => {
            let mut end = 64;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            MetaSummary::String {
                digest: digest(&full),
                len: s.len() as u64,
                prefix: s[..end].to_string(),
            }
        }
        _ => return MetaValueView::Plain(full),
    };
    MetaValueView::Summary(summary)
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
                a_at: None,
                b_at: None,
            }),
            Some(vb) if *vb != va => {
                let (ja, jb) = (to_json(va), to_json(vb));
                let first = first_difference(&ja, &jb);
                out.push(MetaChange {
                    key: k.clone(),
                    change: MetaChangeKind::Changed,
                    a: Some(summarize(va)),
                    b: Some(summarize(vb)),
                    first_difference: first,
                    a_at: first.and_then(|i| value_at(&ja, i)),
                    b_at: first.and_then(|i| value_at(&jb, i)),
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
                a_at: None,
                b_at: None,
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
        assert_eq!(d[0].a_at, Some(json!("t417")));
        assert_eq!(d[0].b_at, Some(json!("x")));
        let summary = |v: &Option<MetaValueView>| v.as_ref().unwrap().as_summary().unwrap().clone();
        assert_eq!(summary(&d[0].a).len(), 1000);
        assert_ne!(summary(&d[0].a).digest(), summary(&d[0].b).digest());
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
    fn values_at_the_first_difference() {
        let s = |x: &str| MetaValue::Str(x.into());
        let d = diff_metadata(&[("k".into(), s("abcdef"))], &[("k".into(), s("abXdef"))]);
        assert_eq!(d[0].first_difference, Some(2));
        assert_eq!(
            (d[0].a_at.clone(), d[0].b_at.clone()),
            (Some(json!("cdef")), Some(json!("Xdef")))
        );
        // B is a prefix of A: nothing at the index in B.
        let d = diff_metadata(&[("k".into(), s("abc"))], &[("k".into(), s("ab"))]);
        assert_eq!(
            (d[0].a_at.clone(), d[0].b_at.clone()),
            (Some(json!("c")), None)
        );
        let arr = |v: &[u64]| MetaValue::Array(v.iter().map(|&x| MetaValue::UInt(x)).collect());
        let d = diff_metadata(&[("k".into(), arr(&[1, 2]))], &[("k".into(), arr(&[1, 3]))]);
        assert_eq!(
            (d[0].a_at.clone(), d[0].b_at.clone()),
            (Some(json!(2)), Some(json!(3)))
        );
        // A value changing type has no first difference.
        let d = diff_metadata(&[("k".into(), MetaValue::UInt(1))], &[("k".into(), s("1"))]);
        assert_eq!((d[0].first_difference, d[0].a_at.clone()), (None, None));
    }

    #[test]
    fn short_values_are_inline_and_long_strings_summarized() {
        assert_eq!(
            summarize(&MetaValue::Float(0.5)),
            MetaValueView::Plain(json!(0.5))
        );
        let long = MetaValue::Str("é".repeat(300));
        let Some(MetaSummary::String { len, prefix, .. }) = summarize(&long).as_summary().cloned()
        else {
            panic!("a 600-byte string is summarized");
        };
        assert_eq!(len, 600);
        assert!(prefix.len() <= 64 && prefix.chars().all(|c| c == 'é'));
    }

    /// The typed views serialize to the v1 JSON (keys in alphabetical order) and read back.
    #[test]
    fn views_keep_the_v1_json() {
        let items = MetaValue::Array((0..20).map(MetaValue::UInt).collect());
        let text = MetaValue::Str("x".repeat(300));
        for (v, keys) in [
            (summarize(&items), r#"{"digest":"#),
            (summarize(&text), r#"{"digest":"#),
            (summarize(&MetaValue::Str("short".into())), r#""short""#),
        ] {
            let json = serde_json::to_string(&v).unwrap();
            assert!(json.starts_with(keys), "{json}");
            assert_eq!(serde_json::from_str::<MetaValueView>(&json).unwrap(), v);
        }
        let array = serde_json::to_string(&summarize(&items)).unwrap();
        assert!(array.contains(r#""first":[0,1,2],"len":20}"#), "{array}");
        let string = serde_json::to_string(&summarize(&text)).unwrap();
        assert!(string.contains(r#","len":300,"prefix":"xxx"#), "{string}");
        // An object that merely looks like a summary stays a plain value.
        let plain = json!({"digest": "d", "len": 1, "note": "mine"});
        assert_eq!(
            serde_json::from_value::<MetaValueView>(plain.clone()).unwrap(),
            MetaValueView::Plain(plain)
        );
    }
}
