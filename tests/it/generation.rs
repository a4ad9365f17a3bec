//! The generated and stateful cases as a user meets them: `convcheck run` against an emulator
//! in this process (on a real socket) with a planted fault. A failure shrinks to its minimal
//! sequence and shows it with curl commands and the seed; `--seed` replays it; a seeds file
//! brings a failing sequence back first; a run leaves no user behind; and the budget flags
//! are checked before any request.

use crate::common::{emulator_with, output, run_cmd, tempdir, text};
use convcheck::emulator::{Config, Fault};
use serde_json::Value;

fn with(faults: Vec<Fault>) -> Config {
    Config {
        faults,
        ..Config::default()
    }
}

/// The replays of a JSON report's findings in the case `id`.
fn replays(report: &Value, id: &str) -> Vec<String> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["id"] == id)
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["replay"].as_str().map(str::to_owned))
        .collect()
}

/// A replay with what differs from run to run (run prefix, sids, port) taken out.
fn normalized(replay: &str) -> String {
    let ns = regex::Regex::new(r"convcheck-[0-9a-f]{8}-").unwrap();
    let sid = regex::Regex::new(r"US[0-9a-fA-F]{32}").unwrap();
    let port = regex::Regex::new(r"127\.0\.0\.1:[0-9]+").unwrap();
    let seed = regex::Regex::new(r"--seed [0-9]+").unwrap();
    let runs = regex::Regex::new(r"in [0-9]+ runs").unwrap();
    let s = ns.replace_all(replay, "<prefix>");
    let s = sid.replace_all(&s, "<sid>");
    let s = port.replace_all(&s, "<host>");
    let s = seed.replace_all(&s, "--seed <seed>");
    runs.replace_all(&s, "in <n> runs").into_owned()
}

/// The numbered step lines of a replay (`  1. POST /v1/Users  Identity=…`).
fn steps(replay: &str) -> Vec<String> {
    let numbered = regex::Regex::new(r"^  [0-9]+\. ").unwrap();
    replay
        .lines()
        .filter(|l| numbered.is_match(l))
        .map(str::to_owned)
        .collect()
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_fault_shrinks_to_its_minimal_sequence_and_the_seed_replays_it() {
    let (running, base, c) = emulator_with(with(vec![Fault::LookupPrefixMatch])).await;
    let dir = tempdir("generation-replay");
    let mut seen = Vec::new();
    for round in 0..2 {
        let path = dir.join(format!("r{round}.json"));
        let out = output(run_cmd(
            &base,
            &c,
            &[
                "stateful::",
                "--seed",
                "7",
                "--report-json",
                path.to_str().unwrap(),
            ],
        ))
        .await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains("generation: seed 7 "), "{all}");
        let replays = replays(&read_json(&path), "stateful::sequences");
        assert!(!replays.is_empty(), "no replay\n{all}");
        let r = &replays[0];
        // The terminal shows the same replay under the finding.
        assert!(
            all.contains("= replay: stateful::sequences sequence"),
            "{all}"
        );
        // Minimal: a user whose identity extends another identity, then a lookup of the
        // shorter one (a step's own, or the world's read-back after a delete) that finds the
        // longer one.
        let s = steps(r);
        assert!((2..=4).contains(&s.len()), "{r}");
        assert!(s[0].starts_with("  1. POST /v1/"), "{r}");
        let created: Vec<String> = s
            .iter()
            .filter_map(|l| l.split("Identity=\"").nth(1))
            .filter_map(|x| x.split('"').next())
            .map(str::to_owned)
            .collect();
        let asked: Vec<String> = s
            .iter()
            .filter_map(|l| l.split("/Users/").nth(1))
            .filter_map(|x| x.split_whitespace().next())
            .map(|x| {
                percent_encoding::percent_decode_str(x)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .chain(created.iter().cloned())
            .collect();
        assert!(
            created
                .iter()
                .any(|c| asked.iter().any(|a| c.starts_with(a.as_str()) && c != a)),
            "an identity that extends one looked up\n{r}"
        );
        assert!(
            r.contains("model:  404") || r.contains("expected 404"),
            "{r}"
        );
        assert!(r.matches("curl -sS -i").count() >= s.len(), "{r}");
        assert!(
            r.contains("replay: convcheck run stateful::sequences --seed 7"),
            "{r}"
        );
        seen.push(normalized(r));
    }
    assert_eq!(
        seen[0], seen[1],
        "--seed 7 replays the same shrunk sequence"
    );
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeds_file_brings_a_failing_sequence_back_first() {
    let (running, base, c) = emulator_with(with(vec![Fault::DuplicateRace])).await;
    let dir = tempdir("generation-seeds");
    let seeds = dir.join("seeds.txt");
    let seeds_arg = seeds.to_str().unwrap();
    let out = output(run_cmd(
        &base,
        &c,
        &["stateful::", "--seed", "2", "--seeds-file", seeds_arg],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let kept = std::fs::read_to_string(&seeds).expect("the seeds file is written");
    let line = kept
        .lines()
        .find(|l| l.starts_with("stateful::sequences "))
        .unwrap_or_else(|| panic!("no seed kept:\n{kept}"));
    assert!(line.contains("create.identity.duplicate"), "{kept}");
    // One new sequence only, and another seed: the kept one runs first and fails again.
    let path = dir.join("again.json");
    let out = output(run_cmd(
        &base,
        &c,
        &[
            "stateful::",
            "--seed",
            "99",
            "--generate",
            "1",
            "--seeds-file",
            seeds_arg,
            "--report-json",
            path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = replays(&read_json(&path), "stateful::sequences");
    let seed = line.split_whitespace().nth(1).unwrap();
    assert!(
        r.iter()
            .any(|r| r.contains(&format!("sequence 1 of 2 (seed {seed})"))),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&seeds).unwrap(),
        kept,
        "a seed is kept once"
    );
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_run_passes_a_correct_server_and_leaves_no_user_behind() {
    let (running, base, c) = emulator_with(with(Vec::new())).await;
    for filter in ["generated::", "stateful::"] {
        let out = output(run_cmd(
            &base,
            &c,
            &[filter, "--seed", "5", "--generate", "64"],
        ))
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    for path in [
        "/v1/Users?PageSize=1000".to_owned(),
        format!("/v1/Services/{}/Users?PageSize=1000", c.services[1].sid),
    ] {
        let body = convcheck::client::http_builder()
            .build()
            .unwrap()
            .get(format!("{base}{path}"))
            .basic_auth(&c.account_sid, Some(&c.auth_token))
            .send()
            .await
            .expect("read answers")
            .bytes()
            .await
            .expect("a body");
        let page: Value = serde_json::from_slice(&body).expect("a page");
        let users = page["users"].as_array().expect("users");
        assert!(users.is_empty(), "left behind in {path}: {users:?}");
    }
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_flags_are_checked_before_any_request_and_generate_0_leaves_the_cases_out() {
    let (running, base, c) = emulator_with(with(Vec::new())).await;
    for (flags, says) in [
        (vec!["--generate-time", "0"], "--generate-time"),
        (vec!["--generate-time", "nan"], "--generate-time"),
        (
            vec!["--generate-max-requests", "0"],
            "--generate-max-requests",
        ),
        (vec!["--observe", "always"], "--observe"),
        (vec!["--observe-users", "0"], "--observe-users"),
    ] {
        let out = output(run_cmd(&base, &c, &flags)).await;
        assert_eq!(out.status.code(), Some(2), "{flags:?}\n{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
    }
    let out = output(run_cmd(&base, &c, &["--list"])).await;
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("[stateful] stateful::sequences: test"),
        "{listed}"
    );
    assert!(
        listed.contains("[generated] generated::inputs::service: test"),
        "{listed}"
    );
    assert!(listed.trim_end().ends_with("53 cases"), "{listed}");
    let out = output(run_cmd(&base, &c, &["--list", "--generate", "0"])).await;
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!listed.contains("generated::"), "{listed}");
    assert!(listed.trim_end().ends_with("50 cases"), "{listed}");
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_budget_covers_every_transition_and_lists_it() {
    let (running, base, c) = emulator_with(with(Vec::new())).await;
    let dir = tempdir("generation-coverage");
    let path = dir.join("r.json");
    let out = output(run_cmd(
        &base,
        &c,
        &[
            "stateful::",
            "--seed",
            "11",
            "--list-coverage",
            "--report-json",
            path.to_str().unwrap(),
        ],
    ))
    .await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("coverage: 192 of 192 transitions between operations on one identity"),
        "{all}"
    );
    for line in [
        "  create@shortened -> re-create@service: ",
        "  near-miss@service -> walk@shortened: ",
        "  delete@service -> re-create@service: ",
        "value families (family: times):",
        // A server on this machine in another process: the loopback collection.
        "  collection:105: 1",
        "  near-miss:like-wrapped: ",
        "  race:delete-update: ",
        "  attributes:beyond-double: ",
        "  friendly-name:type-looking: ",
    ] {
        assert!(all.contains(line), "`{line}` missing\n{all}");
    }
    assert!(!all.contains("missed ("), "{all}");
    // The JSON report carries it, and the checks that held by operation and form.
    let report = read_json(&path);
    let case = &report["cases"][0];
    let cov = &case["coverage"];
    assert_eq!(cov["required"], 192, "{cov}");
    assert!(cov.get("missing").is_none(), "{cov}");
    assert!(cov["transitions"]["walk@service -> fetch@shortened"].as_u64() >= Some(1));
    let held = &case["held"];
    for (op, check) in [
        ("update", "update.others.unchanged"),
        ("fetch", "world.unaddressed"),
        ("fetch", "view.default-service"),
        ("delete", "lookup.identity.exact"),
        ("read", "page.walk.complete"),
    ] {
        let forms = held[op].as_object().expect("held by form");
        assert!(
            forms
                .values()
                .any(|c| c.as_array().unwrap().iter().any(|x| x == check)),
            "{op}: {check} not held: {held}"
        );
    }
    // A small budget covers less, and says what it missed.
    let out = output(run_cmd(
        &base,
        &c,
        &[
            "stateful::",
            "--seed",
            "11",
            "--generate",
            "3",
            "--list-coverage",
        ],
    ))
    .await;
    let all = text(&out);
    assert!(all.contains("missed ("), "{all}");
    running.shutdown().await.expect("emulator stops");
}

/// `--max-failures 1`: once a check has failed, no new sequence starts; the failure is still
/// shrunk and shown, and the case sends fewer requests than a run that explores every
/// sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_failures_stops_exploring_once_a_check_has_failed() {
    let (running, base, c) = emulator_with(with(vec![Fault::UpdateIgnored])).await;
    let dir = tempdir("generation-max-failures");
    let mut runs = Vec::new();
    for extra in [&[][..], &["--max-failures", "1"][..]] {
        let path = dir.join(format!("r{}.json", runs.len()));
        let mut args = vec![
            "stateful::",
            "--seed",
            "5",
            "--report-json",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = output(run_cmd(&base, &c, &args)).await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        let report = read_json(&path);
        let case = report["cases"][0].clone();
        assert_eq!(case["id"], "stateful::sequences", "{case}");
        let shown: std::collections::BTreeSet<String> = replays(&report, "stateful::sequences")
            .into_iter()
            .collect();
        runs.push((case["requests"].as_u64().expect("requests"), shown, all));
    }
    let (all_requests, all_shown, _) = &runs[0];
    let (one_requests, one_shown, out) = &runs[1];
    assert!(!all_shown.is_empty(), "the fault is found");
    assert_eq!(one_shown.len(), 1, "one failure shrunk and shown\n{out}");
    assert!(
        one_requests < all_requests,
        "{one_requests} requests with --max-failures 1, {all_requests} without"
    );
    running.shutdown().await.expect("emulator stops");
}
