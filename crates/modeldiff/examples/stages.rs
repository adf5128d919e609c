//! The engine's stages used directly: match, plan, then a consumer of one's own over the pair
//! stream (here: the mean signed change b − a per tensor), next to the built-in diff.
//!
//! `cargo run -p modeldiff --example stages -- A B` (defaults to the bundled samples).

use std::path::PathBuf;

use modeldiff::consume::{run, Consumer};
use modeldiff::plan::{CompareMode, Job};
use modeldiff::{match_tensors, plan, Config, PairStream};

/// Sums b − a and counts elements, per job.
struct MeanChange;

impl Consumer for MeanChange {
    type Partial = (f64, u64);

    fn job(&self, stream: &PairStream<'_>, job: &Job) -> modeldiff::Result<(f64, u64)> {
        let mut acc = (0f64, 0u64);
        if stream.pair().mode != CompareMode::Float {
            return Ok(acc);
        }
        stream.for_each_piece(job.elems.clone(), |piece| {
            let (a, b) = piece.f32()?;
            acc.0 += a.iter().zip(b).map(|(x, y)| (y - x) as f64).sum::<f64>();
            acc.1 += a.len() as u64;
            Ok(())
        })?;
        Ok(acc)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let pa = args
        .next()
        .unwrap_or_else(|| samples.join("base.safetensors"));
    let pb = args
        .next()
        .unwrap_or_else(|| samples.join("finetuned.safetensors"));
    let (a, b) = (modeldiff_formats::open(&pa)?, modeldiff_formats::open(&pb)?);

    let config = Config::default();
    let matching = match_tensors(&a, &b, &config.filter(), &[]);
    let plan = plan(&a, &b, &matching, config.chunk_elems);
    let partials = run(&a, &b, &plan, &MeanChange)?;
    let mut per_pair = vec![(0f64, 0u64); plan.pairs.len()];
    for (job, (sum, n)) in plan.jobs.iter().zip(partials) {
        per_pair[job.pair].0 += sum;
        per_pair[job.pair].1 += n;
    }
    let report = modeldiff::diff(&a, &b, &config)?;
    println!("{:<40} {:>14} {:>12}", "tensor", "mean(b - a)", "l2");
    for (pair, (sum, n)) in plan.pairs.iter().zip(per_pair) {
        let t = &report.tensors[pair.entry];
        let l2 = t.metrics.as_ref().map_or(f64::NAN, |m| m.l2);
        if n > 0 {
            println!("{:<40} {:>14.6e} {:>12.6}", t.name, sum / n as f64, l2);
        }
    }
    println!("models differ: {}", report.summary.differs);
    Ok(())
}
