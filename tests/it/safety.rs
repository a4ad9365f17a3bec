//! Safety against a live account, on real processes: an interrupted run deletes every user
//! it created, and a finished run leaves nothing behind.

use std::process::{Command, Stdio};
use std::time::Duration;

use convcheck::emulator::{self, Config};
use serde_json::Value;

/// Every identity in both services of the emulator.
async fn identities(base: &str, c: &Config) -> Vec<String> {
    let http = convcheck::client::http_builder().build().unwrap();
    let mut out = Vec::new();
    for path in [
        "/v1/Users".to_owned(),
        format!("/v1/Services/{}/Users", c.services[1].sid),
    ] {
        let mut url = format!("{base}{path}?PageSize=1000");
        loop {
            let body = http
                .get(&url)
                .basic_auth(&c.account_sid, Some(&c.auth_token))
                .send()
                .await
                .expect("list answers")
                .bytes()
                .await
                .expect("list body");
            let page: Value = serde_json::from_slice(&body).expect("list is JSON");
            for u in page["users"].as_array().expect("users list") {
                out.push(u["identity"].as_str().unwrap_or_default().to_owned());
            }
            match page["meta"]["next_page_url"].as_str() {
                Some(n) => url = n.to_owned(),
                None => break,
            }
        }
    }
    out
}

fn run_against(base: &str, c: &Config) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convcheck"));
    cmd.args([
        "run",
        "--target",
        base,
        "--account-sid",
        &c.account_sid,
        "--auth-token",
        &c.auth_token,
        "--service-sid",
        &c.services[1].sid,
        "--format",
        "terse",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Starts a run against a slow emulator, sends `signal` once it has created users, and
/// checks that it deletes them all and exits with `code`.
async fn interrupted_by(signal: &str, code: i32) {
    // Latency makes the run last several seconds, so the signal lands mid-run.
    let running = emulator::spawn(Config {
        latency: Duration::from_millis(150),
        ..Config::default()
    })
    .await
    .expect("emulator starts");
    let base = running.base_url();
    let config = running.config().clone();
    let child = run_against(&base, &config)
        .spawn()
        .expect("convcheck starts");
    let pid = child.id();
    // Wait until the run has created users, then interrupt it.
    let mut created = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if identities(&base, &config)
            .await
            .iter()
            .any(|i| i.starts_with("convcheck-"))
        {
            created = true;
            break;
        }
    }
    assert!(created, "the run created no user within 10 s");
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("convcheck exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{signal}: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // A remote run names its prefix first, for `sweep` after a kill nothing can catch.
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("starts with `convcheck-") && first.contains("convcheck sweep --target"),
        "{stderr}"
    );
    let left: Vec<String> = identities(&base, &config)
        .await
        .into_iter()
        .filter(|i| i.starts_with("convcheck-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "{signal}");
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_deletes_what_it_created() {
    interrupted_by("INT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_run_deletes_what_it_created() {
    interrupted_by("TERM", 143).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_terminal_hangs_up_deletes_what_it_created() {
    interrupted_by("HUP", 129).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_leaves_nothing_and_prints_no_secret() {
    let running = emulator::spawn(Config {
        auth_token: "secret-token-never-printed".to_owned(),
        ..Config::default()
    })
    .await
    .expect("emulator starts");
    let base = running.base_url();
    let config = running.config().clone();
    let out = tokio::task::spawn_blocking({
        let base = base.clone();
        let config = config.clone();
        move || run_against(&base, &config).output()
    })
    .await
    .expect("join")
    .expect("convcheck runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("secret-token-never-printed"));
    let left: Vec<String> = identities(&base, &config)
        .await
        .into_iter()
        .filter(|i| i.starts_with("convcheck-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    running.shutdown().await.expect("emulator stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_deletes_only_the_prefix_and_asks_first() {
    let running = emulator::spawn(Config::default())
        .await
        .expect("emulator starts");
    let base = running.base_url();
    let c = running.config().clone();
    let http = convcheck::client::http_builder().build().unwrap();
    for identity in [
        "convcheck-dead-1",
        "convcheck-dead-2",
        "alice",
        "convcheck-live-1",
    ] {
        let status = http
            .post(format!("{base}/v1/Users"))
            .basic_auth(&c.account_sid, Some(&c.auth_token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("Identity={identity}"))
            .send()
            .await
            .expect("create answers")
            .status();
        assert_eq!(status.as_u16(), 201);
    }
    let sweep = |yes: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_convcheck"));
        cmd.args([
            "sweep",
            "--target",
            &base,
            "--account-sid",
            &c.account_sid,
            "--auth-token",
            &c.auth_token,
            "--prefix",
            "convcheck-dead-",
        ])
        .stdin(Stdio::null());
        if yes {
            cmd.arg("--yes");
        }
        cmd
    };
    // Without --yes and without a terminal to ask on, nothing is deleted.
    let mut ask = sweep(false);
    let out = tokio::task::spawn_blocking(move || ask.output())
        .await
        .expect("join")
        .expect("sweep runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(identities(&base, &c).await.len(), 4);

    let mut go = sweep(true);
    let out = tokio::task::spawn_blocking(move || go.output())
        .await
        .expect("join")
        .expect("sweep runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("deleted 2 of 2 users"), "{stdout}");
    let mut left = identities(&base, &c).await;
    left.sort();
    assert_eq!(left, vec!["alice", "convcheck-live-1"]);
    running.shutdown().await.expect("emulator stops");
}
