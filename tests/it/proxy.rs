//! `convcheck proxy` on real sockets: what it forwards and answers, what it refuses, and what
//! it judges across exchanges, in front of the real emulator (and of a counting server for
//! what must never be sent).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use convcheck::emulator::{self, Config, Fault};
use convcheck::proxy::{Options, Proxy, Session};
use convcheck::runner::Outcome;
use convcheck::spec::Edition;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A form body, as reqwest is built here without its `form` feature.
trait Form {
    fn form_of(self, fields: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_of(self, fields: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null)
}

fn options(upstream: &str, preserve_host: bool) -> Options {
    Options {
        upstream: upstream.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        preserve_host,
        max_request: 64 * 1024,
        edition: Edition::Docs,
        default_service: None,
        timeout: Duration::from_secs(10),
        keep_exchanges: true,
    }
}

struct Through {
    emu: emulator::Running,
    proxy: Proxy,
    http: reqwest::Client,
}

impl Through {
    async fn new(faults: Vec<Fault>, preserve_host: bool) -> Through {
        let emu = emulator::spawn(Config {
            port: 0,
            faults,
            ..Config::default()
        })
        .await
        .expect("emulator starts");
        let proxy = Proxy::start(options(&emu.base_url(), preserve_host))
            .await
            .expect("proxy starts");
        let http = convcheck::client::http_builder().build().unwrap();
        Through { emu, proxy, http }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let c = self.emu.config();
        self.http
            .request(method, format!("{}{path}", self.proxy.url()))
            .basic_auth(&c.account_sid, Some(&c.auth_token))
    }

    async fn create(&self, identity: &str) -> Value {
        self.req(reqwest::Method::POST, "/v1/Users")
            .form_of(&[("Identity", identity)])
            .send()
            .await
            .map(json)
            .unwrap()
            .await
    }

    async fn status(&self, method: reqwest::Method, path: &str) -> u16 {
        self.req(method, path)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Follows a walk from `url` as a client does, through `next_page_url`, to its end (at
    /// most 20 pages); the pages' `next_page_url`s, in order.
    async fn walk(&self, mut url: String) -> Vec<String> {
        let c = self.emu.config();
        let mut nexts = Vec::new();
        for _ in 0..20 {
            let page = self
                .http
                .get(&url)
                .basic_auth(&c.account_sid, Some(&c.auth_token))
                .send()
                .await
                .map(json)
                .unwrap()
                .await;
            match page["meta"]["next_page_url"].as_str() {
                Some(n) => {
                    nexts.push(n.to_owned());
                    url = n.to_owned();
                }
                None => break,
            }
        }
        nexts
    }

    async fn finish(self) -> Session {
        let s = self.proxy.stop(Duration::from_secs(5)).await;
        self.emu.shutdown().await.unwrap();
        s
    }
}

fn must_checks(s: &Session) -> Vec<String> {
    s.records
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.severity == convcheck::spec::Severity::Must)
        .map(|f| f.check.clone())
        .collect()
}

#[tokio::test]
async fn answers_pass_through_unchanged_and_a_faithful_session_has_no_finding() {
    let t = Through::new(Vec::new(), false).await;
    let u = t.create("pat").await;
    let sid = u["sid"].as_str().expect("a sid").to_owned();
    // Through the proxy and straight to the emulator: the same status, headers and bytes.
    let c = t.emu.config();
    let direct = t
        .http
        .get(format!("{}/v1/Users/{sid}", t.emu.base_url()))
        .basic_auth(&c.account_sid, Some(&c.auth_token))
        .send()
        .await
        .unwrap();
    let proxied = t
        .req(reqwest::Method::GET, &format!("/v1/Users/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), proxied.status());
    assert_eq!(
        direct.headers().get("content-type"),
        proxied.headers().get("content-type")
    );
    assert_eq!(
        direct.bytes().await.unwrap(),
        proxied.bytes().await.unwrap()
    );
    assert_eq!(t.status(reqwest::Method::GET, "/v1/Users/pat").await, 200);
    assert_eq!(
        t.status(reqwest::Method::DELETE, &format!("/v1/Users/{sid}"))
            .await,
        204
    );
    assert_eq!(t.status(reqwest::Method::GET, "/v1/Users/pat").await, 404);
    assert_eq!(
        t.status(reqwest::Method::GET, "/v1/Conversations").await,
        404
    );
    let s = t.finish().await;
    let findings: Vec<_> = s.records.iter().flat_map(|r| &r.findings).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(
        s.uncovered, 1,
        "the request outside the User resource is counted"
    );
    assert_eq!(s.forwarded, 6);
    let judged: usize = s.records.iter().map(|r| r.chain).sum();
    assert_eq!(judged, 5);
}

#[tokio::test]
async fn a_delete_that_keeps_the_user_is_found_by_the_lookup_after_it() {
    let t = Through::new(vec![Fault::DeleteIneffective], false).await;
    let u = t.create("dee").await;
    let sid = u["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        t.status(reqwest::Method::DELETE, &format!("/v1/Users/{sid}"))
            .await,
        204
    );
    // Each answer on its own is well-formed: only the relation to the delete is wrong.
    assert_eq!(t.status(reqwest::Method::GET, "/v1/Users/dee").await, 200);
    let s = t.finish().await;
    assert_eq!(must_checks(&s), vec!["delete.then-404".to_owned()]);
    let fetch = s
        .records
        .iter()
        .find(|r| r.id == "proxy::fetch::shortened")
        .expect("a fetch record");
    assert_eq!(fetch.outcome, Outcome::Failed);
    let f = &fetch.findings[0];
    assert_eq!(f.request.as_deref(), Some("GET /v1/Users/dee"));
    let replay = f.replay.as_deref().expect("a reproduction");
    assert!(replay.contains("curl -sS -i"), "{replay}");
    assert!(replay.contains("$TWILIO_AUTH_TOKEN"), "{replay}");
    assert!(!replay.contains(&t_token()), "{replay}");
}

fn t_token() -> String {
    Config::default().auth_token
}

#[tokio::test]
async fn a_duplicate_accepted_and_a_walk_that_skips_users_are_found() {
    let t = Through::new(
        vec![Fault::DuplicateIdentityAccepted, Fault::UserSkipped],
        true,
    )
    .await;
    for name in ["w1", "w2", "w3", "w4"] {
        t.create(name).await;
    }
    t.create("w1").await;
    // The walk, as a client follows it: `next_page_url` leads back through the proxy.
    for n in t
        .walk(format!("{}/v1/Users?PageSize=2", t.proxy.url()))
        .await
    {
        assert!(n.starts_with(&t.proxy.url()), "{n}");
    }
    let s = t.finish().await;
    let checks = must_checks(&s);
    assert!(
        checks.contains(&"create.identity.duplicate".to_owned()),
        "{checks:?}"
    );
    assert!(
        checks.contains(&"page.walk.complete".to_owned()),
        "{checks:?}"
    );
}

#[tokio::test]
async fn the_walk_of_a_faithful_server_is_judged_complete() {
    let t = Through::new(Vec::new(), true).await;
    for name in ["k1", "k2", "k3"] {
        t.create(name).await;
    }
    t.walk(format!("{}/v1/Users?PageSize=1", t.proxy.url()))
        .await;
    let s = t.finish().await;
    let read = s
        .records
        .iter()
        .find(|r| r.id == "proxy::read::shortened")
        .expect("a read record");
    assert!(read.findings.is_empty(), "{:#?}", read.findings);
    assert_eq!(read.chain, 3, "one walk of three pages");
    let held = &read.held["read"]["shortened"];
    assert!(held.contains("page.walk.complete"), "{held:?}");
}

/// A server that counts what reaches it and answers every request with `status`.
async fn counting(status: u16) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (h, s) = (h.clone(), s.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            let host = req
                .headers()
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            s.lock()
                .unwrap()
                .push(format!("{} {} host={host}", req.method(), req.uri()));
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits, seen)
}

#[tokio::test]
async fn a_body_over_the_bound_is_refused_and_never_forwarded() {
    let (up, hits, _) = counting(201).await;
    let proxy = Proxy::start(options(&up, false)).await.unwrap();
    let http = convcheck::client::http_builder().build().unwrap();
    let big = "A".repeat(200 * 1024);
    let r = http
        .post(format!("{}/v1/Users", proxy.url()))
        .form_of(&[("Identity", "big"), ("Attributes", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(
        r.headers()
            .get("x-convcheck-proxy")
            .map(|v| v.to_str().unwrap()),
        Some("refused")
    );
    assert!(r.text().await.unwrap().contains("not forwarded"));
    let s = proxy.stop(Duration::from_secs(5)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
    assert_eq!(s.refused, 1);
}

#[tokio::test]
async fn a_failed_write_is_sent_once_and_only_to_the_upstream_origin() {
    let (up, hits, seen) = counting(503).await;
    let proxy = Proxy::start(options(&up, false)).await.unwrap();
    let http = convcheck::client::http_builder().build().unwrap();
    let r = http
        .post(format!("{}/v1/Users", proxy.url()))
        .form_of(&[("Identity", "once")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503, "the upstream's answer, as it was");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "never retried");
    // An absolute-form request line names another host: only its path is forwarded, to the
    // upstream, with the upstream's Host.
    let mut sock = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    sock.write_all(
        b"GET http://elsewhere.invalid/v1/Users?PageSize=5 HTTP/1.1\r\nHost: elsewhere.invalid\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let _ = proxy.stop(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap().clone();
    let up_host = up.trim_start_matches("http://");
    assert_eq!(
        seen,
        vec![
            format!("POST /v1/Users host={up_host}"),
            format!("GET /v1/Users?PageSize=5 host={up_host}")
        ]
    );
}

/// The command line end to end: a wrapped command's traffic (python's urllib, deleting a user
/// that is still there after the delete), the reports, the JSON one valid against
/// `specs/report.schema.json`, and the exit status of a failing finding.
#[tokio::test]
async fn the_wrapped_command_form_writes_every_report() {
    let emu = emulator::spawn(Config {
        port: 0,
        faults: vec![Fault::DeleteIneffective],
        ..Config::default()
    })
    .await
    .unwrap();
    let c = emu.config().clone();
    let dir = std::env::temp_dir().join(format!("convcheck-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
import base64, os, sys, urllib.request, urllib.error
base = os.environ["CONVCHECK_PROXY_URL"]
auth = "Basic " + base64.b64encode(sys.argv[1].encode()).decode()
def ask(method, path, body=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("Authorization", auth)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        return urllib.request.urlopen(req).status
    except urllib.error.HTTPError as e:
        return e.code
assert ask("POST", "/v1/Users", b"Identity=eve") == 201
assert ask("DELETE", "/v1/Users/eve") == 204
assert ask("GET", "/v1/Users/eve") == 200
"#;
    let json = dir.join("r.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_convcheck"))
        .args([
            "proxy",
            "--upstream",
            &emu.base_url(),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--report-json")
        .arg(&json)
        .arg("--report-junit")
        .arg(dir.join("r.xml"))
        .arg("--report-md")
        .arg(dir.join("r.md"))
        .arg("--report-html")
        .arg(dir.join("r.html"))
        .args(["--", "python3", "-c", script])
        .arg(format!("{}:{}", c.account_sid, c.auth_token))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("error[delete.then-404]"), "{stdout}");
    assert!(stdout.contains("3 exchanges judged"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("../../specs/report.schema.json")).unwrap();
    let v = jsonschema::draft202012::options().build(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    for f in ["r.xml", "r.md", "r.html"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.contains("delete.then-404"), "{f}");
        assert!(!text.contains(&c.auth_token), "{f} holds the token");
    }
    assert!(!stdout.contains(&c.auth_token) && !stderr.contains(&c.auth_token));
    let _ = std::fs::remove_dir_all(&dir);
    emu.shutdown().await.unwrap();
}

/// Many clients at once on one collection, as a parallel test suite sends them: creates,
/// lookups, updates, deletes and walks overlapping in time. A faithful server gives no
/// finding: whatever raced a write is judged on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_traffic_on_a_faithful_server_gives_no_finding() {
    let t = Arc::new(Through::new(Vec::new(), true).await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let t = t.clone();
        set.spawn(async move {
            let id = format!("par-{i}");
            let u = t.create(&id).await;
            let sid = u["sid"].as_str().unwrap_or_default().to_owned();
            t.status(reqwest::Method::GET, &format!("/v1/Users/{id}"))
                .await;
            t.req(reqwest::Method::POST, &format!("/v1/Users/{sid}"))
                .form_of(&[("FriendlyName", "P")])
                .send()
                .await
                .unwrap();
            t.walk(format!("{}/v1/Users?PageSize=3", t.proxy.url()))
                .await;
            t.status(reqwest::Method::DELETE, &format!("/v1/Users/{sid}"))
                .await;
            t.status(reqwest::Method::GET, &format!("/v1/Users/{sid}"))
                .await;
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("a client finishes");
    }
    let t = Arc::into_inner(t).expect("the clients are done");
    let s = t.finish().await;
    let findings: Vec<_> = s.records.iter().flat_map(|r| &r.findings).collect();
    assert!(findings.is_empty(), "{findings:#?}\n{:?}", s.notes);
    let judged: usize = s.records.iter().map(|r| r.chain).sum();
    assert!(judged >= 12 * 5, "{judged} exchanges judged");
}
