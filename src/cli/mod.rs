//! The command line: clap derive types, one module per subcommand, exit codes in one place.

pub mod clauses;
pub mod diff;
pub mod exit;
pub mod progress;
pub mod proxy;
pub mod relay;
pub mod report;
pub mod run;
pub mod serve;
pub mod snapshots;
pub mod sweep;
pub mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Contract tests and conformance reports for the Twilio Conversations User resource.
#[derive(Debug, Parser)]
#[command(name = "convcheck", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the contract suite against a target (the embedded emulator by default).
    #[command(after_help = run::RUN_EXAMPLES)]
    Run(Box<run::RunArgs>),
    /// Compare a target's normalized answers with a baseline's (a URL, or a recording).
    Diff(Box<diff::DiffArgs>),
    /// Delete users left by earlier runs: only those whose identity starts with a prefix.
    Sweep(sweep::SweepArgs),
    /// Check recorded JSON (a User, a Users page or an error body) offline.
    Validate(validate::ValidateArgs),
    /// Print the documentation's normative clauses and the checks that enforce each.
    Clauses(clauses::ClausesArgs),
    /// Judge the traffic of your own application: a reverse proxy in front of a target.
    #[command(after_help = proxy::PROXY_EXAMPLES)]
    Proxy(Box<proxy::ProxyArgs>),
    /// Serve the reference emulator of the User resource.
    Serve(serve::ServeArgs),
    /// List the emulator's named faults, one line each.
    Faults(serve::FaultsArgs),
    /// List the emulator's named freedoms (legitimate variations), one line each.
    Freedoms(serve::FreedomsArgs),
    /// Render a saved JSON report as JUnit, Markdown or HTML.
    Report(report::ReportCommand),
}

impl Command {
    fn exec(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(args) => args.exec(),
            Command::Diff(args) => args.exec(),
            Command::Validate(args) => args.exec(),
            Command::Sweep(args) => args.exec(),
            Command::Clauses(args) => args.exec(),
            Command::Proxy(args) => args.exec(),
            Command::Serve(args) => args.exec(),
            Command::Faults(args) => args.exec(),
            Command::Freedoms(args) => args.exec(),
            Command::Report(args) => args.exec(),
        }
    }
}

/// The most `validate` and `report --from` read of one file: far above any answer of this
/// API (a page of 1000 users is about 600 KB), far below what would strain the machine.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Reads a whole file of at most [`MAX_INPUT`] bytes; `what` names it in messages (`the
/// report`, or empty). `Err` is a one-line message.
pub fn read_input(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what} ")
    };
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {what}`{}`: {e}", path.display()))?;
    read_capped(file, &format!("{what}`{}`", path.display()))
}

/// Reads all of standard input, at most [`MAX_INPUT`] bytes, as [`read_input`] reads a file.
pub fn read_stdin() -> Result<Vec<u8>, String> {
    read_capped(std::io::stdin().lock(), "standard input")
}

/// Reads `reader` to its end, refusing more than [`MAX_INPUT`] bytes; `name` says what it is.
fn read_capped(reader: impl std::io::Read, name: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{name} is larger than {} MiB, the most convcheck reads of one file; pass one JSON document",
            MAX_INPUT / (1024 * 1024)
        ));
    }
    Ok(bytes)
}

/// With `quietly`, a write to a closed pipe (`convcheck run --list | head -1`) ends the process
/// without a word, as it ends any Unix tool; Rust ignores SIGPIPE by default, and `println!`
/// would panic instead. Without, writes fail with an error the caller handles: `run` needs
/// that, so that a closed stdout cannot cut short the deletion of the users it created.
pub fn closed_pipe_ends_quietly(quietly: bool) {
    #[cfg(unix)]
    {
        let action = if quietly {
            libc::SIG_DFL
        } else {
            libc::SIG_IGN
        };
        // SAFETY: installs a default disposition, no handler; nothing else runs yet.
        unsafe {
            libc::signal(libc::SIGPIPE, action);
        }
    }
    #[cfg(not(unix))]
    let _ = quietly;
}

/// Parses the command line, runs the subcommand and maps every error to an exit code.
pub fn main() -> ExitCode {
    closed_pipe_ends_quietly(true);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command.exec() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", exit::one_line(&e));
            ExitCode::from(exit::USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_keeps_the_libtest_options_that_mean_something_here() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["convcheck", "run"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).map(|_| ()).map_err(|e| e.kind())
        };
        for kept in [
            &["create::", "--exact"][..],
            &["--skip", "::service", "--skip", "delete::"],
            &["--list", "--format", "json"],
            &["--ignored", "--read-only"],
            &["--include-ignored"],
            &["--test-threads", "2", "-q", "--color", "never"],
        ] {
            assert_eq!(parse(kept), Ok(()), "{kept:?}");
        }
        for gone in [
            &["--bench"][..],
            &["--test"],
            &["--logfile", "log.txt"],
            &["-Z", "unstable-options"],
            &["--nocapture"],
            &["--show-output"],
        ] {
            assert_eq!(
                parse(gone),
                Err(clap::error::ErrorKind::UnknownArgument),
                "{gone:?}"
            );
        }
    }
}
