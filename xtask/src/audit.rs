//! `cargo xtask audit`: an offline dependency audit over `cargo metadata`.
//!
//! The RustSec advisory database cannot be had here: `cargo-audit` and the `rustsec` crate fetch
//! it with git from GitHub, no crate on crates.io ships it, and this machine reaches only the
//! package registries. So this checks what the dependency graph itself tells: every package's
//! licence expression must be satisfiable from [`ALLOWED_LICENSES`], and packages present in more
//! than one version are listed as warnings, failing only for names on [`DENY_DUPLICATES`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Licences we accept in the dependency graph (SPDX identifiers): permissive licences and
/// file-level copyleft (MPL-2.0).
pub(crate) const ALLOWED_LICENSES: &[&str] = &[
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "CC0-1.0",
    "MPL-2.0",
    "BSL-1.0",
    "Unlicense",
    // University of Illinois/NCSA (LLVM's former licence; libFuzzer, in the fuzz workspace).
    "NCSA",
];

/// Crates that must exist in one version only: their types or on-disk formats cross our API
/// (two `serde`s or `half`s would not interoperate; two `zstd`s or `memmap2`s would double the
/// code that handles untrusted bytes).
pub(crate) const DENY_DUPLICATES: &[&str] = &[
    "serde",
    "serde_json",
    "half",
    "safetensors",
    "memmap2",
    "zstd",
    "lz4_flex",
    "libc",
];

/// Runs the audit on the root workspace and on the fuzz workspace.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for manifest in [root.join("Cargo.toml"), root.join("fuzz/Cargo.toml")] {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--manifest-path",
            ])
            .arg(&manifest)
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata --manifest-path {} failed: {}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo metadata output: {e}"))?;
        let report = check(&meta);
        eprintln!(
            "xtask: audit {}: {} packages, {} licence problem(s), {} duplicated name(s)",
            manifest.strip_prefix(root).unwrap_or(&manifest).display(),
            report.packages,
            report.problems.len(),
            report.duplicates.len()
        );
        for (name, versions) in &report.duplicates {
            let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
            if DENY_DUPLICATES.contains(&name.as_str()) {
                problems.push(format!(
                    "{name} is present in versions {}",
                    versions.join(", ")
                ));
            } else {
                eprintln!("xtask: warning: {name} in versions {}", versions.join(", "));
            }
        }
        problems.extend(report.problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// What [`check`] found in one `cargo metadata` document.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) packages: usize,
    pub(crate) problems: Vec<String>,
    pub(crate) duplicates: BTreeMap<String, BTreeSet<String>>,
}

/// Checks licences and collects duplicate names; the workspace's own packages are skipped.
pub(crate) fn check(meta: &serde_json::Value) -> Report {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
        .unwrap_or_default();
    let mut report = Report::default();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let (name, version) = (
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?"),
        );
        if p["id"].as_str().is_some_and(|id| members.contains(id)) {
            continue;
        }
        report.packages += 1;
        versions
            .entry(name.into())
            .or_default()
            .insert(version.into());
        match p["license"].as_str() {
            None => report.problems.push(format!(
                "{name} {version}: no SPDX licence expression (license-file only); review it and allow it by name"
            )),
            Some(expr) => match license_ok(expr) {
                Ok(true) => {}
                Ok(false) => report.problems.push(format!(
                    "{name} {version}: licence `{expr}` is not satisfiable from the allowed list"
                )),
                Err(e) => report
                    .problems
                    .push(format!("{name} {version}: cannot read licence `{expr}`: {e}")),
            },
        }
    }
    report.duplicates = versions.into_iter().filter(|(_, v)| v.len() > 1).collect();
    report
}

/// Whether an SPDX licence expression can be satisfied from [`ALLOWED_LICENSES`]: `OR` (and the
/// legacy `/`) needs one side, `AND` both, parentheses group, and `X WITH exception` counts as
/// `X` (an exception only adds permissions).
pub(crate) fn license_ok(expr: &str) -> Result<bool, String> {
    let spaced = expr
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('/', " OR ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let v = or_expr(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected `{}`", tokens[pos]));
    }
    Ok(v)
}

fn or_expr(t: &[&str], pos: &mut usize) -> Result<bool, String> {
    let mut v = and_expr(t, pos)?;
    while t.get(*pos) == Some(&"OR") {
        *pos += 1;
        v |= and_expr(t, pos)?;
    }
    Ok(v)
}

fn and_expr(t: &[&str], pos: &mut usize) -> Result<bool, String> {
    let mut v = atom(t, pos)?;
    while t.get(*pos) == Some(&"AND") {
        *pos += 1;
        v &= atom(t, pos)?;
    }
    Ok(v)
}

fn atom(t: &[&str], pos: &mut usize) -> Result<bool, String> {
    match t.get(*pos) {
        Some(&"(") => {
            *pos += 1;
            let v = or_expr(t, pos)?;
            if t.get(*pos) != Some(&")") {
                return Err("unbalanced parenthesis".into());
            }
            *pos += 1;
            Ok(v)
        }
        Some(id) if !matches!(*id, ")" | "AND" | "OR" | "WITH") => {
            *pos += 1;
            if t.get(*pos) == Some(&"WITH") {
                *pos += 2;
            }
            Ok(ALLOWED_LICENSES.contains(id))
        }
        other => Err(format!("expected a licence, found {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_expressions() {
        for ok in [
            "MIT",
            "MIT OR Apache-2.0",
            "MIT/Apache-2.0",
            "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "MIT OR Apache-2.0 OR LGPL-2.1-or-later",
        ] {
            assert_eq!(license_ok(ok), Ok(true), "{ok}");
        }
        for bad in [
            "GPL-3.0",
            "MIT AND GPL-2.0",
            "(GPL-2.0 OR LGPL-2.1) AND MIT",
        ] {
            assert_eq!(license_ok(bad), Ok(false), "{bad}");
        }
        assert!(license_ok("MIT OR").is_err());
        assert!(license_ok("(MIT").is_err());
    }

    #[test]
    fn duplicates_and_members() {
        let meta = serde_json::json!({
            "workspace_members": ["ours 0.1.0"],
            "packages": [
                {"id": "ours 0.1.0", "name": "ours", "version": "0.1.0", "license": null},
                {"id": "a 1", "name": "a", "version": "1.0.0", "license": "MIT"},
                {"id": "a 2", "name": "a", "version": "2.0.0", "license": "GPL-3.0"},
                {"id": "b", "name": "b", "version": "1.0.0", "license": null}
            ]
        });
        let r = check(&meta);
        assert_eq!(r.packages, 3);
        assert_eq!(r.duplicates.len(), 1);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    }
}
