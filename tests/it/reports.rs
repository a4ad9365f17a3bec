//! Every report format from a real run: `convcheck serve` with faults in one process,
//! `convcheck run --target` with every `--report-*` option in another. Each failure must land
//! in the right place of each format, the JSON must match `specs/report.schema.json`,
//! `convcheck report --from` must render the same files again, and no secret may appear.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use convcheck::report::view;
use convcheck::runner::{Outcome, Report};

const ACCOUNT: &str = "ACc0ffee00c0ffee00c0ffee00c0ffee00";
const SERVICE: &str = "IS00000000000000000000000000000002";
const TOKEN: &str = "reports-test-token-5b0c1e";
const FAULTS: [&str; 3] = [
    "sid-lowercase-prefix",
    "auth-not-enforced",
    "page-size-unvalidated",
];

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_convcheck"));
    for k in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "CONVCHECK_TARGET",
        "GITHUB_STEP_SUMMARY",
    ] {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}

/// The emulator in another process; killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> (Server, String) {
    let mut cmd = bin();
    cmd.args(["serve", "--port", "0", "--account-sid", ACCOUNT])
        .args(["--auth-token", TOKEN, "--service", SERVICE])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for f in FAULTS {
        cmd.args(["--fault", f]);
    }
    let mut child = cmd.spawn().expect("convcheck serve starts");
    let out = child.stdout.take().expect("stdout is piped");
    let server = Server(child);
    let mut lines = BufReader::new(out).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.expect("serve prints lines");
        if let Some(url) = line.strip_prefix("convcheck emulator listening on ") {
            base = Some(url.trim().to_owned());
            break;
        }
    }
    // Keep reading what the server prints: a closed pipe would end it mid-run.
    std::thread::spawn(move || lines.for_each(drop));
    (server, base.expect("serve prints the URL it listens on"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports-test");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The `<testcase …>` element of a case, up to its end.
fn junit_case<'a>(xml: &'a str, id: &str) -> &'a str {
    let start = xml
        .find(&format!("<testcase name=\"{id}\""))
        .unwrap_or_else(|| panic!("no testcase `{id}`"));
    let rest = &xml[start..];
    let head_end = rest.find('>').expect("tag ends");
    if rest[..head_end].ends_with('/') {
        return &rest[..=head_end];
    }
    let end = rest.find("</testcase>").expect("testcase closes");
    &rest[..end]
}

fn schema_errors(doc: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../specs/report.schema.json"))
            .expect("schema is JSON");
    let v = jsonschema::draft202012::options()
        .build(&schema)
        .expect("specs/report.schema.json compiles");
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_format_from_a_run_against_a_faulty_emulator() {
    let (_server, base) = serve();
    let (json, junit, md, html, summary) = (
        tmp("run.json"),
        tmp("run.xml"),
        tmp("run.md"),
        tmp("run.html"),
        tmp("step-summary.md"),
    );
    let _ = std::fs::remove_file(&summary);
    let svg = tmp("run.svg");
    let out = bin()
        .args(["run", "--target", &base, "--account-sid", ACCOUNT])
        .args([
            "--auth-token",
            TOKEN,
            "--service-sid",
            SERVICE,
            "--format",
            "terse",
            // The shipped snapshots would add snapshot findings; this test is about where
            // contract findings land in each format.
            "--snapshots",
            "off",
        ])
        .arg("--report-json")
        .arg(&json)
        .arg("--report-junit")
        .arg(&junit)
        .arg("--report-md")
        .arg(&md)
        .arg("--report-html")
        .arg(&html)
        .arg("--report-badge")
        .arg(&svg)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_RUN_ID", "7")
        .output()
        .expect("convcheck run runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // Not a terminal: no progress line.
    assert!(!stderr.contains("running…"), "{stderr}");

    let doc: serde_json::Value = serde_json::from_str(&read(&json)).expect("JSON report");
    assert_eq!(schema_errors(&doc), Vec::<String>::new());
    let report: Report = serde_json::from_value(doc).expect("a report");
    // Under these faults the generated cases fail too, with the replay of a shrunk sequence,
    // and the schema takes their kinds and replays.
    let generated: Vec<_> = report
        .cases
        .iter()
        .filter(|c| matches!(c.kind.as_str(), "generated" | "stateful"))
        .filter(|c| c.outcome == Outcome::Failed)
        .collect();
    assert!(!generated.is_empty(), "no generated case failed");
    for c in &generated {
        assert!(c.findings.iter().any(|f| f.replay.is_some()), "{}", c.id);
    }
    let (junit_text, md_text, html_text) = (read(&junit), read(&md), read(&html));
    for text in [
        &*stdout,
        &*stderr,
        &read(&json),
        &junit_text,
        &md_text,
        &html_text,
    ] {
        assert!(!text.contains(TOKEN), "a secret reached the output");
    }
    // The step summary holds the short digest, not the full report.
    let digest = read(&summary);
    assert!(
        digest.starts_with("## convcheck: ") && digest.contains("**Failing clauses ("),
        "{digest}"
    );
    assert!(digest.contains("**Top findings:**"), "{digest}");
    assert!(
        digest.contains("[this run](https://github.example/o/r/actions/runs/7)"),
        "{digest}"
    );
    assert!(!digest.contains("<details>") && digest.len() < md_text.len());

    let failed: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .collect();
    assert!(
        failed.len() >= 10,
        "the faults fail many cases: {}",
        failed.len()
    );
    assert!(failed.iter().any(|c| c.form == "service"));
    assert!(failed.iter().any(|c| c.kind == "auth"));
    assert_eq!(
        junit_text.matches("<failure").count(),
        report.summary.failed,
        "one failure element per failed case"
    );
    assert_eq!(junit_text.matches("<error").count(), report.summary.errored);
    for c in &report.cases {
        let el = junit_case(&junit_text, &c.id);
        match c.outcome {
            Outcome::Failed => {
                assert!(el.contains("<failure"), "{el}");
                assert!(el.contains("curl -sS -i"), "{el}");
                for f in c.findings.iter().filter(|f| view::failing(&report, f)) {
                    assert!(el.contains(&format!("error[{}]", f.check)), "{el}");
                }
            }
            Outcome::Passed => assert!(!el.contains("<failure") && !el.contains("<error"), "{el}"),
            _ => {}
        }
    }
    // Markdown and HTML show each failing finding once per group, with its first cases.
    let groups = view::failing_groups(&report);
    assert!(
        groups.len() < failed.len(),
        "the faults repeat across cases"
    );
    // Groups come in order, so each is looked for after the one before.
    let mut from = 0;
    for (i, g) in groups.iter().enumerate() {
        let (c, f) = g.head();
        let at = from
            + md_text[from..]
                .find(&format!("#### `{}`", f.check))
                .unwrap_or_else(|| panic!("the Markdown lacks `{}`", f.check));
        from = at + 1;
        let section = &md_text[at..];
        let section = &section[..section[5..].find("\n#").map_or(section.len(), |i| i + 5)];
        assert!(section.contains(&format!("`{}`", c.id)), "{section}");
        assert!(
            html_text.contains(&format!(
                "<article class=\"failure\" id=\"finding-{}\">",
                i + 1
            )),
            "the HTML lacks group {}",
            i + 1
        );
        if g.count > 1 {
            assert!(section.contains(&format!("× {}", g.count)), "{section}");
        }
    }
    // Each group's replay (the first occurrence's that has one, even under a fixed case's
    // finding) shows in Markdown and HTML; each failed generated case's in its JUnit failure.
    let last_line = |r: &str| r.lines().last().unwrap_or_default().to_owned();
    for g in &groups {
        if let Some(r) = g.replay() {
            let line = last_line(r);
            assert!(line.starts_with("replay: convcheck run "), "{r}");
            assert!(md_text.contains(&line), "the Markdown lacks `{line}`");
            assert!(html_text.contains(&line), "the HTML lacks `{line}`");
        }
    }
    for c in &generated {
        let el = junit_case(&junit_text, &c.id);
        assert!(el.contains("= replay: "), "{el}");
        for f in c.findings.iter().filter_map(|f| f.replay.as_deref()) {
            assert!(el.contains(&last_line(f)), "{el}");
        }
    }
    for c in &failed {
        let anchor: String =
            c.id.chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
                .collect();
        assert!(
            html_text.contains(&format!("<tr id=\"case-{anchor}\">")),
            "the HTML lacks `{}`",
            c.id
        );
        for f in c.findings.iter().filter(|f| view::failing(&report, f)) {
            assert!(
                md_text.contains(&format!("#### `{}`", f.check)),
                "{}",
                f.check
            );
            assert!(
                md_text.contains(&format!("clause `{}`", f.clause)),
                "{}",
                f.clause
            );
            let op = view::finding_operation(c, f).expect("the request has an operation");
            let cell = format!(
                "<td class=\"failed\" data-clause=\"{}\" data-op=\"{op}\" data-form=\"{}\"",
                f.clause, c.form
            );
            assert!(html_text.contains(&cell), "no failed cell {cell}");
        }
    }
    assert!(md_text.contains("| operation | passed | failed | errored | skipped |"));
    assert!(html_text.contains("id=\"coverage\""));
    assert!(!html_text.contains("<script") && !html_text.contains("src="));

    // The saved JSON renders the very same files again.
    for (format, file) in [
        ("junit", &junit),
        ("md", &md),
        ("html", &html),
        ("badge", &svg),
    ] {
        let again = tmp(&format!("again.{format}"));
        let out = bin()
            .args(["report", "--from"])
            .arg(&json)
            .args(["--format", format, "--out"])
            .arg(&again)
            .output()
            .expect("convcheck report runs");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(read(&again), read(file), "{format} differs");
    }

    // `report --from` leaves the step summary alone unless asked, then appends the digest.
    let again_summary = tmp("again-summary.md");
    let _ = std::fs::remove_file(&again_summary);
    let from = |extra: &[&str]| {
        bin()
            .args(["report", "--from"])
            .arg(&json)
            .args(["--format", "md", "--out"])
            .arg(tmp("again2.md"))
            .args(extra)
            .env("GITHUB_STEP_SUMMARY", &again_summary)
            .output()
            .expect("convcheck report runs")
    };
    assert_eq!(from(&[]).status.code(), Some(0));
    assert!(
        !again_summary.exists(),
        "the step summary was written unasked"
    );
    assert_eq!(from(&["--step-summary"]).status.code(), Some(0));
    let d = read(&again_summary);
    assert!(
        d.starts_with("## convcheck: ") && d.len() < md_text.len(),
        "{d}"
    );

    let badge = tmp("badge.svg");
    let out = bin()
        .args(["report", "--from"])
        .arg(&json)
        .args(["--format", "badge", "--out"])
        .arg(&badge)
        .output()
        .expect("convcheck report runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = view::score(&report);
    assert!(
        read(&badge).contains(&format!(">{}/{}</text>", s.passed, s.applicable)),
        "{}",
        read(&badge)
    );
}

#[test]
fn the_sample_report_matches_the_schema() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../reports/sample-report.json")).expect("JSON");
    assert_eq!(schema_errors(&doc), Vec::<String>::new());
    let mut bad = doc.clone();
    bad["cases"][0]["outcome"] = "great".into();
    assert_eq!(schema_errors(&bad).len(), 1);
}

/// Every case kind of the registry, the generated ones included, is one the schema allows,
/// and every case id fits the schema's id pattern.
#[test]
fn the_schema_knows_every_case_kind_and_id() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../specs/report.schema.json"))
            .expect("schema is JSON");
    let case = &schema["$defs"]["case"]["properties"];
    let allowed: std::collections::BTreeSet<&str> = case["kind"]["enum"]
        .as_array()
        .expect("kind is an enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let pattern = regex::Regex::new(case["id"]["pattern"].as_str().expect("id pattern"))
        .expect("the id pattern compiles");
    // The registry, and the case `run` adds to replay traffic `convcheck proxy` recorded.
    let mut defs = convcheck::suite::all();
    defs.push(convcheck::suite::replay::case());
    let kinds: std::collections::BTreeSet<&str> = defs.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        kinds, allowed,
        "the schema's case kinds drifted from the registry"
    );
    for c in &defs {
        for id in [
            format!("{}::{}", c.kind.as_str(), c.name),
            format!("{}::{}::shortened", c.kind.as_str(), c.name),
            format!("{}::{}::service", c.kind.as_str(), c.name),
        ] {
            assert!(pattern.is_match(&id), "`{id}` does not fit the schema");
        }
    }
}

/// On a terminal (stderr a pseudo-terminal made by `script`, stdout a file) the progress line
/// counts the cases; the results still go to stdout, untouched by it.
#[test]
fn the_progress_line_shows_on_a_terminal_only() {
    let out_file = tmp("progress-stdout.txt");
    let cmd = format!(
        "{} run --snapshots off create:: > {}",
        env!("CARGO_BIN_EXE_convcheck"),
        out_file.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script runs");
    assert!(tty.status.success(), "{tty:?}");
    let screen = String::from_utf8_lossy(&tty.stdout);
    // indicatif draws at most 20 times a second, so which counts show depends on timing: the
    // display is `[finished/6] ` and the ids of the cases running.
    let display = regex::Regex::new(r"\[[0-5]/6\] (create::[a-z-]+::(shortened|service) ?)+")
        .expect("pattern");
    assert!(display.is_match(&screen), "{screen:?}");
    let stdout = read(&out_file);
    assert!(!stdout.contains("/6] "), "{stdout}");
    assert!(
        stdout.contains("convcheck: 6 passed, 0 failed, 0 errored, 0 skipped (6 cases)"),
        "{stdout}"
    );
}
