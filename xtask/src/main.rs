//! Project automation: `cargo xtask ci | aarch64 | python | tidy | bench | fixtures | models | protos | man | release | fuzz | audit`.
//!
//! Kept nearly dependency-free (only `serde_json`, for `cargo metadata`) so it builds in
//! seconds on a fresh machine.

#![forbid(unsafe_code)]

mod aarch64;
mod audit;
mod fuzz;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci        fmt --check, clippy -D warnings, tidy, audit, all tests (hostile corpus included), docs
            (-D warnings), examples, the engine and GGUF tests once per ISA this CPU has, the
            aarch64 stage, then 30 s of every fuzz target
  aarch64   cross-compile for aarch64-unknown-linux-gnu: clippy on the kernels (NEON), the
            kernels' and the engine's tests under qemu-aarch64, the release CLI; skipped with a
            note when the
            rustup target, gcc-aarch64-linux-gnu or qemu-user is missing (an error with
            MODELDIFF_REQUIRE_AARCH64=1, as .ci/run sets)
  python [PYTEST ARGS]
            the Python package's tests: a fresh venv in target/python-venv, `pip install
            crates/python[ray]` and the test packages, the CLI (whose JSON the bindings must
            equal), then pytest on crates/python/tests
  tidy      check //! headers, attached SAFETY comments, forbid(unsafe_code) where no unsafe is
            needed, and no anyhow in library crates
  bench [ARGS]
            the end-to-end benchmark: generates ~1 GiB pairs per dtype (F32, F16, BF16, Q8_0,
            Q4_K), a many-small-tensors pair and the real SmolLM2 pair, and measures the release
            binary, a read-only baseline and the numpy/gguf-py peers in one run (ARGS go to
            benches/src/bin/e2e.rs: --size MIB, --runs N, --peer-runs N, --only CASE,..., --keep)
  bench micro [ARGS]
            the criterion micro-benchmarks (kernels, dequant, engine, apply...; ARGS go to cargo
            bench, e.g. `-- kernels`)
  fixtures  regenerate the committed test fixtures (needs python3; makes target/venv)
  models    fetch the real test models into target/test-models and derive their oracle files
  protos    regenerate crates/formats/src/onnx/proto.rs from crates/formats/proto/onnx.proto
  man       write the man pages (target/man/modeldiff.1, one per subcommand) from the clap definitions
  release   build the release binary into target/dist
  fuzz [--seconds N] [TARGET]
            run the cargo-fuzz targets (default: every target, 60 s each) from their committed
            seeds, with the stable toolchain (--sanitizer none); prints executions per target
  audit     licence and duplicate-version check of the dependency graph (offline)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("aarch64") => aarch64::run_stage(),
        Some("python") => python(&args[1..]),
        Some("tidy") => tidy::check(&root()).map_err(|problems| problems.join("\n")),
        Some("bench") => bench(&args[1..]),
        Some("fixtures") => fixtures(),
        Some("models") => models(),
        Some("protos") => protos(),
        Some("man") => man(),
        Some("release") => release(),
        Some("fuzz") => fuzz::run(&root(), &args[1..]).map(|_| ()),
        Some("audit") => audit::run(&root()),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    tidy::check(&root()).map_err(|problems| problems.join("\n"))?;
    audit::run(&root())?;
    // The hostile-file corpus and the fuzz regressions are ordinary tests in here.
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    // Public docs must build without warnings (broken links, private items).
    run(cargo()
        .args(["doc", "--workspace", "--no-deps", "--lib"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    // Every library's example program runs.
    for (package, example) in [
        ("modeldiff-kernels", "cosine"),
        ("modeldiff-formats", "list"),
        ("modeldiff", "stages"),
        ("modeldiff-delta", "payload"),
        ("modeldiff-cli", "man"),
    ] {
        if root()
            .join(format!(
                "crates/{}/examples/{example}.rs",
                crate_dir(package)
            ))
            .exists()
        {
            run(cargo().args(["run", "--quiet", "-p", package, "--example", example]))?;
        }
    }
    // The kernels' own tests already compare every available ISA with scalar; these rerun the
    // engine's oracle tests and the GGUF dequantization tests with each implementation pinned,
    // end to end (kernels and dequantization obey the same choice).
    for (isa, available) in isas()? {
        if !available {
            eprintln!("xtask: skipping the {isa} passes: this CPU does not have it");
            continue;
        }
        for test in [
            ["-p", "modeldiff", "--test", "oracle"],
            ["-p", "modeldiff-formats", "--test", "gguf"],
        ] {
            run(cargo()
                .arg("test")
                .args(test)
                .env("MODELDIFF_FORCE_ISA", &isa))?;
        }
    }
    // NEON: linted, tested under qemu (kernels and engine), and the CLI built for aarch64.
    aarch64::run_stage()?;
    // A short fuzz smoke of every target from its committed seeds (needs cargo-fuzz, which
    // .ci/run installs).
    fuzz::run(
        &root(),
        &["--seconds".to_string(), CI_FUZZ_SECONDS.to_string()],
    )?;
    Ok(())
}

/// The directory under `crates/` of a package (its name without the `modeldiff-` prefix).
fn crate_dir(package: &str) -> &str {
    package.strip_prefix("modeldiff-").unwrap_or(package)
}

/// Every kernel implementation and whether this CPU has it, as the kernels' `cosine` example
/// reports with `--list` (so the list and the detection are the library's own).
fn isas() -> Result<Vec<(String, bool)>, String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "modeldiff-kernels",
        "--example",
        "cosine",
        "--",
        "--list",
    ]);
    eprintln!("xtask: running {cmd:?}");
    let out = cmd
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let list: Vec<(String, bool)> = text
        .lines()
        .filter_map(|l| match l.split_once(' ')? {
            (isa, "available") => Some((isa.to_string(), true)),
            (isa, "unavailable") => Some((isa.to_string(), false)),
            _ => None,
        })
        .collect();
    if list.is_empty() {
        return Err(format!("{cmd:?} listed no implementations: {text:?}"));
    }
    Ok(list)
}
/// Seconds per fuzz target in `cargo xtask ci`: enough to replay the seeds and explore a little,
/// two minutes in all.
const CI_FUZZ_SECONDS: u64 = 30;

/// Python packages the pytest suite needs besides the package and its `ray` extra (gguf pinned
/// as in tests/requirements.txt, for the same dequantization oracle).
const PYTHON_TEST_PACKAGES: &[&str] = &[
    "pytest",
    "numpy",
    "safetensors",
    "gguf==0.19.0",
    "ml_dtypes",
];

/// Builds and installs the Python package in a fresh venv, as a user would (`pip install
/// crates/python[ray]`), and runs its pytest suite against the CLI.
fn python(extra: &[String]) -> Result<(), String> {
    let dir = root().join("target/python-venv");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    let py = dir.join("bin/python");
    // The CLI in the test profile (optimised, target/debug): what `cargo xtask ci` already built
    // for its end-to-end tests, so this is nearly free after it. (A release CLI would not share
    // maturin's release artifacts: features unify differently per package.)
    run(cargo().args([
        "build",
        "--profile",
        "test",
        "--locked",
        "-p",
        "modeldiff-cli",
    ]))?;
    // maturin builds in the workspace's target/, so a second run reuses its artifacts.
    run(Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "crates/python[ray]"])
        .args(PYTHON_TEST_PACKAGES)
        .env("CARGO_TARGET_DIR", root().join("target")))?;
    let exe = format!("modeldiff{}", std::env::consts::EXE_SUFFIX);
    run(Command::new(&py)
        .args(["-m", "pytest", "crates/python/tests", "-q"])
        .args(extra)
        .env("MODELDIFF_BIN", root().join("target/debug").join(exe)))
}

fn bench(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("micro") {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "modeldiff-benches"])
            .args(&args[1..]);
        return run(&mut cmd);
    }
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "modeldiff-cli",
        "-p",
        "modeldiff-benches",
    ]))?;
    // The peers need numpy, safetensors and gguf-py: without Python the table says so.
    let python = match venv() {
        Ok(py) => Some(py),
        Err(e) => {
            eprintln!("xtask: no Python venv for the peers ({e}); their columns stay empty");
            None
        }
    };
    let target = root().join("target/release");
    let mut cmd = Command::new(target.join("e2e"));
    cmd.current_dir(root())
        .arg("--modeldiff")
        .arg(target.join("modeldiff"));
    if let Some(py) = python {
        cmd.arg("--python").arg(py);
    }
    run(cmd.args(args))
}

/// A Python virtualenv under target/ with the oracle packages.
fn venv() -> Result<PathBuf, String> {
    let dir = root().join("target/venv");
    let py = dir.join("bin/python");
    if !py.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    run(Command::new(&py).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "-r",
        "tests/requirements.txt",
    ]))?;
    Ok(py)
}

fn fixtures() -> Result<(), String> {
    let py = venv()?;
    for script in std::fs::read_to_string(root().join("tests/fixtures/generators.txt"))
        .map_err(|e| format!("tests/fixtures/generators.txt: {e}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        run(Command::new(&py).arg(script))?;
    }
    Ok(())
}

fn models() -> Result<(), String> {
    let script = root().join("../shared/models/fetch-models.sh");
    if !script.exists() {
        return Err(format!("{} not found", script.display()));
    }
    run(Command::new("bash").arg(&script).arg("target/test-models"))?;
    let py = venv()?;
    for script in std::fs::read_to_string(root().join("tests/real/oracles.txt"))
        .map_err(|e| format!("tests/real/oracles.txt: {e}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        run(Command::new(&py).arg(script).arg("target/test-models"))?;
    }
    Ok(())
}

/// The ONNX message types are generated by a tool with a workspace of its own, so prost-build
/// and protox never enter the main build; its output is committed.
fn protos() -> Result<(), String> {
    run(cargo().args([
        "run",
        "--manifest-path",
        "xtask/protogen/Cargo.toml",
        "--target-dir",
        "target/protogen",
    ]))?;
    run(cargo().args(["fmt", "--all"]))
}

/// The man pages come from the CLI's own clap definitions through its `man` example, so
/// xtask needs no dependency for them.
fn man() -> Result<(), String> {
    let dir = root().join("target/man");
    run(cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "modeldiff-cli",
            "--example",
            "man",
            "--",
        ])
        .arg(&dir))
}

fn release() -> Result<(), String> {
    run(cargo().args(["build", "--release", "--locked", "-p", "modeldiff-cli"]))?;
    let dist = root().join("target/dist");
    std::fs::create_dir_all(&dist).map_err(|e| e.to_string())?;
    let exe = format!("modeldiff{}", std::env::consts::EXE_SUFFIX);
    let name = format!(
        "modeldiff-{}-{}-{}{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        std::env::consts::EXE_SUFFIX
    );
    let tmp = dist.join(format!(".{name}.tmp"));
    std::fs::copy(root().join("target/release").join(&exe), &tmp).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, dist.join(&name)).map_err(|e| e.to_string())?;
    run(Command::new(dist.join(&name)).arg("--version"))?;
    eprintln!("xtask: built target/dist/{name}");
    Ok(())
}
