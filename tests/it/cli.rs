//! The command line on real processes where a data-driven case cannot reach: a reader that
//! closes the pipe early.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// Starts `convcheck` with `args`, reads the first line of its stdout, closes the pipe and
/// returns that line, the exit status and everything on stderr.
fn first_line_then_close(args: &[&str]) -> (String, std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_convcheck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("convcheck starts");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout pipe"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("one line");
    drop(reader);
    let out = child.wait_with_output().expect("convcheck ends");
    (
        line,
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ended by the closed pipe as Unix tools are, or done before it noticed.
fn quiet_end(status: std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if status.signal() == Some(libc::SIGPIPE) {
            return true;
        }
    }
    status.success()
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    let (line, status, stderr) = first_line_then_close(&["run", "--list"]);
    assert_eq!(line, "[create] create::minimal::shortened: test\n");
    assert!(quiet_end(status), "{status:?}");
    assert_eq!(stderr, "");
}

#[test]
fn a_closed_pipe_lets_a_json_run_finish_its_cleanup_quietly() {
    let (line, status, stderr) =
        first_line_then_close(&["run", "--format", "json", "--snapshots", "off"]);
    assert!(
        line.contains(r#""type": "suite", "event": "started""#),
        "{line}"
    );
    // A run that created users goes on to delete them: no signal ends it, no panic shows.
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.starts_with("convcheck: 53 passed, 0 failed, 0 errored, 0 skipped (53 cases)"),
        "{stderr}"
    );
}
