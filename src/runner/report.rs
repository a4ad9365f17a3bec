//! The run report: plain serializable data that every report writer renders.

use serde::{Deserialize, Serialize};

use crate::check::Finding;

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No failing finding.
    Passed,
    /// At least one failing finding.
    Failed,
    /// The target did not answer; nothing was judged.
    Errored,
    /// Not run (filtered, or writes not allowed).
    Skipped,
    /// Failed as a known deviation says it would.
    ExpectedFailure,
}

/// One request of a case, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeSummary {
    /// HTTP method.
    pub method: String,
    /// Absolute URL (credentials never appear in URLs).
    pub url: String,
    /// Response status.
    pub status: u16,
    /// Request headers other than credentials (which never enter an exchange).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<(String, String)>,
    /// The form body sent, when there was one. It holds only values the run generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The response body, normalized (see `snapshot`), when the run keeps responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<serde_json::Value>,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Case id, such as `create::minimal::shortened`.
    pub id: String,
    /// Kind tag: create, fetch, read, update, delete, lookup, pagination, errors, auth, service.
    pub kind: String,
    /// `shortened` or `service`.
    pub form: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time.
    pub duration_ms: u64,
    /// Every finding, failing or not.
    pub findings: Vec<Finding>,
    /// Every request sent.
    pub exchanges: Vec<ExchangeSummary>,
    /// The transport problem, for an errored case.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Passed cases.
    pub passed: usize,
    /// Failed cases.
    pub failed: usize,
    /// Errored cases.
    pub errored: usize,
    /// Skipped cases.
    pub skipped: usize,
    /// Expected failures.
    pub expected_failures: usize,
}

impl Summary {
    /// Counts the records.
    pub fn of(cases: &[CaseRecord]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Errored => s.errored += 1,
                Outcome::Skipped => s.skipped += 1,
                Outcome::ExpectedFailure => s.expected_failures += 1,
            }
        }
        s
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The version of convcheck that ran.
    pub convcheck_version: String,
    /// The target's base URL.
    pub target: String,
    /// The contract edition.
    pub edition: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Whether SHOULD findings failed cases (`--strict`).
    #[serde(default)]
    pub strict: bool,
    /// Counts by outcome.
    pub summary: Summary,
    /// What the findings say about the target as a whole (for example that it keeps no
    /// state), in sentences.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Every case.
    pub cases: Vec<CaseRecord>,
}

/// Reads patterns across cases that one finding cannot show: a target that keeps no state
/// (a created user fetched back as someone else), one that ignores credentials, one whose
/// errors are not Twilio's. Each note says what the target does not do.
pub fn diagnose(cases: &[CaseRecord]) -> Vec<String> {
    let findings = || cases.iter().flat_map(|c| c.findings.iter());
    let count = |pred: &dyn Fn(&Finding) -> bool| findings().filter(|f| pred(f)).count();
    let mut notes = Vec::new();
    let stateless = count(&|f| {
        f.check == "user.identity.echo"
            && f.request.as_deref().is_some_and(|r| r.starts_with("GET "))
    }) + count(&|f| {
        matches!(
            f.check.as_str(),
            "lookup.identity.same" | "update.applied" | "update.others.unchanged"
        )
    });
    if stateless > 0 {
        notes.push(format!(
            "the target keeps no state: users it answered as created or updated came back as other users or unchanged ({stateless} findings); a mock serving fixed examples (such as Prism) behaves like this, and every case that reads back what it wrote fails"
        ));
    }
    let refusals = count(&|f| {
        matches!(
            f.check.as_str(),
            "create.identity.required"
                | "create.identity.duplicate"
                | "create.identity.sid-shaped"
                | "create.role_sid.malformed"
                | "fetch.unknown-sid"
                | "fetch.unknown-identity"
                | "delete.then-404"
        )
    });
    if refusals > 0 {
        notes.push(format!(
            "the target accepts or answers wrongly requests Twilio refuses ({refusals} findings): unknown users, missing or duplicate identities, malformed RoleSid"
        ));
    }
    let error_format = count(&|f| f.check.starts_with("error.") && f.check.ends_with(".present"))
        + count(&|f| f.check == "error.body.json");
    if error_format > 0 {
        notes.push(format!(
            "the target's error bodies are not Twilio's `{{code, message, more_info, status}}` ({error_format} findings)"
        ));
    }
    if count(&|f| f.check == "auth.rejected") > 0 {
        notes.push("the target serves requests without valid credentials".to_owned());
    }
    if count(&|f| f.check == "page.meta.urls.base") > 0 {
        notes.push(
            "the target's pagination URLs point elsewhere than the target: the helper libraries follow next_page_url verbatim and would leave it (convcheck sends nothing off the target's origin, so it did not follow them)".to_owned(),
        );
    }
    notes
}
