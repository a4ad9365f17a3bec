//! A progress line for long runs: `[12/50] running…` on stderr, rewritten in place and cleared
//! at the end. It is shown only when stderr is a terminal and stdout is not: when stdout is
//! the terminal, libtest's own lines already show progress there, and a line rewritten in
//! place would tear them. Nothing is written when stderr is a pipe or a file.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts finished cases and redraws the line.
#[derive(Debug)]
pub struct Progress {
    total: AtomicUsize,
    done: AtomicUsize,
    on: bool,
}

impl Progress {
    /// A progress line over `total` cases, on only where it can be seen and harms nothing.
    pub fn new(total: usize) -> Progress {
        let on = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        Progress {
            total: AtomicUsize::new(total),
            done: AtomicUsize::new(0),
            on,
        }
    }

    /// Sets how many cases will run (known once the filters are applied).
    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// One more case finished.
    pub fn tick(&self) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.on {
            let mut err = std::io::stderr().lock();
            let total = self.total.load(Ordering::Relaxed);
            let _ = write!(err, "\r\x1b[K[{n}/{total}] running…");
            let _ = err.flush();
        }
    }

    /// Clears the line.
    pub fn finish(&self) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
