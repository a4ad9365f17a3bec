//! `convcheck diff`: the parity diff. Runs the suite against a baseline twice and a target
//! once, normalizes every case, and reports where the target's answers differ from the
//! baseline's, by case and JSON path. Whatever differs between the baseline's own two runs
//! is noise: reported as volatile and left out (unless its shape differs too). The baseline
//! can also be a recorded snapshot set; then the target runs twice to find the noise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use super::exit;
use super::run::TargetArgs;
use super::snapshots::read_deviations;
use super::validate::parse_edition;
use crate::runner::orchestrate::{Prepared, build_plan, preflight, writes_allowed};
use crate::runner::{self, Outcome, Session};
use crate::snapshot::deviations::Deviation;
use crate::snapshot::diff::{self, Difference};
use crate::snapshot::{Dates, store, volatile_fields};
use crate::spec::Edition;
use crate::suite;

/// Options of `convcheck diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Base URL of the baseline; without it (and without `--baseline-snapshots`) a second
    /// embedded emulator is the baseline.
    #[arg(long, value_name = "URL", conflicts_with = "baseline_snapshots")]
    pub baseline: Option<String>,
    /// A recorded snapshot directory (as for `run --snapshot-dir`) as the baseline; the
    /// target then runs twice to find the noise.
    #[arg(long, value_name = "DIR")]
    pub baseline_snapshots: Option<PathBuf>,
    /// Account SID of the baseline (default: the target's).
    #[arg(long)]
    pub baseline_account_sid: Option<String>,
    /// Auth Token of the baseline (default: the target's).
    #[arg(long, hide_env_values = true)]
    pub baseline_auth_token: Option<String>,
    /// API Key SID of the baseline (default: the target's).
    #[arg(long)]
    pub baseline_api_key: Option<String>,
    /// API Key secret of the baseline (default: the target's).
    #[arg(long)]
    pub baseline_api_secret: Option<String>,
    /// A second Conversation Service of the baseline, for the service-scoped URL form.
    #[arg(long)]
    pub baseline_service_sid: Option<String>,
    /// The target (the embedded emulator when no `--target`), and its credentials.
    #[command(flatten)]
    pub target: TargetArgs,
    /// A second Conversation Service of the target, for the service-scoped URL form.
    #[arg(long)]
    pub service_sid: Option<String>,
    /// The contract edition: `docs` or `oai-2025`.
    #[arg(long, default_value = "docs", value_parser = parse_edition)]
    pub edition: Edition,
    /// Let the suite write to targets outside this machine (it deletes only what it creates).
    #[arg(long)]
    pub allow_writes: bool,
    /// Cases run at once.
    #[arg(long, default_value_t = 8)]
    pub test_threads: usize,
    /// Known deviations (TOML): differences they cover (check `snapshot.differs`) are
    /// listed as expected and do not fail.
    #[arg(long, value_name = "FILE")]
    pub deviations: Option<PathBuf>,
    /// Write the result as JSON here.
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
}

/// One run of the suite, normalized.
#[derive(Debug, Default)]
pub struct SuiteRun {
    /// Case id → document.
    pub docs: BTreeMap<String, Value>,
    /// Case id → why it errored.
    pub errored: BTreeMap<String, String>,
}

/// Runs the whole suite once against a prepared target and normalizes every case.
pub async fn run_suite(
    p: &Prepared,
    service_sid: Option<String>,
    edition: Edition,
    threads: usize,
    dates: Dates,
) -> anyhow::Result<SuiteRun> {
    preflight(&p.client, &p.base_url).await?;
    let mut plan = build_plan(p, service_sid, false, edition, false, 1000);
    // Generated cases draw new inputs on every run: two runs have nothing to compare.
    plan.generation.sequences = 0;
    let session = Session::new(plan, p.client.clone());
    let captured = runner::execute_captured(&session, &suite::all(), threads).await;
    let left = runner::teardown(&session).await;
    if !left.is_empty() {
        eprintln!(
            "warning: could not delete {} users this run created at `{}`; remove them with `convcheck sweep --prefix {}`",
            left.len(),
            p.base_url,
            session.plan.run_prefix
        );
    }
    let mut out = SuiteRun::default();
    for (rec, capture) in captured {
        if rec.outcome == Outcome::Errored {
            out.errored
                .insert(rec.id, rec.error.unwrap_or_else(|| "no answer".into()));
        } else {
            out.docs.insert(rec.id, capture.normalize(dates).doc);
        }
    }
    Ok(out)
}

/// Volatile paths per case: where two runs of the same side differ. A case missing from
/// one run is volatile as a whole.
pub fn volatile(a: &SuiteRun, b: &SuiteRun) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids: BTreeSet<&String> = a.docs.keys().chain(b.docs.keys()).collect();
    for id in ids {
        let paths: BTreeSet<String> = match (a.docs.get(id), b.docs.get(id)) {
            (Some(x), Some(y)) => diff::diff(x, y).into_iter().map(|d| d.path).collect(),
            _ => [String::new()].into(),
        };
        if !paths.is_empty() {
            out.insert(id.clone(), paths);
        }
    }
    out
}

/// The comparison of a baseline with a target.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Cases compared.
    pub compared: usize,
    /// Per case: differences left after the volatile ones are taken out.
    pub differences: BTreeMap<String, Vec<Difference>>,
    /// Per case: differences a known deviation covers.
    pub expected: BTreeMap<String, Vec<Difference>>,
    /// Cases only the baseline has.
    pub only_baseline: Vec<String>,
    /// Cases only the target has.
    pub only_target: Vec<String>,
}

/// Compares the baseline's documents with the target's, leaving out volatile paths and
/// setting aside what known deviations cover.
pub fn compare(
    baseline: &BTreeMap<String, Value>,
    target: &BTreeMap<String, Value>,
    volatile: &BTreeMap<String, BTreeSet<String>>,
    deviations: &[Deviation],
) -> Comparison {
    let mut c = Comparison::default();
    let none = BTreeSet::new();
    let fields = diff::volatile_field_names(volatile.values().flatten());
    for (id, expected) in baseline {
        let Some(actual) = target.get(id) else {
            c.only_baseline.push(id.clone());
            continue;
        };
        c.compared += 1;
        let diffs = diff::without_volatile_fields(
            diff::without_volatile(
                diff::diff(expected, actual),
                volatile.get(id).unwrap_or(&none),
            ),
            &fields,
        );
        let (covered, left): (Vec<_>, Vec<_>) = diffs.into_iter().partition(|d| {
            deviations
                .iter()
                .any(|dev| dev.covers(id, diff::CHECK, &diff::pointer(&d.path)))
        });
        if !left.is_empty() {
            c.differences.insert(id.clone(), left);
        }
        if !covered.is_empty() {
            c.expected.insert(id.clone(), covered);
        }
    }
    c.only_target = target
        .keys()
        .filter(|id| !baseline.contains_key(*id))
        .cloned()
        .collect();
    c
}

fn baseline_target_args(a: &DiffArgs) -> TargetArgs {
    let t = &a.target;
    TargetArgs {
        target: a.baseline.clone(),
        account_sid: a.baseline_account_sid.clone().or(t.account_sid.clone()),
        auth_token: a.baseline_auth_token.clone().or(t.auth_token.clone()),
        api_key: a.baseline_api_key.clone().or(t.api_key.clone()),
        api_secret: a.baseline_api_secret.clone().or(t.api_secret.clone()),
        timeout: t.timeout,
    }
}

fn describe(p: &Prepared) -> String {
    match &p.embedded {
        Some(_) => format!("the embedded emulator at {}", p.base_url),
        None => p.base_url.clone(),
    }
}

impl DiffArgs {
    fn writes_allowed(&self, p: &Prepared) -> anyhow::Result<()> {
        if !writes_allowed(p, self.allow_writes)? {
            bail!(
                "target `{}` is not on this machine and the suite creates, updates and deletes users there: pass --allow-writes (the run deletes only what it creates)",
                p.base_url
            );
        }
        Ok(())
    }

    /// Runs the parity diff.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        let deviations = match &self.deviations {
            Some(p) => read_deviations(p)?,
            None => Vec::new(),
        };
        let edition = self.edition.to_string();
        let recorded = match &self.baseline_snapshots {
            Some(dir) => {
                let dir = store::edition_dir(dir, &edition);
                if !store::has_snapshots(&dir) {
                    bail!(
                        "no snapshots for edition `{edition}` in `{}`",
                        dir.display()
                    );
                }
                let mut all = store::load_dir(&dir)?;
                // Traffic `convcheck proxy` recorded is replayed by `convcheck run`, which
                // verifies it; the parity diff compares the suite's own cases.
                all.retain(|id, _| !id.starts_with("proxy::"));
                if all.is_empty() {
                    bail!(
                        "`{}` holds recorded traffic only: verify a target against it with `convcheck run --target URL --snapshot-dir {}`",
                        dir.display(),
                        self.baseline_snapshots
                            .as_ref()
                            .map(|d| d.display().to_string())
                            .unwrap_or_default()
                    );
                }
                Some(all)
            }
            None => None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let threads = self.test_threads.max(1);
        let target = rt.block_on(self.target.prepare(self.edition))?;
        self.writes_allowed(&target)?;
        let result = rt.block_on(async {
            let target_name = describe(&target);
            if let Some(recorded) = &recorded {
                let dates = Dates::Shape;
                let t1 = run_suite(
                    &target,
                    self.service_sid.clone(),
                    self.edition,
                    threads,
                    dates,
                )
                .await?;
                let t2 = run_suite(
                    &target,
                    self.service_sid.clone(),
                    self.edition,
                    threads,
                    dates,
                )
                .await?;
                let baseline: BTreeMap<String, Value> = recorded
                    .iter()
                    .map(|(id, (_, doc))| (id.clone(), doc.clone()))
                    .collect();
                let name = format!(
                    "the recording in `{}`",
                    self.baseline_snapshots
                        .as_ref()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                );
                let noise = volatile(&t1, &t2);
                Ok::<_, anyhow::Error>((
                    name,
                    format!("{target_name} (ran twice)"),
                    baseline,
                    t1,
                    noise,
                    BTreeMap::new(),
                ))
            } else {
                let base = baseline_target_args(&self).prepare(self.edition).await?;
                self.writes_allowed(&base)?;
                let dates = Dates::Keep;
                let sid = self.baseline_service_sid.clone();
                let a1 = run_suite(&base, sid.clone(), self.edition, threads, dates).await?;
                let a2 = run_suite(&base, sid, self.edition, threads, dates).await?;
                let b = run_suite(
                    &target,
                    self.service_sid.clone(),
                    self.edition,
                    threads,
                    dates,
                )
                .await?;
                let name = format!("{} (ran twice)", describe(&base));
                if let Some(running) = base.embedded {
                    let _ = running.shutdown().await;
                }
                let noise = volatile(&a1, &a2);
                let mut errored = a1.errored.clone();
                errored.extend(a2.errored);
                Ok((name, target_name, a1.docs, b, noise, errored))
            }
        });
        if let Some(running) = target.embedded {
            let _ = rt.block_on(running.shutdown());
        }
        let (baseline_name, target_name, baseline, target_run, noise, mut errored) = result?;
        errored.extend(target_run.errored);
        let outcome = Found {
            noise_from: if recorded.is_some() {
                "target"
            } else {
                "baseline"
            },
            cmp: compare(&baseline, &target_run.docs, &noise, &deviations),
            baseline_name,
            target_name,
            baseline,
            target: target_run.docs,
            noise,
            errored,
        };
        print!("{}", crate::client::scrub::scrub(&render(&outcome)));
        if let Some(path) = &self.report_json {
            let doc = to_json(&outcome);
            let body = serde_json::to_string_pretty(&doc)?;
            std::fs::write(path, crate::client::scrub::scrub(&body) + "\n")
                .with_context(|| format!("cannot write the JSON report to `{}`", path.display()))?;
        }
        let code = if !outcome.cmp.differences.is_empty() {
            exit::FINDINGS
        } else if !outcome.errored.is_empty() {
            exit::USAGE
        } else {
            exit::OK
        };
        Ok(ExitCode::from(code))
    }
}

/// Everything a parity diff found, for its writers.
#[derive(Debug, Default)]
pub struct Found {
    /// Which side ran twice: `baseline`, or `target` when the baseline is a recording.
    pub noise_from: &'static str,
    /// The baseline, in words.
    pub baseline_name: String,
    /// The target, in words.
    pub target_name: String,
    /// The baseline's documents.
    pub baseline: BTreeMap<String, Value>,
    /// The target's documents.
    pub target: BTreeMap<String, Value>,
    /// Volatile paths per case.
    pub noise: BTreeMap<String, BTreeSet<String>>,
    /// Cases that errored on either side.
    pub errored: BTreeMap<String, String>,
    /// The comparison.
    pub cmp: Comparison,
}

/// The terminal output of a comparison.
pub fn render(o: &Found) -> String {
    let Found {
        noise_from,
        baseline_name,
        target_name,
        baseline,
        target,
        noise,
        errored,
        cmp,
    } = o;
    let mut s = format!("baseline: {baseline_name}\ntarget:   {target_name}\n");
    let fields = volatile_fields(noise.values().flatten());
    let total: usize = fields.values().sum();
    if fields.is_empty() {
        s.push_str(&format!(
            "volatile: none (the {noise_from}'s two runs agree everywhere)\n"
        ));
    } else {
        let list: Vec<String> = fields.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        s.push_str(&format!(
            "volatile (they differ between the {noise_from}'s own two runs and are left out): {}\n",
            list.join(", ")
        ));
    }
    let empty = Value::Null;
    for (id, diffs) in &cmp.differences {
        let n = diffs.len();
        s.push_str(&format!(
            "{id}: {n} difference{}\n",
            if n == 1 { "" } else { "s" }
        ));
        s.push_str(&diff::render(
            diffs,
            baseline.get(id).unwrap_or(&empty),
            target.get(id).unwrap_or(&empty),
            ("baseline", "target"),
        ));
    }
    for (id, diffs) in &cmp.expected {
        s.push_str(&format!(
            "{id}: {} difference(s) covered by known deviations\n",
            diffs.len()
        ));
    }
    for (id, why) in errored {
        s.push_str(&format!("{id}: errored: {why}\n"));
    }
    if !cmp.only_baseline.is_empty() {
        s.push_str(&format!(
            "not compared, only in the baseline: {}\n",
            cmp.only_baseline.join(", ")
        ));
    }
    if !cmp.only_target.is_empty() {
        s.push_str(&format!(
            "not compared, only in the target: {}\n",
            cmp.only_target.join(", ")
        ));
    }
    let count: usize = cmp.differences.values().map(Vec::len).sum();
    s.push_str(&format!(
        "convcheck diff: {count} differences in {} of {} cases compared; {total} volatile fields found\n",
        cmp.differences.len(),
        cmp.compared
    ));
    s
}

fn to_json(o: &Found) -> Value {
    let Found {
        baseline_name,
        target_name,
        cmp,
        noise,
        errored,
        ..
    } = o;
    let list = |m: &BTreeMap<String, Vec<Difference>>| -> Vec<Value> {
        m.iter()
            .flat_map(|(id, ds)| {
                ds.iter().map(move |d| {
                    json!({"case": id, "path": d.path, "baseline": d.expected, "target": d.actual})
                })
            })
            .collect()
    };
    json!({
        "convcheck_version": env!("CARGO_PKG_VERSION"),
        "baseline": baseline_name,
        "target": target_name,
        "compared": cmp.compared,
        "differences": list(&cmp.differences),
        "expected": list(&cmp.expected),
        "volatile": noise.iter().flat_map(|(id, ps)| ps.iter().map(move |p| json!({"case": id, "path": p}))).collect::<Vec<_>>(),
        "errored": errored,
        "only_in_baseline": cmp.only_baseline,
        "only_in_target": cmp.only_target,
    })
}
