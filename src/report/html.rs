//! The HTML report: one self-contained file (inline CSS; no script, font, image or style
//! sheet is fetched from anywhere) with the score beside clause coverage, the conformance
//! matrix (documented clause × operation × URL form) and, for each failure, the request, the
//! normalized response when the report keeps one, the clause quoted and a curl command.
//! It is laid out for a phone first: the matrix scrolls sideways on its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
"#;

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let score = view::score(report);
    let sum = report.summary;
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        s,
        "<title>convcheck report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        esc(&report.target)
    );
    let _ = writeln!(
        s,
        "<header>\n<h1>convcheck conformance report</h1>\n<p class=\"meta\">Twilio Conversations User resource at <code>{}</code>, edition <code>{}</code>{}, convcheck {}, started {}, {:.1} s</p>\n</header>",
        esc(&report.target),
        esc(&report.edition),
        if report.strict { ", strict" } else { "" },
        esc(&report.convcheck_version),
        esc(&report.started_at),
        report.duration_ms as f64 / 1000.0
    );
    let ok = sum.failed == 0 && sum.errored == 0;
    let _ = writeln!(
        s,
        "<section class=\"figures\">\n<div class=\"figure {}\" id=\"score\"><span class=\"big\">{} / {}</span>cases pass ({} %): the score, passed over applicable (skipped cases and expected failures are not applicable)</div>\n<div class=\"figure\" id=\"coverage\"><span class=\"big\">{} / {}</span>documented clauses checked ({} %): the coverage</div>\n</section>",
        if ok { "ok" } else { "bad" },
        score.passed,
        score.applicable,
        score.percent(),
        score.clauses_checked,
        score.clauses_documented,
        score.coverage_percent()
    );
    let _ = writeln!(
        s,
        "<p class=\"counts\"><span>{} passed</span> <span>{} failed</span> <span>{} errored</span> <span>{} skipped</span> <span>{} expected failures</span></p>",
        sum.passed, sum.failed, sum.errored, sum.skipped, sum.expected_failures
    );
    for n in &report.notes {
        let _ = writeln!(s, "<p class=\"note\"><b>note:</b> {}</p>", esc(n));
    }

    matrix_section(&mut s, report);
    failures_section(&mut s, report);
    others_section(&mut s, report);
    cases_section(&mut s, report);

    s.push_str("<footer>Written by convcheck. Credentials never appear in this file: the curl commands read them from <code>$TWILIO_ACCOUNT_SID</code> and <code>$TWILIO_AUTH_TOKEN</code>.</footer>\n</body>\n</html>\n");
    s
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

fn matrix_section(s: &mut String, report: &Report) {
    let m = view::matrix(report);
    let links = cell_links(report);
    s.push_str("<section id=\"matrix\">\n<h2>Conformance matrix</h2>\n");
    s.push_str("<p class=\"rule\">One row per documented clause, one column per operation and URL form. A cell is <b>failed</b> when a failing finding of a check of that clause was raised on a request of that operation and form; <b>warning</b> when only SHOULD findings were (they fail the run only with <code>--strict</code>); <b>passed</b> when a case that ran on that form (and passed, or failed for another clause) sent a request of that operation and is known to check that clause there (it raised that clause's checks against a fault of the reference emulator); <b>not applicable</b> when no case of the suite checks that clause on that operation; <b>not run</b> otherwise. A clause with no finding counts as passed only where a case exercises it.</p>\n");
    s.push_str("<p class=\"legend\"><span><b class=\"passed\" style=\"color:var(--pass)\">&#10003;</b> passed</span><span><b style=\"color:#fff;background:var(--fail)\">&#10007;</b> failed</span><span><b style=\"color:var(--warn)\">!</b> warning</span><span><b style=\"color:#8c959f\">&middot;</b> not run</span><span><b style=\"color:#d0d7de\">&ndash;</b> not applicable</span></p>\n");
    s.push_str("<div class=\"scroll\">\n<table class=\"matrix\">\n<thead>\n<tr><th rowspan=\"2\">clause</th>");
    let cols = Matrix::columns();
    for op in crate::spec::Operation::ALL {
        let _ = write!(s, "<th colspan=\"{}\">{op}</th>", view::FORMS.len());
    }
    s.push_str("</tr>\n<tr>");
    for (_, form) in &cols {
        let short = if *form == "shortened" { "short" } else { "svc" };
        let _ = write!(s, "<th title=\"{form} URL form\">{short}</th>");
    }
    s.push_str("</tr>\n</thead>\n<tbody>\n");
    for (clause, cells) in &m.rows {
        let quote = catalogue()
            .clause(clause)
            .map(|c| c.quote.as_str())
            .unwrap_or("");
        let _ = write!(
            s,
            "<tr><th scope=\"row\" title=\"{}\">{}</th>",
            esc(quote),
            esc(clause)
        );
        for (col, (cell, (op, form))) in cells.iter().zip(&cols).enumerate() {
            let mark = match cell {
                Cell::Passed => "&#10003;",
                Cell::Failed => "&#10007;",
                Cell::Warning => "!",
                Cell::NotRun => "&middot;",
                Cell::NotApplicable => "&ndash;",
            };
            // Failed and warning cells link to the findings behind them, on this page.
            let mark = match links.get(&(clause.clone(), col)) {
                Some(id) if matches!(cell, Cell::Failed | Cell::Warning) => {
                    format!("<a href=\"#{id}\">{mark}</a>")
                }
                _ => mark.to_owned(),
            };
            let _ = write!(
                s,
                "<td class=\"{c}\" data-clause=\"{cl}\" data-op=\"{op}\" data-form=\"{form}\" title=\"{cl}, {op}, {form}: {t}\">{mark}</td>",
                c = cell.as_str(),
                cl = esc(clause),
                t = cell.as_str().replace('-', " ")
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn failures_section(s: &mut String, report: &Report) {
    let failures = view::failures(report);
    if failures.is_empty() {
        s.push_str("<section id=\"failures\">\n<h2>Failures</h2>\n<p>None: no finding fails the run.</p>\n</section>\n");
        return;
    }
    let groups = view::failing_groups(report);
    let _ = writeln!(
        s,
        "<section id=\"failures\">\n<h2>Failures ({} cases, {} distinct findings)</h2>",
        failures.len(),
        groups.len()
    );
    let stopped: Vec<String> = failures
        .iter()
        .filter(|(_, fs)| fs.is_empty())
        .map(|(c, _)| format!("<code>{}</code>", esc(&c.id)))
        .collect();
    if !stopped.is_empty() {
        let _ = writeln!(
            s,
            "<p>Stopped before they could finish, without a finding: {}.</p>",
            stopped.join(", ")
        );
    }
    // A finding that repeats is shown once: its first occurrence in full, with the request,
    // response and curl line of that occurrence, and where the first few others were seen.
    for (i, g) in groups.iter().enumerate() {
        let (c, f) = g.head();
        let times = match (g.count, g.cases) {
            (1, _) => String::new(),
            (n, 1) => format!(" &times; {n}"),
            (n, m) => format!(" &times; {n} in {m} cases"),
        };
        let _ = writeln!(
            s,
            "<article class=\"failure\" id=\"finding-{}\">\n<h3><code>{}</code>{times}</h3>",
            i + 1,
            esc(&f.check)
        );
        let seen: Vec<String> = g
            .first()
            .iter()
            .map(|(c, f)| match &f.request {
                Some(r) => format!(
                    "<a href=\"#{}\"><code>{}</code></a> on <code>{}</code>",
                    anchor(&c.id),
                    esc(&c.id),
                    esc(r)
                ),
                None => format!(
                    "<a href=\"#{}\"><code>{}</code></a>",
                    anchor(&c.id),
                    esc(&c.id)
                ),
            })
            .collect();
        let more = match g.more() {
            0 => String::new(),
            n => format!(", and {n} more"),
        };
        let _ = writeln!(
            s,
            "<p class=\"seen\">Seen in {}{more}.</p>",
            seen.join("; ")
        );
        finding_block(s, f);
        if let Some(ex) = view::exchange_for(c, f) {
            exchange_block(s, c, ex);
        }
        s.push_str("</article>\n");
    }
    s.push_str("</section>\n");
}

fn finding_block(s: &mut String, f: &Finding) {
    let at = if f.pointer.is_empty() {
        String::new()
    } else {
        format!(" at <code>{}</code>", esc(&f.pointer))
    };
    let _ = writeln!(
        s,
        "<div class=\"finding\" data-check=\"{}\" data-clause=\"{}\">\n<p><span class=\"id\">{}</span> ({}){at}: {}</p>\n<p>expected {}<br>actual {}</p>",
        esc(&f.check),
        esc(&f.clause),
        esc(&f.check),
        f.severity,
        esc(&f.message),
        esc(&f.expected),
        esc(&f.actual)
    );
    if let Some(cl) = catalogue().clause(&f.clause) {
        let _ = writeln!(
            s,
            "<blockquote>{}<cite>clause <code>{}</code>, {} ({:?})</cite></blockquote>",
            esc(&cl.quote),
            esc(&cl.id),
            esc(&cl.section),
            cl.source
        );
    }
    let _ = writeln!(s, "<p><b>fix:</b> {}</p>\n</div>", esc(&view::hint(f)));
}

fn exchange_block(s: &mut String, c: &CaseRecord, ex: &ExchangeSummary) {
    let mut req = format!("{} {}\n", ex.method, ex.url);
    for (k, v) in &ex.request_headers {
        req.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &ex.request_body {
        req.push('\n');
        req.push_str(b);
        req.push('\n');
    }
    let _ = writeln!(
        s,
        "<h4>Request</h4>\n<pre class=\"request\">{}</pre>",
        esc(&req)
    );
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
    let _ = writeln!(
        s,
        "<h4>Response (normalized)</h4>\n<pre class=\"response\">{}</pre>",
        esc(&response)
    );
    let _ = writeln!(
        s,
        "<h4>Reproduce</h4>\n<pre class=\"curl\">{}</pre>",
        esc(&view::curl(ex, view::sends_credentials(c)))
    );
}

fn others_section(s: &mut String, report: &Report) {
    let errored: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Errored)
        .collect();
    if !errored.is_empty() {
        let _ = writeln!(
            s,
            "<section id=\"errors\">\n<h2>Errors ({})</h2>\n<ul>",
            errored.len()
        );
        for c in errored {
            let _ = writeln!(
                s,
                "<li><code>{}</code>: {}</li>",
                esc(&c.id),
                esc(c.error.as_deref().unwrap_or("the target did not answer"))
            );
        }
        s.push_str("</ul>\n</section>\n");
    }
    let warnings = view::warnings(report);
    if !warnings.is_empty() {
        let _ = writeln!(
            s,
            "<section id=\"warnings\">\n<h2>SHOULD findings ({})</h2>\n<p class=\"rule\">They fail the run only with <code>--strict</code>.</p>\n<ul>",
            warnings.len()
        );
        for (i, g) in view::group(warnings).iter().enumerate() {
            let (c, f) = g.head();
            let also = if g.count > 1 {
                let others: Vec<String> = g.first()[1..]
                    .iter()
                    .map(|(c, _)| format!("<code>{}</code>", esc(&c.id)))
                    .collect();
                let more = match g.more() {
                    0 => String::new(),
                    n => format!(", and {n} more"),
                };
                format!(
                    " ({} times in {} cases; also {}{more})",
                    g.count,
                    g.cases,
                    others.join(", ")
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "<li id=\"warning-{}\"><code>{}</code>: <b>{}</b> {}{also}</li>",
                i + 1,
                esc(&c.id),
                esc(&f.check),
                esc(&f.message)
            );
        }
        s.push_str("</ul>\n</section>\n");
    }
    let skipped: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped | Outcome::ExpectedFailure))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            s,
            "<section id=\"skipped\">\n<h2>Not run or expected to fail ({})</h2>\n<ul>",
            skipped.len()
        );
        for c in skipped {
            let _ = writeln!(
                s,
                "<li><code>{}</code>: {}</li>",
                esc(&c.id),
                esc(&view::skip_reason(c))
            );
        }
        s.push_str("</ul>\n</section>\n");
    }
}

fn cases_section(s: &mut String, report: &Report) {
    let _ = writeln!(
        s,
        "<section id=\"cases\">\n<h2>Every case ({})</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>case</th><th>outcome</th><th>ms</th></tr></thead>\n<tbody>",
        report.cases.len()
    );
    for c in &report.cases {
        let outcome = serde_json::to_value(c.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<tr id=\"{}\"><td><code>{}</code></td><td class=\"outcome-{outcome}\">{}</td><td>{}</td></tr>",
            anchor(&c.id),
            esc(&c.id),
            outcome.replace('_', " "),
            c.duration_ms
        );
    }
    s.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// An id attribute for a case.
fn anchor(id: &str) -> String {
    let body: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("case-{body}")
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
