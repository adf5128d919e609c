//! `hf://ORG/NAME[@REVISION][/FILE]`: models in the local Hugging Face cache, resolved offline.
//!
//! The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (the
//! order `huggingface_hub` uses). A model lives in `models--ORG--NAME/`: `refs/REVISION` holds
//! a commit hash, `snapshots/<commit>/` the files of that commit (symbolic links into
//! `blobs/`). REVISION defaults to `main`; a 40-hex-digit commit is used directly. Without
//! FILE the first of `model.safetensors.index.json`, `model.safetensors`,
//! `pytorch_model.bin.index.json`, `pytorch_model.bin` or a single `*.gguf` is opened.
//!
//! Nothing here touches the network: a model that is not in the cache is an error saying where
//! it was looked for. (The `hf-hub` crate's cache API would fit, but the crate depends on an
//! HTTP client and an async runtime even with default features off.)

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The scheme of a cache reference.
pub(crate) const SCHEME: &str = "hf://";

/// Files opened when a reference names no file, in order of preference.
const DEFAULT_FILES: [&str; 4] = [
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
];

/// A parsed `hf://` reference.
#[derive(Debug, PartialEq, Eq)]
struct HubRef {
    org: String,
    name: String,
    revision: Option<String>,
    file: Option<String>,
}

/// A reference resolved to a file of a cached snapshot.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The file to open (inside the snapshot folder).
    pub file: PathBuf,
    /// The model's folder in the cache, which every file it names must stay inside.
    pub root: PathBuf,
    /// `hf://org/name@revision (commit …)`, for the `source` property.
    pub description: String,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn parse(reference: &str) -> std::result::Result<HubRef, String> {
    let rest = reference
        .strip_prefix(SCHEME)
        .ok_or_else(|| format!("not an {SCHEME} reference"))?;
    let (org, rest) = rest
        .split_once('/')
        .ok_or("expected hf://ORG/NAME[@REVISION][/FILE]")?;
    let end = rest.find(['@', '/']).unwrap_or(rest.len());
    let name = &rest[..end];
    let mut rest = &rest[end..];
    let mut revision = None;
    if let Some(r) = rest.strip_prefix('@') {
        let end = r.find('/').unwrap_or(r.len());
        revision = Some(r[..end].to_string());
        rest = &r[end..];
    }
    let file = rest
        .strip_prefix('/')
        .filter(|f| !f.is_empty())
        .map(str::to_string);
    if !is_name(org) || !is_name(name) {
        return Err(format!(
            "`{org}/{name}` is not a repository id (letters, digits, `-`, `_`, `.`)"
        ));
    }
    if let Some(r) = &revision {
        if !is_name(r) {
            return Err(format!(
                "revision `{r}` is not a branch, tag or commit name"
            ));
        }
    }
    if let Some(f) = &file {
        if !crate::archive::is_plain_path(f) {
            return Err(format!("file `{f}` is not a plain relative path"));
        }
    }
    Ok(HubRef {
        org: org.into(),
        name: name.into(),
        revision,
        file,
    })
}

/// The cache folder, from the environment.
fn cache_dir() -> std::result::Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("HF_HUB_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("HF_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("hub"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/huggingface/hub")),
        None => Err("neither HF_HUB_CACHE, HF_HOME nor HOME is set".into()),
    }
}

/// Resolves `reference` against the cache, without touching the network.
pub(crate) fn resolve(reference: &str) -> Result<Resolved> {
    let err = |detail: String| Error::Unsupported {
        path: reference.into(),
        detail,
    };
    let r = parse(reference).map_err(err)?;
    let cache = cache_dir().map_err(err)?;
    let root = cache.join(format!("models--{}--{}", r.org, r.name));
    let id = format!("{}/{}", r.org, r.name);
    if !root.is_dir() {
        return Err(err(format!(
            "{id} is not in the Hugging Face cache (looked for {}); modeldiff never downloads: \
             fetch it first, for example with `huggingface-cli download {id}`",
            root.display()
        )));
    }
    let revision = r.revision.as_deref().unwrap_or("main");
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        let refs = root.join("refs").join(revision);
        let text = std::fs::read_to_string(&refs).map_err(|_| {
            err(format!(
                "revision `{revision}` of {id} is not in the cache (no {})",
                refs.display()
            ))
        })?;
        let c = text.trim().to_string();
        if !is_name(&c) {
            return Err(err(format!(
                "{} does not hold a commit hash",
                refs.display()
            )));
        }
        c
    };
    let snapshot = root.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(err(format!(
            "commit {commit} of {id} is not in the cache (no {})",
            snapshot.display()
        )));
    }
    let file = match &r.file {
        Some(f) => {
            let p = snapshot.join(f);
            if !p.exists() {
                return Err(err(format!(
                    "{f} is not in the cached snapshot of {id}@{revision} (no {})",
                    p.display()
                )));
            }
            p
        }
        None => pick(&snapshot).map_err(|d| err(format!("{id}@{revision}: {d}")))?,
    };
    // Snapshot files are links into `blobs/`; whatever they resolve to must stay in the model.
    let canon_root = root.canonicalize().map_err(|e| Error::io(&root, e))?;
    let canon = file.canonicalize().map_err(|e| Error::io(&file, e))?;
    if !canon.starts_with(&canon_root) {
        return Err(err(format!(
            "{} resolves outside {}",
            file.display(),
            root.display()
        )));
    }
    Ok(Resolved {
        file,
        root,
        description: format!("hf://{id}@{revision} (commit {commit})"),
    })
}

/// The file to open in a snapshot that was named without one.
fn pick(snapshot: &Path) -> std::result::Result<PathBuf, String> {
    for f in DEFAULT_FILES {
        let p = snapshot.join(f);
        if p.exists() {
            return Ok(p);
        }
    }
    let mut ggufs = Vec::new();
    let mut seen = Vec::new();
    let list = std::fs::read_dir(snapshot).map_err(|e| e.to_string())?;
    for entry in list {
        let p = entry.map_err(|e| e.to_string())?.path();
        let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(n) = n {
            if n.ends_with(".gguf") {
                ggufs.push(p.clone());
            }
            seen.push(n);
        }
    }
    ggufs.sort();
    seen.sort();
    match ggufs.len() {
        1 => Ok(ggufs.remove(0)),
        0 => Err(format!(
            "the snapshot has none of {}, or a .gguf file (it has: {}); name a file: hf://ORG/NAME/FILE",
            DEFAULT_FILES.join(", "),
            if seen.is_empty() { "nothing".into() } else { seen.join(", ") }
        )),
        n => Err(format!(
            "the snapshot has {n} .gguf files; name one: hf://ORG/NAME/FILE"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = parse("hf://org/name").unwrap();
        assert_eq!((r.org.as_str(), r.name.as_str()), ("org", "name"));
        assert_eq!((r.revision, r.file), (None, None));
        let r = parse("hf://a-b/c.d_e@v1.0/sub/model.gguf").unwrap();
        assert_eq!(r.revision.as_deref(), Some("v1.0"));
        assert_eq!(r.file.as_deref(), Some("sub/model.gguf"));
        let r = parse("hf://o/n/model.safetensors").unwrap();
        assert_eq!(
            (r.revision, r.file.as_deref()),
            (None, Some("model.safetensors"))
        );
        for bad in [
            "hf://",
            "hf://name",
            "hf://../x",
            "hf://o/..",
            "hf://o/n@../x",
            "hf://o/n@a b",
            "hf://o/n/../../etc/passwd",
            "hf://o/n//abs",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
