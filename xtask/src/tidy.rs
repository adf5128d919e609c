//! Source hygiene checks, run by `cargo xtask ci` and as a test.

use std::path::{Path, PathBuf};

/// Library crates: no `anyhow` (the CLI is the only crate allowed to use it).
const LIBRARY_CRATES: [&str; 4] = ["kernels", "formats", "modeldiff", "delta"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The start of an unsafe block (spelt in two pieces so this file does not match itself).
const UNSAFE_BLOCK: &str = concat!("unsafe", " {");

/// Returns every problem found, one line each.
pub(crate) fn check(root: &Path) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let rel = f.strip_prefix(root).unwrap_or(f).display().to_string();
        // Module files under src/ open with a `//!` doc; tests and benches are exempt
        // only if they are not modules of a crate (they still get one by convention).
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") && !first.starts_with("#![") {
            problems.push(format!("{rel}: does not start with a `//!` header"));
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap_or("");
            if code.contains(UNSAFE_BLOCK) {
                let window = &lines[i.saturating_sub(4)..=i];
                if !window.iter().any(|w| w.contains("// SAFETY:")) {
                    problems.push(format!(
                        "{rel}:{}: `unsafe` block without a `// SAFETY:` comment",
                        i + 1
                    ));
                }
            }
        }
    }
    for c in LIBRARY_CRATES {
        let manifest = root.join("crates").join(c).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        let deps = text.split("[dev-dependencies]").next().unwrap_or("");
        if deps.lines().any(|l| l.trim_start().starts_with("anyhow")) {
            problems.push(format!(
                "crates/{c}/Cargo.toml: library crates must not depend on anyhow"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tree_is_tidy() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        if let Err(p) = super::check(root) {
            panic!("tidy found problems:\n{}", p.join("\n"));
        }
    }
}
