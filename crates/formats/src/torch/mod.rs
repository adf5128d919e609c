//! PyTorch checkpoints (`torch.save`), read without running their pickle.
//!
//! Two containers: the zip archive of PyTorch ≥ 1.6 ([`zip`]: `<archive>/data.pkl`,
//! `<archive>/data/<key>`, `<archive>/byteorder`) and the legacy sequence of pickles
//! ([`legacy`]: magic number, protocol version, system info, the object, the storage keys, then
//! the raw storages). Both load their object pickle with the restricted reader of [`pickle`],
//! which yields containers, plain values, storage references and tensor views; this module
//! names the tensors, keeps the plain values as metadata and turns every view into a
//! [`TensorInfo`] after checking it lies inside its storage.
//!
//! Naming: nested dicts (and lists) are flattened with `.`; when the top-level object is a dict
//! whose `state_dict`, `model_state_dict`, `model` or `module` entry holds tensors, the
//! tensors are taken from that entry with the prefix dropped (so `torch.save({"state_dict":
//! sd, "epoch": 3})` has the names of `sd`), the other entries' plain values become metadata,
//! and tensors outside it (optimizer state) are left out with a warning. A pickled `nn.Module`
//! (an opaque object whose state has `_parameters`, `_buffers`, `_modules`) is named as its
//! `state_dict()` would be.

mod legacy;
mod pickle;
mod zip;

use std::collections::HashMap;
use std::path::Path;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Format, MetaValue, Model, Property, PropertyKey, TensorInfo};
use pickle::{Loaded, Obj, StorageKind, StorageRef, Value};

pub(crate) use legacy::{is_legacy, open as open_legacy};
pub(crate) use zip::{is_torch_zip, open_zip};

/// Format name in messages.
pub(crate) const FORMAT: &str = "pytorch";

/// Top-level entries whose tensors are the model, in the order they are tried.
const STATE_KEYS: [&str; 4] = ["state_dict", "model_state_dict", "model", "module"];

/// Where the bytes of one storage are: `len` bytes at `start` of `storages[storage]`, which is
/// at `file_offset` in the file.
#[derive(Clone, Copy, Debug)]
struct Located {
    storage: usize,
    start: usize,
    len: usize,
    file_offset: u64,
}

/// Element size of a storage class (bytes for untyped storages); `None` for unsupported ones.
fn kind_size(kind: StorageKind) -> Option<u64> {
    match kind {
        StorageKind::Typed(d) => Some(d.block_bytes() as u64),
        StorageKind::Untyped => Some(1),
        StorageKind::Unsupported(_) => None,
    }
}

/// Bytes a storage reference declares (`numel` × its element size), checked.
fn declared_bytes(path: &Path, s: &StorageRef) -> Result<Option<u64>> {
    let Some(es) = kind_size(s.kind) else {
        return Ok(None);
    };
    s.numel.checked_mul(es).map(Some).ok_or_else(|| {
        Error::malformed(
            path,
            FORMAT,
            format!("storage `{}` size {} overflows", s.key, s.numel),
        )
    })
}

/// Everything the object pickle gave: named tensors, metadata, and what a user should know.
#[derive(Default)]
struct Collected {
    tensors: Vec<(String, usize)>,
    meta: Vec<(String, MetaValue)>,
    opaque: Vec<(String, String)>,
}

struct Walker<'a> {
    path: &'a Path,
    loaded: &'a Loaded,
    /// Values left to visit: containers shared through the memo can make a small pickle
    /// describe an exponentially large tree, so the walk is bounded in total, not only in depth.
    budget: std::cell::Cell<usize>,
}

/// Most values the naming walk visits (a state dict visits a few per tensor).
const MAX_VISITS: usize = 1 << 24;

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Walker<'_> {
    /// The value as plain metadata, when it (and everything in it) is plain.
    /// Spends one visit; `false` when the budget is gone.
    fn visit(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    fn plain(&self, v: &Value, depth: usize) -> Option<MetaValue> {
        if depth > pickle::MAX_DEPTH || !self.visit() {
            return None;
        }
        Some(match v {
            Value::None => MetaValue::Json(serde_json::Value::Null),
            Value::Bool(b) => MetaValue::Bool(*b),
            Value::Int(i) => MetaValue::Int(*i),
            Value::Float(f) => MetaValue::Float(*f),
            Value::Str(s) => MetaValue::Str(s.to_string()),
            Value::BigInt(b) => MetaValue::Str(format!("int of {} bytes", b.len())),
            Value::Bytes(b) => MetaValue::Str(String::from_utf8_lossy(b).into_owned()),
            Value::Global(g) => match &**g {
                pickle::Global::Dtype(_, n) => MetaValue::Str(format!("torch.{n}")),
                _ => return None,
            },
            Value::Tuple(items) => self.plain_seq(items, depth)?,
            Value::Obj(i) => match &self.loaded.objs[*i] {
                Obj::List(items) | Obj::Set(items) => self.plain_seq(items, depth)?,
                _ => return None,
            },
            Value::Storage(_) | Value::Tensor(_) => return None,
        })
    }

    /// A short Python-like rendering of a value, for messages (at most about 80 characters).
    fn repr(&self, v: &Value, depth: usize) -> String {
        let s = match v {
            _ if depth > 3 => "…".to_string(),
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => format!("{:?}", s.as_ref()),
            Value::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
            Value::Tuple(t) => {
                let items: Vec<String> =
                    t.iter().take(8).map(|x| self.repr(x, depth + 1)).collect();
                format!("({})", items.join(", "))
            }
            Value::Global(g) => g.name(),
            Value::Tensor(_) => "<tensor>".into(),
            _ => "…".into(),
        };
        if s.chars().count() > 80 {
            s.chars().take(79).chain(['…']).collect()
        } else {
            s
        }
    }

    fn plain_seq(&self, items: &[Value], depth: usize) -> Option<MetaValue> {
        items
            .iter()
            .map(|x| self.plain(x, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(MetaValue::Array)
    }

    /// The dict's items with string keys, duplicates resolved as Python does (the last value
    /// wins, at the first key's position); keys that are not strings or numbers are reported.
    fn dict_items<'v>(
        &self,
        items: &'v [(Value, Value)],
        name: &str,
        out: &mut Collected,
    ) -> Vec<(String, &'v Value)> {
        let mut pos: HashMap<String, usize> = HashMap::with_capacity(items.len());
        let mut list: Vec<(String, &Value)> = Vec::with_capacity(items.len());
        for (k, v) in items {
            let key = match k {
                Value::Str(s) => s.to_string(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                _ => {
                    out.opaque
                        .push((name.to_string(), "a dict key that is not a string".into()));
                    continue;
                }
            };
            match pos.get(&key) {
                Some(&p) => list[p].1 = v,
                None => {
                    pos.insert(key.clone(), list.len());
                    list.push((key, v));
                }
            }
        }
        list
    }

    fn walk(&self, v: &Value, name: &str, depth: usize, out: &mut Collected) -> Result<()> {
        if !self.visit() {
            return Err(Error::malformed(
                self.path,
                FORMAT,
                format!("the pickled objects are too large to name (more than {MAX_VISITS} values visited)"),
            ));
        }
        if depth > pickle::MAX_DEPTH {
            return Err(Error::malformed(
                self.path,
                FORMAT,
                format!(
                    "objects nest deeper than {} levels at `{name}`",
                    pickle::MAX_DEPTH
                ),
            ));
        }
        let meta_name = || {
            if name.is_empty() {
                "value".to_string()
            } else {
                name.to_string()
            }
        };
        if let Some(p) = self.plain(v, depth) {
            out.meta.push((meta_name(), p));
            return Ok(());
        }
        match v {
            Value::Tensor(t) => out.tensors.push((name.to_string(), *t)),
            Value::Tuple(items) => {
                for (i, x) in items.iter().enumerate() {
                    self.walk(x, &join(name, &i.to_string()), depth + 1, out)?;
                }
            }
            Value::Obj(i) => match &self.loaded.objs[*i] {
                Obj::List(items) => {
                    for (i, x) in items.iter().enumerate() {
                        self.walk(x, &join(name, &i.to_string()), depth + 1, out)?;
                    }
                }
                Obj::Dict { items, .. } => {
                    // An OrderedDict's BUILD state (`_metadata`, module versions) is left out.
                    for (k, x) in self.dict_items(items, name, out) {
                        self.walk(x, &join(name, &k), depth + 1, out)?;
                    }
                }
                Obj::Set(_) => out
                    .opaque
                    .push((meta_name(), "a set of non-plain values".into())),
                Obj::Call { func, args, state } => {
                    out.opaque
                        .push((meta_name(), format!("{func}{}", self.repr(args, 0))));
                    if let Some(state) = state {
                        self.walk_state(state, name, depth, out)?;
                    }
                }
            },
            Value::Storage(_) => out.opaque.push((meta_name(), "a bare storage".into())),
            Value::Global(g) => out
                .opaque
                .push((meta_name(), format!("a reference to `{}`", g.name()))),
            _ => {}
        }
        Ok(())
    }

    /// The `BUILD` state of an opaque object: an `nn.Module`'s `_parameters`, `_buffers` and
    /// `_modules` are named as `state_dict()` names them; any other state is walked as is.
    fn walk_state(
        &self,
        state: &Value,
        name: &str,
        depth: usize,
        out: &mut Collected,
    ) -> Result<()> {
        let items = match state {
            Value::Obj(i) => match &self.loaded.objs[*i] {
                Obj::Dict { items, .. } => Some(items),
                _ => None,
            },
            _ => None,
        };
        let Some(items) = items else {
            return self.walk(state, name, depth + 1, out);
        };
        let list = self.dict_items(items, name, out);
        let is_module = list
            .iter()
            .any(|(k, _)| k == "_modules" || k == "_parameters");
        if !is_module {
            for (k, x) in list {
                self.walk(x, &join(name, &k), depth + 1, out)?;
            }
            return Ok(());
        }
        for (k, x) in list {
            if matches!(k.as_str(), "_parameters" | "_buffers" | "_modules") {
                if let Value::Obj(i) = x {
                    if let Obj::Dict { items, .. } = &self.loaded.objs[*i] {
                        for (k2, y) in self.dict_items(items, name, out) {
                            self.walk(y, &join(name, &k2), depth + 2, out)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Finds `key` in a dict value.
fn dict_get<'a>(loaded: &'a Loaded, v: &Value, key: &str) -> Option<&'a Value> {
    let Value::Obj(i) = v else { return None };
    let Obj::Dict { items, .. } = &loaded.objs[*i] else {
        return None;
    };
    items
        .iter()
        .rev()
        .find(|(k, _)| matches!(k, Value::Str(s) if &**s == key))
        .map(|(_, v)| v)
}

/// What [`collect`] decided: the named tensors and metadata, and the state entry used.
struct Named {
    all: Collected,
    prefix: Option<&'static str>,
    left_out: Vec<String>,
}

/// Names everything under `root`.
fn collect(path: &Path, loaded: &Loaded, root: &Value) -> Result<Named> {
    let w = Walker {
        path,
        loaded,
        budget: std::cell::Cell::new(MAX_VISITS),
    };
    for key in STATE_KEYS {
        let Some(sd) = dict_get(loaded, root, key) else {
            continue;
        };
        let mut inner = Collected::default();
        w.walk(sd, "", 1, &mut inner)?;
        if inner.tensors.is_empty() {
            continue;
        }
        // The other top-level entries: plain values are kept, tensors are not the model's.
        let mut rest = Collected::default();
        let Value::Obj(i) = root else {
            unreachable!("dict_get found a dict")
        };
        let Obj::Dict { items, .. } = &loaded.objs[*i] else {
            unreachable!("dict_get found a dict")
        };
        for (k, x) in w.dict_items(items, "", &mut rest) {
            if k != key {
                w.walk(x, &k, 1, &mut rest)?;
            }
        }
        inner.meta.extend(rest.meta);
        inner.opaque.extend(rest.opaque);
        return Ok(Named {
            all: inner,
            prefix: Some(key),
            left_out: rest.tensors.into_iter().map(|(n, _)| n).collect(),
        });
    }
    let mut all = Collected::default();
    w.walk(root, "", 0, &mut all)?;
    Ok(Named {
        all,
        prefix: None,
        left_out: Vec::new(),
    })
}

/// The parts of a checkpoint's description that differ between the zip and legacy containers.
struct Container {
    variant: &'static str,
    order: ByteOrder,
    properties: Vec<Property>,
}

/// The tensors of a checkpoint, checked against their storages, with their names' story.
struct Views {
    named: Named,
    tensors: Vec<TensorInfo>,
    skipped: Vec<String>,
    storage_count: usize,
    protocol: u8,
}

/// Names the tensors of a loaded object pickle and checks each view against the storage
/// `locate` finds for it (called once per storage key).
fn views(
    path: &Path,
    loaded: &Loaded,
    root: &Value,
    order: ByteOrder,
    mut locate: impl FnMut(&StorageRef) -> Result<Located>,
) -> Result<Views> {
    let mut named = collect(path, loaded, root)?;
    if named.all.tensors.is_empty() {
        if let Value::Obj(i) = root {
            if let Obj::Call { func, .. } = &loaded.objs[*i] {
                return Err(Error::Unsupported {
                    path: path.into(),
                    detail: format!(
                        "the checkpoint's object is built by calling `{func}`, which modeldiff \
                         never runs; no tensors found"
                    ),
                });
            }
        }
    }
    // Keyed by storage key (and legacy view key): each persistent id is a new reference.
    let mut located: HashMap<(String, Option<String>), Located> = HashMap::new();
    let mut tensors = Vec::with_capacity(named.all.tensors.len());
    let mut skipped: Vec<String> = Vec::new();
    for (name, ti) in std::mem::take(&mut named.all.tensors) {
        let t = &loaded.tensors[ti];
        let sref = &loaded.storages[t.storage];
        let name = if name.is_empty() {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "tensor".into())
        } else {
            name
        };
        let dtype = match (&t.dtype, sref.kind) {
            (Some(Err(d)), _) => {
                skipped.push(format!("`{name}` (torch.{d})"));
                continue;
            }
            (_, StorageKind::Unsupported(what)) => {
                skipped.push(format!("`{name}` ({what})"));
                continue;
            }
            (Some(Ok(d)), _) => *d,
            (None, StorageKind::Typed(d)) => d,
            (None, StorageKind::Untyped) => DType::U8,
        };
        let cache_key = (sref.key.clone(), sref.view.as_ref().map(|v| v.0.clone()));
        let loc = match located.get(&cache_key) {
            Some(l) => *l,
            None => {
                let l = locate(sref)?;
                located.insert(cache_key, l);
                l
            }
        };
        let es = dtype.block_bytes() as u64;
        let have = loc.len as u64 / es;
        let span = crate::strided::span(&t.size, &t.stride);
        let end = span.and_then(|s| {
            if s == 0 {
                Some(t.offset)
            } else {
                t.offset.checked_add(s)
            }
        });
        let Some(end) = end.filter(|&e| e <= have) else {
            return Err(Error::malformed(
                path,
                FORMAT,
                format!(
                    "tensor `{name}` (shape {:?}, stride {:?}, offset {}) reaches past the end of \
                     storage `{}`, which holds {have} {dtype} elements",
                    t.size, t.stride, t.offset, sref.key
                ),
            ));
        };
        let (first, len) = (t.offset * es, (end - t.offset) * es);
        let mut info = TensorInfo::new(
            name,
            dtype,
            t.size.clone(),
            order,
            loc.file_offset + first,
            loc.storage,
            loc.start + first as usize,
            len as usize,
        )
        .with_strides(t.stride.clone());
        info.shard = 0;
        tensors.push(info);
    }
    Ok(Views {
        named,
        tensors,
        skipped,
        storage_count: located.len(),
        protocol: loaded.protocol,
    })
}

/// Assembles the model from its checked views and the storages they point into.
fn finish(path: &Path, v: Views, storages: Vec<Storage>, mut c: Container) -> Result<Model> {
    let mut props = vec![Property::text(PropertyKey::Variant, c.variant)];
    props.append(&mut c.properties);
    props.push(Property::text(
        PropertyKey::ByteOrder,
        match c.order {
            ByteOrder::Big => "big-endian",
            _ => "little-endian",
        },
    ));
    props.push(Property::int(PropertyKey::PickleProtocol, v.protocol));
    props.push(Property::int(PropertyKey::TensorCount, v.tensors.len()));
    props.push(Property::int(PropertyKey::StorageCount, v.storage_count));
    let named = v.named;
    if let Some(p) = named.prefix {
        props.push(Property::text(PropertyKey::StatePrefix, p));
    }
    let mut model = Model::new(
        path.into(),
        Format::PyTorch,
        v.tensors,
        storages,
        named.all.meta,
        props,
    )?;
    if let Some(p) = named.prefix {
        model.warn(format!(
            "tensors are the checkpoint's `{p}` entry; the `{p}.` prefix is dropped from their names"
        ));
    }
    if let Some(first) = named.left_out.first() {
        model.warn(format!(
            "{} tensor(s) outside `{}` are not listed (first: `{first}`)",
            named.left_out.len(),
            named.prefix.unwrap_or_default()
        ));
    }
    if let Some(first) = v.skipped.first() {
        model.warn(format!(
            "{} tensor(s) of types modeldiff cannot decode are not listed (first: {first})",
            v.skipped.len()
        ));
    }
    let opaque = &named.all.opaque;
    if !opaque.is_empty() {
        let shown: Vec<String> = opaque
            .iter()
            .take(5)
            .map(|(k, f)| format!("`{k}` ({f})"))
            .collect();
        model.warn(format!(
            "{} value(s) would need Python code to rebuild and were not run: {}{}",
            opaque.len(),
            shown.join(", "),
            if opaque.len() > 5 { ", ..." } else { "" }
        ));
    }
    Ok(model)
}
