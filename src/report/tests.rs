//! Snapshots of every renderer, taken from one fixed report (`tests/reports/sample-report.json`):
//! every outcome, a SHOULD finding, a webhook header, a form body with quotes and markup, a
//! kept response, a note and a `stateful::sequences` failure with its replay (markup, a run
//! of backticks and a bidirectional override in it). The same file feeds `convcheck report --from` in the shell tests.

use super::{badge, html, junit, markdown, view};
use crate::check::Finding;
use crate::runner::{CaseRecord, Report};

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
    assert_eq!((score.passed, score.applicable), (2, 7));
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
    // `stateful::sequences` runs once over every form: its finding falls in the column of its
    // request's form (a service URL), not of the form its record names.
    assert_eq!(cell("op.fetch.sid-or-identity", 5), view::Cell::Failed);
    // It is not in evidence.json: it marks no cell passed, and nothing breaks.
    assert!(!view::evidence().contains_key("stateful::sequences"));
    assert!(
        view::by_kind(&r)
            .iter()
            .any(|(k, n)| k == "stateful" && *n == [0, 1, 0, 0])
    );
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

/// What a hostile target may send back: code spans, a table cell end, markup and a line break
/// that starts a table row.
const HOSTILE: &str = "`|<script>` \n| x |";

/// The sample with a hostile finding in `create::minimal::service`.
fn hostile() -> Report {
    let mut r = sample();
    let c = r
        .cases
        .iter_mut()
        .find(|c| c.id == "create::minimal::service")
        .expect("the sample has the case");
    let mut f = Finding::new("user.sid.pattern", "/sid", "a user SID", HOSTILE);
    f.request = Some(format!("GET /v1/Users/{HOSTILE}"));
    c.findings.push(f);
    r
}

#[test]
fn markdown_keeps_hostile_text_inert() {
    let r = hostile();
    let kinds = view::by_kind(&r).len();
    for md in [markdown::render(&r), markdown::digest(&r, None)] {
        assert!(!md.contains("<script"), "{md}");
        assert!(md.contains("&lt;script&gt;"), "{md}");
        // The only lines that may start a table are the table's own.
        let rows = md
            .lines()
            .filter(|l| l.trim_start().starts_with('|'))
            .count();
        assert!(rows == kinds + 2 || rows == 0, "{rows} table lines:\n{md}");
        assert!(
            !md.lines().any(|l| l.trim_start().starts_with("| x")),
            "{md}"
        );
    }
    // Plain text is a code span; anything that could close one or add markup is escaped
    // inside a `<code>` element instead.
    assert_eq!(markdown::code("GET /v1/Users"), "`GET /v1/Users`");
    assert_eq!(markdown::code("a`b"), "<code>a\\`b</code>");
    assert_eq!(markdown::code("a\nb|"), "<code>a\\\\nb\\|</code>");
    assert_eq!(markdown::text("a|b<c>\n"), "a\\|b&lt;c&gt;\\\\n");
}

#[test]
fn html_keeps_hostile_text_inert() {
    let page = html::render(&hostile());
    assert!(
        !page.contains("<script"),
        "the page holds markup from the target"
    );
    assert!(page.contains("`|&lt;script&gt;` \n| x |"));
}

/// A case that fails the same way on `n` requests whose SIDs differ, and once differently.
fn repeated(id: &str, n: usize) -> CaseRecord {
    let mut c = sample()
        .cases
        .into_iter()
        .find(|c| c.id == "create::minimal::service")
        .expect("the sample has the case");
    c.id = id.to_owned();
    c.findings = (0..n)
        .map(|i| {
            let path = format!("/v1/Users/US{i:032}");
            let mut f = Finding::new("user.sid.pattern", "/sid", "a user SID", path.clone());
            f.request = Some(format!("GET {path}"));
            f
        })
        .collect();
    let mut other = Finding::new("user.sid.pattern", "/sid", "a user SID", "elsewhere");
    other.request = Some("GET /v1/Users/US0".to_owned());
    c.findings.push(other);
    c
}

#[test]
fn repeated_findings_are_grouped_in_every_format() {
    let mut r = sample();
    r.cases = vec![
        repeated("fetch::a::service", 5),
        repeated("fetch::b::service", 2),
    ];
    r.summary = crate::runner::Summary::of(&r.cases);
    let groups = view::failing_groups(&r);
    assert_eq!(groups.len(), 2);
    let g = &groups[0];
    assert_eq!((g.count, g.cases, g.more()), (7, 2, 4));
    assert_eq!(
        g.locations(),
        [0, 1, 2].map(|i| format!("GET /v1/Users/US{i:032}"))
    );
    assert_eq!((groups[1].count, groups[1].cases), (2, 2));
    // SIDs and array indices vary from request to request too.
    let c = &r.cases[0];
    let sid = |i: usize, sid: &str| {
        let mut f = Finding::new(
            "user.sid.pattern",
            format!("/users/{i}/sid"),
            "a user SID",
            format!("\"{sid}\""),
        );
        f.request = Some(format!("GET /v1/Users?PageSize=2&Page={i}"));
        f
    };
    let (a, b) = (
        sid(0, "us0123456789abcdef0123456789abcdef"),
        sid(1, "usFEDCBA9876543210fedcba9876543210"),
    );
    let both = view::group([(c, &a), (c, &b)]);
    assert_eq!(both.len(), 1);
    // Rows of one page differ by pointer only: the locations say which row.
    assert_eq!(
        both[0].locations(),
        [
            "GET /v1/Users?PageSize=2&Page=0 at /users/0/sid",
            "GET /v1/Users?PageSize=2&Page=1 at /users/1/sid"
        ]
    );
    let other = Finding::new(
        "user.sid.pattern",
        "/users/1/identity",
        "a user SID",
        "\"x\"",
    );
    assert_eq!(view::group([(c, &a), (c, &other)]).len(), 2);

    let md = markdown::render(&r);
    assert!(md.contains("(2 cases, 2 distinct findings)"), "{md}");
    assert!(md.contains("× 7 in 2 cases"), "{md}");
    assert!(md.contains(", and 4 more"), "{md}");
    assert_eq!(md.matches("#### `user.sid.pattern`").count(), 2, "{md}");
    let xml = junit::render(&r);
    assert!(xml.contains("= 5 times: on GET /v1/Users/US"), "{xml}");
    assert_eq!(xml.matches("error[user.sid.pattern]").count(), 4, "{xml}");
    let page = html::render(&r);
    assert!(page.contains("× 7 in 2 cases"));
    assert_eq!(page.matches("<article class=\"failure\"").count(), 2);
}

#[test]
fn the_digest_is_short_links_the_run_and_stays_within_the_limit() {
    let r = sample();
    let url = "https://github.com/o/r/actions/runs/42";
    let d = markdown::digest(&r, Some(url));
    assert!(
        d.starts_with("## convcheck: 2 / 7 cases pass (28 %)"),
        "{d}"
    );
    assert!(d.contains("**Failing clauses (4):**"), "{d}");
    assert!(d.contains("`prop.sid`"), "{d}");
    assert!(d.contains(&format!("[this run]({url})")), "{d}");
    assert!(!d.contains("<details>") && d.len() < markdown::render(&r).len());

    // Thousands of distinct findings, each with a long answer.
    let mut big = sample();
    big.cases = (0..3000)
        .map(|i| {
            let mut c = repeated(&format!("fetch::n{i}::service"), 1);
            c.findings[0].actual = format!("{i}{}", "x".repeat(2000));
            c
        })
        .collect();
    big.summary = crate::runner::Summary::of(&big.cases);
    assert!(markdown::render(&big).len() > markdown::STEP_SUMMARY_LIMIT);
    let d = markdown::digest(&big, None);
    assert!(d.len() <= markdown::STEP_SUMMARY_LIMIT);
    assert!(
        d.contains("more distinct findings in the full report"),
        "{d}"
    );
    let cut = markdown::digest_within(&big, None, 400);
    assert!(cut.len() <= 400, "{}", cut.len());
    assert!(cut.ends_with("the full report has everything.*\n"), "{cut}");
}

#[test]
fn failed_and_warning_cells_link_to_their_findings() {
    let page = html::render(&sample());
    let mut links = 0;
    for td in page.split("<td ").skip(1) {
        let td = &td[..td.find("</td>").expect("cell closes")];
        let linked = td.contains("<a href=\"#");
        let flagged = td.starts_with("class=\"failed\"") || td.starts_with("class=\"warning\"");
        assert_eq!(linked, flagged, "{td}");
        if let Some(at) = td.find("href=\"#") {
            let id = &td[at + 7..];
            let id = &id[..id.find('"').expect("quoted")];
            assert!(page.contains(&format!(" id=\"{id}\"")), "no target `{id}`");
            links += 1;
        }
    }
    assert!(links >= 5, "{links}");
    // Every link on the page stays on the page.
    for (i, _) in page.match_indices("href=\"") {
        assert!(page[i + 6..].starts_with('#'), "{}", &page[i..i + 40]);
    }
}

#[test]
fn the_badge_is_well_formed_svg_colored_by_score() {
    let svg = badge::render(&sample());
    assert!(svg.contains(">2/7</text>"), "{svg}");
    assert!(svg.contains(badge::RED));
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!("the badge is not XML: {e}\n{svg}"),
        }
    }
    assert!(elements > 5);
    assert!(
        !svg.contains("href") && svg.matches("http").count() == 1,
        "{svg}"
    );
    let score = |passed, applicable| view::Score {
        passed,
        applicable,
        clauses_checked: 0,
        clauses_documented: 0,
    };
    assert_eq!(badge::color(score(50, 50)), badge::GREEN);
    assert_eq!(badge::color(score(40, 50)), badge::YELLOW);
    assert_eq!(badge::color(score(39, 50)), badge::RED);
    assert_eq!(badge::color(score(0, 0)), badge::GREY);
}

/// The sample's replay, as the report holds it.
fn sample_replay() -> String {
    sample()
        .cases
        .iter()
        .flat_map(|c| &c.findings)
        .find_map(|f| f.replay.clone())
        .expect("the sample has a replay")
}

#[test]
fn every_format_shows_the_replay_escaped() {
    let r = sample();
    let replay = sample_replay();
    let shown = view::replay_text(&replay);
    // The bidirectional override of the curl line shows as an escape; the rest is as it is.
    assert!(replay.contains('\u{202e}') && !shown.contains('\u{202e}'));
    assert!(shown.contains("$HOME \\u{202e}txt.exe'"), "{shown}");
    assert_eq!(shown.lines().count(), replay.lines().count());

    let md = markdown::render(&r);
    // A fence longer than the replay's run of three backticks, holding it line by line.
    let block = format!("````text\n{}````\n", shown);
    assert!(md.contains(&block), "{md}");
    assert!(md.contains("<details><summary>replay: "), "{md}");
    let digest = markdown::digest(&r, None);
    assert!(
        digest.contains("  ````text\n  stateful::sequences sequence 3 of 32"),
        "{digest}"
    );
    assert!(
        digest.contains("  replay: convcheck run stateful::sequences --seed 29780996\n  ````\n"),
        "{digest}"
    );

    let page = html::render(&r);
    assert!(page.contains("<details class=\"replay\" open>"), "{page}");
    assert!(page.contains("FriendlyName=&lt;b&gt;```&lt;/b&gt; | $HOME \\u{202e}txt.exe"));
    assert!(!page.contains('\u{202e}'));

    let xml = junit::render(&r);
    let case = &xml[xml
        .find("<testcase name=\"stateful::sequences\"")
        .expect("the case")..];
    let case = &case[..case.find("</testcase>").expect("it closes")];
    assert!(
        case.contains("= replay: stateful::sequences sequence 3 of 32"),
        "{case}"
    );
    assert!(
        case.contains("replay: convcheck run stateful::sequences --seed 29780996"),
        "{case}"
    );
    assert!(case.contains("&lt;b&gt;```&lt;/b&gt;"), "{case}");
}

#[test]
fn a_group_shows_the_first_replay_even_under_a_fixed_head() {
    let r = sample();
    let stateful = r
        .cases
        .iter()
        .find(|c| c.kind == "stateful")
        .expect("the case");
    let generated = &stateful.findings[0];
    // A fixed case's finding of the same check failing the same way comes first, without a
    // replay; a second sequence fails the same way with another.
    let mut fixed = generated.clone();
    fixed.replay = None;
    let mut second = generated.clone();
    second.replay = Some("stateful::sequences sequence 9 of 32 (seed 1)\n".to_owned());
    let g = view::group([
        (stateful, &fixed),
        (stateful, generated),
        (stateful, &second),
    ]);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].replay(), generated.replay.as_deref());
    assert_eq!(g[0].replays().len(), 2);
    assert!(
        g[0].other_replays_label()
            .starts_with("1 other generated sequence")
    );

    let mut r2 = r.clone();
    let c = r2
        .cases
        .iter_mut()
        .find(|c| c.kind == "stateful")
        .expect("the case");
    c.findings = vec![fixed, generated.clone(), second];
    for text in [markdown::render(&r2), html::render(&r2), junit::render(&r2)] {
        assert!(text.contains("sequence 3 of 32"), "{text}");
        assert!(!text.contains("sequence 9 of 32"), "{text}");
        assert!(
            text.contains("1 other generated sequence shows it too"),
            "{text}"
        );
    }
}

#[test]
fn the_digest_keeps_a_long_replay_short_and_never_cuts_inside_its_fence() {
    let mut r = sample();
    let c = r
        .cases
        .iter_mut()
        .find(|c| c.kind == "stateful")
        .expect("the case");
    let steps: String = (1..=200)
        .map(|i| format!("  {i}. GET /v1/Users/x{i}\n"))
        .collect();
    c.findings[0].replay = Some(format!(
        "header\n{steps}replay: convcheck run stateful::sequences --seed 7\n"
    ));
    let d = markdown::digest(&r, None);
    assert!(d.contains("more lines in the full report"), "{d}");
    assert!(
        d.contains("  replay: convcheck run stateful::sequences --seed 7\n  ```\n"),
        "{d}"
    );
    assert!(!d.contains("  200. GET"), "{d}");
    // However tight the limit, the note after the cut is never inside an open fence.
    let full = markdown::digest(&r, None);
    for limit in (300..full.len()).step_by(97) {
        let cut = markdown::digest_within(&r, None, limit);
        assert!(cut.len() <= limit);
        let fences = cut
            .lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count();
        assert_eq!(fences % 2, 0, "an open fence at {limit}:\n{cut}");
    }
}
