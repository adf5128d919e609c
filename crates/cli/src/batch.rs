//! `modeldiff batch MANIFEST.jsonl`: many pairs, one summary line each, in manifest order.
//!
//! The manifest is read and checked whole before any pair is opened, so a bad line is an error
//! (exit 2) with nothing on stdout. Pairs then run on `--jobs` worker threads that take the next
//! pair from a shared counter (so the first pairs finish first and output streams), each diff
//! sharing rayon's pool; lines are written in manifest order as soon as every earlier pair is
//! done. A pair that cannot be read gets an `error` line and the run goes on; the exit status is
//! then 2.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::args::BatchArgs;
use crate::{EXIT_DIFFERENCES, EXIT_ERROR};

/// The schema name of each output line.
pub(crate) const BATCH_SCHEMA: &str = "modeldiff.batch.v1";

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    /// 1-based line number in the manifest.
    pub(crate) line: usize,
    /// Model A as written.
    pub(crate) a: String,
    /// Model B as written.
    pub(crate) b: String,
}

/// Parses a JSON Lines manifest: one object `{"a": PATH, "b": PATH}` per non-blank line.
pub(crate) fn parse_manifest(name: &str, text: &str) -> anyhow::Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| anyhow::anyhow!("{name}:{line}: not a JSON object: {e}"))?;
        let Some(obj) = v.as_object() else {
            bail!("{name}:{line}: expected an object {{\"a\": …, \"b\": …}}, got {v}");
        };
        if let Some(k) = obj.keys().find(|k| *k != "a" && *k != "b") {
            bail!("{name}:{line}: unknown key `{k}` (a line holds \"a\" and \"b\")");
        }
        let side = |k: &str| -> anyhow::Result<String> {
            match obj.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(other) => {
                    bail!("{name}:{line}: \"{k}\" must be a non-empty path string, got {other}")
                }
                None => bail!("{name}:{line}: missing \"{k}\""),
            }
        };
        pairs.push(Pair {
            line,
            a: side("a")?,
            b: side("b")?,
        });
    }
    Ok(pairs)
}

/// The output line of one pair: its summary, or the one-line error that stopped it.
fn pair_line(pair: &Pair, cfg: &crate::args::DiffConfig) -> (Value, Outcome) {
    let result = (|| -> anyhow::Result<modeldiff::Report> {
        let a = modeldiff_formats::open_with(Path::new(&pair.a), &cfg.open)
            .context("cannot read model A")?;
        let b = modeldiff_formats::open_with(Path::new(&pair.b), &cfg.open)
            .context("cannot read model B")?;
        Ok(modeldiff::diff(&a, &b, &cfg.engine)?)
    })();
    match result {
        Ok(report) => {
            let differs = report.has_differences();
            let line = json!({
                "schema": BATCH_SCHEMA,
                "line": pair.line,
                "a": pair.a,
                "b": pair.b,
                "differs": differs,
                "summary": report.summary,
            });
            (
                line,
                if differs {
                    Outcome::Differs
                } else {
                    Outcome::Same
                },
            )
        }
        Err(e) => {
            let msg = modeldiff::one_line(&format!("{e:#}"));
            let line = json!({
                "schema": BATCH_SCHEMA,
                "line": pair.line,
                "a": pair.a,
                "b": pair.b,
                "error": msg,
            });
            (line, Outcome::Failed(msg))
        }
    }
}

/// How one pair went.
#[derive(Debug)]
enum Outcome {
    Same,
    Differs,
    Failed(String),
}

pub(crate) fn run(args: BatchArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.validate()?;
    modeldiff_kernels::Isa::try_selected().context("cannot choose the SIMD implementation")?;
    let (name, text) = read_manifest(&args.manifest)?;
    let pairs = parse_manifest(&name, &text)?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let jobs = jobs.min(pairs.len()).max(1);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Value, Outcome)>();
    let mut status = ExitCode::SUCCESS;
    let (mut failed, mut differs) = (false, false);
    std::thread::scope(|s| -> anyhow::Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, pairs, cfg) = (&next, &pairs, &cfg);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pair) = pairs.get(i) else { break };
                let (line, outcome) = pair_line(pair, cfg);
                if tx.send((i, line, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut out = io::stdout().lock();
        let mut pending = BTreeMap::new();
        let mut want = 0;
        let result = (|| -> anyhow::Result<()> {
            for (i, line, outcome) in &rx {
                pending.insert(i, (line, outcome));
                while let Some((line, outcome)) = pending.remove(&want) {
                    match outcome {
                        Outcome::Same => {}
                        Outcome::Differs => differs = true,
                        Outcome::Failed(msg) => {
                            failed = true;
                            eprintln!("modeldiff: {name}:{}: {msg}", pairs[want].line);
                        }
                    }
                    serde_json::to_writer(&mut out, &line)?;
                    writeln!(out)?;
                    out.flush()?;
                    want += 1;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            // Stop handing out pairs; the workers finish the ones they hold.
            next.store(pairs.len(), Ordering::Relaxed);
            drop(rx);
        }
        result
    })?;
    if failed {
        status = ExitCode::from(EXIT_ERROR);
    } else if args.exit_code && differs {
        status = ExitCode::from(EXIT_DIFFERENCES);
    }
    Ok(status)
}

/// The manifest's display name and text (`-` reads stdin).
fn read_manifest(path: &PathBuf) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let text =
            io::read_to_string(io::stdin()).context("cannot read the manifest from stdin")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the manifest {name}"))?;
    Ok((name, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_become_pairs() {
        let text =
            "{\"a\": \"x.safetensors\", \"b\": \"y.gguf\"}\n\n  \n{\"b\":\"2\",\"a\":\"1\"}\n";
        let pairs = parse_manifest("m", text).unwrap();
        assert_eq!(
            pairs,
            vec![
                Pair {
                    line: 1,
                    a: "x.safetensors".into(),
                    b: "y.gguf".into()
                },
                Pair {
                    line: 4,
                    a: "1".into(),
                    b: "2".into()
                },
            ]
        );
    }

    #[test]
    fn bad_lines_name_the_line_and_the_problem() {
        for (text, want) in [
            ("{\"a\":\"x\"}", "m:1: missing \"b\""),
            ("\n[1]", "m:2: expected an object"),
            (
                "{\"a\":\"x\",\"b\":3}",
                "m:1: \"b\" must be a non-empty path string, got 3",
            ),
            ("{\"a\":\"x\",\"b\":\"y\",\"c\":1}", "m:1: unknown key `c`"),
            ("{\"a\":", "m:1: not a JSON object"),
        ] {
            let err = parse_manifest("m", text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }
}
