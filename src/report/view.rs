//! What every report derives from a run: which findings fail, the operation a request is, the
//! conformance matrix (clause × operation × URL form), the score and coverage, a fix hint, and
//! a curl command that reproduces a request without ever holding a credential.
//!
//! The matrix needs to know which clauses a case that passed actually exercises: a case with
//! no finding says nothing by itself. That knowledge is `evidence.json` beside this file: for
//! every case, per operation, the checks it raised against some fault of the reference
//! emulator. The mutation matrix (`tests/it/matrix.rs`) recomputes it and fails when it drifts,
//! so a clause counts as passed only where a case is known to be able to fail it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use crate::check::Finding;
use crate::runner::{CaseRecord, ExchangeSummary, Outcome, Report};
use crate::spec::{Operation, Severity, catalogue};

/// The raw text of `src/report/evidence.json`.
pub const EVIDENCE_JSON: &str = include_str!("evidence.json");

/// Case name (id without the URL form) → operation → checks that case can raise there.
pub type Evidence = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The evidence compiled in.
pub fn evidence() -> &'static Evidence {
    static E: OnceLock<Evidence> = OnceLock::new();
    E.get_or_init(|| {
        serde_json::from_str(EVIDENCE_JSON)
            .expect("src/report/evidence.json is embedded and must parse")
    })
}

/// Computes evidence from runs against faulty targets: every finding's check, filed under
/// its case and the operation of its request.
pub fn evidence_of<'a>(records: impl IntoIterator<Item = &'a CaseRecord>) -> Evidence {
    let mut out = Evidence::new();
    for c in records {
        for f in &c.findings {
            if let Some(op) = finding_operation(c, f) {
                out.entry(case_name(c).to_owned())
                    .or_default()
                    .entry(op.as_str().to_owned())
                    .or_default()
                    .insert(f.check.clone());
            }
        }
    }
    out
}

/// The URL forms, in column order.
pub const FORMS: [&str; 2] = ["shortened", "service"];

/// A case id without its URL form: `create::minimal::service` → `create::minimal`.
pub fn case_name(c: &CaseRecord) -> &str {
    c.id.strip_suffix(&format!("::{}", c.form)).unwrap_or(&c.id)
}

/// Whether a finding fails its case: MUST findings always, SHOULD findings under `--strict`.
pub fn failing(report: &Report, f: &Finding) -> bool {
    f.severity == Severity::Must || report.strict
}

/// The findings that do not fail their case (SHOULD findings outside `--strict`), with their
/// case, from cases that were judged.
pub fn warnings(report: &Report) -> Vec<(&CaseRecord, &Finding)> {
    report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Passed | Outcome::Failed))
        .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
        .filter(|(_, f)| !failing(report, f))
        .collect()
}

/// The operation of a method and path (`/v1/Users`, `/v1/Services/IS…/Users/{Sid}`).
pub fn operation(method: &str, path: &str) -> Option<Operation> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest: &[&str] = match segs.as_slice() {
        ["v1", "Services", _, rest @ ..] => rest,
        ["v1", rest @ ..] => rest,
        _ => return None,
    };
    let item = match rest {
        ["Users"] => false,
        ["Users", _] => true,
        _ => return None,
    };
    Some(match (method, item) {
        ("POST", false) => Operation::Create,
        ("GET", false) => Operation::Read,
        ("GET", true) => Operation::Fetch,
        ("POST", true) => Operation::Update,
        ("DELETE", true) => Operation::Delete,
        _ => return None,
    })
}

/// The operation of a recorded request line (`GET /v1/Users?PageSize=1`).
pub fn operation_of_line(line: &str) -> Option<Operation> {
    let (method, path) = line.split_once(' ')?;
    operation(method, path)
}

/// `METHOD path?query` of an exchange, as findings name their request.
pub fn request_line(ex: &ExchangeSummary) -> String {
    let path = url::Url::parse(&ex.url)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_else(|_| ex.url.clone());
    format!("{} {path}", ex.method)
}

/// The operation of an exchange.
pub fn exchange_operation(ex: &ExchangeSummary) -> Option<Operation> {
    operation_of_line(&request_line(ex))
}

/// The operation a finding is about: its request's, else its case kind's when that is one.
pub fn finding_operation(c: &CaseRecord, f: &Finding) -> Option<Operation> {
    f.request
        .as_deref()
        .and_then(operation_of_line)
        .or_else(|| Operation::ALL.into_iter().find(|o| o.as_str() == c.kind))
}

/// The request a finding follows: the last exchange with its request line, else the case's
/// last exchange.
pub fn exchange_for<'a>(c: &'a CaseRecord, f: &Finding) -> Option<&'a ExchangeSummary> {
    f.request
        .as_deref()
        .and_then(|line| c.exchanges.iter().rev().find(|e| request_line(e) == line))
        .or_else(|| c.exchanges.last())
}

/// Whether a case's requests carried the run's credentials. The `auth` cases send none, or
/// wrong ones, on purpose.
pub fn sends_credentials(c: &CaseRecord) -> bool {
    c.kind != "auth"
}

/// A curl command that sends the same request. Credentials are the environment variables
/// `$TWILIO_ACCOUNT_SID` and `$TWILIO_AUTH_TOKEN`, never values; form fields are sent one
/// `--data-urlencode` each; non-credential headers such as `X-Twilio-Webhook-Enabled` are kept.
pub fn curl(ex: &ExchangeSummary, with_credentials: bool) -> String {
    let fields: Vec<(String, String)> = ex
        .request_body
        .as_deref()
        .map(|b| {
            form_urlencoded::parse(b.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut parts = vec![format!("curl -sS -i {}", shell_quote(&ex.url))];
    match (ex.method.as_str(), fields.is_empty()) {
        ("GET", true) | ("POST", false) => {}
        (m, _) => parts.push(format!("-X {m}")),
    }
    if with_credentials {
        parts.push("-u \"$TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN\"".to_owned());
    }
    for (k, v) in &ex.request_headers {
        let lower = k.to_ascii_lowercase();
        // curl sets the form content type itself; credentials never reach an exchange, and
        // are refused here all the same.
        if lower == "content-type" || lower == "authorization" || lower == "cookie" {
            continue;
        }
        parts.push(format!("-H {}", shell_quote(&format!("{k}: {v}"))));
    }
    for (k, v) in &fields {
        parts.push(format!(
            "--data-urlencode {}",
            shell_quote(&format!("{k}={v}"))
        ));
    }
    let mut s = String::new();
    if !with_credentials {
        s.push_str("# sent without valid credentials, as the case does\n");
    }
    s.push_str(&parts.join(" \\\n  "));
    s
}

/// What a group's replay is called: a generated case's is its shrunk sequence; the proxy's
/// is the exchange it saw, with a command that sends it again.
pub fn replay_title(g: &Group<'_>) -> &'static str {
    if g.head().0.kind == "proxy" {
        "reproduction: the exchange as it was sent, and curl to send it again"
    } else {
        "replay: the shrunk sequence, step by step, and its seed"
    }
}

/// A replay as every format shows it: its lines as they are, but control characters other
/// than line breaks and tabs, bidirectional embeddings, overrides and isolates, and the
/// noncharacters U+FFFE and U+FFFF (which XML cannot hold) as `\u{…}` escapes, so that what a
/// reader sees is what was sent, in the order it was sent. A generated value may hold any of
/// them; the replay's steps already show them escaped, its curl lines do not.
pub fn replay_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let hidden = (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            || matches!(c, '\u{FFFE}' | '\u{FFFF}');
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What to change, in a line: the finding's expectation at its pointer.
pub fn hint(f: &Finding) -> String {
    let req = f.request.as_deref().unwrap_or("the request");
    if f.pointer == "@status" {
        format!(
            "answer `{req}` with status {} instead of {}",
            f.expected, f.actual
        )
    } else if let Some(h) = f.pointer.strip_prefix("@headers/") {
        format!(
            "send header `{h}` on `{req}` as {} instead of {}",
            f.expected, f.actual
        )
    } else if f.pointer.is_empty() {
        format!("make `{req}` give {} instead of {}", f.expected, f.actual)
    } else {
        format!(
            "return {} at `{}` of `{req}` instead of {}",
            f.expected, f.pointer, f.actual
        )
    }
}

/// Passed cases over applicable ones, beside clause coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that ran and could be judged or errored: passed, failed and errored.
    pub applicable: usize,
    /// Documented clauses with at least one matrix cell passed, failed or warned.
    pub clauses_checked: usize,
    /// Documented clauses.
    pub clauses_documented: usize,
}

impl Score {
    /// The score in percent, rounded down; 0 when nothing was applicable.
    pub fn percent(&self) -> usize {
        (self.passed * 100)
            .checked_div(self.applicable)
            .unwrap_or(0)
    }

    /// The coverage in percent, rounded down.
    pub fn coverage_percent(&self) -> usize {
        (self.clauses_checked * 100)
            .checked_div(self.clauses_documented)
            .unwrap_or(0)
    }
}

/// The score of a run.
pub fn score(report: &Report) -> Score {
    let s = report.summary;
    let m = matrix(report);
    Score {
        passed: s.passed,
        applicable: s.passed + s.failed + s.errored,
        clauses_checked: m
            .rows
            .iter()
            .filter(|(_, cells)| {
                cells
                    .iter()
                    .any(|c| matches!(c, Cell::Passed | Cell::Warning | Cell::Failed))
            })
            .count(),
        clauses_documented: m.rows.len(),
    }
}

/// One cell of the conformance matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// No case of the suite checks this clause on this operation: nothing to run.
    NotApplicable,
    /// A case checks it there, but none that ran did, and nothing was found.
    NotRun,
    /// A passing case exercised it and no case found anything.
    Passed,
    /// Only SHOULD findings, which fail nothing without `--strict`.
    Warning,
    /// A failing finding cites it.
    Failed,
}

impl Cell {
    /// The CSS class and data value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cell::NotApplicable => "not-applicable",
            Cell::NotRun => "not-run",
            Cell::Passed => "passed",
            Cell::Warning => "warning",
            Cell::Failed => "failed",
        }
    }
}

/// The conformance matrix: a row per documented clause, a column per operation and URL form
/// (operations in `Operation::ALL` order, each with the forms of `FORMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// `(clause id, cells)`; cell `i` is operation `i / 2`, form `i % 2`.
    pub rows: Vec<(String, Vec<Cell>)>,
}

impl Matrix {
    /// The columns: `(operation, form)`.
    pub fn columns() -> Vec<(Operation, &'static str)> {
        Operation::ALL
            .into_iter()
            .flat_map(|o| FORMS.map(|f| (o, f)))
            .collect()
    }

    fn column(op: Operation, form: &str) -> Option<usize> {
        let o = Operation::ALL.iter().position(|x| *x == op)?;
        let f = FORMS.iter().position(|x| *x == form)?;
        Some(o * FORMS.len() + f)
    }
}

/// The URL form of a request line (`GET /v1/Services/IS…/Users`, `#2 GET <base>/v1/Users`):
/// `service` under `/v1/Services/`, else `shortened`; None when it names no `/v1/` path.
pub fn request_form(line: &str) -> Option<&'static str> {
    let path = line
        .split_whitespace()
        .find_map(|w| w.find("/v1/").map(|i| &w[i..]))?;
    Some(if path.starts_with("/v1/Services/") {
        "service"
    } else {
        "shortened"
    })
}

/// The URL form a finding is about: the case's own when its id names it (a case run once per
/// form); else, for a case that runs once over whatever forms it needs (`stateful::sequences`,
/// `service::isolation`), its request's form, falling back on the case's.
pub fn finding_form<'a>(c: &'a CaseRecord, f: &Finding) -> &'a str {
    if c.id.ends_with(&format!("::{}", c.form)) {
        return &c.form;
    }
    f.request
        .as_deref()
        .and_then(request_form)
        .unwrap_or(&c.form)
}

/// The matrix cell a finding falls in: its clause's row, its operation and form's column.
pub fn cell_of<'a>(c: &CaseRecord, f: &'a Finding) -> Option<(&'a str, usize)> {
    let col = finding_operation(c, f).and_then(|op| Matrix::column(op, finding_form(c, f)))?;
    Some((f.clause.as_str(), col))
}

/// Builds the matrix. A cell is *failed* when a failing finding of a check of that clause was
/// raised on a request of that operation and form; *warning* when only SHOULD findings were;
/// *passed* when a case that ran on that form (passed, or failed for another clause) sent a
/// request of that operation and is known (by `evidence.json`) to check that clause there;
/// *not applicable* when no case of the suite checks that clause on that operation; *not
/// run* otherwise.
pub fn matrix(report: &Report) -> Matrix {
    let cat = catalogue();
    let ev = evidence();
    // Which (clause, operation) pairs some case of the suite checks, on any form.
    // A generated case's record says itself which checks held where (`held`).
    let held = report
        .cases
        .iter()
        .flat_map(|c| c.held.iter())
        .flat_map(|(op, forms)| forms.values().map(move |checks| (op, checks)));
    let checkable: BTreeSet<(&str, &str)> = ev
        .values()
        .flat_map(|ops| ops.iter())
        .chain(held)
        .flat_map(|(op, checks)| {
            checks
                .iter()
                .filter_map(|c| cat.check(c))
                .map(move |def| (def.clause.as_str(), op.as_str()))
        })
        .collect();
    let mut cells: BTreeMap<&str, Vec<Cell>> = cat
        .clauses
        .iter()
        .filter(|c| c.documented())
        .map(|c| {
            let row = Matrix::columns()
                .into_iter()
                .map(|(op, _)| {
                    if checkable.contains(&(c.id.as_str(), op.as_str())) {
                        Cell::NotRun
                    } else {
                        Cell::NotApplicable
                    }
                })
                .collect();
            (c.id.as_str(), row)
        })
        .collect();
    let mut raise = |clause: &str, col: usize, cell: Cell| {
        if let Some(row) = cells.get_mut(clause)
            && row[col] < cell
        {
            row[col] = cell;
        }
    };
    for c in &report.cases {
        if !matches!(c.outcome, Outcome::Passed | Outcome::Failed) {
            continue;
        }
        for f in &c.findings {
            if let Some((_, col)) = cell_of(c, f) {
                let cell = if failing(report, f) {
                    Cell::Failed
                } else {
                    Cell::Warning
                };
                raise(&f.clause, col, cell);
            }
        }
        // A case that failed still checked the clauses whose own checks it ran: their cells
        // pass unless a finding of theirs raised them higher above.
        let sent: BTreeSet<Operation> = c.exchanges.iter().filter_map(exchange_operation).collect();
        for (op, checks) in ev.get(case_name(c)).into_iter().flatten() {
            let Some(op) = Operation::ALL.into_iter().find(|o| o.as_str() == op) else {
                continue;
            };
            if !sent.contains(&op) {
                continue;
            }
            let Some(col) = Matrix::column(op, &c.form) else {
                continue;
            };
            for check in checks {
                if let Some(def) = cat.check(check) {
                    raise(&def.clause, col, Cell::Passed);
                }
            }
        }
        for (op, forms) in &c.held {
            let Some(op) = Operation::ALL.into_iter().find(|o| o.as_str() == op) else {
                continue;
            };
            for (form, checks) in forms {
                let Some(col) = Matrix::column(op, form) else {
                    continue;
                };
                for check in checks {
                    if let Some(def) = cat.check(check) {
                        raise(&def.clause, col, Cell::Passed);
                    }
                }
            }
        }
    }
    Matrix {
        rows: cat
            .clauses
            .iter()
            .filter(|c| c.documented())
            .map(|c| {
                (
                    c.id.clone(),
                    cells.remove(c.id.as_str()).unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// What the generated cases of a run covered, merged.
pub fn coverage(report: &Report) -> crate::model::Coverage {
    let mut all = crate::model::Coverage::default();
    let mut missing: Option<Vec<String>> = None;
    for c in &report.cases {
        if let Some(cov) = &c.coverage {
            all.merge(cov);
            if cov.required > 0 {
                missing = Some(cov.missing.clone());
            }
        }
    }
    if let Some(m) = missing {
        all.missing = m;
    }
    all
}

/// The coverage as lines for the terminal: each transition with how often it was taken,
/// the ones missed, and each value family with how often it was sent.
pub fn coverage_lines(c: &crate::model::Coverage) -> Vec<String> {
    let mut out = vec![format!("coverage: {}", c.summary())];
    out.push("transitions (from -> to: times):".to_owned());
    for (t, n) in &c.transitions {
        out.push(format!("  {t}: {n}"));
    }
    if !c.missing.is_empty() {
        out.push(format!("missed ({}):", c.missing.len()));
        for t in &c.missing {
            out.push(format!("  {t}"));
        }
    }
    out.push("value families (family: times):".to_owned());
    for (f, n) in &c.families {
        out.push(format!("  {f}: {n}"));
    }
    out
}

/// Every failed case with its failing findings, in report order; a failed case without
/// findings (it stopped) is listed with none.
pub fn failures(report: &Report) -> Vec<(&CaseRecord, Vec<&Finding>)> {
    report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .map(|c| {
            (
                c,
                c.findings.iter().filter(|f| failing(report, f)).collect(),
            )
        })
        .collect()
}

/// How many occurrences of a repeated finding every report shows.
pub const SHOWN: usize = 3;

/// Findings that repeat: the same check failing the same way (same check id, pointer,
/// expected and actual once the request each names is taken out) on many requests or cases,
/// kept as one entry. The JSON report keeps every finding; the other formats show groups.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// Every occurrence, in report order, each with its case.
    pub members: Vec<(&'a CaseRecord, &'a Finding)>,
    /// How many findings the group holds.
    pub count: usize,
    /// How many distinct cases raised it.
    pub cases: usize,
}

impl<'a> Group<'a> {
    /// The first occurrence: the one each report describes in full.
    pub fn head(&self) -> (&'a CaseRecord, &'a Finding) {
        self.members[0]
    }

    /// The occurrences shown: the first `SHOWN`.
    pub fn first(&self) -> &[(&'a CaseRecord, &'a Finding)] {
        &self.members[..self.members.len().min(SHOWN)]
    }

    /// Occurrences beyond the ones shown.
    pub fn more(&self) -> usize {
        self.count - self.first().len()
    }

    /// ` × N` (in one case) or ` × N in M cases`; empty for a finding seen once.
    pub fn times_label(&self) -> String {
        match (self.count, self.cases) {
            (1, _) => String::new(),
            (n, 1) => format!(" × {n}"),
            (n, m) => format!(" × {n} in {m} cases"),
        }
    }

    /// `, and N more` when the group holds more occurrences than it shows; else empty.
    pub fn more_label(&self) -> String {
        match self.more() {
            0 => String::new(),
            n => format!(", and {n} more"),
        }
    }

    /// The replays of the group's generated findings, each once, in order of occurrence. The
    /// first is the one every format shows, even when the group's head is a fixed case's
    /// finding without one; the JSON report keeps them all.
    pub fn replays(&self) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = Vec::new();
        for (_, f) in &self.members {
            if let Some(r) = f.replay.as_deref()
                && !out.contains(&r)
            {
                out.push(r);
            }
        }
        out
    }

    /// The replay every format shows: the first occurrence's that has one.
    pub fn replay(&self) -> Option<&'a str> {
        self.members.iter().find_map(|(_, f)| f.replay.as_deref())
    }

    /// `N other sequences show it too…` when the group holds more than one replay; else empty.
    pub fn other_replays_label(&self) -> String {
        match self.replays().len() {
            0 | 1 => String::new(),
            2 => {
                "1 other generated sequence shows it too; the JSON report has its replay".to_owned()
            }
            n => format!(
                "{} other generated sequences show it too; the JSON report has their replays",
                n - 1
            ),
        }
    }

    /// Where each shown occurrence was found: its request line, else its case id, with its
    /// pointer when the group's pointers differ (rows of one page, say).
    pub fn locations(&self) -> Vec<String> {
        let same_pointer = self
            .members
            .iter()
            .all(|(_, f)| f.pointer == self.members[0].1.pointer);
        self.first()
            .iter()
            .map(|(c, f)| {
                let at = f.request.as_deref().unwrap_or(&c.id);
                if same_pointer {
                    at.to_owned()
                } else {
                    format!("{at} at {}", f.pointer)
                }
            })
            .collect()
    }
}

/// What makes two findings the same: check, pointer and expected and actual, with what
/// varies from one request to the next taken out: the finding's own request (line and path),
/// SIDs (two letters and 32 hex digits, whatever their case) and array indices in the pointer
/// (`/users/3/sid` is `/users/*/sid`).
fn group_key(f: &Finding) -> (&str, String, String, String) {
    static SID: OnceLock<regex::Regex> = OnceLock::new();
    let sid = SID.get_or_init(|| {
        regex::Regex::new(r"\b[A-Za-z]{2}[0-9a-fA-F]{32}\b").expect("the SID pattern compiles")
    });
    let strip = |s: &str| {
        let mut out = s.to_owned();
        if let Some(line) = f.request.as_deref() {
            let path = line.split_once(' ').map_or(line, |(_, p)| p);
            let bare = path.split(['?', '#']).next().unwrap_or(path);
            for p in [line, path, bare] {
                if !p.is_empty() {
                    out = out.replace(p, "{request}");
                }
            }
        }
        sid.replace_all(&out, "{sid}").into_owned()
    };
    let pointer: Vec<&str> = f
        .pointer
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect();
    (
        &f.check,
        pointer.join("/"),
        strip(&f.expected),
        strip(&f.actual),
    )
}

/// Groups findings, in order of first appearance.
pub fn group<'a>(items: impl IntoIterator<Item = (&'a CaseRecord, &'a Finding)>) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    let mut index: BTreeMap<(&'a str, String, String, String), usize> = BTreeMap::new();
    let mut seen_cases: Vec<BTreeSet<&'a str>> = Vec::new();
    for (c, f) in items {
        let i = *index.entry(group_key(f)).or_insert_with(|| {
            out.push(Group {
                members: Vec::new(),
                count: 0,
                cases: 0,
            });
            seen_cases.push(BTreeSet::new());
            out.len() - 1
        });
        let g = &mut out[i];
        g.count += 1;
        g.members.push((c, f));
        if seen_cases[i].insert(&c.id) {
            g.cases += 1;
        }
    }
    out
}

/// The failing findings of the whole run, grouped.
pub fn failing_groups(report: &Report) -> Vec<Group<'_>> {
    group(
        failures(report)
            .into_iter()
            .flat_map(|(c, fs)| fs.into_iter().map(move |f| (c, f))),
    )
}

/// Why an expected failure was expected, or why a case was skipped.
pub fn skip_reason(c: &CaseRecord) -> String {
    match c.outcome {
        Outcome::ExpectedFailure => {
            let checks: BTreeSet<&str> = c.findings.iter().map(|f| f.check.as_str()).collect();
            let why = c
                .error
                .as_deref()
                .unwrap_or("a known deviation of the target");
            if checks.is_empty() {
                format!("expected failure: {why}")
            } else {
                format!(
                    "expected failure: {why} ({})",
                    checks.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
        }
        _ => c
            .error
            .clone()
            .unwrap_or_else(|| "not run: the case writes and the run was read-only".to_owned()),
    }
}

/// Counts by case kind, in order of first appearance: `(kind, passed, failed, errored,
/// skipped + expected failures)`.
pub fn by_kind(report: &Report) -> Vec<(String, [usize; 4])> {
    let mut out: Vec<(String, [usize; 4])> = Vec::new();
    for c in &report.cases {
        let i = match out.iter().position(|(k, _)| *k == c.kind) {
            Some(i) => i,
            None => {
                out.push((c.kind.clone(), [0; 4]));
                out.len() - 1
            }
        };
        let slot = match c.outcome {
            Outcome::Passed => 0,
            Outcome::Failed => 1,
            Outcome::Errored => 2,
            Outcome::Skipped | Outcome::ExpectedFailure => 3,
        };
        out[i].1[slot] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_from_method_and_path() {
        assert_eq!(operation("POST", "/v1/Users"), Some(Operation::Create));
        assert_eq!(
            operation("GET", "/v1/Users?PageSize=5"),
            Some(Operation::Read)
        );
        assert_eq!(
            operation("GET", "/v1/Services/IS1/Users/US1"),
            Some(Operation::Fetch)
        );
        assert_eq!(
            operation("POST", "/v1/Users/a%20b"),
            Some(Operation::Update)
        );
        assert_eq!(operation("DELETE", "/v1/Users/x"), Some(Operation::Delete));
        assert_eq!(operation("DELETE", "/v1/Users"), None);
        assert_eq!(operation("GET", "/v2/Users"), None);
    }

    #[test]
    fn curl_uses_placeholders_and_one_flag_per_field() {
        let ex = ExchangeSummary {
            method: "POST".into(),
            url: "http://127.0.0.1:4010/v1/Users".into(),
            status: 201,
            request_headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("X-Twilio-Webhook-Enabled".into(), "true".into()),
            ],
            request_body: Some("Identity=it%27s+me&Attributes=%7B%7D".into()),
            response: None,
        };
        assert_eq!(
            curl(&ex, true),
            "curl -sS -i http://127.0.0.1:4010/v1/Users \\\n  -u \"$TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN\" \\\n  -H 'X-Twilio-Webhook-Enabled: true' \\\n  --data-urlencode 'Identity=it'\\''s me' \\\n  --data-urlencode 'Attributes={}'"
        );
        let del = ExchangeSummary {
            method: "DELETE".into(),
            request_body: None,
            request_headers: Vec::new(),
            ..ex
        };
        assert!(curl(&del, false).contains("-X DELETE"));
        assert!(!curl(&del, false).contains("TWILIO_AUTH_TOKEN"));
    }

    #[test]
    fn a_case_run_once_over_every_form_files_findings_under_its_request_form() {
        assert_eq!(request_form("GET /v1/Users/x"), Some("shortened"));
        assert_eq!(request_form("POST /v1/Services/IS1/Users"), Some("service"));
        assert_eq!(
            request_form("#2 GET <base>/v1/Services/IS1/Users?PageSize=1"),
            Some("service")
        );
        assert_eq!(request_form("nothing"), None);
        let record = |id: &str, form: &str| CaseRecord {
            id: id.to_owned(),
            kind: id.split("::").next().unwrap_or_default().to_owned(),
            form: form.to_owned(),
            outcome: Outcome::Failed,
            duration_ms: 0,
            findings: Vec::new(),
            exchanges: Vec::new(),
            error: None,
            chain: 0,
            requests: 0,
            target_ms: 0,
            coverage: None,
            held: Default::default(),
        };
        let mut f = Finding::new("fetch.unknown-identity", "@status", "404", "200");
        f.request = Some("GET /v1/Services/IS1/Users/nobody".to_owned());
        // `stateful::sequences` names no form: its request's counts.
        let once = record("stateful::sequences", "shortened");
        assert_eq!(finding_form(&once, &f), "service");
        assert_eq!(
            cell_of(&once, &f).map(|(_, col)| col),
            Matrix::column(Operation::Fetch, "service")
        );
        // A case run per form keeps its own.
        let per_form = record("generated::inputs::shortened", "shortened");
        assert_eq!(finding_form(&per_form, &f), "shortened");
        // Without a request, the record's form.
        f.request = None;
        assert_eq!(finding_form(&once, &f), "shortened");
    }

    #[test]
    fn a_generated_case_marks_the_cells_whose_checks_held_and_only_those() {
        let mut held = crate::runner::report::HeldChecks::new();
        held.entry("update".to_owned())
            .or_default()
            .entry("service".to_owned())
            .or_default()
            .insert("update.others.unchanged".to_owned());
        let record = CaseRecord {
            id: "stateful::sequences".to_owned(),
            kind: "stateful".to_owned(),
            form: "shortened".to_owned(),
            outcome: Outcome::Passed,
            duration_ms: 0,
            findings: Vec::new(),
            exchanges: Vec::new(),
            error: None,
            chain: 1,
            requests: 0,
            target_ms: 0,
            coverage: None,
            held,
        };
        let report = |cases: Vec<CaseRecord>| Report {
            convcheck_version: "0".to_owned(),
            target: "x".to_owned(),
            edition: "docs".to_owned(),
            started_at: "2026-01-01T00:00:00Z".to_owned(),
            duration_ms: 0,
            strict: false,
            summary: crate::runner::Summary::of(&cases),
            notes: Vec::new(),
            waits: Default::default(),
            cases,
        };
        let cell = |r: &Report, op, form| {
            let m = matrix(r);
            let row = m
                .rows
                .iter()
                .find(|(c, _)| c == "op.update.params")
                .expect("the clause's row");
            row.1[Matrix::column(op, form).expect("a column")]
        };
        let with = report(vec![record.clone()]);
        assert_eq!(cell(&with, Operation::Update, "service"), Cell::Passed);
        assert_ne!(cell(&with, Operation::Update, "shortened"), Cell::Passed);
        let mut failed = record;
        failed.outcome = Outcome::Failed;
        failed.held.clear();
        let mut f = Finding::new("update.others.unchanged", "/friendly_name", "a", "b");
        f.request = Some("POST /v1/Services/IS1/Users/US1".to_owned());
        failed.findings.push(f);
        assert_eq!(
            cell(&report(vec![failed]), Operation::Update, "service"),
            Cell::Failed
        );
    }

    #[test]
    fn evidence_names_known_cases_operations_and_checks() {
        let names: BTreeSet<String> = crate::suite::all()
            .iter()
            .map(|c| format!("{}::{}", c.kind.as_str(), c.name))
            .collect();
        for (case, ops) in evidence() {
            assert!(names.contains(case), "unknown case `{case}`");
            for (op, checks) in ops {
                assert!(Operation::ALL.iter().any(|o| o.as_str() == op), "{op}");
                for c in checks {
                    assert!(catalogue().check(c).is_some(), "unknown check `{c}`");
                }
            }
        }
    }
}
