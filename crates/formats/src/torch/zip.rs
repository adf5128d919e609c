//! The zip container of PyTorch ≥ 1.6 (`torch.save` with the default
//! `_use_new_zipfile_serialization=True`).
//!
//! Layout (`torch/serialization.py`, `_save`; `caffe2/serialize/inline_container.cc`): one
//! top-level folder `<archive>/` holding `data.pkl` (the object pickle, storages as persistent
//! ids `('storage', class, key, location, numel)`), `data/<key>` (each storage's raw bytes,
//! stored uncompressed at a 64-byte aligned offset), `byteorder` (`little` or `big`, absent in
//! files older than PyTorch 2.1: little), `version`, `.format_version`,
//! `.storage_alignment` and `.data/serialization_id`.
//!
//! Stored storages are slices of the mapped archive (zero-copy); deflated ones (archives
//! re-zipped by other tools) are inflated once, bounded by [`MAX_INFLATED_STORAGE`].

use std::collections::HashMap;
use std::path::Path;

use super::pickle::{self, Loaded};
use super::{finish, views, Container, Located, FORMAT};
use crate::archive::{self, Entry};
use crate::dtype::ByteOrder;
use crate::error::{Error, Result};
use crate::mmap::Storage;
use crate::model::{Model, Property, PropertyKey};

/// Largest object pickle (`data.pkl`) accepted: a state dict of a million tensors pickles to
/// well under 256 MiB.
const MAX_PICKLE_BYTES: u64 = 1 << 30;

/// Largest compressed storage entry that is inflated (stored entries are mapped, any size).
const MAX_INFLATED_STORAGE: u64 = 16 << 30;

/// Largest small text entry (`byteorder`, `.format_version`, ...).
const MAX_TEXT_BYTES: u64 = 4096;

/// The folder holding `data.pkl` when the archive is a PyTorch checkpoint: exactly one entry
/// `<folder>/data.pkl`.
pub(crate) fn is_torch_zip(entries: &[Entry]) -> bool {
    entries.iter().any(|e| pickle_folder(&e.name).is_some())
}

fn pickle_folder(name: &str) -> Option<&str> {
    let (folder, file) = name.split_once('/')?;
    (file == "data.pkl").then_some(folder)
}

fn text(path: &Path, bytes: &[u8], e: &Entry) -> Result<String> {
    let b = archive::read(path, FORMAT, bytes, e, MAX_TEXT_BYTES)?;
    Ok(String::from_utf8_lossy(&b).trim().to_string())
}

/// Opens a PyTorch zip checkpoint whose archive `storage` has the validated `entries`.
pub(crate) fn open_zip(path: &Path, storage: Storage, entries: Vec<Entry>) -> Result<Model> {
    let bad = |detail: String| Error::malformed(path, FORMAT, detail);
    let bytes = storage.bytes();
    let pickles: Vec<&Entry> = entries
        .iter()
        .filter(|e| pickle_folder(&e.name).is_some())
        .collect();
    let pkl = match pickles[..] {
        [one] => one,
        [] => return Err(bad("zip archive has no `<archive>/data.pkl`".into())),
        _ => {
            return Err(bad(format!(
                "zip archive has {} `data.pkl` entries; a checkpoint has one",
                pickles.len()
            )))
        }
    };
    let folder = pickle_folder(&pkl.name)
        .expect("filtered above")
        .to_string();
    let by_name: HashMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let entry = |rel: &str| by_name.get(format!("{folder}/{rel}").as_str()).copied();

    let order = match entry("byteorder") {
        None => ByteOrder::Little,
        Some(e) => match text(path, bytes, e)?.as_str() {
            "little" => ByteOrder::Little,
            "big" => ByteOrder::Big,
            other => return Err(bad(format!("`byteorder` is `{other}`, not little or big"))),
        },
    };
    let mut properties = Vec::new();
    if let Some(e) = entry(".format_version") {
        if let Ok(v) = text(path, bytes, e)?.parse::<u64>() {
            properties.push(Property::int(PropertyKey::Version, v));
        }
    }
    if let Some(e) = entry(".storage_alignment") {
        if let Ok(v) = text(path, bytes, e)?.parse::<u64>() {
            properties.push(Property::int(PropertyKey::Alignment, v));
        }
    }

    let data = archive::read(path, FORMAT, bytes, pkl, MAX_PICKLE_BYTES)?;
    let mut loaded = Loaded::default();
    let (root, _) =
        pickle::load(&data, 0, &mut loaded).map_err(|e| bad(format!("`{}`: {e}", pkl.name)))?;

    let mut inflated: Vec<Storage> = Vec::new();
    let locate = |s: &pickle::StorageRef| -> Result<Located> {
        if !archive::is_plain_path(&s.key) || s.key.contains('/') {
            return Err(bad(format!(
                "storage key `{}` is not a plain entry name inside `{folder}/data/`",
                s.key
            )));
        }
        let e = entry(&format!("data/{}", s.key)).ok_or_else(|| {
            bad(format!(
                "storage `{}` has no entry `{folder}/data/{}`",
                s.key, s.key
            ))
        })?;
        let need = super::declared_bytes(path, s)?.unwrap_or(0);
        if e.size < need {
            return Err(bad(format!(
                "storage `{}` declares {} elements ({need} bytes) but `{}` holds {} bytes",
                s.key, s.numel, e.name, e.size
            )));
        }
        match archive::stored(bytes, e) {
            Some(_) => Ok(Located {
                storage: 0,
                start: e.data_start as usize,
                len: need as usize,
                file_offset: e.data_start,
            }),
            None => {
                let b = archive::read(path, FORMAT, bytes, e, MAX_INFLATED_STORAGE)?;
                inflated.push(Storage::Owned(b.into_owned()));
                // As for other compressed payloads, offsets are inside the inflated bytes.
                Ok(Located {
                    storage: inflated.len(),
                    start: 0,
                    len: need as usize,
                    file_offset: 0,
                })
            }
        }
    };
    let v = views(path, &loaded, &root, order, locate)?;
    drop(data);
    let mut storages = vec![storage];
    storages.extend(inflated);
    finish(
        path,
        v,
        storages,
        Container {
            variant: "zip",
            order,
            properties,
        },
    )
}
