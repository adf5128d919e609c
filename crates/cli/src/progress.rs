//! The progress bar on stderr: bytes compared, rate and ETA, drawn by `indicatif` from the
//! engine's [`modeldiff::Progress`] counter.
//!
//! `--progress auto` draws only when stderr is a terminal and the diff is still running after
//! [`AUTO_DELAY`]; `always` draws from the start, terminal or not; `never` never. The bar is
//! cleared when the diff ends, and nothing of it ever goes to stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use modeldiff::Progress;

use crate::args::ProgressChoice;

/// A diff shorter than this shows no bar under `--progress auto`.
const AUTO_DELAY: Duration = Duration::from_secs(1);
/// How often the counter is polled.
const TICK: Duration = Duration::from_millis(100);

/// A running bar; [`Bar::finish`] clears it.
#[derive(Debug)]
pub(crate) struct Bar {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts polling `progress` on a thread of its own, if `choice` asks for a bar.
pub(crate) fn start(choice: ProgressChoice, progress: Arc<Progress>) -> Option<Bar> {
    let (target, delay): (fn() -> ProgressDrawTarget, Duration) = match choice {
        ProgressChoice::Never => return None,
        ProgressChoice::Auto if !std::io::stderr().is_terminal() => return None,
        ProgressChoice::Auto => (ProgressDrawTarget::stderr, AUTO_DELAY),
        // indicatif hides its stderr target when stderr is not a terminal; asked for, the bar
        // is drawn to whatever stderr is.
        ProgressChoice::Always => (
            || ProgressDrawTarget::term_like(Box::new(Stderr)),
            Duration::ZERO,
        ),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let begun = Instant::now();
        let mut bar: Option<ProgressBar> = None;
        let new_bar = || {
            let b = ProgressBar::with_draw_target(Some(progress.total()), target());
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .expect("a valid template"),
            );
            b
        };
        loop {
            let stopping = flag.load(Ordering::Relaxed);
            // Asked for always, a diff too quick for a tick still shows its bar once.
            let due = begun.elapsed() >= delay && (!stopping || delay.is_zero());
            if due && progress.total() > 0 {
                let b = bar.get_or_insert_with(new_bar);
                b.set_length(progress.total());
                b.set_position(progress.done());
            }
            if stopping {
                break;
            }
            std::thread::sleep(TICK);
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    });
    Some(Bar { stop, thread })
}

impl Bar {
    /// Stops polling and clears the bar.
    pub(crate) fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// stderr as indicatif's terminal, whether or not it is one.
#[derive(Debug)]
struct Stderr;

impl Stderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().write_all(s.as_bytes())
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        80
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}A"))?;
        }
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}B"))?;
        }
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}C"))?;
        }
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}D"))?;
        }
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
