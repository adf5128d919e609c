//! Running Rust work with the GIL released and Ctrl-C honoured.
//!
//! Python runs signal handlers only on the main thread and only between bytecodes, so a call
//! that sat in Rust for minutes would ignore Ctrl-C. [`interruptible`] runs the work on a scoped
//! worker thread; the calling thread waits on a channel with the GIL released, and every
//! [`POLL`] takes the GIL back to run `check_signals`. When a handler raises (Ctrl-C gives
//! `KeyboardInterrupt`), the engine is told through the [`Progress`] counter it checks before
//! every job, the worker is waited for (one job, well under a second), and the exception is
//! raised. Other Python threads run meanwhile: two threads diffing two pairs run in parallel.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use modeldiff::Progress;
use pyo3::prelude::*;

use crate::errors::{Failure, Kind};

/// How often the waiting thread runs Python's signal handlers.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work` on a worker thread with the GIL released; see the module docs.
pub(crate) fn interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(Arc<Progress>) -> Result<T, Failure> + Send,
{
    let progress = Arc::new(Progress::new());
    let outcome = std::thread::scope(|s| {
        let (tx, mut rx) = mpsc::channel();
        let counter = Arc::clone(&progress);
        s.spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(counter)))
                .unwrap_or_else(|_| Err(Failure::new(Kind::Internal, "modeldiff worker panicked")));
            let _ = tx.send(result);
        });
        loop {
            // The receiver moves into the closure and back: it is `Send` but not `Sync`.
            let (got, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
            rx = back;
            match got {
                Ok(result) => return Ok(result),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        progress.cancel();
                        let _ = py.detach(move || rx.recv());
                        return Err(interrupt);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(Err(Failure::new(
                        Kind::Internal,
                        "modeldiff worker vanished",
                    )))
                }
            }
        }
    })?;
    outcome.map_err(|f| f.into_pyerr(py))
}
