//! libtest-mimic's output on its way to stdout, so that a run has one closing line. libtest
//! writes into a pipe (its `--logfile`, pointed at the pipe's `/dev/fd` path) and a thread
//! passes everything on but its `test result: …` line, which would count expected failures and
//! skipped cases its own way; convcheck prints the closing line. With `--format json` each
//! `failed` event also gets a `message` field holding the failure text as a plain string
//! (libtest's `stdout` field wraps it in `Error: "…"`, a shape made for Rust's own tests).
//!
//! Where there is no `/dev/fd` (Windows), there is no relay and libtest prints to stdout itself.

use std::io::{Read, Write as _};
use std::thread::JoinHandle;

/// The start of the line that the relay holds back.
const RESULT_LINE: &[u8] = b"test result: ";

/// A running relay: the pipe's writing end (kept open until libtest is done) and the thread.
pub struct Relay {
    path: String,
    writer: std::io::PipeWriter,
    thread: JoinHandle<()>,
}

impl Relay {
    /// Starts a relay for `json` (JSON lines) or text output; `None` where none can run.
    pub fn start(json: bool) -> Option<Relay> {
        let path = Self::fd_dir()?;
        let (reader, writer) = std::io::pipe().ok()?;
        #[cfg(unix)]
        let path = {
            use std::os::fd::AsRawFd as _;
            format!("{path}/{}", writer.as_raw_fd())
        };
        let thread = std::thread::Builder::new()
            .name("convcheck-relay".to_owned())
            .spawn(move || pass_on(reader, json))
            .ok()?;
        Some(Relay {
            path,
            writer,
            thread,
        })
    }

    fn fd_dir() -> Option<&'static str> {
        if !cfg!(unix) {
            return None;
        }
        ["/proc/self/fd", "/dev/fd"]
            .into_iter()
            .find(|d| std::path::Path::new(d).is_dir())
    }

    /// The path to hand libtest as its log file.
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Closes the pipe (libtest has closed its end by now) and waits until everything libtest
    /// wrote is on stdout.
    pub fn finish(self) {
        drop(self.writer);
        let _ = self.thread.join();
    }
}

/// Copies `reader` to stdout, line by line where a line must be judged whole; text that is
/// surely no held-back line goes on at once, so that a slow case's `test … ... ` shows early.
fn pass_on(mut reader: std::io::PipeReader, json: bool) {
    let mut filter = Filter::new(json);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let out = filter.feed(&chunk[..n]);
        emit(&out);
    }
    emit(&filter.end());
}

fn emit(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// The line filter itself, apart from the pipe so that it can be tested.
pub struct Filter {
    json: bool,
    /// Bytes of a line whose start has not been passed on yet.
    held: Vec<u8>,
    /// Whether the next byte starts a line.
    at_start: bool,
    /// Whether the line after the dropped result line, when empty, is dropped too.
    drop_blank: bool,
}

impl Filter {
    /// A filter for JSON lines or text.
    pub fn new(json: bool) -> Filter {
        Filter {
            json,
            held: Vec::new(),
            at_start: true,
            drop_blank: false,
        }
    }

    /// Takes what libtest wrote; returns what goes to stdout now.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.at_start {
                self.held.push(b);
                if b == b'\n' {
                    let line = std::mem::take(&mut self.held);
                    self.line(&line, &mut out);
                } else if !self.json
                    && !RESULT_LINE.starts_with(&self.held)
                    && !self.held.starts_with(RESULT_LINE)
                {
                    // Not the result line: the rest of this line goes on as it comes.
                    self.drop_blank = false;
                    out.append(&mut self.held);
                    self.at_start = false;
                }
            } else {
                out.push(b);
                if b == b'\n' {
                    self.at_start = true;
                }
            }
        }
        out
    }

    /// What is still held when libtest is done.
    pub fn end(&mut self) -> Vec<u8> {
        let line = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        if !line.is_empty() {
            self.line(&line, &mut out);
        }
        out
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let drop_blank = std::mem::take(&mut self.drop_blank);
        if line.starts_with(RESULT_LINE) {
            self.drop_blank = true;
        } else if drop_blank && line == b"\n" {
            // The blank line libtest prints after its result line goes with it.
        } else if self.json {
            out.extend_from_slice(&with_message(line));
        } else {
            out.extend_from_slice(line);
        }
    }
}

/// A JSON event line with a plain `message` field added to a `failed` test event.
fn with_message(line: &[u8]) -> Vec<u8> {
    let Ok(mut event) = serde_json::from_slice::<serde_json::Value>(line) else {
        return line.to_vec();
    };
    if event["type"] != "test" || event["event"] != "failed" {
        return line.to_vec();
    }
    let Some(message) = event["stdout"]
        .as_str()
        .and_then(|s| s.strip_prefix("Error: \""))
        .and_then(|s| s.strip_suffix("\"\n"))
        .map(str::to_owned)
    else {
        return line.to_vec();
    };
    event["message"] = serde_json::Value::String(message);
    let mut out = serde_json::to_vec(&event).unwrap_or_else(|_| line.to_vec());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(json: bool, pieces: &[&str]) -> String {
        let mut f = Filter::new(json);
        let mut out = Vec::new();
        for p in pieces {
            out.extend(f.feed(p.as_bytes()));
        }
        out.extend(f.end());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn drops_the_result_line_and_the_blank_after_it() {
        let got = through(
            false,
            &[
                "\nrunning 2 tests\n",
                "test a ... ",
                "ok\ntest b ... ok\n",
                "\n",
                "test re",
                "sult: ok. 2 passed; 0 failed\n",
                "\n",
            ],
        );
        assert_eq!(got, "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\n");
    }

    #[test]
    fn passes_a_partial_line_on_at_once() {
        let mut f = Filter::new(false);
        assert_eq!(f.feed(b"test slow::case ... "), b"test slow::case ... ");
        assert_eq!(f.feed(b"ok\n"), b"ok\n");
        assert_eq!(f.feed(b"te"), b"");
        assert_eq!(f.feed(b"rse dots"), b"terse dots");
    }

    #[test]
    fn failed_json_events_get_a_plain_message() {
        let line = r#"{ "type": "test", "name": "a", "event": "failed", "stdout": "Error: \"bad `x`\nat \"/sid\"\"\n" }"#;
        let got = through(true, &[line, "\n", "{ \"type\": \"suite\" }\n"]);
        let first: serde_json::Value = serde_json::from_str(got.lines().next().unwrap()).unwrap();
        assert_eq!(first["message"], "bad `x`\nat \"/sid\"");
        assert_eq!(got.lines().nth(1), Some("{ \"type\": \"suite\" }"));
    }
}
