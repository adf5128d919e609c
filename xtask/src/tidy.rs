//! Source hygiene checks, run by `cargo xtask ci` and as a test.

use std::path::{Path, PathBuf};

/// Library crates: no `anyhow` (the CLI is the only crate allowed to use it).
const LIBRARY_CRATES: [&str; 5] = ["kernels", "formats", "modeldiff", "delta", "python"];

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

/// Crates that need no unsafe code and must forbid it (kernels and formats keep theirs, confined
/// to SIMD modules and `mmap.rs`).
const FORBID_UNSAFE: &[&str] = &[
    "crates/cli",
    "crates/modeldiff",
    "crates/delta",
    "crates/python",
    "xtask",
];

/// The code part of a line (before a `//` comment; good enough for this tree, whose string
/// literals do not contain `//` next to unsafe code).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

fn is_safety_comment(line: &str) -> bool {
    line.trim_start().starts_with("// SAFETY:")
}

/// Indices of lines opening an `unsafe` block that has no attached `// SAFETY:` comment.
///
/// Attached means: in the run of `//` comment lines (attributes such as `#[cfg]` may sit between)
/// directly above the line where the block's statement starts, or as the first line inside the
/// block. A statement that starts on an earlier line (the previous line ends with `=`, `(` or
/// `,`) is followed back to that line first. A comment a few lines further up does not count.
pub(crate) fn unsafe_blocks_without_safety(lines: &[&str]) -> Vec<usize> {
    let mut bad = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let c = code(l);
        let Some(at) = c.find(UNSAFE_BLOCK) else {
            continue;
        };
        // First line inside a block that opens at the end of this line.
        if c[at + UNSAFE_BLOCK.len()..].trim().is_empty()
            && lines.get(i + 1).is_some_and(|n| is_safety_comment(n))
        {
            continue;
        }
        // The line the statement starts on.
        let mut start = i;
        while start > 0 {
            let prev = code(lines[start - 1]).trim_end();
            if prev.ends_with('=') || prev.ends_with('(') || prev.ends_with(',') {
                start -= 1;
            } else {
                break;
            }
        }
        // The comment run directly above it.
        let mut j = start;
        let mut found = false;
        while j > 0 {
            let above = lines[j - 1].trim_start();
            if above.starts_with("#[") {
                j -= 1;
            } else if above.starts_with("//")
                && !above.starts_with("///")
                && !above.starts_with("//!")
            {
                if is_safety_comment(above) {
                    found = true;
                    break;
                }
                j -= 1;
            } else {
                break;
            }
        }
        if !found {
            bad.push(i);
        }
    }
    bad
}

/// Returns every problem found, one line each.
pub(crate) fn check(root: &Path) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches", "fuzz"] {
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
        for i in unsafe_blocks_without_safety(&lines) {
            problems.push(format!(
                "{rel}:{}: `unsafe` block without a `// SAFETY:` comment directly attached \
                 (right above its statement, or on the first line inside the block)",
                i + 1
            ));
        }
    }
    for c in FORBID_UNSAFE {
        let file = if c.ends_with("cli") || *c == "xtask" {
            "src/main.rs"
        } else {
            "src/lib.rs"
        };
        let text = std::fs::read_to_string(root.join(c).join(file)).unwrap_or_default();
        if !text.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{c}/{file}: crate needs no unsafe, so it must say `#![forbid(unsafe_code)]`"
            ));
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

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn safety_comments_must_be_attached() {
        let ub = super::UNSAFE_BLOCK;
        // Directly above, possibly several lines long, possibly with an attribute between.
        let ok = format!("// SAFETY: fine\n// more\n#[cfg(unix)]\nlet x = {ub} f() }};");
        assert!(super::unsafe_blocks_without_safety(&lines(&ok)).is_empty());
        // Above a statement that starts on an earlier line.
        let ok = format!("// SAFETY: fine\nlet x =\n    {ub} f() }};");
        assert!(super::unsafe_blocks_without_safety(&lines(&ok)).is_empty());
        // First line inside the block.
        let ok = format!("let x = {ub}\n    // SAFETY: fine\n    f()\n}};");
        assert!(super::unsafe_blocks_without_safety(&lines(&ok)).is_empty());
        // A comment further up, separated by code, does not count.
        let bad = format!("// SAFETY: about something else\nlet y = 1;\nlet x = {ub} f() }};");
        assert_eq!(super::unsafe_blocks_without_safety(&lines(&bad)), vec![2]);
        // Nor does a doc comment or no comment at all.
        let bad = format!("/// SAFETY: docs\nlet x = {ub} f() }};\n{ub} g() }}");
        assert_eq!(
            super::unsafe_blocks_without_safety(&lines(&bad)),
            vec![1, 2]
        );
    }

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
