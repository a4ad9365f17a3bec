//! A whole run, from a target to a [`Report`]: start the embedded emulator or reach the remote
//! target ([`prepare`]), plan ([`build_plan`]), decide whether writes are allowed, select the
//! instances, check the target answers ([`Run::connect`]), run one libtest-mimic [`Trial`] per
//! instance under a signal guard that deletes what the run created, tear down, and build the
//! report ([`Finished::into_report`]).
//!
//! The front end stays outside: the case registry comes in as a slice, libtest's arguments
//! and the running of the trials (its output, the relay) come from the caller, and what
//! happens around each case (a progress display, snapshot judging, the failure message)
//! comes in through [`Front`]. Nothing here prints but the signal guard's lines on stderr.
//!
//! This is the one part of the runner that knows about the embedded emulator: it starts it
//! and reads what the plan needs from its configuration. Cases never know.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use libtest_mimic::{Completion, Conclusion, Failed, Trial};

use super::{CaseDef, CaseRecord, Outcome, Plan, Report, Session, Summary};
use crate::client::{Client, Credentials, Request, Secret};
use crate::emulator;
use crate::snapshot::Capture;
use crate::spec::{Edition, SidKind, UrlForm};

/// Where to run and as whom: what [`prepare`] needs.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL of a remote target; `None` starts the embedded emulator.
    pub url: Option<String>,
    /// The credentials for a remote target (the embedded emulator brings its own).
    pub credentials: Option<Credentials>,
    /// Per-request time limit.
    pub timeout: Duration,
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

/// Starts the embedded emulator, or builds the client of the remote target.
pub async fn prepare(target: &Target, edition: Edition) -> anyhow::Result<Prepared> {
    match &target.url {
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
                client: Client::new(Some(creds), &base_url, target.timeout)?,
                base_url,
                embedded: Some(running),
            })
        }
        Some(raw) => {
            let base_url = base_string(&parse_target(raw)?);
            Ok(Prepared {
                client: Client::new(target.credentials.clone(), &base_url, target.timeout)?,
                base_url,
                embedded: None,
            })
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

/// Whether the suite may write to a prepared target: always on this machine, elsewhere only
/// when `allow_writes` says so.
pub fn writes_allowed(p: &Prepared, allow_writes: bool) -> anyhow::Result<bool> {
    Ok(is_loopback(&parse_target(&p.base_url)?) || allow_writes)
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

/// How long a list may take to show a write unless `--settle` says otherwise: the
/// documentation promises no moment at which a Read shows a write, and a server that lists
/// from a replica shows it a little later. Fetches by sid and by identity get no such time.
pub const DEFAULT_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

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
        run_prefix: format!("convcheck-{}-", super::run_id()),
        max_pages: max_pages.max(1),
        settle: DEFAULT_SETTLE,
        generation: super::Generation::default(),
        replay: None,
    }
}

/// What a run is asked to do beyond the target: the options the orchestration reads.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A second Conversation Service (the service-scoped URL form).
    pub service_sid: Option<String>,
    /// Only the service-scoped URL form.
    pub only_service: bool,
    /// The account's default Conversation Service, when the caller knows it.
    pub default_service_sid: Option<String>,
    /// The contract edition.
    pub edition: Edition,
    /// Whether SHOULD findings fail a case.
    pub strict: bool,
    /// The largest number of pages a walk may take.
    pub max_pages: usize,
    /// How long a list may take to show a write.
    pub settle: std::time::Duration,
    /// Whether the suite may write to a target outside this machine.
    pub allow_writes: bool,
    /// Whether the cases that write are skipped.
    pub read_only: bool,
    /// What the generated cases do.
    pub generation: super::Generation,
    /// Traffic recorded by `convcheck proxy` to replay (its file and document).
    pub replay: Option<std::sync::Arc<(String, serde_json::Value)>>,
}

/// What the front end does around each case. Called from the trials, concurrently.
pub trait Front: Send + Sync {
    /// A case is about to run.
    fn started(&self, id: &str);
    /// Judges a finished case before it is recorded (snapshots, known deviations).
    fn judge(&self, record: &mut CaseRecord, capture: &Capture);
    /// What libtest reports for a judged case that is not an expected failure: `Ok` when it
    /// passed, else the message libtest shows.
    fn verdict(&self, record: &CaseRecord) -> Result<(), Failed>;
    /// A case is recorded.
    fn finished(&self, id: &str);
}

/// Why a write case did not run under `--read-only`.
const SKIPPED_WRITES: &str = "skipped: it writes, and the run is --read-only";
/// Why a failed case does not fail the run.
const EXPECTED: &str = "expected failure: a known deviation";

/// A run planned, with its session and its instances, before its first request.
pub struct Run {
    /// The session every case shares.
    pub session: Session,
    /// Every (case, form) pair the plan calls for, in a stable order.
    pub instances: Vec<(CaseDef, UrlForm)>,
    /// Whether the cases that write are skipped.
    pub skip_writes: bool,
    /// Whether the target is the embedded emulator.
    pub embedded: bool,
    default_service_given: bool,
    edition: Edition,
    strict: bool,
}

impl Run {
    /// Plans a run of `cases` against a prepared target, and refuses to write to a target
    /// outside this machine unless allowed (or read-only, or only `listing`).
    pub fn new(
        p: &Prepared,
        cases: &[CaseDef],
        opts: &RunOptions,
        listing: bool,
    ) -> anyhow::Result<Run> {
        let writes_allowed = writes_allowed(p, opts.allow_writes)?;
        let mut plan = build_plan(
            p,
            opts.service_sid.clone(),
            opts.only_service,
            opts.edition,
            opts.strict,
            opts.max_pages,
        );
        if let Some(d) = &opts.default_service_sid {
            plan.default_service_sid = Some(d.clone());
        }
        plan.generation = opts.generation.clone();
        plan.replay = opts.replay.clone();
        plan.settle = opts.settle;
        if !writes_allowed && !opts.read_only && !listing {
            bail!(
                "target `{}` is not on this machine and the suite creates, updates and deletes users there: pass --allow-writes (the run deletes only what it creates), or --read-only",
                p.base_url
            );
        }
        let session = Session::new(plan, p.client.clone());
        let instances = super::instances(&session.plan, cases);
        Ok(Run {
            session,
            instances,
            skip_writes: opts.read_only,
            embedded: p.embedded.is_some(),
            default_service_given: opts.default_service_sid.is_some(),
            edition: opts.edition,
            strict: opts.strict,
        })
    }

    /// Whether a case is skipped (it writes, and the run is read-only).
    pub fn skips(&self, case: &CaseDef) -> bool {
        self.skip_writes && case.writes
    }

    /// How many instances libtest's arguments select to run (with `--ignored` or
    /// `--include-ignored`, the skipped ones count too).
    pub fn selected(&self, libtest: &libtest_mimic::Arguments) -> usize {
        let with_ignored = libtest.ignored || libtest.include_ignored;
        self.instances
            .iter()
            .map(|(case, form)| {
                Trial::test(case.id(form), || Ok(()))
                    .with_kind(case.kind.as_str())
                    .with_ignored_flag(self.skips(case))
            })
            .filter(|t| !libtest.is_filtered_out(t))
            .filter(|t| with_ignored || !t.has_ignored_flag())
            .count()
    }

    /// The first requests: [`preflight`], then for a remote target whose default service was
    /// not given, the one its Configuration resource names, when it serves one.
    pub async fn connect(&mut self) -> anyhow::Result<()> {
        let client = self.session.client.clone();
        let base_url = self.session.plan.base_url.clone();
        preflight(&client, &base_url).await?;
        if !self.default_service_given
            && !self.embedded
            && let Some(d) = configured_default_service(&client, &base_url).await
        {
            let mut plan = (*self.session.plan).clone();
            plan.default_service_sid = Some(d);
            self.session.plan = Arc::new(plan);
        }
        Ok(())
    }

    /// Runs every instance as one libtest-mimic trial, handed to `run_trials` (which runs
    /// them with libtest's front end), under a guard that on SIGINT, SIGTERM or SIGHUP
    /// deletes what the run created and exits; then deletes what is left.
    ///
    /// A skipped case is an ignored trial with its reason; so is an expected failure.
    pub fn execute(
        self,
        rt: &tokio::runtime::Runtime,
        libtest: &libtest_mimic::Arguments,
        front: Arc<dyn Front>,
        run_trials: impl FnOnce(Vec<Trial>) -> Conclusion,
    ) -> Ending {
        let Run {
            session,
            instances,
            skip_writes,
            edition,
            strict,
            ..
        } = self;
        let records: Arc<Mutex<Vec<CaseRecord>>> = Arc::default();
        let started_at = time::OffsetDateTime::now_utc();
        let started = Instant::now();
        let mut trials = Vec::new();
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
                        .push(CaseRecord::empty(id, kind, form.label(), Outcome::Skipped));
                }
                trials.push(trial);
                continue;
            }
            let session = session.clone();
            let handle = rt.handle().clone();
            let records = records.clone();
            let front = front.clone();
            trials.push(
                Trial::ignorable_test(id.clone(), move || {
                    front.started(&id);
                    let (mut rec, capture) =
                        handle.block_on(super::run_case_captured(session, &case, form, i));
                    front.judge(&mut rec, &capture);
                    // An expected failure is an ignored trial with its reason, so that no
                    // count says it passed.
                    let completion = match rec.outcome {
                        Outcome::ExpectedFailure => Ok(Completion::ignored_with(EXPECTED)),
                        _ => front.verdict(&rec).map(|()| Completion::Completed),
                    };
                    records.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
                    front.finished(&id);
                    completion
                })
                .with_kind(kind),
            );
        }
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

        let conclusion = run_trials(trials);
        if session.halt.is_stopping() {
            // Interrupted: the cases stopped early; finish the cleanup the signal started.
            let left = rt.block_on(session.interrupt(Duration::from_secs(30)));
            report_left(&left, &session.plan.run_prefix);
            let code = match signalled.load(std::sync::atomic::Ordering::SeqCst) {
                0 => 130,
                c => c,
            };
            return Ending::Interrupted { code };
        }
        let left = rt.block_on(super::teardown(&session));
        guard.abort();
        let mut cases = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        Ending::Finished(Box::new(Finished {
            cases,
            conclusion,
            left,
            refused: session.ledger.refused(),
            run_prefix: session.plan.run_prefix.clone(),
            target: session.plan.base_url.clone(),
            edition,
            strict,
            started_at,
            started,
            waits: session.client.patience().figures(),
        }))
    }
}

/// How a run ended.
pub enum Ending {
    /// A signal stopped it; what it created is deleted (or named on stderr). The run should
    /// exit with `code`: 128 + the signal's number.
    Interrupted {
        /// The exit code.
        code: u8,
    },
    /// Every trial ran and the ledger was torn down.
    Finished(Box<Finished>),
}

/// A run whose trials all ran, before its report.
pub struct Finished {
    /// Every case recorded (run or skipped), by id.
    pub cases: Vec<CaseRecord>,
    /// What libtest concluded.
    pub conclusion: Conclusion,
    /// The users the teardown could not delete.
    pub left: Vec<String>,
    /// The sids create answers named for users the run did not ask for.
    pub refused: Vec<String>,
    /// The prefix of every identity the run created.
    pub run_prefix: String,
    target: String,
    edition: Edition,
    strict: bool,
    started_at: time::OffsetDateTime,
    started: Instant,
    /// What the run waited for: 429s, 503s, lists catching up.
    pub waits: crate::client::PatienceFigures,
}

impl Finished {
    /// The run's report: its cases, the notes on the target as a whole ([`super::diagnose`])
    /// followed by `notes`.
    pub fn into_report(self, notes: Vec<String>) -> Report {
        Report {
            convcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: self.target,
            edition: self.edition.to_string(),
            started_at: self
                .started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            duration_ms: self.started.elapsed().as_millis() as u64,
            strict: self.strict,
            summary: Summary::of(&self.cases),
            notes: super::diagnose(&self.cases)
                .into_iter()
                .chain(notes)
                .collect(),
            waits: self.waits,
            cases: self.cases,
        }
    }
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
            super::plural(left.len(), "user", "users"),
            left.join(", ")
        );
    }
}
