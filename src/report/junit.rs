//! The JUnit XML report (written with `quick-junit`): one testsuite per case kind, one
//! testcase per case. A case with failing findings is a `<failure>` holding the findings and
//! a curl command per request they concern; a case the target did not answer is an
//! `<error>`; skipped cases and expected failures are `<skipped>` with their reason.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::diagnostic;
use super::view;
use crate::runner::{CaseRecord, Outcome, Report};
use crate::spec::Severity;

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let mut out = quick_junit::Report::new("convcheck");
    out.set_time(Duration::from_millis(report.duration_ms));
    let mut suites: Vec<TestSuite> = Vec::new();
    for c in &report.cases {
        let name = format!("convcheck::{}", c.kind);
        let suite = match suites.iter().position(|s| s.name.as_str() == name) {
            Some(i) => &mut suites[i],
            None => {
                let mut s = TestSuite::new(name);
                s.add_property(("target", report.target.as_str()));
                s.add_property(("edition", report.edition.as_str()));
                suites.push(s);
                suites.last_mut().expect("just pushed")
            }
        };
        suite.add_test_case(test_case(report, c));
    }
    for s in &mut suites {
        let ms: u64 = report
            .cases
            .iter()
            .filter(|c| format!("convcheck::{}", c.kind) == s.name.as_str())
            .map(|c| c.duration_ms)
            .sum();
        s.set_time(Duration::from_millis(ms));
    }
    out.add_test_suites(suites);
    out.to_string()
        .unwrap_or_else(|e| format!("<!-- the JUnit report could not be written: {e} -->\n"))
}

fn test_case(report: &Report, c: &CaseRecord) -> TestCase {
    let status = match c.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => {
            let failing: Vec<_> = c
                .findings
                .iter()
                .filter(|f| view::failing(report, f))
                .collect();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            match failing.as_slice() {
                [] => s.set_message("the case stopped before it could finish"),
                [f] => s.set_message(format!("[{}] {}", f.check, f.message)),
                [f, ..] => s.set_message(format!(
                    "{} failing findings, first [{}] {}",
                    failing.len(),
                    f.check,
                    f.message
                )),
            };
            if let Some(f) = failing.first() {
                s.set_type(f.check.as_str());
            }
            s.set_description(findings_text(c));
            s
        }
        Outcome::Errored => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(c.error.as_deref().unwrap_or("the target did not answer"));
            s.set_type("transport");
            if let Some(ex) = c.exchanges.last() {
                s.set_description(format!(
                    "last request answered:\n{}\n",
                    view::curl(ex, view::sends_credentials(c))
                ));
            }
            s
        }
        Outcome::Skipped | Outcome::ExpectedFailure => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(view::skip_reason(c));
            if c.outcome == Outcome::ExpectedFailure {
                s.set_type("expected-failure");
                s.set_description(findings_text(c));
            }
            s
        }
    };
    let mut t = TestCase::new(c.id.as_str(), status);
    t.set_classname(format!("convcheck.{}", c.kind));
    t.set_time(Duration::from_millis(c.duration_ms));
    if c.outcome == Outcome::Passed && !c.findings.is_empty() {
        t.set_system_out(format!(
            "SHOULD findings (they fail the run only with --strict):\n{}",
            findings_text(c)
        ));
    }
    t
}

/// Every finding as a diagnostic (one that repeats on many requests once, with its count and
/// first requests), then a curl command per request shown.
fn findings_text(c: &CaseRecord) -> String {
    let mut s = String::new();
    let mut requests: Vec<String> = Vec::new();
    for g in view::group(c.findings.iter().map(|f| (c, f))) {
        let (_, f) = g.head();
        let at = f.request.as_deref().unwrap_or(&c.id);
        // The group's replay, shown under its first occurrence whichever finding carries it,
        // with what XML cannot hold or a reader cannot see as escapes.
        let mut shown = f.clone();
        shown.replay = g.replay().map(view::replay_text);
        s.push_str(&diagnostic::render(&shown, at));
        if g.count > 1 {
            let more = g.more_label();
            s.push_str(&format!(
                "   = {} times: on {}{more}\n",
                g.count,
                g.locations().join(", ")
            ));
        }
        let others = g.other_replays_label();
        if !others.is_empty() {
            s.push_str(&format!("   = {others}\n"));
        }
        if f.severity == Severity::Should {
            s.push_str("   = note: SHOULD\n");
        }
        for (c, f) in g.first() {
            if let Some(ex) = view::exchange_for(c, f) {
                let cmd = view::curl(ex, view::sends_credentials(c));
                if !requests.contains(&cmd) {
                    requests.push(cmd);
                }
            }
        }
    }
    if !requests.is_empty() {
        s.push_str("\nreproduce with:\n");
        for r in &requests {
            s.push_str(r);
            s.push_str("\n\n");
        }
    }
    s
}
