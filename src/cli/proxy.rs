//! `convcheck proxy`: judge the traffic of the user's own application (see `crate::proxy`).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

use super::exit;
use super::report::ReportArgs;
use super::serve::Signals;
use super::validate::parse_edition;
use crate::client::scrub::scrub;
use crate::proxy::{self, Options, Proxy, Session};
use crate::runner::{CaseRecord, Outcome, Report, Summary};
use crate::snapshot::{Dates, Scope, normalize, store};
use crate::spec::{Edition, SidKind};

/// Examples shown under `convcheck proxy --help`.
pub const PROXY_EXAMPLES: &str = "\
Examples:
  # Judge a test suite's traffic to a mock; CONVCHECK_PROXY_URL is the proxy's base URL
  convcheck proxy --upstream http://127.0.0.1:4010 --preserve-host -- npm test

  # Stand in front of Twilio until Ctrl-C (or 30 s without a request), then report
  convcheck proxy --upstream https://conversations.twilio.com --idle 30 --report-html proxy.html

  # Record the normalized traffic, to verify a mock against it later
  convcheck proxy --upstream https://conversations.twilio.com --snapshots record recorded -- ./app-tests";

/// The name of the snapshot file the proxy records.
pub const TRAFFIC_CASE: &str = "proxy::traffic";

/// Options of `convcheck proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Base URL of the server to forward to (Twilio: https://conversations.twilio.com).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:4020")]
    pub listen: SocketAddr,
    /// Stop and report after this many seconds without a request.
    #[arg(long, value_name = "SECS")]
    pub idle: Option<u64>,
    /// Send the client's Host header to the upstream (for a server that builds its URLs
    /// from it, so that clients follow `next_page_url` back through the proxy).
    #[arg(long)]
    pub preserve_host: bool,
    /// Refuse (413) and never forward a request body larger than this.
    #[arg(long, value_name = "BYTES", default_value_t = proxy::DEFAULT_MAX_REQUEST)]
    pub max_request_bytes: usize,
    /// How long the upstream may take to answer one request.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// The contract edition: `docs` or `oai-2025`.
    #[arg(long, default_value = "docs", value_parser = parse_edition)]
    pub edition: Edition,
    /// The Conversation Service behind `/v1/Users` (default: learned from the first user the
    /// shortened form answers with).
    #[arg(long, value_name = "IS…")]
    pub default_service_sid: Option<String>,
    /// SHOULD findings fail too.
    #[arg(long)]
    pub strict: bool,
    /// Exit 0 when no request to the User resource went through (by default that is a usage
    /// error: an application that bypasses the proxy must not pass in CI).
    #[arg(long)]
    pub allow_empty: bool,
    /// `record DIR`: write the normalized traffic as a snapshot under DIR/<edition>/.
    #[arg(long, num_args = 2, value_names = ["record", "DIR"])]
    pub snapshots: Vec<String>,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// A command to run with CONVCHECK_PROXY_URL set; the proxy stops when it ends.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl ProxyArgs {
    fn record_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        match self.snapshots.as_slice() {
            [] => Ok(None),
            [mode, dir] if mode == "record" => Ok(Some(PathBuf::from(dir))),
            [mode, _] => bail!(
                "--snapshots {mode}: the proxy records only; pass `--snapshots record DIR`, then verify a target against the recording with `convcheck run --target URL --snapshot-dir DIR`"
            ),
            _ => bail!("--snapshots takes two values: `record DIR`"),
        }
    }

    /// Runs the proxy until a signal, `--idle`, or the wrapped command's end.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        if let Some(s) = &self.default_service_sid
            && !SidKind::Service.matches(s)
        {
            bail!(
                "--default-service-sid `{s}` is not a Conversation Service sid (IS and 32 hex digits)"
            );
        }
        let record = self.record_dir()?;
        if let Some(dir) = &record {
            let d = store::edition_dir(dir, &self.edition.to_string());
            std::fs::create_dir_all(&d).with_context(|| {
                format!("cannot create the snapshot directory `{}`", d.display())
            })?;
        }
        self.reports.check_writable()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        rt.block_on(self.serve(record))
    }

    async fn serve(self, record: Option<PathBuf>) -> anyhow::Result<ExitCode> {
        let signals = Signals::listen()?;
        let started_at = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let t0 = Instant::now();
        let proxy = Proxy::start(Options {
            upstream: self.upstream.clone(),
            listen: self.listen,
            preserve_host: self.preserve_host,
            max_request: self.max_request_bytes,
            edition: self.edition,
            default_service: self.default_service_sid.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            keep_exchanges: record.is_some(),
        })
        .await?;
        eprintln!(
            "convcheck proxy listening on {}, forwarding to {}",
            proxy.url(),
            self.upstream.trim_end_matches('/')
        );
        let mut command_failed: Option<String> = None;
        let mut command_code: u8 = 0;
        if self.command.is_empty() {
            let idle = self.idle.map(Duration::from_secs);
            let ticker = async {
                match idle {
                    None => std::future::pending::<()>().await,
                    Some(limit) => loop {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if proxy.idle_for() >= limit {
                            break;
                        }
                    },
                }
            };
            tokio::select! {
                _ = signals.wait() => eprintln!("convcheck proxy: stopping (signal)"),
                _ = ticker => eprintln!("convcheck proxy: stopping ({} s without a request)", self.idle.unwrap_or(0)),
            }
        } else {
            let mut child = tokio::process::Command::new(&self.command[0])
                .args(&self.command[1..])
                .env("CONVCHECK_PROXY_URL", proxy.url())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| {
                    format!(
                        "cannot run `{}`; check the command after `--`",
                        self.command[0]
                    )
                })?;
            tokio::select! {
                status = child.wait() => {
                    let status = status.context("cannot wait for the command")?;
                    if !status.success() {
                        command_code = status.code().and_then(|c| u8::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1);
                        command_failed = Some(format!("`{}` failed ({status})", self.command.join(" ")));
                    }
                }
                _ = signals.wait() => {
                    eprintln!("convcheck proxy: stopping (signal); waiting up to 10 s for the command");
                    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                        let _ = child.kill().await;
                    }
                    command_failed = Some("the command was interrupted".to_owned());
                    command_code = 1;
                }
            }
        }
        let session = proxy.stop(Duration::from_secs(10)).await;
        let report = self.report(&session, started_at, t0.elapsed());
        self.print(&report, &session);
        if let Some(dir) = &record {
            self.record(dir, &session, &report)?;
        }
        super::report::write(
            &report,
            &self.reports,
            super::report::step_summary().as_deref(),
        )?;
        let judged: usize = session.records.iter().map(|r| r.chain).sum();
        if let Some(why) = &command_failed {
            eprintln!("convcheck proxy: {}", scrub(why));
        }
        let code = if report.summary.failed > 0 {
            exit::FINDINGS
        } else if command_failed.is_some() {
            command_code
        } else if judged == 0 && !self.allow_empty {
            eprintln!(
                "convcheck proxy: no request to the User resource went through the proxy: point the application at {} (CONVCHECK_PROXY_URL), or pass --allow-empty",
                session_url(&self.listen)
            );
            exit::USAGE
        } else if !session.failed.is_empty() {
            exit::USAGE
        } else {
            exit::OK
        };
        Ok(ExitCode::from(code))
    }

    fn report(&self, session: &Session, started_at: String, took: Duration) -> Report {
        let mut cases: Vec<CaseRecord> = session.records.clone();
        if self.strict {
            for c in &mut cases {
                if !c.findings.is_empty() {
                    c.outcome = Outcome::Failed;
                }
            }
        }
        let mut notes = session.notes.clone();
        if session.refused > 0 {
            notes.push(format!(
                "{} larger than {} bytes refused with 413 and not forwarded",
                crate::runner::plural(session.refused, "request", "requests"),
                self.max_request_bytes
            ));
        }
        for f in &session.failed {
            notes.push(f.clone());
        }
        Report {
            convcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: self.upstream.trim_end_matches('/').to_owned(),
            edition: self.edition.to_string(),
            started_at,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            strict: self.strict,
            summary: Summary::of(&cases),
            notes,
            waits: crate::client::PatienceFigures::default(),
            cases,
        }
    }

    fn print(&self, report: &Report, session: &Session) {
        let mut out = std::io::stdout().lock();
        let mut say = |line: String| {
            let _ = writeln!(out, "{}", scrub(&line));
        };
        for c in &report.cases {
            let n = c.chain;
            let state = match c.outcome {
                Outcome::Failed => "FAILED",
                _ => "ok",
            };
            say(format!(
                "{}: {} judged, {state}",
                c.id,
                crate::runner::plural(n, "exchange", "exchanges")
            ));
        }
        for c in &report.cases {
            if let Err(f) = super::run::verdict(c) {
                say(format!("\n---- {} ----", c.id));
                say(f.message().unwrap_or_default().trim_end().to_owned());
            }
        }
        for line in super::run::warning_lines(report) {
            say(line);
        }
        for note in &report.notes {
            say(format!("note: {note}"));
        }
        let judged: usize = report.cases.iter().map(|c| c.chain).sum();
        let findings: usize = report.cases.iter().map(|c| c.findings.len()).sum();
        let must = report
            .cases
            .iter()
            .flat_map(|c| &c.findings)
            .filter(|f| f.severity == crate::spec::Severity::Must)
            .count();
        say(format!(
            "convcheck proxy: {} judged against {} (edition {}): {}; {} outside the User resource passed through",
            crate::runner::plural(judged, "exchange", "exchanges"),
            report.target,
            report.edition,
            crate::report::diagnostic::count(findings, must),
            session.uncovered
        ));
    }

    /// Writes the normalized traffic as one snapshot: only the users the session created
    /// survive normalization, so nothing of anyone else reaches the file.
    fn record(
        &self,
        dir: &std::path::Path,
        session: &Session,
        report: &Report,
    ) -> anyhow::Result<()> {
        let account = session.exchanges.iter().find_map(|ex| {
            serde_json::from_slice::<serde_json::Value>(&ex.response_body)
                .ok()
                .and_then(|v| {
                    v.get("account_sid")
                        .and_then(|a| a.as_str())
                        .map(str::to_owned)
                })
        });
        let own: BTreeSet<String> = session.created.clone();
        let normalized = normalize(
            &session.exchanges,
            Scope {
                base_url: &session.judged_base,
                run_prefix: "",
                namespace: "",
                account_sid: account.as_deref(),
                own: &own,
            },
            Dates::Shape,
        );
        let header = store::Header {
            target: crate::snapshot::target_kind(&report.target, false),
            recorded_at: report.started_at.clone(),
            edition: report.edition.clone(),
            convcheck_version: report.convcheck_version.clone(),
        };
        let path = store::edition_dir(dir, &report.edition).join(store::file_name(TRAFFIC_CASE));
        store::record(&path, TRAFFIC_CASE, &header, &normalized.doc)?;
        eprintln!(
            "convcheck proxy: recorded {} to `{}`",
            crate::runner::plural(session.exchanges.len(), "exchange", "exchanges"),
            path.display()
        );
        Ok(())
    }
}

fn session_url(listen: &SocketAddr) -> String {
    format!("http://{listen}")
}
