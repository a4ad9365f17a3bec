//! What the tests that drive `convcheck` against real targets share: a rewriting proxy in
//! front of the reference emulator, a recorder that sees whatever reaches it, and the
//! command lines.

#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use convcheck::emulator::{self, Config, Running};
use serde_json::Value;

/// What a proxy may change: the request's method and path, the caller's headers, the answer.
pub type Rewrite = Arc<dyn Fn(&Method, &str, &HeaderMap, Value) -> Value + Send + Sync>;

/// A proxy on 127.0.0.1 in front of `upstream`: it forwards every request (credentials
/// included), swaps the upstream's base URL for its own in every answer, and lets `rewrite`
/// change any JSON answer. Returns its base URL.
pub async fn proxy(upstream: String, rewrite: Rewrite) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let http = convcheck::client::http_builder().build().unwrap();
    let me = own.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let (http, upstream, me, rewrite) =
                (http.clone(), upstream.clone(), me.clone(), rewrite.clone());
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let mut req = http.request(method.clone(), format!("{upstream}{path}"));
                for (k, v) in &headers {
                    if k != "host" && k != "content-length" {
                        req = req.header(k, v);
                    }
                }
                let resp = req.body(body).send().await.expect("upstream answers");
                let status = resp.status().as_u16();
                let ct = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json")
                    .to_owned();
                let text = resp.text().await.unwrap().replace(&upstream, &me);
                let text = match serde_json::from_str::<Value>(&text) {
                    Ok(v) => rewrite(&method, uri.path(), &headers, v).to_string(),
                    Err(_) => text,
                };
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", ct)],
                    text,
                )
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    own
}

/// Each request a recorder saw: its line and its `Authorization` header.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A server that answers 200 `{}` to anything and records each request.
pub async fn recorder() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: axum::http::Uri, headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                log.lock().unwrap().push((format!("{method} {uri}"), auth));
                "{}"
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

pub fn convcheck(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convcheck"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `convcheck run` against `target` with the emulator's credentials and its second service.
pub fn run_cmd(target: &str, c: &Config, extra: &[&str]) -> Command {
    let mut args = vec![
        "run",
        "--target",
        target,
        "--account-sid",
        &c.account_sid,
        "--auth-token",
        &c.auth_token,
        "--service-sid",
        &c.services[1].sid,
    ];
    if !extra.contains(&"--snapshots") {
        args.extend(["--snapshots", "off"]);
    }
    args.extend_from_slice(extra);
    convcheck(&args)
}

pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("convcheck runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub async fn create(base: &str, c: &Config, path: &str, identity: &str) -> Value {
    let resp = convcheck::client::http_builder()
        .build()
        .unwrap()
        .post(format!("{base}{path}"))
        .basic_auth(&c.account_sid, Some(&c.auth_token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "Identity={}",
            form_urlencoded::byte_serialize(identity.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .expect("create answers");
    assert_eq!(resp.status().as_u16(), 201);
    serde_json::from_slice(&resp.bytes().await.expect("create body")).expect("create answers JSON")
}

pub async fn fetch_status(base: &str, c: &Config, path: &str) -> u16 {
    convcheck::client::http_builder()
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .basic_auth(&c.account_sid, Some(&c.auth_token))
        .send()
        .await
        .expect("fetch answers")
        .status()
        .as_u16()
}

pub async fn emulator_with(config: Config) -> (Running, String, Config) {
    let running = emulator::spawn(config).await.expect("emulator starts");
    let base = running.base_url();
    let c = running.config().clone();
    (running, base, c)
}

pub fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("convcheck-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
