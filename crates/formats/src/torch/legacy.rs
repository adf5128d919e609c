//! The legacy container of `torch.save` (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`).
//!
//! Layout (`torch/serialization.py`, `_legacy_save` / `_legacy_load`): five pickles in a row —
//! the magic number `0x1950a86a20f9469cfc6c`, the protocol version `1001`, a system-info dict
//! (`little_endian`, `type_sizes`), the object (storages as persistent ids
//! `('storage', class, root_key, location, numel, view_metadata)`), and the list of storage
//! keys — then, for each key in that order, an 8-byte little-endian element count followed by
//! the storage's bytes.
//!
//! Storage bytes are little-endian whatever machine saved them: `THPStorage_writeFileRaw`
//! converts to little-endian on write and `THPStorage_readFileRaw` converts back on load
//! (`torch/csrc/serialization.cpp`); `little_endian` in the system info only records the
//! saving machine, and is shown in the variant.

use std::collections::HashMap;
use std::path::Path;

use super::pickle::{self, Loaded, StorageRef, Value};
use super::{finish, views, Container, Located, FORMAT};
use crate::dtype::ByteOrder;
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Model, Property, PropertyKey};

/// The magic number, little-endian, as `LONG1` stores it.
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The magic number as protocol 0 writes it (`L119547037146038801333356L`).
const MAGIC_TEXT: &str = "119547037146038801333356";

/// The only legacy protocol version PyTorch has written.
const PROTOCOL_VERSION: i64 = 1001;

/// Whether a file starts with the pickled legacy magic number.
pub(crate) fn is_legacy(head: &[u8]) -> bool {
    let binary = head.len() >= 14
        && head[0] == 0x80
        && head[1] <= 5
        && head[2] == 0x8a
        && head[3] == 10
        && head[4..14] == MAGIC;
    let text = head.starts_with(b"L") && head[1..].starts_with(MAGIC_TEXT.as_bytes());
    binary || text
}

/// Opens a legacy checkpoint mapped in `storage`.
pub(crate) fn open(path: &Path, storage: Storage) -> Result<Model> {
    let bad = |detail: String| Error::malformed(path, FORMAT, detail);
    let bytes = storage.bytes();
    let mut header = Loaded::default();
    let next = |what: &str, pos: usize, into: &mut Loaded| {
        pickle::load(bytes, pos, into).map_err(|e| bad(format!("legacy {what} pickle: {e}")))
    };
    let (magic, pos) = next("magic number", 0, &mut header)?;
    let magic_ok = match &magic {
        Value::BigInt(b) => b[..] == MAGIC,
        Value::Str(s) => s.trim_start_matches("int ") == MAGIC_TEXT,
        _ => false,
    };
    if !magic_ok {
        return Err(bad("first pickle is not the legacy magic number".into()));
    }
    let (version, pos) = next("protocol version", pos, &mut header)?;
    if !matches!(version, Value::Int(PROTOCOL_VERSION)) {
        return Err(Error::Unsupported {
            path: path.into(),
            detail: format!(
                "legacy protocol version {version:?}; only {PROTOCOL_VERSION} is known"
            ),
        });
    }
    let (sys_info, pos) = next("system info", pos, &mut header)?;
    let big_endian_saver = matches!(
        super::dict_get(&header, &sys_info, "little_endian"),
        Some(Value::Bool(false))
    );
    let mut loaded = Loaded::default();
    let (root, pos) = next("object", pos, &mut loaded)?;
    let mut keys_loaded = Loaded::default();
    let (keys, mut pos) = next("storage keys", pos, &mut keys_loaded)?;
    let keys: Vec<String> = match &keys {
        Value::Obj(i) => match &keys_loaded.objs[*i] {
            pickle::Obj::List(l) => l
                .iter()
                .map(|k| match k {
                    Value::Str(s) => Ok(s.to_string()),
                    Value::Int(n) => Ok(n.to_string()),
                    _ => Err(bad("storage key list holds a non-string".into())),
                })
                .collect::<Result<_>>()?,
            _ => return Err(bad("storage key list is not a list".into())),
        },
        _ => return Err(bad("storage key list is not a list".into())),
    };

    // What the object pickle says about each root storage: its class and element count.
    let mut roots: HashMap<&str, &StorageRef> = HashMap::new();
    for s in &loaded.storages {
        match roots.get(s.key.as_str()) {
            Some(r) if r.numel != s.numel || r.kind != s.kind => {
                return Err(bad(format!(
                    "storage `{}` is declared twice with different types or sizes",
                    s.key
                )))
            }
            Some(_) => {}
            None => {
                roots.insert(s.key.as_str(), s);
            }
        }
    }
    // Walk the data section: each storage in key order, a count then its bytes.
    let mut at: HashMap<String, (usize, u64)> = HashMap::with_capacity(keys.len());
    for key in &keys {
        let r = roots.get(key.as_str()).ok_or_else(|| {
            bad(format!(
                "storage `{key}` is listed but no object refers to it, so its element size is unknown"
            ))
        })?;
        let count_bytes = bytes.get(pos..pos + 8).ok_or_else(|| {
            bad(format!(
                "storage `{key}`: element count at offset {pos} is past the end of the file ({} bytes)",
                bytes.len()
            ))
        })?;
        let count = u64::from_le_bytes(count_bytes.try_into().expect("8 bytes"));
        if count != r.numel {
            return Err(bad(format!(
                "storage `{key}` stores {count} elements, its reference declares {}",
                r.numel
            )));
        }
        let len = super::declared_bytes(path, r)?.unwrap_or(0);
        let start = pos + 8;
        let end = (start as u64)
            .checked_add(len)
            .filter(|&e| e <= bytes.len() as u64)
            .ok_or_else(|| {
                bad(format!(
                    "storage `{key}` needs {len} bytes at offset {start}, file has {}",
                    bytes.len()
                ))
            })?;
        if at.insert(key.clone(), (start, len)).is_some() {
            return Err(bad(format!("storage `{key}` is listed twice")));
        }
        pos = end as usize;
    }

    let locate = |s: &StorageRef| -> Result<Located> {
        let &(start, len) = at.get(&s.key).ok_or_else(|| {
            bad(format!(
                "storage `{}` is not in the storage key list",
                s.key
            ))
        })?;
        let (mut start, mut len) = (start as u64, len);
        if let Some((view_key, offset, size)) = &s.view {
            let es = super::kind_size(s.kind).unwrap_or(1);
            let in_bounds = offset.checked_add(*size).is_some_and(|e| e <= s.numel);
            if !in_bounds {
                return Err(bad(format!(
                    "storage view `{view_key}` ({size} elements at {offset}) is past the end of storage `{}` ({} elements)",
                    s.key, s.numel
                )));
            }
            start += offset * es;
            len = size * es;
        }
        Ok(Located {
            storage: 0,
            start: start as usize,
            len: len as usize,
            file_offset: start,
        })
    };
    let v = views(path, &loaded, &root, ByteOrder::Little, locate)?;
    finish(
        path,
        v,
        vec![storage],
        Container {
            variant: if big_endian_saver {
                "legacy (saved on a big-endian machine)"
            } else {
                "legacy"
            },
            order: ByteOrder::Little,
            properties: vec![Property::int(PropertyKey::Version, PROTOCOL_VERSION)],
        },
    )
}
