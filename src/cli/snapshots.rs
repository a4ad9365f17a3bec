//! `convcheck run --snapshots record|verify|off` and `--deviations FILE`: the options, and
//! what they do around each case (judge) and after the run (write files, say what happened).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::check::Finding;
use crate::runner::{CaseRecord, Outcome};
use crate::snapshot::deviations::{self, Deviation};
use crate::snapshot::diff::Level;
use crate::snapshot::store::{self, Header};
use crate::snapshot::{self, Capture, Dates, diff};
use crate::spec::Severity;

/// What to do with snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Write one `.snap` file per case that ran.
    Record,
    /// Compare every case with its `.snap` file; a difference fails the case.
    Verify,
    /// Neither.
    Off,
}

/// Snapshot and known-deviation options of `convcheck run`.
#[derive(Debug, Args, Clone)]
pub struct SnapshotArgs {
    /// Record or verify normalized answers (default: verify when the snapshot directory holds
    /// snapshots for the edition, else off).
    #[arg(long, value_enum, value_name = "MODE")]
    pub snapshots: Option<Mode>,
    /// Where snapshots live: one `.snap` file per case under `DIR/<edition>/`.
    #[arg(long, value_name = "DIR", default_value = "snapshots")]
    pub snapshot_dir: PathBuf,
    /// Known deviations (TOML): matching failures become expected failures.
    #[arg(long, value_name = "FILE")]
    pub deviations: Option<PathBuf>,
}

/// Reads and parses a deviations file.
pub fn read_deviations(path: &Path) -> anyhow::Result<Vec<Deviation>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the deviations file `{}`", path.display()))?;
    deviations::parse(&text, &path.display().to_string())
}

/// A run's snapshot state, shared by the trials.
#[derive(Debug)]
pub struct SnapshotRun {
    mode: Mode,
    dir: PathBuf,
    header: Header,
    recorded: BTreeMap<String, (PathBuf, Value)>,
    deviations: Vec<Deviation>,
    deviations_file: String,
    strict: bool,
    /// Per case that ran: its document, and whether it matched its recording.
    /// Each judged case, by id.
    docs: Mutex<BTreeMap<String, Judged>>,
}

impl SnapshotRun {
    /// Checks the options and reads what verification needs, before any request: a bad
    /// directory, snapshot or deviations file is a one-line error.
    pub fn prepare(
        args: &SnapshotArgs,
        edition: &str,
        target: String,
        strict: bool,
        listing: bool,
    ) -> anyhow::Result<SnapshotRun> {
        let dir = store::edition_dir(&args.snapshot_dir, edition);
        let mode = match (args.snapshots, listing) {
            (_, true) => Mode::Off,
            (Some(m), _) => m,
            (None, _) if store::has_snapshots(&dir) => Mode::Verify,
            (None, _) => Mode::Off,
        };
        let recorded = match mode {
            Mode::Verify => {
                if !store::has_snapshots(&dir) {
                    anyhow::bail!(
                        "no snapshots for edition `{edition}` in `{}`: record them first with `--snapshots record`",
                        args.snapshot_dir.display()
                    );
                }
                store::load_dir(&dir)?
            }
            Mode::Record => {
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("cannot create the snapshot directory `{}`", dir.display())
                })?;
                BTreeMap::new()
            }
            Mode::Off => BTreeMap::new(),
        };
        let deviations = match &args.deviations {
            Some(p) => read_deviations(p)?,
            None => Vec::new(),
        };
        let recorded_at = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(SnapshotRun {
            mode,
            header: Header {
                target,
                recorded_at,
                edition: edition.to_owned(),
                convcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            dir,
            recorded,
            deviations,
            deviations_file: args
                .deviations
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            strict,
            docs: Mutex::default(),
        })
    }

    /// The traffic `convcheck proxy` recorded in the directory (its file and document), when
    /// verifying.
    pub fn traffic(&self) -> Option<(String, Value)> {
        if self.mode != Mode::Verify {
            return None;
        }
        self.recorded
            .get(super::proxy::TRAFFIC_CASE)
            .map(|(p, d)| (p.display().to_string(), d.clone()))
    }

    /// Whether the directory holds recordings of the suite's cases: one that holds only
    /// recorded traffic verifies the traffic alone.
    fn has_suite_recordings(&self) -> bool {
        self.recorded.keys().any(|id| !id.starts_with("proxy::"))
    }

    fn path_of(&self, case_id: &str) -> PathBuf {
        self.recorded
            .get(case_id)
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| self.dir.join(store::file_name(case_id)))
    }

    /// Judges one finished case: compares it with its recording (verify), keeps its document
    /// for the end of the run, and applies the known deviations. Pure but for the lock.
    pub fn judge(&self, rec: &mut CaseRecord, capture: &Capture) {
        // Generated cases draw new inputs every run: no recording can hold them. The replay
        // of recorded traffic compares itself with its recording; a directory of recorded
        // traffic alone has nothing to say about the suite's cases.
        let generated = crate::snapshot::is_generated(&rec.kind);
        let unrecorded =
            rec.kind == "proxy" || (self.mode == Mode::Verify && !self.has_suite_recordings());
        if self.mode != Mode::Off
            && !generated
            && !unrecorded
            && !matches!(rec.outcome, Outcome::Errored | Outcome::Skipped)
        {
            let doc = capture.normalize(Dates::Shape).doc;
            let mut matched = true;
            let mut info = Vec::new();
            if self.mode == Mode::Verify {
                let path = self.path_of(&rec.id);
                let recorded = self.recorded.get(&rec.id).map(|(_, d)| d);
                // A difference weighs no more than the checks that judged its exchange.
                let (diffs, findings) =
                    snapshot::verify(recorded, &doc, &path.display().to_string(), &capture.judged);
                if let Some(rec_doc) = recorded {
                    info = diffs
                        .iter()
                        .filter(|d| {
                            snapshot::diff::level(d, rec_doc, &doc, &capture.judged) == Level::Info
                        })
                        .map(|d| d.path.clone())
                        .collect();
                }
                // What the contract leaves open (SHOULD level) fails only with --strict.
                let failing = findings
                    .iter()
                    .any(|f| f.severity == Severity::Must || self.strict);
                if failing {
                    matched = false;
                    if rec.outcome == Outcome::Passed {
                        rec.outcome = Outcome::Failed;
                    }
                }
                rec.findings.extend(findings);
            }
            self.docs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(rec.id.clone(), (doc, matched, info));
        }
        deviations::apply(&self.deviations, std::slice::from_mut(rec), self.strict);
    }

    /// After the run: writes the recorded or pending files and returns the lines to print
    /// and the notes for the report.
    pub fn finish(&self, cases: &mut [CaseRecord]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let mut lines = Vec::new();
        let docs = std::mem::take(&mut *self.docs.lock().unwrap_or_else(|p| p.into_inner()));
        match self.mode {
            Mode::Off => {}
            Mode::Record => {
                let mut written = 0;
                for (id, (doc, _, _)) in &docs {
                    let path = self.path_of(id);
                    if store::record(&path, id, &self.header, doc)? {
                        written += 1;
                    }
                    store::remove_pending(&path)?;
                }
                lines.push(format!(
                    "snapshots: {} recorded in `{}` ({written} changed, {} unchanged)",
                    docs.len(),
                    self.dir.display(),
                    docs.len() - written
                ));
            }
            Mode::Verify if !self.has_suite_recordings() => {
                lines.push(format!(
                    "snapshots: `{}` holds recorded traffic only: the suite's cases ran unverified, and `{}` replayed it",
                    self.dir.display(),
                    super::proxy::TRAFFIC_CASE
                ));
            }
            Mode::Verify => {
                let mut differ = 0;
                let mut undocumented: BTreeMap<String, Vec<&str>> = BTreeMap::new();
                for (id, (_, _, info)) in &docs {
                    for path in info {
                        let field = path.rsplit('/').next().unwrap_or(path).to_owned();
                        undocumented.entry(field).or_default().push(id);
                    }
                }
                for (id, (doc, matched, _)) in &docs {
                    let path = self.path_of(id);
                    if *matched {
                        store::remove_pending(&path)?;
                    } else {
                        differ += 1;
                        let pending = store::pending_path(&path);
                        store::write(&pending, &store::render(id, &self.header, doc))?;
                    }
                }
                let mut line = format!(
                    "snapshots: {} match, {differ} differ from `{}`",
                    docs.len() - differ,
                    self.dir.display()
                );
                if differ > 0 {
                    line.push_str(&format!(
                        "; the new answers are in `.snap.new` files beside them: review with `cargo insta review --workspace-root {}`",
                        self.dir.display()
                    ));
                }
                lines.push(line);
                if !undocumented.is_empty() {
                    let fields: Vec<String> = undocumented
                        .iter()
                        .map(|(field, cases)| format!("`{field}` ({} cases)", cases.len()))
                        .collect();
                    lines.push(format!(
                        "snapshots: fields no schema documents, on one side only (listed, not judged): {}",
                        fields.join(", ")
                    ));
                }
            }
        }
        let applied = deviations::apply(&self.deviations, cases, self.strict);
        let notes = deviations::notes(&self.deviations, &applied, &self.deviations_file);
        Ok((lines, notes))
    }
}

/// One judged case: its document, whether it matched its recording, and the paths of the
/// undocumented fields it differs by (listed, never judged).
type Judged = (Value, bool, Vec<String>);

/// A snapshot finding for the terminal: where, the JSON path, recorded and now.
pub fn render_finding(f: &Finding) -> String {
    let level = match f.severity {
        Severity::Must => "error",
        Severity::Should => "warning",
    };
    let at = if f.pointer.is_empty() {
        String::new()
    } else {
        format!(" at {}", f.pointer)
    };
    format!(
        "{level}[{}]: {}\n  --> {}{at}\n",
        diff::CHECK,
        f.message,
        f.request.as_deref().unwrap_or("the case"),
    )
}
