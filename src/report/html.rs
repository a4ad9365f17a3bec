//! The HTML report: one self-contained file (inline CSS; no script, font, image or style
//! sheet is fetched from anywhere) with the score beside clause coverage, the conformance
//! matrix (documented clause × operation × URL form, failed and warning cells linking to
//! their findings) and, for each repeated finding, the request, the normalized response when
//! the report keeps one, the clause quoted and a curl command. It is laid out for a phone
//! first: the matrix scrolls sideways on its own.
//!
//! The page is a maud template: every value is escaped by construction, and the only text
//! inserted as is is the style sheet below.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::view::{self, Cell, Matrix};
use crate::check::Finding;
use crate::runner::{CaseRecord, ExchangeSummary, Outcome, Report};
use crate::spec::catalogue;

const STYLE: &str = r#"
:root { color-scheme: light; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; overflow-wrap: anywhere; }
h4 { font-size: .85rem; margin: .75rem 0 .25rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em; }
code { overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0; }
.meta { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.figures { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.figure { flex: 1 1 12rem; border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; }
.figure .big { display: block; font-size: 2rem; font-weight: 700; line-height: 1.1; }
.figure.ok .big { color: var(--pass); }
.figure.bad .big { color: var(--fail); }
.counts span { white-space: nowrap; margin-right: .75rem; }
.note { border-left: 4px solid var(--warn); padding: .25rem .75rem; background: #fff8c5; margin: .5rem 0; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .2rem .4rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.matrix td { text-align: center; font-weight: 700; min-width: 2.2rem; }
.matrix thead th { text-align: center; font-size: .8rem; white-space: nowrap; }
.matrix tbody th { position: sticky; left: 0; background: #fff; font-weight: 400; font-size: .8rem; white-space: nowrap; }
td.passed { color: var(--pass); background: #dafbe1; }
td.failed { color: #fff; background: var(--fail); }
td.warning { color: var(--warn); background: #fff8c5; }
td.not-run { color: #8c959f; }
td.not-applicable { color: #d0d7de; }
td a { color: inherit; text-decoration: none; display: block; }
.legend span { display: inline-block; margin-right: .75rem; white-space: nowrap; }
.legend b { display: inline-block; width: 1.4rem; text-align: center; border-radius: 3px; }
.failure { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px; padding: .25rem .75rem .75rem; margin: .75rem 0; }
.finding { margin: .5rem 0; }
.finding .id { font-weight: 700; }
blockquote { margin: .25rem 0; padding: .25rem .75rem; border-left: 3px solid var(--line); color: #24292f; }
blockquote cite { display: block; color: var(--muted); font-size: .8rem; font-style: normal; }
.outcome-passed { color: var(--pass); }
.outcome-failed, .outcome-errored { color: var(--fail); font-weight: 700; }
.outcome-skipped, .outcome-expected_failure { color: var(--muted); }
.rule { color: var(--muted); font-size: .9rem; }
details.replay { margin: .5rem 0; }
details.replay summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
"#;

/// Renders the report as one self-contained HTML page. Every value is escaped by the
/// template; the only text inserted unescaped is the style sheet above.
pub fn render(report: &Report) -> String {
    let score = view::score(report);
    let sum = report.summary;
    let ok = sum.failed == 0 && sum.errored == 0;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "convcheck report: " (report.target) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "convcheck conformance report" }
                    p.meta {
                        "Twilio Conversations User resource at " code { (report.target) }
                        ", edition " code { (report.edition) }
                        @if report.strict { ", strict" }
                        ", convcheck " (report.convcheck_version)
                        ", started " (report.started_at)
                        ", " (format!("{:.1}", report.duration_ms as f64 / 1000.0)) " s"
                    }
                }
                section.figures {
                    div.figure.ok[ok].bad[!ok] #score {
                        span.big { (score.passed) " / " (score.applicable) }
                        "cases pass (" (score.percent()) " %): the score, passed over applicable (skipped cases and expected failures are not applicable)"
                    }
                    div.figure #coverage {
                        span.big { (score.clauses_checked) " / " (score.clauses_documented) }
                        "documented clauses checked (" (score.coverage_percent()) " %): the coverage"
                    }
                }
                p.counts {
                    span { (sum.passed) " passed" } " "
                    span { (sum.failed) " failed" } " "
                    span { (sum.errored) " errored" } " "
                    span { (sum.skipped) " skipped" } " "
                    span { (sum.expected_failures) " expected failures" }
                }
                @for n in &report.notes {
                    p.note { b { "note:" } " " (n) }
                }
                (matrix_section(report))
                (failures_section(report))
                (others_section(report))
                (cases_section(report))
                footer {
                    "Written by convcheck. Credentials never appear in this file: the curl commands read them from "
                    code { "$TWILIO_ACCOUNT_SID" } " and " code { "$TWILIO_AUTH_TOKEN" } "."
                }
            }
        }
    };
    lines(page.into_string())
}

/// The page with a line break after each block element, so that it reads (and diffs) line
/// by line. Only the template writes tags: every `<` and `>` of a value is escaped, so no
/// value is touched.
fn lines(page: String) -> String {
    static OPEN: OnceLock<regex::Regex> = OnceLock::new();
    let open = OPEN.get_or_init(|| {
        regex::Regex::new(
            r#"<!DOCTYPE html>|<(html|head|body|header|section|article|table|thead|tbody|ul)( [^>]*)?>|<div class="(finding|scroll)"[^>]*>|<meta [^>]*>|</(title|style|head|header|section|div|p|h1|h2|h3|h4|tr|li|pre|blockquote|table|thead|tbody|ul|article|footer|body|html|summary|details)>"#,
        )
        .expect("the tag pattern compiles")
    });
    open.replace_all(&page, "$0\n").into_owned()
}

const RULE: &str =
    "One row per documented clause, one column per operation and URL form. A cell is ";

fn matrix_section(report: &Report) -> Markup {
    let m = view::matrix(report);
    let links = cell_links(report);
    let cols = Matrix::columns();
    html! {
        section #matrix {
            h2 { "Conformance matrix" }
            p.rule {
                (RULE) b { "failed" } " when a failing finding of a check of that clause was raised on a request of that operation and form; "
                b { "warning" } " when only SHOULD findings were (they fail the run only with " code { "--strict" } "); "
                b { "passed" } " when a case that ran on that form (and passed, or failed for another clause) sent a request of that operation and is known to check that clause there (it raised that clause's checks against a fault of the reference emulator); "
                b { "not applicable" } " when no case of the suite checks that clause on that operation; "
                b { "not run" } " otherwise. A clause with no finding counts as passed only where a case exercises it."
            }
            p.legend {
                span { b.passed style="color:var(--pass)" { "✓" } " passed" }
                span { b style="color:#fff;background:var(--fail)" { "✗" } " failed" }
                span { b style="color:var(--warn)" { "!" } " warning" }
                span { b style="color:#8c959f" { "·" } " not run" }
                span { b style="color:#d0d7de" { "–" } " not applicable" }
            }
            div.scroll {
                table.matrix {
                    thead {
                        tr {
                            th rowspan="2" { "clause" }
                            @for op in crate::spec::Operation::ALL {
                                th colspan=(view::FORMS.len()) { (op) }
                            }
                        }
                        tr {
                            @for (_, form) in &cols {
                                th title={ (form) " URL form" } {
                                    @if *form == "shortened" { "short" } @else { "svc" }
                                }
                            }
                        }
                    }
                    tbody {
                        @for (clause, cells) in &m.rows {
                            tr {
                                th scope="row" title=(catalogue().clause(clause).map(|c| c.quote.as_str()).unwrap_or("")) { (clause) }
                                @for (col, (cell, (op, form))) in cells.iter().zip(&cols).enumerate() {
                                    td class=(cell.as_str()) data-clause=(clause) data-op=(op) data-form=(form)
                                        title={ (clause) ", " (op) ", " (form) ": " (cell.as_str().replace('-', " ")) } {
                                        // Failed and warning cells link to the findings behind them, on this page.
                                        @match (cell, links.get(&(clause.clone(), col))) {
                                            (Cell::Failed | Cell::Warning, Some(id)) => a href={ "#" (id) } { (mark(*cell)) },
                                            _ => (mark(*cell)),
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The sign of a matrix cell.
fn mark(cell: Cell) -> &'static str {
    match cell {
        Cell::Passed => "✓",
        Cell::Failed => "✗",
        Cell::Warning => "!",
        Cell::NotRun => "·",
        Cell::NotApplicable => "–",
    }
}

/// Where each failed or warning cell of the matrix links: the first group of findings (on
/// this page) that falls in it.
fn cell_links(report: &Report) -> BTreeMap<(String, usize), String> {
    let mut links = BTreeMap::new();
    let groups = [
        ("finding", view::failing_groups(report)),
        ("warning", view::group(view::warnings(report))),
    ];
    for (prefix, groups) in &groups {
        for (i, g) in groups.iter().enumerate() {
            for (c, f) in &g.members {
                if let Some((clause, col)) = view::cell_of(c, f) {
                    links
                        .entry((clause.to_owned(), col))
                        .or_insert_with(|| format!("{prefix}-{}", i + 1));
                }
            }
        }
    }
    links
}

fn failures_section(report: &Report) -> Markup {
    let failures = view::failures(report);
    let groups = view::failing_groups(report);
    let stopped: Vec<&CaseRecord> = failures
        .iter()
        .filter(|(_, fs)| fs.is_empty())
        .map(|(c, _)| *c)
        .collect();
    html! {
        section #failures {
            @if failures.is_empty() {
                h2 { "Failures" }
                p { "None: no finding fails the run." }
            } @else {
                h2 { "Failures (" (failures.len()) " cases, " (groups.len()) " distinct findings)" }
                @if !stopped.is_empty() {
                    p {
                        "Stopped before they could finish, without a finding: "
                        @for (i, c) in stopped.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (c.id) }
                        }
                        "."
                    }
                }
                // A finding that repeats is shown once: its first occurrence in full, with
                // the request, response and curl line of that occurrence, and where the
                // first few others were seen.
                @for (i, g) in groups.iter().enumerate() {
                    @let (c, f) = g.head();
                    article.failure id={ "finding-" (i + 1) } {
                        h3 { code { (f.check) } (g.times_label()) }
                        p.seen {
                            "Seen in "
                            @for (j, (c, f)) in g.first().iter().enumerate() {
                                @if j > 0 { "; " }
                                a href={ "#" (anchor(&c.id)) } { code { (c.id) } }
                                @if let Some(r) = &f.request { " on " code { (r) } }
                            }
                            (g.more_label()) "."
                        }
                        (finding_block(f))
                        (replay_block(g))
                        @if let Some(ex) = view::exchange_for(c, f) {
                            (exchange_block(c, ex))
                        }
                    }
                }
            }
        }
    }
}

fn finding_block(f: &Finding) -> Markup {
    html! {
        div.finding data-check=(f.check) data-clause=(f.clause) {
            p {
                span.id { (f.check) } " (" (f.severity) ")"
                @if !f.pointer.is_empty() { " at " code { (f.pointer) } }
                ": " (f.message)
            }
            p { "expected " (f.expected) br; "actual " (f.actual) }
            @if let Some(cl) = catalogue().clause(&f.clause) {
                blockquote {
                    (cl.quote)
                    cite { "clause " code { (cl.id) } ", " (cl.section) " (" (format!("{:?}", cl.source)) ")" }
                }
            }
            p { b { "fix:" } " " (view::hint(f)) }
        }
    }
}

/// The replay of a group's generated finding, open: the shrunk sequence step by step (the
/// model's expectation beside the target's answer), curl commands and the seed.
fn replay_block(g: &view::Group<'_>) -> Markup {
    let others = g.other_replays_label();
    html! {
        @if let Some(replay) = g.replay() {
            details.replay open {
                summary { (view::replay_title(g)) }
                @if !others.is_empty() { p.rule { (others) } }
                pre.replay { (view::replay_text(replay)) }
            }
        }
    }
}

fn exchange_block(c: &CaseRecord, ex: &ExchangeSummary) -> Markup {
    let mut req = format!("{} {}\n", ex.method, ex.url);
    for (k, v) in &ex.request_headers {
        req.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &ex.request_body {
        req.push('\n');
        req.push_str(b);
        req.push('\n');
    }
    let response = match &ex.response {
        Some(v) => format!(
            "status {}\n\n{}",
            ex.status,
            serde_json::to_string_pretty(v).unwrap_or_default()
        ),
        None => format!(
            "status {} (this report keeps no response bodies)",
            ex.status
        ),
    };
    html! {
        h4 { "Request" }
        pre.request { (req) }
        h4 { "Response (normalized)" }
        pre.response { (response) }
        h4 { "Reproduce" }
        pre.curl { (view::curl(ex, view::sends_credentials(c))) }
    }
}

fn others_section(report: &Report) -> Markup {
    let errored: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Errored)
        .collect();
    let warnings = view::group(view::warnings(report));
    let skipped: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped | Outcome::ExpectedFailure))
        .collect();
    html! {
        @if !errored.is_empty() {
            section #errors {
                h2 { "Errors (" (errored.len()) ")" }
                ul {
                    @for c in &errored {
                        li { code { (c.id) } ": " (c.error.as_deref().unwrap_or("the target did not answer")) }
                    }
                }
            }
        }
        @if !warnings.is_empty() {
            section #warnings {
                h2 { "SHOULD findings (" (warnings.len()) ")" }
                p.rule { "They fail the run only with " code { "--strict" } "." }
                ul {
                    @for (i, g) in warnings.iter().enumerate() {
                        @let (c, f) = g.head();
                        li id={ "warning-" (i + 1) } {
                            code { (c.id) } ": " b { (f.check) } " " (f.message)
                            @if g.count > 1 {
                                " (" (g.count) " times in " (g.cases) " cases; also "
                                @for (j, (c, _)) in g.first()[1..].iter().enumerate() {
                                    @if j > 0 { ", " }
                                    code { (c.id) }
                                }
                                (g.more_label()) ")"
                            }
                            (replay_block(g))
                        }
                    }
                }
            }
        }
        @if !skipped.is_empty() {
            section #skipped {
                h2 { "Not run or expected to fail (" (skipped.len()) ")" }
                ul {
                    @for c in &skipped {
                        li { code { (c.id) } ": " (view::skip_reason(c)) }
                    }
                }
            }
        }
    }
}

fn cases_section(report: &Report) -> Markup {
    html! {
        section #cases {
            h2 { "Every case (" (report.cases.len()) ")" }
            div.scroll {
                table {
                    thead { tr { th { "case" } th { "outcome" } th { "ms" } } }
                    tbody {
                        @for c in &report.cases {
                            @let outcome = serde_json::to_value(c.outcome)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default();
                            tr id=(anchor(&c.id)) {
                                td { code { (c.id) } }
                                td class={ "outcome-" (outcome) } { (outcome.replace('_', " ")) }
                                td { (c.duration_ms) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An id attribute for a case.
fn anchor(id: &str) -> String {
    let body: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("case-{body}")
}
