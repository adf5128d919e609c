//! NumPy arrays: `.npy` (one array, named after the file stem) and `.npz` (a zip archive with
//! one `.npy` per member, named after the member without `.npy`, stored or deflated).
//!
//! Format: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html> —
//! `\x93NUMPY`, major and minor version, a little-endian header length (`u16` in 1.0, `u32` in
//! 2.0 and 3.0), then a Python dict literal `{'descr': '<f4', 'fortran_order': False,
//! 'shape': (2, 3), }` and the raw data. Either byte order is read (`<`, `>`, `|`);
//! Fortran-order arrays become strided views decoded in row-major order. Object, string,
//! complex, datetime and structured dtypes are refused with their `descr`.

use std::path::Path;

use crate::archive::{self, Entry, Method};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, Model, Property, PropertyKey, TensorInfo};

const FORMAT: &str = "numpy";

/// The magic string every `.npy` starts with.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest `.npy` header accepted (numpy itself refuses headers over 10 000 bytes unless told).
const MAX_HEADER_BYTES: usize = 1 << 20;

/// Largest deflated `.npz` member that is inflated (stored members are mapped, any size).
const MAX_INFLATED_MEMBER: u64 = 16 << 30;

/// Deepest nesting of the header literal.
const MAX_LITERAL_DEPTH: usize = 8;

/// A parsed `.npy` header.
#[derive(Debug)]
struct Header {
    dtype: DType,
    order: ByteOrder,
    fortran: bool,
    shape: Vec<u64>,
    /// Offset of the data from the start of the `.npy` bytes.
    data_offset: usize,
}

/// A Python literal of the header dict.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(u64),
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct LitParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl LitParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Lit, String> {
        if depth > MAX_LITERAL_DEPTH {
            return Err("header nests too deeply".into());
        }
        match self.peek().ok_or("header ends early")? {
            q @ (b'\'' | b'"') => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos] != q {
                    self.pos += 1;
                }
                if self.pos >= self.s.len() {
                    return Err("unterminated string in header".into());
                }
                let v = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.pos += 1;
                Ok(Lit::Str(v))
            }
            b'(' | b'[' => {
                let close = if self.s[self.pos] == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat(close) {
                    items.push(self.value(depth + 1)?);
                    if !self.eat(b',') && self.peek() != Some(close) {
                        return Err("expected `,` in a sequence".into());
                    }
                }
                Ok(Lit::Seq(items))
            }
            b'{' => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat(b'}') {
                    let k = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return Err("expected `:` in the header dict".into());
                    }
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    if !self.eat(b',') && self.peek() != Some(b'}') {
                        return Err("expected `,` in the header dict".into());
                    }
                }
                Ok(Lit::Dict(items))
            }
            c if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_digit() || self.s[self.pos] == b'L')
                {
                    self.pos += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.pos]).expect("ASCII digits");
                t.trim_end_matches('L')
                    .parse()
                    .map(Lit::Int)
                    .map_err(|_| format!("integer `{t}` out of range"))
            }
            _ => {
                for (word, v) in [("True", true), ("False", false)] {
                    if self.s[self.pos..].starts_with(word.as_bytes()) {
                        self.pos += word.len();
                        return Ok(Lit::Bool(v));
                    }
                }
                Err(format!(
                    "unexpected character at header offset {}",
                    self.pos
                ))
            }
        }
    }
}

/// The dtype and byte order of a `descr` such as `<f4`, `>i8`, `|b1`.
fn dtype_of(descr: &str) -> Option<(DType, ByteOrder)> {
    let (order, code) = match descr.as_bytes().first()? {
        b'<' | b'=' => (ByteOrder::Little, &descr[1..]),
        b'>' => (ByteOrder::Big, &descr[1..]),
        b'|' => (ByteOrder::Little, &descr[1..]),
        _ => (ByteOrder::Little, descr),
    };
    let d = match code {
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        _ => return None,
    };
    Some((d, order))
}

/// Parses the header of `.npy` bytes (`name` for messages).
fn header(path: &Path, name: &str, b: &[u8]) -> Result<Header> {
    let bad = |detail: String| Error::malformed(path, FORMAT, format!("{name}: {detail}"));
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err(bad("not a .npy array (no \\x93NUMPY magic)".into()));
    }
    let (hlen, hstart) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (
            u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}.{}", b[7]))),
    };
    if hlen > MAX_HEADER_BYTES || hstart + hlen > b.len() {
        return Err(bad(format!(
            "header of {hlen} bytes does not fit the {} bytes there are",
            b.len()
        )));
    }
    let mut p = LitParser {
        s: &b[hstart..hstart + hlen],
        pos: 0,
    };
    let Lit::Dict(items) = p.value(0).map_err(&bad)? else {
        return Err(bad("header is not a dict".into()));
    };
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| *key == Lit::Str(k.into()))
            .map(|(_, v)| v)
    };
    let descr = match get("descr") {
        Some(Lit::Str(s)) => s.clone(),
        Some(_) => {
            return Err(Error::Unsupported {
                path: path.into(),
                detail: format!("{name}: structured arrays (a list `descr`) are not read"),
            })
        }
        None => return Err(bad("header has no `descr`".into())),
    };
    let (dtype, order) = dtype_of(&descr).ok_or_else(|| Error::Unsupported {
        path: path.into(),
        detail: format!(
            "{name}: dtype `{descr}` is not read (only bool, integer and f16/f32/f64 arrays)"
        ),
    })?;
    let fortran = match get("fortran_order") {
        Some(Lit::Bool(f)) => *f,
        _ => return Err(bad("header has no boolean `fortran_order`".into())),
    };
    let shape: Vec<u64> = match get("shape") {
        Some(Lit::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                Lit::Int(n) => Ok(*n),
                _ => Err(bad("`shape` holds a non-integer".into())),
            })
            .collect::<Result<_>>()?,
        _ => return Err(bad("header has no tuple `shape`".into())),
    };
    Ok(Header {
        dtype,
        order,
        fortran,
        shape,
        data_offset: hstart + hlen,
    })
}

/// The tensor of one `.npy` whose bytes `b` start at `base` of storage `storage`.
fn tensor(
    path: &Path,
    name: String,
    b: &[u8],
    storage: usize,
    base: usize,
    file_base: u64,
) -> Result<TensorInfo> {
    let h = header(path, &name, b)?;
    let elems = h
        .shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .and_then(|n| h.dtype.storage_bytes(n).map(|b| (n, b)));
    let Some((_, need)) = elems else {
        return Err(Error::malformed(
            path,
            FORMAT,
            format!("{name}: shape {:?} overflows", h.shape),
        ));
    };
    let have = (b.len() - h.data_offset) as u64;
    if have < need {
        return Err(Error::malformed(
            path,
            FORMAT,
            format!(
                "{name}: shape {:?} of {} needs {need} bytes of data, there are {have}",
                h.shape, h.dtype
            ),
        ));
    }
    let mut strides = vec![0u64; h.shape.len()];
    if h.fortran {
        let mut s = 1u64;
        for (st, &d) in strides.iter_mut().zip(&h.shape) {
            *st = s;
            s = s.saturating_mul(d);
        }
    } else {
        let mut s = 1u64;
        for (st, &d) in strides.iter_mut().zip(&h.shape).rev() {
            *st = s;
            s = s.saturating_mul(d);
        }
    }
    let mut t = TensorInfo::new(
        name,
        h.dtype,
        h.shape,
        h.order,
        file_base + h.data_offset as u64,
        storage,
        base + h.data_offset,
        need as usize,
    )
    .with_strides(strides);
    t.shard = 0;
    Ok(t)
}

/// Opens a `.npy` file held in `storage`.
pub(crate) fn open_npy(path: &Path, storage: Storage) -> Result<Model> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "array".into());
    let t = tensor(path, name, storage.bytes(), 0, 0, 0)?;
    let props = vec![
        Property::text(PropertyKey::Variant, "npy"),
        Property::text(
            PropertyKey::ByteOrder,
            match t.byte_order {
                ByteOrder::Big => "big-endian",
                _ => "little-endian",
            },
        ),
        Property::int(PropertyKey::DataOffset, t.file_offset),
    ];
    Model::new(
        path.into(),
        Format::NumPy,
        vec![t],
        vec![storage],
        Vec::new(),
        props,
    )
}

/// Whether a zip archive's entries are all `.npy` members (an `.npz`).
pub(crate) fn is_npz(entries: &[Entry]) -> bool {
    let files: Vec<&Entry> = entries.iter().filter(|e| !e.name.ends_with('/')).collect();
    !files.is_empty() && files.iter().all(|e| e.name.ends_with(".npy"))
}

/// Opens an `.npz` archive held in `storage` with the validated `entries`.
pub(crate) fn open_npz(path: &Path, storage: Storage, entries: Vec<Entry>) -> Result<Model> {
    let bytes = storage.bytes();
    let mut tensors = Vec::with_capacity(entries.len());
    let mut inflated = Vec::new();
    let (mut stored, mut deflated) = (0usize, 0usize);
    for e in entries.iter().filter(|e| !e.name.ends_with('/')) {
        let name = e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string();
        match e.method {
            Method::Stored => {
                stored += 1;
                let b = &bytes[e.data_range()];
                tensors.push(tensor(
                    path,
                    name,
                    b,
                    0,
                    e.data_start as usize,
                    e.data_start,
                )?);
            }
            _ => {
                deflated += 1;
                let b = archive::read(path, FORMAT, bytes, e, MAX_INFLATED_MEMBER)?.into_owned();
                inflated.push(Storage::Owned(b));
                let si = inflated.len();
                let mut t = tensor(path, name, inflated[si - 1].bytes(), si, 0, 0)?;
                // An inflated member has no offset in the file.
                t.file_offset = 0;
                tensors.push(t);
            }
        }
    }
    let compression = match (stored, deflated) {
        (_, 0) => "none",
        (0, _) => "deflate",
        _ => "mixed (stored and deflate)",
    };
    let props = vec![
        Property::text(PropertyKey::Variant, "npz"),
        Property::int(PropertyKey::TensorCount, tensors.len()),
        Property::text(PropertyKey::Compression, compression),
    ];
    let mut storages = vec![storage];
    storages.extend(inflated);
    Model::new(
        path.into(),
        Format::NumPy,
        tensors,
        storages,
        Vec::new(),
        props,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut b = MAGIC.to_vec();
        b.extend([1, 0]);
        b.extend((h.len() as u16).to_le_bytes());
        b.extend(h);
        b.extend(data);
        b
    }

    #[test]
    fn headers() {
        let b = npy(
            "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }",
            &[0; 12],
        );
        let h = header(Path::new("x"), "x", &b).unwrap();
        assert_eq!(
            (h.dtype, h.order, h.fortran, h.shape, h.data_offset),
            (DType::I16, ByteOrder::Big, true, vec![2, 3], b.len() - 12)
        );
        let b = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            &[0; 8],
        );
        assert!(header(Path::new("x"), "x", &b).unwrap().shape.is_empty());
        let b = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
            &[0; 8],
        );
        assert_eq!(header(Path::new("x"), "x", &b).unwrap().shape, [5]);
        for (h, want) in [
            (
                "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
                "dtype `|O`",
            ),
            (
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                "structured",
            ),
            ("{'descr': '<f4', 'shape': (1,), }", "fortran_order"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",
                "ends early",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                "out of range",
            ),
            ("[[[[[[[[[[[[", "too deeply"),
        ] {
            let e = header(Path::new("x"), "x", &npy(h, &[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{h}: {e}");
        }
    }
}
