//! The progress display of long runs, drawn by indicatif on stderr: `[12/50] ` and the ids of
//! the cases running, rewritten in place and cleared at the end. It is shown only when stderr
//! is a terminal and stdout is not: when stdout is the terminal, libtest's own lines already
//! show progress there, and a line rewritten in place would tear them. Nothing is written when
//! stderr is a pipe or a file.

use std::io::IsTerminal as _;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts finished cases and names the running ones.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    running: Mutex<Vec<String>>,
}

impl Progress {
    /// A display over `total` cases, on only where it can be seen and harms nothing.
    pub fn new(total: usize) -> Progress {
        let on = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        Self::with_target(total, on)
    }

    fn with_target(total: usize, on: bool) -> Progress {
        let target = if on {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        // `wide_msg` cuts the names to the terminal's width: the display stays one line.
        if let Ok(style) = ProgressStyle::with_template("[{pos}/{len}] {wide_msg}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            running: Mutex::new(Vec::new()),
        }
    }

    /// Sets how many cases will run (known once the filters are applied).
    pub fn set_total(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    /// A case started.
    pub fn start(&self, id: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.push(id.to_owned());
        self.bar.set_message(running.join(" "));
    }

    /// A case finished.
    pub fn done(&self, id: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = running.iter().position(|r| r == id) {
            running.remove(i);
        }
        self.bar.set_message(running.join(" "));
        self.bar.inc(1);
    }

    /// What the display shows now, drawn or not: `[done/total] ids…`.
    pub fn line(&self) -> String {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "[{}/{}] {}",
            self.bar.position(),
            self.bar.length().unwrap_or(0),
            running.join(" ")
        )
    }

    /// Clears the display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_finished_cases_and_names_the_running_ones() {
        let p = Progress::with_target(9, false);
        p.set_total(3);
        p.start("create::minimal::shortened");
        p.start("delete::by-sid::service");
        assert_eq!(
            p.line(),
            "[0/3] create::minimal::shortened delete::by-sid::service"
        );
        p.done("create::minimal::shortened");
        assert_eq!(p.line(), "[1/3] delete::by-sid::service");
        p.done("delete::by-sid::service");
        assert_eq!(p.line(), "[2/3] ");
        p.finish();
    }
}
