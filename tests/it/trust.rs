//! The live-account promise against misbehaving targets, on real processes and sockets: a
//! proxy in front of the reference emulator rewrites what the emulator answers (pagination
//! URLs to another port, create answers to another user's JSON, echoed credentials), and a
//! recorder on another port sees whatever would leave the target.

use std::sync::Arc;

use crate::common::{
    convcheck, create, emulator_with, fetch_status, output, proxy, recorder, run_cmd, tempdir,
    text, walk_files,
};
use axum::http::Method;
use base64::Engine;
use convcheck::emulator::Config;
use serde_json::Value;

/// `convcheck sweep --yes` of the prefix `convcheck-dead-` against `target`.
fn sweep_dead(target: &str, c: &Config) -> std::process::Command {
    convcheck(&[
        "sweep",
        "--target",
        target,
        "--account-sid",
        &c.account_sid,
        "--auth-token",
        &c.auth_token,
        "--prefix",
        "convcheck-dead-",
        "--yes",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_requests_never_leave_the_target_origin() {
    let (running, base, c) = emulator_with(Config::default()).await;
    let (elsewhere, seen) = recorder().await;
    // Every page names a next page on another port, as a misconfigured proxy would.
    let away = elsewhere.clone();
    let target = proxy(
        base.clone(),
        Arc::new(move |method, _, _, mut v| {
            if method == Method::GET && v.get("meta").is_some() {
                v["meta"]["next_page_url"] = Value::from(format!("{away}/v1/Users?Page=1"));
            }
            v
        }),
    )
    .await;
    let dir = tempdir("origin");
    let report = dir.join("report.json");
    let out = output(run_cmd(
        &target,
        &c,
        &["--report-json", report.to_str().unwrap()],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let walk = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pagination::walk::shortened")
        .expect("the walk ran");
    let not_followed: Vec<&Value> = walk["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["actual"].as_str().unwrap_or("").contains("not followed"))
        .collect();
    assert_eq!(not_followed.len(), 1, "{walk:#}");
    assert_eq!(not_followed[0]["check"], "page.meta.urls.base");

    // sweep and diff follow pagination URLs too.
    for identity in ["convcheck-dead-1", "convcheck-dead-2"] {
        create(&base, &c, "/v1/Users", identity).await;
    }
    let out = output(sweep_dead(&target, &c)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("not on the target's origin"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("deleted 2 of 2 users"),
        "{}",
        text(&out)
    );
    let out = output(convcheck(&[
        "diff",
        "--baseline",
        &base,
        "--target",
        &target,
        "--account-sid",
        &c.account_sid,
        "--auth-token",
        &c.auth_token,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, Vec::new(), "nothing reaches another origin");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_with_another_users_json_never_deletes_that_user() {
    let (running, base, c) = emulator_with(Config::default()).await;
    let scoped = format!("/v1/Services/{}/Users", c.services[1].sid);
    let victims = [
        create(&base, &c, "/v1/Users", "victim").await,
        create(&base, &c, &scoped, "victim").await,
    ];
    // Every create goes through (so the run really creates users), but its answer describes
    // the victim of the same collection.
    let answers = victims.clone();
    let scoped_path = scoped.clone();
    let target = proxy(
        base.clone(),
        Arc::new(move |method, path, _, v| {
            if method == Method::POST && path == "/v1/Users" {
                answers[0].clone()
            } else if method == Method::POST && path == scoped_path {
                answers[1].clone()
            } else {
                v
            }
        }),
    )
    .await;
    let out = output(run_cmd(&target, &c, &[])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the answer describes another user"),
        "{}",
        text(&out)
    );
    for (path, victim) in [("/v1/Users", &victims[0]), (scoped.as_str(), &victims[1])] {
        let sid = victim["sid"].as_str().unwrap();
        assert_eq!(
            fetch_status(&base, &c, &format!("{path}/{sid}")).await,
            200,
            "the victim {sid} is still there"
        );
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_deletes_only_what_a_fresh_fetch_confirms() {
    let (running, base, c) = emulator_with(Config::default()).await;
    let victim = create(&base, &c, "/v1/Users", "victim").await;
    let mine = create(&base, &c, "/v1/Users", "convcheck-dead-1").await;
    // The list shows the victim under the prefix; a fetch shows it as it is.
    let target = proxy(
        base.clone(),
        Arc::new(|method, path, _, mut v| {
            if method == Method::GET && path == "/v1/Users" {
                for u in v["users"].as_array_mut().into_iter().flatten() {
                    if u["identity"] == "victim" {
                        u["identity"] = Value::from("convcheck-dead-victim");
                    }
                }
            }
            v
        }),
    )
    .await;
    let out = output(sweep_dead(&target, &c)).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("deleted 1 of 2 users"),
        "{}",
        text(&out)
    );
    let sid = |u: &Value| u["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch_status(&base, &c, &format!("/v1/Users/{}", sid(&victim))).await,
        200
    );
    assert_eq!(
        fetch_status(&base, &c, &format!("/v1/Users/{}", sid(&mine))).await,
        404
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_credential_reaches_no_output() {
    let token = "tok/en+secret=value 1234";
    let (running, base, c) = emulator_with(Config {
        auth_token: token.to_owned(),
        ..Config::default()
    })
    .await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{token}", c.account_sid));
    // Every JSON object answer carries the credential in each form a careless target might.
    let target = proxy(
        base.clone(),
        Arc::new(|_, _, headers, mut v| {
            let auth = headers
                .get("authorization")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let decoded = auth
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let secret = decoded.split_once(':').map_or("", |(_, s)| s).to_owned();
            let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if let Some(o) = v.as_object_mut() {
                o.insert("echo_header".into(), Value::from(auth));
                o.insert("echo_token".into(), Value::from(secret.clone()));
                o.insert("echo_encoded".into(), Value::from(encoded));
            }
            if let Some(users) = v.get_mut("users").and_then(Value::as_array_mut) {
                for u in users {
                    u["debug"] = Value::from(format!("token={secret}"));
                }
            }
            v
        }),
    )
    .await;
    let dir = tempdir("echo");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let out = output(run_cmd(
        &target,
        &c,
        &[
            "--report-json",
            &path("r.json"),
            "--report-junit",
            &path("r.xml"),
            "--report-md",
            &path("r.md"),
            "--report-html",
            &path("r.html"),
            "--snapshots",
            "record",
            "--snapshot-dir",
            &path("snaps"),
        ],
    ))
    .await;
    let mut all = text(&out);
    for entry in walk_files(&dir) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    assert!(
        all.contains("[redacted]"),
        "the echoes were seen and scrubbed: {all}"
    );
    for form in [
        token.to_owned(),
        basic.clone(),
        basic.replace('/', "\\/"),
        form_urlencoded::byte_serialize(token.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ] {
        assert!(!all.contains(&form), "`{form}` reached an output");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_come_before_any_request() {
    let (target, seen) = recorder().await;
    let c = Config::default();
    let missing_dir = format!("{}/no-such-dir/r.json", tempdir("usage").display());
    let with_path = format!("{target}/v1");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--test-threads", "0"],
            "--test-threads must be at least 1",
        ),
        (vec!["--max-pages", "0"], "--max-pages must be at least 1"),
        (vec!["--timeout", "0"], "--timeout must be at least 1"),
        (
            vec!["--report-json", &missing_dir],
            "cannot write the JSON report",
        ),
        (vec!["no-such-case"], "the filters select no case"),
        (vec!["--allow-writes"], "without a path"),
    ];
    for (extra, message) in cases {
        let t = if message == "without a path" {
            with_path.as_str()
        } else {
            target.as_str()
        };
        let out = output(run_cmd(t, &c, &extra)).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{extra:?}: {stderr}");
        assert_eq!(seen.lock().unwrap().len(), 0, "{extra:?} sent a request");
    }
    // The control: the same target is reached when nothing is wrong with the command.
    let out = output(run_cmd(&target, &c, &["no-such-case", "--allow-empty"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !seen.lock().unwrap().is_empty(),
        "the recorder sees requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeating_page_stops_the_walk_at_once() {
    let (running, base, c) = emulator_with(Config {
        faults: vec!["page-repeated".parse().unwrap()],
        ..Config::default()
    })
    .await;
    let dir = tempdir("repeat");
    let report = dir.join("report.json");
    let out = output(run_cmd(
        &base,
        &c,
        &[
            "pagination::walk",
            "--report-json",
            report.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let walk: Vec<&Value> = case["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"].as_str().unwrap().starts_with("page.walk."))
            .collect();
        assert_eq!(walk.len(), 1, "{case:#}");
        assert!(
            walk[0]["actual"]
                .as_str()
                .unwrap()
                .contains("stopped there"),
            "{case:#}"
        );
        // Five creates, the probe, a few pages, the deletes: nowhere near --max-pages.
        let requests = case["exchanges"].as_array().unwrap().len();
        assert!(requests < 20, "{requests} requests");
    }
    running.shutdown().await.unwrap();
}

#[test]
fn validate_reads_a_bounded_amount() {
    let out = convcheck(&["validate", "--as", "user", "/dev/zero"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("larger than 64 MiB"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
