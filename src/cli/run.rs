//! `convcheck run`: the suite against a target (the embedded emulator when none is named),
//! with libtest's front end: filters, `--list`, `--test-threads`, `--format`. convcheck declares
//! the libtest options it keeps itself (grouped in its help) and builds libtest-mimic's
//! `Arguments` from them, so that the ones that mean nothing here are refused by clap.

use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use libtest_mimic::{ColorSetting, Completion, Failed, FormatSetting, Trial};

use super::exit;
use super::progress::Progress;
use super::relay;
use super::report::ReportArgs;
use super::snapshots::{self, SnapshotArgs, SnapshotRun};
use super::validate::parse_edition;
use crate::client::{Client, Credentials, Request, Secret};
use crate::emulator;
use crate::report::diagnostic;
use crate::runner::{self, CaseRecord, Outcome, Plan, Report, Session, Summary};
use crate::spec::{Edition, SidKind, UrlForm};
use crate::suite;

/// Where to run and as whom.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Base URL of the target (`https://conversations.twilio.com`); without it the embedded
    /// emulator is started on 127.0.0.1 and used.
    #[arg(long, env = "CONVCHECK_TARGET", help_heading = "Target")]
    pub target: Option<String>,
    /// Account SID (`AC…`).
    #[arg(long, env = "TWILIO_ACCOUNT_SID", help_heading = "Credentials")]
    pub account_sid: Option<String>,
    /// Auth Token of the account.
    #[arg(
        long,
        env = "TWILIO_AUTH_TOKEN",
        hide_env_values = true,
        help_heading = "Credentials"
    )]
    pub auth_token: Option<String>,
    /// API Key SID (`SK…`), used instead of the Auth Token.
    #[arg(long, env = "TWILIO_API_KEY", help_heading = "Credentials")]
    pub api_key: Option<String>,
    /// API Key secret.
    #[arg(
        long,
        env = "TWILIO_API_SECRET",
        hide_env_values = true,
        help_heading = "Credentials"
    )]
    pub api_secret: Option<String>,
    /// Per-request time limit, in seconds.
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECONDS",
        help_heading = "Target"
    )]
    pub timeout: u64,
}

/// Options of `convcheck run`, grouped in its help: Target, Credentials, Selection, Output,
/// Snapshots, Safety.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also run every case on `/v1/Services/{IS…}/Users` for this Conversation Service.
    #[arg(long, help_heading = "Target")]
    pub service_sid: Option<String>,
    /// Run only the service-scoped URL form (needs `--service-sid`).
    #[arg(long, requires = "service_sid", help_heading = "Target")]
    pub only_service: bool,
    /// The account's default Conversation Service (`IS…`): users created through the
    /// shortened URL form must belong to it. Known by itself for the embedded emulator.
    #[arg(long, help_heading = "Target")]
    pub default_service_sid: Option<String>,
    /// The contract edition: `docs` (PageSize 1..1000) or `oai-2025` (PageSize 1..50).
    #[arg(long, default_value = "docs", value_parser = parse_edition, help_heading = "Target")]
    pub edition: Edition,
    /// The largest number of pages the pagination walk may request.
    #[arg(long, default_value_t = 1000, help_heading = "Target")]
    pub max_pages: usize,
    /// How many cases run at once (default 8: the work waits on the network).
    #[arg(long, value_name = "N", help_heading = "Target")]
    pub test_threads: Option<usize>,
    /// Run only the cases whose id contains FILTER (`kind::name::form`).
    #[arg(value_name = "FILTER", help_heading = "Selection")]
    pub filter: Option<String>,
    /// Match FILTER and `--skip` against whole case ids.
    #[arg(long, help_heading = "Selection")]
    pub exact: bool,
    /// Leave out the cases whose id contains FILTER (repeatable).
    #[arg(long, value_name = "FILTER", help_heading = "Selection")]
    pub skip: Vec<String>,
    /// Print the selected case ids and their number instead of running them.
    #[arg(long, help_heading = "Selection")]
    pub list: bool,
    /// Run only the cases `--read-only` would skip (they are still skipped).
    #[arg(long, help_heading = "Selection")]
    pub ignored: bool,
    /// Also select the cases `--read-only` skips (they are still skipped).
    #[arg(long, help_heading = "Selection")]
    pub include_ignored: bool,
    /// Exit 0 when the filters select no case to run (by default that is a usage error, so
    /// that a mistyped filter cannot pass in CI).
    #[arg(long, help_heading = "Selection")]
    pub allow_empty: bool,
    /// Fail cases on SHOULD findings too.
    #[arg(long, help_heading = "Selection")]
    pub strict: bool,
    /// One line per case (`pretty`, the default), one character per case (`terse`), or
    /// JSON lines on stdout (`json`).
    #[arg(
        long,
        value_enum,
        value_name = "pretty|terse|json",
        hide_possible_values = true,
        help_heading = "Output"
    )]
    pub format: Option<libtest_mimic::FormatSetting>,
    /// One character per case: `--format terse`.
    #[arg(short, long, conflicts_with = "format", help_heading = "Output")]
    pub quiet: bool,
    /// Colour the per-case lines: `auto` (when stdout is a terminal), `always`, `never`.
    #[arg(
        long,
        value_enum,
        value_name = "auto|always|never",
        hide_possible_values = true,
        help_heading = "Output"
    )]
    pub color: Option<libtest_mimic::ColorSetting>,
    #[command(flatten, next_help_heading = "Output")]
    pub reports: ReportArgs,
    #[command(flatten, next_help_heading = "Snapshots")]
    pub snapshot: SnapshotArgs,
    /// Let the suite create, update and delete users on a target outside this machine. It
    /// only ever deletes what it created.
    #[arg(long, help_heading = "Safety")]
    pub allow_writes: bool,
    /// Run only the cases that do not write; the others are reported skipped.
    #[arg(long, help_heading = "Safety")]
    pub read_only: bool,
}

/// The examples under `convcheck run --help`.
pub const RUN_EXAMPLES: &str = "\
Examples:
  convcheck run                                   the suite against the embedded emulator
  convcheck run --target https://conversations.twilio.com --allow-writes
  convcheck run --target URL --read-only          only the cases that do not write
  convcheck run lookup:: --skip ::service         a filter, and a case left out
  convcheck run create::minimal::shortened --exact
  convcheck run --list --format json              the case ids as JSON lines
  convcheck run --report-json r.json --report-junit r.xml

Cases run concurrently (--test-threads, default 8); the pagination walk holds its collection alone.";

impl RunArgs {
    /// libtest-mimic's arguments for the options convcheck keeps; the others stay unset.
    pub fn libtest(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            filter: self.filter.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            list: self.list,
            ignored: self.ignored,
            include_ignored: self.include_ignored,
            test_threads: self.test_threads,
            format: self.format,
            quiet: self.quiet,
            color: self.color,
            ..libtest_mimic::Arguments::default()
        }
    }
}

/// Whether a URL's host is this machine.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses and normalizes a target URL: http or https, no query, no trailing slash.
pub fn parse_target(raw: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(raw).map_err(|e| {
        anyhow::anyhow!("invalid target `{raw}`: {e}; expected an http or https URL")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("invalid target `{raw}`: expected an http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("invalid target: put credentials in --account-sid/--auth-token, not in the URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("invalid target `{raw}`: expected a base URL without query or fragment");
    }
    if !matches!(url.path(), "" | "/") {
        let origin = url.origin().ascii_serialization();
        bail!(
            "invalid target `{raw}`: expected a base URL without a path, such as `{origin}` (convcheck adds `/v1/...` itself)"
        );
    }
    Ok(url)
}

fn base_string(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

impl TargetArgs {
    /// Checks what can be checked before anything is sent: the time limit and the target URL.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.timeout == 0 {
            bail!("--timeout must be at least 1 second");
        }
        if let Some(raw) = &self.target {
            parse_target(raw)?;
        }
        Ok(())
    }

    /// The credentials, checked for shape. Secrets never appear in messages.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let account = self.account_sid.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "missing credentials: pass --account-sid with --auth-token (or --api-key and --api-secret), or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        })?;
        if !SidKind::Account.matches(&account) {
            bail!(
                "malformed account sid `{account}`: expected `{}`",
                SidKind::Account.pattern()
            );
        }
        match (&self.api_key, &self.api_secret, &self.auth_token) {
            (Some(key), Some(secret), _) => {
                if !SidKind::ApiKey.matches(key) {
                    bail!(
                        "malformed API key `{key}`: expected `{}`",
                        SidKind::ApiKey.pattern()
                    );
                }
                Ok(Credentials {
                    username: key.clone(),
                    secret: Secret::new(secret.clone()),
                    account_sid: account,
                })
            }
            (Some(_), None, _) => bail!("--api-key needs --api-secret (or TWILIO_API_SECRET)"),
            (None, _, Some(token)) => Ok(Credentials {
                username: account.clone(),
                secret: Secret::new(token.clone()),
                account_sid: account,
            }),
            (None, _, None) => bail!(
                "missing credentials: pass --auth-token (or TWILIO_AUTH_TOKEN), or --api-key with --api-secret"
            ),
        }
    }
}

/// A target ready to run against: its URL and a client; the embedded emulator when started.
pub struct Prepared {
    /// Base URL without trailing slash.
    pub base_url: String,
    /// The HTTP client with the run's credentials.
    pub client: Client,
    /// The embedded emulator, when the run started one.
    pub embedded: Option<emulator::Running>,
}

/// Starts the embedded emulator or checks the remote target's arguments.
pub async fn prepare(t: &TargetArgs, edition: Edition) -> anyhow::Result<Prepared> {
    t.check()?;
    let timeout = Duration::from_secs(t.timeout);
    match &t.target {
        None => {
            let config = emulator::Config {
                edition,
                ..emulator::Config::default()
            };
            let running = emulator::spawn(config)
                .await
                .context("cannot start the embedded emulator")?;
            let c = running.config();
            let creds = Credentials {
                username: c.account_sid.clone(),
                secret: Secret::new(c.auth_token.clone()),
                account_sid: c.account_sid.clone(),
            };
            let base_url = running.base_url();
            Ok(Prepared {
                client: Client::new(Some(creds), &base_url, timeout)?,
                base_url,
                embedded: Some(running),
            })
        }
        Some(raw) => {
            let base_url = base_string(&parse_target(raw)?);
            Ok(Prepared {
                client: Client::new(Some(t.credentials()?), &base_url, timeout)?,
                base_url,
                embedded: None,
            })
        }
    }
}

/// One request that tells a dead or misconfigured target from a non-conformant one.
pub async fn preflight(client: &Client, base_url: &str) -> anyhow::Result<()> {
    let url = format!("{base_url}/v1/Users?PageSize=1");
    let ex = client
        .send(&Request::new(reqwest::Method::GET, url))
        .await
        .map_err(|e| anyhow::anyhow!("target unreachable: {e}"))?;
    if ex.status == 401 || ex.status == 403 {
        bail!(
            "the target refused the credentials ({}): check --account-sid and --auth-token (or --api-key and --api-secret)",
            ex.status
        );
    }
    Ok(())
}

/// The account's default Conversation Service as the target's Conversations Configuration
/// resource (`GET /v1/Configuration`) names it, when the target serves that resource.
pub async fn configured_default_service(client: &Client, base_url: &str) -> Option<String> {
    let ex = client
        .send(&Request::new(
            reqwest::Method::GET,
            format!("{base_url}/v1/Configuration"),
        ))
        .await
        .ok()?;
    if ex.status != 200 {
        return None;
    }
    let config: serde_json::Value = serde_json::from_slice(&ex.response_body).ok()?;
    config
        .get("default_chat_service_sid")
        .and_then(serde_json::Value::as_str)
        .filter(|s| SidKind::Service.matches(s))
        .map(str::to_owned)
}

/// The plan of a run: URL forms, services and what is known of the target. For the embedded
/// emulator its second service adds the service-scoped form, and its default service,
/// account and reachability are known.
pub fn build_plan(
    p: &Prepared,
    service_sid: Option<String>,
    only_service: bool,
    edition: Edition,
    strict: bool,
    max_pages: usize,
) -> Plan {
    let embedded = p.embedded.as_ref();
    let mut forms = Vec::new();
    if !only_service {
        forms.push(UrlForm::Shortened);
    }
    let service_sid = match (service_sid, embedded) {
        (Some(s), _) => Some(s),
        (None, Some(e)) => e.config().services.get(1).map(|s| s.sid.clone()),
        (None, None) => None,
    };
    if let Some(s) = &service_sid {
        forms.push(UrlForm::Service(s.clone()));
    }
    Plan {
        base_url: p.base_url.clone(),
        edition,
        forms,
        service_sid,
        default_service_sid: embedded.map(|e| e.config().default_service().sid.clone()),
        reachability: embedded.map(|e| e.config().reachability),
        strict,
        run_prefix: format!("convcheck-{}-", runner::run_id()),
        max_pages: max_pages.max(1),
    }
}

impl RunArgs {
    /// Every usage error that can be found before a request is sent.
    fn check_usage(&self) -> anyhow::Result<()> {
        if self.test_threads == Some(0) {
            bail!("--test-threads must be at least 1");
        }
        if self.max_pages == 0 {
            bail!("--max-pages must be at least 1: the pagination walk reads at least one page");
        }
        self.target.check()?;
        self.reports.check_writable()
    }

    /// Runs the suite.
    pub fn exec(mut self) -> anyhow::Result<ExitCode> {
        self.check_usage()?;
        for s in self.service_sid.iter().chain(&self.default_service_sid) {
            if !SidKind::Service.matches(s) {
                bail!(
                    "malformed service sid `{s}`: expected `{}`",
                    SidKind::Service.pattern()
                );
            }
        }
        if self.test_threads.is_none() {
            // Cases wait on the network, not the CPU: more than the core count pays.
            self.test_threads = Some(8);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let prepared = rt.block_on(prepare(&self.target, self.edition))?;
        let result = self.run_prepared(&rt, &prepared);
        if let Some(running) = prepared.embedded {
            let _ = rt.block_on(running.shutdown());
        }
        result
    }

    fn run_prepared(&self, rt: &tokio::runtime::Runtime, p: &Prepared) -> anyhow::Result<ExitCode> {
        let target_url = parse_target(&p.base_url)?;
        let embedded = p.embedded.as_ref();
        let mut plan = build_plan(
            p,
            self.service_sid.clone(),
            self.only_service,
            self.edition,
            self.strict,
            self.max_pages,
        );
        if let Some(d) = &self.default_service_sid {
            plan.default_service_sid = Some(d.clone());
        }
        let cases = suite::all();
        let writes_allowed = is_loopback(&target_url) || self.allow_writes;
        let listing = self.list;
        if !writes_allowed && !self.read_only && !listing {
            bail!(
                "target `{}` is not on this machine and the suite creates, updates and deletes users there: pass --allow-writes (the run deletes only what it creates), or --read-only",
                p.base_url
            );
        }
        let mut session = Session::new(plan, p.client.clone());
        let skip_writes = self.read_only;
        let snaps = Arc::new(SnapshotRun::prepare(
            &self.snapshot,
            &self.edition.to_string(),
            crate::snapshot::target_kind(&p.base_url, embedded.is_some()),
            self.strict,
            listing,
        )?);

        // What the filters select, found before anything is sent: an empty selection is a
        // usage error (a mistyped filter must not pass in CI).
        let instances = runner::instances(&session.plan, &cases);
        let libtest = self.libtest();
        let with_ignored = self.ignored || self.include_ignored;
        let selected = instances
            .iter()
            .map(|(case, form)| {
                Trial::test(case.id(form), || Ok(()))
                    .with_kind(case.kind.as_str())
                    .with_ignored_flag(skip_writes && case.writes)
            })
            .filter(|t| !libtest.is_filtered_out(t))
            .filter(|t| with_ignored || !t.has_ignored_flag())
            .count();
        if listing {
            return list(&instances, skip_writes, &libtest);
        }
        if selected == 0 && !self.allow_empty {
            bail!(
                "the filters select no case to run (of {}): check the filter with `convcheck run --list`, or pass --allow-empty",
                instances.len()
            );
        }
        if !listing {
            rt.block_on(preflight(&p.client, &p.base_url))?;
            // The default service of the shortened form: `--default-service-sid`, else what
            // the target's Configuration resource says, when it serves one.
            if self.default_service_sid.is_none()
                && embedded.is_none()
                && let Some(d) = rt.block_on(configured_default_service(&p.client, &p.base_url))
            {
                let mut plan = (*session.plan).clone();
                plan.default_service_sid = Some(d);
                session.plan = Arc::new(plan);
            }
            if embedded.is_none() {
                let prefix = &session.plan.run_prefix;
                let _ = writeln!(
                    std::io::stderr(),
                    "convcheck: every identity this run creates starts with `{prefix}`; after a hard kill: convcheck sweep --target {} --prefix {prefix}",
                    p.base_url
                );
            }
        }

        // From here on the run sends requests and creates users: a closed stdout must not
        // end it before it has deleted them.
        super::closed_pipe_ends_quietly(false);
        let json_lines = self.format == Some(FormatSetting::Json);
        let records: Arc<Mutex<Vec<CaseRecord>>> = Arc::default();
        let started_at = time::OffsetDateTime::now_utc();
        let started = Instant::now();
        let mut trials = Vec::new();
        let progress = Arc::new(Progress::new(instances.len()));
        for (i, (case, form)) in instances.into_iter().enumerate() {
            let id = case.id(&form);
            let kind = case.kind.as_str();
            if skip_writes && case.writes {
                // A skipped case is an ignored trial, even when `--ignored` runs those: the
                // counts of libtest's events then agree with convcheck's.
                let trial = Trial::ignorable_test(id.clone(), || {
                    Ok(Completion::ignored_with(SKIPPED_WRITES))
                })
                .with_kind(kind)
                .with_ignored_flag(true);
                if !libtest.is_filtered_out(&trial) {
                    records
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(CaseRecord {
                            id,
                            kind: kind.to_owned(),
                            form: form.label().to_owned(),
                            outcome: Outcome::Skipped,
                            duration_ms: 0,
                            findings: Vec::new(),
                            exchanges: Vec::new(),
                            error: None,
                        });
                }
                trials.push(trial);
                continue;
            }
            let session = session.clone();
            let handle = rt.handle().clone();
            let records = records.clone();
            let progress = progress.clone();
            let snaps = snaps.clone();
            trials.push(
                Trial::ignorable_test(id.clone(), move || {
                    progress.start(&id);
                    let (mut rec, capture) =
                        handle.block_on(runner::run_case_captured(session, &case, form, i));
                    snaps.judge(&mut rec, &capture);
                    // An expected failure is an ignored trial with its reason, so that no
                    // count says it passed.
                    let completion = match rec.outcome {
                        Outcome::ExpectedFailure => Ok(Completion::ignored_with(EXPECTED)),
                        _ => verdict(&rec).map(|()| Completion::Completed),
                    };
                    records.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
                    progress.done(&id);
                    completion
                })
                .with_kind(kind),
            );
        }
        progress.set_total(selected);
        // Ctrl-C, SIGTERM, SIGHUP: delete what the run created, then leave.
        let signalled = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let guard = {
            let session = session.clone();
            let signalled = signalled.clone();
            rt.spawn(async move {
                let code = stop_signal().await;
                signalled.store(code, std::sync::atomic::Ordering::SeqCst);
                // Never `eprintln!`: after SIGHUP the terminal may be gone, and a failed
                // write must not end the cleanup.
                let _ = writeln!(
                    std::io::stderr(),
                    "interrupted: deleting the users this run created"
                );
                let left = session.interrupt(Duration::from_secs(30)).await;
                report_left(&left, &session.plan.run_prefix);
                std::process::exit(i32::from(code));
            })
        };

        let relay = relay::Relay::start(json_lines);
        let conclusion = match &relay {
            Some(r) => {
                let mut args = libtest.clone();
                args.logfile = Some(r.path());
                // libtest colours a log file only when told to; `auto` is decided here.
                if matches!(args.color, None | Some(ColorSetting::Auto)) {
                    args.color = Some(if colour_stdout() {
                        ColorSetting::Always
                    } else {
                        ColorSetting::Never
                    });
                }
                libtest_mimic::run(&args, trials)
            }
            None => libtest_mimic::run(&libtest, trials),
        };
        if let Some(r) = relay {
            r.finish();
        }
        progress.finish();
        if session.halt.is_stopping() {
            // Interrupted: the cases stopped early; finish the cleanup the signal started.
            let left = rt.block_on(session.interrupt(Duration::from_secs(30)));
            report_left(&left, &session.plan.run_prefix);
            let code = match signalled.load(std::sync::atomic::Ordering::SeqCst) {
                0 => 130,
                c => c,
            };
            return Ok(ExitCode::from(code));
        }
        let left = rt.block_on(runner::teardown(&session));
        guard.abort();
        if listing {
            return Ok(ExitCode::SUCCESS);
        }
        if !left.is_empty() {
            eprintln!(
                "warning: could not delete {} this run created ({}); remove them with `convcheck sweep --prefix {}`",
                crate::report::diagnostic::plural(left.len(), "user", "users"),
                left.join(", "),
                session.plan.run_prefix
            );
        }
        let refused = session.ledger.refused();
        if !refused.is_empty() && embedded.is_none() {
            eprintln!(
                "warning: {} named users this run did not ask for ({}); the run did not delete them",
                crate::report::diagnostic::plural(refused.len(), "create answer", "create answers"),
                refused.join(", ")
            );
        }
        let mut cases_run = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
        cases_run.sort_by(|a, b| a.id.cmp(&b.id));
        let (snapshot_lines, deviation_notes) = snaps.finish(&mut cases_run)?;
        let report = Report {
            convcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: p.base_url.clone(),
            edition: self.edition.to_string(),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            duration_ms: started.elapsed().as_millis() as u64,
            strict: self.strict,
            summary: Summary::of(&cases_run),
            notes: runner::diagnose(&cases_run)
                .into_iter()
                .chain(deviation_notes)
                .collect(),
            cases: cases_run,
        };
        // With `--format json`, stdout stays pure JSON lines; the summary goes to stderr.
        // A closed stdout must not end the run before its cleanup: write errors are ignored.
        let say = |line: String| {
            let line = crate::client::scrub::scrub(&line);
            let _ = if json_lines {
                writeln!(std::io::stderr(), "{line}")
            } else {
                writeln!(std::io::stdout(), "{line}")
            };
        };
        for line in warning_lines(&report) {
            say(line);
        }
        let what = if embedded.is_some() {
            "the embedded emulator"
        } else {
            "the target"
        };
        for line in snapshot_lines {
            say(line);
        }
        let s = report.summary;
        say(format!(
            "convcheck: {} against {what} at {} (edition {})",
            summary_counts(&s),
            report.target,
            report.edition
        ));
        for note in &report.notes {
            say(format!("note: {note}"));
        }
        super::report::write(
            &report,
            &self.reports,
            super::report::step_summary().as_deref(),
        )?;
        let code = if s.failed > 0 {
            exit::FINDINGS
        } else if s.errored > 0 || conclusion.has_failed() {
            exit::USAGE
        } else {
            exit::OK
        };
        Ok(ExitCode::from(code))
    }
}

/// `--list`: the selected case ids as libtest prints them (`[kind] id: test`) and a count
/// line, or with `--format json` one JSON object per case on stdout and the count on stderr.
fn list(
    instances: &[(runner::CaseDef, UrlForm)],
    skip_writes: bool,
    libtest: &libtest_mimic::Arguments,
) -> anyhow::Result<ExitCode> {
    let json = libtest.format == Some(FormatSetting::Json);
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    for (case, form) in instances {
        let id = case.id(form);
        let ignored = skip_writes && case.writes;
        let trial = Trial::test(id.clone(), || Ok(()))
            .with_kind(case.kind.as_str())
            .with_ignored_flag(ignored);
        // libtest lists every selected case, or with `--ignored` only the ignored ones.
        if libtest.is_filtered_out(&trial) || (libtest.ignored && !ignored) {
            continue;
        }
        n += 1;
        if json {
            let line = serde_json::json!({
                "type": "case",
                "name": id,
                "kind": case.kind.as_str(),
                "form": form.label(),
                "writes": case.writes,
                "ignored": ignored,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "[{}] {id}: test", case.kind.as_str())?;
        }
    }
    let count = format!("{n} {}", if n == 1 { "case" } else { "cases" });
    if json {
        eprintln!("{count}");
    } else {
        writeln!(out, "{count}")?;
    }
    Ok(ExitCode::from(exit::OK))
}

/// Why a write case did not run under `--read-only`.
const SKIPPED_WRITES: &str = "skipped: it writes, and the run is --read-only";
/// Why a failed case does not fail the run.
const EXPECTED: &str = "expected failure: a known deviation";

/// The counts of the closing line: `N passed, N failed, N errored, N skipped`, then the
/// expected failures when there are any and the number of cases, each word in its number.
pub fn summary_counts(s: &Summary) -> String {
    let total = s.passed + s.failed + s.errored + s.skipped + s.expected_failures;
    let expected = match s.expected_failures {
        0 => String::new(),
        1 => ", 1 expected failure".to_owned(),
        n => format!(", {n} expected failures"),
    };
    let cases = if total == 1 { "case" } else { "cases" };
    format!(
        "{} passed, {} failed, {} errored, {} skipped{expected} ({total} {cases})",
        s.passed, s.failed, s.errored, s.skipped
    )
}

/// Whether libtest's `auto` colour means colour: stdout is a terminal and `NO_COLOR` is unset.
fn colour_stdout() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Waits for Ctrl-C (SIGINT), SIGTERM (what `kill`, `timeout` and CI runners send) or SIGHUP
/// (a closed terminal); returns the exit code to end with: 128 + the signal's number.
async fn stop_signal() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
                _ = hup.recv() => 129,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    130
}

/// Says which users an interrupted run could not delete, and how to remove them later.
fn report_left(left: &[String], prefix: &str) {
    if !left.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "could not delete {}: {}; remove them with `convcheck sweep --prefix {prefix}`",
            crate::report::diagnostic::plural(left.len(), "user", "users"),
            left.join(", ")
        );
    }
}

fn verdict(rec: &CaseRecord) -> Result<(), Failed> {
    use crate::report::view;
    match rec.outcome {
        Outcome::Passed | Outcome::Skipped | Outcome::ExpectedFailure => Ok(()),
        Outcome::Errored => {
            Err(format!("errored: {}", rec.error.as_deref().unwrap_or("no answer")).into())
        }
        Outcome::Failed => {
            let mut s = String::new();
            // Snapshot differences are shown one by one; a finding that repeats on many
            // requests of the case is shown once, with its count and first requests.
            let (snaps, contract): (Vec<_>, Vec<_>) = rec
                .findings
                .iter()
                .partition(|f| f.check == crate::snapshot::diff::CHECK);
            for f in snaps {
                s.push_str(&snapshots::render_finding(f));
            }
            for g in view::group(contract.into_iter().map(|f| (rec, f))) {
                let (_, f) = g.head();
                let at = f.request.as_deref().unwrap_or(&rec.id);
                s.push_str(&diagnostic::render(f, at));
                if g.count > 1 {
                    s.push_str(&repeated_line(&g));
                }
            }
            Err(crate::client::scrub::scrub(&s).into())
        }
    }
}

/// `   = N times: on A, B, C, and K more`, under a grouped diagnostic.
fn repeated_line(g: &crate::report::view::Group<'_>) -> String {
    let more = g.more_label();
    let cases = match g.cases {
        1 => String::new(),
        n => format!(" in {n} cases"),
    };
    format!(
        "   = {} times{cases}: on {}{more}\n",
        g.count,
        g.locations().join(", ")
    )
}

fn warning_lines(report: &Report) -> Vec<String> {
    let warnings = crate::report::view::warnings(report);
    if warnings.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["SHOULD findings (they fail the run only with --strict):".to_owned()];
    for g in crate::report::view::group(warnings) {
        let (c, f) = g.head();
        let mut line = format!("  {}: [{}] {}", c.id, f.check, f.message);
        if g.count > 1 {
            let also: Vec<&str> = g.first()[1..].iter().map(|(c, _)| c.id.as_str()).collect();
            line.push_str(&format!(
                " ({} times in {} cases; also {}{})",
                g.count,
                g.cases,
                also.join(", "),
                g.more_label()
            ));
        }
        out.push(line);
    }
    out.push(String::new());
    out
}
