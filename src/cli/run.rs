//! `convcheck run`: the suite against a target (the embedded emulator when none is named),
//! with libtest's front end: filters, `--list`, `--test-threads`, `--format`. convcheck declares
//! the libtest options it keeps itself (grouped in its help) and builds libtest-mimic's
//! `Arguments` from them, so that the ones that mean nothing here are refused by clap.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use libtest_mimic::{ColorSetting, Failed, FormatSetting, Trial};

use super::exit;
use super::progress::Progress;
use super::relay;
use super::report::ReportArgs;
use super::snapshots::{self, SnapshotArgs, SnapshotRun};
use super::validate::parse_edition;
use crate::client::{Credentials, Secret};
use crate::report::diagnostic;
use crate::runner::orchestrate::{
    self, Ending, Front, Prepared, Run, RunOptions, Target, parse_target,
};
use crate::runner::{CaseRecord, Outcome, Report, Summary};
use crate::snapshot::Capture;
use crate::spec::{Edition, SidKind};
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
    /// How long a list may take to show a write, in seconds: a walk that disagrees with what
    /// the run wrote is walked again, with a backoff, until it agrees or SECONDS after the
    /// write's answer (the documentation promises no moment at which a list shows a write).
    /// 0 judges at once. Fetches by sid and by identity are always judged at once.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 2.0,
        help_heading = "Target"
    )]
    pub settle: f64,
    /// How many cases run at once (default 32 on this machine, 8 on a remote target: the
    /// work waits on the network).
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
    /// Sequences each generated case runs (`generated::inputs`, `stateful::sequences`);
    /// 0 leaves those cases out.
    #[arg(long, value_name = "N", default_value_t = crate::runner::DEFAULT_SEQUENCES, help_heading = "Generation")]
    pub generate: usize,
    /// Stop starting new sequences after this many seconds (per generated case).
    #[arg(long, value_name = "SECS", help_heading = "Generation")]
    pub generate_time: Option<f64>,
    /// The seed of the generated cases: the same seed draws the same sequences. The run's
    /// summary prints the seed it used.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub seed: Option<u64>,
    /// A file of failing seeds: its sequences run first, and new failures are added to it.
    #[arg(long, value_name = "PATH", help_heading = "Generation")]
    pub seeds_file: Option<std::path::PathBuf>,
    /// The most requests one generated case may send (default 50000 on this machine, 2000
    /// on a remote target, where bursts are at most 3 creates and walks at most 10 pages).
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub generate_max_requests: Option<usize>,
    /// When generated sequences read the whole world back (every collection walked, every
    /// user fetched by sid and identity through each view): `every-write` (default against
    /// the embedded emulator), `end` of each sequence (default against any other target) or
    /// `off`.
    #[arg(long, value_name = "every-write|end|off", help_heading = "Generation")]
    pub observe: Option<String>,
    /// The most users one read-back fetches through every view (default 16 against the
    /// embedded emulator, 2 against another server on this machine, 8 on a remote target);
    /// walks always see every user.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub observe_users: Option<usize>,
    /// The size of the one large collection a run builds and walks at the page sizes where
    /// caps live (default 1001 against the embedded emulator, 105 against another server on
    /// this machine, 26 on a remote target); 0 builds none.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub max_collection: Option<usize>,
    /// Stop a generated case from starting sequences once this many of its checks have
    /// failed; those failures are still shrunk and shown. By default every sequence runs.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub max_failures: Option<usize>,
    /// After the run, list the transitions and value families the generated cases covered,
    /// and the transitions they missed.
    #[arg(long, help_heading = "Generation")]
    pub list_coverage: bool,
    /// Let the suite create, update and delete users on a target outside this machine. It
    /// only ever deletes what it created.
    #[arg(long, help_heading = "Safety")]
    pub allow_writes: bool,
    /// Run only the cases that do not write; the others are reported skipped.
    #[arg(long, help_heading = "Safety")]
    pub read_only: bool,
}

/// Where a prepared target runs: the embedded emulator, another process on this machine, or
/// elsewhere.
fn reach(p: &Prepared) -> anyhow::Result<crate::runner::Reach> {
    use crate::runner::{Reach, orchestrate};
    Ok(if p.embedded.is_some() {
        Reach::Embedded
    } else if orchestrate::is_loopback(&orchestrate::parse_target(&p.base_url)?) {
        Reach::Loopback
    } else {
        Reach::Remote
    })
}

/// Cases at once against a target on this machine, unless `--test-threads` says otherwise.
pub const LOCAL_THREADS: usize = 32;
/// Cases at once against a target elsewhere, unless `--test-threads` says otherwise.
pub const REMOTE_THREADS: usize = 8;

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

Cases run concurrently (--test-threads, default 32 on this machine, 8 elsewhere); each write
shares its collection's gate while it is under way, and a walk of pages that disagrees walks
again holding it alone.";

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

    /// What the runner needs of these options, checked: the URL, the credentials when the
    /// target is remote (the embedded emulator brings its own), the time limit.
    pub fn resolve(&self) -> anyhow::Result<Target> {
        self.check()?;
        let credentials = match &self.target {
            Some(_) => Some(self.credentials()?),
            None => None,
        };
        Ok(Target {
            url: self.target.clone(),
            credentials,
            timeout: Duration::from_secs(self.timeout),
        })
    }

    /// Starts the embedded emulator or reaches the remote target: [`orchestrate::prepare`]
    /// over [`TargetArgs::resolve`].
    pub async fn prepare(&self, edition: Edition) -> anyhow::Result<Prepared> {
        orchestrate::prepare(&self.resolve()?, edition).await
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

impl RunArgs {
    /// What the generated cases do: the budget, the seed and the bounds of a target at
    /// `reach` (tighter for a server outside this process, tighter still outside this
    /// machine), each of which an option overrides.
    pub fn generation(&self, reach: crate::runner::Reach) -> crate::runner::Generation {
        let mut g = crate::runner::Generation {
            sequences: self.generate,
            time: self.generate_time.map(std::time::Duration::from_secs_f64),
            persist: self.seeds_file.clone(),
            ..crate::runner::Generation::default()
        };
        if let Some(seed) = self.seed {
            g.seed = seed;
        }
        g = g.at(reach);
        if let Some(n) = self.generate_max_requests {
            g.max_requests = n;
        }
        if let Some(o) = self.observe.as_deref().and_then(|o| o.parse().ok()) {
            g.observe = o;
        }
        if let Some(n) = self.observe_users {
            g.observe_users = n;
        }
        if let Some(n) = self.max_collection {
            g.max_collection = n;
        }
        g.max_failures = self.max_failures;
        g
    }

    /// Every usage error that can be found before a request is sent.
    fn check_usage(&self) -> anyhow::Result<()> {
        if self.test_threads == Some(0) {
            bail!("--test-threads must be at least 1");
        }
        if self.max_pages == 0 {
            bail!("--max-pages must be at least 1: the pagination walk reads at least one page");
        }
        if !(self.settle.is_finite() && (0.0..=600.0).contains(&self.settle)) {
            bail!(
                "--settle `{}` is out of range: expected seconds from 0 (judge lists at once) to 600",
                self.settle
            );
        }
        if let Some(t) = self.generate_time
            && !(t.is_finite() && t > 0.0)
        {
            bail!("--generate-time must be a positive number of seconds");
        }
        if let Some(path) = &self.seeds_file {
            let usable = if path.exists() {
                std::fs::OpenOptions::new().append(true).open(path).is_ok()
            } else {
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                parent.is_none_or(std::path::Path::is_dir)
            };
            if !usable {
                bail!(
                    "--seeds-file `{}` cannot be written: name a file in an existing, writable directory",
                    path.display()
                );
            }
        }
        if let Some(o) = &self.observe {
            o.parse::<crate::runner::Observe>()
                .map_err(anyhow::Error::msg)?;
        }
        if self.observe_users == Some(0) {
            bail!("--observe-users must be at least 1 (use --observe off to read nothing back)");
        }
        if self.max_failures == Some(0) {
            bail!("--max-failures must be at least 1 (leave it out to run every sequence)");
        }
        if self.generate_max_requests == Some(0) {
            bail!(
                "--generate-max-requests must be at least 1 (use --generate 0 to leave generation out)"
            );
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let prepared = rt.block_on(self.target.prepare(self.edition))?;
        if self.test_threads.is_none() {
            // Cases wait on the network, not the CPU: more than the core count pays. A target
            // on this machine takes many at once; a remote one gets fewer users at a time.
            let remote = reach(&prepared)? == crate::runner::Reach::Remote;
            self.test_threads = Some(if remote {
                REMOTE_THREADS
            } else {
                LOCAL_THREADS
            });
        }
        let result = self.run_prepared(&rt, &prepared);
        if let Some(running) = prepared.embedded {
            let _ = rt.block_on(running.shutdown());
        }
        result
    }

    /// What the orchestration reads of these options, for a target at `reach` (which sets
    /// the generation bounds).
    fn options(&self, reach: crate::runner::Reach) -> RunOptions {
        RunOptions {
            service_sid: self.service_sid.clone(),
            only_service: self.only_service,
            default_service_sid: self.default_service_sid.clone(),
            edition: self.edition,
            strict: self.strict,
            max_pages: self.max_pages,
            settle: std::time::Duration::from_secs_f64(self.settle),
            allow_writes: self.allow_writes,
            read_only: self.read_only,
            generation: self.generation(reach),
            replay: None,
        }
    }

    fn run_prepared(&self, rt: &tokio::runtime::Runtime, p: &Prepared) -> anyhow::Result<ExitCode> {
        let embedded = p.embedded.as_ref();
        let listing = self.list;
        let snaps = Arc::new(SnapshotRun::prepare(
            &self.snapshot,
            &self.edition.to_string(),
            crate::snapshot::target_kind(&p.base_url, embedded.is_some()),
            self.strict,
            listing,
        )?);
        // Traffic `convcheck proxy` recorded there is replayed by a case of its own.
        let mut cases = suite::all();
        let mut opts = self.options(reach(p)?);
        if let Some(traffic) = snaps.traffic() {
            cases.push(suite::replay::case());
            opts.replay = Some(Arc::new(traffic));
        }
        let mut run = Run::new(p, &cases, &opts, listing)?;

        // What the filters select, found before anything is sent: an empty selection is a
        // usage error (a mistyped filter must not pass in CI).
        let libtest = self.libtest();
        let selected = run.selected(&libtest);
        if listing {
            return list(&run, &libtest);
        }
        if selected == 0 && !self.allow_empty {
            bail!(
                "the filters select no case to run (of {}): check the filter with `convcheck run --list`, or pass --allow-empty",
                run.instances.len()
            );
        }
        rt.block_on(run.connect())?;
        if embedded.is_none() {
            let prefix = &run.session.plan.run_prefix;
            let _ = writeln!(
                std::io::stderr(),
                "convcheck: every identity this run creates starts with `{prefix}`; after a hard kill: convcheck sweep --target {} --prefix {prefix}",
                p.base_url
            );
        }

        // From here on the run sends requests and creates users: a closed stdout must not
        // end it before it has deleted them.
        super::closed_pipe_ends_quietly(false);
        let json_lines = self.format == Some(FormatSetting::Json);
        let front = Arc::new(TrialFront {
            progress: Progress::new(selected),
            snaps: snaps.clone(),
        });
        let seed = run.session.plan.generation.seed;
        let ending = run.execute(rt, &libtest, front.clone(), |trials| {
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
            front.progress.finish();
            conclusion
        });
        let mut finished = match ending {
            Ending::Interrupted { code } => return Ok(ExitCode::from(code)),
            Ending::Finished(f) => f,
        };
        if !finished.left.is_empty() {
            eprintln!(
                "warning: could not delete {} this run created ({}); remove them with `convcheck sweep --prefix {}`",
                crate::report::diagnostic::plural(finished.left.len(), "user", "users"),
                finished.left.join(", "),
                finished.run_prefix
            );
        }
        if !finished.refused.is_empty() && embedded.is_none() {
            eprintln!(
                "warning: {} named users this run did not ask for ({}); the run did not delete them",
                crate::report::diagnostic::plural(
                    finished.refused.len(),
                    "create answer",
                    "create answers"
                ),
                finished.refused.join(", ")
            );
        }
        let trials_failed = finished.conclusion.has_failed();
        let ran_generated = finished
            .cases
            .iter()
            .any(|c| crate::snapshot::is_generated(&c.kind) && c.outcome != Outcome::Skipped);
        let (snapshot_lines, deviation_notes) = snaps.finish(&mut finished.cases)?;
        let report = finished.into_report(deviation_notes);
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
        if let Some(line) = requests_line(&report) {
            say(line);
        }
        if let Some(line) = waits_line(&report.waits) {
            say(line);
        }
        if ran_generated {
            say(format!(
                "generation: seed {} (`--seed {}` draws the same sequences)",
                seed, seed
            ));
            let covered = crate::report::view::coverage(&report);
            if covered.required > 0 {
                say(format!("coverage: {}", covered.summary()));
            }
            if self.list_coverage {
                for line in crate::report::view::coverage_lines(&covered) {
                    say(line);
                }
            }
        }
        super::report::write(
            &report,
            &self.reports,
            super::report::step_summary().as_deref(),
        )?;
        let code = if s.failed > 0 {
            exit::FINDINGS
        } else if s.errored > 0 || trials_failed {
            exit::USAGE
        } else {
            exit::OK
        };
        Ok(ExitCode::from(code))
    }
}

/// What the run cost the target, in one line: the requests sent, the time spent waiting for
/// answers, and the cases that sent the most.
pub(super) fn requests_line(report: &Report) -> Option<String> {
    let total: usize = report.cases.iter().map(|c| c.requests).sum();
    if total == 0 {
        return None;
    }
    let waited: u64 = report.cases.iter().map(|c| c.target_ms).sum();
    let mut costly: Vec<&crate::runner::CaseRecord> =
        report.cases.iter().filter(|c| c.requests > 0).collect();
    costly.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.id.cmp(&b.id)));
    let most: Vec<String> = costly
        .iter()
        .take(3)
        .map(|c| format!("{} {}", c.id, c.requests))
        .collect();
    Some(format!(
        "requests: {total} sent (their answers took {:.1} s in all, many at once; the most: {})",
        waited as f64 / 1000.0,
        most.join(", ")
    ))
}

/// What the run waited for, in one line, when it waited at all: rate limits and lists that
/// lagged are no findings, but a user tuning a run should see what they cost.
pub(super) fn waits_line(w: &crate::client::PatienceFigures) -> Option<String> {
    let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    let mut parts = Vec::new();
    if w.rate_limited > 0 {
        parts.push(format!(
            "{} answered 429 Too Many Requests, each sent again",
            crate::runner::plural(w.rate_limited as usize, "request", "requests")
        ));
    }
    if w.unavailable > 0 {
        parts.push(format!(
            "{} answered 503, each sent again",
            crate::runner::plural(w.unavailable as usize, "read or delete", "reads or deletes")
        ));
    }
    if w.rate_limited + w.unavailable > 0 {
        parts.push(format!("{} waited for retries", secs(w.retry_wait_ms)));
    }
    if w.lists_settled > 0 || w.settle_wait_ms > 0 {
        parts.push(format!(
            "{} showed a write only later (one was still behind {} after the write), {} waited for lists",
            crate::runner::plural(w.lists_settled as usize, "list", "lists"),
            secs(w.max_list_staleness_ms),
            secs(w.settle_wait_ms)
        ));
    }
    (!parts.is_empty()).then(|| format!("waits: {}", parts.join("; ")))
}

/// `--list`: the selected case ids as libtest prints them (`[kind] id: test`) and a count
/// line, or with `--format json` one JSON object per case on stdout and the count on stderr.
fn list(run: &Run, libtest: &libtest_mimic::Arguments) -> anyhow::Result<ExitCode> {
    let json = libtest.format == Some(FormatSetting::Json);
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    for (case, form) in &run.instances {
        let id = case.id(form);
        let ignored = run.skips(case);
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

/// What `convcheck run` does around each case: the progress display, snapshot judging and
/// known deviations, and the failure message libtest prints.
struct TrialFront {
    progress: Progress,
    snaps: Arc<SnapshotRun>,
}

impl Front for TrialFront {
    fn started(&self, id: &str) {
        self.progress.start(id);
    }

    fn judge(&self, record: &mut CaseRecord, capture: &Capture) {
        self.snaps.judge(record, capture);
    }

    fn verdict(&self, record: &CaseRecord) -> Result<(), Failed> {
        verdict(record)
    }

    fn finished(&self, id: &str) {
        self.progress.done(id);
    }
}

pub(super) fn verdict(rec: &CaseRecord) -> Result<(), Failed> {
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

pub(super) fn warning_lines(report: &Report) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::waits_line;
    use crate::client::PatienceFigures;

    #[test]
    fn the_waits_line_says_what_the_run_waited_for_and_only_when_it_did() {
        assert_eq!(waits_line(&PatienceFigures::default()), None);
        let line = waits_line(&PatienceFigures {
            rate_limited: 12,
            retry_wait_ms: 1500,
            lists_settled: 1,
            max_list_staleness_ms: 480,
            settle_wait_ms: 700,
            ..PatienceFigures::default()
        })
        .expect("a line");
        assert_eq!(
            line,
            "waits: 12 requests answered 429 Too Many Requests, each sent again; 1.5 s waited for retries; 1 list showed a write only later (one was still behind 0.5 s after the write), 0.7 s waited for lists"
        );
    }
}
