//! Snapshots of every renderer, taken from one fixed report (`tests/reports/sample-report.json`):
//! every outcome, a SHOULD finding, a webhook header, a form body with quotes and markup, a
//! kept response and a note. The same file feeds `convcheck report --from` in the shell tests.

use super::{html, junit, markdown, view};
use crate::runner::Report;

/// The sample report.
fn sample() -> Report {
    serde_json::from_str(include_str!("../../tests/reports/sample-report.json"))
        .expect("tests/reports/sample-report.json is a report")
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!("junit", junit::render(&sample()));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("markdown", markdown::render(&sample()));
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("html", html::render(&sample()));
}

#[test]
fn sample_score_and_matrix() {
    let r = sample();
    let score = view::score(&r);
    assert_eq!((score.passed, score.applicable), (2, 6));
    let m = view::matrix(&r);
    let cell = |clause: &str, col: usize| {
        m.rows
            .iter()
            .find(|(c, _)| c == clause)
            .map(|(_, cells)| cells[col])
            .expect("clause is documented")
    };
    // Columns: create/shortened, create/service, read/shortened, …
    assert_eq!(cell("prop.sid", 1), view::Cell::Failed);
    assert_eq!(cell("webhook-header", 0), view::Cell::Failed);
    assert_eq!(cell("auth.basic", 2), view::Cell::Failed);
    assert_eq!(cell("read.page_size", 2), view::Cell::Warning);
    // A SHOULD finding in a failed case is a warning, not a failure, without --strict.
    assert_eq!(cell("base-url", 1), view::Cell::Warning);
    // The expected failure counts nowhere.
    assert_eq!(cell("op.fetch.sid-or-identity", 4), view::Cell::NotRun);
    // create::minimal::service failed on `prop.sid`, but its other clauses were checked and
    // held: they pass there.
    assert_eq!(cell("prop.account_sid", 1), view::Cell::Passed);
    assert_eq!(cell("prop.date_created", 1), view::Cell::Passed);
    // No case checks the webhook header on a Read: not applicable, not "not run".
    assert_eq!(cell("webhook-header", 2), view::Cell::NotApplicable);
    assert_eq!(cell("webhook-header", 8), view::Cell::NotRun);
    // Coverage counts only clauses with a verdict.
    let verdicts = m
        .rows
        .iter()
        .filter(|(_, cells)| {
            cells.iter().any(|c| {
                matches!(
                    c,
                    view::Cell::Passed | view::Cell::Warning | view::Cell::Failed
                )
            })
        })
        .count();
    assert_eq!(score.clauses_checked, verdicts);
    assert!(score.clauses_checked < score.clauses_documented);
}

#[test]
fn nothing_in_any_format_leaves_the_page_or_holds_a_secret() {
    let r = sample();
    let page = html::render(&r);
    for bad in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "url(",
        "src=",
        "href=\"http",
    ] {
        assert!(!page.contains(bad), "the HTML holds `{bad}`");
    }
    for text in [page, junit::render(&r), markdown::render(&r)] {
        assert!(text.contains("$TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"));
        assert!(!text.to_ascii_lowercase().contains("authorization:"));
    }
}
