//! A mapped file truncated under an open [`Model`]: reads go on (on zeros) instead of killing the
//! process with SIGBUS, and [`Model::check_unchanged`] reports the change. Faults outside our
//! maps still kill the process as before (or reach Rust's stack-overflow handler).

#![cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]

use modeldiff_formats::{open, Error};

#[test]
fn truncated_file_reads_as_changed_not_sigbus() {
    let n = 1 << 20;
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        4 * n
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend((0..n).flat_map(|i| (i as f32 + 1.0).to_le_bytes()));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();

    let model = open(file.path()).unwrap();
    model.check_unchanged().unwrap();
    file.as_file().set_len(bytes.len() as u64 / 2).unwrap();

    // Every element is still readable: the lost pages read as zeros.
    let mut out = vec![0f32; n];
    model.decode_f32(0, 0..n, &mut out).unwrap();
    assert_eq!(out[0], 1.0);
    assert_eq!(out[n - 1], 0.0);
    let view = model.f32_view(0).unwrap();
    assert_eq!(view[n - 1], 0.0);

    let err = model.check_unchanged().unwrap_err();
    assert!(matches!(&err, Error::Changed { path } if path == file.path()));
    assert_eq!(
        err.to_string(),
        format!("{}: file changed while reading", file.path().display())
    );
}

/// Runs this test binary again with `MODELDIFF_FAULT_CHILD=<mode>`, filtered to `test`, and
/// returns its status and stderr.
#[cfg(unix)]
fn run_child(test: &str, mode: &str) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("MODELDIFF_FAULT_CHILD", mode)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Maps a file (installing the fault handler), then faults outside any map.
fn fault_outside_our_maps(mode: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"GGUF").unwrap();
    let _ = open(file.path());
    match mode {
        "segv" => {
            // SAFETY: deliberately invalid: this child process must die of the fault, as it
            // would without our handler.
            let byte = unsafe { std::ptr::read_volatile(std::ptr::dangling::<u8>()) };
            println!("not reached: {byte}");
        }
        _ => {
            #[allow(unconditional_recursion)]
            fn deep(n: u64) -> u64 {
                let pad = [n; 64];
                std::hint::black_box(&pad);
                deep(n + 1) + pad[3]
            }
            println!("not reached: {}", deep(0));
        }
    }
}

#[test]
#[cfg(unix)]
fn faults_outside_our_maps_keep_their_default_behaviour() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(mode) = std::env::var("MODELDIFF_FAULT_CHILD") {
        fault_outside_our_maps(&mode);
        return;
    }
    let name = "faults_outside_our_maps_keep_their_default_behaviour";
    // A stray pointer: killed by SIGSEGV, exactly as without the handler.
    let (status, stderr) = run_child(name, "segv");
    assert_eq!(status.signal(), Some(SIGSEGV), "{status:?} {stderr}");
    // A stack overflow still reaches Rust's own handler, which names it and aborts.
    let (status, stderr) = run_child(name, "stack");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
    assert_eq!(status.signal(), Some(SIGABRT), "{status:?}");
}

/// Signal numbers, the same on Linux and macOS.
const SIGSEGV: i32 = 11;
const SIGABRT: i32 = 6;
