//! The maintainers' end-to-end benchmark (`cargo xtask bench`): generates pairs of model files
//! per dtype, warms the page cache, and in one run measures for each pair
//!
//! - the `modeldiff diff` release binary end to end (median wall time of `--runs` runs, peak
//!   `RssAnon` of the child polled from `/proc/PID/status`),
//! - a read-only baseline over the same bytes: both files mapped with will-need and huge-page
//!   advice and summed as `u64` words on every core (what touching each byte once costs),
//! - the peers when Python is there: a numpy script computing the same metrics in float64 from
//!   SafeTensors, and gguf-py dequantization + the same numpy metrics for GGUF pairs,
//!
//! Cases: `f32`, `f16`, `bf16` (SafeTensors, every value nudged), `q8_0`, `q4_k` (GGUF, one quant
//! byte in four changed), `identical` (F32, B a byte copy of A), `small` (10 000 tensors of
//! 4 KiB) and `smollm2` (the real SmolLM2-135M Q4_1 against its Q8_0 requantization); `q6_k`,
//! `iq4_xs`, `iq4_nl` and `q5_0` (GGUF, as `q4_k`) run only when `--only` names them;
//!
//! and prints one table: GB/s of input (both files' bytes / median time), share of the read
//! baseline, speed-up over each peer, elements/s and peak anonymous memory.
//!
//! ```text
//! e2e --modeldiff target/release/modeldiff [--python PY] [--size MIB] [--runs N]
//!     [--peer-runs N] [--only CASE,...] [--dir DIR] [--keep]
//! ```

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cases, in table order.
const CASES: &[&str] = &[
    "f32",
    "f16",
    "bf16",
    "q8_0",
    "q4_k",
    "identical",
    "small",
    "smollm2",
    "q6_k",
    "iq4_xs",
    "iq4_nl",
    "q5_0",
];

/// Cases whose inputs are GGUF (their peer is gguf-py + numpy).
const GGUF_CASES: &[&str] = &[
    "q8_0", "q4_k", "q6_k", "iq4_xs", "iq4_nl", "q5_0", "smollm2",
];

/// Cases run only when `--only` names them.
const OPT_IN: &[&str] = &["q6_k", "iq4_xs", "iq4_nl", "q5_0"];

struct Args {
    modeldiff: PathBuf,
    python: Option<PathBuf>,
    size_mib: u64,
    runs: usize,
    peer_runs: usize,
    only: Vec<String>,
    dir: PathBuf,
    keep: bool,
    models: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        modeldiff: PathBuf::from("target/release/modeldiff"),
        python: None,
        size_mib: 1024,
        runs: 5,
        peer_runs: 1,
        only: Vec::new(),
        dir: PathBuf::from("target/bench-e2e"),
        keep: false,
        models: std::env::var_os("MODELDIFF_TEST_MODELS")
            .map_or_else(|| PathBuf::from("target/test-models"), PathBuf::from),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--modeldiff" => a.modeldiff = value()?.into(),
            "--python" => a.python = Some(value()?.into()),
            "--size" => a.size_mib = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--peer-runs" => {
                a.peer_runs = value()?.parse().map_err(|e| format!("--peer-runs: {e}"))?
            }
            "--only" => a.only = value()?.split(',').map(str::to_string).collect(),
            "--dir" => a.dir = value()?.into(),
            "--models" => a.models = value()?.into(),
            "--keep" => a.keep = true,
            "--bench" => {} // cargo bench passes it to every target
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(bad) = a.only.iter().find(|c| !CASES.contains(&c.as_str())) {
        return Err(format!("unknown case {bad:?}; cases: {}", CASES.join(", ")));
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("e2e: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("e2e: {e}");
        std::process::exit(1);
    }
}

/// One measured row of the table.
struct Row {
    case: String,
    input_bytes: u64,
    elements: u64,
    modeldiff: Duration,
    /// Median CPU time (user + system, all threads) of the modeldiff runs.
    cpu: Duration,
    spread: (Duration, Duration),
    baseline: Duration,
    peak_anon_kib: u64,
    peer: Option<(String, Duration)>,
    note: String,
}

fn run(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    if !args.modeldiff.exists() {
        return Err(format!(
            "{} not found (build it first)",
            args.modeldiff.display()
        ));
    }
    let peers_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
    let python = args.python.clone().filter(|p| {
        let ok = Command::new(p)
            .args(["-c", "import numpy, safetensors, gguf"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "e2e: {} lacks numpy/safetensors/gguf: peers skipped",
                p.display()
            );
        }
        ok
    });
    if python.is_none() {
        eprintln!("e2e: no Python given (--python): the peer columns stay empty");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for &case in CASES {
        let named = args.only.iter().any(|c| c == case);
        if (!args.only.is_empty() || OPT_IN.contains(&case)) && !named {
            continue;
        }
        let (a, b, elements, note) = match prepare(case, args)? {
            Some(p) => p,
            None => {
                eprintln!("e2e: {case}: input not available, skipped");
                continue;
            }
        };
        let input_bytes = file_len(&a)? + file_len(&b)?;
        eprintln!(
            "e2e: {case}: {} + {} ({:.0} MiB)",
            a.display(),
            b.display(),
            input_bytes as f64 / (1 << 20) as f64
        );
        // Warm the page cache (and check the pair diffs at all).
        read_baseline(&a, &b, cores)?;
        modeldiff_once(&args.modeldiff, &a, &b)?;
        let mut base = Vec::new();
        let mut md = Vec::new();
        let mut cpu = Vec::new();
        let mut peak = 0;
        // Interleaved, so a noisy neighbour hurts both columns alike.
        for _ in 0..args.runs {
            base.push(read_baseline(&a, &b, cores)?);
            let (t, c, anon) = modeldiff_once(&args.modeldiff, &a, &b)?;
            md.push(t);
            cpu.push(c);
            peak = peak.max(anon);
        }
        md.sort();
        cpu.sort();
        base.sort();
        let peer = match &python {
            Some(py) if args.peer_runs > 0 => {
                let (script, label) = if GGUF_CASES.contains(&case) {
                    ("gguf_numpy.py", "gguf-py + numpy")
                } else {
                    ("safetensors_numpy.py", "numpy + safetensors")
                };
                let mut times = Vec::new();
                for _ in 0..args.peer_runs {
                    let t = Instant::now();
                    let out = Command::new(py)
                        .arg(peers_dir.join(script))
                        .arg(&a)
                        .arg(&b)
                        .stdout(Stdio::null())
                        .status()
                        .map_err(|e| format!("{}: {e}", py.display()))?;
                    if !out.success() {
                        return Err(format!("peer {script} failed on {case}"));
                    }
                    times.push(t.elapsed());
                }
                times.sort();
                Some((label.to_string(), times[times.len() / 2]))
            }
            _ => None,
        };
        let row = Row {
            case: case.to_string(),
            input_bytes,
            elements,
            modeldiff: md[md.len() / 2],
            cpu: cpu[cpu.len() / 2],
            spread: (md[0], md[md.len() - 1]),
            baseline: base[base.len() / 2],
            peak_anon_kib: peak,
            peer,
            note,
        };
        eprintln!("{}", format_row(&row));
        rows.push(row);
        if !args.keep && case != "smollm2" {
            let _ = std::fs::remove_file(&a);
            let _ = std::fs::remove_file(&b);
        }
    }
    println!("{}", table(&rows, cores, args.runs));
    Ok(())
}

fn file_len(p: &Path) -> Result<u64, String> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn gbs(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn format_row(r: &Row) -> String {
    let mut s = format!(
        "| {} | {:.0} | {:.2} | {:.3} s ({:.3}–{:.3}) | {:.2} | {:.0}% | {:.2} | {} | {:.1} |",
        r.case,
        r.input_bytes as f64 / (1 << 20) as f64,
        r.elements as f64 / 1e9,
        r.modeldiff.as_secs_f64(),
        r.spread.0.as_secs_f64(),
        r.spread.1.as_secs_f64(),
        gbs(r.input_bytes, r.modeldiff),
        100.0 * r.baseline.as_secs_f64() / r.modeldiff.as_secs_f64(),
        gbs(r.input_bytes, r.baseline),
        match &r.peer {
            Some((label, t)) => format!(
                "{:.1}× {label} ({:.2} s)",
                t.as_secs_f64() / r.modeldiff.as_secs_f64(),
                t.as_secs_f64()
            ),
            None => "–".into(),
        },
        r.peak_anon_kib as f64 / 1024.0,
    );
    let per_elem = r.elements as f64 / r.modeldiff.as_secs_f64() / 1e9;
    let per_core = gbs(r.input_bytes, r.cpu);
    let _ = write!(
        s,
        " {per_elem:.2} | {:.3} s | {per_core:.2} | {} |",
        r.cpu.as_secs_f64(),
        r.note
    );
    s
}

fn table(rows: &[Row], cores: usize, runs: usize) -> String {
    let mut s = format!(
        "\nmodeldiff end to end, {cores} cores, page cache warm, median of {runs} runs\n\n\
         | pair | input MiB | G elements | modeldiff (min–max) | GB/s | % of read baseline | \
         baseline GB/s | vs peer | peak RssAnon MiB | G elem/s | CPU time | GB/s per CPU second | \
         note |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|\n"
    );
    for r in rows {
        s.push_str(&format_row(r));
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// Maps both files with will-need and huge-page advice and sums them as `u64` words on `cores`
/// threads, in 4 MiB slices handed out in order, prefetching one page ahead; returns the wall
/// time.
fn read_baseline(a: &Path, b: &Path, cores: usize) -> Result<Duration, String> {
    let t = Instant::now();
    let maps = [a, b]
        .iter()
        .map(|p| {
            let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
            // SAFETY: read-only map of a file this benchmark wrote and nobody else changes.
            let m =
                unsafe { memmap2::Mmap::map(&f) }.map_err(|e| format!("{}: {e}", p.display()))?;
            let _ = m.advise(memmap2::Advice::WillNeed);
            #[cfg(target_os = "linux")]
            let _ = m.advise(memmap2::Advice::HugePage);
            Ok(m)
        })
        .collect::<Result<Vec<_>, String>>()?;
    const SLICE: usize = 4 << 20;
    let slices: Vec<(usize, usize)> = maps
        .iter()
        .enumerate()
        .flat_map(|(i, m)| (0..m.len()).step_by(SLICE).map(move |o| (i, o)))
        .collect();
    let next = AtomicU64::new(0);
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                let mut acc = 0u64;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&(i, o)) = slices.get(k) else { break };
                    let bytes = &maps[i][o..(o + SLICE).min(maps[i].len())];
                    // SAFETY: every bit pattern is a valid u64.
                    let (head, words, tail) = unsafe { bytes.align_to::<u64>() };
                    acc = head.iter().fold(acc, |a, &x| a.wrapping_add(x as u64));
                    // Page by page, asking for the next page first (as modeldiff's kernels do:
                    // the hardware prefetchers stop at 4 KiB page boundaries).
                    for page in words.chunks(512) {
                        let next = page.as_ptr().wrapping_add(512).cast::<u8>();
                        for line in 0..64 {
                            prefetch(next.wrapping_add(64 * line));
                        }
                        acc = page.iter().fold(acc, |a, &x| a.wrapping_add(x));
                    }
                    acc = tail.iter().fold(acc, |a, &x| a.wrapping_add(x as u64));
                }
                total.fetch_add(acc, Ordering::Relaxed);
            });
        }
    });
    std::hint::black_box(total.load(Ordering::Relaxed));
    Ok(t.elapsed())
}

/// A hint to bring the line at `p` into the cache; never faults, whatever the address.
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it cannot fault or change memory.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// CPU time (user + system) of the children this process has waited for.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `modeldiff diff A B --format json` once (output discarded); returns its wall time, its
/// CPU time and the peak `RssAnon` (KiB) seen by polling `/proc/PID/status` every millisecond.
fn modeldiff_once(exe: &Path, a: &Path, b: &Path) -> Result<(Duration, Duration, u64), String> {
    let cpu0 = children_cpu();
    let t = Instant::now();
    let child = Command::new(exe)
        .args(["diff", "--format", "json"])
        .arg(a)
        .arg(b)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(&status_path) {
                    if let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("RssAnon:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    {
                        peak = peak.max(kib);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        })
    };
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    let cpu = children_cpu().saturating_sub(cpu0);
    done.store(true, Ordering::Relaxed);
    let peak = poller.join().unwrap_or(0);
    if !out.status.success() {
        return Err(format!(
            "modeldiff failed on {} vs {}: {}",
            a.display(),
            b.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((elapsed, cpu, peak))
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// A small fast generator (SplitMix64) so 2 GiB of inputs take seconds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

type Prepared = Option<(PathBuf, PathBuf, u64, String)>;

/// Writes (or finds) the pair for `case`: paths, compared elements and a note.
fn prepare(case: &str, args: &Args) -> Result<Prepared, String> {
    let bytes = args.size_mib << 20;
    let (a, b) = (
        args.dir.join(format!("{case}.a")),
        args.dir.join(format!("{case}.b")),
    );
    let dim = 4096u64;
    Ok(Some(match case {
        "f32" | "f16" | "bf16" => {
            let width = if case == "f32" { 4 } else { 2 };
            let tensors = (bytes / (dim * dim * width)).max(1);
            write_safetensors(&a, &b, case, tensors, dim * dim)?;
            let n = tensors * dim * dim;
            (a, b, n, format!("{tensors} × {dim}×{dim}"))
        }
        "identical" => {
            // An F32 pair whose B is a byte copy of A (frozen layers, an unchanged checkpoint).
            let tensors = (bytes / (dim * dim * 4)).max(1);
            write_safetensors(&a, &b, "f32", tensors, dim * dim)?;
            std::fs::copy(&a, &b).map_err(|e| format!("{}: {e}", b.display()))?;
            let n = tensors * dim * dim;
            (
                a,
                b,
                n,
                format!("{tensors} × {dim}×{dim} F32, B a copy of A"),
            )
        }
        "small" => {
            // 10 000 tensors of 4 KiB (1024 F32 values) each.
            write_safetensors(&a, &b, "f32", 10_000, 1024)?;
            (a, b, 10_000 * 1024, "10 000 × 4 KiB F32".into())
        }
        "q8_0" | "q4_k" | "q6_k" | "iq4_xs" | "iq4_nl" | "q5_0" => {
            let (block_bytes, block_elems) = match case {
                "q8_0" => (34, 32),
                "iq4_nl" => (18, 32),
                "q5_0" => (22, 32),
                "q4_k" => (144, 256),
                "q6_k" => (210, 256),
                _ => (136, 256),
            };
            let tensor_bytes = dim * dim / block_elems * block_bytes;
            let tensors = (bytes / tensor_bytes).max(1);
            write_gguf(&a, &b, case, tensors, dim)?;
            let n = tensors * dim * dim;
            (a, b, n, format!("{tensors} × {dim}×{dim}"))
        }
        "smollm2" => {
            let a = args.models.join("smollm2-135m-q4_1.gguf");
            let b = args.models.join("smollm2-135m-q8_0.gguf");
            if !a.exists() || !b.exists() {
                return Ok(None);
            }
            (a, b, 134_515_008, "real SmolLM2-135M Q4_1 vs Q8_0".into())
        }
        _ => unreachable!("cases are checked when parsed"),
    }))
}

/// Two SafeTensors files of `tensors` × `elems` values of `dtype` (`f32`, `f16`, `bf16`); B is
/// A with every value nudged.
fn write_safetensors(
    a: &Path,
    b: &Path,
    dtype: &str,
    tensors: u64,
    elems: u64,
) -> Result<(), String> {
    let (tag, width) = match dtype {
        "f32" => ("F32", 4),
        "f16" => ("F16", 2),
        _ => ("BF16", 2),
    };
    let mut header = String::from("{");
    for t in 0..tensors {
        let start = t * elems * width;
        let _ = write!(
            header,
            "{}\"t.{t}.weight\":{{\"dtype\":\"{tag}\",\"shape\":[{},{}],\"data_offsets\":[{start},{}]}}",
            if t == 0 { "" } else { "," },
            elems / 1024,
            1024,
            start + elems * width
        );
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut rng = Rng(0x5EED ^ tensors);
    let mut files = [create(a)?, create(b)?];
    for f in &mut files {
        f.write_all(&(header.len() as u64).to_le_bytes())
            .and_then(|_| f.write_all(header.as_bytes()))
            .map_err(|e| e.to_string())?;
    }
    let mut bufs = (Vec::new(), Vec::new());
    for _ in 0..tensors {
        bufs.0.clear();
        bufs.1.clear();
        for _ in 0..elems {
            let x = rng.unit() * 0.05;
            let y = x * 1.02 + 1e-3 * rng.unit();
            match width {
                4 => {
                    bufs.0.extend(x.to_le_bytes());
                    bufs.1.extend(y.to_le_bytes());
                }
                _ if tag == "F16" => {
                    bufs.0.extend(half::f16::from_f32(x).to_le_bytes());
                    bufs.1.extend(half::f16::from_f32(y).to_le_bytes());
                }
                _ => {
                    bufs.0.extend(half::bf16::from_f32(x).to_le_bytes());
                    bufs.1.extend(half::bf16::from_f32(y).to_le_bytes());
                }
            }
        }
        files[0].write_all(&bufs.0).map_err(|e| e.to_string())?;
        files[1].write_all(&bufs.1).map_err(|e| e.to_string())?;
    }
    finish(files)
}

/// Flushes and syncs the two files of a pair.
fn finish(files: [BufWriter<File>; 2]) -> Result<(), String> {
    for f in files {
        f.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn create(p: &Path) -> Result<BufWriter<File>, String> {
    File::create(p)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Two GGUF v3 files of `tensors` quantized `dim`×`dim` matrices (`q8_0`, `q4_k`, `q6_k`,
/// `iq4_xs`, `iq4_nl` or `q5_0`)
/// with random blocks whose scales are sane f16 values; in B one quant byte in four is changed.
fn write_gguf(a: &Path, b: &Path, case: &str, tensors: u64, dim: u64) -> Result<(), String> {
    let (ty, block_bytes, block_elems): (u32, u64, u64) = match case {
        "q8_0" => (8, 34, 32),
        "q4_k" => (12, 144, 256),
        "q6_k" => (14, 210, 256),
        "iq4_nl" => (20, 18, 32),
        "q5_0" => (6, 22, 32),
        _ => (23, 136, 256),
    };
    // Where each block's binary16 scales are: at the start, except Q6_K's `d` (last).
    let halves = match ty {
        6 | 8 | 20 | 23 => 0..2,
        12 => 0..4,
        _ => 208..210,
    };
    let tensor_bytes = dim * dim / block_elems * block_bytes;
    let mut head = Vec::new();
    head.extend(b"GGUF");
    head.extend(3u32.to_le_bytes());
    head.extend(tensors.to_le_bytes());
    head.extend(1u64.to_le_bytes()); // one key: general.architecture
    let put_str = |v: &mut Vec<u8>, s: &str| {
        v.extend((s.len() as u64).to_le_bytes());
        v.extend(s.as_bytes());
    };
    put_str(&mut head, "general.architecture");
    head.extend(8u32.to_le_bytes()); // string
    put_str(&mut head, "bench");
    let align = 32u64;
    let stride = tensor_bytes.div_ceil(align) * align;
    for t in 0..tensors {
        put_str(&mut head, &format!("blk.{t}.ffn.weight"));
        head.extend(2u32.to_le_bytes());
        head.extend(dim.to_le_bytes());
        head.extend(dim.to_le_bytes());
        head.extend(ty.to_le_bytes());
        head.extend((t * stride).to_le_bytes());
    }
    while !(head.len() as u64).is_multiple_of(align) {
        head.push(0);
    }
    let mut files = [create(a)?, create(b)?];
    for f in &mut files {
        f.write_all(&head).map_err(|e| e.to_string())?;
    }
    let mut rng = Rng(0x9016 ^ tensors);
    let scale = |rng: &mut Rng| half::f16::from_f32(0.001 + 0.01 * rng.unit().abs()).to_le_bytes();
    let mut bufs = (Vec::new(), Vec::new());
    for _ in 0..tensors {
        bufs.0.clear();
        for _ in 0..tensor_bytes / block_bytes {
            let at = bufs.0.len();
            for _ in 0..block_bytes {
                bufs.0.push(rng.next() as u8);
            }
            for h in halves.clone().step_by(2) {
                bufs.0[at + h as usize..][..2].copy_from_slice(&scale(&mut rng));
            }
        }
        bufs.1.clone_from(&bufs.0);
        // Change one quant byte in four (never a binary16 scale).
        for (i, byte) in bufs.1.iter_mut().enumerate() {
            if !halves.contains(&(i as u64 % block_bytes)) && i % 4 == 0 {
                *byte ^= 0x11;
            }
        }
        bufs.0.resize(stride as usize, 0);
        bufs.1.resize(stride as usize, 0);
        files[0].write_all(&bufs.0).map_err(|e| e.to_string())?;
        files[1].write_all(&bufs.1).map_err(|e| e.to_string())?;
    }
    finish(files)
}
