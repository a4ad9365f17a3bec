//! Report files: the `--report-*` options of `convcheck run`, `convcheck report --from`, and
//! `write`, the one function that writes report files (both commands call it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::exit;
use crate::report::{badge, html, junit, markdown};
use crate::runner::Report;

/// Where `convcheck run` writes its reports.
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write the JSON report here (described by `specs/report.schema.json`).
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
    /// Write a JUnit XML report here: a finding is a failure, a transport problem an error.
    #[arg(long, value_name = "PATH")]
    pub report_junit: Option<PathBuf>,
    /// Write a Markdown summary here. A short digest goes to `$GITHUB_STEP_SUMMARY` when set.
    #[arg(long, value_name = "PATH")]
    pub report_md: Option<PathBuf>,
    /// Write a self-contained HTML report here, with the conformance matrix.
    #[arg(long, value_name = "PATH")]
    pub report_html: Option<PathBuf>,
    /// Write an SVG badge of the score here (`convcheck | 48/50`).
    #[arg(long, value_name = "PATH")]
    pub report_badge: Option<PathBuf>,
}

impl ReportArgs {
    /// Every report path asked for, with its format's name.
    fn wanted(&self) -> [(&Option<PathBuf>, Format, &'static str); 5] {
        [
            (&self.report_json, Format::Json, "JSON"),
            (&self.report_junit, Format::Junit, "JUnit"),
            (&self.report_md, Format::Md, "Markdown"),
            (&self.report_html, Format::Html, "HTML"),
            (&self.report_badge, Format::Badge, "badge"),
        ]
    }

    /// Checks that every report path can be written, before the run sends anything: a run
    /// that writes to a target must not end by failing to say what it found.
    pub fn check_writable(&self) -> anyhow::Result<()> {
        for (path, _, what) in self.wanted() {
            let Some(path) = path else { continue };
            let existed = path.exists();
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| {
                    format!(
                        "cannot write the {what} report to `{}`; fix the path (does its directory exist?)",
                        path.display()
                    )
                })?;
            if !existed {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The JSON report itself.
    Json,
    /// JUnit XML.
    Junit,
    /// Markdown summary.
    Md,
    /// Self-contained HTML.
    Html,
    /// An SVG badge of the score.
    Badge,
}

/// Renders a report in a format: the pure renderers, chosen by name.
pub fn render(report: &Report, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Junit => junit::render(report),
        Format::Md => markdown::render(report),
        Format::Html => html::render(report),
        Format::Badge => badge::render(report),
    })
}

/// Writes every report asked for, then appends the short digest (never the full report) to
/// the file named by `GITHUB_STEP_SUMMARY` (as passed in `step_summary`), as GitHub Actions
/// expects, with a link to the run when the environment names one.
pub fn write(
    report: &Report,
    paths: &ReportArgs,
    step_summary: Option<&Path>,
) -> anyhow::Result<()> {
    for (path, format, what) in paths.wanted() {
        let Some(path) = path else { continue };
        // Whatever its source, no credential reaches a file.
        let text = crate::client::scrub::scrub(&render(report, format)?);
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write the {what} report to `{}`", path.display()))?;
    }
    if let Some(summary) = step_summary {
        let digest = crate::client::scrub::scrub(&markdown::digest(report, run_url().as_deref()));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(summary)
            .and_then(|mut f| f.write_all(digest.as_bytes()))
            .with_context(|| {
                format!(
                    "cannot append the digest to `{}` (GITHUB_STEP_SUMMARY)",
                    summary.display()
                )
            })?;
    }
    Ok(())
}

/// The step summary file of GitHub Actions, when the environment names one.
pub fn step_summary() -> Option<PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The page of the current GitHub Actions run, whose artifacts hold the reports, when
/// `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_RUN_ID` are all set.
pub fn run_url() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}

/// Options of `convcheck report`.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// A JSON report written by `convcheck run --report-json`.
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The format to render.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Where to write it; standard output when omitted or `-`.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Append the short digest to `$GITHUB_STEP_SUMMARY` too (it must be set).
    #[arg(long)]
    pub step_summary: bool,
}

impl ReportCommand {
    /// Re-renders a saved JSON report.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        let bytes = super::read_input(&self.from, "the report").map_err(anyhow::Error::msg)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("`{}` is not UTF-8 text", self.from.display()))?;
        let report: Report = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "`{}` is not a convcheck JSON report: {e}",
                self.from.display()
            )
        })?;
        let summary = match (self.step_summary, step_summary()) {
            (false, _) => None,
            (true, Some(path)) => Some(path),
            (true, None) => anyhow::bail!(
                "`--step-summary` needs `GITHUB_STEP_SUMMARY` to name a file; set it or drop the option"
            ),
        };
        let mut paths = ReportArgs::default();
        match self.out.filter(|o| o.as_os_str() != "-") {
            None => print!(
                "{}",
                crate::client::scrub::scrub(&render(&report, self.format)?)
            ),
            Some(out) => {
                let slot = match self.format {
                    Format::Json => &mut paths.report_json,
                    Format::Junit => &mut paths.report_junit,
                    Format::Md => &mut paths.report_md,
                    Format::Html => &mut paths.report_html,
                    Format::Badge => &mut paths.report_badge,
                };
                *slot = Some(out);
            }
        }
        write(&report, &paths, summary.as_deref())?;
        Ok(ExitCode::from(exit::OK))
    }
}
