//! `cargo xtask fuzz [--seconds N] [TARGET]`: runs the cargo-fuzz targets in `fuzz/` for a
//! fixed time each, starting from the committed seeds, and reports executions per target.

use std::path::Path;
use std::process::{Command, Stdio};

/// Every fuzz target, in the order they run (`fuzz/Cargo.toml` lists the same).
pub(crate) const FUZZ_TARGETS: [&str; 6] = [
    "safetensors",
    "safetensors_index",
    "gguf",
    "apr",
    "delta_payload",
    "peft",
];

/// Seconds per target when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// Largest input the fuzzer makes (bytes): big enough for several tensors and compressed
/// payloads, small enough to keep executions fast.
const MAX_LEN: usize = 64 * 1024;

/// One target's run: name and total executions.
#[derive(Debug)]
pub(crate) struct FuzzRun {
    pub(crate) target: String,
    pub(crate) executions: u64,
}

/// Parses the arguments, runs the chosen targets, and fails on the first crash.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<Vec<FuzzRun>, String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?;
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t.to_string()),
            other => {
                return Err(format!(
                    "unknown fuzz target or option `{other}` (targets: {})",
                    FUZZ_TARGETS.join(", ")
                ))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let fuzz = root.join("fuzz");
    let ok = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("cargo-fuzz is not installed: cargo install cargo-fuzz --locked".into());
    }
    let mut runs = Vec::new();
    for t in &targets {
        let corpus = fuzz.join("corpus").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = fuzz.join("seeds").join(t);
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        let out = Command::new("cargo")
            .current_dir(&fuzz)
            .args(["fuzz", "run", "--sanitizer", "none", t])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={MAX_LEN}"))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10")
            .arg("-print_final_stats=1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let executions = executions(&log);
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "fuzz target {t} failed after {executions} executions (crash input under fuzz/artifacts/{t}/; \
                 add it to fuzz/regressions/{t}/ once fixed):\n{}",
                tail.join("\n")
            ));
        }
        eprintln!("xtask: {t}: {executions} executions, no crash");
        runs.push(FuzzRun {
            target: t.clone(),
            executions,
        });
    }
    eprintln!("xtask: fuzz summary ({seconds} s per target)");
    for r in &runs {
        eprintln!("  {:<20} {:>12} executions", r.target, r.executions);
    }
    Ok(runs)
}

/// Total executions from libFuzzer's output (`stat::number_of_executed_units: N`, or the
/// `Done N runs` line).
fn executions(log: &str) -> u64 {
    let stat = log.lines().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.lines().find_map(|l| {
            l.strip_prefix("Done ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn executions_are_read_from_libfuzzer_output() {
        assert_eq!(
            super::executions("#1 INITED\nDone 872970 runs in 11 second(s)\n"),
            872970
        );
        assert_eq!(
            super::executions("stat::number_of_executed_units: 42\nDone 41 runs in 1 second(s)"),
            42
        );
        assert_eq!(super::executions("nothing"), 0);
    }

    #[test]
    fn every_target_has_seeds_and_a_manifest_entry() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
        for t in super::FUZZ_TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{t}\"")),
                "{t} not in fuzz/Cargo.toml"
            );
            let seeds = std::fs::read_dir(root.join("fuzz/seeds").join(t))
                .unwrap()
                .count();
            assert!(seeds > 0, "no seeds for {t}");
        }
    }
}
