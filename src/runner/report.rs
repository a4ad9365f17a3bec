//! The run report: plain serializable data that every report writer renders.

use std::collections::{BTreeMap, BTreeSet};

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

impl From<&crate::check::Exchange> for ExchangeSummary {
    /// What a report keeps of an exchange: the request and the status (the response is
    /// added once normalized).
    fn from(ex: &crate::check::Exchange) -> Self {
        ExchangeSummary {
            method: ex.method.clone(),
            url: ex.url.clone(),
            status: ex.status,
            request_headers: ex.request_headers.clone(),
            request_body: (!ex.request_body.is_empty())
                .then(|| String::from_utf8_lossy(&ex.request_body).into_owned()),
            response: None,
        }
    }
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
    /// The requests on the case's longest chain of requests that each waited for the one
    /// before (its cleanup included): against a target that answers in L ms, the case takes
    /// at least `chain` × L. 0 for a case that did not run.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub chain: usize,
    /// The requests the case sent, its side runs', read-backs' and cleanup's included (a
    /// retry after a 429 or 503 is not counted again). 0 for a case that sent none.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub requests: usize,
    /// Time spent waiting for the target's answers, summed over the case's requests (those
    /// sent at once overlap, so it may exceed `duration_ms`).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub target_ms: u64,
    /// The transport problem, for an errored case.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// For a generated case: the transitions and value families its sequences covered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub coverage: Option<crate::model::Coverage>,
    /// For a generated case: the checks that held, by operation and URL form (what the
    /// clause matrix marks passed for it).
    #[serde(skip_serializing_if = "HeldChecks::is_empty", default)]
    pub held: HeldChecks,
}

impl CaseRecord {
    /// A record with nothing in it yet: no finding, no exchange, no time.
    pub fn empty(id: String, kind: &str, form: &str, outcome: Outcome) -> CaseRecord {
        CaseRecord {
            id,
            kind: kind.to_owned(),
            form: form.to_owned(),
            outcome,
            duration_ms: 0,
            findings: Vec::new(),
            exchanges: Vec::new(),
            chain: 0,
            requests: 0,
            target_ms: 0,
            error: None,
            coverage: None,
            held: HeldChecks::default(),
        }
    }
}

/// Operation → URL form → the checks that held there.
pub type HeldChecks = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
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
    /// What the run waited for because the target asked it to (429 and 503 answers with
    /// `Retry-After`) or because a list had not shown a write yet, and the largest list
    /// staleness seen. None of it is a finding.
    #[serde(default)]
    pub waits: crate::client::PatienceFigures,
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
    // Lost writes only: a user fetched back as someone else, a lookup that finds another
    // user, an update that did not hold on a plain field. A value that came back in another
    // form (attributes as an object, dates in another format) is a serialization finding,
    // not evidence that the target forgot anything.
    let plain =
        |f: &Finding| !f.pointer.starts_with("/attributes") && !f.pointer.starts_with("/date_");
    let fetched_as_other = count(&|f| f.check == "user.identity.echo");
    let lookups_other = count(&|f| f.check == "lookup.identity.same" && plain(f));
    let updates_lost = count(&|f| {
        matches!(
            f.check.as_str(),
            "update.applied" | "update.others.unchanged"
        ) && plain(f)
    });
    let stateless = fetched_as_other + lookups_other + updates_lost;
    if stateless > 0 {
        let mut seen = Vec::new();
        for (n, one, many, rest) in [
            (
                fetched_as_other,
                "answer",
                "answers",
                "describing another user than the one written or asked for",
            ),
            (
                lookups_other,
                "lookup",
                "lookups",
                "by identity that found another user",
            ),
            (updates_lost, "update", "updates", "that did not hold"),
        ] {
            if n > 0 {
                seen.push(format!("{} {rest}", plural(n, one, many)));
            }
        }
        notes.push(format!(
            "the target keeps no state: it lost writes it acknowledged ({}); a mock serving fixed examples (such as Prism) behaves like this, and every case that reads back what it wrote fails",
            seen.join(", ")
        ));
    }
    // A refusal of a PageSize the docs edition allows but the OpenAPI description's current
    // bound (50) does not: the target may follow the newer edition.
    let above_50 = count(&|f| {
        f.pointer == "@status"
            && f.actual.starts_with('4')
            && f.request
                .as_deref()
                .and_then(|r| r.split("PageSize=").nth(1))
                .and_then(|rest| {
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|n| n.parse::<u32>().ok())
                })
                .is_some_and(|n| (51..=1000).contains(&n))
    });
    if above_50 > 0 {
        notes.push(format!(
            "the target refuses PageSize above 50 ({}), as Twilio's OpenAPI description allows since June 2025 while the documentation page allows up to 1000: if the target follows the newer bound, run with --edition oai-2025",
            plural(above_50, "finding", "findings")
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
            "the target accepts or answers wrongly requests Twilio refuses ({}): unknown users, missing or duplicate identities, malformed RoleSid",
            plural(refusals, "finding", "findings")
        ));
    }
    let error_format = count(&|f| f.check.starts_with("error.") && f.check.ends_with(".present"))
        + count(&|f| f.check == "error.body.json");
    if error_format > 0 {
        notes.push(format!(
            "the target's error bodies are not Twilio's `{{code, message, more_info, status}}` ({})",
            plural(error_format, "finding", "findings")
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

/// `1 finding`, `2 findings`: a count with its noun in the right number.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(findings: Vec<Finding>) -> CaseRecord {
        CaseRecord {
            id: "x::y::shortened".into(),
            kind: "x".into(),
            form: "shortened".into(),
            outcome: Outcome::Failed,
            duration_ms: 0,
            findings,
            exchanges: Vec::new(),
            chain: 0,
            requests: 0,
            target_ms: 0,
            error: None,
            coverage: None,
            held: Default::default(),
        }
    }

    fn at(mut f: Finding, request: &str) -> Finding {
        f.request = Some(request.to_owned());
        f
    }

    #[test]
    fn statelessness_needs_lost_writes_not_serialization_findings() {
        // What the `attributes-object` fault raises against a stateful target.
        let serialization = case(vec![
            at(
                Finding::new("update.applied", "/attributes", "\"{}\"", "{}"),
                "POST /v1/Users/US1",
            ),
            at(
                Finding::new("user.attributes.type", "/attributes", "a string", "{}"),
                "GET /v1/Users/US1",
            ),
        ]);
        let notes = diagnose(std::slice::from_ref(&serialization));
        assert!(
            !notes.iter().any(|n| n.contains("keeps no state")),
            "{notes:?}"
        );
        let lost = case(vec![
            at(
                Finding::new("user.identity.echo", "/identity", "`a`", "`b`"),
                "GET /v1/Users/US1",
            ),
            at(
                Finding::new("update.applied", "/friendly_name", "\"x\"", "null"),
                "POST /v1/Users/US1",
            ),
        ]);
        let notes = diagnose(&[serialization, lost]);
        let note = notes
            .iter()
            .find(|n| n.contains("keeps no state"))
            .expect("lost writes are named");
        assert!(
            note.contains("1 answer describing another user")
                && note.contains("1 update that did not hold"),
            "{note}"
        );
    }

    #[test]
    fn a_refused_page_size_above_50_suggests_the_newer_edition() {
        let refused = case(vec![at(
            Finding::new("page.size.max", "@status", "200", "400"),
            "GET /v1/Users?PageSize=1000",
        )]);
        let notes = diagnose(&[refused]);
        assert!(
            notes.iter().any(|n| n.contains("--edition oai-2025")),
            "{notes:?}"
        );
        let too_big = case(vec![at(
            Finding::new(
                "page.size.refused",
                "@status",
                "400 for PageSize=1001",
                "200",
            ),
            "GET /v1/Users?PageSize=1001",
        )]);
        assert!(!diagnose(&[too_big]).iter().any(|n| n.contains("oai-2025")));
    }
}
