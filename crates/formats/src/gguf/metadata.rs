//! GGUF primitive reading (both byte orders, v1 32-bit counts) and metadata key/value parsing.
//!
//! Value type ids follow `enum gguf_type` of ggml's `gguf.h`: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32,
//! 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>).
//!
//! Every length and count read from the file is checked against the bytes left before anything
//! is allocated, so a hostile header cannot make the reader allocate more than a small multiple
//! of the file size; nesting depth and the total number of array elements are capped as well.

use crate::model::MetaValue;

/// Deepest array nesting accepted (ggml itself accepts none; gguf-py writes any depth).
const MAX_ARRAY_DEPTH: usize = 16;

/// Most array elements accepted over all metadata of one file: 4 Mi, several times the largest
/// tokenizer we know (a 256 Ki vocabulary's tokens, scores and types plus its merges stay under
/// 1 Mi). Each element costs a `MetaValue` (about 40 bytes, more once summarized), so this
/// bounds what a metadata section can make us allocate: a 16 MiB file of one-byte elements
/// took 1.1 GB under the earlier 16 Mi budget.
pub(crate) const MAX_ARRAY_ELEMENTS: u64 = 1 << 22;

/// A bounds-checked reader over the header bytes of one GGUF file.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The file is big-endian.
    pub(crate) big: bool,
    /// GGUF v1: counts, lengths and dimensions are 32-bit.
    pub(crate) v1: bool,
    /// Array elements still allowed (see [`MAX_ARRAY_ELEMENTS`]).
    budget: u64,
}

macro_rules! read_num {
    ($name:ident, $t:ty) => {
        pub(crate) fn $name(&mut self, what: &str) -> Result<$t, String> {
            const N: usize = std::mem::size_of::<$t>();
            let b: [u8; N] = self
                .take(N, what)?
                .try_into()
                .expect("take returns N bytes");
            Ok(if self.big {
                <$t>::from_be_bytes(b)
            } else {
                <$t>::from_le_bytes(b)
            })
        }
    };
}

impl<'a> Reader<'a> {
    /// A reader at `pos` of `bytes`.
    pub(crate) fn new(bytes: &'a [u8], pos: usize, big: bool, v1: bool) -> Reader<'a> {
        Reader {
            bytes,
            pos,
            big,
            v1,
            budget: MAX_ARRAY_ELEMENTS,
        }
    }

    /// Current offset in the file.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what} at offset {} needs {n} bytes, only {} left (truncated file)",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    read_num!(u8, u8);
    read_num!(i8, i8);
    read_num!(u16, u16);
    read_num!(i16, i16);
    read_num!(u32, u32);
    read_num!(i32, i32);
    read_num!(u64, u64);
    read_num!(i64, i64);
    read_num!(f32, f32);
    read_num!(f64, f64);

    /// A count or length: u64, or u32 in GGUF v1.
    pub(crate) fn count(&mut self, what: &str) -> Result<u64, String> {
        if self.v1 {
            Ok(self.u32(what)? as u64)
        } else {
            self.u64(what)
        }
    }

    /// Size of a count field (8, or 4 in v1).
    pub(crate) fn count_size(&self) -> usize {
        if self.v1 {
            4
        } else {
            8
        }
    }

    /// A length-prefixed string (invalid UTF-8 is replaced).
    pub(crate) fn string(&mut self, what: &str) -> Result<String, String> {
        let at = self.pos;
        let n = self.count(what)?;
        if n > self.remaining() as u64 {
            return Err(format!(
                "{what} at offset {at} has length {n}, only {} bytes left (truncated file?)",
                self.remaining()
            ));
        }
        let b = self.take(n as usize, what)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// A length-prefixed string that names something (a key, a tensor): invalid UTF-8 is an
    /// error, since replacing it could make two different names equal.
    pub(crate) fn name(&mut self, what: &str) -> Result<String, String> {
        let at = self.pos;
        let n = self.count(what)?;
        if n > self.remaining() as u64 {
            return Err(format!(
                "{what} at offset {at} has length {n}, only {} bytes left (truncated file?)",
                self.remaining()
            ));
        }
        let b = self.take(n as usize, what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| format!("{what} at offset {at} is not valid UTF-8"))
    }

    /// Smallest encoded size of one value of type `ty` (for bounding counts).
    fn min_size(&self, ty: u32) -> usize {
        match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => self.count_size(),
            _ => 4 + self.count_size(), // array: element type + count
        }
    }

    /// One metadata value of type id `ty`.
    pub(crate) fn value(&mut self, ty: u32, key: &str) -> Result<MetaValue, String> {
        self.value_at_depth(ty, key, 0)
    }

    fn value_at_depth(&mut self, ty: u32, key: &str, depth: usize) -> Result<MetaValue, String> {
        let what = || format!("value of key `{key}`");
        Ok(match ty {
            0 => MetaValue::UInt(self.u8(&what())? as u64),
            1 => MetaValue::Int(self.i8(&what())? as i64),
            2 => MetaValue::UInt(self.u16(&what())? as u64),
            3 => MetaValue::Int(self.i16(&what())? as i64),
            4 => MetaValue::UInt(self.u32(&what())? as u64),
            5 => MetaValue::Int(self.i32(&what())? as i64),
            6 => MetaValue::Float(self.f32(&what())? as f64),
            7 => MetaValue::Bool(self.u8(&what())? != 0),
            8 => MetaValue::Str(self.string(&what())?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "key `{key}` nests arrays deeper than {MAX_ARRAY_DEPTH} levels"
                    ));
                }
                let at = self.pos;
                let elem = self.u32(&what())?;
                if !(0..=12).contains(&elem) {
                    return Err(format!(
                        "key `{key}` is an array of unknown value type {elem} (offset {at})"
                    ));
                }
                let n = self.count(&what())?;
                let fits = self.remaining() / self.min_size(elem);
                if n > fits as u64 {
                    return Err(format!(
                        "key `{key}` declares {n} array elements, but only {} bytes are left",
                        self.remaining()
                    ));
                }
                if n > self.budget {
                    return Err(format!(
                        "key `{key}`: metadata arrays hold more than {MAX_ARRAY_ELEMENTS} elements \
                         in total"
                    ));
                }
                self.budget -= n;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value_at_depth(elem, key, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::UInt(self.u64(&what())?),
            11 => MetaValue::Int(self.i64(&what())?),
            12 => MetaValue::Float(self.f64(&what())?),
            other => {
                return Err(format!(
                    "key `{key}` has unknown value type {other} (offset {})",
                    self.pos.saturating_sub(4)
                ))
            }
        })
    }
}

/// Name of GGUF value type `ty` for messages.
pub(crate) fn type_name(ty: u32) -> &'static str {
    match ty {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        8 => "string",
        9 => "array",
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_array_counts_are_rejected_before_allocating() {
        // array of u64 with 2^60 elements and nothing after it
        let mut b = 10u32.to_le_bytes().to_vec();
        b.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let mut r = Reader::new(&b, 0, false, false);
        let e = r.value(9, "k").unwrap_err();
        assert!(
            e.contains("declares 1152921504606846976 array elements"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_capped() {
        let mut b = Vec::new();
        for _ in 0..100 {
            b.extend_from_slice(&9u32.to_le_bytes());
            b.extend_from_slice(&1u64.to_le_bytes());
        }
        let mut r = Reader::new(&b, 0, false, false);
        let e = r.value(9, "k").unwrap_err();
        assert!(e.contains("nests arrays deeper"), "{e}");
    }

    #[test]
    fn big_endian_and_v1() {
        let b = [0, 0, 0, 3, b'a', b'b', b'c'];
        let mut r = Reader::new(&b, 0, true, true);
        assert_eq!(r.string("s").unwrap(), "abc");
        let b = [0, 0, 0, 0, 0, 0, 0, 9];
        let mut r = Reader::new(&b, 0, true, false);
        assert_eq!(r.value(10, "k").unwrap(), MetaValue::UInt(9));
        let mut r = Reader::new(&b, 0, false, false);
        assert!(r.string("s").unwrap_err().contains("has length"));
    }
}
