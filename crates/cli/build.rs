//! Build script: records the git commit for `modeldiff --version`.
//!
//! Sets `MODELDIFF_GIT_SUFFIX` to ` (<short commit>)` when the source is a git checkout and
//! `git` is installed, and to nothing otherwise (a crates.io package, a tarball), so the build
//! never fails for want of git.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let suffix = git(&["rev-parse", "--short", "HEAD"])
        .map(|rev| format!(" ({rev})"))
        .unwrap_or_default();
    println!("cargo:rustc-env=MODELDIFF_GIT_SUFFIX={suffix}");
    // Rebuild when HEAD moves: the checkout's HEAD file and the branch refs it points into.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&dir).join("HEAD").display()
        );
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        println!(
            "cargo:rerun-if-changed={}",
            common.join("refs/heads").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            common.join("packed-refs").display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
}
