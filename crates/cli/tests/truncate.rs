//! A model file truncated while `modeldiff diff` reads it: the process must exit 2 with
//! "file changed while reading" (or 0 when it had already read everything), never die of
//! SIGBUS and never report numbers computed from the zeros that stand in for the lost pages.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tensors per file and elements per tensor: 10 × 4 Mi f32 = 160 MiB per file, so a
/// single-threaded diff takes long enough to be caught in the middle.
const TENSORS: usize = 10;
const ELEMS: usize = 4 << 20;

/// Writes a SafeTensors file of `TENSORS` F32 tensors whose values depend on `seed`.
fn write_model(path: &Path, seed: u32) {
    let mut header = String::from("{");
    for t in 0..TENSORS {
        let (s, e) = (t * ELEMS * 4, (t + 1) * ELEMS * 4);
        if t > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            r#""t{t:02}":{{"dtype":"F32","shape":[{ELEMS}],"data_offsets":[{s},{e}]}}"#
        ));
    }
    header.push('}');
    while (8 + header.len()) % 8 != 0 {
        header.push(' ');
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let mut chunk = Vec::with_capacity(ELEMS * 4);
    for t in 0..TENSORS {
        chunk.clear();
        for i in 0..ELEMS as u32 {
            let v = ((i.wrapping_mul(2_654_435_761) ^ seed ^ t as u32) >> 8) as f32 / 1e7;
            chunk.extend_from_slice(&v.to_le_bytes());
        }
        f.write_all(&chunk).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

/// Whether process `pid` has `path` mapped (the diff has opened both models).
fn has_mapped(pid: u32, path: &Path) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let name = path.to_string_lossy();
    maps.lines().any(|l| l.ends_with(name.as_ref()))
}

#[test]
fn truncating_an_input_mid_diff_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    write_model(&a, 1);
    let full = {
        write_model(&b, 2);
        std::fs::metadata(&b).unwrap().len()
    };
    let mut caught = 0;
    let mut outcomes = Vec::new();
    // Different delays after the maps appear, so at least one run is caught mid-read.
    for delay_ms in [0u64, 2, 10, 40, 120] {
        if std::fs::metadata(&b).unwrap().len() != full {
            write_model(&b, 2);
        }
        let child = Command::new(env!("CARGO_BIN_EXE_modeldiff"))
            .args(["diff", "--threads", "1", "--format", "json"])
            .arg(&a)
            .arg(&b)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !has_mapped(child.id(), &b) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&b)
            .unwrap()
            .set_len(full / 2)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.signal(),
            None,
            "killed by a signal (delay {delay_ms} ms): {stderr}"
        );
        match out.status.code() {
            Some(2) => {
                assert_eq!(
                    stderr.trim_end(),
                    format!("modeldiff: {}: file changed while reading", b.display()),
                    "delay {delay_ms} ms"
                );
                assert!(out.stdout.is_empty(), "no report on a changed file");
                caught += 1;
            }
            Some(0) => {
                // Read everything before the truncation: a complete, valid report.
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v["tensors"].as_array().unwrap().len(), TENSORS);
            }
            other => panic!("exit {other:?} (delay {delay_ms} ms): {stderr}"),
        }
        outcomes.push((delay_ms, out.status.code()));
    }
    eprintln!("outcomes (delay ms, exit code): {outcomes:?}");
    assert!(
        caught > 0,
        "no run was caught by the truncation: {outcomes:?}"
    );
}
