//! BLAKE3 digests over canonical byte encodings: [`Digest`], [`TensorHasher`] (one tensor,
//! streamed), [`ModelHasher`] / [`model_digest`] (a model's manifest) and [`PayloadHasher`] (a
//! payload, streamable part by part and Full parameter by parameter).
//!
//! The encodings are a contract (payloads carry digests computed with them) and are specified in
//! the crate documentation, section *Digests*. They never hash JSON text: the same payload gives
//! the same digest whichever encoding it was read from and whatever order it was built in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::exact::ExactFixups;
use crate::payload::{Full, Ia3, InPlaceTtt, Lora, ModelDiff};

/// Domain tag of a tensor digest.
const TENSOR_DOMAIN: &str = "modeldiff.tensor.v1";
/// Domain tag of a model (manifest) digest.
const MODEL_DOMAIN: &str = "modeldiff.model.v1";
/// Domain tag of a payload digest.
const PAYLOAD_DOMAIN: &str = "modeldiff.payload.v1";
/// Text prefix of a displayed digest.
const PREFIX: &str = "blake3:";

/// A 32-byte BLAKE3 digest, displayed and parsed as `blake3:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidDigest {
            text: s.chars().take(80).collect(),
        };
        let hex = s.strip_prefix(PREFIX).ok_or_else(bad)?.as_bytes();
        if hex.len() != 64 {
            return Err(bad());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *o = (nibble(pair[0]).ok_or_else(bad)? << 4) | nibble(pair[1]).ok_or_else(bad)?;
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The canonical encoding's primitives, written straight into a BLAKE3 hasher.
#[derive(Debug, Clone, Default)]
pub(crate) struct Enc(blake3::Hasher);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.update(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.0.update(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        // usize is at most 64 bits on every supported target.
        self.u64(n as u64);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.update(s.as_bytes());
    }
    fn digest(&mut self, d: &Digest) {
        self.0.update(&d.0);
    }
    fn opt_digest(&mut self, d: Option<&Digest>) {
        match d {
            None => self.u8(0),
            Some(d) => {
                self.u8(1);
                self.digest(d);
            }
        }
    }
    /// The raw little-endian bytes of `values`, without a count.
    fn f32_bytes(&mut self, values: &[f32]) {
        let mut buf = [0u8; 4096];
        for chunk in values.chunks(1024) {
            for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
            self.0.update(&buf[..chunk.len() * 4]);
        }
    }
    /// An f32 array: count, then little-endian bytes.
    fn f32s(&mut self, values: &[f32]) {
        self.len(values.len());
        self.f32_bytes(values);
    }
    fn fixups(&mut self, name: &str, f: &ExactFixups) {
        self.str(name);
        self.str(f.dtype.as_str());
        self.len(f.index.len());
        for &i in &f.index {
            self.u64(i);
        }
        for &b in &f.bits {
            self.u32(b);
        }
    }
    fn finish(&self) -> Digest {
        Digest(*self.0.finalize().as_bytes())
    }
}

/// Streams one tensor's digest: dtype name, shape, then its raw little-endian bytes in chunks.
///
/// The encoding is `str("modeldiff.tensor.v1") ‖ str(dtype) ‖ u64(rank) ‖ u64(dim)… ‖ bytes ‖
/// u64(byte length)` (see the crate docs); the length comes last so the bytes can be streamed
/// without knowing their count in advance.
///
/// ```
/// use modeldiff_delta::TensorHasher;
/// let mut h = TensorHasher::new("F32", &[2]);
/// h.update(&1.0f32.to_le_bytes());
/// h.update(&2.0f32.to_le_bytes());
/// let d = h.finish();
/// assert!(d.to_string().starts_with("blake3:"));
/// ```
#[derive(Debug, Clone)]
pub struct TensorHasher {
    enc: Enc,
    bytes: u64,
}

impl TensorHasher {
    /// Starts the digest of a tensor of element type `dtype_name` (as the model file names it,
    /// e.g. `F32`, `BF16`, `Q4_K`) and row-major `shape`.
    pub fn new(dtype_name: &str, shape: &[u64]) -> Self {
        let mut enc = Enc::default();
        enc.str(TENSOR_DOMAIN);
        enc.str(dtype_name);
        enc.len(shape.len());
        for &d in shape {
            enc.u64(d);
        }
        Self { enc, bytes: 0 }
    }

    /// Feeds the next stored bytes (little-endian element order).
    pub fn update(&mut self, bytes: &[u8]) {
        self.enc.0.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    /// Completes the digest.
    pub fn finish(mut self) -> Digest {
        self.enc.u64(self.bytes);
        self.enc.finish()
    }
}

/// Collects (tensor name, tensor digest) pairs in any order and digests them sorted by name.
///
/// The encoding is `str("modeldiff.model.v1") ‖ u64(count) ‖ (str(name) ‖ digest)…` with names
/// in ascending byte order.
#[derive(Debug, Clone, Default)]
pub struct ModelHasher {
    tensors: Vec<(String, Digest)>,
}

impl ModelHasher {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one tensor.
    pub fn add(&mut self, name: impl Into<String>, digest: Digest) {
        self.tensors.push((name.into(), digest));
    }

    /// The model digest; a name added twice is an error.
    pub fn finish(mut self) -> Result<Digest> {
        self.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = self.tensors.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::DuplicateTensor {
                name: w[0].0.clone(),
            });
        }
        let mut enc = Enc::default();
        enc.str(MODEL_DOMAIN);
        enc.len(self.tensors.len());
        for (name, d) in &self.tensors {
            enc.str(name);
            enc.digest(d);
        }
        Ok(enc.finish())
    }
}

/// The model digest of (tensor name, tensor digest) pairs given in any order.
pub fn model_digest<S: Into<String>>(
    tensors: impl IntoIterator<Item = (S, Digest)>,
) -> Result<Digest> {
    let mut h = ModelHasher::new();
    for (name, d) in tensors {
        h.add(name, d);
    }
    h.finish()
}

/// Streams a payload digest part by part, so a writer can digest a huge Full part parameter by
/// parameter without holding it in memory.
///
/// Parts are fed in payload order; each part is hashed in canonical order. Feeding a whole part
/// with [`part`](Self::part) and streaming it through [`full_part`](Self::full_part) give the same
/// digest, and [`Payload::digest`](crate::Payload::digest) is this hasher fed every part.
///
/// ```
/// use std::collections::BTreeMap;
/// use modeldiff_delta::{Full, ModelDiff, Payload, PayloadHasher};
///
/// let mut full = Full::default();
/// full.params.insert("norm.weight".into(), vec![0.5, -0.25]);
/// let payload = Payload::new(vec![ModelDiff::Full(full)]);
///
/// let mut h = PayloadHasher::new(None, None, 1);
/// let mut f = h.full_part(1)?;
/// f.param("norm.weight", 2)?;
/// f.values(&[0.5])?;
/// f.values(&[-0.25])?;
/// f.finish(&BTreeMap::new())?;
/// assert_eq!(h.finish()?, payload.digest()?);
/// # Ok::<(), modeldiff_delta::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PayloadHasher {
    enc: Enc,
    parts: u64,
    done: u64,
}

impl PayloadHasher {
    /// Starts a payload digest with its optional base and target model digests and its number of
    /// parts.
    pub fn new(base: Option<&Digest>, target: Option<&Digest>, parts: u64) -> Self {
        let mut enc = Enc::default();
        enc.str(PAYLOAD_DOMAIN);
        enc.opt_digest(base);
        enc.opt_digest(target);
        enc.u64(parts);
        Self {
            enc,
            parts,
            done: 0,
        }
    }

    fn next_part(&mut self) -> Result<()> {
        if self.done == self.parts {
            return Err(Error::Stream {
                what: "payload digest part count".into(),
                expected: self.parts,
                actual: self.parts + 1,
            });
        }
        self.done += 1;
        Ok(())
    }

    /// Hashes one whole part, in canonical order whatever order it was built in.
    pub fn part(&mut self, part: &ModelDiff) -> Result<()> {
        match part {
            ModelDiff::Lora(l) => {
                self.next_part()?;
                hash_lora(&mut self.enc, l);
            }
            ModelDiff::Ia3(i) => {
                self.next_part()?;
                hash_ia3(&mut self.enc, i);
            }
            ModelDiff::Full(f) => hash_full(self, f)?,
            ModelDiff::InPlaceTtt(t) => {
                self.next_part()?;
                hash_ttt(&mut self.enc, t);
            }
        }
        Ok(())
    }

    /// Starts a Full part of `params` parameters, to be streamed in ascending name order.
    pub fn full_part(&mut self, params: u64) -> Result<FullPartHasher<'_>> {
        self.next_part()?;
        self.enc.str("full");
        self.enc.u64(params);
        Ok(FullPartHasher {
            h: self,
            params,
            seen: 0,
            last: None,
            remaining: 0,
        })
    }

    /// The payload digest; fewer parts than announced is an error.
    pub fn finish(self) -> Result<Digest> {
        if self.done != self.parts {
            return Err(Error::Stream {
                what: "payload digest part count".into(),
                expected: self.parts,
                actual: self.done,
            });
        }
        Ok(self.enc.finish())
    }
}

/// Streams one Full part into a [`PayloadHasher`]: each parameter in ascending name order with
/// its values in element order, then the exactness fixups.
#[derive(Debug)]
pub struct FullPartHasher<'a> {
    h: &'a mut PayloadHasher,
    params: u64,
    seen: u64,
    last: Option<String>,
    remaining: u64,
}

impl FullPartHasher<'_> {
    fn check_complete(&self) -> Result<()> {
        if self.remaining != 0 {
            return Err(Error::Stream {
                what: format!(
                    "full `{}` values still missing",
                    self.last.as_deref().unwrap_or_default()
                ),
                expected: 0,
                actual: self.remaining,
            });
        }
        Ok(())
    }

    /// Starts parameter `name` of `len` values; names must ascend strictly (byte order).
    pub fn param(&mut self, name: &str, len: u64) -> Result<()> {
        self.check_complete()?;
        if self.seen == self.params {
            return Err(Error::Stream {
                what: "full part parameter count".into(),
                expected: self.params,
                actual: self.params + 1,
            });
        }
        if let Some(last) = &self.last {
            if last.as_str() >= name {
                return Err(Error::Stream {
                    what: format!(
                        "full `{name}` after `{last}`: parameters must ascend by name; position"
                    ),
                    expected: self.seen + 1,
                    actual: self.seen,
                });
            }
        }
        self.seen += 1;
        self.h.enc.str(name);
        self.h.enc.u64(len);
        self.last = Some(name.to_owned());
        self.remaining = len;
        Ok(())
    }

    /// Feeds the next values of the current parameter.
    pub fn values(&mut self, chunk: &[f32]) -> Result<()> {
        let n = chunk.len() as u64;
        if n > self.remaining {
            return Err(Error::Stream {
                what: format!(
                    "full `{}` values beyond its length",
                    self.last.as_deref().unwrap_or_default()
                ),
                expected: self.remaining,
                actual: n,
            });
        }
        self.remaining -= n;
        self.h.enc.f32_bytes(chunk);
        Ok(())
    }

    /// Completes the part with its exactness fixups (empty when none).
    pub fn finish(self, exact: &BTreeMap<String, ExactFixups>) -> Result<()> {
        self.check_complete()?;
        if self.seen != self.params {
            return Err(Error::Stream {
                what: "full part parameter count".into(),
                expected: self.params,
                actual: self.seen,
            });
        }
        self.h.enc.len(exact.len());
        for (name, f) in exact {
            self.h.enc.fixups(name, f);
        }
        Ok(())
    }
}

fn hash_lora(enc: &mut Enc, l: &Lora) {
    enc.str("lora");
    let adapters = l.sorted_adapters();
    enc.len(adapters.len());
    for a in adapters {
        enc.u32(a.layer_id);
        enc.str(&a.matrix);
        enc.u32(a.rank);
        enc.u32(a.in_dim);
        enc.u32(a.out_dim);
        enc.f32s(&a.a);
        enc.f32s(&a.b);
    }
}

fn hash_ia3(enc: &mut Enc, i: &Ia3) {
    enc.str("ia3");
    enc.len(i.scaling.len());
    for (layer, matrices) in &i.scaling {
        enc.u32(*layer);
        enc.len(matrices.len());
        for (m, v) in matrices {
            enc.str(m);
            enc.f32s(v);
        }
    }
}

fn hash_full(h: &mut PayloadHasher, f: &Full) -> Result<()> {
    let mut p = h.full_part(f.params.len() as u64)?;
    for (name, v) in &f.params {
        p.param(name, v.len() as u64)?;
        p.values(v)?;
    }
    p.finish(&f.exact)
}

fn hash_ttt(enc: &mut Enc, t: &InPlaceTtt) {
    enc.str("in-place-ttt");
    let steps = t.sorted_steps();
    enc.len(steps.len());
    for s in steps {
        enc.u32(s.step_id);
        enc.len(s.deltas.len());
        for (p, v) in &s.deltas {
            enc.str(p);
            enc.f32s(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_text_round_trips() {
        let d = Digest::from_bytes([0xab; 32]);
        let s = d.to_string();
        assert_eq!(s, format!("blake3:{}", "ab".repeat(32)));
        assert_eq!(s.parse::<Digest>().unwrap(), d);
        for bad in [
            "",
            "blake3:",
            "sha256:00",
            &format!("blake3:{}", "AB".repeat(32)),
            &format!("blake3:{}", "ab".repeat(31)),
            &format!("blake3:{}é", "ab".repeat(31)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tensor_digest_does_not_depend_on_chunking() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut one = TensorHasher::new("F32", &[250]);
        one.update(&bytes);
        let mut many = TensorHasher::new("F32", &[250]);
        for c in bytes.chunks(33) {
            many.update(c);
        }
        assert_eq!(one.finish(), many.finish());
        // Dtype and shape are part of the digest.
        let mut other = TensorHasher::new("I32", &[250]);
        other.update(&bytes);
        let mut reshaped = TensorHasher::new("F32", &[10, 25]);
        reshaped.update(&bytes);
        let base = {
            let mut h = TensorHasher::new("F32", &[250]);
            h.update(&bytes);
            h.finish()
        };
        assert_ne!(other.finish(), base);
        assert_ne!(reshaped.finish(), base);
    }

    #[test]
    fn model_digest_sorts_and_rejects_duplicates() {
        let a = Digest::from_bytes([1; 32]);
        let b = Digest::from_bytes([2; 32]);
        assert_eq!(
            model_digest([("x", a), ("y", b)]).unwrap(),
            model_digest([("y", b), ("x", a)]).unwrap()
        );
        assert_ne!(
            model_digest([("x", a), ("y", b)]).unwrap(),
            model_digest([("x", b), ("y", a)]).unwrap()
        );
        let err = model_digest([("x", a), ("x", b)]).unwrap_err();
        assert_eq!(err.to_string(), "tensor `x` appears twice");
    }

    #[test]
    fn payload_hasher_checks_counts_and_order() {
        let mut h = PayloadHasher::new(None, None, 1);
        let mut f = h.full_part(2).unwrap();
        f.param("b", 1).unwrap();
        f.values(&[1.0]).unwrap();
        assert!(f.param("a", 1).is_err());
        assert!(f.values(&[2.0]).is_err());
        let mut h = PayloadHasher::new(None, None, 1);
        let mut f = h.full_part(1).unwrap();
        f.param("a", 2).unwrap();
        f.values(&[1.0]).unwrap();
        assert!(f.finish(&BTreeMap::new()).is_err());
        assert!(PayloadHasher::new(None, None, 2).finish().is_err());
        let mut h = PayloadHasher::new(None, None, 0);
        assert!(h.full_part(0).is_err());
    }
}
