//! The Markdown summary, for a pull-request comment or `GITHUB_STEP_SUMMARY`: the score, a
//! table by operation (case kind), and each failure with its clause, a fix hint and a curl
//! command that reproduces its request.

use std::fmt::Write as _;

use super::view;
use crate::runner::{Outcome, Report};
use crate::spec::catalogue;

/// `## convcheck: P / A cases pass (N %), conformant`: the first line of the report and of
/// the digest.
fn heading(s: &mut String, report: &Report, score: &view::Score) {
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
}

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let score = view::score(report);
    let sum = report.summary;
    heading(&mut s, report, &score);
    let _ = writeln!(
        s,
        "Target {}, edition {}{}, convcheck {}, started {}, {:.1} s.  ",
        code(&report.target),
        code(&report.edition),
        if report.strict { ", strict" } else { "" },
        text(&report.convcheck_version),
        text(&report.started_at),
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
        let _ = writeln!(s, "| {} | {p} | {f} | {e} | {k} |", text(&kind));
    }
    s.push('\n');

    let failures = view::failures(report);
    if !failures.is_empty() {
        let groups = view::failing_groups(report);
        let _ = writeln!(
            s,
            "### Failures ({} cases, {} distinct findings)\n",
            failures.len(),
            groups.len()
        );
        let stopped: Vec<String> = failures
            .iter()
            .filter(|(_, fs)| fs.is_empty())
            .map(|(c, _)| code(&c.id))
            .collect();
        if !stopped.is_empty() {
            let _ = writeln!(
                s,
                "Stopped before they could finish, without a finding: {}.\n",
                stopped.join(", ")
            );
        }
        for g in &groups {
            group_entry(&mut s, g);
        }
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
                "- {}: {}",
                code(&c.id),
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
        for g in view::group(warnings) {
            let (c, f) = g.head();
            let _ = writeln!(
                s,
                "- {}: **{}** {}{}",
                code(&c.id),
                code(&f.check),
                text(&f.message),
                repeats(&g)
            );
            if let Some(replay) = g.replay() {
                s.push_str(&fenced("text", &view::replay_text(replay), "  "));
            }
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
            let _ = writeln!(s, "- {}: {}", code(&c.id), text(&view::skip_reason(c)));
        }
        s.push('\n');
    }
    s
}

/// One repeated finding: its check and message, where it was seen first, its clause, a fix
/// and the curl commands of the requests shown.
fn group_entry(s: &mut String, g: &view::Group<'_>) {
    let (_, f) = g.head();
    let _ = writeln!(
        s,
        "#### {} ({}){}\n",
        code(&f.check),
        f.severity,
        g.times_label()
    );
    let _ = writeln!(s, "{}\n", text(&f.message));
    let seen: Vec<String> = g
        .first()
        .iter()
        .map(|(c, f)| match f.request.as_deref() {
            Some(r) => format!("{} on {}", code(&c.id), code(r)),
            None => code(&c.id),
        })
        .collect();
    let _ = writeln!(s, "- seen in {}{}", seen.join("; "), g.more_label());
    if let Some(cl) = catalogue().clause(&f.clause) {
        let _ = writeln!(
            s,
            "- clause {} ({}): *{}*",
            code(&cl.id),
            text(&cl.section),
            text(&cl.quote)
        );
    }
    let _ = writeln!(s, "- fix: {}", text(&view::hint(f)));
    if let Some(replay) = g.replay() {
        let others = g.other_replays_label();
        if !others.is_empty() {
            let _ = writeln!(s, "- {}", text(&others));
        }
        let _ = write!(
            s,
            "\n<details><summary>{}</summary>\n\n{}\n</details>\n",
            view::replay_title(g),
            fenced("text", &view::replay_text(replay), "")
        );
    }
    let mut commands: Vec<String> = Vec::new();
    for (c, f) in g.first() {
        if let Some(ex) = view::exchange_for(c, f) {
            let cmd = view::curl(ex, view::sends_credentials(c));
            if !commands.contains(&cmd) {
                commands.push(cmd);
            }
        }
    }
    if !commands.is_empty() {
        let _ = write!(
            s,
            "\n<details><summary>reproduce</summary>\n\n{}\n</details>\n",
            fenced("sh", &commands.join("\n\n"), "")
        );
    }
    s.push('\n');
}

/// Text as a fenced code block, each line after `indent` (to sit in a list item), ending with
/// a line break. The fence is longer than any run of backticks in the text, so no line of it
/// can close the block; what is inside is shown as it is, markup included.
fn fenced(lang: &str, body: &str, indent: &str) -> String {
    let fence = "`".repeat(3.max(longest_run(body, '`') + 1));
    let mut out = format!("{indent}{fence}{lang}\n");
    for line in body.trim_end_matches('\n').lines() {
        let _ = writeln!(out, "{indent}{line}");
    }
    let _ = writeln!(out, "{indent}{fence}");
    out
}

/// ` (N times in M cases; also …)` after a one-line entry.
fn repeats(g: &view::Group<'_>) -> String {
    if g.count == 1 {
        return String::new();
    }
    let also: Vec<String> = g.first()[1..].iter().map(|(c, _)| code(&c.id)).collect();
    format!(
        " ({} times in {} cases; also {}{})",
        g.count,
        g.cases,
        also.join(", "),
        g.more_label()
    )
}

/// The longest run of `ch` in `s`.
fn longest_run(s: &str, ch: char) -> usize {
    s.split(|c| c != ch).map(str::len).max().unwrap_or(0)
}

/// Control characters as escapes (`\n`), so a value stays on its line.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Text from anywhere, a target's answer included, that must stay text on one line: HTML is
/// escaped, Markdown punctuation (`|` too, so it cannot end a table cell) is backslash-escaped
/// and line breaks and other control characters are shown as escapes.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Any text as code on one line: a backtick code span when the text holds no backtick, `|`,
/// `<`, `>` or control character, else a `<code>` element around escaped text, so that a
/// target's answer can neither close the span, end a table cell nor add markup.
pub fn code(s: &str) -> String {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '`' | '|' | '<' | '>'));
    if plain {
        format!("`{s}`")
    } else {
        format!("<code>{}</code>", text(s))
    }
}

/// GitHub's limit on one step's summary: 1 MiB.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// How many groups of findings the digest lists.
const DIGEST_GROUPS: usize = 10;

/// How many characters of a value the digest keeps.
const DIGEST_CHARS: usize = 200;

/// The short digest for `GITHUB_STEP_SUMMARY`: the score, the failing clauses, the most
/// frequent findings (grouped) and, when `run_url` is given, a link to the run whose artifacts
/// hold the full report. Never more than `STEP_SUMMARY_LIMIT` bytes.
pub fn digest(report: &Report, run_url: Option<&str>) -> String {
    digest_within(report, run_url, STEP_SUMMARY_LIMIT)
}

/// The digest, cut to `limit` bytes with a line saying so.
pub fn digest_within(report: &Report, run_url: Option<&str>, limit: usize) -> String {
    let mut s = String::new();
    let score = view::score(report);
    let sum = report.summary;
    heading(&mut s, report, &score);
    let _ = writeln!(
        s,
        "Target {}, edition {}. {} passed, {} failed, {} errored, {} skipped; {} of {} documented clauses checked.\n",
        code(&short(&report.target)),
        code(&short(&report.edition)),
        sum.passed,
        sum.failed,
        sum.errored,
        sum.skipped,
        score.clauses_checked,
        score.clauses_documented
    );
    let failing: Vec<String> = view::matrix(report)
        .rows
        .iter()
        .filter(|(_, cells)| cells.contains(&view::Cell::Failed))
        .map(|(clause, _)| code(clause))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(
            s,
            "**Failing clauses ({}):** {}\n",
            failing.len(),
            failing.join(", ")
        );
    }
    let mut groups = view::failing_groups(report);
    if !groups.is_empty() {
        // Most frequent first; ties keep report order.
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        s.push_str("**Top findings:**\n\n");
        for g in groups.iter().take(DIGEST_GROUPS) {
            let (c, f) = g.head();
            let at = f.request.as_deref().unwrap_or(&c.id);
            let _ = writeln!(
                s,
                "- {}{} on {}: {}",
                code(&f.check),
                g.times_label(),
                code(&short(at)),
                text(&short(&f.message))
            );
            if let Some(replay) = g.replay() {
                s.push_str(&fenced("text", &digest_replay(replay), "  "));
            }
        }
        if groups.len() > DIGEST_GROUPS {
            let _ = writeln!(
                s,
                "- and {} more distinct findings in the full report",
                groups.len() - DIGEST_GROUPS
            );
        }
        s.push('\n');
    }
    match run_url {
        Some(url) => {
            let _ = writeln!(
                s,
                "The full report is in the artifacts of [this run]({}).",
                url.replace(['(', ')', ' ', '<', '>'], "")
            );
        }
        None => s.push_str("The full report is in the files written by `--report-*`.\n"),
    }
    cut(s, limit)
}

/// How many lines of a replay the digest keeps.
const DIGEST_REPLAY_LINES: usize = 24;

/// A replay for the digest: each line cut to `DIGEST_CHARS` characters, and when it is longer
/// than `DIGEST_REPLAY_LINES` lines, its first lines, a line saying how many were left out and
/// its last line (the command that replays it).
fn digest_replay(replay: &str) -> String {
    let lines: Vec<String> = view::replay_text(replay).lines().map(short).collect();
    if lines.len() <= DIGEST_REPLAY_LINES {
        return lines.join("\n");
    }
    let head = DIGEST_REPLAY_LINES - 2;
    format!(
        "{}\n… {} more lines in the full report …\n{}",
        lines[..head].join("\n"),
        lines.len() - head - 1,
        lines[lines.len() - 1]
    )
}

/// A value cut to `DIGEST_CHARS` characters.
fn short(s: &str) -> String {
    if s.chars().count() <= DIGEST_CHARS {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(DIGEST_CHARS).collect::<String>())
    }
}

/// Text cut at a line boundary outside any fenced code block (so none is left open to swallow
/// what follows) to at most `limit` bytes, ending with a line saying so.
fn cut(s: String, limit: usize) -> String {
    if s.len() <= limit {
        return s;
    }
    let note = "\n*The digest was cut here to stay within GitHub's step summary limit; the full report has everything.*\n";
    let max = limit.saturating_sub(note.len());
    let mut end = 0;
    let mut at = 0;
    // The length of the open fence's backtick run, when inside one.
    let mut fence: Option<usize> = None;
    for line in s.split_inclusive('\n') {
        at += line.len();
        if at > max {
            break;
        }
        let ticks = leading(line.trim_start(), '`');
        fence = match fence {
            None if ticks >= 3 => Some(ticks),
            Some(open) if ticks >= open && line.trim().chars().all(|c| c == '`') => None,
            other => other,
        };
        if fence.is_none() && line.ends_with('\n') {
            end = at;
        }
    }
    format!("{}{note}", &s[..end])
}

/// How many `ch` start `s`.
fn leading(s: &str, ch: char) -> usize {
    s.chars().take_while(|c| *c == ch).count()
}
