//! The hostile-file corpus (`tests/hostile/files/`, written by `tests/hostile/gen_hostile.py`):
//! every file, through `modeldiff inspect F` and `modeldiff diff F F`, must exit 2 with exactly
//! one line on stderr naming the file and the problem, without a panic, in under a second and
//! under 100 MiB of peak memory (measured per child with `wait4`).

#![cfg(unix)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Peak resident memory allowed per run.
const MAX_RSS_BYTES: u64 = 100 << 20;
/// Wall time allowed per run.
const MAX_TIME: Duration = Duration::from_secs(1);
/// The corpus must not shrink below this (the issue asks for at least 40 files).
const MIN_FILES: usize = 40;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile/files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// One finished run: exit code, stderr, peak RSS in bytes, wall time.
struct Run {
    code: Option<i32>,
    stderr: String,
    max_rss: u64,
    time: Duration,
}

// The child is reaped with `wait4` (for its resource usage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(args: &[&std::ffi::OsStr]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run modeldiff");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (`Child::wait` is never called), and both
    // out-pointers point at live locals of the right types.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let time = start.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    // ru_maxrss is in KiB on Linux (bytes on macOS).
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Run {
        code,
        stderr,
        max_rss: usage.ru_maxrss as u64 * unit,
        time,
    }
}

#[test]
fn every_hostile_file_is_one_clean_error() {
    let files = corpus();
    assert!(
        files.len() >= MIN_FILES,
        "only {} hostile files; rerun tests/hostile/gen_hostile.py",
        files.len()
    );
    let mut problems = Vec::new();
    let (mut slowest, mut hungriest) = ((Duration::ZERO, String::new()), (0u64, String::new()));
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for mode in ["inspect", "diff"] {
            let mut args = vec![mode.as_ref(), f.as_os_str()];
            if mode == "diff" {
                args.push(f.as_os_str());
            }
            let r = run(&args);
            let what = format!("{mode} {name}");
            let lines: Vec<&str> = r.stderr.lines().collect();
            if r.code != Some(2) {
                problems.push(format!("{what}: exit {:?}, stderr {:?}", r.code, r.stderr));
            }
            if lines.len() != 1 {
                problems.push(format!(
                    "{what}: {} stderr lines: {:?}",
                    lines.len(),
                    r.stderr
                ));
            }
            let line = lines.first().copied().unwrap_or("");
            if !line.starts_with("modeldiff: ") || !line.contains(&name) {
                problems.push(format!("{what}: message does not name the file: {line:?}"));
            }
            if r.stderr.contains("panicked") {
                problems.push(format!("{what}: panicked: {line}"));
            }
            // A truncated file says so (or, when too little is left to tell the format, that the
            // format is not recognised).
            if name.contains("-trunc-")
                && !line.contains("truncated")
                && !line.contains("unrecognised file format")
            {
                problems.push(format!("{what}: truncation not named: {line}"));
            }
            if r.max_rss > MAX_RSS_BYTES {
                problems.push(format!("{what}: peak memory {} MiB", r.max_rss >> 20));
            }
            if r.time > MAX_TIME {
                problems.push(format!("{what}: took {:?}", r.time));
            }
            if r.time > slowest.0 {
                slowest = (r.time, what.clone());
            }
            if r.max_rss > hungriest.0 {
                hungriest = (r.max_rss, what);
            }
        }
    }
    eprintln!(
        "{} hostile files; slowest: {} ({:?}); most memory: {} ({} KiB)",
        files.len(),
        slowest.1,
        slowest.0,
        hungriest.1,
        hungriest.0 >> 10
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
