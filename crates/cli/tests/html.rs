//! The HTML report (`--report FILE.html`) in headless Chromium: it renders (`--dump-dom`),
//! its script runs without errors, and the heatmap has exactly one cell per (layer, module).
//!
//! Needs Debian's `chromium` (`.ci/run` installs it). Without it the test prints a note and
//! passes, except where the run promised it (`CI` or `MODELDIFF_REQUIRE_MODELS` set), where it
//! fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args`, killing it after a minute; returns
/// (stdout, stderr).
fn run_chromium(chromium: &Path, page: &Path, hash: &str, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}{hash}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The value of attribute `name` in the tag text `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// Writes the report of `a` vs `b` into `dir`, loads it in Chromium and checks it; returns the
/// heatmap's (layer, module) cells, and whether the two colourings differ anywhere.
fn check_page(
    chromium: &Path,
    dir: &Path,
    a: &Path,
    b: &Path,
) -> (BTreeSet<(String, String)>, bool) {
    let page = dir.join("report.html");
    let o = Command::new(env!("CARGO_BIN_EXE_modeldiff"))
        .arg("diff")
        .arg(a)
        .arg(b)
        .arg("--report")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (dom, log) = run_chromium(chromium, &page, "", &["--dump-dom"]);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script ran to its end:\n{dom}"
    );
    assert!(!dom.contains("data-error="), "a script error:\n{dom}");
    for line in log.lines() {
        assert!(
            !line.contains("Uncaught") && !line.contains(":CONSOLE("),
            "console output: {line}"
        );
    }
    let mut cells = BTreeSet::new();
    let mut differ = false;
    for tag in dom.split("<rect").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert_eq!(attr(tag, "class"), Some("cell"));
        let key = (
            attr(tag, "data-layer").unwrap().to_string(),
            attr(tag, "data-module").unwrap().to_string(),
        );
        assert!(attr(tag, "fill").unwrap().starts_with('#'));
        assert_eq!(attr(tag, "fill"), attr(tag, "data-fill-rel"), "{tag}");
        differ |= attr(tag, "data-fill-rel") != attr(tag, "data-fill-cos");
        assert!(cells.insert(key.clone()), "two cells for {key:?}");
    }
    assert!(dom.contains("<table"), "tables rendered");
    // The toggle: `#cos` recolours every cell with its 1 − cosine fill.
    let (cos, _) = run_chromium(chromium, &page, "#cos", &["--dump-dom"]);
    for tag in cos.split("<rect").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert_eq!(attr(tag, "fill"), attr(tag, "data-fill-cos"), "{tag}");
    }
    (cells, differ)
}

#[test]
fn html_report_renders_in_chromium() {
    let Some(chromium) = chromium() else {
        let promised = ["CI", "MODELDIFF_REQUIRE_MODELS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        assert!(!promised, "chromium is required here (.ci/run installs it)");
        eprintln!("note: chromium not found; the HTML report test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The samples: two blocks of seven modules each.
    let samples = workspace().join("samples");
    let (cells, _) = check_page(
        &chromium,
        dir.path(),
        &samples.join("base.safetensors"),
        &samples.join("finetuned.safetensors"),
    );
    let modules = [
        "attn.k_proj",
        "attn.o_proj",
        "attn.q_proj",
        "attn.v_proj",
        "mlp.down_proj",
        "mlp.up_proj",
        "norm",
    ];
    let want: BTreeSet<(String, String)> = ["layers.0", "layers.1"]
        .iter()
        .flat_map(|l| modules.iter().map(move |m| (l.to_string(), m.to_string())))
        .collect();
    assert_eq!(cells, want);

    // GGUF-style names, 12 blocks (natural order), weight and bias of a module in one cell, a
    // tensor outside the blocks, a NaN and a removed tensor.
    let write = |path: &Path, nan: bool, extra: bool| {
        let mut names = Vec::new();
        for layer in 0..12 {
            for m in ["attn_q.weight", "attn_q.bias", "ffn_up.weight"] {
                names.push(format!("blk.{layer}.{m}"));
            }
        }
        names.push("token_embd.weight".into());
        if extra {
            names.push("blk.3.extra.weight".into());
        }
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let start = data.len();
            for k in 0..8 {
                let mut x = (i * 8 + k) as f32 * 0.01;
                if nan && i == 5 && k == 2 {
                    x = f32::NAN;
                }
                if !extra {
                    x *= 1.0 + 0.001 * i as f32;
                }
                data.extend_from_slice(&x.to_le_bytes());
            }
            header.insert(
                n.clone(),
                serde_json::json!({"dtype": "F32", "shape": [8], "data_offsets": [start, data.len()]}),
            );
        }
        let h = serde_json::to_vec(&header).unwrap();
        let mut f = (h.len() as u64).to_le_bytes().to_vec();
        f.extend(h);
        f.extend(data);
        std::fs::write(path, f).unwrap();
    };
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    write(&a, false, true);
    write(&b, true, false);
    let (cells, differ) = check_page(&chromium, dir.path(), &a, &b);
    // B is A scaled per tensor: relative L2 grows, the cosine stays 1, so the toggle matters.
    assert!(differ, "the two colourings differ somewhere");
    assert_eq!(cells.len(), 12 * 2 + 1, "{cells:?}");
    assert!(cells.contains(&("blk.3".into(), "extra".into())));
    assert!(cells.contains(&("blk.11".into(), "attn_q".into())));
}
