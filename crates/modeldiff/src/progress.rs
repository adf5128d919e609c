//! A progress counter the consume stage advances job by job, for a caller to display.
//!
//! The engine only counts: [`Progress`] is two atomics, `total` (set once the plan is known)
//! and `done`, in bytes of stored tensor data of both sides. Drawing a bar, and deciding
//! whether to, belongs to the caller (the CLI polls the counter from another thread).
//!
//! It is also the one way in from outside while a run is under way: [`Progress::cancel`] sets
//! a flag the consume stage checks before every job, so a caller that polls (the Python
//! bindings, on Ctrl-C) can stop a long diff within one job's time; the run then returns
//! [`crate::Error::Cancelled`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use modeldiff_formats::Model;

use crate::plan::{Job, Plan};

/// Bytes of stored tensor data compared so far, out of a total.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// A counter at zero of zero.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Bytes compared so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Bytes to compare in all (0 until the plan is known).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Starts over with `total` bytes to go.
    pub fn start(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Counts `bytes` more as done.
    pub fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Asks the run this counter follows to stop: jobs not yet started are skipped and the run
    /// returns [`crate::Error::Cancelled`]. Stays set ([`Progress::start`] does not clear it).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// The stored bytes of both sides that `job` covers: its share of each tensor's bytes, in
/// proportion to its elements (the formats crate knows the layouts; this is only a measure of
/// work, exact in total).
pub fn job_bytes(a: &Model, b: &Model, plan: &Plan, job: &Job) -> u64 {
    let pair = &plan.pairs[job.pair];
    let share = |m: &Model, i: usize| {
        let t = &m.tensors()[i];
        let elems = t.elements().max(1) as u128;
        let n = (job.elems.end - job.elems.start) as u128;
        (n * t.byte_len() as u128 / elems) as u64
    };
    share(a, pair.pairing.a) + share(b, pair.pairing.b)
}

/// The bytes every job of `plan` covers, as [`job_bytes`] counts them.
pub fn plan_bytes(a: &Model, b: &Model, plan: &Plan) -> u64 {
    plan.jobs.iter().map(|j| job_bytes(a, b, plan, j)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{match_tensors, Filter};
    use crate::testutil::model;

    #[test]
    fn jobs_add_up_to_the_total() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let (a, b) = (model(&[("w", &v)]), model(&[("w", &v)]));
        let m = match_tensors(&a, &b, &Filter::default(), &[]);
        let p = crate::plan::plan(&a, &b, &m, 256);
        assert!(p.jobs.len() > 1);
        assert_eq!(plan_bytes(&a, &b, &p), 8000);
        let progress = Progress::new();
        progress.start(plan_bytes(&a, &b, &p));
        for j in &p.jobs {
            progress.advance(job_bytes(&a, &b, &p, j));
        }
        assert_eq!(progress.done(), progress.total());
    }

    #[test]
    fn the_diff_advances_the_counter_to_its_total() {
        let v: Vec<f32> = (0..5000).map(|i| i as f32).collect();
        let (a, b) = (
            model(&[("w", &v), ("x", &v)]),
            model(&[("w", &v), ("x", &v[..10])]),
        );
        let progress = std::sync::Arc::new(Progress::new());
        let config = crate::Config {
            chunk_elems: 256,
            progress: Some(progress.clone()),
            ..crate::Config::default()
        };
        crate::diff(&a, &b, &config).unwrap();
        // `w` whole and the 10-element overlap of `x`.
        assert_eq!(progress.total(), 2 * 5000 * 4 + 2 * 10 * 4);
        assert_eq!(progress.done(), progress.total());
    }

    #[test]
    fn a_cancelled_run_stops_with_an_error() {
        let v: Vec<f32> = (0..5000).map(|i| i as f32).collect();
        let (a, b) = (model(&[("w", &v)]), model(&[("w", &v)]));
        let progress = std::sync::Arc::new(Progress::new());
        progress.cancel();
        let config = crate::Config {
            chunk_elems: 256,
            progress: Some(progress.clone()),
            ..crate::Config::default()
        };
        let err = crate::diff(&a, &b, &config).unwrap_err();
        assert!(matches!(err, crate::Error::Cancelled), "{err}");
        assert_eq!(err.to_string(), "cancelled");
        assert_eq!(progress.done(), 0);
    }
}
