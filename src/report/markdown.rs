//! The Markdown summary, for a pull-request comment or `GITHUB_STEP_SUMMARY`: the score, a
//! table by operation (case kind), and each failure with its clause, a fix hint and a curl
//! command that reproduces its request.

use std::fmt::Write as _;

use super::view;
use crate::runner::{Outcome, Report};
use crate::spec::catalogue;

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let score = view::score(report);
    let sum = report.summary;
    let verdict = if sum.failed == 0 && sum.errored == 0 {
        "conformant"
    } else {
        "not conformant"
    };
    let _ = writeln!(
        s,
        "## convcheck: {} / {} cases pass ({} %), {verdict}\n",
        score.passed,
        score.applicable,
        score.percent()
    );
    let _ = writeln!(
        s,
        "Target `{}`, edition `{}`{}, convcheck {}, started {}, {:.1} s.  ",
        report.target,
        report.edition,
        if report.strict { ", strict" } else { "" },
        report.convcheck_version,
        report.started_at,
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        s,
        "Clause coverage: {} of {} documented clauses checked ({} %). {} passed, {} failed, {} errored, {} skipped, {} expected failures.\n",
        score.clauses_checked,
        score.clauses_documented,
        score.coverage_percent(),
        sum.passed,
        sum.failed,
        sum.errored,
        sum.skipped,
        sum.expected_failures
    );
    for n in &report.notes {
        let _ = writeln!(s, "> **note:** {}\n", text(n));
    }

    s.push_str("| operation | passed | failed | errored | skipped |\n");
    s.push_str("|---|---:|---:|---:|---:|\n");
    for (kind, [p, f, e, k]) in view::by_kind(report) {
        let _ = writeln!(s, "| {kind} | {p} | {f} | {e} | {k} |");
    }
    s.push('\n');

    let failures = view::failures(report);
    if !failures.is_empty() {
        let _ = writeln!(s, "### Failures ({})\n", failures.len());
    }
    for (c, findings) in failures {
        let _ = writeln!(s, "#### `{}`\n", c.id);
        if findings.is_empty() {
            s.push_str("The case stopped before it could finish, without a finding.\n\n");
        }
        let mut commands: Vec<String> = Vec::new();
        for f in findings {
            let on = f
                .request
                .as_deref()
                .map(|r| format!(" on `{r}`"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- **`{}`** ({}){on}: {}",
                f.check,
                f.severity,
                text(&f.message)
            );
            if let Some(cl) = catalogue().clause(&f.clause) {
                let _ = writeln!(
                    s,
                    "  - clause `{}` ({}): *{}*",
                    cl.id,
                    text(&cl.section),
                    text(&cl.quote)
                );
            }
            let _ = writeln!(s, "  - fix: {}", text(&view::hint(f)));
            if let Some(ex) = view::exchange_for(c, f) {
                let cmd = view::curl(ex, view::sends_credentials(c));
                if !commands.contains(&cmd) {
                    commands.push(cmd);
                }
            }
        }
        if !commands.is_empty() {
            s.push_str("\n<details><summary>reproduce</summary>\n\n```sh\n");
            s.push_str(&commands.join("\n\n"));
            s.push_str("\n```\n\n</details>\n");
        }
        s.push('\n');
    }

    let errored: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Errored)
        .collect();
    if !errored.is_empty() {
        let _ = writeln!(s, "### Errors ({})\n", errored.len());
        for c in errored {
            let _ = writeln!(
                s,
                "- `{}`: {}",
                c.id,
                text(c.error.as_deref().unwrap_or("the target did not answer"))
            );
        }
        s.push('\n');
    }

    let warnings = view::warnings(report);
    if !warnings.is_empty() {
        let _ = writeln!(
            s,
            "### SHOULD findings ({}; they fail the run only with `--strict`)\n",
            warnings.len()
        );
        for (c, f) in warnings {
            let _ = writeln!(s, "- `{}`: **`{}`** {}", c.id, f.check, text(&f.message));
        }
        s.push('\n');
    }

    let skipped: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped | Outcome::ExpectedFailure))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(s, "### Not run or expected to fail ({})\n", skipped.len());
        for c in skipped {
            let _ = writeln!(s, "- `{}`: {}", c.id, text(&view::skip_reason(c)));
        }
        s.push('\n');
    }
    s
}

/// Text that GitHub must not read as HTML.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
