//! `cargo xtask aarch64`: the aarch64 target, cross-compiled on an x86-64 machine. The kernels'
//! NEON code is linted; the kernels' tests (each compares NEON with the scalar twin and with
//! decode-then-kernel, bit for bit) and the engine's (the float64 oracle among them) run under
//! qemu-user; the release CLI is built. The formats crate's tests are not run there: its
//! SIGBUS-handler tests depend on signal delivery that qemu-user does not reproduce.

use std::process::Command;

use crate::{cargo, run};

/// The Rust target.
const TARGET: &str = "aarch64-unknown-linux-gnu";
/// The cross C compiler (zstd's C code) and linker, from Debian's `gcc-aarch64-linux-gnu`.
const GCC: &str = "aarch64-linux-gnu-gcc";
/// The user-mode emulator, from Debian's `qemu-user`, and its sysroot (`libc6-arm64-cross`).
const QEMU: &str = "qemu-aarch64";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// Set to `1` (as `.ci/run` does) to make a missing tool an error instead of a skipped stage.
const REQUIRE: &str = "MODELDIFF_REQUIRE_AARCH64";

/// Runs the stage, or skips it with a note when the target or a tool is missing (an error
/// under `MODELDIFF_REQUIRE_AARCH64=1`).
pub(crate) fn run_stage() -> Result<(), String> {
    if let Some(missing) = missing() {
        let how = format!(
            "rustup target add {TARGET}; apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
        );
        if std::env::var(REQUIRE).as_deref() == Ok("1") {
            return Err(format!("aarch64 stage: {missing} ({how})"));
        }
        eprintln!("xtask: skipping the aarch64 stage: {missing} ({how})");
        return Ok(());
    }
    run(cross(cargo().args([
        "clippy",
        "--target",
        TARGET,
        "-p",
        "modeldiff-kernels",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])))?;
    run(cross(cargo().args([
        "test",
        "--release",
        "--target",
        TARGET,
        "-p",
        "modeldiff-kernels",
        "-p",
        "modeldiff",
    ])))?;
    run(cross(cargo().args([
        "build",
        "--release",
        "--target",
        TARGET,
        "-p",
        "modeldiff-cli",
    ])))
}

/// What is missing, if anything.
fn missing() -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if !installed {
        return Some(format!("the Rust target {TARGET} is not installed"));
    }
    for tool in [GCC, QEMU] {
        let works = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// `cmd` with the cross linker, C compiler and test runner set for [`TARGET`].
fn cross(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", GCC)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            format!("{QEMU} -L {SYSROOT}"),
        )
        .env("CC_aarch64_unknown_linux_gnu", GCC)
}
